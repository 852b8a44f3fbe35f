//! `custos breach ...`: personal-data breaches from the command line, as the server handles
//! them (the server relays, runs the clocks and sends the e-mails).

use std::fmt::Write as _;

use anyhow::Context as _;
use custos_app::breaches::{self, BreachView};
use custos_app::{AppError, Clock};

use crate::cli::{BreachCommand, DocumentFormat};
use crate::{cli_actor, emit, open};

fn view_json(view: &BreachView) -> serde_json::Value {
    serde_json::json!({
        "key": view.breach.key, "party": view.breach.party, "facts": view.breach.facts,
        "version": view.breach.version, "reported_at": view.breach.reported_at,
        "hops": view.hops.iter().map(|h| serde_json::json!({
            "sender": h.hop.sender, "recipient": h.hop.recipient, "received_at": h.received_at,
            "acknowledged_at": h.acknowledged_at, "relayed_by": h.relayed_by,
            "period_hours": h.hop.period_hours()})).collect::<Vec<_>>(),
        "cases": view.cases.iter().map(|c| serde_json::json!({
            "controller": c.scope.controller, "paths": c.scope.paths, "aware_at": c.aware_at,
            "deadline": c.deadline, "decision": c.decision, "filings": c.filings})).collect::<Vec<_>>(),
    })
}

fn view_text(view: &BreachView) -> String {
    let b = &view.breach;
    let mut text = format!(
        "{} breach at {} (facts version {})\nbegan {}, {} aware {}\n{}\n",
        b.key,
        b.party,
        b.version,
        b.facts.occurred_from,
        b.party,
        b.facts.aware_at,
        b.facts.description
    );
    text.push_str("relays (Art. 33(2)):\n");
    for h in &view.hops {
        let _ = writeln!(
            text,
            "  {} -> {}: {}{}",
            h.hop.sender,
            h.hop.recipient,
            h.received_at.as_deref().unwrap_or("not yet"),
            h.acknowledged_at
                .as_deref()
                .map(|a| format!(", acknowledged {a}"))
                .unwrap_or_default()
        );
    }
    text.push_str("controllers (Art. 33(1)):\n");
    for c in &view.cases {
        let _ = writeln!(
            text,
            "  {}: aware {}, 72 hours end {}, {}{}",
            c.scope.controller,
            c.aware_at.as_deref().unwrap_or("not yet"),
            c.deadline.as_deref().unwrap_or("-"),
            c.decision
                .as_ref()
                .map_or("no decision", |d| d.kind.as_str()),
            if c.filings.is_empty() { "" } else { ", filed" }
        );
    }
    text
}

/// One of a fixed list of words (`--kind`, `--exception`), as the JSON API spells them.
fn choice<T: serde::de::DeserializeOwned>(field: &str, raw: &str) -> Result<T, AppError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        AppError::Invalid(format!(
            "{field}: {raw:?} is not one of the choices (see --help)"
        ))
    })
}

pub async fn breach(
    database_url: &str,
    command: BreachCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    match command {
        BreachCommand::Report {
            party,
            facts,
            format,
        } => {
            let raw = std::fs::read_to_string(&facts)
                .with_context(|| format!("cannot read {}", facts.display()))?;
            let parsed = serde_json::from_str(&raw)
                .with_context(|| format!("{}: not the facts of a breach", facts.display()))?;
            let register = custos_app::register::load(&store).await?;
            let view = breaches::report(
                &store,
                &register,
                &party,
                parsed,
                &cli_actor(clock),
                &breaches::Settings::default(),
            )
            .await?;
            emit(format, &view_json(&view), || view_text(&view))?;
        }
        BreachCommand::List {
            organisation,
            format,
        } => {
            let organisations: Option<Vec<String>> = organisation.map(|o| vec![o]);
            let found = breaches::list(&store, organisations.as_deref()).await?;
            let json: Vec<serde_json::Value> = found
                .iter()
                .map(|b| serde_json::json!({"key": b.key, "party": b.party, "occurred_from": b.facts.occurred_from.to_string(), "description": b.facts.description}))
                .collect();
            emit(format, &json, || {
                found
                    .iter()
                    .map(|b| {
                        format!(
                            "{} at {} since {}: {}\n",
                            b.key, b.party, b.facts.occurred_from, b.facts.description
                        )
                    })
                    .collect()
            })?;
        }
        BreachCommand::Relay { key, organisation } => {
            let register = custos_app::register::load(&store).await?;
            let view = breaches::relay(
                &store,
                &register,
                &key,
                &organisation,
                &cli_actor(clock),
                &breaches::Settings::default(),
            )
            .await?;
            print!("{}", view_text(&view));
        }
        BreachCommand::Decide {
            key,
            controller,
            kind,
            reasons,
            exception,
            delay_reasons,
        } => {
            let decision = custos_core::breach::Decision {
                kind: choice("--kind", &kind)?,
                reasons,
                exception: exception
                    .as_deref()
                    .map(|e| choice("--exception", e))
                    .transpose()?,
                delay_reasons,
            };
            let register = custos_app::register::load(&store).await?;
            let view = breaches::decide(
                &store,
                &register,
                &key,
                &controller,
                decision,
                &cli_actor(clock),
            )
            .await?;
            print!("{}", view_text(&view));
        }
        BreachCommand::File {
            key,
            controller,
            submitted_at,
            reference,
        } => {
            let register = custos_app::register::load(&store).await?;
            let filing = breaches::NewFiling {
                submitted_at: submitted_at.unwrap_or_else(|| clock.now()),
                reference,
                version: None,
            };
            let view = breaches::file(
                &store,
                &register,
                &key,
                &controller,
                filing,
                &cli_actor(clock),
            )
            .await?;
            print!("{}", view_text(&view));
        }
        BreachCommand::Show { key, format } => {
            let view = breaches::view(&store, &key).await?;
            emit(format, &view_json(&view), || view_text(&view))?;
        }
        BreachCommand::Affected {
            key,
            controller,
            identifiers,
            format,
        } => {
            let register = custos_app::register::load(&store).await?;
            let lines: Option<Vec<String>> = identifiers
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))
                        .map(|text| {
                            text.lines()
                                .map(str::trim)
                                .filter(|l| !l.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                })
                .transpose()?;
            let affected = breaches::affected(
                &store,
                &register,
                &key,
                controller.as_deref(),
                lines.as_deref(),
                clock.now(),
            )
            .await?;
            emit(format, &affected, || {
                let mut text = format!("{} subjects affected\n", affected.subjects);
                for (activity, count) in &affected.by_activity {
                    let _ = writeln!(text, "  activity {activity}: {count}");
                }
                for (category, count) in &affected.by_category {
                    let _ = writeln!(text, "  category {category}: {count}");
                }
                if let Some(matched) = &affected.matched {
                    let _ = writeln!(text, "of the identifiers given, affected:");
                    for identifier in matched {
                        let _ = writeln!(text, "  {identifier}");
                    }
                }
                text
            })?;
        }
        BreachCommand::Register {
            organisation,
            format,
            output,
        } => {
            let register = custos_app::register::load(&store).await?;
            let rows = breaches::register_of(&store, &organisation).await?;
            let bytes = if format == DocumentFormat::Json {
                serde_json::to_vec_pretty(&rows)?
            } else {
                let document = breaches::register_document(
                    &register,
                    &organisation,
                    &rows,
                    clock.today(),
                    None,
                )?;
                match format {
                    DocumentFormat::Csv => document
                        .csv(None)
                        .map_err(|e| AppError::Invalid(e.to_string()))?,
                    DocumentFormat::Xlsx => document
                        .xlsx()
                        .map_err(|e| AppError::Invalid(e.to_string()))?,
                    DocumentFormat::Pdf => document.pdf(),
                    DocumentFormat::Html | DocumentFormat::Json => document.html().into_bytes(),
                }
            };
            match output {
                Some(path) => std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    use std::io::Write as _;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
        }
    }
    Ok(())
}
