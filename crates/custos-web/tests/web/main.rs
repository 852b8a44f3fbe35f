//! The server over real HTTP on a loopback port, on SQLite and (when
//! `CUSTOS_TEST_POSTGRES_URL` is set) PostgreSQL: who sees what, sign-in, tokens, problems,
//! pagination, the OpenAPI document.

// A test fails by panicking; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod api;
mod breaches;
mod browser;
mod changes;
mod hostile;
mod notices;
mod oidc;
mod people;
mod rights;
mod servers;
mod settings;
mod trust;
mod workplace;
mod writes;

use std::collections::BTreeSet;
use std::sync::Arc;

use custos_app::Store;
use custos_app::data::{NewToken, Role, Scope, TokenRecord};
use custos_app::testing::PostgresDatabase;
use custos_app::{Actor, FixedClock};
use custos_core::manifest;
use custos_web::{Config, Server};
use serde_json::Value;

/// A test user: its name in the tests, its e-mail, and its organisation and role (none for
/// the instance administrator).
pub type TestUser = (&'static str, &'static str, Option<(&'static str, Role)>);

/// The users of the access tests; each signs its requests with [`TestServer::token`].
pub const USERS: [TestUser; 5] = [
    ("admin", "admin@custos.test", None),
    (
        "hypermarket",
        "dpo@hypermarket-a.test",
        Some(("hypermarket-a", Role::Editor)),
    ),
    (
        "agency-b",
        "staff@agency-b.test",
        Some(("agency-b", Role::Portal)),
    ),
    ("bank", "privacy@bank.test", Some(("bank", Role::Viewer))),
    (
        "courier-3",
        "office@courier-3.test",
        Some(("courier-3", Role::Portal)),
    ),
];

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(user: &str) -> String {
        format!("custos_test-token-of-{user}")
    }

    /// GET as `user` (None: anonymous); the status and the JSON body (or null).
    pub async fn get(&self, user: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(Self::token(user));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A server on a fresh store holding the worked examples and the users of [`USERS`], each
/// with a read-and-write API token; the clock stands on 2026-11-25.
pub async fn start(store: Store) -> TestServer {
    start_with(
        store,
        Arc::new(FixedClock::at_date("2026-11-25".parse().unwrap())),
    )
    .await
}

/// As [`start`], with the server's clock given.
pub async fn start_with(store: Store, clock: Arc<dyn custos_app::Clock>) -> TestServer {
    populate(&store).await;
    serve(store, clock).await
}

/// The worked examples and the users of [`USERS`] with their tokens.
pub async fn populate(store: &Store) {
    let store = store.clone();
    let actor = Actor::new("test", "2026-11-25T10:00:00Z".parse().unwrap());
    let examples = manifest::parse(&manifest::examples::sources()).unwrap();
    custos_app::register::apply(&store, &examples, &actor)
        .await
        .unwrap();
    for (name, email, membership) in USERS {
        let user = custos_app::people::create_user(
            &store,
            custos_app::people::NewUser {
                email: email.to_owned(),
                password: format!("password of {name}"),
                is_admin: membership.is_none(),
                memberships: membership
                    .map(|(org, role)| vec![(org.to_owned(), role)])
                    .unwrap_or_default(),
            },
            &actor,
        )
        .await
        .unwrap();
        give_token(
            &store,
            &user.email,
            &format!("{name}-tests"),
            &TestServer::token(name),
            vec![Scope::Read, Scope::Write, Scope::Tokens],
        )
        .await;
    }
}

/// Gives the user with `email` the API token `token`, named `name`, with `scopes`.
pub async fn give_token(
    store: &Store,
    email: &str,
    name: &str,
    token: &str,
    scopes: Vec<Scope>,
) -> TokenRecord {
    let user = custos_app::people::user_by_email(store, email)
        .await
        .unwrap()
        .unwrap();
    custos_app::sessions::create_token(
        store,
        &user.key,
        NewToken {
            name: name.to_owned(),
            token_hash: custos_web::auth::hash_secret(token),
            scopes,
            created_at: "2026-11-25T10:00:00Z".into(),
            expires_at: None,
        },
        &Actor::new("test", "2026-11-25T10:00:00Z".parse().unwrap()),
    )
    .await
    .unwrap()
}

/// Serves `store` on a loopback port with `clock`; the suite's receivers and data sources
/// listen on loopback, so outbound requests may go to private addresses (explicitly).
pub async fn serve(store: Store, clock: Arc<dyn custos_app::Clock>) -> TestServer {
    serve_with(store, clock, custos_app::outbound::Outbound::ANYWHERE).await
}

/// As [`serve`], with the instance's outbound policy given.
pub async fn serve_with(
    store: Store,
    clock: Arc<dyn custos_app::Clock>,
    outbound: custos_app::outbound::Outbound,
) -> TestServer {
    serve_with_config(
        store,
        clock,
        Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            secure_cookies: false,
            outbound,
            trusted_proxies: Vec::new(),
            oidc: None,
        },
    )
    .await
}

/// Serves `store` with `clock` and the server's configuration given.
pub async fn serve_with_config(
    store: Store,
    clock: Arc<dyn custos_app::Clock>,
    config: Config,
) -> TestServer {
    custos_app::outbox::install_tls_provider();
    let server = Server::bind(&config, store, clock).await.unwrap();
    let address = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    TestServer {
        base: format!("http://{address}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stop: Some(stop),
        task: Some(task),
    }
}

/// Fires the due timers over the stored register, as the server's worker does: how many fired.
pub async fn fire_timers(store: &Store, clock: &dyn custos_app::Clock) -> usize {
    let live = custos_app::live::LiveRegister::load(store).await.unwrap();
    custos_app::timers::fire_due_timers(store, &live, clock, 1000)
        .await
        .unwrap()
}

/// Runs `scenario` against a server on SQLite, then on PostgreSQL if configured.
pub async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(TestServer) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    scenario(start(Store::open(&url).await.unwrap()).await).await;
    if let Some(database) = PostgresDatabase::create().await.unwrap() {
        let store = Store::open(&database.url).await.unwrap();
        scenario(start(store.clone()).await).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

pub fn ids(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A request as `user` with `headers` and a JSON body: the status, headers and JSON body.
pub async fn send(
    server: &TestServer,
    user: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(TestServer::token(user));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// The layering of docs/architecture.md, kept by the compiler: the edges reach the database
/// only through custos-app's use cases, since they cannot name custos-store at all.
#[test]
fn the_server_and_the_cli_reach_the_database_only_through_custos_app() {
    for (krate, manifest) in [
        ("custos-web", include_str!("../../Cargo.toml")),
        ("custos-cli", include_str!("../../../custos-cli/Cargo.toml")),
    ] {
        assert!(
            !manifest.contains("custos-store"),
            "{krate} depends on custos-store: go through custos-app"
        );
    }
}

/// The (action, actor) of every audit entry about objects of `kind` that `user` reads.
pub async fn audit_actions(server: &TestServer, user: &str, kind: &str) -> Vec<(String, String)> {
    let (_, audit) = server.get(Some(user), "/api/v1/audit?limit=1000").await;
    audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_kind"] == kind)
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
