//! The public sub-processor page of a processor that asked for one
//! (`public_subprocessor_page: true`): its current sub-processors and the ones it announced
//! (change requests not yet executed or withdrawn), as HTML, JSON and an Atom feed. The channel
//! through which it gives notice; no sign-in.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use custos_core::change::RequestStatus;
use custos_core::refdata::ReferenceData;
use custos_render::escape_html as escape;
use serde::Serialize;

use crate::error::ApiError;
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

async fn page(state: &AppState, id: &str) -> Result<Page, ApiError> {
    let register = state.register().await;
    let organisation = register
        .organisation(id)
        .filter(|o| o.public_subprocessor_page)
        .ok_or_else(|| ApiError::not_found(format!("public sub-processor page of {id:?}")))?;
    let today = state.clock.today();
    let reference = ReferenceData::builtin();
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
                    country: reference.country_name(processor.country),
                    services: Vec::new(),
                    locations: Vec::new(),
                });
                current.len() - 1
            }
        };
        let entry = &mut current[at];
        if !entry.services.contains(&engagement.service) {
            entry.services.push(engagement.service.clone());
        }
        for country in engagement.countries(processor.country) {
            let name = reference.country_name(country);
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
            country: reference.country_name(r.spec.dossier.candidate.country),
            service: r.spec.service.clone(),
            replaces: r.spec.replaces.as_ref().map(ToString::to_string),
            announced_at: r.filed_at,
            status: r.status.as_str().to_owned(),
        })
        .collect();
    Ok(Page {
        organisation: organisation.id.to_string(),
        name: organisation.name.clone(),
        as_of: today.to_string(),
        current,
        announced,
    })
}

pub async fn json(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let page = page(&state, &id).await?;
    serde_json::to_value(page)
        .map(axum::Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn html(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let page = page(&state, &id).await?;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sub-processors of {name}</title><link rel=\"stylesheet\" href=\"/static/custos.css\">\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/public/organisations/{id}/subprocessors.atom\" title=\"Changes\"></head>\
         <body><main id=\"content\"><h1>Sub-processors of {name}</h1><p class=\"lead\">As of {as_of}. \
         <a href=\"/public/organisations/{id}/subprocessors.atom\">Subscribe to changes (Atom)</a> · \
         <a href=\"/public/organisations/{id}/subprocessors.json\">JSON</a></p><h2>Current</h2>",
        name = escape(&page.name),
        id = escape(&page.organisation),
        as_of = page.as_of,
    );
    if page.current.is_empty() {
        out.push_str("<p class=\"empty\">None.</p>");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">Sub-processor</th><th scope=\"col\">Country</th><th scope=\"col\">What it does</th><th scope=\"col\">Where</th></tr></thead><tbody>");
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
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Announced</h2>");
    if page.announced.is_empty() {
        out.push_str("<p class=\"empty\">No change announced.</p>");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">Candidate</th><th scope=\"col\">Country</th><th scope=\"col\">What it will do</th><th scope=\"col\">Replaces</th><th scope=\"col\">Announced</th></tr></thead><tbody>");
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
        out.push_str("</tbody></table>");
    }
    out.push_str("</main></body></html>");
    Ok(Html(out).into_response())
}

pub async fn atom(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let page = page(&state, &id).await?;
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
         <title>Sub-processor changes of {name}</title><id>urn:custos:subprocessors:{id}</id>\
         <updated>{updated}</updated><link rel=\"alternate\" href=\"/public/organisations/{id}/subprocessors\"/>",
        name = escape(&page.name),
        id = escape(&page.organisation),
    );
    for a in &page.announced {
        let _ = write!(
            out,
            "<entry><title>{name} announces {candidate} ({country})</title><id>urn:custos:change-request:{key}</id>\
             <updated>{at}</updated><author><name>{name}</name></author>\
             <summary>{candidate} ({country}) as a sub-processor: {service}{replaces}. Status: {status}.</summary></entry>",
            name = escape(&page.name),
            candidate = escape(&a.name),
            country = escape(&a.country),
            key = escape(&a.request),
            at = escape(&a.announced_at),
            service = escape(&a.service),
            replaces = a
                .replaces
                .as_deref()
                .map(|r| format!(", replacing {}", escape(r)))
                .unwrap_or_default(),
            status = a.status,
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
