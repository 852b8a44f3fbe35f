//! Every error of the API as RFC 9457 problem details, mapped in this one place. A 4xx says
//! what was wrong (which field, what was expected); a 5xx says nothing of the inside, which
//! goes to the log with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::AppError;
use serde::Serialize;

/// `application/problem+json` (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not signed in, or the credentials are not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but the role or the token's scope does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The policy refuses what the caller asserts; the field at fault when one is.
    #[error("{detail}")]
    Refused {
        detail: String,
        field: Option<String>,
    },
    /// Does not exist, or is not visible to the caller: the two are not told apart.
    #[error("{0}")]
    NotFound(String),
    /// A parameter or body field is wrong.
    #[error("{detail}")]
    Invalid {
        detail: String,
        /// The parameter or field, when one is to blame.
        field: Option<String>,
    },
    #[error("{0}")]
    Conflict(String),
    /// The `If-Match` tag is stale: someone changed the entry since it was read.
    #[error("{0}")]
    PreconditionFailed(String),
    /// An update or a delete without `If-Match`.
    #[error("{0}")]
    PreconditionRequired(String),
    /// A body larger than the endpoint takes.
    #[error("{0}")]
    TooLarge(String),
    #[error("too many attempts: try again in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    /// The server's own failure: logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            detail: detail.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} does not exist or is not visible to you"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Refused { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The parameter or field at fault, for 422 (and for a 403 the policy gives on one field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Self::Internal(cause) => {
                tracing::error!(cause = %cause, "request failed");
                "the server could not complete the request; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let field = match &self {
            Self::Invalid { field, .. } | Self::Refused { field, .. } => field.clone(),
            _ => None,
        };
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            field,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Self::Unauthenticated(_) = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"custos\""),
            );
        }
        if let Self::TooManyRequests { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Invalid(detail) => Self::Invalid {
                field: field_of(&detail),
                detail,
            },
            AppError::Manifest(errors) => Self::Invalid {
                detail: errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                field: Some("manifest".to_owned()),
            },
            AppError::Rejected(problems) => Self::Invalid {
                detail: problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                field: None,
            },
            AppError::NotFound(what) => Self::not_found(what),
            AppError::Conflict(detail) => Self::Conflict(detail),
            AppError::PreconditionFailed(detail) => Self::PreconditionFailed(detail),
            AppError::Forbidden(detail) => Self::Forbidden(detail),
            AppError::Busy { retry_after } => Self::TooManyRequests { retry_after },
            AppError::Refused(refusals) => Self::Refused {
                detail: refusals
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                // One entry refused: its field; several (a manifest): each named in the detail.
                field: match refusals.as_slice() {
                    [one] => one.field.map(ToOwned::to_owned),
                    _ => None,
                },
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<custos_core::chain::ChainError> for ApiError {
    fn from(error: custos_core::chain::ChainError) -> Self {
        match error {
            custos_core::chain::ChainError::UnknownActivity(id) => {
                Self::not_found(format!("activity {id:?}"))
            }
            custos_core::chain::ChainError::UnknownOrganisation(id) => {
                Self::not_found(format!("organisation {id:?}"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The field a use case's message names first (`email: expected an e-mail address`): the
/// app's convention for what was wrong, carried into the problem's `field`.
fn field_of(detail: &str) -> Option<String> {
    let (field, _) = detail.split_once(": ")?;
    let looks_like_field = !field.is_empty()
        && field.len() <= 40
        && field
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    looks_like_field.then(|| field.to_owned())
}
