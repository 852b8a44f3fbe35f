//! Notices and records over HTTP: the marketing chain's notice published, made out of date by
//! B engaging E (a finding for the controller only), the next version's diff, templates with
//! their validation, record downloads, and who may do what.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{TestServer, on_every_backend, send};

const A: &str = "/api/v1/organisations/hypermarket-a";

fn names(notice: &Value) -> Vec<String> {
    notice["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r["name"].as_str().unwrap(),
                r["country"].as_str().unwrap()
            )
        })
        .collect()
}

async fn notice_findings(server: &TestServer, user: &str) -> Vec<Value> {
    let (status, body) = server
        .get(Some(user), "/api/v1/findings?rule=notice-out-of-date")
        .await;
    assert_eq!(status, 200, "{body}");
    body["findings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn publishing_engaging_e_and_publishing_again_shows_e_added() {
    on_every_backend(|server| async move {
        // The register before B engaged E.
        let (status, headers, _) = send(
            &server,
            "admin",
            Method::GET,
            "/api/v1/engagements/b-e",
            &[],
            None,
        )
        .await;
        assert_eq!(status, 200);
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, engagement) = send(
            &server,
            "admin",
            Method::GET,
            "/api/v1/engagements/b-e",
            &[],
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (status, _, body) = send(
            &server,
            "admin",
            Method::DELETE,
            "/api/v1/engagements/b-e",
            &[("if-match", &etag)],
            None,
        )
        .await;
        assert_eq!(status, 204, "{body}");

        // The generated notice names B, C, D and the transfer to Israel on adequacy.
        let (status, notice) = server
            .get(Some("hypermarket"), &format!("{A}/notice"))
            .await;
        assert_eq!(status, 200, "{notice}");
        assert_eq!(
            names(&notice),
            [
                "Agency B S.L. (ES)",
                "Mailer C Ltd (IL)",
                "Hosting D Ltd (IL)"
            ]
        );
        assert_eq!(notice["transfers"].as_array().unwrap().len(), 1);
        assert_eq!(notice["transfers"][0]["country"], "IL");
        assert_eq!(notice["transfers"][0]["safeguard"]["kind"], "adequacy");

        // Published as version 1, by the controller's editor.
        let (status, _, v1) = send(
            &server,
            "hypermarket",
            Method::POST,
            &format!("{A}/notices"),
            &[],
            Some(json!({"name": "website", "language": "es"})),
        )
        .await;
        assert_eq!(status, 201, "{v1}");
        assert_eq!(v1["version"], 1);
        assert_eq!(v1["recipients"], 3);
        assert!(notice_findings(&server, "hypermarket").await.is_empty());

        // B engages E: the notice is out of date, and only A's people are told.
        let (status, _, body) = send(
            &server,
            "admin",
            Method::POST,
            "/api/v1/engagements",
            &[],
            Some(engagement),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let found = notice_findings(&server, "hypermarket").await;
        assert_eq!(found.len(), 1, "{found:?}");
        let message = found[0]["message"].as_str().unwrap();
        assert!(message.contains("since 2026-06-01"), "{message}");
        assert!(message.contains("+ Analytics E S.L. (Spain)"), "{message}");
        assert!(notice_findings(&server, "agency-b").await.is_empty());
        assert_eq!(notice_findings(&server, "admin").await.len(), 1);

        // Version 2 shows E added and no new transfer; the finding is gone.
        let (status, _, v2) = send(
            &server,
            "hypermarket",
            Method::POST,
            &format!("{A}/notices"),
            &[],
            Some(json!({"name": "website", "language": "es"})),
        )
        .await;
        assert_eq!(status, 201, "{v2}");
        assert_eq!(v2["version"], 2);
        let (status, version) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/notices/website/versions/2"),
            )
            .await;
        assert_eq!(status, 200, "{version}");
        assert_eq!(
            version["change_lines"],
            json!(["+ Analytics E S.L. (Spain)"])
        );
        assert_eq!(version["changes"]["transfers_added"], json!([]));
        assert_eq!(version["changes"]["transfers_removed"], json!([]));
        let (_, first) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/notices/website/versions/1"),
            )
            .await;
        assert_eq!(first["changes"], Value::Null);
        assert!(notice_findings(&server, "hypermarket").await.is_empty());

        // The published version is kept in its language; both versions are listed.
        let html = server
            .client
            .get(server.url(&format!("{A}/notices/website/versions/2?format=html")))
            .bearer_auth(TestServer::token("hypermarket"))
            .send()
            .await
            .unwrap();
        assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
        let html = html.text().await.unwrap();
        assert!(
            html.contains("Quién recibe sus datos personales") && html.contains("Analytics E S.L."),
            "{html}"
        );
        let (_, listing) = server
            .get(Some("hypermarket"), &format!("{A}/notices"))
            .await;
        assert_eq!(listing["items"].as_array().unwrap().len(), 2, "{listing}");
        let (_, missing) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/notices/website/versions/3"),
            )
            .await;
        assert_eq!(missing["status"], 404);

        // Publishing is audited.
        let (_, audit) = server.get(Some("admin"), "/api/v1/audit?limit=1000").await;
        let published: Vec<&Value> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "publish" && e["object_kind"] == "notice")
            .collect();
        assert_eq!(published.len(), 2, "{audit}");
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn who_may_read_and_publish_notices_and_records() {
    on_every_backend(|server| async move {
        // A processor sees A as an organisation, but A's notice is not its business.
        let (status, body) = server.get(Some("agency-b"), &format!("{A}/notice")).await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = server.get(Some("bank"), &format!("{A}/notice")).await;
        assert_eq!(status, 404);
        let (status, _) = server.get(None, &format!("{A}/notice")).await;
        assert_eq!(status, 401);
        // The bank's viewer reads but may not publish.
        let (status, _) = server
            .get(Some("bank"), "/api/v1/organisations/bank/notice")
            .await;
        assert_eq!(status, 200);
        let (status, _, body) = send(
            &server,
            "bank",
            Method::POST,
            "/api/v1/organisations/bank/notices",
            &[],
            Some(json!({"name": "website"})),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        // Bad input names the field.
        let (status, body) = server
            .get(Some("hypermarket"), &format!("{A}/notice?style=list"))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("style")),
            "{body}"
        );
        let (status, body) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/notice?activities=document-delivery"),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, _, body) = send(
            &server,
            "hypermarket",
            Method::POST,
            &format!("{A}/notices"),
            &[],
            Some(json!({"name": "Not A Slug"})),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("name")),
            "{body}"
        );
        // A processor reads its own processor record.
        let (status, record) = server
            .get(
                Some("agency-b"),
                "/api/v1/organisations/agency-b/records?kind=processor",
            )
            .await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(
            record["processing"][0]["controller"]["name"],
            "Hypermarket A S.L."
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn records_download_in_every_format() {
    on_every_backend(|server| async move {
        for (format, media, magic) in [
            ("pdf", "application/pdf", &b"%PDF-"[..]),
            (
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &b"PK"[..],
            ),
            ("csv", "text/csv; charset=utf-8", &b"Activity,Name"[..]),
            ("html", "text/html; charset=utf-8", &b"<!doctype html>"[..]),
        ] {
            let response = server
                .client
                .get(server.url(&format!("{A}/records?format={format}")))
                .bearer_auth(TestServer::token("hypermarket"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{format}");
            assert_eq!(response.headers()["content-type"], media);
            if format != "html" {
                let disposition = response.headers()["content-disposition"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert!(
                    disposition
                        .starts_with("attachment; filename=\"ropa-hypermarket-a-controller-"),
                    "{disposition}"
                );
            }
            let bytes = response.bytes().await.unwrap();
            assert!(bytes.starts_with(magic), "{format}");
        }
        let (status, record) = server
            .get(Some("hypermarket"), &format!("{A}/records"))
            .await;
        assert_eq!(status, 200);
        let recipients: Vec<&str> = record["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            recipients,
            [
                "Agency B S.L.",
                "Mailer C Ltd",
                "Hosting D Ltd",
                "Analytics E S.L."
            ]
        );
        // The record in Spanish: asked for, or the organisation's language.
        let spanish = |query: &'static str| {
            let request = server
                .client
                .get(server.url(&format!("{A}/records?format=pdf{query}")))
                .bearer_auth(TestServer::token("hypermarket"));
            async move { request.send().await.unwrap().bytes().await.unwrap() }
        };
        if let Some(text) = crate::breaches::pdftotext(&spanish("&lang=es").await) {
            for expected in [
                "Registro de actividades de tratamiento",
                "Registro del responsable, art. 30.1 RGPD",
                "Destinatarios a quienes se comunicaron",
                "España",
            ] {
                assert!(text.contains(expected), "{expected} in:\n{text}");
            }
        }
        if let Some(text) = crate::breaches::pdftotext(&spanish("").await) {
            assert!(text.contains("Record of processing activities"), "{text}");
        }
        let (status, body) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/records?format=pdf&lang=de"),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("lang")),
            "{body}"
        );
        let (status, body) = server
            .get(
                Some("hypermarket"),
                &format!("{A}/records?format=csv&section=nothing"),
            )
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("section")),
            "{body}"
        );
        let (status, body) = server
            .get(Some("hypermarket"), &format!("{A}/records?format=docx"))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("format")),
            "{body}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_organisations_template_is_checked_used_and_removed() {
    on_every_backend(|server| async move {
        let path = format!("{A}/templates/notice.md?lang=es");
        let (status, builtin) = server.get(Some("hypermarket"), &path).await;
        assert_eq!(status, 200);
        assert_eq!(builtin["builtin"], true);
        // A template that does not compile is refused with its line; nothing is saved.
        let (status, _, problem) = send(&server, "hypermarket", Method::PUT, &path, &[],
            Some(json!({"body": "Hola\n{% for r in notice.recipients %}"}))).await;
        assert_eq!((status, problem["field"].as_str()), (422, Some("body")), "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("line 2"), "{problem}");
        let (_, still) = server.get(Some("hypermarket"), &path).await;
        assert_eq!(still["builtin"], true);
        // A good one is used for the notice, in its language only.
        let custom = "Destinatarios:{% for r in notice.recipients %} {{ r.name }} ({{ r.country|country }}){% endfor %}";
        let (status, _, body) = send(&server, "hypermarket", Method::PUT, &path, &[], Some(json!({"body": custom}))).await;
        assert_eq!(status, 204, "{body}");
        let text = server.client.get(server.url(&format!("{A}/notice?format=markdown&lang=es")))
            .bearer_auth(TestServer::token("hypermarket")).send().await.unwrap().text().await.unwrap();
        assert_eq!(text, "Destinatarios: Agency B S.L. (España) Analytics E S.L. (España) Mailer C Ltd (Israel) Hosting D Ltd (Israel)\n");
        let english = server.client.get(server.url(&format!("{A}/notice?format=markdown")))
            .bearer_auth(TestServer::token("hypermarket")).send().await.unwrap().text().await.unwrap();
        assert!(english.starts_with("## Who receives your personal data"), "{english}");
        // A processor may not edit the controller's templates; removing restores the built-in.
        let (status, _, _) = send(&server, "agency-b", Method::PUT, &path, &[], Some(json!({"body": "x"}))).await;
        assert_eq!(status, 403);
        let (status, _, _) = send(&server, "hypermarket", Method::DELETE, &path, &[], None).await;
        assert_eq!(status, 204);
        let (_, again) = server.get(Some("hypermarket"), &path).await;
        assert_eq!(again["builtin"], true);
        let (status, _, _) = send(&server, "hypermarket", Method::DELETE, &path, &[], None).await;
        assert_eq!(status, 404);
        let (_, audit) = server.get(Some("admin"), "/api/v1/audit?limit=1000").await;
        let kinds: Vec<&str> = audit["items"].as_array().unwrap().iter()
            .filter(|e| e["object_kind"] == "template").map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        server.stop().await;
    })
    .await;
}
