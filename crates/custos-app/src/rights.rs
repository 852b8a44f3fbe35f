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
use crate::changes::{language_of, mailbox};
use crate::clock::{day_of, parse_stamp, stamp};
use crate::outbox::{self, Event};
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
    /// An unverified request is refused (and its address erased) after this.
    pub unverified_after: SignedDuration,
    /// A recipient silent this long is reminded, and again each period.
    pub silent_after: SignedDuration,
    /// The controller is reminded this long before the deadline.
    pub due_soon: SignedDuration,
    /// How long a closed request waits for its last e-mails before its address is erased
    /// regardless.
    pub erase_within: SignedDuration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            link_lifetime: SignedDuration::from_hours(24),
            max_attempts: 5,
            per_address_per_hour: 3,
            unverified_after: SignedDuration::from_hours(7 * 24),
            silent_after: SignedDuration::from_hours(7 * 24),
            due_soon: SignedDuration::from_hours(7 * 24),
            erase_within: SignedDuration::from_hours(24),
        }
    }
}

/// A request as it arrives.
#[derive(Debug, Clone, serde::Deserialize)]
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
        mail: vec![(email, language_of(register, &request.controller))],
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

/// Receives a request: keys the address, sends the one-time link, sets the deadline timers.
pub async fn receive(
    store: &Store,
    register: &Register,
    new: NewRequest,
    channel: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<Received, AppError> {
    let controller = register
        .organisation(new.controller.as_str())
        .ok_or_else(|| AppError::NotFound(format!("organisation {}", new.controller)))?;
    let email = ledger::normalise(&new.email)
        .ok()
        .filter(|e| e.contains('@'))
        .ok_or_else(|| {
            AppError::Invalid("email: expected an e-mail address (name@example.com)".to_owned())
        })?;
    if new.details.len() > MAX_DETAILS {
        return Err(AppError::Invalid(format!(
            "details: at most {MAX_DETAILS} bytes"
        )));
    }
    if let Some(url) = &new.transmit_to {
        let valid =
            (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2000;
        if !valid || new.kind != RequestKind::Portability {
            return Err(AppError::Invalid(
                "transmit_to: an http(s) URL, for a portability request only".to_owned(),
            ));
        }
    }
    let pepper = app_ledger::pepper(store, actor.at).await?;
    let subject_key = ledger::subject_key(&pepper, &email)
        .map_err(|e| AppError::Invalid(format!("email: {e}")))?;
    let now = actor.at;
    let hour_ago = now
        .checked_sub(SignedDuration::from_hours(1))
        .unwrap_or(now);
    let mut tx = store.begin().await?;
    if tx
        .requests_of_subject_since(&subject_key, &stamp(hour_ago))
        .await?
        >= settings.per_address_per_hour
    {
        tx.rollback().await?;
        tracing::warn!("a subject request was throttled (too many for one address this hour)");
        return Ok(Received::Throttled);
    }
    let token = new_token()?;
    let received = day_of(now);
    let request = StoredSubjectRequest {
        key: uuid::Uuid::now_v7().to_string(),
        controller: controller.id.to_string(),
        kind: new.kind,
        status: RequestStatus::Received,
        channel: channel.to_owned(),
        email: Some(email),
        subject_key,
        details: new.details.trim().to_owned(),
        language: language_of(register, controller.id.as_str())
            .as_str()
            .to_owned(),
        transmit_to: new.transmit_to,
        received_at: stamp(now),
        deadline: rights::deadline(received).to_string(),
        extended_until: None,
        extension_reasons: None,
        verified_at: None,
        verification: None,
        token_hash: Some(token_hash(&token)),
        token_expires_at: Some(stamp(
            now.checked_add(settings.link_lifetime).unwrap_or(now),
        )),
        token_attempts: 0,
        closed_at: None,
        outcome: None,
        created_by: actor.name.clone(),
    };
    tx.put_subject_request(&request).await?;
    tx.insert_subject_history(&history(
        &request.key,
        "received",
        json!({"kind": request.kind.as_str(), "channel": channel, "deadline": request.deadline}),
        actor,
    ))
    .await?;
    let mut timers = deadline_timers(&request, rights::deadline(received), now, settings)?;
    timers.push(timer(
        "rights-unverified",
        &request.key,
        &request.controller,
        stamp(now.checked_add(settings.unverified_after).unwrap_or(now)),
    ));
    tx.insert_timers(&timers).await?;
    let data = base_data(register, &request);
    let mut events = vec![Event::hook(
        events::RECEIVED,
        &request.key,
        vec![request.controller.clone()],
        data.clone(),
    )];
    events.extend(to_subject(
        register,
        &request,
        TemplateKind::MailRightsVerify,
        with(
            data,
            json!({"path": format!("/public/requests/{}/verify?token={token}", request.key)}),
        ),
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, now).await?;
    tx.append_audit(vec![audit(
        actor,
        "receive",
        &request,
        format!("{} request by {channel}", request.kind),
    )])
    .await?;
    tx.commit().await?;
    Ok(Received::Filed {
        view: Box::new(view(store, &request.key).await?),
        token,
    })
}

/// A request with its history and notifications.
pub async fn view(store: &Store, key: &str) -> Result<SubjectRequestView, AppError> {
    let mut tx = store.read().await?;
    let request = load(&mut tx, key).await?;
    Ok(SubjectRequestView {
        history: tx.subject_history(key).await?,
        notifications: tx.notifications_of(key).await?,
        request,
    })
}

/// The requests of `controllers` (every request when `None`), newest first.
pub async fn list(
    store: &Store,
    controllers: Option<&[String]>,
) -> Result<Vec<StoredSubjectRequest>, AppError> {
    Ok(store.read().await?.subject_requests(controllers).await?)
}

/// Checks a one-time link. The same `false` for an unknown request, a wrong, used or expired
/// token, or one tried too often: the caller's page cannot tell them apart.
pub async fn verify_link(
    store: &Store,
    register: &Register,
    key: &str,
    token: &str,
    now: Timestamp,
    settings: &Settings,
) -> Result<bool, AppError> {
    let mut tx = store.begin().await?;
    let Some(mut request) = tx.subject_request(key).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    let usable = request.status == RequestStatus::Received
        && request.token_attempts < settings.max_attempts
        && request
            .token_expires_at
            .as_deref()
            .and_then(parse_stamp)
            .is_some_and(|expires| now < expires);
    let matches = request.token_hash.as_deref() == Some(token_hash(token).as_str());
    if !(usable && matches) {
        if request.token_hash.is_some() {
            request.token_attempts += 1;
            tx.put_subject_request(&request).await?;
            tx.commit().await?;
        }
        return Ok(false);
    }
    let actor = Actor::new("subject:email-link", now);
    verified(
        &mut tx,
        register,
        &mut request,
        "email-link".to_owned(),
        &actor,
    )
    .await?;
    // The link is spent: its token leaves the outbox too.
    tx.erase_from_outbox(&request.key, token, "[used]").await?;
    tx.commit().await?;
    Ok(true)
}

async fn verified(
    tx: &mut Tx,
    register: &Register,
    request: &mut StoredSubjectRequest,
    method: String,
    actor: &Actor,
) -> Result<(), AppError> {
    request.status = RequestStatus::Verified;
    request.verified_at = Some(stamp(actor.at));
    request.verification = Some(method.clone());
    request.token_hash = None;
    request.token_expires_at = None;
    tx.put_subject_request(request).await?;
    tx.insert_subject_history(&history(
        &request.key,
        "verified",
        json!({"method": method}),
        actor,
    ))
    .await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(
        tx,
        vec![Event::hook(
            events::VERIFIED,
            &request.key,
            vec![request.controller.clone()],
            base_data(register, request),
        )],
        &subscriptions,
        actor.at,
    )
    .await?;
    tx.append_audit(vec![audit(actor, "verify", request, method)])
        .await?;
    Ok(())
}

/// Staff record a verification made another way (in person, a signed letter), with evidence.
pub async fn record_verification(
    store: &Store,
    register: &Register,
    key: &str,
    method: &str,
    evidence: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    if method.trim().is_empty() || evidence.trim().is_empty() {
        return Err(AppError::Invalid(
            "method and evidence: say how the identity was verified and on what evidence"
                .to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    if request.verified_at.is_some() {
        return Err(AppError::Conflict(
            "the request is already verified".to_owned(),
        ));
    }
    let method = format!("{}: {}", method.trim(), evidence.trim());
    verified(&mut tx, register, &mut request, method, actor).await?;
    tx.commit().await?;
    view(store, key).await
}

/// Extends the deadline by two further months, within the first month, with reasons told to
/// the subject (Art. 12(3)).
pub async fn extend(
    store: &Store,
    register: &Register,
    key: &str,
    reasons: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<SubjectRequestView, AppError> {
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    let received = parse_stamp(&request.received_at)
        .map(day_of)
        .ok_or_else(|| AppError::Invalid("stored receipt time".to_owned()))?;
    let extended = request
        .extended_until
        .as_deref()
        .map(parse_day)
        .transpose()?;
    let until = check_extension(received, day_of(actor.at), extended, reasons)
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    request.extended_until = Some(until.to_string());
    request.extension_reasons = Some(reasons.trim().to_owned());
    tx.put_subject_request(&request).await?;
    tx.cancel_timers(&request.key, &request.controller, &stamp(actor.at))
        .await?;
    tx.insert_timers(&deadline_timers(&request, until, actor.at, settings)?)
        .await?;
    tx.insert_subject_history(&history(
        &request.key,
        "extended",
        json!({"until": until.to_string(), "reasons": reasons.trim()}),
        actor,
    ))
    .await?;
    let data = with(
        base_data(register, &request),
        json!({"update": "extended", "extended_until": until.to_string(), "reasons": reasons.trim()}),
    );
    let mut events = vec![Event::hook(
        events::EXTENDED,
        &request.key,
        vec![request.controller.clone()],
        data.clone(),
    )];
    events.extend(to_subject(
        register,
        &request,
        TemplateKind::MailRightsUpdate,
        data,
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        "extend",
        &request,
        format!("until {until}"),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// The recipients of the subject's data from the ledger, the chain as it stood at each
/// disclosure.
async fn answer_of(
    store: &Store,
    register: &Register,
    request: &StoredSubjectRequest,
) -> Result<AccessAnswer, AppError> {
    let disclosures = store
        .read()
        .await?
        .disclosures_of(&request.subject_key)
        .await?;
    let mine: Vec<_> = disclosures
        .into_iter()
        .filter(|d| {
            register
                .activity(d.activity.as_str())
                .is_some_and(|a| a.controllers().any(|c| c.as_str() == request.controller))
        })
        .collect();
    ledger::access_answer(register, &mine).map_err(|e| AppError::Invalid(e.to_string()))
}

/// The access report of a verified request (Art. 15): its recipients, transfers, processing.
pub async fn access_report(
    store: &Store,
    register: &Register,
    key: &str,
    now: Timestamp,
) -> Result<AccessReport, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    if request.verified_at.is_none() {
        return Err(AppError::Conflict(
            "the subject's identity is not verified: no answer is given before".to_owned(),
        ));
    }
    let answer = answer_of(store, register, &request).await?;
    rights::access_report(
        register,
        &request.controller,
        answer,
        &request.key,
        day_of(now),
    )
    .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Tells every recipient of the subject's data (Art. 19): the controller those it disclosed
/// to, each processor (when it acknowledges) those it engaged.
pub async fn notify_recipients(
    store: &Store,
    register: &Register,
    key: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<SubjectRequestView, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    require_verified(&request)?;
    if !request.kind.propagates() {
        return Err(AppError::Conflict(format!(
            "a {} request is not communicated to recipients (Art. 19 covers rectification, erasure and restriction)",
            request.kind
        )));
    }
    let answer = answer_of(store, register, &request).await?;
    let planned = rights::notification_tree(&answer);
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    if request.status != RequestStatus::Verified {
        return Err(AppError::Conflict(format!(
            "the request is {}: recipients are told once",
            request.status.as_str()
        )));
    }
    let at = stamp(actor.at);
    let rows: Vec<NotificationRow> = planned
        .iter()
        .map(|p| NotificationRow {
            key: uuid::Uuid::now_v7().to_string(),
            request_key: request.key.clone(),
            recipient: p.recipient.to_string(),
            relayed_by: p.relayed_by.as_ref().map(ToString::to_string),
            state: if p.relayed_by.is_none() {
                NotificationState::Sent
            } else {
                NotificationState::Pending
            },
            sent_at: p.relayed_by.is_none().then(|| at.clone()),
            note: None,
            updated_at: at.clone(),
            updated_by: actor.name.clone(),
        })
        .collect();
    tx.put_notifications(&rows).await?;
    let categories = categories_of(&answer);
    let mut events = Vec::new();
    let mut timers = Vec::new();
    for row in rows.iter().filter(|r| r.state == NotificationState::Sent) {
        events.push(notification_event(
            register,
            &request,
            row,
            &categories,
            false,
        ));
        timers.push(silent_timer(&request, row, actor.at, settings));
    }
    tx.insert_timers(&timers).await?;
    // With no recipient in the ledger there is no one to tell: the request may close.
    request.status = RequestStatus::Notifying;
    tx.put_subject_request(&request).await?;
    tx.insert_subject_history(&history(
        &request.key,
        "notified",
        json!({"recipients": rows.iter().map(|r| json!({"recipient": r.recipient, "relayed_by": r.relayed_by})).collect::<Vec<_>>()}),
        actor,
    ))
    .await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        "notify",
        &request,
        format!("{} recipient(s)", rows.len()),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

fn categories_of(answer: &AccessAnswer) -> BTreeMap<String, Vec<String>> {
    answer
        .recipients
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                r.categories.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

fn silent_timer(
    request: &StoredSubjectRequest,
    row: &NotificationRow,
    now: Timestamp,
    settings: &Settings,
) -> Timer {
    timer(
        "rights-silent",
        &request.key,
        &row.key,
        stamp(now.checked_add(settings.silent_after).unwrap_or(now)),
    )
}

/// The notification to one recipient: webhook to its endpoints, e-mail to its DPO or contact.
/// It names the subject (the recipient must find the data), so it is erased with the address.
fn notification_event(
    register: &Register,
    request: &StoredSubjectRequest,
    row: &NotificationRow,
    categories: &BTreeMap<String, Vec<String>>,
    reminder: bool,
) -> Event {
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or(id, |o| o.name.as_str())
            .to_owned()
    };
    let data = with(
        base_data(register, request),
        json!({
            "notification": row.key,
            "reminder": reminder,
            "recipient": {"id": row.recipient, "name": name(&row.recipient)},
            "relayed_by": row.relayed_by.as_ref().map(|r| json!({"id": r, "name": name(r)})),
            "identifier": request.email,
            "details": request.details,
            "categories": categories.get(&row.recipient).cloned().unwrap_or_default(),
            "path": format!("/api/v1/rights-notifications/{}", row.key),
            "template_owner": row.relayed_by.as_deref().unwrap_or(&request.controller),
        }),
    );
    Event {
        kind: if reminder {
            events::NOTIFICATION_REMINDER
        } else {
            events::NOTIFICATION
        },
        subject: request.key.clone(),
        scope: vec![row.recipient.clone()],
        mail: mailbox(register, &row.recipient).into_iter().collect(),
        mail_template: Some(TemplateKind::MailRightsNotify),
        data,
    }
}

/// What a recipient (or the controller) says of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationChange {
    Acknowledge,
    Done { evidence: String },
    Failed { reason: String },
    Impossible { reason: String },
}

impl NotificationChange {
    fn state(&self) -> NotificationState {
        match self {
            Self::Acknowledge => NotificationState::Acknowledged,
            Self::Done { .. } => NotificationState::Done,
            Self::Failed { .. } => NotificationState::Failed,
            Self::Impossible { .. } => NotificationState::Impossible,
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Self::Acknowledge => None,
            Self::Done { evidence } => Some(evidence),
            Self::Failed { reason } | Self::Impossible { reason } => Some(reason),
        }
    }
}

/// A notification with the request it belongs to.
pub async fn notification(
    store: &Store,
    key: &str,
) -> Result<(NotificationRow, StoredSubjectRequest), AppError> {
    let mut tx = store.read().await?;
    let row = tx
        .notification(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("notification {key}")))?;
    let request = load(&mut tx, &row.request_key).await?;
    Ok((row, request))
}

/// Records an acknowledgement, completion (with evidence), failure or impossibility (with the
/// reason). A recipient that acknowledges or completes relays the notification to the
/// processors it engaged.
pub async fn update_notification(
    store: &Store,
    register: &Register,
    key: &str,
    change: NotificationChange,
    actor: &Actor,
    settings: &Settings,
) -> Result<NotificationRow, AppError> {
    if change.note().is_some_and(|n| n.trim().is_empty()) {
        return Err(AppError::Invalid(
            "evidence or reason: say what was done, or why it could not be".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut row = tx
        .notification(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("notification {key}")))?;
    let request = load(&mut tx, &row.request_key).await?;
    require_open(&request)?;
    let next = change.state();
    if !row.state.may_become(next) {
        return Err(AppError::Conflict(format!(
            "the notification is {}: it cannot become {}",
            row.state.as_str(),
            next.as_str()
        )));
    }
    let at = stamp(actor.at);
    row.state = next;
    row.note = change.note().map(|n| n.trim().to_owned());
    row.updated_at = at.clone();
    row.updated_by = actor.name.clone();
    let mut changed = vec![row.clone()];
    let mut events = Vec::new();
    let mut timers = Vec::new();
    if matches!(
        next,
        NotificationState::Acknowledged | NotificationState::Done
    ) {
        let to_relay: Vec<NotificationRow> = tx
            .notifications_of(&request.key)
            .await?
            .into_iter()
            .filter(|child| {
                child.relayed_by.as_deref() == Some(row.recipient.as_str())
                    && child.state == NotificationState::Pending
            })
            .collect();
        // The categories each received come from the ledger: read only when someone is told.
        let categories = if to_relay.is_empty() {
            BTreeMap::new()
        } else {
            categories_of(&answer_of(store, register, &request).await?)
        };
        for mut child in to_relay {
            child.state = NotificationState::Sent;
            child.sent_at = Some(at.clone());
            child.updated_at = at.clone();
            child.updated_by = actor.name.clone();
            events.push(notification_event(
                register,
                &request,
                &child,
                &categories,
                false,
            ));
            timers.push(silent_timer(&request, &child, actor.at, settings));
            changed.push(child);
        }
    }
    tx.put_notifications(&changed).await?;
    tx.insert_timers(&timers).await?;
    if next.settled() {
        tx.cancel_timers(&request.key, &row.key, &at).await?;
    }
    tx.insert_subject_history(&history(
        &request.key,
        &format!("notification-{}", next.as_str()),
        json!({"recipient": row.recipient, "note": row.note, "relayed_to": changed.iter().skip(1).map(|c| c.recipient.clone()).collect::<Vec<_>>()}),
        actor,
    ))
    .await?;
    events.push(Event::hook(
        events::NOTIFICATION_UPDATED,
        &request.key,
        vec![request.controller.clone()],
        with(
            base_data(register, &request),
            json!({"notification": row.key, "recipient": row.recipient, "state": next.as_str()}),
        ),
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        next.as_str(),
        "rights-notification",
        &row.key,
        format!("{} {}", request.controller, row.recipient),
        None,
        row.note.clone(),
    )])
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The notifications addressed to `organisation`, and those it relays to the processors it
/// engaged, newest first.
pub async fn notifications_to(
    store: &Store,
    organisation: &str,
) -> Result<Vec<NotificationRow>, AppError> {
    let mut tx = store.read().await?;
    let mut rows = tx.notifications_to(organisation).await?;
    rows.extend(tx.notifications_relayed_by(organisation).await?);
    rows.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(rows)
}

/// Closes a fulfilled request: an access request with its answer sent to the subject, a
/// propagated one once every recipient is done or recorded as impossible. The address is
/// erased once the last e-mail to the subject has gone.
pub async fn close(
    store: &Store,
    register: &Register,
    key: &str,
    note: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    require_verified(&request)?;
    // The answer goes to the subject of an access request only.
    let answer = if request.kind == RequestKind::Access {
        Some(answer_of(store, register, &request).await?)
    } else {
        None
    };
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_verified(&request)?;
    let notifications = tx.notifications_of(key).await?;
    let open: Vec<&str> = notifications
        .iter()
        .filter(|n| !n.state.settled())
        .map(|n| n.recipient.as_str())
        .collect();
    if !open.is_empty() {
        return Err(AppError::Conflict(format!(
            "not every recipient is done or recorded as impossible: {}",
            open.join(", ")
        )));
    }
    if request.kind.propagates() && request.status == RequestStatus::Verified {
        return Err(AppError::Conflict(
            "tell the recipients first (Art. 19): POST .../notify".to_owned(),
        ));
    }
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or(id, |o| o.name.as_str())
            .to_owned()
    };
    let mut data = with(
        base_data(register, &request),
        json!({"reasons": note.trim(), "notified": notifications.iter().map(|n| json!({"name": name(&n.recipient), "state": n.state.as_str()})).collect::<Vec<_>>()}),
    );
    if let Some(answer) = answer {
        data = with(
            data,
            json!({
                "update": "answered",
                "recipients": answer.recipients.iter().map(|r| json!({
                    "name": r.name, "country": r.country, "categories": r.categories,
                    "first": r.first.to_string().get(..10), "last": r.last.to_string().get(..10),
                    "through": r.through.as_ref().map(|t| name(t.as_str())),
                })).collect::<Vec<_>>(),
                "transfers": answer.transfers.iter().map(|t| json!({
                    "importer": name(t.importer.as_str()), "destination": t.destination,
                    "mechanism": t.mechanism, "basis": t.basis,
                })).collect::<Vec<_>>(),
            }),
        );
    } else {
        data["update"] = "closed".into();
    }
    finish(
        &mut tx,
        register,
        &mut request,
        RequestStatus::Closed,
        note,
        data,
        actor,
    )
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// Refuses an open request (manifestly unfounded or excessive, Art. 12(5)), with reasons told
/// to the subject with the right to complain (Art. 12(4)).
pub async fn refuse(
    store: &Store,
    register: &Register,
    key: &str,
    reasons: &str,
    actor: &Actor,
) -> Result<SubjectRequestView, AppError> {
    if reasons.trim().is_empty() {
        return Err(AppError::Invalid(
            "reasons: a refusal gives the subject its reasons (Art. 12(4))".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut request = load(&mut tx, key).await?;
    require_open(&request)?;
    let data = with(
        base_data(register, &request),
        json!({"update": "refused", "reasons": reasons.trim()}),
    );
    finish(
        &mut tx,
        register,
        &mut request,
        RequestStatus::Refused,
        reasons,
        data,
        actor,
    )
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// Ends a request: the last e-mail to the subject, timers cancelled, and the erasure of the
/// address scheduled for when that e-mail has gone.
async fn finish(
    tx: &mut Tx,
    register: &Register,
    request: &mut StoredSubjectRequest,
    status: RequestStatus,
    note: &str,
    data: serde_json::Value,
    actor: &Actor,
) -> Result<(), AppError> {
    let at = stamp(actor.at);
    request.status = status;
    request.closed_at = Some(at.clone());
    request.outcome = Some(note.trim().to_owned());
    request.token_hash = None;
    request.token_expires_at = None;
    tx.put_subject_request(request).await?;
    tx.cancel_timers(&request.key, &request.controller, &at)
        .await?;
    for n in tx.notifications_of(&request.key).await? {
        tx.cancel_timers(&request.key, &n.key, &at).await?;
    }
    tx.insert_timers(&[timer("rights-erase", &request.key, "subject", at.clone())])
        .await?;
    tx.insert_subject_history(&history(
        &request.key,
        status.as_str(),
        json!({"note": note.trim()}),
        actor,
    ))
    .await?;
    let kind = if status == RequestStatus::Refused {
        events::REFUSED
    } else {
        events::CLOSED
    };
    let mut events = vec![Event::hook(
        kind,
        &request.key,
        vec![request.controller.clone()],
        base_data(register, request),
    )];
    events.extend(to_subject(
        register,
        request,
        TemplateKind::MailRightsUpdate,
        data,
    ));
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![audit(
        actor,
        status.as_str(),
        request,
        note.trim().to_owned(),
    )])
    .await?;
    Ok(())
}

/// Erases the address of a closed request: from the request (its keyed hash stays), its
/// details, and everything the outbox keeps about it. Waits (returns `false`) while e-mails
/// to the subject are still being sent, up to `erase_within` after closing.
async fn erase(
    tx: &mut Tx,
    request: &mut StoredSubjectRequest,
    now: Timestamp,
    settings: &Settings,
) -> Result<bool, AppError> {
    let Some(email) = request.email.clone() else {
        return Ok(true);
    };
    let closed = request
        .closed_at
        .as_deref()
        .and_then(parse_stamp)
        .unwrap_or(now);
    let waited_enough = closed
        .checked_add(settings.erase_within)
        .is_ok_and(|limit| now >= limit);
    if tx.pending_deliveries_of(&request.key).await? > 0 && !waited_enough {
        return Ok(false);
    }
    tx.erase_from_outbox(&request.key, &email, "[erased]")
        .await?;
    if !request.details.is_empty() {
        tx.erase_from_outbox(&request.key, &request.details, "[erased]")
            .await?;
    }
    request.email = None;
    request.details = String::new();
    tx.put_subject_request(request).await?;
    Ok(true)
}

/// Fires one of the request timers (called by the shared timer loop in its transaction):
/// deadline reminders, silent recipients, unverified requests refused, addresses erased.
/// Returns whether the SQLite log should be flushed after commit (an address was erased).
pub(crate) async fn fire_timer(
    tx: &mut Tx,
    register: &Register,
    due: &Timer,
    now: Timestamp,
    events: &mut Vec<Event>,
    settings: &Settings,
) -> Result<bool, AppError> {
    let Some(mut request) = tx.subject_request(&due.subject).await? else {
        return Ok(false);
    };
    let actor = Actor::new("custos:timer", now);
    match due.kind.as_str() {
        "rights-due-soon" | "rights-overdue" if request.status.open() => {
            let overdue = due.kind == "rights-overdue";
            events.push(Event {
                kind: events::DUE,
                subject: request.key.clone(),
                scope: vec![request.controller.clone()],
                mail: mailbox(register, &request.controller).into_iter().collect(),
                mail_template: Some(TemplateKind::MailRightsDue),
                data: with(base_data(register, &request), json!({"overdue": overdue})),
            });
            if overdue {
                tx.insert_subject_history(&history(&request.key, "overdue", json!({}), &actor))
                    .await?;
            }
        }
        "rights-unverified" if request.status == RequestStatus::Received => {
            let reasons = "We could not verify that the address is yours: the link was not used within the time allowed. You may send a new request.";
            let data = with(
                base_data(register, &request),
                json!({"update": "refused", "reasons": reasons}),
            );
            finish(
                tx,
                register,
                &mut request,
                RequestStatus::Refused,
                reasons,
                data,
                &actor,
            )
            .await?;
        }
        "rights-silent" => {
            if let Some(row) = tx.notification(&due.party).await?
                && row.state == NotificationState::Sent
                && request.status.open()
            {
                events.push(notification_event(
                    register,
                    &request,
                    &row,
                    &BTreeMap::new(),
                    true,
                ));
                tx.insert_timers(&[silent_timer(&request, &row, now, settings)])
                    .await?;
            }
        }
        "rights-erase" => {
            if erase(tx, &mut request, now, settings).await? {
                return Ok(true);
            }
            let later = now
                .checked_add(SignedDuration::from_mins(10))
                .unwrap_or(now);
            tx.insert_timers(&[timer("rights-erase", &request.key, "subject", stamp(later))])
                .await?;
        }
        _ => {}
    }
    Ok(false)
}

/// Adds a connected system that returns a subject's data for portability exports; returns it
/// with its signing secret (shown once).
pub async fn add_data_source(
    store: &Store,
    organisation: &str,
    name: &str,
    url: &str,
    actor: &Actor,
) -> Result<DataSource, AppError> {
    let name: Slug = name
        .parse()
        .map_err(|e| AppError::Invalid(format!("name: {e}")))?;
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(AppError::Invalid("url: an http(s) URL".to_owned()));
    }
    let source = DataSource {
        key: uuid::Uuid::now_v7().to_string(),
        organisation: organisation.to_owned(),
        name: name.to_string(),
        url: url.to_owned(),
        secret: outbox::new_secret()?,
        created_at: stamp(actor.at),
        created_by: actor.name.clone(),
    };
    let mut tx = store.begin().await?;
    if tx
        .data_sources(organisation)
        .await?
        .iter()
        .any(|s| s.name == source.name)
    {
        return Err(AppError::Conflict(format!(
            "{organisation} already has a data source named {name}"
        )));
    }
    tx.insert_data_source(&source).await?;
    tx.append_audit(vec![actor.entry(
        "create",
        "data-source",
        &source.key,
        organisation.to_owned(),
        None,
        Some(format!("{} {}", source.name, source.url)),
    )])
    .await?;
    tx.commit().await?;
    Ok(source)
}

pub async fn data_sources(store: &Store, organisation: &str) -> Result<Vec<DataSource>, AppError> {
    Ok(store.read().await?.data_sources(organisation).await?)
}

fn http_client(timeout_seconds: u64) -> Result<reqwest::Client, AppError> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout_seconds))
        .build()
        .map_err(|e| AppError::Invalid(format!("HTTP client: {e}")))
}

/// Largest answer accepted from one data source.
const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;

/// Asks each of the controller's data sources for the subject's data (a signed POST, see
/// docs/rights.md) and packs the answers into the export ZIP. A source that fails stops the
/// export, named: a partial export would look complete.
pub async fn export(
    store: &Store,
    key: &str,
    now: Timestamp,
) -> Result<(Vec<u8>, ExportManifest), AppError> {
    let mut tx = store.read().await?;
    let request = load(&mut tx, key).await?;
    require_verified(&request)?;
    if !matches!(request.kind, RequestKind::Portability | RequestKind::Access) {
        return Err(AppError::Conflict(format!(
            "a {} request has no data export",
            request.kind
        )));
    }
    let email = request
        .email
        .clone()
        .ok_or_else(|| AppError::Conflict("the request is closed".to_owned()))?;
    let sources = tx.data_sources(&request.controller).await?;
    drop(tx);
    if sources.is_empty() {
        return Err(AppError::Conflict(format!(
            "{} has no data source: add one (POST /api/v1/organisations/{}/data-sources)",
            request.controller, request.controller
        )));
    }
    let client = http_client(30)?;
    let body = serde_json::to_vec(&json!({
        "type": "subject.export",
        "request": request.key,
        "kind": request.kind.as_str(),
        "subject": {"email": email},
    }))
    .map_err(|e| AppError::Invalid(e.to_string()))?;
    let mut collected = Vec::with_capacity(sources.len());
    for source in &sources {
        let failed = |why: String| {
            AppError::Conflict(format!(
                "data source {} ({}): {why}",
                source.name, source.url
            ))
        };
        let id = uuid::Uuid::now_v7().to_string();
        let signature = outbox::sign(&source.secret, &id, now.as_second(), &body)?;
        let response = client
            .post(&source.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.as_second().to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if bytes.len() > MAX_SOURCE_BYTES {
            return Err(failed(format!(
                "answered more than {MAX_SOURCE_BYTES} bytes"
            )));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            datasets: BTreeMap<String, Vec<serde_json::Value>>,
        }
        let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| {
            failed(format!(
                "expected {{\"datasets\": {{\"NAME\": [records]}}}}: {e}"
            ))
        })?;
        collected.push(SourceData {
            source: source.name.clone(),
            datasets: answer.datasets,
        });
    }
    custos_render::rights::portability_zip(
        &request.controller,
        &request.key,
        &stamp(now),
        &collected,
    )
    .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Records that an export was produced (and, when `transmitted`, sent to the other
/// controller's endpoint) in the request's history and the audit log.
async fn record_export(
    store: &Store,
    key: &str,
    manifest: &ExportManifest,
    transmitted: Option<(&str, u16)>,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let request = load(&mut tx, key).await?;
    let body = json!({
        "files": manifest.files.len(),
        "transmitted_to": transmitted.map(|(url, _)| url),
        "status": transmitted.map(|(_, status)| status),
    });
    tx.insert_subject_history(&history(
        key,
        if transmitted.is_some() {
            "transmitted"
        } else {
            "exported"
        },
        body.clone(),
        actor,
    ))
    .await?;
    tx.append_audit(vec![audit(actor, "export", &request, body.to_string())])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The export, recorded.
pub async fn export_for_download(
    store: &Store,
    key: &str,
    actor: &Actor,
) -> Result<(Vec<u8>, ExportManifest), AppError> {
    let (zip, manifest) = export(store, key, actor.at).await?;
    record_export(store, key, &manifest, None, actor).await?;
    Ok((zip, manifest))
}

/// Transmits the export directly to the controller the subject named (Art. 20(2)).
pub async fn transmit(store: &Store, key: &str, actor: &Actor) -> Result<u16, AppError> {
    let request = load(&mut store.read().await?, key).await?;
    let url = request.transmit_to.clone().ok_or_else(|| {
        AppError::Conflict("the subject named no controller to transmit to".to_owned())
    })?;
    let (zip, manifest) = export(store, key, actor.at).await?;
    let client = http_client(60)?;
    let response = client
        .post(&url)
        .header("content-type", "application/zip")
        .header("custos-request", &request.key)
        .body(zip)
        .send()
        .await
        .map_err(|e| AppError::Conflict(format!("transmit_to {url}: {e}")))?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(AppError::Conflict(format!(
            "transmit_to {url}: answered {status}"
        )));
    }
    record_export(store, key, &manifest, Some((&url, status)), actor).await?;
    Ok(status)
}
