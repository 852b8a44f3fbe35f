//! `custos breach`: a breach at the marketing chain's hosting provider reported from a file,
//! shown with its relays, the subjects of the ledger whose data was there counted and matched,
//! and the hypermarket's register of breaches as CSV.

use crate::{custos, examples_dir, json, sqlite_url};

const FACTS: &str = r#"{"occurred_from": "2025-06-01T00:00:00Z", "occurred_until": "2025-06-03T00:00:00Z",
  "aware_at": "2025-06-03T09:00:00Z", "nature": ["confidentiality"],
  "description": "A misconfigured bucket exposed the mail platform's recipient lists",
  "data_categories": ["email"], "subjects": {"min": 1, "max": 10},
  "contact": {"name": "Noa Levi", "email": "security@hosting-d.example"}}"#;

const EVENTS: &str = r#"{"identifier": "ana@example.com", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["email"], "at": "2025-05-20T10:00:00Z"}
{"identifier": "late@example.com", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["email"], "at": "2025-07-01T10:00:00Z"}
"#;

#[test]
fn a_breach_at_the_hosting_provider_reaches_the_hypermarket_and_counts_its_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    assert_eq!(
        custos(&url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, EVENTS).unwrap();
    assert_eq!(
        custos(&url, &["ledger", "import", events.to_str().unwrap()]).code,
        0
    );
    let facts = dir.path().join("facts.json");
    std::fs::write(&facts, FACTS).unwrap();

    let reported = json(&custos(
        &url,
        &[
            "breach",
            "report",
            "--party",
            "hosting-d",
            facts.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let key = reported["key"].as_str().unwrap().to_owned();
    // Nobody acts for the processors on this instance: Custos relayed it to the hypermarket.
    assert_eq!(reported["hops"].as_array().unwrap().len(), 3, "{reported}");
    assert_eq!(reported["cases"][0]["controller"], "hypermarket-a");
    assert!(reported["cases"][0]["aware_at"].is_string(), "{reported}");
    let shown = custos(&url, &["breach", "show", &key]);
    assert!(
        shown.stdout.contains("mailer-c -> agency-b"),
        "{}",
        shown.stdout
    );

    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "ana@example.com\nlate@example.com\n").unwrap();
    let affected = json(&custos(
        &url,
        &[
            "breach",
            "affected",
            &key,
            "--controller",
            "hypermarket-a",
            "--identifiers",
            ids.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        affected["subjects"], 1,
        "disclosed after the breach ended: not there: {affected}"
    );
    assert_eq!(affected["matched"], serde_json::json!(["ana@example.com"]));

    // The hypermarket decides and files; a decision not in the list is refused, naming it.
    let wrong = custos(
        &url,
        &[
            "breach",
            "decide",
            &key,
            "--controller",
            "hypermarket-a",
            "--kind",
            "maybe",
            "--reasons",
            "x",
        ],
    );
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("--kind"), "{}", wrong.stderr);
    let decided = custos(
        &url,
        &[
            "breach",
            "decide",
            &key,
            "--controller",
            "hypermarket-a",
            "--kind",
            "notify-authority",
            "--reasons",
            "E-mail addresses exposed to anyone",
        ],
    );
    assert_eq!(decided.code, 0, "{}", decided.stderr);
    let filed = custos(
        &url,
        &[
            "breach",
            "file",
            &key,
            "--controller",
            "hypermarket-a",
            "--reference",
            "AEPD-1",
        ],
    );
    assert_eq!(filed.code, 0, "{}", filed.stderr);
    assert!(
        filed.stdout.contains("hypermarket-a: aware")
            && filed.stdout.contains("notify-authority, filed"),
        "{}",
        filed.stdout
    );

    let csv = custos(&url, &["breach", "register", "hypermarket-a"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert!(
        csv.stdout.starts_with("Breach,Role,Where"),
        "{}",
        csv.stdout
    );
    assert!(
        csv.stdout.contains("A misconfigured bucket"),
        "{}",
        csv.stdout
    );
}
