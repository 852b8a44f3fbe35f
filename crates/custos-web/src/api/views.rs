//! What the register means: the chain of an activity, its recipients and transfers, where an
//! organisation sits, and the findings of the checks — each restricted to what the caller sees.

use axum::Json;
use axum::extract::{Path, State};
use custos_core::chain::{Chain, ChainView, involvement};
use custos_core::checks::{Filter, Finding, Severity, Summary};
use custos_core::transfer::{Transfer, transfers};
use serde::{Deserialize, Serialize};

use super::{AtQuery, Params, parse_date};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// The caller's view of an activity's chain on a day.
async fn visible_chain<T>(
    state: &AppState,
    principal: &Principal,
    activity: &str,
    at: Option<&str>,
    answer: impl FnOnce(&Chain<'_>, custos_core::Date) -> T,
) -> Result<T, ApiError> {
    let on = parse_date("at", at)?.unwrap_or_else(|| state.clock.today());
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    if !visibility.activity(&register, activity) {
        return Err(ApiError::not_found(format!("activity {activity:?}")));
    }
    let chain = visibility.restrict(Chain::derive(&register, activity, Some(on))?);
    Ok(answer(&chain, on))
}

#[utoipa::path(
    get,
    path = "/api/v1/activities/{id}/chain",
    tag = "chain",
    params(("id" = String, Path, description = "The activity's id"), AtQuery),
    responses(
        (status = 200, description = "Every link the caller sees, depth first, with depth and path"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn chain(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<AtQuery>,
) -> Result<Json<ChainView>, ApiError> {
    visible_chain(&state, &principal, &id, query.at.as_deref(), |chain, _| {
        chain.view()
    })
    .await
    .map(Json)
}

#[utoipa::path(
    get,
    path = "/api/v1/activities/{id}/recipients",
    tag = "chain",
    params(("id" = String, Path, description = "The activity's id"), AtQuery),
    responses(
        (status = 200, description = "Every processor at every level with its identity, and the recipient categories"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn recipients(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<AtQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    visible_chain(&state, &principal, &id, query.at.as_deref(), |chain, _| {
        serde_json::to_value(chain.recipients())
    })
    .await?
    .map(Json)
    .map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(
    get,
    path = "/api/v1/activities/{id}/transfers",
    tag = "chain",
    params(("id" = String, Path, description = "The activity's id"), AtQuery),
    responses(
        (status = 200, description = "Every transfer outside the EEA in the chain and whether its mechanism holds on the day"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transfers_of(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<AtQuery>,
) -> Result<Json<Vec<Transfer>>, ApiError> {
    visible_chain(&state, &principal, &id, query.at.as_deref(), |chain, on| {
        transfers(chain, on)
    })
    .await
    .map(Json)
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/upstream",
    tag = "chain",
    params(("id" = String, Path, description = "The organisation's id"), AtQuery),
    responses(
        (status = 200, description = "Every activity and controller whose chain passes through the organisation, with the paths"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upstream(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<AtQuery>,
) -> Result<Json<Vec<custos_core::chain::Involvement>>, ApiError> {
    let on = parse_date("at", query.at.as_deref())?.unwrap_or_else(|| state.clock.today());
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    if !visibility.organisation(&id) {
        return Err(ApiError::not_found(format!("organisation {id:?}")));
    }
    let found = visibility.upstream(&register, involvement(&register, &id, Some(on))?);
    Ok(Json(found))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingsQuery {
    /// Only findings in this activity's chain.
    pub activity: Option<String>,
    /// Only findings about this organisation, on a path through it, or in an activity it
    /// controls.
    pub organisation: Option<String>,
    /// At this severity or above: error, warning or info.
    #[param(schema_with = super::severity_schema)]
    pub severity: Option<String>,
    /// Only this rule (docs/rules.md).
    #[param(schema_with = super::rule_ids_schema)]
    pub rule: Option<String>,
    /// The day to judge on (YYYY-MM-DD); default today.
    #[param(format = Date)]
    pub at: Option<String>,
    /// Findings per page, 1 to 1000; without it, every finding at once.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with `limit`).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FindingsAnswer {
    #[schemars(with = "custos_core::values::IsoDate")]
    pub on: custos_core::Date,
    /// Every finding that matches, not only this page's.
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Pass as `cursor` for the next page; absent on the last page (and without `limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Where a page of findings starts: the register's version the findings were computed on
/// and the position in them (`v12-200`). A cursor from another version is refused: the
/// findings moved.
fn findings_cursor(cursor: Option<&str>, version: u64) -> Result<usize, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(0);
    };
    let refused = |why: &str| ApiError::invalid("cursor", format!("cursor {cursor:?}: {why}"));
    let (at, position) = cursor
        .strip_prefix('v')
        .and_then(|c| c.split_once('-'))
        .and_then(|(v, p)| Some((v.parse::<u64>().ok()?, p.parse::<usize>().ok()?)))
        .ok_or_else(|| refused("expected the next_cursor of a previous page"))?;
    if at != version {
        return Err(refused(
            "the register changed since that page (the findings moved): start again without a cursor",
        ));
    }
    Ok(position)
}

#[utoipa::path(
    get,
    path = "/api/v1/findings",
    tag = "checks",
    params(FindingsQuery),
    responses(
        (status = 200, description = "The findings of the checks the caller may see, by activity, errors first"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn findings(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<FindingsQuery>,
) -> Result<Json<FindingsAnswer>, ApiError> {
    let on = parse_date("at", query.at.as_deref())?.unwrap_or_else(|| state.clock.today());
    let severity = query
        .severity
        .as_deref()
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| ApiError::invalid("severity", e))
        })
        .transpose()?;
    if let Some(rule) = &query.rule
        && custos_core::checks::rules::rule(rule).is_none()
    {
        return Err(ApiError::invalid(
            "rule",
            format!("rule is {rule:?}: not a rule of the checks (docs/rules.md)"),
        ));
    }
    let limit = query
        .limit
        .map(|n| super::page_limit(Some(n)))
        .transpose()?;
    let (register, report) = state.report(on).await?;
    let skip = findings_cursor(query.cursor.as_deref(), register.version)?;
    let visibility = principal.visibility(&register)?;
    let (report, matched) = visibility.findings_page(
        &register,
        &report,
        &Filter {
            activity: query.activity,
            organisation: query.organisation,
            severity,
            rule: query.rule,
        },
        skip,
        limit.unwrap_or(usize::MAX),
    );
    let next = skip.saturating_add(report.findings.len());
    let next_cursor =
        (limit.is_some() && next < matched).then(|| format!("v{}-{next}", register.version));
    Ok(Json(FindingsAnswer {
        on: report.on,
        summary: report.summary,
        findings: report.findings,
        next_cursor,
    }))
}
