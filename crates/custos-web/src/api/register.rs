//! The register's entries, as the caller may see them: lists by cursor, one by id, and the
//! whole register as a manifest (administrators), with a dry run before applying one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use custos_core::model::{Activity, Contract, Engagement, Organisation};
use custos_core::plan::Plan;
use serde::Deserialize;

use super::{Page, PageQuery, Params};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use custos_app::visibility::Visibility;

macro_rules! list_and_get {
    ($list:ident, $get:ident, $ty:ty, $entries:ident, $lookup:ident, $what:literal, $path:literal, $visible:expr) => {
        #[utoipa::path(
            get,
            path = $path,
            tag = "register",
            params(PageQuery),
            responses(
                (status = 200, description = concat!("A page of ", $what, "s the caller sees, in id order")),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $list(
            State(state): State<AppState>,
            principal: Principal,
            Params(query): Params<PageQuery>,
        ) -> Result<Json<Page<$ty>>, ApiError> {
            let register = state.register().await;
            let visibility = principal.visibility(&register)?;
            let visible = $visible;
            let entries = register
                .$entries()
                .iter()
                .filter(|e: &&$ty| visible(&visibility, &register, e));
            Ok(Json(Page::of(entries, |e| e.id.as_str(), &query, Clone::clone)?))
        }

        #[utoipa::path(
            get,
            path = concat!($path, "/{id}"),
            tag = "register",
            params(("id" = String, Path, description = concat!("The ", $what, "'s id"))),
            responses(
                (status = 200, description = concat!("The ", $what, ", with its ETag")),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $get(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
        ) -> Result<Response, ApiError> {
            let register = state.register().await;
            let visibility = principal.visibility(&register)?;
            let visible = $visible;
            let entry = register
                .$lookup(&id)
                .filter(|e| visible(&visibility, &register, e))
                .ok_or_else(|| ApiError::not_found(format!(concat!($what, " {:?}"), id)))?;
            let mut response = Json(entry).into_response();
            // The version to send back in If-Match when replacing or deleting it.
            if let Ok(tag) = HeaderValue::from_str(&custos_app::entries::tag_of(entry)) {
                response.headers_mut().insert(header::ETAG, tag);
            }
            Ok(response)
        }
    };
}

list_and_get!(
    list_organisations,
    get_organisation,
    Organisation,
    organisations,
    organisation,
    "organisation",
    "/api/v1/organisations",
    |v: &Visibility, _: &custos_core::register::Register, e: &Organisation| v
        .organisation(e.id.as_str())
);
list_and_get!(
    list_activities,
    get_activity,
    Activity,
    activities,
    activity,
    "activity",
    "/api/v1/activities",
    |v: &Visibility, r: &custos_core::register::Register, e: &Activity| v
        .activity(r, e.id.as_str())
);
list_and_get!(
    list_contracts,
    get_contract,
    Contract,
    contracts,
    contract,
    "contract",
    "/api/v1/contracts",
    |v: &Visibility, _: &custos_core::register::Register, e: &Contract| v.contract(e.id.as_str())
);
list_and_get!(
    list_engagements,
    get_engagement,
    Engagement,
    engagements,
    engagement,
    "engagement",
    "/api/v1/engagements",
    |v: &Visibility, r: &custos_core::register::Register, e: &Engagement| v
        .engagement(r, e.id.as_str())
);

/// The whole register as one manifest (YAML); administrators only.
#[utoipa::path(
    get,
    path = "/api/v1/manifest",
    tag = "register",
    responses(
        (status = 200, description = "The register as one manifest (docs/manifest.md; `custos schema`)", content_type = "application/yaml", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_manifest(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require_admin()?;
    let register = state.register().await;
    let yaml = custos_core::manifest::to_yaml(register.parts());
    Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApplyQuery {
    /// Only show what applying would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// Makes the register exactly the manifest in the body (YAML), in one transaction, audited;
/// with `dry_run=true`, only says what would change. Administrators only: a plan compares
/// the whole register, which no other party may see (`custos apply --as` runs a party's
/// manifest through the policy).
#[utoipa::path(
    post,
    path = "/api/v1/manifest",
    tag = "register",
    params(ApplyQuery),
    request_body(content = String, content_type = "application/yaml", description = "A manifest (docs/manifest.md)"),
    responses(
        (status = 200, description = "The plan: what changed (or would change)"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The manifest is invalid; every error located", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_manifest(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<ApplyQuery>,
    body: String,
) -> Result<Json<Plan>, ApiError> {
    principal.require_admin()?;
    if !principal.may_write() {
        return Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ));
    }
    let desired = custos_core::manifest::parse_str("manifest", &body).map_err(|errors| {
        ApiError::Invalid {
            detail: errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            field: Some("body".to_owned()),
        }
    })?;
    let plan = if query.dry_run {
        custos_app::register::plan(&state.store, &desired).await?
    } else {
        let plan = custos_app::register::apply_by(
            &state.store,
            &desired,
            &principal.actor(state.clock.now()),
            &principal.caller(),
        )
        .await?;
        state.reload().await?;
        plan
    };
    Ok(Json(plan))
}
