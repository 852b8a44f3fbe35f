//! Who a sub-processor change request must reach, under which terms: the marketing chain's
//! request for E, and a hosting provider shared by five controllers with mixed terms.

use custos_core::change::{ChangeError, ChangeRequestSpec, PartyState, RequestStatus, addressees};
use custos_core::manifest;
use custos_core::model::AuthorisationMode;
use custos_core::register::Register;

use crate::{date, examples};

pub const SHARED_HOSTING: &str = include_str!("fixtures/shared-hosting.yaml");

fn spec(
    requester: &str,
    candidate: &str,
    country: &str,
    certifications: &str,
) -> ChangeRequestSpec {
    serde_json::from_value(serde_json::json!({
        "requester": requester,
        "service": "Off-site backups",
        "dossier": {
            "candidate": {"id": candidate, "name": "Candidate X", "country": country,
                          "address": "2 Side St", "contact": {"name": "Xavier", "email": "x@candidate.example"}},
            "processing": "Encrypted backups of the platform's databases",
            "security_measures": ["encryption-at-rest"],
            "certifications": serde_json::from_str::<serde_json::Value>(certifications).unwrap(),
        }
    }))
    .unwrap()
}

#[test]
fn b_asking_for_e_reaches_a_under_its_specific_terms() {
    let register = examples();
    let found = addressees(
        &register,
        &spec("agency-b", "agency-e", "ES", "[]"),
        date("2026-05-01"),
    )
    .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    let a = &found[0];
    assert_eq!(a.controller.as_str(), "hypermarket-a");
    assert_eq!(a.mode, AuthorisationMode::Specific);
    assert_eq!(a.decision_days, Some(14));
    assert_eq!(
        a.paths,
        [vec![
            "hypermarket-a".parse().unwrap(),
            "agency-b".parse().unwrap()
        ]]
    );
    assert_eq!(a.preauthorised_by, None);
    // C is pre-authorised in A's contract with B: a request for it names that contract.
    let found = addressees(
        &register,
        &spec("agency-b", "mailer-c", "IL", "[]"),
        date("2026-05-01"),
    )
    .unwrap();
    assert_eq!(
        found[0].preauthorised_by.as_ref().map(|c| c.as_str()),
        Some("dpa-a-b")
    );
}

#[test]
fn a_shared_hosting_provider_reaches_each_controller_once_with_its_own_terms() {
    let register: Register = manifest::parse_str("shared.yaml", SHARED_HOSTING).unwrap();
    let found = addressees(
        &register,
        &spec("host-h", "backup-x", "DE", r#"[{"scheme": "iso27001"}]"#),
        date("2026-01-10"),
    )
    .unwrap();
    let summary: Vec<(&str, AuthorisationMode, Option<u32>, bool)> = found
        .iter()
        .map(|a| {
            (
                a.controller.as_str(),
                a.mode,
                a.decision_days,
                a.information_pauses,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // A question stops the window unless the contract says otherwise (controller-2's).
            ("controller-1", AuthorisationMode::Specific, Some(14), true),
            ("controller-2", AuthorisationMode::General, Some(14), false),
            ("controller-3", AuthorisationMode::General, Some(30), true),
            ("controller-4", AuthorisationMode::Specific, Some(7), true),
            ("controller-5", AuthorisationMode::General, Some(10), true),
        ]
    );
    let path: Vec<&str> = found[2].paths[0].iter().map(|s| s.as_str()).collect();
    assert_eq!(path, ["controller-3", "agency-2", "host-h"]);
    // controller-5 admits only ISO 27701: the dossier's ISO 27001 does not meet it.
    let c5 = &found[4];
    assert_eq!(c5.criteria.len(), 1);
    assert!(!c5.criteria[0].met);
    assert_eq!(c5.criteria[0].criterion, "certified iso27701");
    assert!(found[..4].iter().all(|a| a.criteria.is_empty()));
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let register = examples();
    let on = date("2026-05-01");
    assert!(matches!(
        addressees(&register, &spec("nobody", "x", "ES", "[]"), on),
        Err(ChangeError::UnknownRequester(_))
    ));
    assert!(matches!(
        addressees(&register, &spec("hypermarket-a", "x", "ES", "[]"), on),
        Err(ChangeError::NotAProcessor(..))
    ));
    assert!(matches!(
        addressees(&register, &spec("agency-b", "agency-b", "ES", "[]"), on),
        Err(ChangeError::CandidateIsRequester(_))
    ));
    let mut replacing = spec("agency-b", "x", "ES", "[]");
    replacing.replaces = Some("hosting-d".parse().unwrap());
    assert!(matches!(
        addressees(&register, &replacing, on),
        Err(ChangeError::NotReplaceable { .. })
    ));
}

#[test]
fn the_status_of_a_request_follows_its_controllers() {
    use PartyState::*;
    assert_eq!(
        RequestStatus::of([Approved, DeemedApproved]),
        RequestStatus::Approved
    );
    assert_eq!(RequestStatus::of([Approved, Pending]), RequestStatus::Open);
    assert_eq!(
        RequestStatus::of([InformationRequested, Approved]),
        RequestStatus::Open
    );
    assert_eq!(
        RequestStatus::of([Approved, Objected, Pending]),
        RequestStatus::Blocked
    );
}

/// Art. 28(2): a general authorisation whose contract names no channel or period is still a
/// general authorisation; the controller is told and gets the default period to object.
#[test]
fn a_general_clause_without_a_period_stays_general_with_the_default_period() {
    let text = SHARED_HOSTING.replace(
        "subprocessing: {authorisation: general, decision_days: 30, notice_channel: email}",
        "subprocessing: {authorisation: general}",
    );
    assert_ne!(
        text, SHARED_HOSTING,
        "the fixture still has controller-3's terms"
    );
    let register: Register = manifest::parse_str("shared.yaml", &text).unwrap();
    let found = addressees(
        &register,
        &spec("host-h", "backup-x", "DE", "[]"),
        date("2026-01-10"),
    )
    .unwrap();
    let third = found
        .iter()
        .find(|a| a.controller.as_str() == "controller-3")
        .unwrap();
    assert_eq!(third.mode, AuthorisationMode::General);
    assert_eq!(
        third.decision_days,
        Some(custos_core::change::DEFAULT_OBJECTION_DAYS)
    );
}
