//! The audit log, as far as the caller may see it: administrators all of it, others the
//! entries about their organisations.

use axum::Json;
use axum::extract::State;
use custos_core::audit::AuditEntry;
use serde::{Deserialize, Serialize};

use super::Params;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The `next_cursor` of the previous page (an entry's seq).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    pub cursor: Option<u64>,
    /// Entries per page, 1 to 1000; 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries the caller may see, oldest first, with their hashes"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = super::page_limit(query.limit)?;
    let visible = |entry: &AuditEntry| {
        custos_app::visibility::sees_audit_entry(
            principal.user.is_admin,
            &principal.memberships,
            entry,
        )
    };
    let mut items = Vec::new();
    let mut after = query.cursor.unwrap_or(0);
    if i64::try_from(after).is_err() {
        return Err(ApiError::invalid(
            "cursor",
            format!(
                "cursor is {after}: expected a position of the log, at most {}",
                i64::MAX
            ),
        ));
    }
    let mut next_cursor = None;
    'pages: loop {
        let page = custos_app::audit::page(&state.store, after, custos_app::audit::PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in page {
            if !visible(&entry) {
                continue;
            }
            if items.len() == limit {
                next_cursor = items.last().map(|e: &AuditEntry| e.seq);
                break 'pages;
            }
            items.push(entry);
        }
    }
    Ok(Json(AuditPage { items, next_cursor }))
}

/// The head of the log, signed by the instance (Ed25519).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditHead {
    /// The position of the last entry.
    pub seq: u64,
    /// Its hash (hex): keep it, and `custos audit verify --expect-head HASH` later proves the
    /// log was not truncated below it or rewritten.
    pub hash: String,
    /// When it was read and signed.
    pub at: String,
    /// `ed25519`.
    pub algorithm: String,
    /// The instance's public key, base64 of its 32 bytes.
    pub public_key: String,
    /// Base64 of the signature over `custos-audit-head:SEQ:HASH:AT`.
    pub signature: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit/head",
    tag = "audit",
    operation_id = "audit_head",
    responses(
        (status = 200, description = "The head of the log, signed by the instance", body = AuditHead),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn head(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<AuditHead>, ApiError> {
    let signed = custos_app::audit::signed_head(&state.store, state.clock.now()).await?;
    Ok(Json(AuditHead {
        seq: signed.seq,
        hash: signed.hash,
        at: signed.at,
        algorithm: signed.algorithm.to_owned(),
        public_key: signed.public_key,
        signature: signed.signature,
    }))
}
