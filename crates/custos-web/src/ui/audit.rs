//! The audit viewer: the entries of the log each party may see (administrators all, others
//! those about their organisations), newest first, filtered by actor, entry, kind, action and
//! time; the head of the log signed by the instance, to keep and check later; the chain
//! verified on request (administrators: it reads the whole log); exports as CSV and JSON Lines
//! with the same filters, streamed.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use custos_core::audit::AuditEntry;
use serde::{Deserialize, Serialize};

use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Entries shown on a page.
const SHOWN: usize = 50;
/// The most entries one page request reads while looking for matches: beyond it, the page
/// offers to read on (a filter that matches rarely must not scan a million entries at once).
const SCAN_LIMIT: usize = 20_000;
/// Entries read per store round trip.
const BATCH: u32 = 1_000;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuditFilter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    /// Words found in the entry's kind or id (`engagement`, `a-b`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entry: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// First and last day, inclusive, in the viewer's time zone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub until: String,
    /// The zone the days are in: the viewer's, set when the request is read (an export's
    /// stream runs outside the request's task).
    #[serde(skip)]
    pub zone: Option<jiff::tz::TimeZone>,
    /// Read entries older than this position (the page's "older" link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// `csv` or `jsonl` for an export.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
}

impl AuditFilter {
    fn validate(&self) -> Result<(), ApiError> {
        for (field, value) in [("from", &self.from), ("until", &self.until)] {
            if !value.is_empty() && value.parse::<custos_core::Date>().is_err() {
                return Err(ApiError::invalid(
                    field,
                    format!("{field}: a date (YYYY-MM-DD), not {value:?}"),
                ));
            }
        }
        Ok(())
    }

    fn matches(&self, entry: &AuditEntry) -> bool {
        let contains = |haystack: &str, needle: &str| {
            needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
        };
        let zone = self.zone.clone().unwrap_or(jiff::tz::TimeZone::UTC);
        let day = custos_app::clock::parse_stamp(&entry.at)
            .map(|at| at.to_zoned_datetime(zone).date().to_string())
            .unwrap_or_default();
        contains(&entry.actor, &self.actor)
            && (contains(&entry.object_id, &self.entry)
                || contains(&entry.object_kind, &self.entry))
            && (self.kind.is_empty() || entry.object_kind == self.kind)
            && (self.action.is_empty() || entry.action == self.action)
            && (self.from.is_empty() || day.as_str() >= self.from.as_str())
            && (self.until.is_empty() || day.as_str() <= self.until.as_str())
    }

    fn query(&self, before: Option<u64>, format: &str) -> String {
        let mut filter = self.clone();
        filter.before = before;
        filter.format = format.to_owned();
        serde_urlencoded::to_string(&filter).unwrap_or_default()
    }
}

/// Whether `principal` may see `entry`: administrators all, others the entries about their
/// organisations.
fn sees(principal: &Principal, entry: &AuditEntry) -> bool {
    custos_app::visibility::sees_audit_entry(principal.user.is_admin, &principal.memberships, entry)
}

struct EntryRow {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    kind: String,
    id: String,
    scope: String,
    hash: String,
    change: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    filter: AuditFilter,
    entries: Vec<EntryRow>,
    older: Option<String>,
    scanned_to: Option<u64>,
    head_seq: u64,
    head_hash: String,
    head_at: String,
    head_signature: String,
    public_key: String,
    is_admin: bool,
    verification: Option<(bool, String)>,
    csv: String,
    jsonl: String,
}

/// What changed, in a line: the fields whose values differ between before and after.
fn change_summary(entry: &AuditEntry) -> String {
    let parse = |text: &Option<String>| -> serde_json::Map<String, serde_json::Value> {
        text.as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    };
    match (&entry.before, &entry.after) {
        (None, Some(_)) => "created".to_owned(),
        (Some(_), None) => "removed".to_owned(),
        (None, None) => String::new(),
        (before, after) => {
            let (b, a) = (parse(before), parse(after));
            let mut fields: Vec<&String> = b
                .keys()
                .chain(a.keys())
                .filter(|k| b.get(*k) != a.get(*k))
                .collect();
            fields.sort();
            fields.dedup();
            if fields.is_empty() {
                tr("audit-no-field-changed", &[])
            } else {
                tr(
                    "audit-changed-fields",
                    &[(
                        "fields",
                        &fields
                            .iter()
                            .map(|f| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )],
                )
            }
        }
    }
}

async fn render(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    filter: AuditFilter,
    verification: Option<(bool, String)>,
) -> Result<Response, UiError> {
    filter.validate()?;
    let mut entries = Vec::new();
    let mut before = filter.before;
    let mut scanned = 0;
    let mut exhausted = false;
    while entries.len() < SHOWN && scanned < SCAN_LIMIT {
        let batch = custos_app::audit::page_before(&state.store, before, BATCH)
            .await
            .map_err(ApiError::from)?;
        let Some(oldest_read) = batch.last().map(|e| e.seq) else {
            exhausted = true;
            break;
        };
        // Read on from the oldest entry read, or from the last one shown if the page fills.
        before = Some(oldest_read);
        for entry in batch {
            scanned += 1;
            if entries.len() == SHOWN {
                break;
            }
            if sees(principal, &entry) && filter.matches(&entry) {
                if entries.len() + 1 == SHOWN {
                    before = Some(entry.seq);
                }
                entries.push(EntryRow {
                    seq: entry.seq,
                    at: super::breaches::when(Some(&entry.at)),
                    change: change_summary(&entry),
                    actor: entry.actor,
                    action: entry.action,
                    kind: entry.object_kind,
                    id: entry.object_id,
                    scope: entry.scope,
                    hash: entry.hash.get(..16).unwrap_or_default().to_owned(),
                });
            }
        }
    }
    let older = (!exhausted).then(|| filter.query(before, ""));
    let head = custos_app::audit::signed_head(&state.store, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    Ok(page(&AuditPage {
        section: "audit",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        csv: filter.query(None, "csv"),
        jsonl: filter.query(None, "jsonl"),
        scanned_to: (entries.len() < SHOWN && !exhausted)
            .then_some(before)
            .flatten(),
        filter,
        entries,
        older,
        head_seq: head.seq,
        head_hash: head.hash,
        head_at: super::breaches::when(Some(&head.at)),
        head_signature: head.signature,
        public_key: head.public_key,
        is_admin: principal.user.is_admin,
        verification,
    }))
}

/// The viewer, or (with `format=csv|jsonl`) the export of every entry the filters match.
pub async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(mut filter): Query<AuditFilter>,
) -> Result<Response, UiError> {
    filter.zone = Some(super::viewer::viewer_zone());
    match filter.format.as_str() {
        "" => render(&state, &viewer.principal, &viewer.csrf, filter, None).await,
        "csv" | "jsonl" => export(state, viewer.principal, filter),
        other => {
            Err(ApiError::invalid("format", format!("format: csv or jsonl, not {other:?}")).into())
        }
    }
}

/// Streams the matching entries, oldest first, a batch at a time.
fn export(state: AppState, principal: Principal, filter: AuditFilter) -> Result<Response, UiError> {
    filter.validate()?;
    let csv = filter.format == "csv";
    let head_line = csv.then(|| {
        "seq,at,actor,action,object_kind,object_id,scope,before,after,prev_hash,hash\n".to_owned()
    });
    let stream = futures_util::stream::unfold(
        (0_u64, head_line, false),
        move |(after, head_line, done)| {
            let (state, principal, filter) = (state.clone(), principal.clone(), filter.clone());
            async move {
                if let Some(line) = head_line {
                    return Some((Ok::<_, std::io::Error>(line), (after, None, done)));
                }
                if done {
                    return None;
                }
                let batch = match custos_app::audit::page(&state.store, after, BATCH).await {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::error!(%error, "audit export");
                        return Some((
                            Err(std::io::Error::other("the log could not be read")),
                            (after, None, true),
                        ));
                    }
                };
                let last = batch.last().map(|e| e.seq)?;
                let mut text = String::new();
                for entry in batch
                    .iter()
                    .filter(|e| sees(&principal, e) && filter.matches(e))
                {
                    if csv {
                        text.push_str(&csv_line(entry));
                    } else if let Ok(line) = serde_json::to_string(entry) {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
                Some((Ok(text), (last, None, false)))
            }
        },
    );
    let (media, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/jsonl; charset=utf-8", "audit.jsonl")
    };
    Ok((
        [
            (header::CONTENT_TYPE, media.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One entry as a CSV record (RFC 4180: fields quoted, quotes doubled).
fn csv_line(entry: &AuditEntry) -> String {
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    [
        entry.seq.to_string(),
        quote(&entry.at),
        quote(&entry.actor),
        quote(&entry.action),
        quote(&entry.object_kind),
        quote(&entry.object_id),
        quote(&entry.scope),
        quote(entry.before.as_deref().unwrap_or_default()),
        quote(entry.after.as_deref().unwrap_or_default()),
        quote(&entry.prev_hash),
        quote(&entry.hash),
    ]
    .join(",")
        + "\n"
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
}

/// Recomputes the whole chain (administrators: it reads every entry).
pub async fn verify(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<VerifyForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    principal.require_admin()?;
    let outcome = match custos_app::audit::verify(&state.store, None)
        .await
        .map_err(ApiError::from)?
    {
        custos_app::audit::Verification::Intact(verified) => (
            true,
            tr(
                "audit-intact",
                &[
                    ("entries", &verified.entries.to_string()),
                    ("head", &verified.head),
                ],
            ),
        ),
        custos_app::audit::Verification::Broken(broken) => (
            false,
            tr("audit-broken", &[("broken", &broken.to_string())]),
        ),
    };
    render(
        &state,
        &principal,
        &form.csrf,
        AuditFilter::default(),
        Some(outcome),
    )
    .await
}
