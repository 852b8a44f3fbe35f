//! Personal-data breaches (Arts 33–34) along the chain. A breach happens at one party — often a
//! processor links below the controllers — and the law runs upward: each processor tells the
//! party that engaged it without undue delay (Art. 33(2), and the contract's notice period
//! under Art. 28(3)(f)), until every controller whose data was there knows; each controller
//! then has 72 hours from its own awareness to notify its supervisory authority unless the
//! breach is unlikely to result in a risk (33(1)), documents it whatever it decides (33(5)),
//! and tells the data subjects when the risk is high unless 34(3) applies.
//!
//! This module holds the facts of a breach and their phases, computes who must be told along
//! which path ([`routes`], [`hops`], [`cases`]), the ENISA severity aid ([`SeverityInputs`]),
//! and what a controller's decision must say ([`Decision::check`]). Storing, timing and
//! notifying are the app's.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::chain::{ChainError, involvement};
use crate::change::AttachmentRef;
use crate::register::Register;
use crate::values::{Email, Slug};

/// Art. 33(1): the authority is notified within 72 hours of the controller's awareness.
pub const NOTIFY_WITHIN: SignedDuration = SignedDuration::from_hours(72);

/// Art. 33(2) says "without undue delay" and names no period: where a processor's contract
/// sets no `breach_notice_hours`, Custos shows 24 hours as the target (a common contractual
/// term, and a third of the controller's own 72).
pub const UNDUE_DELAY_TARGET_HOURS: u32 = 24;

/// Longest text of a free-text field: a breach report is read by people, not stored files.
pub const MAX_TEXT: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreachError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

fn invalid(message: impl Into<String>) -> BreachError {
    BreachError::Invalid(message.into())
}

/// Refuses a text longer than [`MAX_TEXT`], naming its field.
fn bounded(field: &str, text: &str) -> Result<(), BreachError> {
    if text.chars().count() > MAX_TEXT {
        Err(invalid(format!("{field}: at most {MAX_TEXT} characters")))
    } else {
        Ok(())
    }
}

/// What the breach compromised (the three classic properties, as the EDPB's guidelines 9/2022
/// classify breaches).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Nature {
    /// Unauthorised or accidental disclosure of, or access to, personal data.
    Confidentiality,
    /// Unauthorised or accidental alteration.
    Integrity,
    /// Accidental or unauthorised loss of access, or destruction.
    Availability,
}

impl Nature {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidentiality => "confidentiality",
            Self::Integrity => "integrity",
            Self::Availability => "availability",
        }
    }
}

/// An approximate number (Art. 33(3)(a): "approximate number"): at least `min`, at most `max`
/// when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approximate {
    pub min: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Approximate {
    fn check(&self, field: &str) -> Result<(), BreachError> {
        match self.max {
            Some(max) if max < self.min => Err(invalid(format!(
                "{field}.max: {max} is below the minimum {}",
                self.min
            ))),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Approximate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "{max}"),
            Some(max) => write!(f, "{}–{max}", self.min),
            None => write!(f, "at least {}", self.min),
        }
    }
}

/// Who to contact about the breach (Art. 33(3)(b): the DPO or another contact point).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    pub name: String,
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The facts of a breach as its reporter knows them at one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreachFacts {
    /// When it began (or the first moment it may have).
    #[schemars(with = "String")]
    pub occurred_from: Timestamp,
    /// When it ended (or was stopped); none while it lasts or when it was one moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub occurred_until: Option<Timestamp>,
    /// When the reporting party became aware of it.
    #[schemars(with = "String")]
    pub aware_at: Timestamp,
    pub nature: BTreeSet<Nature>,
    pub description: String,
    /// The systems or services concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    /// The categories of personal data concerned (the register's slugs: `email`, `national-id`).
    pub data_categories: Vec<Slug>,
    /// The categories of data subjects concerned (`customers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_categories: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Approximate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Approximate>,
    /// The likely consequences (Art. 33(3)(c)).
    #[serde(default)]
    pub consequences: String,
    /// Measures taken to address it and mitigate its effects (Art. 33(3)(d)).
    #[serde(default)]
    pub measures_taken: String,
    /// Measures proposed.
    #[serde(default)]
    pub measures_proposed: String,
    pub contact: ContactPoint,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

impl BreachFacts {
    /// Checks the facts hold together, naming the field that does not.
    pub fn check(&self) -> Result<(), BreachError> {
        if let Some(until) = self.occurred_until
            && until < self.occurred_from
        {
            return Err(invalid(
                "occurred_until: the breach cannot end before it began (occurred_from)",
            ));
        }
        if self.aware_at < self.occurred_from {
            return Err(invalid(
                "aware_at: awareness cannot come before the breach began (occurred_from)",
            ));
        }
        if self.nature.is_empty() {
            return Err(invalid(
                "nature: name at least one of confidentiality, integrity, availability",
            ));
        }
        if self.description.trim().is_empty() {
            return Err(invalid("description: say what happened"));
        }
        if self.data_categories.is_empty() {
            return Err(invalid(
                "data_categories: name the categories of personal data concerned (Art. 33(3)(a))",
            ));
        }
        for (field, text) in [
            ("description", &self.description),
            ("consequences", &self.consequences),
            ("measures_taken", &self.measures_taken),
            ("measures_proposed", &self.measures_proposed),
            ("contact.name", &self.contact.name),
        ] {
            bounded(field, text)?;
        }
        if self.data_categories.len() > 200 || self.subject_categories.len() > 200 {
            return Err(invalid(
                "data_categories: at most 200 categories (and as many subject categories)",
            ));
        }
        if self.attachments.len() > 50 {
            return Err(invalid("attachments: at most 50 files"));
        }
        if self.systems.len() > 200 || self.systems.iter().any(|s| s.len() > 500) {
            return Err(invalid(
                "systems: at most 200 names of at most 500 characters",
            ));
        }
        if let Some(subjects) = &self.subjects {
            subjects.check("subjects")?;
        }
        if let Some(records) = &self.records {
            records.check("records")?;
        }
        Ok(())
    }

    /// The days the breach spans, for finding who held the data: from its first day to its
    /// last (or to the day of awareness while it lasts).
    pub fn days(&self) -> (Date, Date) {
        let day = |at: Timestamp| at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let from = day(self.occurred_from);
        let until = day(self.occurred_until.unwrap_or(self.aware_at)).max(from);
        (from, until)
    }

    /// The facts with `update` applied: a follow-up phase adds or corrects them (Art. 33(4)).
    pub fn updated(&self, update: &FactsUpdate) -> Result<Self, BreachError> {
        bounded("note", &update.note)?;
        let mut next = self.clone();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(value) = &update.$field {
                    next.$field = value.clone();
                }
            )*};
        }
        set!(
            nature,
            description,
            systems,
            data_categories,
            subject_categories,
            consequences,
            measures_taken,
            measures_proposed,
            contact
        );
        if let Some(until) = update.occurred_until {
            next.occurred_until = Some(until);
        }
        if let Some(from) = update.occurred_from {
            next.occurred_from = from;
        }
        if let Some(subjects) = update.subjects {
            next.subjects = Some(subjects);
        }
        if let Some(records) = update.records {
            next.records = Some(records);
        }
        for attachment in &update.attachments {
            if !next.attachments.contains(attachment) {
                next.attachments.push(attachment.clone());
            }
        }
        next.check()?;
        Ok(next)
    }
}

/// A follow-up: the facts it adds or corrects (only those given change), and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsUpdate {
    /// What this phase brings ("forensics found the exposure began earlier").
    pub note: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub occurred_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub occurred_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature: Option<BTreeSet<Nature>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systems: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_categories: Option<Vec<Slug>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_categories: Option<Vec<Slug>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Approximate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Approximate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consequences: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures_taken: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures_proposed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactPoint>,
    /// Files added in this phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

/// One way the breached party's data reaches a controller: an activity, and the path from its
/// controller down to the breached party.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    pub activity: Slug,
    /// The controllers of the activity (the first engaged the chain; joint controllers follow).
    pub controllers: Vec<Slug>,
    /// From the controller down to the breached party.
    pub path: Vec<Slug>,
}

/// Every activity whose chain held `party` at some time between `from` and `until` (days,
/// inclusive), with each path from its controller. A party that is itself the controller of
/// an activity is its own route (a path of one).
pub fn routes(
    register: &Register,
    party: &str,
    from: Date,
    until: Date,
) -> Result<Vec<Route>, BreachError> {
    let org = register
        .organisation_index(party)
        .ok_or_else(|| invalid(format!("party: there is no organisation {party:?}")))?;
    // Chains only change on the days a link starts or ends: look on the window's first day
    // and on each such day inside it.
    let mut days: BTreeSet<Date> = BTreeSet::from([from]);
    let activities: BTreeSet<&Slug> = register
        .engagements_as_processor(org)
        .iter()
        .map(|&ix| &register.engagement_at(ix).activity)
        .collect();
    for activity in &activities {
        let Some(activity_ix) = register.activity_index(activity.as_str()) else {
            continue;
        };
        for &ix in register.engagements_of_activity(activity_ix) {
            let engagement = register.engagement_at(ix);
            let ends = engagement.until.and_then(|u| u.tomorrow().ok());
            for day in std::iter::once(engagement.since).chain(ends) {
                if from < day && day <= until {
                    days.insert(day);
                }
            }
        }
    }
    let mut found: BTreeSet<Route> = BTreeSet::new();
    for day in days {
        for involvement in involvement(register, party, Some(day))? {
            let mut controllers = vec![involvement.controller.clone()];
            controllers.extend(involvement.joint_controllers.iter().cloned());
            for path in involvement.paths {
                found.insert(Route {
                    activity: involvement.activity.clone(),
                    controllers: controllers.clone(),
                    path,
                });
            }
        }
    }
    let own = &register.organisation_at(org).id;
    for activity in register.activities() {
        if activity.controllers().any(|c| c == own) {
            found.insert(Route {
                activity: activity.id.clone(),
                controllers: activity.controllers().cloned().collect(),
                path: vec![own.clone()],
            });
        }
    }
    Ok(found.into_iter().collect())
}

/// One step up the chain: `sender` tells `recipient` (the party that engaged it, or a joint
/// controller of the activity at the top).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Hop {
    pub sender: Slug,
    pub recipient: Slug,
    /// The contract between them, when one governs a link between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Slug>,
    /// The engagements between them (one per activity).
    pub engagements: Vec<Slug>,
    /// The contract's breach-notice period; none means "without undue delay".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_hours: Option<u32>,
}

impl Hop {
    /// The period the sender has, in hours: the contract's, or the undue-delay target.
    pub fn period_hours(&self) -> u32 {
        self.notice_hours.unwrap_or(UNDUE_DELAY_TARGET_HOURS)
    }
}

/// The engagements of `activity` in which `engaged_by` engaged `processor`.
pub fn links_between<'r>(
    register: &'r Register,
    activity: &Slug,
    engaged_by: &Slug,
    processor: &Slug,
) -> impl Iterator<Item = &'r crate::model::Engagement> {
    register
        .activity_index(activity.as_str())
        .map(|ix| register.engagements_of_activity(ix))
        .unwrap_or_default()
        .iter()
        .map(|&ix| register.engagement_at(ix))
        .filter(move |e| &e.engaged_by == engaged_by && &e.processor == processor)
}

/// Every step the report takes up the chain, each pair of parties once, bottom up.
pub fn hops(register: &Register, routes: &[Route]) -> Vec<Hop> {
    let mut found: BTreeMap<(Slug, Slug), Hop> = BTreeMap::new();
    for route in routes {
        for pair in route.path.windows(2) {
            let (recipient, sender) = (&pair[0], &pair[1]);
            let hop = found
                .entry((sender.clone(), recipient.clone()))
                .or_insert_with(|| Hop {
                    sender: sender.clone(),
                    recipient: recipient.clone(),
                    contract: None,
                    engagements: Vec::new(),
                    notice_hours: None,
                });
            for engagement in links_between(register, &route.activity, recipient, sender) {
                if !hop.engagements.contains(&engagement.id) {
                    hop.engagements.push(engagement.id.clone());
                }
                if let Some(contract) = engagement
                    .contract
                    .as_ref()
                    .and_then(|c| register.contract(c.as_str()))
                {
                    // The shortest period among the contracts between them binds.
                    let shorter = match (hop.notice_hours, contract.breach_notice_hours) {
                        (Some(a), Some(b)) => b < a,
                        (None, Some(_)) => true,
                        _ => hop.contract.is_none(),
                    };
                    if shorter {
                        hop.contract = Some(contract.id.clone());
                        hop.notice_hours = contract.breach_notice_hours;
                    }
                }
            }
        }
        // Joint controllers hear it when the controller at the top does, from the same sender.
        if let (Some(top), Some(sender)) = (route.path.first(), route.path.get(1)) {
            for joint in route.controllers.iter().filter(|c| *c != top) {
                found
                    .entry((sender.clone(), joint.clone()))
                    .or_insert_with(|| Hop {
                        sender: sender.clone(),
                        recipient: joint.clone(),
                        contract: None,
                        engagements: Vec::new(),
                        notice_hours: None,
                    });
            }
        }
    }
    found.into_values().collect()
}

/// What one controller must decide on: the activities of its own concerned, and each path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseScope {
    pub controller: Slug,
    pub activities: Vec<Slug>,
    pub paths: Vec<Vec<Slug>>,
}

/// One case per controller concerned.
pub fn cases(routes: &[Route]) -> Vec<CaseScope> {
    let mut found: BTreeMap<Slug, CaseScope> = BTreeMap::new();
    for route in routes {
        for controller in &route.controllers {
            let case = found
                .entry(controller.clone())
                .or_insert_with(|| CaseScope {
                    controller: controller.clone(),
                    activities: Vec::new(),
                    paths: Vec::new(),
                });
            if !case.activities.contains(&route.activity) {
                case.activities.push(route.activity.clone());
            }
            if !case.paths.contains(&route.path) {
                case.paths.push(route.path.clone());
            }
        }
    }
    found.into_values().collect()
}

/// The type of data and the context of processing (ENISA's DPC), base scores 1–4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessingContext {
    /// Biographical and contact data, education, family, professional experience (1).
    Simple,
    /// Location, traffic data, preferences and habits (2).
    Behavioural,
    /// Income, transactions, bank statements, investments, credit cards (3).
    Financial,
    /// Art. 9 and 10 data: health, political opinions, sexual life, criminal records (4).
    Sensitive,
}

impl ProcessingContext {
    fn base(self) -> f64 {
        match self {
            Self::Simple => 1.0,
            Self::Behavioural => 2.0,
            Self::Financial => 3.0,
            Self::Sensitive => 4.0,
        }
    }
}

/// How easily the individuals can be identified from the breached data (ENISA's EI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Identification {
    Negligible,
    Limited,
    Significant,
    Maximum,
}

impl Identification {
    fn factor(self) -> f64 {
        match self {
            Self::Negligible => 0.25,
            Self::Limited => 0.5,
            Self::Significant => 0.75,
            Self::Maximum => 1.0,
        }
    }
}

/// How far one security property was lost (ENISA's circumstances of the breach): for
/// confidentiality `limited` is exposure to known recipients and `severe` to an unknown
/// number; for integrity and availability `limited` means recoverable, `severe` not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    #[default]
    None,
    Limited,
    Severe,
}

impl Loss {
    fn score(self) -> f64 {
        match self {
            Self::None => 0.0,
            Self::Limited => 0.25,
            Self::Severe => 0.5,
        }
    }
}

/// The inputs of ENISA's methodology for assessing the severity of a personal data breach
/// (Recommendations, v1.0, December 2013): SE = DPC × EI + CB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityInputs {
    pub context: ProcessingContext,
    /// The methodology's adjustment of the context score for volume, the controller's
    /// character, vulnerable subjects, or data public or out of date (−3 to +3); the result
    /// stays within 1–4.
    #[serde(default)]
    pub context_adjustment: i8,
    pub identification: Identification,
    #[serde(default)]
    pub confidentiality: Loss,
    #[serde(default)]
    pub integrity: Loss,
    #[serde(default)]
    pub availability: Loss,
    /// Whether the breach was intended (+0.5).
    #[serde(default)]
    pub malicious: bool,
}

/// ENISA's severity levels. (Named apart from the findings' `Severity` in the API's
/// description, where both appear.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "BreachSeverity")]
pub enum Severity {
    Low,
    Medium,
    High,
    VeryHigh,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::VeryHigh => "very-high",
        }
    }
}

/// The computed severity: the score and its level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SeverityScore {
    pub score: f64,
    pub level: Severity,
}

impl SeverityInputs {
    pub fn check(&self) -> Result<(), BreachError> {
        if !(-3..=3).contains(&self.context_adjustment) {
            return Err(invalid(
                "assessment.severity.context_adjustment: between -3 and 3",
            ));
        }
        Ok(())
    }

    /// SE = DPC × EI + CB; below 2 low, below 3 medium, below 4 high, else very high.
    pub fn score(&self) -> SeverityScore {
        let context = (self.context.base() + f64::from(self.context_adjustment)).clamp(1.0, 4.0);
        let circumstances = self.confidentiality.score()
            + self.integrity.score()
            + self.availability.score()
            + if self.malicious { 0.5 } else { 0.0 };
        let score = context * self.identification.factor() + circumstances;
        let level = if score < 2.0 {
            Severity::Low
        } else if score < 3.0 {
            Severity::Medium
        } else if score < 4.0 {
            Severity::High
        } else {
            Severity::VeryHigh
        };
        SeverityScore { score, level }
    }
}

/// The controller's own call on the risk (the severity score is an aid, not the decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Unlikely to result in a risk to the rights and freedoms of natural persons (33(1)).
    Unlikely,
    /// A risk: the authority is notified.
    Risk,
    /// A high risk: the data subjects are told too (34(1)).
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unlikely => "unlikely",
            Self::Risk => "risk",
            Self::High => "high",
        }
    }
}

/// A controller's assessment of the risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BreachAssessment")]
pub struct Assessment {
    /// The ENISA inputs, when the calculator was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeverityInputs>,
    pub risk: Risk,
    /// Why: the reasoning kept for the authority (33(5)).
    pub reasons: String,
}

impl Assessment {
    pub fn check(&self) -> Result<(), BreachError> {
        if let Some(inputs) = &self.severity {
            inputs.check()?;
        }
        bounded("reasons", &self.reasons)?;
        if self.reasons.trim().is_empty() {
            return Err(invalid(
                "assessment.reasons: say why the risk is what it is (Art. 33(5))",
            ));
        }
        Ok(())
    }

    pub fn severity_score(&self) -> Option<SeverityScore> {
        self.severity.as_ref().map(SeverityInputs::score)
    }
}

/// What the controller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    /// Unlikely to result in a risk: documented, not notified (33(1), 33(5)).
    NotNotifiable,
    /// The supervisory authority is notified (33(1)).
    NotifyAuthority,
    /// The authority is notified and the data subjects told (Art. 34(1)).
    NotifyAuthorityAndSubjects,
    /// The authority is notified; the high risk would call for telling the subjects, but an
    /// exception of 34(3) applies.
    SubjectsNotTold,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotNotifiable => "not-notifiable",
            Self::NotifyAuthority => "notify-authority",
            Self::NotifyAuthorityAndSubjects => "notify-authority-and-subjects",
            Self::SubjectsNotTold => "subjects-not-told",
        }
    }

    /// Whether the authority must be notified.
    pub fn notifies_authority(self) -> bool {
        self != Self::NotNotifiable
    }
}

/// Art. 34(3): when the subjects need not be told despite a high risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectsException {
    /// (a) the data were unintelligible to anyone not authorised (encryption).
    Unintelligible,
    /// (b) subsequent measures ensure the high risk is no longer likely to materialise.
    RiskNoLongerLikely,
    /// (c) it would involve disproportionate effort: a public communication instead.
    DisproportionateEffort,
}

impl SubjectsException {
    pub fn article(self) -> &'static str {
        match self {
            Self::Unintelligible => "Art. 34(3)(a)",
            Self::RiskNoLongerLikely => "Art. 34(3)(b)",
            Self::DisproportionateEffort => "Art. 34(3)(c)",
        }
    }
}

/// The controller's decision, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BreachDecision")]
pub struct Decision {
    pub kind: DecisionKind,
    pub reasons: String,
    /// For `subjects-not-told`: which exception of Art. 34(3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<SubjectsException>,
    /// Art. 33(1): a notification later than 72 hours comes with the reasons for the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reasons: Option<String>,
}

impl Decision {
    /// Checks the decision says what the law wants of it when taken `at`, the controller
    /// having become aware at `aware_at`.
    pub fn check(&self, aware_at: Timestamp, at: Timestamp) -> Result<(), BreachError> {
        bounded("reasons", &self.reasons)?;
        bounded(
            "delay_reasons",
            self.delay_reasons.as_deref().unwrap_or_default(),
        )?;
        if self.reasons.trim().is_empty() {
            return Err(invalid(
                "reasons: a decision on a breach is documented with its reasons (Art. 33(5))",
            ));
        }
        if self.kind == DecisionKind::SubjectsNotTold && self.exception.is_none() {
            return Err(invalid(
                "exception: name the exception of Art. 34(3) that spares telling the subjects (unintelligible, risk-no-longer-likely, disproportionate-effort)",
            ));
        }
        if self.kind != DecisionKind::SubjectsNotTold && self.exception.is_some() {
            return Err(invalid(
                "exception: only a decision not to tell the subjects (subjects-not-told) names an Art. 34(3) exception",
            ));
        }
        if self.kind.notifies_authority()
            && is_late(aware_at, at)
            && self
                .delay_reasons
                .as_deref()
                .is_none_or(|r| r.trim().is_empty())
        {
            return Err(invalid(
                "delay_reasons: more than 72 hours have passed since awareness; a late notification comes with the reasons for the delay (Art. 33(1))",
            ));
        }
        Ok(())
    }
}

/// The 72-hour deadline from a controller's awareness.
pub fn deadline(aware_at: Timestamp) -> Timestamp {
    aware_at.checked_add(NOTIFY_WITHIN).unwrap_or(aware_at)
}

/// Whether `at` is past the 72 hours from `aware_at`.
pub fn is_late(aware_at: Timestamp, at: Timestamp) -> bool {
    at > deadline(aware_at)
}

/// Whether a relay at `received_at` of a report the sender knew of at `sender_aware_at` came
/// later than the hop's period.
pub fn relay_late(hop: &Hop, sender_aware_at: Timestamp, received_at: Timestamp) -> bool {
    received_at.duration_since(sender_aware_at)
        > SignedDuration::from_hours(i64::from(hop.period_hours()))
}

/// Where a breach stands for the checks, as the app judged it at the time it read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The breach's key.
    pub breach: String,
    pub late_relays: Vec<LateRelay>,
    /// Cases past their 72 hours with something missing.
    pub cases: Vec<CaseStanding>,
}

/// A relay that came later than the hop's period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRelay {
    pub sender: Slug,
    pub recipient: Slug,
    pub engagements: Vec<Slug>,
    pub contract: Option<Slug>,
    pub period_hours: u32,
    /// How long after the sender's awareness it came ("31 h").
    pub after: String,
}

/// What a case past its 72 hours lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseGap {
    Undecided,
    NotFiled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseStanding {
    pub controller: Slug,
    pub aware_at: Timestamp,
    pub deadline: Timestamp,
    pub gap: CaseGap,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(context: ProcessingContext, identification: Identification) -> SeverityInputs {
        SeverityInputs {
            context,
            context_adjustment: 0,
            identification,
            confidentiality: Loss::None,
            integrity: Loss::None,
            availability: Loss::None,
            malicious: false,
        }
    }

    /// ENISA's bands: SE < 2 low, < 3 medium, < 4 high, else very high.
    #[test]
    fn severity_follows_enisa() {
        let simple = inputs(ProcessingContext::Simple, Identification::Maximum);
        assert_eq!(simple.score().level, Severity::Low);
        assert_eq!(simple.score().score, 1.0);
        let exposed = SeverityInputs {
            confidentiality: Loss::Severe,
            malicious: true,
            ..simple
        };
        assert_eq!(exposed.score().score, 2.0);
        assert_eq!(exposed.score().level, Severity::Medium);
        let national_ids = SeverityInputs {
            context_adjustment: 2,
            confidentiality: Loss::Severe,
            ..simple
        };
        assert_eq!(national_ids.score().level, Severity::High);
        let health = SeverityInputs {
            confidentiality: Loss::Severe,
            ..inputs(ProcessingContext::Sensitive, Identification::Maximum)
        };
        assert_eq!(health.score().level, Severity::VeryHigh);
        let clamped = SeverityInputs {
            context_adjustment: 3,
            ..inputs(ProcessingContext::Sensitive, Identification::Negligible)
        };
        assert_eq!(clamped.score().score, 1.0, "the context stays within 1–4");
        let out = SeverityInputs {
            context_adjustment: 4,
            ..simple
        };
        assert!(out.check().is_err());
    }

    #[test]
    fn a_late_notification_needs_the_reasons_for_its_delay() {
        let aware: Timestamp = "2026-03-01T09:00:00Z".parse().unwrap();
        let mut decision = Decision {
            kind: DecisionKind::NotifyAuthority,
            reasons: "national ID numbers exposed publicly".to_owned(),
            exception: None,
            delay_reasons: None,
        };
        let in_time: Timestamp = "2026-03-04T08:59:00Z".parse().unwrap();
        let late: Timestamp = "2026-03-04T09:01:00Z".parse().unwrap();
        assert!(decision.check(aware, in_time).is_ok());
        let refused = decision.check(aware, late).unwrap_err().to_string();
        assert!(refused.starts_with("delay_reasons:"), "{refused}");
        decision.delay_reasons = Some("the processor told us late".to_owned());
        assert!(decision.check(aware, late).is_ok());
        decision.kind = DecisionKind::SubjectsNotTold;
        assert!(
            decision
                .check(aware, late)
                .unwrap_err()
                .to_string()
                .starts_with("exception:")
        );
        decision.exception = Some(SubjectsException::Unintelligible);
        assert!(decision.check(aware, late).is_ok());
        let not_notifiable = Decision {
            kind: DecisionKind::NotNotifiable,
            reasons: " ".to_owned(),
            exception: None,
            delay_reasons: None,
        };
        assert!(
            not_notifiable.check(aware, late).is_err(),
            "reasons kept (33(5))"
        );
        let endless = Decision {
            reasons: "x".repeat(MAX_TEXT + 1),
            ..not_notifiable
        };
        let refused = endless.check(aware, late).unwrap_err().to_string();
        assert!(refused.starts_with("reasons: at most"), "{refused}");
    }

    /// A host that moved from one agency to another during the breach: both chains held it,
    /// so both controllers are concerned; a third engaged after the breach ended is not.
    /// Hops carry the shortest notice period of their contracts.
    #[test]
    fn routes_follow_the_chains_as_they_stood_on_each_day_of_the_breach() {
        let register = crate::manifest::parse_str(
            "moves.yaml",
            r#"
version: 1
organisations:
  - {id: c1, name: C1, country: ES}
  - {id: c2, name: C2, country: ES}
  - {id: c3, name: C3, country: ES}
  - {id: a1, name: A1, country: ES}
  - {id: a2, name: A2, country: ES}
  - {id: host, name: Host, country: DE}
activities:
  - {id: act1, controller: c1, lawful_basis: contract}
  - {id: act2, controller: c2, lawful_basis: contract, joint_controllers: [c3]}
contracts:
  - {id: k1, between: [a1, host], breach_notice_hours: 48}
  - {id: k2, between: [a2, host], breach_notice_hours: 12}
engagements:
  - {id: c1-a1, activity: act1, engaged_by: c1, processor: a1, service: s, since: 2025-01-01}
  - {id: a1-h, activity: act1, engaged_by: a1, processor: host, service: s, since: 2025-01-01, until: 2026-03-10, contract: k1}
  - {id: c2-a2, activity: act2, engaged_by: c2, processor: a2, service: s, since: 2025-01-01}
  - {id: a2-h, activity: act2, engaged_by: a2, processor: host, service: s, since: 2026-03-11, contract: k2}
"#,
        )
        .unwrap();
        let day = |d: &str| d.parse::<Date>().unwrap();
        let during = routes(&register, "host", day("2026-03-09"), day("2026-03-12")).unwrap();
        let paths: Vec<Vec<&str>> = during
            .iter()
            .map(|r| r.path.iter().map(Slug::as_str).collect())
            .collect();
        assert_eq!(paths, [vec!["c1", "a1", "host"], vec!["c2", "a2", "host"]]);
        let scopes = cases(&during);
        let controllers: Vec<&str> = scopes.iter().map(|c| c.controller.as_str()).collect();
        assert_eq!(
            controllers,
            ["c1", "c2", "c3"],
            "the joint controller has its case"
        );
        let steps = hops(&register, &during);
        let a2 = steps.iter().find(|h| h.recipient.as_str() == "a2").unwrap();
        assert_eq!(
            (a2.notice_hours, a2.contract.as_ref().map(Slug::as_str)),
            (Some(12), Some("k2"))
        );
        assert!(
            steps
                .iter()
                .any(|h| h.sender.as_str() == "a2" && h.recipient.as_str() == "c3"),
            "the joint controller hears from the same sender: {steps:?}"
        );
        let before = routes(&register, "host", day("2026-03-01"), day("2026-03-02")).unwrap();
        assert_eq!(
            before.len(),
            1,
            "a2 engaged the host only from 11 March: {before:?}"
        );
        assert!(routes(&register, "nobody", day("2026-03-01"), day("2026-03-02")).is_err());
    }

    #[test]
    fn approximate_numbers_read_as_ranges() {
        let range = Approximate {
            min: 20_000,
            max: Some(22_000),
        };
        assert_eq!(range.to_string(), "20000–22000");
        assert_eq!(Approximate { min: 5, max: None }.to_string(), "at least 5");
        assert!(
            Approximate {
                min: 5,
                max: Some(4)
            }
            .check("subjects")
            .is_err()
        );
    }
}
