//! The disclosure ledger's rows and the instance's secrets.
//!
//! Rows are compact integers (`ledger_events`: subject, kind, time; migration 0008 says why).
//! SQLite takes a batch as one JSONB value of integers expanded by `jsonb_each` (one bound
//! value per batch instead of five per row: the per-value cost of binding through sqlx's
//! `Any` driver dominated bulk loads). PostgreSQL takes a batch by binary COPY
//! ([`Store::record_ledger_batch`]) into a table partitioned by subject (migration
//! `migrations-postgres/0019`), and multi-row `VALUES` inside a larger transaction.

use std::fmt::Write as _;

use custos_core::audit::NewAuditEntry;
use custos_core::ledger::Disclosure;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::{
    Any, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Postgres, Row, Type,
};

use crate::audit::append_on;
use crate::{Backend, Store, StoreError, Tx, values_rows};

/// Events a statement.
const CHUNK: usize = 50_000;

/// The two integers the ledger keeps of a subject key (64 hexadecimal digits): its first 128
/// bits, big-endian, as signed 64-bit halves.
pub fn subject_halves(hex: &str) -> Result<(i64, i64), StoreError> {
    let corrupt = || StoreError::Corrupt {
        table: "ledger_events",
        slug: "new row".to_owned(),
        reason: "a subject key is 64 hexadecimal digits".to_owned(),
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(corrupt());
    }
    let half = |range: std::ops::Range<usize>| {
        hex.get(range)
            .and_then(|digits| u64::from_str_radix(digits, 16).ok())
            .map(|bits| i64::from_be_bytes(bits.to_be_bytes()))
            .ok_or_else(corrupt)
    };
    Ok((half(0..16)?, half(16..32)?))
}

/// An event read back: its fields parsed again (the database is an edge).
fn read_disclosure(
    table: &'static str,
    subject_key: &str,
    [activity, recipient, categories]: [&str; 3],
    at: Result<Timestamp, String>,
) -> Result<Disclosure, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table,
        slug: subject_key.to_owned(),
        reason,
    };
    Ok(Disclosure {
        subject_key: subject_key.to_owned(),
        activity: activity.parse().map_err(|e| corrupt(format!("{e}")))?,
        recipient: recipient.parse().map_err(|e| corrupt(format!("{e}")))?,
        categories: categories
            .split(' ')
            .filter(|c| !c.is_empty())
            .map(|c| c.parse().map_err(|e| corrupt(format!("{e}"))))
            .collect::<Result<_, _>>()?,
        at: at.map_err(corrupt)?,
    })
}

/// Appends an element header of SQLite's JSONB (https://sqlite.org/jsonb.html): the type in
/// the low four bits, the payload's size in the high four (up to 11) or in the bytes after.
fn jsonb_header(out: &mut Vec<u8>, kind: u8, size: usize) {
    match size {
        0..=11 => out.push(((size as u8) << 4) | kind),
        12..=0xFF => out.extend_from_slice(&[(12 << 4) | kind, size as u8]),
        0x100..=0xFFFF => {
            out.push((13 << 4) | kind);
            out.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ => {
            out.push((14 << 4) | kind);
            out.extend_from_slice(&(size as u32).to_be_bytes());
        }
    }
}

const JSONB_INT: u8 = 3;
const JSONB_ARRAY: u8 = 11;

/// Rows as one JSONB array of arrays of integers: SQLite reads it without parsing text
/// (a third of the insert's time went to turning JSON text into JSONB).
fn jsonb_rows(rows: &[[i64; 4]]) -> Vec<u8> {
    let mut row = Vec::with_capacity(96);
    let mut digits = String::with_capacity(20);
    let mut payload = Vec::with_capacity(rows.len() * 80);
    for values in rows {
        row.clear();
        for value in values {
            digits.clear();
            let _ = write!(digits, "{value}");
            jsonb_header(&mut row, JSONB_INT, digits.len());
            row.extend_from_slice(digits.as_bytes());
        }
        jsonb_header(&mut payload, JSONB_ARRAY, row.len());
        payload.extend_from_slice(&row);
    }
    let mut out = Vec::with_capacity(payload.len() + 5);
    jsonb_header(&mut out, JSONB_ARRAY, payload.len());
    out.extend_from_slice(&payload);
    out
}

/// The index of the ledger, as migration 0008 makes it.
const LEDGER_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS ledger_events_subject ON ledger_events (subject_hi)";

/// A kind of disclosure: activity, recipient, categories (space-joined), and its id (the
/// first 64 bits of SHA-256 over the three, length-prefixed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kind {
    id: i64,
    fields: [String; 3],
}

/// Events ready to write, made without the database (so that a bulk import builds the next
/// batch while the last is written): the batch's kinds, and a row of integers an event —
/// subject halves, kind id, time in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerBatch {
    kinds: Vec<Kind>,
    rows: Vec<[i64; 4]>,
}

impl LedgerBatch {
    pub fn new(events: &[Disclosure]) -> Result<Self, StoreError> {
        // A batch holds few kinds: a short list compared field by field allocates nothing.
        let mut seen: Vec<(&Disclosure, i64)> = Vec::new();
        let same = |a: &Disclosure, b: &Disclosure| {
            a.activity == b.activity && a.recipient == b.recipient && a.categories == b.categories
        };
        let mut batch = Self {
            kinds: Vec::new(),
            rows: Vec::with_capacity(events.len()),
        };
        for event in events {
            let id = match seen.iter().find(|(k, _)| same(k, event)) {
                Some((_, id)) => *id,
                None => {
                    let fields = [
                        event.activity.to_string(),
                        event.recipient.to_string(),
                        event
                            .categories
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ];
                    let mut hash = Sha256::new();
                    for field in &fields {
                        hash.update((field.len() as u64).to_be_bytes());
                        hash.update(field.as_bytes());
                    }
                    let digest = hash.finalize();
                    let mut first = [0u8; 8];
                    first.copy_from_slice(&digest[..8]);
                    let id = i64::from_be_bytes(first);
                    match batch.kinds.iter().find(|k| k.id == id) {
                        None => batch.kinds.push(Kind { id, fields }),
                        Some(kind) if kind.fields == fields => {}
                        Some(_) => {
                            return Err(StoreError::Corrupt {
                                table: "ledger_kinds",
                                slug: id.to_string(),
                                reason: "two kinds of disclosure share an id".to_owned(),
                            });
                        }
                    }
                    seen.push((event, id));
                    id
                }
            };
            let (hi, lo) = subject_halves(&event.subject_key)?;
            batch.rows.push([hi, lo, id, event.at.as_microsecond()]);
        }
        Ok(batch)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Stores each kind of a batch once; a stored kind with the same id but other fields is a
/// collision, refused.
async fn insert_kinds_on<DB>(
    connection: &mut DB::Connection,
    kinds: &[Kind],
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    for kind in kinds {
        sqlx::query::<DB>(
            "INSERT INTO ledger_kinds (id, activity, recipient, categories) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(kind.id)
        .bind(kind.fields[0].clone())
        .bind(kind.fields[1].clone())
        .bind(kind.fields[2].clone())
        .execute(&mut *connection)
        .await?;
        let row = sqlx::query::<DB>(
            "SELECT activity, recipient, categories FROM ledger_kinds WHERE id = $1",
        )
        .bind(kind.id)
        .fetch_one(&mut *connection)
        .await?;
        let stored: [String; 3] = [row.try_get(0)?, row.try_get(1)?, row.try_get(2)?];
        if stored != kind.fields {
            return Err(StoreError::Corrupt {
                table: "ledger_kinds",
                slug: kind.id.to_string(),
                reason: "two kinds of disclosure share an id".to_owned(),
            });
        }
    }
    Ok(())
}

/// The start of PostgreSQL's binary COPY stream: signature, flags, no header extension
/// (https://www.postgresql.org/docs/current/sql-copy.html#SQL-COPY-BINARY-FORMAT).
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Its end: a field count of -1.
const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Rows as tuples of COPY's binary format: five fields, each a length (8) and a big-endian
/// 64-bit integer. The server takes them as they are, without parsing text.
fn copy_rows(rows: &[[i64; 4]], recorded: i64) -> Vec<u8> {
    const FIELDS: i16 = 5;
    let mut out = Vec::with_capacity(rows.len() * (2 + 5 * 12));
    for [hi, lo, kind, at] in rows {
        out.extend_from_slice(&FIELDS.to_be_bytes());
        for value in [*hi, *lo, *kind, *at, recorded] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
    out
}

impl Store {
    /// Records a batch of events and the audit entry that counts them, in one transaction
    /// (all or none). On PostgreSQL the rows go by COPY in binary on a native connection
    /// (sqlx's `Any` driver has none), the kinds and the audit entry in the same transaction.
    pub async fn record_ledger_batch(
        &self,
        batch: &LedgerBatch,
        recorded_at: Timestamp,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let Some(copy_pool) = &self.copy_pool else {
            let mut tx = self.begin().await?;
            tx.insert_ledger_batch(batch, recorded_at).await?;
            tx.append_audit(vec![audit]).await?;
            return tx.commit().await;
        };
        let mut tx = copy_pool.begin().await?;
        insert_kinds_on::<Postgres>(&mut tx, &batch.kinds).await?;
        let mut copy = tx
            .copy_in_raw(
                "COPY ledger_events (subject_hi, subject_lo, kind, disclosed_at, recorded_at) \
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        copy.send(COPY_HEADER).await?;
        for rows in batch.rows.chunks(CHUNK) {
            copy.send(copy_rows(rows, recorded_at.as_microsecond()))
                .await?;
        }
        copy.send(COPY_TRAILER).await?;
        copy.finish().await?;
        append_on::<Postgres>(&mut tx, Backend::Postgres, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Tx {
    pub async fn instance_secret(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM instance_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    /// Stores a secret unless one of that name exists; returns the one that holds.
    pub async fn put_instance_secret(
        &mut self,
        name: &str,
        value: &str,
        at: &str,
    ) -> Result<String, StoreError> {
        if let Some(existing) = self.instance_secret(name).await? {
            return Ok(existing);
        }
        sqlx::query("INSERT INTO instance_secrets (name, value, created_at) VALUES ($1, $2, $3)")
            .bind(name.to_owned())
            .bind(value.to_owned())
            .bind(at.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(value.to_owned())
    }

    /// Appends events.
    pub async fn insert_disclosures(
        &mut self,
        events: &[Disclosure],
        recorded_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.insert_ledger_batch(&LedgerBatch::new(events)?, recorded_at)
            .await
    }

    /// Appends a batch: its kinds first (see [`insert_kinds_on`]), then its rows. Inside
    /// the transaction of a larger write; a batch on its own goes by
    /// [`Store::record_ledger_batch`] (COPY on PostgreSQL).
    pub async fn insert_ledger_batch(
        &mut self,
        batch: &LedgerBatch,
        recorded_at: Timestamp,
    ) -> Result<(), StoreError> {
        insert_kinds_on::<Any>(&mut self.inner, &batch.kinds).await?;
        let recorded = recorded_at.as_microsecond();
        for rows in batch.rows.chunks(CHUNK) {
            match self.backend {
                Backend::Sqlite => {
                    sqlx::query(
                        "INSERT INTO ledger_events (subject_hi, subject_lo, kind, disclosed_at, \
                         recorded_at) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
                         ?2 FROM jsonb_each(?1)",
                    )
                    .bind(jsonb_rows(rows))
                    .bind(recorded)
                    .execute(&mut *self.inner)
                    .await?;
                }
                Backend::Postgres => {
                    const WIDTH: usize = 5;
                    for rows in rows.chunks(2000) {
                        let sql = format!(
                            "INSERT INTO ledger_events (subject_hi, subject_lo, kind, \
                             disclosed_at, recorded_at) VALUES {}",
                            values_rows(self.backend, rows.len(), WIDTH)
                        );
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for [hi, lo, kind, at] in rows {
                            query = query
                                .bind(*hi)
                                .bind(*lo)
                                .bind(*kind)
                                .bind(*at)
                                .bind(recorded);
                        }
                        query.execute(&mut *self.inner).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every event of one subject, oldest first.
    pub async fn disclosures_of(
        &mut self,
        subject_key: &str,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let (hi, lo) = subject_halves(subject_key)?;
        let rows = sqlx::query(
            "SELECT k.activity, k.recipient, k.categories, e.disclosed_at \
             FROM ledger_events e JOIN ledger_kinds k ON k.id = e.kind \
             WHERE e.subject_hi = $1 AND e.subject_lo = $2 ORDER BY e.disclosed_at",
        )
        .bind(hi)
        .bind(lo)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let fields: [String; 3] = [row.try_get(0)?, row.try_get(1)?, row.try_get(2)?];
                let at: i64 = row.try_get(3)?;
                read_disclosure(
                    "ledger_events",
                    subject_key,
                    [&fields[0], &fields[1], &fields[2]],
                    Timestamp::from_microsecond(at).map_err(|e| e.to_string()),
                )
            })
            .collect()
    }

    /// The kinds of disclosure of these activities: id, activity, recipient, categories.
    pub async fn ledger_kinds_of(
        &mut self,
        activities: &[String],
    ) -> Result<Vec<(i64, [String; 3])>, StoreError> {
        let mut found = Vec::new();
        for activity in activities {
            let rows = sqlx::query(
                "SELECT id, activity, recipient, categories FROM ledger_kinds WHERE activity = $1",
            )
            .bind(activity.clone())
            .fetch_all(&mut *self.inner)
            .await?;
            for row in &rows {
                found.push((
                    row.try_get(0)?,
                    [row.try_get(1)?, row.try_get(2)?, row.try_get(3)?],
                ));
            }
        }
        Ok(found)
    }

    /// Calls `each` with the subject (its two halves) of every event of `kind` disclosed
    /// between `from` and `until` (microseconds, inclusive), read as a stream: a breach may
    /// concern millions of events.
    pub async fn ledger_subjects_of_kind(
        &mut self,
        kind: i64,
        from: i64,
        until: i64,
        mut each: impl FnMut(i64, i64),
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt as _;
        let mut rows = sqlx::query(
            "SELECT subject_hi, subject_lo FROM ledger_events \
             WHERE kind = $1 AND disclosed_at >= $2 AND disclosed_at <= $3",
        )
        .bind(kind)
        .bind(from)
        .bind(until)
        .fetch(&mut *self.inner);
        while let Some(row) = rows.try_next().await? {
            each(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(())
    }

    /// Drops the subject index before a bulk load (rebuilt by [`Tx::build_ledger_index`], and
    /// by [`crate::Store::open`] should the load die first): appending without it and sorting
    /// once at the end is faster than keeping it in order row by row.
    pub async fn drop_ledger_index(&mut self) -> Result<(), StoreError> {
        sqlx::query("DROP INDEX IF EXISTS ledger_events_subject")
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn build_ledger_index(&mut self) -> Result<(), StoreError> {
        sqlx::query(LEDGER_INDEX).execute(&mut *self.inner).await?;
        Ok(())
    }

    /// Moves the rows of the first ledger table (`disclosures`, text keys and stamps) into
    /// `ledger_events`; returns how many.
    pub async fn move_legacy_disclosures(&mut self) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT subject_key, activity, recipient, categories, disclosed_at, recorded_at \
             FROM disclosures ORDER BY key",
        )
        .fetch_all(&mut *self.inner)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut by_recorded: Vec<(Timestamp, Disclosure)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let subject_key: String = row.try_get(0)?;
            let fields: [String; 3] = [row.try_get(1)?, row.try_get(2)?, row.try_get(3)?];
            let at: String = row.try_get(4)?;
            let recorded: String = row.try_get(5)?;
            let disclosure = read_disclosure(
                "disclosures",
                &subject_key,
                [&fields[0], &fields[1], &fields[2]],
                at.parse().map_err(|e: jiff::Error| e.to_string()),
            )?;
            let recorded = recorded
                .parse()
                .map_err(|e: jiff::Error| StoreError::Corrupt {
                    table: "disclosures",
                    slug: subject_key.clone(),
                    reason: e.to_string(),
                })?;
            by_recorded.push((recorded, disclosure));
        }
        for (recorded, disclosure) in &by_recorded {
            self.insert_disclosures(std::slice::from_ref(disclosure), *recorded)
                .await?;
        }
        sqlx::query("DELETE FROM disclosures")
            .execute(&mut *self.inner)
            .await?;
        Ok(by_recorded.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_keys_keep_their_first_128_bits_as_two_signed_integers() {
        let hex = format!(
            "{}{}{}",
            "ff".repeat(8),
            "0000000000000001",
            "ab".repeat(16)
        );
        assert_eq!(subject_halves(&hex).unwrap(), (-1, 1));
        assert!(subject_halves("zz").is_err());
        assert!(subject_halves(&"g".repeat(64)).is_err());
    }

    #[test]
    fn rows_are_encoded_as_binary_copy_tuples() {
        assert_eq!(COPY_HEADER.len(), 11 + 4 + 4);
        let encoded = copy_rows(&[[1, -2, 3, 4]], 5);
        assert_eq!(encoded.len(), 2 + 5 * (4 + 8));
        assert_eq!(encoded[..2], [0, 5]);
        assert_eq!(encoded[2..6], [0, 0, 0, 8]);
        assert_eq!(encoded[6..14], 1i64.to_be_bytes());
        assert_eq!(encoded[18..26], (-2i64).to_be_bytes());
        assert_eq!(encoded[54..62], 5i64.to_be_bytes());
    }

    #[test]
    fn rows_are_encoded_as_jsonb_arrays_of_integers() {
        // [[1,-20,300,4]]: an array (0xB) of one array of four integers (0x3).
        let encoded = jsonb_rows(&[[1, -20, 300, 4]]);
        let row = [
            0x13, b'1', 0x33, b'-', b'2', b'0', 0x33, b'3', b'0', b'0', 0x13, b'4',
        ];
        let mut expected = vec![0xCB, 12, 0xCB, row.len() as u8];
        expected.extend_from_slice(&row);
        expected[1] = (row.len() + 2) as u8;
        assert_eq!(encoded, expected);
        let mut long = Vec::new();
        jsonb_header(&mut long, JSONB_ARRAY, 70_000);
        assert_eq!(long, [0xEB, 0, 1, 0x11, 0x70]);
    }
}
