//! Pages of breaches (docs/breaches.md): the list with each of the caller's controllers' clock;
//! the report form for a party where a breach happened; the breach page with the facts, the
//! relays (acknowledge and pass on), and for a controller its case: the ENISA aid and the
//! assessment, the decision, the filing, the communication, and the authority's report to
//! download. Forms post with the session's CSRF token and work without JavaScript. Times in
//! forms are in the viewer's time zone, and the labels say which.

use crate::i18n::Translate as _;
use crate::i18n::{tr, tr_count};
use std::collections::BTreeSet;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::breaches::{self, NewCommunication, NewFiling};
use custos_app::policy::Capacity;
use custos_core::breach::{
    Approximate, Assessment, BreachFacts, ContactPoint, Decision, DecisionKind, Identification,
    Loss, Nature, ProcessingContext, Risk, SeverityInputs, SubjectsException,
};
use jiff::Timestamp;
use serde::Deserialize;

use super::changes::{list_field, posted_for};
use super::confirm::{self, Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, page};
use crate::api::breaches::{answer, summaries};
use crate::error::ApiError;
use crate::state::AppState;

/// "40 h left (until …)", "ended 3 h ago (…)".
pub(crate) fn clock(deadline: Option<&str>, now: Timestamp) -> String {
    let Some(deadline) = deadline.and_then(custos_app::clock::parse_stamp) else {
        return tr("clock-not-aware", &[]);
    };
    let left = deadline.duration_since(now).as_hours();
    let shown = super::viewer::moment(deadline);
    if left < 0 {
        tr_count("clock-ended", -left, &[("until", &shown)])
    } else {
        tr_count("clock-left", left, &[("until", &shown)])
    }
}

/// A fact as shown: an empty one is a dash.
fn shown(text: String) -> String {
    if text.trim().is_empty() {
        "—".to_owned()
    } else {
        text
    }
}

/// A stamp as people read it: minutes, in the viewer's zone, named.
pub(crate) fn when(stamp: Option<&str>) -> String {
    stamp
        .and_then(custos_app::clock::parse_stamp)
        .map_or_else(|| "—".to_owned(), super::viewer::moment)
}

struct ListRow {
    key: String,
    party: String,
    description: String,
    occurred: String,
    cases: Vec<(String, String, &'static str)>,
}

#[derive(Template)]
#[template(path = "breaches.html")]
struct ListPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    may_report: bool,
    rows: Vec<ListRow>,
}

/// The organisations the caller may report for.
fn reporters(
    principal: &crate::auth::Principal,
    register: &custos_core::register::Register,
) -> Vec<String> {
    register
        .organisations()
        .iter()
        .map(|o| o.id.to_string())
        .filter(|o| principal.may(Capacity::Portal, o))
        .collect()
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let register = state.register().await;
    let rows = summaries(&state, &viewer.principal)
        .await?
        .into_iter()
        .map(|s| ListRow {
            occurred: when(Some(&s.occurred_from)),
            cases: s
                .cases
                .iter()
                .map(|c| {
                    let (text, tone) = if c.filed {
                        (tr("breach-case-filed", &[]), "good")
                    } else if c.overdue {
                        (
                            tr(
                                "breach-case-overdue",
                                &[("clock", &clock(c.deadline.as_deref(), state.clock.now()))],
                            ),
                            "error",
                        )
                    } else if let Some(decision) = &c.decision {
                        (decision.clone(), "info")
                    } else {
                        (clock(c.deadline.as_deref(), state.clock.now()), "warning")
                    };
                    (c.controller.clone(), text, tone)
                })
                .collect(),
            key: s.key,
            party: s.party,
            description: s.description,
        })
        .collect();
    Ok(page(&ListPage {
        section: "breaches",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        may_report: !reporters(&viewer.principal, &register).is_empty(),
        rows,
    }))
}

#[derive(Template)]
#[template(path = "breach_new.html")]
struct NewPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    parties: Vec<String>,
    /// What was typed, when a refused report comes back.
    typed: std::collections::HashMap<String, String>,
    problem: Option<String>,
}

pub async fn new(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let register = state.register().await;
    let parties = reporters(&viewer.principal, &register);
    if parties.is_empty() {
        return Err(UiError::from(ApiError::Forbidden(
            "you act for no organisation that could report a breach".to_owned(),
        )));
    }
    Ok(new_page(
        &viewer.principal,
        &viewer.csrf,
        parties,
        Default::default(),
        None,
    ))
}

impl NewPage {
    /// What was typed in the field `name` (empty on a fresh form).
    fn value(&self, name: &str) -> &str {
        self.typed.get(name).map_or("", String::as_str)
    }
}

fn new_page(
    principal: &crate::auth::Principal,
    csrf: &str,
    parties: Vec<String>,
    typed: std::collections::HashMap<String, String>,
    problem: Option<&ApiError>,
) -> Response {
    let mut response = page(&NewPage {
        section: "breaches",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        parties,
        typed,
        problem: problem.map(super::sentence),
    });
    if let Some(error) = problem {
        *response.status_mut() = error.status();
    }
    response
}

/// A `datetime-local` value (`2026-11-24T10:30`), read in the viewer's time zone.
fn utc(field: &str, raw: &str) -> Result<Timestamp, ApiError> {
    super::viewer::local_input(raw).ok_or_else(|| {
        ApiError::invalid(
            field,
            format!(
                "{field}: expected a date and time ({}), got {:?}",
                super::viewer::viewer_zone_name(),
                raw.trim()
            ),
        )
    })
}

fn optional_utc(field: &str, raw: &str) -> Result<Option<Timestamp>, ApiError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        utc(field, raw).map(Some)
    }
}

fn number(field: &str, raw: &str) -> Result<Option<u64>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field}: expected a whole number, got {raw:?}"),
        )
    })
}

/// The report form's fields (HTML forms send every field as text).
#[derive(Deserialize)]
pub struct ReportForm {
    csrf: String,
    party: String,
    occurred_from: String,
    #[serde(default)]
    occurred_until: String,
    aware_at: String,
    #[serde(default)]
    confidentiality: Option<String>,
    #[serde(default)]
    integrity: Option<String>,
    #[serde(default)]
    availability: Option<String>,
    description: String,
    #[serde(default)]
    systems: String,
    data_categories: String,
    #[serde(default)]
    subject_categories: String,
    #[serde(default)]
    subjects_min: String,
    #[serde(default)]
    subjects_max: String,
    #[serde(default)]
    consequences: String,
    #[serde(default)]
    measures_taken: String,
    #[serde(default)]
    measures_proposed: String,
    contact_name: String,
    contact_email: String,
}

fn slugs(field: &str, raw: &str) -> Result<Vec<custos_core::values::Slug>, ApiError> {
    list_field(raw)
        .iter()
        .map(|s| {
            s.parse().map_err(|e: custos_core::values::ValueError| {
                ApiError::invalid(field, format!("{field}: {e}"))
            })
        })
        .collect()
}

impl ReportForm {
    fn facts(&self) -> Result<BreachFacts, ApiError> {
        let mut nature = BTreeSet::new();
        for (ticked, kind) in [
            (&self.confidentiality, Nature::Confidentiality),
            (&self.integrity, Nature::Integrity),
            (&self.availability, Nature::Availability),
        ] {
            if ticked.is_some() {
                nature.insert(kind);
            }
        }
        let subjects = match number("subjects_min", &self.subjects_min)? {
            Some(min) => Some(Approximate {
                min,
                max: number("subjects_max", &self.subjects_max)?,
            }),
            None => None,
        };
        Ok(BreachFacts {
            occurred_from: utc("occurred_from", &self.occurred_from)?,
            occurred_until: optional_utc("occurred_until", &self.occurred_until)?,
            aware_at: utc("aware_at", &self.aware_at)?,
            nature,
            description: self.description.trim().to_owned(),
            systems: list_field(&self.systems),
            data_categories: slugs("data_categories", &self.data_categories)?,
            subject_categories: slugs("subject_categories", &self.subject_categories)?,
            subjects,
            records: None,
            consequences: self.consequences.trim().to_owned(),
            measures_taken: self.measures_taken.trim().to_owned(),
            measures_proposed: self.measures_proposed.trim().to_owned(),
            contact: ContactPoint {
                name: self.contact_name.trim().to_owned(),
                email: self.contact_email.trim().parse().map_err(
                    |e: custos_core::values::ValueError| {
                        ApiError::invalid("contact_email", format!("contact_email: {e}"))
                    },
                )?,
                phone: None,
            },
            attachments: Vec::new(),
        })
    }
}

/// The report form: its fields and any number of files (evidence, a forensic report).
pub async fn report(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    mut multipart: axum::extract::Multipart,
) -> Result<Response, UiError> {
    let (typed, files) = super::read_multipart(&mut multipart, &["attachments"]).await?;
    let fields = typed
        .iter()
        .map(|(name, text)| (name.clone(), serde_json::Value::String(text.clone())))
        .collect();
    let form: ReportForm = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ApiError::invalid("form", e.to_string()))?;
    posted_for(
        &principal,
        &form.csrf,
        &form.party,
        Capacity::Portal,
        || format!("only {}'s people may report its breaches", form.party),
    )?;
    let register = state.register().await;
    // A report refused for what was typed comes back with it (files must be chosen again).
    let again = |error: &ApiError| {
        let parties = reporters(&principal, &register);
        new_page(&principal, &form.csrf, parties, typed.clone(), Some(error))
    };
    let mut facts = match form.facts() {
        Ok(facts) => facts,
        Err(error) => return Ok(again(&error)),
    };
    for super::PostedFile {
        name,
        media_type: media,
        bytes,
        ..
    } in files
    {
        let stored =
            crate::api::changes::store_attachment(&state, &principal, &media, &bytes).await?;
        facts.attachments.push(custos_core::change::AttachmentRef {
            name,
            sha256: stored.sha256,
        });
    }
    let reported = breaches::report(
        &state.store,
        &register,
        &form.party,
        facts,
        &principal.actor(state.clock.now()),
        &breaches::Settings::default(),
    )
    .await
    .map_err(ApiError::from);
    match reported {
        Ok(view) => Ok(Redirect::to(&format!("/breaches/{}", view.breach.key)).into_response()),
        Err(error) if correctable(&error) => Ok(again(&error)),
        Err(error) => Err(error.into()),
    }
}

struct HopRow {
    sender: String,
    recipient: String,
    received: String,
    acknowledged: String,
    by: String,
    period: u32,
    late: bool,
}

struct CaseBlock {
    controller: String,
    paths: Vec<String>,
    aware: String,
    awareness: String,
    clock: String,
    overdue: bool,
    severity: String,
    risk: String,
    decision: String,
    filings: Vec<String>,
    communication: String,
    may_edit: bool,
    needs_delay_reasons: bool,
    tells_subjects: bool,
}

struct PhaseRow {
    version: u32,
    at: String,
    organisation: String,
    note: String,
}

#[derive(Template)]
#[template(path = "breach.html")]
struct BreachPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    key: String,
    party: String,
    version: u32,
    nature: String,
    description: String,
    occurred: String,
    aware: String,
    systems: String,
    data: String,
    subjects: String,
    consequences: String,
    measures_taken: String,
    measures_proposed: String,
    contact: String,
    /// The files of the facts: name and SHA-256.
    files: Vec<(String, String)>,
    phases: Vec<PhaseRow>,
    hops: Vec<HopRow>,
    relay_as: Vec<String>,
    acknowledge_as: Vec<String>,
    /// The organisations the caller may add facts for (those the report reached).
    phase_as: Vec<String>,
    cases: Vec<CaseBlock>,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let view = breaches::view(&state.store, &key)
        .await
        .map_err(|_| ApiError::not_found(format!("breach {key}")))?;
    let now = state.clock.now();
    let principal = &viewer.principal;
    // Who may act where, from the stored view (the answer keeps only what the caller sees).
    let relay_as: Vec<String> = principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .filter(|o| {
            principal.may(Capacity::Portal, o)
                && view.reached(o)
                && view
                    .hops
                    .iter()
                    .any(|h| h.hop.sender.as_str() == o && h.received_at.is_none())
        })
        .collect();
    let acknowledge_as: Vec<String> = principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .filter(|o| {
            principal.may(Capacity::Portal, o)
                && view.hops.iter().any(|h| {
                    h.hop.recipient.as_str() == o
                        && h.received_at.is_some()
                        && h.acknowledged_at.is_none()
                })
        })
        .collect();
    let phase_as: Vec<String> = principal
        .memberships
        .iter()
        .map(|m| m.organisation.clone())
        .filter(|o| principal.may(Capacity::Portal, o) && view.reached(o))
        .collect();
    let seen = answer(principal, view, now)?;
    let facts = &seen.facts;
    let cases = seen
        .cases
        .iter()
        .map(|c| {
            let late = c
                .aware_at
                .as_deref()
                .and_then(custos_app::clock::parse_stamp)
                .is_some_and(|aware| custos_core::breach::is_late(aware, now));
            CaseBlock {
                controller: c.controller.clone(),
                paths: c.paths.iter().map(|p| p.join(" → ")).collect(),
                aware: when(c.aware_at.as_deref()),
                awareness: c.awareness.clone().unwrap_or_default(),
                clock: clock(c.deadline.as_deref(), now),
                overdue: c.overdue,
                severity: c.severity.map_or_else(String::new, |s| {
                    format!("{:.2}: {}", s.score, s.level.as_str())
                }),
                risk: c.assessment.as_ref().map_or_else(String::new, |a| {
                    format!("{} — {}", a.risk.as_str(), a.reasons)
                }),
                decision: c.decision.as_ref().map_or_else(String::new, |d| {
                    format!("{} — {}", d.kind.as_str(), d.reasons)
                }),
                filings: c
                    .filings
                    .iter()
                    .map(|f| {
                        let version = f.version.to_string();
                        let at = when(Some(&f.submitted_at));
                        match &f.reference {
                            Some(reference) => tr(
                                "breach-filing-with-reference",
                                &[("version", &version), ("at", &at), ("reference", reference)],
                            ),
                            None => tr("breach-filing", &[("version", &version), ("at", &at)]),
                        }
                    })
                    .collect(),
                communication: c.communication.as_ref().map_or_else(String::new, |m| {
                    format!("{} by {}", when(Some(&m.sent_at)), m.channel)
                }),
                may_edit: principal.may(Capacity::Edit, &c.controller),
                needs_delay_reasons: late,
                tells_subjects: c
                    .decision
                    .as_ref()
                    .is_some_and(|d| d.kind == DecisionKind::NotifyAuthorityAndSubjects),
            }
        })
        .collect();
    Ok(page(&BreachPage {
        section: "breaches",
        user_email: principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        party: seen.party.clone(),
        version: seen.version,
        nature: facts
            .nature
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        description: facts.description.clone(),
        occurred: match facts.occurred_until {
            Some(until) => tr(
                "breach-occurred-from-to",
                &[
                    ("from", &super::viewer::moment(facts.occurred_from)),
                    ("until", &super::viewer::moment(until)),
                ],
            ),
            None => tr(
                "breach-occurred-from",
                &[("from", &super::viewer::moment(facts.occurred_from))],
            ),
        },
        aware: super::viewer::moment(facts.aware_at),
        systems: shown(facts.systems.join(", ")),
        data: facts
            .data_categories
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        subjects: facts
            .subjects
            .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
        consequences: shown(facts.consequences.clone()),
        measures_taken: shown(facts.measures_taken.clone()),
        measures_proposed: shown(facts.measures_proposed.clone()),
        contact: format!("{} <{}>", facts.contact.name, facts.contact.email),
        files: facts
            .attachments
            .iter()
            .map(|a| (a.name.clone(), a.sha256.clone()))
            .collect(),
        phases: seen
            .phases
            .iter()
            .map(|p| PhaseRow {
                version: p.version,
                at: when(Some(&p.at)),
                organisation: p.organisation.clone(),
                note: p.note.clone(),
            })
            .collect(),
        hops: seen
            .hops
            .iter()
            .map(|h| HopRow {
                sender: h.hop.sender.to_string(),
                recipient: h.hop.recipient.to_string(),
                received: when(h.received_at.as_deref()),
                acknowledged: when(h.acknowledged_at.as_deref()),
                by: h.relayed_by.clone().unwrap_or_default(),
                period: h.hop.period_hours(),
                late: h.late,
            })
            .collect(),
        relay_as,
        acknowledge_as,
        phase_as,
        cases,
        key: seen.key,
    }))
}

#[derive(Deserialize)]
pub struct ActingForm {
    csrf: String,
    organisation: String,
}

pub async fn relay(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<ActingForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.organisation,
        Capacity::Portal,
        || format!("only {}'s people may relay for it", form.organisation),
    )?;
    let register = state.register().await;
    breaches::relay(
        &state.store,
        &register,
        &key,
        &form.organisation,
        &principal.actor(state.clock.now()),
        &breaches::Settings::default(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

pub async fn acknowledge(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<ActingForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.organisation,
        Capacity::Portal,
        || format!("only {}'s people may acknowledge for it", form.organisation),
    )?;
    let register = state.register().await;
    breaches::acknowledge(
        &state.store,
        &register,
        &key,
        &form.organisation,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

/// Checks the CSRF token and that the caller edits for the controller and sees its case.
async fn for_case(
    state: &AppState,
    principal: &crate::auth::Principal,
    csrf: &str,
    key: &str,
    controller: &str,
) -> Result<(), UiError> {
    let view = breaches::view(&state.store, key)
        .await
        .map_err(|_| ApiError::not_found(format!("breach {key}")))?;
    if !view.case_seen_by(&principal.caller(), controller) {
        return Err(UiError::from(ApiError::not_found(format!(
            "{controller}'s case of breach {key}"
        ))));
    }
    posted_for(principal, csrf, controller, Capacity::Edit, || {
        format!("only editors and admins of {controller} may act on its case")
    })
}

fn parse_choice<T: serde::de::DeserializeOwned>(field: &str, raw: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        ApiError::invalid(field, format!("{field}: {raw:?} is not one of the choices"))
    })
}

#[derive(Deserialize)]
pub struct PhaseForm {
    csrf: String,
    organisation: String,
    note: String,
    #[serde(default)]
    occurred_until: String,
    #[serde(default)]
    subjects_min: String,
    #[serde(default)]
    subjects_max: String,
    #[serde(default)]
    consequences: String,
    #[serde(default)]
    measures_taken: String,
}

/// A follow-up (Art. 33(4)): only the fields filled in change.
pub async fn add_phase(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<PhaseForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.organisation,
        Capacity::Portal,
        || format!("only {}'s people may add facts for it", form.organisation),
    )?;
    let filled = |raw: &str| Some(raw.trim().to_owned()).filter(|t| !t.is_empty());
    let subjects = match number("subjects_min", &form.subjects_min)? {
        Some(min) => Some(Approximate {
            min,
            max: number("subjects_max", &form.subjects_max)?,
        }),
        None => None,
    };
    let update = custos_core::breach::FactsUpdate {
        note: form.note.trim().to_owned(),
        occurred_until: optional_utc("occurred_until", &form.occurred_until)?,
        subjects,
        consequences: filled(&form.consequences),
        measures_taken: filled(&form.measures_taken),
        ..Default::default()
    };
    let register = state.register().await;
    breaches::add_phase(
        &state.store,
        &register,
        &key,
        &form.organisation,
        update,
        &principal.actor(state.clock.now()),
        &breaches::Settings::default(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

#[derive(Deserialize)]
pub struct AwarenessForm {
    csrf: String,
    aware_at: String,
}

/// A controller records that it became aware earlier than the report reached it.
pub async fn awareness(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<AwarenessForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    breaches::record_awareness(
        &state.store,
        &key,
        &controller,
        utc("aware_at", &form.aware_at)?,
        &principal.actor(state.clock.now()),
        &breaches::Settings::default(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

#[derive(Deserialize)]
pub struct AssessForm {
    csrf: String,
    #[serde(default)]
    context: String,
    #[serde(default)]
    context_adjustment: String,
    #[serde(default)]
    identification: String,
    #[serde(default)]
    confidentiality: String,
    #[serde(default)]
    integrity: String,
    #[serde(default)]
    availability: String,
    #[serde(default)]
    malicious: Option<String>,
    risk: String,
    reasons: String,
}

pub async fn assess(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<AssessForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    let severity = if form.context.is_empty() {
        None
    } else {
        let loss = |field: &str, raw: &str| -> Result<Loss, ApiError> {
            if raw.is_empty() {
                Ok(Loss::None)
            } else {
                parse_choice(field, raw)
            }
        };
        Some(SeverityInputs {
            context: parse_choice::<ProcessingContext>("context", &form.context)?,
            context_adjustment: if form.context_adjustment.trim().is_empty() {
                0
            } else {
                form.context_adjustment.trim().parse().map_err(|_| {
                    ApiError::invalid(
                        "context_adjustment",
                        "context_adjustment: a whole number from -3 to 3",
                    )
                })?
            },
            identification: parse_choice::<Identification>("identification", &form.identification)?,
            confidentiality: loss("confidentiality", &form.confidentiality)?,
            integrity: loss("integrity", &form.integrity)?,
            availability: loss("availability", &form.availability)?,
            malicious: form.malicious.is_some(),
        })
    };
    let assessment = Assessment {
        severity,
        risk: parse_choice::<Risk>("risk", &form.risk)?,
        reasons: form.reasons.trim().to_owned(),
    };
    breaches::assess(
        &state.store,
        &key,
        &controller,
        assessment,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    kind: String,
    reasons: String,
    #[serde(default)]
    exception: String,
    #[serde(default)]
    delay_reasons: String,
}

pub async fn decide(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    let decision = Decision {
        kind: parse_choice::<DecisionKind>("kind", &form.kind)?,
        reasons: form.reasons.trim().to_owned(),
        exception: if form.exception.is_empty() {
            None
        } else {
            Some(parse_choice::<SubjectsException>(
                "exception",
                &form.exception,
            )?)
        },
        delay_reasons: Some(form.delay_reasons.trim().to_owned()).filter(|r| !r.is_empty()),
    };
    let register = state.register().await;
    breaches::decide(
        &state.store,
        &register,
        &key,
        &controller,
        decision,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}

#[derive(Deserialize)]
pub struct FileForm {
    csrf: String,
    submitted_at: String,
    #[serde(default)]
    reference: String,
    /// `yes` once the person has seen what the step does.
    #[serde(default)]
    confirm: String,
}

pub async fn file(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<FileForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    let step = Confirmation {
        title: tr("breach-file-title", &[("controller", &controller)]),
        consequences: vec![
            if form.reference.trim().is_empty() {
                tr(
                    "breach-file-submitted",
                    &[
                        ("at", &form.submitted_at),
                        ("zone", &super::viewer::viewer_zone_name()),
                    ],
                )
            } else {
                tr(
                    "breach-file-submitted-with-reference",
                    &[
                        ("at", &form.submitted_at),
                        ("zone", &super::viewer::viewer_zone_name()),
                        ("reference", form.reference.trim()),
                    ],
                )
            },
            tr("breach-file-version-filed", &[]),
            tr("breach-file-final", &[]),
        ],
        action: format!("/breaches/{key}/cases/{controller}/file"),
        button: tr("breach-file-button", &[]),
        back: format!("/breaches/{key}"),
        hidden: vec![("submitted_at".to_owned(), form.submitted_at.clone())],
        fields: vec![confirm::Field {
            name: "reference",
            label: tr("breach-file-reference", &[]),
            value: form.reference.clone(),
            multiline: false,
            required: false,
        }],
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "breaches", &step, None));
    }
    let filing = NewFiling {
        submitted_at: utc("submitted_at", &form.submitted_at)?,
        reference: Some(form.reference.trim().to_owned()).filter(|r| !r.is_empty()),
        version: None,
    };
    let register = state.register().await;
    let filed = breaches::file(
        &state.store,
        &register,
        &key,
        &controller,
        filing,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from);
    match filed {
        Ok(_) => Ok(Redirect::to(&format!("/breaches/{key}")).into_response()),
        Err(error) if correctable(&error) => {
            Ok(ask(&principal, &form.csrf, "breaches", &step, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    csrf: String,
    addresses: String,
    #[serde(default)]
    language: String,
    /// `yes` once the person has seen what the step does.
    #[serde(default)]
    confirm: String,
}

/// Sends the communication through Custos's e-mail to the affected subjects among the
/// addresses given (one a line).
pub async fn send(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<SendForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    let addresses: Vec<String> = form
        .addresses
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let language = if form.language.is_empty() {
        None
    } else {
        Some(
            form.language
                .parse()
                .map_err(|e: String| ApiError::invalid("language", e))?,
        )
    };
    let step = Confirmation {
        title: tr("breach-send-title", &[]),
        consequences: vec![
            tr_count(
                "breach-send-to-affected",
                i64::try_from(addresses.len()).unwrap_or(i64::MAX),
                &[],
            ),
            tr("breach-send-final", &[]),
        ],
        action: format!("/breaches/{key}/cases/{controller}/send"),
        button: tr("breach-send-button", &[]),
        back: format!("/breaches/{key}"),
        hidden: vec![("language".to_owned(), form.language.clone())],
        fields: vec![confirm::Field {
            name: "addresses",
            label: tr("breach-send-addresses", &[]),
            value: form.addresses.clone(),
            multiline: true,
            required: true,
        }],
    };
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "breaches", &step, None));
    }
    let register = state.register().await;
    let sent = breaches::send_communication(
        &state.store,
        &register,
        &key,
        &controller,
        &addresses,
        language,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from);
    match sent {
        Ok(_) => Ok(Redirect::to(&format!("/breaches/{key}")).into_response()),
        Err(error) if correctable(&error) => {
            Ok(ask(&principal, &form.csrf, "breaches", &step, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct CommunicateForm {
    csrf: String,
    sent_at: String,
    channel: String,
    #[serde(default)]
    recipients: String,
}

pub async fn communicate(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, controller)): Path<(String, String)>,
    Form(form): Form<CommunicateForm>,
) -> Result<Response, UiError> {
    for_case(&state, &principal, &form.csrf, &key, &controller).await?;
    let communication = NewCommunication {
        sent_at: utc("sent_at", &form.sent_at)?,
        channel: form.channel.trim().to_owned(),
        recipients: number("recipients", &form.recipients)?,
    };
    breaches::communicate(
        &state.store,
        &key,
        &controller,
        communication,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/breaches/{key}")).into_response())
}
