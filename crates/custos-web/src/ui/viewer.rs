//! The viewer of a page: the time zone its times are shown in and the language its words are
//! in, found once per page request by a middleware and kept for the request's task, so no page
//! passes them along.
//!
//! Time: every date and time on a page in the viewer's zone, the zone named, minutes at most
//! (`2026-11-25 11:00 CET`); machine formats only in JSON. The zone is the person's own
//! (`/settings/security`), else their first organisation's (`time_zone` of the register), else
//! UTC. Forms that take a date and time read it in the same zone.
//!
//! Language: the person's own, else their first organisation's (`language` of the register),
//! else English; for someone not signed in, the first of English and Spanish their browser asks
//! for (`Accept-Language`).

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use custos_render::Language;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::auth::{Principal, authenticate};
use crate::state::AppState;

/// What a page needs to know of who reads it.
#[derive(Clone)]
struct Viewer {
    zone: TimeZone,
    language: Language,
}

tokio::task_local! {
    static VIEWER: Viewer;
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

/// The language of `principal`: its own, else its first organisation's that has one, else
/// English.
pub fn language_of(principal: &Principal, register: &custos_core::register::Register) -> Language {
    principal
        .user
        .language
        .as_deref()
        .and_then(|tag| tag.parse().ok())
        .or_else(|| {
            principal
                .memberships
                .iter()
                .filter_map(|m| register.organisation(&m.organisation))
                .find_map(|o| o.language.as_deref().and_then(|tag| tag.parse().ok()))
        })
        .unwrap_or_default()
}

/// The language a browser asks for first among those of Custos (`Accept-Language`, RFC 9110
/// §12.5.4: the highest weight wins, the earlier on a tie); English when it names neither.
pub fn browser_language(headers: &HeaderMap) -> Language {
    let Some(accepted) = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Language::En;
    };
    let mut best: Option<(f32, Language)> = None;
    for item in accepted.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let Ok(language) = primary.parse::<Language>() else {
            continue;
        };
        if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, language));
        }
    }
    best.map_or(Language::En, |(_, language)| language)
}

/// `?lang=` of a public page: another language than the page's own, if Custos has it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LanguageParam {
    #[serde(default)]
    pub lang: Option<String>,
}

impl LanguageParam {
    /// The language asked for; None when none was, or one Custos does not speak.
    pub fn asked(&self) -> Option<Language> {
        asked_language(self.lang.as_deref())
    }
}

/// The language a `lang` parameter asks for, if Custos speaks it.
pub fn asked_language(raw: Option<&str>) -> Option<Language> {
    raw.and_then(|tag| tag.parse().ok())
}

/// Finds the viewer's zone and language for a page (not the API, not the stylesheet) and keeps
/// them for the request, with the caller it authenticated.
pub async fn with_viewer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/static/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let viewer = match authenticate(&parts, &state).await {
        Ok(principal) => {
            let register = state.register().await;
            let viewer = Viewer {
                zone: zone_of(&principal, &register),
                language: language_of(&principal, &register),
            };
            // The handler finds the caller here rather than authenticating again.
            parts.extensions.insert(principal);
            viewer
        }
        Err(_) => Viewer {
            zone: TimeZone::UTC,
            language: browser_language(&parts.headers),
        },
    };
    let request = Request::from_parts(parts, body);
    VIEWER.scope(viewer, next.run(request)).await
}

/// Runs `work` as a viewer in `language` (UTC): for tests of what pages say.
#[cfg(test)]
pub async fn as_viewer<T>(language: Language, work: impl std::future::Future<Output = T>) -> T {
    let viewer = Viewer {
        zone: TimeZone::UTC,
        language,
    };
    VIEWER.scope(viewer, work).await
}

/// The language of this request's viewer (English outside a page request).
pub fn viewer_language() -> Language {
    VIEWER.try_with(|v| v.language).unwrap_or_default()
}

/// The zone of this request's viewer (UTC outside a page request).
pub fn viewer_zone() -> TimeZone {
    VIEWER.try_with(|v| v.zone.clone()).unwrap_or(TimeZone::UTC)
}

/// The zone's name as a label says it: `Europe/Madrid`, `UTC`.
pub fn viewer_zone_name() -> String {
    viewer_zone().iana_name().unwrap_or("UTC").to_owned()
}

/// A moment as people read it: minutes, in the viewer's zone, named (`2026-11-25 11:00 CET`).
pub fn moment(at: Timestamp) -> String {
    custos_app::clock::moment_in(at, &viewer_zone())
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
        let viewer = Viewer {
            zone: madrid,
            language: Language::Es,
        };
        VIEWER
            .scope(viewer, async {
                assert_eq!(moment(at), "2026-07-01 12:00 CEST");
                assert_eq!(local_input("2026-07-01T12:00"), Some(at));
                assert_eq!(local_input("yesterday"), None);
                assert_eq!(viewer_zone_name(), "Europe/Madrid");
                assert_eq!(viewer_language(), Language::Es);
            })
            .await;
        assert_eq!(viewer_language(), Language::En, "outside a page: English");
    }

    #[test]
    fn a_browser_is_answered_in_the_first_language_it_asks_for_that_custos_has() {
        let asking = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(axum::http::header::ACCEPT_LANGUAGE, value.parse().unwrap());
            browser_language(&headers)
        };
        assert_eq!(asking("es-ES,es;q=0.9,en;q=0.8"), Language::Es);
        assert_eq!(asking("de-DE,de;q=0.9,es;q=0.5,en;q=0.4"), Language::Es);
        assert_eq!(asking("en-GB,es;q=0.9"), Language::En);
        assert_eq!(
            asking("es;q=0.2,en;q=0.7"),
            Language::En,
            "weights, not order"
        );
        assert_eq!(asking("es;q=0,fr"), Language::En, "q=0 refuses");
        assert_eq!(asking("fr-FR"), Language::En);
        assert_eq!(browser_language(&HeaderMap::new()), Language::En);
    }
}
