//! The Custos server: the JSON API under `/api/v1`, described by OpenAPI 3.1 at
//! `/api/v1/openapi.json` with an interactive page at `/api/docs`, health at `/healthz` and
//! `/readyz`, and the web UI's pages (`/activities`, `/organisations`, `/findings`, `/login`). Every request is authenticated (session cookie or bearer token) except sign-in,
//! health and the API description; what a caller sees follows the chain ([`visibility`]).
//!
//! [`Server::bind`] binds the listener (port 0 in tests) and [`Server::serve`] runs until the
//! shutdown future completes, finishing the requests in flight.

pub mod api;
pub mod auth;
pub mod error;
mod explorer;
pub mod i18n;
mod openapi;
pub mod state;
pub mod ui;
pub use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use custos_app::Clock;
use custos_app::Store;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::error::{ApiError, PROBLEM_JSON};
use crate::state::AppState;

/// Largest request body accepted: a manifest of a large group fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Longest a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Set `Secure` on cookies: the server is reached over TLS (behind a proxy).
    pub secure_cookies: bool,
    /// Where webhooks, data sources and transmissions may go: public addresses only, unless
    /// the instance allows private ones (`CUSTOS_ALLOW_PRIVATE_TARGETS`, docs/security.md).
    pub outbound: custos_app::outbound::Outbound,
    /// Proxies in front of the server whose `X-Forwarded-For` names the client
    /// (`CUSTOS_TRUSTED_PROXIES`); none by default.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Signing in with the instance's OpenID Provider (`CUSTOS_OIDC_*`); none by default.
    pub oidc: Option<custos_app::oidc::OidcSettings>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Custos API",
        description = "Who processes which personal data on whose behalf, along the whole chain of processors, and what the GDPR makes of it. Errors are RFC 9457 problem details. Sign in with POST /api/v1/session (cookie, and X-CSRF-Token on writes) or send a bearer API token.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        api::people::sign_in,
        api::people::first_admin,
        api::people::sign_out,
        api::people::who_am_i,
        api::people::create_token,
        api::people::list_tokens,
        api::people::revoke_token,
        api::entries::create_organisation,
        api::entries::replace_organisation,
        api::entries::delete_organisation,
        api::entries::create_activity,
        api::entries::replace_activity,
        api::entries::delete_activity,
        api::entries::create_contract,
        api::entries::replace_contract,
        api::entries::delete_contract,
        api::contracts::list,
        api::joint::list,
        api::joint::accept,
        api::joint::withdraw,
        api::contracts::versions,
        api::contracts::get,
        api::contracts::accept,
        api::contracts::reject,
        api::contracts::withdraw,
        api::entries::create_engagement,
        api::entries::replace_engagement,
        api::entries::delete_engagement,
        api::register::list_organisations,
        api::register::get_organisation,
        api::register::list_activities,
        api::register::get_activity,
        api::register::list_contracts,
        api::register::get_contract,
        api::register::list_engagements,
        api::register::get_engagement,
        api::register::get_manifest,
        api::register::post_manifest,
        api::accounts::list,
        api::accounts::get,
        api::accounts::invite,
        api::accounts::set_memberships,
        api::accounts::disable,
        api::accounts::enable,
        api::accounts::delete,
        api::accounts::request_reset,
        api::accounts::complete_reset,
        api::accounts::accept_invitation,
        api::accounts::change_password,
        api::accounts::set_preferences,
        api::accounts::offer_totp,
        api::accounts::confirm_totp,
        api::accounts::disable_totp,
        api::accounts::renew_recovery_codes,
        api::accounts::set_security,
        api::accounts::create_client,
        api::accounts::list_clients,
        api::accounts::revoke_client,
        api::accounts::token,
        api::views::chain,
        api::views::recipients,
        api::views::transfers_of,
        api::views::upstream,
        api::views::findings,
        api::audit::head,
        api::audit::list,
        api::notices::generate,
        api::notices::publish,
        api::notices::versions,
        api::notices::version,
        api::notices::records,
        api::notices::get_template,
        api::notices::put_template,
        api::notices::delete_template,
        api::changes::file,
        api::changes::list,
        api::changes::get,
        api::changes::decide,
        api::changes::remark,
        api::changes::update_dossier,
        api::changes::withdraw,
        api::changes::execute,
        api::changes::upload,
        api::changes::download,
        api::changes::subscribe,
        api::changes::subscriptions,
        api::changes::enable,
        api::changes::disable,
        api::changes::deliveries,
        api::changes::replay,
        api::rights::enter,
        api::rights::list,
        api::rights::get,
        api::rights::verification,
        api::rights::extend,
        api::rights::close,
        api::rights::refuse,
        api::rights::notify,
        api::rights::access_answer,
        api::rights::export,
        api::rights::transmit,
        api::rights::get_notification,
        api::rights::list_notifications,
        api::rights::acknowledge,
        api::rights::done,
        api::rights::failed,
        api::rights::impossible,
        api::ledger::record_disclosures,
        api::rights::add_data_source,
        api::rights::list_data_sources,
        api::breaches::report,
        api::breaches::list,
        api::breaches::get,
        api::breaches::acknowledge,
        api::breaches::relay,
        api::breaches::add_phase,
        api::breaches::awareness,
        api::breaches::assess,
        api::breaches::decide,
        api::breaches::file,
        api::breaches::communicate,
        api::breaches::communication_text,
        api::breaches::send_communication,
        api::breaches::authority_report,
        api::breaches::affected,
        api::breaches::match_affected,
        api::breaches::register_of_breaches,
    ),
    components(schemas(error::Problem, api::contracts::AmendmentView, api::contracts::AmendmentList, api::contracts::AnswerBody, api::contracts::ContractVersion, api::contracts::ContractVersions, api::joint::ListingView, api::joint::ListingList, api::audit::AuditHead, api::changes::RequestPage, api::changes::DeliveryPage)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "people", description = "Signing in, the caller, API tokens, accounts and their roles, password resets and invitations, two-factor sign-in, OAuth2 clients (docs/people.md)"),
        (name = "register", description = "Organisations, activities, contracts, engagements; manifests"),
        (name = "chain", description = "Chains, recipients, transfers, reverse lookup"),
        (name = "checks", description = "Findings of the rules (docs/rules.md)"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "change-requests", description = "Sub-processor change requests with dossiers, decisions, webhooks (docs/workflow.md)"),
        (name = "subject-requests", description = "Data-subject requests, Art. 19 notifications, the disclosure ledger, portability (docs/rights.md)"),
        (name = "breaches", description = "Personal-data breaches along the chain (Arts 33-34): reports, relays, each controller's case, the authority's report (docs/breaches.md)"),
        (name = "notices", description = "Privacy-notice sections, their published versions and templates; Art. 30 records"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            utoipa::openapi::security::SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build(),
            ),
        );
        components.add_security_scheme(
            "session",
            utoipa::openapi::security::SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The API's description, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every route, with its state.
pub fn router(state: AppState) -> Router {
    let page_csp = page_csp_for(state.oidc.as_deref());
    let api = Router::new()
        .route(
            "/session",
            post(api::people::sign_in).delete(api::people::sign_out),
        )
        .route("/me", get(api::people::who_am_i))
        .route("/setup", post(api::people::first_admin))
        .route(
            "/tokens",
            get(api::people::list_tokens).post(api::people::create_token),
        )
        .route("/tokens/{key}", delete(api::people::revoke_token))
        .route(
            "/users",
            get(api::accounts::list).post(api::accounts::invite),
        )
        .route(
            "/users/{key}",
            get(api::accounts::get).delete(api::accounts::delete),
        )
        .route(
            "/users/{key}/memberships",
            put(api::accounts::set_memberships),
        )
        .route("/users/{key}/disable", post(api::accounts::disable))
        .route("/users/{key}/enable", post(api::accounts::enable))
        .route("/password-reset", post(api::accounts::request_reset))
        .route(
            "/password-reset/complete",
            post(api::accounts::complete_reset),
        )
        .route(
            "/invitations/accept",
            post(api::accounts::accept_invitation),
        )
        .route("/me/password", put(api::accounts::change_password))
        .route("/me/preferences", put(api::accounts::set_preferences))
        .route("/me/totp", post(api::accounts::offer_totp))
        .route("/me/totp/confirm", post(api::accounts::confirm_totp))
        .route("/me/totp/disable", post(api::accounts::disable_totp))
        .route(
            "/me/recovery-codes",
            post(api::accounts::renew_recovery_codes),
        )
        .route(
            "/organisations/{id}/security",
            put(api::accounts::set_security),
        )
        .route(
            "/clients",
            get(api::accounts::list_clients).post(api::accounts::create_client),
        )
        .route("/clients/{client_id}", delete(api::accounts::revoke_client))
        .route("/oauth/token", post(api::accounts::token))
        .route(
            "/organisations",
            get(api::register::list_organisations).post(api::entries::create_organisation),
        )
        .route(
            "/organisations/{id}",
            get(api::register::get_organisation)
                .put(api::entries::replace_organisation)
                .delete(api::entries::delete_organisation),
        )
        .route("/organisations/{id}/upstream", get(api::views::upstream))
        .route("/organisations/{id}/notice", get(api::notices::generate))
        .route(
            "/organisations/{id}/notices",
            get(api::notices::versions).post(api::notices::publish),
        )
        .route(
            "/organisations/{id}/notices/{name}/versions/{version}",
            get(api::notices::version),
        )
        .route("/organisations/{id}/records", get(api::notices::records))
        .route(
            "/organisations/{id}/templates/{name}",
            get(api::notices::get_template)
                .put(api::notices::put_template)
                .delete(api::notices::delete_template),
        )
        .route(
            "/activities",
            get(api::register::list_activities).post(api::entries::create_activity),
        )
        .route(
            "/activities/{id}",
            get(api::register::get_activity)
                .put(api::entries::replace_activity)
                .delete(api::entries::delete_activity),
        )
        .route("/contracts/{id}/amendments", get(api::contracts::list))
        .route("/joint-listings", get(api::joint::list))
        .route(
            "/activities/{id}/joint-controllers/{organisation}/accept",
            post(api::joint::accept),
        )
        .route(
            "/activities/{id}/joint-controllers/{organisation}/withdraw",
            post(api::joint::withdraw),
        )
        .route("/contracts/{id}/versions", get(api::contracts::versions))
        .route("/contracts/{id}/amendments/{key}", get(api::contracts::get))
        .route(
            "/contracts/{id}/amendments/{key}/accept",
            post(api::contracts::accept),
        )
        .route(
            "/contracts/{id}/amendments/{key}/reject",
            post(api::contracts::reject),
        )
        .route(
            "/contracts/{id}/amendments/{key}/withdraw",
            post(api::contracts::withdraw),
        )
        .route("/activities/{id}/chain", get(api::views::chain))
        .route("/activities/{id}/recipients", get(api::views::recipients))
        .route("/activities/{id}/transfers", get(api::views::transfers_of))
        .route(
            "/contracts",
            get(api::register::list_contracts).post(api::entries::create_contract),
        )
        .route(
            "/contracts/{id}",
            get(api::register::get_contract)
                .put(api::entries::replace_contract)
                .delete(api::entries::delete_contract),
        )
        .route(
            "/engagements",
            get(api::register::list_engagements).post(api::entries::create_engagement),
        )
        .route(
            "/engagements/{id}",
            get(api::register::get_engagement)
                .put(api::entries::replace_engagement)
                .delete(api::entries::delete_engagement),
        )
        .route(
            "/manifest",
            get(api::register::get_manifest).post(api::register::post_manifest),
        )
        .route(
            "/change-requests",
            get(api::changes::list).post(api::changes::file),
        )
        .route("/change-requests/{key}", get(api::changes::get))
        .route(
            "/change-requests/{key}/decisions",
            post(api::changes::decide),
        )
        .route("/change-requests/{key}/remarks", post(api::changes::remark))
        .route(
            "/change-requests/{key}/dossier",
            axum::routing::put(api::changes::update_dossier),
        )
        .route(
            "/change-requests/{key}/withdraw",
            post(api::changes::withdraw),
        )
        .route(
            "/change-requests/{key}/execute",
            post(api::changes::execute),
        )
        .route(
            "/breaches",
            get(api::breaches::list).post(api::breaches::report),
        )
        .route("/breaches/{key}", get(api::breaches::get))
        .route(
            "/breaches/{key}/acknowledge",
            post(api::breaches::acknowledge),
        )
        .route("/breaches/{key}/relay", post(api::breaches::relay))
        .route("/breaches/{key}/phases", post(api::breaches::add_phase))
        .route(
            "/breaches/{key}/affected",
            get(api::breaches::affected).post(api::breaches::match_affected),
        )
        .route(
            "/breaches/{key}/cases/{controller}/awareness",
            post(api::breaches::awareness),
        )
        .route(
            "/breaches/{key}/cases/{controller}/assessment",
            axum::routing::put(api::breaches::assess),
        )
        .route(
            "/breaches/{key}/cases/{controller}/decision",
            post(api::breaches::decide),
        )
        .route(
            "/breaches/{key}/cases/{controller}/filings",
            post(api::breaches::file),
        )
        .route(
            "/breaches/{key}/cases/{controller}/communication",
            get(api::breaches::communication_text).post(api::breaches::communicate),
        )
        .route(
            "/breaches/{key}/cases/{controller}/communication/send",
            post(api::breaches::send_communication),
        )
        .route(
            "/breaches/{key}/cases/{controller}/report",
            get(api::breaches::authority_report),
        )
        .route(
            "/organisations/{id}/breaches",
            get(api::breaches::register_of_breaches),
        )
        .route("/attachments", post(api::changes::upload))
        .route("/attachments/{sha256}", get(api::changes::download))
        .route(
            "/webhooks",
            get(api::changes::subscriptions).post(api::changes::subscribe),
        )
        .route("/webhooks/{key}/enable", post(api::changes::enable))
        .route("/webhooks/{key}/disable", post(api::changes::disable))
        .route("/webhooks/{key}/deliveries", get(api::changes::deliveries))
        .route(
            "/webhooks/{key}/deliveries/{delivery}/replay",
            post(api::changes::replay),
        )
        .route(
            "/subject-requests",
            get(api::rights::list).post(api::rights::enter),
        )
        .route("/subject-requests/{key}", get(api::rights::get))
        .route(
            "/subject-requests/{key}/verification",
            post(api::rights::verification),
        )
        .route("/subject-requests/{key}/extend", post(api::rights::extend))
        .route("/subject-requests/{key}/close", post(api::rights::close))
        .route("/subject-requests/{key}/refuse", post(api::rights::refuse))
        .route("/subject-requests/{key}/notify", post(api::rights::notify))
        .route(
            "/subject-requests/{key}/answer",
            get(api::rights::access_answer),
        )
        .route("/subject-requests/{key}/export", get(api::rights::export))
        .route(
            "/subject-requests/{key}/transmit",
            post(api::rights::transmit),
        )
        .route(
            "/rights-notifications",
            get(api::rights::list_notifications),
        )
        .route(
            "/rights-notifications/{key}",
            get(api::rights::get_notification),
        )
        .route(
            "/rights-notifications/{key}/acknowledge",
            post(api::rights::acknowledge),
        )
        .route("/rights-notifications/{key}/done", post(api::rights::done))
        .route(
            "/rights-notifications/{key}/failed",
            post(api::rights::failed),
        )
        .route(
            "/rights-notifications/{key}/impossible",
            post(api::rights::impossible),
        )
        .route("/disclosures", post(api::ledger::record_disclosures))
        .route(
            "/organisations/{id}/data-sources",
            get(api::rights::list_data_sources).post(api::rights::add_data_source),
        )
        .route("/findings", get(api::views::findings))
        .route("/audit", get(api::audit::list))
        .route("/audit/head", get(api::audit::head))
        .route("/openapi.json", get(openapi_json));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .route("/api/docs", get(explorer::page))
        .route("/", get(ui::dashboard::home))
        .route("/dashboard/findings-seen", post(ui::dashboard::mark_seen))
        .route("/login", get(ui::login_form).post(ui::login))
        .route("/login/code", post(ui::login_code))
        .route("/setup", get(ui::account::setup_form).post(ui::account::setup))
        .route("/login/oidc", get(ui::account::oidc_begin))
        .route("/login/oidc/callback", get(ui::account::oidc_callback))
        .route(
            "/password-reset",
            get(ui::account::reset_form).post(ui::account::ask_reset),
        )
        .route(
            "/password-reset/{token}",
            get(ui::account::reset_link).post(ui::account::reset_password),
        )
        .route(
            "/invitations/{token}",
            get(ui::account::invitation).post(ui::account::accept_invitation),
        )
        .route("/people", get(ui::people::list).post(ui::people::invite))
        .route("/people/security", post(ui::people::set_security))
        .route("/people/{key}", get(ui::people::show))
        .route("/people/{key}/memberships", post(ui::people::set_membership))
        .route("/people/{key}/{action}", post(ui::people::account_action))
        .route("/settings/security", get(ui::account::security))
        .route("/settings/security/totp", post(ui::account::offer_totp))
        .route(
            "/settings/security/totp/confirm",
            post(ui::account::confirm_totp),
        )
        .route(
            "/settings/security/totp/disable",
            post(ui::account::disable_totp),
        )
        .route(
            "/settings/security/recovery-codes",
            post(ui::account::renew_recovery_codes),
        )
        .route(
            "/settings/security/password",
            post(ui::account::change_password),
        )
        .route(
            "/settings/security/preferences",
            post(ui::account::set_preferences),
        )
        .route("/logout", post(ui::logout))
        .route(
            "/activities",
            get(ui::activities).post(ui::forms::create_activity),
        )
        .route("/activities/new", get(ui::forms::new_activity))
        .route(
            "/activities/{id}",
            get(ui::activity).post(ui::forms::save_activity),
        )
        .route("/activities/{id}/edit", get(ui::forms::edit_activity))
        .route(
            "/organisations",
            get(ui::organisations).post(ui::forms::create_organisation),
        )
        .route("/organisations/new", get(ui::forms::new_organisation))
        .route(
            "/organisations/{id}",
            get(ui::organisation).post(ui::forms::save_organisation),
        )
        .route(
            "/organisations/{id}/edit",
            get(ui::forms::edit_organisation),
        )
        .route("/links", post(ui::forms::create_link))
        .route("/links/new", get(ui::forms::new_link))
        .route("/links/{id}/edit", get(ui::forms::edit_link))
        .route("/{collection}/{id}/delete", post(ui::forms::delete_entry))
        .route(
            "/organisations/{id}/notice",
            get(ui::notices::notice_page).post(ui::notices::publish),
        )
        .route(
            "/links/{id}",
            get(ui::entries::link).post(ui::forms::save_link),
        )
        .route(
            "/contracts/{id}",
            get(ui::entries::contract).post(ui::entries::save_contract),
        )
        .route("/contracts/{id}/edit", get(ui::entries::edit_contract))
        .route("/contracts/new", get(ui::entries::new_contract))
        .route("/contracts", post(ui::entries::create_contract))
        .route(
            "/contracts/{id}/amendments/{key}/{verb}",
            post(ui::entries::answer),
        )
        .route(
            "/settings/tokens",
            get(ui::settings::tokens).post(ui::settings::create_token),
        )
        .route(
            "/settings/tokens/{key}/revoke",
            post(ui::settings::revoke_token),
        )
        .route(
            "/settings/webhooks",
            get(ui::settings::webhooks).post(ui::settings::add_webhook),
        )
        .route("/settings/clients", post(ui::settings::create_client))
        .route(
            "/settings/clients/{client_id}/revoke",
            post(ui::settings::revoke_client),
        )
        .route("/settings/webhooks/{key}", get(ui::settings::webhook))
        .route(
            "/settings/webhooks/{key}/deliveries/{delivery}/replay",
            post(ui::settings::replay),
        )
        .route(
            "/settings/webhooks/{key}/{action}",
            post(ui::settings::webhook_action),
        )
        .route("/audit", get(ui::audit::audit))
        .route("/audit/verify", post(ui::audit::verify))
        .route("/findings", get(ui::findings::findings))
        .route("/findings/acknowledge", post(ui::findings::acknowledge))
        .route("/breaches", get(ui::breaches::list).post(ui::breaches::report))
        .route("/breaches/new", get(ui::breaches::new))
        .route("/breaches/{key}", get(ui::breaches::show))
        .route("/breaches/{key}/relay", post(ui::breaches::relay))
        .route("/breaches/{key}/acknowledge", post(ui::breaches::acknowledge))
        .route("/breaches/{key}/phase", post(ui::breaches::add_phase))
        .route(
            "/breaches/{key}/cases/{controller}/awareness",
            post(ui::breaches::awareness),
        )
        .route(
            "/breaches/{key}/cases/{controller}/assess",
            post(ui::breaches::assess),
        )
        .route(
            "/breaches/{key}/cases/{controller}/decide",
            post(ui::breaches::decide),
        )
        .route(
            "/breaches/{key}/cases/{controller}/file",
            post(ui::breaches::file),
        )
        .route(
            "/breaches/{key}/cases/{controller}/communicate",
            post(ui::breaches::communicate),
        )
        .route(
            "/breaches/{key}/cases/{controller}/send",
            post(ui::breaches::send),
        )
        .route("/change-requests", get(ui::changes::list))
        .route(
            "/change-requests/new",
            get(ui::changes::new_form).post(ui::changes::file),
        )
        .route("/change-requests/{key}", get(ui::changes::show))
        .route("/change-requests/{key}/decide", post(ui::changes::decide))
        .route(
            "/change-requests/{key}/dossier",
            post(ui::changes::new_version),
        )
        .route("/change-requests/{key}/execute", post(ui::changes::execute))
        .route("/change-requests/{key}/remark", post(ui::changes::remark))
        .route("/change-requests/{key}/withdraw", post(ui::changes::withdraw))
        .route("/notifications", get(ui::notifications::list))
        .route(
            "/notifications/{key}/{action}",
            post(ui::notifications::step),
        )
        .route("/subject-requests", get(ui::rights::inbox))
        .route("/subject-requests/new", post(ui::rights::enter))
        .route("/subject-requests/{key}", get(ui::rights::show))
        .route(
            "/subject-requests/{key}/notifications/{notification}",
            post(ui::rights::settle_notification),
        )
        .route("/subject-requests/{key}/{action}", post(ui::rights::act))
        .route(
            "/public/organisations/{id}/requests",
            get(ui::rights::intake_form).post(ui::rights::intake),
        )
        .route(
            "/public/requests/{key}/status",
            get(ui::rights::status_page),
        )
        .route(
            "/public/requests/{key}/verify",
            get(ui::rights::verify_form).post(ui::rights::verify),
        )
        .route("/static/custos.css", get(ui::stylesheet))
        .route(
            "/public/organisations/{id}/subprocessors",
            get(ui::public::html),
        )
        .route(
            "/public/organisations/{id}/subprocessors.json",
            get(ui::public::json),
        )
        .route(
            "/public/organisations/{id}/subprocessors.atom",
            get(ui::public::atom),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::NotFound("no such page".to_owned()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ui::viewer::with_viewer,
        ))
        .layer(middleware::from_fn(problem_for_bare_errors))
        // Every response: no MIME sniffing, no referrer outside the instance, and on HTML a
        // Content-Security-Policy (documents and the API explorer set their own).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            move |response: &Response| is_html(response).then(|| page_csp.clone()),
        ))
        // axum's own 2 MB default would refuse a large manifest; the layer below bounds bodies.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &Request<Body>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path only: query strings are not logged.
                tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
            },
        ))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The API's description as served: utoipa's document, with the register's entries described
/// by the manifest's own JSON Schema (one definition for manifests, storage and the API).
pub fn openapi_document() -> serde_json::Value {
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(openapi()).unwrap_or(Value::Null);
    // The manifest's definitions, with their references moved to the components.
    let manifest = custos_core::manifest::json_schema();
    let definitions = manifest
        .get("$defs")
        .and_then(|defs| serde_json::to_string(defs).ok())
        .map(|text| text.replace("#/$defs/", "#/components/schemas/"))
        .and_then(|text| serde_json::from_str::<serde_json::Map<String, Value>>(&text).ok())
        .unwrap_or_default();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(definitions);
    }
    for (collection, name) in [
        ("organisations", "Organisation"),
        ("activities", "Activity"),
        ("contracts", "Contract"),
        ("engagements", "Engagement"),
    ] {
        let entry = json!({"$ref": format!("#/components/schemas/{name}")});
        let list = format!("/api/v1/{collection}");
        let item = format!("/api/v1/{collection}/{{id}}");
        let paths = &mut doc["paths"];
        for (path, method) in [(&list, "post"), (&item, "put")] {
            paths[path.as_str()][method]["requestBody"]["content"]["application/json"]["schema"] =
                entry.clone();
        }
        for (path, method, status) in [
            (&list, "post", "201"),
            (&item, "get", "200"),
            (&item, "put", "200"),
        ] {
            paths[path.as_str()][method]["responses"][status]["content"]["application/json"]["schema"] =
                entry.clone();
        }
        paths[list.as_str()]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = json!({
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": entry},
                "next_cursor": {"type": "string"},
            },
        });
    }
    openapi::describe_bodies(&mut doc);
    doc
}

async fn openapi_json() -> Response {
    axum::Json(openapi_document()).into_response()
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, Response> {
    match custos_app::sessions::ping(&state.store).await {
        Ok(()) => Ok("ready"),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            let mut response = ApiError::Internal(error.to_string()).into_response();
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Err(response)
        }
    }
}

/// The Content-Security-Policy of Custos's own pages: no script at all (the UI has none), our
/// stylesheet, frames only of our own documents, no framing of the pages themselves.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The Content-Security-Policy of documents served as HTML by the API (notices, records,
/// access answers), whose text organisations write through their templates: a sandbox (no
/// script, an opaque origin without our cookies), framed only by our own pages. Their
/// handlers set it.
pub const DOCUMENT_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; \
     img-src data:; frame-ancestors 'self'";

/// A document served by the API (notice, record, access answer): when it is HTML, in the
/// [`DOCUMENT_CSP`] sandbox.
pub fn as_document(mut response: Response) -> Response {
    if is_html(&response) {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCUMENT_CSP),
        );
    }
    response
}

/// The Content-Security-Policy of our pages: [`PAGE_CSP`], and where the instance has an
/// OpenID Provider, forms may lead there too (signing out ends the session at the provider,
/// and browsers hold a form's redirects to `form-action`).
fn page_csp_for(oidc: Option<&custos_app::oidc::Oidc>) -> HeaderValue {
    match oidc.and_then(custos_app::oidc::Oidc::issuer_origin) {
        Some(origin) => HeaderValue::from_str(&PAGE_CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ))
        .unwrap_or(HeaderValue::from_static(PAGE_CSP)),
        None => HeaderValue::from_static(PAGE_CSP),
    }
}

fn is_html(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// Errors made outside the handlers (unknown method, body too large, time-out) become
/// problem details too.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // Bare: no body type, or the plain text of a framework rejection (pages keep their HTML).
    let bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if (status.is_client_error() || status.is_server_error()) && bare {
        let detail = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed here".to_owned(),
            StatusCode::PAYLOAD_TOO_LARGE => {
                format!("the request body is larger than {MAX_BODY_BYTES} bytes")
            }
            StatusCode::REQUEST_TIMEOUT => "the request took too long".to_owned(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "expected Content-Type: application/json".to_owned()
            }
            other => other.canonical_reason().unwrap_or("error").to_owned(),
        };
        let problem = error::Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            field: None,
        };
        let mut replaced = (status, axum::Json(problem)).into_response();
        replaced
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
            if let Some(value) = response.headers().get(&name) {
                replaced.headers_mut().insert(name, value.clone());
            }
        }
        return replaced;
    }
    response
}

/// A bound server, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: Router,
    state: AppState,
}

impl Server {
    /// Loads the register and binds the listener.
    pub async fn bind(
        config: &Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ApiError> {
        let mut state = AppState::new(store, clock, config.secure_cookies, config.outbound).await?;
        state.trusted_proxies = Arc::new(config.trusted_proxies.clone());
        if let Some(settings) = &config.oidc {
            state.oidc = Some(Arc::new(custos_app::oidc::Oidc::new(settings.clone())?));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot listen on {}: {e}", config.listen)))?;
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    /// When no user exists: a one-time secret for `POST /api/v1/setup`, which creates the
    /// first administrator; none otherwise.
    pub async fn setup_secret(&self) -> Result<Option<String>, ApiError> {
        if custos_app::sessions::count_users(&self.state.store).await? > 0 {
            return Ok(None);
        }
        let (secret, hash) = custos_app::sessions::new_secret()?;
        if let Ok(mut setup) = self.state.setup.lock() {
            *setup = Some(hash);
        }
        Ok(Some(secret))
    }

    /// How long before a decision deadline deciders are reminded (default 72 h and 24 h).
    pub fn with_reminders(mut self, reminders: Vec<jiff::SignedDuration>) -> Self {
        self.state.workflow = Arc::new(custos_app::changes::Settings { reminders });
        self.router = router(self.state.clone());
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight; follows the
    /// database meanwhile (other servers' writes, sign-outs and revocations).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(follow_database(self.state.clone(), stopped.clone()));
        let image = tokio::spawn(keep_register_image(self.state.clone(), stopped));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop.send(true);
        let _ = follower.await;
        let _ = image.await;
        served
    }

    /// Serves as [`Server::serve`], with the background workers beside it: the outbox
    /// dispatcher (webhooks, e-mail) and the timers (deemed approvals, reminders). They stop
    /// with the server; a delivery in flight is sent again after its lease if cut short.
    pub async fn serve_with_workers(
        self,
        dispatcher: custos_app::outbox::Dispatcher,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let outbox = tokio::spawn(dispatcher.run(stopped.clone()));
        let timers = tokio::spawn(run_timers(self.state.clone(), stopped.clone()));
        let follower = tokio::spawn(follow_database(self.state.clone(), stopped.clone()));
        let image = tokio::spawn(keep_register_image(self.state.clone(), stopped));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop.send(true);
        let _ = outbox.await;
        let _ = timers.await;
        let _ = follower.await;
        let _ = image.await;
        served
    }
}

/// How often a server looks at the database's versions.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Follows the database's versions: writes of the register by other servers (or by `custos
/// apply` beside a running server) are applied to this server's copy, and a sign-out or a
/// revocation on any server drops the sign-ins this one remembers. One small read per
/// interval.
async fn follow_database(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut access = None;
    loop {
        match custos_app::live::versions(&state.store).await {
            Ok((register, access_now)) => {
                if register != state.live.snapshot().await.version
                    && let Err(error) = state.live.sync(&state.store).await
                {
                    tracing::error!(%error, "the register could not be brought up to date");
                }
                if access.is_some_and(|seen| seen != access_now) {
                    state.auth_cache.clear();
                }
                access = Some(access_now);
            }
            Err(error) => tracing::warn!(%error, "the database's versions could not be read"),
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How often a server looks whether the register's image has fallen behind.
const IMAGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the register's image (what the next start reads instead of every row) within
/// [`custos_app::live::IMAGE_BEHIND`] versions of the register. An image cut short by the
/// server stopping is dropped by the next attempt.
async fn keep_register_image(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(IMAGE_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        tokio::select! {
            kept = state.live.keep_image(&state.store, custos_app::live::IMAGE_MIN_ENTRIES) => match kept {
                Ok(custos_app::live::ImageKept::Written(version)) => {
                    tracing::info!(version, "the register's image was written");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the register's image could not be written"),
            },
            _ = stop.changed() => return,
        }
    }
}

/// Fires due timers every second (with the register as the server holds it).
async fn run_timers(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match custos_app::timers::fire_due_timers(
            &state.store,
            &state.live,
            state.clock.as_ref(),
            500,
        )
        .await
        {
            Ok(fired) if fired > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "firing timers failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}
