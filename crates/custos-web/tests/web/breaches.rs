//! Personal-data breaches over HTTP (docs/breaches.md): the careless migration end to end, and
//! a breach three links down reaching five controllers, each on its own path, with the wrong
//! parties trying what they may not.

use std::sync::Arc;

use custos_app::data::{Role, Scope};
use custos_app::{Actor, Clock, ManualClock, Store};
use custos_core::manifest;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{TestServer, send};

/// Gives `name` a user in `organisation` with `role` and an API token.
async fn person(store: &Store, name: &str, organisation: &str, role: Role) {
    let actor = Actor::new("test", "2024-01-01T00:00:00Z".parse().unwrap());
    let email = format!("{name}@people.test");
    custos_app::people::create_user(
        store,
        custos_app::people::NewUser {
            email: email.clone(),
            password: format!("password of {name}"),
            is_admin: false,
            memberships: vec![(organisation.to_owned(), role)],
        },
        &actor,
    )
    .await
    .unwrap();
    crate::give_token(
        store,
        &email,
        &format!("{name}-tests"),
        &TestServer::token(name),
        vec![Scope::Read, Scope::Write],
    )
    .await;
}

/// Runs `scenario` on SQLite (with its database directory) and on PostgreSQL if configured.
async fn on_both_backends<F, Fut>(scenario: F)
where
    F: Fn(Store, Option<std::path::PathBuf>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    scenario(
        Store::open(&url).await.unwrap(),
        Some(dir.path().to_owned()),
    )
    .await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        scenario(store.clone(), None).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

fn migration_facts() -> Value {
    json!({
        "occurred_from": "2024-06-20T00:00:00Z",
        "aware_at": "2024-07-02T08:00:00Z",
        "nature": ["confidentiality"],
        "description": "Backups of the customer database were copied to a public folder during the migration and indexed by a search engine",
        "systems": ["website database backups", "public file share"],
        "data_categories": ["name", "postal-address", "email", "phone", "birth-date", "national-id"],
        "subject_categories": ["customers"],
        "subjects": {"min": 20000, "max": 22000},
        "records": {"min": 21000},
        "consequences": "Identity theft and fraud using national ID numbers; phishing",
        "measures_taken": "Folder removed; search engine asked to drop its copies",
        "measures_proposed": "Access review of the new hosting; encryption of backups",
        "contact": {"name": "Ana Ruiz", "email": "security@it-contractor.example"},
    })
}

/// The PDF's text as pdftotext reads it (poppler-utils; CI sets CUSTOS_REQUIRE_PDFTOTEXT).
pub(crate) fn pdftotext(pdf: &[u8]) -> Option<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .arg("-raw")
        .arg(file.path())
        .arg("-")
        .output()
    {
        Ok(output) => {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8(output.stdout).unwrap();
            Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        Err(_) if std::env::var_os("CUSTOS_REQUIRE_PDFTOTEXT").is_none() => {
            custos_app::testing::announce_skip(
                "reading the report back: pdftotext is not installed",
            );
            None
        }
        Err(error) => panic!("pdftotext: {error}"),
    }
}

async fn send_json(
    server: &TestServer,
    user: &str,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    send(server, user, Method::POST, path, &[], Some(body)).await
}

fn case<'a>(breach: &'a Value, controller: &str) -> &'a Value {
    breach["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["controller"] == controller)
        .unwrap_or_else(|| panic!("no case of {controller} in {breach}"))
}

/// SPEC.md's careless migration: the contractor reports the exposure, the controller's clock
/// starts on its awareness, it assesses and notifies, and the report names the chain and the
/// missing risk analysis.
#[tokio::test]
async fn the_careless_migration_from_the_processors_report_to_the_authoritys_report() {
    on_both_backends(|store, sqlite_dir| async move {
        let clock = Arc::new(ManualClock::new("2024-07-02T09:00:00Z".parse().unwrap()));
        let server = crate::start_with(store.clone(), clock.clone()).await;
        person(&store, "contractor", "it-contractor", Role::Portal).await;
        person(&store, "web", "web-controller", Role::Editor).await;

        // Someone else's people cannot report for the contractor.
        let (status, _, _) = send(&server, "agency-b", Method::POST, "/api/v1/breaches", &[],
            Some(json!({"party": "it-contractor", "facts": migration_facts()}))).await;
        assert_eq!(status, 403);
        // A report that does not hold together names its field.
        let mut wrong = migration_facts();
        wrong["aware_at"] = "2024-06-01T00:00:00Z".into();
        let (status, _, problem) = send(&server, "contractor", Method::POST, "/api/v1/breaches", &[],
            Some(json!({"party": "it-contractor", "facts": wrong}))).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "aware_at", "{problem}");

        // The contractor's evidence, uploaded first and cited by its hash.
        let uploaded: Value = server.client.post(server.url("/api/v1/attachments"))
            .bearer_auth(TestServer::token("contractor"))
            .header("content-type", "text/plain")
            .body("search-engine cache of the backup folder")
            .send().await.unwrap().json().await.unwrap();
        let sha = uploaded["sha256"].as_str().unwrap().to_owned();
        let mut facts = migration_facts();
        facts["attachments"] = json!([{"name": "cache.txt", "sha256": sha}]);
        // The controller reads times in Madrid's zone (its `time_zone`), e-mails and documents.
        crate::people::set_on_organisation(&server, "web", "web-controller", "time_zone", json!("Europe/Madrid")).await;

        let (status, _, reported) = send(&server, "contractor", Method::POST, "/api/v1/breaches", &[],
            Some(json!({"party": "it-contractor", "facts": facts}))).await;
        assert_eq!(status, 201, "{reported}");
        let key = reported["key"].as_str().unwrap().to_owned();
        assert_eq!(reported["hops"].as_array().unwrap().len(), 1);
        assert_eq!(reported["hops"][0]["recipient"], "web-controller");
        let kinds: Vec<&str> = reported["history"].as_array().unwrap().iter()
            .map(|h| h["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reported", "relayed"], "{reported}");
        assert!(reported["cases"].as_array().unwrap().is_empty(), "the contractor sees no controller's case");

        // The controller hears of it by e-mail: a message that parses strictly, dates in words.
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = crate::changes::dispatcher(&store, clock.clone(), mail.path());
        crate::changes::drain(&dispatcher).await;
        if let Some(parsed) = crate::rights::strictly_parsed(mail.path()) {
            let told = parsed.iter().find(|m| m["to"] == "legal@web-controller.example")
                .unwrap_or_else(|| panic!("no e-mail to the controller: {parsed:?}"));
            let text = told["text"].as_str().unwrap();
            assert!(text.contains("IT Contractor S.L. tells Servicios Web Ejemplo S.A. of a personal-data breach"), "{text}");
            assert!(text.contains("2 July 2024, 10:00 CEST") && !text.contains("T08:00:00"), "{text}");
            assert_eq!(told["type"], "multipart/alternative");
        }

        // The controller reads the evidence; another party of the instance does not.
        let (status, _) = server.get(Some("web"), &format!("/api/v1/attachments/{sha}")).await;
        assert_eq!(status, 200);
        let (status, _) = server.get(Some("hypermarket"), &format!("/api/v1/attachments/{sha}")).await;
        assert_eq!(status, 404);

        // Others of the instance do not see it at all.
        for outsider in ["hypermarket", "agency-b", "bank"] {
            let (status, _) = server.get(Some(outsider), &format!("/api/v1/breaches/{key}")).await;
            assert_eq!(status, 404, "{outsider}");
        }
        let (_, list) = server.get(Some("hypermarket"), "/api/v1/breaches").await;
        assert!(list["items"].as_array().unwrap().is_empty());

        // The controller's clock started when the report reached it.
        let (status, breach) = server.get(Some("web"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(status, 200);
        let own = case(&breach, "web-controller");
        assert_eq!(own["awareness"], "relayed");
        assert_eq!(own["deadline"].as_str().unwrap()[..19], *"2024-07-05T09:00:00");
        // The processor cannot decide for the controller; another controller cannot see it.
        let decision = json!({"kind": "notify-authority-and-subjects",
            "reasons": "National ID numbers of about 21,000 people publicly exposed: high risk"});
        let path = format!("/api/v1/breaches/{key}/cases/web-controller/decision");
        let (status, _, _) = send(&server, "contractor", Method::POST, &path, &[], Some(decision.clone())).await;
        assert_eq!(status, 404);
        let (status, _, _) = send(&server, "hypermarket", Method::POST, &path, &[], Some(decision.clone())).await;
        assert_eq!(status, 404);

        // The page's forms as well: another party's editor does not see the case; the
        // controller's own token still needs a session's CSRF token.
        let form = format!("/breaches/{key}/cases/web-controller/decide");
        for (who, expected) in [("hypermarket", 404), ("contractor", 404), ("web", 403)] {
            let status = server.client.post(server.url(&form)).bearer_auth(TestServer::token(who))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("csrf=x&kind=not-notifiable&reasons=none")
                .send().await.unwrap().status().as_u16();
            assert_eq!(status, expected, "{who}");
        }

        // It assesses with the ENISA aid, decides and files within its 72 hours.
        clock.advance(jiff::SignedDuration::from_hours(20));
        let (status, _, assessed) = send(&server, "web", Method::PUT,
            &format!("/api/v1/breaches/{key}/cases/web-controller/assessment"), &[],
            Some(json!({"severity": {"context": "simple", "context_adjustment": 2, "identification": "maximum",
                                     "confidentiality": "severe", "malicious": false},
                        "risk": "high", "reasons": "National ID numbers indexed publicly"}))).await;
        assert_eq!(status, 200, "{assessed}");
        assert_eq!(case(&assessed, "web-controller")["severity"]["level"], "high");
        let (status, _, _) = send(&server, "web", Method::POST, &path, &[], Some(decision)).await;
        assert_eq!(status, 200);
        let (status, _, filed) = send(&server, "web", Method::POST,
            &format!("/api/v1/breaches/{key}/cases/web-controller/filings"), &[],
            Some(json!({"submitted_at": "2024-07-03T04:00:00Z", "reference": "AEPD/BRE/2024/1234"}))).await;
        assert_eq!(status, 200, "{filed}");
        let own = case(&filed, "web-controller");
        assert_eq!(own["filings"][0]["reference"], "AEPD/BRE/2024/1234");
        assert_eq!(own["overdue"], false);
        let (status, _, _) = send(&server, "web", Method::POST,
            &format!("/api/v1/breaches/{key}/cases/web-controller/communication"), &[],
            Some(json!({"sent_at": "2024-07-03T05:00:00Z", "channel": "email", "recipients": 21000}))).await;
        assert_eq!(status, 200);

        // The report: the authority of its establishment, the Art. 33(3) elements, the chain
        // with its contract, and the findings the controller should have seen before.
        let (status, report) = server.get(Some("web"),
            &format!("/api/v1/breaches/{key}/cases/web-controller/report")).await;
        assert_eq!(status, 200, "{report}");
        assert!(report["authority"]["name"].as_str().unwrap().contains("AEPD"), "{report}");
        let chain = report["chain"].as_array().unwrap();
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0]["engagement"], "website-migration");
        assert_eq!(chain[0]["contract"], "generic-dpa");
        let rules: Vec<&str> = report["findings"].as_array().unwrap().iter()
            .map(|f| f["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"dpia-missing"), "{rules:?}");
        assert!(rules.contains(&"dpa-incomplete"), "{rules:?}");
        assert!(rules.contains(&"breach-notice-term-missing"), "{rules:?}");
        let html = server.client.get(server.url(&format!("/api/v1/breaches/{key}/cases/web-controller/report?format=html")))
            .bearer_auth(TestServer::token("web")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("(a) Approximate number of data subjects"), "{html}");
        assert!(html.contains("20000–22000"));
        let pdf = server.client.get(server.url(&format!("/api/v1/breaches/{key}/cases/web-controller/report?format=pdf")))
            .bearer_auth(TestServer::token("web")).send().await.unwrap().bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        if let Some(text) = pdftotext(&pdf) {
            for expected in ["Personal-data breach report", "Agencia Española de Protección de Datos",
                             "website-migration", "generic-dpa", "AEPD/BRE/2024/1234", "dpia-missing"] {
                assert!(text.contains(expected), "{expected} in the PDF:\n{text}");
            }
        }
        // The same report in Spanish, for the Spanish authority; a language Custos lacks refused.
        let pdf = server.client.get(server.url(&format!("/api/v1/breaches/{key}/cases/web-controller/report?format=pdf&language=es")))
            .bearer_auth(TestServer::token("web")).send().await.unwrap().bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF"));
        if let Some(text) = pdftotext(&pdf) {
            for expected in ["Notificación a la autoridad de control, art. 33.3 RGPD",
                             "a) Número aproximado de interesados", "La cadena", "website-migration"] {
                assert!(text.contains(expected), "{expected} in the PDF:\n{text}");
            }
            assert!(!text.contains("Personal-data breach report"), "{text}");
            // Times as people read them, in the controller's zone, named.
            assert!(text.contains("2024-07-02 10:00 CEST"), "{text}");
            assert!(!text.contains(":00Z"), "machine times in the PDF:\n{text}");
        }
        let (status, body) = server.get(Some("web"),
            &format!("/api/v1/breaches/{key}/cases/web-controller/report?format=html&language=fr")).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("language")), "{body}");
        let register = server.client.get(server.url("/api/v1/organisations/web-controller/breaches?format=html&language=es"))
            .bearer_auth(TestServer::token("web")).send().await.unwrap().text().await.unwrap();
        assert!(register.contains("Registro de violaciones de la seguridad de los datos personales"), "{register}");
        let letter = server.client.get(server.url(&format!("/api/v1/breaches/{key}/cases/web-controller/communication?language=es")))
            .bearer_auth(TestServer::token("web")).send().await.unwrap().text().await.unwrap();
        assert!(letter.contains("Servicios Web Ejemplo S.A. le informa"), "{letter}");

        // Which subjects' data the contractor held during the breach, from the ledger.
        let events = json!([
            {"identifier": "ana@example.com", "activity": "customer-accounts", "recipient": "it-contractor",
             "categories": ["name", "national-id"], "at": "2024-05-01T10:00:00Z"},
            {"identifier": "bea@example.com", "activity": "customer-accounts", "recipient": "it-contractor",
             "categories": ["email"], "at": "2024-06-25T10:00:00Z"},
            {"identifier": "old@example.com", "activity": "customer-accounts", "recipient": "it-contractor",
             "categories": ["email"], "at": "2019-01-01T10:00:00Z"},
        ]);
        let (status, _, recorded) = send(&server, "web", Method::POST, "/api/v1/disclosures", &[], Some(events)).await;
        assert_eq!(status, 201, "{recorded}");
        let (status, affected) = server.get(Some("web"),
            &format!("/api/v1/breaches/{key}/affected?controller=web-controller")).await;
        assert_eq!(status, 200, "{affected}");
        assert_eq!(affected["subjects"], 2, "the 2019 disclosure was past its retention: {affected}");
        assert_eq!(affected["by_category"]["national-id"], 1);
        let (status, _, matched) = send(&server, "web", Method::POST, &format!("/api/v1/breaches/{key}/affected"), &[],
            Some(json!({"controller": "web-controller",
                        "identifiers": ["ANA@example.com", "old@example.com", "zed@example.com"]}))).await;
        assert_eq!(status, 200, "{matched}");
        assert_eq!(matched["matched"], json!(["ANA@example.com"]));
        assert_eq!(matched["not_matched"], 2);
        let (status, _) = server.get(Some("contractor"),
            &format!("/api/v1/breaches/{key}/affected?controller=web-controller")).await;
        assert_eq!(status, 404, "the processor does not count the controller's subjects");

        // The communication through Custos's e-mail reaches only affected subjects; their
        // addresses leave the database once the e-mails have gone.
        let send = format!("/api/v1/breaches/{key}/cases/web-controller/communication/send");
        let (status, _, _) = send_json(&server, "contractor", &send, json!({"addresses": ["ana@example.com"]})).await;
        assert_eq!(status, 404, "the processor does not write to the controller's customers");
        let (status, _, sent) = send_json(&server, "web", &send,
            json!({"addresses": ["ana@example.com", "stranger@example.com"], "language": "es"})).await;
        assert_eq!(status, 200, "{sent}");
        assert_eq!(sent, json!({"sent": 1, "not_affected": 1}));
        let mail_to_subjects = tempfile::tempdir().unwrap();
        let dispatcher = crate::changes::dispatcher(&store, clock.clone(), mail_to_subjects.path());
        crate::changes::drain(&dispatcher).await;
        if let Some(parsed) = crate::rights::strictly_parsed(mail_to_subjects.path()) {
            assert_eq!(parsed.iter().filter(|m| m["to"] == "ana@example.com").count(), 1, "{parsed:?}");
            assert!(!parsed.iter().any(|m| m["to"] == "stranger@example.com"));
            let text = parsed.iter().find(|m| m["to"] == "ana@example.com").unwrap()["text"].as_str().unwrap().to_owned();
            assert!(text.contains("Servicios Web Ejemplo S.A. le informa") && text.contains("20 de junio de 2024"), "{text}");
        }
        clock.advance(jiff::SignedDuration::from_hours(73));
        crate::fire_timers(&store, clock.as_ref()).await;
        if let Some(dir) = &sqlite_dir {
            let mut bytes = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.to_string_lossy().contains("custos.db") {
                    bytes.extend(std::fs::read(path).unwrap());
                }
            }
            assert!(!bytes.windows(15).any(|w| w == b"ana@example.com"), "the address is still in the database files");
        }

        // Every route, tried by the wrong parties: another organisation's editor and portal
        // user (not reached: 404), the contractor on the controller's case (404) or acting for
        // the controller (403), the controller's read-only token (403 on writes), the public
        // (401).
        crate::give_token(&store, "web@people.test", "web-read-only", &TestServer::token("web-read-only"),
            vec![Scope::Read]).await;
        let case_path = format!("/api/v1/breaches/{key}/cases/web-controller");
        let writes: Vec<(Method, String, Value)> = vec![
            (Method::POST, format!("/api/v1/breaches/{key}/acknowledge"), json!({"organisation": "web-controller"})),
            (Method::POST, format!("/api/v1/breaches/{key}/relay"), json!({"organisation": "web-controller"})),
            (Method::POST, format!("/api/v1/breaches/{key}/phases"), json!({"organisation": "web-controller", "update": {"note": "n"}})),
            (Method::POST, format!("{case_path}/awareness"), json!({"aware_at": "2024-07-02T08:30:00Z"})),
            (Method::PUT, format!("{case_path}/assessment"), json!({"risk": "risk", "reasons": "r"})),
            (Method::POST, format!("{case_path}/decision"), json!({"kind": "not-notifiable", "reasons": "r"})),
            (Method::POST, format!("{case_path}/filings"), json!({"submitted_at": "2024-07-03T04:00:00Z"})),
            (Method::POST, format!("{case_path}/communication"), json!({"sent_at": "2024-07-03T05:00:00Z", "channel": "post"})),
            (Method::POST, format!("{case_path}/communication/send"), json!({"addresses": ["ana@example.com"]})),
            (Method::POST, format!("/api/v1/breaches/{key}/affected"), json!({"controller": "web-controller", "identifiers": ["ana@example.com"]})),
        ];
        let reads = [
            format!("/api/v1/breaches/{key}"),
            format!("{case_path}/report"),
            format!("{case_path}/communication"),
            format!("/api/v1/breaches/{key}/affected?controller=web-controller"),
            "/api/v1/organisations/web-controller/breaches".to_owned(),
        ];
        let status_of = |who: Option<&'static str>, method: Method, path: String, body: Option<Value>| {
            let mut request = server.client.request(method, server.url(&path));
            if let Some(who) = who {
                request = request.bearer_auth(TestServer::token(who));
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        for (method, path, body) in &writes {
            let on_case = path.starts_with(&case_path) || path.ends_with("/affected");
            for (who, expected) in [
                (Some("hypermarket"), 404),
                (Some("agency-b"), 404),
                (Some("contractor"), if on_case { 404 } else { 403 }),
                // Matching identifiers writes nothing: a read-only token may.
                (Some("web-read-only"), if path.ends_with("/affected") { 200 } else { 403 }),
                (None, 401),
            ] {
                let status = status_of(who, method.clone(), path.clone(), Some(body.clone())).await;
                assert_eq!(status, expected, "{who:?} {method} {path}");
            }
        }
        for path in &reads {
            for (who, expected) in [(Some("hypermarket"), [403, 404]), (Some("agency-b"), [403, 404]),
                                    (None, [401, 401]), (Some("web-read-only"), [200, 200])] {
                let status = status_of(who, Method::GET, path.clone(), None).await;
                assert!(expected.contains(&status), "{who:?} GET {path}: {status}");
            }
        }
        let (status, _) = server.get(Some("contractor"), &format!("{case_path}/report")).await;
        assert_eq!(status, 404, "the processor reads no controller's report");

        // The register of breaches of both parties.
        let (_, register) = server.get(Some("web"), "/api/v1/organisations/web-controller/breaches").await;
        assert_eq!(register[0]["role"], "controller");
        assert_eq!(register[0]["decision"]["kind"], "notify-authority-and-subjects");
        let (_, register) = server.get(Some("contractor"), "/api/v1/organisations/it-contractor/breaches").await;
        assert_eq!(register[0]["role"], "processor");
        let (status, _) = server.get(Some("contractor"), "/api/v1/organisations/web-controller/breaches").await;
        assert!(status == 403 || status == 404, "{status}");
        server.stop().await;
    })
    .await;
}

/// The shared-hosting register with portal people at the host and at agency 1, an editor at
/// controller 1 and an administrator; nobody acts for the old hosting provider or agencies 2
/// and 3.
async fn shared_hosting(store: &Store, clock: Arc<ManualClock>) -> TestServer {
    let actor = Actor::new("test", clock.now());
    let register = manifest::parse_str(
        "shared-hosting.yaml",
        include_str!("../../../custos-core/tests/core/fixtures/shared-hosting.yaml"),
    )
    .unwrap();
    custos_app::register::apply(store, &register, &actor)
        .await
        .unwrap();
    custos_app::people::create_user(
        store,
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
        store,
        "admin@custos.test",
        "admin-tests",
        &TestServer::token("admin"),
        vec![Scope::Read, Scope::Write],
    )
    .await;
    person(store, "host", "host-h", Role::Portal).await;
    person(store, "agency1", "agency-1", Role::Portal).await;
    person(store, "controller1", "controller-1", Role::Editor).await;
    crate::serve(store.clone(), clock).await
}

/// A hosting provider at depth 3 under three agencies and five controllers reports: every
/// controller gets its own case on its own path; each relay is recorded (by Custos where
/// nobody acts for the party); a late relay and an overdue clock are findings; a notification
/// after 72 hours needs the reasons for its delay.
#[tokio::test]
async fn a_breach_three_links_down_reaches_five_controllers_each_on_its_own_path() {
    on_both_backends(|store, _| async move {
        let clock = Arc::new(ManualClock::new("2026-02-02T09:00:00Z".parse().unwrap()));
        let server = shared_hosting(&store, clock.clone()).await;
        // Controller 3 listens for relays only; agency 1 for acknowledgements.
        let receiver = crate::changes::Receiver::start().await;
        let mut secrets = Vec::new();
        for (organisation, kind) in [("controller-3", "breach.relayed"), ("agency-1", "breach.acknowledged")] {
            let (status, _, body) = send(&server, "admin", Method::POST, "/api/v1/webhooks", &[],
                Some(json!({"organisation": organisation, "url": format!("{}/{organisation}", receiver.base),
                            "event_types": [kind]}))).await;
            assert_eq!(status, 201, "{body}");
            secrets.push(body["secret"].as_str().unwrap().to_owned());
        }
        let mut facts = migration_facts();
        facts["occurred_from"] = "2026-02-01T22:00:00Z".into();
        facts["aware_at"] = "2026-02-02T08:00:00Z".into();
        facts["data_categories"] = json!(["email"]);
        let (status, _, reported) = send(&server, "admin", Method::POST, "/api/v1/breaches", &[],
            Some(json!({"party": "hosting-old", "facts": facts}))).await;
        assert_eq!(status, 201, "{reported}");
        let key = reported["key"].as_str().unwrap().to_owned();
        assert_eq!(reported["cases"].as_array().unwrap().len(), 5, "{reported}");
        for case in reported["cases"].as_array().unwrap() {
            assert_eq!(case["paths"].as_array().unwrap().len(), 1, "{case}");
            assert_eq!(case["paths"][0].as_array().unwrap().len(), 4, "{case}");
            assert!(case["aware_at"].is_null(), "the host has not passed it on: {case}");
        }
        // The old host has nobody on the instance: its report reached host-h at once.
        let (_, seen) = server.get(Some("host"), &format!("/api/v1/breaches/{key}")).await;
        let hops = seen["hops"].as_array().unwrap();
        assert!(hops.iter().any(|h| h["sender"] == "hosting-old" && h["received_at"].is_string()));
        // Agency 1 does not see it before host-h relays; nor may it relay for host-h.
        let (status, _) = server.get(Some("agency1"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(status, 404);

        // host-h passes it on 30 hours later: past the undue-delay target of 24 hours.
        clock.advance(jiff::SignedDuration::from_hours(30));
        let relay = format!("/api/v1/breaches/{key}/relay");
        let (status, _, _) = send(&server, "agency1", Method::POST, &relay, &[],
            Some(json!({"organisation": "host-h"}))).await;
        assert_eq!(status, 404, "agency 1 has not been reached");
        let (status, _, relayed) = send(&server, "host", Method::POST, &relay, &[],
            Some(json!({"organisation": "host-h"}))).await;
        assert_eq!(status, 200, "{relayed}");
        assert!(relayed["hops"].as_array().unwrap().iter()
            .any(|h| h["sender"] == "host-h" && h["late"] == true), "{relayed}");
        let (status, _, again) = send(&server, "host", Method::POST, &relay, &[],
            Some(json!({"organisation": "host-h"}))).await;
        assert_eq!(status, 409, "{again}");

        // Agencies 2 and 3 have nobody: controllers 3, 4 and 5 know now; 1 and 2 wait for
        // agency 1, which relays two hours later.
        let (_, all) = server.get(Some("admin"), &format!("/api/v1/breaches/{key}")).await;
        let aware: Vec<&str> = all["cases"].as_array().unwrap().iter()
            .filter(|c| c["aware_at"].is_string())
            .map(|c| c["controller"].as_str().unwrap()).collect();
        assert_eq!(aware, ["controller-3", "controller-4", "controller-5"]);
        clock.advance(jiff::SignedDuration::from_hours(2));
        let (status, _, _) = send(&server, "agency1", Method::POST, &format!("/api/v1/breaches/{key}/acknowledge"), &[],
            Some(json!({"organisation": "agency-1"}))).await;
        assert_eq!(status, 200);
        let (status, _, _) = send(&server, "agency1", Method::POST, &relay, &[],
            Some(json!({"organisation": "agency-1"}))).await;
        assert_eq!(status, 200);
        let (_, all) = server.get(Some("admin"), &format!("/api/v1/breaches/{key}")).await;
        assert!(all["cases"].as_array().unwrap().iter().all(|c| c["aware_at"].is_string()), "{all}");
        let received: Vec<&Value> = all["hops"].as_array().unwrap().iter().collect();
        assert_eq!(received.len(), 9, "1 to the host, 3 to the agencies, 5 to the controllers");
        assert!(received.iter().all(|h| h["received_at"].is_string()));
        let by_custos = received.iter().filter(|h| h["relayed_by"].as_str().unwrap().starts_with("custos")).count();
        assert_eq!(by_custos, 3, "agency 2's two hops and agency 3's, nobody acting for them");

        // The webhooks went out, signed, each to the endpoint that asked for its kind.
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = crate::changes::dispatcher(&store, clock.clone(), mail.path());
        crate::changes::drain(&dispatcher).await;
        let to_controller = receiver.events("/controller-3");
        assert_eq!(to_controller.len(), 1, "{to_controller:?}");
        assert_eq!(to_controller[0]["type"], "breach.relayed");
        assert_eq!(to_controller[0]["data"]["sender"]["id"], "agency-2");
        assert_eq!(to_controller[0]["data"]["recipient"]["id"], "controller-3");
        let to_agency = receiver.events("/agency-1");
        assert!(!to_agency.is_empty() && to_agency.iter().all(|e| e["type"] == "breach.acknowledged"), "{to_agency:?}");
        for received in receiver.got.lock().unwrap().iter() {
            let secret = if received.path == "/controller-3" { &secrets[0] } else { &secrets[1] };
            assert!(crate::changes::verify(secret, received), "signed");
        }

        // Controller 1 sees only its own case.
        let (_, mine) = server.get(Some("controller1"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(mine["cases"].as_array().unwrap().len(), 1);
        assert_eq!(mine["cases"][0]["paths"][0], json!(["controller-1", "agency-1", "host-h", "hosting-old"]));

        // 73 hours on, controller 1 has decided nothing: overdue, a finding, a mail.
        clock.advance(jiff::SignedDuration::from_hours(73));
        let fired = crate::fire_timers(&store, clock.as_ref()).await;
        assert!(fired >= 5, "every controller's clock ran out: {fired}");
        let (_, mine) = server.get(Some("controller1"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(mine["cases"][0]["overdue"], true);
        let (_, findings) = server.get(Some("admin"), "/api/v1/findings?rule=breach-undecided").await;
        let text = findings.to_string();
        assert!(text.contains("Controller 1 S.A."), "{text}");
        let (_, late) = server.get(Some("admin"), "/api/v1/findings?rule=breach-relay-late").await;
        assert!(late.to_string().contains("host-h passed breach"), "{late}");
        // Each controller sees its own clock's finding and the late relays of its own chain.
        let (_, mine) = server.get(Some("controller1"), "/api/v1/findings").await;
        let mine: Vec<(String, String)> = mine["findings"].as_array().unwrap().iter()
            .filter(|f| f["rule"].as_str().unwrap().starts_with("breach-"))
            .map(|f| (f["rule"].as_str().unwrap().to_owned(), f["message"].as_str().unwrap().to_owned()))
            .collect();
        assert!(mine.iter().any(|(r, m)| r == "breach-undecided" && m.contains("Controller 1 S.A.")), "{mine:?}");
        assert!(!mine.iter().any(|(_, m)| m.contains("Controller 2 S.A.") || m.contains("to agency-2")), "{mine:?}");
        assert!(mine.iter().any(|(r, m)| r == "breach-relay-late" && m.contains("to agency-1")), "{mine:?}");
        let (_, hosts) = server.get(Some("host"), "/api/v1/findings?rule=breach-undecided").await;
        assert!(hosts["findings"].as_array().unwrap().is_empty(), "the host does not see the controllers' clocks: {hosts}");

        let decision = format!("/api/v1/breaches/{key}/cases/controller-1/decision");
        let (status, _, problem) = send(&server, "controller1", Method::POST, &decision, &[],
            Some(json!({"kind": "notify-authority", "reasons": "E-mail addresses exposed"}))).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["field"], "delay_reasons");
        let (status, _, decided) = send(&server, "controller1", Method::POST, &decision, &[],
            Some(json!({"kind": "notify-authority", "reasons": "E-mail addresses exposed",
                        "delay_reasons": "The hosting provider's report reached us 32 hours after it knew"}))).await;
        assert_eq!(status, 200, "{decided}");
        // Another controller's editor cannot touch controller 1's case.
        let (status, _, _) = send(&server, "host", Method::POST, &decision, &[],
            Some(json!({"kind": "not-notifiable", "reasons": "no"}))).await;
        assert_eq!(status, 404);
        server.stop().await;
    })
    .await;
}

/// A phase that moves the beginning of a breach earlier reaches the controllers whose chains
/// held the party on the days it adds: the host left agency 1 for agency 2 on 11 March; a
/// breach first dated 12 March concerns controller 2 only, until the host finds it began on
/// 9 March.
#[tokio::test]
async fn a_phase_that_widens_the_breach_reaches_the_controllers_of_the_days_it_adds() {
    on_both_backends(|store, _| async move {
        let clock = Arc::new(ManualClock::new("2026-03-14T09:00:00Z".parse().unwrap()));
        let actor = Actor::new("test", clock.now());
        let register = manifest::parse_str(
            "moves.yaml",
            r#"
version: 1
organisations:
  - {id: c1, name: C1 S.A., country: ES, contact: {email: privacy@c1.example}}
  - {id: c2, name: C2 S.A., country: ES, contact: {email: privacy@c2.example}}
  - {id: a1, name: A1 S.L., country: ES}
  - {id: a2, name: A2 S.L., country: ES}
  - {id: host, name: Host GmbH, country: DE}
activities:
  - {id: act1, controller: c1, lawful_basis: contract}
  - {id: act2, controller: c2, lawful_basis: contract}
engagements:
  - {id: c1-a1, activity: act1, engaged_by: c1, processor: a1, service: s, since: 2025-01-01}
  - {id: a1-h, activity: act1, engaged_by: a1, processor: host, service: s, since: 2025-01-01, until: 2026-03-10}
  - {id: c2-a2, activity: act2, engaged_by: c2, processor: a2, service: s, since: 2025-01-01}
  - {id: a2-h, activity: act2, engaged_by: a2, processor: host, service: s, since: 2026-03-11}
"#,
        )
        .unwrap();
        custos_app::register::apply(&store, &register, &actor).await.unwrap();
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
        crate::give_token(&store, "admin@custos.test", "admin-tests", &TestServer::token("admin"),
            vec![Scope::Read, Scope::Write]).await;
        person(&store, "host", "host", Role::Portal).await;
        person(&store, "c1", "c1", Role::Editor).await;
        let server = crate::serve(store.clone(), clock.clone()).await;
        let mut facts = migration_facts();
        facts["occurred_from"] = "2026-03-12T00:00:00Z".into();
        facts["aware_at"] = "2026-03-13T00:00:00Z".into();
        let (status, _, reported) = send(&server, "host", Method::POST, "/api/v1/breaches", &[],
            Some(json!({"party": "host", "facts": facts}))).await;
        assert_eq!(status, 201, "{reported}");
        let key = reported["key"].as_str().unwrap().to_owned();
        let (_, all) = server.get(Some("admin"), &format!("/api/v1/breaches/{key}")).await;
        let controllers: Vec<&str> = all["cases"].as_array().unwrap().iter().map(|c| c["controller"].as_str().unwrap()).collect();
        assert_eq!(controllers, ["c2"]);
        let (status, _) = server.get(Some("c1"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(status, 404, "c1's data was not there on the days reported");

        clock.advance(jiff::SignedDuration::from_hours(5));
        let (status, _, widened) = send(&server, "host", Method::POST, &format!("/api/v1/breaches/{key}/phases"), &[],
            Some(json!({"organisation": "host", "update": {"note": "the logs show access from 9 March",
                                                           "occurred_from": "2026-03-09T06:00:00Z"}}))).await;
        assert_eq!(status, 200, "{widened}");
        let (_, mine) = server.get(Some("c1"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(mine["cases"].as_array().unwrap().len(), 1, "{mine}");
        assert_eq!(mine["cases"][0]["paths"][0], json!(["c1", "a1", "host"]));
        assert_eq!(mine["cases"][0]["aware_at"].as_str().unwrap()[..13], *"2026-03-14T14", "its clock starts now");
        let (_, all) = server.get(Some("admin"), &format!("/api/v1/breaches/{key}")).await;
        assert_eq!(all["version"], 2);
        assert_eq!(all["cases"].as_array().unwrap().len(), 2);
        let phase = all["history"].as_array().unwrap().iter().find(|h| h["kind"] == "phase").unwrap();
        assert_eq!(phase["body"]["new_controllers"], json!(["c1"]));
        server.stop().await;
    })
    .await;
}
