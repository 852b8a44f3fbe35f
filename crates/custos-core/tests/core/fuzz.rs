//! The manifest parser and the checker under arbitrary input: mutations of the worked
//! examples (bytes deleted, YAML punctuation inserted, lines duplicated, swapped or cut) never
//! panic, and every input refused is refused with a located message.

use custos_core::checks::check;
use custos_core::manifest::{self, Source};
use proptest::prelude::*;

use crate::date;

/// Characters that change what YAML means.
const PUNCTUATION: &[&str] = &[
    ":",
    "-",
    " ",
    "\n",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    "&a",
    "*a",
    "!!str",
    "|",
    ">",
    "? ",
    "%",
    "@",
    "`",
    "\\",
    "~",
    "null",
    "0",
    "-1",
    "1e9",
    "2026-02-30",
    "NO",
    "é",
    "\u{0}",
    "\u{feff}",
    "id: x",
    "version: 2",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: usize },
    DuplicateLine { line: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// The nearest char boundary at or before `at` (modulo the length).
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutation: &Mutation) -> String {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, (start + len).min(text.len()));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        Mutation::Insert { at, text: which } => {
            let at = boundary(text, at);
            format!(
                "{}{}{}",
                &text[..at],
                PUNCTUATION[which % PUNCTUATION.len()],
                &text[at..]
            )
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.lines().collect();
            let line = line % lines.len().max(1);
            if let Some(&copy) = lines.get(line) {
                lines.insert(line, copy);
            }
            lines.join("\n")
        }
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<&str> = text.lines().collect();
            let n = lines.len().max(1);
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
            lines.join("\n")
        }
        Mutation::Truncate { at } => text[..boundary(text, at)].to_owned(),
    }
}

fn examples() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(manifest::examples::MARKETING_CHAIN),
        Just(manifest::examples::COURIER_CHAIN),
        Just(manifest::examples::CARELESS_MIGRATION),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn mutated_manifests_are_checked_or_refused_with_a_location(
        original in examples(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let text = mutations.iter().fold(original.to_owned(), |text, m| apply(&text, m));
        let lines = text.lines().count() as u64 + 1;
        let sources = [Source { name: "fuzz.yaml".into(), text }];
        match manifest::parse_located(&sources) {
            Ok((register, map)) => {
                let report = check(&register, date("2026-11-25")).unwrap();
                for finding in &report.findings {
                    let location = map.locate(finding.object.kind, finding.object.id.as_str());
                    prop_assert!(location.is_some(), "finding on an entry with no place: {:?}", finding);
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for error in errors {
                    prop_assert_eq!(&error.location.file, "fuzz.yaml");
                    prop_assert!(error.location.line >= 1 && error.location.line <= lines, "{}", error);
                    prop_assert!(error.location.column >= 1, "{}", error);
                    prop_assert!(!error.message.trim().is_empty());
                }
            }
        }
    }

    /// Arbitrary text, not even YAML: refused with a location, never a panic.
    #[test]
    fn arbitrary_text_is_refused_with_a_location(text in "\\PC{0,400}") {
        let sources = [Source { name: "noise.yaml".into(), text }];
        if let Err(errors) = manifest::parse_located(&sources) {
            for error in errors {
                prop_assert_eq!(&error.location.file, "noise.yaml");
                prop_assert!(error.location.line >= 1);
            }
        }
    }
}
