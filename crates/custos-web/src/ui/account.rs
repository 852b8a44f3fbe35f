//! One's own account in the browser: asking for a password-reset link, setting a password
//! through a reset or invitation link (no session: the link is the proof), and the security
//! page (password, TOTP second factor with its QR code and recovery codes). The same use
//! cases as the API (`custos_app::accounts`).

use crate::i18n::Translate as _;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custos_app::accounts;
use serde::Deserialize;

use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::api::accounts::TOTP_ISSUER;
use crate::auth::{Principal, Via};
use crate::error::ApiError;
use crate::i18n::tr;
use crate::state::AppState;

/// What the link page asks for.
pub enum LinkForm {
    AskReset,
    SetPassword {
        action: String,
        email: String,
    },
    /// The first administrator's address and password, with the setup's secret.
    FirstAdmin {
        token: String,
        email: String,
    },
    None,
}

#[derive(Template)]
#[template(path = "account_link.html")]
struct LinkPage {
    title: String,
    error: Option<String>,
    message: Option<String>,
    form: LinkForm,
    /// The page asks for a reset link (so offers no link to itself).
    asking: bool,
}

/// The page of a one-time link (or of the setup), titled by the message `title`.
fn link_page(
    status: StatusCode,
    title: &str,
    form: LinkForm,
    error: Option<String>,
    message: Option<String>,
) -> Response {
    let mut response = page(&LinkPage {
        title: tr(title, &[]),
        error,
        message,
        asking: matches!(form, LinkForm::AskReset),
        form,
    });
    *response.status_mut() = status;
    response
}

pub async fn reset_form() -> Response {
    link_page(
        StatusCode::OK,
        "account-forgot-password",
        LinkForm::AskReset,
        None,
        None,
    )
}

#[derive(Deserialize)]
pub struct ResetAsk {
    email: String,
}

/// Asks for a reset link: the same answer whether the address has an account or not.
pub async fn ask_reset(
    State(state): State<AppState>,
    crate::auth::ClientAddress(client): crate::auth::ClientAddress,
    Form(form): Form<ResetAsk>,
) -> Response {
    match crate::api::accounts::ask_for_reset(&state, client, &form.email).await {
        Ok(()) => link_page(
            StatusCode::OK,
            "account-check-mailbox",
            LinkForm::None,
            None,
            Some(tr(
                "account-reset-on-its-way",
                &[("email", form.email.trim())],
            )),
        ),
        Err(error) => link_page(
            error.status(),
            "account-forgot-password",
            LinkForm::AskReset,
            Some(super::sentence(&error)),
            None,
        ),
    }
}

/// Which link: a password reset or an invitation.
#[derive(Clone, Copy)]
struct LinkKind {
    purpose: &'static str,
    /// The message that titles its page.
    title: &'static str,
    prefix: &'static str,
}

const RESET: LinkKind = LinkKind {
    purpose: accounts::PASSWORD_RESET,
    title: "account-choose-password",
    prefix: "/password-reset/",
};

const INVITATION: LinkKind = LinkKind {
    purpose: accounts::INVITATION,
    title: "account-accept-invitation",
    prefix: "/invitations/",
};

async fn show_link(state: &AppState, kind: LinkKind, token: &str) -> Response {
    match accounts::link_account(&state.store, kind.purpose, token, state.clock.now()).await {
        Ok(user) => link_page(
            StatusCode::OK,
            kind.title,
            LinkForm::SetPassword {
                action: format!("{}{token}", kind.prefix),
                email: user.email,
            },
            None,
            None,
        ),
        Err(error) => link_page(
            ApiError::from(error).status(),
            "account-link-broken",
            LinkForm::None,
            Some(tr("account-link-broken-why", &[])),
            None,
        ),
    }
}

#[derive(Deserialize)]
pub struct NewPassword {
    password: String,
    repeat: String,
}

async fn complete(state: &AppState, kind: LinkKind, token: &str, form: NewPassword) -> Response {
    let now = state.clock.now();
    let refused = |error: ApiError, email: String| {
        link_page(
            error.status(),
            kind.title,
            LinkForm::SetPassword {
                action: format!("{}{token}", kind.prefix),
                email,
            },
            Some(super::sentence(&error)),
            None,
        )
    };
    if form.password != form.repeat {
        let email = accounts::link_account(&state.store, kind.purpose, token, now)
            .await
            .map(|u| u.email)
            .unwrap_or_default();
        return refused(
            ApiError::invalid("repeat", "repeat: the two passwords differ"),
            email,
        );
    }
    match accounts::complete_link(&state.store, kind.purpose, token, &form.password, now).await {
        Ok(user) => {
            state.access_changed().await;
            link_page(
                StatusCode::OK,
                "account-password-set",
                LinkForm::None,
                None,
                Some(tr("account-sign-in-with-it", &[("email", &user.email)])),
            )
        }
        Err(error @ custos_app::AppError::Invalid(_)) => {
            let email = accounts::link_account(&state.store, kind.purpose, token, now)
                .await
                .map(|u| u.email)
                .unwrap_or_default();
            refused(error.into(), email)
        }
        Err(_) => show_link(state, kind, token).await,
    }
}

pub async fn reset_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    show_link(&state, RESET, &token).await
}

pub async fn reset_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<NewPassword>,
) -> Response {
    complete(&state, RESET, &token, form).await
}

pub async fn invitation(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    show_link(&state, INVITATION, &token).await
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<NewPassword>,
) -> Response {
    complete(&state, INVITATION, &token, form).await
}

/// The key being set up, as the page shows it.
struct OfferView {
    key: String,
    uri: String,
    /// The URI as a QR code, inline SVG.
    qr: String,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    totp: bool,
    recovery_left: u64,
    offer: Option<OfferView>,
    recovery_codes: Vec<String>,
    /// The organisations that require a second factor the user has not set up.
    due: String,
    /// The person's own zone (empty: the organisation's), the zone in use, and every zone.
    time_zone: String,
    zone_in_use: String,
    zones: &'static [String],
    /// The person's own language (empty: the organisation's) and the language in use.
    language: String,
    language_in_use: &'static str,
    problem: Option<String>,
    message: Option<String>,
}

fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes()).map_or_else(
        |_| String::new(),
        |code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        },
    )
}

/// What the security page shows besides its forms.
#[derive(Default)]
struct Shown {
    recovery_codes: Vec<String>,
    problem: Option<ApiError>,
    message: Option<String>,
}

async fn security_page(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    shown: Shown,
) -> Result<Response, UiError> {
    // The account as stored now (the principal may be from before the change just made).
    let user = custos_app::people::user_by_email(&state.store, &principal.user.email)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::Unauthenticated("the account is gone".to_owned()))?;
    let offer = if user.totp {
        None
    } else {
        accounts::totp_pending(&state.store, &user, TOTP_ISSUER)
            .await
            .map_err(ApiError::from)?
            .map(|o| OfferView {
                qr: qr_svg(&o.uri),
                key: o.key,
                uri: o.uri,
            })
    };
    let recovery_left = if user.totp {
        accounts::recovery_codes_left(&state.store, &user)
            .await
            .map_err(ApiError::from)?
    } else {
        0
    };
    let due = if user.totp {
        String::new()
    } else {
        principal.second_factor_due.join(", ")
    };
    let mut response = page(&SecurityPage {
        section: "settings",
        user_email: user.email.clone(),
        csrf: csrf.to_owned(),
        totp: user.totp,
        recovery_left,
        offer,
        recovery_codes: shown.recovery_codes,
        due,
        time_zone: user.time_zone.clone().unwrap_or_default(),
        zone_in_use: super::viewer::viewer_zone_name(),
        zones: custos_core::values::TimeZoneName::all(),
        language: user.language.clone().unwrap_or_default(),
        language_in_use: match super::viewer::viewer_language() {
            custos_render::Language::En => "English",
            custos_render::Language::Es => "español",
        },
        problem: shown.problem.as_ref().map(super::sentence),
        message: shown.message,
    });
    if let Some(error) = &shown.problem {
        *response.status_mut() = error.status();
    }
    Ok(response)
}

pub async fn security(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    security_page(&state, &viewer.principal, &viewer.csrf, Shown::default()).await
}

/// The forms of the security page change one's own account: from a session only.
fn session_of(principal: &Principal) -> Result<&str, UiError> {
    match &principal.via {
        Via::Session { id_hash, .. } => Ok(id_hash),
        Via::Token { .. } => Err(UiError::from(ApiError::Forbidden(
            "this is changed from a signed-in session".to_owned(),
        ))),
    }
}

/// The page again after a step: its outcome, or the problem when the input was wrong.
async fn after(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    outcome: Result<Shown, custos_app::AppError>,
) -> Result<Response, UiError> {
    match outcome {
        Ok(shown) => {
            state.access_changed().await;
            security_page(state, principal, csrf, shown).await
        }
        Err(error) => {
            let error = ApiError::from(error);
            if super::confirm::correctable(&error) {
                let shown = Shown {
                    problem: Some(error),
                    ..Shown::default()
                };
                security_page(state, principal, csrf, shown).await
            } else {
                Err(error.into())
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn offer_totp(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    session_of(&principal)?;
    let outcome = accounts::totp_offer(&state.store, &principal.user, TOTP_ISSUER)
        .await
        .map(|_| Shown::default());
    after(&state, &principal, &form.csrf, outcome).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<CodeForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    session_of(&principal)?;
    let outcome =
        accounts::totp_confirm(&state.store, &principal.user, &form.code, state.clock.now())
            .await
            .map(|codes| Shown {
                recovery_codes: codes,
                message: Some(
                    "Two-factor sign-in is on: signing in now asks for the app's code.".to_owned(),
                ),
                ..Shown::default()
            });
    after(&state, &principal, &form.csrf, outcome).await
}

pub async fn disable_totp(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<CodeForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    session_of(&principal)?;
    let outcome =
        accounts::totp_disable(&state.store, &principal.user, &form.code, state.clock.now())
            .await
            .map(|()| Shown {
                message: Some("Two-factor sign-in is off.".to_owned()),
                ..Shown::default()
            });
    after(&state, &principal, &form.csrf, outcome).await
}

pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<CodeForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    session_of(&principal)?;
    let outcome = accounts::renew_recovery_codes(
        &state.store,
        &principal.user,
        &form.code,
        state.clock.now(),
    )
    .await
    .map(|codes| Shown {
        recovery_codes: codes,
        message: Some(tr("account-new-recovery-codes", &[])),
        ..Shown::default()
    });
    after(&state, &principal, &form.csrf, outcome).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    repeat: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<PasswordForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let session = session_of(&principal)?.to_owned();
    let outcome = if form.new_password == form.repeat {
        accounts::change_password(
            &state.store,
            &principal.user,
            &form.current_password,
            &form.new_password,
            Some(&session),
            state.clock.now(),
        )
        .await
        .map(|()| Shown {
            message: Some(tr("account-password-changed", &[])),
            ..Shown::default()
        })
    } else {
        Err(custos_app::AppError::Invalid(
            "repeat: the two new passwords differ".to_owned(),
        ))
    };
    after(&state, &principal, &form.csrf, outcome).await
}

/// The cookie that binds a sign-in at the OpenID Provider to this browser: its state. Lax, so
/// that the provider's redirect back (a top-level GET) carries it.
const OIDC_STATE_COOKIE: &str = "custos_oidc_state";

#[derive(Deserialize)]
pub struct OidcBegin {
    next: Option<String>,
}

/// Sends the browser to the OpenID Provider, with the state in a cookie of its own.
pub async fn oidc_begin(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<OidcBegin>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return UiError::from(ApiError::not_found("sign-in with an OpenID Provider"))
            .into_response();
    };
    let next = super::local_path(query.next.as_deref());
    match oidc.begin(&state.store, &next, state.clock.now()).await {
        Ok((url, oidc_state)) => {
            let mut response = axum::response::Redirect::to(&url).into_response();
            let cookie = format!(
                "{OIDC_STATE_COOKIE}={oidc_state}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=600{}",
                if state.secure_cookies { "; Secure" } else { "" }
            );
            if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
                response
                    .headers_mut()
                    .insert(axum::http::header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => super::login_page(
            &state,
            StatusCode::BAD_GATEWAY,
            String::new(),
            Some(format!("{}.", super::capitalise(&error.to_string()))),
            next,
        ),
    }
}

#[derive(Deserialize)]
pub struct OidcCallback {
    code: Option<String>,
    iss: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's answer: a session, or the sign-in page saying why not.
pub async fn oidc_callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(query): axum::extract::Query<OidcCallback>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return UiError::from(ApiError::not_found("sign-in with an OpenID Provider"))
            .into_response();
    };
    let register = state.register().await;
    let known = |id: &str| register.organisation(id).is_some();
    let error = query
        .error_description
        .as_deref()
        .or(query.error.as_deref());
    let answer = custos_app::oidc::CallbackAnswer {
        code: query.code.as_deref(),
        iss: query.iss.as_deref(),
        state: query.state.as_deref(),
        error,
        browser_state: crate::auth::cookie(&headers, OIDC_STATE_COOKIE),
    };
    let mut response = match oidc
        .finish(&state.store, answer, &known, state.clock.now())
        .await
    {
        Ok(Ok(finished)) => {
            let next = super::local_path(Some(&finished.next));
            super::signed_in_to(&state, &finished.signed_in.into(), &next)
        }
        Ok(Err(refusal)) => {
            use custos_app::oidc::Refusal;
            let status = match refusal {
                Refusal::NoAccount(_) | Refusal::Disabled => StatusCode::FORBIDDEN,
                Refusal::Provider(_) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            super::login_page(
                &state,
                status,
                String::new(),
                Some(format!("{}.", super::capitalise(&refusal.to_string()))),
                "/".to_owned(),
            )
        }
        Err(error) => UiError::from(ApiError::from(error)).into_response(),
    };
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        axum::http::HeaderValue::from_static(
            "custos_oidc_state=; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age=0",
        ),
    );
    response
}

#[derive(Deserialize)]
pub struct PreferencesForm {
    csrf: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    language: String,
}

/// One's own time zone and language for pages, or the organisation's again.
pub async fn set_preferences(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<PreferencesForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let outcome = accounts::set_preferences(
        &state.store,
        &principal.user,
        Some(&form.time_zone),
        Some(&form.language),
        state.clock.now(),
    )
    .await
    .map(|_| Shown {
        message: Some(tr("security-preferences-saved", &[])),
        ..Shown::default()
    });
    after(&state, &principal, &form.csrf, outcome).await
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// The first administrator, in the browser: the link `custos serve` prints while no user
/// exists leads here.
pub async fn setup_form(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<SetupQuery>,
) -> Response {
    match crate::api::people::setup_token_matches(&state, &query.token) {
        Ok(true) => link_page(
            StatusCode::OK,
            "account-set-up",
            LinkForm::FirstAdmin {
                token: query.token,
                email: String::new(),
            },
            None,
            None,
        ),
        Ok(false) => link_page(
            StatusCode::FORBIDDEN,
            "account-set-up",
            LinkForm::None,
            Some(tr("account-not-the-setup-link", &[])),
            None,
        ),
        Err(_) => link_page(
            StatusCode::NOT_FOUND,
            "account-is-set-up",
            LinkForm::None,
            Some(tr("account-no-setup-pending", &[])),
            None,
        ),
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    email: String,
    password: String,
    repeat: String,
}

pub async fn setup(State(state): State<AppState>, Form(form): Form<SetupForm>) -> Response {
    let refused = |error: ApiError, form: &SetupForm| {
        link_page(
            error.status(),
            "account-set-up",
            LinkForm::FirstAdmin {
                token: form.token.clone(),
                email: form.email.clone(),
            },
            Some(super::sentence(&error)),
            None,
        )
    };
    if form.password != form.repeat {
        return refused(
            ApiError::invalid("repeat", "repeat: the two passwords differ"),
            &form,
        );
    }
    match crate::api::people::create_first_admin(
        &state,
        &form.token,
        form.email.clone(),
        form.password.clone(),
    )
    .await
    {
        Ok(user) => link_page(
            StatusCode::CREATED,
            "account-is-set-up",
            LinkForm::None,
            None,
            Some(tr(
                "account-administrator-created",
                &[("email", &user.email)],
            )),
        ),
        Err(error @ ApiError::Invalid { .. }) => refused(error, &form),
        Err(error) => link_page(
            error.status(),
            "account-set-up",
            LinkForm::None,
            Some(super::sentence(&error)),
            None,
        ),
    }
}
