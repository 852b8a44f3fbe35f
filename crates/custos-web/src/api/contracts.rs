//! Contract amendments: a party's change of a bilateral contract waits for the other party
//! (docs/access.md). Both parties (and administrators) read them; the awaited party accepts or
//! rejects, the proposer withdraws. What the caller cannot see is 404.

use axum::Json;
use axum::extract::{Path, State};
use custos_app::contracts::{self, Answer};
use custos_app::policy::Capacity;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Bytes;

/// A proposed change of a contract and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentView {
    pub key: String,
    pub contract: String,
    /// The party that proposed it.
    pub proposer: String,
    /// The party whose acceptance it waits for.
    pub awaiting: String,
    /// The ETag of the contract version it amends; none for a new contract.
    pub base_tag: Option<String>,
    /// The contract as proposed (the manifest's form); null when it ends the contract.
    #[schema(value_type = Object)]
    pub proposed: Option<serde_json::Value>,
    pub reasons: Option<String>,
    /// `open`, `accepted`, `rejected`, `withdrawn`, or `superseded`.
    pub status: String,
    pub proposed_at: String,
    pub proposed_by: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_reasons: Option<String>,
}

impl AmendmentView {
    pub fn of(a: &custos_app::data::Amendment) -> Result<Self, ApiError> {
        Ok(Self {
            key: a.key.clone(),
            contract: a.contract.clone(),
            proposer: a.proposer.clone(),
            awaiting: a.awaiting.clone(),
            base_tag: a.base_tag.clone(),
            proposed: a
                .body
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            reasons: a.reasons.clone(),
            status: a.status.clone(),
            proposed_at: a.proposed_at.clone(),
            proposed_by: a.proposed_by.clone(),
            decided_at: a.decided_at.clone(),
            decided_by: a.decided_by.clone(),
            decision_reasons: a.decision_reasons.clone(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentList {
    pub items: Vec<AmendmentView>,
}

/// Why the party answers as it does.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    #[serde(default)]
    pub reasons: Option<String>,
}

/// Whether the caller sees the amendments of `contract`: a party, or an administrator.
/// A contract proposed new is not in the register yet: its parties are the amendment's.
async fn sees(
    state: &AppState,
    principal: &Principal,
    contract: &str,
    amendment: Option<&custos_app::data::Amendment>,
) -> Result<bool, ApiError> {
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    Ok(visibility.contract(contract)
        || amendment.is_some_and(|a| {
            principal.may(Capacity::Read, &a.proposer) || principal.may(Capacity::Read, &a.awaiting)
        }))
}

/// Every amendment proposed for a contract, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/contracts/{id}/amendments",
    operation_id = "list_amendments",
    tag = "register",
    params(("id" = String, Path, description = "The contract's id")),
    responses(
        (status = 200, description = "The amendments", body = AmendmentList),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contract visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AmendmentList>, ApiError> {
    let found = contracts::amendments(&state.store, &id).await?;
    // A contract that is not in the register has amendments only while one proposes it.
    let exists = state
        .register()
        .await
        .contracts()
        .iter()
        .any(|c| c.id.as_str() == id)
        || found.iter().any(|a| a.status == contracts::status::OPEN);
    if !exists || !sees(&state, &principal, &id, found.first()).await? {
        return Err(ApiError::not_found(format!("contract {id:?}")));
    }
    Ok(Json(AmendmentList {
        items: found
            .iter()
            .map(AmendmentView::of)
            .collect::<Result<_, _>>()?,
    }))
}

pub(crate) async fn visible_amendment(
    state: &AppState,
    principal: &Principal,
    id: &str,
    key: &str,
) -> Result<custos_app::data::Amendment, ApiError> {
    let not_found = || ApiError::not_found(format!("amendment {key:?} of contract {id:?}"));
    let amendment = match contracts::amendment(&state.store, key).await {
        Ok(a) if a.contract == id => a,
        Ok(_) | Err(custos_app::AppError::NotFound(_)) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    if !sees(state, principal, id, Some(&amendment)).await? {
        return Err(not_found());
    }
    Ok(amendment)
}

/// One amendment.
#[utoipa::path(
    get,
    path = "/api/v1/contracts/{id}/amendments/{key}",
    operation_id = "get_amendment",
    tag = "register",
    params(("id" = String, Path, description = "The contract's id"), ("key" = String, Path, description = "The amendment's key")),
    responses(
        (status = 200, description = "The amendment", body = AmendmentView),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such amendment visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<AmendmentView>, ApiError> {
    let amendment = visible_amendment(&state, &principal, &id, &key).await?;
    Ok(Json(AmendmentView::of(&amendment)?))
}

async fn answer(
    state: AppState,
    principal: Principal,
    id: String,
    key: String,
    body: &[u8],
    answer: Answer,
) -> Result<Json<AmendmentView>, ApiError> {
    // The body is optional: nothing, or `{"reasons": "..."}`.
    let body: Option<AnswerBody> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid("reasons", format!("expected {{\"reasons\": \"...\"}}: {e}"))
        })?)
    };
    let reasons = body.and_then(|b| b.reasons);
    let answered = answer_amendment(&state, &principal, &id, &key, answer, reasons).await?;
    Ok(Json(AmendmentView::of(&answered)?))
}

/// The caller's answer to an amendment of contract `id` it sees, for the API and the pages:
/// the awaited party accepts or rejects, the proposer withdraws (`custos_app::contracts`).
pub(crate) async fn answer_amendment(
    state: &AppState,
    principal: &Principal,
    id: &str,
    key: &str,
    answer: Answer,
    reasons: Option<String>,
) -> Result<custos_app::data::Amendment, ApiError> {
    visible_amendment(state, principal, id, key).await?;
    if !principal.may_write() {
        return Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ));
    }
    let reasons = reasons.filter(|r| !r.trim().is_empty());
    if let Some(r) = &reasons
        && r.len() > custos_core::values::MAX_TEXT_LEN
    {
        return Err(ApiError::invalid(
            "reasons",
            format!(
                "reasons: at most {} characters",
                custos_core::values::MAX_TEXT_LEN
            ),
        ));
    }
    let answered = contracts::answer(
        &state.store,
        key,
        answer,
        reasons,
        &principal.caller(),
        &principal.actor(state.clock.now()),
    )
    .await?;
    if answer == Answer::Accept {
        state.reload().await?;
    }
    Ok(answered)
}

macro_rules! answer_endpoint {
    ($name:ident, $verb:literal, $answer:expr, $what:literal) => {
        #[utoipa::path(
            post,
            path = concat!("/api/v1/contracts/{id}/amendments/{key}/", $verb),
            tag = "register",
            operation_id = concat!($verb, "_amendment"),
            params(("id" = String, Path, description = "The contract's id"), ("key" = String, Path, description = "The amendment's key")),
            request_body(content = Option<AnswerBody>, description = "Why (optional)"),
            responses(
                (status = 200, description = $what, body = AmendmentView),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not the party that may answer", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such amendment visible to the caller", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not open, or the contract changed since it was proposed (then superseded)", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "The contract as proposed would leave the register invalid", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path((id, key)): Path<(String, String)>,
            body: Bytes,
        ) -> Result<Json<AmendmentView>, ApiError> {
            answer(state, principal, id, key, &body, $answer).await
        }
    };
}

answer_endpoint!(
    accept,
    "accept",
    Answer::Accept,
    "Accepted: the contract is now as proposed"
);
answer_endpoint!(
    reject,
    "reject",
    Answer::Reject,
    "Rejected: the contract stays as it is"
);
answer_endpoint!(
    withdraw,
    "withdraw",
    Answer::Withdraw,
    "Withdrawn by the proposer"
);

/// One version of a contract and the days it was in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractVersion {
    /// Numbered from 1, the oldest.
    pub version: u32,
    /// First day in force; none for the first version (in force since it was recorded).
    pub from: Option<String>,
    /// Last day in force; none for the version in force now.
    pub until: Option<String>,
    #[schema(value_type = Object)]
    pub contract: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractVersions {
    pub items: Vec<ContractVersion>,
}

/// Every version of a contract, the one in force now last: what the checks judge a link
/// against on a given day.
#[utoipa::path(
    get,
    path = "/api/v1/contracts/{id}/versions",
    operation_id = "contract_versions",
    tag = "register",
    params(("id" = String, Path, description = "The contract's id")),
    responses(
        (status = 200, description = "The versions, oldest first", body = ContractVersions),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contract visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ContractVersions>, ApiError> {
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    let current = register.contracts().iter().find(|c| c.id.as_str() == id);
    if current.is_none() || !visibility.contract(&id) {
        return Err(ApiError::not_found(format!("contract {id:?}")));
    }
    let slug: custos_core::values::Slug = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("contract {id:?}")))?;
    let history = custos_app::contracts::history(&state.store, Some(&id)).await?;
    let items = history
        .versions(current, &slug)
        .into_iter()
        .map(|v| {
            Ok(ContractVersion {
                version: v.number,
                from: v.from.map(|d| d.to_string()),
                until: v.until.map(|d| d.to_string()),
                contract: serde_json::to_value(v.contract)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ContractVersions { items }))
}
