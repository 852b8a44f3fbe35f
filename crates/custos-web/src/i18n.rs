//! The message catalogue of the pages: Project Fluent files (`locales/en.ftl`, `locales/es.ftl`)
//! read once through `fluent-bundle`. A page asks for a message by id in a language, with its
//! placeables; a message missing in a language falls back to English, and a test checks that
//! none is missing.

use std::fmt::Display;
use std::sync::OnceLock;

use custos_render::Language;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

const ENGLISH: &str = include_str!("../locales/en.ftl");
const SPANISH: &str = include_str!("../locales/es.ftl");

/// The catalogue's source in `language`.
pub fn source(language: Language) -> &'static str {
    match language {
        Language::En => ENGLISH,
        Language::Es => SPANISH,
    }
}

fn bundle(language: Language) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: [OnceLock<FluentBundle<FluentResource>>; 2] =
        [OnceLock::new(), OnceLock::new()];
    let slot = match language {
        Language::En => &BUNDLES[0],
        Language::Es => &BUNDLES[1],
    };
    slot.get_or_init(|| {
        let tag: unic_langid::LanguageIdentifier = language.as_str().parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![tag]);
        // Pages are HTML: no Unicode isolation marks around placeables.
        bundle.set_use_isolating(false);
        let resource = FluentResource::try_new(source(language).to_owned())
            .unwrap_or_else(|(resource, _)| resource);
        let _ = bundle.add_resource(resource);
        bundle
    })
}

/// The message `id` in `language` with `args` (`name` → value); English when the language
/// lacks it, the id itself when English does too.
pub fn text(language: Language, id: &str, args: &[(&str, &str)]) -> String {
    format(language, id, &fluent_args(args))
}

/// The message `id` with a number `count` (which chooses the plural form: `one`, `other`) and
/// `args`, in the viewer's language.
pub fn tr_count(id: &str, count: i64, args: &[(&str, &str)]) -> String {
    let mut fluent_args = fluent_args(args);
    fluent_args.set("count", count);
    format(crate::ui::viewer::viewer_language(), id, &fluent_args)
}

fn fluent_args<'a>(args: &[(&'a str, &str)]) -> FluentArgs<'a> {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, (*value).to_owned());
    }
    fluent_args
}

fn format(language: Language, id: &str, fluent_args: &FluentArgs) -> String {
    for bundle in [bundle(language), bundle(Language::En)] {
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(fluent_args), &mut errors);
            return text.into_owned();
        }
    }
    id.to_owned()
}

/// The message `id` in the language of this page's viewer (`ui::viewer`), with `args`.
pub fn tr(id: &str, args: &[(&str, &str)]) -> String {
    text(crate::ui::viewer::viewer_language(), id, args)
}

/// The title of the rule `rule` of the checks in the viewer's language: `english` (the
/// rule's own title, in `custos_core::checks::rules`), or the catalogue's `rule-{id}`.
pub fn rule_title(rule: &str, english: &'static str) -> String {
    match crate::ui::viewer::viewer_language() {
        Language::En => english.to_owned(),
        language => {
            let translated = text(language, &format!("rule-{rule}"), &[]);
            if translated.starts_with("rule-") {
                english.to_owned()
            } else {
                translated
            }
        }
    }
}

/// A finding's severity (`error`, `warning`, `info`) in the viewer's words.
pub fn severity_word(severity: &str) -> String {
    match severity {
        "error" => tr("severity-error", &[]),
        "warning" => tr("severity-warning", &[]),
        _ => tr("severity-info", &[]),
    }
}

/// The words of a page's template: `t` with a message's id, `t1` with an id and one named
/// value (`{{ t1("activity-valid-on", "on", on) }}`), up to `t4`,
/// in the viewer's language. Askama calls a bare function of a template as a method of the
/// template, hence a trait every template has.
pub trait Translate {
    fn t(&self, id: &str) -> String {
        tr(id, &[])
    }

    fn t1(&self, id: &str, n1: &str, v1: impl Display) -> String {
        tr(id, &[(n1, &v1.to_string())])
    }

    fn t2(&self, id: &str, n1: &str, v1: impl Display, n2: &str, v2: impl Display) -> String {
        tr(id, &[(n1, &v1.to_string()), (n2, &v2.to_string())])
    }

    #[allow(clippy::too_many_arguments)]
    fn t3(
        &self,
        id: &str,
        n1: &str,
        v1: impl Display,
        n2: &str,
        v2: impl Display,
        n3: &str,
        v3: impl Display,
    ) -> String {
        tr(
            id,
            &[
                (n1, &v1.to_string()),
                (n2, &v2.to_string()),
                (n3, &v3.to_string()),
            ],
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn t4(
        &self,
        id: &str,
        n1: &str,
        v1: impl Display,
        n2: &str,
        v2: impl Display,
        n3: &str,
        v3: impl Display,
        n4: &str,
        v4: impl Display,
    ) -> String {
        tr(
            id,
            &[
                (n1, &v1.to_string()),
                (n2, &v2.to_string()),
                (n3, &v3.to_string()),
                (n4, &v4.to_string()),
            ],
        )
    }

    /// A finding's severity (`error`, `warning`, `info`) in words.
    fn t_severity(&self, severity: impl Display) -> String {
        severity_word(&severity.to_string())
    }

    /// The page's language tag, for `<html lang>`.
    fn page_lang(&self) -> &'static str {
        crate::ui::viewer::viewer_language().as_str()
    }
}

impl<T: askama::Template + ?Sized> Translate for T {}

/// The ids of the messages of a catalogue source.
pub fn message_ids(source: &str) -> Result<Vec<String>, String> {
    let resource =
        FluentResource::try_new(source.to_owned()).map_err(|(_, errors)| format!("{errors:?}"))?;
    Ok(resource
        .entries()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every message exists in English and in Spanish, and both catalogues parse. The rules'
    /// titles are English in the rules themselves and Spanish in es.ftl (`rule-{id}`): one for
    /// every rule, none for a rule that does not exist.
    #[test]
    fn every_message_exists_in_both_languages() {
        let english = message_ids(source(Language::En)).unwrap();
        let (rules, spanish): (Vec<String>, Vec<String>) = message_ids(source(Language::Es))
            .unwrap()
            .into_iter()
            .partition(|id| id.starts_with("rule-"));
        let expected: Vec<String> = custos_core::checks::rules::ALL
            .iter()
            .map(|r| format!("rule-{}", r.id))
            .collect();
        let mut found = rules.clone();
        found.sort();
        let mut wanted = expected.clone();
        wanted.sort();
        assert_eq!(
            found, wanted,
            "es.ftl's rule titles against the rules of the checks"
        );
        assert!(!english.is_empty());
        let missing_in_spanish: Vec<&String> =
            english.iter().filter(|id| !spanish.contains(id)).collect();
        let missing_in_english: Vec<&String> =
            spanish.iter().filter(|id| !english.contains(id)).collect();
        assert_eq!(missing_in_spanish, Vec::<&String>::new());
        assert_eq!(missing_in_english, Vec::<&String>::new());
    }

    /// Every message a template or the code asks for is in the catalogue (a missing one would
    /// show its id), and every message of the catalogue is asked for somewhere.
    #[test]
    fn the_catalogue_and_the_pages_ask_for_the_same_messages() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = std::collections::BTreeSet::new();
        let mut sources = String::new();
        for dir in ["templates", "src", "src/ui", "src/api"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // This file's tests name messages that are not the pages'.
                    let code = match path.ends_with("i18n.rs") {
                        true => text.split("#[cfg(test)]").next().unwrap_or_default(),
                        false => &text,
                    };
                    sources.push_str(code);
                }
            }
        }
        let call = regex::Regex::new(r#"\b(?:t[1-4]?|tr|tr_count|fact|linked)\(\s*"([a-z0-9-]+)"|\bsection\("([a-z0-9-]+)", "([a-z0-9-]+)""#).unwrap();
        for found in call.captures_iter(&sources) {
            used.extend(
                found
                    .iter()
                    .skip(1)
                    .flatten()
                    .map(|m| m.as_str().to_owned()),
            );
        }
        let english = message_ids(source(Language::En)).unwrap();
        let missing: Vec<&String> = used.iter().filter(|id| !english.contains(id)).collect();
        assert_eq!(
            missing,
            Vec::<&String>::new(),
            "asked for but not in en.ftl"
        );
        let unused: Vec<&String> = english
            .iter()
            .filter(|id| !sources.contains(&format!("\"{id}\"")))
            .collect();
        assert_eq!(
            unused,
            Vec::<&String>::new(),
            "in en.ftl but asked for nowhere"
        );
    }

    #[tokio::test]
    async fn rule_titles_are_in_the_viewers_language() {
        let rule = &custos_core::checks::rules::NO_CONTRACT;
        assert_eq!(
            rule_title(rule.id, rule.title),
            "Processing without a contract"
        );
        let spanish =
            crate::ui::viewer::as_viewer(Language::Es, async { rule_title(rule.id, rule.title) })
                .await;
        assert_eq!(spanish, "Tratamiento sin contrato");
    }

    #[test]
    fn messages_are_filled_in_and_fall_back_to_english() {
        assert_eq!(
            text(
                Language::Es,
                "subprocessors-title",
                &[("name", "Agency B S.L.")]
            ),
            "Subencargados de Agency B S.L."
        );
        assert_eq!(
            text(
                Language::En,
                "subprocessors-title",
                &[("name", "Agency B S.L.")]
            ),
            "Sub-processors of Agency B S.L."
        );
        assert_eq!(
            text(Language::Es, "no-such-message", &[]),
            "no-such-message"
        );
    }
}
