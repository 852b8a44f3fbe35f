//! Data-subject requests (Arts 12, 15–22): their kinds, the one-month deadline and its
//! extension (Art. 12(3)), their states, and the Art. 19 notification tree — who must be told
//! of a rectification, erasure or restriction, and who relays it to whom.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::ToSpan as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::ledger::AccessAnswer;
use crate::values::Slug;

/// What the subject asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RequestKind {
    /// Art. 15: the data, the recipients, the transfers and their safeguards.
    Access,
    /// Art. 16.
    Rectification,
    /// Art. 17.
    Erasure,
    /// Art. 18.
    Restriction,
    /// Art. 21.
    Objection,
    /// Art. 20: the data in a structured, machine-readable format.
    Portability,
}

impl RequestKind {
    pub const ALL: [Self; 6] = [
        Self::Access,
        Self::Rectification,
        Self::Erasure,
        Self::Restriction,
        Self::Objection,
        Self::Portability,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Rectification => "rectification",
            Self::Erasure => "erasure",
            Self::Restriction => "restriction",
            Self::Objection => "objection",
            Self::Portability => "portability",
        }
    }

    /// The article the request rests on.
    pub fn article(self) -> &'static str {
        match self {
            Self::Access => "Art. 15",
            Self::Rectification => "Art. 16",
            Self::Erasure => "Art. 17",
            Self::Restriction => "Art. 18",
            Self::Objection => "Art. 21",
            Self::Portability => "Art. 20",
        }
    }

    /// Whether each recipient must be told (Art. 19: rectification, erasure, restriction).
    pub fn propagates(self) -> bool {
        matches!(
            self,
            Self::Rectification | Self::Erasure | Self::Restriction
        )
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestKind {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| {
                format!(
                    "{raw:?} is not a kind of request: expected one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    /// Received; the subject's identity is not verified yet.
    Received,
    /// Identity verified: it may be fulfilled.
    Verified,
    /// Recipients are being told (Art. 19); closes when every one is done or impossible.
    Notifying,
    /// Fulfilled and closed.
    Closed,
    /// Refused (manifestly unfounded or excessive, Art. 12(5)), with reasons.
    Refused,
}

impl RequestStatus {
    pub const ALL: [Self; 5] = [
        Self::Received,
        Self::Verified,
        Self::Notifying,
        Self::Closed,
        Self::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Verified => "verified",
            Self::Notifying => "notifying",
            Self::Closed => "closed",
            Self::Refused => "refused",
        }
    }

    pub fn open(self) -> bool {
        !matches!(self, Self::Closed | Self::Refused)
    }
}

impl FromStr for RequestStatus {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("{raw:?} is not a request status"))
    }
}

/// `months` calendar months after `day`: the same day of the month, or the month's last day
/// when that day does not exist (31 January + 1 month = 28 or 29 February).
fn months_after(day: Date, months: i32) -> Date {
    // jiff constrains the day to the month's length; only the year 9999 can overflow.
    day.checked_add(months.months()).unwrap_or(Date::MAX)
}

/// The answer is due one month after receipt (Art. 12(3)).
pub fn deadline(received: Date) -> Date {
    months_after(received, 1)
}

/// Extended "by two further months" (Art. 12(3)): two months after the first deadline, each
/// step clamped to the month's end (31 January → 28 February → 28 April; Regulation 1182/71,
/// Art. 3(2)(c)).
pub fn extended_deadline(received: Date) -> Date {
    months_after(deadline(received), 2)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RightsError {
    #[error(
        "an extension must be decided and told to the subject within the first month (by {deadline}); today is {today}"
    )]
    ExtensionTooLate { deadline: Date, today: Date },
    #[error("the request is already extended (to {0})")]
    AlreadyExtended(Date),
    #[error("reasons: an extension must give the subject its reasons (Art. 12(3))")]
    NoReasons,
}

/// Whether the request received on `received` may be extended on `today`.
pub fn check_extension(
    received: Date,
    today: Date,
    extended_until: Option<Date>,
    reasons: &str,
) -> Result<Date, RightsError> {
    if let Some(until) = extended_until {
        return Err(RightsError::AlreadyExtended(until));
    }
    if reasons.trim().is_empty() {
        return Err(RightsError::NoReasons);
    }
    let first_month = deadline(received);
    if today > first_month {
        return Err(RightsError::ExtensionTooLate {
            deadline: first_month,
            today,
        });
    }
    Ok(extended_deadline(received))
}

/// One recipient to tell (Art. 19), and who tells it: the controller for those the data was
/// disclosed to, the processor that engaged it for those below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedNotification {
    pub recipient: Slug,
    /// The recipient that relays it; `None`: the controller sends it.
    pub relayed_by: Option<Slug>,
}

/// The notifications of a request: one per recipient of the access answer (the same set),
/// parents before their children.
pub fn notification_tree(answer: &AccessAnswer) -> Vec<PlannedNotification> {
    let parents: BTreeMap<&Slug, Option<&Slug>> = answer
        .recipients
        .iter()
        .map(|r| (&r.id, r.parent.as_ref()))
        .collect();
    let depth = |start: &Slug| {
        let mut id = start;
        let mut depth = 0;
        while let Some(Some(parent)) = parents.get(id) {
            depth += 1;
            id = parent;
            if depth > parents.len() {
                break;
            }
        }
        depth
    };
    let mut planned: Vec<(usize, PlannedNotification)> = answer
        .recipients
        .iter()
        .map(|r| {
            (
                depth(&r.id),
                PlannedNotification {
                    recipient: r.id.clone(),
                    relayed_by: r.parent.clone(),
                },
            )
        })
        .collect();
    planned.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.recipient.cmp(&b.1.recipient)));
    planned.into_iter().map(|(_, n)| n).collect()
}

/// Where one notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotificationState {
    /// Waiting for its parent to relay it.
    Pending,
    Sent,
    Acknowledged,
    /// Carried out, with evidence.
    Done,
    /// Could not be delivered (a bounce, a closed endpoint), with the reason.
    Failed,
    /// Impossible or disproportionate (Art. 19), with the reason.
    Impossible,
}

impl NotificationState {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Sent,
        Self::Acknowledged,
        Self::Done,
        Self::Failed,
        Self::Impossible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Impossible => "impossible",
        }
    }

    /// Done, or recorded as impossible: the request may close.
    pub fn settled(self) -> bool {
        matches!(self, Self::Done | Self::Impossible)
    }

    /// Whether `self` may become `next`.
    pub fn may_become(self, next: Self) -> bool {
        use NotificationState::*;
        match next {
            Acknowledged => matches!(self, Sent | Failed),
            Done => matches!(self, Sent | Acknowledged | Failed),
            Failed => matches!(self, Sent),
            Impossible => !self.settled(),
            Pending | Sent => false,
        }
    }
}

impl FromStr for NotificationState {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| format!("{raw:?} is not a notification state"))
    }
}

/// What an activity of the controller does with the data (Art. 15(1)(a), (d), (g)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProcessingInfo {
    pub activity: Slug,
    pub name: String,
    pub purposes: Vec<String>,
    pub lawful_basis: Option<String>,
    pub categories: Vec<Slug>,
    /// An ISO 8601 duration (`P2Y`).
    pub retention: Option<String>,
    pub source: Option<String>,
    /// Automated decision-making, profiling included: the logic involved and its
    /// consequences (Art. 15(1)(h)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automated_decisions: Option<String>,
}

/// When the ledger names no recipient of the subject's data: why, and the processors of the
/// activities that process it, by name ("recipients of this activity"; categories would do
/// only for recipients that cannot be identified, and every processor in the register is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ActivityRecipients {
    pub reason: String,
    pub recipients: Vec<crate::notice::NamedRecipient>,
    pub transfers: Vec<crate::notice::NoticeTransfer>,
}

/// The access answer as it is given to the subject (Art. 15(1)–(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AccessReport {
    pub controller: crate::notice::Party,
    pub request: String,
    #[schemars(with = "crate::values::IsoDate")]
    pub on: Date,
    pub recipients: Vec<crate::ledger::AnswerRecipient>,
    pub transfers: Vec<crate::ledger::AnswerTransfer>,
    pub processing: Vec<ProcessingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_recipients: Option<ActivityRecipients>,
    /// The authority of the controller's establishment, for a complaint (Arts 15(1)(f), 77).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<crate::refdata::Authority>,
    /// The controller's connected systems whose export is the copy of the data (Art. 15(3));
    /// empty when none is connected (the copy is then given on request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copy_from: Vec<String>,
    /// The controller's language (`en`, `es`): the document is written in it.
    pub language: String,
}

/// Why the recipients of the activities are named when the ledger holds nothing for the
/// subject.
pub const NO_LEDGER_ENTRIES: &str = "No disclosure of your data to a specific recipient is \
    recorded in our disclosure ledger. These are the recipients of the activities that \
    process your data, by name: each may have received it (CJEU C-154/21, paras 48-51: \
    recipients are named wherever they can be identified).";

/// The rights the answer states besides access (Art. 15(1)(e), (f)).
pub const OTHER_RIGHTS: &str = "You may ask us to rectify inaccurate data (Art. 16), to erase \
    it (Art. 17), to restrict its processing (Art. 18), and object to processing based on \
    legitimate or public interests or for direct marketing (Art. 21). You may lodge a \
    complaint with a supervisory authority, in particular in the member state of your habitual \
    residence, place of work or of the alleged infringement (Art. 77).";

/// The report for `answer`: the processing of the activities the disclosures name (all the
/// controller's activities when there is none), and categories with the reason when no
/// specific recipient is known.
pub fn access_report(
    register: &crate::register::Register,
    controller: &str,
    answer: AccessAnswer,
    request: &str,
    on: Date,
) -> Result<AccessReport, crate::notice::NoticeError> {
    use crate::notice::{NoticeError, NoticeOptions, NoticeStyle, Party};
    let organisation = register
        .organisation(controller)
        .ok_or_else(|| NoticeError::UnknownOrganisation(controller.to_owned()))?;
    let named: std::collections::BTreeSet<&Slug> = answer
        .recipients
        .iter()
        .flat_map(|r| &r.activities)
        .collect();
    let processing = register
        .activities()
        .iter()
        .filter(|a| a.accepted_controllers().any(|c| c.as_str() == controller))
        .filter(|a| named.is_empty() || named.contains(&a.id))
        .map(|a| ProcessingInfo {
            activity: a.id.clone(),
            name: a.name.clone().unwrap_or_else(|| a.id.to_string()),
            purposes: a.purposes.clone(),
            lawful_basis: a.lawful_basis.map(|b| {
                serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            categories: a.data.clone(),
            retention: a.retention.as_ref().map(|r| r.as_str().to_owned()),
            source: a.source.clone(),
            automated_decisions: a.automated_decisions.clone(),
        })
        .collect();
    let activity_recipients = if answer.recipients.is_empty() {
        let notice = crate::notice::build(
            register,
            controller,
            &NoticeOptions {
                style: NoticeStyle::Named,
                activities: Vec::new(),
            },
            on,
        );
        match notice {
            Ok(notice) => Some(ActivityRecipients {
                reason: NO_LEDGER_ENTRIES.to_owned(),
                recipients: notice.recipients,
                transfers: notice.transfers,
            }),
            Err(NoticeError::NoActivities(_)) => None,
            Err(other) => return Err(other),
        }
    } else {
        None
    };
    Ok(AccessReport {
        controller: Party::of(organisation),
        request: request.to_owned(),
        on,
        recipients: answer.recipients,
        transfers: answer.transfers,
        processing,
        activity_recipients,
        authority: crate::refdata::ReferenceData::builtin()
            .authority(organisation.country)
            .cloned(),
        copy_from: Vec::new(),
        language: organisation
            .language
            .clone()
            .unwrap_or_else(|| "en".to_owned()),
    })
}
