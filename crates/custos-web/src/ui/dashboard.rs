//! The first page: what is due for the viewer's organisations, most urgent first, each line a
//! link to where it is done. Subject requests by days left, sub-processor decisions by the
//! end of their window, breach clocks, Art. 19 notifications waiting for an answer, contract
//! amendments to answer, contracts ending or due for renewal, and the findings by severity with
//! those new since the viewer last marked them seen.

use crate::i18n::Translate as _;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::dashboard::{self, Seen};
use custos_core::checks::{Filter, Finding, Severity, expiry_reminder};
use custos_core::rights::NotificationState;
use serde::Deserialize;

use super::rights::{days_left, masked};
use super::{FormCaller, UiError, Viewer, check_csrf, entry_href, page};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::i18n::tr;
use crate::state::AppState;

/// New findings listed on the dashboard; the rest are on the findings page.
const NEW_SHOWN: usize = 10;

/// One thing due: what, where to do it, and how urgent (a pill's text and tone).
pub struct DueRow {
    text: String,
    href: String,
    when: String,
    tone: &'static str,
    /// Sorts the section: the most urgent first.
    order: String,
}

/// A section of the dashboard with its rows.
pub struct Section {
    title: String,
    empty: String,
    rows: Vec<DueRow>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    today: String,
    sections: Vec<Section>,
    errors: usize,
    warnings: usize,
    infos: usize,
    new_count: usize,
    new_findings: Vec<DueRow>,
    marked_at: Option<String>,
}

/// A section titled by the message `title`, saying `empty` when nothing is due.
fn section(title: &str, empty: &str, mut rows: Vec<DueRow>) -> Section {
    rows.sort_by(|a, b| a.order.cmp(&b.order));
    Section {
        title: tr(title, &[]),
        empty: tr(empty, &[]),
        rows,
    }
}

/// The organisations the viewer acts for (none for an instance administrator: all).
fn organisations(principal: &Principal) -> Vec<String> {
    principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .collect()
}

/// The findings that count, as the viewer sees them today.
async fn counting_findings(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<Finding>, UiError> {
    let (register, report) = state.report(state.clock.today()).await?;
    let visibility = principal.visibility(&register)?;
    let report = visibility.findings_in(&register, &report, &Filter::default());
    Ok(report
        .findings
        .into_iter()
        .filter(Finding::counts)
        .collect())
}

pub async fn home(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let principal = &viewer.principal;
    let today = state.clock.today();
    let now = state.clock.now();
    let mine = organisations(principal);
    let acts_for =
        |organisation: &str| principal.user.is_admin || mine.iter().any(|m| m == organisation);
    let mut sections = Vec::new();

    // Subject requests: the open ones, by days left.
    let requests = crate::api::rights::requests_for(&state, principal, None, false).await?;
    let rows = requests
        .into_iter()
        .filter(|r| r.status.open())
        .map(|r| {
            let due = r
                .extended_until
                .clone()
                .unwrap_or_else(|| r.deadline.clone());
            let (when, tone) = days_left(&due, today);
            DueRow {
                text: tr(
                    "due-request-row",
                    &[
                        ("kind", r.kind.as_str()),
                        ("subject", &masked(r.email.as_deref())),
                        ("controller", &r.controller),
                    ],
                ),
                href: format!("/subject-requests/{}", r.key),
                when: tr("due-request-when", &[("when", &when), ("due", &due)]),
                tone,
                order: due,
            }
        })
        .collect();
    sections.push(section("due-requests", "due-requests-none", rows));

    // Sub-processor changes waiting for a decision of the viewer's controllers.
    let summaries = crate::api::changes::summaries(&state, principal).await?;
    let rows = crate::api::changes::inbox(principal, summaries)
        .into_iter()
        .flat_map(|summary| {
            summary
                .waiting_for
                .iter()
                .map(|waiting| {
                    let deadline = waiting.deadline.clone().unwrap_or_default();
                    let (when, tone) = if deadline.is_empty() {
                        (tr("due-change-no-window", &[]), "info")
                    } else {
                        let (left, tone) = days_left(&deadline, today);
                        (
                            tr(
                                "due-change-window",
                                &[("left", &left), ("deadline", &deadline)],
                            ),
                            tone,
                        )
                    };
                    DueRow {
                        text: tr(
                            "due-change-row",
                            &[
                                ("requester", &summary.requester),
                                ("candidate", &summary.candidate_name),
                                ("service", &summary.service),
                                ("controller", &waiting.controller),
                                ("mode", &waiting.mode),
                            ],
                        ),
                        href: format!("/change-requests/{}", summary.key),
                        when,
                        tone,
                        order: if deadline.is_empty() {
                            "9999".to_owned()
                        } else {
                            deadline
                        },
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    sections.push(section("due-changes", "due-changes-none", rows));

    // Breach clocks of the viewer's controllers, not yet filed.
    let breaches = crate::api::breaches::summaries(&state, principal).await?;
    let rows = breaches
        .iter()
        .flat_map(|breach| {
            breach
                .cases
                .iter()
                .filter(|case| !case.filed && case.decision.as_deref() != Some("not-notifiable"))
                .map(|case| DueRow {
                    text: tr(
                        "due-breach-row",
                        &[
                            ("party", &breach.party),
                            ("began", &breach.occurred_from),
                            ("controller", &case.controller),
                        ],
                    ),
                    href: format!("/breaches/{}", breach.key),
                    when: super::breaches::clock(case.deadline.as_deref(), now),
                    tone: if case.overdue { "error" } else { "warning" },
                    order: case.deadline.clone().unwrap_or_default(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    sections.push(section("due-breaches", "due-breaches-none", rows));

    // Art. 19 notifications addressed to (or relayed by) the viewer's organisations that
    // still wait for an answer.
    let mut rows = Vec::new();
    for organisation in &mine {
        for row in custos_app::rights::notifications_to(&state.store, organisation)
            .await
            .map_err(ApiError::from)?
        {
            if !matches!(
                row.state,
                NotificationState::Sent | NotificationState::Acknowledged
            ) {
                continue;
            }
            let sent = row.sent_at.clone().unwrap_or_default();
            rows.push(DueRow {
                text: tr(
                    "due-notification-row",
                    &[("recipient", &row.recipient), ("state", row.state.as_str())],
                ),
                href: format!("/notifications#notification-{}", row.key),
                when: tr(
                    "due-notification-sent",
                    &[("sent", sent.get(..10).unwrap_or(&sent))],
                ),
                tone: "warning",
                order: sent,
            });
        }
    }
    sections.push(section("due-notifications", "due-notifications-none", rows));

    // Contract amendments the viewer's organisations are asked to accept.
    let awaiting = if principal.user.is_admin {
        Vec::new()
    } else {
        dashboard::amendments_awaiting(&state.store, &mine)
            .await
            .map_err(ApiError::from)?
    };
    let rows = awaiting
        .into_iter()
        .map(|a| DueRow {
            text: tr(
                "due-amendment-row",
                &[
                    ("proposer", &a.proposer),
                    ("contract", &a.contract),
                    ("awaiting", &a.awaiting),
                ],
            ),
            href: format!("/contracts/{}#amendment-{}", a.contract, a.key),
            when: tr(
                "due-amendment-proposed",
                &[(
                    "proposed",
                    a.proposed_at.get(..10).unwrap_or(&a.proposed_at),
                )],
            ),
            tone: "warning",
            order: a.proposed_at,
        })
        .collect();
    sections.push(section("due-amendments", "due-amendments-none", rows));

    // Contracts of the viewer's organisations ending, ended or due for renewal.
    let rows = {
        let register = state.register().await;
        let visibility = principal.visibility(&register)?;
        register
            .contracts()
            .iter()
            .filter(|c| c.between.iter().any(|p| acts_for(p.as_str())))
            .filter(|c| visibility.contract(c.id.as_str()))
            .filter_map(|c| {
                // An ended contract is due only while a link under it is in force.
                let ended = c.expires.filter(|e| *e < today).filter(|_| {
                    register
                        .engagements()
                        .iter()
                        .any(|e| e.contract.as_ref() == Some(&c.id) && e.in_force_on(today))
                });
                let reminder = expiry_reminder(c, today);
                let (when, tone) = match (ended, reminder) {
                    (Some(expires), _) => (
                        tr("due-contract-ended", &[("expires", &expires.to_string())]),
                        "error",
                    ),
                    (None, Some(reason)) => (reason, "warning"),
                    (None, None) => return None,
                };
                Some(DueRow {
                    text: tr(
                        "due-contract-row",
                        &[
                            ("contract", c.id.as_str()),
                            ("first", c.between[0].as_str()),
                            ("second", c.between[1].as_str()),
                        ],
                    ),
                    href: format!("/contracts/{}", c.id),
                    when,
                    tone,
                    order: c
                        .expires
                        .or(c.renewal)
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                })
            })
            .collect()
    };
    sections.push(section("due-contracts", "due-contracts-none", rows));

    // Findings: by severity, and those new since the viewer last marked them seen.
    let findings = counting_findings(&state, principal).await?;
    let count = |severity: Severity| findings.iter().filter(|f| f.severity == severity).count();
    let seen: Seen = dashboard::findings_seen(&state.store, &principal.user.key)
        .await
        .map_err(ApiError::from)?;
    let new: Vec<&Finding> = findings.iter().filter(|f| seen.is_new(f)).collect();
    let new_findings = new
        .iter()
        .take(NEW_SHOWN)
        .map(|f| DueRow {
            text: format!(
                "{}: {}",
                crate::i18n::rule_title(f.rule, f.title),
                f.message
            ),
            href: entry_href(f.object.kind, f.object.id.as_str()),
            when: crate::i18n::severity_word(f.severity.as_str()),
            tone: f.severity.as_str(),
            order: String::new(),
        })
        .collect();

    Ok(page(&DashboardPage {
        section: "home",
        user_email: principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        today: today.to_string(),
        sections,
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
        new_count: new.len(),
        new_findings,
        marked_at: seen.marked_at.map(|at| super::breaches::when(Some(&at))),
    }))
}

#[derive(Deserialize)]
pub struct MarkForm {
    csrf: String,
}

/// Marks every finding the viewer sees today as seen: the dashboard counts new ones from here.
pub async fn mark_seen(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<MarkForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let findings = counting_findings(&state, &principal).await?;
    dashboard::mark_findings_seen(
        &state.store,
        &principal.user.key,
        &findings,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to("/").into_response())
}
