//! `custos notice` and `custos ropa`: notices from manifests and from the database, versions,
//! the out-of-date finding once B engages E, diffs, and records written as files.

use std::path::Path;

use crate::{custos, examples_dir, json, on_postgres, sqlite_url};

const MARKETING: &str = include_str!("../../../../examples/marketing-chain.yaml");

/// The worked examples in `dir`, with E's link starting on 2020-06-01 (so that the real clock
/// of the CLI is after it), or without E at all.
fn write_examples(dir: &Path, with_e: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["courier-chain.yaml", "careless-migration.yaml"] {
        std::fs::copy(examples_dir().join(name), dir.join(name)).unwrap();
    }
    let marketing = if with_e {
        MARKETING.replace("since: 2026-06-01", "since: 2020-06-01")
    } else {
        let cut = MARKETING.find("  - id: b-e\n").unwrap();
        MARKETING[..cut].to_owned()
    };
    std::fs::write(dir.join("marketing-chain.yaml"), marketing).unwrap();
}

#[test]
fn notice_from_manifests_in_both_styles_and_languages() {
    let examples = examples_dir();
    let from = examples.to_str().unwrap();
    let run = custos(
        "sqlite://unused.db",
        &[
            "notice",
            "generate",
            "hypermarket-a",
            "--from",
            from,
            "--at",
            "2026-01-15",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for expected in [
        "| Agency B S.L. | Spain |",
        "| Mailer C Ltd | Israel |",
        "| Hosting D Ltd | Israel |",
        "**Israel**",
        "adequacy decision",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} in {}",
            run.stdout
        );
    }
    assert!(!run.stdout.contains("Analytics E"), "E joined in June 2026");

    let run = custos(
        "sqlite://unused.db",
        &[
            "notice",
            "generate",
            "hypermarket-a",
            "--from",
            from,
            "--at",
            "2026-07-01",
            "--style",
            "categories",
            "--lang",
            "es",
            "--format",
            "html",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "<li>Agencia de analítica de marketing (Analítica de marketing), España</li>"
        ),
        "{}",
        run.stdout
    );

    let template = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(template.path(), "{{ notice.recipients|length }} recipients").unwrap();
    let run = custos(
        "sqlite://unused.db",
        &[
            "notice",
            "generate",
            "hypermarket-a",
            "--from",
            from,
            "--at",
            "2026-07-01",
            "--format",
            "markdown",
            "--template",
            template.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "4 recipients\n"),
        "{}",
        run.stderr
    );

    let run = custos(
        "sqlite://unused.db",
        &[
            "notice",
            "generate",
            "hypermarket-a",
            "--from",
            from,
            "--activity",
            "document-delivery",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("is not a controller of activity \"document-delivery\""),
        "{}",
        run.stderr
    );
}

fn notice_lifecycle(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before");
    let after = dir.path().join("after");
    write_examples(&before, false);
    write_examples(&after, true);
    let apply = |path: &Path| {
        let run = custos(database_url, &["apply", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    apply(&before);
    let run = custos(
        database_url,
        &["notice", "publish", "hypermarket-a", "--lang", "es"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(
            "published version 1 of notice \"website\" of hypermarket-a (3 recipient(s)"
        ),
        "{}",
        run.stdout
    );
    let check = custos(
        database_url,
        &[
            "check",
            "--rule",
            "notice-out-of-date",
            "--fail-on",
            "warning",
        ],
    );
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);

    // B engages E: the published notice is out of date, since E's link started.
    apply(&after);
    let check = custos(
        database_url,
        &[
            "check",
            "--rule",
            "notice-out-of-date",
            "--fail-on",
            "warning",
        ],
    );
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("since 2020-06-01"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("+ Analytics E S.L. (Spain)"),
        "{}",
        check.stdout
    );

    // Version 2 says what changed, and nothing about transfers.
    let run = custos(
        database_url,
        &["notice", "publish", "hypermarket-a", "--lang", "es"],
    );
    assert!(
        run.stdout.starts_with("published version 2"),
        "{}",
        run.stdout
    );
    let diff = custos(database_url, &["notice", "diff", "hypermarket-a"]);
    assert_eq!(
        (diff.code, diff.stdout.as_str()),
        (0, "version 1 -> 2\n+ Analytics E S.L. (Spain)\n"),
        "{}",
        diff.stderr
    );
    let versions = json(&custos(
        database_url,
        &["notice", "versions", "hypermarket-a", "--format", "json"],
    ));
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[1]["language"], "es");
    let check = custos(
        database_url,
        &[
            "check",
            "--rule",
            "notice-out-of-date",
            "--fail-on",
            "warning",
        ],
    );
    assert_eq!(check.code, 0, "{}", check.stdout);

    // The records as files.
    let pdf = dir.path().join("ropa.pdf");
    let run = custos(
        database_url,
        &[
            "ropa",
            "hypermarket-a",
            "--format",
            "pdf",
            "--output",
            pdf.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let xlsx = dir.path().join("ropa.xlsx");
    let run = custos(
        database_url,
        &[
            "ropa",
            "hypermarket-a",
            "--format",
            "xlsx",
            "-o",
            xlsx.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read(&xlsx).unwrap().starts_with(b"PK"));
    let csv = custos(
        database_url,
        &[
            "ropa",
            "hypermarket-a",
            "--format",
            "csv",
            "--section",
            "recipients",
        ],
    );
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    assert_eq!(csv.stdout.lines().count(), 5, "{}", csv.stdout);
    assert!(
        csv.stdout
            .contains(",Analytics E S.L.,Spain,Agency B S.L.,"),
        "{}",
        csv.stdout
    );
    // In Spanish when asked: the headings and the countries' names.
    let spanish = custos(
        database_url,
        &[
            "ropa",
            "hypermarket-a",
            "--format",
            "csv",
            "--section",
            "recipients",
            "--lang",
            "es",
        ],
    );
    assert_eq!(spanish.code, 0, "{}", spanish.stderr);
    assert!(
        spanish
            .stdout
            .starts_with("Actividad,Vínculo,Profundidad,Destinatario,País"),
        "{}",
        spanish.stdout
    );
    assert!(
        spanish.stdout.contains(",Analytics E S.L.,España,"),
        "{}",
        spanish.stdout
    );
    let processor = json(&custos(
        database_url,
        &["ropa", "mailer-c", "--processor", "--format", "json"],
    ));
    assert_eq!(
        processor["processing"][0]["controller"]["name"],
        "Hypermarket A S.L."
    );
    let unknown = custos(database_url, &["ropa", "nobody"]);
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("organisation nobody does not exist"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn notice_lifecycle_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    notice_lifecycle(&sqlite_url(&dir));
}

#[tokio::test]
async fn notice_lifecycle_on_postgres() {
    on_postgres(notice_lifecycle).await;
}
