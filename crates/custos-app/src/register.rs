//! Use cases on the register: load it, plan a manifest against it, apply, export.

use crate::Store;
use custos_core::manifest::{self, Source};
use custos_core::plan::Plan;
use custos_core::register::{Register, RegisterParts};

use crate::AppError;
use crate::audit::{Actor, plan_entries};
use crate::policy::{self, Caller, Represented};

/// Parses and validates manifest sources.
pub fn parse(sources: &[Source]) -> Result<Register, AppError> {
    manifest::parse(sources).map_err(AppError::Manifest)
}

/// The stored register, validated.
pub async fn load(store: &Store) -> Result<Register, AppError> {
    Register::new(read_stored(store).await?).map_err(AppError::StoredRegister)
}

/// What applying `desired` would change, without changing anything.
pub async fn plan(store: &Store, desired: &Register) -> Result<Plan, AppError> {
    Ok(Plan::between(&read_stored(store).await?, desired.parts()))
}

/// The stored entries, as one consistent snapshot, not yet validated.
async fn read_stored(store: &Store) -> Result<RegisterParts, AppError> {
    let mut tx = store.read().await?;
    let parts = tx.load_register().await?;
    tx.rollback().await?;
    Ok(parts)
}

/// Makes the stored register equal to `desired`, in one transaction with the audit entries of
/// every change (who, when, before, after); returns what changed. The operator's (or an
/// instance administrator's) bulk write: see [`apply_by`] for anyone else.
pub async fn apply(store: &Store, desired: &Register, actor: &Actor) -> Result<Plan, AppError> {
    apply_as(store, desired, actor, None).await
}

/// As [`apply`], by `caller`: every entry the manifest adds, changes or removes goes through
/// the policy, and one that the caller may not assert refuses the whole manifest, with every
/// offending entry named. Nothing is written then. An instance administrator's changes of
/// other parties' facts are marked as such in the audit log.
pub async fn apply_by(
    store: &Store,
    desired: &Register,
    actor: &Actor,
    caller: &Caller,
) -> Result<Plan, AppError> {
    apply_as(store, desired, actor, Some(caller)).await
}

/// The operator's apply (no caller) or a caller's.
async fn apply_as(
    store: &Store,
    desired: &Register,
    actor: &Actor,
    caller: Option<&Caller>,
) -> Result<Plan, AppError> {
    let mut tx = store.begin().await?;
    tx.lock_register().await?;
    let current = tx.load_register().await?;
    let plan = Plan::between(&current, desired.parts());
    if let Some(caller) = caller.filter(|c| !c.admin)
        && !plan.is_empty()
    {
        let represented = Represented::load_in(&mut tx).await?;
        let current = Register::new(current.clone()).map_err(AppError::StoredRegister)?;
        let refusals = policy::bulk_write(caller, &current, desired, &represented, &plan);
        if !refusals.is_empty() {
            return Err(AppError::Refused(refusals));
        }
    }
    let mut version = None;
    if !plan.is_empty() {
        version = Some(tx.apply(&plan, desired.parts()).await?);
        // The audit entries (each with the bodies before and after) are made and appended a
        // batch at a time: a million of them at once would hold gigabytes.
        for batch in plan.changes.chunks(AUDIT_BATCH) {
            let batch = Plan {
                changes: batch.to_vec(),
            };
            let mut entries = plan_entries(actor, &batch, &current, desired.parts())?;
            if let Some(caller) = caller.filter(|c| c.admin) {
                let marked = actor.overriding().name;
                for (entry, change) in entries.iter_mut().zip(&batch.changes) {
                    let touched = desired
                        .parts()
                        .entry(change.kind, change.id.as_str())
                        .or_else(|| current.entry(change.kind, change.id.as_str()));
                    if touched.is_some_and(|e| policy::overrides(caller, &e)) {
                        entry.actor.clone_from(&marked);
                    }
                }
            }
            tx.append_audit(entries).await?;
        }
        crate::contracts::after_change(&mut tx, &plan, &current, actor).await?;
    }
    tx.commit().await?;
    if let Some(version) = version {
        image_after(store, &plan, version, desired).await;
    }
    Ok(plan)
}

/// After an apply too large for servers to follow change by change (the first start after a
/// bulk load, or a server following it, would read every row): the image of the register it
/// left, for their start. The apply stands whether or not the image could be written.
async fn image_after(store: &Store, plan: &Plan, version: u64, desired: &Register) {
    let parts = desired.parts();
    if plan.changes.len() <= IMAGE_AFTER_CHANGES || parts.entries() < crate::live::IMAGE_MIN_ENTRIES
    {
        return;
    }
    if let Err(error) = store.pool().write_register_image(version, parts).await {
        tracing::warn!(%error, "the register's image could not be written after the apply");
    }
}

/// Changes from which an apply writes the register's image (servers read a write of more
/// than a thousand changes whole, custos-store's `LISTED_CHANGES`).
const IMAGE_AFTER_CHANGES: usize = 1_000;

/// Audit entries made and appended at a time by a large apply.
const AUDIT_BATCH: usize = 10_000;

/// The stored register as one manifest: `apply` of it changes nothing.
pub async fn export(store: &Store) -> Result<String, AppError> {
    let register = load(store).await?;
    Ok(manifest::to_yaml(register.parts()))
}
