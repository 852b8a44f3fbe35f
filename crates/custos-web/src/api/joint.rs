//! Joint-controller listings (Art. 26): an organisation listed as joint controller of another's
//! activity sees the listing and accepts it (or withdraws its acceptance); only then does the
//! activity count as its own (docs/access.md).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// An activity listing an organisation as joint controller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingView {
    pub activity: String,
    pub name: Option<String>,
    pub controller: String,
    /// The listed organisation.
    pub organisation: String,
    pub accepted: bool,
    pub accepted_on: Option<String>,
    pub purposes: Vec<String>,
}

impl From<custos_app::joint::Listing> for ListingView {
    fn from(l: custos_app::joint::Listing) -> Self {
        Self {
            activity: l.activity,
            name: l.name,
            controller: l.controller,
            organisation: l.organisation,
            accepted: l.accepted,
            accepted_on: l.accepted_on,
            purposes: l.purposes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingList {
    pub items: Vec<ListingView>,
}

/// The listings of the organisations the caller edits for, pending ones first.
#[utoipa::path(
    get,
    path = "/api/v1/joint-listings",
    operation_id = "list_joint_listings",
    tag = "register",
    responses(
        (status = 200, description = "The listings", body = ListingList),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Json<ListingList> {
    let register = state.register().await;
    Json(ListingList {
        items: custos_app::joint::listings(&register, &principal.caller())
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

async fn answer(
    state: AppState,
    principal: Principal,
    activity: String,
    organisation: String,
    accept: bool,
) -> Result<Json<ListingView>, ApiError> {
    if !principal.may_write() {
        return Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ));
    }
    let now = state.clock.now();
    let listing = custos_app::joint::answer(
        &state.store,
        &state.live,
        &activity,
        &organisation,
        accept,
        &principal.caller(),
        &principal.actor(now),
        custos_app::clock::day_of(now),
    )
    .await?;
    Ok(Json(listing.into()))
}

macro_rules! answer_endpoint {
    ($name:ident, $verb:literal, $accept:expr, $what:literal) => {
        #[utoipa::path(
            post,
            path = concat!("/api/v1/activities/{id}/joint-controllers/{organisation}/", $verb),
            tag = "register",
            operation_id = concat!($verb, "_joint_listing"),
            params(
                ("id" = String, Path, description = "The activity"),
                ("organisation" = String, Path, description = "The listed joint controller"),
            ),
            responses(
                (status = 200, description = $what, body = ListingView),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not an editor of the listed organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such listing visible to the caller", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "The activity changed meanwhile: try again", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            Path((id, organisation)): Path<(String, String)>,
        ) -> Result<Json<ListingView>, ApiError> {
            answer(state, principal, id, organisation, $accept).await
        }
    };
}

answer_endpoint!(
    accept,
    "accept",
    true,
    "Accepted: the activity is now also the listed organisation's"
);
answer_endpoint!(
    withdraw,
    "withdraw",
    false,
    "Withdrawn: the listing is pending again"
);
