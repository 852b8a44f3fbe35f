//! The browser as the workplace (issue 18), over real HTTP with sessions and forms as a
//! browser sends them: findings that link to their entries, filtered, searched and
//! acknowledged by whoever owns the entry; contracts shown against Art. 28(3) and amended by
//! one party, accepted by the other. Each form is also tried by the wrong party.

use custos_app::Store;
use custos_app::data::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::hostile::signed_in;
use crate::rights::{ANA, post, verify_by_staff};
use crate::trust::{add_member, with_processor_editors};
use crate::{TestServer, send};

/// The standard server with editors for agency B, mailer C and the web shop's controller.
pub(crate) async fn workplace(store: Store) -> TestServer {
    let server = with_processor_editors(store.clone()).await;
    add_member(&store, "w-editor", "web-controller", Role::Editor).await;
    server
}

async fn on_both(scenario: impl AsyncFn(TestServer)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    scenario(workplace(Store::open(&url).await.unwrap()).await).await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        scenario(workplace(store.clone()).await).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

/// A signed-in browser: its cookie and CSRF token.
struct Browser<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    async fn of(server: &'a TestServer, email: &str, password: &str) -> Self {
        let (cookie, csrf) = signed_in(server, email, password).await;
        Self {
            server,
            cookie,
            csrf,
        }
    }

    /// The test users' e-mail and password by name (see `trust::add_member` and `USERS`).
    async fn member(server: &'a TestServer, name: &str, organisation: &str) -> Self {
        Self::of(
            server,
            &format!("{name}@{organisation}.test"),
            &format!("password of {name}"),
        )
        .await
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .server
            .client
            .get(self.server.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Posts a form (the session's CSRF token added): the status, the redirect and the page.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let response = self
            .server
            .client
            .post(self.server.url(path))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&all).unwrap())
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
}

impl Browser<'_> {
    /// Posts a multipart form (the session's CSRF token added) with `files` (field, file
    /// name, content): the status, the redirect and the page.
    async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> (u16, String, String) {
        let boundary = "----custos-test-boundary";
        let mut body = Vec::new();
        for (name, value) in [("csrf", self.csrf.as_str())].iter().chain(fields) {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (field, name, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let response = self
            .server
            .client
            .post(self.server.url(path))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
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
}

/// The entry's ETag as `user` reads it through the API.
async fn tag(server: &TestServer, user: &str, path: &str) -> String {
    let (status, headers, body) = send(server, user, Method::GET, path, &[], None).await;
    assert_eq!(status, 200, "{path}: {body}");
    headers["etag"].to_str().unwrap().to_owned()
}

/// The rules of the findings shown on a page, in order.
fn rules_shown(page: &str) -> Vec<&str> {
    page.split("data-rule=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

#[tokio::test]
async fn findings_link_to_their_entry_filter_and_are_acknowledged_by_the_entrys_owner() {
    on_both(async |server| {
        let owner = Browser::member(&server, "w-editor", "web-controller").await;
        let (status, page) = owner.page("/findings").await;
        assert_eq!(status, 200);
        // Each finding links to the entry it names.
        assert!(page.contains(r#"<a href="/activities/customer-accounts">activity customer-accounts</a>"#), "{page}");
        assert!(page.contains(r#"<a href="/contracts/generic-dpa">contract generic-dpa</a>"#), "{page}");
        assert_eq!(
            rules_shown(&page),
            ["dpia-missing", "dpa-incomplete", "breach-notice-term-missing"]
        );
        // Filtered by rule, by severity, and searched by words.
        let (_, page) = owner.page("/findings?rule=dpia-missing").await;
        assert_eq!(rules_shown(&page), ["dpia-missing"]);
        let (_, page) = owner.page("/findings?severity=error").await;
        assert_eq!(rules_shown(&page), ["dpia-missing", "dpa-incomplete"]);
        let (_, page) = owner.page("/findings?q=GENERIC+dpa").await;
        assert_eq!(rules_shown(&page), ["dpa-incomplete", "breach-notice-term-missing"]);
        let (status, page) = owner.page("/findings?state=closed").await;
        assert_eq!(status, 422, "{page}");

        // The acknowledgement is offered on the entry the finding names; a refused one comes
        // back with the words kept and the problem at the form.
        let activity_tag = tag(&server, "w-editor", "/api/v1/activities/customer-accounts").await;
        let (_, page) = owner.page("/findings?rule=dpia-missing").await;
        assert!(page.contains(r#"action="/findings/acknowledge""#), "{page}");
        assert!(page.contains(r#"Do it in <a href="/activities/customer-accounts/edit">the activity&#39;s form</a>."#), "the fix names its form: {page}");
        assert!(page.contains(&format!(r#"name="tag" value="{}""#, activity_tag.replace('"', "&#34;"))), "{page}");
        let form = |reason: &'static str, until: &'static str, tag: String| {
            vec![
                ("kind", "activity".to_owned()),
                ("id", "customer-accounts".to_owned()),
                ("rule", "dpia-missing".to_owned()),
                ("tag", tag),
                ("reason", reason.to_owned()),
                ("until", until.to_owned()),
                ("back", "rule=dpia-missing".to_owned()),
            ]
        };
        let post = async |fields: Vec<(&'static str, String)>| {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            owner.post("/findings/acknowledge", &fields).await
        };
        let (status, _, page) = post(form("", "2027-01-31", activity_tag.clone())).await;
        assert_eq!(status, 422);
        assert!(page.contains("Reason: say why the finding is accepted for now."), "{page}");
        assert!(page.contains(r#"<details class="act" open>"#), "{page}");
        assert!(page.contains(r#"value="2027-01-31""#), "the date typed is kept: {page}");
        let (status, _, page) = post(form("The DPIA is being written", "2026-11-01", activity_tag.clone())).await;
        assert_eq!(status, 422);
        assert!(page.contains("Until: 2026-11-01 has passed"), "{page}");
        assert!(page.contains("The DPIA is being written"), "the reason typed is kept: {page}");
        let (status, location, _) =
            post(form("The DPIA is being written", "2027-01-31", activity_tag.clone())).await;
        assert_eq!(status, 303);
        assert_eq!(location, "/findings?rule=dpia-missing");
        // Stored on the entry exactly as a manifest's acknowledgement.
        let (_, activity) = server.get(Some("w-editor"), "/api/v1/activities/customer-accounts").await;
        assert_eq!(
            activity["acknowledgements"],
            serde_json::json!([{"rule": "dpia-missing", "reason": "The DPIA is being written",
                                "until": "2027-01-31", "by": "w-editor@web-controller.test"}])
        );
        let (_, page) = owner.page("/findings?state=acknowledged").await;
        assert_eq!(rules_shown(&page), ["dpia-missing"]);
        assert!(page.contains("Acknowledged: until 2027-01-31: The DPIA is being written"), "{page}");
        let (_, page) = owner.page("/findings?state=open").await;
        assert_eq!(rules_shown(&page), ["dpa-incomplete", "breach-notice-term-missing"]);
        // The form sent again on the version read before: the entry changed meanwhile.
        let (status, _, page) = post(form("Again", "2027-02-28", activity_tag.clone())).await;
        assert_eq!(status, 422);
        assert!(page.contains("The entry changed while you were writing"), "{page}");

        // The wrong parties. Another controller's editor does not see the entry at all.
        let other = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (_, page) = other.page("/findings").await;
        assert!(!page.contains("customer-accounts"), "{page}");
        let fields = form("mine now", "2027-01-31", activity_tag.clone());
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, _) = other.post("/findings/acknowledge", &fields).await;
        assert_eq!(status, 404);
        // The bank's viewer sees the courier chain's findings but is offered no acknowledgement,
        // and its post is refused by the policy; the courier on the link (portal) neither.
        let c2_c3 = tag(&server, "admin", "/api/v1/engagements/c2-c3").await;
        for (email, password) in [
            ("privacy@bank.test", "password of bank"),
            ("office@courier-3.test", "password of courier-3"),
        ] {
            let browser = Browser::of(&server, email, password).await;
            let (status, page) = browser.page("/findings").await;
            assert_eq!(status, 200);
            assert!(page.contains("unauthorised-subprocessor"), "{email}: {page}");
            assert!(!page.contains("/findings/acknowledge") && !page.contains("Do it in"), "{email}: {page}");
            let (status, _, page) = browser
                .post(
                    "/findings/acknowledge",
                    &[("kind", "engagement"), ("id", "c2-c3"), ("rule", "unauthorised-subprocessor"),
                      ("tag", &c2_c3), ("reason", "not ours to say"), ("until", "2027-01-31"), ("back", "")],
                )
                .await;
            assert_eq!(status, 403, "{email}: {page}");
            assert!(page.contains(r#"class="problem""#), "{email}: {page}");
        }
        let (_, engagement) = server.get(Some("admin"), "/api/v1/engagements/c2-c3").await;
        assert!(engagement.get("acknowledgements").is_none(), "{engagement}");
        // A token posts no forms.
        let response = server
            .client
            .post(server.url("/findings/acknowledge"))
            .bearer_auth(TestServer::token("w-editor"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=&kind=activity&id=customer-accounts&rule=dpia-missing&tag=*&reason=x&until=2027-01-31")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
        server.stop().await;
    })
    .await;
}

/// The contract form's fields for dpa-a-b as it stands, with `changes` in place.
fn dpa_a_b_form<'a>(tag: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("tag", tag)];
    for clause in [
        "instructions",
        "confidentiality",
        "security",
        "subprocessing",
        "data-subject-assistance",
        "compliance-assistance",
        "deletion-or-return",
        "audits",
    ] {
        fields.push((clause, "yes"));
    }
    let base = [
        ("identifies_controller", "yes"),
        (
            "security",
            "encryption-in-transit, encryption-at-rest, access-logging",
        ),
        ("authorisation", "specific"),
        ("decision_days", "14"),
        ("notice_channel", "email"),
        ("preauthorised", "mailer-c, hosting-d"),
        ("information_pauses", "yes"),
        ("signed", "2025-02-20"),
        ("reference", ""),
        ("breach_notice_hours", "24"),
        ("expires", ""),
        ("renewal", ""),
    ];
    for (name, value) in base {
        let value = changes
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(value, |(_, v)| *v);
        fields.push((name, value));
    }
    fields
}

#[tokio::test]
async fn a_processor_proposes_a_contract_amendment_and_the_controller_accepts_it() {
    on_both(async |server| {
        // The link and the contract are shown against Art. 28(3) to the parties.
        let controller = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, page) = controller.page("/links/a-b").await;
        assert_eq!(status, 200);
        assert!(page.contains(r#"<a href="/contracts/dpa-a-b">dpa-a-b</a>"#), "{page}");
        assert!(page.contains(r#"<tr data-clause="audits"><td>Art. 28(3)(h)</td>"#), "{page}");
        let (_, page) = controller.page("/organisations/agency-b").await;
        assert!(page.contains(r#"<a href="/contracts/dpa-a-b"><code>dpa-a-b</code></a></td><td>hypermarket-a</td><td>2025-02-20</td><td>8 of 8</td>"#), "{page}");
        let bank = Browser::of(&server, "privacy@bank.test", "password of bank").await;
        assert_eq!(bank.page("/links/a-b").await.0, 404);
        assert_eq!(bank.page("/contracts/dpa-a-b").await.0, 404);

        // Agency B's editor proposes: the contract's other party answers for itself.
        let processor = Browser::member(&server, "b-editor", "agency-b").await;
        let (_, page) = processor.page("/contracts/dpa-a-b").await;
        assert!(page.contains("Propose an amendment"), "{page}");
        let (status, page) = processor.page("/contracts/dpa-a-b/edit").await;
        assert_eq!(status, 200);
        assert!(page.contains("Send the proposal to hypermarket-a"), "{page}");
        let before = tag(&server, "hypermarket", "/api/v1/contracts/dpa-a-b").await;
        // A wrong value comes back at its field, with what was typed.
        let (status, _, page) = processor
            .post_multipart("/contracts/dpa-a-b", &dpa_a_b_form(&before, &[("breach_notice_hours", "two days")]), &[])
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("<strong>breach_notice_hours</strong>: expected a number of hours from 1 to 720"), "{page}");
        assert!(page.contains(r#"value="two days""#), "{page}");
        let (status, _, page) = processor
            .post_multipart("/contracts/dpa-a-b", &dpa_a_b_form(&before, &[("renewal", "2028-01-01"), ("expires", "2027-01-10")]), &[])
            .await;
        assert_eq!(status, 422);
        assert!(page.contains("renewal: 2028-01-01 is after the contract expires (2027-01-10)"), "the register's own validation, at the form: {page}");
        let document: &[u8] = b"%PDF-1.4 the signed DPA";
        let (status, location, _) = processor
            .post_multipart(
                "/contracts/dpa-a-b",
                &dpa_a_b_form(&before, &[("breach_notice_hours", "48"), ("expires", "2027-01-10"), ("renewal", "2026-12-10"), ("notice_channel", "portal")]),
                &[("document", "DPA A-B signed.pdf", document)],
            )
            .await;
        assert_eq!(status, 303);
        let key = location.split("#amendment-").nth(1).unwrap().to_owned();
        let (_, contract) = server.get(Some("hypermarket"), "/api/v1/contracts/dpa-a-b").await;
        assert_eq!(contract["breach_notice_hours"], 24, "nothing changes before the answer");

        // The controller sees what changes and is offered the answer; nobody else is.
        let (_, page) = controller.page("/contracts/dpa-a-b").await;
        assert!(page.contains("<td><code>breach_notice_hours</code></td><td>24</td><td>48</td>"), "{page}");
        let accept = format!("/contracts/dpa-a-b/amendments/{key}/accept");
        assert!(page.contains(&format!(r#"action="{accept}""#)), "{page}");
        let (_, page) = processor.page("/contracts/dpa-a-b").await;
        assert!(!page.contains(&accept), "{page}");
        assert!(page.contains("Withdraw the proposal"), "{page}");
        let portal = Browser::of(&server, "staff@agency-b.test", "password of agency-b").await;
        let (_, page) = portal.page("/contracts/dpa-a-b").await;
        assert!(!page.contains(&accept) && !page.contains("Withdraw the proposal"), "{page}");
        assert!(!page.contains("Propose an amendment"), "{page}");
        assert_eq!(portal.page("/contracts/dpa-a-b/edit").await.0, 403);
        assert_eq!(processor.post(&accept, &[]).await.0, 403, "the proposer does not accept its own proposal");
        assert_eq!(portal.post(&accept, &[]).await.0, 403);
        assert_eq!(bank.post(&accept, &[]).await.0, 404);
        assert_eq!(
            controller.post(&format!("/contracts/dpa-a-b/amendments/{key}/withdraw"), &[]).await.0,
            403,
            "only the proposer withdraws"
        );
        let (status, location, _) = controller.post(&accept, &[("reasons", "48 hours is fine")]).await;
        assert_eq!(status, 303);
        assert_eq!(location, format!("/contracts/dpa-a-b#amendment-{key}"));
        let (_, contract) = server.get(Some("hypermarket"), "/api/v1/contracts/dpa-a-b").await;
        assert_eq!(contract["breach_notice_hours"], 48);
        assert_eq!(contract["subprocessing"]["notice_channel"], "portal", "{contract}");
        assert_eq!(contract["subprocessing"]["preauthorised"], json!(["mailer-c", "hosting-d"]), "kept: {contract}");
        assert_eq!(contract["expires"], "2027-01-10");
        assert_eq!(contract["renewal"], "2026-12-10");
        assert_eq!(contract["document"]["name"], "DPA A-B signed.pdf");
        let sha256 = contract["document"]["sha256"].as_str().unwrap().to_owned();
        // The signed document is read by those who see the contract, and by nobody else.
        let (_, page) = controller.page("/contracts/dpa-a-b").await;
        assert!(page.contains(&format!(r#"<a href="/api/v1/attachments/{sha256}">DPA A-B signed.pdf</a>"#)), "{page}");
        assert!(page.contains("until 2027-01-10; renew or renegotiate by 2026-12-10"), "{page}");
        let download = server
            .client
            .get(server.url(&format!("/api/v1/attachments/{sha256}")))
            .bearer_auth(TestServer::token("hypermarket"))
            .send()
            .await
            .unwrap();
        assert_eq!(download.status().as_u16(), 200);
        assert_eq!(download.bytes().await.unwrap().as_ref(), document);
        let (status, _) = server.get(Some("bank"), &format!("/api/v1/attachments/{sha256}")).await;
        assert_eq!(status, 404);
        // Its end is near: the checks remind both parties' chains.
        let (_, page) = controller.page("/findings?rule=contract-expiring").await;
        assert!(page.contains("contract dpa-a-b between hypermarket-a and agency-b expires on 2027-01-10, 46 day(s) after 2026-11-25"), "{page}");
        let (_, page) = controller.page("/contracts/dpa-a-b").await;
        assert!(page.contains(r#"<span class="pill good">accepted</span>"#), "{page}");
        assert!(page.contains("48 hours is fine"), "{page}");

        // A form filled in on the version before: both versions are shown, nothing changes.
        let (status, _, page) = processor
            .post_multipart("/contracts/dpa-a-b", &dpa_a_b_form(&before, &[("reference", "DPA 2025/7")]), &[])
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Someone changed this contract while you were editing it"), "{page}");
        assert!(page.contains("<td><code>breach_notice_hours</code></td><td>48</td><td>24</td>"), "{page}");
        let (_, versions) = server.get(Some("hypermarket"), "/api/v1/contracts/dpa-a-b/amendments").await;
        assert_eq!(versions["items"].as_array().unwrap().len(), 1, "{versions}");
        server.stop().await;
    })
    .await;
}

/// Hypermarket A erases Ana's data and tells its recipients: agency B's notification is sent;
/// its key, and those B relays (to mailer C and agency E) once it acknowledges.
async fn erasure_told_to_agency_b(server: &TestServer) -> Value {
    let (status, body) = post(
        server,
        "hypermarket",
        "/api/v1/disclosures",
        json!({"identifier": ANA, "activity": "customer-marketing", "recipient": "agency-b",
               "categories": ["email"], "at": "2025-05-10T10:00:00Z"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, erasure) = post(
        server,
        "hypermarket",
        "/api/v1/subject-requests",
        json!({"controller": "hypermarket-a", "kind": "erasure", "email": ANA}),
    )
    .await;
    assert_eq!(status, 201, "{erasure}");
    let key = erasure["key"].as_str().unwrap().to_owned();
    verify_by_staff(server, &key).await;
    let (status, told) = post(
        server,
        "hypermarket",
        &format!("/api/v1/subject-requests/{key}/notify"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{told}");
    told
}

fn notification_of(told: &Value, recipient: &str) -> String {
    told["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["recipient"] == recipient)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_processor_portal_acknowledges_and_completes_art_19_notifications() {
    on_both(async |server| {
        let told = erasure_told_to_agency_b(&server).await;
        let b = notification_of(&told, "agency-b");
        let c = notification_of(&told, "mailer-c");
        let portal = Browser::of(&server, "staff@agency-b.test", "password of agency-b").await;
        // The dashboard says it waits; the subject-request page points to it.
        let (_, page) = portal.page("/").await;
        assert!(
            page.contains(&format!(
                r#"href="/notifications#notification-{b}">Art. 19 notification to agency-b (sent)"#
            )),
            "{page}"
        );
        let (_, page) = portal.page("/subject-requests").await;
        assert!(
            page.contains(r#"<a href="/notifications">Notifications to carry out</a>"#),
            "{page}"
        );
        let (status, page) = portal.page("/notifications").await;
        assert_eq!(status, 200);
        assert!(
            page.contains(&format!("<code>{ANA}</code>")),
            "the processor learns whose data: {page}"
        );
        let acknowledge = format!("/notifications/{b}/acknowledge");
        assert!(
            page.contains(&format!(r#"action="{acknowledge}""#)),
            "{page}"
        );
        // Nobody else sees it or may answer it.
        let bank = Browser::of(&server, "privacy@bank.test", "password of bank").await;
        let (_, page) = bank.page("/notifications").await;
        assert!(
            !page.contains(&b) && page.contains("No notification waits for you."),
            "{page}"
        );
        assert_eq!(bank.post(&acknowledge, &[]).await.0, 404);
        let courier = Browser::of(&server, "office@courier-3.test", "password of courier-3").await;
        assert_eq!(
            courier
                .post(&format!("/notifications/{b}/done"), &[("note", "done")])
                .await
                .0,
            404
        );
        let response = server
            .client
            .post(server.url(&acknowledge))
            .bearer_auth(TestServer::token("agency-b"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403, "a token posts no forms");

        let (status, location, _) = portal.post(&acknowledge, &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (303, format!("/notifications#notification-{b}").as_str())
        );
        let (_, seen) = server
            .get(
                Some("agency-b"),
                &format!("/api/v1/rights-notifications/{b}"),
            )
            .await;
        assert_eq!(seen["notification"]["state"], "acknowledged", "{seen}");
        // Acknowledging relayed it to mailer C, which has nobody here: B records its answer.
        let (_, page) = portal.page("/notifications").await;
        assert!(
            page.contains(&format!(r#"action="/notifications/{c}/done""#)),
            "{page}"
        );
        assert!(page.contains("(passed on by agency-b)"), "{page}");
        let (status, _, _) = portal
            .post(&format!("/notifications/{b}/done"), &[("note", "  ")])
            .await;
        assert_eq!(status, 422, "evidence is required");
        let (status, _, _) = portal
            .post(
                &format!("/notifications/{b}/done"),
                &[("note", "deleted from the segment store, ticket 4411")],
            )
            .await;
        assert_eq!(status, 303);
        let (status, _, _) = portal
            .post(
                &format!("/notifications/{c}/done"),
                &[("note", "mailer C confirmed by e-mail on 25 Nov")],
            )
            .await;
        assert_eq!(status, 303);
        let (_, seen) = server
            .get(
                Some("agency-b"),
                &format!("/api/v1/rights-notifications/{c}"),
            )
            .await;
        assert_eq!(seen["notification"]["state"], "done", "{seen}");
        let (_, page) = portal.page("/notifications").await;
        assert!(
            page.contains("deleted from the segment store, ticket 4411"),
            "settled, with the evidence: {page}"
        );
        let (_, page) = portal.page("/").await;
        assert!(
            !page.contains(&format!("notification-{b}")),
            "no longer due: {page}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_says_what_is_due_for_each_party_and_what_is_new() {
    on_both(async |server| {
        // A subject request of the hypermarket, by days left.
        let (status, _) = post(
            &server,
            "hypermarket",
            "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "access", "email": "lucia@example.com",
                   "received_on": "2026-11-01"}),
        )
        .await;
        assert_eq!(status, 201);
        // A proposed amendment waiting for the hypermarket.
        let (status, _, proposal) = send(
            &server,
            "b-editor",
            Method::PUT,
            "/api/v1/contracts/dpa-a-b",
            &[("if-match", &tag(&server, "b-editor", "/api/v1/contracts/dpa-a-b").await)],
            Some({
                let (_, mut contract) = server.get(Some("b-editor"), "/api/v1/contracts/dpa-a-b").await;
                contract["breach_notice_hours"] = json!(36);
                contract
            }),
        )
        .await;
        assert_eq!(status, 202, "{proposal}");
        let amendment = proposal["key"].as_str().unwrap().to_owned();
        // The web shop's contract ends within 60 days.
        let (_, mut generic) = server.get(Some("w-editor"), "/api/v1/contracts/generic-dpa").await;
        generic["expires"] = json!("2027-01-05");
        let generic_tag = tag(&server, "w-editor", "/api/v1/contracts/generic-dpa").await;
        let (status, _, body) = send(&server, "w-editor", Method::PUT, "/api/v1/contracts/generic-dpa",
            &[("if-match", &generic_tag)], Some(generic.clone())).await;
        assert_eq!(status, 200, "{body}");

        let controller = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (status, page) = controller.page("/").await;
        assert_eq!(status, 200);
        assert!(page.contains(r#"<span class="pill warning">6 days left (due 2026-12-01)</span> <a href="/subject-requests/"#), "{page}");
        assert!(page.contains("access request of l•••@example.com to hypermarket-a"), "{page}");
        assert!(page.contains(&format!(r#"href="/contracts/dpa-a-b#amendment-{amendment}">agency-b proposes an amendment of contract dpa-a-b to hypermarket-a"#)), "{page}");
        assert!(!page.contains("generic-dpa"), "another controller's contract: {page}");
        let processor = Browser::member(&server, "b-editor", "agency-b").await;
        let (_, page) = processor.page("/").await;
        assert!(!page.contains(&format!("amendment-{amendment}")), "the proposer answers nothing: {page}");
        assert!(!page.contains("l•••@example.com"), "{page}");

        // The web shop's editor: its contract's end, and its findings, all new at first.
        let owner = Browser::member(&server, "w-editor", "web-controller").await;
        let (_, page) = owner.page("/").await;
        assert!(page.contains(r#"<span class="pill warning">expires on 2027-01-05, 41 day(s) after 2026-11-25</span> <a href="/contracts/generic-dpa">Contract generic-dpa between web-controller and it-contractor</a>"#), "{page}");
        assert!(page.contains("<strong>3 new</strong>: you have not marked any as seen yet"), "{page}");
        assert!(page.contains(r#"<a href="/activities/customer-accounts">Processing without a DPIA"#) || page.contains(r#"<a href="/activities/customer-accounts">"#), "{page}");
        let (status, location, _) = owner.post("/dashboard/findings-seen", &[]).await;
        assert_eq!((status, location.as_str()), (303, "/"));
        let (_, page) = owner.page("/").await;
        assert!(page.contains("Nothing new since you marked the findings seen on 2026-11-25"), "{page}");
        // A new link without a contract: a new finding, and only that one is new.
        let (status, _, body) = send(&server, "w-editor", Method::POST, "/api/v1/engagements", &[],
            Some(json!({"id": "hosting-now", "activity": "customer-accounts", "engaged_by": "web-controller",
                        "processor": "it-contractor", "service": "Hosting of the new website", "since": "2026-11-01"}))).await;
        assert_eq!(status, 201, "{body}");
        let (_, page) = owner.page("/").await;
        assert!(page.contains("<strong>1 new</strong> since you marked the findings seen"), "{page}");
        assert!(page.contains(r#"<a href="/links/hosting-now">Processing without a contract: it-contractor processes for web-controller"#), "{page}");
        // What one marks seen is one's own: the hypermarket's marks are untouched.
        let (_, page) = controller.page("/").await;
        assert!(page.contains(r#"<p class="meta">Nothing new.</p>"#), "never marked: {page}");
        let bank = Browser::of(&server, "privacy@bank.test", "password of bank").await;
        let forged = server
            .client
            .post(server.url("/dashboard/findings-seen"))
            .header("cookie", &bank.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("csrf=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403, "a forged form is refused");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn irreversible_steps_ask_first_and_a_refused_form_keeps_what_was_typed() {
    on_both(async |server| {
        let (status, request) = post(
            &server,
            "hypermarket",
            "/api/v1/subject-requests",
            json!({"controller": "hypermarket-a", "kind": "access", "email": ANA}),
        )
        .await;
        assert_eq!(status, 201, "{request}");
        let key = request["key"].as_str().unwrap().to_owned();
        verify_by_staff(&server, &key).await;
        let status_of = async || {
            server
                .get(
                    Some("hypermarket"),
                    &format!("/api/v1/subject-requests/{key}"),
                )
                .await
                .1["status"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let before = status_of().await;
        let staff = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let close = format!("/subject-requests/{key}/close");
        // The first post says what closing does, with the note kept, and does nothing.
        let (status, _, page) = staff
            .post(&close, &[("reasons", "Here is what we hold")])
            .await;
        assert_eq!(status, 200);
        assert!(
            page.contains(
                "The answer (the recipients, transfers and rights) goes to a•••@example.com."
            ),
            "{page}"
        );
        assert!(
            page.contains("The request closes: it cannot be reopened."),
            "{page}"
        );
        assert!(page.contains(">Here is what we hold</textarea>"), "{page}");
        assert!(page.contains(r#"name="confirm" value="yes""#), "{page}");
        assert_eq!(status_of().await, before, "asking changes nothing");
        // A refusal without reasons comes back with the problem, the navigation around it.
        let refuse = format!("/subject-requests/{key}/refuse");
        let (status, _, page) = staff
            .post(&refuse, &[("confirm", "yes"), ("reasons", " ")])
            .await;
        assert_eq!(status, 422);
        assert!(
            page.contains("a refusal gives the subject its reasons (Art. 12(4))"),
            "{page}"
        );
        assert!(
            page.contains(r#"<nav class="main""#) && page.contains("Refuse the request"),
            "{page}"
        );
        assert_eq!(status_of().await, before);
        // Nobody else is asked anything: another party's people do not see the request.
        for (email, password) in [
            ("privacy@bank.test", "password of bank"),
            ("staff@agency-b.test", "password of agency-b"),
        ] {
            let other = Browser::of(&server, email, password).await;
            let (status, _, page) = other.post(&close, &[]).await;
            assert_eq!(status, 404, "{email}: {page}");
            assert!(!page.contains("a•••@example.com"), "{page}");
        }
        let (status, location, _) = staff
            .post(
                &close,
                &[("confirm", "yes"), ("reasons", "Here is what we hold")],
            )
            .await;
        assert_eq!(
            (status, location),
            (303, format!("/subject-requests/{key}"))
        );
        assert_eq!(status_of().await, "closed");
        // An error page keeps the navigation.
        let (status, page) = staff.page("/activities/no-such-activity").await;
        assert_eq!(status, 404);
        assert!(
            page.contains(r#"<nav class="main""#) && page.contains("Back to what is due"),
            "{page}"
        );
        server.stop().await;
    })
    .await;
}

/// The fields of the link form for a Cloud US link of the hypermarket's marketing.
fn cloud_link<'a>(intent: &'a str, transfer: &'a str, tag: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("intent", intent),
        ("tag", tag),
        ("id", "a-cloud"),
        ("activity", "customer-marketing"),
        ("engaged_by", "hypermarket-a"),
        ("processor", "cloud-us"),
        ("service", "Cloud hosting of the campaign data"),
        ("since", "2026-11-01"),
        ("until", ""),
        ("contract", ""),
        ("transfer", transfer),
        ("location-0-country", ""),
    ]
}

#[tokio::test]
async fn the_dpo_adds_a_processor_with_an_scc_transfer_and_sees_the_finding_go() {
    on_both(async |server| {
        let dpo = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (_, page) = dpo.page("/organisations").await;
        assert!(page.contains(r#"href="/organisations/new""#), "{page}");
        let (status, page) = dpo.page("/organisations/new").await;
        assert_eq!(status, 200, "{page}");
        // A wrong address comes back at its field, the rest kept.
        let organisation = |email: &'static str| {
            vec![
                ("intent", "save"),
                ("id", "cloud-us"),
                ("name", "Cloud US Inc"),
                ("country", "US"),
                ("kind", "company"),
                ("address", "1 Cloud Way, Seattle"),
                ("contact_name", "Pat Doe"),
                ("contact_email", email),
                ("certifications", ""),
            ]
        };
        let (status, _, page) = dpo
            .post("/organisations", &organisation("not an address"))
            .await;
        assert_eq!(status, 422);
        assert!(
            page.contains(r#"value="Cloud US Inc""#)
                && page.contains("contact: &#34;not an address&#34;: expected an e-mail address"),
            "{page}"
        );
        let (status, location, _) = dpo
            .post("/organisations", &organisation("pat@cloud-us.example"))
            .await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/links/new?processor=cloud-us"),
            "on to engage it"
        );
        let (_, page) = dpo.page(&location).await;
        assert!(
            page.contains(r#"name="processor" list="organisations" value="cloud-us""#),
            "{page}"
        );
        let (_, created) = server
            .get(Some("admin"), "/api/v1/organisations/cloud-us")
            .await;
        assert_eq!(created["contact"]["email"], "pat@cloud-us.example");

        // The link form offers, for a US importer without certification, what holds: the
        // controller-to-processor SCC module, derogations flagged, never adequacy.
        let (_, page) = dpo.page("/activities/customer-marketing").await;
        assert!(
            page.contains(r#"href="/links/new?activity=customer-marketing""#),
            "{page}"
        );
        let (status, _, page) = dpo.post("/links", &cloud_link("preview", "", "")).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains(r#"<option value="scc-2" >Standard contractual clauses, module 2"#),
            "{page}"
        );
        assert!(
            !page.contains(r#"<option value="adequacy""#) && !page.contains(r#"value="scc-3""#),
            "{page}"
        );
        assert!(
            page.contains("exceptional: only for occasional transfers"),
            "{page}"
        );
        // The preview says what saving would do, and saves nothing.
        assert!(
            page.contains(
                "It adds Cloud US Inc (cloud-us) to the recipients of customer-marketing."
            ),
            "{page}"
        );
        assert!(
            page.contains("Transfer outside the EEA with no mechanism"),
            "{page}"
        );
        assert!(page.contains("Processing without a contract"), "{page}");
        assert_eq!(
            server
                .get(Some("hypermarket"), "/api/v1/engagements/a-cloud")
                .await
                .0,
            404
        );
        let mut with_spanish = cloud_link("save", "", "");
        with_spanish.push((
            "service_es",
            "Alojamiento en la nube de los datos de campaña",
        ));
        let (status, location, _) = dpo.post("/links", &with_spanish).await;
        assert_eq!((status, location.as_str()), (303, "/links/a-cloud"));
        // The Spanish words are stored as the link's translations, and the form shows them.
        let (_, link) = server
            .get(Some("hypermarket"), "/api/v1/engagements/a-cloud")
            .await;
        assert_eq!(
            link["translations"],
            serde_json::json!({"es": {"service": "Alojamiento en la nube de los datos de campaña"}})
        );
        let (_, page) = dpo.page("/links/a-cloud/edit").await;
        assert!(
            page.contains(r#"value="Alojamiento en la nube de los datos de campaña""#),
            "{page}"
        );
        let (_, page) = dpo.page("/findings?rule=transfer-no-mechanism").await;
        assert!(page.contains("a-cloud"), "{page}");

        // A decision recorded on the link needs its day, said at the decision's fields.
        let mut undated = cloud_link("preview", "", "");
        undated.extend([
            ("decision", "approved"),
            ("decided_by", "hypermarket-a"),
            ("decided_on", ""),
        ]);
        let current = tag(&server, "hypermarket", "/api/v1/engagements/a-cloud").await;
        undated[1] = ("tag", &current);
        let (status, _, page) = dpo.post("/links/a-cloud", &undated).await;
        assert_eq!(status, 422);
        assert!(
            page.contains("authorisation: the day the controller decided"),
            "{page}"
        );
        // The DPO records the SCCs: the preview says the finding goes, and it goes.
        let tag_before = tag(&server, "hypermarket", "/api/v1/engagements/a-cloud").await;
        let (_, page) = dpo.page("/links/a-cloud/edit").await;
        assert!(page.contains("Change link <code>a-cloud</code>"), "{page}");
        let (status, _, page) = dpo
            .post(
                "/links/a-cloud",
                &cloud_link("preview", "scc-2", &tag_before),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            page.contains("1 finding(s) resolved")
                && page.contains("Transfer outside the EEA with no mechanism:"),
            "{page}"
        );
        let (status, location, _) = dpo
            .post("/links/a-cloud", &cloud_link("save", "scc-2", &tag_before))
            .await;
        assert_eq!((status, location.as_str()), (303, "/links/a-cloud"));
        let (_, page) = dpo.page("/findings?rule=transfer-no-mechanism").await;
        assert!(!page.contains("a-cloud"), "the finding is gone: {page}");
        let (_, link) = server
            .get(Some("hypermarket"), "/api/v1/engagements/a-cloud")
            .await;
        assert_eq!(link["transfer"], json!({"scc": {"module": 2}}), "{link}");
        // The form read before that save is stale now: both versions are shown.
        let (status, _, page) = dpo
            .post("/links/a-cloud", &cloud_link("save", "", &tag_before))
            .await;
        assert_eq!(status, 422);
        assert!(
            page.contains("Someone changed this entry while you were editing it"),
            "{page}"
        );
        assert!(page.contains("<td><code>transfer</code></td>"), "{page}");

        // Its contract, recorded from the link's page, then chosen on the link.
        let (_, page) = dpo.page("/links/a-cloud").await;
        let new_contract =
            "/contracts/new?engaging=hypermarket-a&amp;processor=cloud-us&amp;link=a-cloud";
        assert!(page.contains(new_contract), "{page}");
        let (status, page) = dpo.page(&new_contract.replace("&amp;", "&")).await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("Record a contract between hypermarket-a and cloud-us"),
            "{page}"
        );
        let mut contract = vec![
            ("id", "dpa-a-cloud"),
            ("engaging", "hypermarket-a"),
            ("processor", "cloud-us"),
            ("link", "a-cloud"),
            ("security", "encryption-at-rest"),
            ("breach_notice_hours", "24"),
            ("identifies_controller", "yes"),
            ("signed", "2026-10-20"),
        ];
        for clause in [
            "instructions",
            "confidentiality",
            "security",
            "subprocessing",
            "data-subject-assistance",
            "compliance-assistance",
            "deletion-or-return",
            "audits",
        ] {
            contract.push((
                Box::leak(format!("clause-{clause}").into_boxed_str()),
                "yes",
            ));
        }
        let (status, location, page) = dpo.post_multipart("/contracts", &contract, &[]).await;
        assert_eq!(
            (status, location.as_str()),
            (303, "/links/a-cloud/edit?contract=dpa-a-cloud"),
            "{page}"
        );
        let (_, page) = dpo.page(&location).await;
        assert!(
            page.contains(r#"<option value="dpa-a-cloud" selected>"#),
            "{page}"
        );
        let current = tag(&server, "hypermarket", "/api/v1/engagements/a-cloud").await;
        let mut with_contract = cloud_link("save", "scc-2", &current);
        with_contract.retain(|(k, _)| *k != "contract");
        with_contract.push(("contract", "dpa-a-cloud"));
        let (status, _, page) = dpo.post("/links/a-cloud", &with_contract).await;
        assert_eq!(status, 303, "{page}");
        let (_, page) = dpo.page("/findings?activity=customer-marketing").await;
        assert!(
            !page.contains("a-cloud"),
            "no finding left on the new link: {page}"
        );

        // The wrong parties: the bank's viewer is offered no form and may not save one;
        // agency B's portal user does not see the hypermarket's link at all.
        let bank = Browser::of(&server, "privacy@bank.test", "password of bank").await;
        let (_, page) = bank.page("/activities/document-delivery").await;
        assert!(
            !page.contains("/links/new") && !page.contains("/edit"),
            "{page}"
        );
        let (_, page) = bank.page("/organisations").await;
        assert!(!page.contains(r#"href="/organisations/new""#), "{page}");
        let (status, _, _) = bank
            .post(
                "/links",
                &[
                    ("intent", "save"),
                    ("id", "bank-x"),
                    ("activity", "document-delivery"),
                    ("engaged_by", "bank"),
                    ("processor", "cloud-us"),
                    ("service", "x"),
                    ("since", "2026-11-01"),
                ],
            )
            .await;
        assert_eq!(status, 403);
        let portal = Browser::of(&server, "staff@agency-b.test", "password of agency-b").await;
        assert_eq!(portal.page("/links/a-cloud/edit").await.0, 404);
        let now = tag(&server, "hypermarket", "/api/v1/engagements/a-cloud").await;
        assert_eq!(
            portal
                .post("/links/a-cloud", &cloud_link("save", "", &now))
                .await
                .0,
            404
        );
        assert_eq!(portal.post("/links/a-cloud/delete", &[]).await.0, 404);

        // Deleting asks first, saying what goes.
        let (status, _, page) = dpo.post("/links/a-cloud/delete", &[]).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Cloud US Inc (cloud-us) leaves the recipients of customer-marketing."),
            "{page}"
        );
        let (status, location, _) = dpo
            .post(
                "/links/a-cloud/delete",
                &[("confirm", "yes"), ("tag", &now)],
            )
            .await;
        assert_eq!((status, location.as_str()), (303, "/activities"));
        assert_eq!(
            server
                .get(Some("hypermarket"), "/api/v1/engagements/a-cloud")
                .await
                .0,
            404
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_activity_is_created_and_changed_in_its_form_by_its_controller_only() {
    on_both(async |server| {
        let dpo = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (_, page) = dpo.page("/activities/new").await;
        assert!(
            page.contains(r#"<option value="hypermarket-a" "#),
            "its own organisations as controllers: {page}"
        );
        let activity = |retention: &'static str| {
            vec![
                ("intent", "save"),
                ("id", "loyalty"),
                ("name", "Loyalty programme"),
                ("controller", "hypermarket-a"),
                ("purposes", "Points for purchases\nMember offers"),
                ("lawful_basis", "contract"),
                ("subjects", "customers"),
                ("data", "email, order-history"),
                ("retention", retention),
                ("measures", "encryption-at-rest"),
                ("special_condition", "explicit-consent"),
            ]
        };
        let (status, _, page) = dpo.post("/activities", &activity("two years")).await;
        assert_eq!(status, 422);
        assert!(
            page.contains(r#"<div class="at-fault"><label for="f-retention">"#),
            "the problem at its field: {page}"
        );
        assert!(page.contains(r#"value="Loyalty programme""#), "{page}");
        let (status, location, _) = dpo.post("/activities", &activity("P2Y")).await;
        assert_eq!((status, location.as_str()), (303, "/activities/loyalty"));
        let (_, created) = server
            .get(Some("hypermarket"), "/api/v1/activities/loyalty")
            .await;
        assert_eq!(
            created["purposes"],
            json!(["Points for purchases", "Member offers"])
        );
        assert_eq!(created["retention"], "P2Y");
        assert_eq!(created["special_category_condition"], "explicit-consent");
        // Taken ids answer at the id field.
        let (status, _, page) = dpo.post("/activities", &activity("P2Y")).await;
        assert_eq!(status, 409, "{page}");
        assert!(page.contains("exists already"), "{page}");
        // Another controller's editor neither sees nor changes it.
        let other = Browser::member(&server, "w-editor", "web-controller").await;
        assert_eq!(other.page("/activities/loyalty/edit").await.0, 404);
        assert_eq!(
            other.post("/activities/loyalty", &activity("P3Y")).await.0,
            404
        );
        let (status, _, page) = other
            .post(
                "/activities",
                &[
                    ("intent", "save"),
                    ("id", "theirs"),
                    ("controller", "hypermarket-a"),
                    ("purposes", "x"),
                ],
            )
            .await;
        assert_eq!(status, 403, "naming another controller is refused: {page}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_processor_answers_a_request_for_information_and_the_controller_approves() {
    on_both(async |server| {
        let processor = Browser::member(&server, "b-editor", "agency-b").await;
        let candidate: Vec<(&str, &str)> = vec![
            ("requester", "agency-b"),
            ("service", "Campaign analytics"),
            ("candidate_id", "analytics-us"),
            ("candidate_name", "Analytics US Inc"),
            ("candidate_country", "US"),
            ("candidate_address", "1 Main St, Austin"),
            ("contact_name", "Sam Roe"),
            ("contact_email", "sam@analytics-us.example"),
            ("processing", "Aggregated campaign statistics"),
            ("locations", ""),
            ("transfer", ""),
            ("measures", "encryption-at-rest"),
            ("certifications", ""),
            ("codes", ""),
        ];
        // A refused filing comes back with what was typed.
        let mut wrong = candidate.clone();
        wrong[4] = ("candidate_country", "XX");
        let (status, _, page) = processor.post_multipart("/change-requests/new", &wrong, &[]).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains(r#"value="Analytics US Inc""#) && page.contains("Nothing was filed"), "{page}");
        // Filed with the questionnaire and two further documents.
        let (status, location, page) = processor
            .post_multipart(
                "/change-requests/new",
                &candidate,
                &[
                    ("questionnaire", "questionnaire.pdf", b"%PDF answers"),
                    ("attachments", "iso27001.pdf", b"%PDF certificate"),
                    ("attachments", "pentest.pdf", b"%PDF report"),
                ],
            )
            .await;
        assert_eq!(status, 303, "{page}");
        let key = location.trim_start_matches("/change-requests/").to_owned();
        let (_, filed) = server.get(Some("agency-b"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(filed["spec"]["dossier"]["attachments"].as_array().map(Vec::len), Some(2), "{filed}");

        // The controller is warned that no transfer mechanism is stated, and asking is the
        // button offered first.
        let controller = Browser::of(&server, "dpo@hypermarket-a.test", "password of hypermarket").await;
        let (_, page) = controller.page(&location).await;
        assert!(page.contains("the dossier states no transfer mechanism (Chapter V): ask for it before approving"), "{page}");
        assert!(page.contains(r#"<button class="primary" type="submit" name="decision" value="request-information">"#), "{page}");
        let (status, _, _) = controller
            .post(&format!("{location}/decide"), &[("controller", "hypermarket-a"), ("decision", "request-information"),
                                                 ("reasons", "On what ground does the data go to the US?")])
            .await;
        assert_eq!(status, 303);

        // The processor answers with a new version, stating the SCCs and adding a document.
        let (_, page) = processor.page(&location).await;
        assert!(page.contains("Answer with a new version of the dossier"), "{page}");
        let mut answer: Vec<(&str, &str)> = candidate[8..].to_vec();
        answer[2] = ("transfer", "scc-3");
        let (status, _, _) = Browser::of(&server, "privacy@bank.test", "password of bank")
            .await
            .post_multipart(&format!("{location}/dossier"), &answer, &[])
            .await;
        assert_eq!(status, 403, "only the requester's people answer");
        // A wrong answer comes back open, with what was typed.
        let mut wrong: Vec<(&str, &str)> = answer.clone();
        wrong[0] = ("processing", "Aggregated statistics, now with a typo in the mechanism");
        wrong[2] = ("transfer", "scc-9");
        let (status, _, page) = processor.post_multipart(&format!("{location}/dossier"), &wrong, &[]).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("The new version was not sent") && page.contains("now with a typo in the mechanism"), "{page}");
        let (status, _, page) = processor
            .post_multipart(&format!("{location}/dossier"), &answer, &[("attachments", "tia.pdf", b"%PDF transfer impact assessment")])
            .await;
        assert_eq!(status, 303, "{page}");
        let (_, now) = server.get(Some("agency-b"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(now["dossier_version"], 2, "{now}");
        assert_eq!(now["spec"]["dossier"]["transfer"], json!({"scc": {"module": 3}}), "{now}");
        assert_eq!(now["spec"]["dossier"]["attachments"].as_array().map(Vec::len), Some(3), "{now}");

        // The controller sees the mechanism and approves.
        let (_, page) = controller.page(&location).await;
        assert!(!page.contains("ask for it before approving"), "{page}");
        let (status, _, _) = controller
            .post(&format!("{location}/decide"), &[("controller", "hypermarket-a"), ("decision", "approve"), ("reasons", "SCCs and TIA seen")])
            .await;
        assert_eq!(status, 303);
        let (_, now) = server.get(Some("hypermarket"), &format!("/api/v1/change-requests/{key}")).await;
        assert_eq!(now["status"], "approved", "{now}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_missing_dpia_is_fixed_in_the_activity_form_and_a_bcr_held_is_offered_as_a_mechanism() {
    on_both(async |server| {
        let owner = Browser::member(&server, "w-editor", "web-controller").await;
        let (_, activity) = server
            .get(Some("w-editor"), "/api/v1/activities/customer-accounts")
            .await;
        let current = tag(&server, "w-editor", "/api/v1/activities/customer-accounts").await;
        let (_, page) = owner.page("/activities/customer-accounts/edit").await;
        assert!(page.contains("Impact assessment (Art. 35)"), "{page}");
        let form = |intent: &'static str, assessment: &'static str, day: &'static str| {
            let purposes = activity["purposes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("\n");
            let ids = |field: &str| {
                activity[field]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| p.as_str().unwrap().to_owned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            vec![
                ("intent", intent.to_owned()),
                ("tag", current.clone()),
                (
                    "name",
                    activity["name"].as_str().unwrap_or_default().to_owned(),
                ),
                ("controller", "web-controller".to_owned()),
                ("purposes", purposes),
                (
                    "lawful_basis",
                    activity["lawful_basis"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                ("subjects", ids("subjects")),
                ("data", ids("data")),
                (
                    "retention",
                    activity["retention"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                ("measures", ids("measures")),
                ("large_scale", "yes".to_owned()),
                ("assessment", assessment.to_owned()),
                ("assessment_date", day.to_owned()),
                ("assessment_reference", "DPIA-2026-3".to_owned()),
            ]
        };
        let post = async |fields: Vec<(&'static str, String)>| {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            owner.post("/activities/customer-accounts", &fields).await
        };
        let (status, _, page) = post(form("save", "dpia", "")).await;
        assert_eq!(status, 422);
        assert!(
            page.contains("assessment: the day it was completed"),
            "{page}"
        );
        let (status, _, page) = post(form("preview", "dpia", "2024-04-01")).await;
        assert_eq!(status, 200);
        assert!(page.contains("1 finding(s) resolved"), "{page}");
        let (status, _, _) = post(form("save", "dpia", "2024-04-01")).await;
        assert_eq!(status, 303);
        let (_, saved) = server
            .get(Some("w-editor"), "/api/v1/activities/customer-accounts")
            .await;
        assert_eq!(
            saved["risk_assessment"],
            json!({"kind": "dpia", "date": "2024-04-01", "reference": "DPIA-2026-3"})
        );
        assert_eq!(
            saved["data"], activity["data"],
            "what the form shows is kept as it was"
        );

        // An importer that holds BCR is offered BCR as the mechanism of a transfer to it.
        let admin = Browser::of(&server, "admin@custos.test", "password of admin").await;
        let (status, _, page) = admin
            .post(
                "/organisations",
                &[
                    ("intent", "save"),
                    ("id", "acme-in"),
                    ("name", "Acme India"),
                    ("country", "IN"),
                    ("address", "Pune"),
                    ("contact_email", "dpo@acme.example"),
                    (
                        "safeguards",
                        "bcr Acme group BCR-P, approved by the CNIL since 2020-01-01",
                    ),
                ],
            )
            .await;
        assert_eq!(status, 303, "{page}");
        let (_, acme) = server
            .get(Some("admin"), "/api/v1/organisations/acme-in")
            .await;
        assert_eq!(acme["safeguards"][0]["kind"], "bcr", "{acme}");
        let (_, _, page) = admin
            .post(
                "/links",
                &[
                    ("intent", "preview"),
                    ("id", "a-acme"),
                    ("activity", "customer-marketing"),
                    ("engaged_by", "hypermarket-a"),
                    ("processor", "acme-in"),
                    ("service", "Support"),
                    ("since", "2026-11-01"),
                ],
            )
            .await;
        assert!(
            page.contains(
                r#"<option value="bcr" >Binding corporate rules of the importer (Art. 47)"#
            ),
            "{page}"
        );
        assert!(page.contains(r#"<option value="scc-2" >"#), "{page}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_refused_breach_report_comes_back_with_what_was_typed() {
    on_both(async |server| {
        let portal = Browser::of(&server, "staff@agency-b.test", "password of agency-b").await;
        let report = |began: &'static str| {
            vec![
                ("party", "agency-b"),
                ("occurred_from", began),
                ("occurred_until", ""),
                ("aware_at", "2026-11-24T09:00"),
                ("confidentiality", "yes"),
                (
                    "description",
                    "A laptop with the segment exports was stolen",
                ),
                ("systems", "laptops"),
                ("data_categories", "email"),
                ("subject_categories", "customers"),
                ("subjects_min", "100"),
                ("subjects_max", "200"),
                ("consequences", ""),
                ("measures_taken", ""),
                ("measures_proposed", ""),
                ("contact_name", "Lena Ortiz"),
                ("contact_email", "lena@agency-b.test"),
            ]
        };
        let (status, _, page) = portal
            .post_multipart("/breaches", &report("yesterday"), &[])
            .await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Nothing was reported"), "{page}");
        assert!(
            page.contains(">A laptop with the segment exports was stolen</textarea>"),
            "{page}"
        );
        assert!(
            page.contains(r#"name="confidentiality" value="yes" checked"#),
            "{page}"
        );
        assert!(page.contains(r#"value="Lena Ortiz""#), "{page}");
        let (_, list) = server.get(Some("agency-b"), "/api/v1/breaches").await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(0),
            "nothing reported: {list}"
        );
        let (status, location, _) = portal
            .post_multipart("/breaches", &report("2026-11-23T22:00"), &[])
            .await;
        assert_eq!(status, 303);
        assert!(location.starts_with("/breaches/"), "{location}");
        server.stop().await;
    })
    .await;
}

/// The wrong parties at the register's forms: another controller's editor records no contract
/// between others and deletes none of their entries, asked or confirmed; a processor's portal
/// user deletes not even its own organisation. Everything is still there afterwards.
#[tokio::test]
async fn another_partys_people_neither_record_contracts_for_others_nor_delete_their_entries() {
    on_both(async |server| {
        let other = Browser::member(&server, "w-editor", "web-controller").await;
        let (status, _, page) = other
            .post_multipart(
                "/contracts",
                &[
                    ("intent", "save"),
                    ("id", "dpa-forged"),
                    ("engaging", "hypermarket-a"),
                    ("processor", "agency-b"),
                    ("link", "a-b"),
                    ("clause-instructions", "yes"),
                    ("identifies_controller", "yes"),
                ],
                &[],
            )
            .await;
        assert!(matches!(status, 403 | 404), "{status}: {page}");
        let (status, _, _) = send(
            &server,
            "admin",
            Method::GET,
            "/api/v1/contracts/dpa-forged",
            &[],
            None,
        )
        .await;
        assert_eq!(status, 404, "no contract was recorded");
        let entries = [
            (
                "/organisations/hypermarket-a",
                "/api/v1/organisations/hypermarket-a",
            ),
            (
                "/activities/customer-marketing",
                "/api/v1/activities/customer-marketing",
            ),
            ("/contracts/dpa-a-b", "/api/v1/contracts/dpa-a-b"),
            ("/links/a-b", "/api/v1/engagements/a-b"),
        ];
        for (page_path, _) in entries {
            for confirm in ["", "yes"] {
                let (status, _, page) = other
                    .post(&format!("{page_path}/delete"), &[("confirm", confirm)])
                    .await;
                assert!(
                    matches!(status, 403 | 404),
                    "{page_path} confirm={confirm:?}: {status} {page}"
                );
            }
        }
        let portal = Browser::of(&server, "staff@agency-b.test", "password of agency-b").await;
        // Not even asked to confirm, with or without the entry's version.
        let own_tag = tag(&server, "agency-b", "/api/v1/organisations/agency-b").await;
        for fields in [
            vec![("confirm", "")],
            vec![("confirm", "yes")],
            vec![("confirm", "yes"), ("tag", own_tag.as_str())],
        ] {
            let (status, _, page) = portal.post("/organisations/agency-b/delete", &fields).await;
            assert_eq!(status, 403, "a portal user: {page}");
        }
        for (_, api_path) in entries
            .iter()
            .chain([&("", "/api/v1/organisations/agency-b")])
        {
            let (status, _, _) = send(&server, "admin", Method::GET, api_path, &[], None).await;
            assert_eq!(status, 200, "{api_path} is still there");
        }
        server.stop().await;
    })
    .await;
}
