//! Change requests, the controllers each must reach, their history and dossier files. Rows are
//! parsed again on the way out (the database is an edge). Times are fixed-width UTC stamps
//! (`custos_app::clock::stamp`), so that text order is time order on both backends.

use custos_core::change::{Addressee, ChangeRequestSpec, PartyState, RequestStatus};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx, corrupt, values_rows};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    pub key: String,
    pub spec: ChangeRequestSpec,
    pub dossier_version: u32,
    pub status: RequestStatus,
    pub filed_at: String,
    pub filed_by: String,
    pub executed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredParty {
    pub request_key: String,
    pub addressee: Addressee,
    pub state: PartyState,
    /// When silence becomes approval (general authorisation), or the contract's decision
    /// period ends (specific); none while the window is paused or when no period is set.
    pub deadline: Option<String>,
    /// What was left of a paused window, in seconds.
    pub paused_seconds: Option<i64>,
    pub decided_at: Option<String>,
    /// The dossier version the standing decision was taken on (none while undecided).
    pub decided_version: Option<u32>,
}

/// One step of a request's history: filed, a decision, a remark, a new dossier version, a
/// deemed approval, the execution.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub key: String,
    pub request_key: String,
    /// Who: the controller deciding, the processor remarking or filing.
    pub organisation: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub dossier_version: u32,
    pub at: String,
    pub by: String,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt("change_requests", "new row", e))
}

const REQUEST_COLUMNS: &str = "key, spec, dossier_version, status, filed_at, filed_by, executed_at";

fn request(row: &AnyRow) -> Result<StoredRequest, StoreError> {
    let key: String = row.try_get(0)?;
    let spec: String = row.try_get(1)?;
    let version: i64 = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    Ok(StoredRequest {
        spec: serde_json::from_str(&spec).map_err(|e| corrupt("change_requests", &key, e))?,
        dossier_version: u32::try_from(version).map_err(|e| corrupt("change_requests", &key, e))?,
        status: status
            .parse()
            .map_err(|e| corrupt("change_requests", &key, e))?,
        filed_at: row.try_get(4)?,
        filed_by: row.try_get(5)?,
        executed_at: row.try_get(6)?,
        key,
    })
}

const PARTY_COLUMNS: &str = "request_key, controller, addressee, state, deadline, paused_seconds, decided_at, decided_version";

fn party(row: &AnyRow) -> Result<StoredParty, StoreError> {
    let request_key: String = row.try_get(0)?;
    let addressee: String = row.try_get(2)?;
    let state: String = row.try_get(3)?;
    Ok(StoredParty {
        addressee: serde_json::from_str(&addressee)
            .map_err(|e| corrupt("change_request_parties", &request_key, e))?,
        state: state
            .parse()
            .map_err(|e| corrupt("change_request_parties", &request_key, e))?,
        deadline: row.try_get(4)?,
        paused_seconds: row.try_get(5)?,
        decided_at: row.try_get(6)?,
        decided_version: row
            .try_get::<Option<i64>, _>(7)?
            .map(|v| {
                u32::try_from(v).map_err(|e| corrupt("change_request_parties", &request_key, e))
            })
            .transpose()?,
        request_key,
    })
}

impl Tx {
    pub async fn insert_request(&mut self, request: &StoredRequest) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO change_requests (key, requester, candidate, spec, dossier_version, status, \
             filed_at, filed_by, executed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(request.key.clone())
        .bind(request.spec.requester.to_string())
        .bind(request.spec.dossier.candidate.id.to_string())
        .bind(to_json(&request.spec)?)
        .bind(i64::from(request.dossier_version))
        .bind(request.status.as_str())
        .bind(request.filed_at.clone())
        .bind(request.filed_by.clone())
        .bind(request.executed_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// The request's status, dossier and execution time as they are now.
    pub async fn update_request(&mut self, request: &StoredRequest) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE change_requests SET spec = $2, dossier_version = $3, status = $4, \
             executed_at = $5 WHERE key = $1",
        )
        .bind(request.key.clone())
        .bind(to_json(&request.spec)?)
        .bind(i64::from(request.dossier_version))
        .bind(request.status.as_str())
        .bind(request.executed_at.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn request(&mut self, key: &str) -> Result<Option<StoredRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM change_requests WHERE key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(request)
            .transpose()
    }

    /// Requests filed by the organisation, or addressed to it (as a controller), newest first.
    pub async fn requests_involving(
        &mut self,
        organisation: &str,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM change_requests WHERE requester = $1 OR key IN \
             (SELECT request_key FROM change_request_parties WHERE controller = $1) \
             ORDER BY key DESC"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organisation.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(request)
            .collect()
    }

    /// Every request, newest first.
    pub async fn requests(&mut self) -> Result<Vec<StoredRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM change_requests ORDER BY key DESC");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(request)
            .collect()
    }

    /// Adds the controllers a request must reach, many rows a statement.
    pub async fn insert_parties(&mut self, parties: &[StoredParty]) -> Result<(), StoreError> {
        const WIDTH: usize = 8;
        for chunk in parties.chunks(500) {
            let sql = format!(
                "INSERT INTO change_request_parties ({PARTY_COLUMNS}) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for party in chunk {
                query = query
                    .bind(party.request_key.clone())
                    .bind(party.addressee.controller.to_string())
                    .bind(to_json(&party.addressee)?)
                    .bind(party.state.as_str())
                    .bind(party.deadline.clone())
                    .bind(party.paused_seconds)
                    .bind(party.decided_at.clone())
                    .bind(party.decided_version.map(i64::from));
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn parties(&mut self, request_key: &str) -> Result<Vec<StoredParty>, StoreError> {
        let sql = format!(
            "SELECT {PARTY_COLUMNS} FROM change_request_parties WHERE request_key = $1 \
             ORDER BY controller"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_key.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(party)
            .collect()
    }

    /// The requests waiting for the controller's decision, with its row.
    pub async fn open_parties_of(
        &mut self,
        controller: &str,
    ) -> Result<Vec<StoredParty>, StoreError> {
        let sql = format!(
            "SELECT {PARTY_COLUMNS} FROM change_request_parties WHERE controller = $1 \
             AND state IN ('pending', 'information-requested') ORDER BY deadline, request_key"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(controller.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(party)
            .collect()
    }

    pub async fn update_party(&mut self, party: &StoredParty) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE change_request_parties SET state = $3, deadline = $4, paused_seconds = $5, \
             decided_at = $6, decided_version = $7 WHERE request_key = $1 AND controller = $2",
        )
        .bind(party.request_key.clone())
        .bind(party.addressee.controller.to_string())
        .bind(party.state.as_str())
        .bind(party.deadline.clone())
        .bind(party.paused_seconds)
        .bind(party.decided_at.clone())
        .bind(party.decided_version.map(i64::from))
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn insert_history(&mut self, entries: &[HistoryEntry]) -> Result<(), StoreError> {
        const WIDTH: usize = 8;
        for chunk in entries.chunks(500) {
            let sql = format!(
                "INSERT INTO change_request_history (key, request_key, organisation, kind, body, \
                 dossier_version, at, by_actor) VALUES {}",
                values_rows(self.backend, chunk.len(), WIDTH)
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(entry.key.clone())
                    .bind(entry.request_key.clone())
                    .bind(entry.organisation.clone())
                    .bind(entry.kind.clone())
                    .bind(entry.body.to_string())
                    .bind(i64::from(entry.dossier_version))
                    .bind(entry.at.clone())
                    .bind(entry.by.clone());
            }
            query.execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    pub async fn history(&mut self, request_key: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, request_key, organisation, kind, body, dossier_version, at, by_actor \
             FROM change_request_history WHERE request_key = $1 ORDER BY key",
        )
        .bind(request_key.to_owned())
        .fetch_all(&mut *self.inner)
        .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0)?;
                let body: String = row.try_get(4)?;
                let version: i64 = row.try_get(5)?;
                Ok(HistoryEntry {
                    request_key: row.try_get(1)?,
                    organisation: row.try_get(2)?,
                    kind: row.try_get(3)?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| corrupt("change_request_history", &key, e))?,
                    dossier_version: u32::try_from(version)
                        .map_err(|e| corrupt("change_request_history", &key, e))?,
                    at: row.try_get(6)?,
                    by: row.try_get(7)?,
                    key,
                })
            })
            .collect()
    }

    /// Stores a file once by its hash (a second upload of the same bytes changes nothing).
    pub async fn put_attachment(
        &mut self,
        sha256: &str,
        media_type: &str,
        size: u64,
        content_base64: &str,
        at: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        let exists = sqlx::query("SELECT 1 FROM attachments WHERE sha256 = $1")
            .bind(sha256.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?
            .is_some();
        if exists {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO attachments (sha256, media_type, size, content, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sha256.to_owned())
        .bind(media_type.to_owned())
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(content_base64.to_owned())
        .bind(at.to_owned())
        .bind(by.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    /// Who stored a file (the actor's name), if it exists.
    pub async fn attachment_uploader(
        &mut self,
        sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT created_by FROM attachments WHERE sha256 = $1")
            .bind(sha256.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|row| row.try_get(0))
            .transpose()
            .map_err(Into::into)
    }

    /// A stored file: media type and base64 content.
    pub async fn attachment(
        &mut self,
        sha256: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT media_type, content FROM attachments WHERE sha256 = $1")
            .bind(sha256.to_owned())
            .fetch_optional(&mut *self.inner)
            .await?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }
}
