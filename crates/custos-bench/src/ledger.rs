//! The ledger targets: bulk ingest of NDJSON events into SQLite (events/s, batch size stated),
//! and the access answer for one subject as the ledger grows — the recipient lookup
//! (`disclosures_of` + `access_answer`) in process, and the whole API answer
//! (`GET /api/v1/subject-requests/{key}/answer`) over HTTP on loopback — p50 and p99.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_app::{Actor, FixedClock};
use custos_core::ledger::{Disclosure, subject_key};
use custos_core::manifest;
use custos_store::{LedgerBatch, NewToken, Scope, Store};

/// A small deterministic generator (xorshift64*): benchmarks need no cryptographic randomness.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

pub(crate) fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        times.len(),
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
    );
}

const ACTIVITY_RECIPIENTS: [(&str, &str); 2] = [
    ("customer-marketing", "agency-b"),
    ("customer-marketing", "mailer-c"),
];

fn event_line(subject: usize, i: usize) -> String {
    let (activity, recipient) = ACTIVITY_RECIPIENTS[i % 2];
    format!(
        "{{\"identifier\":\"user{subject}@example.com\",\"activity\":\"{activity}\",\"recipient\":\"{recipient}\",\"categories\":[\"email\",\"order-history\"],\"at\":\"2025-{:02}-{:02}T10:00:00Z\"}}\n",
        1 + i % 12,
        1 + i % 28
    )
}

/// Where a ledger benchmark writes: a SQLite file in a directory (temporary unless kept), or
/// a PostgreSQL database named by URL (empty at the start; kept).
pub enum Database {
    Sqlite { dir: std::path::PathBuf, kept: bool },
    Postgres(String),
}

impl Database {
    pub fn of(url: Option<String>, keep: Option<String>) -> Self {
        match (url, keep) {
            (Some(url), _) => Self::Postgres(url),
            (None, Some(dir)) => Self::Sqlite {
                dir: dir.into(),
                kept: true,
            },
            (None, None) => Self::Sqlite {
                dir: std::env::temp_dir()
                    .join(format!("custos-ledger-bench-{}", std::process::id())),
                kept: false,
            },
        }
    }

    pub fn is_kept(&self) -> bool {
        !matches!(self, Self::Sqlite { kept: false, .. })
    }

    async fn open(&self) -> anyhow::Result<Store> {
        Ok(match self {
            Self::Sqlite { dir, .. } => {
                std::fs::create_dir_all(dir)?;
                Store::open(&format!("sqlite://{}", dir.join("ledger.db").display())).await?
            }
            Self::Postgres(url) => Store::open(url).await?,
        })
    }

    /// Removes a temporary SQLite directory.
    fn finish(&self) -> anyhow::Result<()> {
        if let Self::Sqlite { dir, kept: false } = self {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }
}

/// The database opened with the worked examples applied (a no-op when kept from before).
async fn fresh_store(database: &Database) -> anyhow::Result<Store> {
    let store = database.open().await?;
    let examples =
        manifest::parse(&manifest::examples::sources()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    custos_app::register::apply(
        &custos_app::Store::from_store(store.clone()),
        &examples,
        &Actor::new("bench", now()),
    )
    .await?;
    Ok(store)
}

/// Records a batch as an import does: its rows and its audit entry in one transaction (COPY
/// on PostgreSQL).
async fn record(store: &Store, events: &[Disclosure]) -> anyhow::Result<()> {
    custos_app::ledger::write(
        custos_app::Store::from_store(store.clone()),
        LedgerBatch::new(events)?,
        Actor::new("bench", now()),
    )
    .await?;
    Ok(())
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::constant(1_764_000_000, 0)
}

/// NDJSON → `custos_app::ledger::import` → the database, as `custos ledger import` does.
pub async fn ingest(
    events: usize,
    batch: usize,
    bulk: bool,
    url: Option<String>,
) -> anyhow::Result<()> {
    let database = Database::of(url, None);
    let store = fresh_store(&database).await?;
    let register =
        custos_app::register::load(&custos_app::Store::from_store(store.clone())).await?;
    let subjects = (events / 4).max(1);
    let mut ndjson = Vec::with_capacity(events * 200);
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    for i in 0..events {
        ndjson.write_all(event_line(random.below(subjects), i).as_bytes())?;
    }
    let actor = Actor::new("bench", now());
    if std::env::var_os("CUSTOS_BENCH_BREAKDOWN").is_some() {
        let started = Instant::now();
        let mut parsed = Vec::with_capacity(events);
        for line in std::io::BufRead::lines(std::io::Cursor::new(&ndjson)) {
            let event: custos_app::ledger::LedgerEvent = serde_json::from_str(&line?)?;
            parsed.push(event);
        }
        println!("  parse: {:.2} s", started.elapsed().as_secs_f64());
        let keyer = custos_core::ledger::SubjectKeyer::new(b"pepper")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let keyed: Vec<Disclosure> = parsed
            .into_iter()
            .map(|e| Disclosure {
                subject_key: keyer.key(&e.identifier).unwrap_or_default(),
                activity: e.activity,
                recipient: e.recipient,
                categories: e.categories,
                at: e.at,
            })
            .collect();
        println!("  key: {:.2} s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        if bulk {
            let mut tx = store.begin().await?;
            tx.drop_ledger_index().await?;
            tx.commit().await?;
        }
        for chunk in keyed.chunks(batch) {
            record(&store, chunk).await?;
        }
        println!("  insert: {:.2} s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        let mut tx = store.begin().await?;
        tx.build_ledger_index().await?;
        tx.commit().await?;
        println!("  index: {:.2} s", started.elapsed().as_secs_f64());
        return Ok(());
    }
    let started = Instant::now();
    let recorded = custos_app::ledger::import(
        &custos_app::Store::from_store(store.clone()),
        &register,
        std::io::Cursor::new(&ndjson),
        &actor,
        custos_app::ledger::ImportOptions { batch, bulk },
    )
    .await?;
    let elapsed = started.elapsed();
    println!(
        "ingest{}: {recorded} events ({} MB of NDJSON), batches of {batch}: {:.2} s, {:.0} events/s",
        if bulk { " --bulk" } else { "" },
        ndjson.len() / 1_000_000,
        elapsed.as_secs_f64(),
        recorded as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
    database.finish()
}

/// Grows one ledger through `sizes` (events), measuring the answer at each size.
pub async fn growth(sizes: &[usize], database: &Database) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let store = fresh_store(database).await?;
    let register =
        custos_app::register::load(&custos_app::Store::from_store(store.clone())).await?;
    let pepper =
        custos_app::ledger::pepper(&custos_app::Store::from_store(store.clone()), now()).await?;
    let mut random = Random(0x2545_F491_4F6C_DD1D);
    let mut loaded = 0usize;
    for &size in sizes {
        // About 20 events a subject: a customer's year of orders and newsletters.
        let subjects = (size / 20).max(1);
        let started = Instant::now();
        // Loaded as a bulk import does: without the index, rebuilt at the end.
        let mut tx = store.begin().await?;
        tx.drop_ledger_index().await?;
        tx.commit().await?;
        let mut batch = Vec::with_capacity(100_000);
        while loaded < size {
            let subject = random.below(subjects);
            let (activity, recipient) = ACTIVITY_RECIPIENTS[loaded % 2];
            batch.push(Disclosure {
                subject_key: subject_key(&pepper, &format!("user{subject}@example.com"))
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                activity: activity.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                recipient: recipient.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                categories: vec!["email".parse().map_err(|e| anyhow::anyhow!("{e}"))?],
                at: jiff::Timestamp::from_second(1_735_700_000 + (loaded % 30_000_000) as i64)?,
            });
            loaded += 1;
            if batch.len() == 100_000 || loaded == size {
                record(&store, &batch).await?;
                batch.clear();
            }
        }
        let mut tx = store.begin().await?;
        tx.build_ledger_index().await?;
        tx.commit().await?;
        println!(
            "ledger at {size} events ({subjects} subjects): loaded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        lookups(&store, &register, &pepper, subjects, &mut random).await?;
        api_answers(&store, subjects, &mut random).await?;
    }
    store.close().await;
    database.finish()
}

/// The recipient lookup: the subject's events from the index, then the chains as they stood.
async fn lookups(
    store: &Store,
    register: &custos_core::register::Register,
    pepper: &[u8],
    subjects: usize,
    random: &mut Random,
) -> anyhow::Result<()> {
    let today = now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let mut times = Vec::with_capacity(5_000);
    for _ in 0..5_000 {
        let key = subject_key(
            pepper,
            &format!("user{}@example.com", random.below(subjects)),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let found = store.read().await?.disclosures_of(&key).await?;
        let answer = custos_core::ledger::access_answer(register, &found, today)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(started.elapsed());
        std::hint::black_box(answer);
    }
    summary("  recipient lookup", times);
    Ok(())
}

/// Measures the answers on a ledger kept by an earlier `growth` of `subjects` subjects,
/// without loading anything.
pub async fn measure(database: &Database, subjects: usize) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let store = database.open().await?;
    let register =
        custos_app::register::load(&custos_app::Store::from_store(store.clone())).await?;
    let pepper =
        custos_app::ledger::pepper(&custos_app::Store::from_store(store.clone()), now()).await?;
    let mut random = Random(0x1234_5678_9ABC_DEF1);
    lookups(&store, &register, &pepper, subjects, &mut random).await?;
    api_answers(&store, subjects, &mut random).await?;
    store.close().await;
    Ok(())
}

/// The whole API answer over HTTP for 1,000 verified access requests of random subjects,
/// each asked five times.
async fn api_answers(store: &Store, subjects: usize, random: &mut Random) -> anyhow::Result<()> {
    let clock = Arc::new(FixedClock(now()));
    let register =
        custos_app::register::load(&custos_app::Store::from_store(store.clone())).await?;
    let actor = Actor::new("bench", now());
    // A run may measure a kept ledger again: its bench user is new each time.
    let run = uuid::Uuid::now_v7().simple().to_string();
    let token = format!("custos_bench-{run}");
    let user = match custos_app::people::create_user(
        &custos_app::Store::from_store(store.clone()),
        custos_app::people::NewUser {
            email: format!("bench-{run}@custos.test"),
            password: "a bench password".to_owned(),
            is_admin: true,
            memberships: Vec::new(),
        },
        &actor,
    )
    .await
    {
        Ok(user) => user,
        Err(e) => anyhow::bail!("user: {e}"),
    };
    let mut tx = store.begin().await?;
    tx.insert_token(
        &user.key,
        &NewToken {
            name: "bench".into(),
            token_hash: custos_web::auth::hash_secret(&token),
            scopes: vec![Scope::Read],
            created_at: custos_app::stamp(now()),
            expires_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    let settings = custos_app::rights::Settings {
        per_address_per_hour: i64::MAX,
        ..Default::default()
    };
    let mut keys = Vec::new();
    for _ in 0..1000 {
        let new = custos_app::rights::NewRequest {
            controller: "hypermarket-a"
                .parse()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            kind: custos_core::rights::RequestKind::Access,
            email: format!("user{}@example.com", random.below(subjects)),
            details: String::new(),
            transmit_to: None,
            received_on: None,
        };
        if let custos_app::rights::Received::Filed { view, .. } = custos_app::rights::receive(
            &custos_app::Store::from_store(store.clone()),
            &register,
            new,
            "api",
            &actor,
            &settings,
        )
        .await?
        {
            custos_app::rights::record_verification(
                &custos_app::Store::from_store(store.clone()),
                &register,
                &view.request.key,
                "bench",
                "bench",
                &actor,
            )
            .await?;
            keys.push(view.request.key);
        }
    }
    let server = crate::local::bind(
        custos_app::Store::from_store(store.clone()),
        clock,
        Vec::new(),
    )
    .await?;
    let address = server.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(5_000);
    for i in 0..5_000 {
        let key = &keys[i % keys.len()];
        let started = Instant::now();
        let response = client
            .get(format!(
                "http://{address}/api/v1/subject-requests/{key}/answer"
            ))
            .bearer_auth(&token)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        times.push(started.elapsed());
        anyhow::ensure!(status.is_success(), "answer: {status}");
        std::hint::black_box(body);
    }
    summary("  API answer (HTTP, loopback)", times);
    let _ = stop.send(());
    let _ = task.await;
    Ok(())
}
