//! The audit log's rows: append sealed entries in the use case's transaction, read them back
//! in order.

use custos_core::audit::{AuditEntry, NewAuditEntry};
use sqlx::any::AnyRow;
// SQL text here is built only from constant column names and placeholders; values are bound.
use sqlx::{
    Any, Arguments, AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments,
    Row, Type,
};

use crate::{Backend, StoreError, Tx};

const COLUMNS: &str = "seq, at, actor, action, object_kind, object_id, scope, before_body, \
                       after_body, prev_hash, hash";
const WIDTH: usize = 11;
/// 11 columns x 500 rows: under SQLite's 32,766 parameters.
const ROWS_PER_INSERT: usize = 500;

/// Appends `entries` after the last one on `connection` (inside its transaction), chaining
/// their hashes; returns the new head's seq. The head row is locked first, so concurrent
/// writers append one after the other. Generic over the driver: the register's transactions
/// are `Any`, the ledger's COPY batches native PostgreSQL, and both append here.
pub(crate) async fn append_on<DB>(
    connection: &mut DB::Connection,
    backend: Backend,
    entries: Vec<NewAuditEntry>,
) -> Result<u64, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // A no-op update takes the row lock on PostgreSQL; SQLite already holds the write lock.
    sqlx::query::<DB>("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *connection)
        .await?;
    let (mut seq, mut previous) = head_on::<DB>(&mut *connection).await?;
    let sealed: Vec<AuditEntry> = entries
        .into_iter()
        .map(|entry| {
            seq += 1;
            let sealed = entry.seal(seq, &previous);
            previous.clone_from(&sealed.hash);
            sealed
        })
        .collect();
    for batch in sealed.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES {}",
            crate::values_rows(backend, batch.len(), WIDTH)
        );
        let mut arguments = DB::Arguments::default();
        for entry in batch {
            let seq = i64::try_from(entry.seq).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            arguments.add(seq).map_err(sqlx::Error::Encode)?;
            for text in [
                &entry.at,
                &entry.actor,
                &entry.action,
                &entry.object_kind,
                &entry.object_id,
                &entry.scope,
            ] {
                arguments.add(text.clone()).map_err(sqlx::Error::Encode)?;
            }
            for body in [&entry.before, &entry.after] {
                arguments.add(body.clone()).map_err(sqlx::Error::Encode)?;
            }
            for hash in [&entry.prev_hash, &entry.hash] {
                arguments.add(hash.clone()).map_err(sqlx::Error::Encode)?;
            }
        }
        sqlx::query_with::<DB, _>(AssertSqlSafe(sql), arguments)
            .execute(&mut *connection)
            .await?;
    }
    let head = i64::try_from(seq).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query::<DB>("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(head)
        .bind(previous)
        .execute(&mut *connection)
        .await?;
    Ok(seq)
}

/// The last entry's seq and hash, as the head row records them (0 and the genesis hash for an
/// empty log).
async fn head_on<DB>(connection: &mut DB::Connection) -> Result<(u64, String), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    String: for<'r> Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query::<DB>("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *connection)
        .await?;
    let seq: i64 = row.try_get(0)?;
    Ok((u64::try_from(seq).unwrap_or(0), row.try_get(1)?))
}

impl Tx {
    /// Appends `entries` after the last one (see [`append_on`]); returns the new head's seq.
    pub async fn append_audit(&mut self, entries: Vec<NewAuditEntry>) -> Result<u64, StoreError> {
        append_on::<Any>(&mut self.inner, self.backend, entries).await
    }

    /// The last entry's seq and hash, as the head row records them (0 and the genesis hash
    /// for an empty log).
    pub async fn audit_head(&mut self) -> Result<(u64, String), StoreError> {
        head_on::<Any>(&mut self.inner).await
    }

    /// Up to `limit` entries after `after_seq`, in order.
    pub async fn audit_entries(
        &mut self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(entry).collect()
    }

    /// Up to `limit` entries before `before_seq` (none: from the head), newest first.
    pub async fn audit_entries_before(
        &mut self,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2");
        let before = before_seq.map_or(i64::MAX, |s| i64::try_from(s).unwrap_or(i64::MAX));
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(entry).collect()
    }
}

fn entry(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let seq: i64 = row.try_get(0)?;
    Ok(AuditEntry {
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt {
            table: "audit_log",
            slug: seq.to_string(),
            reason: "negative seq".into(),
        })?,
        at: row.try_get(1)?,
        actor: row.try_get(2)?,
        action: row.try_get(3)?,
        object_kind: row.try_get(4)?,
        object_id: row.try_get(5)?,
        scope: row.try_get(6)?,
        before: row.try_get(7)?,
        after: row.try_get(8)?,
        prev_hash: row.try_get(9)?,
        hash: row.try_get(10)?,
    })
}
