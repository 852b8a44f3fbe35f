use custos_core::manifest::{self, Source};

use crate::{errors, examples};

#[test]
fn examples_parse_into_one_register() {
    let register = examples();
    assert_eq!(register.organisations().len(), 11);
    assert_eq!(register.activities().len(), 3);
    assert_eq!(register.engagements().len(), 8);
}

#[test]
fn export_then_parse_gives_back_the_same_register() {
    let register = examples();
    let yaml = manifest::to_yaml(register.parts());
    let again = manifest::parse_str("exported.yaml", &yaml).unwrap();
    assert!(again == register);
    assert_eq!(
        manifest::to_yaml(again.parts()),
        yaml,
        "export is deterministic"
    );
}

#[test]
fn errors_carry_file_line_and_column_and_say_what_was_expected() {
    let unknown_key = errors(
        "version: 1\norganisations:\n  - id: a\n    name: A\n    country: ES\n    colour: red\n",
    );
    assert_eq!(unknown_key.len(), 1);
    assert!(
        unknown_key[0].starts_with("test.yaml:6:5: unknown field `colour`, expected one of"),
        "{unknown_key:?}"
    );

    let bad_country = errors("version: 1\norganisations:\n  - {id: a, name: A, country: Spain}\n");
    assert!(
        bad_country[0].starts_with("test.yaml:3:"),
        "{bad_country:?}"
    );
    assert!(
        bad_country[0].contains("ISO 3166-1 alpha-2"),
        "{bad_country:?}"
    );

    let bad_date = errors(
        "version: 1\norganisations:\n  - {id: a, name: A, country: ES}\n  - {id: b, name: B, country: ES}\n\
         activities: [{id: x, controller: a}]\n\
         engagements:\n  - {id: l, activity: x, engaged_by: a, processor: b, service: s, since: 2025-02-30}\n",
    );
    assert!(bad_date[0].starts_with("test.yaml:7:"), "{bad_date:?}");

    let bad_retention = errors(
        "version: 1\norganisations: [{id: a, name: A, country: ES}]\nactivities:\n  - {id: x, controller: a, retention: two years}\n",
    );
    assert!(
        bad_retention[0].contains("ISO 8601 duration"),
        "{bad_retention:?}"
    );

    let version = errors("version: 3\n");
    assert_eq!(
        version,
        ["test.yaml:1:10: version 3 is not supported: expected version: 1"]
    );

    let missing_version = errors("organisations: []\n");
    assert!(
        missing_version[0].contains("version"),
        "{missing_version:?}"
    );

    let syntax = errors("version: 1\norganisations: [\n");
    assert!(syntax[0].starts_with("test.yaml:2:"), "{syntax:?}");
}

#[test]
fn dangling_ids_are_errors_at_the_entry_that_names_them() {
    let found = errors(
        "version: 1
organisations:
  - {id: a, name: A, country: ES}
activities:
  - {id: x, controller: a, joint_controllers: [ghost]}
contracts:
  - {id: c, between: [a, nobody]}
engagements:
  - {id: l, activity: y, engaged_by: a, processor: b, service: s, since: 2025-01-01, contract: none}
",
    );
    let expected_starts = [
        "test.yaml:5:5: activity x: joint_controllers \"ghost\" is not an organisation",
        "test.yaml:7:5: contract c: between \"nobody\" is not an organisation",
        "test.yaml:9:5: engagement l: activity \"y\" is not an activity",
        "test.yaml:9:5: engagement l: processor \"b\" is not an organisation",
        "test.yaml:9:5: engagement l: contract \"none\" is not a contract",
    ];
    for start in expected_starts {
        assert!(
            found.iter().any(|e| e.starts_with(start)),
            "{start}\n{found:#?}"
        );
    }
}

#[test]
fn a_contract_must_be_between_the_links_parties() {
    let found = errors(
        "version: 1
organisations:
  - {id: a, name: A, country: ES}
  - {id: b, name: B, country: ES}
  - {id: c, name: C, country: ES}
activities: [{id: x, controller: a}]
contracts: [{id: dpa-a-c, between: [a, c]}]
engagements:
  - {id: l, activity: x, engaged_by: a, processor: b, service: s, since: 2025-01-01, contract: dpa-a-c}
",
    );
    assert!(
        found[0].contains(
            "contract dpa-a-c is between a and c, not between the link's parties a and b"
        ),
        "{found:?}"
    );
}

#[test]
fn only_a_controller_authorises() {
    let found = errors(
        "version: 1
organisations:
  - {id: a, name: A, country: ES}
  - {id: b, name: B, country: ES}
  - {id: c, name: C, country: ES}
activities: [{id: x, controller: a}]
engagements:
  - {id: l1, activity: x, engaged_by: a, processor: b, service: s, since: 2025-01-01}
  - {id: l2, activity: x, engaged_by: b, processor: c, service: s, since: 2025-01-01,
     authorisation: {by: b, decision: approved, date: 2025-01-01}}
",
    );
    assert!(
        found[0].contains("only a controller of activity x (a) decides"),
        "{found:?}"
    );
}

#[test]
fn a_register_in_many_files_with_duplicates_across_them() {
    let one = Source {
        name: "one.yaml".into(),
        text: "version: 1\norganisations:\n  - {id: a, name: A, country: ES}\n".into(),
    };
    let two = Source {
        name: "dir/two.yaml".into(),
        text: "version: 1\norganisations:\n  - {id: b, name: B, country: ES}\n  - {id: a, name: A again, country: FR}\n".into(),
    };
    let found = manifest::parse(&[one.clone(), two]).unwrap_err();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].to_string(),
        "dir/two.yaml:4:5: organisation a is defined twice: first at one.yaml:3:5"
    );
    let three = Source {
        name: "three.yaml".into(),
        text: "version: 1\nactivities: [{id: x, controller: a}]\n".into(),
    };
    let register = manifest::parse(&[one, three]).unwrap();
    assert_eq!(register.activity("x").unwrap().controller.as_str(), "a");
}

#[test]
fn every_error_of_every_file_is_reported_at_once() {
    let sources = [
        Source {
            name: "a.yaml".into(),
            text: "version: 1\norganisations: [{id: A, name: A, country: ES}]\n".into(),
        },
        Source {
            name: "b.yaml".into(),
            text: "version: 1\nactivities: [{id: x}]\n".into(),
        },
    ];
    let found = manifest::parse(&sources).unwrap_err();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].location.file, "a.yaml");
    assert_eq!(found[1].location.file, "b.yaml");
    assert!(found[1].message.contains("controller"), "{found:#?}");
}

/// Translations of an entry's words are checked like the words: a language is a two-letter
/// code, only the words notices show can be translated, and a translation is text.
#[test]
fn translations_are_checked_at_their_field() {
    let text = "version: 1
organisations:
  - {id: a, name: A, country: ES}
  - {id: b, name: B, country: ES, sector: Hosting, translations: {ES-es: {sector: Alojamiento}}}
activities:
  - {id: x, controller: a}
engagements:
  - {id: a-b, activity: x, engaged_by: a, processor: b, service: Hosting, since: 2026-01-01,
     translations: {es: {name: Nombre, category: \"\"}}}
";
    let found = manifest::parse(&[Source {
        name: "t.yaml".into(),
        text: text.into(),
    }])
    .unwrap_err();
    let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"ES-es\" is not a language code")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("\"name\" cannot be translated here: expected service or category")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("translations.es.category is empty")),
        "{messages:#?}"
    );
    assert_eq!(messages.len(), 3, "{messages:#?}");
}

#[test]
fn json_schema_describes_the_format_strictly() {
    let schema = manifest::json_schema();
    assert_eq!(schema["title"], "Custos register manifest");
    assert_eq!(
        schema["required"],
        serde_json::json!(["version"]),
        "every section is optional"
    );
    let defs = schema["$defs"].as_object().unwrap();
    for kind in [
        "Organisation",
        "Activity",
        "Contract",
        "Engagement",
        "TransferMechanism",
    ] {
        assert!(defs.contains_key(kind), "{kind}");
    }
    assert_eq!(defs["Engagement"]["additionalProperties"], false);
    let required = defs["Engagement"]["required"].as_array().unwrap();
    for field in [
        "id",
        "activity",
        "engaged_by",
        "processor",
        "service",
        "since",
    ] {
        assert!(required.iter().any(|r| r == field), "{field}");
    }
}
