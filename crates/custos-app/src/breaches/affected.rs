//! Which subjects' data the breached party held during the breach, from the disclosure
//! ledger: counted by activity and category, and matched against a controller's own
//! identifiers through their keyed hashes (never stored).

use std::collections::{BTreeMap, HashMap, HashSet};

use custos_core::register::Register;
use jiff::Timestamp;

use super::view;
use crate::{AppError, Store};

/// How many subjects' data the breached party held, and which of a controller's own
/// identifiers are among them.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Affected {
    /// Distinct subjects whose data reached the breached party and was held there during the
    /// breach.
    pub subjects: u64,
    pub by_activity: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    /// Of the identifiers given, those affected (in the order given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<Vec<String>>,
    /// How many of the identifiers given were not affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_matched: Option<u64>,
}

/// The first (none: any) and last day of disclosures whose data a holder kept.
type DisclosureDays = (Option<custos_core::Date>, custos_core::Date);

/// Microseconds of the first moment of `day` (UTC).
fn micros(day: custos_core::Date) -> i64 {
    day.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_or(0, |z| z.timestamp().as_microsecond())
}

/// The disclosure days (first and last, inclusive) whose data the breached party at the end
/// of `path` held at some time during the breach's days, for data disclosed to the
/// organisation at `at` on the path: the data stays with each holder while the activity's
/// retention runs and while every link between them is in force.
fn exposure(
    register: &Register,
    activity: &custos_core::model::Activity,
    path: &[custos_core::values::Slug],
    at: usize,
    (from, until): (custos_core::Date, custos_core::Date),
) -> Option<DisclosureDays> {
    let mut starts = custos_core::Date::MIN;
    let mut ends = custos_core::Date::MAX;
    for pair in path[at..].windows(2) {
        let links: Vec<_> =
            custos_core::breach::links_between(register, &activity.id, &pair[0], &pair[1])
                .collect();
        let since = links.iter().map(|e| e.since).min()?;
        let until = links
            .iter()
            .map(|e| e.until.unwrap_or(custos_core::Date::MAX))
            .max()?;
        starts = starts.max(since);
        ends = ends.min(until);
    }
    if starts > ends || starts > until || from > ends {
        return None;
    }
    let last = ends.min(until);
    let first = match activity.retention.as_ref() {
        Some(retention) => from.max(starts).checked_sub(retention.span()).ok(),
        None => None,
    };
    Some((first, last))
}

/// The subjects of the ledger whose data the breached party held during the breach, for the
/// cases of `controller` (every case when none); with `identifiers`, which of them.
pub async fn affected(
    store: &Store,
    register: &Register,
    key: &str,
    controller: Option<&str>,
    identifiers: Option<&[String]>,
    now: Timestamp,
) -> Result<Affected, AppError> {
    let view = view(store, key).await?;
    let days = view.breach.facts.days();
    // Per activity and recipient, the disclosure days whose data reached the breached party.
    let mut windows: HashMap<(String, String), Vec<DisclosureDays>> = HashMap::new();
    for route in view
        .breach
        .routes
        .iter()
        .filter(|r| controller.is_none_or(|c| r.controllers.iter().any(|x| x.as_str() == c)))
    {
        let Some(activity) = register.activity(route.activity.as_str()) else {
            continue;
        };
        for (at, recipient) in route.path.iter().enumerate() {
            if let Some(window) = exposure(register, activity, &route.path, at, days) {
                windows
                    .entry((route.activity.to_string(), recipient.to_string()))
                    .or_default()
                    .push(window);
            }
        }
    }
    let activities: Vec<String> = {
        let mut a: Vec<String> = windows.keys().map(|(a, _)| a.clone()).collect();
        a.sort();
        a.dedup();
        a
    };
    let mut all: HashSet<(i64, i64)> = HashSet::new();
    let mut by_activity: HashMap<String, HashSet<(i64, i64)>> = HashMap::new();
    let mut by_category: HashMap<String, HashSet<(i64, i64)>> = HashMap::new();
    let mut tx = store.read().await?;
    for (kind, [activity, recipient, categories]) in tx.ledger_kinds_of(&activities).await? {
        let Some(found) = windows.get(&(activity.clone(), recipient)) else {
            continue;
        };
        for (first, last) in found {
            let from = first.map_or(i64::MIN, micros);
            let until = last
                .tomorrow()
                .map_or(i64::MAX, |d| micros(d).saturating_sub(1));
            let mut subjects: Vec<(i64, i64)> = Vec::new();
            tx.ledger_subjects_of_kind(kind, from, until, |hi, lo| subjects.push((hi, lo)))
                .await?;
            for subject in subjects {
                all.insert(subject);
                by_activity
                    .entry(activity.clone())
                    .or_default()
                    .insert(subject);
                for category in categories.split(' ').filter(|c| !c.is_empty()) {
                    by_category
                        .entry(category.to_owned())
                        .or_default()
                        .insert(subject);
                }
            }
        }
    }
    tx.rollback().await?;
    let (matched, not_matched) = match identifiers {
        Some(identifiers) => {
            let pepper = crate::ledger::pepper(store, now).await?;
            let keyer = custos_core::ledger::SubjectKeyer::new(&pepper)
                .map_err(|e| AppError::Invalid(e.to_string()))?;
            let mut matched = Vec::new();
            for (line, identifier) in identifiers.iter().enumerate() {
                let subject_key = keyer
                    .key(identifier)
                    .map_err(|e| AppError::Invalid(format!("identifiers[{line}]: {e}")))?;
                let halves = custos_store::subject_halves(&subject_key)?;
                if all.contains(&halves) {
                    matched.push(identifier.clone());
                }
            }
            let missing = (identifiers.len() - matched.len()) as u64;
            (Some(matched), Some(missing))
        }
        None => (None, None),
    };
    Ok(Affected {
        subjects: all.len() as u64,
        by_activity: by_activity
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect(),
        by_category: by_category
            .into_iter()
            .map(|(k, v)| (k, v.len() as u64))
            .collect(),
        matched,
        not_matched,
    })
}
