//! `custos change ...` and `custos webhook ...`: the sub-processor workflow from the command
//! line, as a trusted operator (the audit log names the operating-system user).

use anyhow::Context as _;
use custos_app::Clock;
use custos_app::changes::{self, Outside, RequestView};
use custos_app::register as usecase;
use custos_core::change::{ChangeRequestSpec, DecisionKind};

use crate::cli::{ChangeCommand, DecisionArg, WebhookCommand};
use crate::{cli_actor, emit, open};

fn view_json(view: &RequestView) -> serde_json::Value {
    serde_json::json!({
        "key": view.request.key,
        "status": view.request.status.as_str(),
        "spec": view.request.spec,
        "dossier_version": view.request.dossier_version,
        "filed_at": view.request.filed_at,
        "executed_at": view.request.executed_at,
        "controllers": view.parties.iter().map(|p| serde_json::json!({
            "controller": p.addressee.controller,
            "mode": p.addressee.mode,
            "state": p.state.as_str(),
            "deadline": p.deadline,
            "paths": p.addressee.paths,
            "criteria": p.addressee.criteria,
        })).collect::<Vec<_>>(),
        "history": view.history.iter().map(|h| serde_json::json!({
            "organisation": h.organisation, "kind": h.kind, "at": h.at, "by": h.by, "body": h.body,
        })).collect::<Vec<_>>(),
    })
}

fn view_text(view: &RequestView) -> String {
    let spec = &view.request.spec;
    let mut text = format!(
        "change request {} ({})\n  {} asks to engage {} ({}) for: {}\n",
        view.request.key,
        view.request.status.as_str(),
        spec.requester,
        spec.dossier.candidate.name,
        spec.dossier.candidate.country,
        spec.service
    );
    for party in &view.parties {
        let mode = party.addressee.mode.as_str();
        text.push_str(&format!(
            "  {:<24} {:<22} {mode:<9} deadline {}\n",
            party.addressee.controller.as_str(),
            party.state.as_str(),
            party.deadline.as_deref().unwrap_or("-")
        ));
    }
    for entry in &view.history {
        text.push_str(&format!(
            "  {}  {:<18} {} ({})\n",
            entry.at, entry.kind, entry.organisation, entry.by
        ));
    }
    text
}

pub async fn change(
    database_url: &str,
    command: ChangeCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let actor = cli_actor(clock);
    let (view, format) = match command {
        ChangeCommand::File { file, format } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let spec: ChangeRequestSpec = serde_saphyr::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let register = usecase::load(&store).await?;
            (
                changes::file(
                    &store,
                    &register,
                    spec,
                    &actor,
                    &changes::Settings::default(),
                )
                .await?,
                format,
            )
        }
        ChangeCommand::List { format } => {
            let requests = changes::requests(&store, None).await?;
            let listing: Vec<serde_json::Value> = requests
                .iter()
                .map(|r| serde_json::json!({"key": r.key, "status": r.status.as_str(), "requester": r.spec.requester,
                                             "candidate": r.spec.dossier.candidate.id, "filed_at": r.filed_at}))
                .collect();
            emit(format, &listing, || {
                requests
                    .iter()
                    .map(|r| {
                        format!(
                            "{}  {:<9} {} -> {}\n",
                            r.key,
                            r.status.as_str(),
                            r.spec.requester,
                            r.spec.dossier.candidate.id
                        )
                    })
                    .collect()
            })?;
            return Ok(());
        }
        ChangeCommand::Show { key, format } => (changes::view(&store, &key).await?, format),
        ChangeCommand::Decide {
            key,
            controller,
            decision,
            reasons,
            outside,
            format,
        } => {
            let register = usecase::load(&store).await?;
            let decision = match decision {
                DecisionArg::Approve => DecisionKind::Approve,
                DecisionArg::Object => DecisionKind::Object,
                DecisionArg::RequestInformation => DecisionKind::RequestInformation,
            };
            let outside = outside.map(|description| Outside {
                description,
                attachment: None,
            });
            (
                changes::decide(
                    &store,
                    &register,
                    &key,
                    &controller,
                    decision,
                    reasons,
                    outside,
                    &actor,
                )
                .await?,
                format,
            )
        }
        ChangeCommand::Execute { key, format } => {
            (changes::execute(&store, &key, &actor).await?, format)
        }
    };
    emit(format, &view_json(&view), || view_text(&view))
}

pub async fn webhook(
    database_url: &str,
    command: WebhookCommand,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let store = open(database_url).await?;
    let actor = cli_actor(clock);
    match command {
        WebhookCommand::Add {
            organisation,
            url,
            events,
        } => {
            let subscription = custos_app::webhooks::subscribe(
                &store,
                &organisation,
                &url,
                events,
                custos_app::outbound::Outbound::from_env(),
                &actor,
            )
            .await?;
            println!("webhook {} for {organisation} -> {url}", subscription.key);
            println!("signing secret (shown once): {}", subscription.secret);
        }
        WebhookCommand::Enable { key } => {
            custos_app::webhooks::set_subscription_enabled(&store, &key, true, &actor).await?;
            println!("webhook {key} enabled: its held deliveries are due now");
        }
        WebhookCommand::Disable { key } => {
            custos_app::webhooks::set_subscription_enabled(&store, &key, false, &actor).await?;
            println!("webhook {key} disabled: its deliveries are held");
        }
        WebhookCommand::Deliveries { key, format } => {
            let log = custos_app::webhooks::deliveries(&store, &key, 500).await?;
            let listing: Vec<serde_json::Value> = log
                .iter()
                .map(|d| serde_json::json!({"event": d.event_key, "type": d.event_type, "state": d.state,
                    "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
                    "delivered_at": d.delivered_at}))
                .collect();
            emit(format, &listing, || {
                log.iter()
                    .map(|d| {
                        format!(
                            "{}  {:<32} {:<9} attempts {}  {}\n",
                            d.event_key,
                            d.event_type,
                            d.state,
                            d.attempts,
                            d.last_error.as_deref().unwrap_or("")
                        )
                    })
                    .collect()
            })?;
        }
    }
    Ok(())
}
