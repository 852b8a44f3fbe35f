//! Sub-processor change requests over HTTP: file (a processor's member or token), read (each
//! party sees its part: the requester all of it, a controller its own row and decisions, a
//! processor on a path the rows whose paths pass through it), decide, remark, answer with a
//! new dossier, withdraw, execute; dossier files; webhook endpoints and their delivery log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::changes::{self, Outside, RequestView};
use custos_app::data::{HistoryEntry, StoredParty};
use custos_core::change::{ChangeRequestSpec, DecisionKind, Dossier, PartyState};
use serde::{Deserialize, Serialize};

use super::{Body, PageQuery, Params};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use custos_app::policy::Capacity;

/// Largest file accepted for a dossier.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

pub(crate) fn require_write(principal: &Principal) -> Result<(), ApiError> {
    if principal.may_write() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ))
    }
}

/// Who the caller is in a request.
pub(crate) struct Standing {
    pub(crate) requester: bool,
    /// The controllers the caller acts for.
    pub(crate) controllers: Vec<String>,
    /// The organisations on a path the caller acts for (it sees the request pass).
    pub(crate) on_paths: Vec<String>,
}

impl Standing {
    pub(crate) fn of(principal: &Principal, view: &RequestView) -> Self {
        let all = principal.user.is_admin;
        let member = |org: &str| all || principal.memberships.iter().any(|m| m.organisation == org);
        let requester = member(view.request.spec.requester.as_str());
        let controllers = view
            .parties
            .iter()
            .map(|p| p.addressee.controller.to_string())
            .filter(|c| member(c))
            .collect();
        let mut on_paths: Vec<String> = view
            .parties
            .iter()
            .flat_map(|p| p.addressee.paths.iter().flatten())
            .map(ToString::to_string)
            .filter(|o| member(o))
            .collect();
        on_paths.sort();
        on_paths.dedup();
        Self {
            requester,
            controllers,
            on_paths,
        }
    }

    pub(crate) fn sees_request(&self) -> bool {
        self.requester || !self.controllers.is_empty() || !self.on_paths.is_empty()
    }

    pub(crate) fn sees_party(&self, party: &StoredParty) -> bool {
        self.requester
            || self
                .controllers
                .iter()
                .any(|c| c == party.addressee.controller.as_str())
            || party
                .addressee
                .paths
                .iter()
                .flatten()
                .any(|o| self.on_paths.iter().any(|p| p == o.as_str()))
    }
}

/// Whether a step of the history is shown to one who sees the rows of `visible_controllers`:
/// a decision (or deemed approval) only with its controller's row, the rest to all.
pub(crate) fn shows_entry(entry: &HistoryEntry, visible_controllers: &[&str]) -> bool {
    let a_decision = entry.kind.starts_with("decision") || entry.kind == "deemed-approved";
    !a_decision || visible_controllers.contains(&entry.organisation.as_str())
}

/// A request as the caller may see it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "ChangeRequest")]
pub struct RequestAnswer {
    pub key: String,
    pub status: String,
    pub spec: ChangeRequestSpec,
    pub dossier_version: u32,
    pub filed_at: String,
    pub filed_by: String,
    pub executed_at: Option<String>,
    pub controllers: Vec<PartyAnswer>,
    pub history: Vec<HistoryAnswer>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PartyAnswer {
    #[serde(flatten)]
    pub addressee: custos_core::change::Addressee,
    pub state: String,
    pub deadline: Option<String>,
    pub decided_at: Option<String>,
    /// The dossier version the standing decision was given on; a decision on an older
    /// version than the request's no longer stands.
    pub decided_version: Option<u32>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HistoryAnswer {
    pub organisation: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub dossier_version: u32,
    pub at: String,
    pub by: String,
}

fn answer(principal: &Principal, view: RequestView) -> Result<RequestAnswer, ApiError> {
    let standing = Standing::of(principal, &view);
    if !standing.sees_request() {
        return Err(ApiError::not_found(format!(
            "change request {}",
            view.request.key
        )));
    }
    let visible: Vec<&StoredParty> = view
        .parties
        .iter()
        .filter(|p| standing.sees_party(p))
        .collect();
    let visible_orgs: Vec<&str> = visible
        .iter()
        .map(|p| p.addressee.controller.as_str())
        .collect();
    let history = view
        .history
        .into_iter()
        .filter(|h: &HistoryEntry| shows_entry(h, &visible_orgs))
        .map(|h| HistoryAnswer {
            organisation: h.organisation,
            kind: h.kind,
            body: h.body,
            dossier_version: h.dossier_version,
            at: h.at,
            by: h.by,
        })
        .collect();
    Ok(RequestAnswer {
        key: view.request.key,
        status: view.request.status.as_str().to_owned(),
        spec: view.request.spec,
        dossier_version: view.request.dossier_version,
        filed_at: view.request.filed_at,
        filed_by: view.request.filed_by,
        executed_at: view.request.executed_at,
        controllers: visible
            .into_iter()
            .map(|p| PartyAnswer {
                addressee: p.addressee.clone(),
                state: p.state.as_str().to_owned(),
                deadline: p.deadline.clone(),
                decided_at: p.decided_at.clone(),
                decided_version: p.decided_version,
            })
            .collect(),
        history,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/change-requests",
    tag = "change-requests",
    operation_id = "file_change_request",
    request_body(content = serde_json::Value, description = "The request: requester, candidate's dossier, service (see docs/workflow.md)"),
    responses(
        (status = 201, description = "Filed: every controller it reaches, each with its mode and window; notified", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the requesting processor, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    principal: Principal,
    Body(spec): Body<ChangeRequestSpec>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    if !principal.may(Capacity::Portal, spec.requester.as_str()) {
        return Err(ApiError::Forbidden(format!(
            "only {}'s people may file its change requests",
            spec.requester
        )));
    }
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = changes::file(&state.store, &register, spec, &actor, &state.workflow).await?;
    Ok((StatusCode::CREATED, axum::Json(answer(&principal, view)?)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `inbox`: only requests waiting for a decision of a controller the caller acts for.
    #[param(pattern = "^inbox$")]
    pub view: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Requests per page, 1 to 1000; 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of change requests, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestPage {
    pub items: Vec<RequestSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of a webhook's deliveries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryAnswer>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One line of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    pub key: String,
    pub status: String,
    pub requester: String,
    pub candidate: String,
    pub candidate_name: String,
    pub service: String,
    pub filed_at: String,
    /// For the caller's controllers: their state and deadline.
    pub waiting_for: Vec<Waiting>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    pub controller: String,
    pub state: String,
    pub mode: String,
    pub deadline: Option<String>,
}

/// The requests the caller sees (all of them for an instance administrator), newest first.
pub async fn summaries(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<RequestSummary>, ApiError> {
    let organisations: Vec<String> = principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .collect();
    let requests = changes::requests_with_parties(
        &state.store,
        (!principal.user.is_admin).then_some(organisations.as_slice()),
    )
    .await?;
    let mut summaries = Vec::with_capacity(requests.len());
    for (request, parties) in requests {
        let waiting_for: Vec<Waiting> = parties
            .iter()
            .filter(|p| {
                decides_for(principal, p.addressee.controller.as_str()) || principal.user.is_admin
            })
            .map(|p| Waiting {
                controller: p.addressee.controller.to_string(),
                state: p.state.as_str().to_owned(),
                mode: p.addressee.mode.as_str().to_owned(),
                deadline: p.deadline.clone(),
            })
            .collect();
        summaries.push(RequestSummary {
            key: request.key,
            status: request.status.as_str().to_owned(),
            requester: request.spec.requester.to_string(),
            candidate: request.spec.dossier.candidate.id.to_string(),
            candidate_name: request.spec.dossier.candidate.name.clone(),
            service: request.spec.service.clone(),
            filed_at: request.filed_at,
            waiting_for,
        });
    }
    Ok(summaries)
}

/// Whether the caller is an editor or admin of `controller` (its decisions are the caller's).
fn decides_for(principal: &Principal, controller: &str) -> bool {
    principal.caller().writes_for(controller)
}

/// The requests waiting for a decision of a controller the caller decides for, with only
/// those controllers' open rows.
pub fn inbox(principal: &Principal, summaries: Vec<RequestSummary>) -> Vec<RequestSummary> {
    summaries
        .into_iter()
        .filter_map(|mut summary| {
            summary.waiting_for.retain(|w| {
                decides_for(principal, &w.controller)
                    && w.state.parse::<PartyState>().is_ok_and(PartyState::open)
            });
            (!summary.waiting_for.is_empty()).then_some(summary)
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/api/v1/change-requests",
    tag = "change-requests",
    operation_id = "list_change_requests",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the requests the caller's organisations filed, decide on, or see pass, newest first", body = RequestPage),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<ListQuery>,
) -> Result<axum::Json<RequestPage>, ApiError> {
    let inbox = match query.view.as_deref() {
        None => false,
        Some("inbox") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "view",
                format!("view is {other:?}: expected inbox"),
            ));
        }
    };
    let all = summaries(&state, &principal).await?;
    let listed = if inbox {
        self::inbox(&principal, all)
    } else {
        all
    };
    let page = super::Page::newest_first(
        listed,
        |r| r.key.as_str(),
        query.cursor.as_deref(),
        query.limit,
    )?;
    Ok(axum::Json(RequestPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/change-requests/{key}",
    tag = "change-requests",
    operation_id = "get_change_request",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "The request, the controllers and history the caller may see", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<axum::Json<RequestAnswer>, ApiError> {
    let view = changes::view(&state.store, &key).await?;
    Ok(axum::Json(answer(&principal, view)?))
}

async fn visible_view(
    state: &AppState,
    principal: &Principal,
    key: &str,
) -> Result<RequestView, ApiError> {
    let view = changes::view(&state.store, key).await?;
    if !Standing::of(principal, &view).sees_request() {
        return Err(ApiError::not_found(format!("change request {key}")));
    }
    Ok(view)
}

/// A controller's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The controller deciding (one the caller is editor or admin of).
    pub controller: String,
    /// `approve`, `object` or `request-information`.
    #[schema(pattern = "^(approve|object|request-information)$")]
    pub decision: String,
    /// Why (required for an objection).
    #[serde(default)]
    pub reasons: Option<String>,
    /// For a decision taken outside Custos: what it was, and the stored evidence.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub outside: Option<Outside>,
}

#[utoipa::path(
    post,
    path = "/api/v1/change-requests/{key}/decisions",
    tag = "change-requests",
    operation_id = "decide_change_request",
    params(("key" = String, Path, description = "The request's key")),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Recorded (a later decision supersedes, both kept); the request as it now stands", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of that controller, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request was executed or withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(request): Body<DecisionRequest>,
) -> Result<axum::Json<RequestAnswer>, ApiError> {
    require_write(&principal)?;
    visible_view(&state, &principal, &key).await?;
    let decision: DecisionKind = request
        .decision
        .parse()
        .map_err(|e: String| ApiError::invalid("decision", e))?;
    if !principal.may(Capacity::Edit, &request.controller) {
        return Err(ApiError::Forbidden(format!(
            "only editors and admins of {} may decide for it",
            request.controller
        )));
    }
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = changes::decide(
        &state.store,
        &register,
        &key,
        &request.controller,
        decision,
        request.reasons,
        request.outside,
        &actor,
    )
    .await?;
    Ok(axum::Json(answer(&principal, view)?))
}

/// A remark of a processor the request passes through.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemarkRequest {
    pub organisation: String,
    #[schema(max_length = 4096)]
    pub text: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/change-requests/{key}/remarks",
    tag = "change-requests",
    operation_id = "remark_change_request",
    params(("key" = String, Path, description = "The request's key")),
    request_body = RemarkRequest,
    responses(
        (status = 201, description = "Added to the history; the controllers below it are told"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of a processor on the request's paths", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request was executed or withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remark(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(request): Body<RemarkRequest>,
) -> Result<StatusCode, ApiError> {
    require_write(&principal)?;
    visible_view(&state, &principal, &key).await?;
    if !principal.may(Capacity::Portal, &request.organisation) {
        return Err(ApiError::Forbidden(format!(
            "you do not act for {}",
            request.organisation
        )));
    }
    let actor = principal.actor(state.clock.now());
    changes::remark(
        &state.store,
        &key,
        &request.organisation,
        &request.text,
        &actor,
    )
    .await?;
    Ok(StatusCode::CREATED)
}

async fn requester_view(
    state: &AppState,
    principal: &Principal,
    key: &str,
) -> Result<RequestView, ApiError> {
    require_write(principal)?;
    let view = visible_view(state, principal, key).await?;
    if !principal.may(Capacity::Portal, view.request.spec.requester.as_str()) {
        return Err(ApiError::Forbidden(format!(
            "only {}'s people may do this",
            view.request.spec.requester
        )));
    }
    Ok(view)
}

#[utoipa::path(
    put,
    path = "/api/v1/change-requests/{key}/dossier",
    tag = "change-requests",
    operation_id = "update_change_request_dossier",
    params(("key" = String, Path, description = "The request's key")),
    request_body(content = serde_json::Value, description = "The dossier's next version"),
    responses(
        (status = 200, description = "The new version: every decision given on an earlier one is reopened, every window starts again", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the requester", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request was executed or withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_dossier(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(dossier): Body<Dossier>,
) -> Result<axum::Json<RequestAnswer>, ApiError> {
    requester_view(&state, &principal, &key).await?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = changes::update_dossier(
        &state.store,
        &register,
        &key,
        dossier,
        &actor,
        &state.workflow,
    )
    .await?;
    Ok(axum::Json(answer(&principal, view)?))
}

#[utoipa::path(
    post,
    path = "/api/v1/change-requests/{key}/withdraw",
    tag = "change-requests",
    operation_id = "withdraw_change_request",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "Withdrawn; everyone it reached is told", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the requester", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request was executed or withdrawn", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<axum::Json<RequestAnswer>, ApiError> {
    requester_view(&state, &principal, &key).await?;
    let actor = principal.actor(state.clock.now());
    let view = changes::withdraw(&state.store, &key, &actor).await?;
    Ok(axum::Json(answer(&principal, view)?))
}

#[utoipa::path(
    post,
    path = "/api/v1/change-requests/{key}/execute",
    tag = "change-requests",
    operation_id = "execute_change_request",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "The candidate is engaged in every activity, from today, with each controller's authorisation", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the requester", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not every controller has approved, or it was executed or withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The register refuses the new links; the problem names why", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn execute(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<axum::Json<RequestAnswer>, ApiError> {
    requester_view(&state, &principal, &key).await?;
    let actor = principal.actor(state.clock.now());
    let view = changes::execute(&state.store, &key, &actor).await?;
    state.reload().await?;
    Ok(axum::Json(answer(&principal, view)?))
}

/// A stored file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentAnswer {
    pub sha256: String,
    pub size: usize,
    pub media_type: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    tag = "change-requests",
    operation_id = "upload_attachment",
    request_body(content = Vec<u8>, description = "The file, with its Content-Type", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored by its SHA-256 (storing the same bytes again changes nothing)", body = AttachmentAnswer),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 10 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .chars()
        .take(200)
        .collect::<String>();
    let stored = store_attachment(&state, &principal, &media_type, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(stored)).into_response())
}

/// Stores a file for a dossier or as evidence.
pub async fn store_attachment(
    state: &AppState,
    principal: &Principal,
    media_type: &str,
    bytes: &[u8],
) -> Result<AttachmentAnswer, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "the file is empty"));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(ApiError::TooLarge(format!(
            "files may be at most {} MiB",
            MAX_ATTACHMENT_BYTES / 1024 / 1024
        )));
    }
    let sha256 = changes::put_attachment(
        &state.store,
        media_type,
        bytes,
        &principal.actor(state.clock.now()),
    )
    .await?;
    Ok(AttachmentAnswer {
        sha256,
        size: bytes.len(),
        media_type: media_type.to_owned(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/attachments/{sha256}",
    tag = "change-requests",
    operation_id = "download_attachment",
    params(("sha256" = String, Path, description = "The file's SHA-256, lowercase hex")),
    responses(
        (status = 200, description = "The file as uploaded", content_type = "application/octet-stream"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    if !may_read_attachment(&state, &principal, &sha256).await? {
        return Err(ApiError::not_found(format!("file {sha256}")));
    }
    let Some((media_type, bytes)) = changes::attachment(&state.store, &sha256).await? else {
        return Err(ApiError::not_found(format!("file {sha256}")));
    };
    // Served as a download, never rendered by the browser as a page of ours.
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        [(
            "x-original-content-type",
            HeaderValue::from_str(&media_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        )],
        bytes,
    )
        .into_response())
}

/// A file is readable by whoever stored it, by those who see a contract whose signed document
/// it is, by those who see a request that cites it (in its dossier, or as the evidence of a
/// decision they see), and by those a breach citing it reached.
async fn may_read_attachment(
    state: &AppState,
    principal: &Principal,
    sha256: &str,
) -> Result<bool, ApiError> {
    if principal.user.is_admin {
        return Ok(true);
    }
    let uploader = changes::attachment_uploader(&state.store, sha256).await?;
    let Some(uploader) = uploader else {
        return Ok(false);
    };
    if uploader.ends_with(&format!("user:{}", principal.user.email)) {
        return Ok(true);
    }
    // A contract's signed document: by those who see the contract.
    {
        let register = state.register().await;
        let visibility = principal.visibility(&register)?;
        let of_a_contract_seen = register.contracts().iter().any(|c| {
            c.document.as_ref().is_some_and(|d| d.sha256 == sha256)
                && visibility.contract(c.id.as_str())
        });
        if of_a_contract_seen {
            return Ok(true);
        }
    }
    for summary in summaries(state, principal).await? {
        let view = changes::view(&state.store, &summary.key).await?;
        let dossier = &view.request.spec.dossier;
        let in_dossier = dossier
            .questionnaire
            .iter()
            .chain(&dossier.attachments)
            .any(|a| a.sha256 == sha256);
        let standing = Standing::of(principal, &view);
        let as_evidence = view.history.iter().any(|h| {
            h.body["outside"]["attachment"].as_str() == Some(sha256)
                && view.parties.iter().any(|p| {
                    p.addressee.controller.as_str() == h.organisation && standing.sees_party(p)
                })
        });
        if in_dossier || as_evidence {
            return Ok(true);
        }
    }
    // And by those a breach that cites it has reached (in any phase of its facts).
    for summary in crate::api::breaches::summaries(state, principal).await? {
        let view = custos_app::breaches::view(&state.store, &summary.key).await?;
        let cited = view
            .phases
            .iter()
            .flat_map(|p| &p.facts.attachments)
            .any(|a| a.sha256 == sha256);
        if cited {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A new webhook endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub organisation: String,
    pub url: String,
    /// The event types to receive; empty or absent: all.
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// An endpoint as listed (its secret only in the answer to its creation).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionAnswer {
    pub key: String,
    pub organisation: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: String,
    /// `whsec_...`: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl SubscriptionAnswer {
    fn of(s: custos_app::data::Subscription, with_secret: bool) -> Self {
        Self {
            key: s.key,
            organisation: s.organisation,
            url: s.url,
            event_types: s.event_types,
            enabled: s.enabled,
            disabled_reason: s.disabled_reason,
            created_at: s.created_at,
            secret: with_secret.then_some(s.secret),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "change-requests",
    operation_id = "create_webhook",
    request_body = SubscriptionRequest,
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown once)", body = SubscriptionAnswer),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of the organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn subscribe(
    State(state): State<AppState>,
    principal: Principal,
    Body(request): Body<SubscriptionRequest>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    if !principal.may(Capacity::Edit, &request.organisation) {
        return Err(ApiError::Forbidden(format!(
            "only editors and admins of {} may add its webhooks",
            request.organisation
        )));
    }
    let actor = principal.actor(state.clock.now());
    let subscription = custos_app::webhooks::subscribe(
        &state.store,
        &request.organisation,
        &request.url,
        request.event_types,
        state.outbound,
        &actor,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SubscriptionAnswer::of(subscription, true)),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "change-requests",
    operation_id = "list_webhooks",
    responses(
        (status = 200, description = "The endpoints of the caller's organisations", body = SubscriptionList),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn subscriptions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<SubscriptionList>, ApiError> {
    let all = custos_app::webhooks::webhooks(&state.store).await?;
    let items = all
        .into_iter()
        .filter(|s| principal.may(Capacity::Read, &s.organisation))
        .map(|s| SubscriptionAnswer::of(s, false))
        .collect();
    Ok(axum::Json(SubscriptionList { items }))
}

/// The webhook endpoints of the caller's organisations (one page: an organisation has few).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    pub items: Vec<SubscriptionAnswer>,
}

pub(crate) async fn own_subscription(
    state: &AppState,
    principal: &Principal,
    key: &str,
    write: bool,
) -> Result<custos_app::data::Subscription, ApiError> {
    let subscription = custos_app::webhooks::webhook(&state.store, key)
        .await?
        .filter(|s| principal.may(Capacity::Read, &s.organisation))
        .ok_or_else(|| ApiError::not_found(format!("webhook {key}")))?;
    if write {
        require_write(principal)?;
        if !principal.may(Capacity::Edit, &subscription.organisation) {
            return Err(ApiError::Forbidden(format!(
                "only editors and admins of {} may change its webhooks",
                subscription.organisation
            )));
        }
    }
    Ok(subscription)
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{key}/enable",
    tag = "change-requests",
    operation_id = "enable_webhook",
    params(("key" = String, Path, description = "The endpoint's key")),
    responses(
        (status = 204, description = "Enabled: its held and failed deliveries are due now, in order"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of its organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    own_subscription(&state, &principal, &key, true).await?;
    custos_app::webhooks::set_subscription_enabled(
        &state.store,
        &key,
        true,
        &principal.actor(state.clock.now()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{key}/disable",
    tag = "change-requests",
    operation_id = "disable_webhook",
    params(("key" = String, Path, description = "The endpoint's key")),
    responses(
        (status = 204, description = "Disabled: its deliveries are held until it is enabled"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of its organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    own_subscription(&state, &principal, &key, true).await?;
    custos_app::webhooks::set_subscription_enabled(
        &state.store,
        &key,
        false,
        &principal.actor(state.clock.now()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{key}/deliveries/{delivery}/replay",
    tag = "change-requests",
    operation_id = "replay_webhook_delivery",
    params(("key" = String, Path, description = "The endpoint's key"), ("delivery" = String, Path, description = "The delivery's key")),
    responses(
        (status = 204, description = "Due again at once, its attempts counted anew"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the endpoint's organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery has not failed (or is not the endpoint's)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, delivery)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    own_subscription(&state, &principal, &key, true).await?;
    custos_app::webhooks::replay(
        &state.store,
        &key,
        &delivery,
        &principal.actor(state.clock.now()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One delivery in the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAnswer {
    /// The delivery's key: the cursor of the pages.
    pub delivery: String,
    pub event: String,
    pub event_type: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{key}/deliveries",
    tag = "change-requests",
    operation_id = "list_webhook_deliveries",
    params(("key" = String, Path, description = "The endpoint's key"), PageQuery),
    responses(
        (status = 200, description = "A page of the latest 500 deliveries to the endpoint, newest first", body = DeliveryPage),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Params(query): Params<PageQuery>,
) -> Result<axum::Json<DeliveryPage>, ApiError> {
    own_subscription(&state, &principal, &key, false).await?;
    let log = custos_app::webhooks::deliveries(&state.store, &key, 500).await?;
    let answers: Vec<DeliveryAnswer> = log
        .into_iter()
        .map(|d| DeliveryAnswer {
            delivery: d.key,
            event: d.event_key,
            event_type: d.event_type,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
        })
        .collect();
    // Deliveries are keyed by UUIDv7: the key orders them by time.
    let page = super::Page::newest_first(
        answers,
        |d| d.delivery.as_str(),
        query.cursor.as_deref(),
        query.limit,
    )?;
    Ok(axum::Json(DeliveryPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
