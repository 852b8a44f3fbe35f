//! Data-subject requests over HTTP: the marketing chain's customer disclosed to B in 2025
//! learns of B, C, D and the transfer to Israel (not of E, who joined after); one disclosed
//! after E joined learns of E too; erasure reaches B, C and D as a tree (B relays to C, C to
//! D) and the request closes only when each is done or impossible; the address verified by
//! its one-time link is erased from the database once the request closes (the SQLite files
//! are searched for it); the public intake page answers the same whatever the address.

use std::sync::Arc;

use custos_app::ManualClock;
use custos_app::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::changes::{dispatcher, drain};
use crate::{TestServer, send, start_with};

pub(crate) const ANA: &str = "ana.garcia@example.com";

/// Runs `scenario` on SQLite (with the database file's directory) and on PostgreSQL.
async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(TestServer, Store, Arc<ManualClock>, Option<std::path::PathBuf>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let clock = || Arc::new(ManualClock::new("2026-11-25T09:00:00Z".parse().unwrap()));
    let store = Store::open(&url).await.unwrap();
    let c = clock();
    scenario(
        start_with(store.clone(), c.clone()).await,
        store,
        c,
        Some(dir.path().to_owned()),
    )
    .await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        let c = clock();
        scenario(
            start_with(store.clone(), c.clone()).await,
            store.clone(),
            c,
            None,
        )
        .await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

pub(crate) async fn post(server: &TestServer, user: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = send(server, user, Method::POST, path, &[], Some(body)).await;
    (status, body)
}

/// What Ana wrote with her erasure request: over two lines, with quotes.
const DETAILS: &str = "I moved to \"Calle del Pez 4\"\nPlease erase my old address too";

async fn enter(server: &TestServer, kind: &str, email: &str) -> Value {
    let (status, body) = post(
        server,
        "hypermarket",
        "/api/v1/subject-requests",
        json!({"controller": "hypermarket-a", "kind": kind, "email": email}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

pub(crate) async fn verify_by_staff(server: &TestServer, key: &str) {
    let (status, body) = post(
        server,
        "hypermarket",
        &format!("/api/v1/subject-requests/{key}/verification"),
        json!({"method": "in person", "evidence": "national ID shown at the Valencia store"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

pub(crate) fn mails(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|m| {
            m.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .collect()
}

/// Every e-mail in `dir` as Python's email package reads it under `policy.strict`, which raises
/// on any defect (RFC 5322, 2045): `{to, mime, type, text, html}` each. None when python3 is
/// missing (CI has it).
pub(crate) fn strictly_parsed(dir: &std::path::Path) -> Option<Vec<Value>> {
    const SCRIPT: &str = r#"
import email, email.policy, json, pathlib, sys
out = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.strict)
    parts = {}
    for part in message.walk():
        if part.defects:
            sys.exit(f"{path.name}: {part.defects}")
        if part.get_content_maintype() == "text":
            parts[part.get_content_type()] = part.get_content()
    out.append({"to": str(message["To"]), "mime": message["MIME-Version"],
                "type": message.get_content_type(),
                "text": parts.get("text/plain"), "html": parts.get("text/html")})
print(json.dumps(out))
"#;
    let output = match std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(dir)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            custos_app::testing::announce_skip("parsing the e-mails strictly: python3 is missing");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// Posts an HTML form (`application/x-www-form-urlencoded`).
pub(crate) async fn form(
    server: &TestServer,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    server
        .client
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap()
}

fn recipient_ids(answer: &Value) -> Vec<String> {
    answer["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every file of the SQLite database, read as bytes.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("custos.db") {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test]
async fn access_names_the_chain_as_it_stood_and_erasure_reaches_it_as_a_tree() {
    on_every_backend(|server, store, clock, sqlite_dir| async move {
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path()).with_public_url("https://custos.test".to_owned());
        let event = |identifier: &str, at: &str| {
            json!({"identifier": identifier, "activity": "customer-marketing", "recipient": "agency-b",
                   "categories": ["email", "order-history"], "at": at})
        };
        // Only the controller's editors record its disclosures.
        let (status, _) = post(&server, "agency-b", "/api/v1/disclosures", event(ANA, "2025-05-10T10:00:00Z")).await;
        assert_eq!(status, 403);
        let (status, body) = post(
            &server,
            "hypermarket",
            "/api/v1/disclosures",
            json!([event("  Ana.Garcia@Example.COM ", "2025-05-10T10:00:00Z"), event("+34 600 11 22 33", "2026-07-01T10:00:00Z")]),
        )
        .await;
        assert_eq!((status, body["recorded"].as_u64()), (201, Some(2)), "{body}");
        let ndjson = format!("{}\n{}\n", event("bob@example.com", "2026-07-01T10:00:00Z"), event("carla@example.com", "2025-01-01T00:00:00Z"));
        let response = server.client.post(server.url("/api/v1/disclosures"))
            .bearer_auth(TestServer::token("hypermarket"))
            .header("content-type", "application/x-ndjson")
            .body(ndjson).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let response = server.client.post(server.url("/api/v1/disclosures"))
            .bearer_auth(TestServer::token("hypermarket"))
            .header("content-type", "application/x-ndjson")
            .body("{\"identifier\": \"x@example.com\"}\n").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 422);
        assert!(response.text().await.unwrap().contains("line 1"));

        // Ana asks for access; the link in her e-mail verifies her.
        let access = enter(&server, "access", "Ana.Garcia@example.com").await;
        let key = access["key"].as_str().unwrap().to_owned();
        assert_eq!((access["status"].as_str(), access["due"].as_str()), (Some("received"), Some("2026-12-25")));
        let (status, _) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{key}/answer")).await;
        assert_eq!(status, 409, "no answer before the subject is verified");
        drain(&dispatcher).await;
        let verification = mails(mail.path()).into_iter().find(|m| m.contains(&format!("To: {ANA}"))).expect("the verification e-mail");
        let token = verification.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        let page = server.client.get(server.url(&format!("/public/requests/{key}/verify?token={token}"))).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let (status, body) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{key}")).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("received")), "opening the link verifies nothing");
        let wrong = form(&server, &format!("/public/requests/{key}/verify"), &[("token", "not-the-token")]).await;
        assert_eq!(wrong.status().as_u16(), 400);
        let right = form(&server, &format!("/public/requests/{key}/verify"), &[("token", token.as_str())]).await;
        assert_eq!(right.status().as_u16(), 200);
        assert!(right.text().await.unwrap().contains("confirmed"));
        let again = form(&server, &format!("/public/requests/{key}/verify"), &[("token", token.as_str())]).await;
        assert_eq!(again.status().as_u16(), 400, "a link works once");

        let (status, answer) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{key}/answer")).await;
        assert_eq!(status, 200, "{answer}");
        // Art. 15(1)(c), "have been or will be": E joined below B in June 2026 and holds what B
        // kept of Ana's 2025 data, so it is named, with its first day.
        assert_eq!(recipient_ids(&answer), ["agency-b", "agency-e", "hosting-d", "mailer-c"], "the disclosed-to first, then the processors below it");
        let e = answer["recipients"].as_array().unwrap().iter().find(|r| r["id"] == "agency-e").unwrap();
        assert_eq!(e["since"], "2026-06-01", "{e}");
        assert!(answer["authority"]["name"].as_str().unwrap().contains("AEPD"), "{answer}");
        let transfers = answer["transfers"].as_array().unwrap();
        assert!(transfers.iter().any(|t| t["destination"] == "IL" && t["mechanism"] == "adequacy" && t["valid"] == true), "{answer}");
        assert!(answer["processing"][0]["purposes"].as_array().is_some_and(|p| !p.is_empty()));
        let html = server.client.get(server.url(&format!("/api/v1/subject-requests/{key}/answer?format=html")))
            .bearer_auth(TestServer::token("hypermarket")).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Mailer C Ltd") && html.contains("Israel") && html.contains("Analytics E") && html.contains("2026-06-01"), "{html}");
        for right in ["Art. 16", "Art. 17", "Art. 18", "Art. 21", "Art. 77", "Agencia Española de Protección de Datos", "Art. 15(3)"] {
            assert!(html.contains(right), "the answer states {right}");
        }
        let pdf = server.client.get(server.url(&format!("/api/v1/subject-requests/{key}/answer?format=pdf")))
            .bearer_auth(TestServer::token("hypermarket")).send().await.unwrap().bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF"));

        // The customer disclosed after E joined learns of E too; one never disclosed gets the
        // recipients of the activities by name, with the reason (C-154/21, paras 48-51).
        let phone = enter(&server, "access", "bob@example.com").await;
        let phone_key = phone["key"].as_str().unwrap();
        verify_by_staff(&server, phone_key).await;
        let (_, answer) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{phone_key}/answer")).await;
        assert!(recipient_ids(&answer).contains(&"agency-e".to_owned()), "{answer}");
        let nobody = enter(&server, "access", "nobody@example.com").await;
        let nobody_key = nobody["key"].as_str().unwrap();
        verify_by_staff(&server, nobody_key).await;
        let (_, answer) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{nobody_key}/answer")).await;
        assert!(recipient_ids(&answer).is_empty());
        assert!(answer["activity_recipients"]["reason"].as_str().unwrap().contains("ledger"), "{answer}");
        let named: Vec<&str> = answer["activity_recipients"]["recipients"].as_array().unwrap().iter()
            .map(|r| r["id"].as_str().unwrap()).collect();
        assert!(named.contains(&"mailer-c") && named.contains(&"agency-b"), "{answer}");

        // Another controller's people do not see the request.
        let (status, _) = server.get(Some("bank"), &format!("/api/v1/subject-requests/{key}")).await;
        assert_eq!(status, 404);

        // Erasure: B told by A, E and C by B, D by C. Ana's details run over lines and quote her:
        // the outbox keeps them JSON-escaped, and they must go in that form too.
        let (status, erasure) = post(&server, "hypermarket", "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "erasure", "email": ANA,
                   "details": DETAILS})).await;
        assert_eq!(status, 201, "{erasure}");
        let erasure_key = erasure["key"].as_str().unwrap().to_owned();
        verify_by_staff(&server, &erasure_key).await;
        let (status, body) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{erasure_key}/notify"), json!({})).await;
        assert_eq!(status, 200, "{body}");
        let tree = |body: &Value| -> Vec<(String, Option<String>, String)> {
            body["notifications"].as_array().unwrap().iter().map(|n| (
                n["recipient"].as_str().unwrap().to_owned(),
                n["relayed_by"].as_str().map(str::to_owned),
                n["state"].as_str().unwrap().to_owned(),
            )).collect()
        };
        let s = |a: &str| a.to_owned();
        assert_eq!(tree(&body), [
            (s("agency-b"), None, s("sent")),
            (s("agency-e"), Some(s("agency-b")), s("pending")),
            (s("mailer-c"), Some(s("agency-b")), s("pending")),
            (s("hosting-d"), Some(s("mailer-c")), s("pending")),
        ]);
        let key_of = |body: &Value, recipient: &str| body["notifications"].as_array().unwrap().iter()
            .find(|n| n["recipient"] == recipient).unwrap()["key"].as_str().unwrap().to_owned();
        let (b, c, d) = (key_of(&body, "agency-b"), key_of(&body, "mailer-c"), key_of(&body, "hosting-d"));
        let e = key_of(&body, "agency-e");
        let (status, problem) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{erasure_key}/close"), json!({"reasons": ""})).await;
        assert_eq!(status, 409);
        assert!(problem["detail"].as_str().unwrap().contains("agency-b"), "{problem}");
        // B (a portal user) sees and acknowledges its own; that relays to C.
        let (status, seen) = server.get(Some("agency-b"), &format!("/api/v1/rights-notifications/{b}")).await;
        assert_eq!((status, seen["identifier"].as_str()), (200, Some(ANA)), "{seen}");
        let (status, _) = server.get(Some("agency-b"), &format!("/api/v1/subject-requests/{erasure_key}")).await;
        assert_eq!(status, 404, "a recipient sees its notification, not the controller's request");
        let (status, _) = post(&server, "agency-b", &format!("/api/v1/rights-notifications/{c}/acknowledge"), json!({})).await;
        assert_eq!(status, 409, "B relays to C, but C has not been told yet");
        let (status, _) = post(&server, "agency-b", &format!("/api/v1/rights-notifications/{d}/acknowledge"), json!({})).await;
        assert_eq!(status, 404, "D's notification is C's to relay: B does not see it");
        let (_, listed) = server.get(Some("agency-b"), "/api/v1/rights-notifications").await;
        let mut listed: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|n| n["recipient"].as_str().unwrap()).collect();
        listed.sort_unstable();
        assert_eq!(listed, ["agency-b", "agency-e", "mailer-c"], "its own, and the ones it relays");
        let (status, body) = post(&server, "agency-b", &format!("/api/v1/rights-notifications/{b}/acknowledge"), json!({})).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("acknowledged")), "{body}");
        let (status, _) = post(&server, "agency-b", &format!("/api/v1/rights-notifications/{b}/impossible"), json!({"reason": "no"})).await;
        assert_eq!(status, 403, "impossibility is the controller's to record");
        let (_, body) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{erasure_key}")).await;
        assert_eq!(tree(&body)[1], (s("agency-e"), Some(s("agency-b")), s("sent")));
        assert_eq!(tree(&body)[2], (s("mailer-c"), Some(s("agency-b")), s("sent")));
        assert_eq!(tree(&body)[3].2, "pending");
        // C acknowledges (recorded by the controller for it), relaying to D; D is impossible.
        let (status, _) = post(&server, "hypermarket", &format!("/api/v1/rights-notifications/{c}/acknowledge"), json!({})).await;
        assert_eq!(status, 200);
        let (status, _) = post(&server, "hypermarket", &format!("/api/v1/rights-notifications/{d}/impossible"), json!({"reason": ""})).await;
        assert_eq!(status, 422, "a reason is required");
        let (status, _) = post(&server, "hypermarket", &format!("/api/v1/rights-notifications/{d}/impossible"), json!({"reason": "backups only, overwritten within 30 days"})).await;
        assert_eq!(status, 200);
        let (status, _) = post(&server, "agency-b", &format!("/api/v1/rights-notifications/{b}/done"), json!({"evidence": "deleted from segment store, ticket 4411"})).await;
        assert_eq!(status, 200);
        let (status, problem) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{erasure_key}/close"), json!({"reasons": ""})).await;
        assert_eq!(status, 409, "C is acknowledged, not done: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("mailer-c"));
        post(&server, "hypermarket", &format!("/api/v1/rights-notifications/{c}/done"), json!({"evidence": "contact deleted"})).await;
        let (status, problem) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{erasure_key}/close"), json!({"reasons": ""})).await;
        assert_eq!(status, 409, "E is told, not done: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("agency-e"), "{problem}");
        let (status, _) = post(&server, "hypermarket", &format!("/api/v1/rights-notifications/{e}/done"), json!({"evidence": "segment deleted"})).await;
        assert_eq!(status, 200);
        let (status, closed) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{erasure_key}/close"), json!({"reasons": "Erased everywhere we could."})).await;
        assert_eq!((status, closed["status"].as_str()), (200, Some("closed")), "{closed}");
        let (status, closed_access) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{key}/close"), json!({"reasons": ""})).await;
        assert_eq!(status, 200, "{closed_access}");

        // The last e-mails go out, then the address is erased.
        drain(&dispatcher).await;
        let to_ana: Vec<String> = mails(mail.path()).into_iter().filter(|m| m.contains(&format!("To: {ANA}"))).collect();
        assert!(to_ana.iter().any(|m| m.contains("Mailer C Ltd") && m.contains("Israel")), "the access answer by e-mail");
        assert!(to_ana.iter().any(|m| m.contains("Hosting D Ltd: impossible")), "who was told, and how it went");
        // RFC 5322/2045: every message parses without a defect, MIME-Version 1.0, a text and an
        // HTML alternative; dates in words, links absolute.
        if let Some(parsed) = strictly_parsed(mail.path()) {
            assert!(!parsed.is_empty());
            for message in &parsed {
                assert_eq!(message["mime"], "1.0", "{message}");
                assert_eq!(message["type"], "multipart/alternative", "{message}");
                assert!(message["text"].is_string() && message["html"].as_str().is_some_and(|h| h.contains("<p>")), "{message}");
                let text = message["text"].as_str().unwrap();
                assert!(!text.contains("T00:00:00") && !text.contains(".000000Z"), "a raw timestamp: {text}");
            }
            let verify = parsed.iter().find(|m| m["to"] == ANA && m["text"].as_str().unwrap().contains("due by")).unwrap();
            assert!(verify["text"].as_str().unwrap().contains("due by 25 December 2026"), "{verify}");
            let notify = parsed.iter().find(|m| m["text"].as_str().unwrap().contains("relay it to your own sub-processors")).unwrap();
            assert!(notify["text"].as_str().unwrap().contains("POST https://custos.test/api/v1/rights-notifications/"), "{notify}");
        }
        crate::fire_timers(&store, clock.as_ref()).await;
        for k in [&key, &erasure_key] {
            let (_, body) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{k}")).await;
            assert_eq!(body["email"], Value::Null, "{body}");
        }
        if let Some(dir) = sqlite_dir {
            let bytes = database_bytes(&dir);
            assert!(!bytes.is_empty());
            assert!(!contains(&bytes, ANA), "Ana's address is still in the database files");
            let escaped = serde_json::to_string(DETAILS).unwrap();
            for form in [DETAILS, escaped.trim_matches('"'), "Calle del Pez"] {
                assert!(!contains(&bytes, form), "Ana's details are still in the database files: {form}");
            }
            assert!(contains(&bytes, "bob@example.com"), "an open request keeps its address (the search works)");
        }
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn extensions_come_within_the_first_month_and_deadlines_are_reminded() {
    on_every_backend(|server, store, clock, _| async move {
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path());
        let first = enter(&server, "rectification", "eva@example.com").await;
        let second = enter(&server, "objection", "eva@example.com").await;
        let (first, second) = (
            first["key"].as_str().unwrap(),
            second["key"].as_str().unwrap(),
        );
        let third = enter(&server, "restriction", "fay@example.com").await;
        let third = third["key"].as_str().unwrap();
        verify_by_staff(&server, third).await;
        let (status, _) = post(
            &server,
            "hypermarket",
            &format!("/api/v1/subject-requests/{first}/extend"),
            json!({"reasons": " "}),
        )
        .await;
        assert_eq!(status, 409, "reasons are required");
        let (status, body) = post(
            &server,
            "hypermarket",
            &format!("/api/v1/subject-requests/{first}/extend"),
            json!({"reasons": "numerous requests this month"}),
        )
        .await;
        assert_eq!(
            (status, body["due"].as_str()),
            (200, Some("2027-02-25")),
            "{body}"
        );
        let (status, _) = post(
            &server,
            "hypermarket",
            &format!("/api/v1/subject-requests/{first}/extend"),
            json!({"reasons": "again"}),
        )
        .await;
        assert_eq!(status, 409, "once");
        clock.set("2026-12-26T08:00:00Z".parse().unwrap());
        let (status, problem) = post(
            &server,
            "hypermarket",
            &format!("/api/v1/subject-requests/{second}/extend"),
            json!({"reasons": "complex"}),
        )
        .await;
        assert_eq!(status, 409);
        assert!(
            problem["detail"].as_str().unwrap().contains("first month"),
            "{problem}"
        );
        // The unverified ones were refused after 30 days; the verified one is reminded to the DPO
        // before its deadline and when it has passed.
        crate::fire_timers(&store, clock.as_ref()).await;
        let (_, body) = server
            .get(
                Some("hypermarket"),
                &format!("/api/v1/subject-requests/{second}"),
            )
            .await;
        assert_eq!(body["status"], "refused", "{body}");
        drain(&dispatcher).await;
        let all = mails(mail.path());
        let (_, body) = server
            .get(
                Some("hypermarket"),
                &format!("/api/v1/subject-requests/{third}"),
            )
            .await;
        assert_eq!(body["status"], "verified", "{body}");
        assert!(
            body["history"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["kind"] == "overdue"),
            "{body}"
        );
        for subject in ["Due soon", "Overdue"] {
            assert!(
                all.iter()
                    .any(|m| m.contains("To: dpo@hypermarket-a.example")
                        && m.contains(&format!("Subject: {subject}"))),
                "{subject}"
            );
        }
        assert!(
            all.iter().any(|m| m.contains("To: eva@example.com")
                && m.contains("11(2)")
                && m.contains("Art. 77")),
            "the refusal told to the subject, with its grounds and the right to complain"
        );
        // A third request from the same address this hour is throttled (429 for staff).
        clock.set("2026-12-26T09:00:00Z".parse().unwrap());
        for _ in 0..3 {
            enter(&server, "access", "flood@example.com").await;
        }
        let (status, _) = post(
            &server,
            "hypermarket",
            "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "access", "email": "flood@example.com"}),
        )
        .await;
        assert_eq!(status, 429);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_public_intake_answers_the_same_for_every_address_and_refuses_bad_input() {
    on_every_backend(|server, _store, _clock, _| async move {
        let page = server
            .client
            .get(server.url("/public/organisations/hypermarket-a/requests"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("name=\"email\"") && !html.contains("<script"),
            "{html}"
        );
        let mut answers = Vec::new();
        for email in [
            "someone@example.com",
            "someone@example.com",
            "someone@example.com",
            "someone@example.com",
            "other@example.org",
        ] {
            let response = form(
                &server,
                "/public/organisations/hypermarket-a/requests",
                &[("kind", "access"), ("email", email), ("details", "")],
            )
            .await;
            answers.push((response.status().as_u16(), response.text().await.unwrap()));
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "the fourth (throttled) and the others answer alike"
        );
        assert!(answers[0].1.contains("Check your e-mail"));
        let bad = form(
            &server,
            "/public/organisations/hypermarket-a/requests",
            &[("kind", "access"), ("email", "not an address")],
        )
        .await;
        assert_eq!(bad.status().as_u16(), 422);
        assert!(bad.text().await.unwrap().contains("e-mail address"));
        let (_, list) = server
            .get(Some("hypermarket"), "/api/v1/subject-requests")
            .await;
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            4,
            "three for one address in an hour, one for the other (eva's comes later)"
        );
        // The controller's language by default, another by the switch; the answer follows it.
        assert!(
            html.contains(r#"<html lang="en">"#) && html.contains(r#"href="?lang=es""#),
            "{html}"
        );
        let spanish = server
            .client
            .get(server.url("/public/organisations/hypermarket-a/requests?lang=es"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            spanish.contains("Ejerza sus derechos de protección de datos")
                && spanish
                    .contains(r#"action="/public/organisations/hypermarket-a/requests?lang=es""#),
            "{spanish}"
        );
        let answer = form(
            &server,
            "/public/organisations/hypermarket-a/requests?lang=es",
            &[
                ("kind", "access"),
                ("email", "eva@example.com"),
                ("details", ""),
            ],
        )
        .await;
        assert!(answer.text().await.unwrap().contains("Revise su correo"));
        let unknown = server
            .client
            .get(server.url("/public/organisations/nobody/requests"))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 404);
        server.stop().await;
    })
    .await;
}

/// What an endpoint received: its content type and body.
type Upload = (String, Vec<u8>);

#[tokio::test]
async fn portability_packs_the_connected_systems_answers_and_transmits_them() {
    on_every_backend(|server, _store, _clock, _| async move {
        // The controller's shop answers with the subject's data; another controller receives.
        let shop = {
            let app = axum::Router::new().fallback(|request: axum::extract::Request| async move {
                let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
                let asked: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(asked["subject"]["email"], "gil@example.com");
                axum::Json(json!({"datasets": {
                    "orders": [{"id": 1, "total": 12.5, "items": ["soap"]}, {"id": 2, "total": 3, "note": "gift, wrapped"}],
                    "profile": [{"name": "Gil", "newsletter": true}],
                }}))
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            base
        };
        let imported: Arc<std::sync::Mutex<Vec<Upload>>> = Arc::default();
        let other_controller = {
            let got = imported.clone();
            let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                let got = got.clone();
                async move {
                    let kind = request.headers()["content-type"].to_str().unwrap().to_owned();
                    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
                    got.lock().unwrap().push((kind, body.to_vec()));
                    "imported"
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            base
        };
        let (status, source) = post(&server, "admin", "/api/v1/organisations/hypermarket-a/data-sources", json!({"name": "shop", "url": format!("{shop}/export")})).await;
        assert_eq!(status, 201, "{source}");
        let (status, _) = post(&server, "hypermarket", "/api/v1/organisations/hypermarket-a/data-sources", json!({"name": "crm", "url": "http://127.0.0.1:9/x"})).await;
        assert_eq!(status, 403, "only administrators add data sources");
        let (status, body) = post(
            &server,
            "hypermarket",
            "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "portability", "email": "gil@example.com",
                   "transmit_to": format!("{other_controller}/import")}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let key = body["key"].as_str().unwrap();
        let export = || server.client.get(server.url(&format!("/api/v1/subject-requests/{key}/export"))).bearer_auth(TestServer::token("hypermarket")).send();
        assert_eq!(export().await.unwrap().status().as_u16(), 409, "not before verification");
        verify_by_staff(&server, key).await;
        let response = export().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        let bytes = response.bytes().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let read = |archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
            text
        };
        let manifest: Value = serde_json::from_str(&read(&mut archive, "manifest.json")).unwrap();
        assert_eq!(manifest["request"], key);
        let paths: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["shop/orders.json", "shop/orders.csv", "shop/profile.json", "shop/profile.csv"]);
        let csv = read(&mut archive, "shop/orders.csv");
        // Columns in order of first appearance (fields of a record in name order); nested
        // values as JSON; CSV quoting where needed.
        assert_eq!(csv, "id,items,total,note\n1,\"[\"\"soap\"\"]\",12.5,\n2,,3,\"gift, wrapped\"\n");
        let orders: Value = serde_json::from_str(&read(&mut archive, "shop/orders.json")).unwrap();
        assert_eq!(orders[0]["items"][0], "soap");
        // Straight to the other controller (Art. 20(2)).
        let (status, body) = post(&server, "hypermarket", &format!("/api/v1/subject-requests/{key}/transmit"), json!({})).await;
        assert_eq!((status, body["status"].as_u64()), (200, Some(200)), "{body}");
        let imported = imported.lock().unwrap().clone();
        assert_eq!(imported.len(), 1);
        assert_eq!(imported[0].0, "application/zip");
        assert!(zip::ZipArchive::new(std::io::Cursor::new(imported[0].1.clone())).unwrap().by_name("shop/profile.csv").is_ok());
        let (_, body) = server.get(Some("hypermarket"), &format!("/api/v1/subject-requests/{key}")).await;
        let kinds: Vec<&str> = body["history"].as_array().unwrap().iter().map(|h| h["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["received", "verified", "exported", "transmitted"]);
        server.stop().await;
    })
    .await;
}

/// A real SMTP receiver on loopback (RFC 5321: greeting, EHLO, MAIL, RCPT, DATA with its dot
/// unstuffed, RSET, QUIT) that writes each message it accepts into `dir`; its port.
async fn smtp_receiver(dir: std::path::PathBuf) -> u16 {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut received = 0;
        while let Ok((stream, _)) = listener.accept().await {
            let (reader, mut writer) = stream.into_split();
            let mut lines = BufReader::new(reader).lines();
            writer
                .write_all(b"220 receiver.test ESMTP\r\n")
                .await
                .unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                let verb = line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 receiver.test\r\n",
                    "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                    "DATA" => {
                        writer
                            .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                            .await
                            .unwrap();
                        let mut message = String::new();
                        while let Ok(Some(data)) = lines.next_line().await {
                            if data == "." {
                                break;
                            }
                            message.push_str(
                                data.strip_prefix('.')
                                    .filter(|_| data.starts_with(".."))
                                    .unwrap_or(&data),
                            );
                            message.push_str("\r\n");
                        }
                        received += 1;
                        std::fs::write(dir.join(format!("{received:03}.eml")), message).unwrap();
                        b"250 accepted\r\n"
                    }
                    "QUIT" => {
                        writer.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"502 not implemented\r\n",
                };
                writer.write_all(reply).await.unwrap();
            }
        }
    });
    port
}

/// RFC 5322 and 2045 through a real SMTP conversation: the verification of a subject request
/// and the notice of a change request to the controller's DPO reach the receiver, and Python's
/// email package reads every message without a defect.
#[tokio::test]
async fn mail_sent_over_smtp_parses_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let store = Store::open(&url).await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-11-25T09:00:00Z".parse().unwrap()));
    let server = start_with(store.clone(), clock.clone()).await;
    let received = tempfile::tempdir().unwrap();
    let port = smtp_receiver(received.path().to_owned()).await;
    let mailer = custos_app::outbox::Mailer::smtp(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let dispatcher = custos_app::outbox::Dispatcher::new(store.clone(), clock.clone(), mailer)
        .unwrap()
        .with_public_url("https://custos.test".to_owned());
    // A bad address is refused naming its field, as docs/api.md promises.
    let (status, problem) = post(
        &server,
        "hypermarket",
        "/api/v1/subject-requests",
        json!({"controller": "hypermarket-a", "kind": "access", "email": "not an address"}),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("email")),
        "{problem}"
    );
    enter(&server, "access", "ana.garcia@example.com").await;
    let (status, _, filed) = send(&server, "admin", Method::POST, "/api/v1/change-requests", &[],
        Some(json!({"requester": "agency-b", "service": "Purchase-preference analysis",
            "dossier": {"candidate": {"id": "insights-x", "name": "Insights X S.L.", "country": "ES",
                "address": "Calle Colón 5, Valencia", "contact": {"name": "Elena Vidal", "email": "dpo@insights-x.example"}},
                "processing": "Segments of customers", "security_measures": ["encryption-at-rest"]}}))).await;
    assert_eq!(status, 201, "{filed}");
    drain(&dispatcher).await;
    let Some(parsed) = strictly_parsed(received.path()) else {
        return;
    };
    let to: Vec<&str> = parsed.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert!(to.contains(&"ana.garcia@example.com"), "{to:?}");
    assert!(
        to.iter().any(|t| t.contains("hypermarket-a")),
        "the controller's DPO: {to:?}"
    );
    for message in &parsed {
        assert_eq!(message["mime"], "1.0", "{message}");
        assert_eq!(message["type"], "multipart/alternative", "{message}");
        let text = message["text"].as_str().unwrap();
        assert!(
            text.contains("https://custos.test/"),
            "absolute links: {text}"
        );
        assert!(!text.contains("S.L.."), "a sentence ends once: {text}");
    }
    server.stop().await;
}

/// Art. 12(3): the month runs from receipt. A request received by post and entered later
/// takes its receipt day; a day in the future is refused naming the field.
#[tokio::test]
async fn a_request_entered_late_counts_from_the_day_it_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let store = Store::open(&url).await.unwrap();
    let clock = Arc::new(ManualClock::new("2026-11-25T09:00:00Z".parse().unwrap()));
    let server = start_with(store, clock).await;
    let (status, body) = post(
        &server,
        "hypermarket",
        "/api/v1/subject-requests",
        json!({"controller": "hypermarket-a", "kind": "access", "email": "by.post@example.com",
               "received_on": "2026-10-31"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["deadline"], "2026-11-30",
        "31 October + 1 month, clamped: {body}"
    );
    assert!(
        body["received_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-10-31T00:00:00"),
        "{body}"
    );
    assert_eq!(
        body["history"][0]["body"]["received_on"], "2026-10-31",
        "{body}"
    );
    let (status, problem) = post(
        &server,
        "hypermarket",
        "/api/v1/subject-requests",
        json!({"controller": "hypermarket-a", "kind": "access", "email": "later@example.com",
               "received_on": "2026-11-26"}),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("received_on")),
        "{problem}"
    );
    // The wrong parties: agency B's portal user and the bank's viewer cannot enter (or
    // backdate) the hypermarket's requests.
    for user in ["agency-b", "bank"] {
        let (status, problem) = post(
            &server,
            user,
            "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "access", "email": "x@example.com",
                   "received_on": "2026-10-01"}),
        )
        .await;
        assert_eq!(status, 403, "{user}: {problem}");
    }
    // The same from the staff form of the inbox, which offers the field.
    let (cookie, csrf) =
        crate::hostile::signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket")
            .await;
    let inbox = server
        .client
        .get(server.url("/subject-requests"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        inbox.contains(r#"name="received_on" type="date" max="2026-11-25""#),
        "{inbox}"
    );
    // The inbox names the subject masked and how many days are left, coloured by urgency.
    assert!(inbox.contains("b•••@example.com"), "{inbox}");
    assert!(
        inbox.contains(r#"<span class="pill warning">5 days left</span>"#),
        "{inbox}"
    );
    let body = format!(
        "csrf={csrf}&controller=hypermarket-a&kind=erasure&email=letter%40example.com&received_on=2026-11-02"
    );
    let entered = server
        .client
        .post(server.url("/subject-requests/new"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(entered.status().as_u16(), 303);
    let location = entered.headers()["location"].to_str().unwrap().to_owned();
    let key = location.trim_start_matches("/subject-requests/");
    let (_, shown) = server
        .get(
            Some("hypermarket"),
            &format!("/api/v1/subject-requests/{key}"),
        )
        .await;
    assert_eq!(shown["deadline"], "2026-12-02", "{shown}");
    server.stop().await;
}
