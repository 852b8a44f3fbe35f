use custos_core::chain::Chain;
use custos_core::transfer::{Destination, transfers};

use crate::{date, examples, register};

#[test]
fn marketing_transfers_are_the_two_links_to_israel_on_adequacy() {
    let register = examples();
    let today = date("2026-11-24");
    let chain = Chain::derive(&register, "customer-marketing", Some(today)).unwrap();
    let found = transfers(&chain, today);
    let summary: Vec<(&str, u32, bool)> = found
        .iter()
        .map(|t| (t.engagement.as_str(), t.depth, t.assessment.valid))
        .collect();
    assert_eq!(summary, [("b-c", 2, true), ("c-d", 3, true)]);
    for transfer in &found {
        assert_eq!(
            transfer.destination,
            Destination::Country("IL".parse().unwrap())
        );
        assert_eq!(
            transfer.assessment.basis.as_deref(),
            Some("Commission Decision 2011/61/EU")
        );
    }
    assert_eq!(
        found[1].exporter.as_str(),
        "mailer-c",
        "an onward transfer inside Israel is still a transfer"
    );
}

fn us_register(certifications: &str, mechanism: &str) -> custos_core::register::Register {
    register(&format!(
        "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: proc, name: Processor, country: DE}}
  - {{id: cloud-us, name: Cloud US Inc, country: US{certifications}}}
activities: [{{id: act, controller: ctl}}]
engagements:
  - {{id: l1, activity: act, engaged_by: ctl, processor: proc, service: s, since: 2015-01-01}}
  - {{id: l2, activity: act, engaged_by: proc, processor: cloud-us, service: storage, since: 2015-01-01, transfer: {mechanism}}}
"
    ))
}

fn assess(register: &custos_core::register::Register, on: &str) -> (bool, String) {
    let on = date(on);
    let chain = Chain::derive(register, "act", Some(on)).unwrap();
    let found = transfers(&chain, on);
    assert_eq!(found.len(), 1);
    (
        found[0].assessment.valid,
        found[0].assessment.reason.clone(),
    )
}

#[test]
fn us_adequacy_needs_dpf_certification() {
    let uncertified = us_register("", "adequacy");
    let (valid, reason) = assess(&uncertified, "2026-11-24");
    assert!(!valid);
    assert!(reason.contains("eu-us-dpf"), "{reason}");

    let certified = us_register(
        ", certifications: [{scheme: eu-us-dpf, since: 2023-09-01}]",
        "adequacy",
    );
    assert!(assess(&certified, "2026-11-24").0);
    assert!(!assess(&certified, "2023-08-31").0, "not certified yet");
}

#[test]
fn privacy_shield_holds_in_2019_and_falls_on_16_july_2020() {
    let shielded = us_register(
        ", certifications: [{scheme: privacy-shield, since: 2017-01-01}]",
        "adequacy",
    );
    assert!(assess(&shielded, "2019-06-01").0);
    assert!(assess(&shielded, "2020-07-15").0);
    let (valid, reason) = assess(&shielded, "2020-07-16");
    assert!(!valid);
    assert!(reason.contains("C-311/18"), "{reason}");
    assert!(!assess(&shielded, "2024-01-01").0);
}

#[test]
fn scc_module_must_match_the_link() {
    let p2p = us_register("", "{scc: {module: 3}}");
    assert!(assess(&p2p, "2026-11-24").0);
    let (valid, reason) = assess(&us_register("", "{scc: {module: 2}}"), "2026-11-24");
    assert!(!valid);
    assert!(reason.contains("module 3 applies"), "{reason}");
    // Before 2021 there were no processor-to-processor clauses.
    assert!(!assess(&p2p, "2019-01-01").0);
}

#[test]
fn no_mechanism_is_invalid_and_derogations_are_exceptional() {
    let bare = register(
        "version: 1
organisations:
  - {id: ctl, name: Controller, country: DE}
  - {id: india, name: Outsourcer, country: IN}
activities: [{id: act, controller: ctl}]
engagements:
  - {id: l1, activity: act, engaged_by: ctl, processor: india, service: s, since: 2025-01-01}
",
    );
    let (valid, reason) = assess(&bare, "2026-01-01");
    assert!(!valid);
    assert!(reason.contains("no transfer mechanism"), "{reason}");

    let derogation = us_register("", "{derogation: explicit-consent}");
    let on = date("2026-01-01");
    let chain = Chain::derive(&derogation, "act", Some(on)).unwrap();
    let found = transfers(&chain, on);
    assert!(found[0].assessment.valid && found[0].assessment.exceptional);
}

#[test]
fn per_location_mechanisms_and_eea_locations() {
    let register = register(
        "version: 1
organisations:
  - {id: ctl, name: Controller, country: DE}
  - {id: multi, name: Multi-region host, country: IE}
activities: [{id: act, controller: ctl}]
engagements:
  - id: l1
    activity: act
    engaged_by: ctl
    processor: multi
    service: hosting
    since: 2025-01-01
    locations: [IE, NO, {country: IN, transfer: {scc: {module: 2}}}, JP]
    transfer: adequacy
",
    );
    let on = date("2026-01-01");
    let chain = Chain::derive(&register, "act", Some(on)).unwrap();
    let found = transfers(&chain, on);
    let summary: Vec<(String, bool)> = found
        .iter()
        .map(|t| (format!("{:?}", t.destination), t.assessment.valid))
        .collect();
    assert_eq!(
        summary.len(),
        2,
        "IE and NO are inside the EEA: {summary:?}"
    );
    assert!(found.iter().all(|t| t.assessment.valid), "{found:#?}");
}

#[test]
fn the_uk_was_in_the_eea_until_2021_and_adequate_after() {
    let register = register(
        "version: 1
organisations:
  - {id: ctl, name: Controller, country: DE}
  - {id: london, name: London Ltd, country: GB}
activities: [{id: act, controller: ctl}]
engagements:
  - {id: l1, activity: act, engaged_by: ctl, processor: london, service: s, since: 2019-01-01, transfer: adequacy}
",
    );
    let chain = Chain::derive(&register, "act", Some(date("2020-06-01"))).unwrap();
    assert!(transfers(&chain, date("2020-06-01")).is_empty());
    // EU–UK Trade and Cooperation Agreement, Art. FINPROV.10A: from 1 Jan to 27 Jun 2021 the UK
    // was not a third country for transfers (the bridge), then the adequacy decision of 28 Jun.
    let (valid, reason) = assess(&register, "2021-03-01");
    assert!(valid, "{reason}");
    assert!(
        reason.contains("FINPROV.10A") && reason.contains("not a transfer"),
        "{reason}"
    );
    let (valid, reason) = assess(&register, "2021-06-28");
    assert!(valid && reason.contains("adequacy decision"), "{reason}");
    assert!(assess(&register, "2021-07-01").0);
    assert!(assess(&register, "2026-11-24").0);
}

#[test]
fn international_organisations_are_transfers_wherever_their_seat() {
    let register = register(
        "version: 1
organisations:
  - {id: ctl, name: Controller, country: DE}
  - {id: epo, name: European Patent Organisation, country: DE, kind: international-organisation,
     international_organisation: european-patent-organisation}
activities: [{id: act, controller: ctl}]
engagements:
  - {id: l1, activity: act, engaged_by: ctl, processor: epo, service: s, since: 2025-01-01, transfer: adequacy}
",
    );
    assert!(!assess(&register, "2025-07-14").0);
    assert!(assess(&register, "2025-07-15").0);
}

/// Every transfer of an activity on `on`: (engagement, destination code, valid, reason).
fn judged(
    register: &custos_core::register::Register,
    on: &str,
) -> Vec<(String, String, bool, String)> {
    let on = date(on);
    let chain = Chain::derive(register, "act", Some(on)).unwrap();
    transfers(&chain, on)
        .into_iter()
        .map(|t| {
            let code = match &t.destination {
                Destination::Country(code) => code.to_string(),
                Destination::InternationalOrganisation(key) => key.to_string(),
            };
            (
                t.engagement.to_string(),
                code,
                t.assessment.valid,
                t.assessment.reason,
            )
        })
        .collect()
}

/// EDPB Guidelines 05/2021 (interplay of Art. 3 and Chapter V): a processor established in a
/// third country is an importer, even when every location it lists is in the EEA.
#[test]
fn an_importer_established_outside_the_eea_receives_a_transfer_wherever_it_processes() {
    let text = |transfer: &str| {
        format!(
            "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: cloud, name: Cloud Inc, country: IN}}
activities: [{{id: act, controller: ctl}}]
engagements:
  - {{id: l1, activity: act, engaged_by: ctl, processor: cloud, service: s, since: 2025-01-01, locations: [DE, FR]{transfer}}}
"
        )
    };
    let found = judged(&register(&text("")), "2026-11-28");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].1.as_str(), found[0].2), ("IN", false));
    assert!(found[0].3.contains("no transfer mechanism"), "{found:?}");
    let found = judged(
        &register(&text(", transfer: {scc: {module: 2}}")),
        "2026-11-28",
    );
    assert_eq!((found.len(), found[0].2), (1, true), "{found:?}");
}

/// Art. 355 TFEU: Réunion, Åland and Mayotte (from 2014) are EU territory; Gibraltar left on
/// 31 December 2020 with the United Kingdom.
#[test]
fn outermost_regions_are_inside_and_gibraltar_left_with_the_uk() {
    let text = |country: &str| {
        format!(
            "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: p, name: Processor, country: {country}}}
activities: [{{id: act, controller: ctl}}]
engagements:
  - {{id: l1, activity: act, engaged_by: ctl, processor: p, service: s, since: 2010-01-01}}
"
        )
    };
    for country in ["RE", "AX", "GF", "GP", "MF", "MQ"] {
        assert!(
            judged(&register(&text(country)), "2026-11-28").is_empty(),
            "{country}"
        );
    }
    let mayotte = register(&text("YT"));
    assert_eq!(judged(&mayotte, "2013-12-31").len(), 1);
    assert!(judged(&mayotte, "2014-01-01").is_empty());
    let gibraltar = register(&text("GI"));
    assert!(judged(&gibraltar, "2020-12-31").is_empty());
    assert_eq!(judged(&gibraltar, "2021-01-01").len(), 1);
}

fn onward_register(top: &str, certifications: &str) -> custos_core::register::Register {
    register(&format!(
        "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: cloud, name: Cloud Inc, country: US{certifications}}}
  - {{id: storage, name: Storage Inc, country: US}}
  - {{id: support, name: Support Pvt, country: IN}}
  - {{id: eu-proc, name: EU Processor, country: FR}}
  - {{id: eu-sub, name: Their US host, country: US}}
activities: [{{id: act, controller: ctl}}]
engagements:
  - {{id: ctl-cloud, activity: act, engaged_by: ctl, processor: cloud, service: s, since: 2023-09-01, transfer: {top}}}
  - {{id: cloud-storage, activity: act, engaged_by: cloud, processor: storage, service: s, since: 2023-09-01}}
  - {{id: storage-support, activity: act, engaged_by: storage, processor: support, service: s, since: 2023-09-01}}
  - {{id: ctl-eu, activity: act, engaged_by: ctl, processor: eu-proc, service: s, since: 2023-09-01}}
  - {{id: eu-host, activity: act, engaged_by: eu-proc, processor: eu-sub, service: s, since: 2023-09-01}}
"
    ))
}

/// 2021 SCCs (Decision 2021/914), Clauses 8.8 and 9: the importer binds its sub-processors by a
/// contract with the same obligations, so their links are onward transfers under the parent's
/// clauses, valid when those are; at any depth below. An exporter in the EEA still needs its own
/// mechanism.
#[test]
fn onward_transfers_ride_on_the_parents_sccs_at_any_depth() {
    let covered = onward_register("{scc: {module: 2}}", "");
    let found = judged(&covered, "2026-11-28");
    let verdict = |id: &str| {
        found
            .iter()
            .find(|t| t.0 == id)
            .unwrap_or_else(|| panic!("{id}: {found:?}"))
            .clone()
    };
    assert!(verdict("ctl-cloud").2);
    for onward in ["cloud-storage", "storage-support"] {
        let (_, _, valid, reason) = verdict(onward);
        assert!(valid, "{reason}");
        assert!(
            reason.contains(
                "onward transfer under the SCCs (module 2) of link ctl-cloud, valid on 2026-11-28"
            ),
            "{reason}"
        );
    }
    let (_, _, valid, reason) = verdict("eu-host");
    assert!(
        !valid && reason.contains("no transfer mechanism"),
        "an exporter in the EEA: {reason}"
    );

    // The parent's clauses are of the wrong module: nothing below holds either, and says why.
    let broken = onward_register("{scc: {module: 3}}", "");
    let found = judged(&broken, "2026-11-28");
    let below = found.iter().find(|t| t.0 == "storage-support").unwrap();
    assert!(!below.2);
    assert!(
        below
            .3
            .contains("which does not hold on 2026-11-28: SCC module 3 is recorded"),
        "{below:?}"
    );

    // BCR do not reach a sub-processor outside the group: it needs its own mechanism.
    let bcr = onward_register(
        "bcr",
        ", safeguards: [{kind: bcr, name: Cloud group BCR-P}]",
    );
    let found = judged(&bcr, "2026-11-28");
    assert!(found.iter().find(|t| t.0 == "ctl-cloud").unwrap().2);
    let below = found.iter().find(|t| t.0 == "cloud-storage").unwrap();
    assert!(
        !below.2 && below.3.contains("no transfer mechanism"),
        "{below:?}"
    );
}

/// The DPF's onward-transfer principle: below a certified importer, a sub-processor bound by
/// contract is covered while the importer's certification holds.
#[test]
fn onward_transfers_below_a_dpf_importer_hold_while_it_is_certified() {
    let certified = onward_register(
        "adequacy",
        ", certifications: [{scheme: eu-us-dpf, since: 2023-09-01, until: 2026-06-30}]",
    );
    let found = judged(&certified, "2026-01-01");
    let below = found.iter().find(|t| t.0 == "cloud-storage").unwrap();
    assert!(
        below.2 && below.3.contains("eu-us-dpf certification"),
        "{below:?}"
    );
    let found = judged(&certified, "2026-11-28");
    let below = found.iter().find(|t| t.0 == "cloud-storage").unwrap();
    assert!(
        !below.2 && below.3.contains("held no such certification on 2026-11-28"),
        "{below:?}"
    );
}

fn old_scc_register(signed: &str, since: &str) -> custos_core::register::Register {
    register(&format!(
        "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: india, name: Outsourcer, country: IN}}
activities: [{{id: act, controller: ctl}}]
contracts:
  - {{id: dpa, between: [ctl, india]{signed}}}
engagements:
  - {{id: l1, activity: act, engaged_by: ctl, processor: india, service: s, since: {since}, contract: dpa,
     transfer: {{scc: {{module: 2, set: scc-2010-c2p}}}}}}
"
    ))
}

/// Decision 2021/914, Art. 4(4): contracts concluded on the repealed sets before 27 September
/// 2021 held until 27 December 2022; one concluded on or after that day held on no day.
#[test]
fn old_sccs_hold_for_contracts_concluded_before_27_september_2021_until_27_december_2022() {
    let early = old_scc_register(", signed: 2019-05-01", "2019-06-01");
    assert!(judged(&early, "2022-12-26")[0].2);
    let (_, _, valid, reason) = judged(&early, "2022-12-27").remove(0);
    assert!(!valid, "{reason}");

    let late = old_scc_register(", signed: 2021-10-01", "2021-10-01");
    let (_, _, valid, reason) = judged(&late, "2021-11-01").remove(0);
    assert!(!valid);
    assert!(
        reason.contains("holds on no day") && reason.contains("2021-10-01"),
        "{reason}"
    );

    // No signed date: assumed concluded by the link's first day, and said so.
    let undated = old_scc_register("", "2020-03-01");
    let (_, _, valid, reason) = judged(&undated, "2022-01-01").remove(0);
    assert!(valid);
    assert!(
        reason.contains(
            "records no signed date: assumed concluded by the link's first day, 2020-03-01"
        ),
        "{reason}"
    );
}

fn held_register(mechanism: &str, organisation: &str) -> custos_core::register::Register {
    register(&format!(
        "version: 1
organisations:
  - {{id: ctl, name: Controller, country: DE}}
  - {{id: imp, name: Importer, country: KR{organisation}}}
activities: [{{id: act, controller: ctl}}]
engagements:
  - {{id: l1, activity: act, engaged_by: ctl, processor: imp, service: s, since: 2024-01-01, transfer: {mechanism}}}
"
    ))
}

/// Art. 46(2)(b), (e), (f): BCR, a code of conduct or a certification is a safeguard only while
/// the importer (or its group) holds it; Art. 49(1) second subparagraph is a derogation too;
/// Decision 2022/254, Art. 1(2): Korea's decision leaves out credit information at entities the
/// Financial Services Commission supervises.
#[test]
fn safeguards_hold_only_while_the_importer_holds_them_and_partial_decisions_keep_their_scope() {
    let (_, _, valid, reason) = judged(&held_register("bcr", ""), "2026-11-28").remove(0);
    assert!(
        !valid && reason.contains("imp held none on 2026-11-28"),
        "{reason}"
    );
    let dated = ", safeguards: [{kind: bcr, name: Importer group BCR-P, since: 2024-01-01, until: 2025-12-31}]";
    assert!(judged(&held_register("bcr", dated), "2025-06-01")[0].2);
    assert!(!judged(&held_register("bcr", dated), "2026-01-01")[0].2);
    let code = ", safeguards: [{kind: code-of-conduct, name: Cloud code, since: 2024-01-01}]";
    assert!(
        !judged(&held_register("certification", code), "2026-11-28")[0].2,
        "a code is not a certification"
    );
    assert!(judged(&held_register("code-of-conduct", code), "2026-11-28")[0].2);

    let on = date("2026-11-28");
    let compelling = held_register("{derogation: compelling-legitimate-interests}", "");
    let chain = Chain::derive(&compelling, "act", Some(on)).unwrap();
    let found = transfers(&chain, on);
    assert!(found[0].assessment.exceptional);
    assert_eq!(
        found[0].assessment.basis.as_deref(),
        Some("GDPR Art. 49(1), second subparagraph")
    );

    assert!(judged(&held_register("adequacy", ""), "2026-11-28")[0].2);
    let (_, _, valid, reason) = judged(
        &held_register("adequacy", ", sector: financial-services"),
        "2026-11-28",
    )
    .remove(0);
    assert!(
        !valid && reason.contains("Financial Services Commission"),
        "{reason}"
    );
}

/// The checks follow the same reading: an onward transfer under valid SCCs is no finding, one
/// under failing SCCs is `transfer-mechanism-invalid` with the parent's reason, and an EEA
/// exporter's US sub-processor without a mechanism is `transfer-no-mechanism`.
#[test]
fn the_checks_report_onward_transfers_by_their_parent() {
    let findings_for =
        |register: &custos_core::register::Register, engagement: &str| -> Vec<&'static str> {
            custos_core::checks::check(register, date("2026-11-28"))
                .unwrap()
                .findings
                .into_iter()
                .filter(|f| f.rule.starts_with("transfer-") && f.message.contains(engagement))
                .map(|f| f.rule)
                .collect()
        };
    let covered = onward_register("{scc: {module: 2}}", "");
    let onward_findings = custos_core::checks::check(&covered, date("2026-11-28"))
        .unwrap()
        .findings
        .into_iter()
        .filter(|f| f.rule.starts_with("transfer-"))
        .map(|f| (f.rule, f.message))
        .collect::<Vec<_>>();
    assert_eq!(
        onward_findings.len(),
        1,
        "only eu-proc's host: {onward_findings:?}"
    );
    assert_eq!(onward_findings[0].0, "transfer-no-mechanism");
    assert!(
        onward_findings[0].1.starts_with("eu-proc → eu-sub"),
        "{onward_findings:?}"
    );
    let broken = onward_register("{scc: {module: 3}}", "");
    assert_eq!(
        findings_for(&broken, "storage → support"),
        ["transfer-mechanism-invalid"]
    );
}

/// The engagement form's choice of mechanisms: only what would hold for this importer and
/// link, the SCC module of the link, derogations flagged exceptional; codes round-trip.
#[test]
fn the_mechanisms_offered_are_those_that_would_hold() {
    use custos_core::refdata::ReferenceData;
    use custos_core::transfer::{Parties, mechanism_code, mechanism_options, parse_mechanism_code};
    let reference = ReferenceData::builtin();
    let on = date("2026-11-25");
    let us = Destination::Country("US".parse().unwrap());
    let offered = |certifications: &str, exporter_is_controller: bool| -> Vec<String> {
        let register = us_register(certifications, "adequacy");
        let importer = register.organisation("cloud-us").unwrap();
        let parties = Parties {
            importer,
            exporter_is_controller,
            contract_signed: None,
            since: date("2026-01-01"),
        };
        mechanism_options(reference, &us, &parties, on)
            .iter()
            .map(|(m, a)| {
                format!(
                    "{}{}",
                    mechanism_code(m),
                    if a.exceptional { "!" } else { "" }
                )
            })
            .collect()
    };
    let plain = offered("", true);
    assert_eq!(plain[0], "scc-2", "{plain:?}");
    assert!(
        !plain.contains(&"adequacy".to_owned()),
        "no decision covers an uncertified US importer"
    );
    assert!(
        !plain.iter().any(|m| m == "bcr" || m == "scc-3"),
        "{plain:?}"
    );
    assert!(
        plain.contains(&"derogation:explicit-consent!".to_owned()),
        "{plain:?}"
    );
    let certified = offered(
        ", certifications: [{scheme: eu-us-dpf, since: 2024-01-01}]",
        false,
    );
    assert_eq!(&certified[..2], ["adequacy", "scc-3"], "{certified:?}");
    for (mechanism, _) in mechanism_options(
        reference,
        &us,
        &Parties {
            importer: us_register("", "adequacy")
                .organisation("cloud-us")
                .unwrap(),
            exporter_is_controller: true,
            contract_signed: None,
            since: on,
        },
        on,
    ) {
        assert_eq!(
            parse_mechanism_code(&mechanism_code(&mechanism)),
            Some(mechanism)
        );
    }
    assert_eq!(parse_mechanism_code("scc-9"), None);
    assert_eq!(parse_mechanism_code("derogation:"), None);
}
