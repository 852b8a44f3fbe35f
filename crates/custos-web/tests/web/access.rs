//! The access matrix: for every read endpoint and every user, exactly what the visibility
//! rule allows — the hypermarket sees its marketing chain; agency B the link that engaged it
//! and everything below; the bank its courier chain; courier 3 only its own link; the
//! administrator everything; nobody anything of the others' activities (404, not 403).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{TestServer, USERS, ids, on_every_backend, set};

struct Sees {
    activities: BTreeSet<String>,
    /// Activities whose chain the user controls.
    controls: BTreeSet<String>,
    engagements: BTreeSet<String>,
    organisations: BTreeSet<String>,
    contracts: BTreeSet<String>,
    findings: usize,
}

fn everything(server_lists: &Lists) -> Sees {
    Sees {
        activities: server_lists.activities.clone(),
        controls: server_lists.activities.clone(),
        engagements: server_lists.engagements.clone(),
        organisations: server_lists.organisations.clone(),
        contracts: server_lists.contracts.clone(),
        findings: 6,
    }
}

struct Lists {
    activities: BTreeSet<String>,
    engagements: BTreeSet<String>,
    organisations: BTreeSet<String>,
    contracts: BTreeSet<String>,
}

impl Lists {
    /// Every id of every kind, as the administrator lists them.
    async fn of(server: &TestServer) -> Self {
        let list = |kind: &'static str| async move {
            ids(&server
                .get(Some("admin"), &format!("/api/v1/{kind}?limit=1000"))
                .await
                .1)
        };
        Self {
            activities: list("activities").await,
            engagements: list("engagements").await,
            organisations: list("organisations").await,
            contracts: list("contracts").await,
        }
    }
}

fn expected(user: &str, all: &Lists) -> Sees {
    let marketing_orgs = set(&[
        "hypermarket-a",
        "agency-b",
        "mailer-c",
        "hosting-d",
        "agency-e",
    ]);
    let marketing_links = set(&["a-b", "b-c", "c-d", "b-e"]);
    let marketing_contracts = set(&["dpa-a-b", "dpa-b-c", "dpa-c-d", "dpa-b-e"]);
    match user {
        "admin" => everything(all),
        "hypermarket" => Sees {
            activities: set(&["customer-marketing"]),
            controls: set(&["customer-marketing"]),
            engagements: marketing_links,
            organisations: marketing_orgs,
            contracts: marketing_contracts,
            findings: 0,
        },
        "agency-b" => Sees {
            activities: set(&["customer-marketing"]),
            controls: set(&[]),
            engagements: marketing_links,
            organisations: marketing_orgs,
            contracts: marketing_contracts,
            findings: 0,
        },
        "bank" => Sees {
            activities: set(&["document-delivery"]),
            controls: set(&["document-delivery"]),
            engagements: set(&["bank-c1", "c1-c2", "c2-c3"]),
            organisations: set(&["bank", "courier-1", "courier-2", "courier-3"]),
            contracts: set(&["dpa-bank-c1", "dpa-c1-c2", "contract-c2-c3"]),
            findings: 3,
        },
        "courier-3" => Sees {
            activities: set(&["document-delivery"]),
            controls: set(&[]),
            engagements: set(&["c2-c3"]),
            organisations: set(&["bank", "courier-2", "courier-3"]),
            contracts: set(&["contract-c2-c3"]),
            findings: 3,
        },
        other => panic!("no expectations for {other}"),
    }
}

fn status_for(visible: bool) -> u16 {
    if visible { 200 } else { 404 }
}

#[tokio::test]
async fn every_user_gets_exactly_what_the_chain_allows_on_every_endpoint() {
    on_every_backend(|server: TestServer| async move {
        let all = Lists::of(&server).await;
        assert_eq!(all.activities.len(), 3);
        assert_eq!(all.engagements.len(), 8);
        assert_eq!(all.organisations.len(), 11);
        assert_eq!(all.contracts.len(), 8);

        for (user, _, _) in USERS {
            let sees = expected(user, &all);
            let who = Some(user);
            // Lists.
            for (kind, visible) in [
                ("activities", &sees.activities),
                ("engagements", &sees.engagements),
                ("organisations", &sees.organisations),
                ("contracts", &sees.contracts),
            ] {
                let (status, page) = server.get(who, &format!("/api/v1/{kind}")).await;
                assert_eq!(status, 200, "{user} lists {kind}");
                assert_eq!(&ids(&page), visible, "{user} lists {kind}");
            }
            // One by one, every id of every kind.
            for (kind, every, visible) in [
                ("activities", &all.activities, &sees.activities),
                ("engagements", &all.engagements, &sees.engagements),
                ("organisations", &all.organisations, &sees.organisations),
                ("contracts", &all.contracts, &sees.contracts),
            ] {
                for id in every {
                    let (status, body) = server.get(who, &format!("/api/v1/{kind}/{id}")).await;
                    assert_eq!(
                        status,
                        status_for(visible.contains(id)),
                        "{user} gets {kind}/{id}: {body}"
                    );
                    if status == 200 {
                        assert_eq!(body["id"], id.as_str());
                    } else {
                        assert_eq!(body["status"], 404);
                    }
                }
            }
            // The derived views of every activity.
            for activity in &all.activities {
                let visible = sees.activities.contains(activity);
                let (status, chain) = server
                    .get(
                        who,
                        &format!("/api/v1/activities/{activity}/chain?at=2026-11-25"),
                    )
                    .await;
                assert_eq!(status, status_for(visible), "{user} chain of {activity}");
                for view in ["recipients", "transfers"] {
                    let (status, _) = server
                        .get(who, &format!("/api/v1/activities/{activity}/{view}"))
                        .await;
                    assert_eq!(status, status_for(visible), "{user} {view} of {activity}");
                }
                if visible {
                    let links: BTreeSet<String> = chain["links"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l["engagement"].as_str().unwrap().to_owned())
                        .collect();
                    assert!(
                        links.is_subset(&sees.engagements),
                        "{user} chain of {activity}: {links:?}"
                    );
                    // In force that day (the migration ended in 2024).
                    let in_force: BTreeSet<String> = match activity.as_str() {
                        "customer-marketing" => crate::set(&["a-b", "b-c", "c-d", "b-e"]),
                        "document-delivery" => crate::set(&["bank-c1", "c1-c2", "c2-c3"]),
                        _ => BTreeSet::new(),
                    };
                    let expected: BTreeSet<String> = if sees.controls.contains(activity) {
                        in_force
                    } else {
                        in_force.intersection(&sees.engagements).cloned().collect()
                    };
                    assert_eq!(links, expected, "{user} chain of {activity}");
                }
            }
            // Where each organisation sits.
            for organisation in &all.organisations {
                let (status, _) = server
                    .get(
                        who,
                        &format!("/api/v1/organisations/{organisation}/upstream"),
                    )
                    .await;
                assert_eq!(
                    status,
                    status_for(sees.organisations.contains(organisation)),
                    "{user} upstream of {organisation}"
                );
            }
            // Findings, and the audit entries about the user's organisations.
            let (status, findings) = server.get(who, "/api/v1/findings?at=2026-11-25").await;
            assert_eq!(status, 200);
            let found = findings["findings"].as_array().unwrap();
            assert_eq!(found.len(), sees.findings, "{user} findings: {findings}");
            for finding in found {
                if let Some(engagement) = finding["engagement"].as_str() {
                    assert!(
                        sees.engagements.contains(engagement),
                        "{user} sees finding {finding}"
                    );
                }
            }
            let (status, audit) = server.get(who, "/api/v1/audit?limit=1000").await;
            assert_eq!(status, 200);
            let entries = audit["items"].as_array().unwrap();
            for entry in entries {
                let scope = entry["scope"].as_str().unwrap();
                let concerns_member = USERS
                    .iter()
                    .find(|(name, _, _)| *name == user)
                    .and_then(|(_, _, m)| *m)
                    .is_none_or(|(org, _)| scope.split(' ').any(|s| s == org));
                assert!(concerns_member, "{user} sees audit entry {entry}");
            }
            if user == "admin" {
                assert!(entries.len() >= 30, "the admin sees the whole log");
            } else {
                assert!(
                    !entries.is_empty(),
                    "{user} sees the entries about its organisation"
                );
            }
            // The whole register as a manifest is for administrators only.
            let (status, _) = server.get(who, "/api/v1/manifest").await;
            assert_eq!(
                status,
                if user == "admin" { 200 } else { 403 },
                "{user} manifest"
            );
        }

        // Without credentials: 401 everywhere under /api/v1 but the description and sign-in.
        for path in [
            "/api/v1/activities",
            "/api/v1/engagements/a-b",
            "/api/v1/activities/customer-marketing/chain",
            "/api/v1/findings",
            "/api/v1/audit",
            "/api/v1/manifest",
            "/api/v1/me",
        ] {
            let (status, body) = server.get(None, path).await;
            assert_eq!(status, 401, "{path}: {body}");
            assert_eq!(body["status"], 401);
        }
        let bogus = server
            .client
            .get(server.url("/api/v1/activities"))
            .bearer_auth("custos_not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bogus.status().as_u16(), 401);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_processor_sees_its_chain_from_its_own_link_down() {
    on_every_backend(|server: TestServer| async move {
        let (_, chain) = server
            .get(
                Some("courier-3"),
                "/api/v1/activities/document-delivery/chain",
            )
            .await;
        let links = chain["links"].as_array().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["engagement"], "c2-c3");
        assert_eq!(links[0]["depth"], 3, "the depth stays the chain's");
        assert_eq!(
            links[0]["path"],
            serde_json::json!(["courier-2", "courier-3"])
        );
        let (_, upstream) = server
            .get(
                Some("courier-3"),
                "/api/v1/organisations/courier-3/upstream",
            )
            .await;
        assert_eq!(upstream[0]["controller"], "bank");
        assert_eq!(
            upstream[0]["paths"],
            serde_json::json!([["courier-2", "courier-3"]])
        );

        let (_, findings) = server
            .get(Some("courier-3"), "/api/v1/findings?at=2026-11-25")
            .await;
        for finding in findings["findings"].as_array().unwrap() {
            assert_eq!(
                finding["path"],
                serde_json::json!(["courier-2", "courier-3"]),
                "a processor's findings show the path from who engaged it"
            );
        }
        let (_, recipients) = server
            .get(
                Some("agency-b"),
                "/api/v1/activities/customer-marketing/recipients?at=2026-11-25",
            )
            .await;
        let names: Vec<&str> = recipients["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r: &Value| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["agency-b", "agency-e", "mailer-c", "hosting-d"]);
        server.stop().await;
    })
    .await;
}

/// What each user may change: writing an entry back unchanged, with its current ETag, is 200
/// where the user may write it, 403 where it sees but may not, 404 where it does not see.
fn may_write(user: &str, kind: &str, id: &str) -> bool {
    let marketing_orgs = [
        "hypermarket-a",
        "agency-b",
        "mailer-c",
        "hosting-d",
        "agency-e",
    ];
    match user {
        "admin" => true,
        // An editor of the hypermarket: itself and the processors of its chain, its activity,
        // the contracts it is party to, every link of its activity.
        "hypermarket" => match kind {
            "organisations" => marketing_orgs.contains(&id),
            "activities" => id == "customer-marketing",
            "contracts" => id == "dpa-a-b",
            "engagements" => ["a-b", "b-c", "c-d", "b-e"].contains(&id),
            _ => false,
        },
        // Portal users and viewers write nothing.
        _ => false,
    }
}

#[tokio::test]
async fn every_user_may_change_exactly_what_its_role_and_the_chain_allow() {
    on_every_backend(|server: TestServer| async move {
        let all = Lists::of(&server).await;
        for (user, _, _) in USERS {
            let sees = expected(user, &all);
            for (kind, every, visible) in [
                ("organisations", &all.organisations, &sees.organisations),
                ("activities", &all.activities, &sees.activities),
                ("contracts", &all.contracts, &sees.contracts),
                ("engagements", &all.engagements, &sees.engagements),
            ] {
                for id in every {
                    let path = format!("/api/v1/{kind}/{id}");
                    let current = server
                        .client
                        .get(server.url(&path))
                        .bearer_auth(TestServer::token("admin"))
                        .send()
                        .await
                        .unwrap();
                    let tag = current.headers()["etag"].to_str().unwrap().to_owned();
                    let body: Value = current.json().await.unwrap();
                    let status = server
                        .client
                        .put(server.url(&path))
                        .bearer_auth(TestServer::token(user))
                        .header("if-match", tag)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16();
                    let expected_status = if !visible.contains(id) {
                        404
                    } else if may_write(user, kind, id) {
                        200
                    } else {
                        403
                    };
                    assert_eq!(status, expected_status, "{user} writes {kind}/{id}");
                }
            }
        }
        server.stop().await;
    })
    .await;
}
