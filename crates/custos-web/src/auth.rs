//! Who is asking: a bearer API token, or a session cookie set at sign-in. Secrets (session ids,
//! tokens) are random 256-bit values shown once; the database keeps their SHA-256 only.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use custos_app::data::{Membership, Scope, User};
pub use custos_app::sessions::hash_secret;
use jiff::Timestamp;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "custos_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const TOKEN_PREFIX: &str = "custos_";

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub memberships: Vec<Membership>,
    pub via: Via,
    /// Organisations of the user that require a second factor it has not set up: a session
    /// may then only set it up (tokens, made for machines, are not held back).
    pub second_factor_due: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { csrf_token: String, id_hash: String },
    Token { name: String, scopes: Vec<Scope> },
}

impl Principal {
    /// The audit log's name for the caller.
    pub fn actor(&self, at: Timestamp) -> custos_app::Actor {
        let name = match &self.via {
            Via::Session { .. } => format!("user:{}", self.user.email),
            Via::Token { name, .. } => format!("token:{name} of user:{}", self.user.email),
        };
        custos_app::Actor::new(name, at)
    }

    /// The caller as the policy sees it (`custos_app::policy`).
    pub fn caller(&self) -> custos_app::policy::Caller {
        custos_app::policy::Caller {
            admin: self.user.is_admin,
            memberships: self.memberships.clone(),
        }
    }

    /// Whether the caller may act with `capacity` for `organisation` (`custos_app::policy`).
    pub fn may(&self, capacity: custos_app::policy::Capacity, organisation: &str) -> bool {
        custos_app::policy::may(
            self.user.is_admin,
            &self.memberships,
            capacity,
            organisation,
        )
    }

    /// What the caller sees of `register` (`custos_app::visibility`).
    pub fn visibility(
        &self,
        register: &custos_core::register::Register,
    ) -> Result<custos_app::visibility::Visibility, custos_core::chain::ChainError> {
        custos_app::visibility::Visibility::of(self.user.is_admin, &self.memberships, register)
    }

    /// Writes need a session or a token with the write scope.
    pub fn may_write(&self) -> bool {
        match &self.via {
            Via::Session { .. } => true,
            Via::Token { scopes, .. } => scopes.contains(&Scope::Write),
        }
    }

    /// Managing tokens needs a session, or a token with the `tokens` scope: a token that
    /// leaks with read access must not revoke (or list) its owner's other tokens.
    pub fn require_token_management(&self) -> Result<(), ApiError> {
        match &self.via {
            Via::Session { .. } => Ok(()),
            Via::Token { scopes, .. } if scopes.contains(&Scope::Tokens) => Ok(()),
            Via::Token { .. } => Err(ApiError::Forbidden(
                "managing tokens needs a signed-in session or a token with the tokens scope"
                    .to_owned(),
            )),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "only an instance administrator may do this".to_owned(),
            ))
        }
    }
}

fn expired(expires_at: Option<&str>, now: Timestamp) -> bool {
    expires_at.is_some_and(|at| at.parse::<Timestamp>().map_or(true, |at| at <= now))
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last address in
/// `X-Forwarded-For` that is not one (a client cannot name itself past the proxy's own
/// entry). None where the server runs without connection information.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let Some(peer) = peer else {
            return Ok(Self(None));
        };
        if !state.trusted_proxies.contains(&peer) {
            return Ok(Self(Some(peer)));
        }
        let forwarded: Vec<std::net::IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let client = forwarded
            .into_iter()
            .rev()
            .find(|a| !state.trusted_proxies.contains(a))
            .unwrap_or(peer);
        Ok(Self(Some(client)))
    }
}

/// The value of the cookie `name` among the request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        second_factor_gate(&principal, parts.uri.path())?;
        csrf_header_check(&principal, parts)?;
        Ok(principal)
    }
}

/// A request that changes something in a session must carry its CSRF token in a header (a
/// bearer token is not sent by browsers on their own).
pub fn csrf_header_check(principal: &Principal, parts: &Parts) -> Result<(), ApiError> {
    if let Via::Session { csrf_token, .. } = &principal.via
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if sent != Some(csrf_token.as_str()) {
            return Err(ApiError::Forbidden(format!(
                "the {CSRF_HEADER} header must carry the session's CSRF token"
            )));
        }
    }
    Ok(())
}

/// Paths a session may use while its organisation requires a second factor it has not set
/// up: setting it up, and signing out.
const WHILE_SECOND_FACTOR_DUE: [&str; 8] = [
    "/api/v1/me",
    "/api/v1/me/totp",
    "/api/v1/me/totp/confirm",
    "/api/v1/session",
    "/settings/security",
    "/settings/security/totp",
    "/settings/security/totp/confirm",
    "/logout",
];

/// The message of a session held back until it sets up its second factor.
const SECOND_FACTOR_DUE: &str = "two-factor sign-in is required";

/// Refuses a session whose organisation requires a second factor it has not set up, except
/// on the paths that set it up.
pub fn second_factor_gate(principal: &Principal, path: &str) -> Result<(), ApiError> {
    if principal.second_factor_due.is_empty() || WHILE_SECOND_FACTOR_DUE.contains(&path) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "{SECOND_FACTOR_DUE} by {}: set it up first (POST /api/v1/me/totp, or the page /settings/security)",
        principal.second_factor_due.join(", ")
    )))
}

/// Who the caller is, from a bearer token or the session cookie, without the CSRF check of
/// writes: a form posted by a page checks its hidden field instead.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    // A page's middleware may have found the caller already (`ui::viewer`).
    if let Some(principal) = parts.extensions.get::<Principal>() {
        return Ok(principal.clone());
    }
    let now = state.clock.now();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let principal = if let Some(token) = bearer {
        let hash = hash_secret(token.trim());
        let key = format!("token:{hash}");
        match state.auth_cache.get(&key, now) {
            Some(principal) => principal,
            None => {
                let Some((record, user, memberships)) =
                    custos_app::sessions::token(&state.store, &hash).await?
                else {
                    return Err(ApiError::Unauthenticated(
                        "the API token is not valid".to_owned(),
                    ));
                };
                if record.revoked_at.is_some() || expired(record.expires_at.as_deref(), now) {
                    return Err(ApiError::Unauthenticated(
                        "the API token was revoked or has expired".to_owned(),
                    ));
                }
                let principal = Principal {
                    user,
                    memberships,
                    second_factor_due: Vec::new(),
                    via: Via::Token {
                        name: record.name,
                        scopes: record.scopes,
                    },
                };
                let expires = record.expires_at.and_then(|at| at.parse().ok());
                state.auth_cache.put(key, &principal, expires, now);
                principal
            }
        }
    } else if let Some(id) = cookie(&parts.headers, SESSION_COOKIE) {
        let id_hash = hash_secret(id);
        let key = format!("session:{id_hash}");
        match state.auth_cache.get(&key, now) {
            Some(principal) => principal,
            None => {
                let Some((session, memberships)) =
                    custos_app::sessions::session(&state.store, &id_hash).await?
                else {
                    return Err(ApiError::Unauthenticated(
                        "the session has ended: sign in again".to_owned(),
                    ));
                };
                if expired(Some(&session.expires_at), now) {
                    return Err(ApiError::Unauthenticated(
                        "the session has expired: sign in again".to_owned(),
                    ));
                }
                let second_factor_due = if session.user.totp {
                    Vec::new()
                } else {
                    let requiring =
                        custos_app::accounts::organisations_requiring_totp(&state.store).await?;
                    memberships
                        .iter()
                        .filter(|m| requiring.contains(&m.organisation))
                        .map(|m| m.organisation.clone())
                        .collect()
                };
                let principal = Principal {
                    user: session.user,
                    memberships,
                    second_factor_due,
                    via: Via::Session {
                        csrf_token: session.csrf_token,
                        id_hash,
                    },
                };
                let expires = session.expires_at.parse().ok();
                state.auth_cache.put(key, &principal, expires, now);
                principal
            }
        }
    } else {
        return Err(ApiError::Unauthenticated(
            "sign in (POST /api/v1/session) or send Authorization: Bearer <token>".to_owned(),
        ));
    };
    Ok(principal)
}
