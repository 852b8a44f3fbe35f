//! Synthetic registers, for the benchmarks of docs/benchmarks.md and for property tests: many
//! organisations, many activities, chains up to a given depth, made deterministically from a
//! seed so that anyone can reproduce the figures.

use std::collections::HashSet;

use crate::Date;
use crate::model::{
    Activity, Art28Clause, Authorisation, AuthorisationMode, Contact, Contract, Decision,
    Engagement, LawfulBasis, Location, NoticeChannel, Organisation, OrganisationKind, SccTerms,
    SubprocessingTerms, TransferMechanism,
};
use crate::register::RegisterParts;
use crate::values::{CountryCode, Slug};

/// The shape of a synthetic register.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub organisations: usize,
    pub engagements: usize,
    pub engagements_per_activity: usize,
    pub max_depth: u32,
    pub seed: u64,
    /// Give every link a complete DPA and every sub-processor the controller's approval (but
    /// one in a hundred, so that the checks have something to find). Without contracts, every
    /// link is a finding.
    pub contracts: bool,
    /// One organisation (`org-0`) controls every activity, as for a large controller's
    /// records; otherwise each activity's controller is drawn at random.
    pub single_controller: bool,
}

impl Shape {
    /// The register of the performance targets: 100k organisations, 1M engagements, chains up
    /// to depth 8.
    pub const TARGET: Shape = Shape {
        organisations: 100_000,
        engagements: 1_000_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 2026,
        contracts: false,
        single_controller: false,
    };

    /// A hundredth of it, for quick runs.
    pub const SMALL: Shape = Shape {
        organisations: 1_000,
        engagements: 10_000,
        engagements_per_activity: 50,
        max_depth: 8,
        seed: 2026,
        contracts: false,
        single_controller: false,
    };
}

/// splitmix64: a few lines, deterministic across platforms and versions, which is all a
/// benchmark generator needs (a `rand` dependency would add nothing here).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const EEA: [&str; 8] = ["DE", "FR", "ES", "IT", "NL", "IE", "PL", "SE"];
const OUTSIDE: [&str; 6] = ["US", "IL", "IN", "JP", "GB", "BR"];

#[allow(clippy::expect_used)] // generated ids are valid by construction
fn slug(s: String) -> Slug {
    s.parse()
        .expect("generated ids are lowercase letters, digits and '-'")
}

#[allow(clippy::expect_used)] // the lists above hold ISO codes
fn country(code: &str) -> CountryCode {
    code.parse()
        .expect("the country lists above hold ISO codes")
}

/// Generates a valid register of the given shape.
pub fn generate(shape: Shape) -> RegisterParts {
    if shape.organisations == 0 {
        return RegisterParts::default();
    }
    let mut rng = Rng(shape.seed);
    let since: Date = Date::constant(2025, 1, 1);
    let organisations: Vec<Organisation> = (0..shape.organisations)
        .map(|i| {
            let outside = rng.below(10) == 0;
            let code = if outside {
                OUTSIDE[rng.below(OUTSIDE.len())]
            } else {
                EEA[rng.below(EEA.len())]
            };
            Organisation {
                translations: Default::default(),
                id: slug(format!("org-{i}")),
                name: format!("Organisation {i} Ltd"),
                country: country(code),
                kind: OrganisationKind::Company,
                international_organisation: None,
                address: Some(format!("{i} Example Street, {code}")),
                contact: Some(Contact {
                    name: Some(format!("Contact {i}")),
                    email: format!("privacy@org-{i}.example").parse().ok(),
                    phone: None,
                }),
                dpo: None,
                sector: Some(
                    ["Hosting", "Marketing", "Payments", "Logistics", "Analytics"][i % 5]
                        .to_owned(),
                ),
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
        })
        .collect();
    let activity_count = shape
        .engagements
        .div_ceil(shape.engagements_per_activity.max(1));
    let mut activities = Vec::with_capacity(activity_count);
    let mut engagements = Vec::with_capacity(shape.engagements);
    let mut contracts = Vec::new();
    for a in 0..activity_count {
        let controller = if shape.single_controller {
            0
        } else {
            rng.below(shape.organisations)
        };
        activities.push(Activity {
            id: slug(format!("activity-{a}")),
            name: Some(format!("Processing activity {a}")),
            controller: organisations[controller].id.clone(),
            joint_controllers: vec![],
            joint_arrangement: None,
            joint_acceptances: vec![],
            purposes: vec!["Provide the service".to_owned()],
            lawful_basis: Some(LawfulBasis::Contract),
            special_category_condition: None,
            subjects: vec![slug("customers".to_owned())],
            data: vec![slug("email".to_owned()), slug("name".to_owned())],
            retention: "P2Y".parse().ok(),
            source: None,
            measures: Default::default(),
            large_scale: false,
            systematic_monitoring: false,
            automated_decisions: None,
            risk_assessment: None,
            acknowledgements: vec![],
        });
        // (organisation, depth) of each node of this activity's tree; organisations are
        // distinct within an activity, so no cycle can form.
        let mut nodes: Vec<(usize, u32)> = vec![(controller, 0)];
        let mut used: HashSet<usize> = HashSet::from([controller]);
        // Processors are distinct within an activity, so at most all other organisations.
        let count = shape
            .engagements_per_activity
            .min(shape.engagements - engagements.len())
            .min(shape.organisations.saturating_sub(1));
        for _ in 0..count {
            let (parent, depth) = loop {
                // Half the time continue the newest branch, so chains reach the full depth.
                let pick = if rng.below(2) == 0 {
                    nodes.len() - 1
                } else {
                    rng.below(nodes.len())
                };
                if nodes[pick].1 < shape.max_depth {
                    break nodes[pick];
                }
            };
            let processor = loop {
                let candidate = rng.below(shape.organisations);
                if used.insert(candidate) {
                    break candidate;
                }
            };
            nodes.push((processor, depth + 1));
            let processor_country = organisations[processor].country;
            let outside = OUTSIDE.contains(&processor_country.as_str());
            let transfer = outside.then(|| {
                if rng.below(3) == 0 {
                    TransferMechanism::Adequacy
                } else {
                    TransferMechanism::Scc(SccTerms {
                        module: if depth == 0 { 2 } else { 3 },
                        set: None,
                    })
                }
            });
            let number = engagements.len();
            let contract = shape.contracts.then(|| {
                contracts.push(complete_contract(
                    slug(format!("dpa-{number}")),
                    organisations[parent].id.clone(),
                    organisations[processor].id.clone(),
                ));
                slug(format!("dpa-{number}"))
            });
            let authorisation =
                (shape.contracts && depth >= 1 && rng.below(100) != 0).then(|| Authorisation {
                    by: organisations[controller].id.clone(),
                    decision: Decision::Approved,
                    date: Date::constant(2024, 12, 1),
                    reference: None,
                });
            engagements.push(Engagement {
                translations: Default::default(),
                id: slug(format!("link-{number}")),
                activity: slug(format!("activity-{a}")),
                engaged_by: organisations[parent].id.clone(),
                processor: organisations[processor].id.clone(),
                service: "Processing on behalf of the engaging party".into(),
                category: None,
                locations: if outside {
                    vec![Location::Country(processor_country)]
                } else {
                    vec![]
                },
                transfer: transfer.map(Box::new),
                contract,
                since,
                until: None,
                authorisation: authorisation.map(Box::new),
                acknowledgements: vec![],
            });
        }
    }
    RegisterParts {
        organisations,
        activities,
        contracts,
        engagements,
    }
}

/// A DPA with every Art. 28(3) clause, concrete security and specific authorisation.
fn complete_contract(id: Slug, engaging: Slug, processor: Slug) -> Contract {
    Contract {
        id,
        between: [engaging, processor],
        identifies_controller: true,
        clauses: Art28Clause::ALL.into_iter().collect(),
        security: [
            "encryption-at-rest",
            "encryption-in-transit",
            "access-logging",
        ]
        .into_iter()
        .map(|m| slug(m.to_owned()))
        .collect(),
        breach_notice_hours: Some(24),
        expires: None,
        renewal: None,
        document: None,
        subprocessing: Some(SubprocessingTerms {
            information_pauses: false,
            authorisation: AuthorisationMode::Specific,
            decision_days: Some(14),
            notice_channel: Some(NoticeChannel::Email),
            selection_criteria: vec![],
            preauthorised: vec![],
            preauthorised_categories: vec![],
        }),
        signed: Some(Date::constant(2024, 12, 15)),
        reference: None,
        acknowledgements: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::register::Register;

    #[test]
    fn generated_registers_are_valid_and_have_the_shape_asked() {
        let shape = Shape {
            organisations: 300,
            engagements: 2_000,
            engagements_per_activity: 40,
            max_depth: 8,
            seed: 7,
            contracts: false,
            single_controller: false,
        };
        let register = Register::new(generate(shape)).unwrap();
        assert_eq!(register.organisations().len(), 300);
        assert_eq!(register.engagements().len(), 2_000);
        assert_eq!(register.activities().len(), 50);
        let deepest = register
            .activities()
            .iter()
            .flat_map(|a| Chain::derive(&register, a.id.as_str(), None).unwrap().links)
            .map(|l| l.depth)
            .max();
        assert_eq!(deepest, Some(8));
        assert!(
            generate(Shape {
                organisations: 0,
                ..shape
            })
            .engagements
            .is_empty()
        );
        assert_eq!(generate(shape), generate(shape), "deterministic");
    }
}
