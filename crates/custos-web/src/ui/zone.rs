//! One way of showing time: every date and time on a page in the viewer's time zone, the zone
//! named, minutes at most (`2026-11-25 11:00 CET`); machine formats only in JSON. The zone is
//! the person's own (`/settings/security`), else their first organisation's (`time_zone` of
//! the register), else UTC. A middleware finds it once per page request and keeps it for the
//! request's task; formatting reads it from there, so no page passes it along. Forms that take
//! a date and time read it in the same zone.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::auth::{Principal, authenticate};
use crate::state::AppState;

tokio::task_local! {
    static VIEWER_ZONE: TimeZone;
}

/// The zone of `principal`: its own, else its first organisation's that has one, else UTC.
pub fn zone_of(principal: &Principal, register: &custos_core::register::Register) -> TimeZone {
    if let Some(zone) = principal
        .user
        .time_zone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
    {
        return zone;
    }
    principal
        .memberships
        .iter()
        .filter_map(|m| register.organisation(&m.organisation))
        .find_map(|o| o.time_zone.as_ref())
        .map_or(TimeZone::UTC, custos_core::values::TimeZoneName::zone)
}

/// Finds the viewer's zone for a page (not the API, not the stylesheet) and keeps it for the
/// request, with the caller it authenticated.
pub async fn with_viewer_zone(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/static/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let zone = match authenticate(&parts, &state).await {
        Ok(principal) => {
            let zone = zone_of(&principal, &*state.register().await);
            // The handler finds the caller here rather than authenticating again.
            parts.extensions.insert(principal);
            zone
        }
        Err(_) => TimeZone::UTC,
    };
    let request = Request::from_parts(parts, body);
    VIEWER_ZONE.scope(zone, next.run(request)).await
}

/// The zone of this request's viewer (UTC outside a page request).
pub fn viewer_zone() -> TimeZone {
    VIEWER_ZONE.try_with(Clone::clone).unwrap_or(TimeZone::UTC)
}

/// The zone's name as a label says it: `Europe/Madrid`, `UTC`.
pub fn viewer_zone_name() -> String {
    viewer_zone().iana_name().unwrap_or("UTC").to_owned()
}

/// A moment as people read it: minutes, in the viewer's zone, named (`2026-11-25 11:00 CET`).
pub fn moment(at: Timestamp) -> String {
    at.to_zoned_datetime(viewer_zone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A `datetime-local` value (`2026-11-24T10:30`) read in the viewer's zone.
pub fn local_input(raw: &str) -> Option<Timestamp> {
    let civil: jiff::civil::DateTime = raw.trim().parse().ok()?;
    civil
        .to_zoned_datetime(viewer_zone())
        .ok()
        .map(|zoned| zoned.timestamp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn moments_are_shown_and_read_in_the_viewers_zone() {
        let at: Timestamp = "2026-07-01T10:00:00Z".parse().unwrap();
        assert_eq!(moment(at), "2026-07-01 10:00 UTC", "outside a page: UTC");
        let madrid = TimeZone::get("Europe/Madrid").unwrap();
        VIEWER_ZONE
            .scope(madrid, async {
                assert_eq!(moment(at), "2026-07-01 12:00 CEST");
                assert_eq!(local_input("2026-07-01T12:00"), Some(at));
                assert_eq!(local_input("yesterday"), None);
                assert_eq!(viewer_zone_name(), "Europe/Madrid");
            })
            .await;
    }
}
