//! Data-subject requests on the web: the public intake and verification pages (no sign-in, no
//! script, in the controller's language; the same answer whatever the address), and for staff
//! the inbox with deadlines and the request page with the answer preview and the Art. 19 tree.

use crate::i18n::Translate as _;
use crate::i18n::tr;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use custos_app::rights::{self, NewRequest, NotificationChange};
use custos_core::rights::{NotificationState, RequestKind, RequestStatus};
use custos_render::Language;
use serde::Deserialize;

use super::changes::posted_for;
use super::confirm::{self, Confirmation, ask, confirmed, correctable};
use super::{FormCaller, UiError, Viewer, page};
use crate::api::rights::visible;
use crate::error::ApiError;
use crate::state::AppState;
use custos_app::policy::Capacity;

struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
    required: bool,
    options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "public_request.html")]
struct PublicPage {
    lang: &'static str,
    /// "Read this page in:" and the links to the page in each language (none on answers to
    /// a form).
    switch: String,
    switch_links: Vec<(String, &'static str, &'static str)>,
    heading: String,
    controller: String,
    paragraphs: Vec<String>,
    error: Option<String>,
    show_form: bool,
    action: String,
    token: String,
    fields: Vec<Field>,
    submit: &'static str,
}

/// The words of the public pages, in English and Spanish.
struct Words {
    heading: &'static str,
    intro: &'static str,
    kind: &'static str,
    email: &'static str,
    details: &'static str,
    transmit_to: &'static str,
    send: &'static str,
    sent_heading: &'static str,
    sent: &'static str,
    confirm_heading: &'static str,
    confirm: &'static str,
    confirm_button: &'static str,
    confirmed: &'static str,
    broken: &'static str,
    kinds: [&'static str; 6],
}

const ENGLISH: Words = Words {
    heading: "Exercise your data-protection rights",
    intro: "Ask for a copy of your data and who received it, its correction or erasure, a restriction of its processing, object to it, or take it elsewhere. We answer within one month. We send a link to your e-mail address to confirm that it is yours.",
    kind: "What do you ask for?",
    email: "Your e-mail address",
    details: "Details (what to correct, anything that helps us find your data)",
    transmit_to: "Portability only: address of the organisation to send your data to (optional)",
    send: "Send the request",
    sent_heading: "Check your e-mail",
    sent: "If the address can receive e-mail, a link to confirm your request is on its way. Open it within 24 hours. Nothing is done until you confirm.",
    confirm_heading: "Confirm your request",
    confirm: "Press the button to confirm that this request is yours.",
    confirm_button: "Confirm",
    confirmed: "Thank you: your request is confirmed. We will answer by e-mail.",
    broken: "This link does not work: it may have expired or been used already. You can send a new request.",
    kinds: [
        "Access: a copy of my data and who received it (Art. 15)",
        "Rectification of my data (Art. 16)",
        "Erasure of my data (Art. 17)",
        "Restriction of processing (Art. 18)",
        "Objection to processing (Art. 21)",
        "Portability: my data in a machine-readable format (Art. 20)",
    ],
};

const SPANISH: Words = Words {
    heading: "Ejerza sus derechos de protección de datos",
    intro: "Pida una copia de sus datos y quién los recibió, su rectificación o supresión, la limitación de su tratamiento, oponerse a él o llevarlos a otro sitio. Respondemos en el plazo de un mes. Le enviaremos un enlace a su correo para confirmar que es suyo.",
    kind: "¿Qué solicita?",
    email: "Su dirección de correo electrónico",
    details: "Detalles (qué rectificar, lo que nos ayude a encontrar sus datos)",
    transmit_to: "Solo portabilidad: dirección de la organización a la que enviar sus datos (opcional)",
    send: "Enviar la solicitud",
    sent_heading: "Revise su correo",
    sent: "Si la dirección puede recibir correo, le llega un enlace para confirmar su solicitud. Ábralo en las próximas 24 horas. No se hace nada hasta que confirme.",
    confirm_heading: "Confirme su solicitud",
    confirm: "Pulse el botón para confirmar que esta solicitud es suya.",
    confirm_button: "Confirmar",
    confirmed: "Gracias: su solicitud está confirmada. Le responderemos por correo.",
    broken: "Este enlace no funciona: puede haber caducado o haberse usado ya. Puede enviar una nueva solicitud.",
    kinds: [
        "Acceso: una copia de mis datos y quién los recibió (art. 15)",
        "Rectificación de mis datos (art. 16)",
        "Supresión de mis datos (art. 17)",
        "Limitación del tratamiento (art. 18)",
        "Oposición al tratamiento (art. 21)",
        "Portabilidad: mis datos en un formato legible por máquina (art. 20)",
    ],
};

fn words(language: Language) -> (&'static str, &'static Words) {
    match language {
        Language::Es => ("es", &SPANISH),
        Language::En => ("en", &ENGLISH),
    }
}

/// The controller's name and language; 404 when there is no such organisation.
async fn controller_of(state: &AppState, id: &str) -> Result<(String, Language), ApiError> {
    let register = state.register().await;
    let organisation = register
        .organisation(id)
        .ok_or_else(|| ApiError::not_found(format!("organisation {id:?}")))?;
    Ok((
        organisation.name.clone(),
        custos_render::rights::language_of(organisation.language.as_deref()),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct IntakeForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    transmit_to: String,
}

/// `?lang=xx` for a form's action, when a language was asked for.
fn lang_query(asked: Option<Language>) -> String {
    asked
        .map(|l| format!("?lang={}", l.as_str()))
        .unwrap_or_default()
}

/// The words and links of the language switch of a public page; `query` is what the links
/// keep of the page's own query (`token=…&`).
fn switch(language: Language, query: &str) -> (String, Vec<(String, &'static str, &'static str)>) {
    (
        crate::i18n::text(language, "language-switch", &[]),
        vec![
            (format!("?{query}lang=en"), "en", "English"),
            (format!("?{query}lang=es"), "es", "Español"),
        ],
    )
}

fn intake_page(
    id: &str,
    name: String,
    language: Language,
    form: &IntakeForm,
    error: Option<String>,
    param: &super::viewer::LanguageParam,
) -> PublicPage {
    let (lang, w) = words(language);
    let (switch, switch_links) = switch(language, "");
    PublicPage {
        lang,
        switch,
        switch_links,
        heading: w.heading.to_owned(),
        controller: name,
        paragraphs: vec![w.intro.to_owned()],
        error,
        show_form: true,
        action: format!(
            "/public/organisations/{id}/requests{}",
            lang_query(param.asked())
        ),
        token: String::new(),
        fields: vec![
            Field {
                name: "kind",
                label: w.kind,
                kind: "select",
                value: form.kind.clone(),
                required: true,
                options: RequestKind::ALL
                    .iter()
                    .zip(w.kinds)
                    .map(|(k, text)| (k.as_str().to_owned(), text.to_owned()))
                    .collect(),
            },
            Field {
                name: "email",
                label: w.email,
                kind: "email",
                value: form.email.clone(),
                required: true,
                options: Vec::new(),
            },
            Field {
                name: "details",
                label: w.details,
                kind: "textarea",
                value: form.details.clone(),
                required: false,
                options: Vec::new(),
            },
            Field {
                name: "transmit_to",
                label: w.transmit_to,
                kind: "url",
                value: form.transmit_to.clone(),
                required: false,
                options: Vec::new(),
            },
        ],
        submit: w.send,
    }
}

pub async fn intake_form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(param): Query<super::viewer::LanguageParam>,
) -> Result<Response, UiError> {
    let (name, language) = controller_of(&state, &id).await?;
    Ok(page(&intake_page(
        &id,
        name,
        param.asked().unwrap_or(language),
        &IntakeForm::default(),
        None,
        &param,
    )))
}

/// Files the request and answers "check your e-mail" whether it was filed or throttled.
pub async fn intake(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(param): Query<super::viewer::LanguageParam>,
    Form(form): Form<IntakeForm>,
) -> Result<Response, UiError> {
    let (name, language) = controller_of(&state, &id).await?;
    let language = param.asked().unwrap_or(language);
    let refuse = |error: String| {
        let mut response = page(&intake_page(
            &id,
            name.clone(),
            language,
            &form,
            Some(error),
            &param,
        ));
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Ok(response)
    };
    let kind: RequestKind = match form.kind.parse() {
        Ok(kind) => kind,
        Err(error) => return refuse(error),
    };
    let transmit_to = Some(form.transmit_to.trim().to_owned()).filter(|t| !t.is_empty());
    let new = NewRequest {
        controller: id
            .parse()
            .map_err(|_| ApiError::not_found(format!("organisation {id:?}")))?,
        kind,
        email: form.email.clone(),
        details: form.details.clone(),
        transmit_to,
        received_on: None,
    };
    let register = state.register().await;
    let actor = custos_app::Actor::new("subject:intake", state.clock.now());
    match rights::receive(
        &state.store,
        &register,
        new,
        "intake",
        &actor,
        &state.rights,
    )
    .await
    {
        Ok(_) => {}
        Err(custos_app::AppError::Invalid(error)) => return refuse(error),
        Err(other) => return Err(ApiError::from(other).into()),
    }
    let (lang, w) = words(language);
    Ok(page(&PublicPage {
        lang,
        switch: String::new(),
        switch_links: Vec::new(),
        heading: w.sent_heading.to_owned(),
        controller: name,
        paragraphs: vec![w.sent.to_owned()],
        error: None,
        show_form: false,
        action: String::new(),
        token: String::new(),
        fields: Vec::new(),
        submit: w.send,
    }))
}

#[derive(Debug, Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    token: String,
    #[serde(default)]
    lang: Option<String>,
}

impl TokenParam {
    fn asked(&self) -> Option<Language> {
        super::viewer::asked_language(self.lang.as_deref())
    }

    /// What a switch link keeps of the page's query: the secret.
    fn kept(&self) -> String {
        let token: String = form_urlencoded::byte_serialize(self.token.as_bytes()).collect();
        format!("token={token}&")
    }
}

/// The controller's name and language of a request, the same for an unknown one.
async fn request_words(state: &AppState, key: &str) -> (String, Language) {
    match rights::view(&state.store, key).await {
        Ok(view) => controller_of(state, &view.request.controller)
            .await
            .unwrap_or_default(),
        Err(_) => (String::new(), Language::En),
    }
}

/// What the subject's status page says, per language.
struct StatusWords {
    heading: &'static str,
    unknown: &'static str,
    received: &'static str,
    due: &'static str,
    extended: &'static str,
    unverified: &'static str,
    verified: &'static str,
    told: &'static str,
    closed: &'static str,
    refused: &'static str,
}

const STATUS_ENGLISH: StatusWords = StatusWords {
    heading: "Your request",
    unknown: "This link does not open any request. Use the link of the e-mail we sent you.",
    received: "Received on {received}: a request for {kind}.",
    due: "We answer by {due}.",
    extended: "We needed more time, as the law allows; we wrote to you why.",
    unverified: "Waiting for you to confirm that the request is yours (the link in our e-mail).",
    verified: "Confirmed as yours.",
    told: "Every recipient of your data has been told ({answered} of {told} have answered).",
    closed: "Answered and closed on {closed}.",
    refused: "Refused on {closed}; we wrote to you why and what you can do.",
};

const STATUS_SPANISH: StatusWords = StatusWords {
    heading: "Su solicitud",
    unknown: "Este enlace no abre ninguna solicitud. Use el enlace del correo que le enviamos.",
    received: "Recibida el {received}: una solicitud de {kind}.",
    due: "Respondemos antes del {due}.",
    extended: "Necesitamos más tiempo, como permite la ley; le escribimos por qué.",
    unverified: "A la espera de que confirme que la solicitud es suya (el enlace de nuestro correo).",
    verified: "Confirmada como suya.",
    told: "Se ha comunicado a todos los destinatarios de sus datos ({answered} de {told} han respondido).",
    closed: "Respondida y cerrada el {closed}.",
    refused: "Denegada el {closed}; le escribimos por qué y qué puede hacer.",
};

/// The subject's own page: where the request stands and when it is due, opened by the
/// secret link of the first e-mail; the same answer for an unknown request or a wrong secret.
pub async fn status_page(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(param): Query<TokenParam>,
) -> Result<Response, UiError> {
    let status = rights::status_for_subject(&state.store, &key, &param.token)
        .await
        .map_err(ApiError::from)?;
    let (name, language) = request_words(&state, &key).await;
    let language = param.asked().unwrap_or(language);
    let (lang, _) = words(language);
    let (switch, switch_links) = switch(language, &param.kept());
    let w = if lang == "es" {
        &STATUS_SPANISH
    } else {
        &STATUS_ENGLISH
    };
    let Some(status) = status else {
        let mut response = page(&PublicPage {
            lang,
            switch: String::new(),
            switch_links: Vec::new(),
            heading: w.heading.to_owned(),
            controller: String::new(),
            paragraphs: vec![w.unknown.to_owned()],
            error: None,
            show_form: false,
            action: String::new(),
            token: String::new(),
            fields: Vec::new(),
            submit: "",
        });
        *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
        return Ok(response);
    };
    let closed = status.closed.clone().unwrap_or_default();
    let mut paragraphs = vec![
        w.received
            .replace("{received}", &status.received)
            .replace("{kind}", status.kind.as_str()),
    ];
    paragraphs.push(if status.verified {
        w.verified.to_owned()
    } else {
        w.unverified.to_owned()
    });
    if status.told > 0 {
        paragraphs.push(
            w.told
                .replace("{answered}", &status.answered.to_string())
                .replace("{told}", &status.told.to_string()),
        );
    }
    match status.status {
        custos_core::rights::RequestStatus::Closed => {
            paragraphs.push(w.closed.replace("{closed}", &closed));
        }
        custos_core::rights::RequestStatus::Refused => {
            paragraphs.push(w.refused.replace("{closed}", &closed));
        }
        _ => {
            if status.extended {
                paragraphs.push(w.extended.to_owned());
            }
            paragraphs.push(w.due.replace("{due}", &status.due));
        }
    }
    Ok(page(&PublicPage {
        lang,
        switch,
        switch_links,
        heading: w.heading.to_owned(),
        controller: name,
        paragraphs,
        error: None,
        show_form: false,
        action: String::new(),
        token: String::new(),
        fields: Vec::new(),
        submit: "",
    }))
}

/// The confirmation page: a button, so that link scanners opening the e-mail verify nothing.
pub async fn verify_form(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(param): Query<TokenParam>,
) -> Response {
    let (name, language) = request_words(&state, &key).await;
    let language = param.asked().unwrap_or(language);
    let (lang, w) = words(language);
    let (switch, switch_links) = switch(language, &param.kept());
    page(&PublicPage {
        lang,
        switch,
        switch_links,
        heading: w.confirm_heading.to_owned(),
        controller: name,
        paragraphs: vec![w.confirm.to_owned()],
        error: None,
        show_form: true,
        action: format!("/public/requests/{key}/verify{}", lang_query(param.asked())),
        token: param.token,
        fields: Vec::new(),
        submit: w.confirm_button,
    })
}

pub async fn verify(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(asked): Query<super::viewer::LanguageParam>,
    Form(param): Form<TokenParam>,
) -> Result<Response, UiError> {
    let register = state.register().await;
    let confirmed = rights::verify_link(
        &state.store,
        &register,
        &key,
        &param.token,
        state.clock.now(),
        &state.rights,
    )
    .await
    .map_err(ApiError::from)?;
    let (name, language) = request_words(&state, &key).await;
    let (lang, w) = words(asked.asked().unwrap_or(language));
    let mut response = page(&PublicPage {
        lang,
        switch: String::new(),
        switch_links: Vec::new(),
        heading: w.confirm_heading.to_owned(),
        controller: name,
        paragraphs: vec![if confirmed { w.confirmed } else { w.broken }.to_owned()],
        error: None,
        show_form: false,
        action: String::new(),
        token: String::new(),
        fields: Vec::new(),
        submit: w.confirm_button,
    });
    if !confirmed {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

fn tone(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Received => "warning",
        RequestStatus::Verified | RequestStatus::Notifying => "info",
        RequestStatus::Closed => "good",
        RequestStatus::Refused => "error",
    }
}

struct InboxRow {
    key: String,
    short: String,
    /// The subject's address masked (`a•••@example.com`) until the request is opened.
    subject: String,
    controller: String,
    kind: &'static str,
    status: &'static str,
    tone: &'static str,
    received: String,
    due: String,
    /// `12 days left`, `due today`, `3 days overdue`; empty once closed.
    days_left: String,
    /// The colour of the days left: `error` overdue, `warning` within a week.
    urgency: &'static str,
    /// Who on the staff handles it; empty: nobody yet.
    assignee: String,
}

/// An address as the inbox shows it: its first character and its domain.
pub(crate) fn masked(email: Option<&str>) -> String {
    match email.and_then(|e| e.split_once('@')) {
        Some((local, domain)) => format!(
            "{}•••@{domain}",
            local.chars().next().map(String::from).unwrap_or_default()
        ),
        None => "(erased)".to_owned(),
    }
}

/// How many days are left until `due` on `today`, in words, and how urgent that is.
pub(crate) fn days_left(due: &str, today: custos_core::Date) -> (String, &'static str) {
    let Ok(due) = due.parse::<custos_core::Date>() else {
        return (String::new(), "info");
    };
    let days = (due - today).get_days();
    match days {
        d if d < 0 => (
            crate::i18n::tr_count("days-overdue", (-d).into(), &[]),
            "error",
        ),
        0 => (crate::i18n::tr("days-due-today", &[]), "error"),
        d => (
            crate::i18n::tr_count("days-left", d.into(), &[]),
            if d <= 7 { "warning" } else { "info" },
        ),
    }
}

#[derive(Template)]
#[template(path = "subject_requests.html")]
struct InboxPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    /// The controllers the caller may enter requests for: id and name.
    controllers: Vec<(String, String)>,
    kinds: Vec<&'static str>,
    /// The latest receipt day the entry form accepts.
    today: String,
    open: Vec<InboxRow>,
    closed: Vec<InboxRow>,
    filter: InboxFilter,
    statuses: Vec<&'static str>,
}

/// The inbox's filters and order; every one optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InboxFilter {
    /// Words found in the subject's address (while the request is open) or the request's key.
    #[serde(default)]
    q: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    controller: String,
    /// `me`, `none`, or a colleague's address; empty: anyone.
    #[serde(default)]
    assignee: String,
    /// `due` (default: the most urgent first), `received` (newest first).
    #[serde(default)]
    sort: String,
}

impl InboxFilter {
    fn matches(
        &self,
        request: &custos_app::data::StoredSubjectRequest,
        assignee: Option<&String>,
        me: &str,
    ) -> bool {
        let q = self.q.trim().to_lowercase();
        (q.is_empty()
            || request.key.contains(&q)
            || request
                .email
                .as_deref()
                .is_some_and(|e| e.to_lowercase().contains(&q)))
            && (self.kind.is_empty() || request.kind.as_str() == self.kind)
            && (self.status.is_empty() || request.status.as_str() == self.status)
            && (self.controller.is_empty() || request.controller == self.controller)
            && match self.assignee.as_str() {
                "" => true,
                "none" => assignee.is_none(),
                "me" => assignee.is_some_and(|a| a == me),
                other => assignee.is_some_and(|a| a == other),
            }
    }
}

pub async fn inbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(filter): Query<InboxFilter>,
) -> Result<Response, UiError> {
    let today_date = state.clock.today();
    let today = today_date.to_string();
    let assignees = rights::assignees(&state.store)
        .await
        .map_err(ApiError::from)?;
    let me = viewer.principal.user.email.clone();
    let requests: Vec<_> = crate::api::rights::requests_for(&state, &viewer.principal, None, false)
        .await?
        .into_iter()
        .filter(|r| filter.matches(r, assignees.get(&r.key), &me))
        .collect();
    let (open, closed): (Vec<_>, Vec<_>) = requests.into_iter().partition(|r| r.status.open());
    let row = |r: custos_app::data::StoredSubjectRequest| {
        let due = r
            .extended_until
            .clone()
            .unwrap_or_else(|| r.deadline.clone());
        let overdue = r.status.open() && due < today;
        let (days_left, urgency) = if r.status.open() {
            days_left(&due, today_date)
        } else {
            (String::new(), "info")
        };
        InboxRow {
            assignee: assignees.get(&r.key).cloned().unwrap_or_default(),
            subject: masked(r.email.as_deref()),
            days_left,
            urgency,
            // The key's last 8 characters: its random part, enough to tell requests apart.
            short: r
                .key
                .get(r.key.len().saturating_sub(8)..)
                .unwrap_or(&r.key)
                .to_owned(),
            controller: r.controller,
            kind: r.kind.as_str(),
            status: r.status.as_str(),
            tone: if overdue { "error" } else { tone(r.status) },
            received: r.received_at.get(..10).unwrap_or_default().to_owned(),
            due: if overdue {
                format!("{due} (overdue)")
            } else {
                due
            },
            key: r.key,
        }
    };
    let mut open: Vec<InboxRow> = open.into_iter().map(row).collect();
    if filter.sort == "received" {
        open.sort_by(|a, b| b.received.cmp(&a.received).then(b.key.cmp(&a.key)));
    } else {
        open.sort_by(|a, b| a.due.cmp(&b.due));
    }
    let register = state.register().await;
    let controllers = register
        .organisations()
        .iter()
        .filter(|o| viewer.principal.may(Capacity::Edit, o.id.as_str()))
        .filter(|o| {
            register
                .activities()
                .iter()
                .any(|a| a.accepted_controllers().any(|c| c == &o.id))
        })
        .map(|o| (o.id.to_string(), o.name.clone()))
        .collect();
    Ok(page(&InboxPage {
        section: "rights",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        controllers,
        kinds: RequestKind::ALL.iter().map(|k| k.as_str()).collect(),
        today: today.clone(),
        open,
        closed: closed.into_iter().map(row).collect(),
        filter,
        statuses: custos_core::rights::RequestStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect(),
    }))
}

struct TreeRow {
    key: String,
    recipient: String,
    relayed_by: Option<String>,
    state: &'static str,
    tone: &'static str,
    note: Option<String>,
    depth: usize,
    may_settle: bool,
    /// Done needs the notification sent (a pending one is not yet the recipient's).
    may_complete: bool,
}

#[derive(Template)]
#[template(path = "subject_request.html")]
struct RequestPage {
    section: &'static str,
    user_email: String,
    csrf: String,
    key: String,
    kind: &'static str,
    status: &'static str,
    tone: &'static str,
    controller: String,
    received: String,
    channel: String,
    due: String,
    extension_reasons: Option<String>,
    email: String,
    verification: String,
    details: String,
    outcome: Option<String>,
    show_answer: bool,
    tree: Vec<TreeRow>,
    may_act: bool,
    verified: bool,
    /// Verified, and every recipient done or impossible.
    may_close: bool,
    may_extend: bool,
    may_notify: bool,
    close_label: String,
    history: Vec<(String, String, String)>,
    /// Who handles it; empty: nobody yet.
    assignee: String,
    /// The staff's internal notes: when, who, what.
    notes: Vec<(String, String, String)>,
    /// Notes may be added by the controller's editors, open or closed.
    may_note: bool,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Result<Response, UiError> {
    let view = visible(&state, &viewer.principal, &key, Capacity::Read).await?;
    let register = state.register().await;
    let name = |id: &str| {
        register
            .organisation(id)
            .map_or_else(|| id.to_owned(), |o| o.name.clone())
    };
    let r = &view.request;
    let open = r.status.open();
    let may_act = open && viewer.principal.may(Capacity::Edit, &r.controller);
    let depth_of = |mut recipient: String| {
        let mut depth = 0;
        while let Some(parent) = view
            .notifications
            .iter()
            .find(|n| n.recipient == recipient)
            .and_then(|n| n.relayed_by.clone())
        {
            depth += 1;
            recipient = parent;
            if depth > view.notifications.len() {
                break;
            }
        }
        depth
    };
    let tree = view
        .notifications
        .iter()
        .map(|n| TreeRow {
            key: n.key.clone(),
            recipient: name(&n.recipient),
            relayed_by: n.relayed_by.as_deref().map(name),
            state: n.state.as_str(),
            tone: match n.state {
                NotificationState::Done => "good",
                NotificationState::Impossible | NotificationState::Failed => "error",
                NotificationState::Acknowledged => "info",
                _ => "warning",
            },
            note: n.note.clone(),
            depth: depth_of(n.recipient.clone()),
            may_settle: may_act && !n.state.settled(),
            may_complete: may_act && n.state.may_become(NotificationState::Done),
        })
        .collect();
    let received = r.received_at.get(..10).unwrap_or_default().to_owned();
    let verified = r.verified_at.is_some();
    Ok(page(&RequestPage {
        section: "rights",
        user_email: viewer.principal.user.email.clone(),
        csrf: viewer.csrf.clone(),
        key: r.key.clone(),
        kind: r.kind.as_str(),
        status: r.status.as_str(),
        tone: tone(r.status),
        controller: name(&r.controller),
        received: received.clone(),
        channel: r.channel.clone(),
        due: view.due().to_owned(),
        extension_reasons: r.extension_reasons.clone(),
        email: r
            .email
            .clone()
            .unwrap_or_else(|| "erased when the request closed".to_owned()),
        verification: match (&r.verified_at, &r.verification) {
            (Some(at), Some(how)) => format!("verified {} ({how})", at.get(..10).unwrap_or(at)),
            _ => "not verified: the request cannot be fulfilled yet".to_owned(),
        },
        details: r.details.clone(),
        outcome: r.outcome.clone(),
        show_answer: verified && r.kind == RequestKind::Access,
        tree,
        may_act,
        verified,
        may_close: verified && view.notifications.iter().all(|n| n.state.settled()),
        may_extend: may_act
            && r.extended_until.is_none()
            && state.clock.today().to_string() <= r.deadline,
        may_notify: may_act
            && verified
            && r.kind.propagates()
            && r.status == RequestStatus::Verified,
        close_label: if r.kind == RequestKind::Access {
            tr("request-send-and-close", &[])
        } else {
            tr("request-close-as-done", &[])
        },
        history: view
            .history
            .iter()
            .filter(|h| h.kind != "note")
            .map(|h| {
                (
                    super::breaches::when(Some(&h.at)),
                    match (h.kind.as_str(), h.body["to"].as_str()) {
                        ("assigned", Some(to)) => format!("assigned to {to}"),
                        ("assigned", None) => "left unassigned".to_owned(),
                        (kind, _) => kind.to_owned(),
                    },
                    h.by.clone(),
                )
            })
            .collect(),
        notes: view
            .history
            .iter()
            .filter(|h| h.kind == "note")
            .map(|h| {
                (
                    super::breaches::when(Some(&h.at)),
                    h.by.clone(),
                    h.body["text"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        assignee: rights::assignees(&state.store)
            .await
            .map_err(ApiError::from)?
            .remove(&key)
            .unwrap_or_default(),
        may_note: viewer.principal.may_write()
            && viewer
                .principal
                .may(Capacity::Edit, &view.request.controller),
    }))
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    reasons: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    action: String,
    /// `yes` once the person has seen what the step does.
    #[serde(default)]
    confirm: String,
    /// Whom to assign the request to (an address; empty: nobody).
    #[serde(default)]
    assignee: String,
    /// Set by the "Take it myself" button: the request goes to whoever pressed it.
    #[serde(default)]
    take: String,
}

#[derive(Deserialize)]
pub struct EnterForm {
    csrf: String,
    controller: String,
    kind: String,
    email: String,
    #[serde(default)]
    details: String,
    /// The day it arrived (YYYY-MM-DD); empty for today.
    #[serde(default)]
    received_on: String,
}

/// Staff enter a request received outside Custos; the verification link goes to the address.
pub async fn enter(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Form(form): Form<EnterForm>,
) -> Result<Response, UiError> {
    posted_for(
        &principal,
        &form.csrf,
        &form.controller,
        Capacity::Edit,
        || format!("only {}'s editors enter its requests", form.controller),
    )?;
    let new = NewRequest {
        controller: form
            .controller
            .parse()
            .map_err(|e| ApiError::invalid("controller", format!("{e}")))?,
        kind: form
            .kind
            .parse()
            .map_err(|e: String| ApiError::invalid("kind", e))?,
        email: form.email,
        details: form.details,
        transmit_to: None,
        received_on: Some(form.received_on.trim())
            .filter(|d| !d.is_empty())
            .map(|d| {
                d.parse().map_err(|_| {
                    ApiError::invalid(
                        "received_on",
                        format!("received_on is {d:?}: expected a date (YYYY-MM-DD)"),
                    )
                })
            })
            .transpose()?,
    };
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    match rights::receive(&state.store, &register, new, "staff", &actor, &state.rights)
        .await
        .map_err(ApiError::from)?
    {
        rights::Received::Filed { view, .. } => {
            Ok(Redirect::to(&format!("/subject-requests/{}", view.request.key)).into_response())
        }
        rights::Received::Throttled => Err(ApiError::TooManyRequests { retry_after: 3600 }.into()),
    }
}

/// The request of a form posted with the session's CSRF token by an editor or administrator
/// of its controller.
async fn staff_form(
    state: &AppState,
    principal: &crate::auth::Principal,
    key: &str,
    csrf: &str,
) -> Result<rights::SubjectRequestView, UiError> {
    let view = visible(state, principal, key, Capacity::Edit).await?;
    posted_for(
        principal,
        csrf,
        &view.request.controller,
        Capacity::Edit,
        || "only the controller's editors act on its requests".to_owned(),
    )?;
    Ok(view)
}

/// What an action of the request page does, said before it is done; the fields it takes,
/// with what was typed. `verify` is asked only again after a problem.
fn request_step(
    view: &rights::SubjectRequestView,
    key: &str,
    action: &str,
    form: &ActionForm,
) -> Option<Confirmation> {
    let request = &view.request;
    let subject = masked(request.email.as_deref());
    let kind = request.kind.as_str();
    let field = |name, label: String, value: &str, required| confirm::Field {
        name,
        label,
        value: value.to_owned(),
        multiline: true,
        required,
    };
    let (title, consequences, button, fields) = match action {
        "verify" => (
            tr("request-verify-title", &[]),
            vec![tr("request-verify-recorded", &[])],
            tr("request-verify-button", &[]),
            vec![
                field("method", tr("request-verified-by", &[]), &form.method, true),
                field(
                    "evidence",
                    tr("request-evidence", &[]),
                    &form.evidence,
                    true,
                ),
            ],
        ),
        "extend" => (
            tr("request-extend-title", &[]),
            vec![
                tr("request-extend-moves", &[("due", view.due())]),
                tr("request-extend-told", &[("subject", &subject)]),
            ],
            tr("request-extend-button", &[]),
            vec![field(
                "reasons",
                tr("request-extend-reasons", &[]),
                &form.reasons,
                true,
            )],
        ),
        "notify" => (
            tr("request-notify-title", &[("kind", kind)]),
            vec![
                tr(
                    "request-notify-every-recipient",
                    &[("subject", &subject), ("kind", kind)],
                ),
                tr("request-notify-passed-on", &[]),
                tr("request-notify-final", &[]),
            ],
            tr("request-notify-button", &[]),
            vec![],
        ),
        "close" => (
            if kind == "access" {
                tr("request-close-and-send-title", &[])
            } else {
                tr("request-close-title", &[])
            },
            vec![
                if kind == "access" {
                    tr("request-close-answer-goes", &[("subject", &subject)])
                } else {
                    tr(
                        "request-close-carried-out",
                        &[("subject", &subject), ("kind", kind)],
                    )
                },
                tr("request-closes-for-good", &[]),
            ],
            tr("request-close-button", &[]),
            vec![field(
                "reasons",
                tr("request-note-to-subject", &[]),
                &form.reasons,
                false,
            )],
        ),
        "refuse" => (
            tr("request-refuse-title", &[]),
            vec![
                tr("request-refuse-told", &[("subject", &subject)]),
                tr("request-closes-for-good", &[]),
            ],
            tr("request-refuse-title", &[]),
            vec![field(
                "reasons",
                tr("request-refuse-reasons", &[]),
                &form.reasons,
                true,
            )],
        ),
        _ => return None,
    };
    Some(Confirmation {
        title,
        consequences,
        action: format!("/subject-requests/{key}/{action}"),
        button,
        back: format!("/subject-requests/{key}"),
        hidden: Vec::new(),
        fields,
    })
}

/// One form handler for the request page's actions: `verify`, `extend`, `notify`, `close`,
/// `refuse`. All but `verify` are irreversible: they are confirmed first.
pub async fn act(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, UiError> {
    let view = staff_form(&state, &principal, &key, &form.csrf).await?;
    // Triage: who handles it, and the staff's notes; neither touches the subject.
    if action == "assign" || action == "note" {
        let actor = principal.actor(state.clock.now());
        let done = if action == "assign" {
            let assignee = match form.assignee.trim() {
                _ if !form.take.is_empty() => Some(principal.user.email.as_str()),
                "" => None,
                other => Some(other),
            };
            rights::assign(&state.store, &key, assignee, &actor).await
        } else {
            rights::note(&state.store, &key, &form.note, &actor).await
        };
        done.map_err(ApiError::from)?;
        return Ok(Redirect::to(&format!("/subject-requests/{key}")).into_response());
    }
    let Some(step) = request_step(&view, &key, &action, &form) else {
        return Err(ApiError::not_found(format!("action {action:?}")).into());
    };
    if action != "verify" && !confirmed(&form.confirm) {
        return Ok(ask(&principal, &form.csrf, "rights", &step, None));
    }
    let register = state.register().await;
    let actor = principal.actor(state.clock.now());
    let store = &state.store;
    let done = match action.as_str() {
        "verify" => {
            rights::record_verification(
                store,
                &register,
                &key,
                &form.method,
                &form.evidence,
                &actor,
            )
            .await
        }
        "extend" => {
            rights::extend(store, &register, &key, &form.reasons, &actor, &state.rights).await
        }
        "notify" => rights::notify_recipients(store, &register, &key, &actor, &state.rights).await,
        "close" => rights::close(store, &register, &key, &form.reasons, &actor).await,
        _ => rights::refuse(store, &register, &key, &form.reasons, &actor).await,
    };
    match done.map_err(ApiError::from) {
        Ok(_) => Ok(Redirect::to(&format!("/subject-requests/{key}")).into_response()),
        Err(error) if correctable(&error) => {
            Ok(ask(&principal, &form.csrf, "rights", &step, Some(&error)))
        }
        Err(error) => Err(error.into()),
    }
}

/// The controller records a notification as done or impossible from the request page.
pub async fn settle_notification(
    State(state): State<AppState>,
    FormCaller(principal): FormCaller,
    Path((key, notification)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, UiError> {
    let view = staff_form(&state, &principal, &key, &form.csrf).await?;
    if !view.notifications.iter().any(|n| n.key == notification) {
        return Err(ApiError::not_found(format!("notification {notification}")).into());
    }
    let change = match form.action.as_str() {
        "done" => NotificationChange::Done {
            evidence: form.note.clone(),
        },
        _ => NotificationChange::Impossible {
            reason: form.note.clone(),
        },
    };
    let register = state.register().await;
    rights::update_notification(
        &state.store,
        &register,
        &notification,
        change,
        &principal.actor(state.clock.now()),
        &state.rights,
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/subject-requests/{key}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_masks_the_subject_and_counts_the_days() {
        assert_eq!(masked(Some("ana.garcia@example.com")), "a•••@example.com");
        assert_eq!(masked(None), "(erased)");
        let today: custos_core::Date = "2026-11-25".parse().unwrap();
        assert_eq!(
            days_left("2026-12-25", today),
            ("30 days left".to_owned(), "info")
        );
        assert_eq!(
            days_left("2026-11-26", today),
            ("1 day left".to_owned(), "warning")
        );
        assert_eq!(
            days_left("2026-11-25", today),
            ("due today".to_owned(), "error")
        );
        assert_eq!(
            days_left("2026-11-22", today),
            ("3 days overdue".to_owned(), "error")
        );
    }

    #[tokio::test]
    async fn days_are_counted_in_the_viewers_language_with_plurals() {
        let today: custos_core::Date = "2026-11-25".parse().unwrap();
        let spanish = async {
            (
                days_left("2026-11-26", today).0,
                days_left("2026-11-28", today).0,
                days_left("2026-11-24", today).0,
            )
        };
        assert_eq!(
            crate::ui::viewer::as_viewer(custos_render::Language::Es, spanish).await,
            (
                "queda 1 día".to_owned(),
                "quedan 3 días".to_owned(),
                "vencida hace 1 día".to_owned()
            )
        );
    }
}
