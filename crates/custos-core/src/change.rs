//! Sub-processor change requests (Art. 28(2), 28(4)): a processor anywhere in a chain wants to
//! add (or replace) a sub-processor; every controller whose data would reach the named
//! candidate decides before it is engaged. This module decides who must be asked, under which
//! mode and window, whether the candidate meets the contracts' selection criteria, and what
//! the decisions add up to. Storing, timing and notifying are the app's.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Date;
use crate::chain::{Chain, ChainError};
use crate::model::{
    AuthorisationMode, Certification, Contact, Incident, Location, Organisation, OrganisationKind,
    SelectionCriterion, TransferMechanism,
};
use crate::refdata::ReferenceData;
use crate::register::Register;
use crate::transfer::{self, Destination};
use crate::values::{CountryCode, Slug};

/// The period to object that Custos gives under a general authorisation whose contract sets
/// none: Art. 28(2) requires a real opportunity to object, and the law names no period; 30
/// days is a common contractual one (the contract's `decision_days` overrides it).
pub const DEFAULT_OBJECTION_DAYS: u32 = 30;

/// A file attached to a dossier, stored by its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    pub name: String,
    /// SHA-256 of the content, lowercase hex: what the store keys it by.
    pub sha256: String,
}

/// Who the candidate is (Art. 28(2): the controller decides on a named candidate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateIdentity {
    /// The organisation's id in the register (it is added on execution when new).
    pub id: Slug,
    pub name: String,
    pub country: CountryCode,
    pub address: String,
    pub contact: Contact,
}

/// What the processor tells the controllers about the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    pub candidate: CandidateIdentity,
    /// The processing the candidate will do.
    pub processing: String,
    /// Where it will process; its own country when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    /// The transfer mechanism for locations outside the EEA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferMechanism>,
    /// Technical and organisational measures (Art. 32), as the questionnaire reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_measures: Vec<String>,
    /// The questionnaire the processor sent the candidate, answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub questionnaire: Option<AttachmentRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<Certification>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes_of_conduct: Vec<String>,
    /// Past breaches and fines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Incident>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

impl Dossier {
    /// Where the candidate will process.
    pub fn countries(&self) -> Vec<CountryCode> {
        if self.locations.is_empty() {
            vec![self.candidate.country]
        } else {
            self.locations.iter().map(Location::country).collect()
        }
    }

    /// The candidate as an organisation of the register.
    pub fn organisation(&self) -> Organisation {
        Organisation {
            translations: Default::default(),
            id: self.candidate.id.clone(),
            name: self.candidate.name.clone(),
            country: self.candidate.country,
            kind: OrganisationKind::Company,
            international_organisation: None,
            address: Some(self.candidate.address.clone()),
            contact: Some(self.candidate.contact.clone()),
            dpo: None,
            sector: None,
            certifications: self.certifications.clone(),
            codes_of_conduct: self.codes_of_conduct.clone(),
            safeguards: vec![],
            representative: None,
            history: self.history.clone(),
            public_subprocessor_page: false,
            language: None,
            time_zone: None,
            acknowledgements: Vec::new(),
        }
    }
}

/// What a processor asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequestSpec {
    /// The processor that wants the sub-processor.
    pub requester: Slug,
    /// The sub-processor it replaces, if any (its links end when the candidate's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Slug>,
    /// What the candidate will do, as the engagement's service.
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The sub-processing contract between the requester and the candidate, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Slug>,
    pub dossier: Dossier,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("requester: no organisation {0:?} in the register")]
    UnknownRequester(String),
    #[error("requester: {0} is a processor in no chain in force on {1}: nobody is to be asked")]
    NotAProcessor(String, Date),
    #[error("replaces: {replaced} is not a sub-processor engaged by {requester}")]
    NotReplaceable { requester: String, replaced: String },
    #[error("dossier.candidate.id: {0} is the requester itself")]
    CandidateIsRequester(String),
    #[error("contract: {0}")]
    Contract(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// How one criterion of a contract fares against the dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CriterionCheck {
    /// The contract that sets it.
    pub contract: Slug,
    /// The criterion, in words.
    pub criterion: String,
    pub met: bool,
    /// Why not, when not met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A controller the request must reach, with the terms that decide how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Addressee {
    pub controller: Slug,
    /// Specific (an explicit yes is needed) or general (silence until the deadline is a yes).
    pub mode: AuthorisationMode,
    /// Days to decide (specific) or to object (general); none when the contract sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_days: Option<u32>,
    /// Whether asking for more information stops the objection window.
    pub information_pauses: bool,
    /// The activities through which the candidate would receive this controller's data.
    pub activities: Vec<Slug>,
    /// Each path the request travels, from the controller down to the requester.
    pub paths: Vec<Vec<Slug>>,
    /// The contract (the controller's own) that names the candidate as pre-authorised, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preauthorised_by: Option<Slug>,
    /// The selection criteria of every contract on the paths, checked against the dossier.
    pub criteria: Vec<CriterionCheck>,
}

/// Every controller the request must reach on `on`, once each: the activities whose chains
/// pass through the requester, at any depth, grouped by controller (and joint controller).
/// Where the controller's contracts differ between paths, the stricter terms apply: specific
/// over general, the shorter window.
pub fn addressees(
    register: &Register,
    spec: &ChangeRequestSpec,
    on: Date,
) -> Result<Vec<Addressee>, ChangeError> {
    let requester = spec.requester.as_str();
    let requester_ix = register
        .organisation_index(requester)
        .ok_or_else(|| ChangeError::UnknownRequester(requester.to_owned()))?;
    if spec.dossier.candidate.id == spec.requester {
        return Err(ChangeError::CandidateIsRequester(requester.to_owned()));
    }
    validate_links(register, spec, on)?;
    let mut activities: Vec<&Slug> = register
        .engagements_as_processor(requester_ix)
        .iter()
        .map(|&ix| register.engagement_at(ix))
        .filter(|e| e.in_force_on(on))
        .map(|e| &e.activity)
        .collect();
    activities.sort();
    activities.dedup();
    if activities.is_empty() {
        return Err(ChangeError::NotAProcessor(requester.to_owned(), on));
    }
    let candidate = spec.dossier.organisation();
    let countries = spec.dossier.countries();
    let mut by_controller: BTreeMap<Slug, Addressee> = BTreeMap::new();
    for activity_id in activities {
        let chain = Chain::derive(register, activity_id.as_str(), Some(on))?;
        for (index, link) in chain.links.iter().enumerate() {
            if register.link_parties(link.engagement).1 != requester_ix {
                continue;
            }
            // The requester's link and every link above it, bottom up.
            let mut above = vec![index];
            let mut parent = link.parent;
            while let Some(p) = parent {
                above.push(p as usize);
                parent = chain.links[p as usize].parent;
            }
            let top = chain.engagement(&chain.links[*above.last().unwrap_or(&index)]);
            let own_contract = top
                .contract
                .as_ref()
                .and_then(|c| register.contract(c.as_str()));
            let terms = own_contract.and_then(|c| c.subprocessing.as_ref());
            // A general clause without a notice channel or an objection period is still general:
            // Art. 28(2) makes the processor inform and let object whatever the contract says
            // (the gap is the checks' blanket-general-authorisation warning); Custos then gives
            // the controller a default period to object.
            let (mode, days, pauses) = match terms {
                Some(t) if t.authorisation == AuthorisationMode::General => (
                    AuthorisationMode::General,
                    t.decision_days
                        .filter(|d| *d > 0)
                        .or(Some(DEFAULT_OBJECTION_DAYS)),
                    t.information_pauses,
                ),
                Some(t) => (
                    AuthorisationMode::Specific,
                    t.decision_days,
                    t.information_pauses,
                ),
                None => (AuthorisationMode::Specific, None, true),
            };
            let preauthorised = terms
                .filter(|t| t.preauthorised.contains(&spec.dossier.candidate.id))
                .and(own_contract.map(|c| c.id.clone()));
            let mut criteria = Vec::new();
            for &i in &above {
                let engagement = chain.engagement(&chain.links[i]);
                let Some(contract) = engagement
                    .contract
                    .as_ref()
                    .and_then(|c| register.contract(c.as_str()))
                else {
                    continue;
                };
                for criterion in contract
                    .subprocessing
                    .iter()
                    .flat_map(|t| &t.selection_criteria)
                {
                    let problem = criterion_problem(criterion, &candidate, &countries, on);
                    criteria.push(CriterionCheck {
                        contract: contract.id.clone(),
                        criterion: criterion_text(criterion),
                        met: problem.is_none(),
                        problem,
                    });
                }
            }
            let path: Vec<Slug> = chain.path(index).into_iter().cloned().collect();
            for controller in chain.activity.accepted_controllers() {
                let entry = by_controller
                    .entry(controller.clone())
                    .or_insert_with(|| Addressee {
                        controller: controller.clone(),
                        mode,
                        decision_days: days,
                        information_pauses: pauses,
                        activities: Vec::new(),
                        paths: Vec::new(),
                        preauthorised_by: preauthorised.clone(),
                        criteria: Vec::new(),
                    });
                if mode == AuthorisationMode::Specific {
                    entry.mode = AuthorisationMode::Specific;
                }
                entry.decision_days = match (entry.decision_days, days) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                entry.information_pauses &= pauses;
                // Pre-authorised only if every path's own contract says so.
                if preauthorised.is_none() {
                    entry.preauthorised_by = None;
                }
                if !entry.activities.contains(&chain.activity.id) {
                    entry.activities.push(chain.activity.id.clone());
                }
                if !entry.paths.contains(&path) {
                    entry.paths.push(path.clone());
                }
                for check in &criteria {
                    if !entry.criteria.contains(check) {
                        entry.criteria.push(check.clone());
                    }
                }
            }
        }
    }
    Ok(by_controller.into_values().collect())
}

/// The references of the request that must hold in the register.
fn validate_links(
    register: &Register,
    spec: &ChangeRequestSpec,
    on: Date,
) -> Result<(), ChangeError> {
    if let Some(replaced) = &spec.replaces {
        let engaged = register.engagements().iter().any(|e| {
            e.engaged_by == spec.requester && &e.processor == replaced && e.in_force_on(on)
        });
        if !engaged {
            return Err(ChangeError::NotReplaceable {
                requester: spec.requester.to_string(),
                replaced: replaced.to_string(),
            });
        }
    }
    if let Some(id) = &spec.contract {
        let contract = register
            .contract(id.as_str())
            .ok_or_else(|| ChangeError::Contract(format!("no contract {id:?} in the register")))?;
        let parties = [&spec.requester, &spec.dossier.candidate.id];
        if !parties.iter().all(|p| contract.between.contains(p)) {
            return Err(ChangeError::Contract(format!(
                "{id} is not between {} and {}",
                spec.requester, spec.dossier.candidate.id
            )));
        }
    }
    Ok(())
}

/// How an organisation fails a selection criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CriterionFailure {
    /// The countries, among those where it processes, that the criterion does not admit.
    Countries(Vec<CountryCode>),
    /// It does not hold the certification on the day.
    Uncertified,
}

/// Whether `organisation`, processing in `countries`, fails `criterion` on `on`, and how.
/// The one reading of the criteria, for the checks (an engaged link) and for change requests
/// (a candidate's dossier).
pub fn criterion_failure(
    criterion: &SelectionCriterion,
    organisation: &Organisation,
    countries: &[CountryCode],
    on: Date,
) -> Option<CriterionFailure> {
    let reference = ReferenceData::builtin();
    let outside = |c: &&CountryCode| !reference.in_eea(**c, Some(on));
    let failing: Vec<CountryCode> = match criterion {
        SelectionCriterion::EeaOnly => countries.iter().filter(outside).copied().collect(),
        SelectionCriterion::EeaOrAdequate => countries
            .iter()
            .filter(outside)
            .filter(|&&c| {
                !transfer::assess(
                    reference,
                    &Destination::Country(c),
                    Some(&TransferMechanism::Adequacy),
                    &transfer::Parties {
                        importer: organisation,
                        exporter_is_controller: false,
                        contract_signed: None,
                        since: on,
                    },
                    on,
                )
                .valid
            })
            .copied()
            .collect(),
        SelectionCriterion::Certification(scheme) => {
            let held = organisation
                .certifications
                .iter()
                .any(|c| &c.scheme == scheme && c.held_on(on));
            return (!held).then_some(CriterionFailure::Uncertified);
        }
    };
    (!failing.is_empty()).then_some(CriterionFailure::Countries(failing))
}

/// Why the candidate fails `criterion`, if it does, in words.
fn criterion_problem(
    criterion: &SelectionCriterion,
    candidate: &Organisation,
    countries: &[CountryCode],
    on: Date,
) -> Option<String> {
    let reference = ReferenceData::builtin();
    let name = &candidate.name;
    let names = |codes: &[CountryCode]| {
        codes
            .iter()
            .map(|&c| reference.country_name(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(
        match (
            criterion,
            criterion_failure(criterion, candidate, countries, on)?,
        ) {
            (SelectionCriterion::EeaOnly, CriterionFailure::Countries(c)) => {
                format!("{name} would process outside the EEA ({})", names(&c))
            }
            (_, CriterionFailure::Countries(c)) => format!(
                "{name} would process in {}, outside the EEA and without an adequacy decision covering it",
                names(&c)
            ),
            (SelectionCriterion::Certification(scheme), _) => {
                format!("{name} does not hold {scheme}")
            }
            (_, CriterionFailure::Uncertified) => format!("{name} lacks the certification"),
        },
    )
}

/// A criterion in words.
pub fn criterion_text(criterion: &SelectionCriterion) -> String {
    match criterion {
        SelectionCriterion::EeaOnly => "processing inside the EEA".to_owned(),
        SelectionCriterion::EeaOrAdequate => {
            "processing inside the EEA or in countries with an adequacy decision".to_owned()
        }
        SelectionCriterion::Certification(scheme) => format!("certified {scheme}"),
    }
}

/// Where one controller stands on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PartyState {
    /// Waiting for the controller (its window running, under a general authorisation).
    Pending,
    /// More information asked for; the window stops only if the contract says so.
    InformationRequested,
    Approved,
    /// Silence until the end of the objection window (general authorisation).
    DeemedApproved,
    /// An objection binds the processor.
    Objected,
}

impl PartyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InformationRequested => "information-requested",
            Self::Approved => "approved",
            Self::DeemedApproved => "deemed-approved",
            Self::Objected => "objected",
        }
    }

    /// Whether the controller's answer allows the candidate.
    pub fn allows(self) -> bool {
        matches!(self, Self::Approved | Self::DeemedApproved)
    }

    /// Whether the controller may still decide.
    pub fn open(self) -> bool {
        matches!(self, Self::Pending | Self::InformationRequested)
    }
}

impl std::str::FromStr for PartyState {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        [
            Self::Pending,
            Self::InformationRequested,
            Self::Approved,
            Self::DeemedApproved,
            Self::Objected,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| format!("unknown state {raw:?}"))
    }
}

/// What a controller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    Approve,
    Object,
    RequestInformation,
}

impl DecisionKind {
    pub fn state(self) -> PartyState {
        match self {
            Self::Approve => PartyState::Approved,
            Self::Object => PartyState::Objected,
            Self::RequestInformation => PartyState::InformationRequested,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Object => "object",
            Self::RequestInformation => "request-information",
        }
    }
}

impl std::str::FromStr for DecisionKind {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        [Self::Approve, Self::Object, Self::RequestInformation]
            .into_iter()
            .find(|d| d.as_str() == raw)
            .ok_or_else(|| {
                format!("decision is {raw:?}: expected approve, object or request-information")
            })
    }
}

/// Where a request stands, from the states of its controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    /// Some controller has not answered yet.
    Open,
    /// Every controller approved or let the window pass: it may be executed.
    Approved,
    /// A controller objected: the candidate must not be engaged for its data.
    Blocked,
    /// The engagements were created.
    Executed,
    /// The requester gave up.
    Withdrawn,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Blocked => "blocked",
            Self::Executed => "executed",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The status the controllers' states add up to (for a request still in play).
    pub fn of(states: impl IntoIterator<Item = PartyState>) -> Self {
        let mut all_allow = true;
        for state in states {
            if state == PartyState::Objected {
                return Self::Blocked;
            }
            all_allow &= state.allows();
        }
        if all_allow {
            Self::Approved
        } else {
            Self::Open
        }
    }
}

impl std::str::FromStr for RequestStatus {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        [
            Self::Open,
            Self::Approved,
            Self::Blocked,
            Self::Executed,
            Self::Withdrawn,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| format!("unknown status {raw:?}"))
    }
}
