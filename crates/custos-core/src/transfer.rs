//! Transfers outside the EEA (Chapter V), wherever they sit in the chain: a transfer between
//! the 4th and 5th processor belongs in the controller's notice as much as one at depth 1.
//! Each is judged on a date against the reference data.

use serde::Serialize;

use crate::Date;
use crate::chain::Chain;
use crate::model::{Organisation, OrganisationKind, TransferMechanism};
use crate::refdata::{AdequacyDecision, AdequacyScope, ReferenceData};
use crate::values::{CountryCode, Slug};

/// Where the data goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Destination {
    Country(CountryCode),
    /// Any transfer to an international organisation is a transfer, wherever its seat.
    InternationalOrganisation(Slug),
}

/// Whether a mechanism holds on a date, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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
    pub assessed_on: Date,
    pub assessment: Assessment,
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
    let mut destinations: Vec<(Destination, Option<&TransferMechanism>)> = Vec::new();
    if importer.kind == OrganisationKind::InternationalOrganisation {
        let key = importer
            .international_organisation
            .clone()
            .unwrap_or_else(|| importer.id.clone());
        destinations.push((
            Destination::InternationalOrganisation(key),
            engagement.transfer.as_ref(),
        ));
    } else if engagement.locations.is_empty() {
        if !reference.in_eea(importer.country, Some(on)) {
            destinations.push((
                Destination::Country(importer.country),
                engagement.transfer.as_ref(),
            ));
        }
    } else {
        for location in &engagement.locations {
            if !reference.in_eea(location.country(), Some(on)) {
                let mechanism = location.transfer().or(engagement.transfer.as_ref());
                destinations.push((Destination::Country(location.country()), mechanism));
            }
        }
    }
    if destinations.is_empty() {
        return;
    }
    let exporter = register.organisation_at(register.link_parties(link.engagement).0);
    let exporter_is_controller = chain.activity.controllers().any(|c| c == &exporter.id);
    let path: Vec<Slug> = chain.path(index).into_iter().cloned().collect();
    for (destination, mechanism) in destinations {
        let assessment = assess(
            reference,
            &destination,
            mechanism,
            importer,
            exporter_is_controller,
            on,
        );
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
            assessed_on: on,
            assessment,
        });
    }
}

/// Judges one transfer on one day.
pub fn assess(
    reference: &ReferenceData,
    destination: &Destination,
    mechanism: Option<&TransferMechanism>,
    importer: &Organisation,
    exporter_is_controller: bool,
    on: Date,
) -> Assessment {
    let Some(mechanism) = mechanism else {
        return Assessment::invalid(
            "no transfer mechanism is recorded: Chapter V requires an adequacy decision, appropriate safeguards or a derogation",
        );
    };
    match mechanism {
        TransferMechanism::Adequacy => assess_adequacy(reference, destination, importer, on),
        TransferMechanism::Scc(terms) => {
            let expected = if exporter_is_controller { 2 } else { 3 };
            if terms.module != expected {
                let link = if exporter_is_controller {
                    "controller-to-processor"
                } else {
                    "processor-to-processor"
                };
                return Assessment::invalid(format!(
                    "SCC module {} is recorded, but this is a {link} link: module {expected} applies",
                    terms.module
                ));
            }
            let candidates = reference.scc_sets.iter().filter(|set| match &terms.set {
                Some(named) => &set.id == named,
                None => true,
            });
            let mut named_found = false;
            for set in candidates {
                named_found = true;
                if set.valid_on(on) && set.modules.contains(&terms.module) {
                    return Assessment::valid(
                        set.act.clone(),
                        format!(
                            "standard contractual clauses, module {} (Art. 46(2)(c))",
                            terms.module
                        ),
                    );
                }
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
        TransferMechanism::Bcr => Assessment::valid(
            "GDPR Art. 47",
            "binding corporate rules (Art. 46(2)(b)); keep the approval of the group's rules on file",
        ),
        TransferMechanism::CodeOfConduct => Assessment::valid(
            "GDPR Art. 46(2)(e)",
            "approved code of conduct with binding and enforceable commitments of the importer",
        ),
        TransferMechanism::Certification => Assessment::valid(
            "GDPR Art. 46(2)(f)",
            "approved certification mechanism with binding and enforceable commitments of the importer",
        ),
        TransferMechanism::Derogation(ground) => Assessment {
            valid: true,
            basis: Some("GDPR Art. 49(1)".to_owned()),
            reason: format!(
                "derogation ({}): only for occasional transfers, never for systematic ones in a processing chain",
                serde_json::to_value(ground)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            exceptional: true,
        },
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
    let destination_name = match destination {
        Destination::Country(code) => reference.country_name(*code),
        Destination::InternationalOrganisation(key) => key.to_string(),
    };
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
