//! The people of an instance at size: `users` accounts invited across the worked examples'
//! organisations, then, against the server in this process on loopback, one request after
//! another: the people page and the accounts API as the instance administrator and as an
//! organisation's admin, and the OAuth2 client credentials grant (a write each).

use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_app::policy::Caller;
use custos_app::{Actor, FixedClock};
use custos_core::manifest;

use crate::ledger::summary;

pub async fn run(users: usize) -> anyhow::Result<()> {
    custos_app::outbox::install_tls_provider();
    let dir = std::env::temp_dir().join(format!("custos-people-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store =
        custos_app::Store::open(&format!("sqlite://{}", dir.join("people.db").display())).await?;
    let now = jiff::Timestamp::constant(1_764_000_000, 0);
    let actor = Actor::new("bench", now);
    let examples =
        manifest::parse(&manifest::examples::sources()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    custos_app::register::apply(&store, &examples, &actor).await?;
    let organisations: Vec<String> = examples
        .organisations()
        .iter()
        .map(|o| o.id.as_str().to_owned())
        .collect();
    let known = |id: &str| organisations.iter().any(|o| o == id);
    let roles = [
        custos_app::data::Role::Portal,
        custos_app::data::Role::Viewer,
        custos_app::data::Role::Editor,
        custos_app::data::Role::Admin,
    ];
    let started = Instant::now();
    for n in 0..users {
        custos_app::accounts::invite(
            &store,
            &Caller::instance_admin(),
            &actor,
            custos_app::accounts::Invitation {
                email: format!("person{n}@example.com"),
                memberships: vec![(
                    organisations[n % organisations.len()].clone(),
                    roles[n % roles.len()],
                )],
                is_admin: false,
                language: custos_render::Language::En,
                time_zone: None,
            },
            &known,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    println!(
        "{users} invitations written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let token_of = |name: &str| format!("custos_bench-{name}");
    for (name, is_admin, membership) in [
        ("admin", true, None),
        ("spanish", true, None),
        (
            "lead",
            false,
            Some(("hypermarket-a", custos_app::data::Role::Admin)),
        ),
    ] {
        let user = custos_app::people::create_user(
            &store,
            custos_app::people::NewUser {
                email: format!("{name}@custos.test"),
                password: "a bench password".into(),
                is_admin,
                memberships: membership
                    .map(|(o, r)| vec![(o.to_owned(), r)])
                    .unwrap_or_default(),
            },
            &actor,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        custos_app::sessions::create_token(
            &store,
            &user.key,
            custos_app::data::NewToken {
                name: name.into(),
                token_hash: custos_app::sessions::hash_secret(&token_of(name)),
                scopes: vec![
                    custos_app::data::Scope::Read,
                    custos_app::data::Scope::Write,
                ],
                created_at: custos_app::stamp(now),
                expires_at: None,
            },
            &actor,
        )
        .await?;
    }
    // The same pages read in Spanish: the catalogue's cost.
    let spanish = custos_app::people::user_by_email(&store, "spanish@custos.test")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the Spanish reader is missing"))?;
    custos_app::accounts::set_preferences(&store, &spanish, None, Some("es"), now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = custos_app::people::user_by_email(&store, "admin@custos.test")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the admin is missing"))?;
    let (client, secret) = custos_app::accounts::create_client(
        &store,
        &admin,
        "bench",
        vec![custos_app::data::Scope::Read],
        &actor,
    )
    .await?;
    let server = crate::local::bind(store, Arc::new(FixedClock(now)), Vec::new()).await?;
    let base = format!("http://{}", server.local_addr()?);
    tokio::spawn(server.serve(std::future::pending()));
    let http = reqwest::Client::builder().build()?;
    let rounds = 200;
    for (label, who, path) in [
        ("GET /people, instance administrator", "admin", "/people"),
        (
            "GET /api/v1/users, instance administrator",
            "admin",
            "/api/v1/users",
        ),
        (
            "GET /people, instance administrator reading Spanish",
            "spanish",
            "/people",
        ),
        (
            "GET / (the dashboard), instance administrator",
            "admin",
            "/",
        ),
        (
            "GET / (the dashboard), instance administrator reading Spanish",
            "spanish",
            "/",
        ),
        ("GET /people, hypermarket-a's admin", "lead", "/people"),
        (
            "GET /people?q=person1, instance administrator",
            "admin",
            "/people?q=person1",
        ),
    ] {
        let mut times: Vec<Duration> = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let url = format!("{base}{path}");
            times.push(crate::writes::timed_get(&http, &token_of(who), &url).await?);
        }
        summary(&format!("{label} ({users} accounts)"), times);
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let response = http
            .post(format!("{base}/api/v1/oauth/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the token answered {}",
            response.status()
        );
        response.bytes().await?;
        times.push(started.elapsed());
    }
    summary(
        "POST /api/v1/oauth/token (client credentials, a write)",
        times,
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
