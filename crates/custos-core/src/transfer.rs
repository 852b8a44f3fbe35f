//! Transfers outside the EEA (Chapter V), wherever they sit in the chain: a transfer between
//! the 4th and 5th processor belongs in the controller's notice as much as one at depth 1.
//! Each is judged on a date against the reference data.
//!
//! A link is a transfer when its processor is established outside the EEA, whatever locations
//! it lists, and for each location outside the EEA (EDPB Guidelines 05/2021 on the interplay of
//! Art. 3 and Chapter V: the importer is in a third country). Below an importer bound by SCCs
//! (module 2 or 3) or certified under a framework with an onward-transfer principle (the US
//! DPF), a sub-processing link that records no mechanism of its own is an onward transfer under
//! the parent's safeguard (2021 SCCs, Clauses 8.8 and 9), valid when the parent transfer is.

use serde::Serialize;

use crate::Date;
use crate::chain::Chain;
use crate::model::{
    Art49Ground, Engagement, Location, Organisation, OrganisationKind, SafeguardKind, SccTerms,
    TransferMechanism,
};
use crate::refdata::{AdequacyDecision, AdequacyScope, ReferenceData};
use crate::values::{CountryCode, Slug};

/// Where the data goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Destination {
    Country(CountryCode),
    /// Any transfer to an international organisation is a transfer, wherever its seat.
    InternationalOrganisation(Slug),
}

/// Whether a mechanism holds on a date, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Assessment {
    pub valid: bool,
    /// The legal act relied on, when one applies.
    pub basis: Option<String>,
    /// One sentence a DPO can read: why it is valid or not.
    pub reason: String,
    /// A derogation of Art. 49: valid only for occasional, non-systematic transfers.
    pub exceptional: bool,
}

impl Assessment {
    fn valid(basis: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            valid: true,
            basis: Some(basis.into()),
            reason: reason.into(),
            exceptional: false,
        }
    }

    fn invalid(reason: impl Into<String>) -> Self {
        Self {
            valid: false,
            basis: None,
            reason: reason.into(),
            exceptional: false,
        }
    }
}

/// The safeguard of a link above that an onward transfer relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Onward {
    /// The engagement whose transfer carries the safeguard.
    pub under: Slug,
    /// The safeguard in words: `the SCCs (module 2)`.
    pub mechanism: String,
    /// The mechanism the link above records, which this transfer relies on.
    pub relies_on: TransferMechanism,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Transfer {
    /// Index of the link in [`Chain::links`].
    #[serde(skip)]
    pub link: usize,
    pub engagement: Slug,
    pub depth: u32,
    /// Organisation ids from the controller to the importer.
    pub path: Vec<Slug>,
    pub exporter: Slug,
    pub exporter_country: CountryCode,
    pub importer: Slug,
    pub importer_name: String,
    pub destination: Destination,
    pub mechanism: Option<TransferMechanism>,
    /// Set when the link records no mechanism and rides on a safeguard of a link above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onward: Option<Onward>,
    #[schemars(with = "crate::values::IsoDate")]
    pub assessed_on: Date,
    pub assessment: Assessment,
}

impl Transfer {
    /// The mechanism the transfer rests on: its own, or for an onward transfer the one of the
    /// link above.
    pub fn relied_on(&self) -> Option<&TransferMechanism> {
        self.mechanism
            .as_ref()
            .or(self.onward.as_ref().map(|o| &o.relies_on))
    }
}

/// What a transfer is judged with besides its destination and mechanism.
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    pub importer: &'a Organisation,
    pub exporter_is_controller: bool,
    /// The day the link's contract was concluded (its `signed` date), when recorded.
    pub contract_signed: Option<Date>,
    /// The link's first day: assumed the day of conclusion when the contract has no date.
    pub since: Date,
}

/// Every transfer in `chain`, judged on `on` (the chain's own date when it has one).
pub fn transfers(chain: &Chain<'_>, on: Date) -> Vec<Transfer> {
    let mut found = Vec::new();
    for index in 0..chain.links.len() {
        transfers_of_link(chain, index, on, &mut found);
    }
    found
}

/// The transfers made by one link of `chain` (its index in [`Chain::links`]), judged on `on`,
/// appended to `found`.
pub fn transfers_of_link(chain: &Chain<'_>, index: usize, on: Date, found: &mut Vec<Transfer>) {
    let reference = ReferenceData::builtin();
    let register = chain.register;
    let facts = register.facts();
    let link = &chain.links[index];
    // Most links stay inside the EEA: decide that from the compact facts alone.
    let processor_ix = register.link_parties(link.engagement).1 as usize;
    let plainly_inside = !facts.links[link.engagement as usize].has_locations
        && !facts.org_is_international[processor_ix]
        && reference.in_eea(facts.org_country[processor_ix], Some(on));
    if plainly_inside {
        return;
    }
    let engagement = chain.engagement(link);
    let importer = chain.processor(link);
    let destinations = destinations(reference, engagement, importer, on);
    if destinations.is_empty() {
        return;
    }
    let exporter = register.organisation_at(register.link_parties(link.engagement).0);
    let parties = parties_of(chain, index);
    let path: Vec<Slug> = chain.path(index).into_iter().cloned().collect();
    for (destination, mechanism) in destinations {
        let bridge = match &destination {
            Destination::Country(code) => reference.bridge(*code, on),
            Destination::InternationalOrganisation(_) => None,
        };
        let cover = if bridge.is_none() && mechanism.is_none() {
            onward_cover(chain, index, on)
        } else {
            None
        };
        let assessment = if let Some(bridge) = bridge {
            Assessment::valid(
                bridge.act.clone(),
                format!(
                    "not a transfer to a third country on {on}: {} kept {} inside from {} to {}",
                    bridge.act,
                    destination_name(reference, &destination),
                    bridge.from,
                    bridge.until
                ),
            )
        } else if let Some(cover) = &cover {
            cover.assessment(on)
        } else {
            assess(reference, &destination, mechanism, &parties, on)
        };
        found.push(Transfer {
            link: index,
            engagement: engagement.id.clone(),
            depth: link.depth,
            path: path.clone(),
            exporter: exporter.id.clone(),
            exporter_country: exporter.country,
            importer: importer.id.clone(),
            importer_name: importer.name.clone(),
            destination,
            mechanism: mechanism.cloned(),
            onward: cover.map(|c| c.onward),
            assessed_on: on,
            assessment,
        });
    }
}

/// Where a link sends data outside the EEA, each with the mechanism recorded for it: the
/// importer's establishment when it is outside (whatever the locations), and every location
/// outside. A location's own mechanism wins over the engagement's.
fn destinations<'e>(
    reference: &ReferenceData,
    engagement: &'e Engagement,
    importer: &Organisation,
    on: Date,
) -> Vec<(Destination, Option<&'e TransferMechanism>)> {
    if importer.kind == OrganisationKind::InternationalOrganisation {
        let key = importer
            .international_organisation
            .clone()
            .unwrap_or_else(|| importer.id.clone());
        return vec![(
            Destination::InternationalOrganisation(key),
            engagement.transfer.as_deref(),
        )];
    }
    let mut found: Vec<(Destination, Option<&TransferMechanism>)> = Vec::new();
    let establishment = std::iter::once(importer.country);
    for code in establishment.chain(engagement.locations.iter().map(Location::country)) {
        let destination = Destination::Country(code);
        if !reference.in_eea(code, Some(on)) && !found.iter().any(|(d, _)| *d == destination) {
            found.push((destination, mechanism_of(engagement, code)));
        }
    }
    found
}

fn parties_of<'r>(chain: &Chain<'r>, index: usize) -> Parties<'r> {
    let register = chain.register;
    let link = &chain.links[index];
    let exporter = register.organisation_at(register.link_parties(link.engagement).0);
    Parties {
        importer: chain.processor(link),
        exporter_is_controller: chain.activity.controllers().any(|c| c == &exporter.id),
        contract_signed: register
            .link_contract(link.engagement)
            .and_then(|c| c.signed),
        since: chain.engagement(link).since,
    }
}

/// A link above whose safeguard carries an onward transfer, with that link's own assessment.
struct Cover {
    onward: Onward,
    parent: Assessment,
}

impl Cover {
    fn assessment(&self, on: Date) -> Assessment {
        let Onward {
            under, mechanism, ..
        } = &self.onward;
        if self.parent.valid {
            Assessment {
                valid: true,
                basis: self.parent.basis.clone(),
                reason: format!(
                    "onward transfer under {mechanism} of link {under}, valid on {on}: the importer binds this sub-processor by a contract with the same obligations"
                ),
                exceptional: false,
            }
        } else {
            Assessment::invalid(format!(
                "onward transfer under {mechanism} of link {under}, which does not hold on {on}: {}",
                self.parent.reason
            ))
        }
    }
}

/// The safeguard that covers link `index` as an onward transfer: its exporter is the importer
/// of the link above, established outside the EEA and bound there by SCCs (module 2 or 3) or
/// a certification under a framework with an onward-transfer principle. A link above that
/// records nothing and is itself onward passes its own cover down.
fn onward_cover(chain: &Chain<'_>, index: usize, on: Date) -> Option<Cover> {
    let reference = ReferenceData::builtin();
    let parent_index = chain.links[index].parent? as usize;
    let parent = &chain.links[parent_index];
    let exporter = chain.processor(parent);
    if exporter.kind == OrganisationKind::InternationalOrganisation
        || reference.in_eea(exporter.country, Some(on))
    {
        return None;
    }
    // The exporter is established outside the EEA: the link above transfers into its
    // country, under the mechanism recorded for it there.
    let parent_engagement = chain.engagement(parent);
    let Some(relies_on) = mechanism_of(parent_engagement, exporter.country) else {
        return onward_cover(chain, parent_index, on);
    };
    let mechanism = match relies_on {
        TransferMechanism::Scc(SccTerms { module, .. }) if matches!(module, 2 | 3) => {
            format!("the SCCs (module {module})")
        }
        TransferMechanism::Adequacy => {
            let decision = reference
                .decisions_for_country(exporter.country)
                .find(|d| d.in_force_on(on) && d.scope == AdequacyScope::Certified)?;
            format!(
                "the {} certification (its onward-transfer principle)",
                decision
                    .certification
                    .as_ref()
                    .map_or("framework", Slug::as_str)
            )
        }
        _ => return None,
    };
    let parent_assessment = assess(
        reference,
        &Destination::Country(exporter.country),
        Some(relies_on),
        &parties_of(chain, parent_index),
        on,
    );
    Some(Cover {
        onward: Onward {
            under: parent_engagement.id.clone(),
            mechanism,
            relies_on: relies_on.clone(),
        },
        parent: parent_assessment,
    })
}

/// The mechanism recorded for data sent to `code`: the location's own, or the engagement's.
fn mechanism_of(engagement: &Engagement, code: CountryCode) -> Option<&TransferMechanism> {
    engagement
        .locations
        .iter()
        .find(|l| l.country() == code)
        .and_then(Location::transfer)
        .or(engagement.transfer.as_deref())
}

fn destination_name(reference: &ReferenceData, destination: &Destination) -> String {
    match destination {
        Destination::Country(code) => reference.country_name(*code),
        Destination::InternationalOrganisation(key) => key.to_string(),
    }
}

/// Every derogation ground of Art. 49(1).
const GROUNDS: [Art49Ground; 8] = [
    Art49Ground::ExplicitConsent,
    Art49Ground::ContractWithSubject,
    Art49Ground::ContractInSubjectsInterest,
    Art49Ground::PublicInterest,
    Art49Ground::LegalClaims,
    Art49Ground::VitalInterests,
    Art49Ground::PublicRegister,
    Art49Ground::CompellingLegitimateInterests,
];

/// A mechanism as a form names it: `adequacy`, `scc-2`, `scc-3`, `bcr`, `code-of-conduct`,
/// `certification`, `derogation:explicit-consent`.
pub fn mechanism_code(mechanism: &TransferMechanism) -> String {
    match mechanism {
        TransferMechanism::Adequacy => "adequacy".to_owned(),
        TransferMechanism::Scc(terms) => format!("scc-{}", terms.module),
        TransferMechanism::Bcr => "bcr".to_owned(),
        TransferMechanism::CodeOfConduct => "code-of-conduct".to_owned(),
        TransferMechanism::Certification => "certification".to_owned(),
        TransferMechanism::Derogation(ground) => format!(
            "derogation:{}",
            serde_json::to_value(ground)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    }
}

/// The mechanism a form's code names (see [`mechanism_code`]).
pub fn parse_mechanism_code(code: &str) -> Option<TransferMechanism> {
    Some(match code {
        "adequacy" => TransferMechanism::Adequacy,
        "bcr" => TransferMechanism::Bcr,
        "code-of-conduct" => TransferMechanism::CodeOfConduct,
        "certification" => TransferMechanism::Certification,
        other => {
            if let Some(module) = other.strip_prefix("scc-") {
                TransferMechanism::Scc(SccTerms {
                    module: module.parse().ok().filter(|m| (1..=4).contains(m))?,
                    set: None,
                })
            } else {
                let ground = other.strip_prefix("derogation:")?;
                TransferMechanism::Derogation(
                    *GROUNDS
                        .iter()
                        .find(|g| mechanism_code(&TransferMechanism::Derogation(**g)) == other)
                        .filter(|_| !ground.is_empty())?,
                )
            }
        }
    })
}

/// The mechanisms that would hold for a transfer to `destination` by the importer of
/// `parties` on `on`, each with its assessment: adequacy where a decision covers it, the SCC
/// module of the link, the BCR, code or certification the importer holds, and the
/// derogations (valid, but flagged exceptional: never for a systematic chain).
pub fn mechanism_options(
    reference: &ReferenceData,
    destination: &Destination,
    parties: &Parties<'_>,
    on: Date,
) -> Vec<(TransferMechanism, Assessment)> {
    let module = if parties.exporter_is_controller { 2 } else { 3 };
    [
        TransferMechanism::Adequacy,
        TransferMechanism::Scc(SccTerms { module, set: None }),
        TransferMechanism::Bcr,
        TransferMechanism::CodeOfConduct,
        TransferMechanism::Certification,
    ]
    .into_iter()
    .chain(GROUNDS.into_iter().map(TransferMechanism::Derogation))
    .map(|m| {
        let assessment = assess(reference, destination, Some(&m), parties, on);
        (m, assessment)
    })
    .filter(|(_, assessment)| assessment.valid)
    .collect()
}

/// Judges one transfer on one day.
pub fn assess(
    reference: &ReferenceData,
    destination: &Destination,
    mechanism: Option<&TransferMechanism>,
    parties: &Parties<'_>,
    on: Date,
) -> Assessment {
    let Some(mechanism) = mechanism else {
        return Assessment::invalid(
            "no transfer mechanism is recorded: Chapter V requires an adequacy decision, appropriate safeguards or a derogation",
        );
    };
    let importer = parties.importer;
    match mechanism {
        TransferMechanism::Adequacy => assess_adequacy(reference, destination, importer, on),
        TransferMechanism::Scc(terms) => assess_scc(reference, terms, parties, on),
        TransferMechanism::Bcr => held(
            importer,
            SafeguardKind::Bcr,
            "GDPR Arts 46(2)(b) and 47",
            "binding corporate rules (Art. 46(2)(b))",
            on,
        ),
        TransferMechanism::CodeOfConduct => held(
            importer,
            SafeguardKind::CodeOfConduct,
            "GDPR Art. 46(2)(e)",
            "an approved code of conduct with binding and enforceable commitments (Art. 46(2)(e))",
            on,
        ),
        TransferMechanism::Certification => held(
            importer,
            SafeguardKind::Certification,
            "GDPR Art. 46(2)(f)",
            "an approved certification with binding and enforceable commitments (Art. 46(2)(f))",
            on,
        ),
        TransferMechanism::Derogation(ground) => {
            let (basis, reason) = if *ground == Art49Ground::CompellingLegitimateInterests {
                (
                    "GDPR Art. 49(1), second subparagraph",
                    "compelling legitimate interests: only a non-repetitive transfer of a limited number of subjects, with the supervisory authority and the subjects informed; never for a processing chain".to_owned(),
                )
            } else {
                (
                    "GDPR Art. 49(1)",
                    format!(
                        "derogation ({}): only for occasional transfers, never for systematic ones in a processing chain",
                        serde_json::to_value(ground)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                )
            };
            Assessment {
                valid: true,
                basis: Some(basis.to_owned()),
                reason,
                exceptional: true,
            }
        }
    }
}

/// BCR, a code of conduct or a certification: valid only while the importer holds one.
fn held(
    importer: &Organisation,
    kind: SafeguardKind,
    basis: &str,
    what: &str,
    on: Date,
) -> Assessment {
    match importer
        .safeguards
        .iter()
        .find(|s| s.kind == kind && s.held_on(on))
    {
        Some(safeguard) => Assessment::valid(basis, format!("{what}: {}", safeguard.name)),
        None => Assessment::invalid(format!(
            "{what} is recorded as the mechanism, but {} held none on {on} (record it among the organisation's safeguards, with its dates)",
            importer.id
        )),
    }
}

/// SCCs: the module that fits the link, a set in force that covers it, and for the repealed
/// sets a contract concluded before 27 September 2021 (Decision 2021/914, Art. 4(4)).
fn assess_scc(
    reference: &ReferenceData,
    terms: &SccTerms,
    parties: &Parties<'_>,
    on: Date,
) -> Assessment {
    let expected = if parties.exporter_is_controller { 2 } else { 3 };
    if terms.module != expected {
        let link = if parties.exporter_is_controller {
            "controller-to-processor"
        } else {
            "processor-to-processor"
        };
        return Assessment::invalid(format!(
            "SCC module {} is recorded, but this is a {link} link: module {expected} applies",
            terms.module
        ));
    }
    let concluded = parties.contract_signed.unwrap_or(parties.since);
    let assumed = if parties.contract_signed.is_none() {
        format!(
            " (the contract records no signed date: assumed concluded by the link's first day, {concluded}; record it)"
        )
    } else {
        String::new()
    };
    let candidates = reference.scc_sets.iter().filter(|set| match &terms.set {
        Some(named) => &set.id == named,
        None => true,
    });
    let mut named_found = false;
    let mut too_late = None;
    for set in candidates {
        named_found = true;
        if !(set.valid_on(on) && set.modules.contains(&terms.module)) {
            continue;
        }
        if !set.admits_contract_of(concluded) {
            too_late = Some(set);
            continue;
        }
        let note = if set.concluded_before.is_some() {
            assumed.as_str()
        } else {
            ""
        };
        return Assessment::valid(
            set.act.clone(),
            format!(
                "standard contractual clauses, module {} (Art. 46(2)(c)){note}",
                terms.module
            ),
        );
    }
    if let Some(set) = too_late {
        return Assessment::invalid(format!(
            "{} was repealed on {}: a contract concluded on it on or after that day, as this one on {concluded}{assumed}, holds on no day (Decision 2021/914, Art. 4(4))",
            set.act,
            set.concluded_before
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ));
    }
    match (&terms.set, named_found) {
        (Some(named), false) => Assessment::invalid(format!("unknown SCC set {named}")),
        (Some(named), true) => Assessment::invalid(format!(
            "SCC set {named} could not be relied on for module {} on {on}",
            terms.module
        )),
        (None, _) => Assessment::invalid(format!(
            "no set of standard contractual clauses covered module {} on {on}",
            terms.module
        )),
    }
}

fn assess_adequacy(
    reference: &ReferenceData,
    destination: &Destination,
    importer: &Organisation,
    on: Date,
) -> Assessment {
    let decisions: Vec<&AdequacyDecision> = match destination {
        Destination::Country(code) => reference.decisions_for_country(*code).collect(),
        Destination::InternationalOrganisation(key) => {
            reference.decisions_for_organisation(key).collect()
        }
    };
    let destination_name = destination_name(reference, destination);
    let Some(decision) = decisions.iter().find(|d| d.in_force_on(on)) else {
        let fallen = decisions
            .iter()
            .rfind(|d| d.ended.is_some_and(|end| end <= on));
        return Assessment::invalid(match fallen {
            Some(d) => format!(
                "no adequacy decision for {destination_name} was in force on {on}: {} ended on {}{}",
                d.act,
                d.ended.map(|e| e.to_string()).unwrap_or_default(),
                d.ended_by
                    .as_ref()
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default()
            ),
            None => {
                format!("there is no adequacy decision for {destination_name} in force on {on}")
            }
        });
    };
    if let Some(sector) = importer.sector.as_deref().filter(|sector| {
        decision
            .excluded_sectors
            .iter()
            .any(|excluded| excluded.as_str().eq_ignore_ascii_case(sector.trim()))
    }) {
        return Assessment::invalid(format!(
            "{} does not cover {}, and {} records the sector {sector}",
            decision.act,
            decision.exclusion.as_deref().unwrap_or("that sector"),
            importer.id
        ));
    }
    let in_scope = match decision.scope {
        AdequacyScope::Whole | AdequacyScope::InternationalOrganisation => Ok(()),
        AdequacyScope::Commercial | AdequacyScope::Private => {
            if importer.kind == OrganisationKind::Company {
                Ok(())
            } else {
                Err(format!(
                    "{} covers only {} organisations, and {} is not a company",
                    decision.act,
                    if decision.scope == AdequacyScope::Commercial {
                        "commercial"
                    } else {
                        "private-sector"
                    },
                    importer.id
                ))
            }
        }
        AdequacyScope::Certified => {
            let scheme = decision.certification.as_ref();
            let certified = importer
                .certifications
                .iter()
                .any(|c| Some(&c.scheme) == scheme && c.held_on(on));
            if certified {
                Ok(())
            } else {
                Err(format!(
                    "{} covers only organisations certified under {}, and {} held no such certification on {on}",
                    decision.act,
                    scheme.map(Slug::as_str).unwrap_or("its framework"),
                    importer.id
                ))
            }
        }
    };
    match in_scope {
        Ok(()) => Assessment::valid(
            decision.act.clone(),
            format!("adequacy decision for {destination_name} (Art. 45), in force on {on}"),
        ),
        Err(reason) => Assessment::invalid(reason),
    }
}
