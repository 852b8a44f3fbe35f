//! The processor's side of Art. 19: every notification of a rectification, erasure or
//! restriction addressed to the viewer's organisations, or relayed by them to the processors
//! they engaged, with the subject's identifier while the request is open; acknowledged and
//! completed (with evidence) in the page. What the recipient's sub-processors answered outside
//! Custos is recorded here by the processor that relayed the notification to them.

use crate::i18n::Translate as _;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::policy::Capacity;
use custos_app::rights::NotificationChange;
use custos_core::rights::NotificationState;
use serde::Deserialize;

use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::api::rights::settle_notification;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest evidence note a form takes.
const MAX_NOTE: usize = 4_000;

struct NotificationRow {
    key: String,
    kind: String,
    controller: String,
    recipient: String,
    relayed_by: String,
    state: &'static str,
    open: bool,
    sent: String,
    identifier: String,
    note: String,
    /// The viewer may acknowledge (sent, not yet acknowledged) and complete it.
    may_acknowledge: bool,
    may_complete: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    open: Vec<NotificationRow>,
    settled: Vec<NotificationRow>,
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let principal = &viewer.principal;
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for membership in &principal.memberships {
        for row in custos_app::rights::notifications_to(&state.store, &membership.organisation)
            .await
            .map_err(ApiError::from)?
        {
            if !seen.insert(row.key.clone()) {
                continue;
            }
            let (_, request) = custos_app::rights::notification(&state.store, &row.key)
                .await
                .map_err(ApiError::from)?;
            let open = matches!(
                row.state,
                NotificationState::Pending
                    | NotificationState::Sent
                    | NotificationState::Acknowledged
            );
            let answers = principal.may_write()
                && (principal.may(Capacity::Portal, &row.recipient)
                    || row
                        .relayed_by
                        .as_deref()
                        .is_some_and(|r| principal.may(Capacity::Portal, r)));
            rows.push(NotificationRow {
                kind: request.kind.as_str().to_owned(),
                controller: request.controller.clone(),
                recipient: row.recipient.clone(),
                relayed_by: row.relayed_by.clone().unwrap_or_default(),
                state: row.state.as_str(),
                open,
                sent: row.sent_at.clone().unwrap_or_default(),
                // The identifier only while the request is open: afterwards it is erased.
                identifier: if request.status.open() {
                    request.email.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                note: row.note.clone().unwrap_or_default(),
                may_acknowledge: answers && row.state == NotificationState::Sent,
                may_complete: answers
                    && matches!(
                        row.state,
                        NotificationState::Sent | NotificationState::Acknowledged
                    ),
                key: row.key,
            });
        }
    }
    rows.sort_by(|a, b| b.key.cmp(&a.key));
    let (open, settled) = rows.into_iter().partition(|r| r.open);
    Ok(page(&NotificationsPage {
        section: "rights",
        user_email: principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        open,
        settled,
    }))
}

#[derive(Deserialize)]
pub struct StepForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Acknowledges (`acknowledge`) or completes (`done`, with evidence) a notification.
pub async fn step(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, action)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> Result<Response, UiError> {
    check_csrf(&principal, &form.csrf)?;
    let note = form.note.trim().to_owned();
    if note.chars().count() > MAX_NOTE {
        return Err(
            ApiError::invalid("note", format!("note: at most {MAX_NOTE} characters")).into(),
        );
    }
    let change = match action.as_str() {
        "acknowledge" => NotificationChange::Acknowledge,
        "done" if note.is_empty() => {
            return Err(ApiError::invalid(
                "note",
                "note: say what was done (the evidence the controller keeps)",
            )
            .into());
        }
        "done" => NotificationChange::Done { evidence: note },
        _ => return Err(ApiError::not_found(format!("action {action:?}")).into()),
    };
    settle_notification(&state, &principal, &key, change).await?;
    Ok(Redirect::to(&format!("/notifications#notification-{key}")).into_response())
}
