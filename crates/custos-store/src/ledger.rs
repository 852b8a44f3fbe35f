//! The disclosure ledger's rows and the instance's secrets.

use custos_core::ledger::Disclosure;
use sqlx::Row;

use crate::{StoreError, Tx, values_rows};

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

    /// Appends events, many rows a statement. `disclosed_at` and `recorded_at` are stamps.
    pub async fn insert_disclosures(
        &mut self,
        events: &[(Disclosure, String)],
        recorded_at: &str,
    ) -> Result<(), StoreError> {
        const WIDTH: usize = 7;
        for chunk in events.chunks(1000) {
            let sql = format!(
                "INSERT INTO disclosures (key, subject_key, activity, recipient, categories, \
                 disclosed_at, recorded_at) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (event, disclosed_at) in chunk {
                let categories: Vec<&str> = event.categories.iter().map(|c| c.as_str()).collect();
                query = query
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(event.subject_key.clone())
                    .bind(event.activity.to_string())
                    .bind(event.recipient.to_string())
                    .bind(categories.join(" "))
                    .bind(disclosed_at.clone())
                    .bind(recorded_at.to_owned());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    /// Every event of one subject, oldest first.
    pub async fn disclosures_of(
        &mut self,
        subject_key: &str,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, activity, recipient, categories, disclosed_at FROM disclosures \
             WHERE subject_key = $1 ORDER BY disclosed_at, key",
        )
        .bind(subject_key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0)?;
                let corrupt = |reason: String| StoreError::Corrupt {
                    table: "disclosures",
                    slug: key.clone(),
                    reason,
                };
                let activity: String = row.try_get(1)?;
                let recipient: String = row.try_get(2)?;
                let categories: String = row.try_get(3)?;
                let at: String = row.try_get(4)?;
                Ok(Disclosure {
                    subject_key: subject_key.to_owned(),
                    activity: activity.parse().map_err(|e| corrupt(format!("{e}")))?,
                    recipient: recipient.parse().map_err(|e| corrupt(format!("{e}")))?,
                    categories: categories
                        .split(' ')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.parse().map_err(|e| corrupt(format!("{e}"))))
                        .collect::<Result<_, _>>()?,
                    at: at.parse().map_err(|e| corrupt(format!("{e}")))?,
                })
            })
            .collect()
    }
}
