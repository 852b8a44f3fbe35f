//! The disclosure ledger as use cases: record events (one, or many from NDJSON) keyed with the
//! instance's pepper, and the access answer for one identifier. Groundwork for data-subject
//! requests (issue 7): the answer is given to an operator here; verified requests come next.

use std::io::BufRead;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custos_core::ledger::{self, AccessAnswer, Disclosure};
use custos_core::register::Register;
use custos_core::values::Slug;
use custos_store::Store;
use jiff::Timestamp;
use serde::Deserialize;

use crate::AppError;
use crate::audit::Actor;
use crate::clock::stamp;

/// One event as it is recorded: the identifier in clear, which never reaches the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEvent {
    /// An e-mail address or a phone number in international form.
    pub identifier: String,
    pub activity: Slug,
    pub recipient: Slug,
    pub categories: Vec<Slug>,
    pub at: Timestamp,
}

const PEPPER: &str = "ledger-pepper";

/// The instance's pepper: 32 random bytes, made on first use and kept in the database.
pub async fn pepper(store: &Store, now: Timestamp) -> Result<Vec<u8>, AppError> {
    if let Some(stored) = store.read().await?.instance_secret(PEPPER).await? {
        return BASE64
            .decode(stored)
            .map_err(|e| AppError::Invalid(format!("the stored pepper is not base64: {e}")));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Invalid(format!("no randomness: {e}")))?;
    let mut tx = store.begin().await?;
    let kept = tx
        .put_instance_secret(PEPPER, &BASE64.encode(bytes), &stamp(now))
        .await?;
    tx.commit().await?;
    BASE64
        .decode(kept)
        .map_err(|e| AppError::Invalid(format!("the stored pepper is not base64: {e}")))
}

fn keyed(
    register: &Register,
    keyer: &ledger::SubjectKeyer,
    event: LedgerEvent,
    line: usize,
) -> Result<Disclosure, AppError> {
    let at = |e: ledger::LedgerError| AppError::Invalid(format!("event {line}: {e}"));
    let disclosure = Disclosure {
        subject_key: keyer.key(&event.identifier).map_err(at)?,
        activity: event.activity,
        recipient: event.recipient,
        categories: event.categories,
        at: event.at,
    };
    ledger::validate(register, &disclosure).map_err(at)?;
    Ok(disclosure)
}

/// Records events in one transaction (all or none), with one audit entry that counts them
/// (no identifier, not even keyed, goes to the audit log).
pub async fn record(
    store: &Store,
    register: &Register,
    events: Vec<LedgerEvent>,
    actor: &Actor,
) -> Result<usize, AppError> {
    let keyer = ledger::SubjectKeyer::new(&pepper(store, actor.at).await?)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let rows = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| keyed(register, &keyer, event, i + 1))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = store.begin().await?;
    tx.insert_disclosures(&rows, actor.at).await?;
    tx.append_audit(vec![actor.entry(
        "record",
        "disclosures",
        &rows.len().to_string(),
        String::new(),
        None,
        Some(format!("{} event(s)", rows.len())),
    )])
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Records the events of an NDJSON stream (one JSON event a line), `batch` a transaction; a
/// bad line stops the import and names its number (the batches before it are kept).
pub async fn import(
    store: &Store,
    register: &Register,
    reader: impl BufRead,
    actor: &Actor,
    batch: usize,
) -> Result<usize, AppError> {
    let mut pending = Vec::with_capacity(batch);
    let mut recorded = 0;
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| AppError::Invalid(format!("line {}: {e}", number + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: LedgerEvent = serde_json::from_str(&line)
            .map_err(|e| AppError::Invalid(format!("line {}: {e}", number + 1)))?;
        pending.push(event);
        if pending.len() == batch {
            recorded += record(store, register, std::mem::take(&mut pending), actor).await?;
        }
    }
    if !pending.is_empty() {
        recorded += record(store, register, pending, actor).await?;
    }
    Ok(recorded)
}

/// The access answer for `identifier` from the ledger and the register.
pub async fn answer(
    store: &Store,
    register: &Register,
    identifier: &str,
    now: Timestamp,
) -> Result<AccessAnswer, AppError> {
    let pepper = pepper(store, now).await?;
    let key =
        ledger::subject_key(&pepper, identifier).map_err(|e| AppError::Invalid(e.to_string()))?;
    let disclosures = store.read().await?.disclosures_of(&key).await?;
    ledger::access_answer(register, &disclosures).map_err(|e| AppError::Invalid(e.to_string()))
}
