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

    let times = put_links(&http, &base, token, &links, writes).await?;
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
            times.push(timed_get(&http, token, &format!("{base}/api/v1/findings{query}")).await?);
        }
        summary(label, times);
    }
    // The first read of the findings after each write: the activities the write touched are
    // judged again, the others kept.
    let mut times: Vec<Duration> = Vec::new();
    for n in 0..20 {
        put_links(
            &http,
            &base,
            token,
            &links[(n * 104_729) % links.len()..],
            1,
        )
        .await?;
        times.push(timed_get(&http, token, &format!("{base}/api/v1/findings?limit=100")).await?);
    }
    summary(
        "GET /api/v1/findings?limit=100, the first after a PUT",
        times,
    );

    // A read load: chains of activities, one after another for 10 s.
    let activities = shape.engagements / shape.engagements_per_activity.max(1);
    let reads = read_chains(&http, &base, token, activities, Duration::from_secs(10), 1).await?;
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
/// Where `start` reads the register from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Every row, as a server starts with no image (the first start after a large apply).
    Rows,
    /// The register's image and the changes after it, as a server starts once one is written
    /// (a server writes it in the background): written first when there is none.
    Image,
}

pub async fn start(url: &str, from: StartFrom) -> anyhow::Result<()> {
    let store = custos_store::Store::open(url).await?;
    if from == StartFrom::Image && store.newest_register_image().await?.is_none() {
        // The image as a server writes it: from the register it holds.
        let app = custos_app::Store::from_store(store.clone());
        let live = custos_app::live::LiveRegister::load(&app).await?;
        let written = Instant::now();
        let kept = live.keep_image(&app, 0).await?;
        println!(
            "no image: read the rows and wrote one ({kept:?}) in {:.2} s; run again to start from it",
            written.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let started = Instant::now();
    let (parts, changes) = match from {
        StartFrom::Rows => (store.read_register().await?.1, 0),
        StartFrom::Image => match store.read_register_image().await? {
            custos_store::ImageRead::Read { parts, changes, .. } => (parts, changes.len()),
            other => anyhow::bail!("the image cannot be read: {other:?}"),
        },
    };
    let (rss, peak) = memory();
    println!(
        "read {} engagements, {} contracts from the {}{}: {:.2} s (RSS {rss} MB, peak {peak} MB)",
        parts.engagements.len(),
        parts.contracts.len(),
        match from {
            StartFrom::Rows => "rows",
            StartFrom::Image => "image",
        },
        if from == StartFrom::Image {
            format!(" and {changes} changes after it")
        } else {
            String::new()
        },
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

/// A `GET` answered in full, and how long it took.
pub(crate) async fn timed_get(
    http: &reqwest::Client,
    token: &str,
    url: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.bytes().await?;
    Ok(started.elapsed())
}

/// `writes` PUTs of engagements through the API, each with the `If-Match` of a `GET`, spread
/// over `links` (a different link each time): the PUTs' times.
async fn put_links(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    links: &[String],
    writes: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times: Vec<Duration> = Vec::with_capacity(writes);
    // Services no earlier run wrote, so that every PUT changes its link.
    let run = {
        use custos_app::Clock;
        custos_app::SystemClock.now().as_second()
    };
    for n in 0..writes {
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
        link["service"] = serde_json::json!(format!("Processing, revision {n} of run {run}"));
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
    Ok(times)
}

/// Chains of the synthetic register's activities read for `length` by `clients` clients at
/// once, each one request after another: every read's time.
async fn read_chains(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    activities: usize,
    length: Duration,
    clients: usize,
) -> anyhow::Result<Vec<Duration>> {
    let until = Instant::now() + length;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut reads = Vec::new();
            let mut n = client * 7;
            while Instant::now() < until {
                let url = format!(
                    "{base}/api/v1/activities/activity-{}/chain",
                    n % activities.max(1)
                );
                reads.push(timed_get(&http, &token, &url).await?);
                n += 1;
            }
            anyhow::Ok(reads)
        }));
    }
    let mut reads = Vec::new();
    for task in tasks {
        reads.extend(task.await??);
    }
    Ok(reads)
}

/// The resident memory of process `pid`, in MiB (Linux).
fn memory_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// `custos serve` as an operator runs it, over a database that holds the synthetic register of
/// `engagements` engagements (e.g. kept by `writes --keep DIR`): its time to ready and memory,
/// then `writes` PUTs and `read_seconds` of chain reads by 4 clients, its memory after each.
pub async fn serve(
    url: &str,
    shape: Shape,
    writes: usize,
    read_seconds: u64,
) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let engagements = shape.engagements;
    let now = custos_app::Clock::now(&custos_app::SystemClock);
    let store = custos_app::Store::open(url).await?;
    let token = format!("custos_bench-{}", uuid::Uuid::now_v7().simple());
    crate::local::admin_with_token(
        &store,
        &format!("serve-{}@custos.test", uuid::Uuid::now_v7().simple()),
        "serve",
        &token,
        vec![
            custos_app::data::Scope::Read,
            custos_app::data::Scope::Write,
        ],
        &Actor::new("bench", now),
    )
    .await?;
    store.close().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let custos = std::env::current_exe()?.with_file_name("custos");
    let started = Instant::now();
    let mut server = Server(
        std::process::Command::new(&custos)
            .args(["--database-url", url, "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e} (build it: cargo build --release -p custos-cli)",
                    custos.display()
                )
            })?,
    );
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    loop {
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            break;
        }
        anyhow::ensure!(server.0.try_wait()?.is_none(), "custos serve stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = memory_of(pid);
    println!(
        "custos serve ready in {:.2} s; RSS {ready} MiB",
        started.elapsed().as_secs_f64()
    );
    let links: Vec<String> = (0..engagements).map(|n| format!("link-{n}")).collect();
    let times = put_links(&http, &base, &token, &links, writes).await?;
    summary(
        &format!("PUT /api/v1/engagements/{{id}} ({writes} writes)"),
        times,
    );
    let written = memory_of(pid);
    println!("RSS after {writes} writes: {written} MiB");
    let activities = engagements / shape.engagements_per_activity.max(1);
    let reads = read_chains(
        &http,
        &base,
        &token,
        activities,
        Duration::from_secs(read_seconds),
        4,
    )
    .await?;
    summary(
        &format!("GET /api/v1/activities/{{id}}/chain ({read_seconds} s, 4 clients)"),
        reads,
    );
    let end = memory_of(pid);
    println!(
        "RSS after the reads: {end} MiB ({:+.0}% of ready)",
        (end as f64 / ready.max(1) as f64 - 1.0) * 100.0
    );
    Ok(())
}

/// A child `custos serve`, stopped however the benchmark ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
