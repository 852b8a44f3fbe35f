//! The pages of single entries a finding or a chain points to: a link (engagement) with its
//! contract, and a contract with its Art. 28(3) clauses, its versions and the amendments the
//! parties propose to each other. The contract form changes a contract through the same
//! policy as the API: a party's change of a contract whose other party answers for itself
//! becomes a proposal that party accepts or declines here.

use crate::i18n::Translate as _;
use crate::i18n::{tr, tr_count};
use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::contracts::{Answer, status};
use custos_app::entries::{Entry, Expect, Write};
use custos_app::policy::{self, Facts, Represented, Verdict};
use custos_core::model::{
    Acknowledgement, Art28Clause, AuthorisationMode, ClauseSet, Contract, ContractDocument,
    NoticeChannel, SubprocessingTerms,
};
use custos_core::register::Register;
use custos_core::values::{Slug, SortedSet};

use super::{FormCaller, UiError, Viewer, check_csrf, or_dash, page, plain, read_multipart};
use crate::api::changes::store_attachment;
use crate::api::contracts::answer_amendment;
use crate::api::entries::{Outcome, run};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// What the policy answers for a change of `entry` by the viewer: written at once, proposed
/// to the other party, or not theirs to make (probed with a change of its
/// acknowledgements, which belong to whoever owns the entry).
pub(crate) fn write_verdict(
    principal: &Principal,
    register: &Register,
    represented: &Represented,
    entry: &Entry,
) -> Verdict {
    let refused = || {
        Verdict::Refuse(policy::Refusal {
            kind: entry.kind(),
            id: entry.id().to_string(),
            field: None,
            detail: "read-only".to_owned(),
        })
    };
    if !principal.may_write() {
        return refused();
    }
    let Ok(rule) = custos_core::checks::rules::ACKNOWLEDGEMENT_UNUSED
        .id
        .parse()
    else {
        return refused();
    };
    let probe = entry.clone().acknowledged(Acknowledgement {
        rule,
        reason: "probe".to_owned(),
        until: custos_core::Date::MAX,
        by: None,
    });
    policy::entry_write(
        &principal.caller(),
        Facts::of(register),
        represented,
        Some(entry),
        Some(&probe),
    )
}

struct Fact {
    label: &'static str,
    value: String,
    href: Option<String>,
}

/// A fact labelled by the message `label`.
fn fact(label: &'static str, value: impl Into<String>) -> Fact {
    Fact {
        label,
        value: or_dash(value.into()),
        href: None,
    }
}

fn linked(label: &'static str, value: &str, href: String) -> Fact {
    Fact {
        label,
        value: value.to_owned(),
        href: Some(href),
    }
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    id: String,
    facts: Vec<Fact>,
    contract: Option<String>,
    clauses: Vec<ClauseRow>,
    may_change: bool,
    engaged_by: String,
    processor: String,
}

fn mechanism_text(mechanism: &custos_core::model::TransferMechanism) -> String {
    match plain(mechanism) {
        text if text.is_empty() => serde_json::to_string(mechanism).unwrap_or_default(),
        text => text,
    }
}

pub async fn link(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let register = state.register().await;
    let visibility = viewer.principal.visibility(&register)?;
    let Some(link) = register
        .engagements()
        .iter()
        .find(|e| e.id.as_str() == id)
        .filter(|_| visibility.engagement(&register, &id))
    else {
        return Err(ApiError::not_found(format!("link {id:?}")).into());
    };
    let reference = custos_core::refdata::ReferenceData::builtin();
    let locations =
        link.locations
            .iter()
            .map(|l| match l.transfer() {
                Some(m) => tr(
                    "link-location-under",
                    &[
                        (
                            "country",
                            &reference.country_name_in(
                                l.country(),
                                super::viewer::viewer_language().as_str(),
                            ),
                        ),
                        ("mechanism", &mechanism_text(m)),
                    ],
                ),
                None => reference
                    .country_name_in(l.country(), super::viewer::viewer_language().as_str()),
            })
            .collect::<Vec<_>>()
            .join("; ");
    let mut facts = vec![
        linked(
            "fact-activity",
            link.activity.as_str(),
            format!("/activities/{}", link.activity),
        ),
        linked(
            "fact-engaged-by",
            link.engaged_by.as_str(),
            format!("/organisations/{}", link.engaged_by),
        ),
        linked(
            "fact-processor",
            link.processor.as_str(),
            format!("/organisations/{}", link.processor),
        ),
        fact("fact-service", link.service.to_string()),
        fact("fact-recipient-category", link.category().to_owned()),
        fact("fact-locations", locations),
        fact(
            "fact-transfer-mechanism",
            link.transfer
                .as_deref()
                .map(mechanism_text)
                .unwrap_or_default(),
        ),
        fact(
            "fact-in-force",
            match link.until {
                Some(until) => tr(
                    "link-in-force-from-to",
                    &[
                        ("since", &link.since.to_string()),
                        ("until", &until.to_string()),
                    ],
                ),
                None => tr("link-in-force-since", &[("since", &link.since.to_string())]),
            },
        ),
        fact(
            "fact-authorisation",
            link.authorisation
                .as_ref()
                .map(|a| {
                    tr(
                        "link-authorisation",
                        &[
                            ("decision", &plain(&a.decision)),
                            ("by", a.by.as_str()),
                            ("date", &a.date.to_string()),
                        ],
                    )
                })
                .unwrap_or_default(),
        ),
    ];
    match &link.contract {
        Some(contract) => facts.push(linked(
            "fact-contract",
            contract.as_str(),
            format!("/contracts/{contract}"),
        )),
        None => facts.push(fact("fact-contract", tr("link-no-contract", &[]))),
    }
    let contract = link
        .contract
        .as_ref()
        .and_then(|c| register.contracts().iter().find(|x| &x.id == c));
    let may_change = super::may_change(
        &state,
        &viewer.principal,
        &register,
        &Entry::Engagement(link.clone()),
    )
    .await?;
    Ok(page(&LinkPage {
        may_change,
        engaged_by: link.engaged_by.to_string(),
        processor: link.processor.to_string(),
        section: "activities",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf,
        id,
        facts,
        contract: contract.map(|c| c.id.to_string()),
        clauses: contract.map(clause_rows).unwrap_or_default(),
    }))
}

/// One of Art. 28(3)(a)–(h) and whether the contract has it.
struct ClauseRow {
    name: &'static str,
    point: &'static str,
    description: &'static str,
    present: bool,
}

fn clause_rows(contract: &Contract) -> Vec<ClauseRow> {
    Art28Clause::ALL
        .iter()
        .map(|clause| ClauseRow {
            name: clause.as_str(),
            point: clause.point(),
            description: clause.description(),
            present: contract.clauses.contains(clause),
        })
        .collect()
}

fn subprocessing_text(terms: Option<&SubprocessingTerms>) -> String {
    let Some(terms) = terms else {
        return String::new();
    };
    let mut parts = vec![tr(
        "terms-authorisation",
        &[("authorisation", terms.authorisation.as_str())],
    )];
    if let Some(days) = terms.decision_days {
        parts.push(tr_count("terms-days", days.into(), &[]));
    }
    if let Some(channel) = &terms.notice_channel {
        parts.push(tr("terms-notice-by", &[("channel", &plain(channel))]));
    }
    if !terms.preauthorised.is_empty() {
        parts.push(tr(
            "terms-named",
            &[("named", &super::join_ids(&terms.preauthorised))],
        ));
    }
    if !terms.preauthorised_categories.is_empty() {
        parts.push(tr(
            "terms-categories-void",
            &[("categories", &terms.preauthorised_categories.join(", "))],
        ));
    }
    parts.push(if terms.information_pauses {
        tr("terms-information-pauses", &[])
    } else {
        tr("terms-clock-runs", &[])
    });
    parts.join("; ")
}

/// One amendment as the contract page shows it, with the answers the viewer may give.
struct AmendmentRow {
    key: String,
    status: String,
    proposer: String,
    awaiting: String,
    proposed: String,
    reasons: String,
    decided: String,
    /// What the proposal changes: field, as stored, as proposed.
    changes: Vec<(String, String, String)>,
    may_answer: bool,
    may_withdraw: bool,
}

struct VersionRow {
    number: u32,
    from: String,
    until: String,
    clauses: String,
}

#[derive(Template)]
#[template(path = "contract.html")]
struct ContractPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    id: String,
    facts: Vec<Fact>,
    clauses: Vec<ClauseRow>,
    links: Vec<(String, String)>,
    amendments: Vec<AmendmentRow>,
    versions: Vec<VersionRow>,
    /// The viewer may change the contract: "write" at once, "propose" to the other party.
    may_change: Option<String>,
}

/// The top-level fields in which `proposed` differs from `current`, as text.
pub(crate) fn differences(
    current: Option<&serde_json::Value>,
    proposed: Option<&serde_json::Value>,
) -> Vec<(String, String, String)> {
    let empty = serde_json::Map::new();
    let before = current.and_then(|v| v.as_object()).unwrap_or(&empty);
    let after = proposed.and_then(|v| v.as_object()).unwrap_or(&empty);
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let text = |v: Option<&serde_json::Value>| match v {
        None => "—".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| (k.clone(), text(before.get(k)), text(after.get(k))))
        .collect()
}

pub async fn contract(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let register = state.register().await;
    let visibility = viewer.principal.visibility(&register)?;
    let Some(contract) = register
        .contracts()
        .iter()
        .find(|c| c.id.as_str() == id)
        .filter(|_| visibility.contract(&id))
    else {
        return Err(ApiError::not_found(format!("contract {id:?}")).into());
    };
    let principal = &viewer.principal;
    let represented = Represented::load(&state.store)
        .await
        .map_err(ApiError::from)?;
    let entry = Entry::Contract(contract.clone());
    let may_change = match write_verdict(principal, &register, &represented, &entry) {
        Verdict::Allow => Some("write".to_owned()),
        Verdict::Propose { .. } => Some("propose".to_owned()),
        Verdict::Refuse(_) => None,
    };
    let current_json = serde_json::to_value(contract).ok();
    let amendments = custos_app::contracts::amendments(&state.store, &id)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .rev()
        .map(|a| {
            let proposed: Option<serde_json::Value> =
                a.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
            let open = a.status == status::OPEN;
            AmendmentRow {
                changes: if open {
                    differences(current_json.as_ref(), proposed.as_ref())
                } else {
                    Vec::new()
                },
                may_answer: open
                    && principal.may_write()
                    && principal.may(policy::Capacity::Edit, &a.awaiting),
                may_withdraw: open
                    && principal.may_write()
                    && principal.may(policy::Capacity::Edit, &a.proposer),
                key: a.key,
                status: a.status,
                proposer: a.proposer,
                awaiting: a.awaiting,
                proposed: format!(
                    "{} by {}",
                    super::breaches::when(Some(&a.proposed_at)),
                    a.proposed_by
                ),
                reasons: a.reasons.unwrap_or_default(),
                decided: match (a.decided_at, a.decided_by) {
                    (Some(at), Some(by)) => format!(
                        "{} by {by}{}",
                        super::breaches::when(Some(&at)),
                        a.decision_reasons
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                    _ => String::new(),
                },
            }
        })
        .collect();
    let slug: Slug = contract.id.clone();
    let history = custos_app::contracts::history(&state.store, Some(&id))
        .await
        .map_err(ApiError::from)?;
    let versions = history
        .versions(Some(contract), &slug)
        .into_iter()
        .map(|v| VersionRow {
            number: v.number,
            from: v.from.map(|d| d.to_string()).unwrap_or_else(|| "—".into()),
            until: v
                .until
                .map(|d| d.to_string())
                .unwrap_or_else(|| tr("contract-version-in-force", &[])),
            clauses: v
                .contract
                .clauses
                .iter()
                .map(|c| c.point().trim_start_matches("Art. 28(3)"))
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let links = register
        .engagements()
        .iter()
        .filter(|e| e.contract.as_ref() == Some(&contract.id))
        .filter(|e| visibility.engagement(&register, e.id.as_str()))
        .map(|e| {
            (
                e.id.to_string(),
                format!("{} → {}", e.engaged_by, e.processor),
            )
        })
        .collect();
    let facts = vec![
        linked(
            "fact-engaging-party",
            contract.between[0].as_str(),
            format!("/organisations/{}", contract.between[0]),
        ),
        linked(
            "fact-processor",
            contract.between[1].as_str(),
            format!("/organisations/{}", contract.between[1]),
        ),
        fact(
            "fact-names-the-controller",
            if contract.identifies_controller {
                tr("fact-yes", &[])
            } else {
                tr("fact-no", &[])
            },
        ),
        fact(
            "fact-signed",
            contract.signed.map(|d| d.to_string()).unwrap_or_default(),
        ),
        fact(
            "fact-reference",
            contract.reference.clone().unwrap_or_default(),
        ),
        fact(
            "fact-security-measures",
            super::join_ids(&contract.security.iter().cloned().collect::<Vec<_>>()),
        ),
        fact(
            "fact-sub-processing",
            subprocessing_text(contract.subprocessing.as_ref()),
        ),
        fact(
            "fact-term",
            match (contract.expires, contract.renewal) {
                (Some(expires), Some(renewal)) => tr(
                    "term-until-renew-by",
                    &[
                        ("expires", &expires.to_string()),
                        ("renewal", &renewal.to_string()),
                    ],
                ),
                (Some(expires), None) => tr("term-until", &[("expires", &expires.to_string())]),
                (None, Some(renewal)) => tr(
                    "term-until-terminated-review",
                    &[("renewal", &renewal.to_string())],
                ),
                (None, None) => tr("term-until-terminated", &[]),
            },
        ),
        match &contract.document {
            Some(document) => linked(
                "fact-signed-document",
                &document.name,
                format!("/api/v1/attachments/{}", document.sha256),
            ),
            None => fact("fact-signed-document", tr("contract-not-uploaded", &[])),
        },
        fact(
            "fact-breach-notice",
            contract
                .breach_notice_hours
                .map(|h| tr_count("contract-breach-notice-within", h.into(), &[]))
                .unwrap_or_default(),
        ),
    ];
    Ok(page(&ContractPage {
        section: "organisations",
        user_email: principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        id,
        facts,
        clauses: clause_rows(contract),
        links,
        amendments,
        versions,
        may_change,
    }))
}

/// The contract form's fields, as typed: kept when the form comes back with a problem.
#[derive(Default)]
struct ContractFields {
    identifies_controller: bool,
    clauses: BTreeSet<String>,
    security: String,
    authorisation: String,
    decision_days: String,
    notice_channel: String,
    preauthorised: String,
    information_pauses: bool,
    signed: String,
    reference: String,
    breach_notice_hours: String,
    expires: String,
    renewal: String,
    remove_document: bool,
}

impl ContractFields {
    fn of(contract: &Contract) -> Self {
        let terms = contract.subprocessing.as_ref();
        Self {
            identifies_controller: contract.identifies_controller,
            clauses: contract
                .clauses
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            security: super::join_ids(&contract.security.iter().cloned().collect::<Vec<_>>()),
            authorisation: terms
                .map(|t| t.authorisation.as_str().to_owned())
                .unwrap_or_default(),
            decision_days: terms
                .and_then(|t| t.decision_days)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            notice_channel: terms
                .and_then(|t| t.notice_channel.as_ref())
                .map(plain)
                .unwrap_or_default(),
            preauthorised: terms
                .map(|t| super::join_ids(&t.preauthorised))
                .unwrap_or_default(),
            information_pauses: terms.is_none_or(|t| t.information_pauses),
            signed: contract.signed.map(|d| d.to_string()).unwrap_or_default(),
            reference: contract.reference.clone().unwrap_or_default(),
            breach_notice_hours: contract
                .breach_notice_hours
                .map(|h| h.to_string())
                .unwrap_or_default(),
            expires: contract.expires.map(|d| d.to_string()).unwrap_or_default(),
            renewal: contract.renewal.map(|d| d.to_string()).unwrap_or_default(),
            remove_document: false,
        }
    }

    /// The fields of a posted form; each clause is a checkbox named `clause-<name>`.
    fn read(posted: &HashMap<String, String>) -> Self {
        let get = |name: &str| {
            posted
                .get(name)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            identifies_controller: !get("identifies_controller").is_empty(),
            clauses: posted
                .keys()
                .filter_map(|k| k.strip_prefix("clause-"))
                .map(str::to_owned)
                .collect(),
            security: get("security"),
            authorisation: get("authorisation"),
            decision_days: get("decision_days"),
            notice_channel: get("notice_channel"),
            preauthorised: get("preauthorised"),
            information_pauses: !get("information_pauses").is_empty(),
            signed: get("signed"),
            reference: get("reference"),
            breach_notice_hours: get("breach_notice_hours"),
            expires: get("expires"),
            renewal: get("renewal"),
            remove_document: !get("remove_document").is_empty(),
        }
    }

    /// The contract these fields describe, on top of `current` (fields the form does not show
    /// are kept as they are); a problem names the field.
    fn contract(&self, current: &Contract) -> Result<Contract, (&'static str, String)> {
        let ids = |field: &'static str, text: &str| -> Result<Vec<Slug>, (&'static str, String)> {
            text.split([',', '\n', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<Slug>().map_err(|e| {
                        (
                            field,
                            format!("{s:?} is not an identifier ({e}): lower-case letters, digits and hyphens"),
                        )
                    })
                })
                .collect()
        };
        let mut contract = current.clone();
        contract.identifies_controller = self.identifies_controller;
        contract.clauses = self
            .clauses
            .iter()
            .map(|name| {
                Art28Clause::ALL
                    .into_iter()
                    .find(|c| c.as_str() == name)
                    .ok_or(("clauses", format!("{name:?} is not a clause of Art. 28(3)")))
            })
            .collect::<Result<_, _>>()?;
        contract.security = ids("security", &self.security)?.into_iter().collect();
        contract.subprocessing = match self.authorisation.as_str() {
            "" => None,
            mode => {
                let authorisation = match mode {
                    "specific" => AuthorisationMode::Specific,
                    "general" => AuthorisationMode::General,
                    other => {
                        return Err((
                            "authorisation",
                            format!("expected specific or general, not {other:?}"),
                        ));
                    }
                };
                let decision_days = match self.decision_days.as_str() {
                    "" => None,
                    days => Some(
                        days.parse::<u32>()
                            .ok()
                            .filter(|d| (1..=365).contains(d))
                            .ok_or((
                                "decision_days",
                                format!("expected a number of days from 1 to 365, not {days:?}"),
                            ))?,
                    ),
                };
                let kept = current.subprocessing.clone();
                Some(SubprocessingTerms {
                    authorisation,
                    decision_days,
                    notice_channel: match self.notice_channel.as_str() {
                        "" => None,
                        "email" => Some(NoticeChannel::Email),
                        "portal" => Some(NoticeChannel::Portal),
                        "public-page" => Some(NoticeChannel::PublicPage),
                        other => {
                            return Err((
                                "notice_channel",
                                format!("expected email, portal or public-page, not {other:?}"),
                            ));
                        }
                    },
                    selection_criteria: kept
                        .as_ref()
                        .map(|t| t.selection_criteria.clone())
                        .unwrap_or_default(),
                    preauthorised: ids("preauthorised", &self.preauthorised)?,
                    preauthorised_categories: kept
                        .map(|t| t.preauthorised_categories)
                        .unwrap_or_default(),
                    information_pauses: self.information_pauses,
                })
            }
        };
        let date = |field: &'static str, text: &str| match text {
            "" => Ok(None),
            day => day
                .parse()
                .map(Some)
                .map_err(|_| (field, format!("expected a date (YYYY-MM-DD), not {day:?}"))),
        };
        contract.signed = date("signed", &self.signed)?;
        contract.expires = date("expires", &self.expires)?;
        contract.renewal = date("renewal", &self.renewal)?;
        if self.remove_document {
            contract.document = None;
        }
        if self.reference.chars().count() > 200 {
            return Err(("reference", "at most 200 characters".to_owned()));
        }
        contract.reference = (!self.reference.is_empty()).then(|| self.reference.clone());
        contract.breach_notice_hours = match self.breach_notice_hours.as_str() {
            "" => None,
            hours => Some(
                hours
                    .parse::<u32>()
                    .ok()
                    .filter(|h| (1..=720).contains(h))
                    .ok_or((
                        "breach_notice_hours",
                        format!("expected a number of hours from 1 to 720, not {hours:?}"),
                    ))?,
            ),
        };
        Ok(contract)
    }
}

struct ClauseChoice {
    name: &'static str,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "contract_form.html")]
struct ContractForm {
    section: &'static str,
    user_email: String,
    csrf: String,
    id: String,
    tag: String,
    fields: ContractFields,
    choices: Vec<ClauseChoice>,
    /// "write" (takes effect) or "propose" (waits for the other party).
    mode: &'static str,
    other_party: String,
    problem: Option<(String, String)>,
    /// On a conflict: the contract as it is stored now, beside what was typed.
    stored: Option<Vec<(String, String, String)>>,
    /// The name of the signed document stored with the contract, if any.
    document: Option<String>,
    /// A new contract: its id and parties are fields of the form.
    creating: bool,
    between: [String; 2],
    /// The link a new contract is for: its form is next.
    link: String,
}

/// The contract form; `(mode, creating, link)`: "write" or "propose", whether the contract is
/// new (then its id and parties are given in the form), and the link a new one is for.
fn contract_form(
    principal: &Principal,
    csrf: &str,
    contract: &Contract,
    (mode, creating, link): (&'static str, bool, String),
    fields: ContractFields,
    problem: Option<(String, String)>,
    stored: Option<Vec<(String, String, String)>>,
) -> Response {
    let choices = Art28Clause::ALL
        .iter()
        .map(|c| ClauseChoice {
            name: c.as_str(),
            label: format!("{} — {}", c.point(), c.description()),
            checked: fields.clauses.contains(c.as_str()),
        })
        .collect();
    let other_party = if principal.may(policy::Capacity::Edit, contract.between[0].as_str()) {
        contract.between[1].to_string()
    } else {
        contract.between[0].to_string()
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut response = page(&ContractForm {
        section: "organisations",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        id: contract.id.to_string(),
        tag: Entry::Contract(contract.clone()).tag(),
        fields,
        choices,
        mode,
        other_party,
        problem,
        stored,
        document: contract.document.as_ref().map(|d| d.name.clone()),
        creating,
        between: [
            contract.between[0].to_string(),
            contract.between[1].to_string(),
        ],
        link,
    });
    *response.status_mut() = status;
    response
}

/// The contract, whether the viewer may change it ("write" or "propose"), or 404/403.
async fn changeable(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(Contract, &'static str), UiError> {
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    let contract = register
        .contracts()
        .iter()
        .find(|c| c.id.as_str() == id)
        .filter(|_| visibility.contract(id))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("contract {id:?}")))?;
    let represented = Represented::load(&state.store)
        .await
        .map_err(ApiError::from)?;
    match write_verdict(
        principal,
        &register,
        &represented,
        &Entry::Contract(contract.clone()),
    ) {
        Verdict::Allow => Ok((contract, "write")),
        Verdict::Propose { .. } => Ok((contract, "propose")),
        Verdict::Refuse(refusal) => Err(ApiError::Forbidden(refusal.detail).into()),
    }
}

pub async fn edit_contract(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let (contract, mode) = changeable(&state, &viewer.principal, &id).await?;
    let fields = ContractFields::of(&contract);
    Ok(contract_form(
        &viewer.principal,
        &viewer.csrf,
        &contract,
        (mode, false, String::new()),
        fields,
        None,
        None,
    ))
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Saves the contract form (multipart, with the signed document if one is chosen): written,
/// or proposed to the other party, or the form again with the problem at its field (and, if
/// someone changed the contract meanwhile, both versions).
pub async fn save_contract(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let (posted, files) = read_multipart(&mut form, &["document"]).await?;
    let csrf = posted.get("csrf").cloned().unwrap_or_default();
    check_csrf(&principal, &csrf)?;
    let (stored, mode) = changeable(&state, &principal, &id).await?;
    let tag = posted.get("tag").cloned().unwrap_or_default();
    submit_contract(
        &state,
        &principal,
        &csrf,
        ContractSubmission {
            base: stored,
            mode,
            creating: false,
            expect: Expect::Tag(tag),
            then: None,
        },
        &posted,
        files,
    )
    .await
}

/// A contract form posted: the contract it starts from, whether it is new, and the version
/// expected.
struct ContractSubmission {
    base: Contract,
    mode: &'static str,
    creating: bool,
    expect: Expect,
    /// Where to go once written (a new contract: the link that needs it), else its page.
    then: Option<String>,
}

async fn submit_contract(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    submission: ContractSubmission,
    posted: &HashMap<String, String>,
    files: Vec<super::PostedFile>,
) -> Result<Response, UiError> {
    let ContractSubmission {
        base,
        mode,
        creating,
        expect,
        then,
    } = submission;
    let id = base.id.to_string();
    let fields = ContractFields::read(posted);
    let again = |fields, problem: (String, String), both| {
        contract_form(
            principal,
            csrf,
            &base,
            (
                mode,
                creating,
                posted.get("link").cloned().unwrap_or_default(),
            ),
            fields,
            Some(problem),
            both,
        )
    };
    let mut proposed = match fields.contract(&base) {
        Ok(contract) => contract,
        Err((name, problem)) => return Ok(again(fields, (name.to_owned(), problem), None)),
    };
    if let Some(file) = files.into_iter().next() {
        match store_attachment(state, principal, &file.media_type, &file.bytes).await {
            Ok(stored_file) => {
                proposed.document = Some(Box::new(ContractDocument {
                    name: file.name,
                    sha256: stored_file.sha256,
                }));
            }
            Err(error @ (ApiError::Invalid { .. } | ApiError::TooLarge(_))) => {
                return Ok(again(
                    fields,
                    ("document".to_owned(), error.to_string()),
                    None,
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let typed = serde_json::to_value(&proposed).ok();
    match run(
        state,
        principal,
        Write::Put(Box::new(Entry::Contract(proposed))),
        expect,
        None,
    )
    .await
    {
        Ok(Outcome::Written(_)) => {
            Ok(Redirect::to(&then.unwrap_or_else(|| format!("/contracts/{id}"))).into_response())
        }
        Ok(Outcome::Proposed(amendment)) => Ok(Redirect::to(&format!(
            "/contracts/{id}#amendment-{}",
            amendment.key
        ))
        .into_response()),
        Err(ApiError::PreconditionFailed(_)) => {
            let now = serde_json::to_value(&base).ok();
            Ok(again(
                fields,
                (
                    "tag".to_owned(),
                    "Someone changed this contract while you were editing it. Below: the fields where the stored contract now differs from yours. Check them, then save again (the form now edits the stored version).".to_owned(),
                ),
                Some(differences(now.as_ref(), typed.as_ref())),
            ))
        }
        Err(ApiError::Conflict(detail)) => Ok(again(fields, ("id".to_owned(), detail), None)),
        Err(ApiError::Invalid { detail, field }) | Err(ApiError::Refused { detail, field }) => {
            Ok(again(
                fields,
                (field.unwrap_or_else(|| "contract".to_owned()), detail),
                None,
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// A contract not yet in the register, between the two parties of a link.
fn blank_contract(id: Slug, engaging: Slug, processor: Slug) -> Contract {
    Contract {
        id,
        between: [engaging, processor],
        identifies_controller: false,
        clauses: ClauseSet::new(),
        security: SortedSet::new(),
        subprocessing: None,
        signed: None,
        reference: None,
        breach_notice_hours: None,
        expires: None,
        renewal: None,
        document: None,
        acknowledgements: Vec::new(),
    }
}

/// Whether the viewer may create `contract` ("write") or propose it ("propose").
async fn creatable(
    state: &AppState,
    principal: &Principal,
    contract: &Contract,
) -> Result<&'static str, UiError> {
    if !principal.may_write() {
        return Err(ApiError::Forbidden("this token has no write scope".to_owned()).into());
    }
    let register = state.register().await;
    let represented = Represented::load(&state.store)
        .await
        .map_err(ApiError::from)?;
    match policy::entry_write(
        &principal.caller(),
        Facts::of(&register),
        &represented,
        None,
        Some(&Entry::Contract(contract.clone())),
    ) {
        Verdict::Allow => Ok("write"),
        Verdict::Propose { .. } => Ok("propose"),
        Verdict::Refuse(refusal) => Err(ApiError::Forbidden(refusal.detail).into()),
    }
}

/// `/contracts/new?engaging=…&processor=…`: a new contract between the parties of a link.
pub async fn new_contract(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let party = |name: &str| -> Result<Slug, UiError> {
        query.get(name).and_then(|v| v.parse().ok()).ok_or_else(|| {
            ApiError::invalid(
                name,
                format!("{name}: the organisation's id, from the link"),
            )
            .into()
        })
    };
    let (engaging, processor) = (party("engaging")?, party("processor")?);
    let id: Slug = format!("dpa-{engaging}-{processor}")
        .parse()
        .map_err(|_| ApiError::invalid("id", "id: not an identifier"))?;
    let contract = blank_contract(id, engaging, processor);
    let mode = creatable(&state, &viewer.principal, &contract).await?;
    let mut fields = ContractFields::of(&contract);
    fields.clauses = Art28Clause::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let link = query
        .get("link")
        .filter(|l| l.parse::<Slug>().is_ok())
        .cloned()
        .unwrap_or_default();
    Ok(contract_form(
        &viewer.principal,
        &viewer.csrf,
        &contract,
        (mode, true, link),
        fields,
        None,
        None,
    ))
}

/// Creates a contract from the form (or proposes it to a processor that answers for itself).
pub async fn create_contract(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let (posted, files) = read_multipart(&mut form, &["document"]).await?;
    let csrf = posted.get("csrf").cloned().unwrap_or_default();
    check_csrf(&principal, &csrf)?;
    let slug_of = |name: &str| -> Result<Slug, UiError> {
        let raw = posted.get(name).map(|v| v.trim()).unwrap_or_default();
        raw.parse().map_err(|e| {
            ApiError::invalid(name, format!("{name}: {raw:?} is not an identifier ({e})")).into()
        })
    };
    let base = blank_contract(slug_of("id")?, slug_of("engaging")?, slug_of("processor")?);
    let mode = creatable(&state, &principal, &base).await?;
    // Created for a link without one: back to that link's form, the contract chosen.
    let then = posted
        .get("link")
        .filter(|l| l.parse::<Slug>().is_ok())
        .map(|l| format!("/links/{l}/edit?contract={}", base.id));
    submit_contract(
        &state,
        &principal,
        &csrf,
        ContractSubmission {
            base,
            mode,
            creating: true,
            expect: Expect::Absent,
            then,
        },
        &posted,
        files,
    )
    .await
}

/// Accepts, rejects or withdraws an amendment from the contract page.
pub async fn answer(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((id, key, verb)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, UiError> {
    let pairs = form_pairs(&body);
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    check_csrf(&principal, &field("csrf"))?;
    let answer = match verb.as_str() {
        "accept" => Answer::Accept,
        "reject" => Answer::Reject,
        "withdraw" => Answer::Withdraw,
        _ => return Err(ApiError::not_found(format!("action {verb:?}")).into()),
    };
    let reasons = Some(field("reasons"));
    answer_amendment(&state, &principal, &id, &key, answer, reasons).await?;
    Ok(Redirect::to(&format!("/contracts/{id}#amendment-{key}")).into_response())
}
