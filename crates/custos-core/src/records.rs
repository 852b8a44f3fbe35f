//! Records of processing activities (Art. 30): the controller's record (30(1)) with the
//! catalogue of actual recipients of each activity, and the processor's record (30(2)) drawn
//! from the chains in which the organisation is a processor. Both are flat tables, so that the
//! same value becomes a CSV, a spreadsheet with one sheet per section, or a printed document.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::Date;
use crate::chain::{Chain, ChainError};
use crate::notice::Party;
use crate::register::Register;
use crate::transfer::{self, Destination, Transfer};
use crate::values::{CountryCode, Slug};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no organisation {0:?} in the register")]
    UnknownOrganisation(String),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Which record: the controller's (Art. 30(1)) or the processor's (Art. 30(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Controller,
    Processor,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Controller => "controller",
            Self::Processor => "processor",
        }
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "controller" => Ok(Self::Controller),
            "processor" => Ok(Self::Processor),
            other => Err(format!(
                "unknown record {other:?}: expected controller or processor"
            )),
        }
    }
}

/// Either record, as asked.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Record {
    Controller(ControllerRecord),
    Processor(ProcessorRecord),
}

/// The record of `organisation` of the `kind` asked, as of `on`.
pub fn record(
    register: &Register,
    organisation: &str,
    kind: RecordKind,
    on: Date,
) -> Result<Record, RecordError> {
    Ok(match kind {
        RecordKind::Controller => {
            Record::Controller(controller_record(register, organisation, on)?)
        }
        RecordKind::Processor => Record::Processor(processor_record(register, organisation, on)?),
    })
}

/// Art. 30(1): the record a controller keeps.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ControllerRecord {
    pub organisation: Party,
    #[schemars(with = "crate::values::IsoDate")]
    pub on: Date,
    /// 30(1)(b)–(g), one row per activity.
    pub activities: Vec<ActivityRow>,
    /// 30(1)(d): the recipients to whom the data have been or will be disclosed: one row per
    /// link of each activity's chain, past, current and planned, each with its dates.
    pub recipients: Vec<RecipientRow>,
    /// 30(1)(e): transfers anywhere in the chains, with their safeguards.
    pub transfers: Vec<TransferRow>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ActivityRow {
    pub id: Slug,
    pub name: String,
    /// `controller` or `joint controller`.
    pub role: &'static str,
    /// The other controllers of a joint activity, each with its contact details, DPO and
    /// representative (30(1)(a)).
    pub joint_controllers: Vec<String>,
    pub joint_arrangement: Option<String>,
    pub purposes: Vec<String>,
    pub lawful_basis: Option<String>,
    pub special_category_condition: Option<String>,
    pub subjects: Vec<String>,
    pub data: Vec<String>,
    /// Data categories the law singles out, with the article (`health (Art. 9(1))`).
    pub special_data: Vec<String>,
    /// 30(1)(d): the categories of recipients.
    pub recipient_categories: Vec<String>,
    /// 30(1)(f), as an ISO 8601 duration.
    pub retention: Option<String>,
    /// 30(1)(g): technical and organisational measures.
    pub measures: Vec<String>,
    /// The DPIA or risk analysis, with its date.
    pub risk_assessment: Option<String>,
}

/// One link of a chain: who receives the data of which activity, from whom, for what.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecipientRow {
    pub activity: Slug,
    pub engagement: Slug,
    pub depth: u32,
    pub recipient: Slug,
    pub name: String,
    pub country: CountryCode,
    pub engaged_by: String,
    pub service: String,
    pub category: String,
    pub locations: Vec<CountryCode>,
    #[schemars(with = "crate::values::IsoDate")]
    pub since: Date,
    #[schemars(with = "Option<crate::values::IsoDate>")]
    pub until: Option<Date>,
    /// `past`, `current` or `planned`, on the record's date.
    pub status: &'static str,
    pub contract: Option<Slug>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TransferRow {
    pub activity: Slug,
    pub engagement: Slug,
    pub depth: u32,
    pub exporter: String,
    pub importer: String,
    /// A country code, or the id of an international organisation.
    pub destination: String,
    /// `adequacy`, `scc`, ... or `none`.
    pub mechanism: String,
    pub basis: Option<String>,
    pub valid: bool,
    pub assessment: String,
}

/// Art. 30(2): the record a processor keeps, for every controller it acts for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProcessorRecord {
    pub organisation: Party,
    #[schemars(with = "crate::values::IsoDate")]
    pub on: Date,
    /// 30(2)(a)(b)(d): one row per engagement of the organisation as processor.
    pub processing: Vec<ProcessingRow>,
    /// 30(2)(c): transfers the organisation makes or receives in those chains.
    pub transfers: Vec<TransferRow>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProcessingRow {
    pub controller: Party,
    pub joint_controllers: Vec<String>,
    pub activity: Slug,
    pub activity_name: String,
    pub engagement: Slug,
    /// The party that engaged the organisation: the controller, or a processor above it.
    pub engaged_by: String,
    /// 30(2)(b): the category of processing carried out for the controller.
    pub service: String,
    pub locations: Vec<CountryCode>,
    #[schemars(with = "crate::values::IsoDate")]
    pub since: Date,
    #[schemars(with = "Option<crate::values::IsoDate>")]
    pub until: Option<Date>,
    /// 30(2)(d): the security measures of the contract under which it processes.
    pub measures: Vec<String>,
}

fn name_of(register: &Register, id: &Slug) -> String {
    register
        .organisation(id.as_str())
        .map_or_else(|| id.to_string(), |o| o.name.clone())
}

/// A party with its contact details, DPO and representative, in one line.
fn party_line(register: &Register, id: &Slug) -> String {
    register
        .organisation(id.as_str())
        .map_or_else(|| id.to_string(), |o| Party::of(o).with_contacts())
}

fn transfer_row(register: &Register, activity: &Slug, found: &Transfer) -> TransferRow {
    TransferRow {
        activity: activity.clone(),
        engagement: found.engagement.clone(),
        depth: found.depth,
        exporter: name_of(register, &found.exporter),
        importer: found.importer_name.clone(),
        destination: match &found.destination {
            Destination::Country(code) => code.to_string(),
            Destination::InternationalOrganisation(id) => id.to_string(),
        },
        mechanism: crate::notice::mechanism_kind(found.relied_on()).to_owned(),
        basis: found.assessment.basis.clone(),
        valid: found.assessment.valid,
        assessment: found.assessment.reason.clone(),
    }
}

fn debug_kebab<T: Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// The record of `organisation` as controller, from the chains as they stand on `on`.
/// An organisation that controls nothing gets an empty record.
pub fn controller_record(
    register: &Register,
    organisation: &str,
    on: Date,
) -> Result<ControllerRecord, RecordError> {
    let party = register
        .organisation(organisation)
        .ok_or_else(|| RecordError::UnknownOrganisation(organisation.to_owned()))?;
    let mut record = ControllerRecord {
        organisation: Party::of(party),
        on,
        activities: Vec::new(),
        recipients: Vec::new(),
        transfers: Vec::new(),
    };
    for activity in register.activities() {
        if !activity
            .accepted_controllers()
            .any(|c| c.as_str() == organisation)
        {
            continue;
        }
        let chain = Chain::derive(register, activity.id.as_str(), Some(on))?;
        let recipients = chain.recipients();
        // Every link ever recorded: recipients that have been or will be given the data.
        let history = Chain::derive(register, activity.id.as_str(), None)?;
        let mut seen: BTreeSet<&Slug> = BTreeSet::new();
        for link in &history.links {
            let engagement = history.engagement(link);
            if !seen.insert(&engagement.id) {
                continue;
            }
            let processor = history.processor(link);
            record.recipients.push(RecipientRow {
                activity: activity.id.clone(),
                engagement: engagement.id.clone(),
                depth: link.depth,
                recipient: processor.id.clone(),
                name: processor.name.clone(),
                country: processor.country,
                engaged_by: name_of(register, &engagement.engaged_by),
                service: engagement.service.to_string(),
                category: engagement.category().to_owned(),
                locations: history.locations(link),
                since: engagement.since,
                until: engagement.until,
                status: if engagement.since > on {
                    "planned"
                } else if engagement.until.is_some_and(|u| u < on) {
                    "past"
                } else {
                    "current"
                },
                contract: engagement.contract.clone(),
            });
        }
        let mut seen_transfers: BTreeSet<(Slug, String)> = BTreeSet::new();
        for found in transfer::transfers(&chain, on) {
            let row = transfer_row(register, &activity.id, &found);
            if seen_transfers.insert((found.engagement.clone(), row.destination.clone())) {
                record.transfers.push(row);
            }
        }
        let others: Vec<String> = activity
            .accepted_controllers()
            .filter(|c| c.as_str() != organisation)
            .map(|c| party_line(register, c))
            .collect();
        record.activities.push(ActivityRow {
            id: activity.id.clone(),
            name: activity
                .name
                .clone()
                .unwrap_or_else(|| activity.id.to_string()),
            role: if activity.controller.as_str() == organisation {
                "controller"
            } else {
                "joint controller"
            },
            joint_controllers: others,
            joint_arrangement: activity.joint_arrangement.clone(),
            purposes: activity.purposes.clone(),
            lawful_basis: activity.lawful_basis.as_ref().and_then(debug_kebab),
            special_category_condition: activity
                .special_category_condition
                .as_ref()
                .and_then(debug_kebab),
            subjects: activity.subjects.iter().map(Slug::to_string).collect(),
            data: activity.data.iter().map(Slug::to_string).collect(),
            special_data: activity
                .special_data()
                .map(|(id, kind)| format!("{id} ({})", kind.article()))
                .collect(),
            recipient_categories: recipients
                .categories
                .iter()
                .map(|c| c.category.to_owned())
                .collect(),
            retention: activity.retention.as_ref().map(|r| r.as_str().to_owned()),
            measures: activity.measures.iter().map(Slug::to_string).collect(),
            risk_assessment: activity.risk_assessment.as_ref().map(|r| {
                let kind = debug_kebab(&r.kind).unwrap_or_default();
                match &r.reference {
                    Some(reference) => format!("{kind} of {} ({reference})", r.date),
                    None => format!("{kind} of {}", r.date),
                }
            }),
        });
    }
    Ok(record)
}

/// The record of `organisation` as processor: every engagement in force on `on` in which it
/// processes for a controller, at any depth. An organisation that processes for nobody gets an
/// empty record.
pub fn processor_record(
    register: &Register,
    organisation: &str,
    on: Date,
) -> Result<ProcessorRecord, RecordError> {
    let party = register
        .organisation(organisation)
        .ok_or_else(|| RecordError::UnknownOrganisation(organisation.to_owned()))?;
    let ix = register
        .organisation_index(organisation)
        .ok_or_else(|| RecordError::UnknownOrganisation(organisation.to_owned()))?;
    let mut record = ProcessorRecord {
        organisation: Party::of(party),
        on,
        processing: Vec::new(),
        transfers: Vec::new(),
    };
    let mut by_activity: BTreeMap<&Slug, Vec<&crate::model::Engagement>> = BTreeMap::new();
    for &link in register.engagements_as_processor(ix) {
        let engagement = register.engagement_at(link);
        let in_force = engagement.since <= on && engagement.until.is_none_or(|u| on <= u);
        if in_force {
            by_activity
                .entry(&engagement.activity)
                .or_default()
                .push(engagement);
        }
    }
    for (activity_id, engagements) in by_activity {
        let Some(activity) = register.activity(activity_id.as_str()) else {
            continue;
        };
        let controller = register
            .organisation(activity.controller.as_str())
            .map(Party::of)
            .ok_or_else(|| RecordError::UnknownOrganisation(activity.controller.to_string()))?;
        for engagement in engagements {
            let measures = engagement
                .contract
                .as_ref()
                .and_then(|c| register.contract(c.as_str()))
                .map(|c| c.security.iter().map(Slug::to_string).collect())
                .unwrap_or_default();
            record.processing.push(ProcessingRow {
                controller: controller.clone(),
                joint_controllers: activity
                    .accepted_controllers()
                    .filter(|c| **c != activity.controller)
                    .map(|c| party_line(register, c))
                    .collect(),
                activity: activity.id.clone(),
                activity_name: activity
                    .name
                    .clone()
                    .unwrap_or_else(|| activity.id.to_string()),
                engagement: engagement.id.clone(),
                engaged_by: name_of(register, &engagement.engaged_by),
                service: engagement.service.to_string(),
                locations: engagement.countries(party.country).collect(),
                since: engagement.since,
                until: engagement.until,
                measures,
            });
        }
        let chain = Chain::derive(register, activity.id.as_str(), Some(on))?;
        // A link reached by several paths is one transfer.
        let mut seen: BTreeSet<(Slug, String)> = BTreeSet::new();
        for found in transfer::transfers(&chain, on) {
            let involved =
                found.exporter.as_str() == organisation || found.importer.as_str() == organisation;
            let row = transfer_row(register, &activity.id, &found);
            if involved && seen.insert((found.engagement.clone(), row.destination.clone())) {
                record.transfers.push(row);
            }
        }
    }
    Ok(record)
}
