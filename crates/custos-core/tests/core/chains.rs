use custos_core::chain::{Chain, ChainError, involvement};

use crate::{date, errors, examples, register};

#[test]
fn marketing_recipients_name_b_c_d_with_identity_and_service() {
    let register = examples();
    let chain = Chain::derive(&register, "customer-marketing", Some(date("2026-01-01"))).unwrap();
    let recipients = chain.recipients();
    let found: Vec<(&str, &str, u32)> = recipients
        .recipients
        .iter()
        .map(|r| {
            (
                r.organisation.id.as_str(),
                r.organisation.country.as_str(),
                r.depth,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("agency-b", "ES", 1),
            ("mailer-c", "IL", 2),
            ("hosting-d", "IL", 3)
        ]
    );
    let c = &recipients.recipients[1];
    assert_eq!(c.organisation.name, "Mailer C Ltd");
    assert!(
        c.organisation
            .address
            .as_deref()
            .unwrap()
            .contains("Tel Aviv")
    );
    assert_eq!(
        c.organisation.contact.as_ref().unwrap().name.as_deref(),
        Some("Noa Levi")
    );
    assert_eq!(c.services(), ["Sending marketing e-mails"]);
    let categories: Vec<(&str, Vec<&str>)> = recipients
        .categories
        .iter()
        .map(|c| (c.category, c.countries.iter().map(|c| c.as_str()).collect()))
        .collect();
    assert!(
        categories.contains(&("E-mail delivery platform", vec!["IL"])),
        "{categories:?}"
    );
    assert!(
        categories.contains(&("Hosting provider", vec!["IL"])),
        "{categories:?}"
    );
}

#[test]
fn e_joins_the_marketing_chain_at_depth_two_only_from_its_start() {
    let register = examples();
    let before = Chain::derive(&register, "customer-marketing", Some(date("2026-05-31"))).unwrap();
    assert!(
        !before
            .view()
            .links
            .iter()
            .any(|l| l.processor.as_str() == "agency-e")
    );
    let after = Chain::derive(&register, "customer-marketing", Some(date("2026-06-01"))).unwrap();
    let view = after.view();
    let e = view
        .links
        .iter()
        .find(|l| l.processor.as_str() == "agency-e")
        .unwrap();
    assert_eq!(e.depth, 2);
    let path: Vec<&str> = e.path.iter().map(|s| s.as_str()).collect();
    assert_eq!(path, ["hypermarket-a", "agency-b", "agency-e"]);
    assert!(!e.outside_eea);
}

#[test]
fn links_come_depth_first_with_paths_from_the_controller() {
    let register = examples();
    let chain = Chain::derive(&register, "customer-marketing", Some(date("2026-07-01"))).unwrap();
    let view = chain.view();
    let listing: Vec<(u32, &str)> = view
        .links
        .iter()
        .map(|l| (l.depth, l.engagement.as_str()))
        .collect();
    assert_eq!(listing, [(1, "a-b"), (2, "b-c"), (3, "c-d"), (2, "b-e")]);
    let d = &view.links[2];
    let path: Vec<&str> = d.path.iter().map(|s| s.as_str()).collect();
    assert_eq!(path, ["hypermarket-a", "agency-b", "mailer-c", "hosting-d"]);
    assert_eq!(d.path.len() as u32, d.depth + 1);
}

#[test]
fn undated_chain_holds_every_engagement_ever_recorded() {
    let register = examples();
    let chain = Chain::derive(&register, "customer-accounts", None).unwrap();
    assert_eq!(chain.links.len(), 1);
    let today = Chain::derive(&register, "customer-accounts", Some(date("2026-11-24"))).unwrap();
    assert!(today.links.is_empty(), "the migration ended on 2024-07-31");
}

#[test]
fn courier_three_sits_at_depth_three_without_authorisation() {
    let register = examples();
    let view = Chain::derive(&register, "document-delivery", Some(date("2024-01-01")))
        .unwrap()
        .view();
    let c3 = view
        .links
        .iter()
        .find(|l| l.processor.as_str() == "courier-3")
        .unwrap();
    assert_eq!(c3.depth, 3);
    assert!(c3.authorisation.is_none());
}

#[test]
fn involvement_names_every_controller_above() {
    let register = examples();
    let found = involvement(&register, "hosting-d", Some(date("2026-01-01"))).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].controller.as_str(), "hypermarket-a");
    let path: Vec<&str> = found[0].paths[0].iter().map(|s| s.as_str()).collect();
    assert_eq!(path, ["hypermarket-a", "agency-b", "mailer-c", "hosting-d"]);
    assert!(
        involvement(&register, "hypermarket-a", None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        involvement(&register, "nobody", None).unwrap_err(),
        ChainError::UnknownOrganisation("nobody".into())
    );
}

#[test]
fn a_processor_shared_by_two_processors_appears_on_each_path() {
    let register = register(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01"),
        ("l2", "ctl", "p2", "since: 2025-01-01"),
        ("l3", "p1", "p3", "since: 2025-01-01"),
        ("l4", "p2", "p3", "since: 2025-01-01"),
    ]));
    let chain = Chain::derive(&register, "act", None).unwrap();
    let view = chain.view();
    let p3_paths: Vec<String> = view
        .links
        .iter()
        .filter(|l| l.processor.as_str() == "p3")
        .map(|l| {
            l.path
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(">")
        })
        .collect();
    assert_eq!(p3_paths, ["ctl>p1>p3", "ctl>p2>p3"]);
    assert_eq!(
        chain.recipients().recipients.len(),
        3,
        "p3 is one recipient"
    );
}

#[test]
fn a_link_whose_parent_ended_is_detached_on_that_day() {
    let register = register(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01, until: 2025-06-30"),
        ("l2", "p1", "p2", "since: 2025-01-01"),
    ]));
    let chain = Chain::derive(&register, "act", Some(date("2025-07-01"))).unwrap();
    assert!(chain.links.is_empty());
    assert_eq!(
        chain
            .view()
            .detached
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["l2"]
    );
}

/// The organisations of [`ORGS`], one activity `act` controlled by `ctl`, and these links:
/// (id, engaged_by, processor, dates). Links start on line 10.
fn chain_manifest(links: &[(&str, &str, &str, &str)]) -> String {
    let rows: String = links
        .iter()
        .map(|(id, by, processor, dates)| {
            format!("  - {{id: {id}, activity: act, engaged_by: {by}, processor: {processor}, service: s, {dates}}}\n")
        })
        .collect();
    format!("{ORGS}\nactivities: [{{id: act, controller: ctl}}]\nengagements:\n{rows}")
}

const ORGS: &str = "version: 1
organisations:
  - {id: ctl, name: Controller, country: ES}
  - {id: p1, name: P1, country: ES}
  - {id: p2, name: P2, country: FR}
  - {id: p3, name: P3, country: DE}
";

#[test]
fn bad_graphs_are_errors_naming_the_links() {
    let cycle = errors(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01"),
        ("l2", "p1", "p2", "since: 2025-01-01"),
        ("l3", "p2", "p1", "since: 2025-01-01"),
    ]));
    assert_eq!(cycle.len(), 1, "{cycle:?}");
    assert!(
        cycle[0].starts_with("test.yaml:12:5: engagement l3: cycle"),
        "{cycle:?}"
    );
    assert!(cycle[0].contains("ctl → p1 → p2 → p1"), "{cycle:?}");

    let orphan = errors(&chain_manifest(&[("l1", "p2", "p1", "since: 2025-01-01")]));
    assert!(
        orphan[0].contains("engaged_by p2 is not in the chain of activity act"),
        "{orphan:?}"
    );

    let back_to_controller = errors(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01"),
        ("l2", "p1", "ctl", "since: 2025-01-01"),
    ]));
    assert!(
        back_to_controller[0].contains("engagement l2: ctl is a controller"),
        "{back_to_controller:?}"
    );

    let twice = errors(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01"),
        ("l2", "ctl", "p1", "since: 2025-06-01"),
    ]));
    assert!(twice[0].contains("ctl engages p1 twice"), "{twice:?}");

    let disjoint_cycle = errors(&chain_manifest(&[
        ("l0", "ctl", "p3", "since: 2025-01-01"),
        ("l1", "p2", "p1", "since: 2025-01-01"),
        ("l2", "p1", "p2", "since: 2025-01-01"),
    ]));
    assert_eq!(disjoint_cycle.len(), 2, "{disjoint_cycle:?}");
    assert!(
        disjoint_cycle
            .iter()
            .all(|e| e.contains("cannot be reached from the controller"))
    );
}

#[test]
fn sequential_engagements_of_the_same_processor_are_fine() {
    let register = register(&chain_manifest(&[
        ("l1", "ctl", "p1", "since: 2025-01-01, until: 2025-05-31"),
        ("l2", "ctl", "p1", "since: 2025-06-01"),
    ]));
    let chain = Chain::derive(&register, "act", Some(date("2025-06-01"))).unwrap();
    assert_eq!(chain.links.len(), 1);
    assert_eq!(chain.engagement(&chain.links[0]).id.as_str(), "l2");
}
