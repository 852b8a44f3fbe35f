//! `custos audit verify` and `custos user …` as an operator runs them.

use std::io::Write;
use std::process::{Command, Stdio};

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Run, custos, examples_dir, sqlite_url};

fn custos_with_stdin(database_url: &str, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .env("CUSTOS_DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test]
async fn audit_verify_passes_after_applies_and_names_an_edited_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let examples = examples_dir();
    assert_eq!(custos(&url, &["apply", examples.to_str().unwrap()]).code, 0);
    let created = custos_with_stdin(
        &url,
        &["user", "create", "dpo@hypermarket-a.example", "--admin"],
        "a long enough password\n",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created
            .stdout
            .contains("Created dpo@hypermarket-a.example (administrator)")
    );
    assert!(!created.stdout.contains("long enough"));

    let intact = custos(&url, &["audit", "verify"]);
    assert_eq!(intact.code, 0, "{}", intact.stderr);
    assert!(
        intact
            .stdout
            .contains("The audit log is intact: 31 entries"),
        "{}",
        intact.stdout
    );

    sqlx::any::install_default_drivers();
    let mut connection = AnyConnection::connect(&url).await.unwrap();
    connection
        .execute(sqlx::query(
            "UPDATE audit_log SET actor = 'someone else' WHERE seq = 7",
        ))
        .await
        .unwrap();
    let broken = custos(&url, &["audit", "verify", "--format", "json"]);
    assert_eq!(broken.code, 1);
    let report: serde_json::Value = serde_json::from_str(&broken.stdout).unwrap();
    assert_eq!(report["result"], "broken");
    assert_eq!(report["problem"], "altered");
    assert_eq!(report["seq"], 7);
    let text = custos(&url, &["audit", "verify"]);
    assert!(
        text.stdout.contains("entry 7 was altered"),
        "{}",
        text.stdout
    );
}

#[test]
fn user_create_refuses_bad_input_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let short = custos_with_stdin(&url, &["user", "create", "a@b.example"], "short\n");
    assert_eq!(short.code, 2);
    assert!(
        short.stderr.contains("at least 12 characters"),
        "{}",
        short.stderr
    );
    let role = custos_with_stdin(
        &url,
        &[
            "user",
            "create",
            "a@b.example",
            "--member",
            "agency-b=owner",
        ],
        "a long enough password\n",
    );
    assert_ne!(role.code, 0);
    assert!(
        role.stderr.contains("admin, editor, viewer or portal"),
        "{}",
        role.stderr
    );
    let ok = custos_with_stdin(
        &url,
        &[
            "user",
            "create",
            "a@b.example",
            "--member",
            "agency-b=portal",
        ],
        "a long enough password\n",
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let again = custos_with_stdin(
        &url,
        &["user", "create", "A@B.example"],
        "a long enough password\n",
    );
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
}

/// The people of an instance from the CLI: listed, a role given and taken away, an account
/// disabled (the listing says so), enabled, deleted; unknown addresses and roles refused.
#[test]
fn user_commands_list_role_disable_enable_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let examples = examples_dir();
    assert_eq!(custos(&url, &["apply", examples.to_str().unwrap()]).code, 0);
    let created = custos_with_stdin(
        &url,
        &[
            "user",
            "create",
            "jordi@agency-b.example",
            "--member",
            "agency-b=portal",
        ],
        "a long enough password\n",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let role = custos(
        &url,
        &[
            "user",
            "role",
            "jordi@agency-b.example",
            "hypermarket-a=viewer",
        ],
    );
    assert_eq!(role.code, 0, "{}", role.stderr);
    assert!(
        role.stdout.contains("agency-b=portal hypermarket-a=viewer"),
        "{}",
        role.stdout
    );
    let unknown = custos(
        &url,
        &["user", "role", "jordi@agency-b.example", "nowhere=viewer"],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("no organisation \"nowhere\" in the register"),
        "{}",
        unknown.stderr
    );
    let bad_role = custos(
        &url,
        &["user", "role", "jordi@agency-b.example", "agency-b=owner"],
    );
    assert_ne!(bad_role.code, 0);
    let taken = custos(
        &url,
        &[
            "user",
            "role",
            "jordi@agency-b.example",
            "hypermarket-a=none",
        ],
    );
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    let disabled = custos(&url, &["user", "disable", "jordi@agency-b.example"]);
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    let listed = custos(&url, &["user", "list", "--format", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let jordi = &listed["items"][0];
    assert_eq!(jordi["email"], "jordi@agency-b.example");
    assert!(jordi["disabled_at"].is_string(), "{jordi}");
    assert_eq!(
        jordi["memberships"],
        serde_json::json!([{"organisation": "agency-b", "role": "portal"}])
    );
    let text = custos(&url, &["user", "list"]);
    assert!(
        text.stdout
            .contains("jordi@agency-b.example\tdisabled\t2fa:off\tagency-b=portal"),
        "{}",
        text.stdout
    );
    assert_eq!(
        custos(&url, &["user", "enable", "jordi@agency-b.example"]).code,
        0
    );
    let nobody = custos(&url, &["user", "disable", "nobody@agency-b.example"]);
    assert_ne!(nobody.code, 0);
    assert!(
        nobody.stderr.contains("no user has the address"),
        "{}",
        nobody.stderr
    );
    let deleted = custos(&url, &["user", "delete", "jordi@agency-b.example"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let listed = custos(&url, &["user", "list"]);
    assert!(!listed.stdout.contains("jordi"), "{}", listed.stdout);
    let audit = custos(&url, &["audit", "verify"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
}

/// `custos backup`: a copy that verifies and exports as the original does, its own making in
/// its audit log; an existing file is not overwritten.
#[test]
fn a_backup_is_a_consistent_copy_that_verifies_and_exports_alike() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let examples = examples_dir();
    assert_eq!(custos(&url, &["apply", examples.to_str().unwrap()]).code, 0);
    let copy = dir.path().join("copy.db");
    let backup = custos(&url, &["backup", copy.to_str().unwrap()]);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let copy_url = format!("sqlite://{}", copy.display());
    let verified = custos(&copy_url, &["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    assert_eq!(
        custos(&copy_url, &["export"]).stdout,
        custos(&url, &["export"]).stdout
    );
    let again = custos(&url, &["backup", copy.to_str().unwrap()]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
}

/// `custos apply --as`: a party's manifest goes through the policy of docs/access.md. One that
/// rewrites the controller's contract terms and activity is refused whole, every offending
/// entry named; one that changes only the party's own facts is applied.
#[test]
fn apply_as_a_party_writes_only_its_own_facts() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let examples = examples_dir();
    assert_eq!(custos(&url, &["apply", examples.to_str().unwrap()]).code, 0);
    let created = custos_with_stdin(
        &url,
        &[
            "user",
            "create",
            "staff@agency-b.example",
            "--member",
            "agency-b=editor",
        ],
        "a long enough password\n",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let copy = dir.path().join("manifests");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let marketing = copy.join("marketing-chain.yaml");
    let original = std::fs::read_to_string(&marketing).unwrap();
    // B loosens the controller's terms and rewrites the controller's activity.
    let hostile = original
        .replace(
            "      authorisation: specific\n      decision_days: 14",
            "      authorisation: general\n      decision_days: 1",
        )
        .replace(
            "      - Send marketing e-mails",
            "      - Sell the customer list",
        );
    assert_ne!(hostile, original, "the edits apply to the example");
    std::fs::write(&marketing, &hostile).unwrap();
    let refused = custos(
        &url,
        &[
            "apply",
            copy.to_str().unwrap(),
            "--as",
            "staff@agency-b.example",
        ],
    );
    assert_ne!(refused.code, 0);
    for named in ["contract dpa-a-b", "activity customer-marketing"] {
        assert!(
            refused.stderr.contains(named),
            "{named}: {}",
            refused.stderr
        );
    }
    let unchanged = custos(&url, &["plan", examples.to_str().unwrap()]);
    assert!(
        unchanged.stdout.contains("No changes"),
        "nothing was written: {}",
        unchanged.stdout
    );
    // B moves its own office: applied, in B's name.
    let own = original.replace("Avinguda Diagonal 200", "Avinguda Diagonal 202");
    assert_ne!(own, original, "the edit applies to the example");
    std::fs::write(&marketing, &own).unwrap();
    let applied = custos(
        &url,
        &[
            "apply",
            copy.to_str().unwrap(),
            "--as",
            "staff@agency-b.example",
        ],
    );
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("~ organisation agency-b"),
        "{}",
        applied.stdout
    );
}

/// A careful rewrite: the last entries deleted and the head row moved back, so that what is
/// left chains again. Only a head kept elsewhere tells.
#[tokio::test]
async fn a_log_truncated_below_a_kept_head_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    assert_eq!(
        custos(&url, &["apply", examples_dir().to_str().unwrap()]).code,
        0
    );
    let intact = custos(&url, &["audit", "verify", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&intact.stdout).unwrap();
    let kept = report["head"].as_str().unwrap().to_owned();
    let entries = report["entries"].as_u64().unwrap();
    let with_kept = custos(&url, &["audit", "verify", "--expect-head", &kept]);
    assert_eq!(with_kept.code, 0, "{}", with_kept.stdout);

    sqlx::any::install_default_drivers();
    let mut connection = AnyConnection::connect(&url).await.unwrap();
    let last = i64::try_from(entries).unwrap();
    connection
        .execute(sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM audit_log WHERE seq >= {}",
            last - 1
        ))))
        .await
        .unwrap();
    connection
        .execute(sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE audit_head SET seq = {0}, hash = (SELECT hash FROM audit_log WHERE seq = {0}) WHERE id = 1",
            last - 2
        ))))
        .await
        .unwrap();
    let chained = custos(&url, &["audit", "verify"]);
    assert_eq!(
        chained.code, 0,
        "what is left chains again: {}",
        chained.stdout
    );
    let found = custos(
        &url,
        &[
            "audit",
            "verify",
            "--expect-head",
            &kept,
            "--format",
            "json",
        ],
    );
    assert_eq!(found.code, 1, "{}", found.stdout);
    let report: serde_json::Value = serde_json::from_str(&found.stdout).unwrap();
    assert_eq!(report["problem"], "kept-head-missing");
    assert_eq!(report["hash"], kept.as_str());
}
