//! Properties of random chains: depth up to 10, hundreds of organisations, processors shared
//! between branches.

use std::collections::{BTreeSet, HashMap};

use custos_core::chain::{Chain, involvement};
use custos_core::manifest;
use custos_core::model::{Activity, Engagement, Location, Organisation, OrganisationKind};
use custos_core::refdata::ReferenceData;
use custos_core::register::{Register, RegisterParts};
use custos_core::transfer::{Destination, transfers};
use custos_core::values::{CountryCode, Slug};
use proptest::prelude::*;

use crate::date;

const ORGS: usize = 240;
const ACTIVITIES: usize = 4;
const MAX_DEPTH: u32 = 10;
const COUNTRIES: [&str; 10] = ["ES", "FR", "DE", "IL", "US", "IN", "NO", "JP", "BR", "CH"];

fn slug(s: String) -> Slug {
    s.parse().unwrap()
}

fn organisation(i: usize) -> Organisation {
    Organisation {
        translations: Default::default(),
        id: slug(format!("o{i}")),
        name: format!("Organisation {i}"),
        country: COUNTRIES[i % COUNTRIES.len()].parse().unwrap(),
        kind: OrganisationKind::Company,
        international_organisation: None,
        address: None,
        contact: None,
        dpo: None,
        sector: None,
        certifications: vec![],
        codes_of_conduct: vec![],
        safeguards: vec![],
        representative: None,
        history: vec![],
        public_subprocessor_page: false,
        language: None,
        time_zone: None,
        acknowledgements: vec![],
    }
}

/// Builds a valid register from random choices: each choice adds one link under a node
/// already in the activity's chain, unless it would exceed the depth, repeat a link or close a
/// cycle.
fn build(choices: &[(u16, u16, u8, u8)]) -> Register {
    let mut parts = RegisterParts {
        organisations: (0..ORGS).map(organisation).collect(),
        ..RegisterParts::default()
    };
    let mut nodes: Vec<Vec<(usize, u32)>> = Vec::new();
    let mut edges: Vec<HashMap<usize, BTreeSet<usize>>> = Vec::new();
    for a in 0..ACTIVITIES {
        parts.activities.push(Activity {
            id: slug(format!("act{a}")),
            name: None,
            controller: slug(format!("o{a}")),
            joint_controllers: vec![],
            joint_arrangement: None,
            joint_acceptances: vec![],
            purposes: vec![],
            lawful_basis: None,
            special_category_condition: None,
            subjects: vec![],
            data: vec![],
            retention: None,
            source: None,
            measures: Default::default(),
            large_scale: false,
            systematic_monitoring: false,
            automated_decisions: None,
            risk_assessment: None,
            acknowledgements: vec![],
        });
        nodes.push(vec![(a, 0)]);
        edges.push(HashMap::new());
    }
    for (n, &(parent_pick, processor_pick, activity_pick, location_pick)) in
        choices.iter().enumerate()
    {
        let a = activity_pick as usize % ACTIVITIES;
        let (parent, depth) = nodes[a][parent_pick as usize % nodes[a].len()];
        let processor = ACTIVITIES + processor_pick as usize % (ORGS - ACTIVITIES);
        if depth >= MAX_DEPTH
            || edges[a]
                .get(&parent)
                .is_some_and(|kids| kids.contains(&processor))
        {
            continue;
        }
        // Adding parent -> processor closes a cycle when processor already reaches parent.
        let mut stack = vec![processor];
        let mut seen = BTreeSet::new();
        let mut cycle = false;
        while let Some(org) = stack.pop() {
            if org == parent {
                cycle = true;
                break;
            }
            if seen.insert(org) {
                stack.extend(edges[a].get(&org).into_iter().flatten());
            }
        }
        if cycle {
            continue;
        }
        edges[a].entry(parent).or_default().insert(processor);
        if !nodes[a].iter().any(|&(o, _)| o == processor) {
            nodes[a].push((processor, depth + 1));
        }
        let locations = match location_pick % 4 {
            0 => vec![Location::Country(
                COUNTRIES[location_pick as usize % COUNTRIES.len()]
                    .parse()
                    .unwrap(),
            )],
            _ => vec![],
        };
        parts.engagements.push(Engagement {
            translations: Default::default(),
            id: slug(format!("e{n}")),
            activity: slug(format!("act{a}")),
            engaged_by: slug(format!("o{parent}")),
            processor: slug(format!("o{processor}")),
            service: "service".into(),
            category: None,
            locations,
            transfer: None,
            contract: None,
            since: date("2025-01-01"),
            until: None,
            authorisation: None,
            acknowledgements: vec![],
        });
    }
    match Register::new(parts) {
        Ok(register) => register,
        Err(problems) => panic!("generated an invalid register: {problems:#?}"),
    }
}

/// Paths from a controller to `org` in the activity's organisation graph, counted without
/// the chain code: the number of links of an engagement engaged by `org` in the unfolded tree.
fn paths_to(
    register: &Register,
    activity: &str,
    org: &str,
    memo: &mut HashMap<String, usize>,
) -> usize {
    if let Some(&n) = memo.get(org) {
        return n;
    }
    let is_controller = register
        .activity(activity)
        .unwrap()
        .controllers()
        .any(|c| c.as_str() == org);
    let n = if is_controller {
        1
    } else {
        register
            .engagements()
            .iter()
            .filter(|e| e.activity.as_str() == activity && e.processor.as_str() == org)
            .map(|e| paths_to(register, activity, e.engaged_by.as_str(), memo))
            .sum()
    };
    memo.insert(org.to_owned(), n);
    n
}

fn choices() -> impl Strategy<Value = Vec<(u16, u16, u8, u8)>> {
    prop::collection::vec(any::<(u16, u16, u8, u8)>(), 1..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn each_processor_appears_once_per_path_and_depth_is_path_length(choices in choices()) {
        let register = build(&choices);
        for activity in register.activities() {
            let chain = Chain::derive(&register, activity.id.as_str(), None).unwrap();
            let mut links_per_engagement: HashMap<&str, usize> = HashMap::new();
            for (index, link) in chain.links.iter().enumerate() {
                let path = chain.path(index);
                prop_assert_eq!(path.len() as u32, link.depth + 1);
                prop_assert!(link.depth >= 1);
                let distinct: BTreeSet<_> = path.iter().collect();
                prop_assert_eq!(distinct.len(), path.len(), "a processor twice on {:?}", path);
                prop_assert_eq!(path[0], &activity.controller);
                *links_per_engagement.entry(chain.engagement(link).id.as_str()).or_default() += 1;
            }
            let mut memo = HashMap::new();
            for engagement in register.engagements().iter().filter(|e| e.activity == activity.id) {
                let expected = paths_to(&register, activity.id.as_str(), engagement.engaged_by.as_str(), &mut memo);
                prop_assert_eq!(links_per_engagement.get(engagement.id.as_str()).copied().unwrap_or(0), expected);
            }
        }
    }

    #[test]
    fn transfers_are_exactly_the_non_eea_links(choices in choices()) {
        let register = build(&choices);
        let on = date("2026-01-01");
        let reference = ReferenceData::builtin();
        for activity in register.activities() {
            let chain = Chain::derive(&register, activity.id.as_str(), Some(on)).unwrap();
            let mut found = BTreeSet::new();
            for transfer in transfers(&chain, on) {
                let link = &chain.links[transfer.link];
                prop_assert_eq!(&chain.engagement(link).id, &transfer.engagement);
                prop_assert_eq!(link.depth, transfer.depth);
                let Destination::Country(code) = transfer.destination else { panic!("no IOs here") };
                prop_assert!(found.insert((transfer.link, code)), "listed twice");
                prop_assert!(!transfer.assessment.valid, "no mechanism recorded");
            }
            let mut expected = BTreeSet::new();
            for (index, link) in chain.links.iter().enumerate() {
                let engagement = chain.engagement(link);
                // The importer's establishment counts whatever its locations (EDPB Guidelines
                // 05/2021), and so does every location.
                let establishment = register.organisation(engagement.processor.as_str()).unwrap().country;
                let countries: Vec<CountryCode> = std::iter::once(establishment)
                    .chain(engagement.locations.iter().map(Location::country))
                    .collect();
                for country in countries {
                    if !reference.country(country).unwrap().in_eea_on(on) {
                        expected.insert((index, country));
                    }
                }
            }
            prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn reverse_lookup_is_the_inverse_of_the_chain(choices in choices()) {
        let register = build(&choices);
        let mut forward: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
        for activity in register.activities() {
            let chain = Chain::derive(&register, activity.id.as_str(), None).unwrap();
            for index in 0..chain.links.len() {
                let path = chain.path(index).iter().map(|s| s.to_string()).collect();
                forward.insert((activity.id.to_string(), path));
            }
        }
        let mut reverse = BTreeSet::new();
        for organisation in register.organisations() {
            for found in involvement(&register, organisation.id.as_str(), None).unwrap() {
                for path in found.paths {
                    prop_assert_eq!(path.last(), Some(&organisation.id));
                    reverse.insert((found.activity.to_string(), path.iter().map(|s| s.to_string()).collect()));
                }
            }
        }
        prop_assert_eq!(forward, reverse);
    }

    #[test]
    fn manifest_round_trip(choices in prop::collection::vec(any::<(u16, u16, u8, u8)>(), 1..120)) {
        let register = build(&choices);
        let yaml = manifest::to_yaml(register.parts());
        let again = manifest::parse_str("round-trip.yaml", &yaml).unwrap();
        prop_assert!(again == register);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random chains have no contracts and no authorisations: every link lacks a contract,
    /// every sub-processor is unauthorised, every link outside the EEA lacks a mechanism, and
    /// each finding sits where its path says.
    #[test]
    fn checks_find_every_gap_of_random_chains_where_the_path_says(choices in choices()) {
        let register = build(&choices);
        let report = custos_core::checks::check(&register, date("2026-01-01")).unwrap();
        let mut no_contract = BTreeSet::new();
        let mut unauthorised = BTreeSet::new();
        for finding in &report.findings {
            let Some(engagement) = &finding.engagement else { continue };
            let link = register.engagement(engagement.as_str()).unwrap();
            let depth = finding.depth.unwrap();
            prop_assert_eq!(finding.path.len() as u32, depth + 1);
            prop_assert_eq!(finding.path.last(), Some(&link.processor));
            prop_assert_eq!(&finding.path[finding.path.len() - 2], &link.engaged_by);
            prop_assert_eq!(finding.activity.as_ref(), Some(&link.activity));
            match finding.rule {
                "no-contract" => { no_contract.insert(engagement.clone()); }
                "unauthorised-subprocessor" => {
                    prop_assert!(depth >= 2);
                    unauthorised.insert(engagement.clone());
                }
                _ => {}
            }
        }
        let all: BTreeSet<Slug> = register.engagements().iter().map(|e| e.id.clone()).collect();
        prop_assert_eq!(no_contract, all);
        let controllers: BTreeSet<&Slug> = register.activities().iter().map(|a| &a.controller).collect();
        let below: BTreeSet<Slug> = register
            .engagements()
            .iter()
            .filter(|e| !controllers.contains(&e.engaged_by))
            .map(|e| e.id.clone())
            .collect();
        prop_assert_eq!(unauthorised, below);
    }
}
