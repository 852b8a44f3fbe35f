//! The public sub-processor page of a processor that asked for one
//! (`public_subprocessor_page: true`): its current sub-processors and the ones it announced
//! (change requests not yet executed or withdrawn), as HTML, JSON and an Atom feed. The channel
//! through which it gives notice; no sign-in. The page and the feed speak the organisation's
//! language (`?lang=en|es` switches the page), country names included.

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use custos_core::change::RequestStatus;
use custos_core::refdata::ReferenceData;
use custos_render::Language;
use custos_render::escape_html as escape;
use serde::Serialize;

use crate::error::ApiError;
use crate::i18n::text;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct SubProcessor {
    id: String,
    name: String,
    country: String,
    services: Vec<String>,
    locations: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Announced {
    request: String,
    id: String,
    name: String,
    country: String,
    service: String,
    replaces: Option<String>,
    announced_at: String,
    status: String,
}

#[derive(Debug, Serialize)]
struct Page {
    organisation: String,
    name: String,
    as_of: String,
    current: Vec<SubProcessor>,
    announced: Vec<Announced>,
}

/// The page of `id` with country names in `language` (None: the organisation's).
async fn page(
    state: &AppState,
    id: &str,
    language: Option<Language>,
) -> Result<(Page, Language), ApiError> {
    let register = state.register().await;
    let organisation = register
        .organisation(id)
        .filter(|o| o.public_subprocessor_page)
        .ok_or_else(|| ApiError::not_found(format!("public sub-processor page of {id:?}")))?;
    let today = state.clock.today();
    let reference = ReferenceData::builtin();
    let language = language.unwrap_or_else(|| custos_app::outbox::language_of(&register, id));
    let country_name = |code| reference.country_name_in(code, language.as_str());
    let mut current: Vec<SubProcessor> = Vec::new();
    for engagement in register
        .engagements()
        .iter()
        .filter(|e| e.engaged_by == organisation.id && e.in_force_on(today))
    {
        let Some(processor) = register.organisation(engagement.processor.as_str()) else {
            continue;
        };
        let at = match current.iter().position(|s| s.id == processor.id.as_str()) {
            Some(at) => at,
            None => {
                current.push(SubProcessor {
                    id: processor.id.to_string(),
                    name: processor.name.clone(),
                    country: country_name(processor.country),
                    services: Vec::new(),
                    locations: Vec::new(),
                });
                current.len() - 1
            }
        };
        let entry = &mut current[at];
        if !entry.services.iter().any(|s| *s == *engagement.service) {
            entry.services.push(engagement.service.to_string());
        }
        for country in engagement.countries(processor.country) {
            let name = country_name(country);
            if !entry.locations.contains(&name) {
                entry.locations.push(name);
            }
        }
    }
    current.sort_by(|a, b| a.name.cmp(&b.name));
    let announced = custos_app::changes::requests(&state.store, Some(&[id.to_owned()]))
        .await?
        .into_iter()
        .filter(|r| {
            r.spec.requester == organisation.id
                && matches!(r.status, RequestStatus::Open | RequestStatus::Approved)
        })
        .map(|r| Announced {
            request: r.key,
            id: r.spec.dossier.candidate.id.to_string(),
            name: r.spec.dossier.candidate.name.clone(),
            country: country_name(r.spec.dossier.candidate.country),
            service: r.spec.service.clone(),
            replaces: r.spec.replaces.as_ref().map(ToString::to_string),
            announced_at: r.filed_at,
            status: r.status.as_str().to_owned(),
        })
        .collect();
    Ok((
        Page {
            organisation: organisation.id.to_string(),
            name: organisation.name.clone(),
            as_of: today.to_string(),
            current,
            announced,
        },
        language,
    ))
}

pub async fn json(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let (page, _) = page(&state, &id, Some(Language::En)).await?;
    serde_json::to_value(page)
        .map(axum::Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn html(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<super::viewer::LanguageParam>,
) -> Result<Response, ApiError> {
    let (page, language) = page(&state, &id, query.asked()).await?;
    let t = |id: &str| escape(&text(language, id, &[]));
    let id = escape(&page.organisation);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/static/custos.css\">\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/public/organisations/{id}/subprocessors.atom\" title=\"{feed}\"></head>\
         <body><main id=\"content\"><p class=\"meta\">{switch} <a href=\"?lang=en\" hreflang=\"en\" lang=\"en\">English</a> · <a href=\"?lang=es\" hreflang=\"es\" lang=\"es\">Español</a></p>\
         <h1>{title}</h1><p class=\"lead\">{as_of} \
         <a href=\"/public/organisations/{id}/subprocessors.atom\">{subscribe}</a> · \
         <a href=\"/public/organisations/{id}/subprocessors.json\">JSON</a></p><h2>{current}</h2>",
        lang = language.as_str(),
        title = escape(&text(
            language,
            "subprocessors-title",
            &[("name", &page.name)]
        )),
        feed = escape(&text(
            language,
            "subprocessors-feed-title",
            &[("name", &page.name)]
        )),
        switch = t("language-switch"),
        as_of = escape(&text(
            language,
            "subprocessors-as-of",
            &[("date", &page.as_of)]
        )),
        subscribe = t("subprocessors-subscribe"),
        current = t("subprocessors-current"),
    );
    if page.current.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{}</p>", t("subprocessors-none"));
    } else {
        let _ = write!(
            out,
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            t("subprocessors-col-subprocessor"),
            t("subprocessors-col-country"),
            t("subprocessors-col-service"),
            t("subprocessors-col-locations"),
        );
        for s in &page.current {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                escape(&s.country),
                escape(&s.services.join("; ")),
                escape(&s.locations.join(", "))
            );
        }
        out.push_str("</tbody></table></div>");
    }
    let _ = write!(out, "<h2>{}</h2>", t("subprocessors-announced"));
    if page.announced.is_empty() {
        let _ = write!(
            out,
            "<p class=\"empty\">{}</p>",
            t("subprocessors-none-announced")
        );
    } else {
        let _ = write!(
            out,
            "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
            t("subprocessors-col-candidate"),
            t("subprocessors-col-country"),
            t("subprocessors-col-will-do"),
            t("subprocessors-col-replaces"),
            t("subprocessors-col-announced-on"),
        );
        for a in &page.announced {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.name),
                escape(&a.country),
                escape(&a.service),
                escape(a.replaces.as_deref().unwrap_or("—")),
                escape(&a.announced_at)
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</main></body></html>");
    Ok(Html(out).into_response())
}

pub async fn atom(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (page, language) = page(&state, &id, None).await?;
    let updated = page
        .announced
        .iter()
        .map(|a| a.announced_at.as_str())
        .max()
        .map_or_else(|| format!("{}T00:00:00Z", page.as_of), str::to_owned);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>{title}</title><id>urn:custos:subprocessors:{id}</id>\
         <updated>{updated}</updated><link rel=\"alternate\" href=\"/public/organisations/{id}/subprocessors\"/>",
        title = escape(&text(
            language,
            "subprocessors-feed-title",
            &[("name", &page.name)]
        )),
        id = escape(&page.organisation),
    );
    for a in &page.announced {
        let _ = write!(
            out,
            "<entry><title>{title}</title><id>urn:custos:change-request:{key}</id>\
             <updated>{at}</updated><author><name>{name}</name></author>\
             <summary>{summary}</summary></entry>",
            title = escape(&text(
                language,
                "subprocessors-feed-entry",
                &[
                    ("name", &page.name),
                    ("candidate", &a.name),
                    ("country", &a.country)
                ]
            )),
            name = escape(&page.name),
            key = escape(&a.request),
            at = escape(&a.announced_at),
            summary = escape(&text(
                language,
                "subprocessors-feed-summary",
                &[
                    ("candidate", &a.name),
                    ("country", &a.country),
                    ("service", &a.service),
                    ("status", &a.status),
                    (
                        "replaces",
                        &a.replaces
                            .as_deref()
                            .map(|r| text(
                                language,
                                "subprocessors-feed-replacing",
                                &[("replaced", r)]
                            ))
                            .unwrap_or_default()
                    ),
                ]
            )),
        );
    }
    out.push_str("</feed>\n");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        )],
        out,
    )
        .into_response())
}
