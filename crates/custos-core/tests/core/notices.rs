//! Notice sections and Art. 30 records from the worked examples: the marketing chain's named
//! and categories notices, the out-of-date finding when B engages E, the diff, the records.

use custos_core::checks::check_with_notices;
use custos_core::notice::{
    self, NoticeError, NoticeOptions, NoticeStyle, PublishedNotice, build, diff, out_of_date,
};
use custos_core::records::{controller_record, processor_record};
use custos_core::values::Slug;

use crate::{date, examples};

fn options(style: NoticeStyle) -> NoticeOptions {
    NoticeOptions {
        style,
        activities: Vec::new(),
    }
}

fn names(notice: &notice::Notice) -> Vec<(String, String)> {
    notice
        .recipients
        .iter()
        .map(|r| (r.name.clone(), r.country.to_string()))
        .collect()
}

/// The register's Spanish words travel with the notice, only those it shows: categories and
/// sectors in the categories style, services in the named style.
#[test]
fn notices_carry_the_translations_of_the_words_they_show() {
    let register = examples();
    let categories = build(
        &register,
        "hypermarket-a",
        &options(NoticeStyle::Categories),
        date("2026-01-15"),
    )
    .unwrap();
    let spanish = &categories.translations["es"];
    assert_eq!(
        spanish["E-mail delivery platform"],
        "Plataforma de envío de correo electrónico"
    );
    assert_eq!(spanish["Hosting"], "Alojamiento web");
    assert!(
        !spanish.contains_key("Sending marketing e-mails"),
        "services are not shown in the categories style: {spanish:?}"
    );
    assert!(
        !spanish.contains_key("Marketing analytics agency"),
        "E is not in the chain on 2026-01-15: {spanish:?}"
    );
    let named = build(
        &register,
        "hypermarket-a",
        &options(NoticeStyle::Named),
        date("2026-01-15"),
    )
    .unwrap();
    assert_eq!(
        named.translations["es"]["Sending marketing e-mails"],
        "Envío de correos electrónicos de marketing"
    );
    assert!(!named.translations["es"].contains_key("E-mail delivery platform"));
}

#[test]
fn named_notice_of_the_marketing_chain_lists_b_c_d_and_the_transfer_to_israel() {
    let register = examples();
    let notice = build(
        &register,
        "hypermarket-a",
        &options(NoticeStyle::Named),
        date("2026-01-15"),
    )
    .unwrap();
    assert_eq!(
        names(&notice),
        [
            ("Agency B S.L.".to_owned(), "ES".to_owned()),
            ("Mailer C Ltd".to_owned(), "IL".to_owned()),
            ("Hosting D Ltd".to_owned(), "IL".to_owned()),
        ]
    );
    assert!(notice.categories.is_empty());
    assert_eq!(notice.transfers.len(), 1, "{:#?}", notice.transfers);
    let transfer = &notice.transfers[0];
    assert_eq!(
        transfer.country.map(|c| c.to_string()).as_deref(),
        Some("IL")
    );
    assert_eq!(transfer.safeguard.kind, "adequacy");
    assert_eq!(
        transfer.safeguard.act.as_deref(),
        Some("Commission Decision 2011/61/EU")
    );
    assert!(transfer.safeguard.valid);
    assert_eq!(transfer.recipients, ["Hosting D Ltd", "Mailer C Ltd"]);
}

#[test]
fn categories_notice_gives_sector_and_location() {
    let register = examples();
    let notice = build(
        &register,
        "hypermarket-a",
        &options(NoticeStyle::Categories),
        date("2026-01-15"),
    )
    .unwrap();
    assert!(notice.recipients.is_empty());
    let categories: Vec<(&str, Vec<&str>, Vec<String>)> = notice
        .categories
        .iter()
        .map(|c| {
            (
                c.category.as_str(),
                c.sectors.iter().map(String::as_str).collect(),
                c.countries.iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            (
                "E-mail delivery platform",
                vec!["E-mail delivery"],
                vec!["IL".to_owned()]
            ),
            ("Hosting provider", vec!["Hosting"], vec!["IL".to_owned()]),
            (
                "Marketing agency analysing purchase preferences",
                vec!["Marketing"],
                vec!["ES".to_owned()]
            ),
        ]
    );
    assert_eq!(
        notice.transfers[0].recipients,
        ["E-mail delivery platform", "Hosting provider"]
    );
}

#[test]
fn engaging_e_makes_the_published_notice_out_of_date_and_the_diff_adds_only_e() {
    let register = examples();
    let published = PublishedNotice {
        controller: "hypermarket-a".parse::<Slug>().unwrap(),
        name: "website".parse::<Slug>().unwrap(),
        version: 1,
        language: "en".to_owned(),
        options: options(NoticeStyle::Named),
        notice: build(
            &register,
            "hypermarket-a",
            &options(NoticeStyle::Named),
            date("2026-01-15"),
        )
        .unwrap(),
    };
    // Before E joins, nothing to say; the day it joins, the notice is out of date.
    assert!(out_of_date(&register, &published, date("2026-05-31")).is_none());
    let stale = out_of_date(&register, &published, date("2026-07-01")).unwrap();
    assert_eq!(stale.since, Some(date("2026-06-01")));
    assert_eq!(stale.diff.lines(), ["+ Analytics E S.L. (Spain)"]);
    assert!(stale.diff.transfers_added.is_empty() && stale.diff.transfers_removed.is_empty());

    let report = check_with_notices(
        &register,
        date("2026-07-01"),
        std::slice::from_ref(&published),
    )
    .unwrap();
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == "notice-out-of-date")
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].object.id.as_str(), "hypermarket-a");
    assert!(
        found[0].message.contains("since 2026-06-01"),
        "{}",
        found[0].message
    );
    assert!(
        found[0].message.contains("+ Analytics E S.L. (Spain)"),
        "{}",
        found[0].message
    );

    // A newer version published after E joined supersedes it: no finding.
    let current = PublishedNotice {
        version: 2,
        notice: build(
            &register,
            "hypermarket-a",
            &options(NoticeStyle::Named),
            date("2026-06-02"),
        )
        .unwrap(),
        ..published.clone()
    };
    let report = check_with_notices(
        &register,
        date("2026-07-01"),
        &[published.clone(), current.clone()],
    )
    .unwrap();
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule == "notice-out-of-date")
    );
    let changes = diff(&published.notice, &current.notice);
    assert_eq!(changes.recipients_added.len(), 1);
    assert_eq!(changes.recipients_added[0].id.as_str(), "agency-e");
}

#[test]
fn a_notice_for_an_activity_the_organisation_does_not_control_is_refused() {
    let register = examples();
    let asked = NoticeOptions {
        style: NoticeStyle::Named,
        activities: vec!["document-delivery".parse::<Slug>().unwrap()],
    };
    assert!(matches!(
        build(&register, "hypermarket-a", &asked, date("2026-01-15")),
        Err(NoticeError::NotController { .. })
    ));
    assert!(matches!(
        build(
            &register,
            "agency-b",
            &options(NoticeStyle::Named),
            date("2026-01-15")
        ),
        Err(NoticeError::NoActivities(_))
    ));
    assert!(matches!(
        build(
            &register,
            "nobody",
            &options(NoticeStyle::Named),
            date("2026-01-15")
        ),
        Err(NoticeError::UnknownOrganisation(_))
    ));
}

#[test]
fn records_catalogue_actual_recipients_and_the_processor_side() {
    let register = examples();
    let record = controller_record(&register, "hypermarket-a", date("2026-07-01")).unwrap();
    assert_eq!(record.activities.len(), 1);
    assert_eq!(record.activities[0].recipient_categories.len(), 4);
    let recipients: Vec<(&str, u32)> = record
        .recipients
        .iter()
        .map(|r| (r.recipient.as_str(), r.depth))
        .collect();
    assert_eq!(
        recipients,
        [
            ("agency-b", 1),
            ("mailer-c", 2),
            ("hosting-d", 3),
            ("agency-e", 2)
        ]
    );
    assert_eq!(record.transfers.len(), 2);

    // Mailer C is a processor for A: its record names A, the processing and its transfers.
    let record = processor_record(&register, "mailer-c", date("2026-07-01")).unwrap();
    assert_eq!(record.processing.len(), 1);
    assert_eq!(record.processing[0].controller.name, "Hypermarket A S.L.");
    assert_eq!(record.processing[0].engaged_by, "Agency B S.L.");
    let transfers: Vec<&str> = record
        .transfers
        .iter()
        .map(|t| t.engagement.as_str())
        .collect();
    assert_eq!(transfers, ["b-c", "c-d"]);
    // A controller that processes for nobody has an empty processor record.
    assert!(
        processor_record(&register, "hypermarket-a", date("2026-07-01"))
            .unwrap()
            .processing
            .is_empty()
    );
}

/// Art. 30(1)(a) and 30(2)(a): the name and contact details of the controller, each joint
/// controller, their representatives (Art. 27) and DPOs; 30(1)(d): the recipients to whom the
/// data "have been or will be disclosed", so past and planned links are listed with their dates.
#[test]
fn records_name_representatives_and_joint_controllers_and_list_recipients_over_time() {
    let register = crate::register(
        "version: 1
organisations:
  - {id: shop, name: Shop Inc, country: US, address: \"1 Main St, Austin\",
     representative: {name: EU Rep GmbH, address: \"Str. 1, Berlin\", email: rep@eurep.example},
     dpo: {name: Dana Poe, email: dpo@shop.example}}
  - {id: partner, name: Partner SA, country: FR, contact: {email: privacy@partner.example}}
  - {id: old-host, name: Old Host, country: DE}
  - {id: host, name: Host, country: DE}
  - {id: next-host, name: Next Host, country: DE}
activities:
  - {id: sales, controller: shop, joint_controllers: [partner], joint_acceptances: [{by: partner, date: 2025-01-01}]}
engagements:
  - {id: shop-old, activity: sales, engaged_by: shop, processor: old-host, service: hosting, since: 2024-01-01, until: 2025-06-30}
  - {id: shop-host, activity: sales, engaged_by: shop, processor: host, service: hosting, since: 2025-07-01}
  - {id: shop-next, activity: sales, engaged_by: shop, processor: next-host, service: hosting, since: 2027-01-01}
",
    );
    let record = controller_record(&register, "shop", date("2026-11-28")).unwrap();
    let rows: Vec<(&str, &str)> = record
        .recipients
        .iter()
        .map(|r| (r.recipient.as_str(), r.status))
        .collect();
    assert_eq!(
        rows,
        // Children in id order (shop-host, shop-next, shop-old), each with its status.
        [
            ("host", "current"),
            ("next-host", "planned"),
            ("old-host", "past")
        ]
    );
    assert_eq!(
        record.organisation.representative.as_deref(),
        Some("EU Rep GmbH, Str. 1, Berlin, rep@eurep.example")
    );
    assert_eq!(
        record.activities[0].joint_controllers,
        ["Partner SA; privacy@partner.example"]
    );
    // The partner's own record names the shop with its DPO and representative.
    let partners = controller_record(&register, "partner", date("2026-11-28")).unwrap();
    let shop = &partners.activities[0].joint_controllers[0];
    assert!(shop.contains("DPO: Dana Poe, dpo@shop.example"), "{shop}");
    assert!(
        shop.contains("representative (Art. 27): EU Rep GmbH"),
        "{shop}"
    );
    // The processor's record: the controller with its representative.
    let host = processor_record(&register, "host", date("2026-11-28")).unwrap();
    assert_eq!(
        host.processing[0].controller.representative.as_deref(),
        Some("EU Rep GmbH, Str. 1, Berlin, rep@eurep.example")
    );
    assert_eq!(
        host.processing[0].joint_controllers,
        ["Partner SA; privacy@partner.example"]
    );
}
