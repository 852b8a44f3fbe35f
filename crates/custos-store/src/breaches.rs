//! Personal-data breaches: the breach and its phases, the hops up the chain, one case per
//! controller, the history. Rows are parsed again on the way out (the database is an edge);
//! times are fixed-width UTC stamps so that text order is time order on both backends.

use custos_core::breach::{Assessment, BreachFacts, CaseScope, Decision, Hop, Route};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, corrupt, values_rows};

/// Rows a multi-row statement.
const CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBreach {
    pub key: String,
    /// Where it happened.
    pub party: String,
    /// The facts as the latest phase states them.
    pub facts: BreachFacts,
    pub version: u32,
    pub routes: Vec<Route>,
    pub reported_at: String,
    pub reported_by: String,
}

/// One phase of the facts: the report (version 1) or a follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachPhase {
    pub breach_key: String,
    pub version: u32,
    /// The party that brought it.
    pub organisation: String,
    pub note: String,
    pub facts: BreachFacts,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHop {
    pub breach_key: String,
    pub hop: Hop,
    /// When the sender passed it on (none until it has).
    pub received_at: Option<String>,
    /// Who passed it on: a person of the sender, or Custos for a sender with nobody on the
    /// instance.
    pub relayed_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

/// A filing with the supervisory authority: one phase of the notification (Art. 33(4)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Filing {
    /// The version of the facts that was filed.
    pub version: u32,
    /// When the controller submitted it.
    pub submitted_at: String,
    /// The authority's reference, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub recorded_at: String,
    pub recorded_by: String,
}

/// The communication to the data subjects (Art. 34).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Communication {
    pub sent_at: String,
    /// How: e-mail, letter, public communication (34(3)(c)).
    pub channel: String,
    /// How many subjects it reached, when counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<u64>,
    pub recorded_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredCase {
    pub breach_key: String,
    pub scope: CaseScope,
    /// When the controller became aware: the report reaching it, or its own record.
    pub aware_at: Option<String>,
    /// `reported` (it reported the breach itself), `relayed`, or `recorded`.
    pub awareness: Option<String>,
    pub deadline: Option<String>,
    pub assessment: Option<Assessment>,
    pub decision: Option<Decision>,
    pub decided_at: Option<String>,
    pub filings: Vec<Filing>,
    pub communication: Option<Communication>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreachHistoryEntry {
    pub key: String,
    pub breach_key: String,
    pub organisation: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub at: String,
    pub by: String,
}

fn to_json<T: Serialize>(table: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt(table, "new row", e))
}

fn from_json<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    key: &str,
    raw: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt(table, key, e))
}

fn optional_json<T: for<'de> Deserialize<'de>>(
    table: &'static str,
    key: &str,
    raw: Option<String>,
) -> Result<Option<T>, StoreError> {
    raw.map(|r| from_json(table, key, &r)).transpose()
}

fn version(table: &'static str, key: &str, raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|e| corrupt(table, key, e))
}

const BREACH_COLUMNS: &str = "key, party, facts, version, routes, reported_at, reported_by";

fn breach(row: &AnyRow) -> Result<StoredBreach, StoreError> {
    let key: String = row.try_get(0)?;
    let facts: String = row.try_get(2)?;
    let routes: String = row.try_get(4)?;
    Ok(StoredBreach {
        party: row.try_get(1)?,
        facts: from_json("breaches", &key, &facts)?,
        version: version("breaches", &key, row.try_get(3)?)?,
        routes: from_json("breaches", &key, &routes)?,
        reported_at: row.try_get(5)?,
        reported_by: row.try_get(6)?,
        key,
    })
}

const HOP_COLUMNS: &str =
    "breach_key, sender, recipient, hop, received_at, relayed_by, acknowledged_at";

fn hop(row: &AnyRow) -> Result<StoredHop, StoreError> {
    let key: String = row.try_get(0)?;
    let hop: String = row.try_get(3)?;
    Ok(StoredHop {
        hop: from_json("breach_hops", &key, &hop)?,
        received_at: row.try_get(4)?,
        relayed_by: row.try_get(5)?,
        acknowledged_at: row.try_get(6)?,
        breach_key: key,
    })
}

/// A case's JSON columns, as written.
struct CaseJson {
    assessment: Option<String>,
    decision: Option<String>,
    filings: String,
    communication: Option<String>,
}

impl CaseJson {
    fn of(case: &StoredCase) -> Result<Self, StoreError> {
        Ok(Self {
            assessment: case
                .assessment
                .as_ref()
                .map(|a| to_json("breach_cases", a))
                .transpose()?,
            decision: case
                .decision
                .as_ref()
                .map(|d| to_json("breach_cases", d))
                .transpose()?,
            filings: to_json("breach_cases", &case.filings)?,
            communication: case
                .communication
                .as_ref()
                .map(|c| to_json("breach_cases", c))
                .transpose()?,
        })
    }
}

const CASE_COLUMNS: &str = "breach_key, controller, scope, aware_at, awareness, deadline, assessment, decision, decided_at, filings, communication";

fn case(row: &AnyRow) -> Result<StoredCase, StoreError> {
    let key: String = row.try_get(0)?;
    let scope: String = row.try_get(2)?;
    let filings: String = row.try_get(9)?;
    Ok(StoredCase {
        scope: from_json("breach_cases", &key, &scope)?,
        aware_at: row.try_get(3)?,
        awareness: row.try_get(4)?,
        deadline: row.try_get(5)?,
        assessment: optional_json("breach_cases", &key, row.try_get(6)?)?,
        decision: optional_json("breach_cases", &key, row.try_get(7)?)?,
        decided_at: row.try_get(8)?,
        filings: from_json("breach_cases", &key, &filings)?,
        communication: optional_json("breach_cases", &key, row.try_get(10)?)?,
        breach_key: key,
    })
}

impl Tx {
    /// Organisations with someone on the instance who acts for them in the portal or above
    /// (a viewer cannot relay a breach).
    pub async fn organisations_with_people(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT organisation FROM memberships WHERE role IN ('portal', 'editor', 'admin') \
             ORDER BY organisation",
        )
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Replaces the target of every delivery about `subject` (the addresses a communication
    /// went to) with `replacement` and the delivery's key, and drops the errors recorded
    /// with them.
    pub async fn erase_delivery_targets(
        &mut self,
        subject: &str,
        replacement: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE delivery_attempts SET error = NULL WHERE delivery_key IN \
             (SELECT key FROM deliveries WHERE subject = $1)",
        )
        .bind(subject.to_owned())
        .execute(&mut *self.inner)
        .await?;
        // Each target stays unique within its event and channel (the table's constraint).
        sqlx::query(
            "UPDATE deliveries SET target = $2 || ' ' || key, last_error = NULL WHERE subject = $1",
        )
        .bind(subject.to_owned())
        .bind(replacement.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn insert_breach(&mut self, breach: &StoredBreach) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO breaches (key, party, facts, version, routes, reported_at, reported_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(breach.key.clone())
        .bind(breach.party.clone())
        .bind(to_json("breaches", &breach.facts)?)
        .bind(i64::from(breach.version))
        .bind(to_json("breaches", &breach.routes)?)
        .bind(breach.reported_at.clone())
        .bind(breach.reported_by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// The breach's facts and version as the latest phase states them, and its routes.
    pub async fn update_breach(&mut self, breach: &StoredBreach) -> Result<(), StoreError> {
        sqlx::query("UPDATE breaches SET facts = $2, version = $3, routes = $4 WHERE key = $1")
            .bind(breach.key.clone())
            .bind(to_json("breaches", &breach.facts)?)
            .bind(i64::from(breach.version))
            .bind(to_json("breaches", &breach.routes)?)
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn breach(&mut self, key: &str) -> Result<Option<StoredBreach>, StoreError> {
        let sql = format!("SELECT {BREACH_COLUMNS} FROM breaches WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(breach)
            .transpose()
    }

    /// Breaches that concern any of `organisations` (where it happened, a hop to or from
    /// them, or a case of theirs), or every breach when none is given; newest first.
    pub async fn breaches_involving(
        &mut self,
        organisations: Option<&[String]>,
    ) -> Result<Vec<StoredBreach>, StoreError> {
        let Some(organisations) = organisations else {
            let sql = format!("SELECT {BREACH_COLUMNS} FROM breaches ORDER BY key DESC");
            return sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *self.inner)
                .await?
                .iter()
                .map(breach)
                .collect();
        };
        let mut found: Vec<StoredBreach> = Vec::new();
        for organisation in organisations {
            let sql = format!(
                "SELECT {BREACH_COLUMNS} FROM breaches WHERE party = $1 \
                 OR key IN (SELECT breach_key FROM breach_hops WHERE sender = $1 OR recipient = $1) \
                 OR key IN (SELECT breach_key FROM breach_cases WHERE controller = $1)"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(organisation.clone())
                .fetch_all(&mut *self.inner)
                .await?;
            for row in &rows {
                let found_one = breach(row)?;
                if !found.iter().any(|b| b.key == found_one.key) {
                    found.push(found_one);
                }
            }
        }
        found.sort_by(|a, b| b.key.cmp(&a.key));
        Ok(found)
    }

    pub async fn insert_breach_phase(&mut self, phase: &BreachPhase) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO breach_phases (breach_key, version, organisation, note, facts, at, by_actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(phase.breach_key.clone())
        .bind(i64::from(phase.version))
        .bind(phase.organisation.clone())
        .bind(phase.note.clone())
        .bind(to_json("breach_phases", &phase.facts)?)
        .bind(phase.at.clone())
        .bind(phase.by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn breach_phases(&mut self, key: &str) -> Result<Vec<BreachPhase>, StoreError> {
        let rows = sqlx::query(
            "SELECT breach_key, version, organisation, note, facts, at, by_actor \
             FROM breach_phases WHERE breach_key = $1 ORDER BY version",
        )
        .bind(key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0)?;
                let facts: String = row.try_get(4)?;
                Ok(BreachPhase {
                    version: version("breach_phases", &key, row.try_get(1)?)?,
                    organisation: row.try_get(2)?,
                    note: row.try_get(3)?,
                    facts: from_json("breach_phases", &key, &facts)?,
                    at: row.try_get(5)?,
                    by: row.try_get(6)?,
                    breach_key: key,
                })
            })
            .collect()
    }

    pub async fn insert_breach_hops(&mut self, hops: &[StoredHop]) -> Result<(), StoreError> {
        const WIDTH: usize = 7;
        for chunk in hops.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO breach_hops ({HOP_COLUMNS}) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for hop in chunk {
                query = query
                    .bind(hop.breach_key.clone())
                    .bind(hop.hop.sender.to_string())
                    .bind(hop.hop.recipient.to_string())
                    .bind(to_json("breach_hops", &hop.hop)?)
                    .bind(hop.received_at.clone())
                    .bind(hop.relayed_by.clone())
                    .bind(hop.acknowledged_at.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn update_breach_hop(&mut self, hop: &StoredHop) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE breach_hops SET received_at = $4, relayed_by = $5, acknowledged_at = $6 \
             WHERE breach_key = $1 AND sender = $2 AND recipient = $3",
        )
        .bind(hop.breach_key.clone())
        .bind(hop.hop.sender.to_string())
        .bind(hop.hop.recipient.to_string())
        .bind(hop.received_at.clone())
        .bind(hop.relayed_by.clone())
        .bind(hop.acknowledged_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Marks every hop from `sender` not yet passed on as received at `at`, in one statement.
    pub async fn relay_breach_hops(
        &mut self,
        key: &str,
        sender: &str,
        at: &str,
        by: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE breach_hops SET received_at = $3, relayed_by = $4 \
             WHERE breach_key = $1 AND sender = $2 AND received_at IS NULL",
        )
        .bind(key.to_owned())
        .bind(sender.to_owned())
        .bind(at.to_owned())
        .bind(by.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn breach_hops(&mut self, key: &str) -> Result<Vec<StoredHop>, StoreError> {
        let sql = format!(
            "SELECT {HOP_COLUMNS} FROM breach_hops WHERE breach_key = $1 ORDER BY sender, recipient"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(hop)
            .collect()
    }

    pub async fn insert_breach_cases(&mut self, cases: &[StoredCase]) -> Result<(), StoreError> {
        const WIDTH: usize = 11;
        for chunk in cases.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO breach_cases ({CASE_COLUMNS}) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for case in chunk {
                let json = CaseJson::of(case)?;
                query = query
                    .bind(case.breach_key.clone())
                    .bind(case.scope.controller.to_string())
                    .bind(to_json("breach_cases", &case.scope)?)
                    .bind(case.aware_at.clone())
                    .bind(case.awareness.clone())
                    .bind(case.deadline.clone())
                    .bind(json.assessment)
                    .bind(json.decision)
                    .bind(case.decided_at.clone())
                    .bind(json.filings)
                    .bind(json.communication);
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn update_breach_case(&mut self, case: &StoredCase) -> Result<(), StoreError> {
        let json = CaseJson::of(case)?;
        sqlx::query(
            "UPDATE breach_cases SET aware_at = $3, awareness = $4, deadline = $5, \
             assessment = $6, decision = $7, decided_at = $8, filings = $9, communication = $10, \
             scope = $11 WHERE breach_key = $1 AND controller = $2",
        )
        .bind(case.breach_key.clone())
        .bind(case.scope.controller.to_string())
        .bind(case.aware_at.clone())
        .bind(case.awareness.clone())
        .bind(case.deadline.clone())
        .bind(json.assessment)
        .bind(json.decision)
        .bind(case.decided_at.clone())
        .bind(json.filings)
        .bind(json.communication)
        .bind(to_json("breach_cases", &case.scope)?)
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Sets the awareness of every case of `controllers` not yet aware, in one statement a
    /// chunk (a report may reach 100k controllers at once).
    pub async fn make_breach_cases_aware(
        &mut self,
        key: &str,
        controllers: &[String],
        aware_at: &str,
        deadline: &str,
    ) -> Result<(), StoreError> {
        for chunk in controllers.chunks(CHUNK) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "UPDATE breach_cases SET aware_at = $2, awareness = 'relayed', deadline = $3 \
                 WHERE breach_key = $1 AND aware_at IS NULL AND controller IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(key.to_owned())
                .bind(aware_at.to_owned())
                .bind(deadline.to_owned());
            for controller in chunk {
                query = query.bind(controller.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn breach_cases(&mut self, key: &str) -> Result<Vec<StoredCase>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM breach_cases WHERE breach_key = $1 ORDER BY controller"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(case)
            .collect()
    }

    /// Every case of one controller, newest breach first (its register of breaches).
    pub async fn breach_cases_of(
        &mut self,
        controller: &str,
    ) -> Result<Vec<StoredCase>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM breach_cases WHERE controller = $1 ORDER BY breach_key DESC"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(controller.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(case)
            .collect()
    }

    /// Cases whose 72 hours ran out before `now` and that are not settled (no decision, or a
    /// notifiable decision never filed): what the checks report.
    pub async fn unsettled_breach_cases(
        &mut self,
        now: &str,
    ) -> Result<Vec<StoredCase>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM breach_cases WHERE deadline IS NOT NULL AND deadline < $1 \
             AND filings = '[]' ORDER BY breach_key, controller"
        );
        let cases: Vec<StoredCase> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(case)
            .collect::<Result<_, _>>()?;
        Ok(cases
            .into_iter()
            .filter(|c| {
                c.decision
                    .as_ref()
                    .is_none_or(|d| d.kind.notifies_authority())
            })
            .collect())
    }

    /// Every hop that has been passed on, of every breach (for the late-relay rule).
    pub async fn relayed_breach_hops(&mut self) -> Result<Vec<StoredHop>, StoreError> {
        let sql = format!(
            "SELECT {HOP_COLUMNS} FROM breach_hops WHERE received_at IS NOT NULL \
             ORDER BY breach_key, sender, recipient"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(hop)
            .collect()
    }

    pub async fn insert_breach_history(
        &mut self,
        entries: &[BreachHistoryEntry],
    ) -> Result<(), StoreError> {
        const WIDTH: usize = 7;
        for chunk in entries.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO breach_history (key, breach_key, organisation, kind, body, at, by_actor) \
                 VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(entry.key.clone())
                    .bind(entry.breach_key.clone())
                    .bind(entry.organisation.clone())
                    .bind(entry.kind.clone())
                    .bind(entry.body.to_string())
                    .bind(entry.at.clone())
                    .bind(entry.by.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn breach_history(
        &mut self,
        key: &str,
    ) -> Result<Vec<BreachHistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, breach_key, organisation, kind, body, at, by_actor \
             FROM breach_history WHERE breach_key = $1 ORDER BY key",
        )
        .bind(key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0)?;
                let body: String = row.try_get(4)?;
                Ok(BreachHistoryEntry {
                    breach_key: row.try_get(1)?,
                    organisation: row.try_get(2)?,
                    kind: row.try_get(3)?,
                    body: from_json("breach_history", &key, &body)?,
                    at: row.try_get(5)?,
                    by: row.try_get(6)?,
                    key,
                })
            })
            .collect()
    }
}
