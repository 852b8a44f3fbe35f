//! The breach targets: a breach at a hosting provider under 100k controllers reaches every
//! controller's case (routes, hops, cases, relays by Custos for the agencies with nobody on the
//! instance, clocks, events and e-mails, one transaction); and `breach affected` over a ledger
//! of 1M events.

use std::io::Write as _;
use std::time::{Duration, Instant};

use custos_app::{Actor, Store};
use custos_core::breach::BreachFacts;
use custos_core::manifest;

use crate::ledger::Random;

fn facts(from: &str, until: &str, aware: &str) -> anyhow::Result<BreachFacts> {
    Ok(serde_json::from_value(serde_json::json!({
        "occurred_from": from, "occurred_until": until, "aware_at": aware,
        "nature": ["confidentiality"], "description": "Storage bucket exposed",
        "data_categories": ["email"],
        "contact": {"name": "Security", "email": "security@host.example"}}))?)
}

fn scratch(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("custos-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A breach at `host-h`, in the chains of `controllers` controllers through 100 agencies.
pub async fn fan_out(controllers: usize) -> anyhow::Result<()> {
    let dir = scratch("breach")?;
    let url = format!("sqlite://{}", dir.join("breach.db").display());
    let store = Store::from_store(custos_store::Store::open(&url).await?);
    let register = crate::workflow::shared_register(controllers)?;
    let actor = Actor::new("bench", "2026-11-25T09:00:00Z".parse()?);
    custos_app::register::apply(&store, &register, &actor).await?;
    let started = Instant::now();
    let view = custos_app::breaches::report(
        &store,
        &register,
        "host-h",
        facts(
            "2026-11-24T22:00:00Z",
            "2026-11-25T02:00:00Z",
            "2026-11-25T08:00:00Z",
        )?,
        &actor,
        &Default::default(),
    )
    .await?;
    let elapsed = started.elapsed();
    let aware = view.cases.iter().filter(|c| c.aware_at.is_some()).count();
    println!(
        "breach at host-h: {} cases ({aware} aware), {} hops  {elapsed:>9.2?}",
        view.cases.len(),
        view.hops.len()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `breach affected` for a breach at the marketing chain's hosting provider, over `events`
/// disclosures of `events / 5` subjects to agency B and mailer C through 2025.
pub async fn affected(events: usize) -> anyhow::Result<()> {
    let dir = scratch("affected")?;
    let url = format!("sqlite://{}", dir.join("affected.db").display());
    let store = Store::from_store(custos_store::Store::open(&url).await?);
    let actor = Actor::new("bench", "2026-11-25T09:00:00Z".parse()?);
    let examples =
        manifest::parse(&manifest::examples::sources()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    custos_app::register::apply(&store, &examples, &actor).await?;
    let register = custos_app::register::load(&store).await?;
    let subjects = (events / 5).max(1);
    let mut ndjson = Vec::with_capacity(events * 200);
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let recipients = ["agency-b", "mailer-c"];
    for i in 0..events {
        writeln!(
            ndjson,
            "{{\"identifier\":\"user{}@example.com\",\"activity\":\"customer-marketing\",\"recipient\":\"{}\",\"categories\":[\"email\"],\"at\":\"2025-{:02}-{:02}T10:00:00Z\"}}",
            random.below(subjects),
            recipients[i % 2],
            1 + i % 12,
            1 + i % 28
        )?;
    }
    let started = Instant::now();
    custos_app::ledger::import(
        &store,
        &register,
        std::io::Cursor::new(&ndjson),
        &actor,
        custos_app::ledger::ImportOptions {
            batch: 100_000,
            bulk: true,
        },
    )
    .await?;
    println!(
        "ledger of {events} events imported  {:>9.2?}",
        started.elapsed()
    );
    let view = custos_app::breaches::report(
        &store,
        &register,
        "hosting-d",
        facts(
            "2025-06-01T00:00:00Z",
            "2025-06-03T00:00:00Z",
            "2025-06-03T09:00:00Z",
        )?,
        &actor,
        &Default::default(),
    )
    .await?;
    let mut times: Vec<Duration> = Vec::new();
    let mut found = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let counted = custos_app::breaches::affected(
            &store,
            &register,
            &view.breach.key,
            Some("hypermarket-a"),
            None,
            actor.at,
        )
        .await?;
        times.push(started.elapsed());
        found = counted.subjects;
    }
    crate::ledger::summary(
        &format!("breach affected over {events} events ({found} subjects affected)"),
        times,
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
