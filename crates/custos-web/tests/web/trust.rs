//! Who may assert what, over HTTP, as the parties of one instance would try it on each other
//! (the issue "Who may assert what"): every scenario of its list is refused, or for a contract
//! becomes a proposal that changes nothing until the other party accepts it; and an approval
//! given on one dossier does not carry over to another.

use custos_app::Actor;
use custos_app::Store;
use custos_app::data::{Role, Scope};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{TestServer, give_token, send, start};

/// Adds a user with `role` in `organisation` and a read-write token named after it.
pub(crate) async fn add_member(store: &Store, name: &str, organisation: &str, role: Role) {
    let actor = Actor::new("test", "2026-11-25T10:00:00Z".parse().unwrap());
    let user = custos_app::people::create_user(
        store,
        custos_app::people::NewUser {
            email: format!("{name}@{organisation}.test"),
            password: format!("password of {name}"),
            is_admin: false,
            memberships: vec![(organisation.to_owned(), role)],
        },
        &actor,
    )
    .await
    .unwrap();
    give_token(
        store,
        &user.email,
        &format!("{name}-tests"),
        &TestServer::token(name),
        vec![Scope::Read, Scope::Write, Scope::Tokens],
    )
    .await;
}

/// The standard test server with an editor for agency B and one for mailer C beside the
/// hypermarket's, so that each answers for itself.
pub(crate) async fn with_processor_editors(store: Store) -> TestServer {
    let server = start(store.clone()).await;
    add_member(&store, "b-editor", "agency-b", Role::Editor).await;
    add_member(&store, "c-editor", "mailer-c", Role::Editor).await;
    server
}

async fn on_both(scenario: impl AsyncFn(TestServer)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    scenario(with_processor_editors(Store::open(&url).await.unwrap()).await).await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        scenario(with_processor_editors(store.clone()).await).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

async fn read(server: &TestServer, path: &str) -> (String, Value) {
    let (status, headers, body) = send(server, "admin", Method::GET, path, &[], None).await;
    assert_eq!(status, 200, "{path}: {body}");
    (headers["etag"].to_str().unwrap().to_owned(), body)
}

async fn put(server: &TestServer, user: &str, path: &str, body: Value) -> (u16, Value) {
    let (tag, _) = read(server, path).await;
    let (status, _, answer) = send(
        server,
        user,
        Method::PUT,
        path,
        &[("if-match", &tag)],
        Some(body),
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn a_party_cannot_rewrite_another_partys_commitments() {
    on_both(async |server: TestServer| {
        // B turns the controller's specific authorisation into a general one with a 1-day
        // window and pre-authorises a sub-processor of its choosing: a proposal, nothing more.
        let (_, original) = read(&server, "/api/v1/contracts/dpa-a-b").await;
        let mut loosened = original.clone();
        loosened["subprocessing"] = json!({"authorisation": "general", "decision_days": 1,
            "notice_channel": "email", "preauthorised": ["mailer-c", "hosting-d", "agency-e"]});
        let (status, proposal) = put(&server, "b-editor", "/api/v1/contracts/dpa-a-b", loosened.clone()).await;
        assert_eq!(status, 202, "{proposal}");
        assert_eq!((proposal["proposer"].as_str(), proposal["awaiting"].as_str()), (Some("agency-b"), Some("hypermarket-a")));
        assert_eq!(proposal["status"], "open");
        let (_, now) = read(&server, "/api/v1/contracts/dpa-a-b").await;
        assert_eq!(now, original, "the contract in force is unchanged");
        let key = proposal["key"].as_str().unwrap().to_owned();
        // Both parties see it; a stranger does not; B cannot accept its own proposal.
        for user in ["hypermarket", "b-editor"] {
            let (status, list) = server.get(Some(user), "/api/v1/contracts/dpa-a-b/amendments").await;
            assert_eq!(status, 200, "{user}");
            assert_eq!(list["items"][0]["key"], key.as_str());
        }
        let amendment = format!("/api/v1/contracts/dpa-a-b/amendments/{key}");
        for user in ["bank", "courier-3"] {
            assert_eq!(server.get(Some(user), "/api/v1/contracts/dpa-a-b/amendments").await.0, 404, "{user}");
            assert_eq!(server.get(Some(user), &amendment).await.0, 404, "{user}");
        }
        // Only the awaited party rejects, only the proposer withdraws.
        for (user, verb) in [("b-editor", "reject"), ("agency-b", "reject"), ("hypermarket", "withdraw"), ("agency-b", "withdraw")] {
            let (status, _, problem) = send(&server, user, Method::POST, &format!("{amendment}/{verb}"), &[], None).await;
            assert_eq!(status, 403, "{user} {verb}s: {problem}");
        }
        for (user, expected) in [("bank", 404), ("courier-3", 404), ("b-editor", 403), ("agency-b", 403)] {
            let (status, _, problem) = send(&server, user, Method::POST, &format!("{amendment}/accept"), &[], None).await;
            assert_eq!(status, expected, "{user} accepts: {problem}");
        }
        // The controller rejects it, with reasons; the contract stays as it was.
        let (status, _, rejected) = send(&server, "hypermarket", Method::POST, &format!("{amendment}/reject"), &[],
            Some(json!({"reasons": "Our contract requires specific authorisation"}))).await;
        assert_eq!(status, 200, "{rejected}");
        assert_eq!(rejected["status"], "rejected");
        assert_eq!(rejected["decision_reasons"], "Our contract requires specific authorisation");
        let (status, _, _) = send(&server, "hypermarket", Method::POST, &format!("{amendment}/accept"), &[], None).await;
        assert_eq!(status, 409, "a rejected proposal cannot be accepted after all");
        assert_eq!(read(&server, "/api/v1/contracts/dpa-a-b").await.1, original);

        // A proposal both accept takes effect: the controller shortens its own decision period,
        // B accepts.
        let mut shorter = original.clone();
        shorter["subprocessing"]["decision_days"] = json!(10);
        let (status, proposal) = put(&server, "hypermarket", "/api/v1/contracts/dpa-a-b", shorter.clone()).await;
        assert_eq!(status, 202, "{proposal}");
        let accept = format!("/api/v1/contracts/dpa-a-b/amendments/{}/accept", proposal["key"].as_str().unwrap());
        let (status, _, accepted) = send(&server, "b-editor", Method::POST, &accept, &[], None).await;
        assert_eq!(status, 200, "{accepted}");
        assert_eq!(accepted["status"], "accepted");
        assert_eq!(read(&server, "/api/v1/contracts/dpa-a-b").await.1, shorter);
        // The contract keeps its history: the version before the amendment was in force until
        // yesterday (the clock stands on 2026-11-25); the parties read it, a stranger does not.
        let (status, versions) = server.get(Some("b-editor"), "/api/v1/contracts/dpa-a-b/versions").await;
        assert_eq!(status, 200, "{versions}");
        let items = versions["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{versions}");
        assert_eq!((items[0]["version"].as_u64(), items[0]["until"].as_str()), (Some(1), Some("2026-11-24")));
        assert_eq!(items[0]["contract"], original);
        assert_eq!((items[1]["from"].as_str(), &items[1]["until"]), (Some("2026-11-25"), &Value::Null));
        assert_eq!(items[1]["contract"], shorter);
        assert_eq!(server.get(Some("bank"), "/api/v1/contracts/dpa-a-b/versions").await.0, 404);
        // No such contract: no amendments to list, not even for an administrator.
        assert_eq!(server.get(Some("admin"), "/api/v1/contracts/no-such-contract/amendments").await.0, 404);

        // A proposal on a version that changed since cannot be accepted: it is superseded.
        let mut stale = shorter.clone();
        stale["reference"] = json!("B's wording");
        let (_, proposal) = put(&server, "b-editor", "/api/v1/contracts/dpa-a-b", stale).await;
        let mut admin_edit = shorter.clone();
        admin_edit["reference"] = json!("signed copy in the archive");
        let (status, _) = put(&server, "admin", "/api/v1/contracts/dpa-a-b", admin_edit.clone()).await;
        assert_eq!(status, 200, "an administrator changes it directly");
        let key = proposal["key"].as_str().unwrap();
        let (status, _, problem) = send(&server, "hypermarket", Method::POST, &format!("/api/v1/contracts/dpa-a-b/amendments/{key}/accept"), &[], None).await;
        assert_eq!(status, 409, "{problem}");
        let (_, superseded) = server.get(Some("hypermarket"), &format!("/api/v1/contracts/dpa-a-b/amendments/{key}")).await;
        assert_eq!(superseded["status"], "superseded");
        assert_eq!(read(&server, "/api/v1/contracts/dpa-a-b").await.1, admin_edit);
        // The administrator's write on the parties' contract is marked as such for them.
        let (_, audit) = server.get(Some("hypermarket"), "/api/v1/audit").await;
        let marked = audit["items"].as_array().unwrap().iter()
            .any(|e| e["object_id"] == "dpa-a-b" && e["action"] == "update" && e["actor"].as_str().unwrap().ends_with("[admin-override]"));
        assert!(marked, "{audit}");

        // B records the controller's approval on its own link: refused, naming the field.
        let (_, b_c) = read(&server, "/api/v1/engagements/b-c").await;
        let mut laundered = b_c.clone();
        laundered["authorisation"] = json!({"by": "hypermarket-a", "decision": "approved", "date": "2026-11-01", "reference": "trust me"});
        let (status, problem) = put(&server, "b-editor", "/api/v1/engagements/b-c", laundered).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("authorisation")), "{problem}");
        // ... and a new link carrying it.
        let link = json!({"id": "b-x", "activity": "customer-marketing", "engaged_by": "agency-b",
            "processor": "hosting-d", "service": "Extra storage", "since": "2026-11-01",
            "authorisation": {"by": "hypermarket-a", "decision": "approved", "date": "2026-11-01"}});
        let (status, _, problem) = send(&server, "b-editor", Method::POST, "/api/v1/engagements", &[], Some(link.clone())).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("authorisation")), "{problem}");
        // Without the decision the link is B's to write; the controller then records its own.
        let mut undecided = link.clone();
        undecided.as_object_mut().unwrap().remove("authorisation");
        let (status, _, body) = send(&server, "b-editor", Method::POST, "/api/v1/engagements", &[], Some(undecided.clone())).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = put(&server, "hypermarket", "/api/v1/engagements/b-x", link.clone()).await;
        assert_eq!(status, 200, "{body}");
        // The controller may not rewrite B's link beyond its decision.
        let mut rewritten = link.clone();
        rewritten["service"] = json!("Whatever the controller says");
        let (status, problem) = put(&server, "hypermarket", "/api/v1/engagements/b-x", rewritten).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("engaged_by")), "{problem}");

        // B creates an activity that A controls, listing itself as joint controller: refused.
        let planted = json!({"id": "planted", "controller": "hypermarket-a", "joint_controllers": ["agency-b"],
            "purposes": ["Whatever B likes"]});
        let (status, _, problem) = send(&server, "b-editor", Method::POST, "/api/v1/activities", &[], Some(planted)).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("controller")), "{problem}");
        let (status, _) = server.get(Some("admin"), "/api/v1/activities/planted").await;
        assert_eq!(status, 404, "nothing was written");

        // A rewrites mailer C's contact (where every controller's notices to C go): refused,
        // C answers for itself; C's own editor may.
        let (_, mailer) = read(&server, "/api/v1/organisations/mailer-c").await;
        let mut hijacked = mailer.clone();
        hijacked["contact"] = json!({"name": "Someone", "email": "inbox@attacker.example"});
        let (status, problem) = put(&server, "hypermarket", "/api/v1/organisations/mailer-c", hijacked.clone()).await;
        assert_eq!(status, 403, "{problem}");
        assert_eq!(read(&server, "/api/v1/organisations/mailer-c").await.1, mailer);
        let (status, _) = put(&server, "c-editor", "/api/v1/organisations/mailer-c", hijacked).await;
        assert_eq!(status, 200);
        server.stop().await;
    })
    .await;
}

fn dossier(country: &str) -> Value {
    json!({
        "candidate": {"id": "insights-x", "name": "Insights X GmbH", "country": country,
                      "address": "Hauptstraße 1, Berlin", "contact": {"name": "Eva Braun", "email": "dpo@insights-x.example"}},
        "processing": "Purchase-preference analysis on pseudonymised order histories",
        "security_measures": ["encryption-at-rest"],
        "transfer": {"scc": {"module": 3}},
    })
}

#[tokio::test]
async fn an_approval_does_not_survive_a_changed_dossier() {
    on_both(async |server: TestServer| {
        let spec = json!({"requester": "agency-b", "service": "Purchase-preference analysis", "dossier": dossier("DE")});
        let (status, _, filed) = send(&server, "b-editor", Method::POST, "/api/v1/change-requests", &[], Some(spec)).await;
        assert_eq!(status, 201, "{filed}");
        let key = filed["key"].as_str().unwrap().to_owned();
        let request = format!("/api/v1/change-requests/{key}");
        let (status, _, decided) = send(&server, "hypermarket", Method::POST, &format!("{request}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "approve"}))).await;
        assert_eq!(status, 200, "{decided}");
        assert_eq!(decided["controllers"][0]["decided_version"], 1);
        // B moves the candidate to China after the approval.
        let (status, _, moved) = send(&server, "b-editor", Method::PUT, &format!("{request}/dossier"), &[], Some(dossier("CN"))).await;
        assert_eq!(status, 200, "{moved}");
        assert_eq!(moved["dossier_version"], 2);
        assert_eq!(moved["controllers"][0]["state"], "pending", "the approval was on version 1");
        assert_eq!(moved["controllers"][0]["decided_version"], Value::Null);
        assert!(moved["controllers"][0]["deadline"].is_string(), "the window runs again");
        let changes = moved["history"].as_array().unwrap().last().unwrap()["body"]["changes"].clone();
        assert_eq!(changes, json!(["candidate.country: \"DE\" -> \"CN\""]), "everyone is told what changed");
        let (status, _, problem) = send(&server, "b-editor", Method::POST, &format!("{request}/execute"), &[], None).await;
        assert_eq!(status, 409, "{problem}");
        let (status, _) = server.get(Some("admin"), "/api/v1/organisations/insights-x").await;
        assert_eq!(status, 404, "nothing was engaged");
        // A decides again, on the current version; only then is the candidate engaged, and the
        // link records the request and the version it was approved on.
        let (status, _, decided) = send(&server, "hypermarket", Method::POST, &format!("{request}/decisions"), &[],
            Some(json!({"controller": "hypermarket-a", "decision": "approve", "reasons": "SCCs module 3 in place"}))).await;
        assert_eq!(status, 200, "{decided}");
        assert_eq!(decided["controllers"][0]["decided_version"], 2);
        let (status, _, executed) = send(&server, "b-editor", Method::POST, &format!("{request}/execute"), &[], None).await;
        assert_eq!(status, 200, "{executed}");
        let (_, chain) = server.get(Some("admin"), "/api/v1/activities/customer-marketing/chain").await;
        let link = chain["links"].as_array().unwrap().iter().find(|l| l["processor"] == "insights-x").unwrap().clone();
        let reference = link["authorisation"]["reference"].as_str().unwrap();
        assert_eq!(reference, format!("change request {key}, dossier version 2"));
        server.stop().await;
    })
    .await;
}

/// The parties of the write matrix, in the order of its columns.
const PARTIES: [&str; 8] = [
    "admin",       // the instance administrator
    "hypermarket", // the controller's editor
    "b-editor",    // the processor's editor
    "agency-b",    // the processor's portal user
    "a-viewer",    // the controller's viewer
    "c-editor",    // the sub-processor's editor
    "bank-editor", // a stranger organisation's editor
    "a-readonly",  // the controller's editor with a read-only token
];

/// The matrix's server: the standard one, with every party of [`PARTIES`].
async fn matrix_server(store: Store) -> TestServer {
    let server = with_processor_editors(store.clone()).await;
    add_member(&store, "a-viewer", "hypermarket-a", Role::Viewer).await;
    add_member(&store, "bank-editor", "bank", Role::Editor).await;
    give_token(
        &store,
        "dpo@hypermarket-a.test",
        "read-only",
        &TestServer::token("a-readonly"),
        vec![Scope::Read],
    )
    .await;
    server
}

/// Every write of the matrix and the answer each party gets, in the order of [`PARTIES`].
/// Written by hand from docs/access.md, not computed: a change of policy has to change both.
const MATRIX: &[(&str, [u16; 8])] = &[
    //                                      admin hyp  b-ed portal viewer c-ed bank ro
    (
        "create an organisation",
        [201, 201, 201, 403, 403, 201, 201, 403],
    ),
    (
        "change hypermarket-a's identity",
        [200, 200, 403, 403, 403, 403, 404, 403],
    ),
    (
        "change mailer-c's contact",
        [200, 403, 403, 403, 403, 200, 404, 403],
    ),
    (
        "create an activity of hypermarket-a",
        [201, 201, 403, 403, 403, 403, 403, 403],
    ),
    (
        "change customer-marketing",
        [200, 200, 403, 403, 403, 403, 404, 403],
    ),
    (
        "delete customer-marketing",
        [422, 422, 403, 403, 403, 403, 404, 403],
    ),
    (
        "change contract dpa-a-b",
        [200, 202, 202, 403, 403, 404, 404, 403],
    ),
    (
        "create a contract agency-b/mailer-c",
        [201, 403, 202, 403, 403, 202, 403, 403],
    ),
    (
        "delete contract dpa-b-c",
        [422, 403, 202, 403, 403, 202, 404, 403],
    ),
    (
        "accept agency-b's amendment",
        [200, 200, 403, 403, 403, 404, 404, 403],
    ),
    (
        "record the authorisation on b-c",
        [200, 200, 403, 403, 403, 403, 404, 403],
    ),
    ("change link b-c", [200, 403, 200, 403, 403, 403, 404, 403]),
    (
        "create a link engaged by agency-b",
        [201, 403, 201, 403, 403, 403, 403, 403],
    ),
    ("delete link c-d", [204, 403, 403, 403, 403, 204, 404, 403]),
    (
        "file a change request for agency-b",
        [201, 403, 201, 201, 403, 403, 403, 403],
    ),
    (
        "decide for hypermarket-a",
        [200, 200, 403, 403, 403, 404, 404, 403],
    ),
    (
        "update the dossier",
        [200, 403, 200, 200, 403, 404, 404, 403],
    ),
    (
        "execute the approved request",
        [200, 403, 200, 200, 403, 404, 404, 403],
    ),
    (
        "save hypermarket-a's notice template",
        [204, 204, 403, 403, 403, 403, 404, 403],
    ),
    (
        "add a webhook for hypermarket-a",
        [201, 201, 403, 403, 403, 403, 403, 403],
    ),
    (
        "revoke b-editor's spare token",
        [404, 404, 204, 404, 404, 404, 404, 403],
    ),
];

fn request_spec(candidate: &str) -> Value {
    let mut dossier = dossier("DE");
    dossier["candidate"]["id"] = json!(candidate);
    json!({"requester": "agency-b", "service": "Purchase-preference analysis", "dossier": dossier})
}

/// Files a change request of agency-b for a candidate of its own (as the administrator).
async fn filed(server: &TestServer, candidate: &str) -> String {
    let (status, _, body) = send(
        server,
        "admin",
        Method::POST,
        "/api/v1/change-requests",
        &[],
        Some(request_spec(candidate)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

/// `user` attempts the write `case` (`n`: the party's column, for fresh ids); its status.
/// Whatever is needed first is set up here by the administrator.
async fn attempt(server: &TestServer, store: &Store, case: &str, user: &str, n: usize) -> u16 {
    let put_changed = async |path: &str, change: &dyn Fn(&mut Value)| {
        let (tag, mut body) = read(server, path).await;
        change(&mut body);
        send(
            server,
            user,
            Method::PUT,
            path,
            &[("if-match", &tag)],
            Some(body),
        )
        .await
        .0
    };
    let delete = async |path: &str| {
        let (tag, _) = read(server, path).await;
        send(
            server,
            user,
            Method::DELETE,
            path,
            &[("if-match", &tag)],
            None,
        )
        .await
        .0
    };
    let post = async |path: &str, body: Value| {
        send(server, user, Method::POST, path, &[], Some(body))
            .await
            .0
    };
    match case {
        "create an organisation" => {
            post("/api/v1/organisations", json!({"id": format!("new-org-{n}"), "name": "New", "country": "ES"})).await
        }
        "change hypermarket-a's identity" => {
            put_changed("/api/v1/organisations/hypermarket-a", &|b| b["address"] = json!(format!("Calle {n}"))).await
        }
        "change mailer-c's contact" => {
            put_changed("/api/v1/organisations/mailer-c", &|b| b["contact"] = json!({"name": format!("Contact {n}")})).await
        }
        "create an activity of hypermarket-a" => {
            post("/api/v1/activities", json!({"id": format!("new-activity-{n}"), "controller": "hypermarket-a"})).await
        }
        "change customer-marketing" => {
            put_changed("/api/v1/activities/customer-marketing", &|b| b["purposes"][0] = json!(format!("Purpose {n}"))).await
        }
        "delete customer-marketing" => delete("/api/v1/activities/customer-marketing").await,
        "change contract dpa-a-b" => {
            put_changed("/api/v1/contracts/dpa-a-b", &|b| b["reference"] = json!(format!("Version {n}"))).await
        }
        "create a contract agency-b/mailer-c" => {
            post("/api/v1/contracts", json!({"id": format!("dpa-b-c-{n}"), "between": ["agency-b", "mailer-c"]})).await
        }
        "delete contract dpa-b-c" => delete("/api/v1/contracts/dpa-b-c").await,
        "accept agency-b's amendment" => {
            let path = "/api/v1/contracts/dpa-a-b";
            let (tag, mut body) = read(server, path).await;
            body["reference"] = json!(format!("B's version {n}"));
            let (status, _, proposal) = send(server, "b-editor", Method::PUT, path, &[("if-match", &tag)], Some(body)).await;
            assert_eq!(status, 202, "{proposal}");
            let key = proposal["key"].as_str().unwrap();
            send(server, user, Method::POST, &format!("{path}/amendments/{key}/accept"), &[], None).await.0
        }
        "record the authorisation on b-c" => {
            put_changed("/api/v1/engagements/b-c", &|b| b["authorisation"]["reference"] = json!(format!("Decision {n}"))).await
        }
        "change link b-c" => {
            put_changed("/api/v1/engagements/b-c", &|b| b["service"] = json!(format!("Service {n}"))).await
        }
        "create a link engaged by agency-b" => {
            post("/api/v1/engagements", json!({"id": format!("b-y-{n}"), "activity": "customer-marketing",
                "engaged_by": "agency-b", "processor": "hosting-d", "service": "Storage", "since": "2026-11-01",
                "until": format!("2026-11-0{}", n + 1)})).await
        }
        "delete link c-d" => delete("/api/v1/engagements/c-d").await,
        "file a change request for agency-b" => {
            post("/api/v1/change-requests", request_spec(&format!("filed-{n}"))).await
        }
        "decide for hypermarket-a" => {
            let key = filed(server, &format!("decided-{n}")).await;
            post(&format!("/api/v1/change-requests/{key}/decisions"), json!({"controller": "hypermarket-a", "decision": "approve"})).await
        }
        "update the dossier" => {
            let key = filed(server, &format!("updated-{n}")).await;
            let mut dossier = request_spec(&format!("updated-{n}"))["dossier"].clone();
            dossier["processing"] = json!("Something else");
            send(server, user, Method::PUT, &format!("/api/v1/change-requests/{key}/dossier"), &[], Some(dossier)).await.0
        }
        "execute the approved request" => {
            let key = filed(server, &format!("executed-{n}")).await;
            let (status, _, _) = send(server, "admin", Method::POST, &format!("/api/v1/change-requests/{key}/decisions"), &[],
                Some(json!({"controller": "hypermarket-a", "decision": "approve"}))).await;
            assert_eq!(status, 200);
            post(&format!("/api/v1/change-requests/{key}/execute"), json!({})).await
        }
        "save hypermarket-a's notice template" => {
            send(server, user, Method::PUT, "/api/v1/organisations/hypermarket-a/templates/notice.md", &[],
                Some(json!({"body": format!("Version {n}: {{% for r in notice.recipients %}}{{{{ r.name }}}} {{% endfor %}}")}))).await.0
        }
        "add a webhook for hypermarket-a" => {
            post("/api/v1/webhooks", json!({"organisation": "hypermarket-a", "url": format!("https://hooks.example/{n}")})).await
        }
        "revoke b-editor's spare token" => {
            let spare = give_token(store, "b-editor@agency-b.test", &format!("spare-{n}"), &format!("spare-{n}"), vec![Scope::Read]).await;
            send(server, user, Method::DELETE, &format!("/api/v1/tokens/{}", spare.key), &[], None).await.0
        }
        other => panic!("no such case {other}"),
    }
}

#[tokio::test]
async fn every_party_may_write_exactly_what_docs_access_md_says() {
    let run = async |store: Store| {
        let server = matrix_server(store.clone()).await;
        let mut wrong = Vec::new();
        for (case, expected) in MATRIX {
            for (n, user) in PARTIES.iter().enumerate() {
                // Each attempt starts from the worked examples as loaded: what an allowed
                // write changed, the administrator puts back through a manifest.
                let status = attempt(&server, &store, case, user, n).await;
                if status != expected[n] {
                    wrong.push(format!(
                        "{case} by {user}: {status}, expected {}",
                        expected[n]
                    ));
                }
                if (200..300).contains(&status) {
                    let examples =
                        custos_core::manifest::parse(&custos_core::manifest::examples::sources())
                            .unwrap();
                    let yaml = custos_core::manifest::to_yaml(examples.parts());
                    let response = server
                        .client
                        .post(server.url("/api/v1/manifest"))
                        .bearer_auth(TestServer::token("admin"))
                        .header("content-type", "application/yaml")
                        .body(yaml)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        server.stop().await;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custos.db").display());
    run(Store::open(&url).await.unwrap()).await;
    if let Some(database) = custos_app::testing::PostgresDatabase::create()
        .await
        .unwrap()
    {
        let store = Store::open(&database.url).await.unwrap();
        run(store.clone()).await;
        store.close().await;
        database.drop_database().await.unwrap();
    } else {
        custos_app::testing::announce_postgres_skipped();
    }
}

#[tokio::test]
async fn a_joint_controller_answers_for_an_activity_only_once_it_accepts() {
    on_both(async |server: TestServer| {
        // The hypermarket lists agency B as joint controller of a campaign of its own.
        let campaign = json!({"id": "joint-campaign", "name": "Joint loyalty campaign", "controller": "hypermarket-a",
            "joint_controllers": ["agency-b"], "joint_arrangement": "Art. 26 arrangement of 2026-11-01",
            "purposes": ["Loyalty campaign"]});
        let (status, _, body) = send(&server, "hypermarket", Method::POST, "/api/v1/activities", &[], Some(campaign.clone())).await;
        assert_eq!(status, 201, "{body}");
        // Pending: B sees the listing, not the activity; it is in none of B's documents.
        let (_, listings) = server.get(Some("b-editor"), "/api/v1/joint-listings").await;
        assert_eq!(listings["items"][0]["activity"], "joint-campaign");
        assert_eq!(listings["items"][0]["accepted"], false);
        assert_eq!(server.get(Some("b-editor"), "/api/v1/activities/joint-campaign").await.0, 404);
        let record = |user: &'static str| {
            let server = &server;
            async move { server.get(Some(user), "/api/v1/organisations/agency-b/records?format=json").await }
        };
        let (status, before) = record("b-editor").await;
        assert_eq!(status, 200, "{before}");
        assert!(!before.to_string().contains("joint-campaign"), "{before}");
        // The hypermarket cannot accept for B, neither through the listing nor in the entry.
        let accept = "/api/v1/activities/joint-campaign/joint-controllers/agency-b/accept";
        assert_eq!(send(&server, "hypermarket", Method::POST, accept, &[], None).await.0, 404);
        let mut forged = campaign.clone();
        forged["joint_acceptances"] = json!([{"by": "agency-b", "date": "2026-11-25"}]);
        let (status, problem) = put(&server, "hypermarket", "/api/v1/activities/joint-campaign", forged).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("joint_acceptances")), "{problem}");
        for user in ["bank", "courier-3", "agency-b"] {
            let (status, _, _) = send(&server, user, Method::POST, accept, &[], None).await;
            assert!(status == 404 || status == 403, "{user}: {status}");
        }
        // B accepts: the activity is now B's to see and to answer for, and nothing more.
        let (status, _, accepted) = send(&server, "b-editor", Method::POST, accept, &[], None).await;
        assert_eq!(status, 200, "{accepted}");
        assert_eq!((accepted["accepted"].as_bool(), accepted["accepted_on"].as_str()), (Some(true), Some("2026-11-25")));
        let (status, seen) = server.get(Some("b-editor"), "/api/v1/activities/joint-campaign").await;
        assert_eq!(status, 200, "{seen}");
        assert!(record("b-editor").await.1.to_string().contains("joint-campaign"));
        let mut rewritten = seen.clone();
        rewritten["purposes"] = json!(["Whatever B likes"]);
        let (status, problem) = put(&server, "b-editor", "/api/v1/activities/joint-campaign", rewritten).await;
        assert_eq!((status, problem["field"].as_str()), (403, Some("controller")), "{problem}");
        // B withdraws: pending again.
        let withdraw = "/api/v1/activities/joint-campaign/joint-controllers/agency-b/withdraw";
        let (status, _, withdrawn) = send(&server, "b-editor", Method::POST, withdraw, &[], None).await;
        assert_eq!((status, withdrawn["accepted"].as_bool()), (200, Some(false)), "{withdrawn}");
        assert_eq!(server.get(Some("b-editor"), "/api/v1/activities/joint-campaign").await.0, 404);
        server.stop().await;
    })
    .await;
}
