//! The disclosure ledger's rows and the instance's secrets.
//!
//! Rows are compact (`ledger_events`): the subject key as 32 bytes, times as integer
//! microseconds. SQLite takes a batch as one JSON text expanded by `json_each` (one bound
//! value per batch instead of six per row: the per-value cost of binding dominated bulk
//! loads); PostgreSQL takes multi-row `VALUES`.

use std::fmt::Write as _;

use custos_core::ledger::Disclosure;
use jiff::Timestamp;
use sqlx::Row;

use crate::{Backend, StoreError, Tx, values_rows};

/// Events a statement.
const CHUNK: usize = 10_000;

fn subject_bytes(hex: &str) -> Result<Vec<u8>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        table: "ledger_events",
        slug: "new row".to_owned(),
        reason: "a subject key is 64 hexadecimal digits".to_owned(),
    };
    if hex.len() != 64 {
        return Err(corrupt());
    }
    (0..32)
        .map(|i| {
            u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(corrupt)?, 16)
                .map_err(|_| corrupt())
        })
        .collect()
}

#[cfg(test)]
fn subject_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// A slug or space-joined slugs as a JSON string (they hold no character JSON escapes).
fn json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
        let recorded = recorded_at.as_microsecond();
        for chunk in events.chunks(CHUNK) {
            match self.backend {
                Backend::Sqlite => {
                    let mut batch = String::with_capacity(chunk.len() * 160);
                    batch.push('[');
                    for (i, event) in chunk.iter().enumerate() {
                        if event.subject_key.len() != 64
                            || !event.subject_key.bytes().all(|b| b.is_ascii_hexdigit())
                        {
                            return Err(StoreError::Corrupt {
                                table: "ledger_events",
                                slug: "new row".to_owned(),
                                reason: "a subject key is 64 hexadecimal digits".to_owned(),
                            });
                        }
                        if i > 0 {
                            batch.push(',');
                        }
                        batch.push_str("[\"");
                        batch.push_str(&event.subject_key);
                        batch.push_str("\",");
                        json_str(&mut batch, event.activity.as_str());
                        batch.push(',');
                        json_str(&mut batch, event.recipient.as_str());
                        batch.push(',');
                        let categories: Vec<&str> =
                            event.categories.iter().map(|c| c.as_str()).collect();
                        json_str(&mut batch, &categories.join(" "));
                        let _ = write!(batch, ",{}]", event.at.as_microsecond());
                    }
                    batch.push(']');
                    sqlx::query(
                        "INSERT INTO ledger_events (subject, activity, recipient, categories, \
                         disclosed_at, recorded_at) SELECT unhex(value ->> 0), value ->> 1, \
                         value ->> 2, value ->> 3, value ->> 4, ?2 FROM json_each(?1)",
                    )
                    .bind(batch)
                    .bind(recorded)
                    .execute(&mut *self.inner)
                    .await?;
                }
                Backend::Postgres => {
                    const WIDTH: usize = 6;
                    for rows in chunk.chunks(1000) {
                        let sql = format!(
                            "INSERT INTO ledger_events (subject, activity, recipient, categories, \
                             disclosed_at, recorded_at) VALUES {}",
                            values_rows(self.backend, rows.len(), WIDTH)
                        );
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for event in rows {
                            let categories: Vec<&str> =
                                event.categories.iter().map(|c| c.as_str()).collect();
                            query = query
                                .bind(subject_bytes(&event.subject_key)?)
                                .bind(event.activity.to_string())
                                .bind(event.recipient.to_string())
                                .bind(categories.join(" "))
                                .bind(event.at.as_microsecond())
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
        let rows = sqlx::query(
            "SELECT activity, recipient, categories, disclosed_at FROM ledger_events \
             WHERE subject = $1 ORDER BY disclosed_at",
        )
        .bind(subject_bytes(subject_key)?)
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let corrupt = |reason: String| StoreError::Corrupt {
                    table: "ledger_events",
                    slug: subject_key.to_owned(),
                    reason,
                };
                let activity: String = row.try_get(0)?;
                let recipient: String = row.try_get(1)?;
                let categories: String = row.try_get(2)?;
                let at: i64 = row.try_get(3)?;
                Ok(Disclosure {
                    subject_key: subject_key.to_owned(),
                    activity: activity.parse().map_err(|e| corrupt(format!("{e}")))?,
                    recipient: recipient.parse().map_err(|e| corrupt(format!("{e}")))?,
                    categories: categories
                        .split(' ')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.parse().map_err(|e| corrupt(format!("{e}"))))
                        .collect::<Result<_, _>>()?,
                    at: Timestamp::from_microsecond(at).map_err(|e| corrupt(format!("{e}")))?,
                })
            })
            .collect()
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
            let corrupt = |reason: String| StoreError::Corrupt {
                table: "disclosures",
                slug: subject_key.clone(),
                reason,
            };
            let activity: String = row.try_get(1)?;
            let recipient: String = row.try_get(2)?;
            let categories: String = row.try_get(3)?;
            let at: String = row.try_get(4)?;
            let recorded: String = row.try_get(5)?;
            by_recorded.push((
                recorded.parse().map_err(|e| corrupt(format!("{e}")))?,
                Disclosure {
                    activity: activity.parse().map_err(|e| corrupt(format!("{e}")))?,
                    recipient: recipient.parse().map_err(|e| corrupt(format!("{e}")))?,
                    categories: categories
                        .split(' ')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.parse().map_err(|e| corrupt(format!("{e}"))))
                        .collect::<Result<_, _>>()?,
                    at: at.parse().map_err(|e| corrupt(format!("{e}")))?,
                    subject_key: subject_key.clone(),
                },
            ));
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
    fn subject_keys_go_to_bytes_and_back() {
        let hex = "00ff10ab".repeat(8);
        assert_eq!(subject_hex(&subject_bytes(&hex).unwrap()), hex);
        assert!(subject_bytes("zz").is_err());
        let mut out = String::new();
        json_str(&mut out, "a\"b\\c\n");
        assert_eq!(out, "\"a\\\"b\\\\c\\u000a\"");
    }
}
