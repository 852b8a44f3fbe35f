//! The sub-processor workflow over HTTP with a real webhook receiver on loopback: the
//! marketing chain (B asks for E, A approves, E appears at depth 2), a hosting provider shared
//! by five controllers (each once, with its own mode and window; silence becomes approval at
//! each general deadline, the specific ones stay blocked), and a receiver that is down for
//! hours (it gets everything when it comes back, in order per subject).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use custos_app::Store;
use custos_app::data::Scope;
use custos_app::outbox::{Dispatcher, Mailer};
use custos_app::{Actor, Clock, ManualClock};
use custos_core::manifest;
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{TestServer, send, start_with};

/// What a receiver got: path, headers we check, body.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
}

/// A webhook receiver on a loopback port; answers `status` (settable: 503 while "down").
pub struct Receiver {
    pub base: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<u16>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let status = Arc::new(Mutex::new(200u16));
        let (g, s) = (got.clone(), status.clone());
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (g, s) = (g.clone(), s.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let code = *s.lock().unwrap();
                if code == 200 {
                    g.lock().unwrap().push(Received {
                        path: parts.uri.path().to_owned(),
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8(body.to_vec()).unwrap(),
                    });
                }
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, got, status }
    }

    pub fn events(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

/// The Standard Webhooks check, written from the specification: base64 HMAC-SHA256 of
/// `id.timestamp.body` under the secret's bytes, prefixed `v1,`.
pub fn verify(secret: &str, received: &Received) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|s| s == expected)
}

pub(crate) fn dossier(id: &str, name: &str, country: &str) -> Value {
    json!({
        "candidate": {"id": id, "name": name, "country": country, "address": "Calle Colón 5, Valencia",
                      "contact": {"name": "Elena Vidal", "email": "dpo@agency-e.example"}},
        "processing": "Additional purchase-preference analysis on pseudonymised order histories",
        "security_measures": ["encryption-at-rest", "access-logging"],
        "certifications": [{"scheme": "iso27001"}],
    })
}

pub(crate) fn dispatcher(
    store: &Store,
    clock: Arc<ManualClock>,
    mail: &std::path::Path,
) -> Dispatcher {
    // The suite's receivers listen on loopback: allowed explicitly.
    Dispatcher::new(store.clone(), clock, Mailer::Files(mail.to_owned()))
        .unwrap()
        .with_outbound(custos_app::outbound::Outbound::ANYWHERE)
        .unwrap()
}

pub(crate) async fn drain(dispatcher: &Dispatcher) {
    while dispatcher.run_once().await.unwrap() > 0 {}
}

async fn subscribe(server: &TestServer, user: &str, organisation: &str, url: &str) -> String {
    let (status, _, body) = send(
        server,
        user,
        Method::POST,
        "/api/v1/webhooks",
        &[],
        Some(json!({"organisation": organisation, "url": url})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn b_asks_for_e_a_approves_and_e_joins_at_depth_2_with_signed_webhooks() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let receiver = Receiver::start().await;
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path());
        // The register before B engaged E.
        let (_, headers, _) = send(&server, "admin", Method::GET, "/api/v1/engagements/b-e", &[], None).await;
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, _) = send(&server, "admin", Method::DELETE, "/api/v1/engagements/b-e", &[("if-match", &etag)], None).await;
        assert_eq!(status, 204);
        let secret_a = subscribe(&server, "hypermarket", "hypermarket-a", &format!("{}/a", receiver.base)).await;
        let secret_b = subscribe(&server, "admin", "agency-b", &format!("{}/b", receiver.base)).await;
        // A viewer of another organisation may not add webhooks for A.
        let (status, _, _) = send(&server, "bank", Method::POST, "/api/v1/webhooks", &[],
            Some(json!({"organisation": "hypermarket-a", "url": "http://127.0.0.1:9/x"}))).await;
        assert_eq!(status, 403);

        // B's portal user uploads E's answered questionnaire and files the request.
        let uploaded: Value = server.client.post(server.url("/api/v1/attachments"))
            .bearer_auth(TestServer::token("agency-b"))
            .header("content-type", "text/plain")
            .body("Q: encryption at rest? A: AES-256")
            .send().await.unwrap().json().await.unwrap();
        let sha = uploaded["sha256"].as_str().unwrap().to_owned();
        let mut with_questionnaire = dossier("agency-e", "Analytics E S.L.", "ES");
        with_questionnaire["questionnaire"] = json!({"name": "questionnaire.txt", "sha256": sha});
        let spec = json!({"requester": "agency-b", "service": "Additional purchase-preference analysis",
                          "category": "Marketing analytics agency", "contract": "dpa-b-e",
                          "dossier": with_questionnaire});
        let (status, _, filed) = send(&server, "agency-b", Method::POST, "/api/v1/change-requests", &[], Some(spec.clone())).await;
        assert_eq!(status, 201, "{filed}");
        let key = filed["key"].as_str().unwrap().to_owned();
        assert_eq!(filed["status"], "open");
        let controllers = filed["controllers"].as_array().unwrap();
        assert_eq!(controllers.len(), 1);
        assert_eq!(controllers[0]["controller"], "hypermarket-a");
        assert_eq!(controllers[0]["mode"], "specific");
        assert_eq!(controllers[0]["paths"], json!([["hypermarket-a", "agency-b"]]));
        // Someone else's processor may not file in B's name.
        let (status, _, _) = send(&server, "courier-3", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        assert_eq!(status, 403);
        // A's inbox has it; the bank does not see it.
        let (_, inbox) = server.get(Some("hypermarket"), "/api/v1/change-requests?view=inbox").await;
        assert_eq!(inbox["items"][0]["key"], key.as_str(), "{inbox}");
        assert_eq!(inbox["items"][0]["waiting_for"][0]["state"], "pending");
        let (status, _) = server.get(Some("bank"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(status, 404);
        // The questionnaire: A reads it (the request cites it), the bank does not.
        let file = |user: &'static str| {
            let request = server.client.get(server.url(&format!("/api/v1/attachments/{sha}"))).bearer_auth(TestServer::token(user));
            async move { request.send().await.unwrap() }
        };
        let read = file("hypermarket").await;
        assert_eq!(read.status(), 200);
        assert_eq!(read.headers()["content-disposition"], "attachment");
        assert_eq!(read.text().await.unwrap(), "Q: encryption at rest? A: AES-256");
        assert_eq!(file("bank").await.status(), 404);

        drain(&dispatcher).await;
        let to_a = receiver.events("/a");
        assert_eq!(to_a.len(), 1, "{to_a:?}");
        assert_eq!(to_a[0]["type"], "change_request.filed");
        assert_eq!(to_a[0]["data"]["candidate"]["name"], "Analytics E S.L.");
        assert_eq!(to_a[0]["data"]["mode"], "specific");
        // The controller's mailbox got the notice, from the template, in its language.
        let mails: Vec<String> = std::fs::read_dir(mail.path()).unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            // Unfold long header lines (RFC 5322).
            .map(|m| m.replace("\r\n ", " ").replace("\n ", " "))
            .collect();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("To: dpo@hypermarket-a.example"), "{}", mails[0]);
        assert!(mails[0].contains("Subject: Sub-processor change: Agency B S.L. proposes Analytics E S.L. (Spain)"), "{}", mails[0]);

        // Executing before A decides is refused; A approves; B executes.
        let (status, _, _) = send(&server, "agency-b", Method::POST, &format!("/api/v1/change-requests/{key}/execute"), &[], None).await;
        assert_eq!(status, 409);
        let (status, _, _) = send(&server, "agency-b", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "approve"}))).await;
        assert_eq!(status, 403, "a processor cannot decide for the controller");
        let (status, _, decided) = send(&server, "hypermarket", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "approve", "reasons": "Dossier complete"}))).await;
        assert_eq!(status, 200, "{decided}");
        assert_eq!(decided["status"], "approved");
        clock.advance(SignedDuration::from_hours(24));
        let (status, _, executed) = send(&server, "agency-b", Method::POST, &format!("/api/v1/change-requests/{key}/execute"), &[], None).await;
        assert_eq!(status, 200, "{executed}");
        assert_eq!(executed["status"], "executed");
        let history: Vec<&str> = executed["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
        assert_eq!(history, ["filed", "decision", "executed"]);

        // E is in the chain at depth 2 from the day of execution, approved by A.
        let today = clock.now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let (_, chain) = server.get(Some("hypermarket"), &format!("/api/v1/activities/customer-marketing/chain?at={today}")).await;
        let e = chain["links"].as_array().unwrap().iter().find(|l| l["processor"] == "agency-e").unwrap().clone();
        assert_eq!(e["depth"], 2);
        assert_eq!(e["since"], today.to_string());
        assert_eq!(e["authorisation"]["by"], "hypermarket-a");
        let yesterday = today.yesterday().unwrap();
        let (_, before) = server.get(Some("hypermarket"), &format!("/api/v1/activities/customer-marketing/chain?at={yesterday}")).await;
        assert!(!before["links"].as_array().unwrap().iter().any(|l| l["processor"] == "agency-e"));

        // Every webhook is signed as Standard Webhooks says; A heard of the decision, B of it
        // all, in order.
        drain(&dispatcher).await;
        for received in receiver.got.lock().unwrap().iter() {
            let (secret, other) = if received.path == "/a" {
                (&secret_a, &secret_b)
            } else {
                (&secret_b, &secret_a)
            };
            assert!(verify(secret, received), "{received:?}");
            assert!(!verify(other, received), "another endpoint's secret does not verify it");
        }
        let types = |path: &str| -> Vec<String> {
            receiver.events(path).iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(types("/a"), ["change_request.filed", "change_request.decided", "change_request.executed"]);
        assert_eq!(types("/b"), ["change_request.filed", "change_request.decided", "change_request.approved", "change_request.executed"]);
        let ids: std::collections::BTreeSet<String> = receiver.got.lock().unwrap().iter().map(|r| format!("{}{}", r.path, r.id)).collect();
        assert_eq!(ids.len(), 7, "one delivery per event and endpoint");
        server.stop().await;
    })
    .await;
}

/// Runs `scenario` with a server whose clock the test moves, on both backends.
pub(crate) async fn on_every_backend_with_clock<F, Fut>(scenario: F)
where
    F: Fn(TestServer, Store, Arc<ManualClock>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    on_every_backend_store(|store| async {
        let clock = Arc::new(ManualClock::new("2026-11-25T09:00:00Z".parse().unwrap()));
        let server = start_with(store.clone(), clock.clone()).await;
        scenario(server, store, clock).await;
    })
    .await;
}

async fn on_every_backend_store<F, Fut>(scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    scenario(Store::open(&url).await.unwrap()).await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        scenario(store.clone()).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

/// The shared-hosting register with an administrator's token, served with `clock`.
async fn shared_hosting(store: Store, clock: Arc<ManualClock>) -> TestServer {
    let actor = Actor::new("test", clock.now());
    let register = manifest::parse_str(
        "shared-hosting.yaml",
        include_str!("../../../custos-core/tests/core/fixtures/shared-hosting.yaml"),
    )
    .unwrap();
    custos_app::register::apply(&store, &register, &actor)
        .await
        .unwrap();
    custos_app::people::create_user(
        &store,
        custos_app::people::NewUser {
            email: "admin@custos.test".into(),
            password: "password of admin".into(),
            is_admin: true,
            memberships: vec![],
        },
        &actor,
    )
    .await
    .unwrap();
    crate::give_token(
        &store,
        "admin@custos.test",
        "admin-tests",
        &TestServer::token("admin"),
        vec![Scope::Read, Scope::Write, Scope::Tokens],
    )
    .await;
    crate::serve(store, clock).await
}

fn states(request: &Value) -> Vec<(String, String)> {
    request["controllers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["controller"].as_str().unwrap().to_owned(),
                c["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_shared_hosting_provider_reaches_five_controllers_and_silence_becomes_approval_at_each_deadline()
 {
    on_every_backend_store(|store| async move {
        let clock = Arc::new(ManualClock::new("2026-01-10T09:00:00Z".parse().unwrap()));
        let server = shared_hosting(store.clone(), clock.clone()).await;
        let receiver = Receiver::start().await;
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path());
        for n in 1..=5 {
            subscribe(
                &server,
                "admin",
                &format!("controller-{n}"),
                &format!("{}/c{n}", receiver.base),
            )
            .await;
        }
        let spec = json!({"requester": "host-h", "service": "Off-site backups",
                          "dossier": dossier("backup-x", "Backup X GmbH", "DE")});
        let (status, _, filed) = send(
            &server,
            "admin",
            Method::POST,
            "/api/v1/change-requests",
            &[],
            Some(spec),
        )
        .await;
        assert_eq!(status, 201, "{filed}");
        let key = filed["key"].as_str().unwrap().to_owned();
        let modes: Vec<(String, String)> = filed["controllers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["controller"].as_str().unwrap().to_owned(),
                    c["mode"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            modes.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
            ["specific", "general", "general", "specific", "general"]
        );
        assert_eq!(
            filed["controllers"][4]["criteria"][0]["met"], false,
            "controller-5 admits only ISO 27701"
        );

        // Each controller hears of it once, with its own mode and deadline.
        drain(&dispatcher).await;
        for (n, days) in [(1, 14), (2, 14), (3, 30), (4, 7), (5, 10)] {
            let got = receiver.events(&format!("/c{n}"));
            assert_eq!(got.len(), 1, "controller-{n}: {got:?}");
            let deadline: Timestamp = got[0]["data"]["deadline"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                deadline,
                "2026-01-10T09:00:00Z".parse::<Timestamp>().unwrap()
                    + SignedDuration::from_hours(24 * days)
            );
        }

        // Day 10 and a minute: controller-5's window ran out; reminders went to the others.
        let fire = |clock: &Arc<ManualClock>, store: &Store| {
            let (clock, store) = (clock.clone(), store.clone());
            async move { crate::fire_timers(&store, clock.as_ref()).await }
        };
        clock.advance(SignedDuration::from_hours(24 * 10) + SignedDuration::from_mins(1));
        assert!(fire(&clock, &store).await > 0);
        let (_, now) = server
            .get(Some("admin"), &format!("/api/v1/change-requests/{key}"))
            .await;
        assert_eq!(
            states(&now)[4],
            ("controller-5".to_owned(), "deemed-approved".to_owned())
        );
        assert_eq!(states(&now)[1].1, "pending");
        // Controller-2's window (14 days) and controller-3's (30) run out in turn.
        clock.advance(SignedDuration::from_hours(24 * 4));
        fire(&clock, &store).await;
        clock.advance(SignedDuration::from_hours(24 * 16));
        fire(&clock, &store).await;
        assert_eq!(fire(&clock, &store).await, 0, "each timer fires once");
        let (_, now) = server
            .get(Some("admin"), &format!("/api/v1/change-requests/{key}"))
            .await;
        let found: Vec<String> = states(&now).into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            found,
            [
                "pending",
                "deemed-approved",
                "deemed-approved",
                "pending",
                "deemed-approved"
            ]
        );
        // The specific ones stay blocked: nothing can be executed.
        assert_eq!(now["status"], "open");
        let (status, _, _) = send(
            &server,
            "admin",
            Method::POST,
            &format!("/api/v1/change-requests/{key}/execute"),
            &[],
            None,
        )
        .await;
        assert_eq!(status, 409);

        drain(&dispatcher).await;
        let types = |n: u32| -> Vec<String> {
            receiver
                .events(&format!("/c{n}"))
                .iter()
                .map(|e| e["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            types(5),
            [
                "change_request.filed",
                "change_request.reminder",
                "change_request.reminder",
                "change_request.deemed_approved"
            ]
        );
        assert_eq!(
            types(1),
            [
                "change_request.filed",
                "change_request.reminder",
                "change_request.reminder"
            ],
            "the 14-day decision period of a specific one is reminded, never deemed"
        );
        // The deemed approvals carry the deadline as their decision time.
        let deemed = &receiver.events("/c3")[3];
        assert_eq!(deemed["type"], "change_request.deemed_approved");
        let rows = now["controllers"].as_array().unwrap();
        let mut checked = 0;
        for row in rows.iter().filter(|c| c["state"] == "deemed-approved") {
            assert!(row["deadline"].is_string(), "{row}");
            assert_eq!(row["decided_at"], row["deadline"], "{row}");
            checked += 1;
        }
        assert_eq!(checked, 3);
        let c3 = rows
            .iter()
            .find(|c| c["controller"] == "controller-3")
            .unwrap();
        assert_eq!(deemed["data"]["deadline"], c3["deadline"], "{deemed}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_receiver_down_for_hours_gets_everything_in_order_when_it_comes_back() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let receiver = Receiver::start().await;
        *receiver.status.lock().unwrap() = 503;
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path());
        let secret = subscribe(&server, "admin", "agency-b", &format!("{}/b", receiver.base)).await;
        let spec = json!({"requester": "agency-b", "service": "Analysis", "dossier": dossier("analytics-z", "Analytics Z S.L.", "ES")});
        let (_, _, filed) = send(&server, "agency-b", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        let key = filed["key"].as_str().unwrap().to_owned();
        send(&server, "hypermarket", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "request-information", "reasons": "Which data?"}))).await;
        send(&server, "hypermarket", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "object", "reasons": "Outside our purposes"}))).await;
        // Down through the whole retry schedule (more than a day): the endpoint is disabled.
        for _ in 0..12 {
            drain(&dispatcher).await;
            clock.advance(SignedDuration::from_hours(11));
        }
        let (_, hooks) = server.get(Some("admin"), "/api/v1/webhooks").await;
        assert_eq!(hooks["items"][0]["enabled"], false, "{hooks}");
        let hook = hooks["items"][0]["key"].as_str().unwrap().to_owned();
        let (_, log) = server.get(Some("admin"), &format!("/api/v1/webhooks/{hook}/deliveries")).await;
        let oldest = log["items"].as_array().unwrap().last().unwrap();
        // Pages of one: the first page's cursor leads to the next-older delivery.
        let (_, first) = server.get(Some("admin"), &format!("/api/v1/webhooks/{hook}/deliveries?limit=1")).await;
        let cursor = first["next_cursor"].as_str().expect("more than one delivery");
        let (_, second) = server.get(Some("admin"), &format!("/api/v1/webhooks/{hook}/deliveries?limit=1&cursor={cursor}")).await;
        assert_eq!(second["items"][0]["delivery"], log["items"][1]["delivery"], "{second}");
        assert_eq!(oldest["state"], "failed");
        assert_eq!(oldest["attempts"], 8);
        assert!(receiver.got.lock().unwrap().is_empty());
        // The disabling is on record, for the endpoint's organisation too.
        let disabled = crate::audit_actions(&server, "agency-b", "webhook_subscription").await;
        assert!(disabled.contains(&("disable".to_owned(), "custos:outbox".to_owned())), "{disabled:?}");

        // It comes back and is enabled by hand: everything arrives, once, in order.
        *receiver.status.lock().unwrap() = 200;
        let (status, _, _) = send(&server, "admin", Method::POST, &format!("/api/v1/webhooks/{hook}/enable"), &[], None).await;
        assert_eq!(status, 204);
        drain(&dispatcher).await;
        let got = receiver.got.lock().unwrap().clone();
        let types: Vec<String> = got.iter().map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned()).collect();
        assert_eq!(types, ["change_request.filed", "change_request.decided", "change_request.decided", "change_request.blocked"]);
        assert!(got.iter().all(|r| verify(&secret, r)));
        // What only e-mails use stays inside: the organisation whose templates write them.
        assert!(got.iter().all(|r| !r.body.contains("template_owner")), "{:?}", got.iter().map(|r| &r.body).collect::<Vec<_>>());
        let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "event ids are time-ordered and came in order");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_public_page_lists_current_and_announced_sub_processors() {
    on_every_backend_store(|store| async move {
        let clock = Arc::new(ManualClock::new("2026-01-10T09:00:00Z".parse().unwrap()));
        let server = shared_hosting(store.clone(), clock.clone()).await;
        let spec = json!({"requester": "host-h", "service": "Off-site backups", "dossier": dossier("backup-x", "Backup X GmbH", "DE")});
        send(&server, "admin", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        // No sign-in needed.
        let json: Value = server.client.get(server.url("/public/organisations/host-h/subprocessors.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(json["current"][0]["name"], "Old Hosting GmbH");
        assert_eq!(json["announced"][0]["name"], "Backup X GmbH");
        let html = server.client.get(server.url("/public/organisations/host-h/subprocessors")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Old Hosting GmbH") && html.contains("Backup X GmbH"), "{html}");
        assert!(html.contains("<html lang=\"en\">") && html.contains("<h1>Sub-processors of") && html.contains("<td>Germany</td>"), "{html}");
        // In Spanish at the switch: the words and the countries.
        let spanish = server.client.get(server.url("/public/organisations/host-h/subprocessors?lang=es")).send().await.unwrap().text().await.unwrap();
        assert!(spanish.contains("<html lang=\"es\">") && spanish.contains("<h1>Subencargados de") && spanish.contains("<td>Alemania</td>")
            && !spanish.contains("No hay cambios anunciados") && spanish.contains("Anunciados"), "{spanish}");
        let atom = server.client.get(server.url("/public/organisations/host-h/subprocessors.atom")).send().await.unwrap();
        assert_eq!(atom.headers()["content-type"], "application/atom+xml; charset=utf-8");
        let atom = atom.text().await.unwrap();
        assert!(atom.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">") && atom.contains("Backup X GmbH"), "{atom}");
        // An organisation that did not ask for a public page has none.
        let status = server.client.get(server.url("/public/organisations/agency-1/subprocessors.json")).send().await.unwrap().status();
        assert_eq!(status, 404);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_question_stops_the_window_only_where_the_contract_says_so_and_a_new_dossier_restarts_it()
{
    on_every_backend_store(|store| async move {
        let clock = Arc::new(ManualClock::new("2026-01-10T09:00:00Z".parse().unwrap()));
        let server = shared_hosting(store.clone(), clock.clone()).await;
        let spec = json!({"requester": "host-h", "service": "Off-site backups", "dossier": dossier("backup-x", "Backup X GmbH", "DE")});
        let (_, _, filed) = send(&server, "admin", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        let key = filed["key"].as_str().unwrap().to_owned();
        let decide = |controller: &'static str, decision: &'static str| {
            let (server, key) = (&server, key.clone());
            async move {
                send(server, "admin", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
                    Some(json!({"controller": controller, "decision": decision, "reasons": "Which backups?"}))).await
            }
        };
        // Day 2: controller-5 (window stops for questions) and controller-2 (it does not) ask.
        clock.advance(SignedDuration::from_hours(48));
        assert_eq!(decide("controller-5", "request-information").await.0, 200);
        assert_eq!(decide("controller-2", "request-information").await.0, 200);
        let (_, now) = server.get(Some("admin"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(now["controllers"][4]["deadline"], Value::Null, "paused");
        assert_eq!(now["controllers"][1]["deadline"], "2026-01-24T09:00:00.000000Z", "still running");
        // Day 20: controller-2's window ran out during the question: deemed approved;
        // controller-5's is still stopped.
        clock.advance(SignedDuration::from_hours(24 * 18));
        crate::fire_timers(&store, clock.as_ref()).await;
        let (_, now) = server.get(Some("admin"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(states(&now)[1].1, "deemed-approved");
        assert_eq!(states(&now)[4].1, "information-requested");
        // The requester answers with a new dossier: every decision was given on the old one, so
        // every controller decides again, each with its whole window from now (controller-5's
        // 10 days, controller-2's 14), the deemed approval included.
        let mut answer = dossier("backup-x", "Backup X GmbH", "DE");
        answer["certifications"] = json!([{"scheme": "iso27001"}, {"scheme": "iso27701"}]);
        let (status, _, updated) = send(&server, "admin", Method::PUT, &format!("/api/v1/change-requests/{key}/dossier"), &[], Some(answer)).await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["dossier_version"], 2);
        assert_eq!(states(&updated)[4].1, "pending");
        assert_eq!(updated["controllers"][4]["deadline"], "2026-02-09T09:00:00.000000Z");
        assert_eq!(states(&updated)[1].1, "pending", "the deemed approval was on version 1");
        assert_eq!(updated["controllers"][1]["deadline"], "2026-02-13T09:00:00.000000Z");
        // The decision names the dossier version it was taken on.
        let (_, _, decided) = decide("controller-5", "approve").await;
        let last = decided["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["kind"].as_str(), last["dossier_version"].as_u64()), (Some("decision"), Some(2)));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_requester_withdraws_from_its_page_and_nothing_can_change_after() {
    on_every_backend_with_clock(|server, _store, _clock| async move {
        let spec = json!({"requester": "agency-b", "service": "Analysis", "dossier": dossier("analytics-v", "Analytics V S.L.", "ES")});
        let (_, _, filed) = send(&server, "agency-b", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        let key = filed["key"].as_str().unwrap().to_owned();
        // B's portal user, signed in with a session, withdraws with the page's form.
        let signed_in = server.client.post(server.url("/api/v1/session"))
            .json(&json!({"email": "staff@agency-b.test", "password": "password of agency-b"}))
            .send().await.unwrap();
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let csrf = signed_in.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
        let form = |token: &str| {
            server.client.post(server.url(&format!("/change-requests/{key}/withdraw")))
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("csrf={token}").replace(' ', "+"))
        };
        assert_eq!(form("not the token").send().await.unwrap().status(), 403);
        // The first post asks, saying what withdrawing does; nothing changes yet.
        let asked = form(&csrf).send().await.unwrap();
        assert_eq!(asked.status(), 200);
        let asked = asked.text().await.unwrap();
        assert!(asked.contains("Every controller asked is told the request is withdrawn") && asked.contains(r#"name="confirm" value="yes""#), "{asked}");
        let (_, now) = server.get(Some("agency-b"), &format!("/api/v1/change-requests/{key}")).await;
        assert_ne!(now["status"], "withdrawn");
        let done = form(&format!("{csrf}&confirm=yes")).send().await.unwrap();
        assert_eq!(done.status(), 303);
        let (_, now) = server.get(Some("agency-b"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(now["status"], "withdrawn");
        assert_eq!(now["history"].as_array().unwrap().last().unwrap()["kind"], "withdrawn");
        let (status, _, _) = send(&server, "hypermarket", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "approve"}))).await;
        assert_eq!(status, 409);
        server.stop().await;
    })
    .await;
}
