//! The transactional outbox and what drains it: events written with the change they report,
//! a delivery per event and target (webhook endpoint or e-mail address), webhook
//! subscriptions, and timers. Workers claim due rows with a lease (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so that replicas share the work), commit, send, then record.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, StoreError, Tx, values_rows};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// UUIDv7: time-ordered, and the `webhook-id` of every delivery of the event.
    pub key: String,
    /// `change_request.filed`, ...
    pub kind: String,
    /// What the event is about (a change request's key): deliveries keep its order.
    pub subject: String,
    /// Organisations whose people may see it.
    pub scope: String,
    pub payload: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub key: String,
    pub event_key: String,
    /// `webhook` (target: a subscription's key) or `email` (target: an address).
    pub channel: String,
    pub target: String,
    pub subject: String,
    pub language: String,
    /// The zone an e-mail's times are written in (IANA); none, UTC.
    pub time_zone: Option<String>,
    pub next_attempt_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub key: String,
    pub organisation: String,
    pub url: String,
    pub secret: String,
    /// The event types it wants; empty: all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

impl Subscription {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type)
    }
}

/// A delivery claimed for sending, with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub key: String,
    pub channel: String,
    pub target: String,
    pub language: String,
    pub time_zone: Option<String>,
    pub attempts: u32,
    pub event_key: String,
    pub event_type: String,
    pub subject: String,
    pub payload: String,
    pub created_at: String,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub key: String,
    pub event_key: String,
    pub event_type: String,
    pub channel: String,
    pub target: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub key: String,
    /// `deadline` or `reminder`.
    pub kind: String,
    /// What it is about (a change request's key) and for whom (a controller).
    pub subject: String,
    pub party: String,
    pub due_at: String,
}

fn subscription(row: &AnyRow) -> Result<Subscription, StoreError> {
    let types: String = row.try_get(4)?;
    let enabled: i32 = row.try_get(5)?;
    Ok(Subscription {
        key: row.try_get(0)?,
        organisation: row.try_get(1)?,
        url: row.try_get(2)?,
        secret: row.try_get(3)?,
        event_types: serde_json::from_str(&types).unwrap_or_default(),
        enabled: enabled != 0,
        disabled_reason: row.try_get(6)?,
        created_at: row.try_get(7)?,
        created_by: row.try_get(8)?,
    })
}

const SUBSCRIPTION_COLUMNS: &str =
    "key, organisation, url, secret, event_types, enabled, disabled_reason, created_at, created_by";

impl Tx {
    pub async fn insert_events(&mut self, events: &[NewEvent]) -> Result<(), StoreError> {
        const WIDTH: usize = 6;
        for chunk in events.chunks(500) {
            let sql = format!(
                "INSERT INTO outbox_events (key, type, subject, scope, payload, created_at) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(event.key.clone())
                    .bind(event.kind.clone())
                    .bind(event.subject.clone())
                    .bind(event.scope.clone())
                    .bind(event.payload.to_string())
                    .bind(event.created_at.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn insert_deliveries(
        &mut self,
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError> {
        const WIDTH: usize = 8;
        for chunk in deliveries.chunks(500) {
            let sql = format!(
                "INSERT INTO deliveries (key, event_key, channel, target, subject, language, \
                 time_zone, next_attempt_at, state, attempts) VALUES {}",
                // The last two columns are constants of every new delivery.
                values_rows(self.backend, chunk.len(), WIDTH).replace(')', ", 'pending', 0)")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for delivery in chunk {
                query = query
                    .bind(delivery.key.clone())
                    .bind(delivery.event_key.clone())
                    .bind(delivery.channel.clone())
                    .bind(delivery.target.clone())
                    .bind(delivery.subject.clone())
                    .bind(delivery.language.clone())
                    .bind(delivery.time_zone.clone())
                    .bind(delivery.next_attempt_at.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn insert_subscription(
        &mut self,
        subscription: &Subscription,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (key, organisation, url, secret, event_types, \
             enabled, disabled_reason, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(subscription.key.clone())
        .bind(subscription.organisation.clone())
        .bind(subscription.url.clone())
        .bind(subscription.secret.clone())
        .bind(serde_json::to_string(&subscription.event_types).unwrap_or_else(|_| "[]".into()))
        .bind(i32::from(subscription.enabled))
        .bind(subscription.disabled_reason.clone())
        .bind(subscription.created_at.clone())
        .bind(subscription.created_by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn subscription(&mut self, key: &str) -> Result<Option<Subscription>, StoreError> {
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(subscription)
            .transpose()
    }

    /// Every subscription, or those of one organisation.
    pub async fn subscriptions(
        &mut self,
        organisation: Option<&str>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let sql = match organisation {
            Some(_) => format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE organisation = $1 ORDER BY key"
            ),
            None => {
                format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY key")
            }
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(org) = organisation {
            query = query.bind(org.to_owned());
        }
        query
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(subscription)
            .collect()
    }

    /// Turns a subscription off (with why) or on; on again, its held and failed deliveries
    /// are due at `now`, from their first attempt: nothing is dropped.
    pub async fn set_subscription_enabled(
        &mut self,
        key: &str,
        enabled: bool,
        reason: Option<&str>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET enabled = $2, disabled_reason = $3 WHERE key = $1",
        )
        .bind(key.to_owned())
        .bind(i32::from(enabled))
        .bind(reason.map(str::to_owned))
        .execute(&mut *self.inner)
        .await?;
        if enabled {
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2, \
                 lease_until = NULL WHERE channel = 'webhook' AND target = $1 \
                 AND state IN ('held', 'failed')",
            )
            .bind(key.to_owned())
            .bind(now.to_owned())
            .execute(&mut *self.inner)
            .await?;
        } else {
            sqlx::query(
                "UPDATE deliveries SET state = 'held', lease_until = NULL \
                 WHERE channel = 'webhook' AND target = $1 AND state = 'pending'",
            )
            .bind(key.to_owned())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(done.rows_affected() > 0)
    }

    /// Sends a failed delivery to a webhook endpoint again: due at `now`, its attempts counted
    /// anew. Whether there was one (of that endpoint, failed).
    pub async fn replay_delivery(
        &mut self,
        subscription: &str,
        delivery: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, \
             lease_until = NULL WHERE key = $2 AND channel = 'webhook' AND target = $1 \
             AND state = 'failed'",
        )
        .bind(subscription.to_owned())
        .bind(delivery.to_owned())
        .bind(now.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Claims up to `limit` due deliveries until `lease_until`: the oldest first, and for each
    /// target and subject only the oldest undelivered one (order per subject is kept).
    pub async fn claim_deliveries(
        &mut self,
        now: &str,
        lease_until: &str,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1 WHERE key IN (\
               SELECT d.key FROM deliveries d WHERE d.state = 'pending' \
               AND d.next_attempt_at <= $2 AND (d.lease_until IS NULL OR d.lease_until < $2) \
               AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.channel = d.channel \
                 AND e.target = d.target AND e.subject = d.subject \
                 AND e.state <> 'delivered' AND e.event_key < d.event_key) \
               ORDER BY d.event_key LIMIT $3 {lock}) \
             RETURNING key"
        );
        let keys: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_until.to_owned())
            .bind(now.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT d.key, d.channel, d.target, d.language, d.attempts, e.key, e.type, e.subject, \
             e.payload, e.created_at, d.time_zone FROM deliveries d \
             JOIN outbox_events e ON e.key = d.event_key \
             WHERE d.key IN ({}) ORDER BY e.key",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(key);
        }
        query
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(|row| {
                let attempts: i64 = row.try_get(4)?;
                Ok(ClaimedDelivery {
                    key: row.try_get(0)?,
                    channel: row.try_get(1)?,
                    target: row.try_get(2)?,
                    language: row.try_get(3)?,
                    time_zone: row.try_get(10)?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    event_key: row.try_get(5)?,
                    event_type: row.try_get(6)?,
                    subject: row.try_get(7)?,
                    payload: row.try_get(8)?,
                    created_at: row.try_get(9)?,
                })
            })
            .collect()
    }

    /// Records an attempt: delivered, due again at `next_attempt_at`, or failed for good
    /// (`next_attempt_at` none).
    pub async fn record_attempt(
        &mut self,
        key: &str,
        attempt: u32,
        at: &str,
        status: Option<u16>,
        error: Option<&str>,
        outcome: AttemptOutcome<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO delivery_attempts (key, delivery_key, attempt, at, status, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(key.to_owned())
        .bind(i64::from(attempt))
        .bind(at.to_owned())
        .bind(status.map(i64::from))
        .bind(error.map(str::to_owned))
        .execute(&mut *self.inner)
        .await?;
        let (state, next, delivered_at) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, Some(at)),
            AttemptOutcome::Retry { at: next } => ("pending", Some(next), None),
            AttemptOutcome::Failed => ("failed", None, None),
        };
        sqlx::query(
            "UPDATE deliveries SET state = $2, attempts = $3, \
             next_attempt_at = COALESCE($4, next_attempt_at), lease_until = NULL, \
             last_status = $5, last_error = $6, delivered_at = $7 WHERE key = $1",
        )
        .bind(key.to_owned())
        .bind(state)
        .bind(i64::from(attempt))
        .bind(next.map(str::to_owned))
        .bind(status.map(i64::from))
        .bind(error.map(str::to_owned))
        .bind(delivered_at.map(str::to_owned))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// The latest deliveries to a target (a subscription's key or an address), newest first.
    pub async fn deliveries_to(
        &mut self,
        target: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        sqlx::query(
            "SELECT d.key, d.event_key, e.type, d.channel, d.target, d.state, d.attempts, \
             d.next_attempt_at, d.last_status, d.last_error, d.delivered_at FROM deliveries d \
             JOIN outbox_events e ON e.key = d.event_key WHERE d.target = $1 \
             ORDER BY d.event_key DESC LIMIT $2",
        )
        .bind(target.to_owned())
        .bind(i64::from(limit))
        .fetch_all(&mut *self.inner)
        .await?
        .iter()
        .map(|row| {
            let attempts: i64 = row.try_get(6)?;
            Ok(DeliveryRecord {
                key: row.try_get(0)?,
                event_key: row.try_get(1)?,
                event_type: row.try_get(2)?,
                channel: row.try_get(3)?,
                target: row.try_get(4)?,
                state: row.try_get(5)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                next_attempt_at: row.try_get(7)?,
                last_status: row.try_get(8)?,
                last_error: row.try_get(9)?,
                delivered_at: row.try_get(10)?,
            })
        })
        .collect()
    }

    pub async fn insert_timers(&mut self, timers: &[Timer]) -> Result<(), StoreError> {
        const WIDTH: usize = 5;
        for chunk in timers.chunks(500) {
            let sql = format!(
                "INSERT INTO timers (key, kind, subject, party, due_at) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for timer in chunk {
                query = query
                    .bind(timer.key.clone())
                    .bind(timer.kind.clone())
                    .bind(timer.subject.clone())
                    .bind(timer.party.clone())
                    .bind(timer.due_at.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    /// Due timers, locked for this transaction (skipped by other workers on PostgreSQL): the
    /// caller fires them and marks them fired in the same transaction, so each fires once.
    pub async fn due_timers(&mut self, now: &str, limit: u32) -> Result<Vec<Timer>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT key, kind, subject, party, due_at FROM timers \
             WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at, key LIMIT $2 {lock}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(|row| {
                Ok(Timer {
                    key: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    subject: row.try_get(2)?,
                    party: row.try_get(3)?,
                    due_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn mark_timer_fired(&mut self, key: &str, at: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE timers SET fired_at = $2 WHERE key = $1")
            .bind(key.to_owned())
            .bind(at.to_owned())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    /// Cancels the timers of a party of a subject that have not fired (its decision came): they
    /// are marked as done, with the word `cancelled`, so that the row says why it never fired.
    pub async fn cancel_timers(
        &mut self,
        subject: &str,
        party: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE timers SET fired_at = $3 WHERE subject = $1 AND party = $2 AND fired_at IS NULL",
        )
        .bind(subject.to_owned())
        .bind(party.to_owned())
        .bind(format!("cancelled {at}"))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }
}

/// What became of a delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome<'a> {
    Delivered,
    Retry { at: &'a str },
    Failed,
}
