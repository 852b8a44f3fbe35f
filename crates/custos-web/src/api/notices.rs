//! Privacy-notice sections and Art. 30 records of an organisation: generate, publish versions,
//! read them back with what changed, keep the organisation's own templates, download records.
//!
//! Who may: members of the organisation (any role) and instance administrators read; editors
//! and admins of the organisation (and instance administrators) publish and edit templates.
//! An organisation the caller does not see is 404; one it sees but does not belong to, 403.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_app::data::StoredNotice;
use custos_app::notices;
use custos_core::notice::{NoticeDiff, NoticeOptions, NoticeStyle};
use custos_core::values::Slug;
use custos_render::notice::TemplateKind;
use custos_render::{Language, NoticeFormat, RecordKind};
use serde::{Deserialize, Serialize};

use super::{Body, Params, parse_date};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Whether the caller may read the organisation's notices and records.
pub async fn may_read(
    state: &AppState,
    principal: &Principal,
    organisation: &str,
) -> Result<(), ApiError> {
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    if !visibility.organisation(organisation) || register.organisation(organisation).is_none() {
        return Err(ApiError::not_found(format!(
            "organisation {organisation:?}"
        )));
    }
    if !visibility.member_of(organisation) {
        return Err(ApiError::Forbidden(format!(
            "only members of {organisation} may read its notices and records"
        )));
    }
    Ok(())
}

/// Whether the caller may publish for, or edit the templates of, the organisation.
pub async fn may_edit(
    state: &AppState,
    principal: &Principal,
    organisation: &str,
) -> Result<(), ApiError> {
    may_read(state, principal, organisation).await?;
    if !principal.may_write() {
        return Err(ApiError::Forbidden(
            "this token has no write scope".to_owned(),
        ));
    }
    let editor = principal.may(custos_app::policy::Capacity::Edit, organisation);
    if editor {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only editors and admins of {organisation} may do this"
        )))
    }
}

/// `raw` parsed as a `T`, if given; refused at `field` when it does not parse.
pub(crate) fn parse<T: std::str::FromStr<Err = String>>(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<T>, ApiError> {
    raw.map(|r| r.parse::<T>().map_err(|e| ApiError::invalid(field, e)))
        .transpose()
}

fn activities(field: &str, raw: &[String]) -> Result<Vec<Slug>, ApiError> {
    raw.iter()
        .map(|a| {
            a.parse::<Slug>()
                .map_err(|e| ApiError::invalid(field, format!("{field}: {a:?}: {e}")))
        })
        .collect()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeQuery {
    /// `named` (the default) or `categories`.
    #[param(pattern = "^(named|categories)$")]
    pub style: Option<String>,
    /// Activity ids, comma-separated; default every activity the organisation controls.
    pub activities: Option<String>,
    /// `en` (the default) or `es`.
    #[param(pattern = "^(en|es)$")]
    pub lang: Option<String>,
    /// `json` (the default), `html` or `markdown`.
    #[param(pattern = "^(json|html|markdown)$")]
    pub format: Option<String>,
    /// The day the notice describes (YYYY-MM-DD); default today.
    #[param(format = Date)]
    pub at: Option<String>,
}

/// The notice text with its media type.
fn text_response(format: NoticeFormat, text: String) -> Response {
    let media = match format {
        NoticeFormat::Html => "text/html; charset=utf-8",
        NoticeFormat::Markdown => "text/markdown; charset=utf-8",
        NoticeFormat::Json => "application/json",
    };
    crate::as_document(
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(media))],
            text,
        )
            .into_response(),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/notice",
    tag = "notices",
    params(("id" = String, Path, description = "The controller's id"), NoticeQuery),
    responses(
        (status = 200, description = "The notice's Recipients and Transfers sections as the register stands (nothing is stored)", content(
            ("application/json"), ("text/html"), ("text/markdown"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<NoticeQuery>,
) -> Result<Response, ApiError> {
    may_read(&state, &principal, &id).await?;
    let on = parse_date("at", query.at.as_deref())?.unwrap_or_else(|| state.clock.today());
    let style = parse::<NoticeStyle>("style", query.style.as_deref())?.unwrap_or_default();
    let language = parse::<Language>("lang", query.lang.as_deref())?.unwrap_or_default();
    let format =
        parse::<NoticeFormat>("format", query.format.as_deref())?.unwrap_or(NoticeFormat::Json);
    let asked: Vec<String> = query
        .activities
        .as_deref()
        .map(|a| {
            a.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let options = NoticeOptions {
        style,
        activities: activities("activities", &asked)?,
    };
    let register = state.register().await;
    let notice = notices::generate(&register, &id, &options, on)?;
    let text = notices::render_notice(&state.store, &notice, format, language).await?;
    Ok(text_response(format, text))
}

/// What to publish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The notice's name (a slug): a controller may keep several, one per website or app.
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub name: String,
    /// `named` (the default) or `categories`.
    #[serde(default)]
    #[schema(pattern = "^(named|categories)$")]
    pub style: Option<String>,
    /// The activities it covers; empty or absent: every activity the organisation controls.
    #[serde(default)]
    pub activities: Vec<String>,
    /// `en` (the default) or `es`.
    #[serde(default)]
    #[schema(pattern = "^(en|es)$")]
    pub language: Option<String>,
}

/// A published version, without its content.
#[derive(Debug, Serialize, utoipa::ToSchema, schemars::JsonSchema)]
pub struct VersionSummary {
    pub name: String,
    pub version: u32,
    pub language: String,
    /// `named` or `categories`.
    pub style: String,
    /// The activities it covers; empty: all.
    pub activities: Vec<String>,
    /// The day the notice describes.
    pub on: String,
    pub published_at: String,
    pub published_by: String,
    pub recipients: usize,
    pub categories: usize,
    pub transfers: usize,
}

impl From<&StoredNotice> for VersionSummary {
    fn from(stored: &StoredNotice) -> Self {
        let published = &stored.published;
        Self {
            name: published.name.to_string(),
            version: published.version,
            language: published.language.clone(),
            style: published.options.style.as_str().to_owned(),
            activities: published
                .options
                .activities
                .iter()
                .map(ToString::to_string)
                .collect(),
            on: published.notice.on.to_string(),
            published_at: stored.published_at.clone(),
            published_by: stored.published_by.clone(),
            recipients: published.notice.recipients.len(),
            categories: published.notice.categories.len(),
            transfers: published.notice.transfers.len(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations/{id}/notices",
    tag = "notices",
    params(("id" = String, Path, description = "The controller's id")),
    request_body = PublishRequest,
    responses(
        (status = 201, description = "The next version, stored immutably and audited", body = VersionSummary),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of the organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another version was published at the same moment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Body(request): Body<PublishRequest>,
) -> Result<Response, ApiError> {
    may_edit(&state, &principal, &id).await?;
    let style = parse::<NoticeStyle>("style", request.style.as_deref())?.unwrap_or_default();
    let language = parse::<Language>("language", request.language.as_deref())?.unwrap_or_default();
    let options = NoticeOptions {
        style,
        activities: activities("activities", &request.activities)?,
    };
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let stored = notices::publish(
        &state.store,
        &register,
        &id,
        &request.name,
        language,
        &options,
        &actor,
    )
    .await
    .map_err(|e| match e {
        custos_app::AppError::Invalid(detail) if detail.starts_with("name:") => {
            ApiError::invalid("name", detail)
        }
        other => other.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(VersionSummary::from(&stored)),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/notices",
    tag = "notices",
    params(("id" = String, Path, description = "The controller's id")),
    responses(
        (status = 200, description = "Every published version, by name then version", body = VersionList),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<VersionList>, ApiError> {
    may_read(&state, &principal, &id).await?;
    let versions = notices::versions(&state.store, &id).await?;
    Ok(axum::Json(VersionList {
        items: versions.iter().map(VersionSummary::from).collect(),
    }))
}

/// The published versions of an organisation's notices (one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// `json` (the default: the version, its content and what changed), `html` or `markdown`.
    #[param(pattern = "^(json|html|markdown)$")]
    pub format: Option<String>,
}

/// A version with its content and what changed from the one before.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VersionAnswer {
    #[serde(flatten)]
    pub summary: VersionSummary,
    pub notice: custos_core::notice::Notice,
    /// None for the first version.
    pub changes: Option<NoticeDiff>,
    /// The changes, one line each (`+ Analytics E S.L. (Spain)`).
    pub change_lines: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/notices/{name}/versions/{version}",
    tag = "notices",
    params(
        ("id" = String, Path, description = "The controller's id"),
        ("name" = String, Path, description = "The notice's name"),
        ("version" = u32, Path, description = "The version number, from 1", minimum = 1),
        VersionQuery,
    ),
    responses(
        (status = 200, description = "The version as published, in its language, and what changed from the version before", content(
            ("application/json"), ("text/html"), ("text/markdown"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn version(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, name, version)): Path<(String, String, String)>,
    Params(query): Params<VersionQuery>,
) -> Result<Response, ApiError> {
    may_read(&state, &principal, &id).await?;
    // Versions are numbered from 1: anything else names no version.
    let version: u32 = version
        .parse()
        .map_err(|_| ApiError::not_found(format!("version {version:?} of notice {name:?}")))?;
    let format =
        parse::<NoticeFormat>("format", query.format.as_deref())?.unwrap_or(NoticeFormat::Json);
    let (stored, changes) = notices::version_with_diff(&state.store, &id, &name, version).await?;
    if format == NoticeFormat::Json {
        let change_lines = changes.as_ref().map(NoticeDiff::lines).unwrap_or_default();
        return Ok(axum::Json(VersionAnswer {
            summary: VersionSummary::from(&stored),
            notice: stored.published.notice,
            changes,
            change_lines,
        })
        .into_response());
    }
    let language = stored
        .published
        .language
        .parse::<Language>()
        .unwrap_or_default();
    let text =
        notices::render_notice(&state.store, &stored.published.notice, format, language).await?;
    Ok(text_response(format, text))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// `controller` (Art. 30(1), the default) or `processor` (Art. 30(2)).
    #[param(pattern = "^(controller|processor)$")]
    pub kind: Option<String>,
    /// `json` (the default), `html` (printable), `pdf`, `xlsx` (a sheet per section) or `csv`
    /// (one section).
    #[param(pattern = "^(json|html|pdf|xlsx|csv)$")]
    pub format: Option<String>,
    /// For CSV: `activities`, `recipients`, `transfers` (controller) or `processing`,
    /// `transfers` (processor); default the first.
    pub section: Option<String>,
    /// The day the record describes (YYYY-MM-DD); default today.
    #[param(format = Date)]
    pub at: Option<String>,
    /// The language of an HTML, PDF, XLSX or CSV document: `en` or `es`; default the
    /// organisation's (its `language`).
    #[param(pattern = "^(en|es)$")]
    pub lang: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/records",
    tag = "notices",
    params(("id" = String, Path, description = "The organisation's id"), RecordQuery),
    responses(
        (status = 200, description = "The record of processing activities; files come as attachments", content(
            ("application/json"), ("text/html"), ("application/pdf"),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("text/csv"))),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn records(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<RecordQuery>,
) -> Result<Response, ApiError> {
    may_read(&state, &principal, &id).await?;
    let on = parse_date("at", query.at.as_deref())?.unwrap_or_else(|| state.clock.today());
    let kind =
        parse::<RecordKind>("kind", query.kind.as_deref())?.unwrap_or(RecordKind::Controller);
    let format = query.format.as_deref().unwrap_or("json");
    let register = state.register().await;
    if !["json", "html", "pdf", "xlsx", "csv"].contains(&format) {
        return Err(ApiError::invalid(
            "format",
            format!("format is {format:?}: expected json, html, pdf, xlsx or csv"),
        ));
    }
    let record = notices::record(&register, &id, kind, on)?;
    let file = |extension: &str| {
        format!(
            "attachment; filename=\"ropa-{id}-{}-{on}.{extension}\"",
            kind.as_str()
        )
    };
    let language = parse::<custos_render::Language>("lang", query.lang.as_deref())?;
    let document = || notices::document(&register, &record, on, language);
    let (media, disposition, bytes) = match format {
        "json" => (
            "application/json",
            None,
            serde_json::to_vec(&record).map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        "html" => (
            "text/html; charset=utf-8",
            None,
            document().html().into_bytes(),
        ),
        "pdf" => ("application/pdf", Some(file("pdf")), document().pdf()),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Some(file("xlsx")),
            document()
                .xlsx()
                .map_err(|e| ApiError::Internal(e.to_string()))?,
        ),
        _ => {
            let document = document();
            let bytes = document
                .csv(query.section.as_deref())
                .map_err(|e| match e {
                    custos_render::RenderError::UnknownSection(s) => ApiError::invalid(
                        "section",
                        format!(
                            "section is {s:?}: expected one of {}",
                            document
                                .sections
                                .iter()
                                .map(|s| s.id)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    other => ApiError::Internal(other.to_string()),
                })?;
            ("text/csv; charset=utf-8", Some(file("csv")), bytes)
        }
    };
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(media))],
        bytes,
    )
        .into_response();
    if let Some(disposition) = disposition
        && let Ok(value) = HeaderValue::from_str(&disposition)
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(crate::as_document(response))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// `en` (the default) or `es`.
    #[param(pattern = "^(en|es)$")]
    pub lang: Option<String>,
}

/// A template: the organisation's own, or the built-in one it would use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateAnswer {
    /// `notice.html` or `notice.md`.
    pub name: String,
    pub language: String,
    pub body: String,
    /// Whether this is Custos's built-in template (the organisation wrote none).
    pub builtin: bool,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// A template's new text.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// minijinja source; context `notice`, filters `country` and `date` (docs/notices.md).
    #[schema(max_length = 262144)]
    pub body: String,
}

fn template_kind(name: &str) -> Result<TemplateKind, ApiError> {
    name.parse::<TemplateKind>()
        .map_err(|e| ApiError::invalid("name", e))
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations/{id}/templates/{name}",
    tag = "notices",
    params(
        ("id" = String, Path, description = "The organisation's id"),
        ("name" = String, Path, description = "`notice.html` or `notice.md`", pattern = "^notice\\.(html|md)$"),
        TemplateQuery,
    ),
    responses(
        (status = 200, description = "The organisation's template, or the built-in one", body = TemplateAnswer),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_template(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, name)): Path<(String, String)>,
    Params(query): Params<TemplateQuery>,
) -> Result<axum::Json<TemplateAnswer>, ApiError> {
    may_read(&state, &principal, &id).await?;
    let kind = template_kind(&name)?;
    let language = parse::<Language>("lang", query.lang.as_deref())?.unwrap_or_default();
    let own = notices::templates(&state.store, &id)
        .await?
        .into_iter()
        .find(|t| t.name == kind.name() && t.language == language.as_str());
    Ok(axum::Json(match own {
        Some(t) => TemplateAnswer {
            name: t.name,
            language: t.language,
            body: t.body,
            builtin: false,
            updated_at: Some(t.updated_at),
            updated_by: Some(t.updated_by),
        },
        None => TemplateAnswer {
            name: kind.name().to_owned(),
            language: language.as_str().to_owned(),
            body: kind.builtin(language).to_owned(),
            builtin: true,
            updated_at: None,
            updated_by: None,
        },
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/organisations/{id}/templates/{name}",
    tag = "notices",
    params(
        ("id" = String, Path, description = "The organisation's id"),
        ("name" = String, Path, description = "`notice.html` or `notice.md`", pattern = "^notice\\.(html|md)$"),
        TemplateQuery,
    ),
    request_body = TemplateBody,
    responses(
        (status = 204, description = "Saved (it rendered every kind of notice); audited"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of the organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Does not exist, or is not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The template does not compile or fails on a notice; the problem names the line", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_template(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, name)): Path<(String, String)>,
    Params(query): Params<TemplateQuery>,
    Body(body): Body<TemplateBody>,
) -> Result<StatusCode, ApiError> {
    may_edit(&state, &principal, &id).await?;
    let kind = template_kind(&name)?;
    let language = parse::<Language>("lang", query.lang.as_deref())?.unwrap_or_default();
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    notices::put_template(
        &state.store,
        &register,
        &id,
        kind,
        language,
        &body.body,
        &actor,
    )
    .await
    .map_err(|e| match e {
        custos_app::AppError::Invalid(detail) => ApiError::invalid("body", detail),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/v1/organisations/{id}/templates/{name}",
    tag = "notices",
    params(
        ("id" = String, Path, description = "The organisation's id"),
        ("name" = String, Path, description = "`notice.html` or `notice.md`", pattern = "^notice\\.(html|md)$"),
        TemplateQuery,
    ),
    responses(
        (status = 204, description = "Removed: the built-in template applies again; audited"),
        (status = 401, description = "Not signed in, or the credentials are not valid", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an editor or admin of the organisation, or a read-only token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such template, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input; the problem names what was expected", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_template(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, name)): Path<(String, String)>,
    Params(query): Params<TemplateQuery>,
) -> Result<StatusCode, ApiError> {
    may_edit(&state, &principal, &id).await?;
    let kind = template_kind(&name)?;
    let language = parse::<Language>("lang", query.lang.as_deref())?.unwrap_or_default();
    let actor = principal.actor(state.clock.now());
    notices::delete_template(&state.store, &id, kind, language, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
