//! The privacy-notice page of an organisation: the sections as the register stands (in a
//! sandboxed frame: an organisation's own template may hold any HTML), the published versions
//! with what each changed, whether the latest is out of date, and the publish form.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::notices;
use custos_core::notice::{self, NoticeOptions, NoticeStyle};
use custos_render::{Language, NoticeFormat};
use serde::Deserialize;

use super::confirm::{Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, page};
use crate::api::notices::{may_edit, may_read};
use crate::auth::Via;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NoticeParams {
    style: Option<String>,
    lang: Option<String>,
}

struct VersionRow {
    name: String,
    version: u32,
    language: String,
    style: String,
    published_at: String,
    published_by: String,
    changes: Vec<String>,
    first_or_same: &'static str,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    section: &'static str,
    user_email: String,
    csrf: String,
    id: String,
    name: String,
    on: String,
    style: &'static str,
    lang: &'static str,
    preview: String,
    may_publish: bool,
    versions: Vec<VersionRow>,
    stale: Vec<String>,
}

fn style_and_language(
    style: Option<&str>,
    lang: Option<&str>,
) -> Result<(NoticeStyle, Language), UiError> {
    let style = style
        .map(|s| {
            s.parse::<NoticeStyle>()
                .map_err(|e| ApiError::invalid("style", e))
        })
        .transpose()?
        .unwrap_or_default();
    let language = lang
        .map(|l| {
            l.parse::<Language>()
                .map_err(|e| ApiError::invalid("lang", e))
        })
        .transpose()?
        .unwrap_or_default();
    Ok((style, language))
}

pub async fn notice_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(params): Query<NoticeParams>,
) -> Result<Response, UiError> {
    may_read(&state, &viewer.principal, &id).await?;
    let (style, language) = style_and_language(params.style.as_deref(), params.lang.as_deref())?;
    let on = state.clock.today();
    let register = state.register().await;
    let options = NoticeOptions {
        style,
        activities: Vec::new(),
    };
    let current = notices::generate(&register, &id, &options, on).map_err(ApiError::from)?;
    // Shown as a page of its own: plain type, as on a website without its stylesheet.
    let preview = format!(
        "<!doctype html><meta charset=utf-8><style>body{{font:15px/1.5 system-ui,sans-serif;margin:1rem}}table{{border-collapse:collapse}}th,td{{text-align:left;padding:.2rem .8rem .2rem 0}}</style>{}",
        notices::render_notice(&state.store, &current, NoticeFormat::Html, language)
            .await
            .map_err(ApiError::from)?
    );
    let stored = notices::versions(&state.store, &id)
        .await
        .map_err(ApiError::from)?;
    let mut versions = Vec::with_capacity(stored.len());
    let mut stale = Vec::new();
    for (index, version) in stored.iter().enumerate() {
        let previous = index
            .checked_sub(1)
            .map(|i| &stored[i])
            .filter(|p| p.published.name == version.published.name);
        let changes = previous
            .map(|p| notice::diff(&p.published.notice, &version.published.notice).lines())
            .unwrap_or_default();
        let latest = stored
            .get(index + 1)
            .is_none_or(|next| next.published.name != version.published.name);
        if latest && let Some(found) = notice::out_of_date(&register, &version.published, on) {
            let what = match &found.broken {
                Some(reason) => reason.clone(),
                None => found.diff.lines().join("; "),
            };
            let version_number = version.published.version.to_string();
            let name = version.published.name.to_string();
            let mut args = vec![
                ("version", version_number.as_str()),
                ("name", name.as_str()),
                ("what", what.as_str()),
            ];
            let since = found.since.map(|d| d.to_string());
            stale.push(match &since {
                Some(since) => {
                    args.push(("since", since));
                    tr("notice-stale-since", &args)
                }
                None => tr("notice-stale", &args),
            });
        }
        versions.push(VersionRow {
            name: version.published.name.to_string(),
            version: version.published.version,
            language: version.published.language.clone(),
            style: version.published.options.style.as_str().to_owned(),
            published_at: version.published_at.clone(),
            published_by: version.published_by.clone(),
            changes,
            first_or_same: if previous.is_some() {
                "nothing"
            } else {
                "first version"
            },
        });
    }
    let may_publish = may_edit(&state, &viewer.principal, &id).await.is_ok();
    let name = register
        .organisation(&id)
        .map_or_else(|| id.clone(), |o| o.name.clone());
    Ok(page(&NoticePage {
        section: "organisations",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf,
        id,
        name,
        on: on.to_string(),
        style: style.as_str(),
        lang: language.as_str(),
        preview,
        may_publish,
        versions,
        stale,
    }))
}

#[derive(Deserialize)]
pub struct PublishForm {
    csrf: String,
    name: String,
    style: Option<String>,
    lang: Option<String>,
    /// `yes` once the person has seen what publishing does.
    #[serde(default)]
    confirm: String,
}

pub async fn publish(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(id): Path<String>,
    Form(form): Form<PublishForm>,
) -> Result<Response, UiError> {
    let csrf_ok =
        matches!(&principal.via, Via::Session { csrf_token, .. } if *csrf_token == form.csrf);
    if !csrf_ok {
        return Err(UiError::from(ApiError::Forbidden(
            "the form's CSRF token is not right".to_owned(),
        )));
    }
    may_edit(&state, &principal, &id).await?;
    let (style, language) = style_and_language(form.style.as_deref(), form.lang.as_deref())?;
    let step = Confirmation {
        title: tr("notice-publish-title", &[("name", &form.name), ("id", &id)]),
        consequences: vec![
            tr(
                "notice-publish-version",
                &[
                    ("name", &form.name),
                    ("style", style.as_str()),
                    ("language", language.as_str()),
                ],
            ),
            tr("notice-publish-kept", &[]),
            tr("notice-publish-put-it", &[]),
        ],
        action: format!("/organisations/{id}/notice"),
        button: tr("notice-publish-button", &[]),
        back: format!("/organisations/{id}/notice"),
        hidden: vec![
            ("name".to_owned(), form.name.clone()),
            ("style".to_owned(), style.as_str().to_owned()),
            ("lang".to_owned(), language.as_str().to_owned()),
        ],
        fields: Vec::new(),
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "organisations", &step, None));
    }
    let register = state.register().await;
    let options = NoticeOptions {
        style,
        activities: Vec::new(),
    };
    let published = notices::publish(
        &state.store,
        &register,
        &id,
        &form.name,
        language,
        &options,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from);
    match published {
        Ok(_) => {}
        Err(error) if correctable(&error) => {
            return Ok(ask(
                &principal,
                &form.csrf,
                "organisations",
                &step,
                Some(&error),
            ));
        }
        Err(error) => return Err(error.into()),
    }
    Ok(Redirect::to(&format!(
        "/organisations/{id}/notice?style={}&lang={}",
        style.as_str(),
        language.as_str()
    ))
    .into_response())
}
