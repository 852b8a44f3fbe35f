//! The disclosure ledger as use cases: record events (one, or many from NDJSON) keyed with the
//! instance's pepper, and the access answer for one identifier. Groundwork for data-subject
//! requests (issue 7): the answer is given to an operator here; verified requests come next.

use std::io::BufRead;

use crate::Store;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custos_core::ledger::{self, AccessAnswer, Disclosure};
use custos_core::register::Register;
use custos_core::values::Slug;
use custos_store::LedgerBatch;
use jiff::Timestamp;
use serde::Deserialize;

use crate::AppError;
use crate::audit::Actor;
use crate::clock::stamp;

/// One event as it is recorded: the identifier in clear, which never reaches the database.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEvent {
    /// An e-mail address or a phone number in international form.
    pub identifier: String,
    pub activity: Slug,
    pub recipient: Slug,
    pub categories: Vec<Slug>,
    /// When it was disclosed (RFC 3339).
    #[schemars(with = "String")]
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

/// Keys and checks events (numbered from `first` in errors): the rows to write. Each
/// (activity, recipient) pair is looked up in the register once.
fn key_all(
    register: &Register,
    keyer: &ledger::SubjectKeyer,
    events: Vec<LedgerEvent>,
    first: usize,
) -> Result<Vec<Disclosure>, AppError> {
    let mut valid: Vec<(Slug, Slug)> = Vec::new();
    let mut rows = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let number = first + i;
        let at = |e: ledger::LedgerError| AppError::Invalid(format!("event {number}: {e}"));
        let disclosure = Disclosure {
            subject_key: keyer.key(&event.identifier).map_err(at)?,
            activity: event.activity,
            recipient: event.recipient,
            categories: event.categories,
            at: event.at,
        };
        let checked = valid
            .iter()
            .any(|(a, r)| a == &disclosure.activity && r == &disclosure.recipient);
        if !checked {
            ledger::validate(register, &disclosure).map_err(at)?;
            valid.push((disclosure.activity.clone(), disclosure.recipient.clone()));
        }
        rows.push(disclosure);
    }
    Ok(rows)
}

async fn keyer(store: &Store, at: Timestamp) -> Result<ledger::SubjectKeyer, AppError> {
    ledger::SubjectKeyer::new(&pepper(store, at).await?)
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Writes keyed rows in one transaction, with one audit entry that counts them (no
/// identifier, not even keyed, goes to the audit log). By COPY on PostgreSQL.
pub async fn write(store: Store, rows: LedgerBatch, actor: Actor) -> Result<usize, AppError> {
    let audit = actor.entry(
        "record",
        "disclosures",
        &rows.len().to_string(),
        String::new(),
        None,
        Some(format!("{} event(s)", rows.len())),
    );
    store
        .pool()
        .record_ledger_batch(&rows, actor.at, audit)
        .await?;
    Ok(rows.len())
}

/// Records events in one transaction (all or none).
pub async fn record(
    store: &Store,
    register: &Register,
    events: Vec<LedgerEvent>,
    actor: &Actor,
) -> Result<usize, AppError> {
    let rows = key_all(register, &keyer(store, actor.at).await?, events, 1)?;
    write(store.clone(), LedgerBatch::new(&rows)?, actor.clone()).await
}

/// How an import writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Events a transaction.
    pub batch: usize,
    /// Drop the subject index for the import and build it once at the end: faster when the
    /// import is large compared with the ledger; lookups are slow meanwhile.
    pub bulk: bool,
}

/// Records the events of an NDJSON stream (one JSON event a line), `batch` a transaction; a
/// bad line stops the import and names its number (the batches before it are kept). Each
/// batch is written while the next is parsed and keyed.
pub async fn import(
    store: &Store,
    register: &Register,
    reader: impl BufRead,
    actor: &Actor,
    options: ImportOptions,
) -> Result<usize, AppError> {
    if options.bulk {
        let mut tx = store.begin().await?;
        tx.drop_ledger_index().await?;
        tx.commit().await?;
    }
    let imported = import_batches(store, register, reader, actor, options.batch.max(1)).await;
    if options.bulk {
        let mut tx = store.begin().await?;
        tx.build_ledger_index().await?;
        tx.commit().await?;
    }
    imported
}

type Writing = Option<tokio::task::JoinHandle<Result<usize, AppError>>>;

/// Waits for the batch being written, if any: how many it recorded.
async fn finish(writing: Writing) -> Result<usize, AppError> {
    match writing {
        Some(handle) => handle
            .await
            .map_err(|e| AppError::Invalid(format!("a batch's writer failed: {e}")))?,
        None => Ok(0),
    }
}

async fn import_batches(
    store: &Store,
    register: &Register,
    reader: impl BufRead,
    actor: &Actor,
    batch: usize,
) -> Result<usize, AppError> {
    let keyer = keyer(store, actor.at).await?;
    let mut writing: Writing = None;
    let mut recorded = 0;
    let mut pending = Vec::with_capacity(batch);
    let mut first = 1;
    let mut reader = reader;
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        number += 1;
        let parsed = match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => serde_json::from_str::<LedgerEvent>(&line)
                .map_err(|e| AppError::Invalid(format!("line {number}: {e}"))),
            Err(e) => Err(AppError::Invalid(format!("line {number}: {e}"))),
        };
        let event = match parsed {
            Ok(event) => event,
            Err(error) => {
                finish(writing.take()).await?;
                return Err(error);
            }
        };
        pending.push(event);
        if pending.len() == batch {
            let rows = match key_all(register, &keyer, std::mem::take(&mut pending), first) {
                Ok(rows) => rows,
                Err(error) => {
                    finish(writing.take()).await?;
                    return Err(error);
                }
            };
            first += rows.len();
            // Integers only cross to the writer: the events' strings are freed here, on the
            // thread that made them.
            let batch = LedgerBatch::new(&rows)?;
            drop(rows);
            recorded += finish(writing.take()).await?;
            writing = Some(tokio::spawn(write(store.clone(), batch, actor.clone())));
        }
    }
    let rows = key_all(register, &keyer, pending, first);
    recorded += finish(writing.take()).await?;
    let rows = rows?;
    if !rows.is_empty() {
        recorded += write(store.clone(), LedgerBatch::new(&rows)?, actor.clone()).await?;
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
    ledger::access_answer(register, &disclosures, crate::clock::day_of(now))
        .map_err(|e| AppError::Invalid(e.to_string()))
}
