//! The checks: the worked examples give exactly what SPEC.md says they show, and every rule
//! fires on a chain that breaks it and stays silent on a compliant one.

use custos_core::checks::{Filter, Finding, Report, Severity, check, rules};
use custos_core::manifest;
use custos_core::register::{EntityKind, Register};

use crate::{date, errors, register};

fn example(text: &str) -> Register {
    manifest::parse_str("example.yaml", text).unwrap()
}

fn findings(register: &Register, on: &str) -> Vec<Finding> {
    check(register, date(on)).unwrap().findings
}

fn rule_ids(found: &[Finding]) -> Vec<&'static str> {
    found.iter().map(|f| f.rule).collect()
}

fn path(finding: &Finding) -> Vec<&str> {
    finding.path.iter().map(|p| p.as_str()).collect()
}

#[test]
fn courier_chain_shows_exactly_the_three_defects_at_courier_3() {
    let register = example(manifest::examples::COURIER_CHAIN);
    let found = findings(&register, "2026-11-25");
    let mut ids = rule_ids(&found);
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "controller-not-identified",
            "unauthorised-subprocessor",
            "weaker-than-upstream"
        ],
        "{found:#?}"
    );
    for finding in &found {
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(
            finding.activity.as_ref().unwrap().as_str(),
            "document-delivery"
        );
        assert_eq!(finding.engagement.as_ref().unwrap().as_str(), "c2-c3");
        assert_eq!(finding.depth, Some(3));
        assert_eq!(
            path(finding),
            ["bank", "courier-1", "courier-2", "courier-3"]
        );
    }
    let unauthorised = found
        .iter()
        .find(|f| f.rule == "unauthorised-subprocessor")
        .unwrap();
    assert_eq!(unauthorised.object.kind, EntityKind::Engagement);
    assert!(
        unauthorised
            .message
            .contains("no prior specific authorisation by bank"),
        "{}",
        unauthorised.message
    );
    let weaker = found
        .iter()
        .find(|f| f.rule == "weaker-than-upstream")
        .unwrap();
    assert_eq!(weaker.object.id.as_str(), "contract-c2-c3");
    for expected in [
        "subprocessing (Art. 28(3)(d))",
        "sealed-transport",
        "dpa-c1-c2",
    ] {
        assert!(weaker.message.contains(expected), "{}", weaker.message);
    }
}

#[test]
fn careless_migration_shows_the_generic_dpa_and_the_missing_risk_analysis() {
    let register = example(manifest::examples::CARELESS_MIGRATION);
    // Checked today, after the fact, and on the day before the engagement started.
    for on in ["2026-11-25", "2024-04-14"] {
        let found = findings(&register, on);
        let mut ids = rule_ids(&found);
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "breach-notice-term-missing",
                "dpa-incomplete",
                "dpia-missing"
            ],
            "{found:#?}"
        );
        let dpa = found.iter().find(|f| f.rule == "dpa-incomplete").unwrap();
        assert_eq!(dpa.object.id.as_str(), "generic-dpa");
        assert_eq!(
            dpa.engagement.as_ref().unwrap().as_str(),
            "website-migration"
        );
        assert!(dpa.message.contains("names no concrete security measure"));
        assert!(dpa.message.contains("audits (Art. 28(3)(h))"));
        let dpia = found.iter().find(|f| f.rule == "dpia-missing").unwrap();
        assert_eq!(dpia.object.kind, EntityKind::Activity);
        // Art. 87 is no DPIA ground: the identifier counts through WP248 and the Art. 35(4) lists.
        assert!(!dpia.message.contains("Art. 87"), "{}", dpia.message);
        for expected in [
            "national-id (a national identifier: WP248 criteria and the national lists of Art. 35(4))",
            "large scale",
            "website-migration",
            "2024-04-15",
        ] {
            assert!(dpia.message.contains(expected), "{}", dpia.message);
        }
    }
}

#[test]
fn marketing_chain_gives_no_error_before_or_after_e() {
    let full = example(manifest::examples::MARKETING_CHAIN);
    for on in ["2025-06-01", "2026-05-31", "2026-06-02", "2026-11-25"] {
        assert_eq!(findings(&full, on), [], "with E, on {on}");
    }
    // Before B engaged E, the register had no link to E at all.
    let before_e = manifest::examples::MARKETING_CHAIN
        .split("  - id: b-e\n")
        .next()
        .unwrap();
    let before_e = example(before_e);
    assert_eq!(before_e.engagements().len(), 3);
    assert_eq!(findings(&before_e, "2026-05-31"), []);
}

/// A compliant chain: controller → P1 → P2 → P3, complete DPAs flowed down, P2 pre-authorised
/// in the controller's contract, P3 approved before it started, P2 in Israel on adequacy.
const COMPLIANT: &str = r#"
version: 1
organisations:
  - {id: ctrl, name: Controller SA, country: ES, address: "Calle 1, Madrid", contact: {name: Ana}}
  - {id: p1, name: Processor One, country: DE, address: "Str. 1, Berlin", contact: {email: p1@example.com},
     certifications: [{scheme: iso27701}]}
  - {id: p2, name: Processor Two, country: IL, address: "Rd 2, Tel Aviv", contact: {phone: "+972 1"},
     certifications: [{scheme: iso27701, since: 2024-01-01, until: 2027-12-31}]}
  - {id: p3, name: Processor Three, country: FR, address: "Rue 3, Paris", contact: {name: Luc},
     certifications: [{scheme: iso27701}]}
activities:
  - id: act
    controller: ctrl
    purposes: [Service]
    lawful_basis: contract
    subjects: [customers]
    data: [email]
    retention: P1Y
contracts:
  - id: dpa-1
    between: [ctrl, p1]
    identifies_controller: true
    breach_notice_hours: 24
    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,
              compliance-assistance, deletion-or-return, audits]
    security: [encryption-at-rest, access-logging]
    subprocessing: {authorisation: specific, decision_days: 14, notice_channel: email,
                    selection_criteria: [eea-or-adequate, {certification: iso27701}], preauthorised: [p2]}
  - id: dpa-2
    between: [p1, p2]
    identifies_controller: true
    breach_notice_hours: 24
    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,
              compliance-assistance, deletion-or-return, audits]
    security: [encryption-at-rest, access-logging]
    subprocessing: {authorisation: specific, decision_days: 14, notice_channel: email}
  - id: dpa-3
    between: [p2, p3]
    identifies_controller: true
    breach_notice_hours: 24
    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,
              compliance-assistance, deletion-or-return, audits]
    security: [encryption-at-rest, access-logging, pseudonymisation]
engagements:
  - {id: l1, activity: act, engaged_by: ctrl, processor: p1, service: Hosting, contract: dpa-1, since: 2025-01-01}
  - {id: l2, activity: act, engaged_by: p1, processor: p2, service: Support, contract: dpa-2, since: 2025-01-01,
     transfer: adequacy}
  - {id: l3, activity: act, engaged_by: p2, processor: p3, service: Backups, contract: dpa-3, since: 2025-03-01,
     authorisation: {by: ctrl, decision: approved, date: 2025-02-20}}
"#;

const ON: &str = "2026-11-25";

/// The compliant register with `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> Register {
    assert!(COMPLIANT.contains(from), "the fixture has no {from:?}");
    register(&COMPLIANT.replacen(from, to, 1))
}

#[test]
fn a_contract_far_from_its_end_is_silent_and_its_terms_are_validated() {
    let far = variant(
        "between: [p1, p2]\n",
        "between: [p1, p2]\n    expires: 2027-01-25\n    renewal: 2026-12-01\n",
    );
    assert_eq!(
        findings(&far, ON),
        [],
        "61 days before the end, before the renewal date"
    );
    let problems = errors(&COMPLIANT.replacen(
        "between: [p1, p2]\n",
        "between: [p1, p2]\n    signed: 2025-01-01\n    expires: 2024-12-31\n    renewal: 2025-02-01\n    document: {name: DPA.pdf, sha256: ABC}\n",
        1,
    ));
    for words in [
        "expires: 2024-12-31 is before the contract was signed (2025-01-01)",
        "renewal: 2025-02-01 is after the contract expires (2024-12-31)",
        "document.sha256: \"ABC\" is not a SHA-256 in lowercase hex",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(words)),
            "{words}: {problems:?}"
        );
    }
}

#[test]
fn the_compliant_chain_is_silent_for_every_rule() {
    let report = check(&register(COMPLIANT), date(ON)).unwrap();
    assert_eq!(report.findings, []);
    assert!(!report.fails_at(Severity::Info));
}

/// Each rule with a change of the compliant chain that breaks it, the entry it must name and
/// words its message must contain.
#[test]
fn every_rule_fires_on_a_chain_that_breaks_it() {
    let l3_approval = ",\n     authorisation: {by: ctrl, decision: approved, date: 2025-02-20}}";
    let cases: Vec<(&str, Register, &str, &str)> = vec![
        (
            "unauthorised-subprocessor",
            variant(l3_approval, "}"),
            "l3",
            "no prior specific authorisation by ctrl",
        ),
        (
            "unauthorised-subprocessor",
            variant("date: 2025-02-20", "date: 2025-03-05"),
            "l3",
            "after the link started on 2025-03-01",
        ),
        (
            "unauthorised-subprocessor",
            variant("decision: approved", "decision: objected"),
            "l3",
            "objected on 2025-02-20",
        ),
        (
            "unauthorised-subprocessor",
            variant("decision: approved", "decision: deemed-approved"),
            "l3",
            "only a deemed approval",
        ),
        (
            "unauthorised-subprocessor",
            variant_general("decision: approved", "decision: pending"),
            "l3",
            "inside the objection period that ends on 2025-03-06",
        ),
        (
            "unauthorised-subprocessor",
            variant_general(l3_approval, "}"),
            "l3",
            "was not informed in advance",
        ),
        (
            "blanket-general-authorisation",
            variant_general(
                "decision_days: 14, notice_channel: email,\n                    selection",
                "selection",
            ),
            "dpa-1",
            "no channel to inform the controller of each candidate and no period to object",
        ),
        (
            "category-authorisation",
            variant(
                "preauthorised: [p2]",
                "preauthorised: [p2], preauthorised_categories: [Courier companies]",
            ),
            "dpa-1",
            "\"Courier companies\"",
        ),
        (
            "no-contract",
            variant("service: Support, contract: dpa-2,", "service: Support,"),
            "l2",
            "with no contract recorded",
        ),
        (
            "contract-expired",
            variant(
                "between: [p1, p2]\n",
                "between: [p1, p2]\n    signed: 2024-12-01\n    expires: 2026-06-30\n",
            ),
            "dpa-2",
            "expired on 2026-06-30, but p2 still processes on behalf of ctrl on 2026-11-25",
        ),
        (
            "contract-expiring",
            variant(
                "between: [p1, p2]\n",
                "between: [p1, p2]\n    expires: 2027-01-04\n",
            ),
            "dpa-2",
            "expires on 2027-01-04, 40 day(s) after 2026-11-25",
        ),
        (
            "contract-expiring",
            variant(
                "between: [p1, p2]\n",
                "between: [p1, p2]\n    expires: 2027-12-31\n    renewal: 2026-11-01\n",
            ),
            "dpa-2",
            "was due for renewal on 2026-11-01",
        ),
        (
            "controller-not-identified",
            variant(
                "between: [p2, p3]\n    identifies_controller: true",
                "between: [p2, p3]",
            ),
            "dpa-3",
            "does not identify ctrl as the controller",
        ),
        (
            "weaker-than-upstream",
            variant(
                "security: [encryption-at-rest, access-logging, pseudonymisation]",
                "security: [encryption-at-rest, pseudonymisation]",
            ),
            "dpa-3",
            "the security measures access-logging that the controller's contract dpa-1 (ctrl → p1) imposes, as does contract dpa-2 above it",
        ),
        (
            "dpa-incomplete",
            variant(
                "security: [encryption-at-rest, access-logging]\n    subprocessing: {authorisation: specific, decision_days: 14, notice_channel: email,\n",
                "subprocessing: {authorisation: specific, decision_days: 14, notice_channel: email,\n",
            ),
            "dpa-1",
            "names no concrete security measure",
        ),
        (
            "processor-identity-incomplete",
            variant("address: \"Rue 3, Paris\", contact: {name: Luc},", ""),
            "p3",
            "no address and no contact person",
        ),
        (
            "transfer-no-mechanism",
            variant(
                "since: 2025-01-01,\n     transfer: adequacy}",
                "since: 2025-01-01}",
            ),
            "l2",
            "no transfer mechanism is recorded",
        ),
        (
            "transfer-mechanism-invalid",
            register(
                &COMPLIANT
                    .replacen("country: IL, address", "country: US, address", 1)
                    .replacen("eea-or-adequate, ", "", 1),
            ),
            "l2",
            "certified under eu-us-dpf",
        ),
        (
            "transfer-derogation-systematic",
            variant(
                "transfer: adequacy",
                "transfer: {derogation: explicit-consent}",
            ),
            "l2",
            "systematically from 2025-01-01",
        ),
        (
            "selection-criteria-violated",
            variant(
                "contact: {name: Luc},\n     certifications: [{scheme: iso27701}]}",
                "contact: {name: Luc}}",
            ),
            "l3",
            "p3 does not hold iso27701",
        ),
        (
            "selection-criteria-violated",
            register(
                &COMPLIANT
                    .replacen("country: IL, address", "country: IN, address", 1)
                    .replacen("transfer: adequacy", "transfer: {scc: {module: 3}}", 1),
            ),
            "l2",
            "outside the EEA and without an adequacy decision",
        ),
        (
            "dpia-missing",
            variant(
                "data: [email]",
                "data: [email, health]\n    special_category_condition: explicit-consent",
            ),
            "act",
            "health (Art. 9(1)): no DPIA or risk analysis is recorded before the first processor was engaged",
        ),
        (
            "dpia-missing",
            variant(
                "data: [email]",
                "data: [email, national-id]\n    risk_assessment: {kind: risk-analysis, date: 2025-02-01}",
            ),
            "act",
            "came after the first processor was engaged (ctrl → p1, engagement l1, since 2025-01-01)",
        ),
        (
            "dpia-missing",
            variant(
                "data: [email]",
                "data: [email, health]\n    large_scale: true\n    special_category_condition: explicit-consent\n    risk_assessment: {kind: risk-analysis, date: 2024-12-01}",
            ),
            "act",
            "requires a DPIA (Art. 35(3)(b))",
        ),
        (
            "special-category-without-condition",
            variant(
                "data: [email]",
                "data: [email, biometric]\n    risk_assessment: {kind: dpia, date: 2024-12-01}",
            ),
            "act",
            "special categories (biometric)",
        ),
        (
            "lawful-basis-missing",
            variant("    lawful_basis: contract\n", ""),
            "act",
            "no lawful basis",
        ),
        (
            "dpo-missing",
            variant(
                "    retention: P1Y\n",
                "    retention: P1Y\n    large_scale: true\n    systematic_monitoring: true\n    risk_assessment: {kind: dpia, date: 2024-01-01}\n",
            ),
            "ctrl",
            "controls activity act, regular and systematic monitoring of data subjects on a large scale (Art. 37(1)(b))",
        ),
        (
            "retention-missing",
            variant("    retention: P1Y\n", ""),
            "act",
            "no retention period",
        ),
        (
            "breach-notice-term-missing",
            variant(
                "    identifies_controller: true\n    breach_notice_hours: 24\n    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,\n              compliance-assistance, deletion-or-return, audits]\n    security: [encryption-at-rest, access-logging, pseudonymisation]",
                "    identifies_controller: true\n    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,\n              compliance-assistance, deletion-or-return, audits]\n    security: [encryption-at-rest, access-logging, pseudonymisation]",
            ),
            "dpa-3",
            "p3 tells p2 of a personal-data breach",
        ),
        (
            "certification-expired",
            variant("until: 2027-12-31", "until: 2026-06-30"),
            "p2",
            "iso27701 (expired 2026-06-30)",
        ),
        (
            "acknowledgement-unused",
            variant(
                "retention: P1Y\n",
                "retention: P1Y\n    acknowledgements: [{rule: lawful-basis-missing, reason: old, until: 2030-01-01}]\n",
            ),
            "act",
            "acknowledges lawful-basis-missing until 2030-01-01",
        ),
    ];
    let mut covered: Vec<&str> = Vec::new();
    for (rule, register, object, words) in &cases {
        let found = findings(register, ON);
        let hit = found
            .iter()
            .find(|f| f.rule == *rule)
            .unwrap_or_else(|| panic!("{rule} did not fire: {found:#?}"));
        assert_eq!(hit.object.id.as_str(), *object, "{rule}: {hit:#?}");
        assert!(hit.message.contains(words), "{rule}: {}", hit.message);
        assert_eq!(
            hit.severity,
            rules::rule(rule).unwrap().severity,
            "{rule}: severity"
        );
        covered.push(rule);
    }
    // notice-out-of-date needs a published notice: one that left a recipient out.
    let compliant = register(COMPLIANT);
    let options = custos_core::notice::NoticeOptions::default();
    let mut notice = custos_core::notice::build(&compliant, "ctrl", &options, date(ON)).unwrap();
    let left_out = notice.recipients.pop().unwrap();
    let published = custos_core::notice::PublishedNotice {
        controller: "ctrl".parse().unwrap(),
        name: "website".parse().unwrap(),
        version: 1,
        language: "en".to_owned(),
        options,
        notice,
    };
    let found = custos_core::checks::check_with_notices(&compliant, date(ON), &[published])
        .unwrap()
        .findings;
    let hit = found
        .iter()
        .find(|f| f.rule == "notice-out-of-date")
        .unwrap_or_else(|| panic!("notice-out-of-date did not fire: {found:#?}"));
    assert_eq!(hit.object.id.as_str(), "ctrl");
    assert!(
        hit.message.contains(&format!("+ {}", left_out.name)),
        "{}",
        hit.message
    );
    assert_eq!(hit.severity, rules::NOTICE_OUT_OF_DATE.severity);
    covered.push("notice-out-of-date");
    // The breach rules judge where breaches stand (read from the database by the app).
    use custos_core::breach::{CaseGap, CaseStanding, LateRelay, Standing};
    let at = |raw: &str| raw.parse::<jiff::Timestamp>().unwrap();
    let standing = Standing {
        breach: "b-1".to_owned(),
        late_relays: vec![LateRelay {
            sender: "p2".parse().unwrap(),
            recipient: "p1".parse().unwrap(),
            engagements: vec!["l2".parse().unwrap()],
            contract: Some("dpa-2".parse().unwrap()),
            period_hours: 24,
            after: "30 hours".to_owned(),
        }],
        cases: [CaseGap::Undecided, CaseGap::NotFiled]
            .into_iter()
            .map(|gap| CaseStanding {
                controller: "ctrl".parse().unwrap(),
                aware_at: at("2026-11-20T10:00:00Z"),
                deadline: at("2026-11-23T10:00:00Z"),
                gap,
            })
            .collect(),
    };
    let evidence = custos_core::checks::Evidence {
        breaches: vec![standing],
        ..Default::default()
    };
    let found = custos_core::checks::check_with_evidence(&compliant, date(ON), &evidence)
        .unwrap()
        .findings;
    for (rule, object, words) in [
        (
            "breach-relay-late",
            "l2",
            "p2 passed breach b-1 to p1 30 hours",
        ),
        ("breach-undecided", "ctrl", "has recorded no decision"),
        ("breach-not-filed", "ctrl", "no filing with the authority"),
    ] {
        let hit = found
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("{rule} did not fire: {found:#?}"));
        assert_eq!(hit.object.id.as_str(), object, "{rule}");
        assert!(hit.message.contains(words), "{rule}: {}", hit.message);
        covered.push(rule);
    }
    for rule in rules::ALL {
        assert!(covered.contains(&rule.id), "no case triggers {}", rule.id);
    }
}

/// The compliant register with a general authorisation in the controller's contract.
fn variant_general(from: &str, to: &str) -> Register {
    let general = COMPLIANT.replacen(
        "subprocessing: {authorisation: specific, decision_days: 14, notice_channel: email,\n                    selection",
        "subprocessing: {authorisation: general, decision_days: 14, notice_channel: email,\n                    selection",
        1,
    );
    assert!(general.contains(from), "the fixture has no {from:?}");
    register(&general.replacen(from, to, 1))
}

#[test]
fn general_authorisation_after_a_silent_window_and_preauthorised_names_are_authorised() {
    // Informed on 20 Feb, 14 days to object, engaged on 1 Mar: silence was the yes.
    let general = variant_general("date: 2025-02-20", "date: 2025-02-14");
    let pending = check(&general, date(ON)).unwrap();
    assert_eq!(pending.findings, []);
    let pending = variant_general(
        "decision: approved, date: 2025-02-20",
        "decision: pending, date: 2025-02-14",
    );
    assert_eq!(findings(&pending, ON), []);
    let deemed = variant_general("decision: approved", "decision: deemed-approved");
    assert_eq!(findings(&deemed, ON), []);
}

#[test]
fn acknowledged_findings_are_reported_but_do_not_count_until_they_expire() {
    let acknowledged = variant(
        "    retention: P1Y\n",
        "    acknowledgements: [{rule: retention-missing, reason: \"Policy under review by legal\", until: 2026-12-31, by: dpo}]\n",
    );
    let report = check(&acknowledged, date(ON)).unwrap();
    assert_eq!(rule_ids(&report.findings), ["retention-missing"]);
    let finding = &report.findings[0];
    assert_eq!(
        finding.acknowledged.as_ref().unwrap().reason,
        "Policy under review by legal"
    );
    assert!(!report.fails_at(Severity::Info));
    assert_eq!(report.summary.acknowledged, 1);
    assert_eq!(report.summary.warnings, 0);

    let later = check(&acknowledged, date("2027-01-01")).unwrap();
    assert_eq!(rule_ids(&later.findings), ["retention-missing"]);
    assert!(later.findings[0].acknowledged.is_none());
    assert_eq!(
        later.findings[0].acknowledgement_expired,
        Some(date("2026-12-31"))
    );
    assert!(later.fails_at(Severity::Warning));
    assert!(!later.fails_at(Severity::Error));
}

#[test]
fn acknowledging_an_unknown_rule_or_without_a_reason_is_a_located_error() {
    let unknown = COMPLIANT.replacen(
        "    retention: P1Y\n",
        "    retention: P1Y\n    acknowledgements: [{rule: no-such-rule, reason: x, until: 2030-01-01}]\n",
        1,
    );
    let found = errors(&unknown);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("test.yaml:") && e.contains("\"no-such-rule\" is not a rule")),
        "{found:?}"
    );
    let no_reason = COMPLIANT.replacen(
        "    retention: P1Y\n",
        "    retention: P1Y\n    acknowledgements: [{rule: retention-missing, reason: \" \", until: 2030-01-01}]\n",
        1,
    );
    assert!(
        errors(&no_reason)
            .iter()
            .any(|e| e.contains("acknowledgements.reason is empty")),
    );
}

#[test]
fn filters_select_by_activity_organisation_severity_and_rule() {
    let register = crate::examples();
    let all: Report = check(&register, date(ON)).unwrap();
    assert_eq!(all.summary.errors, 5, "{:#?}", all.findings);
    let keep = |filter: Filter| {
        let mut report = all.clone();
        report.retain(&filter, &register);
        rule_ids(&report.findings)
    };
    assert_eq!(
        keep(Filter {
            activity: Some("customer-accounts".into()),
            ..Filter::default()
        }),
        [
            "dpia-missing",
            "dpa-incomplete",
            "breach-notice-term-missing"
        ]
    );
    // courier-2 sits on the path of the courier findings; the bank controls the activity.
    for organisation in ["courier-2", "bank"] {
        assert_eq!(
            keep(Filter {
                organisation: Some(organisation.into()),
                ..Filter::default()
            })
            .len(),
            3
        );
    }
    assert_eq!(
        keep(Filter {
            organisation: Some("hypermarket-a".into()),
            ..Filter::default()
        }),
        Vec::<&str>::new()
    );
    assert_eq!(
        keep(Filter {
            rule: Some("weaker-than-upstream".into()),
            severity: Some(Severity::Error),
            ..Filter::default()
        }),
        ["weaker-than-upstream"]
    );
    assert_eq!(
        keep(Filter {
            severity: Some(Severity::Error),
            ..Filter::default()
        })
        .len(),
        5
    );
}

#[test]
fn the_rules_document_is_generated_from_the_catalogue() {
    let text = rules::markdown();
    for rule in rules::ALL {
        assert!(text.contains(&format!("## {}\n", rule.id)));
        assert!(!rule.sources.is_empty(), "{} cites nothing", rule.id);
    }
    let committed = include_str!("../../../../docs/rules.md");
    assert_eq!(
        committed, text,
        "docs/rules.md is stale: run `custos check --list-rules --format markdown > docs/rules.md`"
    );
}

/// A link that ended is judged on its last day against the contract as it read that day:
/// courier 2 rewriting its sub-contract after the loss does not clear what the contract of the
/// time lacked. A link in force is judged against the text in force now.
#[test]
fn a_link_is_judged_against_the_contract_version_in_force_on_its_day() {
    use custos_core::history::{ContractHistory, EarlierVersion};
    let ended = manifest::examples::COURIER_CHAIN.replace(
        "    contract: contract-c2-c3\n    since: 2023-12-01",
        "    contract: contract-c2-c3\n    since: 2023-12-01\n    until: 2024-03-02",
    );
    let weak = example(&ended);
    let old = weak
        .contracts()
        .iter()
        .find(|c| c.id.as_str() == "contract-c2-c3")
        .unwrap()
        .clone();
    // The sub-contract as rewritten in 2025: it names the bank and flows everything down.
    let fixed = ended.replace(
        "    identifies_controller: false\n    clauses: [instructions, confidentiality]\n    security: [tracking]",
        "    identifies_controller: true\n    clauses: [instructions, confidentiality, security, subprocessing, data-subject-assistance,\n              compliance-assistance, deletion-or-return, audits]\n    security: [sealed-transport, tracking, staff-vetting, signature-on-delivery]",
    );
    let register = example(&fixed);
    let history = ContractHistory::new([EarlierVersion {
        contract: old,
        until: date("2025-06-30"),
    }]);
    let judged = |history: &ContractHistory| {
        let mut ids = rule_ids(
            &custos_core::checks::check_with(&register, date("2026-11-25"), &[], history)
                .unwrap()
                .findings,
        );
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        judged(&history),
        [
            "controller-not-identified",
            "unauthorised-subprocessor",
            "weaker-than-upstream"
        ],
        "judged on 2024-03-02, when the weak text was in force"
    );
    assert_eq!(
        judged(&ContractHistory::default()),
        ["unauthorised-subprocessor"],
        "without the history, the rewritten text would hide what was wrong then"
    );
    // The same link still in force is judged today, on the rewritten text.
    let current = example(&fixed.replace("\n    until: 2024-03-02", ""));
    let mut ids = rule_ids(
        &custos_core::checks::check_with(&current, date("2026-11-25"), &[], &history)
            .unwrap()
            .findings,
    );
    ids.sort_unstable();
    assert_eq!(ids, ["unauthorised-subprocessor"]);
}

#[test]
fn contract_versions_are_numbered_with_the_days_each_was_in_force() {
    use custos_core::history::{ContractHistory, EarlierVersion};
    let register = example(manifest::examples::COURIER_CHAIN);
    let current = register
        .contracts()
        .iter()
        .find(|c| c.id.as_str() == "dpa-bank-c1")
        .unwrap();
    let mut first = current.clone();
    first.reference = Some("first".to_owned());
    let mut same_day = current.clone();
    same_day.reference = Some("replaced the same day".to_owned());
    let mut second = current.clone();
    second.reference = Some("second".to_owned());
    let history = ContractHistory::new([
        EarlierVersion {
            contract: second.clone(),
            until: date("2025-05-31"),
        },
        EarlierVersion {
            contract: first.clone(),
            until: date("2024-12-31"),
        },
        EarlierVersion {
            contract: same_day,
            until: date("2025-05-31"),
        },
    ]);
    let versions = history.versions(Some(current), &current.id);
    let summary: Vec<_> = versions
        .iter()
        .map(|v| {
            (
                v.number,
                v.from.map(|d| d.to_string()),
                v.until.map(|d| d.to_string()),
                v.contract.reference.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, None, Some("2024-12-31".into()), Some("first".into())),
            (
                2,
                Some("2025-01-01".into()),
                Some("2025-05-31".into()),
                Some("replaced the same day".into())
            ),
            (3, Some("2025-06-01".into()), None, None),
        ]
    );
    assert_eq!(
        history.on(current, date("2024-06-01")).reference.as_deref(),
        Some("first")
    );
    assert_eq!(
        history.on(current, date("2025-05-31")).reference.as_deref(),
        Some("replaced the same day")
    );
    assert_eq!(history.on(current, date("2025-06-01")).reference, None);
}

const ALL_CLAUSES: &str = "[instructions, confidentiality, security, subprocessing, data-subject-assistance, compliance-assistance, deletion-or-return, audits]";
const NO_AUDITS: &str = "[instructions, confidentiality, security, subprocessing, data-subject-assistance, compliance-assistance, deletion-or-return]";

fn flow_down_chain(dpa2_terms: &str, dpa3_clauses: &str) -> Register {
    register(&format!(
        "version: 1
organisations:
  - {{id: ctrl, name: Controller, country: DE}}
  - {{id: p1, name: P1, country: DE}}
  - {{id: p2, name: P2, country: DE}}
  - {{id: p3, name: P3, country: DE}}
activities: [{{id: act, controller: ctrl, lawful_basis: contract, retention: P1Y}}]
contracts:
  - {{id: dpa-1, between: [ctrl, p1], breach_notice_hours: 24, clauses: {ALL_CLAUSES}, security: [encryption],
     subprocessing: {{authorisation: specific, decision_days: 14, notice_channel: email, preauthorised: [p2, p3]}}}}
  - {{id: dpa-2, between: [p1, p2], identifies_controller: true, breach_notice_hours: 24, clauses: {NO_AUDITS}, security: [encryption],
     subprocessing: {dpa2_terms}}}
  - {{id: dpa-3, between: [p2, p3], identifies_controller: true, breach_notice_hours: 24, clauses: {dpa3_clauses}, security: [encryption]}}
engagements:
  - {{id: l1, activity: act, engaged_by: ctrl, processor: p1, service: s, since: 2025-01-01, contract: dpa-1}}
  - {{id: l2, activity: act, engaged_by: p1, processor: p2, service: s, since: 2025-01-01, contract: dpa-2}}
  - {{id: l3, activity: act, engaged_by: p2, processor: p3, service: s, since: 2025-01-01, contract: dpa-3}}
"
    ))
}

/// Art. 28(4): "the same data protection obligations as set out in the contract … between the
/// controller and the processor". A sub-contract is measured against the controller's
/// contract, at any depth: one equally weak as its parent is still a finding, and one that
/// grants a general authorisation where the controller's requires specific is one too.
#[test]
fn flow_down_is_measured_against_the_controllers_contract() {
    let register = flow_down_chain(
        "{authorisation: general, decision_days: 14, notice_channel: email}",
        NO_AUDITS,
    );
    let weaker: Vec<Finding> = findings(&register, "2026-11-28")
        .into_iter()
        .filter(|f| f.rule == "weaker-than-upstream")
        .collect();
    let on: Vec<&str> = weaker.iter().map(|f| f.object.id.as_str()).collect();
    assert_eq!(on, ["dpa-2", "dpa-3"], "{weaker:#?}");
    assert!(
        weaker[0].message.contains("audits (Art. 28(3)(h))"),
        "{}",
        weaker[0].message
    );
    assert!(
        weaker[0].message.contains("the requirement of specific authorisation for sub-processors (it grants a general one) that the controller's contract dpa-1"),
        "{}",
        weaker[0].message
    );
    assert!(
        weaker[1].message.contains(
            "audits (Art. 28(3)(h)) that the controller's contract dpa-1 (ctrl → p1) imposes"
        ),
        "the parent is equally weak, the controller's contract is not: {}",
        weaker[1].message
    );

    // The same chain with every sub-contract as strong as the controller's: no finding.
    let register = flow_down_chain(
        "{authorisation: specific, decision_days: 14, notice_channel: email}",
        ALL_CLAUSES,
    )
    .into_parts();
    let mut parts = register;
    for contract in &mut parts.contracts {
        contract.clauses = custos_core::model::Art28Clause::ALL.into_iter().collect();
    }
    let register = Register::new(parts).unwrap();
    assert!(
        !findings(&register, "2026-11-28")
            .iter()
            .any(|f| f.rule == "weaker-than-upstream"),
        "equal contracts are not weaker"
    );
}

/// Art. 28(2) obliges the processor to inform and let the controller object whatever the
/// contract says: a general authorisation without a channel or period is a drafting gap of the
/// Art. 28(3)(d) terms (a warning), and a deemed approval under it stands.
#[test]
fn a_general_authorisation_without_channel_or_period_is_a_warning_and_its_approvals_stand() {
    let register = register(&format!(
        "version: 1
organisations:
  - {{id: ctrl, name: Controller, country: DE}}
  - {{id: p1, name: P1, country: DE}}
  - {{id: p2, name: P2, country: DE}}
activities: [{{id: act, controller: ctrl, lawful_basis: contract, retention: P1Y}}]
contracts:
  - {{id: dpa-1, between: [ctrl, p1], breach_notice_hours: 24, clauses: {ALL_CLAUSES}, security: [encryption], subprocessing: {{authorisation: general}}}}
  - {{id: dpa-2, between: [p1, p2], identifies_controller: true, breach_notice_hours: 24, clauses: {ALL_CLAUSES}, security: [encryption]}}
engagements:
  - {{id: l1, activity: act, engaged_by: ctrl, processor: p1, service: s, since: 2025-01-01, contract: dpa-1}}
  - {{id: l2, activity: act, engaged_by: p1, processor: p2, service: s, since: 2025-03-01, contract: dpa-2,
     authorisation: {{by: ctrl, decision: deemed-approved, date: 2025-02-20}}}}
"
    ));
    let found = findings(&register, "2026-11-28");
    let blanket = found
        .iter()
        .find(|f| f.rule == "blanket-general-authorisation")
        .expect("the gap is reported");
    assert_eq!(blanket.severity, Severity::Warning);
    assert!(
        blanket.message.contains("Art. 28(3)(d)"),
        "{}",
        blanket.message
    );
    assert!(
        !found.iter().any(|f| f.rule == "unauthorised-subprocessor"),
        "the deemed approval stands: {found:#?}"
    );
}

/// Art. 37(1): a public body (a), and the controller and the processors of large-scale
/// special-category processing (c), must designate a DPO; one recorded clears the finding.
#[test]
fn a_dpo_is_required_of_public_bodies_and_of_large_scale_sensitive_processing() {
    let text = |city_dpo: &str, clinic_dpo: &str| {
        format!(
            "version: 1
organisations:
  - {{id: city, name: City Council, country: ES, kind: public-body{city_dpo}}}
  - {{id: clinic, name: Clinic, country: ES{clinic_dpo}}}
  - {{id: lab, name: Lab, country: ES}}
activities:
  - {{id: permits, controller: city}}
  - {{id: care, controller: clinic, data: [health], large_scale: true}}
engagements:
  - {{id: clinic-lab, activity: care, engaged_by: clinic, processor: lab, service: tests, since: 2025-01-01}}
"
        )
    };
    let missing = |register: &Register| -> Vec<(String, String)> {
        findings(register, "2026-11-28")
            .into_iter()
            .filter(|f| f.rule == "dpo-missing")
            .map(|f| (f.object.id.to_string(), f.message.to_string()))
            .collect()
    };
    let found = missing(&register(&text("", "")));
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["city", "clinic", "lab"], "{found:#?}");
    assert!(found[0].1.contains("public body (Art. 37(1)(a))"));
    assert!(
        found[1]
            .1
            .contains("special categories or criminal data on a large scale (Art. 37(1)(c))")
    );
    assert!(found[2].1.contains("processes for activity care"));
    let dpo = ", dpo: {name: DPO, email: dpo@example.org}";
    let found = missing(&register(&text(dpo, dpo)));
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["lab"], "only the processor is left: {found:#?}");
}
