//! The findings as work to do: filtered by activity, organisation, rule, severity, state and
//! words, fifty to a page. Each names the entry to open; to whoever the policy lets write that
//! entry it offers the acknowledgement, stored on the entry exactly as the manifest's
//! `acknowledgements` (a reason, a last day, who accepted it). A refused acknowledgement comes
//! back on the same page with the words kept and the problem beside the field.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::entries::{Expect, Write};
use custos_app::policy::{Represented, Verdict};
use custos_core::Date;
use custos_core::checks::{Filter, Finding, Severity, rules};
use custos_core::model::Acknowledgement;
use custos_core::register::EntityKind;
use serde::{Deserialize, Serialize};

use super::entries::write_verdict;
use super::{FindingRow, FormCaller, UiError, Viewer, check_csrf, day, finding_row, page};
use crate::api::entries::{Outcome, run, visible};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Findings shown on one page.
pub const PAGE_SIZE: usize = 50;
/// The longest reason an acknowledgement takes.
const MAX_REASON: usize = 2_000;
/// How long an acknowledgement offered by the form lasts unless changed: a quarter, so that
/// an accepted gap is looked at again.
const DEFAULT_DAYS: i64 = 90;

/// The filters of the findings page; every one optional, all kept in the page's links.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FindingsParams {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub activity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub organisation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule: String,
    /// The lowest severity shown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    /// `open` (counting), `acknowledged`, or empty for both.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state: String,
    /// Words looked for in the title, the message, the rule and the entries named.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<usize>,
}

impl FindingsParams {
    /// The query string of these filters on page `page` (1 is left out).
    fn query(&self, page: usize) -> String {
        let mut params = self.clone();
        params.page = (page > 1).then_some(page);
        serde_urlencoded::to_string(&params).unwrap_or_default()
    }
}

/// An acknowledgement the viewer may make of a finding: the entry's version it was offered on.
pub struct AckOffer {
    pub kind: &'static str,
    pub id: String,
    pub rule: &'static str,
    pub tag: String,
    pub reason: String,
    pub until: String,
    /// Why the last try was refused, shown at the form.
    pub problem: Option<String>,
}

/// An acknowledgement refused: shown again at its finding with what was typed.
pub struct Refused {
    kind: EntityKind,
    id: String,
    rule: String,
    reason: String,
    until: String,
    problem: String,
    /// 422 for a problem with the input or a stale version, 403 for a refusal of the policy.
    status: StatusCode,
}

struct RuleOption {
    id: &'static str,
    title: String,
}

#[derive(Template)]
#[template(path = "findings.html")]
struct FindingsPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    on: Date,
    errors: usize,
    warnings: usize,
    infos: usize,
    acknowledged: usize,
    activities: Vec<String>,
    rules: Vec<RuleOption>,
    params: FindingsParams,
    back: String,
    matching: usize,
    first: usize,
    last: usize,
    previous: Option<String>,
    next: Option<String>,
    findings: Vec<FindingRow>,
    /// A refusal not shown at a form of this page (the entry offers none to the viewer).
    problem: Option<String>,
}

fn matches_words(finding: &Finding, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let text = format!(
        "{} {} {} {} {} {} {} {}",
        finding.title,
        crate::i18n::rule_title(finding.rule, finding.title),
        finding.message,
        finding.rule,
        finding.object.id,
        finding.activity.as_ref().map_or("", |a| a.as_str()),
        finding.engagement.as_ref().map_or("", |e| e.as_str()),
        finding
            .path
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    words.iter().all(|word| text.contains(word.as_str()))
}

/// The form that fixes `finding`: a link without a contract gets one recorded, any other
/// finding is fixed in the form of the entry it names.
fn fix_form(finding: &Finding, register: &custos_core::register::Register) -> (String, String) {
    let id = finding.object.id.as_str();
    if finding.rule == rules::NO_CONTRACT.id
        && let Some(link) = register.engagements().iter().find(|e| e.id.as_str() == id)
    {
        return (
            tr("fix-form-contract", &[]),
            format!(
                "/contracts/new?engaging={}&processor={}&link={id}",
                link.engaged_by, link.processor
            ),
        );
    }
    let (label, path) = match finding.object.kind {
        EntityKind::Organisation => (tr("fix-form-organisation", &[]), "organisations"),
        EntityKind::Activity => (tr("fix-form-activity", &[]), "activities"),
        EntityKind::Contract => (tr("fix-form-of-contract", &[]), "contracts"),
        EntityKind::Engagement => (tr("fix-form-link", &[]), "links"),
    };
    (label, format!("/{path}/{id}/edit"))
}

fn parse_kind(kind: &str) -> Result<EntityKind, ApiError> {
    match kind {
        "organisation" => Ok(EntityKind::Organisation),
        "activity" => Ok(EntityKind::Activity),
        "contract" => Ok(EntityKind::Contract),
        "engagement" => Ok(EntityKind::Engagement),
        other => Err(ApiError::invalid(
            "kind",
            format!("kind: expected organisation, activity, contract or engagement, not {other:?}"),
        )),
    }
}

pub async fn findings(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<FindingsParams>,
) -> Result<Response, UiError> {
    render(&state, &viewer.principal, &viewer.csrf, params, None).await
}

async fn render(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    params: FindingsParams,
    refused: Option<Refused>,
) -> Result<Response, UiError> {
    let on = day(state, Some(&params.at))?;
    let severity = (!params.severity.is_empty())
        .then(|| {
            params
                .severity
                .parse::<Severity>()
                .map_err(|e| ApiError::invalid("severity", e))
        })
        .transpose()?;
    let state_filter = match params.state.as_str() {
        "" => None,
        "open" => Some(true),
        "acknowledged" => Some(false),
        other => {
            return Err(ApiError::invalid(
                "state",
                format!("state: expected open or acknowledged, not {other:?}"),
            )
            .into());
        }
    };
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    let (register, report) = state.report(on).await?;
    let visibility = principal.visibility(&register)?;
    let report = visibility.findings_in(
        &register,
        &report,
        &Filter {
            activity: non_empty(&params.activity),
            organisation: non_empty(&params.organisation),
            severity,
            rule: non_empty(&params.rule),
        },
    );
    let words: Vec<String> = params.q.split_whitespace().map(str::to_lowercase).collect();
    let matching: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| state_filter.is_none_or(|open| f.counts() == open))
        .filter(|f| matches_words(f, &words))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let current = params.page.unwrap_or(1).clamp(1, pages);
    let start = (current - 1) * PAGE_SIZE;
    let shown = &matching[start.min(matching.len())..(start + PAGE_SIZE).min(matching.len())];

    let represented = Represented::load(&state.store)
        .await
        .map_err(ApiError::from)?;
    let today = state.clock.today();
    let default_until = today
        .checked_add(jiff::Span::new().days(DEFAULT_DAYS))
        .unwrap_or(today)
        .to_string();
    // The policy is asked once per entry, however many findings name it.
    let mut allowed: HashMap<(EntityKind, &str), Option<String>> = HashMap::new();
    let mut rows = Vec::with_capacity(shown.len());
    for finding in shown {
        let mut row = finding_row(finding);
        let object = (finding.object.kind, finding.object.id.as_str());
        let tag = allowed
            .entry(object)
            .or_insert_with(|| {
                register
                    .parts()
                    .entry(object.0, object.1)
                    .filter(|entry| visible(&visibility, &register, entry))
                    .filter(|entry| {
                        // A contract whose other party answers for itself would make it a
                        // proposal: not offered here.
                        matches!(
                            write_verdict(principal, &register, &represented, entry),
                            Verdict::Allow
                        )
                    })
                    .map(|entry| entry.tag())
            })
            .clone();
        if tag.is_some() {
            row.fix = Some(fix_form(finding, &register));
        }
        row.ack = tag.map(|tag| {
            let again = refused.as_ref().filter(|r| {
                r.kind == finding.object.kind
                    && r.id == finding.object.id.as_str()
                    && r.rule == finding.rule
            });
            AckOffer {
                kind: finding.object.kind.as_str(),
                id: finding.object.id.to_string(),
                rule: finding.rule,
                tag,
                reason: again.map(|r| r.reason.clone()).unwrap_or_default(),
                until: again.map_or_else(|| default_until.clone(), |r| r.until.clone()),
                problem: again.map(|r| r.problem.clone()),
            }
        });
        rows.push(row);
    }
    let activities = register
        .activities()
        .iter()
        .filter(|a| visibility.activity(&register, a.id.as_str()))
        .map(|a| a.id.to_string())
        .collect();
    let status = refused.as_ref().map_or(StatusCode::OK, |r| r.status);
    let placed = rows
        .iter()
        .any(|r| r.ack.as_ref().is_some_and(|a| a.problem.is_some()));
    let problem = refused.filter(|_| !placed).map(|r| r.problem);
    let mut response = page(&FindingsPage {
        section: "findings",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        on,
        errors: report.summary.errors,
        warnings: report.summary.warnings,
        infos: report.summary.infos,
        acknowledged: report.summary.acknowledged,
        activities,
        rules: rules::ALL
            .iter()
            .map(|r| RuleOption {
                id: r.id,
                title: crate::i18n::rule_title(r.id, r.title),
            })
            .collect(),
        back: params.query(current),
        matching: matching.len(),
        first: if shown.is_empty() { 0 } else { start + 1 },
        last: start + shown.len(),
        previous: (current > 1).then(|| params.query(current - 1)),
        next: (current < pages).then(|| params.query(current + 1)),
        params,
        findings: rows,
        problem,
    });
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
pub struct AcknowledgeForm {
    csrf: String,
    kind: String,
    id: String,
    rule: String,
    tag: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    until: String,
    /// The findings page's query string, to return to.
    #[serde(default)]
    back: String,
}

/// Puts an acknowledgement on the entry a finding names, through the same policy and checks
/// as every write; back to the findings page on success, or the page again with the problem.
pub async fn acknowledge(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<AcknowledgeForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let kind = parse_kind(&form.kind)?;
    let params: FindingsParams = serde_urlencoded::from_str(&form.back).unwrap_or_default();
    let refuse = |status: StatusCode, problem: String| Refused {
        kind,
        id: form.id.clone(),
        rule: form.rule.clone(),
        reason: form.reason.clone(),
        until: form.until.clone(),
        problem,
        status,
    };
    let acknowledgement = match read_acknowledgement(&state, &principal, &form) {
        Ok(acknowledgement) => acknowledgement,
        Err(problem) => {
            let csrf = form.csrf.clone();
            let refused = refuse(StatusCode::UNPROCESSABLE_ENTITY, problem);
            return render(&state, &principal, &csrf, params, Some(refused)).await;
        }
    };
    let entry = {
        let register = state.register().await;
        let visibility = principal.visibility(&register)?;
        register
            .parts()
            .entry(kind, &form.id)
            .filter(|entry| visible(&visibility, &register, entry))
            .ok_or_else(|| ApiError::not_found(format!("{kind} {:?}", form.id)))?
    };
    let written = run(
        &state,
        &principal,
        Write::Put(Box::new(entry.acknowledged(acknowledgement))),
        Expect::Tag(form.tag.clone()),
        None,
    )
    .await;
    match written {
        Ok(Outcome::Written(_)) => Ok(Redirect::to(&format!(
            "/findings?{}",
            params.query(params.page.unwrap_or(1))
        ))
        .into_response()),
        Ok(Outcome::Proposed(amendment)) => Ok(Redirect::to(&format!(
            "/contracts/{}#amendment-{}",
            amendment.contract, amendment.key
        ))
        .into_response()),
        Err(ApiError::PreconditionFailed(_)) => {
            let problem = "The entry changed while you were writing: the finding below is as it stands now; send the acknowledgement again if it still holds.".to_owned();
            let refused = refuse(StatusCode::UNPROCESSABLE_ENTITY, problem);
            render(&state, &principal, &form.csrf, params, Some(refused)).await
        }
        Err(error @ (ApiError::Invalid { .. } | ApiError::Refused { .. })) => {
            let status = error.status();
            let problem = super::sentence(&error);
            render(
                &state,
                &principal,
                &form.csrf,
                params,
                Some(refuse(status, problem)),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// The acknowledgement the form asks for, or what is wrong with it, naming the field.
fn read_acknowledgement(
    state: &AppState,
    principal: &Principal,
    form: &AcknowledgeForm,
) -> Result<Acknowledgement, String> {
    let rule = rules::rule(&form.rule)
        .ok_or_else(|| format!("rule: {:?} is not a rule of the checks", form.rule))?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err("Reason: say why the finding is accepted for now.".to_owned());
    }
    if reason.chars().count() > MAX_REASON {
        return Err(format!(
            "Reason: at most {MAX_REASON} characters, not {}.",
            reason.chars().count()
        ));
    }
    let until: Date = form
        .until
        .trim()
        .parse()
        .map_err(|_| format!("Until: expected a date (YYYY-MM-DD), not {:?}.", form.until))?;
    let today = state.clock.today();
    if until < today {
        return Err(format!(
            "Until: {until} has passed; the acknowledgement must hold at least until today ({today})."
        ));
    }
    Ok(Acknowledgement {
        rule: rule
            .id
            .parse()
            .map_err(|_| format!("rule: {:?} is not a rule id", rule.id))?,
        reason: reason.to_owned(),
        until,
        by: Some(principal.user.email.clone()),
    })
}
