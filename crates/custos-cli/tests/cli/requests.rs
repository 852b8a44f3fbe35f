//! `custos request`: a request entered at a desk, verified another way, answered with the
//! specific recipients (text, JSON, PDF), an erasure told down the chain whose closing waits
//! for every recipient, a refusal; bad input named.

use crate::{custos, examples_dir, json, on_postgres, sqlite_url};

const EVENT: &str = r#"{"identifier": "ana@example.com", "activity": "customer-marketing", "recipient": "agency-b", "categories": ["email"], "at": "2025-06-01T10:00:00Z"}"#;

fn enter(url: &str, kind: &str) -> String {
    let run = custos(
        url,
        &[
            "request",
            "enter",
            "--controller",
            "hypermarket-a",
            "--kind",
            kind,
            "--email",
            "Ana@Example.com",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("not verified"), "{}", run.stdout);
    run.stdout.split_whitespace().next().unwrap().to_owned()
}

fn requests_round_trip(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        custos(url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, format!("{EVENT}\n")).unwrap();
    assert_eq!(
        custos(url, &["ledger", "import", file.to_str().unwrap()]).code,
        0
    );

    let access = enter(url, "access");
    let run = custos(url, &["request", "answer", &access]);
    assert_eq!(run.code, 1, "not before verification");
    assert!(run.stderr.contains("not verified"), "{}", run.stderr);
    let run = custos(
        url,
        &[
            "request",
            "verify",
            &access,
            "--method",
            "in person",
            "--evidence",
            "ID card",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer = json(&custos(
        url,
        &["request", "answer", &access, "--format", "json"],
    ));
    let ids: Vec<&str> = answer["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    // E, engaged below B in June 2026, holds what B kept of the 2025 disclosure.
    assert_eq!(ids, ["agency-b", "agency-e", "hosting-d", "mailer-c"]);
    let text = custos(url, &["request", "answer", &access]).stdout;
    assert!(
        text.contains("transfer to mailer-c (IL) on adequacy"),
        "{text}"
    );
    let pdf = dir.path().join("answer.pdf");
    assert_eq!(
        custos(
            url,
            &[
                "request",
                "answer",
                &access,
                "--format",
                "pdf",
                "--output",
                pdf.to_str().unwrap()
            ]
        )
        .code,
        0
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
    let run = custos(url, &["request", "answer", &access, "--format", "pdf"]);
    assert_eq!(run.code, 2, "binary formats need --output");

    let erasure = enter(url, "erasure");
    custos(
        url,
        &[
            "request",
            "verify",
            &erasure,
            "--method",
            "in person",
            "--evidence",
            "ID card",
        ],
    );
    let run = custos(url, &["request", "notify", &erasure]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("mailer-c pending, relayed by agency-b"),
        "{}",
        run.stdout
    );
    let run = custos(url, &["request", "close", &erasure]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("agency-b, agency-e, mailer-c, hosting-d"),
        "{}",
        run.stderr
    );
    let run = custos(
        url,
        &[
            "request",
            "extend",
            &erasure,
            "--reasons",
            "three systems to search",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // An erasure for someone the ledger never sent anywhere: no one to tell, it may close.
    let run = custos(
        url,
        &[
            "request",
            "enter",
            "--controller",
            "hypermarket-a",
            "--kind",
            "erasure",
            "--email",
            "zoe@example.com",
        ],
    );
    let unknown = run.stdout.split_whitespace().next().unwrap().to_owned();
    custos(
        url,
        &[
            "request",
            "verify",
            &unknown,
            "--method",
            "in person",
            "--evidence",
            "ID card",
        ],
    );
    assert_eq!(custos(url, &["request", "notify", &unknown]).code, 0);
    let run = custos(
        url,
        &[
            "request",
            "close",
            &unknown,
            "--note",
            "No recipient held your data.",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("(closed)"), "{}", run.stdout);

    let objection = enter(url, "objection");
    let run = custos(
        url,
        &[
            "request",
            "refuse",
            &objection,
            "--reasons",
            "no processing on legitimate interest",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed = json(&custos(
        url,
        &["request", "list", "--open", "--format", "json"],
    ));
    let open: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        open,
        ["erasure", "access"],
        "newest first; the refused one is not open"
    );
    let shown = json(&custos(
        url,
        &["request", "show", &erasure, "--format", "json"],
    ));
    assert_eq!(shown["extended_until"].as_str().map(|d| d.len()), Some(10));
    assert_eq!(
        shown["notifications"].as_array().unwrap().len(),
        4,
        "B, E, C and D"
    );

    let run = custos(
        url,
        &[
            "request",
            "enter",
            "--controller",
            "hypermarket-a",
            "--kind",
            "deletion",
            "--email",
            "a@example.com",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--kind") && run.stderr.contains("erasure"),
        "{}",
        run.stderr
    );
}

#[test]
fn requests_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    requests_round_trip(&sqlite_url(&dir));
}

#[tokio::test]
async fn requests_on_postgres() {
    on_postgres(requests_round_trip).await;
}

/// Art. 12(3): a request entered later than it arrived counts from its arrival.
#[test]
fn a_request_received_by_post_counts_from_the_day_it_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let url = url.as_str();
    assert_eq!(
        custos(url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    // A letter that arrived on 31 October, entered today: the month runs from its arrival;
    // a day in the future is refused with one line naming the option.
    let enter_received = |day: &str| {
        custos(
            url,
            &[
                "request",
                "enter",
                "--controller",
                "hypermarket-a",
                "--kind",
                "objection",
                "--email",
                "post@example.com",
                "--received",
                day,
            ],
        )
    };
    let late = enter_received("2020-10-31");
    assert_eq!(late.code, 0, "{}", late.stderr);
    let late_key = late.stdout.split_whitespace().next().unwrap().to_owned();
    let shown = json(&custos(
        url,
        &["request", "show", &late_key, "--format", "json"],
    ));
    assert_eq!(shown["deadline"], "2020-11-30", "{shown}");
    let future = enter_received("2999-01-01");
    assert_ne!(future.code, 0);
    assert!(
        future
            .stderr
            .contains("received_on: 2999-01-01 is in the future"),
        "{}",
        future.stderr
    );
}
