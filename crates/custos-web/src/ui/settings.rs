//! Settings for running an instance from the browser: one's API tokens (created with the
//! secret shown once, with scopes and an expiry; revoked) and the webhook endpoints of one's
//! organisations (added with the signing secret shown once, enabled, disabled, their delivery
//! log, a failed delivery sent again). The same use cases and rules as the API.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::data::Scope;
use custos_app::policy::Capacity;
use serde::Deserialize;

use super::confirm::{Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::api::people::{NewTokenRequest, issue_token};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Deliveries shown on an endpoint's page.
const DELIVERIES_SHOWN: u32 = 50;

struct TokenRow {
    key: String,
    name: String,
    scopes: String,
    created: String,
    expires: String,
    state: &'static str,
    live: bool,
}

struct ClientRow {
    client_id: String,
    name: String,
    scopes: String,
    created: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    tokens: Vec<TokenRow>,
    clients: Vec<ClientRow>,
    /// The secret of the token just created: shown this once.
    created: Option<(String, String)>,
    /// The client just registered (name, id, secret): its secret shown this once.
    created_client: Option<(String, String, String)>,
    problem: Option<String>,
    /// A token signs this request: tokens are managed from a session only.
    via_token: bool,
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(super::plain)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn tokens_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    created: Option<(String, String)>,
    problem: Option<&ApiError>,
) -> Result<Response, UiError> {
    clients_and_tokens_page(state, principal, csrf, created, None, problem).await
}

async fn clients_and_tokens_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    created: Option<(String, String)>,
    created_client: Option<(String, String, String)>,
    problem: Option<&ApiError>,
) -> Result<Response, UiError> {
    let now = state.clock.now().to_string();
    let clients = custos_app::accounts::clients_of(&state.store, &principal.user)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|c| ClientRow {
            scopes: scope_list(&c.scopes),
            created: super::breaches::when(Some(&c.created_at)),
            live: c.revoked_at.is_none(),
            client_id: c.client_id,
            name: c.name,
        })
        .collect();
    let tokens = custos_app::sessions::tokens_of(&state.store, &principal.user.key)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|t| {
            let expired = t.expires_at.as_ref().is_some_and(|e| *e <= now);
            let (state, live) = match (&t.revoked_at, expired) {
                (Some(_), _) => ("revoked", false),
                (None, true) => ("expired", false),
                (None, false) => ("active", true),
            };
            TokenRow {
                key: t.key,
                name: t.name,
                scopes: scope_list(&t.scopes),
                created: super::breaches::when(Some(&t.created_at)),
                expires: t
                    .expires_at
                    .as_deref()
                    .map_or_else(|| "never".to_owned(), |e| super::breaches::when(Some(e))),
                state,
                live,
            }
        })
        .collect();
    let mut response = page(&TokensPage {
        section: "settings",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        tokens,
        clients,
        created,
        created_client,
        problem: problem.map(super::sentence),
        via_token: csrf.is_empty(),
    });
    if let Some(error) = problem {
        *response.status_mut() = error.status();
    }
    Ok(response)
}

pub async fn tokens(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    tokens_page(&state, &viewer.principal, &viewer.csrf, None, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    name: String,
    #[serde(default)]
    read: String,
    #[serde(default)]
    write: String,
    #[serde(default)]
    tokens: String,
    #[serde(default)]
    expires_in_days: String,
}

/// Creates a token; the page shows its secret this once.
pub async fn create_token(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<TokenForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let scopes: Vec<Scope> = [
        (!form.read.is_empty()).then_some(Scope::Read),
        (!form.write.is_empty()).then_some(Scope::Write),
        (!form.tokens.is_empty()).then_some(Scope::Tokens),
    ]
    .into_iter()
    .flatten()
    .collect();
    let expires_in_days = match form.expires_in_days.trim() {
        "" => None,
        days => match days.parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                let error = ApiError::invalid(
                    "expires_in_days",
                    format!("expires_in_days: a number of days, not {days:?}"),
                );
                return tokens_page(&state, &principal, &form.csrf, None, Some(&error)).await;
            }
        },
    };
    let request = NewTokenRequest {
        name: form.name.clone(),
        scopes,
        expires_in_days,
    };
    match issue_token(&state, &principal, request).await {
        Ok(created) => {
            tokens_page(
                &state,
                &principal,
                &form.csrf,
                Some((created.record.name, created.token)),
                None,
            )
            .await
        }
        Err(error) if correctable(&error) => {
            tokens_page(&state, &principal, &form.csrf, None, Some(&error)).await
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// Revokes one of one's tokens, after saying what it does.
pub async fn revoke_token(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let token = custos_app::sessions::tokens_of(&state.store, &principal.user.key)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|t| t.key == key && t.revoked_at.is_none())
        .ok_or_else(|| ApiError::not_found(format!("token {key:?}")))?;
    let step = Confirmation {
        title: tr("tokens-revoke-title", &[("name", &token.name)]),
        consequences: vec![
            tr("tokens-revoke-refused", &[]),
            tr("tokens-revoke-final", &[]),
        ],
        action: format!("/settings/tokens/{key}/revoke"),
        button: tr("tokens-revoke-button", &[]),
        back: "/settings/tokens".to_owned(),
        hidden: Vec::new(),
        fields: Vec::new(),
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "settings", &step, None));
    }
    let now = state.clock.now();
    custos_app::sessions::revoke_token(
        &state.store,
        &principal.user.key,
        &key,
        &principal.actor(now),
    )
    .await
    .map_err(ApiError::from)?;
    state.access_changed().await;
    Ok(Redirect::to("/settings/tokens").into_response())
}

#[derive(Deserialize)]
pub struct ClientForm {
    csrf: String,
    name: String,
    #[serde(default)]
    read: String,
    #[serde(default)]
    write: String,
}

/// Registers an OAuth2 client; the page shows its secret this once.
pub async fn create_client(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<ClientForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let scopes = [
        (!form.read.is_empty()).then_some(Scope::Read),
        (!form.write.is_empty()).then_some(Scope::Write),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = crate::api::accounts::NewClient {
        name: form.name,
        scopes,
    };
    match crate::api::accounts::register_client(&state, &principal, body).await {
        Ok(created) => {
            let shown = (
                created.client.name,
                created.client_id,
                created.client_secret,
            );
            clients_and_tokens_page(&state, &principal, &form.csrf, None, Some(shown), None).await
        }
        Err(error) if correctable(&error) => {
            tokens_page(&state, &principal, &form.csrf, None, Some(&error)).await
        }
        Err(error) => Err(error.into()),
    }
}

/// Revokes one of one's OAuth2 clients, after saying what it does.
pub async fn revoke_client(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(client_id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let client = custos_app::accounts::clients_of(&state.store, &principal.user)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .find(|c| c.client_id == client_id && c.revoked_at.is_none())
        .ok_or_else(|| ApiError::not_found(format!("client {client_id:?}")))?;
    let step = Confirmation {
        title: tr("clients-revoke-title", &[("name", &client.name)]),
        consequences: vec![
            tr("clients-revoke-refused", &[]),
            tr("clients-revoke-final", &[]),
        ],
        action: format!("/settings/clients/{client_id}/revoke"),
        button: tr("clients-revoke-button", &[]),
        back: "/settings/tokens".to_owned(),
        hidden: Vec::new(),
        fields: Vec::new(),
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "settings", &step, None));
    }
    custos_app::accounts::revoke_client(
        &state.store,
        &principal.user,
        &client_id,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    state.access_changed().await;
    Ok(Redirect::to("/settings/tokens").into_response())
}

// ---------------------------------------------------------------------------------------
// Webhooks

struct EndpointRow {
    key: String,
    organisation: String,
    url: String,
    events: String,
    enabled: bool,
    disabled_reason: String,
}

impl EndpointRow {
    fn of(s: custos_app::data::Subscription) -> Self {
        Self {
            key: s.key,
            organisation: s.organisation,
            url: s.url,
            events: if s.event_types.is_empty() {
                tr("webhooks-every-event", &[])
            } else {
                s.event_types.join(", ")
            },
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    endpoints: Vec<EndpointRow>,
    /// The organisations the viewer may add endpoints for.
    organisations: Vec<String>,
    event_types: Vec<&'static str>,
    /// The endpoint just added and its signing secret: shown this once.
    created: Option<(String, String)>,
    problem: Option<String>,
    typed_url: String,
}

async fn webhooks_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    created: Option<(String, String)>,
    problem: Option<(&ApiError, String)>,
) -> Result<Response, UiError> {
    let endpoints = custos_app::webhooks::webhooks(&state.store)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .filter(|s| principal.may(Capacity::Read, &s.organisation))
        .map(EndpointRow::of)
        .collect();
    let organisations = principal
        .memberships
        .iter()
        .filter(|m| principal.may_write() && principal.may(Capacity::Edit, &m.organisation))
        .map(|m| m.organisation.clone())
        .collect();
    let mut response = page(&WebhooksPage {
        section: "settings",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        endpoints,
        organisations,
        event_types: custos_app::webhooks::event_types(),
        created,
        problem: problem.as_ref().map(|(e, _)| super::sentence(e)),
        typed_url: problem
            .as_ref()
            .map(|(_, url)| url.clone())
            .unwrap_or_default(),
    });
    if let Some((error, _)) = problem {
        *response.status_mut() = error.status();
    }
    Ok(response)
}

pub async fn webhooks(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    webhooks_page(&state, &viewer.principal, &viewer.csrf, None, None).await
}

/// Adds an endpoint; the page shows its signing secret this once. Every event type ticked
/// is subscribed; none ticked: every event.
pub async fn add_webhook(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    body: axum::body::Bytes,
) -> Result<Response, UiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let csrf = get("csrf");
    check_csrf(&principal, &csrf)?;
    let organisation = get("organisation");
    let url = get("url");
    if !principal.may_write() || !principal.may(Capacity::Edit, &organisation) {
        return Err(ApiError::Forbidden(format!(
            "only editors and admins of {organisation} may add its webhooks"
        ))
        .into());
    }
    let event_types: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v.clone())
        .collect();
    match custos_app::webhooks::subscribe(
        &state.store,
        &organisation,
        &url,
        event_types,
        state.outbound,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)
    {
        Ok(subscription) => {
            webhooks_page(
                &state,
                &principal,
                &csrf,
                Some((subscription.url, subscription.secret)),
                None,
            )
            .await
        }
        Err(error) if correctable(&error) => {
            webhooks_page(&state, &principal, &csrf, None, Some((&error, url))).await
        }
        Err(error) => Err(error.into()),
    }
}

struct DeliveryRow {
    key: String,
    event_type: String,
    state: String,
    attempts: u32,
    last: String,
    when: String,
    failed: bool,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    endpoint: EndpointRow,
    deliveries: Vec<DeliveryRow>,
    may_change: bool,
}

pub async fn webhook(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let principal = &viewer.principal;
    let s = crate::api::changes::own_subscription(&state, principal, &key, false).await?;
    let deliveries = custos_app::webhooks::deliveries(&state.store, &key, DELIVERIES_SHOWN)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|d| DeliveryRow {
            failed: d.state == "failed",
            key: d.key,
            event_type: d.event_type,
            state: d.state,
            attempts: d.attempts,
            last: match (d.last_status, d.last_error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error,
                (None, None) => "—".to_owned(),
            },
            when: super::breaches::when(Some(
                d.delivered_at.as_deref().unwrap_or(&d.next_attempt_at),
            )),
        })
        .collect();
    let may_change = principal.may_write() && principal.may(Capacity::Edit, &s.organisation);
    Ok(page(&WebhookPage {
        section: "settings",
        user_email: principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        endpoint: EndpointRow::of(s),
        deliveries,
        may_change,
    }))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `enable`, `disable`, or `replay/{delivery}` of an endpoint of one's organisation.
pub async fn webhook_action(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, action)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    crate::api::changes::own_subscription(&state, &principal, &key, true).await?;
    let actor = principal.actor(state.clock.now());
    match action.as_str() {
        "enable" | "disable" => custos_app::webhooks::set_subscription_enabled(
            &state.store,
            &key,
            action == "enable",
            &actor,
        )
        .await
        .map_err(ApiError::from)?,
        _ => return Err(ApiError::not_found(format!("action {action:?}")).into()),
    }
    Ok(Redirect::to(&format!("/settings/webhooks/{key}")).into_response())
}

/// Sends a failed delivery again.
pub async fn replay(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, delivery)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    crate::api::changes::own_subscription(&state, &principal, &key, true).await?;
    custos_app::webhooks::replay(
        &state.store,
        &key,
        &delivery,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/settings/webhooks/{key}")).into_response())
}
