//! The disclosure ledger over HTTP: one event, a JSON array, or NDJSON. NDJSON is parsed as it
//! arrives, so a call that holds too many events, or one endless line, is refused while the
//! body is still streaming, not after 64 MiB have been read and parsed.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::ledger::LedgerEvent;
use custos_app::policy::Capacity;
use http_body_util::{BodyExt, LengthLimitError};

use super::changes::require_write;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Most events one call records: the batch `custos ledger import` commits in one transaction.
pub const MAX_EVENTS: usize = 100_000;
/// Longest NDJSON line: an event is a few hundred bytes.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
/// Largest JSON (not NDJSON) body: a JSON document is parsed whole, so larger loads go as NDJSON.
pub const MAX_JSON_BYTES: usize = 32 * 1024 * 1024;

#[utoipa::path(
    post,
    path = "/api/v1/disclosures",
    tag = "subject-requests",
    operation_id = "record_disclosures",
    request_body(content = serde_json::Value, description = "One event {identifier, activity, recipient, categories, at}, a JSON array of them (at most 32 MiB), or NDJSON (Content-Type: application/x-ndjson; lines of at most 16 KiB); at most 100,000 events a call"),
    responses(
        (status = 201, description = "Recorded (all or none); the identifiers are keyed, never stored", body = serde_json::Value),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor of the controller of an event's activity", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too many events, too long a line or too large a body: refused as soon as the body passes the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An event is invalid (named by its number)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_disclosures(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_write(&principal)?;
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    let events = if ndjson {
        read_ndjson(body).await?
    } else {
        read_json(body).await?
    };
    let register = state.register().await;
    for (i, event) in events.iter().enumerate() {
        let activity = register.activity(event.activity.as_str()).ok_or_else(|| {
            ApiError::invalid(
                "activity",
                format!("event {}: no activity {:?}", i + 1, event.activity.as_str()),
            )
        })?;
        if !activity
            .accepted_controllers()
            .any(|c| principal.may(Capacity::Edit, c.as_str()))
        {
            return Err(ApiError::Forbidden(format!(
                "event {}: only the editors of {}'s controllers record its disclosures",
                i + 1,
                event.activity
            )));
        }
    }
    let actor = principal.actor(state.clock.now());
    let recorded = custos_app::ledger::record(&state.store, &register, events, &actor).await?;
    Ok((StatusCode::CREATED, axum::Json(Recorded { recorded })).into_response())
}

/// How many events were recorded.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Recorded {
    pub recorded: usize,
}

/// Parses NDJSON line by line as the body arrives; blank lines count in the numbering.
async fn read_ndjson(mut body: Body) -> Result<Vec<LedgerEvent>, ApiError> {
    let mut events = Vec::new();
    let mut line = Vec::new();
    let mut number = 0;
    while let Some(chunk) = next_chunk(&mut body).await? {
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            if line.len() + piece.len() > MAX_EVENT_BYTES + 1 {
                return Err(ApiError::TooLarge(format!(
                    "line {}: longer than {MAX_EVENT_BYTES} bytes",
                    number + 1
                )));
            }
            line.extend_from_slice(piece);
            if line.ends_with(b"\n") {
                number += 1;
                push_line(&line, number, &mut events)?;
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        push_line(&line, number + 1, &mut events)?;
    }
    Ok(events)
}

fn push_line(line: &[u8], number: usize, events: &mut Vec<LedgerEvent>) -> Result<(), ApiError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    if events.len() == MAX_EVENTS {
        return Err(too_many());
    }
    let event = serde_json::from_slice(line)
        .map_err(|e| ApiError::invalid("body", format!("line {number}: {e}")))?;
    events.push(event);
    Ok(())
}

/// Reads a JSON document of one event or an array of them, refused once it passes
/// `MAX_JSON_BYTES`, and parses it straight into events (no intermediate JSON tree).
async fn read_json(mut body: Body) -> Result<Vec<LedgerEvent>, ApiError> {
    let mut buffer = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        if buffer.len() + chunk.len() > MAX_JSON_BYTES {
            return Err(ApiError::TooLarge(format!(
                "a JSON body of at most {MAX_JSON_BYTES} bytes; send larger loads as NDJSON"
            )));
        }
        buffer.extend_from_slice(&chunk);
    }
    let many = buffer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let parsed = if many {
        serde_json::from_slice::<Vec<LedgerEvent>>(&buffer)
    } else {
        serde_json::from_slice::<LedgerEvent>(&buffer).map(|one| vec![one])
    };
    let events = parsed.map_err(|e| ApiError::invalid("body", format!("body: {e}")))?;
    if events.len() > MAX_EVENTS {
        return Err(too_many());
    }
    Ok(events)
}

fn too_many() -> ApiError {
    ApiError::TooLarge(format!("at most {MAX_EVENTS} events a call"))
}

/// The next data chunk of the body; the server's body limit surfaces as 413.
async fn next_chunk(body: &mut Body) -> Result<Option<Bytes>, ApiError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if caused_by_limit(&e) {
                ApiError::TooLarge(format!("a body of at most {} bytes", crate::MAX_BODY_BYTES))
            } else {
                ApiError::invalid("body", format!("the body could not be read: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

fn caused_by_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}
