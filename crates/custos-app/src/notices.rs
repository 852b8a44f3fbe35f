//! Privacy notices and Art. 30 records as use cases: generate a notice (through the
//! organisation's own template where it wrote one), publish it as an immutable version with its
//! audit entry, keep templates, and the checks with the published notices taken into account.

use crate::Store;
use custos_core::Date;
use custos_core::checks::{Evidence, Report, check_with_evidence};
use custos_core::notice::{self, Notice, NoticeDiff, NoticeError, NoticeOptions};
use custos_core::records::{self, Record, RecordError};
use custos_core::register::Register;
use custos_core::values::Slug;
use custos_render::notice::{TemplateKind, render, validate};
use custos_render::{Document, Language, NoticeFormat, RecordKind};
use custos_store::{NewNoticeVersion, StoredNotice, StoredTemplate};
use serde_json::json;

use crate::AppError;
use crate::audit::Actor;

/// Longest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

impl From<NoticeError> for AppError {
    fn from(error: NoticeError) -> Self {
        match error {
            NoticeError::UnknownOrganisation(id) => Self::NotFound(format!("organisation {id}")),
            NoticeError::UnknownActivity(id) => {
                Self::Invalid(format!("activities: no activity {id:?}"))
            }
            other @ (NoticeError::NotController { .. } | NoticeError::NoActivities(_)) => {
                Self::Invalid(other.to_string())
            }
            NoticeError::Chain(e) => Self::Invalid(e.to_string()),
        }
    }
}

impl From<RecordError> for AppError {
    fn from(error: RecordError) -> Self {
        match error {
            RecordError::UnknownOrganisation(id) => Self::NotFound(format!("organisation {id}")),
            RecordError::Chain(e) => Self::Invalid(e.to_string()),
        }
    }
}

impl From<custos_render::RenderError> for AppError {
    fn from(error: custos_render::RenderError) -> Self {
        Self::Invalid(error.to_string())
    }
}

/// How long rendering one document through a template may take, wall clock.
pub const TEMPLATE_SECONDS: u64 = 10;

/// Runs template work off the async workers, bounded in time (and, inside, in instructions
/// and output: `custos_render::TEMPLATE_FUEL`, `MAX_TEMPLATE_OUTPUT`), so that no template an
/// organisation writes can stall the server.
pub(crate) async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, custos_render::RenderError> + Send + 'static,
) -> Result<T, AppError> {
    let task = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(std::time::Duration::from_secs(TEMPLATE_SECONDS), task).await {
        Ok(Ok(done)) => Ok(done?),
        Ok(Err(failed)) => Err(AppError::Invalid(format!(
            "template: it could not be rendered: {failed}"
        ))),
        Err(_) => Err(AppError::Invalid(format!(
            "template: rendering takes longer than the limit of {TEMPLATE_SECONDS} s"
        ))),
    }
}

/// The notice of `controller` under `options` as of `on`.
pub fn generate(
    register: &Register,
    controller: &str,
    options: &NoticeOptions,
    on: Date,
) -> Result<Notice, AppError> {
    Ok(notice::build(register, controller, options, on)?)
}

/// `notice` as text, through the template of its controller for that format and language
/// when it wrote one.
pub async fn render_notice(
    store: &Store,
    notice: &Notice,
    format: NoticeFormat,
    language: Language,
) -> Result<String, AppError> {
    let custom = match TemplateKind::of_format(format) {
        Some(kind) => {
            let mut tx = store.read().await?;
            tx.template(
                notice.controller.id.as_str(),
                kind.name(),
                language.as_str(),
            )
            .await?
            .map(|t| t.body)
        }
        None => None,
    };
    let notice = notice.clone();
    off_the_workers(move || render(&notice, format, language, custom.as_deref())).await
}

/// Publishes the notice `name` of `controller` as it stands on the actor's day: the next
/// version, stored with its audit entry in one transaction.
pub async fn publish(
    store: &Store,
    register: &Register,
    controller: &str,
    name: &str,
    language: Language,
    options: &NoticeOptions,
    actor: &Actor,
) -> Result<StoredNotice, AppError> {
    let name: Slug = name
        .parse()
        .map_err(|e| AppError::Invalid(format!("name: {e}")))?;
    let on = crate::clock::day_of(actor.at);
    let notice = generate(register, controller, options, on)?;
    let controller_id = notice.controller.id.clone();
    let mut tx = store.begin().await?;
    let stored = tx
        .insert_notice_version(NewNoticeVersion {
            controller: &controller_id,
            name: &name,
            language: language.as_str(),
            options,
            notice: &notice,
            published_at: &actor.at.to_string(),
            published_by: &actor.name,
        })
        .await?;
    let after = json!({
        "version": stored.published.version,
        "language": language.as_str(),
        "options": options,
        "notice": notice,
    });
    tx.append_audit(vec![actor.entry(
        "publish",
        "notice",
        &format!("{controller_id}/{name}/{}", stored.published.version),
        controller_id.to_string(),
        None,
        Some(after.to_string()),
    )])
    .await?;
    tx.commit().await?;
    Ok(stored)
}

/// Every published version of `controller`'s notices.
pub async fn versions(store: &Store, controller: &str) -> Result<Vec<StoredNotice>, AppError> {
    Ok(store.read().await?.notice_versions(controller).await?)
}

/// A version, and what changed since the version before it (none for the first).
pub async fn version_with_diff(
    store: &Store,
    controller: &str,
    name: &str,
    version: u32,
) -> Result<(StoredNotice, Option<NoticeDiff>), AppError> {
    let mut tx = store.read().await?;
    let found = tx
        .notice_version(controller, name, version)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("version {version} of notice {name}")))?;
    let previous = match version.checked_sub(1).filter(|&v| v > 0) {
        Some(before) => tx.notice_version(controller, name, before).await?,
        None => None,
    };
    let changes = previous.map(|p| notice::diff(&p.published.notice, &found.published.notice));
    Ok((found, changes))
}

/// The checks, with `notice-out-of-date` judged on the published notices and each link on
/// its contracts as they read on its day.
pub async fn check(store: &Store, register: &Register, on: Date) -> Result<Report, AppError> {
    let evidence = evidence(store, crate::clock::end_of(on)).await?;
    check_with_evidence(register, on, &evidence).map_err(|e| AppError::Invalid(e.to_string()))
}

/// What the checks read besides the register.
pub async fn evidence(store: &Store, now: jiff::Timestamp) -> Result<Evidence, AppError> {
    Ok(Evidence {
        published: latest_published(store).await?,
        contracts: crate::contracts::history(store, None).await?,
        breaches: crate::breaches::standings(store, now).await?,
    })
}

/// Saves an organisation's template after checking that it renders every kind of notice.
pub async fn put_template(
    store: &Store,
    register: &Register,
    organisation: &str,
    kind: TemplateKind,
    language: Language,
    body: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    if register.organisation(organisation).is_none() {
        return Err(AppError::NotFound(format!("organisation {organisation}")));
    }
    if body.len() > MAX_TEMPLATE_BYTES {
        return Err(AppError::Invalid(format!(
            "template: expected at most {MAX_TEMPLATE_BYTES} bytes"
        )));
    }
    let source = body.to_owned();
    off_the_workers(move || validate(kind, &source, language)).await?;
    let mut tx = store.begin().await?;
    let before = tx
        .template(organisation, kind.name(), language.as_str())
        .await?
        .map(|t| t.body);
    tx.put_template(&StoredTemplate {
        organisation: organisation.to_owned(),
        name: kind.name().to_owned(),
        language: language.as_str().to_owned(),
        body: body.to_owned(),
        updated_at: actor.at.to_string(),
        updated_by: actor.name.clone(),
    })
    .await?;
    tx.append_audit(vec![actor.entry(
        if before.is_some() { "update" } else { "create" },
        "template",
        &format!("{organisation}/{}/{language}", kind.name()),
        organisation.to_owned(),
        before,
        Some(body.to_owned()),
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an organisation's template: the built-in one applies again.
pub async fn delete_template(
    store: &Store,
    organisation: &str,
    kind: TemplateKind,
    language: Language,
    actor: &Actor,
) -> Result<(), AppError> {
    let mut tx = store.begin().await?;
    let before = tx
        .template(organisation, kind.name(), language.as_str())
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "template {} ({language}) of {organisation}",
                kind.name()
            ))
        })?;
    tx.delete_template(organisation, kind.name(), language.as_str())
        .await?;
    tx.append_audit(vec![actor.entry(
        "delete",
        "template",
        &format!("{organisation}/{}/{language}", kind.name()),
        organisation.to_owned(),
        Some(before.body),
        None,
    )])
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation's templates (those it wrote).
pub async fn templates(store: &Store, organisation: &str) -> Result<Vec<StoredTemplate>, AppError> {
    Ok(store.read().await?.templates_of(organisation).await?)
}

/// The Art. 30 record of `organisation` as controller or processor, as of `on`.
pub fn record(
    register: &Register,
    organisation: &str,
    kind: RecordKind,
    on: Date,
) -> Result<Record, AppError> {
    Ok(records::record(register, organisation, kind, on)?)
}

/// The record as a document for the files (the version line says the day it describes), in
/// `language`, or else in the organisation's own (its `language`, English by default).
pub fn document(
    register: &Register,
    record: &Record,
    on: Date,
    language: Option<custos_render::Language>,
) -> Document {
    let organisation = match record {
        Record::Controller(record) => &record.organisation,
        Record::Processor(record) => &record.organisation,
    };
    let language =
        language.unwrap_or_else(|| crate::outbox::language_of(register, organisation.id.as_str()));
    let version = match language {
        custos_render::Language::En => format!("generated {on}"),
        custos_render::Language::Es => format!("generado el {on}"),
    };
    Document::of(record, version, language)
}

/// The latest published version of every notice, for the checks.
pub async fn latest_published(
    store: &Store,
) -> Result<Vec<custos_core::notice::PublishedNotice>, AppError> {
    let mut tx = store.read().await?;
    let published = tx.latest_notices().await?;
    tx.rollback().await?;
    Ok(published)
}
