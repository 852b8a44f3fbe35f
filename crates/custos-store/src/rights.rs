//! Data-subject requests, their history, their Art. 19 notifications and the controllers'
//! data sources for portability.

use custos_core::rights::{NotificationState, RequestKind, RequestStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, corrupt};

/// A request as stored. `email` is `None` once it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubjectRequest {
    pub key: String,
    pub controller: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    /// `intake` (the public page), `staff` (the web UI or CLI), `api`.
    pub channel: String,
    pub email: Option<String>,
    pub subject_key: String,
    pub details: String,
    pub language: String,
    pub transmit_to: Option<String>,
    pub received_at: String,
    /// Dates (YYYY-MM-DD).
    pub deadline: String,
    pub extended_until: Option<String>,
    pub extension_reasons: Option<String>,
    pub verified_at: Option<String>,
    /// How the identity was verified: `email-link`, or staff's method and evidence.
    pub verification: Option<String>,
    pub token_hash: Option<String>,
    pub token_expires_at: Option<String>,
    pub token_attempts: i64,
    pub closed_at: Option<String>,
    pub outcome: Option<String>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubjectHistoryEntry {
    pub key: String,
    pub request_key: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub key: String,
    pub request_key: String,
    pub recipient: String,
    pub relayed_by: Option<String>,
    pub state: NotificationState,
    pub sent_at: Option<String>,
    /// The evidence (done), or the reason (failed, impossible).
    pub note: Option<String>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    pub key: String,
    pub organisation: String,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub created_at: String,
    pub created_by: String,
}

const REQUEST_COLUMNS: &str = "key, controller, kind, status, channel, email, subject_key, \
    details, language, transmit_to, received_at, deadline, extended_until, extension_reasons, \
    verified_at, verification, token_hash, token_expires_at, token_attempts, closed_at, outcome, \
    created_by";

fn subject_request(row: &AnyRow) -> Result<StoredSubjectRequest, StoreError> {
    let key: String = row.try_get(0)?;
    let kind: String = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    Ok(StoredSubjectRequest {
        controller: row.try_get(1)?,
        kind: kind
            .parse()
            .map_err(|e| corrupt("subject_requests", &key, e))?,
        status: status
            .parse()
            .map_err(|e| corrupt("subject_requests", &key, e))?,
        channel: row.try_get(4)?,
        email: row.try_get(5)?,
        subject_key: row.try_get(6)?,
        details: row.try_get(7)?,
        language: row.try_get(8)?,
        transmit_to: row.try_get(9)?,
        received_at: row.try_get(10)?,
        deadline: row.try_get(11)?,
        extended_until: row.try_get(12)?,
        extension_reasons: row.try_get(13)?,
        verified_at: row.try_get(14)?,
        verification: row.try_get(15)?,
        token_hash: row.try_get(16)?,
        token_expires_at: row.try_get(17)?,
        token_attempts: row.try_get(18)?,
        closed_at: row.try_get(19)?,
        outcome: row.try_get(20)?,
        created_by: row.try_get(21)?,
        key,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "key, request_key, recipient, relayed_by, state, sent_at, note, updated_at, updated_by";

fn notification(row: &AnyRow) -> Result<NotificationRow, StoreError> {
    let key: String = row.try_get(0)?;
    let state: String = row.try_get(4)?;
    Ok(NotificationRow {
        request_key: row.try_get(1)?,
        recipient: row.try_get(2)?,
        relayed_by: row.try_get(3)?,
        state: state
            .parse()
            .map_err(|e| corrupt("rights_notifications", &key, e))?,
        sent_at: row.try_get(5)?,
        note: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        updated_by: row.try_get(8)?,
        key,
    })
}

impl Tx {
    /// Inserts a request, or replaces the one with its key.
    pub async fn put_subject_request(
        &mut self,
        request: &StoredSubjectRequest,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO subject_requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
             ON CONFLICT (key) DO UPDATE SET status = excluded.status, email = excluded.email, \
             details = excluded.details, transmit_to = excluded.transmit_to, \
             deadline = excluded.deadline, extended_until = excluded.extended_until, \
             extension_reasons = excluded.extension_reasons, verified_at = excluded.verified_at, \
             verification = excluded.verification, token_hash = excluded.token_hash, \
             token_expires_at = excluded.token_expires_at, \
             token_attempts = excluded.token_attempts, closed_at = excluded.closed_at, \
             outcome = excluded.outcome"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request.key.clone())
            .bind(request.controller.clone())
            .bind(request.kind.as_str())
            .bind(request.status.as_str())
            .bind(request.channel.clone())
            .bind(request.email.clone())
            .bind(request.subject_key.clone())
            .bind(request.details.clone())
            .bind(request.language.clone())
            .bind(request.transmit_to.clone())
            .bind(request.received_at.clone())
            .bind(request.deadline.clone())
            .bind(request.extended_until.clone())
            .bind(request.extension_reasons.clone())
            .bind(request.verified_at.clone())
            .bind(request.verification.clone())
            .bind(request.token_hash.clone())
            .bind(request.token_expires_at.clone())
            .bind(request.token_attempts)
            .bind(request.closed_at.clone())
            .bind(request.outcome.clone())
            .bind(request.created_by.clone())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn subject_request(
        &mut self,
        key: &str,
    ) -> Result<Option<StoredSubjectRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM subject_requests WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(subject_request)
            .transpose()
    }

    /// The requests of the given controllers (all when `None`), newest first.
    pub async fn subject_requests(
        &mut self,
        controllers: Option<&[String]>,
    ) -> Result<Vec<StoredSubjectRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM subject_requests ORDER BY key DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter()
            .map(subject_request)
            .filter(|r| {
                r.as_ref().map_or(true, |r| {
                    controllers.is_none_or(|c| c.iter().any(|c| c == &r.controller))
                })
            })
            .collect()
    }

    /// How many requests came for one subject key since `since` (rate limiting the intake).
    pub async fn requests_of_subject_since(
        &mut self,
        subject_key: &str,
        since: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM subject_requests WHERE subject_key = $1 AND received_at >= $2",
        )
        .bind(subject_key.to_owned())
        .bind(since.to_owned())
        .fetch_one(&mut *self.inner)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Who handles the request now (`None` to leave it unassigned).
    pub async fn set_assignee(
        &mut self,
        request_key: &str,
        assignee: Option<&str>,
        at: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM subject_request_assignments WHERE request_key = $1")
            .bind(request_key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        if let Some(assignee) = assignee {
            sqlx::query(
                "INSERT INTO subject_request_assignments (request_key, assignee, assigned_at, \
                 assigned_by) VALUES ($1, $2, $3, $4)",
            )
            .bind(request_key.to_owned())
            .bind(assignee.to_owned())
            .bind(at.to_owned())
            .bind(by.to_owned())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(())
    }

    /// Keeps the hash of the secret that opens the subject's status page.
    pub async fn insert_status_link(
        &mut self,
        request_key: &str,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subject_request_status_links (request_key, token_hash) VALUES ($1, $2)",
        )
        .bind(request_key.to_owned())
        .bind(token_hash.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// The hash of the secret of the request's status page, if it has one.
    pub async fn status_link_hash(
        &mut self,
        request_key: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash FROM subject_request_status_links WHERE request_key = $1",
        )
        .bind(request_key.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// Every assignment: request key → assignee.
    pub async fn assignees(
        &mut self,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        sqlx::query("SELECT request_key, assignee FROM subject_request_assignments")
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    pub async fn insert_subject_history(
        &mut self,
        entry: &SubjectHistoryEntry,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subject_request_history (key, request_key, kind, body, at, by_actor) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.key.clone())
        .bind(entry.request_key.clone())
        .bind(entry.kind.clone())
        .bind(entry.body.to_string())
        .bind(entry.at.clone())
        .bind(entry.by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn subject_history(
        &mut self,
        request_key: &str,
    ) -> Result<Vec<SubjectHistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, request_key, kind, body, at, by_actor FROM subject_request_history \
             WHERE request_key = $1 ORDER BY key",
        )
        .bind(request_key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0)?;
                let body: String = row.try_get(3)?;
                Ok(SubjectHistoryEntry {
                    body: serde_json::from_str(&body)
                        .map_err(|e| corrupt("subject_request_history", &key, e))?,
                    request_key: row.try_get(1)?,
                    kind: row.try_get(2)?,
                    at: row.try_get(4)?,
                    by: row.try_get(5)?,
                    key,
                })
            })
            .collect()
    }

    /// Inserts notifications, or updates those with their keys.
    pub async fn put_notifications(
        &mut self,
        notifications: &[NotificationRow],
    ) -> Result<(), StoreError> {
        for n in notifications {
            let sql = format!(
                "INSERT INTO rights_notifications ({NOTIFICATION_COLUMNS}) VALUES ($1, $2, $3, $4, \
                 $5, $6, $7, $8, $9) ON CONFLICT (key) DO UPDATE SET state = excluded.state, \
                 sent_at = excluded.sent_at, note = excluded.note, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(n.key.clone())
                .bind(n.request_key.clone())
                .bind(n.recipient.clone())
                .bind(n.relayed_by.clone())
                .bind(n.state.as_str())
                .bind(n.sent_at.clone())
                .bind(n.note.clone())
                .bind(n.updated_at.clone())
                .bind(n.updated_by.clone())
                .execute(&mut *self.inner)
                .await?;
        }
        Ok(())
    }

    /// The notifications of a request, in the order they were planned (parents first).
    pub async fn notifications_of(
        &mut self,
        request_key: &str,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        self.notifications_where("request_key = $1 ORDER BY key", request_key)
            .await
    }

    /// The notifications addressed to `recipient`, newest first.
    pub async fn notifications_to(
        &mut self,
        recipient: &str,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        self.notifications_where("recipient = $1 ORDER BY key DESC", recipient)
            .await
    }

    /// The notifications `relayer` relays to the processors it engaged, newest first.
    pub async fn notifications_relayed_by(
        &mut self,
        relayer: &str,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        self.notifications_where("relayed_by = $1 ORDER BY key DESC", relayer)
            .await
    }

    async fn notifications_where(
        &mut self,
        condition: &'static str,
        value: &str,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let sql =
            format!("SELECT {NOTIFICATION_COLUMNS} FROM rights_notifications WHERE {condition}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.to_owned())
            .fetch_all(&mut *self.inner)
            .await?;
        rows.iter().map(notification).collect()
    }

    pub async fn notification(&mut self, key: &str) -> Result<Option<NotificationRow>, StoreError> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM rights_notifications WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(notification)
            .transpose()
    }

    /// Erases `text` (a subject's address) from what the outbox keeps about `subject`: event
    /// payloads, delivery targets and attempt errors, replacing it with `replacement`.
    pub async fn erase_from_outbox(
        &mut self,
        subject: &str,
        text: &str,
        replacement: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox_events SET payload = REPLACE(payload, $2, $3) WHERE subject = $1",
        )
        .bind(subject.to_owned())
        .bind(text.to_owned())
        .bind(replacement.to_owned())
        .execute(&mut *self.inner)
        .await?;
        sqlx::query(
            "UPDATE deliveries SET target = REPLACE(target, $2, $3), \
             last_error = REPLACE(last_error, $2, $3) WHERE subject = $1",
        )
        .bind(subject.to_owned())
        .bind(text.to_owned())
        .bind(replacement.to_owned())
        .execute(&mut *self.inner)
        .await?;
        sqlx::query(
            "UPDATE delivery_attempts SET error = REPLACE(error, $2, $3) WHERE delivery_key IN \
             (SELECT key FROM deliveries WHERE subject = $1)",
        )
        .bind(subject.to_owned())
        .bind(text.to_owned())
        .bind(replacement.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Deliveries about `subject` not yet sent (nor given up).
    pub async fn pending_deliveries_of(&mut self, subject: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM deliveries WHERE subject = $1 AND state IN ('pending', 'held')",
        )
        .bind(subject.to_owned())
        .fetch_one(&mut *self.inner)
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn insert_data_source(&mut self, source: &DataSource) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO data_sources (key, organisation, name, url, secret, created_at, \
             created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(source.key.clone())
        .bind(source.organisation.clone())
        .bind(source.name.clone())
        .bind(source.url.clone())
        .bind(source.secret.clone())
        .bind(source.created_at.clone())
        .bind(source.created_by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn data_sources(
        &mut self,
        organisation: &str,
    ) -> Result<Vec<DataSource>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, organisation, name, url, secret, created_at, created_by FROM data_sources \
             WHERE organisation = $1 ORDER BY name",
        )
        .bind(organisation.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DataSource {
                    key: row.try_get(0)?,
                    organisation: row.try_get(1)?,
                    name: row.try_get(2)?,
                    url: row.try_get(3)?,
                    secret: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                    created_by: row.try_get(6)?,
                })
            })
            .collect()
    }
}
