//! Proposed amendments of contracts: one party's change waiting for the other's acceptance,
//! and the organisations that answer for themselves on the instance (the policy's input).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, corrupt};

/// A proposed change of a contract, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amendment {
    pub key: String,
    pub contract: String,
    /// The party that proposed it.
    pub proposer: String,
    /// The party whose acceptance it waits for.
    pub awaiting: String,
    /// The version (ETag) of the contract it amends; none for a new contract.
    pub base_tag: Option<String>,
    /// The contract as proposed (its JSON); none when the proposal ends the contract.
    pub body: Option<String>,
    pub reasons: Option<String>,
    /// `open`, `accepted`, `rejected`, `withdrawn`, or `superseded` (the contract changed
    /// under it).
    pub status: String,
    pub proposed_at: String,
    pub proposed_by: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_reasons: Option<String>,
}

const COLUMNS: &str = "key, contract, proposer, awaiting, base_tag, body, reasons, status, \
     proposed_at, proposed_by, decided_at, decided_by, decision_reasons";

fn amendment(row: &AnyRow) -> Result<Amendment, StoreError> {
    Ok(Amendment {
        key: row.try_get(0)?,
        contract: row.try_get(1)?,
        proposer: row.try_get(2)?,
        awaiting: row.try_get(3)?,
        base_tag: row.try_get(4)?,
        body: row.try_get(5)?,
        reasons: row.try_get(6)?,
        status: row.try_get(7)?,
        proposed_at: row.try_get(8)?,
        proposed_by: row.try_get(9)?,
        decided_at: row.try_get(10)?,
        decided_by: row.try_get(11)?,
        decision_reasons: row.try_get(12)?,
    })
}

impl Tx {
    pub async fn insert_amendment(&mut self, a: &Amendment) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO contract_amendments ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(a.key.clone())
            .bind(a.contract.clone())
            .bind(a.proposer.clone())
            .bind(a.awaiting.clone())
            .bind(a.base_tag.clone())
            .bind(a.body.clone())
            .bind(a.reasons.clone())
            .bind(a.status.clone())
            .bind(a.proposed_at.clone())
            .bind(a.proposed_by.clone())
            .bind(a.decided_at.clone())
            .bind(a.decided_by.clone())
            .bind(a.decision_reasons.clone())
            .execute(&mut *self.inner)
            .await?;
        Ok(())
    }

    pub async fn amendment(&mut self, key: &str) -> Result<Option<Amendment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM contract_amendments WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(amendment)
            .transpose()
    }

    /// Every amendment ever proposed for `contract`, oldest first.
    /// The open amendments waiting for one of `organisations` to answer, oldest first.
    pub async fn open_amendments_awaiting(
        &mut self,
        organisations: &[String],
    ) -> Result<Vec<Amendment>, StoreError> {
        let mut found = Vec::new();
        for organisation in organisations {
            let sql = format!(
                "SELECT {COLUMNS} FROM contract_amendments WHERE awaiting = $1 AND status = 'open' ORDER BY key"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(organisation.clone())
                .fetch_all(&mut *self.inner)
                .await?;
            for row in &rows {
                found.push(amendment(row)?);
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    pub async fn amendments_of(&mut self, contract: &str) -> Result<Vec<Amendment>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM contract_amendments WHERE contract = $1 ORDER BY key");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(contract.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(amendment)
            .collect()
    }

    /// Records the end of an open amendment: `accepted`, `rejected`, `withdrawn`,
    /// `superseded`. Refused (`Corrupt`) when it was not open: two answers cannot both win.
    pub async fn close_amendment(
        &mut self,
        key: &str,
        status: &str,
        at: &str,
        by: &str,
        reasons: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE contract_amendments SET status = $2, decided_at = $3, decided_by = $4, \
             decision_reasons = $5 WHERE key = $1 AND status = 'open'",
        )
        .bind(key.to_owned())
        .bind(status.to_owned())
        .bind(at.to_owned())
        .bind(by.to_owned())
        .bind(reasons.map(ToOwned::to_owned))
        .execute(&mut *self.inner)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(corrupt("contract_amendments", key, "it is no longer open"))
        }
    }

    /// Marks every open amendment of `contract` superseded (the contract changed under them).
    pub async fn supersede_amendments(
        &mut self,
        contract: &str,
        at: &str,
        by: &str,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE contract_amendments SET status = 'superseded', decided_at = $2, \
             decided_by = $3 WHERE contract = $1 AND status = 'open'",
        )
        .bind(contract.to_owned())
        .bind(at.to_owned())
        .bind(by.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected())
    }

    /// The organisations someone writes for on this instance (an editor or an admin).
    pub async fn represented_organisations(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT organisation FROM memberships WHERE role IN ('editor', 'admin') \
             ORDER BY organisation",
        )
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

/// A superseded version of a contract: its body as it was, and when it was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersededContract {
    pub contract: String,
    pub replaced_at: String,
    pub body: String,
}

impl Tx {
    pub async fn insert_superseded_contracts(
        &mut self,
        versions: &[SupersededContract],
    ) -> Result<(), StoreError> {
        for version in versions {
            sqlx::query(
                "INSERT INTO contract_versions (contract, replaced_at, body) VALUES ($1, $2, $3)",
            )
            .bind(version.contract.clone())
            .bind(version.replaced_at.clone())
            .bind(version.body.clone())
            .execute(&mut *self.inner)
            .await?;
        }
        Ok(())
    }

    /// Every superseded version of every contract (or of one), oldest first.
    pub async fn superseded_contracts(
        &mut self,
        contract: Option<&str>,
    ) -> Result<Vec<SupersededContract>, StoreError> {
        let rows = sqlx::query(
            "SELECT contract, replaced_at, body FROM contract_versions \
             WHERE CAST($1 AS TEXT) IS NULL OR contract = $1 ORDER BY replaced_at, contract",
        )
        .bind(contract.map(ToOwned::to_owned))
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SupersededContract {
                    contract: row.try_get(0)?,
                    replaced_at: row.try_get(1)?,
                    body: row.try_get(2)?,
                })
            })
            .collect()
    }
}
