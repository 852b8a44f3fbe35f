//! Signing in and out (a server-side session in a cookie), who am I, and API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::data::{Membership, NewToken, Scope, TokenRecord};
use custos_app::sessions::{self, SESSION_HOURS, SignInOutcome, new_secret};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::Body;
use crate::auth::{ClientAddress, Principal, SESSION_COOKIE, TOKEN_PREFIX, Via, hash_secret};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    #[schema(min_length = 1, max_length = 320, pattern = r"\S")]
    pub email: String,
    #[schema(max_length = 1024)]
    pub password: String,
    /// The second factor, for an account that has one: the app's current code or an unused
    /// recovery code. Without it such an account is answered 401, asking for it.
    #[serde(default)]
    #[schema(max_length = 40)]
    pub code: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub email: String,
    pub is_admin: bool,
    #[schema(value_type = Vec<Object>)]
    pub memberships: Vec<Membership>,
    /// Send it back in the `X-CSRF-Token` header of every write made with the session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

fn me(principal: &Principal) -> Me {
    Me {
        email: principal.user.email.clone(),
        is_admin: principal.user.is_admin,
        memberships: principal.memberships.clone(),
        csrf_token: match &principal.via {
            Via::Session { csrf_token, .. } => Some(csrf_token.clone()),
            Via::Token { .. } => None,
        },
    }
}

/// The same answer, and about the same time, for an unknown address and a wrong password.
const BAD_CREDENTIALS: &str = "the e-mail address or the password is not right";

#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "people",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: the session cookie is set", body = Me),
        (status = 401, description = "The credentials (or the second factor) are not right, or the account needs its second factor", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account is disabled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this address", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Body(form): Body<SignIn>,
) -> Result<Response, ApiError> {
    let started = match start_session(
        &state,
        client,
        &form.email,
        &form.password,
        form.code.as_deref().filter(|c| !c.is_empty()),
    )
    .await?
    {
        Started::Session(started) => *started,
        Started::SecondFactor { .. } => {
            return Err(ApiError::Unauthenticated(SECOND_FACTOR_NEEDED.to_owned()));
        }
    };
    let mut response = Json(Me {
        email: started.user.email.clone(),
        is_admin: started.user.is_admin,
        memberships: started.memberships.clone(),
        csrf_token: Some(started.csrf_token.clone()),
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&started.cookie(state.secure_cookies)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// What the API says to an account with a second factor signing in without its code.
pub const SECOND_FACTOR_NEEDED: &str = "this account signs in with a second factor: send `code` (the app's current code or a recovery code)";

/// A sign-in whose credentials were right.
pub enum Started {
    Session(Box<StartedSession>),
    /// The password is right; the second factor is asked for with this short-lived secret.
    SecondFactor {
        pending: String,
    },
}

/// A session just started: the secret for the cookie, and what the page or the client needs.
pub struct StartedSession {
    pub session_id: String,
    pub csrf_token: String,
    pub user: custos_app::data::User,
    pub memberships: Vec<Membership>,
}

impl StartedSession {
    /// The `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure behind TLS.
    pub fn cookie(&self, secure: bool) -> String {
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            self.session_id,
            SESSION_HOURS * 3600,
            if secure { "; Secure" } else { "" }
        )
    }
}

/// Checks the credentials (throttled per e-mail address and per client address, the same
/// answer for an unknown address and a wrong password or code) and stores a new session; an
/// account with a second factor and no `code` waits for it.
pub async fn start_session(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    email: &str,
    password: &str,
    code: Option<&str>,
) -> Result<Started, ApiError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 320 {
        return Err(ApiError::invalid(
            "email",
            "email: expected an e-mail address",
        ));
    }
    if password.len() > custos_app::people::MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid("password", "password: too long"));
    }
    if code.is_some_and(|c| c.len() > 40) {
        return Err(ApiError::invalid("code", "code: too long"));
    }
    let now = state.clock.now();
    let client_key = client.map(|ip| format!("client:{ip}"));
    throttled(state, &email, client_key.as_deref())?;
    match sessions::sign_in(&state.store, &email, password, code, now).await? {
        SignInOutcome::SignedIn(signed_in) => {
            state.throttle.succeeded(&email);
            Ok(Started::Session(Box::new(StartedSession::from(*signed_in))))
        }
        SignInOutcome::SecondFactor { pending } => Ok(Started::SecondFactor { pending }),
        SignInOutcome::Disabled => Err(ApiError::Forbidden(ACCOUNT_DISABLED.to_owned())),
        SignInOutcome::Refused => {
            count_failure(state, &email, client_key.as_deref());
            Err(ApiError::Unauthenticated(BAD_CREDENTIALS.to_owned()))
        }
    }
}

/// What a disabled account is told once its password was right.
pub const ACCOUNT_DISABLED: &str =
    "this account is disabled: ask an administrator of your organisation";

/// Refuses a sign-in step while the address or the client waits after failures.
pub fn throttled(state: &AppState, email: &str, client_key: Option<&str>) -> Result<(), ApiError> {
    let now = state.clock.now();
    let wait = [Some(email), client_key]
        .into_iter()
        .flatten()
        .filter_map(|key| state.throttle.wait(key, now.as_second()))
        .max();
    match wait {
        Some(retry_after) => Err(ApiError::TooManyRequests { retry_after }),
        None => Ok(()),
    }
}

/// Counts a failed sign-in step against the address and the client.
pub fn count_failure(state: &AppState, email: &str, client_key: Option<&str>) {
    let now = state.clock.now().as_second();
    state.throttle.failed(email, now);
    if let Some(key) = client_key {
        state.throttle.failed_after(
            key,
            now,
            crate::state::LoginThrottle::FREE_ATTEMPTS_PER_CLIENT,
        );
    }
}

impl From<sessions::SignedIn> for StartedSession {
    fn from(signed_in: sessions::SignedIn) -> Self {
        Self {
            session_id: signed_in.session_id,
            csrf_token: signed_in.csrf_token,
            user: signed_in.user,
            memberships: signed_in.memberships,
        }
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "people",
    responses(
        (status = 204, description = "Signed out: the session is deleted"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sign_out(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    if let Via::Session { id_hash, .. } = &principal.via {
        sessions::sign_out(&state.store, id_hash, state.clock.now()).await?;
        state.access_changed().await;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("custos_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "people",
    responses(
        (status = 200, description = "The caller and its roles", body = Me),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn who_am_i(principal: Principal) -> Json<Me> {
    Json(me(&principal))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewTokenRequest {
    /// A name to recognise the token by (`ci`, `erp-connector`).
    #[schema(min_length = 1, max_length = 100, pattern = r"^\S(.*\S)?$")]
    pub name: String,
    /// `read`, `write`; read by default.
    #[serde(default)]
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<Scope>,
    /// Days until it expires; none for no expiry.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// What a token allows (the schema of `custos_app::data::Scope`).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)] // describes the API only
pub enum ScopeName {
    Read,
    Write,
    Tokens,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token: shown this once, stored only as a hash.
    pub token: String,
    #[schema(value_type = Object)]
    pub record: TokenRecord,
}

#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "people",
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "The new token, shown once", body = CreatedToken),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not allowed for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    Body(request): Body<NewTokenRequest>,
) -> Result<Response, ApiError> {
    let created = issue_token(&state, &principal, request).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// A new API token for the signed-in person (never from another token), for the API and the
/// tokens page: its secret is in the answer only.
pub(crate) async fn issue_token(
    state: &AppState,
    principal: &Principal,
    request: NewTokenRequest,
) -> Result<CreatedToken, ApiError> {
    if !matches!(principal.via, Via::Session { .. }) {
        return Err(ApiError::Forbidden(
            "tokens are created from a signed-in session, not with another token".to_owned(),
        ));
    }
    let name = request.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid(
            "name",
            "name: expected 1 to 100 characters",
        ));
    }
    if name.starts_with("client:") {
        return Err(ApiError::invalid(
            "name",
            "name: `client:` begins the names of OAuth2 clients' tokens; choose another",
        ));
    }
    if request.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(ApiError::invalid(
            "expires_in_days",
            "expires_in_days: expected 1 to 3650",
        ));
    }
    let scopes = if request.scopes.is_empty() {
        vec![Scope::Read]
    } else {
        request.scopes
    };
    let (secret, _) = new_secret()?;
    let token = format!("{TOKEN_PREFIX}{secret}");
    let now = state.clock.now();
    let expires_at = request.expires_in_days.and_then(|days| {
        now.checked_add(SignedDuration::from_hours(i64::from(days) * 24))
            .ok()
            .map(|t| t.to_string())
    });
    let record = sessions::create_token(
        &state.store,
        &principal.user.key,
        NewToken {
            name: name.to_owned(),
            token_hash: hash_secret(&token),
            scopes,
            created_at: now.to_string(),
            expires_at,
        },
        &principal.actor(now),
    )
    .await?;
    Ok(CreatedToken { token, record })
}

#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{key}",
    tag = "people",
    params(("key" = String, Path, description = "The token's key")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the tokens scope (a session, or a token with it, manages tokens)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_token_management()?;
    let now = state.clock.now();
    if !sessions::revoke_token(
        &state.store,
        &principal.user.key,
        &key,
        &principal.actor(now),
    )
    .await?
    {
        return Err(ApiError::not_found(format!("token {key:?}")));
    }
    state.access_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FirstAdmin {
    /// The one-time secret the server printed at start.
    pub setup_token: String,
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/setup",
    tag = "people",
    request_body = FirstAdmin,
    responses(
        (status = 201, description = "The first administrator exists; sign in with it", body = Me),
        (status = 404, description = "No setup is pending: users exist already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn first_admin(
    State(state): State<AppState>,
    Body(request): Body<FirstAdmin>,
) -> Result<Response, ApiError> {
    let user = create_first_admin(
        &state,
        &request.setup_token,
        request.email,
        request.password,
    )
    .await?;
    let body = Me {
        email: user.email,
        is_admin: true,
        memberships: vec![],
        csrf_token: None,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Whether a setup is pending and `token` is its secret: `Ok(false)` for a wrong secret,
/// not found when no setup is pending (users exist).
pub(crate) fn setup_token_matches(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let pending = state
        .setup
        .lock()
        .map_err(|_| ApiError::Internal("setup lock poisoned".to_owned()))?
        .clone();
    let Some(expected) = pending else {
        return Err(ApiError::NotFound("no setup is pending".to_owned()));
    };
    Ok(hash_secret(token.trim()) == expected)
}

fn end_setup(state: &AppState) {
    if let Ok(mut setup) = state.setup.lock() {
        *setup = None;
    }
}

/// Creates the instance's first administrator with the setup's one-time secret (the API and
/// the setup page); the setup ends with it.
pub(crate) async fn create_first_admin(
    state: &AppState,
    token: &str,
    email: String,
    password: String,
) -> Result<custos_app::data::User, ApiError> {
    if !setup_token_matches(state, token)? {
        return Err(ApiError::Forbidden(
            "the setup token is not right".to_owned(),
        ));
    }
    // A user made meanwhile (custos user create) ends the setup.
    if sessions::count_users(&state.store).await? > 0 {
        end_setup(state);
        return Err(ApiError::NotFound("no setup is pending".to_owned()));
    }
    let now = state.clock.now();
    let user = match custos_app::people::create_first_admin(
        &state.store,
        email,
        password,
        &custos_app::Actor::new("setup", now),
    )
    .await
    {
        Err(custos_app::AppError::Conflict(_)) => {
            end_setup(state);
            return Err(ApiError::NotFound("no setup is pending".to_owned()));
        }
        other => other?,
    };
    end_setup(state);
    Ok(user)
}

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "people",
    responses(
        (status = 200, description = "The caller's API tokens, newest first, without their secrets"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the tokens scope (a session, or a token with it, manages tokens)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TokenList>, ApiError> {
    principal.require_token_management()?;
    Ok(Json(TokenList {
        items: sessions::tokens_of(&state.store, &principal.user.key).await?,
    }))
}

/// The caller's API tokens (one page: a person has few).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenList {
    pub items: Vec<TokenRecord>,
}
