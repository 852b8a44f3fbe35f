//! The disclosure ledger's keys and the access answer (Art. 15(1)(c), 15(2)): the marketing
//! chain's customer disclosed to B in 2025 learns of B, C and D and the transfer to Israel,
//! not of E, who joined after; one disclosed after E joined learns of E too.

use custos_core::ledger::{Disclosure, LedgerError, access_answer, normalise, subject_key};

use crate::{date, examples};

const PEPPER: &[u8] = b"a pepper of this instance, 32 by.";

fn disclosure(identifier: &str, at: &str) -> Disclosure {
    Disclosure {
        subject_key: subject_key(PEPPER, identifier).unwrap(),
        activity: "customer-marketing".parse().unwrap(),
        recipient: "agency-b".parse().unwrap(),
        categories: vec!["email".parse().unwrap(), "order-history".parse().unwrap()],
        at: at.parse().unwrap(),
    }
}

#[test]
fn identifiers_are_normalised_before_they_are_keyed() {
    assert_eq!(
        normalise("  Ana.Garcia@Example.COM ").unwrap(),
        "ana.garcia@example.com"
    );
    assert_eq!(normalise("+34 600-12 34 56").unwrap(), "+34600123456");
    assert_eq!(normalise("0034 (600) 123.456").unwrap(), "+34600123456");
    assert_eq!(
        subject_key(PEPPER, "ANA.GARCIA@example.com").unwrap(),
        subject_key(PEPPER, "ana.garcia@example.com ").unwrap()
    );
    assert_ne!(
        subject_key(PEPPER, "ana.garcia@example.com").unwrap(),
        subject_key(b"another pepper", "ana.garcia@example.com").unwrap(),
        "the key depends on the instance's pepper"
    );
    let key = subject_key(PEPPER, "ana.garcia@example.com").unwrap();
    assert_eq!(key.len(), 64);
    assert!(!key.contains("ana"));
    for bad in [
        "600 123 456",
        "ana@",
        "@example.com",
        "a b@example.com",
        "+12",
        "+0034600123456",
    ] {
        assert!(
            matches!(normalise(bad), Err(LedgerError::Identifier(_))),
            "{bad}"
        );
    }
}

/// Art. 15(1)(c): the recipients to whom the data "have been or will be disclosed". E, engaged
/// below B on 1 June 2026, receives the data B still holds of a customer disclosed to B in
/// 2025 (the activity keeps data two years): E is named, since 2026-06-01. (This corrects the
/// data-subject rights issue's acceptance, which left E out.)
#[test]
fn a_customer_disclosed_to_b_in_2025_learns_of_b_c_d_israel_and_e_since_june_2026() {
    let register = examples();
    let answer = access_answer(
        &register,
        &[disclosure("ana@example.com", "2025-06-01T10:00:00Z")],
        date("2026-11-28"),
    )
    .unwrap();
    let named: Vec<(&str, String, Option<&str>, String)> = answer
        .recipients
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.country.to_string(),
                r.through.as_ref().map(|t| t.as_str()),
                r.since.to_string(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("agency-b", "ES".to_owned(), None, "2025-06-01".to_owned()),
            (
                "agency-e",
                "ES".to_owned(),
                Some("agency-b"),
                "2026-06-01".to_owned()
            ),
            (
                "hosting-d",
                "IL".to_owned(),
                Some("agency-b"),
                "2025-06-01".to_owned()
            ),
            (
                "mailer-c",
                "IL".to_owned(),
                Some("agency-b"),
                "2025-06-01".to_owned()
            ),
        ]
    );
    assert_eq!(answer.recipients[0].categories.len(), 2);
    let transfers: Vec<(&str, &str, &str, bool)> = answer
        .transfers
        .iter()
        .map(|t| {
            (
                t.importer.as_str(),
                t.destination.as_str(),
                t.mechanism.as_str(),
                t.valid,
            )
        })
        .collect();
    assert_eq!(
        transfers,
        // By exporter: B to C, then C to D.
        [
            ("mailer-c", "IL", "adequacy", true),
            ("hosting-d", "IL", "adequacy", true)
        ]
    );
    assert_eq!(
        answer.transfers[0].basis.as_deref(),
        Some("Commission Decision 2011/61/EU")
    );

    // Asked before E was engaged, the answer cannot name it yet.
    let before = access_answer(
        &register,
        &[disclosure("ana@example.com", "2025-06-01T10:00:00Z")],
        date("2026-05-31"),
    )
    .unwrap();
    assert!(
        !before
            .recipients
            .iter()
            .any(|r| r.id.as_str() == "agency-e")
    );

    // Data disclosed in May 2024 was kept two years, until May 2026: E, engaged after, never
    // held it.
    let expired = access_answer(
        &register,
        &[disclosure("old@example.com", "2024-05-10T08:00:00Z")],
        date("2026-11-28"),
    );
    // The chain of 2024 is judged as it was; what matters here is who held the data.
    let expired = expired.unwrap();
    assert!(
        !expired
            .recipients
            .iter()
            .any(|r| r.id.as_str() == "agency-e"),
        "{:?}",
        expired.recipients
    );

    // Disclosed after E joined (1 June 2026): E from that day.
    let later = access_answer(
        &register,
        &[disclosure("ben@example.com", "2026-07-01T08:00:00Z")],
        date("2026-11-28"),
    )
    .unwrap();
    let e = later
        .recipients
        .iter()
        .find(|r| r.id.as_str() == "agency-e")
        .unwrap();
    assert_eq!(e.through.as_ref().map(|t| t.as_str()), Some("agency-b"));
    assert_eq!(e.since, date("2026-07-01"));
    // Both disclosures of one subject: first/last span both.
    let both = access_answer(
        &register,
        &[
            disclosure("ana@example.com", "2025-06-01T10:00:00Z"),
            disclosure("ana@example.com", "2026-07-01T08:00:00Z"),
        ],
        date("2026-11-28"),
    )
    .unwrap();
    assert_eq!(both.recipients.len(), 4);
    assert_eq!(
        both.recipients[0].first,
        "2025-06-01T10:00:00Z".parse::<jiff::Timestamp>().unwrap()
    );
    assert_eq!(
        both.recipients[0].last,
        "2026-07-01T08:00:00Z".parse::<jiff::Timestamp>().unwrap()
    );
}

#[test]
fn an_event_naming_what_the_register_does_not_know_is_refused() {
    let register = examples();
    let mut unknown = disclosure("ana@example.com", "2025-06-01T10:00:00Z");
    unknown.recipient = "nobody".parse().unwrap();
    assert!(matches!(
        access_answer(&register, &[unknown], date("2026-11-28")),
        Err(LedgerError::UnknownRecipient(_))
    ));
}
