//! The `custos` binary, run as a user would: the acceptance criteria of the foundation on the
//! worked examples, on SQLite and (when `CUSTOS_TEST_POSTGRES_URL` is set) PostgreSQL.

// A test fails by panicking; helpers here are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod audit;
mod breaches;
mod changes;
mod check;
mod documents;
mod ledger;
mod requests;
mod serve;

use custos_app::testing::PostgresDatabase;
use serde_json::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn custos(database_url: &str, args: &[&str]) -> Run {
    // E-mail a command writes (the demo's) goes to a directory of this run, not the tree.
    let mail = tempfile::tempdir().unwrap();
    let output: Output = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env("CUSTOS_DATABASE_URL", database_url)
        .env("CUSTOS_MAIL_DIR", mail.path())
        // The suite's webhook receivers listen on loopback: allowed explicitly.
        .env("CUSTOS_ALLOW_PRIVATE_TARGETS", "1")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// Whether `done` holds within `delay_ms`, asked every 10 ms. Real time must pass for a
/// process to get somewhere before a test kills it.
#[allow(clippy::disallowed_methods)]
fn done_within(delay_ms: u64, mut done: impl FnMut() -> bool) -> bool {
    (0..delay_ms / 10).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        done()
    })
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("custos.db").display())
}

#[test]
fn recipients_of_the_marketing_chain_with_identity_and_service() {
    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let run = custos(
        "sqlite://unused.db",
        &[
            "recipients",
            "customer-marketing",
            "--from",
            examples,
            "--at",
            "2026-01-01",
            "--format",
            "json",
        ],
    );
    let found = json(&run);
    let recipients = found["recipients"].as_array().unwrap();
    let summary: Vec<(&str, &str, u64)> = recipients
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["country"].as_str().unwrap(),
                r["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("agency-b", "ES", 1),
            ("mailer-c", "IL", 2),
            ("hosting-d", "IL", 3)
        ]
    );
    assert_eq!(recipients[1]["name"], "Mailer C Ltd");
    assert_eq!(recipients[1]["contact"]["name"], "Noa Levi");
    assert_eq!(recipients[1]["services"][0], "Sending marketing e-mails");
    assert!(
        recipients[2]["address"]
            .as_str()
            .unwrap()
            .contains("Herzliya")
    );

    let text = custos(
        "sqlite://unused.db",
        &[
            "recipients",
            "customer-marketing",
            "--from",
            examples,
            "--at",
            "2026-01-01",
        ],
    );
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("mailer-c · Mailer C Ltd · depth 2"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("E-mail delivery platform (E-mail delivery) · Israel"),
        "{}",
        text.stdout
    );
    assert!(
        !Path::new("unused.db").exists(),
        "--from must not touch the database"
    );
}

#[test]
fn transfers_of_the_marketing_chain_are_the_two_israeli_links() {
    let examples = examples_dir();
    let run = custos(
        "sqlite://unused.db",
        &[
            "transfers",
            "customer-marketing",
            "--from",
            examples.to_str().unwrap(),
            "--at",
            "2026-11-24",
            "--format",
            "json",
        ],
    );
    let found = json(&run);
    let transfers = found.as_array().unwrap();
    assert_eq!(transfers.len(), 2);
    for (transfer, (engagement, depth)) in transfers.iter().zip([("b-c", 2), ("c-d", 3)]) {
        assert_eq!(transfer["engagement"], engagement);
        assert_eq!(transfer["depth"], depth);
        assert_eq!(transfer["destination"]["country"], "IL");
        assert_eq!(transfer["mechanism"], "adequacy");
        assert_eq!(transfer["assessment"]["valid"], true);
        assert_eq!(
            transfer["assessment"]["basis"],
            "Commission Decision 2011/61/EU"
        );
    }
}

#[test]
fn agency_e_is_in_the_chain_only_from_june_2026() {
    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let processors = |at: &str| -> Vec<(String, u64)> {
        let view = json(&custos(
            "sqlite://unused.db",
            &[
                "chain",
                "customer-marketing",
                "--from",
                examples,
                "--at",
                at,
                "--format",
                "json",
            ],
        ));
        view["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["processor"].as_str().unwrap().to_owned(),
                    l["depth"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert!(
        !processors("2026-05-31")
            .iter()
            .any(|(p, _)| p == "agency-e")
    );
    assert!(processors("2026-06-01").contains(&("agency-e".to_owned(), 2)));
}

#[test]
fn a_us_transfer_without_dpf_is_reported_invalid_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("us.yaml");
    std::fs::write(
        &manifest,
        "version: 1
organisations:
  - {id: ctl, name: Controller GmbH, country: DE}
  - {id: crm-us, name: CRM Inc, country: US, certifications: [{scheme: privacy-shield, since: 2017-01-01}]}
activities: [{id: sales, controller: ctl}]
engagements:
  - {id: ctl-crm, activity: sales, engaged_by: ctl, processor: crm-us, service: CRM, since: 2018-01-01, transfer: adequacy}
",
    )
    .unwrap();
    let path = manifest.to_str().unwrap();
    let today = custos(
        "sqlite://unused.db",
        &["transfers", "sales", "--from", path, "--at", "2026-11-24"],
    );
    assert_eq!(today.code, 1, "{}", today.stdout);
    assert!(today.stdout.contains("NOT VALID"), "{}", today.stdout);
    let in_2019 = custos(
        "sqlite://unused.db",
        &["transfers", "sales", "--from", path, "--at", "2019-06-01"],
    );
    assert_eq!(in_2019.code, 0, "{}", in_2019.stdout);
    assert!(in_2019.stdout.contains("2016/1250"), "{}", in_2019.stdout);
    let after_schrems_ii = custos(
        "sqlite://unused.db",
        &["transfers", "sales", "--from", path, "--at", "2020-07-16"],
    );
    assert_eq!(after_schrems_ii.code, 1);
    assert!(
        after_schrems_ii.stdout.contains("C-311/18"),
        "{}",
        after_schrems_ii.stdout
    );
}

/// 2021 SCCs, Clauses 8.8 and 9: `custos transfers` says in words that a sub-processor below an
/// importer on module 2 rides on its clauses, and on which link.
#[test]
fn an_onward_transfer_is_shown_under_the_parents_clauses() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("onward.yaml");
    std::fs::write(
        &manifest,
        "version: 1
organisations:
  - {id: ctl, name: Controller GmbH, country: DE}
  - {id: crm-us, name: CRM Inc, country: US}
  - {id: host-us, name: Host Inc, country: US}
activities: [{id: sales, controller: ctl}]
engagements:
  - {id: ctl-crm, activity: sales, engaged_by: ctl, processor: crm-us, service: CRM, since: 2024-01-01, transfer: {scc: {module: 2}}}
  - {id: crm-host, activity: sales, engaged_by: crm-us, processor: host-us, service: Hosting, since: 2024-01-01}
",
    )
    .unwrap();
    let run = custos(
        "sqlite://unused.db",
        &[
            "transfers",
            "sales",
            "--from",
            manifest.to_str().unwrap(),
            "--at",
            "2026-11-28",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("onward, under the SCCs (module 2) of link ctl-crm"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "onward transfer under the SCCs (module 2) of link ctl-crm, valid on 2026-11-28"
        ),
        "{}",
        run.stdout
    );
}

/// plan, apply, export, apply again: on the given database.
fn database_round_trip(url: &str) {
    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let plan = custos(url, &["plan", examples]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("+ engagement c2-c3"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 30 added, 0 changed, 0 removed."),
        "{}",
        plan.stdout
    );
    assert!(
        custos(url, &["export"]).stdout.trim() == "version: 1",
        "plan wrote nothing"
    );

    let apply = custos(url, &["apply", examples]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        apply.stdout.contains("Applied: 30 added"),
        "{}",
        apply.stdout
    );

    let chain = json(&custos(
        url,
        &[
            "chain",
            "document-delivery",
            "--at",
            "2024-01-01",
            "--format",
            "json",
        ],
    ));
    let courier_3 = chain["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["processor"] == "courier-3")
        .unwrap();
    assert_eq!(courier_3["depth"], 3);
    assert_eq!(courier_3["authorisation"], Value::Null);

    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("register.yaml");
    let export = custos(url, &["export", "--output", exported.to_str().unwrap()]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let again = custos(url, &["apply", exported.to_str().unwrap()]);
    assert_eq!(
        again.stdout,
        "No changes: the database already holds this register.\n"
    );

    // An invalid manifest is refused whole, with located errors, and nothing is written.
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(&exported)
        .unwrap()
        .replace("processor: courier-3", "processor: courier-9");
    std::fs::write(&broken, text).unwrap();
    let refused = custos(url, &["apply", broken.to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("broken.yaml:"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("engagement c2-c3: processor \"courier-9\" is not an organisation"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("nothing was written"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        custos(url, &["plan", exported.to_str().unwrap()]).stdout,
        "No changes: the database already holds this register.\n"
    );

    let upstream = json(&custos(url, &["upstream", "hosting-d", "--format", "json"]));
    assert_eq!(upstream[0]["controller"], "hypermarket-a");
    assert_eq!(
        upstream[0]["paths"][0],
        serde_json::json!(["hypermarket-a", "agency-b", "mailer-c", "hosting-d"])
    );
}

#[test]
fn plan_apply_export_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    database_round_trip(&sqlite_url(&dir));
}

/// Runs `scenario` on a fresh PostgreSQL database when `CUSTOS_TEST_POSTGRES_URL` is set.
async fn on_postgres(scenario: fn(&str)) {
    let Some(database) = PostgresDatabase::create().await.unwrap() else {
        custos_app::testing::announce_postgres_skipped();
        return;
    };
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || scenario(&url))
        .await
        .unwrap();
    database.drop_database().await.unwrap();
}

#[tokio::test]
async fn plan_apply_export_on_postgres() {
    on_postgres(database_round_trip).await;
}

#[test]
fn bad_input_exits_2_and_says_what_was_expected() {
    let unknown = custos(
        "sqlite://unused.db",
        &["chain", "nope", "--from", examples_dir().to_str().unwrap()],
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("there is no activity \"nope\""),
        "{}",
        unknown.stderr
    );
    let bad_date = custos("sqlite://unused.db", &["chain", "x", "--at", "2026-13-01"]);
    assert_eq!(bad_date.code, 2);
    assert!(bad_date.stderr.contains("--at"), "{}", bad_date.stderr);
    let missing = custos("sqlite://unused.db", &["plan", "/no/such/dir"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("cannot read /no/such/dir"),
        "{}",
        missing.stderr
    );
    let bad_url = custos("mysql://root:hunter2@db/custos", &["export"]);
    assert_eq!(bad_url.code, 1);
    assert!(
        bad_url.stderr.contains("expected sqlite://PATH"),
        "{}",
        bad_url.stderr
    );
    assert!(
        !bad_url.stderr.contains("hunter2"),
        "the password must not be printed: {}",
        bad_url.stderr
    );
}

#[test]
fn schema_prints_the_json_schema() {
    let schema = json(&custos("sqlite://unused.db", &["schema"]));
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$defs"]["Engagement"]["properties"]["engaged_by"].is_object());
}

#[test]
fn every_command_explains_itself_with_an_example() {
    for command in [
        &["demo"][..],
        &["serve"],
        &["plan"],
        &["apply"],
        &["export"],
        &["chain"],
        &["recipients"],
        &["transfers"],
        &["upstream"],
        &["check"],
        &["audit", "verify"],
        &["request", "enter"],
        &["user", "create"],
        &["schema"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let help = custos("sqlite://unused.db", &args);
        let command = command.join(" ");
        assert_eq!(help.code, 0, "{command}");
        assert!(
            help.stdout.contains("Example"),
            "{command}: {}",
            help.stdout
        );
        assert!(
            help.stdout.contains(&format!("custos {command}")),
            "{command}: {}",
            help.stdout
        );
        assert!(
            help.stdout.contains("CUSTOS_DATABASE_URL"),
            "{command}: {}",
            help.stdout
        );
    }
}

#[test]
fn demo_loads_the_examples_and_tours_the_marketing_chain() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let demo = custos(
        "sqlite://unused.db",
        &["demo", "--demo-database-url", &url, "--no-serve"],
    );
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    assert!(
        demo.stdout
            .contains("11 organisations, 3 activities, 8 engagements"),
        "{}",
        demo.stdout
    );
    assert!(
        demo.stdout
            .contains("[3] hosting-d · Hosting D Ltd (IL*) · TRANSFER outside the EEA"),
        "{}",
        demo.stdout
    );
    assert!(
        demo.stdout.contains("valid: adequacy decision for Israel"),
        "{}",
        demo.stdout
    );
    let again = custos(
        "sqlite://unused.db",
        &["demo", "--demo-database-url", &url, "--no-serve"],
    );
    assert!(
        again.stdout.contains("0 added, 0 changed, 0 removed"),
        "the demo is rerunnable: {}",
        again.stdout
    );
    // The careless migration's breach is there once, to be seen in the Breaches page.
    let breaches = custos(&url, &["breach", "list"]);
    assert_eq!(
        breaches.stdout.matches(" at it-contractor since ").count(),
        1,
        "{}",
        breaches.stdout
    );
}

#[test]
fn a_long_plan_is_cut_in_text_and_whole_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("many.yaml");
    let organisations: String = (0..1_005)
        .map(|i| format!("  - {{id: org-{i:04}, name: Organisation {i}, country: DE}}\n"))
        .collect();
    std::fs::write(
        &manifest,
        format!("version: 1\norganisations:\n{organisations}"),
    )
    .unwrap();
    let url = sqlite_url(&dir);
    let text = custos(&url, &["plan", manifest.to_str().unwrap()]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(
        text.stdout.lines().filter(|l| l.starts_with("+ ")).count(),
        1_000
    );
    assert!(
        text.stdout
            .contains("... and 5 more (--format json lists every change)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .ends_with("Plan: 1005 added, 0 changed, 0 removed.\n")
    );
    let json = json(&custos(
        &url,
        &["plan", manifest.to_str().unwrap(), "--format", "json"],
    ));
    assert_eq!(json["changes"].as_array().unwrap().len(), 1_005);
    assert_eq!(
        json["changes"][0],
        serde_json::json!({"kind": "organisation", "id": "org-0000", "action": "add"})
    );
}

/// Applies a large register and kills the process with SIGKILL at growing delays: every time,
/// the database holds either nothing or the whole register, never part of it.
fn killed_applies_leave_all_or_nothing(url_for: &dyn Fn(usize) -> String) {
    use custos_core::synthetic::{Shape, generate};
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("large.yaml");
    let parts = generate(Shape {
        organisations: 3_000,
        engagements: 30_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 5,
        contracts: false,
        single_controller: false,
    });
    let total_rows = parts.organisations.len() + parts.activities.len() + parts.engagements.len();
    std::fs::write(&manifest, custos_core::manifest::to_yaml(&parts)).unwrap();
    let mut outcomes = Vec::new();
    for (attempt, delay_ms) in KILL_DELAYS_MS.into_iter().enumerate() {
        let url = url_for(attempt);
        let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
            .args(["apply", manifest.to_str().unwrap()])
            .env("CUSTOS_DATABASE_URL", &url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let finished = done_within(delay_ms, || child.try_wait().unwrap().is_some());
        // Whether the apply's transaction was open at the moment of the kill: the write
        // had begun, so what follows proves a rollback, not a kill before any write.
        let mut inside = false;
        if !finished {
            inside = write_transaction_open(&url);
            child.kill().unwrap(); // SIGKILL on Unix
        }
        child.wait().unwrap();
        let rows = stored_rows_all_or_nothing(&url, total_rows, attempt);
        outcomes.push(Outcome {
            finished,
            inside,
            rows,
        });
        if finished {
            break;
        }
    }
    one_finished_one_killed(&outcomes, total_rows);
}

/// The rows stored after an apply that may have been killed: none or all of them.
fn stored_rows_all_or_nothing(url: &str, total_rows: usize, attempt: usize) -> usize {
    let exported = custos(url, &["export"]);
    assert_eq!(exported.code, 0, "attempt {attempt}: {}", exported.stderr);
    let rows = exported.stdout.matches("\n- id: ").count();
    assert!(
        rows == 0 || rows == total_rows,
        "attempt {attempt}: {rows} of {total_rows} rows after a kill"
    );
    rows
}

/// When the attempts are killed, in ms after they start: dense around the seconds an apply of
/// the large register takes, so that one kill lands inside its write transaction on a slow
/// machine as on a fast one; the last lets it finish.
const KILL_DELAYS_MS: [u64; 12] = [
    50, 150, 300, 600, 900, 1_200, 1_600, 2_000, 2_400, 3_200, 4_800, 60_000,
];

/// What one attempt came to.
#[derive(Debug)]
struct Outcome {
    finished: bool,
    /// Killed while its write transaction was open.
    inside: bool,
    rows: usize,
}

/// Whether another writer holds the database's write transaction right now: on SQLite, a
/// `BEGIN IMMEDIATE` that may not wait is refused; on PostgreSQL, another session of the
/// database has a transaction id (it has written).
fn write_transaction_open(url: &str) -> bool {
    use sqlx::{Connection, Executor};
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            sqlx::any::install_default_drivers();
            // Not created yet: nothing was begun.
            let Ok(mut connection) = sqlx::AnyConnection::connect(url).await else {
                return false;
            };
            if url.starts_with("sqlite:") {
                connection.execute("PRAGMA busy_timeout = 0").await.unwrap();
                let locked = connection.execute("BEGIN IMMEDIATE").await.is_err();
                if !locked {
                    connection.execute("ROLLBACK").await.unwrap();
                }
                locked
            } else {
                let row = sqlx::query(
                    "SELECT CAST(count(*) AS BIGINT) FROM pg_stat_activity WHERE datname = current_database() \
                     AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL",
                )
                .fetch_one(&mut connection)
                .await
                .unwrap();
                sqlx::Row::get::<i64, _>(&row, 0) > 0
            }
        })
}

/// Of the attempts, one finished whole, and one was killed inside its write transaction and
/// left nothing.
fn one_finished_one_killed(outcomes: &[Outcome], total_rows: usize) {
    eprintln!("per attempt: {outcomes:?}");
    assert!(
        outcomes.iter().any(|o| o.finished && o.rows == total_rows),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| !o.finished && o.inside && o.rows == 0),
        "no apply was killed inside its transaction: {outcomes:?}"
    );
}

#[test]
fn sigkill_during_apply_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    killed_applies_leave_all_or_nothing(&|attempt| {
        format!(
            "sqlite://{}",
            path.join(format!("kill-{attempt}.db")).display()
        )
    });
}

#[tokio::test]
async fn sigkill_during_apply_on_postgres() {
    let mut databases = Vec::new();
    for _ in 0..KILL_DELAYS_MS.len() {
        match PostgresDatabase::create().await.unwrap() {
            Some(database) => databases.push(database),
            None => {
                custos_app::testing::announce_postgres_skipped();
                return;
            }
        }
    }
    let urls: Vec<String> = databases.iter().map(|d| d.url.clone()).collect();
    tokio::task::spawn_blocking(move || {
        killed_applies_leave_all_or_nothing(&|attempt| urls[attempt].clone())
    })
    .await
    .unwrap();
    for database in databases {
        database.drop_database().await.unwrap();
    }
}

/// `custos ... | head`: the reader closes the pipe early; the command ends quietly.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("many");
    std::fs::create_dir(&manifests).unwrap();
    let organisations: String = (0..5_000)
        .map(|i| format!("  - {{id: org-{i}, name: \"Organisation number {i} with a long name\", country: ES}}\n"))
        .collect();
    std::fs::write(
        manifests.join("m.yaml"),
        format!("version: 1\norganisations:\n{organisations}"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["plan", manifests.to_str().unwrap(), "--format", "json"])
        .env("CUSTOS_DATABASE_URL", sqlite_url(&dir))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here, as `head` closes it.
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}
