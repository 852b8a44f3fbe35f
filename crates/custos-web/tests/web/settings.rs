//! Running an instance from the browser (issue 19): tokens and webhooks as pages, the audit
//! viewer, the triage of subject requests and the subject's own status page. Each tried by
//! the wrong party.

use jiff::SignedDuration;
use reqwest::Method;
use serde_json::json;

use crate::changes::{Receiver, dispatcher, dossier, drain, on_every_backend_with_clock};
use crate::hostile::signed_in;
use crate::{TestServer, send};

/// Posts a form with a session cookie: status, redirect, page.
pub(crate) async fn post_form(
    server: &TestServer,
    cookie: &str,
    path: &str,
    body: String,
) -> (u16, String, String) {
    let response = server
        .client
        .post(server.url(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, response.text().await.unwrap())
}

pub(crate) async fn get_page(server: &TestServer, cookie: &str, path: &str) -> (u16, String) {
    let response = server
        .client
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The text between `start` and the next `end` after it.
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {page}"))
        + start.len();
    let to = page[from..].find(end).unwrap() + from;
    &page[from..to]
}

#[tokio::test]
async fn a_token_is_created_once_used_and_revoked_from_its_page() {
    on_every_backend_with_clock(|server, _store, _clock| async move {
        let (cookie, csrf) =
            signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, page) = get_page(&server, &cookie, "/settings/tokens").await;
        assert_eq!(status, 200);
        assert!(page.contains("<td>hypermarket-tests</td>"), "{page}");
        let (status, _, page) = post_form(
            &server,
            &cookie,
            "/settings/tokens",
            format!("csrf={csrf}&name=ci&read=yes&expires_in_days=soon"),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            page.contains("a number of days, not &#34;soon&#34;"),
            "{page}"
        );
        let (status, _, page) = post_form(
            &server,
            &cookie,
            "/settings/tokens",
            format!("csrf={csrf}&name=ci&read=yes&expires_in_days=30"),
        )
        .await;
        assert_eq!(status, 200);
        let secret = between(&page, r#"<code class="secret">"#, "</code>").to_owned();
        assert!(secret.starts_with("custos_"), "{secret}");
        let me = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 200);
        let write = server
            .client
            .delete(server.url("/api/v1/engagements/a-b"))
            .bearer_auth(&secret)
            .header("if-match", "*")
            .send()
            .await
            .unwrap();
        assert_eq!(write.status().as_u16(), 403, "a read token writes nothing");
        // The list shows it without its secret.
        let (_, page) = get_page(&server, &cookie, "/settings/tokens").await;
        assert!(
            page.contains("<td>ci</td><td>read</td>") && !page.contains(&secret),
            "{page}"
        );
        let (_, _, list) = send(
            &server,
            "hypermarket",
            Method::GET,
            "/api/v1/tokens",
            &[],
            None,
        )
        .await;
        let key = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "ci")
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        // Another person cannot revoke it; a token posts no forms.
        let (other, other_csrf) = signed_in(&server, "privacy@bank.test", "password of bank").await;
        let (status, _, _) = post_form(
            &server,
            &other,
            &format!("/settings/tokens/{key}/revoke"),
            format!("csrf={other_csrf}&confirm=yes"),
        )
        .await;
        assert_eq!(status, 404);
        let by_token = server
            .client
            .post(server.url(&format!("/settings/tokens/{key}/revoke")))
            .bearer_auth(TestServer::token("hypermarket"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=&confirm=yes")
            .send()
            .await
            .unwrap();
        assert_eq!(by_token.status().as_u16(), 403);
        // Revoking asks first, then the token is refused.
        let (status, _, page) = post_form(
            &server,
            &cookie,
            &format!("/settings/tokens/{key}/revoke"),
            format!("csrf={csrf}"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Every request signed with it is refused from now on"),
            "{page}"
        );
        let (status, location, _) = post_form(
            &server,
            &cookie,
            &format!("/settings/tokens/{key}/revoke"),
            format!("csrf={csrf}&confirm=yes"),
        )
        .await;
        assert_eq!((status, location.as_str()), (303, "/settings/tokens"));
        let me = server
            .client
            .get(server.url("/api/v1/me"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 401);
        let (_, page) = get_page(&server, &cookie, "/settings/tokens").await;
        assert!(
            page.contains(r#"<span class="pill neutral">revoked</span>"#),
            "{page}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_webhook_is_added_watched_and_a_failed_delivery_sent_again_from_its_page() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let receiver = Receiver::start().await;
        *receiver.status.lock().unwrap() = 503;
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path());
        let (cookie, csrf) = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let url = format!("{}/hypermarket", receiver.base);
        let encoded = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let (status, _, page) = post_form(&server, &cookie, "/settings/webhooks",
            format!("csrf={csrf}&organisation=hypermarket-a&url={}&event=no.such.event", encoded(&url))).await;
        assert_eq!(status, 422);
        assert!(page.contains("is not an event type") && page.contains(&format!(r#"value="{url}""#)), "{page}");
        let (status, _, page) = post_form(&server, &cookie, "/settings/webhooks",
            format!("csrf={csrf}&organisation=hypermarket-a&url={}&event=change_request.filed", encoded(&url))).await;
        assert_eq!(status, 200, "{page}");
        assert!(between(&page, r#"<code class="secret">"#, "</code>").starts_with("whsec_"), "{page}");
        let key = between(&page, r#"<a href="/settings/webhooks/"#, "\"").to_owned();
        // Other parties neither see it nor add endpoints for the hypermarket.
        let (bank, bank_csrf) = signed_in(&server, "privacy@bank.test", "password of bank").await;
        assert_eq!(get_page(&server, &bank, &format!("/settings/webhooks/{key}")).await.0, 404);
        let (status, _, _) = post_form(&server, &bank, "/settings/webhooks",
            format!("csrf={bank_csrf}&organisation=hypermarket-a&url={}", encoded(&url))).await;
        assert_eq!(status, 403);
        let (status, _, _) = post_form(&server, &bank, &format!("/settings/webhooks/{key}/disable"),
            format!("csrf={bank_csrf}")).await;
        assert_eq!(status, 404);

        // A request reaches the hypermarket; its endpoint is down through the whole schedule.
        let spec = json!({"requester": "agency-b", "service": "Analysis", "dossier": dossier("analytics-q", "Analytics Q S.L.", "ES")});
        let (status, _, _) = send(&server, "agency-b", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        assert_eq!(status, 201);
        for _ in 0..12 {
            drain(&dispatcher).await;
            clock.advance(SignedDuration::from_hours(11));
        }
        // Days have passed: the session has expired; sign in again.
        let (cookie, csrf) = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, page) = get_page(&server, &cookie, &format!("/settings/webhooks/{key}")).await;
        assert_eq!(status, 200, "{key}: {page}");
        assert!(page.contains(r#"<span class="pill error">failed</span>"#) && page.contains("HTTP 503"), "{page}");
        let delivery = between(&page, r#"<tr id="delivery-"#, "\"").to_owned();
        let replay = format!("/settings/webhooks/{key}/deliveries/{delivery}/replay");
        assert!(page.contains(&format!(r#"action="{replay}""#)), "{page}");
        // The wrong parties cannot send it again: another organisation's people do not see
        // the endpoint, a read-only token of its own organisation writes nothing, and
        // another organisation's page and form do not reach it.
        let api_replay = format!("/api/v1/webhooks/{key}/deliveries/{delivery}/replay");
        for other in ["agency-b", "bank"] {
            let (status, _, _) = send(&server, other, Method::POST, &api_replay, &[], None).await;
            assert_eq!(status, 404, "{other}");
        }
        crate::give_token(&store, "dpo@hypermarket-a.test", "read-only", "custos_read-only-of-dpo",
            vec![custos_app::data::Scope::Read]).await;
        let read_only = server.client.post(server.url(&api_replay))
            .bearer_auth("custos_read-only-of-dpo").send().await.unwrap();
        assert_eq!(read_only.status().as_u16(), 403);
        let (staff_cookie, staff_csrf) = signed_in(&server, "staff@agency-b.test", "password of agency-b").await;
        let (status, _) = get_page(&server, &staff_cookie, &format!("/settings/webhooks/{key}")).await;
        assert_eq!(status, 404);
        let (status, _, _) = post_form(&server, &staff_cookie, &replay, format!("csrf={staff_csrf}")).await;
        assert_eq!(status, 404);
        assert_eq!(receiver.got.lock().unwrap().len(), 0, "nothing was sent again");
        // Sent again once the receiver is back: delivered.
        *receiver.status.lock().unwrap() = 200;
        let (status, location, _) = post_form(&server, &cookie, &replay, format!("csrf={csrf}")).await;
        assert_eq!((status, location), (303, format!("/settings/webhooks/{key}")));
        drain(&dispatcher).await;
        assert_eq!(receiver.got.lock().unwrap().len(), 1);
        let (_, page) = get_page(&server, &cookie, &format!("/settings/webhooks/{key}")).await;
        assert!(page.contains(r#"<span class="pill good">delivered</span>"#), "{page}");
        // Only a failed delivery is sent again.
        let (status, _, _) = send(&server, "hypermarket", Method::POST,
            &format!("/api/v1/webhooks/{key}/deliveries/{delivery}/replay"), &[], None).await;
        assert_eq!(status, 409);
        // Disabled and enabled from the page.
        let (status, _, _) = post_form(&server, &cookie, &format!("/settings/webhooks/{key}/enable"), format!("csrf={csrf}")).await;
        assert_eq!(status, 303);
        let (_, page) = get_page(&server, &cookie, &format!("/settings/webhooks/{key}")).await;
        assert!(page.contains(r#"<span class="pill good">enabled</span>"#), "{page}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_audit_viewer_shows_each_party_its_entries_exports_them_and_verifies_the_chain() {
    on_every_backend_with_clock(|server, _store, _clock| async move {
        let (admin, admin_csrf) =
            signed_in(&server, "admin@custos.test", "password of admin").await;
        let (dpo, dpo_csrf) =
            signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, page) = get_page(&server, &admin, "/audit?entry=c2-c3").await;
        assert_eq!(status, 200);
        assert!(page.contains("<code>c2-c3</code>"), "{page}");
        assert!(
            page.contains("Its hash</dt><dd><code>"),
            "the signed head: {page}"
        );
        // The hypermarket sees nothing of the courier chain, and its own links.
        let (_, page) = get_page(&server, &dpo, "/audit?entry=c2-c3").await;
        assert!(
            !page.contains("<code>c2-c3</code>") && page.contains("No entry matches"),
            "{page}"
        );
        let (_, page) = get_page(&server, &dpo, "/audit?entry=a-b&action=create").await;
        assert!(
            page.contains("<code>a-b</code>") && page.contains("created"),
            "{page}"
        );
        assert!(!page.contains("Verify the whole chain now"), "{page}");
        let (status, _) = get_page(&server, &dpo, "/audit?from=yesterday").await;
        assert_eq!(status, 422);
        // Exports with the same filters, as the party sees them.
        let csv = server
            .client
            .get(server.url("/audit?entry=a-b&format=csv"))
            .header("cookie", &dpo)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = csv.text().await.unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("seq,at,actor,action,object_kind,object_id,scope,before,after,prev_hash,hash")
        );
        let records: Vec<&str> = lines.collect();
        // The entry filter finds words in an entry's id: every record's id (the fifth quoted
        // field) holds "a-b" (a user's random UUID may too).
        assert!(
            !records.is_empty()
                && records
                    .iter()
                    .all(|l| l.split("\",\"").nth(4).is_some_and(|id| id.contains("a-b"))),
            "{csv}"
        );
        let jsonl = server
            .client
            .get(server.url("/audit?entry=c2-c3&format=jsonl"))
            .header("cookie", &admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let entries: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            !entries.is_empty()
                && entries
                    .iter()
                    .all(|e| e["object_id"].as_str().unwrap().ends_with("c2-c3")
                        && e["hash"].is_string()),
            "{jsonl}"
        );
        let jsonl = server
            .client
            .get(server.url("/audit?entry=c2-c3&format=jsonl"))
            .header("cookie", &dpo)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(jsonl, "", "nothing of another party in an export");
        // Verifying reads the whole log: administrators only.
        let (status, _, page) = post_form(
            &server,
            &admin,
            "/audit/verify",
            format!("csrf={admin_csrf}"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Intact: ") && page.contains("entries chain to the head"),
            "{page}"
        );
        let (status, _, _) =
            post_form(&server, &dpo, "/audit/verify", format!("csrf={dpo_csrf}")).await;
        assert_eq!(status, 403);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn requests_are_triaged_assigned_noted_filtered_and_sorted_by_the_controllers_staff() {
    on_every_backend_with_clock(|server, store, _clock| async move {
        crate::trust::add_member(&store, "colleague", "hypermarket-a", custos_app::data::Role::Editor).await;
        let enter = async |kind: &str, email: &str, received: &str| -> String {
            let (status, _, body) = send(&server, "hypermarket", Method::POST, "/api/v1/subject-requests", &[],
                Some(json!({"controller": "hypermarket-a", "kind": kind, "email": email, "received_on": received}))).await;
            assert_eq!(status, 201, "{body}");
            body["key"].as_str().unwrap().to_owned()
        };
        let old = enter("access", "ana@example.com", "2026-11-01").await;
        let new = enter("erasure", "bruno@example.com", "2026-11-20").await;
        let (dpo, csrf) = signed_in(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        // Assigned to oneself, and to a colleague; a stranger is refused at the field.
        let (status, location, _) = post_form(&server, &dpo, &format!("/subject-requests/{old}/assign"),
            format!("csrf={csrf}&assignee=&take=yes")).await;
        assert_eq!((status, location), (303, format!("/subject-requests/{old}")));
        let (status, _, page) = post_form(&server, &dpo, &format!("/subject-requests/{new}/assign"),
            format!("csrf={csrf}&assignee=privacy%40bank.test")).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("is not on hypermarket-a&#39;s staff"), "{page}");
        let (status, _, _) = post_form(&server, &dpo, &format!("/subject-requests/{new}/assign"),
            format!("csrf={csrf}&assignee=colleague%40hypermarket-a.test")).await;
        assert_eq!(status, 303);
        // A note, seen by the staff on the request page, not in its public history.
        let (status, _, _) = post_form(&server, &dpo, &format!("/subject-requests/{old}/note"),
            format!("csrf={csrf}&note=Called+back%2C+waiting+for+the+ID")).await;
        assert_eq!(status, 303);
        let (_, page) = get_page(&server, &dpo, &format!("/subject-requests/{old}")).await;
        assert!(page.contains("Handled by: <strong>dpo@hypermarket-a.test</strong>"), "{page}");
        assert!(page.contains("Called back, waiting for the ID"), "{page}");
        assert!(page.contains("assigned to dpo@hypermarket-a.test"), "{page}");
        // The inbox: who handles each, filtered and sorted.
        let (_, page) = get_page(&server, &dpo, "/subject-requests").await;
        assert!(page.contains("<td>colleague@hypermarket-a.test</td>"), "{page}");
        let order = |page: &str| {
            let (a, b) = (page.find(&old[old.len() - 8..]).unwrap(), page.find(&new[new.len() - 8..]).unwrap());
            a < b
        };
        assert!(order(&page), "the most urgent (received first) first");
        let (_, page) = get_page(&server, &dpo, "/subject-requests?sort=received").await;
        assert!(!order(&page), "newest first");
        let (_, page) = get_page(&server, &dpo, "/subject-requests?assignee=me").await;
        assert!(page.contains(&old[old.len() - 8..]) && !page.contains(&new[new.len() - 8..]), "{page}");
        let (_, page) = get_page(&server, &dpo, "/subject-requests?q=bruno&kind=erasure").await;
        assert!(!page.contains(&old[old.len() - 8..]) && page.contains(&new[new.len() - 8..]), "{page}");
        // Others neither assign nor write notes: another controller's viewer, the processor.
        for (email, password) in [("privacy@bank.test", "password of bank"), ("staff@agency-b.test", "password of agency-b")] {
            let (other, other_csrf) = signed_in(&server, email, password).await;
            let (status, _, _) = post_form(&server, &other, &format!("/subject-requests/{old}/assign"),
                format!("csrf={other_csrf}&take=yes")).await;
            assert_eq!(status, 404, "{email}");
            let (status, _, _) = post_form(&server, &other, &format!("/subject-requests/{old}/note"),
                format!("csrf={other_csrf}&note=mine")).await;
            assert_eq!(status, 404, "{email}");
        }
        // The assignment is on the audit trail.
        let assigned = crate::audit_actions(&server, "hypermarket", "subject-request").await;
        assert!(assigned.iter().any(|(action, _)| action == "assign"), "{assigned:?}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_subject_follows_its_request_on_a_page_opened_from_the_first_e_mail() {
    on_every_backend_with_clock(|server, store, clock| async move {
        let mail = tempfile::tempdir().unwrap();
        let dispatcher = dispatcher(&store, clock.clone(), mail.path()).with_public_url("https://custos.test".to_owned());
        let response = crate::rights::form(&server, "/public/organisations/hypermarket-a/requests",
            &[("kind", "erasure"), ("email", "carla@example.com"), ("details", "")]).await;
        assert_eq!(response.status().as_u16(), 200);
        drain(&dispatcher).await;
        let sent = crate::rights::mails(mail.path());
        let link = sent
            .iter()
            .find_map(|m| m.split("Follow your request at any time: https://custos.test").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
            .expect("the status link in the first e-mail");
        assert!(link.starts_with("/public/requests/") && link.contains("/status?token="), "{link}");
        let page = |path: String| {
            let client = server.client.clone();
            let url = server.url(&path);
            async move {
                let response = client.get(url).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let (status, text) = page(link.clone()).await;
        assert_eq!(status, 200);
        assert!(text.contains("Received on 2026-11-25: a request for erasure."), "{text}");
        assert!(text.contains("Waiting for you to confirm") && text.contains("We answer by 2026-12-25."), "{text}");
        assert!(!text.contains("carla"), "no address on the page: {text}");
        // Confirmed by the staff: the page says so.
        let key = link.trim_start_matches("/public/requests/").split('/').next().unwrap().to_owned();
        crate::rights::verify_by_staff(&server, &key).await;
        let (_, text) = page(link.clone()).await;
        assert!(text.contains("Confirmed as yours."), "{text}");
        // In Spanish by the page's switch, which keeps the secret.
        assert!(text.contains(&format!("href=\"?token={}&#38;lang=es\"", link.split("token=").nth(1).unwrap())), "{text}");
        let (status, spanish) = page(format!("{link}&lang=es")).await;
        assert_eq!(status, 200);
        assert!(spanish.contains("<html lang=\"es\">") && spanish.contains("Confirmada como suya."), "{spanish}");
        // A wrong secret, or the secret on another request, opens nothing, alike.
        let (status, wrong) = page(format!("/public/requests/{key}/status?token=not-the-secret")).await;
        assert_eq!(status, 404);
        assert!(wrong.contains("This link does not open any request"), "{wrong}");
        let token = link.split("token=").nth(1).unwrap();
        let (_, _, other) = send(&server, "hypermarket", Method::POST, "/api/v1/subject-requests", &[],
            Some(json!({"controller": "hypermarket-a", "kind": "access", "email": "dan@example.com"}))).await;
        let other = other["key"].as_str().unwrap();
        let (status, _) = page(format!("/public/requests/{other}/status?token={token}")).await;
        assert_eq!(status, 404);
        server.stop().await;
    })
    .await;
}
