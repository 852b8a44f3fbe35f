//! The JSON API under `/api/v1`: extractors that refuse bad input as problem details, cursor
//! pages, and the routes.

pub mod accounts;
pub mod audit;
pub mod breaches;
pub mod changes;
pub mod contracts;
pub mod entries;
pub mod joint;
pub mod ledger;
pub mod notices;
pub mod people;
pub mod register;
pub mod rights;
pub mod views;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use custos_core::Date;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Query parameters, refused as a 422 problem naming what was wrong.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // serde_path_to_error names the parameter that failed (`cursor`, `view`), so the 422
        // says which field, as docs/api.md promises.
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded::parse(query.as_bytes());
        let deserializer = serde_urlencoded::Deserializer::new(pairs);
        serde_path_to_error::deserialize(deserializer)
            .map(Params)
            .map_err(|error| {
                let field = error.path().to_string();
                let field = (!field.is_empty() && field != ".").then_some(field);
                ApiError::Invalid {
                    detail: format!("query: {}", error.inner()),
                    field,
                }
            })
    }
}

/// A JSON body, refused as a 422 problem naming what was wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or_default().trim();
                essence == "application/json" || essence.ends_with("+json")
            });
        if !json {
            return Err(ApiError::Invalid {
                detail: "expected a JSON body (Content-Type: application/json)".to_owned(),
                field: None,
            });
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| match rejection.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::TooLarge(rejection.body_text())
                }
                _ => ApiError::Invalid {
                    detail: rejection.body_text(),
                    field: None,
                },
            })?;
        // serde_path_to_error names the field that failed (`dossier.candidate.country`), so
        // the 422 says which, as docs/api.md promises.
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let field = error.path().to_string();
            ApiError::Invalid {
                detail: format!("body: {}", error.inner()),
                field: (!field.is_empty() && field != ".").then_some(field),
            }
        })?;
        deserializer.end().map_err(|error| ApiError::Invalid {
            detail: format!("body: {error}"),
            field: None,
        })?;
        Ok(Body(value))
    }
}

/// `?cursor=ID&limit=N`: the page after the entry with id `cursor`, in id order.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 1000; 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

pub const MAX_PAGE: u32 = 1000;

impl PageQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        page_limit(self.limit)
    }
}

/// Entries per page: `limit` checked against 1 to [`MAX_PAGE`], 100 when absent.
pub fn page_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid(
            "limit",
            format!("limit is {n}: expected 1 to {MAX_PAGE}"),
        )),
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `entries` newest first (descending id, as keys made of UUIDv7 sort by
    /// time) after the cursor: those whose id is below it.
    pub fn newest_first(
        mut entries: Vec<T>,
        id: impl Fn(&T) -> &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Self, ApiError> {
        let limit = page_limit(limit)?;
        entries.sort_by(|a, b| id(b).cmp(id(a)));
        let mut items: Vec<T> = entries
            .into_iter()
            .filter(|e| cursor.is_none_or(|c| id(e) < c))
            .take(limit + 1)
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| id(last).to_owned())
        } else {
            None
        };
        Ok(Self { items, next_cursor })
    }

    /// The page of `entries` (in id order, already filtered) after the cursor.
    pub fn of<'a, E: 'a>(
        entries: impl Iterator<Item = &'a E>,
        id: impl Fn(&E) -> &str,
        query: &PageQuery,
        convert: impl Fn(&E) -> T,
    ) -> Result<Self, ApiError> {
        let limit = query.limit()?;
        let mut items: Vec<(&E, T)> = Vec::with_capacity(limit.min(128));
        let mut next_cursor = None;
        let after = query.cursor.as_deref();
        for entry in entries.filter(|e| after.is_none_or(|c| id(e) > c)) {
            if items.len() == limit {
                next_cursor = items.last().map(|(last, _)| id(last).to_owned());
                break;
            }
            items.push((entry, convert(entry)));
        }
        Ok(Self {
            items: items.into_iter().map(|(_, item)| item).collect(),
            next_cursor,
        })
    }
}

/// `?at=YYYY-MM-DD`: the day to look at; today when absent.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The day to look at (YYYY-MM-DD); default today.
    #[param(format = Date)]
    pub at: Option<String>,
}

/// The ids of the rules, for the `rule` parameter's schema.
pub fn rule_ids_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(custos_core::checks::rules::ALL.iter().map(|r| r.id)))
        .build()
}

/// `error`, `warning`, `info`.
pub fn severity_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["error", "warning", "info"]))
        .build()
}

pub fn parse_date(field: &str, raw: Option<&str>) -> Result<Option<Date>, ApiError> {
    raw.map(|raw| {
        raw.parse::<Date>().map_err(|_| {
            ApiError::invalid(
                field,
                format!("{field} is {raw:?}: expected a date YYYY-MM-DD"),
            )
        })
    })
    .transpose()
}
