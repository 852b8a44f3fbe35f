//! Personal-data breaches as use cases, each one transaction with its history, audit entry,
//! timers and outbox events: report where it happened; pass it up the chain (acknowledge,
//! relay, add facts); per controller, record awareness, assess, decide, file with the
//! authority, record the communication to the subjects; and the timers that remind a
//! controller before its 72 hours end and mark it overdue after.
//!
//! [`report`] holds the authority's report, the communication to the subjects and the
//! register of breaches; [`affected`] finds the subjects of the ledger whose data was there.
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
use crate::policy::Caller;
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
    pub const COMMUNICATED: &str = "breach.communicated";
    pub const ALL: [&str; 9] = [
        REPORTED,
        RELAYED,
        ACKNOWLEDGED,
        UPDATED,
        DECIDED,
        FILED,
        REMINDER,
        OVERDUE,
        COMMUNICATED,
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

    /// Whether `caller` sees the breach: an administrator, or a member of a party it reached.
    pub fn seen_by(&self, caller: &Caller) -> bool {
        caller.admin
            || caller
                .memberships
                .iter()
                .any(|m| self.reached(&m.organisation))
    }

    /// Whether `caller` sees `controller`'s case: the controller's members once it is aware
    /// (an administrator always). No controller sees another's.
    pub fn case_seen_by(&self, caller: &Caller, controller: &str) -> bool {
        self.seen_by(caller)
            && (caller.admin || caller.member_of(controller))
            && self
                .case(controller)
                .is_some_and(|c| c.aware_at.is_some() || caller.admin)
    }

    /// Whether `hop` was passed on later than its period after its sender became aware (the
    /// reporter: its `aware_at`; others: when the report first reached them).
    pub fn relay_late(&self, hop: &StoredHop) -> bool {
        let Some(received) = hop.received_at.as_deref().and_then(parse_stamp) else {
            return false;
        };
        let sender_aware = if hop.hop.sender.as_str() == self.breach.party {
            Some(self.breach.facts.aware_at)
        } else {
            self.hops
                .iter()
                .filter(|h| h.hop.recipient == hop.hop.sender)
                .filter_map(|h| h.received_at.as_deref().and_then(parse_stamp))
                .min()
        };
        sender_aware.is_some_and(|aware| breach::relay_late(&hop.hop, aware, received))
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
        let base = event_data(self.register, self.breach);
        let mut queue: Vec<(String, String)> = vec![(first.to_owned(), by.to_owned())];
        let mut passed = 0;
        let mut reached_controllers: Vec<String> = Vec::new();
        // Parties that pass reports on (the others are only told), and those queued already.
        let senders: HashSet<String> = hops
            .iter()
            .filter(|h| h.received_at.is_none())
            .map(|h| h.hop.sender.to_string())
            .collect();
        let mut queued: HashSet<String> = HashSet::from([first.to_owned()]);
        // Controllers not aware yet: whose clock a hop reaching them starts.
        let unaware: HashSet<&str> = cases
            .iter()
            .filter(|c| c.aware_at.is_none())
            .map(|c| c.scope.controller.as_str())
            .collect();
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
                let mut data = base.clone();
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
                let onward = senders.contains(&recipient)
                    && !self.present.contains(&recipient)
                    && queued.insert(recipient.clone());
                if onward {
                    queue.push((
                        recipient.clone(),
                        format!("custos: nobody on the instance acts for {recipient}"),
                    ));
                }
                if unaware.contains(recipient.as_str()) {
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
        drop(unaware);
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
    let phase = BreachPhase {
        breach_key: key.clone(),
        version: 1,
        organisation: party.to_owned(),
        note: "initial report".to_owned(),
        facts: facts.clone(),
        at: now.clone(),
        by: actor.name.clone(),
    };
    tx.insert_breach_phase(&phase).await?;
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
    let history = finish(&mut tx, relaying).await?;
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
    // What was written, as written (a report to 100k controllers need not be read back).
    Ok(BreachView {
        phases: vec![phase],
        hops,
        cases,
        history,
        breach: stored,
    })
}

/// Writes what a relay produced: timers, history, events; returns the history written.
async fn finish(tx: &mut Tx, relaying: Relaying<'_>) -> Result<Vec<BreachHistoryEntry>, AppError> {
    tx.insert_timers(&relaying.timers).await?;
    tx.insert_breach_history(&relaying.history).await?;
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(tx, relaying.events, &subscriptions, relaying.at).await?;
    Ok(relaying.history)
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

/// Marks every hop that reached `organisation` and is not acknowledged yet as acknowledged
/// now, with a `breach.acknowledged` event each; returns how many.
async fn acknowledge_in(
    tx: &mut Tx,
    register: &Register,
    view: &mut BreachView,
    organisation: &str,
    actor: &Actor,
    events: &mut Vec<Event>,
) -> Result<usize, AppError> {
    let now = stamp(actor.at);
    let mut acknowledged = 0;
    for hop in view.hops.iter_mut().filter(|h| {
        h.hop.recipient.as_str() == organisation
            && h.received_at.is_some()
            && h.acknowledged_at.is_none()
    }) {
        hop.acknowledged_at = Some(now.clone());
        tx.update_breach_hop(hop).await?;
        acknowledged += 1;
        let mut data = event_data(register, &view.breach);
        data["sender"] = hop.hop.sender.to_string().into();
        data["recipient"] = organisation.into();
        events.push(Event::hook(
            events::ACKNOWLEDGED,
            &view.breach.key,
            vec![hop.hop.sender.to_string(), organisation.to_owned()],
            data,
        ));
    }
    Ok(acknowledged)
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
    let mut view = load(&mut tx, key).await?;
    let mut events = Vec::new();
    let acknowledged = acknowledge_in(
        &mut tx,
        register,
        &mut view,
        organisation,
        actor,
        &mut events,
    )
    .await?;
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
    let mut acknowledged = Vec::new();
    acknowledge_in(
        &mut tx,
        register,
        &mut view,
        organisation,
        actor,
        &mut acknowledged,
    )
    .await?;
    let present: HashSet<String> = tx.organisations_with_people().await?.into_iter().collect();
    let breach = view.breach.clone();
    let mut relaying = Relaying {
        register,
        breach: &breach,
        present: &present,
        at: actor.at,
        settings,
        events: acknowledged,
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
    settings: &Settings,
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
    let widened =
        extend_routes(&mut tx, register, &mut view, organisation, actor, settings).await?;
    tx.update_breach(&view.breach).await?;
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
        json!({"version": view.breach.version, "update": update, "new_controllers": widened}),
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

/// When a phase moves the breach's days, the chains of those days may have held the party
/// for more activities: their routes, hops and cases are added, and the report passes at
/// once from `author` and from every party that had passed it on already (by Custos, said
/// so), up to the new controllers. Returns the controllers newly concerned.
async fn extend_routes(
    tx: &mut Tx,
    register: &Register,
    view: &mut BreachView,
    author: &str,
    actor: &Actor,
    settings: &Settings,
) -> Result<Vec<String>, AppError> {
    let (from, until) = view.breach.facts.days();
    let found = breach::routes(register, &view.breach.party, from, until).map_err(invalid)?;
    let new: Vec<breach::Route> = found
        .into_iter()
        .filter(|r| !view.breach.routes.contains(r))
        .collect();
    if new.is_empty() {
        return Ok(Vec::new());
    }
    view.breach.routes.extend(new);
    view.breach.routes.sort();
    let key = view.breach.key.clone();
    let existing: HashSet<(String, String)> = view
        .hops
        .iter()
        .map(|h| (h.hop.sender.to_string(), h.hop.recipient.to_string()))
        .collect();
    let added_hops: Vec<StoredHop> = breach::hops(register, &view.breach.routes)
        .into_iter()
        .filter(|h| !existing.contains(&(h.sender.to_string(), h.recipient.to_string())))
        .map(|hop| StoredHop {
            breach_key: key.clone(),
            hop,
            received_at: None,
            relayed_by: None,
            acknowledged_at: None,
        })
        .collect();
    tx.insert_breach_hops(&added_hops).await?;
    let mut added_cases = Vec::new();
    for scope in breach::cases(&view.breach.routes) {
        match view
            .cases
            .iter_mut()
            .find(|c| c.scope.controller == scope.controller)
        {
            Some(case) if case.scope != scope => {
                case.scope = scope;
                tx.update_breach_case(case).await?;
            }
            Some(_) => {}
            None => added_cases.push(StoredCase {
                breach_key: key.clone(),
                scope,
                aware_at: None,
                awareness: None,
                deadline: None,
                assessment: None,
                decision: None,
                decided_at: None,
                filings: Vec::new(),
                communication: None,
            }),
        }
    }
    tx.insert_breach_cases(&added_cases).await?;
    let new_controllers: Vec<String> = added_cases
        .iter()
        .map(|c| c.scope.controller.to_string())
        .collect();
    // Who passes the new hops on now: the author, and whoever had passed the report on.
    let mut passers: Vec<String> = vec![author.to_owned(), view.breach.party.clone()];
    passers.extend(
        view.hops
            .iter()
            .filter(|h| h.received_at.is_some())
            .map(|h| h.hop.sender.to_string()),
    );
    passers.dedup();
    view.hops.extend(added_hops);
    view.cases.extend(added_cases);
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
    let mut seen = HashSet::new();
    for passer in passers.into_iter().filter(|p| seen.insert(p.clone())) {
        let by = if passer == author {
            actor.name.clone()
        } else {
            format!("custos: {passer} had passed the report on before its days widened")
        };
        relaying
            .pass_on(tx, &mut view.hops, &mut view.cases, &passer, &by, actor)
            .await?;
    }
    let written = finish(tx, relaying).await?;
    view.history.extend(written);
    Ok(new_controllers)
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

/// Whether a case's clock ran out before `now` with nothing settling it.
pub fn overdue(case: &StoredCase, now: Timestamp) -> bool {
    !settled(case)
        && case
            .deadline
            .as_deref()
            .and_then(parse_stamp)
            .is_some_and(|deadline| deadline < now)
}

/// Whether a case needs nothing more of the clock: filed, or decided not notifiable.
pub fn settled(case: &StoredCase) -> bool {
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
    if filing.submitted_at < aware {
        return Err(AppError::Invalid(
            "submitted_at: before the controller became aware of the breach".to_owned(),
        ));
    }
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

/// How long the subjects' addresses of a communication sent through Custos stay in the
/// outbox: past the last retry of an e-mail (some 27 hours), then they are erased.
pub const ERASE_ADDRESSES_AFTER: SignedDuration = SignedDuration::from_hours(72);

/// Most addresses a communication sends to in one call.
pub const MAX_ADDRESSES: usize = 100_000;

/// What sending the communication did.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Sent {
    /// Addresses an e-mail went out to: those of subjects whose data was there.
    pub sent: u64,
    /// Addresses given that are not among the affected subjects: nothing was sent to them.
    pub not_affected: u64,
}

/// Sends the communication to the data subjects (Art. 34) through Custos's e-mail, to those of
/// `addresses` whose data the breached party held (matched through the ledger's keyed
/// hashes: Custos is no relay for mail to anyone else), and records it. The addresses stay in
/// the outbox only until the e-mails have gone ([`ERASE_ADDRESSES_AFTER`]).
pub async fn send_communication(
    store: &Store,
    register: &Register,
    key: &str,
    controller: &str,
    addresses: &[String],
    language: Option<custos_render::Language>,
    actor: &Actor,
) -> Result<Sent, AppError> {
    if addresses.is_empty() || addresses.len() > MAX_ADDRESSES {
        return Err(AppError::Invalid(format!(
            "addresses: between 1 and {MAX_ADDRESSES} e-mail addresses"
        )));
    }
    for (n, address) in addresses.iter().enumerate() {
        address
            .parse::<custos_core::values::Email>()
            .map_err(|e| AppError::Invalid(format!("addresses[{n}]: {e}")))?;
    }
    {
        let view = view(store, key).await?;
        let decided = view.case(controller).and_then(|c| c.decision.as_ref());
        if decided.is_none_or(|d| d.kind != DecisionKind::NotifyAuthorityAndSubjects) {
            return Err(AppError::Conflict(format!(
                "{controller} has not decided to tell the data subjects of breach {key} (notify-authority-and-subjects)"
            )));
        }
    }
    let found = affected(
        store,
        register,
        key,
        Some(controller),
        Some(addresses),
        actor.at,
    )
    .await?;
    let matched = found.matched.unwrap_or_default();
    let report = authority_report(store, register, key, controller, actor.at).await?;
    let language = language.unwrap_or_else(|| crate::outbox::language_of(register, controller));
    let subject = format!("{key}/{controller}/subjects");
    let mut data = communication_context(register, &report);
    data["recipients"] = matched.len().into();
    let event = Event {
        kind: events::COMMUNICATED,
        subject: subject.clone(),
        scope: vec![controller.to_owned()],
        mail: matched
            .iter()
            .map(|a| crate::outbox::Mailbox {
                language,
                ..crate::outbox::Mailbox::for_organisation(
                    register,
                    controller,
                    a.trim().to_owned(),
                )
            })
            .collect(),
        mail_template: Some(TemplateKind::MailBreachSubjects),
        data,
    };
    let mut tx = store.begin().await?;
    let (_, mut case) = case_for_change(&mut tx, key, controller).await?;
    tx.insert_timers(&[Timer {
        key: uuid::Uuid::now_v7().to_string(),
        kind: "breach-erase-addresses".to_owned(),
        subject: subject.clone(),
        party: controller.to_owned(),
        due_at: stamp(
            actor
                .at
                .checked_add(ERASE_ADDRESSES_AFTER)
                .unwrap_or(actor.at),
        ),
    }])
    .await?;
    let recorded = Communication {
        sent_at: stamp(actor.at),
        channel: "e-mail through Custos".to_owned(),
        recipients: Some(matched.len() as u64),
        recorded_by: actor.name.clone(),
    };
    case.communication = Some(recorded.clone());
    let entry = history(
        key,
        controller,
        "communicated",
        json!({"communication": recorded, "not_affected": found.not_matched}),
        actor,
    );
    save_case(
        tx,
        store,
        &case,
        entry,
        "communicate-by-email",
        vec![event],
        actor,
    )
    .await?;
    Ok(Sent {
        sent: matched.len() as u64,
        not_affected: found.not_matched.unwrap_or_default(),
    })
}

/// Fires a breach timer in `tx`: a reminder before a controller's 72 hours end, or the mark
/// that they ended, unless the case is settled by then; or the erasure of the addresses a
/// communication went to (then it returns true: the database's log should be flushed).
pub(crate) async fn fire_timer(
    tx: &mut Tx,
    register: &Register,
    timer: &Timer,
    events: &mut Vec<Event>,
) -> Result<bool, AppError> {
    if timer.kind == "breach-erase-addresses" {
        tx.erase_delivery_targets(&timer.subject, "[erased]")
            .await?;
        return Ok(true);
    }
    let Some(breach) = tx.breach(&timer.subject).await? else {
        return Ok(false);
    };
    let cases = tx.breach_cases(&timer.subject).await?;
    let Some(case) = cases
        .iter()
        .find(|c| c.scope.controller.as_str() == timer.party)
    else {
        return Ok(false);
    };
    if settled(case) {
        return Ok(false);
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
    Ok(false)
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

mod affected;
mod report;

pub use affected::{Affected, affected};
pub use report::{
    AuthorityReport, CompetentAuthority, RegisterRow, ReportFinding, ReportLink, ReportPhase,
    ReportRelay, authority_report, communication_context, competent_authority, register_document,
    register_of, subject_communication,
};
