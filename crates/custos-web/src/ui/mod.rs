//! The web UI: pages rendered on the server (askama), a stylesheet, no script. Signing in sets
//! the same server-side session as the API; every form carries a CSRF token; a page asked for
//! without a session sends the browser to the sign-in page. Pages show what the API shows to
//! the same user: visibility follows the chain here too.

pub mod account;
pub mod audit;
pub mod breaches;
pub mod chain_svg;
pub mod changes;
pub mod confirm;
pub mod dashboard;
pub mod entries;
pub mod findings;
pub mod forms;
pub mod notices;
pub mod notifications;
pub mod people;
pub mod public;
pub mod rights;
pub mod settings;
pub mod viewer;

use crate::i18n::Translate as _;
use crate::i18n::tr;
use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use custos_core::Date;
use custos_core::chain::{Chain, involvement};
use custos_core::checks::{Filter, Finding, Severity, rules};
use custos_core::model::Decision;
use custos_core::refdata::ReferenceData;
use custos_core::transfer::{Destination, transfers};
use serde::Deserialize;

use crate::api::people::{Started, start_session};
use crate::auth::{Principal, SESSION_COOKIE, Via, authenticate, cookie, hash_secret};
use crate::error::ApiError;
use crate::state::AppState;
use chain_svg::{Badge, Node, Tone};
use custos_app::sessions::new_secret;

const LOGIN_CSRF_COOKIE: &str = "custos_login_csrf";

/// A signed-in browser; without a session, the browser is sent to the sign-in page.
pub struct Viewer {
    principal: Principal,
    csrf: String,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let principal = match authenticate(parts, state).await {
            Ok(principal) => principal,
            // After signing in, the browser comes back to the page it asked for.
            Err(ApiError::Unauthenticated(_)) => {
                let asked = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let next = form_urlencoded::byte_serialize(asked.as_bytes()).collect::<String>();
                return Err(Redirect::to(&format!("/login?next={next}")).into_response());
            }
            Err(other) => return Err(other.into_response()),
        };
        // An organisation requires a second factor the user has not set up: that first.
        if crate::auth::second_factor_gate(&principal, parts.uri.path()).is_err() {
            return Err(Redirect::to("/settings/security").into_response());
        }
        crate::auth::csrf_header_check(&principal, parts).map_err(IntoResponse::into_response)?;
        let csrf = match &principal.via {
            Via::Session { csrf_token, .. } => csrf_token.clone(),
            Via::Token { .. } => String::new(),
        };
        Ok(Self { principal, csrf })
    }
}

/// The caller of a form: signed in by its session; the form's hidden field carries the CSRF
/// token, checked by the handler.
pub struct FormCaller(pub Principal);

impl FromRequestParts<AppState> for FormCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(parts, state).await {
            Ok(principal) => match crate::auth::second_factor_gate(&principal, parts.uri.path()) {
                Ok(()) => Ok(Self(principal)),
                Err(_) => Err(Redirect::to("/settings/security").into_response()),
            },
            Err(ApiError::Unauthenticated(_)) => Err(Redirect::to("/login").into_response()),
            Err(other) => Err(UiError::from(other).into_response()),
        }
    }
}

/// An error on a page: the same statuses as the API, shown as a page.
pub struct UiError(ApiError);

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<custos_core::chain::ChainError> for UiError {
    fn from(error: custos_core::chain::ChainError) -> Self {
        Self(error.into())
    }
}

/// An error as a page, inside the navigation (the error does not know who is asking: the
/// sign-out button is left out, the links are kept).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    title: String,
    detail: String,
}

/// An error page's title: what its status means, in the viewer's language.
fn status_title(status: StatusCode) -> String {
    let id = match status.as_u16() {
        400 => "error-400",
        401 => "error-401",
        403 => "error-403",
        404 => "error-404",
        409 => "error-409",
        412 => "error-412",
        413 => "error-413",
        422 => "error-422",
        429 => "error-429",
        _ if status.is_server_error() => "error-500",
        _ => return status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    tr(id, &[])
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        // The API's answer says the status and the words; the page shows them.
        let detail = self.0.to_string();
        let api = self.0.into_response();
        let status = api.status();
        let detail = if status.is_server_error() {
            tr("error-on-our-side", &[])
        } else {
            capitalise(&detail) + "."
        };
        let mut response = page(&ErrorPage {
            section: "",
            user_email: String::new(),
            csrf: String::new(),
            title: status_title(status),
            detail,
        });
        *response.status_mut() = status;
        response
    }
}

/// A form must carry the session's CSRF token (a token-signed request posts no forms).
pub(crate) fn check_csrf(principal: &Principal, sent: &str) -> Result<(), UiError> {
    match &principal.via {
        Via::Session { csrf_token, .. } if csrf_token == sent => Ok(()),
        _ => Err(UiError::from(ApiError::Forbidden(
            "the form's CSRF token is not right".to_owned(),
        ))),
    }
}

/// A file posted with a form: the form's field, the file's name, media type and content.
pub(crate) struct PostedFile {
    pub field: String,
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// A multipart form's text fields, and the non-empty files of its fields `file_fields`.
pub(crate) async fn read_multipart(
    form: &mut axum::extract::Multipart,
    file_fields: &[&str],
) -> Result<(std::collections::HashMap<String, String>, Vec<PostedFile>), ApiError> {
    let mut fields = std::collections::HashMap::new();
    let mut files = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::invalid("form", e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if file_fields.contains(&name.as_str()) {
            let file_name = field.file_name().unwrap_or(&name).to_owned();
            let media_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::invalid(&name, e.to_string()))?;
            if !bytes.is_empty() {
                files.push(PostedFile {
                    field: name,
                    name: file_name,
                    media_type,
                    bytes: bytes.to_vec(),
                });
            }
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| ApiError::invalid(&name, e.to_string()))?;
            fields.insert(name, text);
        }
    }
    Ok((fields, files))
}

/// Whether the viewer may add entries at all: it writes for some organisation (the policy
/// still judges each entry).
pub(crate) fn may_add(principal: &Principal) -> bool {
    principal.may_write()
        && (principal.user.is_admin
            || principal
                .memberships
                .iter()
                .any(|m| principal.may(custos_app::policy::Capacity::Edit, &m.organisation)))
}

/// Whether the policy lets the viewer change `entry` (at once or as a proposal): the forms
/// are offered only then.
pub(crate) async fn may_change(
    state: &AppState,
    principal: &Principal,
    register: &custos_core::register::Register,
    entry: &custos_app::entries::Entry,
) -> Result<bool, ApiError> {
    let represented = custos_app::policy::Represented::load(&state.store).await?;
    Ok(!matches!(
        entries::write_verdict(principal, register, &represented, entry),
        custos_app::policy::Verdict::Refuse(_)
    ))
}

fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => ApiError::Internal(format!("template: {error}")).into_response(),
    }
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/custos.css"),
    )
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    error: Option<String>,
    next: String,
    /// The password was right: the second factor is asked for.
    code_step: bool,
    /// The OpenID Provider's button, when one is configured.
    oidc: Option<String>,
    /// `next`, URL-encoded for the provider's link.
    next_query: String,
}

/// Where to go after signing in: a path of this instance (never another site), else home.
/// Browsers drop tabs and newlines from a URL and read `\` as `/`, so `/\t/evil.example` or
/// `/\evil.example` would lead off the instance: only a path of visible ASCII characters that
/// starts with one `/` is taken.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= 2_000
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The cookie that carries a sign-in waiting for its second factor (the password was right).
const PENDING_COOKIE: &str = "custos_pending";

pub(crate) fn login_page(
    state: &AppState,
    status: StatusCode,
    email: String,
    error: Option<String>,
    next: String,
) -> Response {
    sign_in_page(state, status, email, error, next, None)
}

/// The sign-in page: the password step, or (with the pending secret) the code step.
fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    email: String,
    error: Option<String>,
    next: String,
    pending: Option<&str>,
) -> Response {
    let Ok((csrf, _)) = new_secret() else {
        return ApiError::Internal("no randomness".to_owned()).into_response();
    };
    let mut response = page(&LoginPage {
        csrf: csrf.clone(),
        email,
        error,
        next_query: form_urlencoded::byte_serialize(next.as_bytes()).collect(),
        next,
        code_step: pending.is_some(),
        oidc: state.oidc.as_ref().map(|o| o.label().to_owned()),
    });
    *response.status_mut() = status;
    let mut cookies = vec![format!(
        "{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600"
    )];
    if let Some(pending) = pending {
        cookies.push(format!(
            "{PENDING_COOKIE}={pending}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={}",
            custos_app::sessions::SECOND_FACTOR_MINUTES * 60
        ));
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

pub async fn login_form(State(state): State<AppState>, Query(query): Query<NextParam>) -> Response {
    login_page(
        &state,
        StatusCode::OK,
        String::new(),
        None,
        local_path(query.next.as_deref()),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// The session cookie set, and the browser sent on to `next`.
pub(crate) fn signed_in_to(
    state: &AppState,
    started: &crate::api::people::StartedSession,
    next: &str,
) -> Response {
    let mut response = Redirect::to(next).into_response();
    if let Ok(value) = HeaderValue::from_str(&started.cookie(state.secure_cookies)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "custos_pending=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

/// A refused sign-in step as the page shows it.
fn refused_sign_in(
    state: &AppState,
    error: ApiError,
    email: String,
    next: String,
    pending: Option<&str>,
) -> Response {
    let status = error.status();
    match error {
        ApiError::Unauthenticated(_)
        | ApiError::TooManyRequests { .. }
        | ApiError::Forbidden(_) => {
            sign_in_page(state, status, email, Some(sentence(&error)), next, pending)
        }
        ApiError::Invalid { .. } => {
            sign_in_page(state, status, email, Some(error.to_string()), next, pending)
        }
        other => other.into_response(),
    }
}

pub async fn login(
    State(state): State<AppState>,
    crate::auth::ClientAddress(client): crate::auth::ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    // The form's token must match the cookie set with the form (double submit).
    if cookie(&headers, LOGIN_CSRF_COOKIE) != Some(form.csrf.as_str()) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            form.email,
            Some(tr("login-form-expired", &[])),
            next,
        );
    }
    match start_session(&state, client, &form.email, &form.password, None).await {
        Ok(Started::Session(started)) => signed_in_to(&state, &started, &next),
        Ok(Started::SecondFactor { pending }) => sign_in_page(
            &state,
            StatusCode::OK,
            form.email,
            None,
            next,
            Some(&pending),
        ),
        Err(error) => refused_sign_in(&state, error, form.email, next, None),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    next: Option<String>,
}

/// The second step of signing in: the app's code (or a recovery code) for the sign-in whose
/// password was right, throttled like passwords.
pub async fn login_code(
    State(state): State<AppState>,
    crate::auth::ClientAddress(client): crate::auth::ClientAddress,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let pending = cookie(&headers, PENDING_COOKIE).map(str::to_owned);
    let Some(pending) =
        pending.filter(|_| cookie(&headers, LOGIN_CSRF_COOKIE) == Some(form.csrf.as_str()))
    else {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            form.email,
            Some(tr("login-sign-in-expired", &[])),
            next,
        );
    };
    let email = form.email.trim().to_lowercase();
    let client_key = client.map(|ip| format!("client:{ip}"));
    if let Err(error) = crate::api::people::throttled(&state, &email, client_key.as_deref()) {
        return refused_sign_in(&state, error, form.email, next, Some(&pending));
    }
    let now = state.clock.now();
    match custos_app::sessions::finish_sign_in(&state.store, &pending, form.code.trim(), now).await
    {
        Ok(Some(signed_in)) => {
            state.throttle.succeeded(&email);
            signed_in_to(&state, &signed_in.into(), &next)
        }
        Ok(None) => {
            crate::api::people::count_failure(&state, &email, client_key.as_deref());
            // A sign-in that can still take a code keeps the code step; else back to the start.
            let alive = custos_app::sessions::second_factor_pending(&state.store, &pending, now)
                .await
                .unwrap_or(false);
            let error = ApiError::Unauthenticated(if alive {
                "this code is not right: type the code the app shows now, or a recovery code"
                    .to_owned()
            } else {
                "the sign-in has ended (too many codes, or more than five minutes): sign in again"
                    .to_owned()
            });
            refused_sign_in(
                &state,
                error,
                form.email,
                next,
                alive.then_some(pending.as_str()),
            )
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// An error as a sentence on a page: capitalised, with its full stop.
pub(crate) fn sentence(error: &ApiError) -> String {
    format!("{}.", capitalise(&error.to_string()))
}

pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, UiError> {
    let mut then = "/login".to_owned();
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        let id_hash = hash_secret(id);
        // A session started at the OpenID Provider ends there too (read before it goes).
        if let Some(oidc) = &state.oidc
            && let Ok(Some(url)) = oidc.logout_url(&state.store, &id_hash).await
        {
            then = url;
        }
        custos_app::sessions::sign_out_form(&state.store, &id_hash, &form.csrf, state.clock.now())
            .await
            .map_err(ApiError::from)?;
        state.access_changed().await;
    }
    let mut response = Redirect::to(&then).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("custos_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct AtParam {
    at: Option<String>,
}

fn day(state: &AppState, raw: Option<&str>) -> Result<Date, ApiError> {
    Ok(crate::api::parse_date("at", raw.filter(|s| !s.is_empty()))?
        .unwrap_or_else(|| state.clock.today()))
}

struct ActivityRow {
    id: String,
    name: String,
    controller: String,
    links: usize,
    transfers: usize,
    errors: usize,
    warnings: usize,
}

#[derive(Template)]
#[template(path = "activities.html")]
struct ActivitiesPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    on: Date,
    rows: Vec<ActivityRow>,
    may_add: bool,
}

pub async fn activities(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AtParam>,
) -> Result<Response, UiError> {
    let on = day(&state, query.at.as_deref())?;
    let (register, report) = state.report(on).await?;
    let visibility = viewer.principal.visibility(&register)?;
    // Counted once per activity, over the findings the viewer sees.
    let mut counts: HashMap<(&str, Severity), usize> = HashMap::new();
    // Notices are not about one activity: the counts per activity leave them out.
    let report = visibility.findings_in(&register, &report, &Filter::default());
    for finding in report.findings.iter().filter(|f| f.counts()) {
        if let Some(activity) = &finding.activity {
            *counts
                .entry((activity.as_str(), finding.severity))
                .or_default() += 1;
        }
    }
    let mut rows = Vec::new();
    for activity in register.activities() {
        if !visibility.activity(&register, activity.id.as_str()) {
            continue;
        }
        let chain = visibility.restrict(Chain::derive(&register, activity.id.as_str(), Some(on))?);
        let count = |severity: Severity| {
            counts
                .get(&(activity.id.as_str(), severity))
                .copied()
                .unwrap_or(0)
        };
        rows.push(ActivityRow {
            id: activity.id.to_string(),
            name: activity
                .name
                .clone()
                .unwrap_or_else(|| activity.id.to_string()),
            controller: activity.controller.to_string(),
            links: chain.links.len(),
            transfers: transfers(&chain, on).len(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
        });
    }
    Ok(page(&ActivitiesPage {
        section: "activities",
        user_email: viewer.principal.user.email.clone(),
        may_add: may_add(&viewer.principal),
        csrf: viewer.csrf,
        on,
        rows,
    }))
}

/// A finding as a page shows it.
pub(crate) struct FindingRow {
    severity: &'static str,
    /// The page of the entry to fix.
    href: String,
    /// The acknowledgement the viewer may make here, if any.
    ack: Option<findings::AckOffer>,
    /// The form that fixes it, for a viewer who may use it: its name and address.
    fix: Option<(String, String)>,
    rule: &'static str,
    title: String,
    message: String,
    link: Option<String>,
    object: String,
    sources: String,
    remediation: &'static str,
    acknowledged: Option<String>,
}

/// The page that shows an entry of the register.
pub(crate) fn entry_href(kind: custos_core::register::EntityKind, id: &str) -> String {
    use custos_core::register::EntityKind;
    match kind {
        EntityKind::Organisation => format!("/organisations/{id}"),
        EntityKind::Activity => format!("/activities/{id}"),
        EntityKind::Contract => format!("/contracts/{id}"),
        EntityKind::Engagement => format!("/links/{id}"),
    }
}

fn finding_row(finding: &Finding) -> FindingRow {
    let rule = rules::rule(finding.rule);
    FindingRow {
        severity: finding.severity.as_str(),
        href: entry_href(finding.object.kind, finding.object.id.as_str()),
        ack: None,
        fix: None,
        rule: finding.rule,
        title: crate::i18n::rule_title(finding.rule, finding.title),
        message: finding.message.to_string(),
        link: finding.engagement.as_ref().map(|e| {
            format!(
                "link {e} at depth {}: {}",
                finding.depth.unwrap_or(0),
                finding
                    .path
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            )
        }),
        object: format!("{} {}", finding.object.kind, finding.object.id),
        sources: rule.map(|r| r.sources.join("; ")).unwrap_or_default(),
        remediation: rule.map_or("", |r| r.remediation),
        acknowledged: finding
            .acknowledged
            .as_ref()
            .map(|a| format!("until {}: {}", a.until, a.reason)),
    }
}

struct RecipientRow {
    id: String,
    name: String,
    country: String,
    depth: u32,
    services: String,
    contact: String,
}

struct TransferRow {
    engagement: String,
    depth: u32,
    route: String,
    destination: String,
    mechanism: String,
    valid: bool,
    reason: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    on: Date,
    id: String,
    name: String,
    controller: String,
    purposes: String,
    lawful_basis: String,
    data: String,
    subjects: String,
    retention: String,
    svg: String,
    recipients: Vec<RecipientRow>,
    transfers: Vec<TransferRow>,
    findings: Vec<FindingRow>,
    /// Unused here: the findings list acknowledges only on the findings page.
    back: String,
    may_add: bool,
    may_change: bool,
}

fn plain<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn join_ids(ids: &[custos_core::values::Slug]) -> String {
    ids.iter()
        .map(|id| id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_dash(text: String) -> String {
    if text.is_empty() {
        "—".to_owned()
    } else {
        text
    }
}

pub async fn activity(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<AtParam>,
) -> Result<Response, UiError> {
    let on = day(&state, query.at.as_deref())?;
    let (register, report) = state.report(on).await?;
    let visibility = viewer.principal.visibility(&register)?;
    if !visibility.activity(&register, &id) {
        return Err(UiError::from(ApiError::not_found(format!(
            "activity {id:?}"
        ))));
    }
    let Some(activity) = register.activity(&id) else {
        return Err(UiError::from(ApiError::not_found(format!(
            "activity {id:?}"
        ))));
    };
    let chain = visibility.restrict(Chain::derive(&register, &id, Some(on))?);
    let found_transfers = transfers(&chain, on);
    let report = visibility.findings_in(
        &register,
        &report,
        &Filter {
            activity: Some(id.clone()),
            ..Filter::default()
        },
    );
    let mut findings_at: HashMap<&str, usize> = HashMap::new();
    for finding in report.findings.iter().filter(|f| f.counts()) {
        if let Some(engagement) = &finding.engagement {
            *findings_at.entry(engagement.as_str()).or_default() += 1;
        }
    }
    let reference = ReferenceData::builtin();
    let controller = register.organisation(activity.controller.as_str());
    let mut nodes = vec![Node {
        title: controller.map_or_else(|| activity.controller.to_string(), |c| c.name.clone()),
        subtitle: format!(
            "{} · {} · {}",
            activity.controller,
            controller
                .map(|c| c.country.to_string())
                .unwrap_or_default(),
            tr("chain-controller", &[])
        ),
        detail: activity.purposes.join("; "),
        parent: None,
        depth: 0,
        badges: vec![],
        findings: 0,
        href: format!("/organisations/{}", activity.controller),
    }];
    for (index, link) in chain.links.iter().enumerate() {
        let engagement = chain.engagement(link);
        let processor = chain.processor(link);
        let mut badges = Vec::new();
        let unauthorised = report.findings.iter().any(|f| {
            f.counts()
                && f.rule == rules::UNAUTHORISED_SUBPROCESSOR.id
                && f.engagement.as_ref() == Some(&engagement.id)
        });
        if link.depth >= 2 {
            badges.push(if unauthorised {
                Badge {
                    text: "not authorised".into(),
                    tone: Tone::Bad,
                }
            } else {
                match &engagement.authorisation {
                    Some(a)
                        if matches!(a.decision, Decision::Approved | Decision::DeemedApproved) =>
                    {
                        Badge {
                            text: format!("approved {}", a.date),
                            tone: Tone::Good,
                        }
                    }
                    Some(a) => Badge {
                        text: plain(&a.decision),
                        tone: Tone::Warn,
                    },
                    None => Badge {
                        text: "pre-authorised".into(),
                        tone: Tone::Good,
                    },
                }
            });
        }
        for transfer in found_transfers.iter().filter(|t| t.link == index) {
            let destination = match &transfer.destination {
                Destination::Country(code) => code.to_string(),
                Destination::InternationalOrganisation(key) => key.to_string(),
            };
            badges.push(Badge {
                text: format!("transfer → {destination}"),
                tone: if transfer.assessment.valid {
                    Tone::Warn
                } else {
                    Tone::Bad
                },
            });
        }
        let locations: Vec<String> = chain
            .locations(link)
            .iter()
            .map(|c| c.to_string())
            .collect();
        nodes.push(Node {
            title: processor.name.clone(),
            subtitle: format!(
                "{} · {} · {}",
                processor.id,
                locations.join(", "),
                tr("chain-depth", &[("depth", &link.depth.to_string())])
            ),
            detail: engagement.service.to_string(),
            // Row 0 is the controller; a link whose parent is hidden hangs from it.
            parent: Some(link.parent.map_or(0, |p| p as usize + 1)),
            depth: link.depth,
            badges,
            findings: findings_at
                .get(engagement.id.as_str())
                .copied()
                .unwrap_or(0),
            href: format!("/organisations/{}", processor.id),
        });
    }
    let recipients = chain
        .recipients()
        .recipients
        .iter()
        .map(|r| RecipientRow {
            id: r.organisation.id.to_string(),
            name: r.organisation.name.clone(),
            country: reference
                .country_name_in(r.organisation.country, viewer::viewer_language().as_str()),
            depth: r.depth,
            services: r.services().join("; "),
            contact: or_dash(
                r.organisation
                    .contact
                    .as_ref()
                    .map(|c| {
                        [c.name.clone(), c.email.as_ref().map(|e| e.to_string())]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
            ),
        })
        .collect();
    let transfer_rows = found_transfers
        .iter()
        .map(|t| TransferRow {
            engagement: t.engagement.to_string(),
            depth: t.depth,
            route: format!("{} → {}", t.exporter, t.importer),
            destination: match &t.destination {
                Destination::Country(code) => {
                    reference.country_name_in(*code, viewer::viewer_language().as_str())
                }
                Destination::InternationalOrganisation(key) => key.to_string(),
            },
            mechanism: match (&t.mechanism, &t.onward) {
                (Some(m), _) => match plain(m) {
                    text if text.is_empty() => serde_json::to_string(m).unwrap_or_default(),
                    text => text,
                },
                (None, Some(onward)) => {
                    format!(
                        "onward, under {} of link {}",
                        onward.mechanism, onward.under
                    )
                }
                (None, None) => "none".to_owned(),
            },
            valid: t.assessment.valid,
            reason: t.assessment.reason.clone(),
        })
        .collect();
    let name = activity.name.clone().unwrap_or_else(|| id.clone());
    let may_change = may_change(
        &state,
        &viewer.principal,
        &register,
        &custos_app::entries::Entry::Activity(activity.clone()),
    )
    .await?;
    let svg = chain_svg::render(
        &tr("chain-title", &[("name", &name), ("on", &on.to_string())]),
        &nodes,
    );
    Ok(page(&ActivityPage {
        section: "activities",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf,
        on,
        id: id.clone(),
        name,
        controller: activity.controller.to_string(),
        purposes: or_dash(activity.purposes.join("; ")),
        lawful_basis: or_dash(
            activity
                .lawful_basis
                .as_ref()
                .map(plain)
                .unwrap_or_default(),
        ),
        data: or_dash(join_ids(&activity.data)),
        subjects: or_dash(join_ids(&activity.subjects)),
        retention: or_dash(
            activity
                .retention
                .as_ref()
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ),
        svg,
        recipients,
        transfers: transfer_rows,
        findings: report.findings.iter().map(finding_row).collect(),
        back: String::new(),
        may_add: may_add(&viewer.principal),
        may_change,
    }))
}

struct OrganisationRow {
    id: String,
    name: String,
    country: String,
    sector: String,
    certifications: String,
}

#[derive(Template)]
#[template(path = "organisations.html")]
struct OrganisationsPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    rows: Vec<OrganisationRow>,
    may_add: bool,
}

fn certifications(organisation: &custos_core::model::Organisation) -> String {
    organisation
        .certifications
        .iter()
        .map(|c| match c.until {
            Some(until) => format!("{} (until {until})", c.scheme),
            None => c.scheme.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn organisations(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let register = state.register().await;
    let visibility = viewer.principal.visibility(&register)?;
    let reference = ReferenceData::builtin();
    let rows = register
        .organisations()
        .iter()
        .filter(|o| visibility.organisation(o.id.as_str()))
        .map(|o| OrganisationRow {
            id: o.id.to_string(),
            name: o.name.clone(),
            country: reference.country_name_in(o.country, viewer::viewer_language().as_str()),
            sector: o.sector.clone().unwrap_or_default(),
            certifications: or_dash(certifications(o)),
        })
        .collect();
    Ok(page(&OrganisationsPage {
        section: "organisations",
        user_email: viewer.principal.user.email.clone(),
        may_add: may_add(&viewer.principal),
        csrf: viewer.csrf,
        rows,
    }))
}

/// A contract the organisation is a party to.
struct ContractRow {
    id: String,
    with: String,
    signed: String,
    clauses: usize,
}

struct UpstreamRow {
    activity: String,
    controller: String,
    paths: String,
}

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    id: String,
    name: String,
    country: String,
    address: String,
    contact: String,
    dpo: String,
    sector: String,
    certifications: String,
    history: String,
    upstream: Vec<UpstreamRow>,
    contracts: Vec<ContractRow>,
    /// The viewer belongs to the organisation: its documents are offered.
    member: bool,
    controls: bool,
    processes: bool,
    may_change: bool,
}

fn contact_text(contact: Option<&custos_core::model::Contact>) -> String {
    or_dash(
        contact
            .map(|c| {
                [
                    c.name.clone(),
                    c.email.as_ref().map(|e| e.to_string()),
                    c.phone.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            })
            .unwrap_or_default(),
    )
}

pub async fn organisation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let register = state.register().await;
    let visibility = viewer.principal.visibility(&register)?;
    let Some(organisation) = register
        .organisation(&id)
        .filter(|o| visibility.organisation(o.id.as_str()))
    else {
        return Err(UiError::from(ApiError::not_found(format!(
            "organisation {id:?}"
        ))));
    };
    let on = state.clock.today();
    let may_change = may_change(
        &state,
        &viewer.principal,
        &register,
        &custos_app::entries::Entry::Organisation(organisation.clone()),
    )
    .await?;
    let upstream = visibility
        .upstream(&register, involvement(&register, &id, Some(on))?)
        .into_iter()
        .map(|i| UpstreamRow {
            activity: i.activity.to_string(),
            controller: i.controller.to_string(),
            paths: i
                .paths
                .iter()
                .map(|p| p.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" → "))
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    Ok(page(&OrganisationPage {
        section: "organisations",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf,
        id: organisation.id.to_string(),
        name: organisation.name.clone(),
        country: ReferenceData::builtin()
            .country_name_in(organisation.country, viewer::viewer_language().as_str()),
        address: or_dash(organisation.address.clone().unwrap_or_default()),
        contact: contact_text(organisation.contact.as_ref()),
        dpo: contact_text(organisation.dpo.as_ref()),
        sector: or_dash(organisation.sector.clone().unwrap_or_default()),
        certifications: or_dash(certifications(organisation)),
        history: or_dash(
            organisation
                .history
                .iter()
                .map(|h| format!("{} {}: {}", h.date, plain(&h.kind), h.description))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        upstream,
        contracts: register
            .contracts()
            .iter()
            .filter(|c| c.between.iter().any(|p| p.as_str() == id))
            .filter(|c| visibility.contract(c.id.as_str()))
            .map(|c| ContractRow {
                id: c.id.to_string(),
                with: c
                    .between
                    .iter()
                    .find(|p| p.as_str() != id)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                signed: or_dash(c.signed.map(|d| d.to_string()).unwrap_or_default()),
                clauses: c.clauses.len(),
            })
            .collect(),
        member: visibility.member_of(&id),
        controls: register
            .activities()
            .iter()
            .any(|a| a.accepted_controllers().any(|c| c.as_str() == id)),
        processes: register
            .organisation_index(&id)
            .is_some_and(|ix| !register.engagements_as_processor(ix).is_empty()),
        may_change,
    }))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn sign_in_returns_only_to_a_path_of_this_instance() {
        assert_eq!(
            local_path(Some("/findings?rule=no-contract")),
            "/findings?rule=no-contract"
        );
        for away in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(local_path(Some(away)), "/", "{away:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
