//! Hostile input and hostile neighbours: what the browser is told about every page and
//! document, and organisation-authored HTML that cannot run in the instance's origin.

use reqwest::Method;
use serde_json::json;

use crate::{TestServer, on_every_backend, send};

/// Signs in: the session cookie (`name=value`) and the session's CSRF token.
pub(crate) async fn signed_in(
    server: &TestServer,
    email: &str,
    password: &str,
) -> (String, String) {
    let response = server
        .client
        .post(server.url("/api/v1/session"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me: serde_json::Value = response.json().await.unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_owned())
}

/// Every page of the UI, as the administrator sees it (a token works for pages too).
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/activities",
    "/activities/customer-marketing",
    "/organisations",
    "/organisations/hypermarket-a",
    "/organisations/hypermarket-a/notice",
    "/findings",
    "/links/a-b",
    "/contracts/dpa-a-b",
    "/contracts/dpa-a-b/edit",
    "/notifications",
    "/settings/tokens",
    "/settings/security",
    "/people",
    "/password-reset",
    "/setup",
    "/password-reset/not-a-link",
    "/invitations/not-a-link",
    "/audit",
    "/settings/webhooks",
    "/change-requests",
    "/change-requests/new",
    "/subject-requests",
    "/public/organisations/hypermarket-a/requests",
    "/public/organisations/agency-b/subprocessors",
    "/no-such-page",
];

/// Documents the API serves as HTML, written through organisations' templates.
const DOCUMENTS: &[&str] = &[
    "/api/v1/organisations/hypermarket-a/notice?format=html",
    "/api/v1/organisations/hypermarket-a/records?format=html",
];

#[tokio::test]
async fn every_page_and_document_tells_the_browser_what_it_may_run() {
    on_every_backend(|server: TestServer| async move {
        for path in PAGES.iter().chain(DOCUMENTS) {
            let response = server
                .client
                .get(server.url(path))
                .bearer_auth(TestServer::token("admin"))
                .send()
                .await
                .unwrap();
            let headers = response.headers().clone();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
            let html = headers
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
            if !html {
                assert!(
                    status.is_redirection() || status.is_client_error(),
                    "{path}: {status} is not a page: {body}"
                );
                continue;
            }
            let csp = headers["content-security-policy"].to_str().unwrap();
            if DOCUMENTS.contains(path) {
                assert!(csp.starts_with("sandbox;"), "{path}: {csp}");
                assert!(
                    !csp.contains("allow-scripts") && !csp.contains("allow-same-origin"),
                    "{path}: {csp}"
                );
                assert!(csp.contains("frame-ancestors 'self'"), "{path}: {csp}");
            } else {
                assert!(csp.contains("script-src 'none'"), "{path}: {csp}");
                assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
                assert!(!body.contains("<script"), "{path} has a script");
            }
        }
        // The API explorer is the one page with a script of its own, and says so.
        let explorer = server
            .client
            .get(server.url("/api/docs"))
            .send()
            .await
            .unwrap();
        let csp = explorer.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_template_with_a_script_is_served_in_a_sandbox() {
    on_every_backend(|server: TestServer| async move {
        let template = "<script>fetch('/api/v1/audit')</script>{% for r in notice.recipients %}{{ r.name }} {% endfor %}";
        let (status, _, body) = send(&server, "hypermarket", Method::PUT,
            "/api/v1/organisations/hypermarket-a/templates/notice.html", &[], Some(json!({"body": template}))).await;
        assert_eq!(status, 204, "{body}");
        let response = server
            .client
            .get(server.url("/api/v1/organisations/hypermarket-a/notice?format=html"))
            .bearer_auth(TestServer::token("admin"))
            .send()
            .await
            .unwrap();
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        let text = response.text().await.unwrap();
        assert!(text.contains("<script>"), "the organisation's text is served as written");
        assert!(csp.starts_with("sandbox;") && csp.contains("default-src 'none'"), "{csp}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_template_that_would_not_stop_is_refused_with_its_limit() {
    on_every_backend(|server: TestServer| async move {
        let path = "/api/v1/organisations/hypermarket-a/templates/notice.md";
        let refused = |body: String| {
            let server = &server;
            async move {
                let (status, _, problem) = send(
                    server,
                    "hypermarket",
                    Method::PUT,
                    path,
                    &[],
                    Some(json!({"body": body})),
                )
                .await;
                assert_eq!(status, 422, "{problem}");
                problem["detail"].as_str().unwrap().to_owned()
            }
        };
        // Too much work: a loop of loops, stopped by the instruction limit.
        let loops =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        let detail = refused(loops.to_owned()).await;
        assert!(detail.contains("instructions"), "{detail}");
        // Too much output: a 10 kB literal written 4,000 times.
        let literal = "y".repeat(10_000);
        let detail = refused(format!(
            "{{% for a in range(4000) %}}{literal}{{% endfor %}}"
        ))
        .await;
        assert!(detail.contains("MiB"), "{detail}");
        // Neither was saved: the built-in template still answers.
        let (_, template) = server.get(Some("hypermarket"), path).await;
        assert_eq!(template["builtin"], true, "{template}");
        server.stop().await;
    })
    .await;
}

/// An instance as deployed (private addresses refused): webhooks, data sources and a
/// portability target naming the instance's own network are refused when saved, whatever
/// the written form.
#[tokio::test]
async fn requests_to_the_instances_own_network_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let store = custos_app::Store::open(&url).await.unwrap();
    crate::populate(&store).await;
    let server = crate::serve_with(
        store,
        std::sync::Arc::new(custos_app::FixedClock::at_date(
            "2026-11-25".parse().unwrap(),
        )),
        custos_app::outbound::Outbound::PUBLIC_ONLY,
    )
    .await;
    for target in [
        "http://127.0.0.1:8080/api/v1/audit",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:22/",
        "http://localhost:5432/",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
    ] {
        let (status, _, problem) = send(
            &server,
            "hypermarket",
            Method::POST,
            "/api/v1/webhooks",
            &[],
            Some(json!({"organisation": "hypermarket-a", "url": target})),
        )
        .await;
        assert_eq!(status, 422, "{target}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("does not send to"),
            "{problem}"
        );
        let (status, _, problem) = send(
            &server,
            "admin",
            Method::POST,
            "/api/v1/organisations/hypermarket-a/data-sources",
            &[],
            Some(json!({"name": "crm", "url": target})),
        )
        .await;
        assert_eq!(status, 422, "{target}: {problem}");
    }
    // A public address is accepted (nothing is sent until an event).
    let (status, _, body) = send(
        &server,
        "hypermarket",
        Method::POST,
        "/api/v1/webhooks",
        &[],
        Some(json!({"organisation": "hypermarket-a", "url": "https://hooks.example.org/custos"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The public intake form names a transmission target: the same rule.
    let response = server
        .client
        .post(server.url("/api/v1/subject-requests"))
        .bearer_auth(TestServer::token("hypermarket"))
        .json(&json!({"controller": "hypermarket-a", "kind": "portability", "email": "ana@example.com",
                      "transmit_to": "http://10.0.0.5/import"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    server.stop().await;
}

/// A token with read access only cannot list or revoke its owner's other tokens.
#[tokio::test]
async fn a_read_token_manages_no_tokens() {
    on_every_backend(|server: TestServer| async move {
        // The store behind the server is not at hand here: the read token is made through
        // the API from a session.
        let (cookie, csrf) =
            signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let created: serde_json::Value = server
            .client
            .post(server.url("/api/v1/tokens"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "read only", "scopes": ["read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let read_token = created["token"].as_str().unwrap().to_owned();
        let (_, tokens) = server.get(Some("hypermarket"), "/api/v1/tokens").await;
        let other = tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "hypermarket-tests")
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let as_read = |method: reqwest::Method, path: String| {
            server
                .client
                .request(method, server.url(&path))
                .bearer_auth(&read_token)
                .send()
        };
        assert_eq!(
            as_read(Method::GET, "/api/v1/tokens".into())
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );
        assert_eq!(
            as_read(Method::DELETE, format!("/api/v1/tokens/{other}"))
                .await
                .unwrap()
                .status()
                .as_u16(),
            403
        );
        // The other token still works.
        assert_eq!(server.get(Some("hypermarket"), "/api/v1/me").await.0, 200);
        server.stop().await;
    })
    .await;
}

/// Sign-ins, failed ones included (never with the password), and sign-outs are in the audit
/// log, for the instance's administrators.
#[tokio::test]
async fn sign_ins_and_sign_outs_are_audited_without_passwords() {
    on_every_backend(|server: TestServer| async move {
        let sign_in = |password: &'static str| {
            server
                .client
                .post(server.url("/api/v1/session"))
                .json(&json!({"email": "dpo@hypermarket-a.test", "password": password}))
                .send()
        };
        assert_eq!(
            sign_in("not the password at all")
                .await
                .unwrap()
                .status()
                .as_u16(),
            401
        );
        let (cookie, csrf) =
            signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let out = server
            .client
            .delete(server.url("/api/v1/session"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 204);
        let (_, audit) = server.get(Some("admin"), "/api/v1/audit?limit=1000").await;
        let text = audit.to_string();
        assert!(
            !text.contains("not the password at all") && !text.contains("password of hypermarket"),
            "{text}"
        );
        assert_eq!(
            crate::audit_actions(&server, "admin", "session").await,
            [
                ("sign_in_failed".to_owned(), "anonymous".to_owned()),
                (
                    "sign_in".to_owned(),
                    "user:dpo@hypermarket-a.test".to_owned()
                ),
                (
                    "sign_out".to_owned(),
                    "user:dpo@hypermarket-a.test".to_owned()
                ),
            ]
        );
        // Not for the organisation's other members: the entries name no organisation.
        assert!(
            crate::audit_actions(&server, "hypermarket", "session")
                .await
                .is_empty()
        );
        server.stop().await;
    })
    .await;
}

/// The head of the audit log, signed by the instance: the signature verifies with the
/// published key, and only for what was signed.
#[tokio::test]
async fn the_audit_head_is_signed_by_the_instance() {
    on_every_backend(|server: TestServer| async move {
        let (status, head) = server.get(Some("agency-b"), "/api/v1/audit/head").await;
        assert_eq!(status, 200, "{head}");
        assert_eq!(head["algorithm"], "ed25519");
        let (_, again) = server.get(Some("admin"), "/api/v1/audit/head").await;
        assert_eq!(
            head["public_key"], again["public_key"],
            "one key per instance"
        );
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64.decode(head["public_key"].as_str().unwrap()).unwrap();
        let signature = b64.decode(head["signature"].as_str().unwrap()).unwrap();
        let message = |seq: u64, hash: &str| {
            format!(
                "custos-audit-head:{seq}:{hash}:{}",
                head["at"].as_str().unwrap()
            )
        };
        let seq = head["seq"].as_u64().unwrap();
        let hash = head["hash"].as_str().unwrap();
        assert!(seq > 0 && hash.len() == 64, "{head}");
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key);
        assert!(
            public
                .verify(message(seq, hash).as_bytes(), &signature)
                .is_ok()
        );
        assert!(
            public
                .verify(message(seq - 1, hash).as_bytes(), &signature)
                .is_err()
        );
        assert_eq!(server.get(None, "/api/v1/audit/head").await.0, 401);
        server.stop().await;
    })
    .await;
}

/// Query parameters the description forbids are refused, naming the parameter.
#[tokio::test]
async fn forbidden_query_parameters_are_refused_by_name() {
    on_every_backend(|server: TestServer| async move {
        for (path, field) in [
            ("/api/v1/subject-requests?view=bogus", "view"),
            ("/api/v1/audit?cursor=9223372036854775808", "cursor"),
        ] {
            let (status, problem) = server.get(Some("admin"), path).await;
            assert_eq!(
                (status, problem["field"].as_str()),
                (422, Some(field)),
                "{path}: {problem}"
            );
        }
        assert_eq!(
            server
                .get(Some("admin"), "/api/v1/subject-requests?view=open")
                .await
                .0,
            200
        );
        server.stop().await;
    })
    .await;
}

/// Guessing across many addresses from one client is throttled by the client's address.
#[tokio::test]
async fn failed_sign_ins_from_one_client_are_throttled_whatever_the_address() {
    on_every_backend(|server: TestServer| async move {
        let attempt = |email: String, password: &'static str| {
            server
                .client
                .post(server.url("/api/v1/session"))
                .json(&json!({"email": email, "password": password}))
                .send()
        };
        for n in 0..20 {
            let status = attempt(format!("guess{n}@example.com"), "wrong password")
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 401, "attempt {n}");
        }
        let throttled = attempt("guess20@example.com".to_owned(), "wrong password")
            .await
            .unwrap();
        assert_eq!(throttled.status().as_u16(), 429);
        assert!(throttled.headers().contains_key("retry-after"));
        // The right password of a real user from the same client waits too, for now.
        let real = attempt(
            "dpo@hypermarket-a.test".to_owned(),
            "password of hypermarket",
        )
        .await
        .unwrap();
        assert_eq!(real.status().as_u16(), 429);
        server.stop().await;
    })
    .await;
}

/// Sends a chunked POST of `chunks` to `/api/v1/disclosures` and leaves the body open (no last
/// chunk): the answer, head and body as text, which the server must give before the body ends.
async fn disclosures_left_open(
    server: &TestServer,
    content_type: &str,
    chunks: Vec<Vec<u8>>,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/disclosures HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n",
        TestServer::token("hypermarket")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read_all = async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer);
            if n == 0 || text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read_all)
        .await
        .expect("the server waited for the end of a body it should have refused");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn disclosures_are_refused_while_the_body_is_still_arriving() {
    on_every_backend(|server| async move {
        let event = json!({"identifier": "ana@example.com", "activity": "customer-marketing",
                           "recipient": "agency-b", "categories": ["email"], "at": "2026-07-01T10:00:00Z"});
        let line = format!("{event}\n");
        // One event more than a call may hold, and the body never ends.
        let lines = custos_web::api::ledger::MAX_EVENTS + 1;
        let chunks: Vec<Vec<u8>> = (0..lines)
            .collect::<Vec<_>>()
            .chunks(1000)
            .map(|c| line.repeat(c.len()).into_bytes())
            .collect();
        let answer = disclosures_left_open(&server, "application/x-ndjson", chunks).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("at most 100000 events a call"), "{answer}");

        // One line that never ends.
        let endless = vec![b' '; custos_web::api::ledger::MAX_EVENT_BYTES + 2];
        let answer = disclosures_left_open(&server, "application/x-ndjson", vec![endless]).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("line 1: longer than 16384 bytes"), "{answer}");

        // A JSON array past its limit, still open.
        let mut array = b"[".to_vec();
        array.resize(custos_web::api::ledger::MAX_JSON_BYTES + 1, b' ');
        let chunks = array.chunks(1 << 20).map(<[u8]>::to_vec).collect();
        let answer = disclosures_left_open(&server, "application/json", chunks).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("send larger loads as NDJSON"), "{answer}");

        // The connections left open hold nothing up: a whole call is recorded.
        let (status, _, body) = send(&server, "hypermarket", Method::POST, "/api/v1/disclosures", &[],
            Some(json!([event]))).await;
        assert_eq!((status, body["recorded"].as_u64()), (201, Some(1)), "{body}");
        server.stop().await;
    })
    .await;
}
