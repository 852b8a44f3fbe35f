//! `custos ledger`: NDJSON import keyed with the instance's pepper, the access answer, bad
//! lines named, and no identifier in clear anywhere in the database file.

use crate::{custos, examples_dir, json, on_postgres, sqlite_url};

const EVENTS: &str = r#"{"identifier": " Ana.Garcia@Example.com", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["email", "order-history"], "at": "2025-06-01T10:00:00Z"}
{"identifier": "+34 600 12 34 56", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["email"], "at": "2026-07-01T08:00:00Z"}

{"identifier": "ana.garcia@example.com", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["order-history"], "at": "2025-09-01T10:00:00Z"}
"#;

fn ledger_round_trip(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        custos(url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, EVENTS).unwrap();
    // In batches of 2, without the subject index until the end (--bulk).
    let run = custos(
        url,
        &[
            "ledger",
            "import",
            file.to_str().unwrap(),
            "--batch",
            "2",
            "--bulk",
        ],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "recorded 3 disclosure(s)\n"),
        "{}",
        run.stderr
    );

    // Ana's data went to B in 2025: B, C, D; and E, engaged below B in June 2026 while B
    // still kept her data (two years' retention): "have been or will be", Art. 15(1)(c).
    let answer = json(&custos(
        url,
        &[
            "ledger",
            "answer",
            "ANA.GARCIA@example.com",
            "--format",
            "json",
        ],
    ));
    let ids: Vec<&str> = answer["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["agency-b", "agency-e", "hosting-d", "mailer-c"]);
    assert_eq!(answer["recipients"][1]["since"], "2026-06-01");
    assert_eq!(answer["recipients"][0]["last"], "2025-09-01T10:00:00Z");
    // The phone's subject got it after E joined: E too.
    let answer = json(&custos(
        url,
        &["ledger", "answer", "0034600123456", "--format", "json"],
    ));
    assert!(
        answer["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "agency-e"),
        "{answer}"
    );
    // A bad line is named, and nothing of its batch is written: Carla's good line before it
    // is not recorded either.
    std::fs::write(
        &file,
        "{\"identifier\": \"carla@example.com\", \"activity\": \"customer-marketing\", \"recipient\": \"agency-b\", \"categories\": [\"email\"], \"at\": \"2025-06-01T10:00:00Z\"}\n\
         {\"identifier\": \"nobody\", \"activity\": \"customer-marketing\", \"recipient\": \"agency-b\", \"categories\": [], \"at\": \"2025-06-01T10:00:00Z\"}\n",
    )
    .unwrap();
    let run = custos(url, &["ledger", "import", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("event 2: identifier"), "{}", run.stderr);
    let carla = json(&custos(
        url,
        &["ledger", "answer", "carla@example.com", "--format", "json"],
    ));
    assert_eq!(carla["recipients"], serde_json::json!([]), "{carla}");
}

#[test]
fn the_ledger_on_sqlite_holds_no_identifier_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    ledger_round_trip(&url);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("custos.db") {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    for clear in ["ana.garcia", "600123456", "600 12 34 56"] {
        assert!(!text.contains(clear), "{clear} is in the database");
    }
}

#[tokio::test]
async fn the_ledger_on_postgres() {
    on_postgres(ledger_round_trip).await;
}
