//! Data-subject requests: the one-month deadline on month ends and in leap years, the
//! extension only within the first month, and the Art. 19 tree of the marketing chain (B told
//! by A, C by B, D by C).

use custos_core::ledger::{Disclosure, access_answer, subject_key};
use custos_core::rights::{
    NotificationState, RequestKind, RightsError, check_extension, deadline, extended_deadline,
    notification_tree,
};

use crate::{date, examples};

#[test]
fn the_deadline_is_the_same_day_next_month_or_that_months_last_day() {
    for (received, due) in [
        ("2026-03-15", "2026-04-15"),
        ("2026-01-31", "2026-02-28"),
        ("2028-01-31", "2028-02-29"),
        ("2028-01-30", "2028-02-29"),
        ("2028-02-29", "2028-03-29"),
        ("2026-03-31", "2026-04-30"),
        ("2026-12-31", "2027-01-31"),
        ("2026-08-31", "2026-09-30"),
    ] {
        assert_eq!(deadline(date(received)), date(due), "received {received}");
    }
    for (received, due) in [
        ("2026-03-15", "2026-06-15"),
        ("2026-11-30", "2027-02-28"),
        ("2027-11-30", "2028-02-29"),
        ("2026-12-31", "2027-03-31"),
        ("2026-05-31", "2026-08-30"),
        // Art. 12(3): two further months after the first deadline, each step clamped:
        // 31 January → 28 February → 28 April, not 30 April.
        ("2026-01-31", "2026-04-28"),
        ("2028-01-31", "2028-04-29"),
    ] {
        assert_eq!(
            extended_deadline(date(received)),
            date(due),
            "received {received}"
        );
    }
}

#[test]
fn an_extension_needs_reasons_and_comes_within_the_first_month_once() {
    let received = date("2028-01-31");
    assert_eq!(
        check_extension(received, date("2028-02-29"), None, "numerous requests"),
        Ok(date("2028-04-29")),
        "the last day of the first month is still in time"
    );
    assert_eq!(
        check_extension(received, date("2028-03-01"), None, "numerous requests"),
        Err(RightsError::ExtensionTooLate {
            deadline: date("2028-02-29"),
            today: date("2028-03-01")
        })
    );
    assert_eq!(
        check_extension(received, date("2028-02-01"), None, "  "),
        Err(RightsError::NoReasons)
    );
    assert_eq!(
        check_extension(
            received,
            date("2028-02-01"),
            Some(date("2028-04-29")),
            "again"
        ),
        Err(RightsError::AlreadyExtended(date("2028-04-29")))
    );
}

#[test]
fn kinds_read_and_name_their_articles() {
    for kind in RequestKind::ALL {
        assert_eq!(kind.as_str().parse::<RequestKind>(), Ok(kind));
    }
    assert!(
        "deletion"
            .parse::<RequestKind>()
            .unwrap_err()
            .contains("erasure")
    );
    let propagating: Vec<_> = RequestKind::ALL
        .into_iter()
        .filter(|k| k.propagates())
        .collect();
    assert_eq!(
        propagating,
        [
            RequestKind::Rectification,
            RequestKind::Erasure,
            RequestKind::Restriction
        ]
    );
    assert_eq!(RequestKind::Erasure.article(), "Art. 17");
}

#[test]
fn notifications_follow_the_chain_each_relayed_by_the_processor_that_engaged_it() {
    let register = examples();
    let disclosures = [Disclosure {
        subject_key: subject_key(b"pepper", "ana@example.com").unwrap(),
        activity: "customer-marketing".parse().unwrap(),
        recipient: "agency-b".parse().unwrap(),
        categories: vec!["email".parse().unwrap()],
        at: "2025-05-10T10:00:00Z".parse().unwrap(),
    }];
    // As of 2026-11-28: E, engaged below B in June 2026, holds the data B still keeps, and is
    // told by B (Art. 19 follows Art. 15(1)(c)'s "have been or will be").
    let answer = access_answer(&register, &disclosures, date("2026-11-28")).unwrap();
    let tree: Vec<(String, Option<String>)> = notification_tree(&answer)
        .into_iter()
        .map(|n| (n.recipient.to_string(), n.relayed_by.map(|r| r.to_string())))
        .collect();
    assert_eq!(
        tree,
        [
            ("agency-b".to_owned(), None),
            ("agency-e".to_owned(), Some("agency-b".to_owned())),
            ("mailer-c".to_owned(), Some("agency-b".to_owned())),
            ("hosting-d".to_owned(), Some("mailer-c".to_owned())),
        ]
    );
}

#[test]
fn a_notification_settles_only_as_done_or_impossible() {
    use NotificationState::*;
    assert!(Sent.may_become(Acknowledged));
    assert!(Acknowledged.may_become(Done));
    assert!(!Pending.may_become(Acknowledged), "not sent yet");
    assert!(!Done.may_become(Impossible));
    assert!(Pending.may_become(Impossible));
    assert!(!Acknowledged.may_become(Failed));
    let settled: Vec<_> = NotificationState::ALL
        .into_iter()
        .filter(|s| s.settled())
        .collect();
    assert_eq!(settled, [Done, Impossible]);
}
