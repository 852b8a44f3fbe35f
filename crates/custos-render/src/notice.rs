//! A notice's sections as text: the built-in templates (English and Spanish, HTML and
//! Markdown) or an organisation's own, with the same context (`notice`) and filters
//! (`country`: a country code as a name in the document's language; `date`).

use custos_core::Date;
use custos_core::notice::Notice;
use custos_core::refdata::ReferenceData;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Value};

use crate::{Language, RenderError};

/// How a notice is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeFormat {
    Html,
    Markdown,
    Json,
}

impl std::str::FromStr for NoticeFormat {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "html" => Ok(Self::Html),
            "markdown" | "md" => Ok(Self::Markdown),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown notice format {other:?}: expected html, markdown or json"
            )),
        }
    }
}

/// The templates an organisation may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateKind {
    NoticeHtml,
    NoticeMarkdown,
    /// The e-mail to a controller that a sub-processor change request reached.
    MailFiled,
    /// The reminder before a controller's decision period ends.
    MailReminder,
    /// The e-mail to the requester about a controller's decision (or deemed approval).
    MailDecided,
    /// The one-time link that verifies a data subject's address.
    MailRightsVerify,
    /// News of a data subject's request to the subject: extended, answered, refused, closed.
    MailRightsUpdate,
    /// An Art. 19 notification (or its reminder) to a recipient of the subject's data.
    MailRightsNotify,
    /// A request near or past its deadline, to the controller.
    MailRightsDue,
    /// A personal-data breach reported or relayed to the party that engaged the sender.
    MailBreachReported,
    /// A controller's 72 hours near their end, or past it, with no filing.
    MailBreachDue,
    /// The communication of a breach to the data subjects (Art. 34(2)).
    MailBreachSubjects,
    /// An invitation to an instance: the one-time link to set a first password.
    MailInvitation,
    /// A password-reset link.
    MailPasswordReset,
}

impl TemplateKind {
    pub const ALL: [Self; 14] = [
        Self::NoticeHtml,
        Self::NoticeMarkdown,
        Self::MailFiled,
        Self::MailReminder,
        Self::MailDecided,
        Self::MailRightsVerify,
        Self::MailRightsUpdate,
        Self::MailRightsNotify,
        Self::MailRightsDue,
        Self::MailBreachReported,
        Self::MailBreachDue,
        Self::MailBreachSubjects,
        Self::MailInvitation,
        Self::MailPasswordReset,
    ];

    /// The name templates are stored and addressed by.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoticeHtml => "notice.html",
            Self::NoticeMarkdown => "notice.md",
            Self::MailFiled => "mail.filed.txt",
            Self::MailReminder => "mail.reminder.txt",
            Self::MailDecided => "mail.decided.txt",
            Self::MailRightsVerify => "mail.rights-verify.txt",
            Self::MailRightsUpdate => "mail.rights-update.txt",
            Self::MailRightsNotify => "mail.rights-notify.txt",
            Self::MailRightsDue => "mail.rights-due.txt",
            Self::MailBreachReported => "mail.breach-reported.txt",
            Self::MailBreachDue => "mail.breach-due.txt",
            Self::MailBreachSubjects => "mail.breach-subjects.txt",
            Self::MailInvitation => "mail.invitation.txt",
            Self::MailPasswordReset => "mail.password-reset.txt",
        }
    }

    pub fn of_format(format: NoticeFormat) -> Option<Self> {
        match format {
            NoticeFormat::Html => Some(Self::NoticeHtml),
            NoticeFormat::Markdown => Some(Self::NoticeMarkdown),
            NoticeFormat::Json => None,
        }
    }

    /// The template Custos ships for this kind and language.
    pub fn builtin(self, language: Language) -> &'static str {
        match (self, language) {
            (Self::NoticeHtml, Language::En) => include_str!("templates/notice.en.html"),
            (Self::NoticeHtml, Language::Es) => include_str!("templates/notice.es.html"),
            (Self::NoticeMarkdown, Language::En) => include_str!("templates/notice.en.md"),
            (Self::NoticeMarkdown, Language::Es) => include_str!("templates/notice.es.md"),
            (Self::MailFiled, Language::En) => include_str!("templates/mail.filed.en.txt"),
            (Self::MailFiled, Language::Es) => include_str!("templates/mail.filed.es.txt"),
            (Self::MailReminder, Language::En) => include_str!("templates/mail.reminder.en.txt"),
            (Self::MailReminder, Language::Es) => include_str!("templates/mail.reminder.es.txt"),
            (Self::MailDecided, Language::En) => include_str!("templates/mail.decided.en.txt"),
            (Self::MailDecided, Language::Es) => include_str!("templates/mail.decided.es.txt"),
            (Self::MailRightsVerify, Language::En) => {
                include_str!("templates/mail.rights-verify.en.txt")
            }
            (Self::MailRightsVerify, Language::Es) => {
                include_str!("templates/mail.rights-verify.es.txt")
            }
            (Self::MailRightsUpdate, Language::En) => {
                include_str!("templates/mail.rights-update.en.txt")
            }
            (Self::MailRightsUpdate, Language::Es) => {
                include_str!("templates/mail.rights-update.es.txt")
            }
            (Self::MailRightsNotify, Language::En) => {
                include_str!("templates/mail.rights-notify.en.txt")
            }
            (Self::MailRightsNotify, Language::Es) => {
                include_str!("templates/mail.rights-notify.es.txt")
            }
            (Self::MailRightsDue, Language::En) => include_str!("templates/mail.rights-due.en.txt"),
            (Self::MailRightsDue, Language::Es) => include_str!("templates/mail.rights-due.es.txt"),
            (Self::MailBreachReported, Language::En) => {
                include_str!("templates/mail.breach-reported.en.txt")
            }
            (Self::MailBreachReported, Language::Es) => {
                include_str!("templates/mail.breach-reported.es.txt")
            }
            (Self::MailBreachDue, Language::En) => include_str!("templates/mail.breach-due.en.txt"),
            (Self::MailBreachDue, Language::Es) => include_str!("templates/mail.breach-due.es.txt"),
            (Self::MailBreachSubjects, Language::En) => {
                include_str!("templates/mail.breach-subjects.en.txt")
            }
            (Self::MailBreachSubjects, Language::Es) => {
                include_str!("templates/mail.breach-subjects.es.txt")
            }
            (Self::MailInvitation, Language::En) => {
                include_str!("templates/mail.invitation.en.txt")
            }
            (Self::MailInvitation, Language::Es) => {
                include_str!("templates/mail.invitation.es.txt")
            }
            (Self::MailPasswordReset, Language::En) => {
                include_str!("templates/mail.password-reset.en.txt")
            }
            (Self::MailPasswordReset, Language::Es) => {
                include_str!("templates/mail.password-reset.es.txt")
            }
        }
    }
}

impl std::str::FromStr for TemplateKind {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown template {raw:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `notice` in `format` and `language`, through `custom` (an organisation's template) when
/// given, else the built-in one.
pub fn render(
    notice: &Notice,
    format: NoticeFormat,
    language: Language,
    custom: Option<&str>,
) -> Result<String, RenderError> {
    let Some(kind) = TemplateKind::of_format(format) else {
        let mut json = serde_json::to_string_pretty(notice).map_err(|e| RenderError::Template {
            name: "json".to_owned(),
            detail: e.to_string(),
        })?;
        json.push('\n');
        return Ok(json);
    };
    let source = custom.unwrap_or_else(|| kind.builtin(language));
    let mut env = environment(language);
    // The register's words in the notice's language where it gives them (`translations`).
    let words = notice
        .translations
        .get(language.as_str())
        .cloned()
        .unwrap_or_default();
    env.add_filter("translated", move |text: String| -> String {
        words.get(&text).cloned().unwrap_or(text)
    });
    let template = env.template_from_named_str(kind.name(), source)?;
    let mut text = crate::render_bounded(
        &template,
        minijinja::context! { notice => Value::from(Serde(notice)) },
    )?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Checks that `source` compiles and renders every [`samples`] notice, so that a broken
/// template is refused when it is saved rather than when a notice is next made. The error
/// names the line.
pub fn validate(kind: TemplateKind, source: &str, language: Language) -> Result<(), RenderError> {
    let format = match kind {
        TemplateKind::NoticeHtml => NoticeFormat::Html,
        TemplateKind::NoticeMarkdown => NoticeFormat::Markdown,
        _ => return crate::mail::validate(kind, source, language),
    };
    for sample in samples() {
        render(&sample, format, language, Some(source))?;
    }
    Ok(())
}

pub(crate) fn environment(language: Language) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(crate::TEMPLATE_FUEL));
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("country", move |code: String| -> String {
        match code.parse() {
            Ok(code) => ReferenceData::builtin().country_name_in(code, language.as_str()),
            Err(_) => code,
        }
    });
    env.add_filter("date", move |raw: String| -> String {
        raw.parse::<Date>()
            .map_or(raw, |date| long_date(date, language))
    });
    env
}

/// `1 June 2026`, `1 de junio de 2026`.
pub fn long_date(date: Date, language: Language) -> String {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const ES: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    let month = usize::try_from(date.month() - 1).unwrap_or(0);
    match language {
        Language::En => format!("{} {} {}", date.day(), EN[month], date.year()),
        Language::Es => format!("{} de {} de {}", date.day(), ES[month], date.year()),
    }
}

/// Notices that exercise every part of a template (both styles, every kind of safeguard, an
/// international organisation, nothing to tell), for checking an organisation's template
/// before it is saved.
pub fn samples() -> Vec<Notice> {
    let kinds = [
        "adequacy",
        "scc",
        "bcr",
        "code-of-conduct",
        "certification",
        "derogation",
        "none",
    ];
    let transfers: Vec<serde_json::Value> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let mut transfer = serde_json::json!({
                "safeguard": {"kind": kind, "article": "Art. 46", "valid": i != 6},
                "recipients": ["Example Ltd"],
            });
            if i == 0 {
                transfer["international_organisation"] = "epo".into();
            } else {
                transfer["country"] = "US".into();
                transfer["safeguard"]["act"] = "Decision (EU) 2021/914".into();
            }
            transfer
        })
        .collect();
    let named = serde_json::json!({
        "controller": {"id": "example-controller", "name": "Example Controller S.L.", "country": "ES",
                       "address": "Calle Ejemplo 1, Madrid", "contact_email": "privacy@example.org"},
        "on": "2026-01-01",
        "style": "named",
        "activities": [{"id": "example-activity", "name": "Example activity", "purposes": ["An example purpose"]}],
        "recipients": [{"id": "example-processor", "name": "Example Processor Ltd", "country": "US",
                        "services": ["Hosting"], "activities": ["example-activity"]}],
        "categories": [],
        "transfers": transfers,
    });
    let mut categories = named.clone();
    categories["style"] = "categories".into();
    categories["recipients"] = serde_json::json!([]);
    categories["categories"] = serde_json::json!([{"category": "Hosting provider", "sectors": ["Hosting"], "countries": ["US"]}]);
    let mut empty = named.clone();
    empty["recipients"] = serde_json::json!([]);
    empty["transfers"] = serde_json::json!([]);
    empty["controller"]["contact_email"] = serde_json::Value::Null;
    [named, categories, empty]
        .into_iter()
        .filter_map(|value| serde_json::from_value(value).ok())
        .collect()
}
