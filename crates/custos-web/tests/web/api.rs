//! Sign-in, CSRF, tokens, throttling, problem details, pages, manifests over HTTP, and the
//! OpenAPI document.

use serde_json::{Value, json};

use crate::{TestServer, ids, on_every_backend, start};

async fn sqlite_server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    let server = start(custos_app::Store::open(&url).await.unwrap()).await;
    (server, dir)
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_csrf_tokens_and_sign_out() {
    on_every_backend(|server: TestServer| async move {
        let sign_in = |password: &'static str| {
            server
                .client
                .post(server.url("/api/v1/session"))
                .json(&json!({"email": "Staff@Agency-B.test", "password": password}))
                .send()
        };
        let wrong = sign_in("nope").await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        let problem: Value = wrong.json().await.unwrap();
        assert_eq!(
            problem["detail"],
            "the e-mail address or the password is not right"
        );
        let unknown = server
            .client
            .post(server.url("/api/v1/session"))
            .json(&json!({"email": "nobody@nowhere.test", "password": "whatever it is"}))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status().as_u16(), 401);
        let unknown: Value = unknown.json().await.unwrap();
        assert_eq!(
            unknown["detail"], problem["detail"],
            "no difference for unknown addresses"
        );

        let response = sign_in("password of agency-b").await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let cookie = session_cookie(&response);
        let me: Value = response.json().await.unwrap();
        assert_eq!(me["email"], "staff@agency-b.test");
        assert_eq!(me["memberships"][0]["role"], "portal");
        let csrf = me["csrf_token"].as_str().unwrap().to_owned();

        let with_cookie =
            |request: reqwest::RequestBuilder| request.header("cookie", cookie.clone());
        let me_again: Value = with_cookie(server.client.get(server.url("/api/v1/me")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me_again["email"], "staff@agency-b.test");

        // A write with the cookie but without the CSRF token is refused.
        let token_request = json!({"name": "ci", "scopes": ["read"], "expires_in_days": 30});
        let refused = with_cookie(server.client.post(server.url("/api/v1/tokens")))
            .json(&token_request)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 403);
        let created = with_cookie(server.client.post(server.url("/api/v1/tokens")))
            .header("x-csrf-token", &csrf)
            .json(&token_request)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let created: Value = created.json().await.unwrap();
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("custos_"));
        assert!(created["record"].get("token_hash").is_none());
        let key = created["record"]["key"].as_str().unwrap().to_owned();
        let listed: Value = with_cookie(server.client.get(server.url("/api/v1/tokens")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mine = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key.as_str())
            .unwrap();
        assert_eq!(mine["name"], "ci");
        assert!(mine.get("token").is_none() && mine.get("token_hash").is_none());

        // The token reads as agency B sees, and cannot mint tokens itself.
        let page: Value = server
            .client
            .get(server.url("/api/v1/activities"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&page), crate::set(&["customer-marketing"]));
        let minted = server
            .client
            .post(server.url("/api/v1/tokens"))
            .bearer_auth(&token)
            .json(&token_request)
            .send()
            .await
            .unwrap();
        assert_eq!(minted.status().as_u16(), 403);

        let revoked = with_cookie(
            server
                .client
                .delete(server.url(&format!("/api/v1/tokens/{key}"))),
        )
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
        assert_eq!(revoked.status().as_u16(), 204);
        let after = server
            .client
            .get(server.url("/api/v1/activities"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(after.status().as_u16(), 401);

        let signed_out = with_cookie(server.client.delete(server.url("/api/v1/session")))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(signed_out.status().as_u16(), 204);
        let gone = with_cookie(server.client.get(server.url("/api/v1/me")))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status().as_u16(), 401);

        // The token's creation and revocation are in the audit log (beside the tokens the
        // test's set-up gave every user, audited as "test").
        let actions: Vec<(String, String)> = crate::audit_actions(&server, "admin", "api-token")
            .await
            .into_iter()
            .filter(|(_, actor)| actor != "test")
            .collect();
        assert_eq!(
            actions,
            [
                ("create".to_owned(), "user:staff@agency-b.test".to_owned()),
                ("revoke".to_owned(), "user:staff@agency-b.test".to_owned())
            ]
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_throttled() {
    let (server, _dir) = sqlite_server().await;
    let attempt = |password: &'static str| {
        server
            .client
            .post(server.url("/api/v1/session"))
            .json(&json!({"email": "privacy@bank.test", "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("wrong password").await.unwrap().status().as_u16(),
            401
        );
    }
    let throttled = attempt("password of bank").await.unwrap();
    assert_eq!(
        throttled.status().as_u16(),
        429,
        "even the right password waits"
    );
    assert!(throttled.headers().get("retry-after").is_some());
    server.stop().await;
}

#[tokio::test]
async fn errors_are_problem_details_that_name_the_field() {
    let (server, _dir) = sqlite_server().await;
    let cases = [
        (
            "/api/v1/activities/customer-marketing/chain?at=2026-13-01",
            422,
            Some("at"),
        ),
        ("/api/v1/organisations?limit=0", 422, Some("limit")),
        ("/api/v1/organisations?limit=many", 422, None),
        ("/api/v1/findings?severity=fatal", 422, Some("severity")),
        ("/api/v1/findings?rule=no-such-rule", 422, Some("rule")),
        ("/api/v1/activities/nope", 404, None),
        ("/api/v1/no-such-endpoint", 404, None),
    ];
    for (path, status, field) in cases {
        let response = server
            .client
            .get(server.url(path))
            .bearer_auth(TestServer::token("admin"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        assert!(response.headers().get("x-request-id").is_some());
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status);
        assert!(!problem["detail"].as_str().unwrap().is_empty());
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{path}: {problem}");
        }
    }
    let method = server
        .client
        .put(server.url("/api/v1/activities"))
        .bearer_auth(TestServer::token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(method.status().as_u16(), 405);
    assert_eq!(method.headers()["content-type"], "application/problem+json");
    server.stop().await;
}

#[tokio::test]
async fn lists_page_by_cursor_in_id_order() {
    let (server, _dir) = sqlite_server().await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/organisations?limit=4".to_owned();
    loop {
        let (status, page) = server.get(Some("admin"), &path).await;
        assert_eq!(status, 200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/organisations?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 11);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    server.stop().await;
}

#[tokio::test]
async fn a_manifest_is_planned_then_applied_over_http_and_audited() {
    let (server, _dir) = sqlite_server().await;
    let (_, yaml) = (
        200,
        server
            .client
            .get(server.url("/api/v1/manifest"))
            .bearer_auth(TestServer::token("admin"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let moved = yaml.replace(
        "Avinguda Diagonal 200, 08018 Barcelona, Spain",
        "Calle Colón 9, Valencia, Spain",
    );
    assert_ne!(moved, yaml);
    let post = |dry_run: bool, body: String, user: &str| {
        server
            .client
            .post(server.url(&format!("/api/v1/manifest?dry_run={dry_run}")))
            .bearer_auth(TestServer::token(user))
            .header("content-type", "application/yaml")
            .body(body)
            .send()
    };
    let refused = post(true, moved.clone(), "hypermarket").await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let planned: Value = post(true, moved.clone(), "admin")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        planned["changes"],
        json!([{"kind": "organisation", "id": "agency-b", "action": "change", "fields": ["address"]}])
    );
    let (_, before) = server
        .get(Some("admin"), "/api/v1/organisations/agency-b")
        .await;
    assert!(
        before["address"].as_str().unwrap().contains("Barcelona"),
        "a dry run changes nothing"
    );
    let applied = post(false, moved, "admin").await.unwrap();
    assert_eq!(applied.status().as_u16(), 200);
    let (_, after) = server
        .get(Some("admin"), "/api/v1/organisations/agency-b")
        .await;
    assert!(after["address"].as_str().unwrap().contains("Valencia"));
    let (_, audit) = server
        .get(Some("agency-b"), "/api/v1/audit?limit=1000")
        .await;
    let last = audit["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "update");
    assert_eq!(last["object_id"], "agency-b");
    // Agency B sees that an administrator, not one of its own, changed its identity.
    assert_eq!(
        last["actor"],
        "token:admin-tests of user:admin@custos.test [admin-override]"
    );

    let broken = post(
        false,
        "version: 1\norganisations:\n  - id: x\n".to_owned(),
        "admin",
    )
    .await
    .unwrap();
    assert_eq!(broken.status().as_u16(), 422);
    let problem: Value = broken.json().await.unwrap();
    assert_eq!(problem["field"], "body");
    assert!(
        problem["detail"].as_str().unwrap().contains("manifest:3:"),
        "{problem}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let (server, _dir) = sqlite_server().await;
    let (status, doc) = server.get(None, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/session", &["post", "delete"][..]),
        ("/api/v1/setup", &["post"]),
        ("/api/v1/me", &["get"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{key}", &["delete"]),
        ("/api/v1/organisations", &["get", "post"]),
        ("/api/v1/organisations/{id}", &["get", "put", "delete"]),
        ("/api/v1/organisations/{id}/upstream", &["get"]),
        ("/api/v1/activities", &["get", "post"]),
        ("/api/v1/activities/{id}", &["get", "put", "delete"]),
        ("/api/v1/activities/{id}/chain", &["get"]),
        ("/api/v1/activities/{id}/recipients", &["get"]),
        ("/api/v1/activities/{id}/transfers", &["get"]),
        ("/api/v1/contracts", &["get", "post"]),
        ("/api/v1/contracts/{id}", &["get", "put", "delete"]),
        ("/api/v1/engagements", &["get", "post"]),
        ("/api/v1/engagements/{id}", &["get", "put", "delete"]),
        ("/api/v1/manifest", &["get", "post"]),
        ("/api/v1/findings", &["get"]),
        ("/api/v1/audit", &["get"]),
        ("/api/v1/contracts/{id}/amendments", &["get"]),
        ("/api/v1/contracts/{id}/amendments/{key}", &["get"]),
        ("/api/v1/contracts/{id}/amendments/{key}/accept", &["post"]),
        ("/api/v1/contracts/{id}/amendments/{key}/reject", &["post"]),
        (
            "/api/v1/contracts/{id}/amendments/{key}/withdraw",
            &["post"],
        ),
        ("/api/v1/contracts/{id}/versions", &["get"]),
        ("/api/v1/joint-listings", &["get"]),
        (
            "/api/v1/activities/{id}/joint-controllers/{organisation}/accept",
            &["post"],
        ),
        (
            "/api/v1/activities/{id}/joint-controllers/{organisation}/withdraw",
            &["post"],
        ),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not described"
            );
        }
    }
    // Every route of the API router is described: the routes are read from the router's own
    // source (between `let api = Router::new()` and its nesting under /api/v1).
    let source = include_str!("../../src/lib.rs");
    let start = source.find("let api = Router::new()").unwrap();
    let end = source[start..].find(".nest(\"/api/v1\", api)").unwrap() + start;
    let mut routes = 0;
    for piece in source[start..end].split(".route(").skip(1) {
        let path = piece.trim_start().trim_start_matches('"');
        let path = &path[..path.find('"').unwrap()];
        if path == "/openapi.json" {
            continue; // the description itself
        }
        assert!(
            paths.contains_key(&format!("/api/v1{path}")),
            "/api/v1{path} is routed but not described"
        );
        routes += 1;
    }
    assert!(
        routes > 60,
        "only {routes} routes found: the router's source changed shape"
    );
    // Every operation has its own id (clients are generated from them; validators refuse
    // duplicates).
    let mut ids = std::collections::BTreeSet::new();
    for (path, methods) in paths {
        for (method, operation) in methods.as_object().unwrap() {
            if let Some(id) = operation.get("operationId").and_then(|v| v.as_str()) {
                assert!(
                    ids.insert(id.to_owned()),
                    "operationId {id} again at {method} {path}"
                );
            }
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // The register's entries are described by the manifest's own schema.
    assert_eq!(
        doc["components"]["schemas"]["Organisation"]["properties"]["country"]["$ref"],
        "#/components/schemas/CountryCode"
    );
    assert_eq!(
        doc["paths"]["/api/v1/engagements"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/Engagement"
    );
    assert_eq!(
        doc["paths"]["/api/v1/activities"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/Activity"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = server
        .client
        .get(server.url("/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("/api/v1/openapi.json"));
    let (health, _) = server.get(None, "/healthz").await;
    let (ready, _) = server.get(None, "/readyz").await;
    assert_eq!((health, ready), (200, 200));
    server.stop().await;
}

#[tokio::test]
async fn findings_filter_by_activity_organisation_severity_and_rule() {
    let (server, _dir) = sqlite_server().await;
    let count = |query: &'static str| {
        let server = &server;
        async move {
            let (status, body) = server
                .get(
                    Some("admin"),
                    &format!("/api/v1/findings?at=2026-11-25{query}"),
                )
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            body["findings"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("").await, 6);
    assert_eq!(count("&activity=customer-accounts").await, 3);
    assert_eq!(count("&activity=customer-marketing").await, 0);
    assert_eq!(count("&organisation=courier-2").await, 3);
    assert_eq!(count("&rule=weaker-than-upstream").await, 1);
    assert_eq!(count("&severity=error").await, 5);
    assert_eq!(count("&severity=warning&rule=dpia-missing").await, 1);
    let (_, body) = server
        .get(
            Some("admin"),
            "/api/v1/findings?at=2026-11-25&rule=unauthorised-subprocessor",
        )
        .await;
    let finding = &body["findings"][0];
    assert_eq!(finding["engagement"], "c2-c3");
    assert_eq!(finding["depth"], 3);
    assert_eq!(
        finding["path"],
        json!(["bank", "courier-1", "courier-2", "courier-3"])
    );
    server.stop().await;
}

#[tokio::test]
async fn findings_come_in_pages_of_one_version_of_the_register() {
    let (server, _dir) = sqlite_server().await;
    let get = |user: &'static str, query: String| {
        let server = &server;
        async move {
            server
                .get(
                    Some(user),
                    &format!("/api/v1/findings?at=2026-11-25{query}"),
                )
                .await
        }
    };
    let (_, all) = get("admin", String::new()).await;
    let all = all["findings"].as_array().unwrap().clone();
    assert!(all.len() > 2, "{all:?}");
    assert_eq!(
        get("admin", String::new()).await.1.get("next_cursor"),
        None,
        "no pages without a limit"
    );
    // Two at a time, following the cursors: the same findings in the same order, and every
    // page's summary counts them all.
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = get("admin", format!("&limit=2{cursor}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["findings"].as_array().unwrap().len() <= 2);
        assert_eq!(page["summary"]["errors"], 5, "{page}");
        paged.extend(page["findings"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    // A processor pages through its own findings only (none of the bank's chain above it).
    let (_, own) = get("courier-3", String::new()).await;
    let (status, first) = get("courier-3", "&limit=1".to_owned()).await;
    assert_eq!(status, 200);
    assert_eq!(
        first["findings"].as_array().unwrap().len(),
        own["findings"].as_array().unwrap().len().min(1)
    );
    for finding in first["findings"].as_array().unwrap() {
        assert!(
            finding["path"].as_array().unwrap().len() <= 2,
            "redacted: {finding}"
        );
    }
    // After a write, a cursor of the version before is refused, naming the field.
    let (_, page) = get("admin", "&limit=2".to_owned()).await;
    let stale = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, headers, mut bank) = crate::send(
        &server,
        "admin",
        reqwest::Method::GET,
        "/api/v1/organisations/bank",
        &[],
        None,
    )
    .await;
    bank["name"] = json!("Bank, renamed");
    let tag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = crate::send(
        &server,
        "admin",
        reqwest::Method::PUT,
        "/api/v1/organisations/bank",
        &[("if-match", &tag)],
        Some(bank),
    )
    .await;
    assert_eq!(status, 200);
    let (status, problem) = get("admin", format!("&limit=2&cursor={stale}")).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("cursor")),
        "{problem}"
    );
    for (query, field) in [
        ("&limit=0", "limit"),
        ("&limit=2&cursor=nonsense", "cursor"),
    ] {
        let (status, problem) = get("admin", query.to_owned()).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (422, Some(field)),
            "{query}: {problem}"
        );
    }
    server.stop().await;
}

/// The description is the contract: every request body and every successful response of
/// every operation has a schema (not `{}`), and each of its references resolves. The only
/// successful answers without a body are listed here, each for its reason.
#[test]
fn every_body_of_every_operation_is_described() {
    // 204 No Content answers, a remark's 201 (the remark is in the request's history), and
    // a password reset's 202 (the same empty answer whether or not the address has an
    // account).
    let bodiless = [
        ("post", "/api/v1/change-requests/{key}/remarks", "201"),
        ("post", "/api/v1/password-reset", "202"),
    ];
    let doc = custos_web::openapi_document();
    let mut undescribed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let empty = |schema: &Value| schema.as_object().is_none_or(|s| s.is_empty());
            for (media, content) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if empty(&content["schema"]) {
                    undescribed.push(format!("{method} {path} request {media}"));
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !status.starts_with('2') || status == "204" {
                    continue;
                }
                match response["content"].as_object() {
                    Some(content) => {
                        for (media, body) in content {
                            if empty(&body["schema"]) {
                                undescribed.push(format!("{method} {path} {status} {media}"));
                            }
                        }
                    }
                    None if bodiless.contains(&(
                        method.as_str(),
                        path.as_str(),
                        status.as_str(),
                    )) => {}
                    None => {
                        undescribed.push(format!("{method} {path} {status} (no body described)"))
                    }
                }
            }
        }
    }
    assert_eq!(undescribed, Vec::<String>::new());
    // Every reference points at a component that exists.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "no component {name}");
    }
}

/// A JSON body that does not parse is refused naming the field that failed, however deep.
#[tokio::test]
async fn a_bad_body_names_its_field() {
    let (server, _dir) = sqlite_server().await;
    let (status, _, problem) = crate::send(
        &server,
        "admin",
        reqwest::Method::POST,
        "/api/v1/change-requests",
        &[],
        Some(json!({"requester": "agency-b", "service": "s",
            "dossier": {"candidate": {"id": "x", "name": "X", "country": "Narnia"},
                        "processing": "p"}})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["field"], "dossier.candidate.country", "{problem}");
    let response = server
        .client
        .post(server.url("/api/v1/change-requests"))
        .bearer_auth(crate::TestServer::token("admin"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    server.stop().await;
}
