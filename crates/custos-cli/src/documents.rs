//! `custos notice ...` and `custos ropa`: notices and records from the database or manifests.

use std::io::{IsTerminal, Write as _};
use std::path::Path;

use anyhow::Context as _;
use custos_app::notices;
use custos_app::register as usecase;
use custos_app::{Clock, manifest_files};
use custos_core::notice::{NoticeOptions, NoticeStyle};
use custos_core::register::Register;
use custos_core::values::Slug;
use custos_render::{Language, NoticeFormat, RecordKind};

use crate::cli::{
    LanguageArg, NoticeCommand, NoticeFormatArg, NoticeSelection, NoticeStyleArg, RopaArgs,
    RopaFormat,
};
use crate::{cli_actor, emit, open};

impl From<LanguageArg> for Language {
    fn from(arg: LanguageArg) -> Self {
        match arg {
            LanguageArg::En => Self::En,
            LanguageArg::Es => Self::Es,
        }
    }
}

fn options(selection: &NoticeSelection) -> anyhow::Result<NoticeOptions> {
    let activities = selection
        .activities
        .iter()
        .map(|a| {
            a.parse::<Slug>()
                .map_err(|e| anyhow::anyhow!("--activity {a:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(NoticeOptions {
        style: match selection.style {
            NoticeStyleArg::Named => NoticeStyle::Named,
            NoticeStyleArg::Categories => NoticeStyle::Categories,
        },
        activities,
    })
}

async fn register_of(database_url: &str, from: &[std::path::PathBuf]) -> anyhow::Result<Register> {
    Ok(if from.is_empty() {
        usecase::load(&open(database_url).await?).await?
    } else {
        usecase::parse(&manifest_files::read(from)?)?
    })
}

pub async fn notice(
    database_url: &str,
    command: NoticeCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    match command {
        NoticeCommand::Generate(args) => {
            let register = register_of(database_url, &args.from).await?;
            let on = args.at.unwrap_or_else(|| clock.today());
            let notice = notices::generate(
                &register,
                &args.selection.organisation,
                &options(&args.selection)?,
                on,
            )?;
            let format = match args.format {
                NoticeFormatArg::Html => NoticeFormat::Html,
                NoticeFormatArg::Markdown => NoticeFormat::Markdown,
                NoticeFormatArg::Json => NoticeFormat::Json,
            };
            let language = args.selection.lang.into();
            let text = match (&args.template, args.from.is_empty()) {
                (Some(path), _) => {
                    let template = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    custos_render::notice::render(&notice, format, language, Some(&template))?
                }
                (None, true) => {
                    let store = open(database_url).await?;
                    notices::render_notice(&store, &notice, format, language).await?
                }
                (None, false) => custos_render::notice::render(&notice, format, language, None)?,
            };
            print!("{text}");
        }
        NoticeCommand::Publish(args) => {
            let store = open(database_url).await?;
            let register = usecase::load(&store).await?;
            let stored = notices::publish(
                &store,
                &register,
                &args.selection.organisation,
                &args.name,
                args.selection.lang.into(),
                &options(&args.selection)?,
                &cli_actor(clock),
            )
            .await?;
            println!(
                "published version {} of notice {:?} of {} ({} recipient(s), {} categor(ies), {} transfer(s))",
                stored.published.version,
                stored.published.name.as_str(),
                stored.published.controller,
                stored.published.notice.recipients.len(),
                stored.published.notice.categories.len(),
                stored.published.notice.transfers.len(),
            );
        }
        NoticeCommand::Versions {
            organisation,
            format,
        } => {
            let store = open(database_url).await?;
            let versions = notices::versions(&store, &organisation).await?;
            let listing: Vec<serde_json::Value> = versions
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "name": v.published.name,
                        "version": v.published.version,
                        "language": v.published.language,
                        "style": v.published.options.style,
                        "published_at": v.published_at,
                        "published_by": v.published_by,
                    })
                })
                .collect();
            emit(format, &listing, || {
                if versions.is_empty() {
                    return format!("{organisation} has published no notice\n");
                }
                versions
                    .iter()
                    .map(|v| {
                        format!(
                            "{} v{}  {}  {:?}  {}  by {}\n",
                            v.published.name,
                            v.published.version,
                            v.published.language,
                            v.published.options.style,
                            v.published_at,
                            v.published_by
                        )
                    })
                    .collect()
            })?;
        }
        NoticeCommand::Diff {
            organisation,
            name,
            version,
            format,
        } => {
            let store = open(database_url).await?;
            let version = match version {
                Some(v) => v,
                None => notices::versions(&store, &organisation)
                    .await?
                    .iter()
                    .filter(|v| v.published.name.as_str() == name)
                    .map(|v| v.published.version)
                    .max()
                    .ok_or_else(|| {
                        anyhow::anyhow!("{organisation} has published no notice {name:?}")
                    })?,
            };
            let (stored, changes) =
                notices::version_with_diff(&store, &organisation, &name, version).await?;
            let value =
                serde_json::json!({"version": stored.published.version, "changes": changes});
            emit(format, &value, || match &changes {
                None => format!("version {version} is the first version of {name:?}\n"),
                Some(changes) if changes.is_empty() => {
                    format!(
                        "version {version} says the same as version {}\n",
                        version - 1
                    )
                }
                Some(changes) => {
                    let mut text = format!("version {} -> {version}\n", version - 1);
                    for line in changes.lines() {
                        text.push_str(&line);
                        text.push('\n');
                    }
                    text
                }
            })?;
        }
    }
    Ok(())
}

pub async fn ropa(database_url: &str, args: &RopaArgs, clock: &dyn Clock) -> anyhow::Result<()> {
    let register = register_of(database_url, &args.from).await?;
    let on = args.at.unwrap_or_else(|| clock.today());
    let kind = if args.processor {
        RecordKind::Processor
    } else {
        RecordKind::Controller
    };
    let record = notices::record(&register, &args.organisation, kind, on)?;
    let language = args.lang.map(custos_render::Language::from);
    let document = || notices::document(&register, &record, on, language);
    let bytes = match args.format {
        RopaFormat::Html => document().html().into_bytes(),
        RopaFormat::Pdf => document().pdf(),
        RopaFormat::Xlsx => document().xlsx()?,
        RopaFormat::Csv => document().csv(args.section.as_deref())?,
        RopaFormat::Json => {
            let mut json = serde_json::to_string_pretty(&record)?;
            json.push('\n');
            json.into_bytes()
        }
    };
    write_out(
        args.output.as_deref(),
        &bytes,
        matches!(args.format, RopaFormat::Pdf | RopaFormat::Xlsx),
    )
}

/// Writes to the file, or to standard output unless that is a terminal and the bytes binary.
fn write_out(output: Option<&Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            if binary && stdout.is_terminal() {
                anyhow::bail!("this format is binary: write it to a file with --output FILE");
            }
            stdout.write_all(bytes)?;
            Ok(stdout.flush()?)
        }
    }
}
