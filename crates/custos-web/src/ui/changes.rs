//! Pages of the sub-processor workflow: the inbox with countdowns and every visible request;
//! the request page (dossier, the path it travels, criteria, decisions, history) with the
//! decision, remark and execute forms; the filing form with the questionnaire upload. Forms
//! post with the session's CSRF token in a hidden field and work without JavaScript.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::changes::{self, RequestView};
use custos_core::change::{ChangeRequestSpec, DecisionKind, PartyState, RequestStatus};
use custos_core::model::AuthorisationMode;
use custos_core::refdata::ReferenceData;
use jiff::Timestamp;
use serde::Deserialize;

use super::confirm::{Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, check_csrf, page};
use crate::api::changes::{Standing, inbox, shows_entry, store_attachment, summaries};
use crate::auth::{Principal, Via};
use crate::error::ApiError;
use crate::state::AppState;
use custos_app::policy::Capacity;

/// "5 days 3 hours left", "ended 2 hours ago".
fn countdown(deadline: Option<&str>, now: Timestamp) -> String {
    let Some(deadline) = deadline.and_then(|d| d.parse::<Timestamp>().ok()) else {
        return tr("countdown-no-deadline", &[]);
    };
    let left = deadline.duration_since(now);
    let (days, hours) = (left.as_hours().abs() / 24, left.as_hours().abs() % 24);
    let span = match days {
        0 => format!("{hours} h"),
        _ => format!("{days} d {hours} h"),
    };
    let deadline = super::viewer::moment(deadline);
    if left.is_negative() {
        tr(
            "countdown-ended",
            &[("span", &span), ("deadline", &deadline)],
        )
    } else {
        tr(
            "countdown-left",
            &[("span", &span), ("deadline", &deadline)],
        )
    }
}

fn status_tone(status: &str) -> &'static str {
    match status {
        "approved" | "executed" | "deemed-approved" => "good",
        "blocked" | "objected" => "error",
        "open" | "pending" | "information-requested" => "warning",
        _ => "neutral",
    }
}

struct InboxRow {
    key: String,
    candidate: String,
    requester: String,
    controller: String,
    mode: String,
    countdown: String,
}

struct RequestRow {
    key: String,
    candidate: String,
    requester: String,
    service: String,
    status: String,
    tone: &'static str,
    filed_at: String,
}

#[derive(Template)]
#[template(path = "changes.html")]
struct ListPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    may_file: bool,
    inbox: Vec<InboxRow>,
    all: Vec<RequestRow>,
}

/// The organisations the caller may file for.
fn requesters(
    principal: &Principal,
    state_register: &custos_core::register::Register,
) -> Vec<String> {
    state_register
        .organisations()
        .iter()
        .map(|o| o.id.to_string())
        .filter(|o| principal.may(Capacity::Portal, o))
        .collect()
}

pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let now = state.clock.now();
    let all = summaries(&state, &viewer.principal).await?;
    let inbox = inbox(&viewer.principal, all.clone());
    let register = state.register().await;
    Ok(page(&ListPage {
        section: "changes",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        may_file: !requesters(&viewer.principal, &register).is_empty(),
        inbox: inbox
            .iter()
            .flat_map(|r| {
                r.waiting_for.iter().map(move |w| InboxRow {
                    key: r.key.clone(),
                    candidate: r.candidate_name.clone(),
                    requester: r.requester.clone(),
                    controller: w.controller.clone(),
                    mode: w.mode.clone(),
                    countdown: countdown(w.deadline.as_deref(), now),
                })
            })
            .collect(),
        all: all
            .into_iter()
            .map(|r| RequestRow {
                tone: status_tone(&r.status),
                key: r.key,
                candidate: r.candidate_name,
                requester: r.requester,
                service: r.service,
                status: r.status,
                filed_at: r.filed_at,
            })
            .collect(),
    }))
}

struct PartyRow {
    controller: String,
    state: String,
    tone: &'static str,
    mode_text: String,
    countdown: String,
    paths: Vec<String>,
    criteria: Vec<(String, bool)>,
    may_decide: bool,
}

struct HistoryRow {
    at: String,
    what: String,
    who: String,
    version: u32,
}

#[derive(Template)]
#[template(path = "change.html")]
struct RequestPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    key: String,
    status: String,
    tone: &'static str,
    filed_at: String,
    filed_by: String,
    dossier_version: u32,
    requester: String,
    candidate: String,
    candidate_id: String,
    candidate_country: String,
    candidate_address: String,
    candidate_contact: String,
    service: String,
    replaces: Option<String>,
    processing: String,
    locations: String,
    transfer: String,
    measures: String,
    certifications: String,
    codes: String,
    history_text: String,
    files: Vec<(String, String)>,
    controllers: Vec<PartyRow>,
    may_execute: bool,
    may_withdraw: bool,
    remark_as: String,
    history: Vec<HistoryRow>,
    /// The requester's people may answer with a new dossier version (while open).
    may_update_dossier: bool,
    /// The dossier as the new-version form starts from it: field, value.
    dossier_form: HashMap<&'static str, String>,
    mechanisms: Vec<(String, String)>,
    /// The candidate processes outside the EEA and the dossier states no mechanism.
    transfer_missing: bool,
    /// Why the new version last sent was refused (the form comes back with what was typed).
    dossier_problem: Option<String>,
}

impl RequestPage {
    fn dossier_value(&self, name: &str) -> &str {
        self.dossier_form.get(name).map_or("", String::as_str)
    }
}

fn or_dash(items: Vec<String>) -> String {
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join(", ")
    }
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    render_request(&state, &viewer, &key, None).await
}

/// The request's page; with `answer`, the new-version form comes back open with what was
/// typed and the problem that refused it.
async fn render_request(
    state: &AppState,
    viewer: &Viewer,
    key: &str,
    answer: Option<(HashMap<String, String>, &ApiError)>,
) -> Result<Response, UiError> {
    let key = key.to_owned();
    let view = changes::view(&state.store, &key)
        .await
        .map_err(ApiError::from)?;
    let standing = Standing::of(&viewer.principal, &view);
    if !standing.sees_request() {
        return Err(UiError::from(ApiError::not_found(format!(
            "change request {key}"
        ))));
    }
    let now = state.clock.now();
    let register = state.register().await;
    let reference = ReferenceData::builtin();
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let RequestView {
        request,
        parties,
        history,
    } = view;
    let open = matches!(
        request.status,
        RequestStatus::Open | RequestStatus::Blocked | RequestStatus::Approved
    );
    let visible_controllers: Vec<&str> = parties
        .iter()
        .filter(|p| standing.sees_party(p))
        .map(|p| p.addressee.controller.as_str())
        .collect();
    let controllers = parties
        .iter()
        .filter(|p| standing.sees_party(p))
        .map(|p| {
            let controller = p.addressee.controller.to_string();
            PartyRow {
                state: p.state.as_str().to_owned(),
                tone: status_tone(p.state.as_str()),
                mode_text: match (p.addressee.mode, &p.addressee.preauthorised_by) {
                    (_, Some(contract)) => tr(
                        "change-mode-preauthorised",
                        &[("contract", contract.as_str())],
                    ),
                    (AuthorisationMode::General, _) => tr("change-mode-general", &[]),
                    (AuthorisationMode::Specific, _) => tr("change-mode-specific", &[]),
                },
                countdown: if p.state.open() {
                    countdown(p.deadline.as_deref(), now)
                } else {
                    tr(
                        "change-decided-on-version",
                        &[
                            ("at", p.decided_at.as_deref().unwrap_or("—")),
                            (
                                "version",
                                &p.decided_version
                                    .map_or_else(|| "—".to_owned(), |v| v.to_string()),
                            ),
                        ],
                    )
                },
                paths: p
                    .addressee
                    .paths
                    .iter()
                    .map(|path| {
                        let mut names: Vec<String> =
                            path.iter().map(|o| name(o.as_str())).collect();
                        names.push(format!(
                            "{} (candidate)",
                            request.spec.dossier.candidate.name
                        ));
                        names.join(" → ")
                    })
                    .collect(),
                criteria: p
                    .addressee
                    .criteria
                    .iter()
                    .map(|c| {
                        let text = match &c.problem {
                            Some(problem) => format!("{} ({}): {problem}", c.criterion, c.contract),
                            None => format!("{} ({})", c.criterion, c.contract),
                        };
                        (text, c.met)
                    })
                    .collect(),
                may_decide: open
                    && p.state != PartyState::Approved
                    && standing.controllers.contains(&controller)
                    && viewer.principal.may(Capacity::Edit, &controller)
                    && matches!(viewer.principal.via, Via::Session { .. }),
                controller,
            }
        })
        .collect();
    let remark_as = standing
        .on_paths
        .iter()
        .find(|o| {
            **o != request.spec.requester.as_str()
                && !standing.controllers.contains(o)
                && viewer.principal.may(Capacity::Portal, o)
        })
        .filter(|_| open)
        .cloned()
        .unwrap_or_default();
    let dossier = &request.spec.dossier;
    let history = history
        .into_iter()
        .filter(|h| shows_entry(h, &visible_controllers))
        .map(|h| HistoryRow {
            what: match h.kind.as_str() {
                "decision" | "decision-outside" => format!(
                    "{} {}{}{}",
                    name(&h.organisation),
                    h.body["decision"].as_str().unwrap_or(""),
                    h.body["reasons"]
                        .as_str()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                    if h.kind == "decision-outside" {
                        " (received outside Custos)"
                    } else {
                        ""
                    },
                ),
                "remark" => format!(
                    "{} remarks: {}",
                    name(&h.organisation),
                    h.body["text"].as_str().unwrap_or("")
                ),
                "deemed-approved" => format!(
                    "{}: no objection by the deadline, deemed approved",
                    name(&h.organisation)
                ),
                other => other.to_owned(),
            },
            at: h.at,
            who: h.by,
            version: h.dossier_version,
        })
        .collect();
    let acts_as_requester = standing.requester
        && viewer
            .principal
            .may(Capacity::Portal, request.spec.requester.as_str());
    let may_execute = request.status == RequestStatus::Approved && acts_as_requester;
    let may_withdraw = open && acts_as_requester;
    let today = state.clock.today();
    let transfer_missing = dossier.transfer.is_none()
        && dossier.locations.iter().all(|l| l.transfer().is_none())
        && dossier
            .countries()
            .into_iter()
            .any(|c| !reference.in_eea(c, Some(today)));
    let dossier_form: HashMap<&'static str, String> = [
        ("processing", dossier.processing.clone()),
        (
            "locations",
            dossier
                .locations
                .iter()
                .map(|l| l.country().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "transfer",
            dossier
                .transfer
                .as_ref()
                .map(custos_core::transfer::mechanism_code)
                .unwrap_or_default(),
        ),
        ("measures", dossier.security_measures.join(", ")),
        (
            "certifications",
            dossier
                .certifications
                .iter()
                .map(|c| c.scheme.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("codes", dossier.codes_of_conduct.join(", ")),
    ]
    .into_iter()
    .map(|(name, value)| {
        // A refused new version comes back with what was typed.
        let typed = answer
            .as_ref()
            .and_then(|(typed, _)| typed.get(name).cloned());
        (name, typed.unwrap_or(value))
    })
    .collect();
    let status = answer.as_ref().map(|(_, error)| error.status());
    let mut response = page(&RequestPage {
        dossier_problem: answer.as_ref().map(|(_, error)| super::sentence(error)),
        may_update_dossier: may_withdraw,
        dossier_form,
        mechanisms: dossier_mechanisms(),
        transfer_missing,
        section: "changes",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        key: request.key.clone(),
        status: request.status.as_str().to_owned(),
        tone: status_tone(request.status.as_str()),
        filed_at: request.filed_at.clone(),
        filed_by: request.filed_by.clone(),
        dossier_version: request.dossier_version,
        requester: name(request.spec.requester.as_str()),
        candidate: dossier.candidate.name.clone(),
        candidate_id: dossier.candidate.id.to_string(),
        candidate_country: reference.country_name_in(
            dossier.candidate.country,
            super::viewer::viewer_language().as_str(),
        ),
        candidate_address: dossier.candidate.address.clone(),
        candidate_contact: [
            dossier.candidate.contact.name.clone(),
            dossier
                .candidate
                .contact
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
        service: request.spec.service.clone(),
        replaces: request.spec.replaces.as_ref().map(ToString::to_string),
        processing: dossier.processing.clone(),
        locations: or_dash(
            dossier
                .countries()
                .into_iter()
                .map(|c| reference.country_name_in(c, super::viewer::viewer_language().as_str()))
                .collect(),
        ),
        transfer: dossier.transfer.as_ref().map_or_else(
            || {
                if transfer_missing {
                    tr("change-transfer-missing", &[])
                } else {
                    "—".to_owned()
                }
            },
            |t| custos_core::notice::mechanism_kind(Some(t)).to_owned(),
        ),
        measures: or_dash(dossier.security_measures.clone()),
        certifications: or_dash(
            dossier
                .certifications
                .iter()
                .map(|c| c.scheme.to_string())
                .collect(),
        ),
        codes: or_dash(dossier.codes_of_conduct.clone()),
        history_text: or_dash(
            dossier
                .history
                .iter()
                .map(|h| format!("{}: {}", h.date, h.description))
                .collect(),
        ),
        files: dossier
            .questionnaire
            .iter()
            .chain(&dossier.attachments)
            .map(|a| (a.name.clone(), a.sha256.clone()))
            .collect(),
        controllers,
        may_execute,
        may_withdraw,
        remark_as,
        history,
    });
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    Ok(response)
}

/// A form posted with the session's CSRF token by someone acting for `organisation` in one
/// of `roles`; otherwise 403 with `refusal`.
pub(crate) fn posted_for(
    principal: &Principal,
    csrf: &str,
    organisation: &str,
    capacity: Capacity,
    refusal: impl FnOnce() -> String,
) -> Result<(), UiError> {
    check_csrf(principal, csrf)?;
    if principal.may(capacity, organisation) {
        Ok(())
    } else {
        Err(UiError::from(ApiError::Forbidden(refusal())))
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    controller: String,
    decision: String,
    #[serde(default)]
    reasons: String,
}

pub async fn decide(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.controller,
        Capacity::Edit,
        || {
            format!(
                "only editors and admins of {} may decide for it",
                form.controller
            )
        },
    )?;
    let decision: DecisionKind = form
        .decision
        .parse()
        .map_err(|e: String| ApiError::invalid("decision", e))?;
    let reasons = Some(form.reasons.trim().to_owned()).filter(|r| !r.is_empty());
    let register = state.register().await;
    changes::decide(
        &state.store,
        &register,
        &key,
        &form.controller,
        decision,
        reasons,
        None,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/change-requests/{key}")).into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
    /// `yes` once the person has seen what the step does.
    #[serde(default)]
    confirm: String,
}

/// Checks the form's token and that the caller acts for the request's requester.
async fn as_requester(
    state: &AppState,
    principal: &Principal,
    key: &str,
    csrf: &str,
) -> Result<RequestView, UiError> {
    let view = changes::view(&state.store, key)
        .await
        .map_err(ApiError::from)?;
    posted_for(
        principal,
        csrf,
        view.request.spec.requester.as_str(),
        Capacity::Portal,
        || "only the requester's people may do this".to_owned(),
    )?;
    Ok(view)
}

/// What executing or withdrawing a request does, said before it is done.
fn requester_step(view: &RequestView, key: &str, execute: bool) -> Confirmation {
    let spec = &view.request.spec;
    let candidate = &spec.dossier.candidate;
    let (title, consequences, verb, button) = if execute {
        (
            tr("change-engage-title", &[("candidate", &candidate.name)]),
            vec![
                tr(
                    "change-engage-becomes",
                    &[
                        ("candidate", &candidate.name),
                        ("id", candidate.id.as_str()),
                        ("requester", spec.requester.as_str()),
                        ("service", &spec.service),
                    ],
                ),
                tr("change-engage-chains-show-it", &[]),
                match &spec.replaces {
                    Some(replaced) => {
                        tr("change-engage-replaces", &[("replaced", replaced.as_str())])
                    }
                    None => tr("change-engage-replaces-nobody", &[]),
                },
            ],
            "execute",
            tr("change-engage-button", &[]),
        )
    } else {
        (
            tr("change-withdraw-title", &[("candidate", &candidate.name)]),
            vec![
                tr("change-withdraw-told", &[]),
                tr("change-withdraw-final", &[]),
            ],
            "withdraw",
            tr("change-withdraw-button", &[]),
        )
    };
    Confirmation {
        title,
        consequences,
        action: format!("/change-requests/{key}/{verb}"),
        button,
        back: format!("/change-requests/{key}"),
        hidden: Vec::new(),
        fields: Vec::new(),
    }
}

pub async fn execute(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let view = as_requester(&state, &principal, &key, &form.csrf).await?;
    let step = requester_step(&view, &key, true);
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "changes", &step, None));
    }
    match changes::execute(&state.store, &key, &principal.actor(state.clock.now()))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => {}
        Err(error) if correctable(&error) => {
            return Ok(ask(&principal, &form.csrf, "changes", &step, Some(&error)));
        }
        Err(error) => return Err(error.into()),
    }
    state.reload().await?;
    Ok(Redirect::to(&format!("/change-requests/{key}")).into_response())
}

pub async fn withdraw(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let view = as_requester(&state, &principal, &key, &form.csrf).await?;
    let step = requester_step(&view, &key, false);
    if !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "changes", &step, None));
    }
    match changes::withdraw(&state.store, &key, &principal.actor(state.clock.now()))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(Redirect::to(&format!("/change-requests/{key}")).into_response()),
        Err(error) if correctable(&error) => {
            Ok(ask(&principal, &form.csrf, "changes", &step, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
pub struct RemarkForm {
    csrf: String,
    organisation: String,
    text: String,
}

pub async fn remark(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    Form(form): Form<RemarkForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.organisation,
        Capacity::Portal,
        || format!("you do not act for {}", form.organisation),
    )?;
    changes::remark(
        &state.store,
        &key,
        &form.organisation,
        &form.text,
        &principal.actor(state.clock.now()),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/change-requests/{key}")).into_response())
}

/// The transfer mechanisms a dossier may state, as the forms offer them (the requester is a
/// processor, so SCC module 3; the controllers' decision pages judge them).
fn dossier_mechanisms() -> Vec<(String, String)> {
    use custos_core::model::{Art49Ground, SccTerms, TransferMechanism as M};
    let mut all = vec![
        M::Adequacy,
        M::Scc(SccTerms {
            module: 3,
            set: None,
        }),
        M::Bcr,
        M::CodeOfConduct,
        M::Certification,
    ];
    all.extend(
        [
            Art49Ground::ExplicitConsent,
            Art49Ground::ContractWithSubject,
            Art49Ground::ContractInSubjectsInterest,
        ]
        .into_iter()
        .map(M::Derogation),
    );
    all.iter()
        .map(|m| {
            (
                custos_core::transfer::mechanism_code(m),
                custos_core::notice::mechanism_kind(Some(m)).to_owned(),
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "change_new.html")]
struct NewPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    requesters: Vec<String>,
    mechanisms: Vec<(String, String)>,
    /// What was typed, when the form comes back.
    typed: HashMap<String, String>,
    problem: Option<String>,
}

impl NewPage {
    fn value(&self, name: &str) -> &str {
        self.typed.get(name).map_or("", String::as_str)
    }
}

fn new_page(
    principal: &Principal,
    csrf: &str,
    register: &custos_core::register::Register,
    typed: HashMap<String, String>,
    problem: Option<&ApiError>,
) -> Response {
    let mut response = page(&NewPage {
        section: "changes",
        user_email: principal.user.email.clone(),
        csrf: csrf.to_owned(),
        requesters: requesters(principal, register),
        mechanisms: dossier_mechanisms(),
        typed,
        problem: problem.map(super::sentence),
    });
    if let Some(error) = problem {
        *response.status_mut() = error.status();
    }
    response
}

pub async fn new_form(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let register = state.register().await;
    Ok(new_page(
        &viewer.principal,
        &viewer.csrf,
        &register,
        HashMap::new(),
        None,
    ))
}

/// A comma-separated field as its items, trimmed, empty ones left out.
pub(crate) fn list_field(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The dossier's parts a form gives (processing, locations, transfer, measures,
/// certifications, codes, the questionnaire and any further files), as JSON over `base`.
async fn dossier_parts(
    state: &AppState,
    principal: &Principal,
    fields: &HashMap<String, String>,
    files: Vec<super::PostedFile>,
    mut dossier: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let get = |name: &str| {
        fields
            .get(name)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let transfer = match get("transfer").as_str() {
        "" => serde_json::Value::Null,
        code => serde_json::to_value(
            custos_core::transfer::parse_mechanism_code(code).ok_or_else(|| {
                ApiError::invalid(
                    "transfer",
                    format!("transfer: {code:?} is not a transfer mechanism"),
                )
            })?,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    dossier["processing"] = get("processing").into();
    dossier["locations"] = serde_json::json!(list_field(&get("locations")));
    dossier["transfer"] = transfer;
    dossier["security_measures"] = serde_json::json!(list_field(&get("measures")));
    dossier["certifications"] = list_field(&get("certifications"))
        .into_iter()
        .map(|s| serde_json::json!({"scheme": s}))
        .collect();
    dossier["codes_of_conduct"] = serde_json::json!(list_field(&get("codes")));
    let mut attachments = dossier["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for file in files {
        let stored = store_attachment(state, principal, &file.media_type, &file.bytes).await?;
        let reference = serde_json::json!({"name": file.name, "sha256": stored.sha256});
        if file.field == "questionnaire" {
            dossier["questionnaire"] = reference;
        } else {
            attachments.push(reference);
        }
    }
    dossier["attachments"] = attachments.into();
    if let Some(map) = dossier.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    Ok(dossier)
}

/// The filing form: fields and files (the questionnaire and any others), turned into a
/// request; a refused one comes back with what was typed.
pub async fn file(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let (fields, files) =
        super::read_multipart(&mut form, &["questionnaire", "attachments"]).await?;
    let get = |name: &str| {
        fields
            .get(name)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let requester = get("requester");
    let csrf = get("csrf");
    posted_for(&principal, &csrf, &requester, Capacity::Portal, || {
        format!("only {requester}'s people may file its requests")
    })?;
    let candidate = serde_json::json!({
        "candidate": {"id": get("candidate_id"), "name": get("candidate_name"), "country": get("candidate_country"),
                      "address": get("candidate_address"),
                      "contact": {"name": get("contact_name"), "email": get("contact_email")}},
    });
    let filed = async {
        let dossier = dossier_parts(&state, &principal, &fields, files, candidate).await?;
        let spec = serde_json::json!({
            "requester": requester,
            "service": get("service"),
            "replaces": Some(get("replaces")).filter(|r| !r.is_empty()),
            "dossier": dossier,
        });
        let spec: ChangeRequestSpec = serde_json::from_value(spec).map_err(|e| {
            ApiError::invalid(
                "form",
                format!("the request is not complete or not right: {e}"),
            )
        })?;
        let register = state.register().await;
        changes::file(
            &state.store,
            &register,
            spec,
            &principal.actor(state.clock.now()),
            &state.workflow,
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    match filed {
        Ok(view) => {
            Ok(Redirect::to(&format!("/change-requests/{}", view.request.key)).into_response())
        }
        Err(error) if correctable(&error) => {
            let register = state.register().await;
            Ok(new_page(&principal, &csrf, &register, fields, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}

/// The requester answers a request for information with a new version of the dossier: every
/// decision given on the earlier one is reopened.
pub async fn new_version(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(key): Path<String>,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let (fields, files) =
        super::read_multipart(&mut form, &["questionnaire", "attachments"]).await?;
    let csrf = fields.get("csrf").cloned().unwrap_or_default();
    let view = as_requester(&state, &principal, &key, &csrf).await?;
    let current = serde_json::to_value(&view.request.spec.dossier)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let updated = async {
        let dossier = dossier_parts(&state, &principal, &fields, files, current).await?;
        let dossier: custos_core::change::Dossier = serde_json::from_value(dossier)
            .map_err(|e| ApiError::invalid("dossier", format!("the dossier is not right: {e}")))?;
        let register = state.register().await;
        changes::update_dossier(
            &state.store,
            &register,
            &key,
            dossier,
            &principal.actor(state.clock.now()),
            &state.workflow,
        )
        .await
        .map_err(ApiError::from)
    }
    .await;
    match updated {
        Ok(_) => Ok(Redirect::to(&format!("/change-requests/{key}")).into_response()),
        Err(error) if correctable(&error) => {
            let viewer = Viewer { principal, csrf };
            render_request(&state, &viewer, &key, Some((fields, &error))).await
        }
        Err(error) => Err(error.into()),
    }
}
