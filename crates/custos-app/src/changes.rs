//! Sub-processor change requests as use cases, each one transaction with its history, audit
//! entry, timers and outbox events: file a request, decide (or record a decision taken
//! outside Custos), remark as an intermediate processor, answer with a new dossier, withdraw,
//! execute; and the timers that turn silence into approval and remind deciders.

use crate::Store;
use custos_core::change::{
    self, Addressee, ChangeRequestSpec, DecisionKind, Dossier, PartyState, RequestStatus,
};
use custos_core::model::{Authorisation, AuthorisationMode, Decision, Engagement};
use custos_core::register::{Register, RegisterParts};
use custos_render::notice::TemplateKind;
use custos_store::{HistoryEntry, StoredParty, StoredRequest, Subscription, Timer, Tx};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::AppError;
use crate::audit::{Actor, plan_entries};
use crate::clock::{day_of, parse_stamp, stamp};
use crate::outbox::{self, Event, mailbox};

/// Event types of the workflow (documented in docs/workflow.md).
pub mod events {
    pub const FILED: &str = "change_request.filed";
    pub const DOSSIER_UPDATED: &str = "change_request.dossier_updated";
    pub const REMARKED: &str = "change_request.remarked";
    pub const DECIDED: &str = "change_request.decided";
    pub const DEEMED_APPROVED: &str = "change_request.deemed_approved";
    pub const REMINDER: &str = "change_request.reminder";
    pub const APPROVED: &str = "change_request.approved";
    pub const BLOCKED: &str = "change_request.blocked";
    pub const EXECUTED: &str = "change_request.executed";
    pub const WITHDRAWN: &str = "change_request.withdrawn";
    pub const ALL: [&str; 10] = [
        FILED,
        DOSSIER_UPDATED,
        REMARKED,
        DECIDED,
        DEEMED_APPROVED,
        REMINDER,
        APPROVED,
        BLOCKED,
        EXECUTED,
        WITHDRAWN,
    ];
}

/// How long before a deadline deciders are reminded (3 days and 1 day by default).
#[derive(Debug, Clone)]
pub struct Settings {
    pub reminders: Vec<SignedDuration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reminders: vec![
                SignedDuration::from_hours(72),
                SignedDuration::from_hours(24),
            ],
        }
    }
}

/// A request with the controllers it reaches and its history.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub request: StoredRequest,
    pub parties: Vec<StoredParty>,
    pub history: Vec<HistoryEntry>,
}

fn invalid(error: change::ChangeError) -> AppError {
    AppError::Invalid(error.to_string())
}

fn organisation_name(register: &Register, id: &str) -> String {
    register
        .organisation(id)
        .map_or_else(|| id.to_owned(), |o| o.name.clone())
}

/// The organisations a controller's part of a request concerns: the controller, the
/// requester and every processor between them.
fn scope_of(request: &StoredRequest, addressee: &Addressee) -> Vec<String> {
    let mut scope: Vec<String> = vec![
        addressee.controller.to_string(),
        request.spec.requester.to_string(),
    ];
    for path in &addressee.paths {
        for organisation in path {
            if !scope.iter().any(|s| s == organisation.as_str()) {
                scope.push(organisation.to_string());
            }
        }
    }
    scope
}

/// Everyone a request reached: every controller, the requester, the processors between.
fn everyone(request: &StoredRequest, parties: &[StoredParty]) -> Vec<String> {
    let mut scope: Vec<String> = parties
        .iter()
        .flat_map(|p| scope_of(request, &p.addressee))
        .collect();
    scope.sort();
    scope.dedup();
    scope
}

/// What an event says about a request, for one controller.
fn event_data(
    register: &Register,
    request: &StoredRequest,
    party: &StoredParty,
) -> serde_json::Value {
    let spec = &request.spec;
    json!({
        "request": request.key,
        "requester": {"id": spec.requester, "name": organisation_name(register, spec.requester.as_str())},
        "candidate": {"id": spec.dossier.candidate.id, "name": spec.dossier.candidate.name,
                      "country": spec.dossier.candidate.country},
        "replaces": spec.replaces,
        "service": spec.service,
        "controller": {"id": party.addressee.controller,
                       "name": organisation_name(register, party.addressee.controller.as_str())},
        "mode": party.addressee.mode.as_str(),
        "deadline": party.deadline,
        "state": party.state.as_str(),
        "paths": party.addressee.paths,
        "activities": party.addressee.activities,
        "criteria": party.addressee.criteria,
        "preauthorised_by": party.addressee.preauthorised_by,
        "dossier_version": request.dossier_version,
        "status": request.status.as_str(),
    })
}

fn history(
    request: &StoredRequest,
    organisation: &str,
    kind: &str,
    body: serde_json::Value,
    actor: &Actor,
) -> HistoryEntry {
    HistoryEntry {
        key: uuid::Uuid::now_v7().to_string(),
        request_key: request.key.clone(),
        organisation: organisation.to_owned(),
        kind: kind.to_owned(),
        body,
        dossier_version: request.dossier_version,
        at: stamp(actor.at),
        by: actor.name.clone(),
    }
}

/// The timers of a party with a deadline: deemed approval (general mode only) and reminders.
fn timers_for(
    request_key: &str,
    party: &StoredParty,
    from: Timestamp,
    settings: &Settings,
) -> Vec<Timer> {
    let Some(deadline) = party.deadline.as_deref().and_then(parse_stamp) else {
        return Vec::new();
    };
    let controller = party.addressee.controller.to_string();
    let mut timers = Vec::new();
    if party.addressee.mode == AuthorisationMode::General {
        timers.push(Timer {
            key: uuid::Uuid::now_v7().to_string(),
            kind: "deadline".to_owned(),
            subject: request_key.to_owned(),
            party: controller.clone(),
            due_at: stamp(deadline),
        });
    }
    for before in &settings.reminders {
        if let Ok(at) = deadline.checked_sub(*before)
            && at > from
        {
            timers.push(Timer {
                key: uuid::Uuid::now_v7().to_string(),
                kind: "reminder".to_owned(),
                subject: request_key.to_owned(),
                party: controller.clone(),
                due_at: stamp(at),
            });
        }
    }
    timers
}

async fn subscriptions(tx: &mut Tx) -> Result<Vec<Subscription>, AppError> {
    Ok(tx.subscriptions(None).await?)
}

/// Checks that every file the dossier names was uploaded.
async fn check_attachments(tx: &mut Tx, dossier: &Dossier) -> Result<(), AppError> {
    for attachment in dossier.questionnaire.iter().chain(&dossier.attachments) {
        if tx.attachment(&attachment.sha256).await?.is_none() {
            return Err(AppError::Invalid(format!(
                "dossier: the file {:?} ({}) was not uploaded (POST /api/v1/attachments)",
                attachment.name, attachment.sha256
            )));
        }
    }
    Ok(())
}

/// Files a request: computes every controller it must reach, with its mode and window,
/// records it, sets the timers and notifies, in one transaction.
pub async fn file(
    store: &Store,
    register: &Register,
    spec: ChangeRequestSpec,
    actor: &Actor,
    settings: &Settings,
) -> Result<RequestView, AppError> {
    let addressees = change::addressees(register, &spec, day_of(actor.at)).map_err(invalid)?;
    let key = uuid::Uuid::now_v7().to_string();
    let now = stamp(actor.at);
    let parties: Vec<StoredParty> = addressees
        .into_iter()
        .map(|addressee| {
            let preauthorised = addressee.preauthorised_by.is_some();
            let deadline = if preauthorised {
                None
            } else {
                window_from(&addressee, actor.at)
            };
            StoredParty {
                request_key: key.clone(),
                state: if preauthorised {
                    PartyState::Approved
                } else {
                    PartyState::Pending
                },
                decided_at: preauthorised.then(|| now.clone()),
                decided_version: preauthorised.then_some(1),
                deadline,
                paused_seconds: None,
                addressee,
            }
        })
        .collect();
    let request = StoredRequest {
        key: key.clone(),
        status: RequestStatus::of(parties.iter().map(|p| p.state)),
        spec,
        dossier_version: 1,
        filed_at: now.clone(),
        filed_by: actor.name.clone(),
        executed_at: None,
    };
    let mut tx = store.begin().await?;
    check_attachments(&mut tx, &request.spec.dossier).await?;
    tx.insert_request(&request).await?;
    tx.insert_parties(&parties).await?;
    let timers: Vec<Timer> = parties
        .iter()
        .filter(|p| p.state == PartyState::Pending)
        .flat_map(|p| timers_for(&key, p, actor.at, settings))
        .collect();
    tx.insert_timers(&timers).await?;
    let filed = history(
        &request,
        request.spec.requester.as_str(),
        "filed",
        json!({"controllers": parties.len(), "spec": request.spec}),
        actor,
    );
    tx.insert_history(std::slice::from_ref(&filed)).await?;
    let events: Vec<Event> = parties
        .iter()
        .map(|party| Event {
            kind: events::FILED,
            subject: key.clone(),
            scope: scope_of(&request, &party.addressee),
            mail: mailbox(register, party.addressee.controller.as_str())
                .into_iter()
                .collect(),
            mail_template: Some(TemplateKind::MailFiled),
            data: with_owner(
                event_data(register, &request, party),
                request.spec.requester.as_str(),
            ),
        })
        .collect();
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "file",
        "change_request",
        &key,
        request.spec.requester.to_string(),
        None,
        Some(serde_json::to_string(&request.spec).map_err(|e| AppError::Invalid(e.to_string()))?),
    )])
    .await?;
    tx.commit().await?;
    Ok(RequestView {
        request,
        parties,
        history: vec![filed],
    })
}

/// The end of a controller's decision period starting at `from`, when its contract sets one.
fn window_from(addressee: &Addressee, from: Timestamp) -> Option<String> {
    addressee
        .decision_days
        .and_then(|days| {
            from.checked_add(SignedDuration::from_hours(24 * i64::from(days)))
                .ok()
        })
        .map(stamp)
}

/// The organisation whose e-mail templates an event's e-mails use.
fn with_owner(mut data: serde_json::Value, owner: &str) -> serde_json::Value {
    data["template_owner"] = owner.into();
    data
}

/// A request with its controllers and history.
pub async fn view(store: &Store, key: &str) -> Result<RequestView, AppError> {
    let mut tx = store.read().await?;
    let request = tx
        .request(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change request {key}")))?;
    let parties = tx.parties(key).await?;
    let history = tx.history(key).await?;
    Ok(RequestView {
        request,
        parties,
        history,
    })
}

async fn load_for_change(
    tx: &mut Tx,
    key: &str,
) -> Result<(StoredRequest, Vec<StoredParty>), AppError> {
    let request = tx
        .request(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("change request {key}")))?;
    if matches!(
        request.status,
        RequestStatus::Executed | RequestStatus::Withdrawn
    ) {
        return Err(AppError::Conflict(format!(
            "change request {key} is {}: it can no longer change",
            request.status.as_str()
        )));
    }
    let parties = tx.parties(key).await?;
    Ok((request, parties))
}

/// Evidence of a decision taken outside Custos (an e-mail, a letter).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Outside {
    /// What it was and when it was received.
    pub description: String,
    /// The stored file (its SHA-256), when there is one.
    #[serde(default)]
    pub attachment: Option<String>,
}

/// Records `controller`'s decision on the request. A new decision supersedes the last, and
/// both stay in the history with the dossier version they were taken on.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    decision: DecisionKind,
    reasons: Option<String>,
    outside: Option<Outside>,
    actor: &Actor,
) -> Result<RequestView, AppError> {
    if decision == DecisionKind::Object && reasons.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(AppError::Invalid(
            "reasons: an objection must say why (the processor must be able to act on it)"
                .to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let (mut request, mut parties) = load_for_change(&mut tx, key).await?;
    if let Some(sha) = outside.as_ref().and_then(|o| o.attachment.as_deref())
        && tx.attachment(sha).await?.is_none()
    {
        return Err(AppError::Invalid(format!(
            "outside.attachment: no file {sha} was uploaded"
        )));
    }
    let party = parties
        .iter_mut()
        .find(|p| p.addressee.controller.as_str() == controller)
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "{controller} among the controllers of change request {key}"
            ))
        })?;
    let previous = party.state;
    let now = stamp(actor.at);
    party.state = decision.state();
    party.decided_at = Some(now.clone());
    party.decided_version = Some(request.dossier_version);
    match decision {
        DecisionKind::RequestInformation if party.addressee.information_pauses => {
            // The window stops: what is left of it runs again when the dossier is answered.
            if let Some(deadline) = party.deadline.as_deref().and_then(parse_stamp) {
                party.paused_seconds = Some(deadline.duration_since(actor.at).as_secs().max(0));
                party.deadline = None;
            }
            tx.cancel_timers(key, controller, &now).await?;
        }
        DecisionKind::RequestInformation => {}
        DecisionKind::Approve | DecisionKind::Object => {
            tx.cancel_timers(key, controller, &now).await?;
        }
    }
    tx.update_party(party).await?;
    let party = party.clone();
    let status_before = request.status;
    request.status = RequestStatus::of(parties.iter().map(|p| p.state));
    tx.update_request(&request).await?;
    let entry = history(
        &request,
        controller,
        if outside.is_some() {
            "decision-outside"
        } else {
            "decision"
        },
        json!({"decision": decision.as_str(), "reasons": reasons, "previous": previous.as_str(), "outside": outside}),
        actor,
    );
    tx.insert_history(std::slice::from_ref(&entry)).await?;
    let mut data = event_data(register, &request, &party);
    data["decision"] = decision.as_str().into();
    data["reasons"] = reasons.clone().into();
    let mut events = vec![Event {
        kind: events::DECIDED,
        subject: key.to_owned(),
        scope: scope_of(&request, &party.addressee),
        mail: mailbox(register, request.spec.requester.as_str())
            .into_iter()
            .collect(),
        mail_template: Some(TemplateKind::MailDecided),
        data: with_owner(data, controller),
    }];
    events.extend(status_events(register, &request, status_before));
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "decide",
        "change_request",
        key,
        format!("{controller} {}", request.spec.requester),
        Some(previous.as_str().to_owned()),
        Some(entry.body.to_string()),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// `approved` or `blocked` when the request just became so.
fn status_events(
    register: &Register,
    request: &StoredRequest,
    before: RequestStatus,
) -> Vec<Event> {
    let kind = match (before, request.status) {
        (b, RequestStatus::Approved) if b != RequestStatus::Approved => events::APPROVED,
        (b, RequestStatus::Blocked) if b != RequestStatus::Blocked => events::BLOCKED,
        _ => return Vec::new(),
    };
    vec![Event {
        kind,
        subject: request.key.clone(),
        scope: vec![request.spec.requester.to_string()],
        mail: Vec::new(),
        mail_template: None,
        data: json!({
            "request": request.key,
            "requester": {"id": request.spec.requester, "name": organisation_name(register, request.spec.requester.as_str())},
            "candidate": {"id": request.spec.dossier.candidate.id, "name": request.spec.dossier.candidate.name},
            "status": request.status.as_str(),
        }),
    }]
}

/// A remark by a processor on a path of the request (it sees the request pass).
pub async fn remark(
    store: &Store,
    key: &str,
    organisation: &str,
    text: &str,
    actor: &Actor,
) -> Result<HistoryEntry, AppError> {
    if text.trim().is_empty() || text.len() > custos_core::values::MAX_TEXT_LEN {
        return Err(AppError::Invalid(format!(
            "text: expected 1 to {} characters",
            custos_core::values::MAX_TEXT_LEN
        )));
    }
    let mut tx = store.begin().await?;
    let (request, parties) = load_for_change(&mut tx, key).await?;
    let on_path = parties.iter().any(|p| {
        p.addressee
            .paths
            .iter()
            .any(|path| path.iter().any(|o| o.as_str() == organisation))
    });
    if !on_path
        || parties
            .iter()
            .any(|p| p.addressee.controller.as_str() == organisation)
    {
        return Err(AppError::Forbidden(format!(
            "{organisation} is not a processor between the requester and a controller of this request"
        )));
    }
    let entry = history(
        &request,
        organisation,
        "remark",
        json!({"text": text}),
        actor,
    );
    tx.insert_history(std::slice::from_ref(&entry)).await?;
    let scope: Vec<String> = parties
        .iter()
        .filter(|p| {
            p.addressee
                .paths
                .iter()
                .any(|path| path.iter().any(|o| o.as_str() == organisation))
        })
        .flat_map(|p| scope_of(&request, &p.addressee))
        .collect();
    let events = vec![Event::hook(
        events::REMARKED,
        key,
        scope,
        json!({"request": key, "organisation": organisation, "text": text}),
    )];
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "remark",
        "change_request",
        key,
        organisation.to_owned(),
        None,
        Some(text.to_owned()),
    )])
    .await?;
    tx.commit().await?;
    Ok(entry)
}

/// The requester answers with a new version of the dossier. Every decision was given on the
/// dossier as it was, so every controller's decision is reopened (approvals and objections
/// included; a pre-authorisation in the contract stands), every window starts again, and
/// everyone is told what changed.
pub async fn update_dossier(
    store: &Store,
    register: &Register,
    key: &str,
    dossier: Dossier,
    actor: &Actor,
    settings: &Settings,
) -> Result<RequestView, AppError> {
    let mut tx = store.begin().await?;
    let (mut request, mut parties) = load_for_change(&mut tx, key).await?;
    if dossier.candidate.id != request.spec.dossier.candidate.id {
        return Err(AppError::Invalid(
            "dossier.candidate.id: a request is about one candidate; file a new request for another".to_owned(),
        ));
    }
    check_attachments(&mut tx, &dossier).await?;
    let changes = dossier_changes(&request.spec.dossier, &dossier);
    request.spec.dossier = dossier;
    request.dossier_version += 1;
    let now = stamp(actor.at);
    let mut events = Vec::new();
    let mut timers = Vec::new();
    for party in &mut parties {
        let controller = party.addressee.controller.to_string();
        if party.addressee.preauthorised_by.is_some() {
            // Named in the contract itself: no decision on a dossier to reopen.
            party.decided_version = Some(request.dossier_version);
        } else {
            tx.cancel_timers(key, &controller, &now).await?;
            party.state = PartyState::Pending;
            party.decided_at = None;
            party.decided_version = None;
            party.paused_seconds = None;
            party.deadline = window_from(&party.addressee, actor.at);
            timers.extend(timers_for(key, party, actor.at, settings));
        }
        tx.update_party(party).await?;
        let mut data = event_data(register, &request, party);
        data["changes"] = json!(changes);
        events.push(Event {
            kind: events::DOSSIER_UPDATED,
            subject: key.to_owned(),
            scope: scope_of(&request, &party.addressee),
            mail: if party.addressee.preauthorised_by.is_some() {
                Vec::new()
            } else {
                mailbox(register, &controller).into_iter().collect()
            },
            mail_template: Some(TemplateKind::MailFiled),
            data: with_owner(data, request.spec.requester.as_str()),
        });
    }
    request.status = RequestStatus::of(parties.iter().map(|p| p.state));
    tx.update_request(&request).await?;
    tx.insert_timers(&timers).await?;
    let entry = history(
        &request,
        request.spec.requester.as_str(),
        "dossier",
        json!({"dossier": request.spec.dossier, "changes": changes}),
        actor,
    );
    tx.insert_history(std::slice::from_ref(&entry)).await?;
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "update_dossier",
        "change_request",
        key,
        request.spec.requester.to_string(),
        None,
        Some(entry.body.to_string()),
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// What a new dossier changed: one line per field of the dossier whose value differs
/// (`candidate.country: "DE" -> "CN"`), in field order.
pub fn dossier_changes(before: &Dossier, after: &Dossier) -> Vec<String> {
    fn walk(
        path: &str,
        before: &serde_json::Value,
        after: &serde_json::Value,
        out: &mut Vec<String>,
    ) {
        match (before, after) {
            (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
                let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let null = serde_json::Value::Null;
                    let here = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(
                        &here,
                        b.get(key).unwrap_or(&null),
                        a.get(key).unwrap_or(&null),
                        out,
                    );
                }
            }
            (b, a) if b != a => out.push(format!("{path}: {b} -> {a}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(before).unwrap_or_default(),
        &serde_json::to_value(after).unwrap_or_default(),
        &mut out,
    );
    out
}

/// The requester gives up.
pub async fn withdraw(store: &Store, key: &str, actor: &Actor) -> Result<RequestView, AppError> {
    let mut tx = store.begin().await?;
    let (mut request, parties) = load_for_change(&mut tx, key).await?;
    request.status = RequestStatus::Withdrawn;
    tx.update_request(&request).await?;
    let now = stamp(actor.at);
    for party in &parties {
        tx.cancel_timers(key, party.addressee.controller.as_str(), &now)
            .await?;
    }
    tx.insert_history(&[history(
        &request,
        request.spec.requester.as_str(),
        "withdrawn",
        json!({}),
        actor,
    )])
    .await?;
    let scope = everyone(&request, &parties);
    let events = vec![Event::hook(
        events::WITHDRAWN,
        key,
        scope,
        json!({"request": key}),
    )];
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "withdraw",
        "change_request",
        key,
        request.spec.requester.to_string(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    view(store, key).await
}

/// Engages the candidate once every controller approved (or let its window pass): one link a
/// activity, below the requester, from today, each carrying its controller's authorisation;
/// the replaced sub-processor's links end yesterday. Register, request and events change in
/// one transaction.
pub async fn execute(store: &Store, key: &str, actor: &Actor) -> Result<RequestView, AppError> {
    let mut tx = store.begin().await?;
    let (mut request, parties) = load_for_change(&mut tx, key).await?;
    if request.status != RequestStatus::Approved {
        return Err(AppError::Conflict(format!(
            "change request {key} is {}: every controller must approve (or let its window pass) first",
            request.status.as_str()
        )));
    }
    if let Some(stale) = parties
        .iter()
        .find(|p| p.decided_version != Some(request.dossier_version))
    {
        return Err(AppError::Conflict(format!(
            "{}'s decision was given on dossier version {}, not on the current version {}: it must decide again",
            stale.addressee.controller,
            stale
                .decided_version
                .map_or_else(|| "none".to_owned(), |v| v.to_string()),
            request.dossier_version
        )));
    }
    let today = day_of(actor.at);
    tx.lock_register().await?;
    let current = tx.load_register().await?;
    let mut desired: RegisterParts = current.clone();
    let spec = &request.spec;
    let candidate = &spec.dossier.candidate.id;
    if !desired.organisations.iter().any(|o| &o.id == candidate) {
        desired.organisations.push(spec.dossier.organisation());
    }
    let yesterday = today
        .yesterday()
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    for party in &parties {
        let decided = party
            .decided_at
            .as_deref()
            .and_then(parse_stamp)
            .map_or(today, day_of);
        for activity in &party.addressee.activities {
            if activity_controller(&desired, activity) != Some(&party.addressee.controller) {
                continue;
            }
            let id = engagement_id(&desired, activity.as_str(), candidate.as_str(), key);
            desired.engagements.push(Engagement {
                translations: Default::default(),
                id,
                activity: activity.clone(),
                engaged_by: spec.requester.clone(),
                processor: candidate.clone(),
                service: spec.service.as_str().into(),
                category: spec.category.as_deref().map(Into::into),
                locations: spec.dossier.locations.clone(),
                transfer: spec.dossier.transfer.clone().map(Box::new),
                contract: spec.contract.clone(),
                since: today,
                until: None,
                authorisation: Some(Box::new(Authorisation {
                    by: party.addressee.controller.clone(),
                    decision: if party.state == PartyState::DeemedApproved {
                        Decision::DeemedApproved
                    } else {
                        Decision::Approved
                    },
                    date: decided,
                    reference: Some(format!(
                        "change request {key}, dossier version {}",
                        request.dossier_version
                    )),
                })),
                acknowledgements: Vec::new(),
            });
            if let Some(replaced) = &spec.replaces {
                for engagement in &mut desired.engagements {
                    if &engagement.activity == activity
                        && engagement.engaged_by == spec.requester
                        && &engagement.processor == replaced
                        && engagement.until.is_none_or(|u| u >= today)
                    {
                        engagement.until = Some(yesterday);
                    }
                }
            }
        }
    }
    let desired = Register::new(desired).map_err(AppError::Rejected)?;
    let plan = custos_core::plan::Plan::between(&current, desired.parts());
    tx.apply(&plan, desired.parts()).await?;
    let mut audit = plan_entries(actor, &plan, &current, desired.parts())?;
    request.status = RequestStatus::Executed;
    request.executed_at = Some(stamp(actor.at));
    tx.update_request(&request).await?;
    let engagements: Vec<String> = plan.changes.iter().map(|c| c.id.to_string()).collect();
    tx.insert_history(&[history(
        &request,
        request.spec.requester.as_str(),
        "executed",
        json!({"changes": engagements}),
        actor,
    )])
    .await?;
    let scope = everyone(&request, &parties);
    let events = vec![Event::hook(
        events::EXECUTED,
        key,
        scope,
        json!({"request": key, "candidate": candidate, "since": today, "changes": engagements}),
    )];
    let subscriptions = subscriptions(&mut tx).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    audit.push(actor.entry(
        "execute",
        "change_request",
        key,
        request.spec.requester.to_string(),
        None,
        None,
    ));
    tx.append_audit(audit).await?;
    tx.commit().await?;
    view(store, key).await
}

fn activity_controller<'a>(
    parts: &'a RegisterParts,
    activity: &custos_core::values::Slug,
) -> Option<&'a custos_core::values::Slug> {
    parts
        .activities
        .iter()
        .find(|a| &a.id == activity)
        .map(|a| &a.controller)
}

/// `<activity>-<candidate>`, or a key-derived id when that is taken or too long.
fn engagement_id(
    parts: &RegisterParts,
    activity: &str,
    candidate: &str,
    key: &str,
) -> custos_core::values::Slug {
    let taken = |id: &str| parts.engagements.iter().any(|e| e.id.as_str() == id);
    let readable = format!("{activity}-{candidate}");
    if let Ok(slug) = readable.parse::<custos_core::values::Slug>()
        && !taken(&readable)
    {
        return slug;
    }
    let short: String = key.chars().filter(char::is_ascii_hexdigit).collect();
    let mut n = 0usize;
    loop {
        let id = format!("cr-{}-{n}", &short[short.len().saturating_sub(12)..]);
        if !taken(&id)
            && let Ok(slug) = id.parse()
        {
            return slug;
        }
        n += 1;
    }
}

/// Fires one of the workflow's timers in `tx` (marked fired by the caller): a general window
/// that ran out without an objection becomes a deemed approval (audited); a reminder goes to
/// a controller that has not decided. A timer of a request that moved on does nothing.
pub(crate) async fn fire_timer(
    tx: &mut Tx,
    register: &Register,
    timer: &Timer,
    actor: &Actor,
    events: &mut Vec<Event>,
) -> Result<(), AppError> {
    let Some(mut request) = tx.request(&timer.subject).await? else {
        return Ok(());
    };
    if matches!(
        request.status,
        RequestStatus::Executed | RequestStatus::Withdrawn
    ) {
        return Ok(());
    }
    let mut parties = tx.parties(&timer.subject).await?;
    let Some(party) = parties
        .iter_mut()
        .find(|p| p.addressee.controller.as_str() == timer.party)
    else {
        return Ok(());
    };
    let still_open = party.state.open() && party.deadline.is_some();
    match timer.kind.as_str() {
        "deadline" if still_open && party.addressee.mode == AuthorisationMode::General => {
            let previous = party.state;
            party.state = PartyState::DeemedApproved;
            party.decided_at = Some(timer.due_at.clone());
            party.decided_version = Some(request.dossier_version);
            tx.update_party(party).await?;
            let party = party.clone();
            let before = request.status;
            request.status = RequestStatus::of(parties.iter().map(|p| p.state));
            tx.update_request(&request).await?;
            let entry = history(
                &request,
                party.addressee.controller.as_str(),
                "deemed-approved",
                json!({"deadline": party.deadline}),
                actor,
            );
            tx.insert_history(std::slice::from_ref(&entry)).await?;
            tx.append_audit(vec![actor.entry(
                "deemed_approve",
                "change_request",
                &request.key,
                format!("{} {}", party.addressee.controller, request.spec.requester),
                Some(previous.as_str().to_owned()),
                Some(entry.body.to_string()),
            )])
            .await?;
            let mut data = event_data(register, &request, &party);
            data["decision"] = "deemed-approved".into();
            data["reasons"] = serde_json::Value::Null;
            events.push(Event {
                kind: events::DEEMED_APPROVED,
                subject: request.key.clone(),
                scope: scope_of(&request, &party.addressee),
                mail: mailbox(register, request.spec.requester.as_str())
                    .into_iter()
                    .chain(mailbox(register, party.addressee.controller.as_str()))
                    .collect(),
                mail_template: Some(TemplateKind::MailDecided),
                data: with_owner(data, party.addressee.controller.as_str()),
            });
            events.extend(status_events(register, &request, before));
        }
        "reminder" if still_open => {
            events.push(Event {
                kind: events::REMINDER,
                subject: request.key.clone(),
                scope: vec![party.addressee.controller.to_string()],
                mail: mailbox(register, party.addressee.controller.as_str())
                    .into_iter()
                    .collect(),
                mail_template: Some(TemplateKind::MailReminder),
                data: with_owner(
                    event_data(register, &request, party),
                    request.spec.requester.as_str(),
                ),
            });
        }
        _ => {}
    }
    Ok(())
}

/// Every change request (for an instance administrator), or those involving any of
/// `organisations` (requester or controller), each once, newest first.
pub async fn requests(
    store: &Store,
    organisations: Option<&[String]>,
) -> Result<Vec<StoredRequest>, AppError> {
    let mut tx = store.read().await?;
    let found = requests_in(&mut tx, organisations).await?;
    tx.rollback().await?;
    Ok(found)
}

/// As [`requests`], each with its controllers' rows (one snapshot).
pub async fn requests_with_parties(
    store: &Store,
    organisations: Option<&[String]>,
) -> Result<Vec<(StoredRequest, Vec<StoredParty>)>, AppError> {
    let mut tx = store.read().await?;
    let requests = requests_in(&mut tx, organisations).await?;
    let mut listed = Vec::with_capacity(requests.len());
    for request in requests {
        let parties = tx.parties(&request.key).await?;
        listed.push((request, parties));
    }
    tx.rollback().await?;
    Ok(listed)
}

async fn requests_in(
    tx: &mut Tx,
    organisations: Option<&[String]>,
) -> Result<Vec<StoredRequest>, AppError> {
    let Some(organisations) = organisations else {
        return Ok(tx.requests().await?);
    };
    let mut found: Vec<StoredRequest> = Vec::new();
    for organisation in organisations {
        for request in tx.requests_involving(organisation).await? {
            if !found.iter().any(|r| r.key == request.key) {
                found.push(request);
            }
        }
    }
    found.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(found)
}

/// Stores a file for a dossier or as evidence, once by its content, audited; its SHA-256.
pub async fn put_attachment(
    store: &Store,
    media_type: &str,
    bytes: &[u8],
    actor: &Actor,
) -> Result<String, AppError> {
    use base64::Engine;
    let sha256 = crate::entries::sha256_hex(bytes);
    let mut tx = store.begin().await?;
    tx.put_attachment(
        &sha256,
        media_type,
        bytes.len() as u64,
        &base64::engine::general_purpose::STANDARD.encode(bytes),
        &stamp(actor.at),
        &actor.name,
    )
    .await?;
    tx.append_audit(vec![actor.entry(
        "upload",
        "attachment",
        &sha256,
        String::new(),
        None,
        Some(json!({"media_type": media_type, "size": bytes.len()}).to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(sha256)
}

/// A stored file: its media type and bytes.
pub async fn attachment(
    store: &Store,
    sha256: &str,
) -> Result<Option<(String, Vec<u8>)>, AppError> {
    use base64::Engine;
    let mut tx = store.read().await?;
    let found = tx.attachment(sha256).await?;
    tx.rollback().await?;
    found
        .map(|(media_type, content)| {
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .map(|bytes| (media_type, bytes))
                .map_err(|e| AppError::Invalid(format!("the stored file {sha256} is damaged: {e}")))
        })
        .transpose()
}

/// Who uploaded a file (the actor's name), if it exists.
pub async fn attachment_uploader(store: &Store, sha256: &str) -> Result<Option<String>, AppError> {
    let mut tx = store.read().await?;
    let uploader = tx.attachment_uploader(sha256).await?;
    tx.rollback().await?;
    Ok(uploader)
}
