//! Personal-data breaches as use cases, each one transaction with its history, audit entry,
//! timers and outbox events: report where it happened; pass it up the chain (acknowledge,
//! relay, add facts); per controller, record awareness, assess, decide, file with the
//! authority, record the communication to the subjects; and the timers that remind a
//! controller before its 72 hours end and mark it overdue after.
//!
//! A party with nobody on the instance cannot relay: Custos relays for it at once, and says
//! so in the hop (`relayed_by`), so that the controllers above still hear of it.

use std::collections::{BTreeMap, HashMap, HashSet};

use custos_core::breach::{
    self, Assessment, BreachFacts, CaseGap, CaseStanding, Decision, DecisionKind, FactsUpdate,
    LateRelay, Standing,
};
use custos_core::register::Register;
use custos_render::notice::TemplateKind;
use custos_store::{
    BreachHistoryEntry, BreachPhase, Communication, Filing, StoredBreach, StoredCase, StoredHop,
    Timer, Tx,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::audit::Actor;
use crate::clock::{parse_stamp, stamp};
use crate::outbox::{self, Event, mailbox};
use crate::{AppError, Store};

/// Event types of breaches (documented in docs/breaches.md).
pub mod events {
    pub const REPORTED: &str = "breach.reported";
    pub const RELAYED: &str = "breach.relayed";
    pub const ACKNOWLEDGED: &str = "breach.acknowledged";
    pub const UPDATED: &str = "breach.updated";
    pub const DECIDED: &str = "breach.decided";
    pub const FILED: &str = "breach.filed";
    pub const REMINDER: &str = "breach.reminder";
    pub const OVERDUE: &str = "breach.overdue";
    pub const ALL: [&str; 8] = [
        REPORTED,
        RELAYED,
        ACKNOWLEDGED,
        UPDATED,
        DECIDED,
        FILED,
        REMINDER,
        OVERDUE,
    ];
}

/// How long before a controller's 72 hours end it is reminded (24 and 6 hours by default).
#[derive(Debug, Clone)]
pub struct Settings {
    pub reminders: Vec<SignedDuration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reminders: vec![
                SignedDuration::from_hours(24),
                SignedDuration::from_hours(6),
            ],
        }
    }
}

/// A breach with everything recorded about it.
#[derive(Debug, Clone)]
pub struct BreachView {
    pub breach: StoredBreach,
    pub phases: Vec<BreachPhase>,
    pub hops: Vec<StoredHop>,
    pub cases: Vec<StoredCase>,
    pub history: Vec<BreachHistoryEntry>,
}

impl BreachView {
    /// Whether `organisation` has the report: where it happened, or a hop reached it.
    pub fn reached(&self, organisation: &str) -> bool {
        self.breach.party == organisation
            || self
                .hops
                .iter()
                .any(|h| h.hop.recipient.as_str() == organisation && h.received_at.is_some())
    }

    /// Whether `organisation` has any part in the breach.
    pub fn concerns(&self, organisation: &str) -> bool {
        self.breach.party == organisation
            || self.hops.iter().any(|h| {
                h.hop.sender.as_str() == organisation || h.hop.recipient.as_str() == organisation
            })
            || self
                .cases
                .iter()
                .any(|c| c.scope.controller.as_str() == organisation)
    }

    pub fn case(&self, controller: &str) -> Option<&StoredCase> {
        self.cases
            .iter()
            .find(|c| c.scope.controller.as_str() == controller)
    }
}

fn invalid(error: breach::BreachError) -> AppError {
    AppError::Invalid(error.to_string())
}

fn name_of(register: &Register, id: &str) -> String {
    register
        .organisation(id)
        .map_or_else(|| id.to_owned(), |o| o.name.clone())
}

fn history(
    key: &str,
    organisation: &str,
    kind: &str,
    body: serde_json::Value,
    actor: &Actor,
) -> BreachHistoryEntry {
    BreachHistoryEntry {
        key: uuid::Uuid::now_v7().to_string(),
        breach_key: key.to_owned(),
        organisation: organisation.to_owned(),
        kind: kind.to_owned(),
        body,
        at: stamp(actor.at),
        by: actor.name.clone(),
    }
}

/// What an event says about a breach (no personal data: the facts' categories and counts).
fn event_data(register: &Register, breach: &StoredBreach) -> serde_json::Value {
    let facts = &breach.facts;
    json!({
        "breach": breach.key,
        "party": {"id": breach.party, "name": name_of(register, &breach.party)},
        "nature": facts.nature,
        "occurred_from": facts.occurred_from.to_string(),
        "occurred_until": facts.occurred_until.map(|t| t.to_string()),
        "aware_at": facts.aware_at.to_string(),
        "data_categories": facts.data_categories,
        "subjects": facts.subjects.map(|s| s.to_string()),
        "version": breach.version,
        "path": format!("/breaches/{}", breach.key),
    })
}

async fn check_attachments(
    tx: &mut Tx,
    attachments: &[custos_core::change::AttachmentRef],
) -> Result<(), AppError> {
    for attachment in attachments {
        if tx.attachment(&attachment.sha256).await?.is_none() {
            return Err(AppError::Invalid(format!(
                "attachments: the file {:?} ({}) was not uploaded (POST /api/v1/attachments)",
                attachment.name, attachment.sha256
            )));
        }
    }
    Ok(())
}

/// The timers of a controller's clock: reminders before its deadline, and the overdue mark.
fn clock_timers(
    key: &str,
    controller: &str,
    deadline: Timestamp,
    from: Timestamp,
    settings: &Settings,
) -> Vec<Timer> {
    let mut timers = Vec::new();
    for before in &settings.reminders {
        if let Ok(at) = deadline.checked_sub(*before)
            && at > from
        {
            timers.push(Timer {
                key: uuid::Uuid::now_v7().to_string(),
                kind: "breach-reminder".to_owned(),
                subject: key.to_owned(),
                party: controller.to_owned(),
                due_at: stamp(at),
            });
        }
    }
    timers.push(Timer {
        key: uuid::Uuid::now_v7().to_string(),
        kind: "breach-overdue".to_owned(),
        subject: key.to_owned(),
        party: controller.to_owned(),
        due_at: stamp(deadline.max(from)),
    });
    timers
}

/// Everything a step up the chain writes besides the hops: who passes on, at what time.
struct Relaying<'a> {
    register: &'a Register,
    breach: &'a StoredBreach,
    /// Organisations with someone on the instance who can act in the portal for them.
    present: &'a HashSet<String>,
    at: Timestamp,
    settings: &'a Settings,
    events: Vec<Event>,
    timers: Vec<Timer>,
    history: Vec<BreachHistoryEntry>,
}

impl Relaying<'_> {
    /// Passes the report on from `first`: every hop from it not yet passed is received now;
    /// controllers reached become aware (their clock starts); a recipient with nobody on the
    /// instance passes it on in turn, by Custos.
    async fn pass_on(
        &mut self,
        tx: &mut Tx,
        hops: &mut [StoredHop],
        cases: &mut [StoredCase],
        first: &str,
        by: &str,
        actor: &Actor,
    ) -> Result<usize, AppError> {
        let key = self.breach.key.clone();
        let now = stamp(self.at);
        let mut queue: Vec<(String, String)> = vec![(first.to_owned(), by.to_owned())];
        let mut passed = 0;
        let mut reached_controllers: Vec<String> = Vec::new();
        while let Some((sender, by)) = queue.pop() {
            let count = tx.relay_breach_hops(&key, &sender, &now, &by).await?;
            if count == 0 {
                continue;
            }
            passed += count as usize;
            for hop in hops
                .iter_mut()
                .filter(|h| h.hop.sender.as_str() == sender && h.received_at.is_none())
            {
                hop.received_at = Some(now.clone());
                hop.relayed_by = Some(by.clone());
                let recipient = hop.hop.recipient.to_string();
                let kind = if sender == self.breach.party {
                    events::REPORTED
                } else {
                    events::RELAYED
                };
                let mut data = event_data(self.register, self.breach);
                data["sender"] = json!({"id": sender, "name": name_of(self.register, &sender)});
                data["recipient"] =
                    json!({"id": recipient, "name": name_of(self.register, &recipient)});
                data["period_hours"] = hop.hop.period_hours().into();
                data["template_owner"] = sender.clone().into();
                self.events.push(Event {
                    kind,
                    subject: key.clone(),
                    scope: vec![sender.clone(), recipient.clone()],
                    mail: mailbox(self.register, &recipient).into_iter().collect(),
                    mail_template: Some(TemplateKind::MailBreachReported),
                    data,
                });
                let onward = !self.present.contains(&recipient)
                    && !queue.iter().any(|(s, _)| *s == recipient);
                if onward {
                    queue.push((
                        recipient.clone(),
                        format!("custos: nobody on the instance acts for {recipient}"),
                    ));
                }
                if cases
                    .iter()
                    .any(|c| c.scope.controller.as_str() == recipient && c.aware_at.is_none())
                {
                    reached_controllers.push(recipient);
                }
            }
            self.history.push(history(
                &key,
                &sender,
                "relayed",
                json!({"hops": count, "by": by}),
                actor,
            ));
        }
        reached_controllers.sort();
        reached_controllers.dedup();
        let deadline = breach::deadline(self.at);
        tx.make_breach_cases_aware(&key, &reached_controllers, &now, &stamp(deadline))
            .await?;
        for case in cases.iter_mut().filter(|c| {
            c.aware_at.is_none()
                && reached_controllers
                    .binary_search_by(|r| r.as_str().cmp(c.scope.controller.as_str()))
                    .is_ok()
        }) {
            case.aware_at = Some(now.clone());
            case.awareness = Some("relayed".to_owned());
            case.deadline = Some(stamp(deadline));
            self.timers.extend(clock_timers(
                &key,
                case.scope.controller.as_str(),
                deadline,
                self.at,
                self.settings,
            ));
        }
        Ok(passed)
    }
}

/// Reports a breach at `party`: computes every controller concerned with each path and the
/// hops between, records the first phase, and passes the report up from `party`.
pub async fn report(
    store: &Store,
    register: &Register,
    party: &str,
    facts: BreachFacts,
    actor: &Actor,
    settings: &Settings,
) -> Result<BreachView, AppError> {
    facts.check().map_err(invalid)?;
    if facts.aware_at > actor.at {
        return Err(AppError::Invalid(
            "aware_at: awareness cannot be in the future".to_owned(),
        ));
    }
    let (from, until) = facts.days();
    let routes = breach::routes(register, party, from, until).map_err(invalid)?;
    if routes.is_empty() {
        return Err(AppError::Invalid(format!(
            "party: {party} held no personal data of any activity in the register between {from} and {until}: no controller to tell (check occurred_from and occurred_until)"
        )));
    }
    let key = uuid::Uuid::now_v7().to_string();
    let now = stamp(actor.at);
    let stored = StoredBreach {
        key: key.clone(),
        party: party.to_owned(),
        facts: facts.clone(),
        version: 1,
        routes: routes.clone(),
        reported_at: now.clone(),
        reported_by: actor.name.clone(),
    };
    let mut hops: Vec<StoredHop> = breach::hops(register, &routes)
        .into_iter()
        .map(|hop| StoredHop {
            breach_key: key.clone(),
            hop,
            received_at: None,
            relayed_by: None,
            acknowledged_at: None,
        })
        .collect();
    let mut timers = Vec::new();
    let mut cases: Vec<StoredCase> = breach::cases(&routes)
        .into_iter()
        .map(|scope| {
            // A controller reporting its own breach is aware since it says it became so.
            let own = scope.controller.as_str() == party;
            let deadline = own.then(|| breach::deadline(facts.aware_at));
            if let Some(deadline) = deadline {
                timers.extend(clock_timers(&key, party, deadline, actor.at, settings));
            }
            StoredCase {
                breach_key: key.clone(),
                aware_at: own.then(|| stamp(facts.aware_at)),
                awareness: own.then(|| "reported".to_owned()),
                deadline: deadline.map(stamp),
                scope,
                assessment: None,
                decision: None,
                decided_at: None,
                filings: Vec::new(),
                communication: None,
            }
        })
        .collect();
    let mut tx = store.begin().await?;
    check_attachments(&mut tx, &facts.attachments).await?;
    let present: HashSet<String> = tx.organisations_with_people().await?.into_iter().collect();
    tx.insert_breach(&stored).await?;
    tx.insert_breach_phase(&BreachPhase {
        breach_key: key.clone(),
        version: 1,
        organisation: party.to_owned(),
        note: "initial report".to_owned(),
        facts: facts.clone(),
        at: now.clone(),
        by: actor.name.clone(),
    })
    .await?;
    tx.insert_breach_hops(&hops).await?;
    tx.insert_breach_cases(&cases).await?;
    let mut relaying = Relaying {
        register,
        breach: &stored,
        present: &present,
        at: actor.at,
        settings,
        events: Vec::new(),
        timers,
        history: vec![history(
            &key,
            party,
            "reported",
            json!({"controllers": cases.len(), "hops": hops.len(), "facts": facts}),
            actor,
        )],
    };
    relaying
        .pass_on(&mut tx, &mut hops, &mut cases, party, &actor.name, actor)
        .await?;
    finish(&mut tx, relaying).await?;
    tx.append_audit(vec![actor.entry(
        "report",
        "breach",
        &key,
        party.to_owned(),
        None,
        Some(serde_json::to_string(&facts).map_err(|e| AppError::Invalid(e.to_string()))?),
    )])
    .await?;
    tx.commit().await?;
    self::view(store, &key).await
}

/// Writes what a relay produced: timers, history, events.
async fn finish(tx: &mut Tx, relaying: Relaying<'_>) -> Result<(), AppError> {
    tx.insert_timers(&relaying.timers).await?;
    tx.insert_breach_history(&relaying.history).await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(tx, relaying.events, &subscriptions, relaying.at).await?;
    Ok(())
}

/// A breach with its phases, hops, cases and history.
pub async fn view(store: &Store, key: &str) -> Result<BreachView, AppError> {
    let mut tx = store.read().await?;
    let view = load(&mut tx, key).await?;
    tx.rollback().await?;
    Ok(view)
}

async fn load(tx: &mut Tx, key: &str) -> Result<BreachView, AppError> {
    let breach = tx
        .breach(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("breach {key}")))?;
    Ok(BreachView {
        phases: tx.breach_phases(key).await?,
        hops: tx.breach_hops(key).await?,
        cases: tx.breach_cases(key).await?,
        history: tx.breach_history(key).await?,
        breach,
    })
}

/// The breaches that concern any of `organisations` (every breach when none), newest first.
pub async fn list(
    store: &Store,
    organisations: Option<&[String]>,
) -> Result<Vec<StoredBreach>, AppError> {
    let mut tx = store.read().await?;
    let found = tx.breaches_involving(organisations).await?;
    tx.rollback().await?;
    Ok(found)
}

/// `organisation` acknowledges the report it received.
pub async fn acknowledge(
    store: &Store,
    register: &Register,
    key: &str,
    organisation: &str,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    let mut tx = store.begin().await?;
    let view = load(&mut tx, key).await?;
    let now = stamp(actor.at);
    let mut events = Vec::new();
    let mut acknowledged = 0;
    for hop in view.hops.iter().filter(|h| {
        h.hop.recipient.as_str() == organisation
            && h.received_at.is_some()
            && h.acknowledged_at.is_none()
    }) {
        let mut hop = hop.clone();
        hop.acknowledged_at = Some(now.clone());
        tx.update_breach_hop(&hop).await?;
        acknowledged += 1;
        let mut data = event_data(register, &view.breach);
        data["sender"] = hop.hop.sender.to_string().into();
        data["recipient"] = organisation.into();
        events.push(Event::hook(
            events::ACKNOWLEDGED,
            key,
            vec![hop.hop.sender.to_string(), organisation.to_owned()],
            data,
        ));
    }
    if acknowledged == 0 {
        return Err(if view.reached(organisation) {
            AppError::Conflict(format!(
                "{organisation} has acknowledged breach {key} already"
            ))
        } else {
            AppError::Conflict(format!(
                "the report of breach {key} has not reached {organisation} yet"
            ))
        });
    }
    tx.insert_breach_history(&[history(key, organisation, "acknowledged", json!({}), actor)])
        .await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "acknowledge",
        "breach",
        key,
        organisation.to_owned(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    self::view(store, key).await
}

/// `organisation`, having received the report, passes it to the parties that engaged it
/// (acknowledging it as it does).
pub async fn relay(
    store: &Store,
    register: &Register,
    key: &str,
    organisation: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<BreachView, AppError> {
    let mut tx = store.begin().await?;
    let mut view = load(&mut tx, key).await?;
    if !view.reached(organisation) {
        return Err(AppError::Conflict(format!(
            "the report of breach {key} has not reached {organisation} yet: there is nothing to relay"
        )));
    }
    if !view
        .hops
        .iter()
        .any(|h| h.hop.sender.as_str() == organisation && h.received_at.is_none())
    {
        return Err(AppError::Conflict(format!(
            "{organisation} has passed breach {key} on to every party above it already"
        )));
    }
    let now = stamp(actor.at);
    for hop in view.hops.iter_mut().filter(|h| {
        h.hop.recipient.as_str() == organisation
            && h.received_at.is_some()
            && h.acknowledged_at.is_none()
    }) {
        hop.acknowledged_at = Some(now.clone());
        tx.update_breach_hop(hop).await?;
    }
    let present: HashSet<String> = tx.organisations_with_people().await?.into_iter().collect();
    let breach = view.breach.clone();
    let mut relaying = Relaying {
        register,
        breach: &breach,
        present: &present,
        at: actor.at,
        settings,
        events: Vec::new(),
        timers: Vec::new(),
        history: Vec::new(),
    };
    relaying
        .pass_on(
            &mut tx,
            &mut view.hops,
            &mut view.cases,
            organisation,
            &actor.name,
            actor,
        )
        .await?;
    finish(&mut tx, relaying).await?;
    tx.append_audit(vec![actor.entry(
        "relay",
        "breach",
        key,
        organisation.to_owned(),
        None,
        None,
    )])
    .await?;
    tx.commit().await?;
    self::view(store, key).await
}

/// A follow-up phase (Art. 33(4)) from `organisation`, which must have the report.
pub async fn add_phase(
    store: &Store,
    register: &Register,
    key: &str,
    organisation: &str,
    update: FactsUpdate,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    if update.note.trim().is_empty() {
        return Err(AppError::Invalid(
            "note: say what this phase adds or corrects".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let mut view = load(&mut tx, key).await?;
    if !view.reached(organisation) {
        return Err(AppError::Conflict(format!(
            "the report of breach {key} has not reached {organisation} yet"
        )));
    }
    check_attachments(&mut tx, &update.attachments).await?;
    let facts = view.breach.facts.updated(&update).map_err(invalid)?;
    view.breach.facts = facts.clone();
    view.breach.version += 1;
    tx.update_breach_facts(&view.breach).await?;
    tx.insert_breach_phase(&BreachPhase {
        breach_key: key.to_owned(),
        version: view.breach.version,
        organisation: organisation.to_owned(),
        note: update.note.clone(),
        facts,
        at: stamp(actor.at),
        by: actor.name.clone(),
    })
    .await?;
    tx.insert_breach_history(&[history(
        key,
        organisation,
        "phase",
        json!({"version": view.breach.version, "update": update}),
        actor,
    )])
    .await?;
    let mut scope: Vec<String> = vec![view.breach.party.clone()];
    scope.extend(
        view.hops
            .iter()
            .filter(|h| h.received_at.is_some())
            .map(|h| h.hop.recipient.to_string()),
    );
    scope.sort();
    scope.dedup();
    let mut data = event_data(register, &view.breach);
    data["note"] = update.note.clone().into();
    data["by"] = organisation.into();
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(
        &mut tx,
        vec![Event::hook(events::UPDATED, key, scope, data)],
        &subscriptions,
        actor.at,
    )
    .await?;
    tx.append_audit(vec![actor.entry(
        "add-phase",
        "breach",
        key,
        organisation.to_owned(),
        None,
        Some(serde_json::to_string(&update).map_err(|e| AppError::Invalid(e.to_string()))?),
    )])
    .await?;
    tx.commit().await?;
    self::view(store, key).await
}

/// Loads the breach and `controller`'s case for a change to the case.
async fn case_for_change(
    tx: &mut Tx,
    key: &str,
    controller: &str,
) -> Result<(BreachView, StoredCase), AppError> {
    let view = load(tx, key).await?;
    let case = view
        .case(controller)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("{controller}'s case of breach {key}")))?;
    Ok((view, case))
}

fn aware_at(case: &StoredCase, key: &str) -> Result<Timestamp, AppError> {
    case.aware_at
        .as_deref()
        .and_then(parse_stamp)
        .ok_or_else(|| {
            AppError::Conflict(format!(
                "{} is not aware of breach {key} yet: record its awareness first",
                case.scope.controller
            ))
        })
}

/// Writes a changed case with its history entry, audit entry and events.
async fn save_case(
    mut tx: Tx,
    store: &Store,
    case: &StoredCase,
    entry: BreachHistoryEntry,
    action: &str,
    events: Vec<Event>,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    tx.update_breach_case(case).await?;
    let body = entry.body.to_string();
    tx.insert_breach_history(std::slice::from_ref(&entry))
        .await?;
    if !events.is_empty() {
        let subscriptions = tx.subscriptions(None).await?;
        outbox::write(&mut tx, events, &subscriptions, actor.at).await?;
    }
    tx.append_audit(vec![actor.entry(
        action,
        "breach",
        &case.breach_key,
        case.scope.controller.to_string(),
        None,
        Some(body),
    )])
    .await?;
    tx.commit().await?;
    self::view(store, &case.breach_key).await
}

/// `controller` records when it became aware itself (before the report reached it, e.g.
/// from the press): awareness only moves earlier, and the clock with it.
pub async fn record_awareness(
    store: &Store,
    key: &str,
    controller: &str,
    at: Timestamp,
    actor: &Actor,
    settings: &Settings,
) -> Result<BreachView, AppError> {
    if at > actor.at {
        return Err(AppError::Invalid(
            "aware_at: awareness cannot be in the future".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let (view, mut case) = case_for_change(&mut tx, key, controller).await?;
    if at < view.breach.facts.occurred_from {
        return Err(AppError::Invalid(
            "aware_at: awareness cannot come before the breach began".to_owned(),
        ));
    }
    if let Some(existing) = case.aware_at.as_deref().and_then(parse_stamp)
        && existing <= at
    {
        return Err(AppError::Invalid(format!(
            "aware_at: {controller} is on record as aware since {existing}; awareness only moves earlier"
        )));
    }
    let deadline = breach::deadline(at);
    case.aware_at = Some(stamp(at));
    case.awareness = Some("recorded".to_owned());
    case.deadline = Some(stamp(deadline));
    let now = stamp(actor.at);
    tx.cancel_timers(key, controller, &now).await?;
    if !settled(&case) {
        tx.insert_timers(&clock_timers(key, controller, deadline, actor.at, settings))
            .await?;
    }
    let entry = history(
        key,
        controller,
        "awareness",
        json!({"aware_at": stamp(at), "deadline": stamp(deadline)}),
        actor,
    );
    save_case(
        tx,
        store,
        &case,
        entry,
        "record-awareness",
        Vec::new(),
        actor,
    )
    .await
}

/// Whether a case needs nothing more of the clock: filed, or decided not notifiable.
fn settled(case: &StoredCase) -> bool {
    !case.filings.is_empty()
        || case
            .decision
            .as_ref()
            .is_some_and(|d| d.kind == DecisionKind::NotNotifiable)
}

/// `controller`'s assessment of the risk (the ENISA score kept beside its own call).
pub async fn assess(
    store: &Store,
    key: &str,
    controller: &str,
    assessment: Assessment,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    assessment.check().map_err(invalid)?;
    let mut tx = store.begin().await?;
    let (_, mut case) = case_for_change(&mut tx, key, controller).await?;
    aware_at(&case, key)?;
    let score = assessment.severity_score();
    case.assessment = Some(assessment.clone());
    let entry = history(
        key,
        controller,
        "assessment",
        json!({"assessment": assessment, "severity": score}),
        actor,
    );
    save_case(tx, store, &case, entry, "assess", Vec::new(), actor).await
}

/// `controller`'s decision; a later one supersedes it, both kept in the history.
pub async fn decide(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    decision: Decision,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    let mut tx = store.begin().await?;
    let (view, mut case) = case_for_change(&mut tx, key, controller).await?;
    let aware = aware_at(&case, key)?;
    if !case.filings.is_empty() && !decision.kind.notifies_authority() {
        return Err(AppError::Conflict(format!(
            "breach {key} has been filed with the authority: it cannot be decided not notifiable now"
        )));
    }
    decision.check(aware, actor.at).map_err(invalid)?;
    case.decision = Some(decision.clone());
    case.decided_at = Some(stamp(actor.at));
    if settled(&case) {
        tx.cancel_timers(key, controller, &stamp(actor.at)).await?;
    }
    let entry = history(
        key,
        controller,
        "decision",
        json!({"decision": decision}),
        actor,
    );
    let mut data = event_data(register, &view.breach);
    data["controller"] = controller.into();
    data["decision"] = decision.kind.as_str().into();
    let events = vec![Event::hook(
        events::DECIDED,
        key,
        vec![controller.to_owned()],
        data,
    )];
    save_case(tx, store, &case, entry, "decide", events, actor).await
}

/// What a controller says it filed with the authority.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFiling {
    /// When it was submitted (RFC 3339).
    #[schemars(with = "String")]
    pub submitted_at: Timestamp,
    /// The authority's reference, when it gave one.
    #[serde(default)]
    pub reference: Option<String>,
    /// The version of the facts filed; the latest when absent.
    #[serde(default)]
    pub version: Option<u32>,
}

/// Records a filing (a phase of the notification) with the authority.
pub async fn file(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    filing: NewFiling,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    if filing.submitted_at > actor.at {
        return Err(AppError::Invalid(
            "submitted_at: a filing cannot be in the future".to_owned(),
        ));
    }
    if filing.reference.as_ref().is_some_and(|r| r.len() > 200) {
        return Err(AppError::Invalid(
            "reference: at most 200 characters".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let (view, mut case) = case_for_change(&mut tx, key, controller).await?;
    let aware = aware_at(&case, key)?;
    let Some(decision) = case.decision.clone() else {
        return Err(AppError::Conflict(format!(
            "{controller} has not decided on breach {key}: record the decision before the filing"
        )));
    };
    if !decision.kind.notifies_authority() {
        return Err(AppError::Conflict(format!(
            "{controller} decided breach {key} is not notifiable: decide to notify before filing"
        )));
    }
    let version = filing.version.unwrap_or(view.breach.version);
    if version == 0 || version > view.breach.version {
        return Err(AppError::Invalid(format!(
            "version: breach {key} has versions 1 to {}",
            view.breach.version
        )));
    }
    if case.filings.is_empty()
        && breach::is_late(aware, filing.submitted_at)
        && decision
            .delay_reasons
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        return Err(AppError::Invalid(
            "submitted_at: filed more than 72 hours after awareness; record the reasons for the delay in the decision (delay_reasons) first (Art. 33(1))".to_owned(),
        ));
    }
    let recorded = Filing {
        version,
        submitted_at: stamp(filing.submitted_at),
        reference: filing.reference.clone(),
        recorded_at: stamp(actor.at),
        recorded_by: actor.name.clone(),
    };
    case.filings.push(recorded.clone());
    tx.cancel_timers(key, controller, &stamp(actor.at)).await?;
    let entry = history(key, controller, "filed", json!({"filing": recorded}), actor);
    let mut data = event_data(register, &view.breach);
    data["controller"] = controller.into();
    data["filing"] = json!(recorded);
    let events = vec![Event::hook(
        events::FILED,
        key,
        vec![controller.to_owned()],
        data,
    )];
    save_case(tx, store, &case, entry, "file", events, actor).await
}

/// What a controller says it told the data subjects.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommunication {
    #[schemars(with = "String")]
    pub sent_at: Timestamp,
    /// How: `email`, `letter`, `public` (34(3)(c)), or another word.
    pub channel: String,
    #[serde(default)]
    pub recipients: Option<u64>,
}

/// Records the communication to the data subjects (Art. 34).
pub async fn communicate(
    store: &Store,
    key: &str,
    controller: &str,
    communication: NewCommunication,
    actor: &Actor,
) -> Result<BreachView, AppError> {
    if communication.sent_at > actor.at {
        return Err(AppError::Invalid(
            "sent_at: a communication cannot be in the future".to_owned(),
        ));
    }
    if communication.channel.trim().is_empty() || communication.channel.len() > 100 {
        return Err(AppError::Invalid(
            "channel: say how the subjects were told (email, letter, public), at most 100 characters".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    let (_, mut case) = case_for_change(&mut tx, key, controller).await?;
    if case
        .decision
        .as_ref()
        .is_none_or(|d| d.kind != DecisionKind::NotifyAuthorityAndSubjects)
    {
        return Err(AppError::Conflict(format!(
            "{controller} has not decided to tell the data subjects of breach {key} (notify-authority-and-subjects)"
        )));
    }
    let recorded = Communication {
        sent_at: stamp(communication.sent_at),
        channel: communication.channel.trim().to_owned(),
        recipients: communication.recipients,
        recorded_by: actor.name.clone(),
    };
    case.communication = Some(recorded.clone());
    let entry = history(
        key,
        controller,
        "communicated",
        json!({"communication": recorded}),
        actor,
    );
    save_case(tx, store, &case, entry, "communicate", Vec::new(), actor).await
}

/// Fires a breach timer in `tx`: a reminder before a controller's 72 hours end, or the mark
/// that they ended, unless the case is settled by then.
pub(crate) async fn fire_timer(
    tx: &mut Tx,
    register: &Register,
    timer: &Timer,
    events: &mut Vec<Event>,
) -> Result<(), AppError> {
    let Some(breach) = tx.breach(&timer.subject).await? else {
        return Ok(());
    };
    let cases = tx.breach_cases(&timer.subject).await?;
    let Some(case) = cases
        .iter()
        .find(|c| c.scope.controller.as_str() == timer.party)
    else {
        return Ok(());
    };
    if settled(case) {
        return Ok(());
    }
    let overdue = timer.kind == "breach-overdue";
    let mut data = event_data(register, &breach);
    data["controller"] = json!({"id": timer.party, "name": name_of(register, &timer.party)});
    data["deadline"] = case.deadline.clone().into();
    data["aware_at"] = case.aware_at.clone().into();
    data["overdue"] = overdue.into();
    data["decided"] = case.decision.is_some().into();
    data["template_owner"] = timer.party.clone().into();
    events.push(Event {
        kind: if overdue {
            events::OVERDUE
        } else {
            events::REMINDER
        },
        subject: timer.subject.clone(),
        scope: vec![timer.party.clone()],
        mail: mailbox(register, &timer.party).into_iter().collect(),
        mail_template: Some(TemplateKind::MailBreachDue),
        data,
    });
    Ok(())
}

/// Where every breach stands for the checks at `now`: relays later than their period, and
/// cases past their 72 hours without a decision or a filing.
pub async fn standings(store: &Store, now: Timestamp) -> Result<Vec<Standing>, AppError> {
    let mut tx = store.read().await?;
    let hops = tx.relayed_breach_hops().await?;
    let cases = tx.unsettled_breach_cases(&stamp(now)).await?;
    let mut keys: Vec<String> = hops
        .iter()
        .map(|h| h.breach_key.clone())
        .chain(cases.iter().map(|c| c.breach_key.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    let mut by_key: BTreeMap<String, Standing> = BTreeMap::new();
    let mut facts: HashMap<String, StoredBreach> = HashMap::new();
    for key in &keys {
        if let Some(breach) = tx.breach(key).await? {
            facts.insert(key.clone(), breach);
        }
    }
    tx.rollback().await?;
    // When each party became aware: the reporter by its facts, the others when first reached.
    let mut aware: HashMap<(String, String), Timestamp> = HashMap::new();
    for hop in &hops {
        if let Some(at) = hop.received_at.as_deref().and_then(parse_stamp) {
            let entry = aware
                .entry((hop.breach_key.clone(), hop.hop.recipient.to_string()))
                .or_insert(at);
            *entry = (*entry).min(at);
        }
    }
    for hop in &hops {
        let Some(breach) = facts.get(&hop.breach_key) else {
            continue;
        };
        let Some(received) = hop.received_at.as_deref().and_then(parse_stamp) else {
            continue;
        };
        let sender_aware = if hop.hop.sender.as_str() == breach.party {
            Some(breach.facts.aware_at)
        } else {
            aware
                .get(&(hop.breach_key.clone(), hop.hop.sender.to_string()))
                .copied()
        };
        let Some(sender_aware) = sender_aware else {
            continue;
        };
        if breach::relay_late(&hop.hop, sender_aware, received) {
            let hours = received.duration_since(sender_aware).as_hours();
            by_key
                .entry(hop.breach_key.clone())
                .or_insert_with(|| empty_standing(&hop.breach_key))
                .late_relays
                .push(LateRelay {
                    sender: hop.hop.sender.clone(),
                    recipient: hop.hop.recipient.clone(),
                    engagements: hop.hop.engagements.clone(),
                    contract: hop.hop.contract.clone(),
                    period_hours: hop.hop.period_hours(),
                    after: format!("{hours} hours"),
                });
        }
    }
    for case in cases {
        let (Some(aware_at), Some(deadline)) = (
            case.aware_at.as_deref().and_then(parse_stamp),
            case.deadline.as_deref().and_then(parse_stamp),
        ) else {
            continue;
        };
        by_key
            .entry(case.breach_key.clone())
            .or_insert_with(|| empty_standing(&case.breach_key))
            .cases
            .push(CaseStanding {
                controller: case.scope.controller.clone(),
                aware_at,
                deadline,
                gap: if case.decision.is_some() {
                    CaseGap::NotFiled
                } else {
                    CaseGap::Undecided
                },
            });
    }
    Ok(by_key.into_values().collect())
}

fn empty_standing(key: &str) -> Standing {
    Standing {
        breach: key.to_owned(),
        late_relays: Vec::new(),
        cases: Vec::new(),
    }
}

/// The authority a controller notifies: the supervisory authority of its main establishment,
/// lead authority under the one-stop shop (Art. 56) where the processing is cross-border.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct CompetentAuthority {
    pub name: String,
    pub country: String,
    pub website: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where to notify: the authority's own page, or the EDPB's list of them.
    pub breach_notification: String,
    pub basis: String,
}

/// One link on the way from a controller to the breached party.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportLink {
    pub activity: String,
    pub engagement: String,
    pub depth: u32,
    pub engaged_by: String,
    pub processor: String,
    pub processor_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach_notice_hours: Option<u32>,
    #[schemars(with = "String")]
    pub since: custos_core::Date,
    #[schemars(with = "Option<String>")]
    pub until: Option<custos_core::Date>,
    pub locations: Vec<String>,
    /// Each transfer of the link: destination, mechanism, whether it holds.
    pub transfers: Vec<String>,
}

/// One relay on the way up, as the controller's report shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportRelay {
    pub sender: String,
    pub recipient: String,
    pub received_at: Option<String>,
    pub acknowledged_at: Option<String>,
    pub relayed_by: Option<String>,
    pub period_hours: u32,
}

/// A phase of the facts, as listed in the report.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportPhase {
    pub version: u32,
    pub at: String,
    pub organisation: String,
    pub note: String,
}

/// A finding of the checks about the case's activities.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ReportFinding {
    pub rule: String,
    pub severity: String,
    pub message: String,
}

/// The report to the supervisory authority for one controller's case: the Art. 33(3)
/// elements, the phases and filings so far, and the chain.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AuthorityReport {
    pub breach: String,
    pub controller: custos_core::notice::Party,
    pub authority: Option<CompetentAuthority>,
    pub party: String,
    pub party_name: String,
    pub facts: BreachFacts,
    pub version: u32,
    pub aware_at: Option<String>,
    pub awareness: Option<String>,
    pub deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<breach::SeverityScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    pub phases: Vec<ReportPhase>,
    pub filings: Vec<Filing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication: Option<Communication>,
    pub chain: Vec<ReportLink>,
    pub relays: Vec<ReportRelay>,
    pub findings: Vec<ReportFinding>,
    pub generated_at: String,
}

/// The authority of a controller's main establishment.
pub fn competent_authority(register: &Register, controller: &str) -> Option<CompetentAuthority> {
    let organisation = register.organisation(controller)?;
    let data = custos_core::refdata::ReferenceData::builtin();
    let authority = data.authority(organisation.country)?;
    Some(CompetentAuthority {
        name: authority.name.clone(),
        country: organisation.country.to_string(),
        website: authority.website.clone(),
        address: authority.address.clone(),
        breach_notification: authority
            .breach_notification
            .clone()
            .unwrap_or_else(|| data.breach_directory().to_owned()),
        basis: format!(
            "Supervisory authority of the main establishment in {} (Art. 55); lead supervisory authority for cross-border processing under the one-stop shop (Art. 56)",
            data.country_name(organisation.country)
        ),
    })
}

/// The links from the case's controller down to the breached party, as they stood when the
/// breach began.
fn report_chain(register: &Register, view: &BreachView, case: &StoredCase) -> Vec<ReportLink> {
    let (from, _) = view.breach.facts.days();
    let mut links = Vec::new();
    for activity in &case.scope.activities {
        let Ok(chain) = custos_core::chain::Chain::derive(register, activity.as_str(), Some(from))
        else {
            continue;
        };
        for (index, link) in chain.links.iter().enumerate() {
            let path = chain.path(index);
            let on_a_path = case
                .scope
                .paths
                .iter()
                .any(|p| p.len() >= path.len() && p.iter().zip(&path).all(|(a, b)| a == *b));
            if !on_a_path {
                continue;
            }
            let engagement = chain.engagement(link);
            let processor = chain.processor(link);
            let contract = engagement
                .contract
                .as_ref()
                .and_then(|c| register.contract(c.as_str()));
            let mut found = Vec::new();
            custos_core::transfer::transfers_of_link(&chain, index, from, &mut found);
            links.push(ReportLink {
                activity: activity.to_string(),
                engagement: engagement.id.to_string(),
                depth: link.depth,
                engaged_by: engagement.engaged_by.to_string(),
                processor: processor.id.to_string(),
                processor_name: processor.name.clone(),
                contract: engagement.contract.as_ref().map(ToString::to_string),
                breach_notice_hours: contract.and_then(|c| c.breach_notice_hours),
                since: engagement.since,
                until: engagement.until,
                locations: chain
                    .locations(link)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                transfers: found
                    .iter()
                    .map(|t| {
                        format!(
                            "{}: {} ({})",
                            match &t.destination {
                                custos_core::transfer::Destination::Country(c) => c.to_string(),
                                custos_core::transfer::Destination::InternationalOrganisation(
                                    o,
                                ) => o.to_string(),
                            },
                            custos_core::notice::mechanism_kind(t.relied_on()),
                            if t.assessment.valid {
                                "holds"
                            } else {
                                "does not hold"
                            }
                        )
                    })
                    .collect(),
            });
        }
    }
    links
}

/// The report for `controller`'s case of breach `key`.
pub async fn authority_report(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    now: Timestamp,
) -> Result<AuthorityReport, AppError> {
    let view = view(store, key).await?;
    let case = view
        .case(controller)
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("{controller}'s case of breach {key}")))?;
    let organisation = register
        .organisation(controller)
        .ok_or_else(|| AppError::NotFound(format!("organisation {controller}")))?;
    let findings = crate::notices::check(store, register, crate::clock::day_of(now))
        .await?
        .findings
        .into_iter()
        .filter(|f| {
            f.activity
                .as_ref()
                .is_some_and(|a| case.scope.activities.contains(a))
                || f.object.id.as_str() == controller
        })
        .map(|f| ReportFinding {
            rule: f.rule.to_owned(),
            severity: f.severity.as_str().to_owned(),
            message: f.message,
        })
        .collect();
    let on_paths: HashSet<&str> = case
        .scope
        .paths
        .iter()
        .flatten()
        .map(|o| o.as_str())
        .collect();
    Ok(AuthorityReport {
        breach: key.to_owned(),
        controller: custos_core::notice::Party::of(organisation),
        authority: competent_authority(register, controller),
        party_name: name_of(register, &view.breach.party),
        party: view.breach.party.clone(),
        facts: view.breach.facts.clone(),
        version: view.breach.version,
        aware_at: case.aware_at.clone(),
        awareness: case.awareness.clone(),
        deadline: case.deadline.clone(),
        severity: case
            .assessment
            .as_ref()
            .and_then(Assessment::severity_score),
        assessment: case.assessment.clone(),
        decision: case.decision.clone(),
        phases: view
            .phases
            .iter()
            .map(|p| ReportPhase {
                version: p.version,
                at: p.at.clone(),
                organisation: p.organisation.clone(),
                note: p.note.clone(),
            })
            .collect(),
        filings: case.filings.clone(),
        communication: case.communication.clone(),
        chain: report_chain(register, &view, &case),
        relays: view
            .hops
            .iter()
            .filter(|h| {
                on_paths.contains(h.hop.sender.as_str())
                    && on_paths.contains(h.hop.recipient.as_str())
            })
            .map(|h| ReportRelay {
                sender: h.hop.sender.to_string(),
                recipient: h.hop.recipient.to_string(),
                received_at: h.received_at.clone(),
                acknowledged_at: h.acknowledged_at.clone(),
                relayed_by: h.relayed_by.clone(),
                period_hours: h.hop.period_hours(),
            })
            .collect(),
        findings,
        generated_at: stamp(now),
    })
}

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
        let links: Vec<_> = register
            .engagements()
            .iter()
            .filter(|e| {
                e.activity == activity.id && e.engaged_by == pair[0] && e.processor == pair[1]
            })
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

/// One row of an organisation's register of breaches (Art. 33(5)).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct RegisterRow {
    pub breach: String,
    /// `controller` (its own case) or `processor` (it happened there or passed through it).
    pub role: String,
    pub party: String,
    pub facts: BreachFacts,
    pub aware_at: Option<String>,
    pub deadline: Option<String>,
    pub decision: Option<Decision>,
    pub filings: Vec<Filing>,
    pub communication: Option<Communication>,
    /// For a processor: when it passed the report on.
    pub relayed_at: Option<String>,
}

/// Every breach an organisation must document: its cases as a controller, and as a processor
/// the breaches at it or relayed through it.
pub async fn register_of(store: &Store, organisation: &str) -> Result<Vec<RegisterRow>, AppError> {
    let mut tx = store.read().await?;
    let mut rows = Vec::new();
    for case in tx.breach_cases_of(organisation).await? {
        let Some(breach) = tx.breach(&case.breach_key).await? else {
            continue;
        };
        rows.push(RegisterRow {
            breach: breach.key,
            role: "controller".to_owned(),
            party: breach.party,
            facts: breach.facts,
            aware_at: case.aware_at,
            deadline: case.deadline,
            decision: case.decision,
            filings: case.filings,
            communication: case.communication,
            relayed_at: None,
        });
    }
    let as_processor: Vec<String> = vec![organisation.to_owned()];
    for breach in tx.breaches_involving(Some(&as_processor)).await? {
        if rows.iter().any(|r| r.breach == breach.key) {
            continue;
        }
        let hops = tx.breach_hops(&breach.key).await?;
        let outgoing: Vec<&StoredHop> = hops
            .iter()
            .filter(|h| h.hop.sender.as_str() == organisation)
            .collect();
        if outgoing.is_empty() && breach.party != organisation {
            continue;
        }
        let aware_at = if breach.party == organisation {
            Some(stamp(breach.facts.aware_at))
        } else {
            hops.iter()
                .filter(|h| h.hop.recipient.as_str() == organisation)
                .filter_map(|h| h.received_at.clone())
                .min()
        };
        rows.push(RegisterRow {
            breach: breach.key,
            role: "processor".to_owned(),
            party: breach.party,
            facts: breach.facts,
            aware_at,
            deadline: None,
            decision: None,
            filings: Vec::new(),
            communication: None,
            relayed_at: outgoing.iter().filter_map(|h| h.received_at.clone()).min(),
        });
    }
    tx.rollback().await?;
    rows.sort_by(|a, b| b.breach.cmp(&a.breach));
    Ok(rows)
}

fn or_dash(value: Option<&str>) -> String {
    value.map_or_else(|| "—".to_owned(), str::to_owned)
}

fn natures(facts: &BreachFacts) -> String {
    facts
        .nature
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn slugs(items: &[custos_core::values::Slug]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl AuthorityReport {
    /// The report as a document (HTML, PDF): the Art. 33(3) elements first, then the
    /// decision, the phases and filings, the chain, the relays, and the findings.
    pub fn document(&self) -> custos_render::records::Document {
        use custos_render::records::{Document, Section};
        let facts = &self.facts;
        let pair = |label: &str, value: String| vec![label.to_owned(), value];
        let mut elements = vec![
            pair(
                "Where it happened",
                format!("{} ({})", self.party_name, self.party),
            ),
            pair(
                "When",
                match facts.occurred_until {
                    Some(until) => format!("{} to {until}", facts.occurred_from),
                    None => format!("from {}", facts.occurred_from),
                },
            ),
            pair(
                "The party where it happened became aware",
                facts.aware_at.to_string(),
            ),
            pair(
                "The controller became aware",
                format!(
                    "{} ({})",
                    or_dash(self.aware_at.as_deref()),
                    or_dash(self.awareness.as_deref())
                ),
            ),
            pair("72 hours end", or_dash(self.deadline.as_deref())),
            pair(
                "(a) Nature of the breach",
                format!("{}: {}", natures(facts), facts.description),
            ),
            pair("(a) Systems concerned", facts.systems.join(", ")),
            pair(
                "(a) Categories of data subjects",
                slugs(&facts.subject_categories),
            ),
            pair(
                "(a) Approximate number of data subjects",
                facts
                    .subjects
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
            ),
            pair(
                "(a) Categories of personal data records",
                slugs(&facts.data_categories),
            ),
            pair(
                "(a) Approximate number of records",
                facts
                    .records
                    .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
            ),
            pair("(b) Data protection officer or contact point", {
                let dpo: Vec<String> = [
                    self.controller.dpo_name.clone(),
                    self.controller.dpo_email.clone(),
                ]
                .into_iter()
                .flatten()
                .collect();
                if dpo.is_empty() {
                    format!("{} <{}>", facts.contact.name, facts.contact.email)
                } else {
                    dpo.join(", ")
                }
            }),
            pair("(c) Likely consequences", facts.consequences.clone()),
            pair("(d) Measures taken", facts.measures_taken.clone()),
            pair("(d) Measures proposed", facts.measures_proposed.clone()),
        ];
        if let Some(authority) = &self.authority {
            elements.insert(
                0,
                pair(
                    "Supervisory authority",
                    format!(
                        "{} — {}{} — notify at {}",
                        authority.name,
                        authority.basis,
                        authority
                            .address
                            .as_ref()
                            .map(|a| format!(" — {a}"))
                            .unwrap_or_default(),
                        authority.breach_notification
                    ),
                ),
            );
        }
        let mut decision = Vec::new();
        if let Some(assessment) = &self.assessment {
            decision.push(pair(
                "Risk (the controller's call)",
                assessment.risk.as_str().to_owned(),
            ));
            decision.push(pair("Reasoning", assessment.reasons.clone()));
        }
        if let Some(score) = &self.severity {
            decision.push(pair(
                "ENISA severity (aid)",
                format!("{:.2}: {}", score.score, score.level.as_str()),
            ));
        }
        if let Some(d) = &self.decision {
            decision.push(pair("Decision", d.kind.as_str().to_owned()));
            decision.push(pair("Reasons", d.reasons.clone()));
            if let Some(exception) = d.exception {
                decision.push(pair(
                    "Subjects not told under",
                    exception.article().to_owned(),
                ));
            }
            if let Some(delay) = &d.delay_reasons {
                decision.push(pair("Reasons for the delay (Art. 33(1))", delay.clone()));
            }
        }
        if let Some(c) = &self.communication {
            decision.push(pair(
                "Data subjects told (Art. 34)",
                format!("{} by {}", c.sent_at, c.channel),
            ));
        }
        let filings = self
            .phases
            .iter()
            .map(|p| {
                let filed = self
                    .filings
                    .iter()
                    .filter(|f| f.version == p.version)
                    .map(|f| format!("{} ({})", f.submitted_at, or_dash(f.reference.as_deref())))
                    .collect::<Vec<_>>()
                    .join("; ");
                vec![
                    p.version.to_string(),
                    p.at.clone(),
                    p.organisation.clone(),
                    p.note.clone(),
                    filed,
                ]
            })
            .collect();
        Document {
            title: "Personal-data breach report".to_owned(),
            subtitle: "Notification to the supervisory authority, GDPR Art. 33(3)".to_owned(),
            organisation: self.controller.clone(),
            on: crate::clock::parse_stamp(&self.generated_at)
                .map_or(custos_core::Date::MIN, crate::clock::day_of),
            version: format!("breach {}, facts version {}", self.breach, self.version),
            language: custos_render::Language::En,
            sections: vec![
                Section {
                    id: "elements",
                    title: "The breach (Art. 33(3)(a)-(d))",
                    columns: vec!["Element", "Content"],
                    rows: elements,
                },
                Section {
                    id: "decision",
                    title: "Assessment and decision",
                    columns: vec!["Element", "Content"],
                    rows: decision,
                },
                Section {
                    id: "phases",
                    title: "Phases and filings (Art. 33(4))",
                    columns: vec!["Version", "At", "From", "What it brought", "Filed"],
                    rows: filings,
                },
                Section {
                    id: "chain",
                    title: "The chain: who was where, under which contract, since when",
                    columns: vec![
                        "Activity",
                        "Link",
                        "Depth",
                        "Engaged by",
                        "Processor",
                        "Contract",
                        "Notice (h)",
                        "Since",
                        "Until",
                        "Locations",
                        "Transfers",
                    ],
                    rows: self
                        .chain
                        .iter()
                        .map(|l| {
                            vec![
                                l.activity.clone(),
                                l.engagement.clone(),
                                l.depth.to_string(),
                                l.engaged_by.clone(),
                                format!("{} ({})", l.processor_name, l.processor),
                                or_dash(l.contract.as_deref()),
                                l.breach_notice_hours
                                    .map_or_else(|| "—".to_owned(), |h| h.to_string()),
                                l.since.to_string(),
                                l.until.map_or_else(String::new, |u| u.to_string()),
                                l.locations.join(", "),
                                l.transfers.join("; "),
                            ]
                        })
                        .collect(),
                },
                Section {
                    id: "relays",
                    title: "The report on its way up (Art. 33(2))",
                    columns: vec![
                        "From",
                        "To",
                        "Received",
                        "Acknowledged",
                        "Period (h)",
                        "Passed on by",
                    ],
                    rows: self
                        .relays
                        .iter()
                        .map(|r| {
                            vec![
                                r.sender.clone(),
                                r.recipient.clone(),
                                or_dash(r.received_at.as_deref()),
                                or_dash(r.acknowledged_at.as_deref()),
                                r.period_hours.to_string(),
                                or_dash(r.relayed_by.as_deref()),
                            ]
                        })
                        .collect(),
                },
                Section {
                    id: "findings",
                    title: "Findings of the checks on these activities",
                    columns: vec!["Rule", "Severity", "Finding"],
                    rows: self
                        .findings
                        .iter()
                        .map(|f| vec![f.rule.clone(), f.severity.clone(), f.message.clone()])
                        .collect(),
                },
            ],
        }
    }
}

/// An organisation's register of breaches (Art. 33(5)) as a document.
pub fn register_document(
    register: &Register,
    organisation: &str,
    rows: &[RegisterRow],
    on: custos_core::Date,
) -> Result<custos_render::records::Document, AppError> {
    use custos_render::records::{Document, Section};
    let party = register
        .organisation(organisation)
        .ok_or_else(|| AppError::NotFound(format!("organisation {organisation}")))?;
    Ok(Document {
        title: "Register of personal-data breaches".to_owned(),
        subtitle: "Documentation of every breach, GDPR Art. 33(5)".to_owned(),
        organisation: custos_core::notice::Party::of(party),
        on,
        version: format!("{} breaches", rows.len()),
        language: custos_render::Language::En,
        sections: vec![Section {
            id: "breaches",
            title: "Breaches: facts, effects, remedial action, decision",
            columns: vec![
                "Breach",
                "Role",
                "Where",
                "Began",
                "Ended",
                "Aware",
                "Nature",
                "Description",
                "Data",
                "Subjects",
                "Records",
                "Consequences",
                "Measures taken",
                "Measures proposed",
                "Decision",
                "Reasons",
                "Filed",
                "Reference",
                "Subjects told",
                "Passed on",
            ],
            rows: rows
                .iter()
                .map(|r| {
                    let first_filing = r.filings.first();
                    vec![
                        r.breach.clone(),
                        r.role.clone(),
                        name_of(register, &r.party),
                        r.facts.occurred_from.to_string(),
                        r.facts
                            .occurred_until
                            .map_or_else(String::new, |t| t.to_string()),
                        r.aware_at.clone().unwrap_or_default(),
                        natures(&r.facts),
                        r.facts.description.clone(),
                        slugs(&r.facts.data_categories),
                        r.facts.subjects.map_or_else(String::new, |s| s.to_string()),
                        r.facts.records.map_or_else(String::new, |s| s.to_string()),
                        r.facts.consequences.clone(),
                        r.facts.measures_taken.clone(),
                        r.facts.measures_proposed.clone(),
                        r.decision
                            .as_ref()
                            .map_or_else(String::new, |d| d.kind.as_str().to_owned()),
                        r.decision
                            .as_ref()
                            .map_or_else(String::new, |d| d.reasons.clone()),
                        first_filing.map_or_else(String::new, |f| f.submitted_at.clone()),
                        first_filing
                            .and_then(|f| f.reference.clone())
                            .unwrap_or_default(),
                        r.communication
                            .as_ref()
                            .map_or_else(String::new, |c| format!("{} ({})", c.sent_at, c.channel)),
                        r.relayed_at.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        }],
    })
}

/// The communication to the data subjects (Art. 34(2)) in `language`: the nature of the
/// breach in plain words, the contact point, the likely consequences and the measures. The
/// controller sends it through its own channels.
pub fn subject_communication(
    register: &Register,
    report: &AuthorityReport,
    language: custos_render::Language,
) -> String {
    let facts = &report.facts;
    let controller = register
        .organisation(report.controller.id.as_str())
        .map_or_else(|| report.controller.name.clone(), |o| o.name.clone());
    let contact = match (&report.controller.dpo_name, &report.controller.dpo_email) {
        (name, Some(email)) => format!("{} <{email}>", name.clone().unwrap_or_default())
            .trim()
            .to_owned(),
        _ => format!("{} <{}>", facts.contact.name, facts.contact.email),
    };
    let began =
        custos_render::notice::long_date(crate::clock::day_of(facts.occurred_from), language);
    match language {
        custos_render::Language::Es => format!(
            "Asunto: Violación de la seguridad de sus datos personales\n\n\
             {controller} le informa de una violación de la seguridad de datos personales que le conciernen (art. 34 RGPD).\n\n\
             Qué ocurrió: {}\nDesde: {began}.\nDatos afectados: {}.\n\n\
             Consecuencias probables: {}\n\n\
             Medidas adoptadas: {}\nMedidas propuestas: {}\n\n\
             Para cualquier pregunta, diríjase a: {contact}.\n",
            facts.description,
            slugs(&facts.data_categories),
            facts.consequences,
            facts.measures_taken,
            facts.measures_proposed,
        ),
        custos_render::Language::En => format!(
            "Subject: A breach of the security of your personal data\n\n\
             {controller} informs you of a breach of the security of personal data concerning you (Art. 34 GDPR).\n\n\
             What happened: {}\nSince: {began}.\nData concerned: {}.\n\n\
             Likely consequences: {}\n\n\
             Measures taken: {}\nMeasures proposed: {}\n\n\
             For any question, contact: {contact}.\n",
            facts.description,
            slugs(&facts.data_categories),
            facts.consequences,
            facts.measures_taken,
            facts.measures_proposed,
        ),
    }
}
