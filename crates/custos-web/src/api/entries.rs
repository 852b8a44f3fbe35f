//! Create, replace and delete one entry of the register. A create may carry an
//! `Idempotency-Key` (a retry gets the first answer again); a replace or a delete must carry
//! `If-Match` with the entry's `ETag` (a stale one gets 412, and nothing is lost). Every write
//! keeps the register valid (what the entry can affect is checked) and is audited with the
//! caller as actor.
//!
//! Who may write is `custos_app::policy` (docs/access.md): what the caller cannot see is 404
//! before anything else, what it sees but may not assert 403 naming the field; a party's
//! change of a bilateral contract becomes a proposed amendment (202, see `api::contracts`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::entries::{Authority, Entry, Expect, Idempotency, Write, request_hash, write};
use custos_core::model::{Activity, Contract, Engagement, Organisation};
use custos_core::register::{EntityKind, Register};
use custos_core::values::Slug;

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use custos_app::visibility::Visibility;

pub(crate) fn visible(visibility: &Visibility, register: &Register, entry: &Entry) -> bool {
    let id = entry.id().as_str();
    match entry.kind() {
        EntityKind::Organisation => visibility.organisation(id),
        EntityKind::Activity => visibility.activity(register, id),
        EntityKind::Contract => visibility.contract(id),
        EntityKind::Engagement => visibility.engagement(register, id),
    }
}

fn if_match(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_start_matches("W/").to_owned())
        .ok_or_else(|| {
            ApiError::PreconditionRequired(
                "send If-Match with the entry's ETag (from GET): changes to a stale version are refused"
                    .to_owned(),
            )
        })
}

fn with_tag(status: StatusCode, body: String, tag: Option<String>) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(value) = tag.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// What a write answers: the entry as written, or the amendment it became.
pub(crate) enum Outcome {
    Written(Box<custos_app::entries::Written>),
    Proposed(Box<custos_app::data::Amendment>),
}

pub(crate) async fn run(
    state: &AppState,
    principal: &Principal,
    change: Write,
    expect: Expect,
    idempotency: Option<Idempotency>,
) -> Result<Outcome, ApiError> {
    if !principal.may_write() {
        return Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ));
    }
    let caller = principal.caller();
    // Judged on the register the write is decided on (the server's copy at the database's
    // version), which the write use case brings up to date first.
    let is_visible = |register: &Register, entry: &Entry| {
        principal
            .visibility(register)
            .is_ok_and(|visibility| visible(&visibility, register, entry))
    };
    let mut written = write(
        &state.store,
        &state.live,
        change,
        expect,
        &principal.actor(state.clock.now()),
        idempotency.as_ref(),
        &Authority {
            caller: &caller,
            visible: &is_visible,
        },
    )
    .await?;
    if let Some(amendment) = written.proposal.take() {
        return Ok(Outcome::Proposed(Box::new(amendment)));
    }
    Ok(Outcome::Written(Box::new(written)))
}

/// 202 with the amendment a contract change became, and where to follow it.
fn proposed(amendment: &custos_app::data::Amendment) -> Result<Response, ApiError> {
    let body = serde_json::to_string(&crate::api::contracts::AmendmentView::of(amendment)?)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = with_tag(StatusCode::ACCEPTED, body, None);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/api/v1/contracts/{}/amendments/{}",
        amendment.contract, amendment.key
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn create_entry(
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
    entry: Entry,
    collection: &str,
) -> Result<Response, ApiError> {
    let idempotency = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|key| {
            if key.is_empty() || key.len() > 255 {
                Err(ApiError::invalid(
                    "Idempotency-Key",
                    "Idempotency-Key: expected 1 to 255 characters",
                ))
            } else {
                Ok(Idempotency {
                    user_key: principal.user.key.clone(),
                    key: key.to_owned(),
                    request_hash: request_hash(&body),
                })
            }
        })
        .transpose()?;
    let id = entry.id().to_string();
    let written = match run(
        &state,
        &principal,
        Write::Put(Box::new(entry)),
        Expect::Absent,
        idempotency,
    )
    .await?
    {
        Outcome::Written(written) => written,
        Outcome::Proposed(amendment) => return proposed(&amendment),
    };
    if let Some(first) = written.replayed {
        return Ok(with_tag(StatusCode::CREATED, first, None));
    }
    let after = written
        .after
        .ok_or_else(|| ApiError::Internal("a create wrote nothing".to_owned()))?;
    let mut response = with_tag(
        StatusCode::CREATED,
        after
            .json()
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        Some(after.tag()),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/{collection}/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn replace_entry(
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    path_id: &str,
    entry: Entry,
) -> Result<Response, ApiError> {
    let tag = if_match(&headers)?;
    // What the caller cannot see is 404 before anything is said about the body.
    // (The snapshot is let go before the write, which updates it in place.)
    let exists = {
        let register = state.register().await;
        let visibility = principal.visibility(&register)?;
        register
            .parts()
            .entry(entry.kind(), path_id)
            .is_some_and(|stored| visible(&visibility, &register, &stored))
    };
    if !exists {
        return Err(ApiError::not_found(format!("{} {path_id:?}", entry.kind())));
    }
    if entry.id().as_str() != path_id {
        return Err(ApiError::invalid(
            "id",
            format!(
                "id is {:?}, but the path names {path_id:?}: an entry keeps its id",
                entry.id().as_str()
            ),
        ));
    }
    let written = match run(
        &state,
        &principal,
        Write::Put(Box::new(entry)),
        Expect::Tag(tag),
        None,
    )
    .await?
    {
        Outcome::Written(written) => written,
        Outcome::Proposed(amendment) => return proposed(&amendment),
    };
    let after = written
        .after
        .ok_or_else(|| ApiError::Internal("a replace wrote nothing".to_owned()))?;
    Ok(with_tag(
        StatusCode::OK,
        after
            .json()
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        Some(after.tag()),
    ))
}

async fn delete_entry(
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    kind: EntityKind,
    id: &str,
) -> Result<Response, ApiError> {
    let id: Slug = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("{kind} {id:?}")))?;
    let tag = if_match(&headers)?;
    match run(
        &state,
        &principal,
        Write::Remove(kind, id),
        Expect::Tag(tag),
        None,
    )
    .await?
    {
        Outcome::Written(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Proposed(amendment) => proposed(&amendment),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        detail: format!("the body is not a valid entry: {e}"),
        field: None,
    })
}

macro_rules! write_endpoints {
    ($create:ident, $replace:ident, $delete:ident, $ty:ty, $variant:ident, $kind:expr, $collection:literal, $what:literal) => {
        #[utoipa::path(
            post,
            path = concat!("/api/v1/", $collection),
            tag = "register",
            request_body(content = Object, description = concat!("The new ", $what, " (the manifest's form: `custos schema`)")),
            params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body gets the first answer again")),
            responses(
                (status = 201, description = concat!("Created; the ", $what, " with its ETag")),
                (status = 202, description = "A contract change by one party: the proposed amendment, awaiting the other party (docs/access.md)", body = crate::api::contracts::AmendmentView),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "An entry with this id exists", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid, or the register would be (every problem named)", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $create(
            State(state): State<AppState>,
            principal: Principal,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let entry: $ty = parse(&body)?;
            create_entry(state, principal, headers, body, Entry::$variant(entry), $collection).await
        }

        #[utoipa::path(
            put,
            path = concat!("/api/v1/", $collection, "/{id}"),
            tag = "register",
            request_body(content = Object, description = concat!("The whole ", $what, " as it should be")),
            params(
                ("id" = String, Path, description = concat!("The ", $what, "'s id")),
                ("If-Match" = String, Header, description = "The ETag of the version read"),
            ),
            responses(
                (status = 200, description = concat!("Replaced; the ", $what, " with its new ETag")),
                (status = 202, description = "A contract change by one party: the proposed amendment, awaiting the other party (docs/access.md)", body = crate::api::contracts::AmendmentView),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "Changed since it was read", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
                (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $replace(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ApiError> {
            let entry: $ty = parse(&body)?;
            replace_entry(state, principal, headers, &id, Entry::$variant(entry)).await
        }

        #[utoipa::path(
            delete,
            path = concat!("/api/v1/", $collection, "/{id}"),
            tag = "register",
            params(
                ("id" = String, Path, description = concat!("The ", $what, "'s id")),
                ("If-Match" = String, Header, description = "The ETag of the version read"),
            ),
            responses(
                (status = 204, description = "Deleted"),
                (status = 202, description = "A contract change by one party: the proposed amendment, awaiting the other party (docs/access.md)", body = crate::api::contracts::AmendmentView),
                (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "Changed since it was read", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Other entries still refer to it", body = Problem, content_type = "application/problem+json"),
                (status = 428, description = "If-Match is missing", body = Problem, content_type = "application/problem+json"),
            )
        )]
        pub async fn $delete(
            State(state): State<AppState>,
            principal: Principal,
            Path(id): Path<String>,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            delete_entry(state, principal, headers, $kind, &id).await
        }
    };
}

write_endpoints!(
    create_organisation,
    replace_organisation,
    delete_organisation,
    Organisation,
    Organisation,
    EntityKind::Organisation,
    "organisations",
    "organisation"
);
write_endpoints!(
    create_activity,
    replace_activity,
    delete_activity,
    Activity,
    Activity,
    EntityKind::Activity,
    "activities",
    "activity"
);
write_endpoints!(
    create_contract,
    replace_contract,
    delete_contract,
    Contract,
    Contract,
    EntityKind::Contract,
    "contracts",
    "contract"
);
write_endpoints!(
    create_engagement,
    replace_engagement,
    delete_engagement,
    Engagement,
    Engagement,
    EntityKind::Engagement,
    "engagements",
    "engagement"
);
