//! `custos check` as CI runs it: offline over manifests, on the stored register of both
//! backends, in every format; SARIF that validates; exit codes 0, 1 and 2.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{Run, custos, examples_dir, sqlite_url};

const ON: &str = "2026-11-25";

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs custos in `dir`, as CI runs it from the checkout.
fn custos_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .current_dir(dir)
        .env("CUSTOS_DATABASE_URL", "sqlite://unused.db")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn parsed(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

/// The line (from 1) of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

fn rule_ids(report: &Value) -> Vec<String> {
    let mut ids: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

const EXPECTED: [&str; 6] = [
    "breach-notice-term-missing",
    "controller-not-identified",
    "dpa-incomplete",
    "dpia-missing",
    "unauthorised-subprocessor",
    "weaker-than-upstream",
];

#[test]
fn check_of_the_examples_names_each_finding_with_its_manifest_line() {
    let root = repo_root();
    let text = custos_in(root, &["check", "examples", "--at", ON]);
    assert_eq!(text.code, 1, "{}", text.stderr);
    let courier = std::fs::read_to_string(root.join("examples/courier-chain.yaml")).unwrap();
    let c2_c3 = line_of(&courier, "- id: c2-c3");
    for expected in [
        "document-delivery · controller bank",
        &format!("examples/courier-chain.yaml:{c2_c3}:5: engagement c2-c3"),
        "link c2-c3 at depth 3: bank → courier-1 → courier-2 → courier-3",
        "rests on GDPR Art. 28(2); GDPR Art. 28(4)",
        "fix: ",
        "5 error(s), 1 warning(s)",
    ] {
        assert!(
            text.stdout.contains(expected),
            "{expected}:\n{}",
            text.stdout
        );
    }

    let json = custos_in(root, &["check", "examples", "--at", ON, "--format", "json"]);
    assert_eq!(json.code, 1);
    let report = parsed(&json);
    assert_eq!(rule_ids(&report), EXPECTED);
    assert_eq!(report["summary"]["errors"], 5);
    let unauthorised = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "unauthorised-subprocessor")
        .unwrap();
    assert_eq!(unauthorised["engagement"], "c2-c3");
    assert_eq!(unauthorised["depth"], 3);
    assert_eq!(
        unauthorised["path"],
        serde_json::json!(["bank", "courier-1", "courier-2", "courier-3"])
    );
    assert_eq!(
        unauthorised["location"]["file"],
        "examples/courier-chain.yaml"
    );
    assert_eq!(unauthorised["location"]["line"], c2_c3);

    // The marketing chain alone is clean: exit 0.
    let marketing = custos_in(
        root,
        &["check", "examples/marketing-chain.yaml", "--at", ON],
    );
    assert_eq!(marketing.code, 0, "{}", marketing.stdout);
    assert!(
        marketing
            .stdout
            .contains("0 error(s), 0 warning(s), 0 info")
    );
}

#[test]
fn fail_on_sets_the_threshold_and_filters_narrow_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("register.yaml");
    let marketing = std::fs::read_to_string(examples_dir().join("marketing-chain.yaml")).unwrap();
    std::fs::write(&manifest, marketing.replacen("    retention: P2Y\n", "", 1)).unwrap();
    let path = manifest.to_str().unwrap();
    let code = |extra: &[&str]| {
        let mut args = vec!["check", path, "--at", ON];
        args.extend_from_slice(extra);
        custos("sqlite://unused.db", &args).code
    };
    assert_eq!(
        code(&[]),
        0,
        "a warning does not fail at the default threshold"
    );
    assert_eq!(code(&["--fail-on", "warning"]), 1);
    assert_eq!(code(&["--fail-on", "info"]), 1);
    assert_eq!(code(&["--fail-on", "error"]), 0);

    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let filtered = |extra: &[&str]| {
        let mut args = vec!["check", examples, "--at", ON, "--format", "json"];
        args.extend_from_slice(extra);
        rule_ids(&parsed(&custos("sqlite://unused.db", &args)))
    };
    assert_eq!(
        filtered(&["--activity", "customer-accounts"]),
        [
            "breach-notice-term-missing",
            "dpa-incomplete",
            "dpia-missing"
        ]
    );
    assert_eq!(
        filtered(&["--organisation", "courier-3"]),
        [
            "controller-not-identified",
            "unauthorised-subprocessor",
            "weaker-than-upstream"
        ]
    );
    assert_eq!(filtered(&["--rule", "dpia-missing"]), ["dpia-missing"]);
    assert_eq!(filtered(&["--severity", "warning"]).len(), 6);
    // A filter that leaves nothing also leaves nothing to fail on.
    let none = custos(
        "sqlite://unused.db",
        &[
            "check",
            examples,
            "--at",
            ON,
            "--activity",
            "customer-marketing",
        ],
    );
    assert_eq!(none.code, 0, "{}", none.stdout);
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let schema: Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();

    // An acknowledged finding becomes a SARIF suppression.
    let dir = tempfile::tempdir().unwrap();
    let courier = std::fs::read_to_string(examples_dir().join("courier-chain.yaml")).unwrap();
    let acknowledged = courier.replacen(
        "    reference: \"Transport services agreement",
        "    acknowledgements:\n      - {rule: controller-not-identified, reason: \"Amendment signed, awaiting countersignature\", until: 2027-01-31, by: dpo@bank.example}\n    reference: \"Transport services agreement",
        1,
    );
    assert_ne!(acknowledged, courier);
    std::fs::write(dir.path().join("courier.yaml"), &acknowledged).unwrap();
    std::fs::copy(
        examples_dir().join("careless-migration.yaml"),
        dir.path().join("migration.yaml"),
    )
    .unwrap();

    let run = custos_in(dir.path(), &["check", ".", "--at", ON, "--format", "sarif"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sarif = parsed(&run);
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator has teeth: a level SARIF does not know is refused.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));

    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), custos_core::checks::rules::ALL.len());
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        let physical = &result["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(physical["region"]["startLine"].as_u64().unwrap() > 1);
    }
    let unauthorised = results
        .iter()
        .find(|r| r["ruleId"] == "unauthorised-subprocessor")
        .unwrap();
    let physical = &unauthorised["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "courier.yaml");
    assert_eq!(
        physical["region"]["startLine"],
        line_of(&acknowledged, "- id: c2-c3")
    );
    assert_eq!(unauthorised["level"], "error");
    assert!(
        unauthorised["message"]["text"]
            .as_str()
            .unwrap()
            .contains("link c2-c3 at depth 3: bank → courier-1 → courier-2 → courier-3")
    );
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0]["ruleId"], "controller-not-identified");
    assert!(
        suppressed[0]["suppressions"][0]["justification"]
            .as_str()
            .unwrap()
            .contains("awaiting countersignature")
    );
    assert_eq!(run0["properties"]["summary"]["acknowledged"], 1);
    assert_eq!(run0["properties"]["summary"]["errors"], 4);
}

fn check_the_stored_register(url: &str) {
    let examples = examples_dir();
    let applied = custos(url, &["apply", examples.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let run = custos(url, &["check", "--at", ON, "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = parsed(&run);
    assert_eq!(rule_ids(&report), EXPECTED);
    assert!(report["findings"][0].get("location").is_none());
    let sarif = parsed(&custos(url, &["check", "--at", ON, "--format", "sarif"]));
    let result = &sarif["runs"][0]["results"][0];
    assert!(result["locations"][0].get("physicalLocation").is_none());
    assert!(
        result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap()
            .contains('/')
    );
    let text = custos(url, &["check", "--at", ON]);
    assert!(
        text.stdout.contains("Checked the register in "),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("hunter2"));
}

#[test]
fn check_of_the_stored_register_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_the_stored_register(&sqlite_url(&dir));
}

#[tokio::test]
async fn check_of_the_stored_register_on_postgres() {
    crate::on_postgres(check_the_stored_register).await;
}

#[test]
fn bad_input_to_check_exits_2_with_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "version: 1\norganisations:\n  - id: a\n    name: A\n    country: XX\n",
    )
    .unwrap();
    let run = custos("sqlite://unused.db", &["check", broken.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("broken.yaml:5:") && run.stderr.contains("XX"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let rule = custos(
        "sqlite://unused.db",
        &["check", examples_dir().to_str().unwrap(), "--rule", "nope"],
    );
    assert_eq!(rule.code, 2);
    assert!(
        rule.stderr.contains("--rule \"nope\" is not a rule"),
        "{}",
        rule.stderr
    );

    let unreadable = custos("sqlite:///no/such/directory/custos.db", &["check"]);
    assert_eq!(
        unreadable.code, 2,
        "a database that cannot be read is not a finding"
    );
    assert!(
        unreadable.stderr.contains("cannot open the database"),
        "{}",
        unreadable.stderr
    );

    let sarif_rules = custos(
        "sqlite://unused.db",
        &["check", "--list-rules", "--format", "sarif"],
    );
    assert_eq!(sarif_rules.code, 2);
}

#[test]
fn list_rules_prints_the_catalogue_of_docs_rules_md() {
    let listing = parsed(&custos(
        "sqlite://unused.db",
        &["check", "--list-rules", "--format", "json"],
    ));
    let ids: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"unauthorised-subprocessor"));
    assert_eq!(ids.len(), custos_core::checks::rules::ALL.len());
    let markdown = custos(
        "sqlite://unused.db",
        &["check", "--list-rules", "--format", "markdown"],
    );
    let committed = std::fs::read_to_string(repo_root().join("docs/rules.md")).unwrap();
    assert_eq!(markdown.stdout, committed);
}

#[test]
fn broken_manifests_exit_2_and_every_message_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let courier = std::fs::read_to_string(examples_dir().join("courier-chain.yaml")).unwrap();
    // Deterministic damage of kinds people make: a cut file, a lost colon, a bad indent, a
    // stray bracket, a dangling id, a bad date.
    let broken = [
        courier[..courier.len() / 2].to_owned(),
        courier.replacen("processor: courier-3", "processor courier-3", 1),
        courier.replacen("    service: Last-mile", "  service: Last-mile", 1),
        courier.replacen(
            "clauses: [instructions, confidentiality]",
            "clauses: [instructions, confidentiality",
            1,
        ),
        courier.replacen("processor: courier-3", "processor: courier-9", 1),
        courier.replacen("since: 2023-12-01", "since: 2023-13-01", 1),
        courier.replacen("version: 1", "version: 7", 1),
        courier.replacen(
            "identifies_controller: false",
            "identifies_controller: no",
            1,
        ),
    ];
    for (index, text) in broken.iter().enumerate() {
        assert_ne!(text, &courier, "case {index} changed nothing");
        let path = dir.path().join(format!("case-{index}.yaml"));
        std::fs::write(&path, text).unwrap();
        let run = custos("sqlite://unused.db", &["check", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "case {index}: {}{}", run.stdout, run.stderr);
        let prefix = format!("{}:", path.display());
        let located: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("error: "))
            .collect();
        assert!(!located.is_empty(), "case {index}: {}", run.stderr);
        for line in located {
            let rest = line
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("case {index}: {line}"));
            let mut parts = rest.splitn(3, ':');
            let line_no: u64 = parts.next().unwrap().parse().unwrap();
            let column: u64 = parts.next().unwrap().parse().unwrap();
            assert!(line_no >= 1 && column >= 1, "case {index}: {line}");
        }
    }
}
