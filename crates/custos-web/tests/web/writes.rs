//! Writing single entries over HTTP: who may, ETag and If-Match against lost updates,
//! Idempotency-Key against double creates, validation of the whole register, the audit log.

use serde_json::{Value, json};

use crate::{TestServer, on_every_backend, send};

fn agency_f() -> Value {
    json!({"id": "agency-f", "name": "Agency F S.L.", "country": "ES",
           "address": "Calle Larios 1, Málaga", "contact": {"name": "Fina Soler"}})
}

#[tokio::test]
async fn entries_are_created_replaced_and_deleted_with_etags_and_idempotency() {
    on_every_backend(|server: TestServer| async move {
        use reqwest::Method;
        // The hypermarket's editor adds agency F, once, whatever the retries.
        let key = [("idempotency-key", "create-agency-f-1")];
        let (status, headers, created) =
            send(&server, "hypermarket", Method::POST, "/api/v1/organisations", &key, Some(agency_f())).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(headers["location"], "/api/v1/organisations/agency-f");
        let tag = headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(created["name"], "Agency F S.L.");
        let (again, _, replayed) =
            send(&server, "hypermarket", Method::POST, "/api/v1/organisations", &key, Some(agency_f())).await;
        assert_eq!((again, &replayed), (201, &created), "a retry gets the first answer");
        let mut other = agency_f();
        other["name"] = json!("Another name");
        let (reused, _, problem) =
            send(&server, "hypermarket", Method::POST, "/api/v1/organisations", &key, Some(other)).await;
        assert_eq!(reused, 422, "{problem}");
        let (duplicate, _, _) =
            send(&server, "hypermarket", Method::POST, "/api/v1/organisations", &[], Some(agency_f())).await;
        assert_eq!(duplicate, 409);

        // B engages F for the marketing chain; the chain shows it at depth 2.
        let link = json!({"id": "b-f", "activity": "customer-marketing", "engaged_by": "agency-b",
                          "processor": "agency-f", "service": "Copywriting", "since": "2026-11-01",
                          "authorisation": {"by": "hypermarket-a", "decision": "approved", "date": "2026-10-20"}});
        let (status, _, body) = send(&server, "hypermarket", Method::POST, "/api/v1/engagements", &[], Some(link)).await;
        assert_eq!(status, 201, "{body}");
        let (_, _, chain) = send(&server, "hypermarket", Method::GET, "/api/v1/activities/customer-marketing/chain?at=2026-11-25", &[], None).await;
        assert!(chain["links"].as_array().unwrap().iter().any(|l| l["engagement"] == "b-f" && l["depth"] == 2));
        // Read, change, write back with If-Match; a stale tag is refused and nothing is lost.
        // Once in its chain, the hypermarket sees F, with the tag it got at creation.
        let (_, headers, _) = send(&server, "hypermarket", Method::GET, "/api/v1/organisations/agency-f", &[], None).await;
        assert_eq!(headers["etag"].to_str().unwrap(), tag);
        let mut moved = agency_f();
        moved["address"] = json!("Calle Larios 9, Málaga");
        let (missing, _, _) = send(&server, "hypermarket", Method::PUT, "/api/v1/organisations/agency-f", &[], Some(moved.clone())).await;
        assert_eq!(missing, 428);
        let (ok, headers, after) = send(
            &server, "hypermarket", Method::PUT, "/api/v1/organisations/agency-f",
            &[("if-match", &tag)], Some(moved.clone()),
        ).await;
        assert_eq!(ok, 200, "{after}");
        let new_tag = headers["etag"].to_str().unwrap().to_owned();
        assert_ne!(new_tag, tag);
        let mut lost = agency_f();
        lost["address"] = json!("Somewhere else");
        let (stale, _, problem) = send(
            &server, "hypermarket", Method::PUT, "/api/v1/organisations/agency-f",
            &[("if-match", &tag)], Some(lost),
        ).await;
        assert_eq!(stale, 412, "{problem}");
        let (_, _, now) = send(&server, "admin", Method::GET, "/api/v1/organisations/agency-f", &[], None).await;
        assert_eq!(now["address"], "Calle Larios 9, Málaga", "the first update is not lost");

        // A register that would not validate is refused with every problem named.
        let dangling = json!({"id": "f-x", "activity": "customer-marketing", "engaged_by": "agency-f",
                              "processor": "nobody", "service": "x", "since": "2026-11-01"});
        let (status, _, problem) = send(&server, "hypermarket", Method::POST, "/api/v1/engagements", &[], Some(dangling)).await;
        assert_eq!(status, 422);
        assert!(problem["detail"].as_str().unwrap().contains("\"nobody\" is not an organisation"), "{problem}");
        let (_, headers, _) = send(&server, "admin", Method::GET, "/api/v1/organisations/agency-f", &[], None).await;
        let tag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, problem) = send(&server, "hypermarket", Method::DELETE, "/api/v1/organisations/agency-f", &[("if-match", &tag)], None).await;
        assert_eq!(status, 422, "F is still engaged: {problem}");

        // Delete the link, then F.
        let (_, headers, _) = send(&server, "hypermarket", Method::GET, "/api/v1/engagements/b-f", &[], None).await;
        let link_tag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, _) = send(&server, "hypermarket", Method::DELETE, "/api/v1/engagements/b-f", &[("if-match", &link_tag)], None).await;
        assert_eq!(status, 204);
        // Out of the hypermarket's chain, F is out of its sight; the administrator removes it.
        let (status, _, _) = send(&server, "hypermarket", Method::DELETE, "/api/v1/organisations/agency-f", &[("if-match", &tag)], None).await;
        assert_eq!(status, 404);
        let (status, _, _) = send(&server, "admin", Method::DELETE, "/api/v1/organisations/agency-f", &[("if-match", &tag)], None).await;
        assert_eq!(status, 204);
        let (gone, _, _) = send(&server, "admin", Method::GET, "/api/v1/organisations/agency-f", &[], None).await;
        assert_eq!(gone, 404);

        // Every write is in the audit log, with the token and its user.
        let (_, _, audit) = send(&server, "admin", Method::GET, "/api/v1/audit?limit=1000", &[], None).await;
        let about_f: Vec<(String, String)> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["object_id"] == "agency-f" || e["object_id"] == "b-f")
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["object_id"].as_str().unwrap().to_owned()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("create", "agency-f"), ("create", "b-f"), ("update", "agency-f"), ("delete", "b-f"), ("delete", "agency-f"),
        ]
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect();
        assert_eq!(about_f, expected);
        assert!(audit["items"].as_array().unwrap().iter().any(|e| e["actor"] == "token:hypermarket-tests of user:dpo@hypermarket-a.test"));
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn only_editors_of_the_right_organisation_may_write() {
    on_every_backend(|server: TestServer| async move {
        use reqwest::Method;
        // Portal users and viewers write nothing.
        for user in ["agency-b", "bank", "courier-3"] {
            let (status, _, problem) = send(
                &server,
                user,
                Method::POST,
                "/api/v1/organisations",
                &[],
                Some(agency_f()),
            )
            .await;
            assert_eq!(status, 403, "{user}: {problem}");
        }
        // The hypermarket cannot touch the bank's activity (it does not see it) ...
        let (_, headers, activity) = send(
            &server,
            "admin",
            Method::GET,
            "/api/v1/activities/document-delivery",
            &[],
            None,
        )
        .await;
        let tag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, _) = send(
            &server,
            "hypermarket",
            Method::PUT,
            "/api/v1/activities/document-delivery",
            &[("if-match", &tag)],
            Some(activity.clone()),
        )
        .await;
        assert_eq!(status, 404);
        // ... nor create an activity for the bank ...
        let mut for_bank = activity.clone();
        for_bank["id"] = json!("bank-marketing");
        let (status, _, _) = send(
            &server,
            "hypermarket",
            Method::POST,
            "/api/v1/activities",
            &[],
            Some(for_bank),
        )
        .await;
        assert_eq!(status, 403);
        // ... but may correct a processor of its own chain.
        let (_, headers, mut mailer) = send(
            &server,
            "hypermarket",
            Method::GET,
            "/api/v1/organisations/mailer-c",
            &[],
            None,
        )
        .await;
        let tag = headers["etag"].to_str().unwrap().to_owned();
        mailer["address"] = json!("14 Rothschild Blvd, Tel Aviv, Israel");
        let (status, _, body) = send(
            &server,
            "hypermarket",
            Method::PUT,
            "/api/v1/organisations/mailer-c",
            &[("if-match", &tag)],
            Some(mailer),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // A body whose id differs from the path is refused.
        let (_, headers, mut b) = send(
            &server,
            "hypermarket",
            Method::GET,
            "/api/v1/organisations/agency-b",
            &[],
            None,
        )
        .await;
        let tag = headers["etag"].to_str().unwrap().to_owned();
        b["id"] = json!("agency-z");
        let (status, _, problem) = send(
            &server,
            "hypermarket",
            Method::PUT,
            "/api/v1/organisations/agency-b",
            &[("if-match", &tag)],
            Some(b),
        )
        .await;
        assert_eq!((status, problem["field"].as_str()), (422, Some("id")));
        // Unknown fields are refused, naming them.
        let mut odd = agency_f();
        odd["colour"] = json!("blue");
        let (status, _, problem) = send(
            &server,
            "admin",
            Method::POST,
            "/api/v1/organisations",
            &[],
            Some(odd),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            problem["detail"].as_str().unwrap().contains("colour"),
            "{problem}"
        );
        server.stop().await;
    })
    .await;
}
