//! E-mails of the sub-processor workflow and of data-subject requests: plain text from templates (English and Spanish, or
//! the organisation's own), the first line `Subject: ...`, then a blank line and the body.
//! The context is the event's payload with `link` (where to act) and `base_url` added; every
//! date and time in it is written out in words in the mail's language, in the recipient's time
//! zone, named (`12 December 2026, 17:17 CET`), so that no template prints a raw timestamp.
//! Each mail has an HTML part too.

use minijinja::Value;
use minijinja::value::Serde;
use serde_json::json;

use crate::notice::{TemplateKind, environment};
use crate::{Language, RenderError};

/// A rendered e-mail: the subject, the text and the same text as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
    pub html: String,
}

/// `context` with every date (`2026-12-12`) and time (`2026-12-12T16:17:24.115152Z`) written
/// in words in `language`; times in `zone`, which the words name.
pub fn in_words(
    context: &serde_json::Value,
    language: Language,
    zone: &jiff::tz::TimeZone,
) -> serde_json::Value {
    use serde_json::Value as Json;
    match context {
        Json::String(text) => {
            if let Ok(at) = text.parse::<jiff::Timestamp>() {
                let local = at.to_zoned_datetime(zone.clone());
                let day = crate::notice::long_date(local.date(), language);
                Json::String(format!("{day}, {}", local.strftime("%H:%M %Z")))
            } else if text.len() == 10
                && let Ok(date) = text.parse::<jiff::civil::Date>()
            {
                Json::String(crate::notice::long_date(date, language))
            } else {
                context.clone()
            }
        }
        Json::Array(items) => {
            Json::Array(items.iter().map(|i| in_words(i, language, zone)).collect())
        }
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), in_words(v, language, zone)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A sentence ending on a name that ends with a period ("Analytics E S.L.") ends once: two
/// periods become one; an ellipsis stays.
fn single_periods(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let doubled = c == '.'
            && chars.get(i + 1) == Some(&'.')
            && chars.get(i + 2) != Some(&'.')
            && (i == 0 || chars[i - 1] != '.');
        if !doubled {
            out.push(c);
        }
    }
    out
}

/// The text body as HTML: paragraphs at blank lines, lines kept, links clickable.
fn html_of(subject: &str, body: &str, language: Language) -> String {
    let mut html = format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n",
        language.as_str(),
        crate::escape_html(subject)
    );
    for paragraph in body.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let lines: Vec<String> = paragraph
            .lines()
            .map(|line| {
                line.split(' ')
                    .map(|word| {
                        let escaped = crate::escape_html(word);
                        if word.starts_with("https://") || word.starts_with("http://") {
                            format!("<a href=\"{escaped}\">{escaped}</a>")
                        } else {
                            escaped
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        html.push_str("<p>");
        html.push_str(&lines.join("<br>\n"));
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

/// The e-mail of `kind` for `context`, through `custom` when the organisation wrote one; its
/// times in `zone`.
pub fn render(
    kind: TemplateKind,
    context: &serde_json::Value,
    language: Language,
    zone: &jiff::tz::TimeZone,
    custom: Option<&str>,
) -> Result<Mail, RenderError> {
    let source = custom.unwrap_or_else(|| kind.builtin(language));
    let env = environment(language);
    let template = env.template_from_named_str(kind.name(), source)?;
    let context = in_words(context, language, zone);
    let text = crate::render_bounded(&template, Value::from(Serde(&context)))?;
    let (first, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let subject = first
        .strip_prefix("Subject:")
        .ok_or_else(|| RenderError::Template {
            name: kind.name().to_owned(),
            detail: "line 1: an e-mail template starts with `Subject: ...`".to_owned(),
        })?
        .trim()
        .to_owned();
    let body = single_periods(body.trim_start_matches('\n').trim_end()) + "\n";
    Ok(Mail {
        html: html_of(&subject, &body, language),
        subject,
        body,
    })
}

/// A context with every field the workflow's e-mails use, for checking a template.
pub fn sample(decision: &str) -> serde_json::Value {
    json!({
        "request": "01900000-0000-7000-8000-000000000000",
        "requester": {"id": "agency-b", "name": "Agency B S.L."},
        "candidate": {"id": "agency-e", "name": "Analytics E S.L.", "country": "ES"},
        "controller": {"id": "hypermarket-a", "name": "Hypermarket A S.L."},
        "service": "Additional purchase-preference analysis",
        "mode": "general",
        "deadline": "2026-06-01T00:00:00.000000Z",
        "paths": [["hypermarket-a", "agency-b"]],
        "activities": ["customer-marketing"],
        "criteria": [{"contract": "dpa-a-b", "criterion": "certified iso27701", "met": false,
                      "problem": "Analytics E S.L. does not hold iso27701"}],
        "preauthorised_by": null,
        "decision": decision,
        "reasons": "Reasons given",
        "link": "https://custos.example/change-requests/01900000",
        "base_url": "https://custos.example",
    })
}

/// Contexts with every field the data-subject e-mails use, for checking a template: one per
/// variant the template must handle.
pub fn rights_samples(kind: TemplateKind) -> Vec<serde_json::Value> {
    let base = json!({
        "request": "01900000-0000-7000-8000-000000000000",
        "kind": "erasure",
        "article": "Art. 17",
        "controller": {"id": "hypermarket-a", "name": "Hypermarket A S.L."},
        "received": "2026-03-02",
        "deadline": "2026-04-02",
        "link": "https://custos.example/public/requests/01900000/verify?token=x",
        "base_url": "https://custos.example",
    });
    let with = |extra: serde_json::Value| {
        let mut context = base.clone();
        if let (Some(target), Some(fields)) = (context.as_object_mut(), extra.as_object()) {
            for (name, value) in fields {
                target.insert(name.clone(), value.clone());
            }
        }
        context
    };
    match kind {
        TemplateKind::MailRightsVerify => vec![base.clone()],
        TemplateKind::MailRightsUpdate => ["extended", "answered", "refused", "closed"]
            .into_iter()
            .map(|update| {
                with(json!({
                    "update": update,
                    "reasons": "Reasons given",
                    "extended_until": "2026-06-02",
                    "recipients": [{"name": "Agency B S.L.", "country": "ES", "categories": ["email"],
                                    "first": "2025-05-10", "last": "2025-06-01", "through": null}],
                    "transfers": [{"exporter": "agency-b", "importer": "mailer-c", "destination": "IL",
                                   "mechanism": "adequacy", "basis": "Decision 2011/61/EU", "valid": true}],
                    "notified": [{"name": "Agency B S.L.", "state": "done"}],
                }))
            })
            .collect(),
        TemplateKind::MailRightsNotify => [false, true]
            .into_iter()
            .map(|reminder| {
                with(json!({
                    "reminder": reminder,
                    "notification": "01900000-0000-7000-8000-000000000001",
                    "recipient": {"id": "mailer-c", "name": "Mailer C Ltd."},
                    "relayed_by": {"id": "agency-b", "name": "Agency B S.L."},
                    "identifier": "ana@example.com",
                    "details": "Please erase my data",
                    "categories": ["email"],
                }))
            })
            .collect(),
        TemplateKind::MailRightsDue => [false, true]
            .into_iter()
            .map(|overdue| with(json!({"overdue": overdue, "status": "verified"})))
            .collect(),
        TemplateKind::MailBreachReported
        | TemplateKind::MailBreachDue
        | TemplateKind::MailBreachSubjects => breach_samples(),
        TemplateKind::MailInvitation | TemplateKind::MailPasswordReset => [true, false]
            .into_iter()
            .map(|with_organisations| {
                json!({
                    "email": "ana@example.com",
                    "invited_by": "user:admin@custos.example",
                    "organisations": if with_organisations { json!(["hypermarket-a"]) } else { json!([]) },
                    "expires": "2026-12-12T16:17:24Z",
                    "link": "https://custos.example/invitations/x",
                    "base_url": "https://custos.example",
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Contexts with every field the breach e-mails use: a report, a relay, a reminder, an
/// overdue mark.
pub fn breach_samples() -> Vec<serde_json::Value> {
    let base = json!({
        "breach": "01900000-0000-7000-8000-000000000002",
        "party": {"id": "it-contractor", "name": "IT Contractor S.L."},
        "sender": {"id": "it-contractor", "name": "IT Contractor S.L."},
        "recipient": {"id": "web-controller", "name": "Servicios Web Ejemplo S.A."},
        "controller": {"id": "web-controller", "name": "Servicios Web Ejemplo S.A."},
        "nature": ["confidentiality"],
        "occurred_from": "2024-06-01T08:00:00Z",
        "occurred_until": null,
        "aware_at": "2024-07-02T09:30:00Z",
        "deadline": "2024-07-05T09:30:00Z",
        "data_categories": ["name", "national-id"],
        "subjects": "20000–22000",
        "period_hours": 24,
        "version": 1,
        "decided": false,
        "description": "Backups were copied to a public folder during a migration",
        "began": "2024-06-20",
        "consequences": "Identity theft",
        "measures_taken": "The folder was removed",
        "measures_proposed": "Watch for unusual messages",
        "contact": "Ana Ruiz <dpo@web-controller.example>",
        "link": "https://custos.example/breaches/01900000-0000-7000-8000-000000000002",
        "base_url": "https://custos.example",
    });
    [false, true]
        .into_iter()
        .map(|overdue| {
            let mut context = base.clone();
            context["overdue"] = overdue.into();
            if overdue {
                context["sender"] = json!({"id": "agency", "name": "Agency S.L."});
                context["subjects"] = serde_json::Value::Null;
            }
            context
        })
        .collect()
}

pub(crate) fn validate(
    kind: TemplateKind,
    source: &str,
    language: Language,
) -> Result<(), RenderError> {
    let rights = rights_samples(kind);
    if !rights.is_empty() {
        for context in rights {
            render(
                kind,
                &context,
                language,
                &jiff::tz::TimeZone::UTC,
                Some(source),
            )?;
        }
        return Ok(());
    }
    for decision in [
        "approve",
        "object",
        "request-information",
        "deemed-approved",
    ] {
        for mode in ["general", "specific"] {
            let mut context = sample(decision);
            context["mode"] = mode.into();
            render(
                kind,
                &context,
                language,
                &jiff::tz::TimeZone::UTC,
                Some(source),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_ends_once_and_an_ellipsis_stays() {
        assert_eq!(
            single_periods("objected to Analytics E S.L.. The objection binds..."),
            "objected to Analytics E S.L. The objection binds..."
        );
    }

    #[test]
    fn dates_and_times_are_written_in_words() {
        let context = json!({"deadline": "2026-12-12T16:17:24.115152Z", "received": "2026-03-02",
                             "key": "01900000-0000-7000-8000-000000000000"});
        let utc = jiff::tz::TimeZone::UTC;
        let english = in_words(&context, Language::En, &utc);
        assert_eq!(english["deadline"], "12 December 2026, 16:17 UTC");
        assert_eq!(english["received"], "2 March 2026");
        assert_eq!(english["key"], context["key"], "only dates change");
        assert_eq!(
            in_words(&context, Language::Es, &utc)["received"],
            "2 de marzo de 2026"
        );
        // In the recipient's zone, named; a time near midnight moves the day.
        let madrid = jiff::tz::TimeZone::get("Europe/Madrid").unwrap();
        assert_eq!(
            in_words(&context, Language::Es, &madrid)["deadline"],
            "12 de diciembre de 2026, 17:17 CET"
        );
        let late = json!({"at": "2026-07-01T23:30:00Z"});
        assert_eq!(
            in_words(&late, Language::En, &madrid)["at"],
            "2 July 2026, 01:30 CEST"
        );
        // Dates without a time are days, in no zone.
        assert_eq!(
            in_words(&context, Language::En, &madrid)["received"],
            "2 March 2026"
        );
    }
}
