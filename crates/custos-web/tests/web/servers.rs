//! Several servers on one database (issue 21): each keeps the register in memory and follows
//! the others' writes through the register's version; a sign-out or revocation on one drops
//! the sign-ins every other remembers; a timer fires once whichever server's worker claims it.
//! On one SQLite file (two processes may share one), and on PostgreSQL when configured (where
//! several servers is the point).

use std::sync::Arc;
use std::time::Duration;

use custos_app::testing::PostgresDatabase;
use custos_app::{ManualClock, Store};
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::json;

use crate::{TestServer, give_token, populate, send, serve};

/// Asks `ask` every 20 ms until it is true, for at most a second: whether it became true.
async fn within_a_second(mut ask: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..50 {
        if ask().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn two_servers_share_one_database(url: &str) {
    let clock = Arc::new(ManualClock::new("2026-11-25T09:00:00Z".parse().unwrap()));
    let first_store = Store::open(url).await.unwrap();
    populate(&first_store).await;
    // Two pools, as two processes would have.
    let second_store = Store::open(url).await.unwrap();
    let first = serve(first_store.clone(), clock.clone()).await;
    let second = serve(second_store.clone(), clock.clone()).await;

    // A write on the first is read on the second within a second.
    let path = "/api/v1/organisations/mailer-c";
    let (_, headers, mut mailer) = send(&first, "admin", Method::GET, path, &[], None).await;
    let tag = headers["etag"].to_str().unwrap().to_owned();
    mailer["name"] = json!("Mailer C Ltd (renamed on the first server)");
    let (status, headers, _) = send(
        &first,
        "admin",
        Method::PUT,
        path,
        &[("if-match", &tag)],
        Some(mailer.clone()),
    )
    .await;
    assert_eq!(status, 200);
    let tag = headers["etag"].to_str().unwrap().to_owned();
    assert!(
        within_a_second(async || second.get(Some("admin"), path).await.1["name"] == mailer["name"])
            .await,
        "the second server reads the first one's write"
    );
    // The second writes on top of it at once, with the tag the first gave: its copy is at
    // the database's version before it decides.
    mailer["name"] = json!("Mailer C Ltd (renamed on the second server)");
    let (status, _, problem) = send(
        &second,
        "admin",
        Method::PUT,
        path,
        &[("if-match", &tag)],
        Some(mailer.clone()),
    )
    .await;
    assert_eq!(status, 200, "{problem}");
    assert!(
        within_a_second(async || first.get(Some("admin"), path).await.1["name"] == mailer["name"])
            .await,
        "and the first reads the second's"
    );
    // A write on the first decided on a stale tag is refused, whichever server made the last.
    let (status, _, _) = send(
        &first,
        "admin",
        Method::PUT,
        path,
        &[("if-match", &tag)],
        Some(mailer.clone()),
    )
    .await;
    assert_eq!(status, 412);

    // A token both servers have seen (and remember) is revoked on one: both refuse it.
    let token = "custos_test-short-lived";
    let record = give_token(
        &first_store,
        "dpo@hypermarket-a.test",
        "short-lived",
        token,
        vec![custos_app::data::Scope::Read],
    )
    .await;
    let read = async |server: &TestServer| {
        server
            .client
            .get(server.url("/api/v1/activities"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!((read(&first).await, read(&second).await), (200, 200));
    let (status, _, _) = send(
        &first,
        "hypermarket",
        Method::DELETE,
        &format!("/api/v1/tokens/{}", record.key),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        read(&first).await,
        401,
        "refused at once where it was revoked"
    );
    assert!(
        within_a_second(async || read(&second).await == 401).await,
        "and on the other within a second"
    );

    // A change request's reminder falls due: the two servers' timer workers run at once, and
    // it fires once.
    let spec = json!({"requester": "agency-b", "service": "Purchase-preference analysis",
        "dossier": {"candidate": {"id": "insights-x", "name": "Insights X GmbH", "country": "DE",
            "address": "Hauptstraße 1, Berlin", "contact": {"name": "Eva Braun", "email": "dpo@insights-x.example"}},
            "processing": "Analysis", "security_measures": ["encryption-at-rest"]}});
    let (status, _, filed) = send(
        &first,
        "admin",
        Method::POST,
        "/api/v1/change-requests",
        &[],
        Some(spec),
    )
    .await;
    assert_eq!(status, 201, "{filed}");
    // Past the 72-hour reminder of a 14-day window, before the 24-hour one.
    clock.advance(SignedDuration::from_hours(24 * 12));
    let (on_first, on_second) = tokio::join!(
        crate::fire_timers(&first_store, clock.as_ref()),
        crate::fire_timers(&second_store, clock.as_ref())
    );
    assert_eq!(
        on_first + on_second,
        1,
        "the reminder fired once ({on_first} + {on_second})"
    );
    assert_eq!(crate::fire_timers(&second_store, clock.as_ref()).await, 0);

    first.stop().await;
    second.stop().await;
    first_store.close().await;
    second_store.close().await;
}

#[tokio::test]
async fn two_servers_on_one_sqlite_file_follow_each_other() {
    let dir = tempfile::tempdir().unwrap();
    two_servers_share_one_database(&format!(
        "sqlite://{}",
        dir.path().join("shared.db").display()
    ))
    .await;
}

#[tokio::test]
async fn two_servers_on_one_postgresql_follow_each_other() {
    let Some(database) = PostgresDatabase::create().await.unwrap() else {
        custos_app::testing::announce_postgres_skipped();
        return;
    };
    two_servers_share_one_database(&database.url).await;
    database.drop_database().await.unwrap();
}
