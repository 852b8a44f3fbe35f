//! The workflow targets: a hosting provider in the chains of 100k controllers files one
//! request (every controller computed, its decision row, timers, event and e-mail written), and
//! the dispatcher's throughput to a webhook receiver on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use custos_app::outbox::{Dispatcher, Mailer};
use custos_app::{Actor, FixedClock, stamp};
use custos_core::change::ChangeRequestSpec;
use custos_core::model::{
    Activity, AuthorisationMode, Contact, Contract, Engagement, LawfulBasis, NoticeChannel,
    Organisation, OrganisationKind, SubprocessingTerms,
};
use custos_core::register::{Register, RegisterParts};
use custos_core::values::Slug;
use custos_store::{NewDelivery, NewEvent, Store, Subscription};

fn slug(s: String) -> anyhow::Result<Slug> {
    s.parse().map_err(|e| anyhow::anyhow!("{e}"))
}

fn organisation(id: &str, name: String) -> anyhow::Result<Organisation> {
    Ok(Organisation {
        translations: Default::default(),
        id: slug(id.to_owned())?,
        name,
        country: "ES".parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        kind: OrganisationKind::Company,
        international_organisation: None,
        address: Some("1 Example Street".to_owned()),
        contact: Some(Contact {
            name: None,
            email: format!("privacy@{id}.example").parse().ok(),
            phone: None,
        }),
        dpo: None,
        sector: None,
        certifications: vec![],
        codes_of_conduct: vec![],
        safeguards: vec![],
        representative: None,
        history: vec![],
        public_subprocessor_page: false,
        language: None,
        time_zone: None,
        acknowledgements: vec![],
    })
}

/// `controllers` controllers, each with one activity served by one of 100 agencies, every
/// agency hosted by `host-h`; half the controllers authorise generally (14 days).
pub(crate) fn shared_register(controllers: usize) -> anyhow::Result<Register> {
    let since = custos_core::Date::constant(2025, 1, 1);
    let mut parts = RegisterParts::default();
    parts
        .organisations
        .push(organisation("host-h", "Host H GmbH".into())?);
    for a in 0..100 {
        parts
            .organisations
            .push(organisation(&format!("agency-{a}"), format!("Agency {a}"))?);
    }
    for c in 0..controllers {
        let id = format!("controller-{c}");
        let agency = format!("agency-{}", c % 100);
        parts
            .organisations
            .push(organisation(&id, format!("Controller {c}"))?);
        parts.activities.push(Activity {
            id: slug(format!("activity-{c}"))?,
            name: None,
            controller: slug(id.clone())?,
            joint_controllers: vec![],
            joint_arrangement: None,
            joint_acceptances: vec![],
            purposes: vec!["Service".into()],
            lawful_basis: Some(LawfulBasis::Contract),
            special_category_condition: None,
            subjects: vec![],
            data: vec![],
            retention: None,
            source: None,
            measures: Default::default(),
            large_scale: false,
            systematic_monitoring: false,
            automated_decisions: None,
            risk_assessment: None,
            acknowledgements: vec![],
        });
        parts.contracts.push(Contract {
            id: slug(format!("dpa-{c}"))?,
            between: [slug(id.clone())?, slug(agency.clone())?],
            identifies_controller: true,
            clauses: Default::default(),
            security: Default::default(),
            breach_notice_hours: Some(24),
            expires: None,
            renewal: None,
            document: None,
            subprocessing: Some(SubprocessingTerms {
                authorisation: if c % 2 == 0 {
                    AuthorisationMode::General
                } else {
                    AuthorisationMode::Specific
                },
                decision_days: Some(14),
                notice_channel: Some(NoticeChannel::Email),
                selection_criteria: vec![],
                preauthorised: vec![],
                preauthorised_categories: vec![],
                information_pauses: false,
            }),
            signed: None,
            reference: None,
            acknowledgements: vec![],
        });
        for (n, (by, processor, contract)) in [
            (id.clone(), agency.clone(), Some(format!("dpa-{c}"))),
            (agency.clone(), "host-h".to_owned(), None),
        ]
        .into_iter()
        .enumerate()
        {
            parts.engagements.push(Engagement {
                translations: Default::default(),
                id: slug(format!("link-{c}-{n}"))?,
                activity: slug(format!("activity-{c}"))?,
                engaged_by: slug(by)?,
                processor: slug(processor)?,
                service: "Service".into(),
                category: None,
                locations: vec![],
                transfer: None,
                contract: contract.map(slug).transpose()?,
                since,
                until: None,
                authorisation: None,
                acknowledgements: vec![],
            });
        }
    }
    Register::new(parts).map_err(|p| anyhow::anyhow!("{} problems: {:?}", p.len(), p.first()))
}

pub async fn run(controllers: usize, webhooks: usize) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let url = format!("sqlite://{}", dir.join("workflow.db").display());
    let store = Store::open(&url).await?;
    let started = Instant::now();
    let register = shared_register(controllers)?;
    let actor = Actor::new("bench", "2026-11-25T09:00:00Z".parse()?);
    custos_app::register::apply(
        &custos_app::Store::from_store(store.clone()),
        &register,
        &actor,
    )
    .await?;
    println!(
        "register of {controllers} controllers built and stored  {:>9.2?}",
        started.elapsed()
    );

    let spec: ChangeRequestSpec = serde_json::from_value(serde_json::json!({
        "requester": "host-h", "service": "Off-site backups",
        "dossier": {"candidate": {"id": "backup-x", "name": "Backup X GmbH", "country": "DE", "address": "1 Side St",
                                   "contact": {"name": "X", "email": "x@backup-x.example"}},
                    "processing": "Encrypted backups"}}))?;
    let started = Instant::now();
    let filed = custos_app::changes::file(
        &custos_app::Store::from_store(store.clone()),
        &register,
        spec,
        &actor,
        &Default::default(),
    )
    .await?;
    println!(
        "filed to {} controllers (rows, timers, events, e-mails)  {:>9.2?}",
        filed.parties.len(),
        started.elapsed()
    );

    store.close().await;

    // Throughput, on a database of its own (the filing's 100k e-mails are not part of it):
    // `webhooks` events of distinct subjects to 10 endpoints on loopback.
    let url = format!("sqlite://{}", dir.join("deliveries.db").display());
    let store = Store::open(&url).await?;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let now = stamp("2026-11-25T09:00:00Z".parse()?);
    let mut tx = store.begin().await?;
    let mut subscriptions = Vec::new();
    for n in 0..10 {
        let subscription = Subscription {
            key: format!("bench-endpoint-{n}"),
            organisation: format!("controller-{n}"),
            url: format!("{base}/hook/{n}"),
            secret: custos_app::outbox::new_secret()?,
            event_types: vec![],
            enabled: true,
            disabled_reason: None,
            created_at: now.clone(),
            created_by: "bench".into(),
        };
        tx.insert_subscription(&subscription).await?;
        subscriptions.push(subscription);
    }
    let mut events = Vec::with_capacity(webhooks);
    let mut deliveries = Vec::with_capacity(webhooks);
    for i in 0..webhooks {
        let key = format!("bench-event-{i:08}");
        events.push(NewEvent {
            key: key.clone(),
            kind: "change_request.filed".into(),
            subject: format!("subject-{i}"),
            scope: String::new(),
            payload: serde_json::json!({"type": "change_request.filed", "data": {"n": i}}),
            created_at: now.clone(),
        });
        deliveries.push(NewDelivery {
            key: format!("bench-delivery-{i:08}"),
            event_key: key,
            channel: "webhook".into(),
            target: subscriptions[i % 10].key.clone(),
            subject: format!("subject-{i}"),
            language: "en".into(),
            time_zone: None,
            next_attempt_at: now.clone(),
        });
    }
    // The request's own e-mails are not part of this measure.
    tx.insert_events(&events).await?;
    tx.insert_deliveries(&deliveries).await?;
    tx.commit().await?;
    let clock = Arc::new(FixedClock("2026-11-25T09:00:01Z".parse()?));
    let mut dispatcher = Dispatcher::new(
        custos_app::Store::from_store(store.clone()),
        clock,
        Mailer::None,
    )?
    // The receiving endpoints of the benchmark listen on loopback.
    .with_outbound(custos_app::outbound::Outbound::ANYWHERE)?;
    dispatcher.batch = 512;
    let started = Instant::now();
    while received.load(Ordering::Relaxed) < webhooks {
        if dispatcher.run_once().await? == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();
    let got = received.load(Ordering::Relaxed);
    println!(
        "delivered {got} webhooks (signed) to 10 loopback endpoints  {elapsed:>9.2?}  ({:.0}/s)",
        got as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("custos-bench-workflow-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
