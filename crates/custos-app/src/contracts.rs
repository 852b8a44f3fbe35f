//! Contract amendments. A contract is bilateral: where the policy makes one party's change a
//! proposal, it waits here, with who proposed it, when and why, until the other party
//! accepts (then it takes effect, validated and audited like any write), rejects it, or the
//! proposer withdraws it. A proposal made on a version of the contract that has since changed
//! is superseded: it cannot be accepted over a text its proposer never saw.

use crate::Store;
use custos_core::history::{ContractHistory, EarlierVersion};
use custos_core::plan::{Action, Plan};
use custos_core::register::{EntityKind, RegisterParts};
use custos_core::values::Slug;
use custos_store::{Amendment, SupersededContract, Tx};
use serde_json::json;

use crate::audit::Actor;
use crate::entries::{Entry, apply_in};
use crate::outbox::{self, Event};
use crate::policy::Caller;
use crate::{AppError, stamp};

/// Where an amendment stands.
pub mod status {
    pub const OPEN: &str = "open";
    pub const ACCEPTED: &str = "accepted";
    pub const REJECTED: &str = "rejected";
    pub const WITHDRAWN: &str = "withdrawn";
    pub const SUPERSEDED: &str = "superseded";
}

/// Webhook events of amendments (docs/access.md).
pub mod events {
    pub const PROPOSED: &str = "contract.amendment_proposed";
    pub const ANSWERED: &str = "contract.amendment_answered";
    pub const ALL: [&str; 2] = [PROPOSED, ANSWERED];
}

/// Records a proposal in the caller's transaction: the contract as it would be (`after`;
/// none to end it) on the stored version (`before`; none for a new contract).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn propose_in(
    tx: &mut Tx,
    contract: &str,
    proposer: &str,
    awaiting: &str,
    before: Option<&Entry>,
    after: Option<&Entry>,
    reasons: Option<String>,
    actor: &Actor,
) -> Result<Amendment, AppError> {
    let amendment = Amendment {
        key: uuid::Uuid::now_v7().to_string(),
        contract: contract.to_owned(),
        proposer: proposer.to_owned(),
        awaiting: awaiting.to_owned(),
        base_tag: before.map(Entry::tag),
        body: after.map(Entry::json).transpose()?,
        reasons,
        status: status::OPEN.to_owned(),
        proposed_at: stamp(actor.at),
        proposed_by: actor.name.clone(),
        decided_at: None,
        decided_by: None,
        decision_reasons: None,
    };
    tx.insert_amendment(&amendment).await?;
    let scope = vec![proposer.to_owned(), awaiting.to_owned()];
    tx.append_audit(vec![actor.entry(
        "propose_amendment",
        "contract",
        contract,
        scope.join(" "),
        before.map(Entry::json).transpose()?,
        amendment.body.clone(),
    )])
    .await?;
    let event = Event::hook(
        events::PROPOSED,
        &amendment.key,
        scope,
        json!({"amendment": amendment.key, "contract": contract, "proposer": proposer,
               "awaiting": awaiting, "ends_contract": amendment.body.is_none()}),
    );
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(tx, vec![event], &subscriptions, actor.at).await?;
    Ok(amendment)
}

/// Every amendment proposed for `contract`, oldest first.
pub async fn amendments(store: &Store, contract: &str) -> Result<Vec<Amendment>, AppError> {
    let mut tx = store.read().await?;
    let found = tx.amendments_of(contract).await?;
    tx.rollback().await?;
    Ok(found)
}

/// One amendment by its key.
pub async fn amendment(store: &Store, key: &str) -> Result<Amendment, AppError> {
    let mut tx = store.read().await?;
    let found = tx.amendment(key).await?;
    tx.rollback().await?;
    found.ok_or_else(|| AppError::NotFound(format!("amendment {key}")))
}

/// How the other party answers, or the proposer takes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Reject,
    Withdraw,
}

impl Answer {
    fn status(self) -> &'static str {
        match self {
            Self::Accept => status::ACCEPTED,
            Self::Reject => status::REJECTED,
            Self::Withdraw => status::WITHDRAWN,
        }
    }
}

/// Answers an open amendment: the awaited party accepts (the contract becomes the proposal,
/// validated with the whole register) or rejects it; the proposer withdraws it. An
/// acceptance over a contract changed since the proposal is refused and the proposal marked
/// superseded.
pub async fn answer(
    store: &Store,
    key: &str,
    answer: Answer,
    reasons: Option<String>,
    caller: &Caller,
    actor: &Actor,
) -> Result<Amendment, AppError> {
    let mut tx = store.begin().await?;
    let amendment = tx
        .amendment(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("amendment {key}")))?;
    let party = match answer {
        Answer::Accept | Answer::Reject => &amendment.awaiting,
        Answer::Withdraw => &amendment.proposer,
    };
    if !caller.admin && !caller.writes_for(party) {
        return Err(AppError::Forbidden(format!(
            "only editors of {party} may {} this amendment",
            answer_verb(answer)
        )));
    }
    if amendment.status != status::OPEN {
        return Err(AppError::Conflict(format!(
            "amendment {key} is {}: only an open one can be answered",
            amendment.status
        )));
    }
    let marked;
    let actor = if caller.admin && !caller.member_of(party) {
        marked = actor.overriding();
        &marked
    } else {
        actor
    };
    let at = stamp(actor.at);
    let id: Slug = amendment
        .contract
        .parse()
        .map_err(|e| AppError::Invalid(format!("contract: {e}")))?;
    if answer == Answer::Accept {
        tx.lock_register().await?;
        let current = tx.load_register().await?;
        let stored = current.entry(EntityKind::Contract, id.as_str());
        if stored.as_ref().map(Entry::tag) != amendment.base_tag {
            tx.close_amendment(key, status::SUPERSEDED, &at, &actor.name, None)
                .await?;
            tx.commit().await?;
            return Err(AppError::Conflict(format!(
                "contract {id} changed since amendment {key} was proposed: it is superseded; propose again on the current version"
            )));
        }
        tx.close_amendment(key, answer.status(), &at, &actor.name, reasons.as_deref())
            .await?;
        let after = amendment
            .body
            .as_deref()
            .map(|body| {
                serde_json::from_str(body)
                    .map(Entry::Contract)
                    .map_err(|e| AppError::Invalid(format!("the proposed contract: {e}")))
            })
            .transpose()?;
        apply_in(&mut tx, current, EntityKind::Contract, &id, after, actor).await?;
    } else {
        tx.close_amendment(key, answer.status(), &at, &actor.name, reasons.as_deref())
            .await?;
    }
    let scope = vec![amendment.proposer.clone(), amendment.awaiting.clone()];
    tx.append_audit(vec![actor.entry(
        &format!("{}_amendment", answer_verb(answer)),
        "contract",
        id.as_str(),
        scope.join(" "),
        None,
        Some(json!({"amendment": key, "reasons": reasons}).to_string()),
    )])
    .await?;
    let event = Event::hook(
        events::ANSWERED,
        key,
        scope,
        json!({"amendment": key, "contract": id, "status": answer.status()}),
    );
    let subscriptions = tx.subscriptions(None).await?;
    outbox::write(&mut tx, vec![event], &subscriptions, actor.at).await?;
    let answered = tx
        .amendment(key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("amendment {key}")))?;
    tx.commit().await?;
    Ok(answered)
}

fn answer_verb(answer: Answer) -> &'static str {
    match answer {
        Answer::Accept => "accept",
        Answer::Reject => "reject",
        Answer::Withdraw => "withdraw",
    }
}

/// What every write that changes contracts does besides: the versions it replaces are kept
/// (with the moment they were replaced), and open proposals on them are superseded (none can
/// be accepted over a text its proposer never saw).
pub(crate) async fn after_change(
    tx: &mut Tx,
    plan: &Plan,
    current: &RegisterParts,
    actor: &Actor,
) -> Result<(), AppError> {
    let at = stamp(actor.at);
    let mut superseded = Vec::new();
    for change in plan
        .changes
        .iter()
        .filter(|c| c.kind == EntityKind::Contract)
    {
        if matches!(change.action, Action::Change { .. } | Action::Remove)
            && let Some(before) = current.entry(EntityKind::Contract, change.id.as_str())
        {
            superseded.push(SupersededContract {
                contract: change.id.to_string(),
                replaced_at: at.clone(),
                body: before.json()?,
            });
        }
        tx.supersede_amendments(change.id.as_str(), &at, &actor.name)
            .await?;
    }
    tx.insert_superseded_contracts(&superseded).await?;
    Ok(())
}

/// The superseded versions of every contract (or of one), each in force until the day
/// before it was replaced.
pub async fn history(store: &Store, contract: Option<&str>) -> Result<ContractHistory, AppError> {
    let mut tx = store.read().await?;
    let rows = tx.superseded_contracts(contract).await?;
    tx.rollback().await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        let contract: custos_core::model::Contract =
            serde_json::from_str(&row.body).map_err(|e| {
                AppError::Invalid(format!(
                    "a stored version of contract {}: {e}",
                    row.contract
                ))
            })?;
        let replaced = crate::clock::parse_stamp(&row.replaced_at).ok_or_else(|| {
            AppError::Invalid(format!(
                "a stored version of contract {}: bad time",
                row.contract
            ))
        })?;
        let until = crate::clock::day_of(replaced)
            .yesterday()
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        versions.push(EarlierVersion { contract, until });
    }
    Ok(ContractHistory::new(versions))
}
