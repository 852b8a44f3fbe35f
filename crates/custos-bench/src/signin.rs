//! Authenticated reads while a flood of sign-ins with random addresses arrives: the server
//! (in this process, on loopback, behind a "proxy" at 127.0.0.1 so that every sign-in names a
//! different client) keeps its reads quick while password checks queue for their one core.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use custos_app::{Actor, FixedClock};
use custos_core::manifest;

use crate::ledger::{Random, summary};

pub async fn flood(per_second: u64, seconds: u64) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let dir = std::env::temp_dir().join(format!("custos-signin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store =
        custos_app::Store::open(&format!("sqlite://{}", dir.join("flood.db").display())).await?;
    let now = jiff::Timestamp::constant(1_764_000_000, 0);
    let actor = Actor::new("bench", now);
    let examples =
        manifest::parse(&manifest::examples::sources()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    custos_app::register::apply(&store, &examples, &actor).await?;
    let token = "custos_bench-reader";
    crate::local::admin_with_token(
        &store,
        "reader@custos.test",
        "reader",
        token,
        vec![custos_app::data::Scope::Read],
        &actor,
    )
    .await?;
    let server =
        crate::local::bind(store, Arc::new(FixedClock(now)), vec!["127.0.0.1".parse()?]).await?;
    let base = format!("http://{}", server.local_addr()?);
    tokio::spawn(server.serve(std::future::pending()));
    let client = reqwest::Client::builder().build()?;

    // The flood: `per_second` sign-ins a second, each a new address from a new client.
    let answered = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let flood = {
        let (client, base, answered) = (client.clone(), base.clone(), answered.clone());
        tokio::spawn(async move {
            let mut random = Random(0x5EED_1234_ABCD_0001);
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
            let until = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < until {
                tick.tick().await;
                let n = random.below(1 << 30);
                let client_ip =
                    format!("10.{}.{}.{}", n % 251, (n / 251) % 251, (n / 63_001) % 251);
                let request = client
                    .post(format!("{base}/api/v1/session"))
                    .header("x-forwarded-for", client_ip)
                    .json(&serde_json::json!({"email": format!("guess{n}@example.com"), "password": "wrong"}));
                let answered = answered.clone();
                tokio::spawn(async move {
                    let slot = match request.send().await.map(|r| r.status().as_u16()) {
                        Ok(401) => 0,
                        Ok(429) => 1,
                        _ => 2,
                    };
                    answered[slot].fetch_add(1, Ordering::Relaxed);
                });
            }
        })
    };
    // The reads, one after another, while it lasts.
    let mut times = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let started = Instant::now();
        let status = client
            .get(format!(
                "{base}/api/v1/activities/customer-marketing/chain?at=2026-11-25"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "a read answered {status}");
        times.push(started.elapsed());
    }
    flood.await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    summary(
        &format!("chain reads during {per_second} sign-ins/s"),
        times,
    );
    println!(
        "sign-ins answered: {} refused (401), {} told to come back (429), {} other",
        answered[0].load(Ordering::Relaxed),
        answered[1].load(Ordering::Relaxed),
        answered[2].load(Ordering::Relaxed)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
