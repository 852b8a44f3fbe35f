//! Personal-data breaches over HTTP (docs/breaches.md). A party sees a breach once the report
//! has reached it (where it happened; each party a relay reached): the facts and phases, the
//! hops to or from it, and — a controller — its own case. What a party may not see answers
//! 404; what it may see but not do answers 403.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::breaches::{
    self, Affected, AuthorityReport, BreachView, NewCommunication, NewFiling,
};
use custos_app::data::{BreachPhase, Communication, Filing};
use custos_app::policy::Capacity;
use custos_core::breach::{Assessment, BreachFacts, Decision, FactsUpdate, Hop, Route};
use custos_core::values::Slug;
use serde::{Deserialize, Serialize};

use super::changes::require_write;
use super::{Body, PageQuery, Params};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// A new breach: where it happened and what is known.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBreach {
    /// The organisation where it happened (the caller acts for it).
    pub party: Slug,
    pub facts: BreachFacts,
}

/// One organisation acting on a breach (acknowledging, relaying).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acting {
    pub organisation: Slug,
}

/// A follow-up phase from one organisation.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPhase {
    pub organisation: Slug,
    pub update: FactsUpdate,
}

/// When a controller became aware (before the report reached it).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Awareness {
    #[schemars(with = "String")]
    pub aware_at: jiff::Timestamp,
}

/// A breach as the caller may see it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Breach")]
pub struct BreachAnswer {
    pub key: String,
    pub party: String,
    pub facts: BreachFacts,
    pub version: u32,
    pub reported_at: String,
    pub reported_by: String,
    pub phases: Vec<PhaseAnswer>,
    /// The routes through the caller's organisations (every route for an administrator).
    pub routes: Vec<Route>,
    /// The steps to or from the caller's organisations.
    pub hops: Vec<HopAnswer>,
    /// The cases of the controllers the caller acts for.
    pub cases: Vec<CaseAnswer>,
    /// Every step the caller may see: the report, relays and phases, and what its own
    /// organisations did (a controller's assessment and decision only to that controller).
    pub history: Vec<HistoryAnswer>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(rename = "BreachHistoryAnswer")]
pub struct HistoryAnswer {
    pub organisation: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PhaseAnswer {
    pub version: u32,
    pub organisation: String,
    pub note: String,
    pub facts: BreachFacts,
    pub at: String,
    pub by: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HopAnswer {
    #[serde(flatten)]
    pub hop: Hop,
    pub received_at: Option<String>,
    pub relayed_by: Option<String>,
    pub acknowledged_at: Option<String>,
    /// Whether it came later than its period after the sender became aware.
    pub late: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CaseAnswer {
    pub controller: String,
    pub activities: Vec<String>,
    pub paths: Vec<Vec<String>>,
    pub aware_at: Option<String>,
    pub awareness: Option<String>,
    pub deadline: Option<String>,
    /// Past the 72 hours with no filing and no decision that it is not notifiable.
    pub overdue: bool,
    pub assessment: Option<Assessment>,
    pub severity: Option<custos_core::breach::SeverityScore>,
    pub decision: Option<Decision>,
    pub decided_at: Option<String>,
    pub filings: Vec<Filing>,
    pub communication: Option<Communication>,
}

fn member(principal: &Principal, organisation: &str) -> bool {
    principal.user.is_admin
        || principal
            .memberships
            .iter()
            .any(|m| m.organisation == organisation)
}

/// Whether the caller sees the breach (the rule is the app's: `BreachView::seen_by`).
pub fn sees(principal: &Principal, view: &BreachView) -> bool {
    view.seen_by(&principal.caller())
}

pub fn answer(
    principal: &Principal,
    view: BreachView,
    now: jiff::Timestamp,
) -> Result<BreachAnswer, ApiError> {
    if !sees(principal, &view) {
        return Err(ApiError::not_found(format!("breach {}", view.breach.key)));
    }
    let routes = view
        .breach
        .routes
        .iter()
        .filter(|r| {
            principal.user.is_admin
                || r.path
                    .iter()
                    .chain(&r.controllers)
                    .any(|o| member(principal, o.as_str()))
        })
        .cloned()
        .collect();
    let hops = view
        .hops
        .iter()
        .filter(|h| {
            member(principal, h.hop.sender.as_str()) || member(principal, h.hop.recipient.as_str())
        })
        .map(|h| HopAnswer {
            late: view.relay_late(h),
            hop: h.hop.clone(),
            received_at: h.received_at.clone(),
            relayed_by: h.relayed_by.clone(),
            acknowledged_at: h.acknowledged_at.clone(),
        })
        .collect();
    let cases = view
        .cases
        .iter()
        .filter(|c| c.aware_at.is_some() || principal.user.is_admin)
        .filter(|c| member(principal, c.scope.controller.as_str()))
        .map(|c| CaseAnswer {
            controller: c.scope.controller.to_string(),
            activities: c.scope.activities.iter().map(ToString::to_string).collect(),
            paths: c
                .scope
                .paths
                .iter()
                .map(|p| p.iter().map(ToString::to_string).collect())
                .collect(),
            aware_at: c.aware_at.clone(),
            awareness: c.awareness.clone(),
            deadline: c.deadline.clone(),
            overdue: breaches::overdue(c, now),
            severity: c.assessment.as_ref().and_then(Assessment::severity_score),
            assessment: c.assessment.clone(),
            decision: c.decision.clone(),
            decided_at: c.decided_at.clone(),
            filings: c.filings.clone(),
            communication: c.communication.clone(),
        })
        .collect();
    let history = view
        .history
        .into_iter()
        .filter(|h| {
            matches!(h.kind.as_str(), "reported" | "relayed" | "phase")
                || member(principal, &h.organisation)
        })
        .map(|h| HistoryAnswer {
            organisation: h.organisation,
            kind: h.kind,
            body: h.body,
            at: h.at,
            by: h.by,
        })
        .collect();
    Ok(BreachAnswer {
        history,
        key: view.breach.key,
        party: view.breach.party,
        facts: view.breach.facts,
        version: view.breach.version,
        reported_at: view.breach.reported_at,
        reported_by: view.breach.reported_by,
        phases: view
            .phases
            .into_iter()
            .map(|p: BreachPhase| PhaseAnswer {
                version: p.version,
                organisation: p.organisation,
                note: p.note,
                facts: p.facts,
                at: p.at,
                by: p.by,
            })
            .collect(),
        routes,
        hops,
        cases,
    })
}

fn require(
    principal: &Principal,
    capacity: Capacity,
    organisation: &str,
    what: &str,
) -> Result<(), ApiError> {
    require_write(principal)?;
    if principal.may(capacity, organisation) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only {organisation}'s people may {what}"
        )))
    }
}

/// The breach, or 404 when the caller does not see it.
async fn visible(
    state: &AppState,
    principal: &Principal,
    key: &str,
) -> Result<BreachView, ApiError> {
    let view = breaches::view(&state.store, key)
        .await
        .map_err(|_| ApiError::not_found(format!("breach {key}")))?;
    if sees(principal, &view) {
        Ok(view)
    } else {
        Err(ApiError::not_found(format!("breach {key}")))
    }
}

/// The breach with `controller`'s case, or 404 when the caller does not see that case.
async fn visible_case(
    state: &AppState,
    principal: &Principal,
    key: &str,
    controller: &str,
) -> Result<BreachView, ApiError> {
    let view = visible(state, principal, key).await?;
    if view.case_seen_by(&principal.caller(), controller) {
        Ok(view)
    } else {
        Err(ApiError::not_found(format!(
            "{controller}'s case of breach {key}"
        )))
    }
}

fn respond(
    state: &AppState,
    principal: &Principal,
    view: BreachView,
) -> Result<Response, ApiError> {
    Ok(axum::Json(answer(principal, view, state.clock.now())?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches",
    tag = "breaches",
    operation_id = "report_breach",
    request_body(content = serde_json::Value, description = "Where it happened and the facts known (docs/breaches.md)"),
    responses(
        (status = 201, description = "Reported: every controller concerned has its case; the report has gone to the parties that engaged the reporter", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the party, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
    Body(new): Body<NewBreach>,
) -> Result<Response, ApiError> {
    require(
        &principal,
        Capacity::Portal,
        new.party.as_str(),
        "report its breaches",
    )?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = breaches::report(
        &state.store,
        &register,
        new.party.as_str(),
        new.facts,
        &actor,
        &breaches::Settings::default(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(answer(&principal, view, state.clock.now())?),
    )
        .into_response())
}

/// A page of breaches, newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BreachPage {
    pub items: Vec<BreachSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BreachSummary {
    pub key: String,
    pub party: String,
    pub description: String,
    pub occurred_from: String,
    pub reported_at: String,
    /// The caller's controllers' cases: where each stands.
    pub cases: Vec<CaseSummary>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CaseSummary {
    pub controller: String,
    pub deadline: Option<String>,
    pub decision: Option<String>,
    pub filed: bool,
    pub overdue: bool,
}

/// The breaches the caller sees, newest first, with its cases.
pub async fn summaries(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<BreachSummary>, ApiError> {
    let organisations: Vec<String> = principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .collect();
    let found = breaches::list(
        &state.store,
        (!principal.user.is_admin).then_some(organisations.as_slice()),
    )
    .await?;
    let now = state.clock.now();
    let mut out = Vec::new();
    for breach in found {
        let view = breaches::view(&state.store, &breach.key).await?;
        if !sees(principal, &view) {
            continue;
        }
        out.push(BreachSummary {
            key: breach.key.clone(),
            party: breach.party.clone(),
            description: breach.facts.description.clone(),
            occurred_from: breach.facts.occurred_from.to_string(),
            reported_at: breach.reported_at.clone(),
            cases: view
                .cases
                .iter()
                .filter(|c| c.aware_at.is_some() && member(principal, c.scope.controller.as_str()))
                .map(|c| CaseSummary {
                    controller: c.scope.controller.to_string(),
                    deadline: c.deadline.clone(),
                    decision: c.decision.as_ref().map(|d| d.kind.as_str().to_owned()),
                    filed: !c.filings.is_empty(),
                    overdue: breaches::overdue(c, now),
                })
                .collect(),
        });
    }
    Ok(out)
}

#[utoipa::path(
    get,
    path = "/api/v1/breaches",
    tag = "breaches",
    operation_id = "breach_list",
    params(PageQuery),
    responses(
        (status = 200, description = "The breaches that reached the caller's organisations, newest first", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<PageQuery>,
) -> Result<Response, ApiError> {
    let all = summaries(&state, &principal).await?;
    let page = super::Page::newest_first(
        all,
        |s| s.key.as_str(),
        query.cursor.as_deref(),
        query.limit,
    )?;
    Ok(axum::Json(BreachPage {
        items: page.items,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/breaches/{key}",
    tag = "breaches",
    operation_id = "breach_get",
    params(("key" = String, Path, description = "The breach's key")),
    responses(
        (status = 200, description = "The breach as the caller may see it", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or has not reached the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let view = visible(&state, &principal, &key).await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/acknowledge",
    tag = "breaches",
    operation_id = "breach_acknowledge",
    params(("key" = String, Path, description = "The breach's key")),
    request_body(content = serde_json::Value, description = "The organisation acknowledging"),
    responses(
        (status = 200, description = "Acknowledged", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or has not reached the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Acknowledged already, or not received", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(acting): Body<Acting>,
) -> Result<Response, ApiError> {
    visible(&state, &principal, &key).await?;
    require(
        &principal,
        Capacity::Portal,
        acting.organisation.as_str(),
        "acknowledge for it",
    )?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = breaches::acknowledge(
        &state.store,
        &register,
        &key,
        acting.organisation.as_str(),
        &actor,
    )
    .await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/relay",
    tag = "breaches",
    operation_id = "breach_relay",
    params(("key" = String, Path, description = "The breach's key")),
    request_body(content = serde_json::Value, description = "The organisation passing the report on to the parties that engaged it"),
    responses(
        (status = 200, description = "Passed on (and acknowledged)", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or has not reached the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not received, or passed on already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn relay(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(acting): Body<Acting>,
) -> Result<Response, ApiError> {
    visible(&state, &principal, &key).await?;
    require(
        &principal,
        Capacity::Portal,
        acting.organisation.as_str(),
        "relay for it",
    )?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = breaches::relay(
        &state.store,
        &register,
        &key,
        acting.organisation.as_str(),
        &actor,
        &breaches::Settings::default(),
    )
    .await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/phases",
    tag = "breaches",
    operation_id = "breach_add_phase",
    params(("key" = String, Path, description = "The breach's key")),
    request_body(content = serde_json::Value, description = "A follow-up: the facts it adds or corrects (Art. 33(4))"),
    responses(
        (status = 200, description = "A new version of the facts", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or has not reached the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The report has not reached the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_phase(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(phase): Body<NewPhase>,
) -> Result<Response, ApiError> {
    visible(&state, &principal, &key).await?;
    require(
        &principal,
        Capacity::Portal,
        phase.organisation.as_str(),
        "add facts for it",
    )?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = breaches::add_phase(
        &state.store,
        &register,
        &key,
        phase.organisation.as_str(),
        phase.update,
        &actor,
        &breaches::Settings::default(),
    )
    .await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/cases/{controller}/awareness",
    tag = "breaches",
    operation_id = "breach_awareness",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "When the controller became aware; only earlier than on record"),
    responses(
        (status = 200, description = "Recorded; the 72 hours count from it", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn awareness(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(awareness): Body<Awareness>,
) -> Result<Response, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(
        &principal,
        Capacity::Edit,
        &controller,
        "record its awareness",
    )?;
    let actor = principal.actor(state.clock.now());
    let view = breaches::record_awareness(
        &state.store,
        &key,
        &controller,
        awareness.aware_at,
        &actor,
        &breaches::Settings::default(),
    )
    .await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    put,
    path = "/api/v1/breaches/{key}/cases/{controller}/assessment",
    tag = "breaches",
    operation_id = "breach_assess",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "The risk assessment, with the ENISA severity inputs as an aid"),
    responses(
        (status = 200, description = "Recorded", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn assess(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(assessment): Body<Assessment>,
) -> Result<Response, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(&principal, Capacity::Edit, &controller, "assess for it")?;
    let actor = principal.actor(state.clock.now());
    let view = breaches::assess(&state.store, &key, &controller, assessment, &actor).await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/cases/{controller}/decision",
    tag = "breaches",
    operation_id = "breach_decide",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "The decision with its reasons; after 72 hours, the reasons for the delay"),
    responses(
        (status = 200, description = "Recorded", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Filed already, and the decision would undo it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(decision): Body<Decision>,
) -> Result<Response, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(&principal, Capacity::Edit, &controller, "decide for it")?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view =
        breaches::decide(&state.store, &register, &key, &controller, decision, &actor).await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/cases/{controller}/filings",
    tag = "breaches",
    operation_id = "breach_file",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "When the report was filed with the authority, and its reference"),
    responses(
        (status = 200, description = "Recorded", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No decision to notify", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(filing): Body<NewFiling>,
) -> Result<Response, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(&principal, Capacity::Edit, &controller, "file for it")?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let view = breaches::file(&state.store, &register, &key, &controller, filing, &actor).await?;
    respond(&state, &principal, view)
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/cases/{controller}/communication",
    tag = "breaches",
    operation_id = "breach_communicate",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "When and how the data subjects were told (Art. 34)"),
    responses(
        (status = 200, description = "Recorded", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No decision to tell the subjects", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn communicate(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(communication): Body<NewCommunication>,
) -> Result<Response, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(
        &principal,
        Capacity::Edit,
        &controller,
        "record its communication",
    )?;
    let actor = principal.actor(state.clock.now());
    let view =
        breaches::communicate(&state.store, &key, &controller, communication, &actor).await?;
    respond(&state, &principal, view)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// `json` (the default), `html` (printable) or `pdf`; for the communication, `text`.
    #[param(pattern = "^(json|html|pdf|text)$")]
    pub format: Option<String>,
    /// The language of the report's HTML and PDF and of the communication to the subjects:
    /// `en` or `es`; the controller's language by default.
    #[param(pattern = "^(en|es)$")]
    pub language: Option<String>,
}

/// The language asked for (`field`), or else `organisation`'s own.
fn document_language(
    register: &custos_core::register::Register,
    field: &str,
    asked: Option<&str>,
    organisation: &str,
) -> Result<custos_render::Language, ApiError> {
    Ok(super::notices::parse(field, asked)?
        .unwrap_or_else(|| custos_app::outbox::language_of(register, organisation)))
}

/// Bytes with their media type, as an attachment when `file` is given.
pub(crate) fn document_response(
    media: &'static str,
    file: Option<String>,
    bytes: Vec<u8>,
) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(media))],
        bytes,
    )
        .into_response();
    if let Some(file) = file
        && let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    crate::as_document(response)
}

/// The authority's report of a case, for the UI and the API.
pub async fn report_of(
    state: &AppState,
    principal: &Principal,
    key: &str,
    controller: &str,
) -> Result<AuthorityReport, ApiError> {
    visible_case(state, principal, key, controller).await?;
    let register = state.register().await;
    Ok(
        breaches::authority_report(&state.store, &register, key, controller, state.clock.now())
            .await?,
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/breaches/{key}/cases/{controller}/report",
    tag = "breaches",
    operation_id = "breach_authority_report",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller"), DocumentQuery),
    responses(
        (status = 200, description = "The report to the supervisory authority: Art. 33(3) elements, phases, filings, the chain", content(
            ("application/json"), ("text/html"), ("application/pdf"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn authority_report(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Params(query): Params<DocumentQuery>,
) -> Result<Response, ApiError> {
    let report = report_of(&state, &principal, &key, &controller).await?;
    let (language, zone) = {
        let register = state.register().await;
        (
            document_language(
                &register,
                "language",
                query.language.as_deref(),
                &controller,
            )?,
            custos_app::clock::zone_of(&register, &controller),
        )
    };
    let file = |extension: &str| Some(format!("breach-{key}-{controller}.{extension}"));
    Ok(match query.format.as_deref().unwrap_or("json") {
        "json" => document_response(
            "application/json",
            None,
            serde_json::to_vec(&report).map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        "html" => document_response(
            "text/html; charset=utf-8",
            None,
            report.document(language, &zone).html().into_bytes(),
        ),
        "pdf" => document_response(
            "application/pdf",
            file("pdf"),
            report.document(language, &zone).pdf(),
        ),
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("format is {other:?}: expected json, html or pdf"),
            ));
        }
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/breaches/{key}/cases/{controller}/communication",
    tag = "breaches",
    operation_id = "breach_communication_text",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller"), DocumentQuery),
    responses(
        (status = 200, description = "The communication to the data subjects (Art. 34(2)), as plain text to send through the controller's own channels", content(("text/plain"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn communication_text(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Params(query): Params<DocumentQuery>,
) -> Result<Response, ApiError> {
    let report = report_of(&state, &principal, &key, &controller).await?;
    let register = state.register().await;
    let language = document_language(
        &register,
        "language",
        query.language.as_deref(),
        &controller,
    )?;
    let mail = breaches::subject_communication(&state.store, &register, &report, language).await?;
    let text = format!("Subject: {}\n\n{}", mail.subject, mail.body);
    Ok(document_response(
        "text/plain; charset=utf-8",
        None,
        text.into_bytes(),
    ))
}

/// The addresses to send the communication to, and its language.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCommunication {
    /// The subjects' e-mail addresses; only those of affected subjects get it.
    pub addresses: Vec<String>,
    /// `en` or `es`; the controller's language by default.
    #[serde(default)]
    pub language: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/cases/{controller}/communication/send",
    tag = "breaches",
    operation_id = "breach_send_communication",
    params(("key" = String, Path, description = "The breach's key"), ("controller" = String, Path, description = "The controller")),
    request_body(content = serde_json::Value, description = "The subjects' addresses (only affected subjects get it) and the language"),
    responses(
        (status = 200, description = "Queued for sending and recorded; the addresses are erased from the outbox once sent", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No decision to tell the subjects", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send_communication(
    State(state): State<AppState>,
    principal: Principal,
    Path((key, controller)): Path<(String, String)>,
    Body(body): Body<SendCommunication>,
) -> Result<axum::Json<breaches::Sent>, ApiError> {
    visible_case(&state, &principal, &key, &controller).await?;
    require(
        &principal,
        Capacity::Edit,
        &controller,
        "tell its data subjects",
    )?;
    let language = body
        .language
        .as_deref()
        .map(|raw| {
            raw.parse()
                .map_err(|e: String| ApiError::invalid("language", e))
        })
        .transpose()?;
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    Ok(axum::Json(
        breaches::send_communication(
            &state.store,
            &register,
            &key,
            &controller,
            &body.addresses,
            language,
            &actor,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AffectedQuery {
    /// The controller whose cases count (required but for administrators).
    pub controller: Option<String>,
}

/// The controller's own identifiers to match against the affected subjects (never stored).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedBody {
    pub controller: Slug,
    /// E-mail addresses or phone numbers, at most 1,000,000.
    pub identifiers: Vec<String>,
}

/// Most identifiers matched in one call.
const MAX_IDENTIFIERS: usize = 1_000_000;

async fn may_count(
    state: &AppState,
    principal: &Principal,
    key: &str,
    controller: Option<&str>,
) -> Result<(), ApiError> {
    match controller {
        Some(controller) => {
            visible_case(state, principal, key, controller).await?;
            Ok(())
        }
        None if principal.user.is_admin => Ok(()),
        None => Err(ApiError::invalid(
            "controller",
            "name the controller whose subjects to count (controller=...)",
        )),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/breaches/{key}/affected",
    tag = "breaches",
    operation_id = "breach_affected",
    params(("key" = String, Path, description = "The breach's key"), AffectedQuery),
    responses(
        (status = 200, description = "How many subjects' data the breached party held during the breach, by activity and category", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn affected(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Params(query): Params<AffectedQuery>,
) -> Result<axum::Json<Affected>, ApiError> {
    may_count(&state, &principal, &key, query.controller.as_deref()).await?;
    let register = state.register().await;
    Ok(axum::Json(
        breaches::affected(
            &state.store,
            &register,
            &key,
            query.controller.as_deref(),
            None,
            state.clock.now(),
        )
        .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/breaches/{key}/affected",
    tag = "breaches",
    operation_id = "breach_match_affected",
    params(("key" = String, Path, description = "The breach's key")),
    request_body(content = serde_json::Value, description = "The controller and its identifiers to match"),
    responses(
        (status = 200, description = "The counts, and which of the identifiers were affected", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn match_affected(
    State(state): State<AppState>,
    principal: Principal,
    Path(key): Path<String>,
    Body(body): Body<AffectedBody>,
) -> Result<axum::Json<Affected>, ApiError> {
    if body.identifiers.len() > MAX_IDENTIFIERS {
        return Err(ApiError::invalid(
            "identifiers",
            format!("at most {MAX_IDENTIFIERS} identifiers a call"),
        ));
    }
    may_count(&state, &principal, &key, Some(body.controller.as_str())).await?;
    let register = state.register().await;
    Ok(axum::Json(
        breaches::affected(
            &state.store,
            &register,
            &key,
            Some(body.controller.as_str()),
            Some(&body.identifiers),
            state.clock.now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// `json` (the default), `html`, `pdf`, `xlsx` or `csv`.
    #[param(pattern = "^(json|html|pdf|xlsx|csv)$")]
    pub format: Option<String>,
    /// The language of a document: `en` or `es`; the organisation's by default.
    #[param(pattern = "^(en|es)$")]
    pub language: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/breaches",
    tag = "breaches",
    operation_id = "breach_register_of_breaches",
    params(("id" = String, Path, description = "The organisation's id"), RegisterQuery),
    responses(
        (status = 200, description = "The organisation's register of breaches (Art. 33(5))", content(
            ("application/json"), ("text/html"), ("application/pdf"),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names the field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_of_breaches(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<RegisterQuery>,
) -> Result<Response, ApiError> {
    super::notices::may_read(&state, &principal, &id).await?;
    let rows = breaches::register_of(&state.store, &id).await?;
    let register = state.register().await;
    // The app writes it in the organisation's language unless another is asked for.
    let language = super::notices::parse("language", query.language.as_deref())?;
    let document =
        || breaches::register_document(&register, &id, &rows, state.clock.today(), language);
    let file = |extension: &str| Some(format!("breaches-{id}.{extension}"));
    Ok(match query.format.as_deref().unwrap_or("json") {
        "json" => document_response(
            "application/json",
            None,
            serde_json::to_vec(&rows).map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        "html" => document_response(
            "text/html; charset=utf-8",
            None,
            document()?.html().into_bytes(),
        ),
        "pdf" => document_response("application/pdf", file("pdf"), document()?.pdf()),
        "xlsx" => document_response(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            file("xlsx"),
            document()?
                .xlsx()
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        "csv" => document_response(
            "text/csv; charset=utf-8",
            file("csv"),
            document()?
                .csv(None)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        other => {
            return Err(ApiError::invalid(
                "format",
                format!("format is {other:?}: expected json, html, pdf, xlsx or csv"),
            ));
        }
    })
}
