//! `custos request ...`: data-subject requests from the command line, as the server handles
//! them (the server sends the e-mails the outbox holds and fires the timers).

use std::fmt::Write as _;

use anyhow::Context as _;
use custos_app::register as usecase;
use custos_app::rights::{self, NewRequest, Received, SubjectRequestView};
use custos_app::{AppError, Clock};

use crate::cli::{AnswerFormat, RequestCommand};
use crate::{cli_actor, emit, open};

fn view_json(view: &SubjectRequestView) -> serde_json::Value {
    let r = &view.request;
    serde_json::json!({
        "key": r.key, "controller": r.controller, "kind": r.kind.as_str(),
        "status": r.status.as_str(), "channel": r.channel, "email": r.email,
        "received_at": r.received_at, "deadline": r.deadline, "due": view.due(),
        "extended_until": r.extended_until, "verified_at": r.verified_at,
        "verification": r.verification, "closed_at": r.closed_at, "outcome": r.outcome,
        "history": view.history.iter().map(|h| serde_json::json!({"kind": h.kind, "at": h.at, "by": h.by, "body": h.body})).collect::<Vec<_>>(),
        "notifications": view.notifications.iter().map(|n| serde_json::json!({
            "key": n.key, "recipient": n.recipient, "relayed_by": n.relayed_by,
            "state": n.state.as_str(), "note": n.note,
        })).collect::<Vec<_>>(),
    })
}

fn view_text(view: &SubjectRequestView) -> String {
    let r = &view.request;
    let mut text = format!(
        "{} {} request to {} ({})\nreceived {}, due {}\nsubject: {}\nidentity: {}\n",
        r.key,
        r.kind,
        r.controller,
        r.status.as_str(),
        r.received_at,
        view.due(),
        r.email.as_deref().unwrap_or("erased"),
        r.verification.as_deref().unwrap_or("not verified"),
    );
    if !view.notifications.is_empty() {
        text.push_str("recipients told (Art. 19):\n");
        for n in &view.notifications {
            let _ = writeln!(
                text,
                "  {} {}{}",
                n.recipient,
                n.state.as_str(),
                n.relayed_by
                    .as_deref()
                    .map(|b| format!(", relayed by {b}"))
                    .unwrap_or_default()
            );
        }
    }
    for h in &view.history {
        let _ = writeln!(text, "  {} {} by {}", h.at, h.kind, h.by);
    }
    text
}

fn write_or_print(
    output: Option<&std::path::Path>,
    bytes: &[u8],
    binary: bool,
) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None if binary => Err(AppError::Invalid(
            "this format is binary: write it to a file with --output FILE".to_owned(),
        )
        .into()),
        None => {
            print!("{}", String::from_utf8_lossy(bytes));
            Ok(())
        }
    }
}

pub async fn request(
    database_url: &str,
    command: RequestCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let register = usecase::load(&store).await?;
    let settings = rights::Settings::from_env()?;
    let actor = cli_actor(clock);
    let shown = match command {
        RequestCommand::Enter {
            controller,
            kind,
            email,
            details,
            transmit_to,
            received,
        } => {
            let new = NewRequest {
                controller: controller
                    .parse()
                    .map_err(|e| AppError::Invalid(format!("--controller: {e}")))?,
                kind: kind
                    .parse()
                    .map_err(|e: String| AppError::Invalid(format!("--kind: {e}")))?,
                email,
                details,
                transmit_to,
                received_on: received,
            };
            match rights::receive(&store, &register, new, "staff", &actor, &settings).await? {
                Received::Filed { view, .. } => Some(*view),
                Received::Throttled => anyhow::bail!(
                    "too many requests for this address this hour: nothing was entered"
                ),
            }
        }
        RequestCommand::List {
            controller,
            open,
            format,
        } => {
            let only = controller.map(|c| vec![c]);
            let requests: Vec<_> = rights::list(&store, only.as_deref())
                .await?
                .into_iter()
                .filter(|r| !open || r.status.open())
                .collect();
            let json: Vec<_> = requests
                .iter()
                .map(|r| serde_json::json!({"key": r.key, "controller": r.controller, "kind": r.kind.as_str(),
                    "status": r.status.as_str(), "received_at": r.received_at,
                    "due": r.extended_until.as_deref().unwrap_or(&r.deadline)}))
                .collect();
            emit(format, &json, || {
                let mut text = String::new();
                for r in &requests {
                    let _ = writeln!(
                        text,
                        "{}  {:<13} {:<9} {}  due {}",
                        r.key,
                        r.kind.as_str(),
                        r.status.as_str(),
                        r.controller,
                        r.extended_until.as_deref().unwrap_or(&r.deadline)
                    );
                }
                if text.is_empty() {
                    text.push_str("no request\n");
                }
                text
            })?;
            None
        }
        RequestCommand::Show { key, format } => {
            let view = rights::view(&store, &key).await?;
            emit(format, &view_json(&view), || view_text(&view))?;
            None
        }
        RequestCommand::Verify {
            key,
            method,
            evidence,
        } => Some(
            rights::record_verification(&store, &register, &key, &method, &evidence, &actor)
                .await?,
        ),
        RequestCommand::Extend { key, reasons } => {
            Some(rights::extend(&store, &register, &key, &reasons, &actor, &settings).await?)
        }
        RequestCommand::Notify { key } => {
            Some(rights::notify_recipients(&store, &register, &key, &actor, &settings).await?)
        }
        RequestCommand::Close { key, note } => {
            Some(rights::close(&store, &register, &key, &note, &actor).await?)
        }
        RequestCommand::Refuse { key, reasons } => {
            Some(rights::refuse(&store, &register, &key, &reasons, &actor).await?)
        }
        RequestCommand::Answer {
            key,
            format,
            output,
        } => {
            let report = rights::access_report(&store, &register, &key, clock.now()).await?;
            let document = || custos_render::rights::access_document(&report);
            match format {
                AnswerFormat::Json => write_or_print(
                    output.as_deref(),
                    (serde_json::to_string_pretty(&report)? + "\n").as_bytes(),
                    false,
                )?,
                AnswerFormat::Html => {
                    write_or_print(output.as_deref(), document().html().as_bytes(), false)?;
                }
                AnswerFormat::Pdf => write_or_print(output.as_deref(), &document().pdf(), true)?,
                AnswerFormat::Text => {
                    let mut text = String::new();
                    for r in &report.recipients {
                        let _ = writeln!(
                            text,
                            "{} ({}){}: {}; since {}",
                            r.name,
                            r.country,
                            r.through
                                .as_ref()
                                .map(|t| format!(", processor of {t}"))
                                .unwrap_or_default(),
                            crate::output::slugs(&r.categories),
                            r.since
                        );
                    }
                    for t in &report.transfers {
                        let _ = writeln!(
                            text,
                            "transfer to {} ({}) on {}",
                            t.importer, t.destination, t.mechanism
                        );
                    }
                    if let Some(named) = &report.activity_recipients {
                        let _ = writeln!(text, "{}", named.reason);
                        for r in &named.recipients {
                            let _ = writeln!(
                                text,
                                "{} ({}): recipient of {}",
                                r.name,
                                r.country,
                                crate::output::slugs(&r.activities)
                            );
                        }
                    }
                    write_or_print(output.as_deref(), text.as_bytes(), false)?;
                }
            }
            None
        }
        RequestCommand::Export { key, output } => {
            let (zip, manifest) = rights::export_for_download(
                &store,
                &key,
                custos_app::outbound::Outbound::from_env(),
                &actor,
            )
            .await?;
            write_or_print(Some(&output), &zip, true)?;
            println!(
                "{} file(s) written to {}",
                manifest.files.len(),
                output.display()
            );
            None
        }
    };
    if let Some(view) = shown {
        print!("{}", view_text(&view));
    }
    Ok(())
}
