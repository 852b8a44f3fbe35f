//! Data-subject requests as use cases (Arts 12, 15–22, 19), each one transaction with its
//! history, audit entry, timers and outbox events: receive (public intake, staff, API),
//! verify the address by a one-time link or record another method, extend, answer access
//! requests, tell every recipient of a rectification, erasure or restriction (Art. 19) down
//! the chain, close or refuse; and portability exports from the controller's systems.
//!
//! The subject's address is kept in clear only while the request is open: once closed (and
//! the last e-mail to the subject sent) it is erased everywhere, the outbox included, and only
//! its keyed hash remains.

use std::collections::BTreeMap;

use crate::Store;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custos_core::Date;
use custos_core::ledger::{self, AccessAnswer};
use custos_core::register::Register;
use custos_core::rights::{
    self, AccessReport, NotificationState, RequestKind, RequestStatus, check_extension,
};
use custos_core::values::Slug;
use custos_render::notice::TemplateKind;
use custos_render::rights::{ExportManifest, SourceData};
use custos_store::{
    DataSource, NotificationRow, StoredSubjectRequest, SubjectHistoryEntry, Timer, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::audit::Actor;
use crate::clock::{day_of, parse_stamp, stamp};
use crate::outbound::Outbound;
use crate::outbox::{self, Event};
use crate::outbox::{language_of, mailbox};
use crate::{AppError, ledger as app_ledger};

/// Event types of data-subject requests (documented in docs/rights.md).
pub mod events {
    pub const RECEIVED: &str = "subject_request.received";
    pub const VERIFIED: &str = "subject_request.verified";
    pub const EXTENDED: &str = "subject_request.extended";
    pub const NOTIFICATION: &str = "subject_request.notification";
    pub const NOTIFICATION_REMINDER: &str = "subject_request.notification_reminder";
    pub const NOTIFICATION_UPDATED: &str = "subject_request.notification_updated";
    pub const DUE: &str = "subject_request.due";
    pub const CLOSED: &str = "subject_request.closed";
    pub const REFUSED: &str = "subject_request.refused";
    /// E-mails to the subject (no webhook: they carry the subject's own news).
    pub const TO_SUBJECT: &str = "subject_request.to_subject";
    pub const ALL: [&str; 9] = [
        RECEIVED,
        VERIFIED,
        EXTENDED,
        NOTIFICATION,
        NOTIFICATION_REMINDER,
        NOTIFICATION_UPDATED,
        DUE,
        CLOSED,
        REFUSED,
    ];
}

/// Limits and periods of the request workflow.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a verification link works.
    pub link_lifetime: SignedDuration,
    /// Wrong tokens before a link stops working.
    pub max_attempts: i64,
    /// Requests accepted for one address in an hour; more get the same answer, no e-mail.
    pub per_address_per_hour: i64,
    /// An unverified request is refused (and its address erased) after this: 30 days unless
    /// `CUSTOS_UNVERIFIED_REFUSAL_DAYS` says otherwise (Arts 11(2), 12(2): the controller may
    /// refuse only once it has asked for identification and not received it).
    pub unverified_after: SignedDuration,
    /// A recipient silent this long is reminded, and again each period.
    pub silent_after: SignedDuration,
    /// The controller is reminded this long before the deadline.
    pub due_soon: SignedDuration,
    /// How long a closed request waits for its last e-mails before its address is erased
    /// regardless.
    pub erase_within: SignedDuration,
    /// Where a portability transmission (named on the public intake form) may go.
    pub outbound: Outbound,
}

/// Days an unverified request waits before it is refused, by default.
pub const DEFAULT_UNVERIFIED_DAYS: i64 = 30;

impl Settings {
    /// The instance's settings: `CUSTOS_UNVERIFIED_REFUSAL_DAYS` (1 to 365, default 30) and
    /// `CUSTOS_ALLOW_PRIVATE_TARGETS` (docs/security.md).
    pub fn from_env() -> Result<Self, AppError> {
        let mut settings = Self {
            outbound: Outbound::from_env(),
            ..Self::default()
        };
        if let Ok(raw) = std::env::var("CUSTOS_UNVERIFIED_REFUSAL_DAYS") {
            settings.unverified_after = unverified_refusal_period(&raw)?;
        }
        Ok(settings)
    }
}

/// Reads `CUSTOS_UNVERIFIED_REFUSAL_DAYS`: whole days from 1 to 365.
fn unverified_refusal_period(raw: &str) -> Result<SignedDuration, AppError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (1..=365).contains(d))
        .map(|days| SignedDuration::from_hours(days * 24))
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "CUSTOS_UNVERIFIED_REFUSAL_DAYS: expected a number of days from 1 to 365, got {raw:?}"
            ))
        })
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            link_lifetime: SignedDuration::from_hours(24),
            max_attempts: 5,
            per_address_per_hour: 3,
            unverified_after: SignedDuration::from_hours(DEFAULT_UNVERIFIED_DAYS * 24),
            silent_after: SignedDuration::from_hours(7 * 24),
            due_soon: SignedDuration::from_hours(7 * 24),
            erase_within: SignedDuration::from_hours(24),
            outbound: Outbound::PUBLIC_ONLY,
        }
    }
}

/// A request as it arrives.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub controller: Slug,
    pub kind: RequestKind,
    /// The subject's e-mail address: the verification link goes there.
    pub email: String,
    /// What the subject wrote (for a rectification: what to correct).
    #[serde(default)]
    pub details: String,
    /// Portability: another controller's endpoint to transmit the export to (Art. 20(2)).
    #[serde(default)]
    pub transmit_to: Option<String>,
    /// The day the request arrived, for one received by post, by telephone or in person and
    /// entered later by staff: the deadline counts from it (Art. 12(3)). Not in the future;
    /// today when absent. The public form never sets it.
    #[serde(default)]
    #[schemars(with = "Option<custos_core::values::IsoDate>")]
    pub received_on: Option<Date>,
}

/// A request with its history and notifications.
#[derive(Debug, Clone)]
pub struct SubjectRequestView {
    pub request: StoredSubjectRequest,
    pub history: Vec<SubjectHistoryEntry>,
    pub notifications: Vec<NotificationRow>,
}

impl SubjectRequestView {
    /// The deadline that holds: the extended one when extended.
    pub fn due(&self) -> &str {
        self.request
            .extended_until
            .as_deref()
            .unwrap_or(&self.request.deadline)
    }
}

/// What the intake answers. The caller shows the same page either way (no enumeration).
#[derive(Debug)]
pub enum Received {
    /// Filed; the link's token went to the address (returned for staff tools and tests).
    Filed {
        view: Box<SubjectRequestView>,
        token: String,
    },
    /// Too many requests for this address this hour: nothing was filed or sent.
    Throttled,
}

const MAX_DETAILS: usize = 10_000;

/// The end of a day (UTC), as a stamp: a deadline passes when its day ends.
fn end_of(day: Date) -> Result<String, AppError> {
    let next = day
        .tomorrow()
        .map_err(|e| AppError::Invalid(format!("date: {e}")))?;
    let at = next
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|e| AppError::Invalid(format!("date: {e}")))?
        .timestamp();
    Ok(stamp(at))
}

fn parse_day(raw: &str) -> Result<Date, AppError> {
    raw.parse()
        .map_err(|e| AppError::Invalid(format!("stored date {raw:?}: {e}")))
}

fn token_hash(token: &str) -> String {
    crate::entries::sha256_hex(token.as_bytes())
}

fn new_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Invalid(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn history(
    request: &str,
    kind: &str,
    body: serde_json::Value,
    actor: &Actor,
) -> SubjectHistoryEntry {
    SubjectHistoryEntry {
        key: uuid::Uuid::now_v7().to_string(),
        request_key: request.to_owned(),
        kind: kind.to_owned(),
        body,
        at: stamp(actor.at),
        by: actor.name.clone(),
    }
}

fn audit(
    actor: &Actor,
    action: &str,
    request: &StoredSubjectRequest,
    after: String,
) -> custos_core::audit::NewAuditEntry {
    actor.entry(
        action,
        "subject-request",
        &request.key,
        request.controller.clone(),
        None,
        Some(after),
    )
}

/// What every e-mail and event about a request says (never the address).
fn base_data(register: &Register, request: &StoredSubjectRequest) -> serde_json::Value {
    let controller = register.organisation(&request.controller);
    json!({
        "request": request.key,
        "kind": request.kind.as_str(),
        "article": request.kind.article(),
        "controller": {
            "id": request.controller,
            "name": controller.map_or(request.controller.as_str(), |o| o.name.as_str()),
        },
        "received": request.received_at.get(..10),
        "deadline": request.extended_until.as_deref().unwrap_or(&request.deadline),
        "status": request.status.as_str(),
        "path": format!("/subject-requests/{}", request.key),
        "template_owner": request.controller,
    })
}

/// An e-mail to the subject (while the address is known).
fn to_subject(
    register: &Register,
    request: &StoredSubjectRequest,
    template: TemplateKind,
    data: serde_json::Value,
) -> Option<Event> {
    let email = request.email.clone()?;
    Some(Event {
        kind: events::TO_SUBJECT,
        subject: request.key.clone(),
        scope: Vec::new(),
        mail: vec![crate::outbox::Mailbox::for_organisation(
            register,
            &request.controller,
            email,
        )],
        mail_template: Some(template),
        data,
    })
}

fn with(mut data: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(target), Some(fields)) = (data.as_object_mut(), extra.as_object()) {
        for (name, value) in fields {
            target.insert(name.clone(), value.clone());
        }
    }
    data
}

fn timer(kind: &str, subject: &str, party: &str, due_at: String) -> Timer {
    Timer {
        key: uuid::Uuid::now_v7().to_string(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        party: party.to_owned(),
        due_at,
    }
}

/// The deadline timers: a reminder before the day and one when it has passed.
fn deadline_timers(
    request: &StoredSubjectRequest,
    due: Date,
    now: Timestamp,
    settings: &Settings,
) -> Result<Vec<Timer>, AppError> {
    let end = end_of(due)?;
    let mut timers = vec![timer(
        "rights-overdue",
        &request.key,
        &request.controller,
        end.clone(),
    )];
    if let Some(soon) = parse_stamp(&end).and_then(|e| e.checked_sub(settings.due_soon).ok())
        && soon > now
    {
        timers.push(timer(
            "rights-due-soon",
            &request.key,
            &request.controller,
            stamp(soon),
        ));
    }
    Ok(timers)
}

async fn load(tx: &mut Tx, key: &str) -> Result<StoredSubjectRequest, AppError> {
    tx.subject_request(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("subject request {key}")))
}

fn require_open(request: &StoredSubjectRequest) -> Result<(), AppError> {
    if request.status.open() {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "the request is {}",
            request.status.as_str()
        )))
    }
}

fn require_verified(request: &StoredSubjectRequest) -> Result<(), AppError> {
    require_open(request)?;
    if request.verified_at.is_none() {
        return Err(AppError::Conflict(
            "the subject's identity is not verified: a request is fulfilled only for a verified subject"
                .to_owned(),
        ));
    }
    Ok(())
}

mod answer;
mod closing;
mod intake;
mod notifications;
mod portability;
mod triage;

pub use answer::access_report;
use answer::answer_of;
pub(crate) use closing::fire_timer;
pub use closing::{close, refuse};
pub use intake::{
    SubjectStatus, extend, list, receive, record_verification, status_for_subject, verify_link,
    view,
};
pub use notifications::{
    NotificationChange, notification, notifications_to, notify_recipients, update_notification,
};
use notifications::{notification_event, silent_timer};
pub use portability::{add_data_source, data_sources, export, export_for_download, transmit};
pub use triage::{MAX_NOTE, assign, assignees, note};

#[cfg(test)]
mod settings_tests {
    use super::*;

    #[test]
    fn the_unverified_refusal_period_is_whole_days_from_1_to_365() {
        assert_eq!(
            Settings::default().unverified_after,
            SignedDuration::from_hours(30 * 24)
        );
        assert_eq!(
            unverified_refusal_period(" 45 ").unwrap(),
            SignedDuration::from_hours(45 * 24)
        );
        for bad in ["0", "366", "-3", "a week", ""] {
            let error = unverified_refusal_period(bad).unwrap_err().to_string();
            assert!(
                error.contains("CUSTOS_UNVERIFIED_REFUSAL_DAYS"),
                "{bad}: {error}"
            );
        }
    }
}
