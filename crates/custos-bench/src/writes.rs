//! Single-entry writes at size: the synthetic register (`--engagements N --contracts`) applied
//! to a database (a temporary SQLite file, or the empty database of `--database-url`), the
//! server started in this process on loopback (its time to ready and its memory), then one
//! `PUT` of an engagement after another through the API, each with the `If-Match` of a `GET`:
//! the `PUT`'s p50/p99, the findings' p50/p99 after the first computation, and the memory
//! after the writes and a read load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_app::{Actor, FixedClock};
use custos_core::register::Register;
use custos_core::synthetic::{Shape, generate};

use crate::ledger::summary;

/// The resident and peak memory of this process, in MB (Linux).
pub(crate) fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub async fn run(
    shape: Shape,
    database_url: Option<String>,
    keep: Option<String>,
    writes: usize,
) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let dir = keep.clone().map_or_else(
        || std::env::temp_dir().join(format!("custos-writes-bench-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.join("writes.db").display()));
    let store = custos_app::Store::open(&url).await?;
    let now = jiff::Timestamp::constant(1_764_000_000, 0);
    let actor = Actor::new("bench", now);
    let started = Instant::now();
    let register = Register::new(generate(shape))
        .map_err(|problems| anyhow::anyhow!("{} problems", problems.len()))?;
    let links: Vec<String> = register
        .engagements()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    custos_app::register::apply(&store, &register, &actor).await?;
    drop(register);
    println!(
        "{} organisations, {} engagements applied in {:.1} s (peak RSS so far {} MB)",
        shape.organisations,
        links.len(),
        started.elapsed().as_secs_f64(),
        memory().1
    );
    let token = "custos_bench-writer";
    crate::local::admin_with_token(
        &store,
        "writer@custos.test",
        "writer",
        token,
        vec![
            custos_app::data::Scope::Read,
            custos_app::data::Scope::Write,
        ],
        &actor,
    )
    .await?;
    let (before_load, _) = memory();
    let started = Instant::now();
    let server = crate::local::bind(store, Arc::new(FixedClock(now)), Vec::new()).await?;
    let ready = started.elapsed();
    let (rss_ready, _) = memory();
    println!(
        "server ready in {:.2} s; RSS {rss_ready} MB ({before_load} MB before the register was read)",
        ready.as_secs_f64()
    );
    let base = format!("http://{}", server.local_addr()?);
    tokio::spawn(server.serve(std::future::pending()));
    let http = reqwest::Client::builder().build()?;

    let mut times: Vec<Duration> = Vec::with_capacity(writes);
    for n in 0..writes {
        // Spread over the register, a different link each time.
        let id = &links[(n * 7919) % links.len()];
        let url = format!("{base}/api/v1/engagements/{id}");
        let response = http.get(&url).bearer_auth(token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET {id}: {}",
            response.status()
        );
        let tag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut link: serde_json::Value = response.json().await?;
        link["service"] = serde_json::json!(format!("Processing, revision {n}"));
        let started = Instant::now();
        let response = http
            .put(&url)
            .bearer_auth(token)
            .header("if-match", tag)
            .json(&link)
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        times.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "PUT {id}: {status}");
    }
    summary(
        &format!(
            "PUT /api/v1/engagements/{{id}} ({} engagements)",
            links.len()
        ),
        times,
    );
    let (rss_written, _) = memory();
    println!("RSS after {writes} writes: {rss_written} MB");

    for (label, query) in [
        ("GET /api/v1/findings (every finding)", ""),
        (
            "GET /api/v1/findings?limit=100 (the first page)",
            "?limit=100",
        ),
    ] {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let response = http
                .get(format!("{base}/api/v1/findings{query}"))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "findings: {}",
                response.status()
            );
            response.bytes().await?;
            times.push(started.elapsed());
        }
        summary(label, times);
    }

    // A read load: chains of activities, one after another for 10 s.
    let activities = shape.engagements / shape.engagements_per_activity.max(1);
    let until = Instant::now() + Duration::from_secs(10);
    let mut reads = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        let started = Instant::now();
        let response = http
            .get(format!(
                "{base}/api/v1/activities/activity-{}/chain",
                n % activities.max(1)
            ))
            .bearer_auth(token)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "chain: {}",
            response.status()
        );
        response.bytes().await?;
        reads.push(started.elapsed());
        n += 1;
    }
    summary("GET /api/v1/activities/{id}/chain (10 s)", reads);
    let (rss_end, peak) = memory();
    println!("RSS after the read load: {rss_end} MB (peak {peak} MB)");
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// The server's start over a database kept by `writes --keep DIR` (or any): the stored
/// register read, then made the register in memory, each phase's time and memory.
pub async fn start(url: &str) -> anyhow::Result<()> {
    let store = custos_store::Store::open(url).await?;
    let started = Instant::now();
    let mut tx = store.read().await?;
    let parts = tx.load_register().await?;
    tx.rollback().await?;
    let (rss, peak) = memory();
    println!(
        "read {} engagements, {} contracts: {:.2} s (RSS {rss} MB, peak {peak} MB)",
        parts.engagements.len(),
        parts.contracts.len(),
        started.elapsed().as_secs_f64()
    );
    let built = Instant::now();
    let register = Register::new(parts).map_err(|p| anyhow::anyhow!("{} problems", p.len()))?;
    let (rss, peak) = memory();
    println!(
        "register built: {:.2} s (RSS {rss} MB, peak {peak} MB); ready after {:.2} s",
        built.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    drop(register);
    Ok(())
}
