//! Writing one entry of the register (create, replace, delete) in one transaction: the
//! caller's precondition is checked against the stored version (its tag), what the change can
//! affect is validated on the server's copy of the register at the database's version
//! (`custos_core::register::Register::check_change`), and the change is audited and recorded
//! for the servers to apply. Nothing is written on any failure.

use crate::Store;
use custos_core::model::Activity;
use custos_core::plan::Plan;
use custos_core::register::{EntityKind, Register, RegisterParts};
use custos_core::values::Slug;
use custos_store::{RegisterChange, Tx};
use sha2::{Digest, Sha256};

use crate::AppError;
use crate::audit::{Actor, plan_entries};
use crate::live::LiveRegister;
use crate::policy::{self, Caller, Facts, Represented, Verdict};

pub use custos_core::register::{Entry, tag_of};

/// What the caller expects of the stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// It must not exist (a create).
    Absent,
    /// It must exist with this tag (`If-Match`).
    Tag(String),
}

/// The change to make: an entry put in place (or added), or removed.
pub use custos_core::register::Change as Write;

/// What a write did: the plan (one change), and the entry after it (none after a delete).
#[derive(Debug, Clone)]
pub struct Written {
    pub plan: Plan,
    pub after: Option<Entry>,
    /// The first answer to the same request with the same idempotency key, given again.
    pub replayed: Option<String>,
    /// The change became a proposal awaiting the other party (a contract amendment).
    pub proposal: Option<custos_store::Amendment>,
}

/// A create made with an `Idempotency-Key`: the key, per user, and a digest of the request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub user_key: String,
    pub key: String,
    pub request_hash: String,
}

/// A digest of a request body, to tell a retry from a different request with the same key.
pub fn request_hash(body: &[u8]) -> String {
    sha256_hex(body)
}

/// Lowercase hex of the SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who writes, as the policy needs to know: the caller, and what it sees in the register
/// the write is decided on (what it does not see answers 404 before anything else is said of
/// it: no tag, no conflict, no validation).
pub struct Authority<'a> {
    pub caller: &'a Caller,
    pub visible: &'a (dyn Fn(&Register, &Entry) -> bool + Sync),
}

/// Times a write starts again because another server changed the register meanwhile.
const WRITE_ATTEMPTS: usize = 5;

/// Carries out `write` if the caller sees the stored entry, the stored entry meets `expect`,
/// and the policy allows it; a change the policy makes a proposal (a contract amendment) is
/// recorded as one and changes nothing else.
///
/// The write is decided on the server's copy of the register (`live`) at the database's
/// version, locked for the transaction: only what the change can affect is validated, one
/// row is written, and the copy is updated by that change after the commit.
pub async fn write(
    store: &Store,
    live: &LiveRegister,
    write: Write,
    expect: Expect,
    actor: &Actor,
    idempotency: Option<&Idempotency>,
    authority: &Authority<'_>,
) -> Result<Written, AppError> {
    let _writing = live.writing().await;
    for _ in 0..WRITE_ATTEMPTS {
        live.sync(store).await?;
        let mut tx = store.begin().await?;
        if let Some(idempotency) = idempotency
            && let Some(answer) = tx
                .idempotent_answer(&idempotency.user_key, &idempotency.key)
                .await?
        {
            tx.rollback().await?;
            if answer.request_hash != idempotency.request_hash {
                return Err(AppError::Invalid(format!(
                    "Idempotency-Key {:?} was used for a different request: use a new key for a new request",
                    idempotency.key
                )));
            }
            return Ok(Written {
                plan: Plan::default(),
                after: None,
                replayed: Some(answer.body),
                proposal: None,
            });
        }
        let version = tx.lock_register().await?;
        let snapshot = live.snapshot().await;
        if snapshot.version != version {
            // Another server wrote between our sync and our lock: start again from its version.
            tx.rollback().await?;
            continue;
        }
        let (written, recorded) = write_on(
            &mut tx,
            snapshot.register(),
            &write,
            &expect,
            actor,
            idempotency,
            authority,
        )
        .await?;
        drop(snapshot);
        tx.commit().await?;
        if let Some(change) = recorded
            && !live.advance(vec![change]).await
        {
            live.sync(store).await?;
        }
        return Ok(written);
    }
    Err(AppError::Conflict(
        "the register kept changing on other servers while this write was decided: try again"
            .to_owned(),
    ))
}

/// The write decided on `register`, the register at the locked version, inside `tx`; with
/// the change recorded, if one was made.
async fn write_on(
    tx: &mut Tx,
    register: &Register,
    write: &Write,
    expect: &Expect,
    actor: &Actor,
    idempotency: Option<&Idempotency>,
    authority: &Authority<'_>,
) -> Result<(Written, Option<RegisterChange>), AppError> {
    let (kind, id) = write.target();
    let before = register.parts().entry(kind, id.as_str());
    // An entry the caller cannot see answers 404 before its tag is compared: neither its
    // existence nor its version leaks. (A create of a taken id still answers 409: ids are
    // unique, so that much is known to anyone who tries.)
    if let (Expect::Tag(_), Some(stored)) = (expect, &before)
        && !(authority.visible)(register, stored)
    {
        return Err(AppError::NotFound(format!("{kind} {id}")));
    }
    match (expect, &before) {
        (Expect::Absent, Some(_)) => {
            return Err(AppError::Conflict(format!("{kind} {id} exists already")));
        }
        (Expect::Tag(_), None) => {
            return Err(AppError::NotFound(format!("{kind} {id}")));
        }
        (Expect::Tag(tag), Some(stored)) if tag != "*" && &stored.tag() != tag => {
            return Err(AppError::PreconditionFailed(format!(
                "{kind} {id} was changed since it was read: its tag is now {}; read it again and redo the change",
                stored.tag()
            )));
        }
        _ => {}
    }
    let after = write.after().cloned();
    let represented = Represented::load_in(tx).await?;
    let verdict = policy::entry_write(
        authority.caller,
        Facts::of(register),
        &represented,
        before.as_ref(),
        after.as_ref(),
    );
    match verdict {
        Verdict::Allow => {}
        Verdict::Refuse(refusal) => return Err(AppError::Refused(vec![refusal])),
        Verdict::Propose { proposer, awaiting } => {
            // A proposed text the register could not take is refused now, not when accepted.
            // (A proposal to end a contract is judged when accepted: the links under it may
            // be moved to another contract meanwhile.)
            if after.is_some() {
                register.check_change(write).map_err(AppError::Rejected)?;
            }
            let proposal = crate::contracts::propose_in(
                tx,
                id.as_str(),
                proposer.as_str(),
                awaiting.as_str(),
                before.as_ref(),
                after.as_ref(),
                None,
                actor,
            )
            .await?;
            let written = Written {
                plan: Plan::default(),
                after: None,
                replayed: None,
                proposal: Some(proposal),
            };
            return Ok((written, None));
        }
    }
    register.check_change(write).map_err(AppError::Rejected)?;
    let marked;
    let actor = match after.as_ref().or(before.as_ref()) {
        Some(entry) if policy::overrides(authority.caller, entry) => {
            marked = actor.overriding();
            &marked
        }
        _ => actor,
    };
    let (current, desired) = neighbourhood(register, before.as_ref(), after.as_ref());
    let plan = Plan::between(&current, &desired);
    let mut recorded = None;
    if !plan.is_empty() {
        let version = tx.apply(&plan, &desired).await?;
        tx.append_audit(plan_entries(actor, &plan, &current, &desired)?)
            .await?;
        crate::contracts::after_change(tx, &plan, &current, actor).await?;
        recorded = Some(RegisterChange {
            version,
            kind,
            slug: id.to_string(),
            after: after.clone(),
        });
    }
    if let (Some(idempotency), Some(entry)) = (idempotency, &after) {
        let answer = custos_store::IdempotentAnswer {
            request_hash: idempotency.request_hash.clone(),
            status: 201,
            body: entry.json()?,
        };
        tx.record_idempotent_answer(
            &idempotency.user_key,
            &idempotency.key,
            &answer,
            &actor.at.to_string(),
        )
        .await?;
    }
    let written = Written {
        plan,
        after,
        replayed: None,
        proposal: None,
    };
    Ok((written, recorded))
}

/// The entry before and after a write, each beside the activities that engagements among
/// them belong to (unchanged: the audit entry names their controllers): the two small
/// registers the write's plan, rows and audit are computed from.
fn neighbourhood(
    register: &Register,
    before: Option<&Entry>,
    after: Option<&Entry>,
) -> (RegisterParts, RegisterParts) {
    let mut context = Vec::new();
    for entry in [before, after].into_iter().flatten() {
        if let Entry::Engagement(link) = entry
            && let Some(activity) = register.activity(link.activity.as_str())
            && !context.iter().any(|a: &Activity| a.id == activity.id)
        {
            context.push(activity.clone());
        }
    }
    let parts_of = |entry: Option<&Entry>| {
        let mut parts = RegisterParts {
            activities: context.clone(),
            ..RegisterParts::default()
        };
        if let Some(entry) = entry {
            remove(&mut parts, entry.kind(), entry.id());
            insert(&mut parts, entry.clone());
        }
        parts.sort();
        parts
    };
    (parts_of(before), parts_of(after))
}

/// Puts `after` in place of the entry `kind` `id` (or removes it), validating the whole
/// register, audited; open amendments of a changed contract are superseded. Inside the
/// caller's transaction; the policy was asked before.
pub(crate) async fn apply_in(
    tx: &mut Tx,
    current: RegisterParts,
    kind: EntityKind,
    id: &Slug,
    after: Option<Entry>,
    actor: &Actor,
) -> Result<Plan, AppError> {
    let mut desired = current.clone();
    remove(&mut desired, kind, id);
    if let Some(entry) = after {
        insert(&mut desired, entry);
    }
    let desired = Register::new(desired).map_err(AppError::Rejected)?;
    let plan = Plan::between(&current, desired.parts());
    if !plan.is_empty() {
        tx.apply(&plan, desired.parts()).await?;
        tx.append_audit(plan_entries(actor, &plan, &current, desired.parts())?)
            .await?;
        crate::contracts::after_change(tx, &plan, &current, actor).await?;
    }
    Ok(plan)
}

pub(crate) fn remove(parts: &mut RegisterParts, kind: EntityKind, id: &Slug) {
    match kind {
        EntityKind::Organisation => parts.organisations.retain(|e| &e.id != id),
        EntityKind::Activity => parts.activities.retain(|e| &e.id != id),
        EntityKind::Contract => parts.contracts.retain(|e| &e.id != id),
        EntityKind::Engagement => parts.engagements.retain(|e| &e.id != id),
    }
}

pub(crate) fn insert(parts: &mut RegisterParts, entry: Entry) {
    match entry {
        Entry::Organisation(e) => parts.organisations.push(e),
        Entry::Activity(e) => parts.activities.push(e),
        Entry::Contract(e) => parts.contracts.push(e),
        Entry::Engagement(e) => parts.engagements.push(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use custos_core::manifest;
    use custos_core::model::{Authorisation, Decision};
    use proptest::prelude::*;

    use super::*;
    use crate::policy::{Role, Verdict};

    /// A write of the walk: which entry (by index into the current register's entries of a
    /// kind), and what to do with it.
    #[derive(Debug, Clone)]
    enum Change {
        /// Change a free-text field.
        Touch,
        /// Set, or change, the controller's decision on a link.
        Decide,
        Delete,
        /// A copy under a new id.
        Copy,
    }

    fn callers() -> Vec<Caller> {
        vec![
            Caller::instance_admin(),
            Caller::member("hypermarket-a", Role::Editor),
            Caller::member("agency-b", Role::Editor),
            Caller::member("agency-b", Role::Portal),
            Caller::member("mailer-c", Role::Editor),
            Caller::member("bank", Role::Editor),
            Caller::member("hypermarket-a", Role::Viewer),
        ]
    }

    fn pick(parts: &RegisterParts, kind: usize, index: usize) -> Option<Entry> {
        match kind % 4 {
            0 => parts
                .organisations
                .get(index % parts.organisations.len().max(1))
                .cloned()
                .map(Entry::Organisation),
            1 => parts
                .activities
                .get(index % parts.activities.len().max(1))
                .cloned()
                .map(Entry::Activity),
            2 => parts
                .contracts
                .get(index % parts.contracts.len().max(1))
                .cloned()
                .map(Entry::Contract),
            _ => parts
                .engagements
                .get(index % parts.engagements.len().max(1))
                .cloned()
                .map(Entry::Engagement),
        }
    }

    fn changed(entry: &Entry, change: &Change, step: usize) -> Write {
        let mut after = entry.clone();
        match (change, &mut after) {
            (Change::Delete, _) => return Write::Remove(entry.kind(), entry.id().clone()),
            (Change::Touch, Entry::Organisation(o)) => o.address = Some(format!("Street {step}")),
            (Change::Touch, Entry::Activity(a)) => a.purposes = vec![format!("Purpose {step}")],
            (Change::Touch, Entry::Contract(c)) => c.reference = Some(format!("Version {step}")),
            (Change::Touch, Entry::Engagement(e)) => e.service = format!("Service {step}").into(),
            (Change::Decide, Entry::Engagement(e)) => {
                e.authorisation = Some(Box::new(Authorisation {
                    by: "hypermarket-a".parse().unwrap(),
                    decision: Decision::Approved,
                    date: "2026-01-01".parse().unwrap(),
                    reference: Some(format!("Decision {step}")),
                }));
            }
            (Change::Decide, _) => {}
            (Change::Copy, _) => {
                let id: Slug = format!("copy-{step}").parse().unwrap();
                match &mut after {
                    Entry::Organisation(o) => o.id = id,
                    Entry::Activity(a) => a.id = id,
                    Entry::Contract(c) => c.id = id,
                    Entry::Engagement(e) => e.id = id,
                }
            }
        }
        Write::Put(Box::new(after))
    }

    /// The register, the audit log's length, and the amendments proposed for `contract`.
    async fn snapshot(store: &Store, contract: &str) -> (RegisterParts, u64, usize) {
        let mut tx = store.read().await.unwrap();
        let parts = tx.load_register().await.unwrap();
        let (audit, _) = tx.audit_head().await.unwrap();
        let amendments = tx.amendments_of(contract).await.unwrap().len();
        tx.rollback().await.unwrap();
        (parts, audit, amendments)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// A random walk of random callers' writes: each takes effect exactly when the policy
        /// allows it (and the register stays valid), becomes exactly one proposal when the
        /// policy says so, and otherwise changes nothing at all, audit log included.
        #[test]
        fn writes_change_the_database_exactly_as_the_policy_says(
            steps in proptest::collection::vec(
                (0usize..7, 0usize..4, 0usize..64,
                 prop_oneof![Just(Change::Touch), Just(Change::Decide), Just(Change::Delete), Just(Change::Copy)]),
                1..24,
            )
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.unwrap();
                let actor = Actor::new("test", "2026-11-25T10:00:00Z".parse().unwrap());
                let examples = manifest::parse(&manifest::examples::sources()).unwrap();
                crate::register::apply(&store, &examples, &actor).await.unwrap();
                for (org, role) in [("hypermarket-a", Role::Editor), ("agency-b", Role::Editor), ("mailer-c", Role::Editor), ("bank", Role::Editor)] {
                    crate::people::create_user(&store, crate::people::NewUser {
                        email: format!("editor@{org}.test"),
                        password: "a long enough password".into(),
                        is_admin: false,
                        memberships: vec![(org.to_owned(), role)],
                    }, &actor).await.unwrap();
                }
                let represented = Represented::load(&store).await.unwrap();
                let live = crate::live::LiveRegister::load(&store).await.unwrap();
                let callers = callers();
                for (step, (who, kind, index, change)) in steps.into_iter().enumerate() {
                    let (before, _, _) = snapshot(&store, "").await;
                    let Some(entry) = pick(&before, kind, index) else { continue };
                    let write = changed(&entry, &change, step);
                    let (_, audit, amendments) = snapshot(&store, write.target().1.as_str()).await;
                    let register = Register::new(before.clone()).unwrap();
                    let caller = &callers[who];
                    let (target_kind, target_id) = write.target();
                    let stored = before.entry(target_kind, target_id.as_str());
                    let after = write.after().cloned();
                    let verdict = policy::entry_write(caller, Facts::of(&register), &represented, stored.as_ref(), after.as_ref());
                    let expect = match &stored { Some(e) => Expect::Tag(e.tag()), None => Expect::Absent };
                    let all = |_: &Register, _: &Entry| true;
                    let result = super::write(&store, &live, write.clone(), expect, &actor,
                        None, &Authority { caller, visible: &all }).await;
                    let (now, audit_now, amendments_now) = snapshot(&store, target_id.as_str()).await;
                    // The server's copy, kept by the write's change alone, is the stored register.
                    let kept = live.snapshot().await;
                    assert!(kept.same_indexes_as(&Register::new(now.clone()).unwrap()), "step {step}: the copy in memory is the stored register");
                    match (&verdict, &result) {
                        (Verdict::Allow, Ok(written)) => {
                            assert!(written.proposal.is_none());
                            let got = now.entry(target_kind, target_id.as_str());
                            assert_eq!(got, after, "step {step}: the entry is as written");
                            if after == stored {
                                assert_eq!((&now, audit_now), (&before, audit), "step {step}: no change, no entry");
                            } else {
                                assert!(audit_now > audit, "step {step}: audited");
                            }
                        }
                        (Verdict::Propose { .. }, Ok(written)) => {
                            assert!(written.proposal.is_some());
                            assert_eq!(now, before, "step {step}: a proposal changes no entry");
                            assert_eq!(amendments_now, amendments + 1);
                        }
                        (Verdict::Propose { .. } | Verdict::Allow, Err(AppError::Rejected(_))) => {
                            // A change the register could not take is refused whether it would
                            // be written or proposed: nothing is recorded.
                            assert_eq!(now, before, "step {step}: an invalid register is not written");
                            assert_eq!((audit_now, amendments_now), (audit, amendments));
                        }
                        (Verdict::Refuse(_), Err(AppError::Refused(_))) => {
                            assert_eq!(now, before, "step {step}: a refusal changes nothing");
                            assert_eq!((audit_now, amendments_now), (audit, amendments));
                        }
                        (verdict, result) => panic!("step {step}: {verdict:?} but {result:?}"),
                    }
                }
                store.close().await;
            });
        }
    }
}
