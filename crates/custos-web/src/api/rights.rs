//! Data-subject requests over HTTP: entered by staff or a system, read, verified another way,
//! extended, answered (access: JSON, HTML, PDF), told to every recipient (Art. 19) and closed
//! or refused; the notifications' acknowledgements by the recipients; data sources and
//! portability exports. The disclosure ledger is `ledger.rs`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::data::{NotificationRow, StoredSubjectRequest};
use custos_app::rights::{self, NewRequest, NotificationChange, Received, SubjectRequestView};
use serde::{Deserialize, Serialize};

use super::changes::require_write;
use super::{Body, Params};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use custos_app::policy::Capacity;

/// A request as its controller's people see it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "SubjectRequest")]
pub struct RequestAnswer {
    pub key: String,
    pub controller: String,
    pub kind: String,
    pub status: String,
    pub channel: String,
    /// The subject's address while the request is open; erased once it is closed.
    pub email: Option<String>,
    pub details: String,
    pub transmit_to: Option<String>,
    pub received_at: String,
    pub deadline: String,
    pub extended_until: Option<String>,
    pub extension_reasons: Option<String>,
    /// The deadline that holds.
    pub due: String,
    pub verified_at: Option<String>,
    pub verification: Option<String>,
    pub closed_at: Option<String>,
    pub outcome: Option<String>,
    pub history: Vec<serde_json::Value>,
    pub notifications: Vec<NotificationAnswer>,
}

/// An Art. 19 notification to one recipient.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NotificationAnswer {
    pub key: String,
    pub request: String,
    pub recipient: String,
    /// Who relays it: none for the controller's own notifications.
    pub relayed_by: Option<String>,
    pub state: String,
    pub sent_at: Option<String>,
    pub note: Option<String>,
    pub updated_at: String,
    pub updated_by: String,
}

impl From<&NotificationRow> for NotificationAnswer {
    fn from(n: &NotificationRow) -> Self {
        Self {
            key: n.key.clone(),
            request: n.request_key.clone(),
            recipient: n.recipient.clone(),
            relayed_by: n.relayed_by.clone(),
            state: n.state.as_str().to_owned(),
            sent_at: n.sent_at.clone(),
            note: n.note.clone(),
            updated_at: n.updated_at.clone(),
            updated_by: n.updated_by.clone(),
        }
    }
}

pub(crate) fn answer(view: &SubjectRequestView) -> RequestAnswer {
    let r = &view.request;
    RequestAnswer {
        key: r.key.clone(),
        controller: r.controller.clone(),
        kind: r.kind.as_str().to_owned(),
        status: r.status.as_str().to_owned(),
        channel: r.channel.clone(),
        email: r.email.clone(),
        details: r.details.clone(),
        transmit_to: r.transmit_to.clone(),
        received_at: r.received_at.clone(),
        deadline: r.deadline.clone(),
        extended_until: r.extended_until.clone(),
        extension_reasons: r.extension_reasons.clone(),
        due: view.due().to_owned(),
        verified_at: r.verified_at.clone(),
        verification: r.verification.clone(),
        closed_at: r.closed_at.clone(),
        outcome: r.outcome.clone(),
        history: view
            .history
            .iter()
            .map(|h| serde_json::json!({"kind": h.kind, "body": h.body, "at": h.at, "by": h.by}))
            .collect(),
        notifications: view.notifications.iter().map(Into::into).collect(),
    }
}

/// The request, if the caller acts for its controller with one of `roles`.
pub(crate) async fn visible(
    state: &AppState,
    principal: &Principal,
    key: &str,
    capacity: Capacity,
) -> Result<SubjectRequestView, ApiError> {
    let view = rights::view(&state.store, key)
        .await
        .map_err(|_| ApiError::not_found(format!("subject request {key}")))?;
    if !principal.may(Capacity::Read, &view.request.controller) {
        return Err(ApiError::not_found(format!("subject request {key}")));
    }
    if !principal.may(capacity, &view.request.controller) {
        return Err(ApiError::Forbidden(format!(
            "only {}'s editors and administrators act on its requests",
            view.request.controller
        )));
    }
    Ok(view)
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests",
    tag = "subject-requests",
    operation_id = "enter_subject_request",
    request_body(content = serde_json::Value, description = "controller, kind (access, rectification, erasure, restriction, objection, portability), email, details, transmit_to"),
    responses(
        (status = 201, description = "Received; the verification link went to the address", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests for this address this hour", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enter(
    State(state): State<AppState>,
    principal: Principal,
    Body(new): Body<NewRequest>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    if !principal.may(Capacity::Edit, new.controller.as_str()) {
        return Err(ApiError::Forbidden(format!(
            "only {}'s editors and administrators enter its requests",
            new.controller
        )));
    }
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    match rights::receive(&state.store, &register, new, "api", &actor, &state.rights).await? {
        Received::Filed { view, .. } => {
            Ok((StatusCode::CREATED, axum::Json(answer(&view))).into_response())
        }
        Received::Throttled => Err(ApiError::TooManyRequests { retry_after: 3600 }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this controller's requests.
    pub controller: Option<String>,
    /// `open`: only requests not closed or refused.
    #[param(pattern = "^open$")]
    pub view: Option<String>,
}

/// One line of the inbox.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "SubjectRequestSummary")]
pub struct RequestSummary {
    pub key: String,
    pub controller: String,
    pub kind: String,
    pub status: String,
    pub received_at: String,
    pub due: String,
    pub verified: bool,
}

/// The inbox: the requests of the caller's controllers, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "SubjectRequestList")]
pub struct RequestList {
    pub items: Vec<RequestSummary>,
}

/// The notifications addressed to the caller's organisations and those they relay.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationAnswer>,
}

/// A connected system of the controller (Art. 15(3), 20): where exports are asked for.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DataSourceAnswer {
    pub key: String,
    pub name: String,
    pub url: String,
    pub created_at: String,
}

/// A data source as added: with its signing secret, shown this once.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DataSourceCreated {
    pub key: String,
    pub organisation: String,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub created_at: String,
}

/// The controller's data sources.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DataSourceList {
    pub items: Vec<DataSourceAnswer>,
}

pub(crate) fn summary(r: &StoredSubjectRequest) -> RequestSummary {
    RequestSummary {
        key: r.key.clone(),
        controller: r.controller.clone(),
        kind: r.kind.as_str().to_owned(),
        status: r.status.as_str().to_owned(),
        received_at: r.received_at.clone(),
        due: r
            .extended_until
            .clone()
            .unwrap_or_else(|| r.deadline.clone()),
        verified: r.verified_at.is_some(),
    }
}

/// The requests of the controllers the caller is a member of (every one for an admin).
pub(crate) async fn requests_for(
    state: &AppState,
    principal: &Principal,
    controller: Option<&str>,
    open_only: bool,
) -> Result<Vec<StoredSubjectRequest>, ApiError> {
    let mine: Vec<String> = principal
        .memberships
        .iter()
        .filter(|m| m.role.as_str() != "portal")
        .map(|m| m.organisation.clone())
        .filter(|o| controller.is_none_or(|c| c == o))
        .collect();
    let all = principal.user.is_admin && controller.is_none();
    let only: Vec<String> = match controller {
        Some(c) if principal.user.is_admin => vec![c.to_owned()],
        _ => mine,
    };
    let requests = rights::list(&state.store, (!all).then_some(only.as_slice())).await?;
    Ok(requests
        .into_iter()
        .filter(|r| !open_only || r.status.open())
        .collect())
}

#[utoipa::path(
    get,
    path = "/api/v1/subject-requests",
    tag = "subject-requests",
    operation_id = "list_subject_requests",
    params(ListQuery),
    responses(
        (status = 200, description = "The requests of the caller's controllers, newest first, with their deadlines", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let open_only = match query.view.as_deref() {
        None => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "view",
                format!("view is {other:?}: expected open (or no view)"),
            ));
        }
    };
    let requests = requests_for(&state, &principal, query.controller.as_deref(), open_only).await?;
    let items: Vec<RequestSummary> = requests.iter().map(summary).collect();
    Ok(axum::Json(RequestList { items }).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/subject-requests/{key}",
    tag = "subject-requests",
    operation_id = "get_subject_request",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "The request, its history and its Art. 19 notifications", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let view = visible(&state, &principal, &key, Capacity::Read).await?;
    Ok(axum::Json(answer(&view)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationBody {
    /// How the identity was verified (in person, signed letter).
    pub method: String,
    /// What it rests on.
    pub evidence: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonsBody {
    /// Reasons, evidence or a note, as the action asks.
    #[serde(alias = "evidence", alias = "note", alias = "reason")]
    pub reasons: String,
}

/// The actions on a request, by the last segment of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Extend,
    Close,
    Refuse,
}

async fn act(
    state: AppState,
    principal: Principal,
    key: String,
    action: Action,
    reasons: String,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    visible(&state, &principal, &key, Capacity::Edit).await?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = match action {
        Action::Extend => {
            rights::extend(
                &state.store,
                &register,
                &key,
                &reasons,
                &actor,
                &state.rights,
            )
            .await?
        }
        Action::Close => rights::close(&state.store, &register, &key, &reasons, &actor).await?,
        Action::Refuse => rights::refuse(&state.store, &register, &key, &reasons, &actor).await?,
    };
    Ok(axum::Json(answer(&view)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/verification",
    tag = "subject-requests",
    operation_id = "record_subject_verification",
    params(("key" = String, Path, description = "The request's key")),
    request_body = VerificationBody,
    responses(
        (status = 200, description = "Verified", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verification(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<VerificationBody>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    visible(&state, &principal, &key, Capacity::Edit).await?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = rights::record_verification(
        &state.store,
        &register,
        &key,
        &body.method,
        &body.evidence,
        &actor,
    )
    .await?;
    Ok(axum::Json(answer(&view)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/extend",
    tag = "subject-requests",
    operation_id = "extend_subject_request",
    params(("key" = String, Path, description = "The request's key")),
    request_body = ReasonsBody,
    responses(
        (status = 200, description = "Extended by two further months; the subject is told the reasons", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn extend(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<ReasonsBody>,
) -> Result<Response, ApiError> {
    act(state, principal, key, Action::Extend, body.reasons).await
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/close",
    tag = "subject-requests",
    operation_id = "close_subject_request",
    params(("key" = String, Path, description = "The request's key")),
    request_body = ReasonsBody,
    responses(
        (status = 200, description = "Closed; the subject is told (an access request gets its answer); the address is erased once that e-mail is out", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn close(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<ReasonsBody>,
) -> Result<Response, ApiError> {
    act(state, principal, key, Action::Close, body.reasons).await
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/refuse",
    tag = "subject-requests",
    operation_id = "refuse_subject_request",
    params(("key" = String, Path, description = "The request's key")),
    request_body = ReasonsBody,
    responses(
        (status = 200, description = "Refused with reasons told to the subject", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refuse(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<ReasonsBody>,
) -> Result<Response, ApiError> {
    act(state, principal, key, Action::Refuse, body.reasons).await
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/notify",
    tag = "subject-requests",
    operation_id = "notify_subject_request_recipients",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "One notification per recipient, relayed down the chain", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn notify(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    visible(&state, &principal, &key, Capacity::Edit).await?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view =
        rights::notify_recipients(&state.store, &register, &key, &actor, &state.rights).await?;
    Ok(axum::Json(answer(&view)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnswerQuery {
    /// `json` (default), `html` or `pdf`.
    #[param(pattern = "^(json|html|pdf)$")]
    pub format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/subject-requests/{key}/answer",
    tag = "subject-requests",
    operation_id = "subject_access_answer",
    params(("key" = String, Path, description = "The request's key"), AnswerQuery),
    responses(
        (status = 200, description = "The access answer: specific recipients as the chain stood at each disclosure, transfers and safeguards, processing", content(
            ("application/json"), ("text/html"), ("application/pdf"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn access_answer(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Params(query): Params<AnswerQuery>,
) -> Result<Response, ApiError> {
    visible(&state, &principal, &key, Capacity::Read).await?;
    let register = state.register().await;
    let report = rights::access_report(&state.store, &register, &key, state.clock.now()).await?;
    let document = || custos_render::rights::access_document(&report);
    let (content_type, body) = match query.format.as_deref().unwrap_or("json") {
        "json" => return Ok(axum::Json(&report).into_response()),
        "html" => ("text/html; charset=utf-8", document().html().into_bytes()),
        "pdf" => ("application/pdf", document().pdf()),
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("format is {other:?}: expected json, html or pdf"),
            ));
        }
    };
    Ok(crate::as_document(
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/subject-requests/{key}/export",
    tag = "subject-requests",
    operation_id = "subject_data_export",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "A ZIP: manifest.json, and JSON and CSV per dataset of each data source", content_type = "application/zip"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    visible(&state, &principal, &key, Capacity::Edit).await?;
    let actor = principal.actor(state.clock.now());
    let (zip, _) = rights::export_for_download(&state.store, &key, state.outbound, &actor).await?;
    let disposition = format!("attachment; filename=\"export-{key}.zip\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            ),
        ],
        zip,
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/subject-requests/{key}/transmit",
    tag = "subject-requests",
    operation_id = "transmit_subject_data",
    params(("key" = String, Path, description = "The request's key")),
    responses(
        (status = 200, description = "Sent to the controller the subject named (Art. 20(2))", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transmit(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    visible(&state, &principal, &key, Capacity::Edit).await?;
    let actor = principal.actor(state.clock.now());
    let status = rights::transmit(&state.store, &key, state.outbound, &actor).await?;
    Ok(axum::Json(Transmitted { status }).into_response())
}

/// The answer of the endpoint the export was transmitted to.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Transmitted {
    /// Its HTTP status.
    pub status: u16,
}

/// A notification as its recipient reads it: what to carry out, for whom.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct NotificationDetail {
    pub notification: NotificationAnswer,
    /// rectification, erasure or restriction.
    pub kind: String,
    pub controller: String,
    /// The subject's address while the request is open; erased once it is closed.
    pub identifier: Option<String>,
    pub details: String,
}

/// The notification, if the caller acts for its recipient, the processor that relays it, or
/// its request's controller.
async fn notification_for(
    state: &AppState,
    principal: &Principal,
    key: &str,
) -> Result<(NotificationRow, StoredSubjectRequest), ApiError> {
    let (row, request) = rights::notification(&state.store, key)
        .await
        .map_err(|_| ApiError::not_found(format!("notification {key}")))?;
    let relayer = row
        .relayed_by
        .as_deref()
        .is_some_and(|r| principal.may(Capacity::Read, r));
    if principal.may(Capacity::Read, &row.recipient)
        || relayer
        || principal.may(Capacity::Read, &request.controller)
    {
        Ok((row, request))
    } else {
        Err(ApiError::not_found(format!("notification {key}")))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/rights-notifications/{key}",
    tag = "subject-requests",
    operation_id = "get_rights_notification",
    params(("key" = String, Path, description = "The notification's key")),
    responses(
        (status = 200, description = "The notification, with the subject's address while the request is open", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_notification(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let (row, request) = notification_for(&state, &principal, &key).await?;
    Ok(axum::Json(NotificationDetail {
        notification: NotificationAnswer::from(&row),
        kind: request.kind.as_str().to_owned(),
        controller: request.controller,
        identifier: request.email,
        details: request.details,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/rights-notifications",
    tag = "subject-requests",
    operation_id = "list_rights_notifications",
    responses(
        (status = 200, description = "The notifications addressed to the caller's organisations and those they relay, newest first", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_notifications(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let mut items = Vec::new();
    for membership in &principal.memberships {
        for row in rights::notifications_to(&state.store, &membership.organisation).await? {
            items.push(NotificationAnswer::from(&row));
        }
    }
    items.sort_by(|a, b| b.key.cmp(&a.key));
    items.dedup_by(|a, b| a.key == b.key);
    Ok(axum::Json(NotificationList { items }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NotificationBody {
    /// What was done (done), or why it could not be (failed, impossible).
    #[serde(default, alias = "evidence", alias = "reason")]
    pub note: Option<String>,
}

async fn change_notification(
    state: AppState,
    principal: Principal,
    key: String,
    action: &str,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    let body: NotificationBody = if body.is_empty() {
        NotificationBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid {
            detail: format!("body: {e}"),
            field: None,
        })?
    };
    let note = body.note.unwrap_or_default();
    let change = match action {
        "acknowledge" => NotificationChange::Acknowledge,
        "done" => NotificationChange::Done { evidence: note },
        "failed" => NotificationChange::Failed { reason: note },
        _ => NotificationChange::Impossible { reason: note },
    };
    let row = settle_notification(&state, &principal, &key, change).await?;
    Ok(axum::Json(NotificationAnswer::from(&row)).into_response())
}

/// A step of an Art. 19 notification, for the API and the pages. The recipient acknowledges
/// and completes (the processor that relayed it, or the controller, may record what the
/// recipient said outside Custos); the controller decides failure and impossibility.
pub(crate) async fn settle_notification(
    state: &AppState,
    principal: &Principal,
    key: &str,
    change: NotificationChange,
) -> Result<NotificationRow, ApiError> {
    require_write(principal)?;
    let (row, request) = notification_for(state, principal, key).await?;
    let by_recipient = principal.may(Capacity::Portal, &row.recipient)
        || row
            .relayed_by
            .as_deref()
            .is_some_and(|r| principal.may(Capacity::Portal, r));
    let by_controller = principal.may(Capacity::Edit, &request.controller);
    let (allowed, action) = match change {
        NotificationChange::Acknowledge => (by_recipient || by_controller, "was acknowledged"),
        NotificationChange::Done { .. } => (by_recipient || by_controller, "was carried out"),
        NotificationChange::Failed { .. } => (by_controller, "failed"),
        NotificationChange::Impossible { .. } => (by_controller, "is impossible"),
    };
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "only {} records that a notification {action}",
            if by_recipient {
                &request.controller
            } else {
                &row.recipient
            }
        )));
    }
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    Ok(
        rights::update_notification(&state.store, &register, key, change, &actor, &state.rights)
            .await?,
    )
}

macro_rules! notification_action {
    ($name:ident, $action:literal, $id:literal, $what:literal) => {
        #[utoipa::path(
            post,
            path = concat!("/api/v1/rights-notifications/{key}/", $action),
            tag = "subject-requests",
            operation_id = $id,
            params(("key" = String, Path, description = "The notification's key")),
            request_body(content = NotificationBody, description = "note: evidence or reason"),
            responses(
                (status = 200, description = $what, body = serde_json::Value),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not the recipient's or the controller's to record", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The notification cannot take that step from where it stands", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path(key): Path<String>,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            change_notification(state, principal, key, $action, body).await
        }
    };
}

notification_action!(
    acknowledge,
    "acknowledge",
    "acknowledge_rights_notification",
    "Acknowledged by the recipient; relayed to the processors it engaged"
);
notification_action!(
    done,
    "done",
    "complete_rights_notification",
    "Carried out, with evidence"
);
notification_action!(
    failed,
    "failed",
    "fail_rights_notification",
    "Could not be delivered (controller)"
);
notification_action!(
    impossible,
    "impossible",
    "impossible_rights_notification",
    "Impossible or disproportionate, with the reason (controller)"
);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSourceBody {
    /// A slug naming the system (`shop`, `crm`): the folder in exports.
    pub name: String,
    /// Where Custos POSTs `{"type": "subject.export", ...}` (signed like webhooks).
    pub url: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations/{id}/data-sources",
    tag = "subject-requests",
    operation_id = "add_data_source",
    params(("id" = String, Path, description = "The controller")),
    request_body = DataSourceBody,
    responses(
        (status = 201, description = "Added, with its signing secret (shown once)", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_data_source(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Body(body): Body<DataSourceBody>,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    if !principal.may(Capacity::Administer, &id) {
        return Err(ApiError::Forbidden(format!(
            "only {id}'s administrators add its data sources"
        )));
    }
    if state.register().await.organisation(&id).is_none() {
        return Err(ApiError::not_found(format!("organisation {id}")));
    }
    let actor = principal.actor(state.clock.now());
    let source = rights::add_data_source(
        &state.store,
        &id,
        &body.name,
        &body.url,
        state.outbound,
        &actor,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DataSourceCreated {
            key: source.key,
            organisation: source.organisation,
            name: source.name,
            url: source.url,
            secret: source.secret,
            created_at: source.created_at,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/data-sources",
    tag = "subject-requests",
    operation_id = "list_data_sources",
    params(("id" = String, Path, description = "The controller")),
    responses(
        (status = 200, description = "The data sources (without secrets)", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed to the caller (role, organisation, or a read-only token)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not possible where the request stands; the problem says why", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_data_sources(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !principal.may(Capacity::Edit, &id) {
        return Err(ApiError::not_found(format!("organisation {id}")));
    }
    let sources = rights::data_sources(&state.store, &id).await?;
    let items = sources
        .into_iter()
        .map(|s| DataSourceAnswer {
            key: s.key,
            name: s.name,
            url: s.url,
            created_at: s.created_at,
        })
        .collect();
    Ok(axum::Json(DataSourceList { items }).into_response())
}
