//! Safe actions without script. An irreversible step (closing and sending an answer,
//! refusing, telling every recipient, extending a deadline, engaging a sub-processor,
//! withdrawing, publishing, filing with the authority) posts first to a page that says what
//! will happen and asks again; the step is taken only when the form comes back with
//! `confirm=yes`. A step refused for its input comes back on the same page with what was
//! typed kept and the problem above it, the navigation around it.

use crate::i18n::Translate as _;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::page;
use crate::auth::Principal;
use crate::error::ApiError;

/// A field the person may still change before confirming, with what was typed.
pub(crate) struct Field {
    pub name: &'static str,
    pub label: String,
    pub value: String,
    pub multiline: bool,
    pub required: bool,
}

/// What the confirmation page says and posts.
pub(crate) struct Confirmation {
    pub title: String,
    /// What will happen, one sentence a line.
    pub consequences: Vec<String>,
    pub action: String,
    pub button: String,
    /// Where "Cancel" leads.
    pub back: String,
    /// Fields passed through unchanged.
    pub hidden: Vec<(String, String)>,
    pub fields: Vec<Field>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    section: &'static str,
    user_email: String,
    csrf: String,
    c: &'a Confirmation,
    problem: Option<String>,
}

/// Whether the form came back confirmed.
pub(crate) fn confirmed(value: &str) -> bool {
    value == "yes"
}

/// The page that asks, or asks again with `problem` (shown with the error's status).
pub(crate) fn ask(
    principal: &Principal,
    csrf: &str,
    section: &'static str,
    confirmation: &Confirmation,
    problem: Option<&ApiError>,
) -> Response {
    let mut response = page(&ConfirmPage {
        section,
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        c: confirmation,
        problem: problem.map(super::sentence),
    });
    *response.status_mut() = problem.map_or(StatusCode::OK, ApiError::status);
    response
}

/// Whether an error is the person's to correct on the same page (the input, or where the
/// thing stands), rather than a page of its own (not found, not allowed, our failure).
pub(crate) fn correctable(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Invalid { .. } | ApiError::Conflict(_) | ApiError::PreconditionFailed(_)
    )
}
