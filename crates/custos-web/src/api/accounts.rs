//! People of an instance through the API: accounts listed, invited, disabled, enabled and
//! deleted, memberships and roles changed (docs/people.md says who may manage whom); password
//! resets and invitations completed with their one-time link; one's own password and TOTP
//! second factor; organisations that require it; OAuth2 clients and the client credentials
//! grant (RFC 6749, section 4.4).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::accounts::{self, Account, GrantError};
use custos_app::data::{Role, Scope};
use serde::{Deserialize, Serialize};

use super::Body;
use crate::auth::{Principal, TOKEN_PREFIX, Via};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// One organisation and the role in it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct MembershipBody {
    #[schema(min_length = 1, max_length = 100)]
    pub organisation: String,
    /// `portal`, `viewer`, `editor` or `admin`; null (in a change) removes the membership.
    #[schema(value_type = Option<String>)]
    #[schemars(with = "Option<String>")]
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct InvitationBody {
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
    /// The organisations and roles to give (each administered by the caller).
    #[serde(default)]
    pub memberships: Vec<MembershipBody>,
    /// Make the account an instance administrator (instance administrators only).
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct InvitedAnswer {
    #[schema(value_type = Object)]
    pub account: Account,
    /// The address had an account: the memberships were added to it and no link was sent.
    pub existed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct AccountList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Account>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct MembershipChanges {
    /// Each organisation named gets the role given, or loses the membership (role null).
    pub memberships: Vec<MembershipBody>,
}

fn require_write(principal: &Principal) -> Result<(), ApiError> {
    if principal.may_write() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ))
    }
}

/// Whether the register has an organisation of this id, for checking memberships.
fn known_in(register: &custos_core::register::Register) -> impl Fn(&str) -> bool + Sync + '_ {
    move |id: &str| register.organisation(id).is_some()
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "people",
    operation_id = "list_users",
    responses(
        (status = 200, description = "The accounts the caller manages, by e-mail address; memberships of organisations it administers only"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller administers no organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<AccountList>, ApiError> {
    Ok(Json(AccountList {
        items: accounts::list(&state.store, &principal.caller()).await?,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{key}",
    tag = "people",
    operation_id = "get_user",
    params(("key" = String, Path, description = "The account's key")),
    responses(
        (status = 200, description = "The account, as the caller manages it"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller administers no organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        accounts::get(&state.store, &principal.caller(), &key).await?,
    ))
}

/// The memberships of a body, each with its role.
fn granted(memberships: Vec<MembershipBody>) -> Result<Vec<(String, Role)>, ApiError> {
    memberships
        .into_iter()
        .map(|m| match m.role {
            Some(role) => Ok((m.organisation, role)),
            None => Err(ApiError::invalid(
                "memberships",
                format!(
                    "memberships: a role (portal, viewer, editor, admin) for {}",
                    m.organisation
                ),
            )),
        })
        .collect()
}

/// Invites someone (the use case behind the API and the people page).
pub(crate) async fn invite_person(
    state: &AppState,
    principal: &Principal,
    body: InvitationBody,
) -> Result<InvitedAnswer, ApiError> {
    require_write(principal)?;
    let memberships = granted(body.memberships)?;
    let register = state.register().await;
    let written = memberships
        .first()
        .map(|(o, _)| custos_app::outbox::Mailbox::for_organisation(&register, o, String::new()));
    let known = known_in(&register);
    let invited = accounts::invite(
        &state.store,
        &principal.caller(),
        &principal.actor(state.clock.now()),
        accounts::Invitation {
            email: body.email,
            memberships,
            is_admin: body.is_admin,
            language: written.as_ref().map(|m| m.language).unwrap_or_default(),
            time_zone: written.and_then(|m| m.time_zone),
        },
        &known,
    )
    .await?;
    state.access_changed().await;
    Ok(InvitedAnswer {
        account: invited.account,
        existed: invited.existed,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "people",
    operation_id = "invite_user",
    request_body = InvitationBody,
    responses(
        (status = 201, description = "Invited: the account exists without a password, and a one-time link to set one went by e-mail (or, for an address with an account, the memberships were added)", body = InvitedAnswer),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller does not administer an organisation named, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<InvitationBody>,
) -> Result<Response, ApiError> {
    let invited = invite_person(&state, &principal, body).await?;
    Ok((StatusCode::CREATED, Json(invited)).into_response())
}

/// Changes memberships (the use case behind the API and the person's page).
pub(crate) async fn change_memberships(
    state: &AppState,
    principal: &Principal,
    key: &str,
    memberships: Vec<MembershipBody>,
) -> Result<Account, ApiError> {
    require_write(principal)?;
    if memberships.is_empty() {
        return Err(ApiError::invalid(
            "memberships",
            "memberships: expected at least one organisation",
        ));
    }
    let register = state.register().await;
    let known = known_in(&register);
    let account = accounts::set_memberships(
        &state.store,
        &principal.caller(),
        &principal.actor(state.clock.now()),
        key,
        memberships
            .into_iter()
            .map(|m| (m.organisation, m.role))
            .collect(),
        &known,
    )
    .await?;
    state.access_changed().await;
    Ok(account)
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{key}/memberships",
    tag = "people",
    operation_id = "set_user_memberships",
    params(("key" = String, Path, description = "The account's key")),
    request_body = MembershipChanges,
    responses(
        (status = 200, description = "The account with its memberships changed"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller does not administer an organisation named, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_memberships(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<MembershipChanges>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        change_memberships(&state, &principal, &key, body.memberships).await?,
    ))
}

/// Disables or enables an account (the API and the person's page).
pub(crate) async fn switch_account(
    state: &AppState,
    principal: &Principal,
    key: &str,
    disabled: bool,
) -> Result<Account, ApiError> {
    require_write(principal)?;
    let account = accounts::set_disabled(
        &state.store,
        &principal.caller(),
        &principal.user.key,
        &principal.actor(state.clock.now()),
        key,
        disabled,
    )
    .await?;
    // Its sessions and tokens are refused from the next request.
    state.access_changed().await;
    Ok(account)
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{key}/disable",
    tag = "people",
    operation_id = "disable_user",
    params(("key" = String, Path, description = "The account's key")),
    responses(
        (status = 200, description = "Disabled: its sessions ended, its tokens and clients are refused until it is enabled"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account belongs to organisations the caller does not administer, is the caller's own, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(switch_account(&state, &principal, &key, true).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{key}/enable",
    tag = "people",
    operation_id = "enable_user",
    params(("key" = String, Path, description = "The account's key")),
    responses(
        (status = 200, description = "Enabled again"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account belongs to organisations the caller does not administer, is the caller's own, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(switch_account(&state, &principal, &key, false).await?))
}

/// Deletes an account (the API and the person's page).
pub(crate) async fn delete_account(
    state: &AppState,
    principal: &Principal,
    key: &str,
) -> Result<(), ApiError> {
    require_write(principal)?;
    accounts::delete(
        &state.store,
        &principal.caller(),
        &principal.user.key,
        &principal.actor(state.clock.now()),
        key,
    )
    .await?;
    state.access_changed().await;
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{key}",
    tag = "people",
    operation_id = "delete_user",
    params(("key" = String, Path, description = "The account's key")),
    responses(
        (status = 204, description = "Deleted, with its memberships, sessions, tokens and clients; the audit log keeps what it did"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account belongs to organisations the caller does not administer, is the caller's own, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_account(&state, &principal, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct ResetRequest {
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/password-reset",
    tag = "people",
    operation_id = "request_reset",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a one-time link (valid one hour) goes to it; the answer is the same either way"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this client", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn request_reset(
    State(state): State<AppState>,
    crate::auth::ClientAddress(client): crate::auth::ClientAddress,
    Body(body): Body<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    ask_for_reset(&state, client, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Asks for a reset link, throttled per client address (the use case limits per account).
pub(crate) async fn ask_for_reset(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    email: &str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    if let Some(ip) = client {
        let key = format!("reset:{ip}");
        if let Some(retry_after) = state.throttle.wait(&key, now.as_second()) {
            return Err(ApiError::TooManyRequests { retry_after });
        }
        // Every ask counts: a client asking for many addresses is slowed down.
        state.throttle.failed_after(
            &key,
            now.as_second(),
            crate::state::LoginThrottle::FREE_ATTEMPTS_PER_CLIENT,
        );
    }
    custos_app::accounts::request_password_reset(
        &state.store,
        email,
        custos_render::Language::En,
        now,
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct LinkCompletion {
    /// The secret of the link (what follows `/password-reset/` or `/invitations/`).
    #[schema(min_length = 1, max_length = 200)]
    pub token: String,
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/password-reset/complete",
    tag = "people",
    operation_id = "complete_reset",
    request_body = LinkCompletion,
    responses(
        (status = 204, description = "The password is set; every session of the account has ended"),
        (status = 404, description = "The link is not valid: used, expired or replaced", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete_reset(
    State(state): State<AppState>,
    Body(body): Body<LinkCompletion>,
) -> Result<StatusCode, ApiError> {
    accounts::complete_link(
        &state.store,
        accounts::PASSWORD_RESET,
        body.token.trim(),
        &body.password,
        state.clock.now(),
    )
    .await?;
    state.access_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/invitations/accept",
    tag = "people",
    operation_id = "accept_invitation",
    request_body = LinkCompletion,
    responses(
        (status = 204, description = "The invitation is accepted and the password set: sign in with it"),
        (status = 404, description = "The link is not valid: used, expired or replaced", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept_invitation(
    State(state): State<AppState>,
    Body(body): Body<LinkCompletion>,
) -> Result<StatusCode, ApiError> {
    accounts::complete_link(
        &state.store,
        accounts::INVITATION,
        body.token.trim(),
        &body.password,
        state.clock.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own security settings are changed from a signed-in session only: a token that
/// leaks must not turn off the second factor or change the password.
fn require_session(principal: &Principal) -> Result<&str, ApiError> {
    match &principal.via {
        Via::Session { id_hash, .. } => Ok(id_hash),
        _ => Err(ApiError::Forbidden(
            "this is changed from a signed-in session, not with a token".to_owned(),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct PasswordChange {
    #[schema(max_length = 1024)]
    pub current_password: String,
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    tag = "people",
    operation_id = "change_password",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; every other session of the account has ended"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: one's password is changed from a session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The current password is not right, or the new one too short", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let session = require_session(&principal)?.to_owned();
    accounts::change_password(
        &state.store,
        &principal.user,
        &body.current_password,
        &body.new_password,
        Some(&session),
        state.clock.now(),
    )
    .await?;
    state.access_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The issuer an authenticator app shows beside the account.
pub const TOTP_ISSUER: &str = "Custos";

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct TotpOfferAnswer {
    /// The key, base32: typed into the app, or given as the URI.
    pub key: String,
    /// The `otpauth://` URI (what a QR code carries).
    pub uri: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/me/totp",
    tag = "people",
    operation_id = "offer_totp",
    responses(
        (status = 200, description = "A new key offered; confirm it with a code from the app", body = TotpOfferAnswer),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: the second factor is set up from a session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two-factor sign-in is on already", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn offer_totp(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TotpOfferAnswer>, ApiError> {
    require_session(&principal)?;
    let offer = accounts::totp_offer(&state.store, &principal.user, TOTP_ISSUER).await?;
    Ok(Json(TotpOfferAnswer {
        key: offer.key,
        uri: offer.uri,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct CodeBody {
    /// The app's current six-digit code (or, where it says so, a recovery code).
    #[schema(min_length = 1, max_length = 40)]
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct RecoveryCodes {
    /// Ten codes, each usable once in place of the app's code: shown this once.
    pub recovery_codes: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/me/totp/confirm",
    tag = "people",
    operation_id = "confirm_totp",
    request_body = CodeBody,
    responses(
        (status = 200, description = "Two-factor sign-in is on; the recovery codes, shown once", body = RecoveryCodes),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: the second factor is set up from a session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No key is being set up", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code is not right for the key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<CodeBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    require_session(&principal)?;
    let recovery_codes =
        accounts::totp_confirm(&state.store, &principal.user, &body.code, state.clock.now())
            .await?;
    state.access_changed().await;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/totp/disable",
    tag = "people",
    operation_id = "disable_totp",
    request_body = CodeBody,
    responses(
        (status = 204, description = "Two-factor sign-in is off; the recovery codes are gone"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: the second factor is changed from a session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a current code or an unused recovery code", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable_totp(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<CodeBody>,
) -> Result<StatusCode, ApiError> {
    require_session(&principal)?;
    accounts::totp_disable(&state.store, &principal.user, &body.code, state.clock.now()).await?;
    state.access_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/me/recovery-codes",
    tag = "people",
    operation_id = "renew_recovery_codes",
    request_body = CodeBody,
    responses(
        (status = 200, description = "New recovery codes in place of the old, shown once", body = RecoveryCodes),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: recovery codes are made from a session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a current code or an unused recovery code", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<CodeBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    require_session(&principal)?;
    let recovery_codes = accounts::renew_recovery_codes(
        &state.store,
        &principal.user,
        &body.code,
        state.clock.now(),
    )
    .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct SecuritySettings {
    /// Members must sign in with a second factor (TOTP); those without one are asked to set
    /// it up before anything else.
    pub require_totp: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/organisations/{id}/security",
    tag = "people",
    operation_id = "set_organisation_security",
    params(("id" = String, Path, description = "The organisation's id")),
    request_body = SecuritySettings,
    responses(
        (status = 200, description = "Set", body = SecuritySettings),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin of the organisation, or the token has no write scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_security(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Body(body): Body<SecuritySettings>,
) -> Result<Json<SecuritySettings>, ApiError> {
    require_write(&principal)?;
    if state.register().await.organisation(&id).is_none() {
        return Err(ApiError::not_found(format!("organisation {id:?}")));
    }
    accounts::set_totp_required(
        &state.store,
        &principal.caller(),
        &principal.actor(state.clock.now()),
        &id,
        body.require_totp,
    )
    .await?;
    state.access_changed().await;
    Ok(Json(body))
}

#[derive(Debug, Deserialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct NewClient {
    /// A name to recognise the client by (`erp`, `backup-job`).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `read`, `write`; read by default.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<Scope>,
}

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct CreatedClient {
    pub client_id: String,
    /// Shown this once, stored only as a hash.
    pub client_secret: String,
    #[schema(value_type = Object)]
    pub client: custos_app::data::OAuthClient,
}

#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct ClientList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<custos_app::data::OAuthClient>,
}

/// Registers a client (the API and the tokens page).
pub(crate) async fn register_client(
    state: &AppState,
    principal: &Principal,
    body: NewClient,
) -> Result<CreatedClient, ApiError> {
    require_session(principal)?;
    let (client, secret) = accounts::create_client(
        &state.store,
        &principal.user,
        &body.name,
        body.scopes,
        &principal.actor(state.clock.now()),
    )
    .await?;
    Ok(CreatedClient {
        client_id: client.client_id.clone(),
        client_secret: secret,
        client,
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/clients",
    tag = "people",
    operation_id = "create_oauth_client",
    request_body = NewClient,
    responses(
        (status = 201, description = "The client, with its secret shown once", body = CreatedClient),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Asked with a token: clients are registered from a session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_client(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<NewClient>,
) -> Result<Response, ApiError> {
    let created = register_client(&state, &principal, body).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/clients",
    tag = "people",
    operation_id = "list_oauth_clients",
    responses(
        (status = 200, description = "The caller's OAuth2 clients, newest first, without their secrets", body = ClientList),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the tokens scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_clients(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ClientList>, ApiError> {
    principal.require_token_management()?;
    Ok(Json(ClientList {
        items: accounts::clients_of(&state.store, &principal.user).await?,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/clients/{client_id}",
    tag = "people",
    operation_id = "revoke_oauth_client",
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 204, description = "Revoked, with every access token it holds"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the tokens scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_client(
    State(state): State<AppState>,
    principal: Principal,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_token_management()?;
    if !accounts::revoke_client(
        &state.store,
        &principal.user,
        &client_id,
        &principal.actor(state.clock.now()),
    )
    .await?
    {
        return Err(ApiError::not_found(format!("client {client_id:?}")));
    }
    state.access_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// A token answer (RFC 6749, section 5.1).
#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// An error answer of the token endpoint (RFC 6749, section 5.2).
#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct OAuthErrorAnswer {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &str, description: &str, basic: bool) -> Response {
    let mut response = (
        status,
        Json(OAuthErrorAnswer {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(if basic {
                "Basic realm=\"custos\""
            } else {
                "Bearer realm=\"custos\""
            }),
        );
    }
    response
}

/// The client's id and secret from HTTP Basic (RFC 6749, 2.3.1: each form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |part: &str| {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// The body of a token request, as the endpoint reads it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`.
    pub grant_type: String,
    /// With `client_secret` when not sent by HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated scopes (`read write`); those the client was given when left out.
    pub scope: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/oauth/token",
    tag = "people",
    operation_id = "oauth_token",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token, valid one hour; send it as Authorization: Bearer", body = TokenAnswer),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope (RFC 6749, 5.2)", body = OAuthErrorAnswer),
        (status = 401, description = "invalid_client: unknown client, wrong secret, revoked client or disabled account", body = OAuthErrorAnswer),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields: std::collections::HashMap<String, String> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let basic = basic_credentials(&headers);
    let bad = |error: &str, description: &str| {
        oauth_error(StatusCode::BAD_REQUEST, error, description, false)
    };
    match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Ok(bad(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => return Ok(bad("invalid_request", "grant_type: required")),
    }
    let (client_id, secret) = match (&basic, fields.get("client_id"), fields.get("client_secret")) {
        (Some((id, secret)), _, _) => (id.clone(), secret.clone()),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => {
            return Ok(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "send the client's id and secret by HTTP Basic or as client_id and client_secret",
                true,
            ));
        }
    };
    let asked = match fields.get("scope") {
        None => None,
        Some(text) => {
            let mut scopes = Vec::new();
            for word in text.split(' ').filter(|w| !w.is_empty()) {
                match word {
                    "read" => scopes.push(Scope::Read),
                    "write" => scopes.push(Scope::Write),
                    other => {
                        return Ok(bad(
                            "invalid_scope",
                            &format!("unknown scope {other:?}: read, write"),
                        ));
                    }
                }
            }
            Some(scopes)
        }
    };
    if client_id.len() > 200 || secret.len() > 200 {
        return Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the client is not known or its secret is not right",
            basic.is_some(),
        ));
    }
    let granted = accounts::client_credentials(
        &state.store,
        &client_id,
        &secret,
        asked,
        TOKEN_PREFIX,
        state.clock.now(),
    )
    .await?;
    Ok(match granted {
        Ok(token) => {
            let scope = token
                .scopes
                .iter()
                .map(|s| match s {
                    Scope::Read => "read",
                    Scope::Write => "write",
                    Scope::Tokens => "tokens",
                })
                .collect::<Vec<_>>()
                .join(" ");
            let mut response = Json(TokenAnswer {
                access_token: token.token,
                token_type: "Bearer".to_owned(),
                expires_in: token.expires_in,
                scope,
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(GrantError::InvalidClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the client is not known or its secret is not right",
            basic.is_some(),
        ),
        Err(GrantError::InvalidScope(detail)) => bad("invalid_scope", &detail),
    })
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct Preferences {
    /// The time zone pages show times in (IANA, `Europe/Madrid`); null: the organisation's.
    #[schema(max_length = 64)]
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The language of pages, `en` or `es`; null: the organisation's (its `language`).
    #[schema(max_length = 8)]
    #[serde(default)]
    pub language: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/me/preferences",
    tag = "people",
    operation_id = "set_preferences",
    request_body = Preferences,
    responses(
        (status = 200, description = "Set", body = Preferences),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A token without the write scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a time zone of the IANA database, or not a language of Custos (`en`, `es`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_preferences(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<Preferences>,
) -> Result<Json<Preferences>, ApiError> {
    require_write(&principal)?;
    let set = accounts::set_preferences(
        &state.store,
        &principal.user,
        body.time_zone.as_deref(),
        body.language.as_deref(),
        state.clock.now(),
    )
    .await?;
    state.access_changed().await;
    Ok(Json(Preferences {
        time_zone: set.time_zone,
        language: set.language.map(|l| l.as_str().to_owned()),
    }))
}
