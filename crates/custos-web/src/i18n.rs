//! The message catalogue of the pages: Project Fluent files (`locales/en.ftl`, `locales/es.ftl`)
//! read once through `fluent-bundle`. A page asks for a message by id in a language, with its
//! placeables; a message missing in a language falls back to English, and a test checks that
//! none is missing.

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
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, (*value).to_owned());
    }
    for bundle in [bundle(language), bundle(Language::En)] {
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
            return text.into_owned();
        }
    }
    id.to_owned()
}

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

    /// Every message exists in English and in Spanish, and both catalogues parse.
    #[test]
    fn every_message_exists_in_both_languages() {
        let english = message_ids(source(Language::En)).unwrap();
        let spanish = message_ids(source(Language::Es)).unwrap();
        assert!(!english.is_empty());
        let missing_in_spanish: Vec<&String> =
            english.iter().filter(|id| !spanish.contains(id)).collect();
        let missing_in_english: Vec<&String> =
            spanish.iter().filter(|id| !english.contains(id)).collect();
        assert_eq!(missing_in_spanish, Vec::<&String>::new());
        assert_eq!(missing_in_english, Vec::<&String>::new());
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
