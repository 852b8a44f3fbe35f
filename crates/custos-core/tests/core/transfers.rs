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
    let (valid, _) = assess(&register, "2021-03-01");
    assert!(!valid, "no UK decision between 1 Jan and 28 Jun 2021");
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
