//! The register edited in forms: organisations, activities and links (engagements) created,
//! changed and deleted in the browser, through the same policy, validation and audit as the
//! API. Every form has two buttons: Preview says what the change would do to the chains and
//! the findings (nothing is written), Save writes it with the version the form was read on (a
//! conflict shows both versions). A problem comes back at the field it is about, with what
//! was typed kept. Contracts have their own form (`ui::entries`).

use crate::i18n::Translate as _;
use crate::i18n::tr;
use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::entries::{Entry, Expect, Write};
use custos_app::preview::{PreviewError, preview};
use custos_core::checks::{Filter, Finding};
use custos_core::model::{
    Activity, Authorisation, Certification, Contact, Decision, DetailedLocation, Engagement,
    LawfulBasis, Location, Organisation, OrganisationKind, SpecialCategoryCondition, Translations,
};
use custos_core::refdata::ReferenceData;
use custos_core::register::{EntityKind, Register};
use custos_core::transfer::{
    Destination, Parties, mechanism_code, mechanism_options, parse_mechanism_code,
};
use custos_core::values::Slug;

use super::confirm::{Confirmation, ask, confirmed};
use super::entries::differences;
use super::{FormCaller, UiError, Viewer, check_csrf, entry_href, page, plain};
use crate::api::entries::{Outcome, run, visible};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Empty location rows a link form offers beyond those recorded.
const SPARE_LOCATIONS: usize = 2;
/// The most location rows a form takes.
const MAX_LOCATIONS: usize = 20;

/// What a change would do, as the form shows it.
pub struct PreviewView {
    pub recipients: Vec<String>,
    pub resolved: Vec<String>,
    pub raised: Vec<(&'static str, String, String)>,
}

/// What comes back with a form that was not saved.
#[derive(Default)]
pub struct FormOutcome {
    pub preview: Option<PreviewView>,
    /// The field at fault (when one is) and every problem said.
    pub field: String,
    pub problems: Vec<String>,
    /// Someone changed the entry meanwhile: field, stored now, as typed.
    pub conflict: Option<Vec<(String, String, String)>>,
    pub status: u16,
}

impl FormOutcome {
    fn problem(field: &str, message: impl Into<String>, status: StatusCode) -> Self {
        Self {
            field: field.to_owned(),
            problems: vec![message.into()],
            status: status.as_u16(),
            ..Self::default()
        }
    }

    /// The problem to show beside the field `name`, if it is the field at fault.
    pub fn message_at(&self, name: &str) -> Option<&str> {
        if self.field == name {
            self.problems.first().map(String::as_str)
        } else {
            None
        }
    }
}

/// The field a validation message is about, when it starts with one of `names`.
fn field_of(message: &str, names: &[&str]) -> String {
    let first = message
        .split([':', ' ', '.'])
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    names
        .iter()
        .find(|n| **n == first)
        .map(|n| (*n).to_owned())
        .unwrap_or_default()
}

fn rejected(error: ApiError, names: &[&str]) -> FormOutcome {
    let status = error.status();
    let problems: Vec<String> = error
        .to_string()
        .lines()
        .map(|line| {
            // "engagement a-x: message" → "message": the form is about that entry.
            match line.split_once(": ") {
                Some((head, rest)) if head.split(' ').count() == 2 => rest.to_owned(),
                _ => line.to_owned(),
            }
        })
        .collect();
    FormOutcome {
        field: problems
            .iter()
            .map(|p| field_of(p, names))
            .find(|f| !f.is_empty())
            .unwrap_or_default(),
        problems,
        status: status.as_u16(),
        ..FormOutcome::default()
    }
}

/// The findings that count in `register` as `principal` sees them today.
fn seen_findings(
    state: &AppState,
    principal: &Principal,
    register: &Register,
    evidence: &custos_core::checks::Evidence,
) -> Result<Vec<Finding>, custos_core::chain::ChainError> {
    let visibility = principal.visibility(register)?;
    Ok(visibility
        .findings(register, state.clock.today(), evidence, &Filter::default())?
        .findings
        .into_iter()
        .filter(Finding::counts)
        .collect())
}

/// Previews `write`, or saves it; `names` are the form's fields (to place a problem).
async fn preview_or_save(
    state: &AppState,
    principal: &Principal,
    write: Write,
    expect: Expect,
    save: bool,
    names: &[&str],
) -> Result<Result<String, FormOutcome>, UiError> {
    let (kind, id) = {
        let (kind, id) = write.target();
        (kind, id.to_string())
    };
    if !save {
        let register = state.register().await;
        let evidence = state.evidence().await?;
        let shown = preview(&register, &write, state.clock.today(), |r| {
            seen_findings(state, principal, r, &evidence)
        });
        return Ok(Err(match shown {
            Ok(p) => FormOutcome {
                preview: Some(PreviewView {
                    recipients: p
                        .recipients
                        .iter()
                        .flat_map(|r| {
                            r.added
                                .iter()
                                .map(move |a| {
                                    tr(
                                        "preview-adds",
                                        &[
                                            ("recipient", a.as_str()),
                                            ("activity", r.activity.as_str()),
                                        ],
                                    )
                                })
                                .chain(r.removed.iter().map(move |x| {
                                    tr(
                                        "preview-removes",
                                        &[
                                            ("recipient", x.as_str()),
                                            ("activity", r.activity.as_str()),
                                        ],
                                    )
                                }))
                        })
                        .collect(),
                    resolved: p
                        .resolved
                        .iter()
                        .map(|f| {
                            format!(
                                "{}: {}",
                                crate::i18n::rule_title(f.rule, f.title),
                                f.message
                            )
                        })
                        .collect(),
                    raised: p
                        .raised
                        .iter()
                        .map(|f| {
                            (
                                f.severity.as_str(),
                                crate::i18n::rule_title(f.rule, f.title),
                                f.message.to_string(),
                            )
                        })
                        .collect(),
                }),
                status: 200,
                ..FormOutcome::default()
            },
            Err(PreviewError::Rejected(problems)) => rejected(
                ApiError::from(custos_app::AppError::Rejected(problems)),
                names,
            ),
            Err(PreviewError::Chain(error)) => return Err(error.into()),
        }));
    }
    let typed: Option<serde_json::Value> = match &write {
        Write::Put(entry) => entry
            .json()
            .ok()
            .and_then(|j| serde_json::from_str(&j).ok()),
        Write::Remove(..) => None,
    };
    match run(state, principal, write, expect, None).await {
        Ok(Outcome::Written(_)) => Ok(Ok(entry_href(kind, &id))),
        Ok(Outcome::Proposed(amendment)) => Ok(Ok(format!(
            "/contracts/{}#amendment-{}",
            amendment.contract, amendment.key
        ))),
        Err(ApiError::PreconditionFailed(_)) => {
            // The entry as it is stored now, beside what was typed.
            let now: Option<serde_json::Value> = {
                let register = state.register().await;
                register
                    .parts()
                    .entry(kind, &id)
                    .and_then(|e| e.json().ok())
                    .and_then(|j| serde_json::from_str(&j).ok())
            };
            Ok(Err(FormOutcome {
                field: "tag".to_owned(),
                problems: vec![tr("form-changed-meanwhile", &[])],
                conflict: Some(differences(now.as_ref(), typed.as_ref())),
                status: 422,
                ..FormOutcome::default()
            }))
        }
        Err(ApiError::Conflict(detail)) => Ok(Err(FormOutcome::problem(
            "id",
            detail,
            StatusCode::CONFLICT,
        ))),
        Err(
            error @ (ApiError::Invalid { .. } | ApiError::Refused { .. } | ApiError::Forbidden(_)),
        ) => Ok(Err(rejected(error, names))),
        Err(other) => Err(other.into()),
    }
}

/// The form's fields as posted, trimmed.
type Posted = HashMap<String, String>;

fn get(posted: &Posted, name: &str) -> String {
    posted
        .get(name)
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn optional(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn slug(field: &'static str, text: &str) -> Result<Slug, (&'static str, String)> {
    text.parse().map_err(|e| {
        (
            field,
            format!("{field}: {text:?} is not an identifier ({e}): lower-case letters, digits and hyphens"),
        )
    })
}

fn slugs(field: &'static str, text: &str) -> Result<Vec<Slug>, (&'static str, String)> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| slug(field, s))
        .collect()
}

fn date(
    field: &'static str,
    text: &str,
) -> Result<Option<custos_core::Date>, (&'static str, String)> {
    match text {
        "" => Ok(None),
        day => day.parse().map(Some).map_err(|_| {
            (
                field,
                format!("{field}: expected a date (YYYY-MM-DD), not {day:?}"),
            )
        }),
    }
}

/// The country options of a select, the chosen one marked.
struct CountryOption {
    code: String,
    name: String,
}

fn countries() -> Vec<CountryOption> {
    let mut all: Vec<CountryOption> = ReferenceData::builtin()
        .countries()
        .map(|(code, c)| CountryOption {
            code: code.to_string(),
            name: c.name.clone(),
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// Whether the form's intent is to save (otherwise: preview).
fn saving(posted: &Posted) -> bool {
    get(posted, "intent") == "save"
}

/// What every form page needs besides its fields.
struct FormPage<'a> {
    principal: &'a Principal,
    csrf: &'a str,
    register: &'a Register,
    visibility: &'a custos_app::visibility::Visibility,
    today: custos_core::Date,
}

/// One kind of entry edited in a form: how its fields are read and shown, and how they make
/// the entry. The handlers below are the same for every kind.
trait EntryForm: Sized {
    type Stored: Clone;
    /// Its name in messages ("link", "organisation").
    const WHAT: &'static str;
    /// The form's fields, to place a problem at one.
    const NAMES: &'static [&'static str];
    fn find(ctx: &FormPage<'_>, id: &str) -> Option<Self::Stored>;
    fn of(stored: &Self::Stored) -> Self;
    fn read(posted: &Posted) -> Self;
    fn stored_id(stored: &Self::Stored) -> String;
    fn set_id(&mut self, id: String);
    /// The entry the fields describe over `base` (what the form does not show is kept); a
    /// problem names its field.
    fn entry(&self, base: Option<&Self::Stored>) -> Result<Entry, (&'static str, String)>;
    fn render(
        ctx: &FormPage<'_>,
        stored: Option<&Self::Stored>,
        fields: Self,
        outcome: FormOutcome,
    ) -> Response;
    /// Where to go once saved (`href`: the entry's page, or its amendment).
    fn after_save(_ctx: &FormPage<'_>, _id: &str, href: String) -> String {
        href
    }
}

/// Runs `show` with the page's context for the viewer.
async fn with_page<T>(
    state: &AppState,
    principal: &Principal,
    csrf: &str,
    show: impl FnOnce(&FormPage<'_>) -> Result<T, UiError>,
) -> Result<T, UiError> {
    let register = state.register().await;
    let visibility = principal.visibility(&register)?;
    show(&FormPage {
        principal,
        csrf,
        register: &register,
        visibility: &visibility,
        today: state.clock.today(),
    })
}

fn visible_or_404<F: EntryForm>(ctx: &FormPage<'_>, id: &str) -> Result<F::Stored, UiError> {
    F::find(ctx, id).ok_or_else(|| ApiError::not_found(format!("{} {id:?}", F::WHAT)).into())
}

/// A new entry's form, its fields as given.
async fn new_form<F: EntryForm>(
    state: &AppState,
    viewer: &Viewer,
    fields: F,
) -> Result<Response, UiError> {
    with_page(state, &viewer.principal, &viewer.csrf, |ctx| {
        Ok(F::render(ctx, None, fields, FormOutcome::default()))
    })
    .await
}

/// The form of the stored entry `id`, `adjust`ed (a value carried back from another form).
async fn edit_form<F: EntryForm>(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    adjust: impl FnOnce(&mut F),
) -> Result<Response, UiError> {
    with_page(state, &viewer.principal, &viewer.csrf, |ctx| {
        let stored = visible_or_404::<F>(ctx, id)?;
        let mut fields = F::of(&stored);
        adjust(&mut fields);
        Ok(F::render(
            ctx,
            Some(&stored),
            fields,
            FormOutcome::default(),
        ))
    })
    .await
}

/// Creates (`editing` none) or changes an entry from its posted form: previewed or saved, or
/// the form again with the problem, the input kept.
async fn submit<F: EntryForm>(
    state: AppState,
    principal: Principal,
    editing: Option<String>,
    posted: Posted,
) -> Result<Response, UiError> {
    let csrf = get(&posted, "csrf");
    check_csrf(&principal, &csrf)?;
    let stored = match &editing {
        Some(id) => Some(
            with_page(&state, &principal, &csrf, |ctx| {
                visible_or_404::<F>(ctx, id)
            })
            .await?,
        ),
        None => None,
    };
    let mut fields = F::read(&posted);
    if let Some(stored) = &stored {
        fields.set_id(F::stored_id(stored));
    }
    let entry = match fields.entry(stored.as_ref()) {
        Ok(entry) => entry,
        Err((field, message)) => {
            let outcome = FormOutcome::problem(field, message, StatusCode::UNPROCESSABLE_ENTITY);
            return with_page(&state, &principal, &csrf, |ctx| {
                Ok(F::render(ctx, stored.as_ref(), fields, outcome))
            })
            .await;
        }
    };
    let id = entry.id().to_string();
    let expect = match &stored {
        Some(_) => Expect::Tag(get(&posted, "tag")),
        None => Expect::Absent,
    };
    let write = Write::Put(Box::new(entry));
    let done =
        preview_or_save(&state, &principal, write, expect, saving(&posted), F::NAMES).await?;
    with_page(&state, &principal, &csrf, |ctx| match done {
        Ok(href) => Ok(Redirect::to(&F::after_save(ctx, &id, href)).into_response()),
        Err(outcome) => {
            // After a conflict the form edits the stored version.
            let stored = match (&editing, outcome.conflict.is_some()) {
                (Some(id), true) => Some(visible_or_404::<F>(ctx, id)?),
                _ => stored,
            };
            Ok(F::render(ctx, stored.as_ref(), fields, outcome))
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Links (engagements)

/// A mechanism the link form offers for a location: its code, what it is, and whether it
/// is exceptional (a derogation) or does not hold (kept only because it is recorded).
pub struct MechanismChoice {
    code: String,
    label: String,
}

/// A location row: its country and mechanism as typed, and what the row offers.
pub struct LocationRow {
    index: usize,
    country: String,
    transfer: String,
    /// Empty for a country in the EEA (no transfer) or no country yet.
    choices: Vec<MechanismChoice>,
    note: String,
}

#[derive(Default)]
struct LinkFields {
    id: String,
    activity: String,
    engaged_by: String,
    processor: String,
    service: String,
    category: String,
    /// The service and category in Spanish, for notices in Spanish (`translations.es`).
    service_es: String,
    category_es: String,
    since: String,
    until: String,
    contract: String,
    transfer: String,
    locations: Vec<(String, String)>,
    /// The controller's decision on this sub-processor: by, `approved`…, day, reference.
    decided_by: String,
    decision: String,
    decided_on: String,
    decision_reference: String,
}

impl LinkFields {
    fn of(link: &Engagement) -> Self {
        Self {
            id: link.id.to_string(),
            activity: link.activity.to_string(),
            engaged_by: link.engaged_by.to_string(),
            processor: link.processor.to_string(),
            service: link.service.to_string(),
            category: link.category.as_deref().unwrap_or_default().to_owned(),
            service_es: translation(&link.translations, "es", "service"),
            category_es: translation(&link.translations, "es", "category"),
            since: link.since.to_string(),
            until: link.until.map(|d| d.to_string()).unwrap_or_default(),
            contract: link
                .contract
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            transfer: link
                .transfer
                .as_deref()
                .map(mechanism_code)
                .unwrap_or_default(),
            decided_by: link
                .authorisation
                .as_ref()
                .map(|a| a.by.to_string())
                .unwrap_or_default(),
            decision: link
                .authorisation
                .as_ref()
                .map(|a| plain(&a.decision))
                .unwrap_or_default(),
            decided_on: link
                .authorisation
                .as_ref()
                .map(|a| a.date.to_string())
                .unwrap_or_default(),
            decision_reference: link
                .authorisation
                .as_ref()
                .and_then(|a| a.reference.clone())
                .unwrap_or_default(),
            locations: link
                .locations
                .iter()
                .map(|l| {
                    (
                        l.country().to_string(),
                        l.transfer().map(mechanism_code).unwrap_or_default(),
                    )
                })
                .collect(),
        }
    }

    fn read(posted: &Posted) -> Self {
        let locations = (0..MAX_LOCATIONS)
            .map(|i| {
                (
                    get(posted, &format!("location-{i}-country")),
                    get(posted, &format!("location-{i}-transfer")),
                )
            })
            .filter(|(country, _)| !country.is_empty())
            .collect();
        Self {
            id: get(posted, "id"),
            activity: get(posted, "activity"),
            engaged_by: get(posted, "engaged_by"),
            processor: get(posted, "processor"),
            service: get(posted, "service"),
            category: get(posted, "category"),
            service_es: get(posted, "service_es"),
            category_es: get(posted, "category_es"),
            since: get(posted, "since"),
            until: get(posted, "until"),
            contract: get(posted, "contract"),
            transfer: get(posted, "transfer"),
            locations,
            decided_by: get(posted, "decided_by"),
            decision: get(posted, "decision"),
            decided_on: get(posted, "decided_on"),
            decision_reference: get(posted, "decision_reference"),
        }
    }

    /// The link these fields describe, on top of `base` (what the form does not show is kept).
    fn link(&self, base: Option<&Engagement>) -> Result<Engagement, (&'static str, String)> {
        let mechanism = |field: &'static str, code: &str| match code {
            "" => Ok(None),
            code => parse_mechanism_code(code).map(Some).ok_or((
                field,
                format!("{field}: {code:?} is not a transfer mechanism"),
            )),
        };
        let mut locations = Vec::new();
        for (country, transfer) in &self.locations {
            let country = country
                .parse()
                .map_err(|e| ("locations", format!("locations: {country:?}: {e}")))?;
            locations.push(match mechanism("locations", transfer)? {
                None => Location::Country(country),
                Some(m) => Location::Detailed(DetailedLocation {
                    country,
                    transfer: Some(m),
                }),
            });
        }
        if self.service.is_empty() {
            return Err(("service", "service: say what the processor does".to_owned()));
        }
        let mut translations = base.map(|b| b.translations.clone()).unwrap_or_default();
        set_translation(&mut translations, "es", "service", &self.service_es);
        set_translation(&mut translations, "es", "category", &self.category_es);
        Ok(Engagement {
            translations,
            id: slug("id", &self.id)?,
            activity: slug("activity", &self.activity)?,
            engaged_by: slug("engaged_by", &self.engaged_by)?,
            processor: slug("processor", &self.processor)?,
            service: self.service.as_str().into(),
            category: optional(&self.category).map(Into::into),
            locations,
            transfer: mechanism("transfer", &self.transfer)?.map(Box::new),
            contract: optional(&self.contract)
                .map(|c| slug("contract", &c))
                .transpose()?,
            since: date("since", &self.since)?.ok_or((
                "since",
                "since: the first day the link is in force".to_owned(),
            ))?,
            until: date("until", &self.until)?,
            authorisation: self.authorisation()?.map(Box::new),
            acknowledgements: base.map(|b| b.acknowledgements.clone()).unwrap_or_default(),
        })
    }
}

impl LinkFields {
    /// The controller's recorded decision on the sub-processor, if one is given.
    fn authorisation(&self) -> Result<Option<Authorisation>, (&'static str, String)> {
        if self.decision.is_empty() {
            return Ok(None);
        }
        let decision = [
            Decision::Approved,
            Decision::DeemedApproved,
            Decision::Objected,
            Decision::Pending,
        ]
        .into_iter()
        .find(|d| plain(d) == self.decision)
        .ok_or((
            "authorisation",
            format!("authorisation: {:?} is not a decision", self.decision),
        ))?;
        Ok(Some(Authorisation {
            by: slug("authorisation", &self.decided_by)?,
            decision,
            date: date("authorisation", &self.decided_on)?.ok_or((
                "authorisation",
                "authorisation: the day the controller decided".to_owned(),
            ))?,
            reference: optional(&self.decision_reference),
        }))
    }
}

/// An entry's `field` in `language`, or nothing.
fn translation(translations: &Translations, language: &str, field: &str) -> String {
    translations
        .get(language)
        .and_then(|fields| fields.get(field))
        .cloned()
        .unwrap_or_default()
}

/// Sets (or, empty, removes) an entry's `field` in `language`.
fn set_translation(translations: &mut Translations, language: &str, field: &str, text: &str) {
    let text = text.trim();
    let fields = translations.entry(language.to_owned()).or_default();
    if text.is_empty() {
        fields.remove(field);
    } else {
        fields.insert(field.to_owned(), text.to_owned());
    }
    if fields.is_empty() {
        translations.remove(language);
    }
}

const LINK_FIELDS: &[&str] = &[
    "id",
    "activity",
    "engaged_by",
    "processor",
    "service",
    "category",
    "translations",
    "since",
    "until",
    "contract",
    "transfer",
    "locations",
    "authorisation",
];

#[derive(Template)]
#[template(path = "link_form.html")]
struct LinkForm {
    section: &'static str,
    user_email: String,
    csrf: String,
    /// Empty for a new link.
    editing: String,
    tag: String,
    fields: LinkFields,
    rows: Vec<LocationRow>,
    link_wide: Vec<MechanismChoice>,
    link_wide_note: String,
    activities: Vec<String>,
    organisations: Vec<(String, String)>,
    contracts: Vec<String>,
    countries: Vec<CountryOption>,
    outcome: FormOutcome,
}

/// The mechanisms that would hold for a transfer to `country` on the link the fields
/// describe, the one chosen kept even when it does not (marked so).
fn choices_for(
    register: &Register,
    fields: &LinkFields,
    country: &str,
    chosen: &str,
    on: custos_core::Date,
) -> (Vec<MechanismChoice>, String) {
    let reference = ReferenceData::builtin();
    let Ok(code) = country.parse::<custos_core::values::CountryCode>() else {
        return (Vec::new(), String::new());
    };
    let since = fields.since.parse().unwrap_or(on);
    if reference.in_eea(code, Some(since)) {
        return (Vec::new(), "in the EEA: no transfer".to_owned());
    }
    let Some(importer) = register.organisation(&fields.processor) else {
        return (
            Vec::new(),
            "choose the processor, then Preview: the mechanisms that hold depend on it".to_owned(),
        );
    };
    let exporter_is_controller = register
        .activity(&fields.activity)
        .is_some_and(|a| a.controllers().any(|c| c.as_str() == fields.engaged_by));
    let parties = Parties {
        importer,
        exporter_is_controller,
        contract_signed: register.contract(&fields.contract).and_then(|c| c.signed),
        since,
    };
    let destination = Destination::Country(code);
    let mut choices: Vec<MechanismChoice> =
        mechanism_options(reference, &destination, &parties, since)
            .into_iter()
            .map(|(m, a)| MechanismChoice {
                code: mechanism_code(&m),
                label: format!(
                    "{}{}",
                    mechanism_label(&m),
                    if a.exceptional {
                        " — exceptional: only for occasional transfers, never a chain's"
                    } else {
                        ""
                    }
                ),
            })
            .collect();
    if !chosen.is_empty() && !choices.iter().any(|c| c.code == chosen) {
        choices.insert(
            0,
            MechanismChoice {
                code: chosen.to_owned(),
                label: format!("{chosen} — does not hold for this link: choose another"),
            },
        );
    }
    (
        choices,
        format!(
            "a transfer to {}: choose what it relies on",
            reference.country_name_in(code, super::viewer::viewer_language().as_str())
        ),
    )
}

fn mechanism_label(mechanism: &custos_core::model::TransferMechanism) -> String {
    use custos_core::model::TransferMechanism as M;
    match mechanism {
        M::Adequacy => tr("mechanism-adequacy", &[]),
        M::Scc(terms) => tr("mechanism-scc", &[("module", &terms.module.to_string())]),
        M::Bcr => tr("mechanism-bcr", &[]),
        M::CodeOfConduct => tr("mechanism-code", &[]),
        M::Certification => tr("mechanism-certification", &[]),
        M::Derogation(ground) => tr("mechanism-derogation", &[("ground", &plain(ground))]),
    }
}

impl EntryForm for LinkFields {
    type Stored = Engagement;
    const WHAT: &'static str = "link";
    const NAMES: &'static [&'static str] = LINK_FIELDS;

    fn find(ctx: &FormPage<'_>, id: &str) -> Option<Engagement> {
        ctx.register
            .engagements()
            .iter()
            .find(|e| e.id.as_str() == id)
            .filter(|_| ctx.visibility.engagement(ctx.register, id))
            .cloned()
    }

    fn of(stored: &Engagement) -> Self {
        LinkFields::of(stored)
    }

    fn read(posted: &Posted) -> Self {
        LinkFields::read(posted)
    }

    fn stored_id(stored: &Engagement) -> String {
        stored.id.to_string()
    }

    fn set_id(&mut self, id: String) {
        self.id = id;
    }

    fn entry(&self, base: Option<&Engagement>) -> Result<Entry, (&'static str, String)> {
        self.link(base).map(Entry::Engagement)
    }

    fn render(
        ctx: &FormPage<'_>,
        stored: Option<&Engagement>,
        fields: Self,
        outcome: FormOutcome,
    ) -> Response {
        let mut rows: Vec<LocationRow> = fields
            .locations
            .iter()
            .enumerate()
            .map(|(index, (country, transfer))| {
                let (choices, note) =
                    choices_for(ctx.register, &fields, country, transfer, ctx.today);
                LocationRow {
                    index,
                    country: country.clone(),
                    transfer: transfer.clone(),
                    choices,
                    note,
                }
            })
            .collect();
        for index in rows.len()..rows.len() + SPARE_LOCATIONS {
            rows.push(LocationRow {
                index,
                country: String::new(),
                transfer: String::new(),
                choices: Vec::new(),
                note: "choose a country, then Preview: the mechanisms that hold are offered"
                    .to_owned(),
            });
        }
        let processor_country = ctx
            .register
            .organisation(&fields.processor)
            .map(|o| o.country.to_string())
            .unwrap_or_default();
        let (link_wide, link_wide_note) = choices_for(
            ctx.register,
            &fields,
            &processor_country,
            &fields.transfer,
            ctx.today,
        );
        let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
        let mut response = page(&LinkForm {
            section: "activities",
            user_email: ctx.principal.user.email.clone(),
            csrf: ctx.csrf.to_owned(),
            editing: stored.map(|e| e.id.to_string()).unwrap_or_default(),
            tag: stored
                .map(|e| Entry::Engagement(e.clone()).tag())
                .unwrap_or_default(),
            rows,
            link_wide,
            link_wide_note,
            activities: ctx
                .register
                .activities()
                .iter()
                .filter(|a| ctx.visibility.activity(ctx.register, a.id.as_str()))
                .map(|a| a.id.to_string())
                .collect(),
            organisations: ctx
                .register
                .organisations()
                .iter()
                .filter(|o| ctx.visibility.organisation(o.id.as_str()))
                .take(2_000)
                .map(|o| (o.id.to_string(), o.name.clone()))
                .collect(),
            contracts: ctx
                .register
                .contracts()
                .iter()
                .filter(|c| ctx.visibility.contract(c.id.as_str()))
                .filter(|c| {
                    fields.processor.is_empty() || c.between[1].as_str() == fields.processor
                })
                .take(2_000)
                .map(|c| c.id.to_string())
                .collect(),
            countries: countries(),
            fields,
            outcome,
        });
        *response.status_mut() = status;
        response
    }
}

pub async fn new_link(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let fields = LinkFields {
        activity: query.get("activity").cloned().unwrap_or_default(),
        engaged_by: query.get("engaged_by").cloned().unwrap_or_default(),
        processor: query.get("processor").cloned().unwrap_or_default(),
        since: state.clock.today().to_string(),
        ..LinkFields::default()
    };
    new_form(&state, &viewer, fields).await
}

pub async fn edit_link(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    edit_form(&state, &viewer, &id, |fields: &mut LinkFields| {
        // Back from recording its contract: that contract chosen, to save.
        if let Some(contract) = query.get("contract") {
            fields.contract = contract.clone();
        }
    })
    .await
}

pub async fn create_link(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<LinkFields>(state, principal, None, posted).await
}

pub async fn save_link(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<LinkFields>(state, principal, Some(id), posted).await
}

// ---------------------------------------------------------------------------------------
// Deleting an entry

/// A kind of entry in the viewer's words ("the {kind}").
fn kind_word(kind: EntityKind) -> String {
    match kind {
        EntityKind::Engagement => tr("kind-link", &[]),
        EntityKind::Organisation => tr("kind-organisation", &[]),
        EntityKind::Activity => tr("kind-activity", &[]),
        _ => tr("kind-contract", &[]),
    }
}

/// Deletes an entry after saying what it does (the preview) and asking again.
pub async fn delete_entry(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((collection, id)): Path<(String, String)>,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    let csrf = get(&posted, "csrf");
    check_csrf(&principal, &csrf)?;
    let kind = match collection.as_str() {
        "links" => EntityKind::Engagement,
        "organisations" => EntityKind::Organisation,
        "activities" => EntityKind::Activity,
        "contracts" => EntityKind::Contract,
        _ => return Err(ApiError::not_found(format!("{collection:?}")).into()),
    };
    let (stored, preview_lines) = {
        let register = state.register().await;
        let visibility = principal.visibility(&register)?;
        let stored = register
            .parts()
            .entry(kind, &id)
            .filter(|e| visible(&visibility, &register, e))
            .ok_or_else(|| ApiError::not_found(format!("{kind} {id:?}")))?;
        // Who may not change the entry is told so before being asked to confirm, and before
        // any question of versions.
        if !super::may_change(&state, &principal, &register, &stored).await? {
            return Err(ApiError::Forbidden(format!(
                "you may not delete the {kind} {id}: it is another party's to change"
            ))
            .into());
        }
        let evidence = state.evidence().await?;
        let slug: Slug = id
            .parse()
            .map_err(|_| ApiError::not_found(format!("{kind} {id:?}")))?;
        let lines: Vec<String> = match preview(
            &register,
            &Write::Remove(kind, slug),
            state.clock.today(),
            |r| seen_findings(&state, &principal, r, &evidence),
        ) {
            Ok(p) => p
                .recipients
                .iter()
                .flat_map(|r| {
                    r.removed.iter().map(move |x| {
                        tr(
                            "delete-leaves-recipients",
                            &[("recipient", x.as_str()), ("activity", r.activity.as_str())],
                        )
                    })
                })
                .chain(p.resolved.iter().map(|f| {
                    tr(
                        "delete-resolves",
                        &[
                            ("title", &crate::i18n::rule_title(f.rule, f.title)),
                            ("message", &f.message),
                        ],
                    )
                }))
                .chain(p.raised.iter().map(|f| {
                    tr(
                        "delete-raises",
                        &[
                            ("title", &crate::i18n::rule_title(f.rule, f.title)),
                            ("message", &f.message),
                        ],
                    )
                }))
                .collect(),
            Err(PreviewError::Rejected(problems)) => problems
                .iter()
                .map(|p| tr("delete-cannot", &[("problem", &p.to_string())]))
                .collect(),
            Err(PreviewError::Chain(error)) => return Err(error.into()),
        };
        (stored, lines)
    };
    let kind_word = kind_word(kind);
    let step = Confirmation {
        title: tr("delete-title", &[("kind", &kind_word), ("id", &id)]),
        consequences: std::iter::once(tr("delete-removed", &[("kind", &kind_word)]))
            .chain(preview_lines)
            .collect(),
        action: format!("/{collection}/{id}/delete"),
        button: tr("delete-button", &[("kind", &kind_word)]),
        back: entry_href(kind, &id),
        hidden: vec![("tag".to_owned(), stored.tag())],
        fields: Vec::new(),
    };
    if !confirmed(&get(&posted, "confirm")) {
        return Ok(ask(&principal, &csrf, "activities", &step, None));
    }
    let slug: Slug = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("{kind} {id:?}")))?;
    match run(
        &state,
        &principal,
        Write::Remove(kind, slug),
        Expect::Tag(get(&posted, "tag")),
        None,
    )
    .await
    {
        Ok(Outcome::Written(_)) => Ok(Redirect::to(match kind {
            EntityKind::Organisation | EntityKind::Contract => "/organisations",
            _ => "/activities",
        })
        .into_response()),
        Ok(Outcome::Proposed(amendment)) => Ok(Redirect::to(&format!(
            "/contracts/{}#amendment-{}",
            amendment.contract, amendment.key
        ))
        .into_response()),
        Err(
            error @ (ApiError::Invalid { .. }
            | ApiError::Refused { .. }
            | ApiError::Forbidden(_)
            | ApiError::PreconditionFailed(_)),
        ) => Ok(ask(&principal, &csrf, "activities", &step, Some(&error))),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------------------
// Organisations

#[derive(Default)]
struct OrganisationFields {
    id: String,
    name: String,
    country: String,
    kind: String,
    address: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    dpo_name: String,
    dpo_email: String,
    dpo_phone: String,
    sector: String,
    /// The sector in Spanish, for notices in Spanish (`translations.es.sector`).
    sector_es: String,
    certifications: String,
    safeguards: String,
    codes: String,
    language: String,
    time_zone: String,
    public_subprocessor_page: bool,
}

const ORGANISATION_FIELDS: &[&str] = &[
    "id",
    "name",
    "country",
    "kind",
    "address",
    "contact",
    "dpo",
    "sector",
    "translations",
    "certifications",
    "safeguards",
    "codes",
    "language",
    "time_zone",
];

impl OrganisationFields {
    fn of(o: &Organisation) -> Self {
        let contact = |c: Option<&Contact>| {
            (
                c.and_then(|c| c.name.clone()).unwrap_or_default(),
                c.and_then(|c| c.email.as_ref().map(ToString::to_string))
                    .unwrap_or_default(),
                c.and_then(|c| c.phone.clone()).unwrap_or_default(),
            )
        };
        let (contact_name, contact_email, contact_phone) = contact(o.contact.as_ref());
        let (dpo_name, dpo_email, dpo_phone) = contact(o.dpo.as_ref());
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            country: o.country.to_string(),
            kind: plain(&o.kind),
            address: o.address.clone().unwrap_or_default(),
            contact_name,
            contact_email,
            contact_phone,
            dpo_name,
            dpo_email,
            dpo_phone,
            sector: o.sector.clone().unwrap_or_default(),
            sector_es: translation(&o.translations, "es", "sector"),
            certifications: o
                .certifications
                .iter()
                .map(|c| {
                    [
                        Some(c.scheme.to_string()),
                        c.since.map(|d| format!("since {d}")),
                        c.until.map(|d| format!("until {d}")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n"),
            safeguards: o
                .safeguards
                .iter()
                .map(|h| {
                    [
                        Some(format!("{} {}", plain(&h.kind), h.name)),
                        h.since.map(|d| format!("since {d}")),
                        h.until.map(|d| format!("until {d}")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n"),
            codes: o.codes_of_conduct.join("\n"),
            language: o.language.clone().unwrap_or_default(),
            time_zone: o
                .time_zone
                .as_ref()
                .map(|z| z.as_str().to_owned())
                .unwrap_or_default(),
            public_subprocessor_page: o.public_subprocessor_page,
        }
    }

    fn read(posted: &Posted) -> Self {
        Self {
            id: get(posted, "id"),
            name: get(posted, "name"),
            country: get(posted, "country"),
            kind: get(posted, "kind"),
            address: get(posted, "address"),
            contact_name: get(posted, "contact_name"),
            contact_email: get(posted, "contact_email"),
            contact_phone: get(posted, "contact_phone"),
            dpo_name: get(posted, "dpo_name"),
            dpo_email: get(posted, "dpo_email"),
            dpo_phone: get(posted, "dpo_phone"),
            sector: get(posted, "sector"),
            sector_es: get(posted, "sector_es"),
            certifications: get(posted, "certifications"),
            safeguards: get(posted, "safeguards"),
            codes: get(posted, "codes"),
            language: get(posted, "language"),
            time_zone: get(posted, "time_zone"),
            public_subprocessor_page: !get(posted, "public_subprocessor_page").is_empty(),
        }
    }

    fn organisation(
        &self,
        base: Option<&Organisation>,
    ) -> Result<Organisation, (&'static str, String)> {
        let contact = |field: &'static str, name: &str, email: &str, phone: &str| {
            if name.is_empty() && email.is_empty() && phone.is_empty() {
                return Ok(None);
            }
            Ok(Some(Contact {
                name: optional(name),
                email: optional(email)
                    .map(|e| {
                        e.parse()
                            .map_err(|err| (field, format!("{field}: {e:?}: {err}")))
                    })
                    .transpose()?,
                phone: optional(phone),
            }))
        };
        if self.name.is_empty() {
            return Err(("name", "name: the organisation's legal name".to_owned()));
        }
        let mut certifications = Vec::new();
        for line in self
            .certifications
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let mut words = line.split_whitespace();
            let scheme = slug("certifications", words.next().unwrap_or_default())?;
            let (mut since, mut until) = (None, None);
            while let Some(word) = words.next() {
                let day = date("certifications", words.next().unwrap_or_default())?;
                match word {
                    "since" => since = day,
                    "until" => until = day,
                    other => {
                        return Err((
                            "certifications",
                            format!(
                                "certifications: {other:?}: write a line as \"iso27001 since 2024-01-01 until 2027-01-01\""
                            ),
                        ));
                    }
                }
            }
            certifications.push(Certification {
                scheme,
                since,
                until,
            });
        }
        let id = slug("id", &self.id)?;
        let country = self
            .country
            .parse()
            .map_err(|e| ("country", format!("country: {:?}: {e}", self.country)))?;
        let mut organisation = base.cloned().unwrap_or_else(|| Organisation {
            translations: Default::default(),
            id: id.clone(),
            name: String::new(),
            country,
            kind: OrganisationKind::default(),
            international_organisation: None,
            address: None,
            contact: None,
            dpo: None,
            representative: None,
            sector: None,
            certifications: Vec::new(),
            codes_of_conduct: Vec::new(),
            safeguards: Vec::new(),
            history: Vec::new(),
            public_subprocessor_page: false,
            language: None,
            time_zone: None,
            acknowledgements: Vec::new(),
        });
        organisation.id = id;
        organisation.name = self.name.clone();
        organisation.country = country;
        organisation.kind =
            serde_json::from_value(serde_json::Value::String(if self.kind.is_empty() {
                "company".to_owned()
            } else {
                self.kind.clone()
            }))
            .map_err(|_| {
                (
                    "kind",
                    format!("kind: {:?} is not a kind of organisation", self.kind),
                )
            })?;
        organisation.address = optional(&self.address);
        organisation.contact = contact(
            "contact",
            &self.contact_name,
            &self.contact_email,
            &self.contact_phone,
        )?;
        organisation.dpo = contact("dpo", &self.dpo_name, &self.dpo_email, &self.dpo_phone)?;
        organisation.sector = optional(&self.sector);
        set_translation(
            &mut organisation.translations,
            "es",
            "sector",
            &self.sector_es,
        );
        organisation.certifications = certifications;
        organisation.safeguards = self
            .safeguards
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(safeguard)
            .collect::<Result<_, _>>()?;
        organisation.codes_of_conduct = self
            .codes
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        organisation.language = match self.language.as_str() {
            "" => None,
            "en" | "es" => Some(self.language.clone()),
            other => return Err(("language", format!("language: en or es, not {other:?}"))),
        };
        organisation.time_zone = match self.time_zone.trim() {
            "" => None,
            zone => Some(
                zone.parse()
                    .map_err(|e| ("time_zone", format!("time_zone: {e}")))?,
            ),
        };
        organisation.public_subprocessor_page = self.public_subprocessor_page;
        Ok(organisation)
    }
}

/// A safeguard line: `bcr Acme group BCR-P, approved by the CNIL since 2020-01-01 until …`.
fn safeguard(line: &str) -> Result<custos_core::model::HeldSafeguard, (&'static str, String)> {
    use custos_core::model::SafeguardKind;
    let wrong = || {
        (
            "safeguards",
            format!(
                "safeguards: {line:?}: write a line as \"bcr Acme group BCR-P since 2020-01-01\" (bcr, code-of-conduct or certification, its name, optionally since and until)"
            ),
        )
    };
    let (kind, rest) = line.split_once(' ').ok_or_else(wrong)?;
    let kind = match kind {
        "bcr" => SafeguardKind::Bcr,
        "code-of-conduct" => SafeguardKind::CodeOfConduct,
        "certification" => SafeguardKind::Certification,
        _ => return Err(wrong()),
    };
    let (rest, until) = match rest.rsplit_once(" until ") {
        Some((rest, day)) => (rest, date("safeguards", day.trim())?),
        None => (rest, None),
    };
    let (name, since) = match rest.rsplit_once(" since ") {
        Some((name, day)) => (name, date("safeguards", day.trim())?),
        None => (rest, None),
    };
    if name.trim().is_empty() {
        return Err(wrong());
    }
    Ok(custos_core::model::HeldSafeguard {
        kind,
        name: name.trim().to_owned(),
        since,
        until,
    })
}

#[derive(Template)]
#[template(path = "organisation_form.html")]
struct OrganisationForm {
    section: &'static str,
    user_email: String,
    csrf: String,
    editing: String,
    tag: String,
    fields: OrganisationFields,
    countries: Vec<CountryOption>,
    zones: &'static [String],
    outcome: FormOutcome,
}

impl EntryForm for OrganisationFields {
    type Stored = Organisation;
    const WHAT: &'static str = "organisation";
    const NAMES: &'static [&'static str] = ORGANISATION_FIELDS;

    fn find(ctx: &FormPage<'_>, id: &str) -> Option<Organisation> {
        ctx.register
            .organisation(id)
            .filter(|o| ctx.visibility.organisation(o.id.as_str()))
            .cloned()
    }

    fn of(stored: &Organisation) -> Self {
        OrganisationFields::of(stored)
    }

    fn read(posted: &Posted) -> Self {
        OrganisationFields::read(posted)
    }

    fn stored_id(stored: &Organisation) -> String {
        stored.id.to_string()
    }

    fn set_id(&mut self, id: String) {
        self.id = id;
    }

    fn entry(&self, base: Option<&Organisation>) -> Result<Entry, (&'static str, String)> {
        self.organisation(base).map(Entry::Organisation)
    }

    fn render(
        ctx: &FormPage<'_>,
        stored: Option<&Organisation>,
        fields: Self,
        outcome: FormOutcome,
    ) -> Response {
        let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
        let mut response = page(&OrganisationForm {
            section: "organisations",
            user_email: ctx.principal.user.email.clone(),
            csrf: ctx.csrf.to_owned(),
            editing: stored.map(|o| o.id.to_string()).unwrap_or_default(),
            tag: stored
                .map(|o| Entry::Organisation(o.clone()).tag())
                .unwrap_or_default(),
            fields,
            countries: countries(),
            zones: custos_core::values::TimeZoneName::all(),
            outcome,
        });
        *response.status_mut() = status;
        response
    }

    /// An organisation nobody has engaged yet is seen by nobody but the administrators: its
    /// creator goes on to engage it.
    fn after_save(ctx: &FormPage<'_>, id: &str, href: String) -> String {
        if ctx.visibility.organisation(id) {
            href
        } else {
            format!("/links/new?processor={id}")
        }
    }
}

pub async fn new_organisation(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    new_form(&state, &viewer, OrganisationFields::default()).await
}

pub async fn edit_organisation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    edit_form(&state, &viewer, &id, |_: &mut OrganisationFields| {}).await
}

pub async fn create_organisation(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<OrganisationFields>(state, principal, None, posted).await
}

pub async fn save_organisation(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<OrganisationFields>(state, principal, Some(id), posted).await
}

// ---------------------------------------------------------------------------------------
// Activities

#[derive(Default)]
struct ActivityFields {
    id: String,
    name: String,
    controller: String,
    purposes: String,
    lawful_basis: String,
    subjects: String,
    data: String,
    retention: String,
    source: String,
    measures: String,
    large_scale: bool,
    systematic_monitoring: bool,
    automated_decisions: String,
    /// The Art. 9(2) condition, as its manifest name; empty: none.
    special_condition: String,
    /// `dpia`, `risk-analysis`, or empty.
    assessment: String,
    assessment_date: String,
    assessment_reference: String,
}

const ACTIVITY_FIELDS: &[&str] = &[
    "id",
    "name",
    "controller",
    "purposes",
    "lawful_basis",
    "subjects",
    "data",
    "retention",
    "source",
    "measures",
    "automated_decisions",
    "special_condition",
    "assessment",
];

/// Art. 9(2)(a)–(j), as the activity form offers them: the manifest name and the point.
const SPECIAL_CONDITIONS: [(SpecialCategoryCondition, &str); 10] = [
    (
        SpecialCategoryCondition::ExplicitConsent,
        "explicit consent (Art. 9(2)(a))",
    ),
    (
        SpecialCategoryCondition::Employment,
        "employment and social security law (Art. 9(2)(b))",
    ),
    (
        SpecialCategoryCondition::VitalInterests,
        "vital interests (Art. 9(2)(c))",
    ),
    (
        SpecialCategoryCondition::NotForProfitBody,
        "a not-for-profit body's members (Art. 9(2)(d))",
    ),
    (
        SpecialCategoryCondition::MadePublic,
        "made public by the subject (Art. 9(2)(e))",
    ),
    (
        SpecialCategoryCondition::LegalClaims,
        "legal claims (Art. 9(2)(f))",
    ),
    (
        SpecialCategoryCondition::SubstantialPublicInterest,
        "substantial public interest (Art. 9(2)(g))",
    ),
    (
        SpecialCategoryCondition::HealthOrSocialCare,
        "health or social care (Art. 9(2)(h))",
    ),
    (
        SpecialCategoryCondition::PublicHealth,
        "public health (Art. 9(2)(i))",
    ),
    (
        SpecialCategoryCondition::ArchivingOrResearch,
        "archiving, research or statistics (Art. 9(2)(j))",
    ),
];

const LAWFUL_BASES: [LawfulBasis; 6] = [
    LawfulBasis::Consent,
    LawfulBasis::Contract,
    LawfulBasis::LegalObligation,
    LawfulBasis::VitalInterests,
    LawfulBasis::PublicTask,
    LawfulBasis::LegitimateInterests,
];

impl ActivityFields {
    fn of(a: &Activity) -> Self {
        let ids = |list: &[Slug]| {
            list.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Self {
            id: a.id.to_string(),
            name: a.name.clone().unwrap_or_default(),
            controller: a.controller.to_string(),
            purposes: a.purposes.join("\n"),
            lawful_basis: a.lawful_basis.as_ref().map(plain).unwrap_or_default(),
            subjects: ids(&a.subjects),
            data: ids(&a.data),
            retention: a
                .retention
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            source: a.source.clone().unwrap_or_default(),
            measures: ids(&a.measures.iter().cloned().collect::<Vec<_>>()),
            large_scale: a.large_scale,
            systematic_monitoring: a.systematic_monitoring,
            automated_decisions: a.automated_decisions.clone().unwrap_or_default(),
            special_condition: a
                .special_category_condition
                .as_ref()
                .map(plain)
                .unwrap_or_default(),
            assessment: a
                .risk_assessment
                .as_ref()
                .map(|r| plain(&r.kind))
                .unwrap_or_default(),
            assessment_date: a
                .risk_assessment
                .as_ref()
                .map(|r| r.date.to_string())
                .unwrap_or_default(),
            assessment_reference: a
                .risk_assessment
                .as_ref()
                .and_then(|r| r.reference.clone())
                .unwrap_or_default(),
        }
    }

    fn read(posted: &Posted) -> Self {
        Self {
            id: get(posted, "id"),
            name: get(posted, "name"),
            controller: get(posted, "controller"),
            purposes: get(posted, "purposes"),
            lawful_basis: get(posted, "lawful_basis"),
            subjects: get(posted, "subjects"),
            data: get(posted, "data"),
            retention: get(posted, "retention"),
            source: get(posted, "source"),
            measures: get(posted, "measures"),
            large_scale: !get(posted, "large_scale").is_empty(),
            systematic_monitoring: !get(posted, "systematic_monitoring").is_empty(),
            automated_decisions: get(posted, "automated_decisions"),
            special_condition: get(posted, "special_condition"),
            assessment: get(posted, "assessment"),
            assessment_date: get(posted, "assessment_date"),
            assessment_reference: get(posted, "assessment_reference"),
        }
    }

    fn activity(&self, base: Option<&Activity>) -> Result<Activity, (&'static str, String)> {
        let id = slug("id", &self.id)?;
        let controller = slug("controller", &self.controller)?;
        let mut activity = base.cloned().unwrap_or_else(|| Activity {
            id: id.clone(),
            name: None,
            controller: controller.clone(),
            joint_controllers: Vec::new(),
            joint_arrangement: None,
            joint_acceptances: Vec::new(),
            purposes: Vec::new(),
            lawful_basis: None,
            special_category_condition: None,
            subjects: Vec::new(),
            data: Vec::new(),
            retention: None,
            source: None,
            measures: Default::default(),
            large_scale: false,
            systematic_monitoring: false,
            automated_decisions: None,
            risk_assessment: None,
            acknowledgements: Vec::new(),
        });
        activity.id = id;
        activity.name = optional(&self.name);
        activity.controller = controller;
        activity.purposes = self
            .purposes
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        activity.lawful_basis = match self.lawful_basis.as_str() {
            "" => None,
            basis => Some(
                LAWFUL_BASES
                    .into_iter()
                    .find(|b| plain(b) == basis)
                    .ok_or((
                        "lawful_basis",
                        format!("lawful_basis: {basis:?} is not in Art. 6(1)"),
                    ))?,
            ),
        };
        activity.subjects = slugs("subjects", &self.subjects)?;
        activity.data = slugs("data", &self.data)?;
        activity.retention = optional(&self.retention)
            .map(|r| {
                r.parse()
                    .map_err(|e| ("retention", format!("retention: {r:?}: {e}")))
            })
            .transpose()?;
        activity.source = optional(&self.source);
        activity.measures = slugs("measures", &self.measures)?.into_iter().collect();
        activity.large_scale = self.large_scale;
        activity.systematic_monitoring = self.systematic_monitoring;
        activity.automated_decisions = optional(&self.automated_decisions);
        activity.special_category_condition = match self.special_condition.as_str() {
            "" => None,
            name => Some(
                SPECIAL_CONDITIONS
                    .iter()
                    .map(|(c, _)| *c)
                    .find(|c| plain(c) == name)
                    .ok_or((
                        "special_condition",
                        format!("special_condition: {name:?} is not a condition of Art. 9(2)"),
                    ))?,
            ),
        };
        activity.risk_assessment = match self.assessment.as_str() {
            "" => None,
            kind => Some(custos_core::model::RiskAssessment {
                kind: match kind {
                    "dpia" => custos_core::model::RiskAssessmentKind::Dpia,
                    "risk-analysis" => custos_core::model::RiskAssessmentKind::RiskAnalysis,
                    other => {
                        return Err((
                            "assessment",
                            format!("assessment: dpia or risk-analysis, not {other:?}"),
                        ));
                    }
                },
                date: date("assessment", &self.assessment_date)?.ok_or((
                    "assessment",
                    "assessment: the day it was completed".to_owned(),
                ))?,
                reference: optional(&self.assessment_reference),
            }),
        };
        Ok(activity)
    }
}

#[derive(Template)]
#[template(path = "activity_form.html")]
struct ActivityForm {
    section: &'static str,
    user_email: String,
    csrf: String,
    editing: String,
    tag: String,
    fields: ActivityFields,
    /// The organisations the viewer writes for: the controllers it may name.
    controllers: Vec<String>,
    bases: Vec<String>,
    /// Art. 9(2) conditions: manifest name, words.
    conditions: Vec<(String, &'static str)>,
    outcome: FormOutcome,
}

impl EntryForm for ActivityFields {
    type Stored = Activity;
    const WHAT: &'static str = "activity";
    const NAMES: &'static [&'static str] = ACTIVITY_FIELDS;

    fn find(ctx: &FormPage<'_>, id: &str) -> Option<Activity> {
        ctx.register
            .activity(id)
            .filter(|_| ctx.visibility.activity(ctx.register, id))
            .cloned()
    }

    fn of(stored: &Activity) -> Self {
        ActivityFields::of(stored)
    }

    fn read(posted: &Posted) -> Self {
        ActivityFields::read(posted)
    }

    fn stored_id(stored: &Activity) -> String {
        stored.id.to_string()
    }

    fn set_id(&mut self, id: String) {
        self.id = id;
    }

    fn entry(&self, base: Option<&Activity>) -> Result<Entry, (&'static str, String)> {
        self.activity(base).map(Entry::Activity)
    }

    fn render(
        ctx: &FormPage<'_>,
        stored: Option<&Activity>,
        fields: Self,
        outcome: FormOutcome,
    ) -> Response {
        let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
        let principal = ctx.principal;
        let mut controllers: Vec<String> = principal
            .memberships
            .iter()
            .filter(|m| principal.may(custos_app::policy::Capacity::Edit, &m.organisation))
            .map(|m| m.organisation.clone())
            .collect();
        if let Some(a) = stored
            && !controllers.contains(&a.controller.to_string())
        {
            controllers.push(a.controller.to_string());
        }
        let mut response = page(&ActivityForm {
            section: "activities",
            user_email: principal.user.email.clone(),
            csrf: ctx.csrf.to_owned(),
            editing: stored.map(|a| a.id.to_string()).unwrap_or_default(),
            tag: stored
                .map(|a| Entry::Activity(a.clone()).tag())
                .unwrap_or_default(),
            fields,
            controllers,
            bases: LAWFUL_BASES.iter().map(plain).collect(),
            conditions: SPECIAL_CONDITIONS
                .iter()
                .map(|(c, words)| (plain(c), *words))
                .collect(),
            outcome,
        });
        *response.status_mut() = status;
        response
    }
}

pub async fn new_activity(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    new_form(&state, &viewer, ActivityFields::default()).await
}

pub async fn edit_activity(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    edit_form(&state, &viewer, &id, |_: &mut ActivityFields| {}).await
}

pub async fn create_activity(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<ActivityFields>(state, principal, None, posted).await
}

pub async fn save_activity(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path(id): Path<String>,
    Form(posted): Form<Posted>,
) -> Result<Response, UiError> {
    submit::<ActivityFields>(state, principal, Some(id), posted).await
}
