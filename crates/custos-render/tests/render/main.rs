//! Documents from the worked examples: notice sections (snapshots in both languages and every
//! format), the Art. 30 records (snapshots of their tables), the spreadsheet read back with
//! calamine, and the PDF read back with pdftotext.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use calamine::{Reader, Xlsx};
use custos_core::Date;
use custos_core::manifest;
use custos_core::notice::{NoticeOptions, NoticeStyle, build};
use custos_core::records::{controller_record, processor_record};
use custos_core::register::Register;
use custos_render::notice::{TemplateKind, render, validate};
use custos_render::{Document, Language, NoticeFormat};

fn examples() -> Register {
    manifest::parse(&manifest::examples::sources()).unwrap()
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn notice(style: NoticeStyle, controller: &str, on: &str) -> custos_core::notice::Notice {
    let options = NoticeOptions {
        style,
        activities: Vec::new(),
    };
    build(&examples(), controller, &options, date(on)).unwrap()
}

#[test]
fn notices_of_the_three_examples() {
    let marketing = notice(NoticeStyle::Named, "hypermarket-a", "2026-01-15");
    insta::assert_snapshot!(
        "marketing_named_en_html",
        render(&marketing, NoticeFormat::Html, Language::En, None).unwrap()
    );
    insta::assert_snapshot!(
        "marketing_named_es_html",
        render(&marketing, NoticeFormat::Html, Language::Es, None).unwrap()
    );
    insta::assert_snapshot!(
        "marketing_named_en_md",
        render(&marketing, NoticeFormat::Markdown, Language::En, None).unwrap()
    );
    let categories = notice(NoticeStyle::Categories, "hypermarket-a", "2026-01-15");
    insta::assert_snapshot!(
        "marketing_categories_en_md",
        render(&categories, NoticeFormat::Markdown, Language::En, None).unwrap()
    );
    insta::assert_snapshot!(
        "marketing_categories_es_md",
        render(&categories, NoticeFormat::Markdown, Language::Es, None).unwrap()
    );
    let courier = notice(NoticeStyle::Named, "bank", "2024-01-15");
    insta::assert_snapshot!(
        "courier_named_en_md",
        render(&courier, NoticeFormat::Markdown, Language::En, None).unwrap()
    );
    let migration = notice(NoticeStyle::Named, "web-controller", "2024-05-01");
    insta::assert_snapshot!(
        "migration_named_en_md",
        render(&migration, NoticeFormat::Markdown, Language::En, None).unwrap()
    );
}

#[test]
fn the_builtin_templates_pass_their_own_validation() {
    assert_eq!(
        custos_render::notice::samples().len(),
        3,
        "every sample parses"
    );
    for kind in TemplateKind::ALL {
        for language in Language::ALL {
            validate(kind, kind.builtin(language), language).unwrap();
        }
    }
}

#[test]
fn json_notice_is_the_model() {
    let marketing = notice(NoticeStyle::Named, "hypermarket-a", "2026-01-15");
    let json = render(&marketing, NoticeFormat::Json, Language::En, None).unwrap();
    let back: custos_core::notice::Notice = serde_json::from_str(&json).unwrap();
    assert_eq!(back, marketing);
}

#[test]
fn html_escapes_what_the_register_says() {
    let mut marketing = notice(NoticeStyle::Named, "hypermarket-a", "2026-01-15");
    marketing.recipients[0].name = "<script>alert(1)</script>".to_owned();
    let html = render(&marketing, NoticeFormat::Html, Language::En, None).unwrap();
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn an_organisations_template_replaces_the_builtin_one_and_a_broken_one_is_refused_with_its_line() {
    let marketing = notice(NoticeStyle::Named, "hypermarket-a", "2026-01-15");
    let custom = "Our partners:{% for r in notice.recipients %} {{ r.name }} ({{ r.country|country }}){% endfor %}";
    let text = render(
        &marketing,
        NoticeFormat::Markdown,
        Language::Es,
        Some(custom),
    )
    .unwrap();
    assert_eq!(
        text,
        "Our partners: Agency B S.L. (España) Mailer C Ltd (Israel) Hosting D Ltd (Israel)\n"
    );
    let broken = "line one\n{% for r in notice.recipients %}{{ r.name }";
    let error = validate(TemplateKind::NoticeMarkdown, broken, Language::En)
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 2"), "{error}");
    // A field that does not exist is an error, not an empty string in a published notice.
    let unknown = "{{ notice.recipient_list }}";
    assert!(validate(TemplateKind::NoticeHtml, unknown, Language::En).is_err());
}

fn controller_document(controller: &str, on: &str) -> Document {
    Document::controller(
        &controller_record(&examples(), controller, date(on)).unwrap(),
        "test",
        custos_render::Language::En,
    )
}

#[test]
fn records_of_the_three_examples() {
    for (name, controller, on) in [
        ("marketing", "hypermarket-a", "2026-07-01"),
        ("courier", "bank", "2024-01-15"),
        ("migration", "web-controller", "2024-05-01"),
    ] {
        let document = controller_document(controller, on);
        for section in ["activities", "recipients", "transfers"] {
            let csv = String::from_utf8(document.csv(Some(section)).unwrap()).unwrap();
            insta::assert_snapshot!(format!("{name}_controller_{section}_csv"), csv);
        }
    }
    let processor = Document::processor(
        &processor_record(&examples(), "mailer-c", date("2026-07-01")).unwrap(),
        "test",
        custos_render::Language::En,
    );
    insta::assert_snapshot!(
        "mailer_processor_processing_csv",
        String::from_utf8(processor.csv(None).unwrap()).unwrap()
    );
    assert!(
        controller_document("bank", "2024-01-15")
            .csv(Some("nothing"))
            .is_err()
    );
}

#[test]
fn the_spreadsheet_reads_back_with_a_sheet_per_section() {
    let document = controller_document("hypermarket-a", "2026-07-01");
    let bytes = document.xlsx().unwrap();
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(
        workbook.sheet_names(),
        ["Organisation", "activities", "recipients", "transfers"]
    );
    let recipients = workbook.worksheet_range("recipients").unwrap();
    let rows: Vec<Vec<String>> = recipients
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(rows[0][3], "Recipient");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[3].as_str()).collect();
    assert_eq!(
        names,
        [
            "Agency B S.L.",
            "Mailer C Ltd",
            "Hosting D Ltd",
            "Analytics E S.L."
        ]
    );
    let countries: Vec<&str> = rows[1..].iter().map(|r| r[4].as_str()).collect();
    assert_eq!(countries, ["Spain", "Israel", "Israel", "Spain"]);
    // Depths are numbers and dates are dates, not text; columns 8 to 60 characters wide.
    assert_eq!(
        recipients.get_value((1, 2)),
        Some(&calamine::Data::Float(1.0))
    );
    assert!(
        matches!(
            recipients.get_value((1, 9)),
            Some(calamine::Data::DateTime(_))
        ),
        "{:?}",
        recipients.get_value((1, 9))
    );
    let transfers = workbook.worksheet_range("transfers").unwrap();
    assert_eq!(
        transfers.height(),
        3,
        "a header and the two links into Israel"
    );
    let organisation = workbook.worksheet_range("Organisation").unwrap();
    assert_eq!(
        organisation.get_value((3, 1)).unwrap().to_string(),
        "Hypermarket A S.L."
    );
}

#[test]
fn the_html_record_is_a_printable_page() {
    let html = controller_document("hypermarket-a", "2026-07-01").html();
    assert!(html.contains("@media print"));
    assert!(html.contains("<h1>Record of processing activities</h1>"));
    for name in [
        "Agency B S.L.",
        "Mailer C Ltd",
        "Hosting D Ltd",
        "Analytics E S.L.",
    ] {
        assert!(html.contains(&format!("<td>{name}</td>")), "{name}");
    }
}

/// pdftotext (Debian's poppler-utils) reads the PDF back; CI installs it and sets
/// CUSTOS_REQUIRE_PDFTOTEXT so that a missing tool fails there instead of skipping.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    pdftotext_with(pdf, "-layout")
}

/// The text in the order it is drawn (`-raw`), each cell's lines one after the other, with
/// every run of white space as one space: a name wrapped in its cell reads back whole.
fn pdftotext_drawn(pdf: &[u8]) -> Option<String> {
    let text = pdftotext_with(pdf, "-raw")?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn pdftotext_with(pdf: &[u8], mode: &str) -> Option<String> {
    // Tests run on parallel threads: each reads its own file.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), pdf).unwrap();
    let output = match std::process::Command::new("pdftotext")
        .args([mode])
        .arg(file.path())
        .arg("-")
        .output()
    {
        Ok(output) => output,
        Err(_) if std::env::var_os("CUSTOS_REQUIRE_PDFTOTEXT").is_none() => {
            // Straight to stderr: the harness would swallow eprintln! of a passing test.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED in {}: reading the PDF back, pdftotext is not installed (apt-get install poppler-utils)",
                std::thread::current().name().unwrap_or("a test")
            );
            return None;
        }
        Err(error) => panic!("pdftotext: {error}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn the_pdf_names_every_recipient() {
    let document = controller_document("hypermarket-a", "2026-07-01");
    let pdf = document.pdf();
    assert!(pdf.starts_with(b"%PDF-"));
    let Some(text) = pdftotext(&pdf) else { return };
    for expected in [
        "Record of processing activities",
        "Hypermarket A S.L.",
        "Agency B S.L.",
        "Mailer C Ltd",
        "Hosting D Ltd",
        "Analytics E S.L.",
        "Commission Decision 2011/61/EU",
        "Calle Mayor 1, 28013 Madrid, Spain",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    // Accents survive: a processor named with them reads back as written.
    let sources: Vec<_> = manifest::examples::sources()
        .into_iter()
        .map(|source| manifest::Source {
            text: source
                .text
                .replace("name: Agency B S.L.", "name: Agència Bé S.L."),
            ..source
        })
        .collect();
    let accented = Document::controller(
        &controller_record(
            &manifest::parse(&sources).unwrap(),
            "hypermarket-a",
            date("2026-07-01"),
        )
        .unwrap(),
        "test",
        custos_render::Language::En,
    );
    let text = pdftotext(&accented.pdf()).unwrap();
    assert!(text.contains("Agència Bé S.L."), "{text}");
}

#[test]
fn a_long_record_breaks_into_pages_with_the_header_on_each() {
    let mut document = controller_document("hypermarket-a", "2026-07-01");
    let template = document.sections[1].rows[0].clone();
    document.sections[1].rows = (0..400)
        .map(|i| {
            let mut row = template.clone();
            // One word, so that a row takes the same lines whatever its number.
            row[3] = format!("Recipient{i}");
            row
        })
        .collect();
    let Some(text) = pdftotext(&document.pdf()) else {
        return;
    };
    let pages: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert!(pages.len() > 5, "{} pages", pages.len());
    // Every page of the recipients table starts with the header row again.
    let table_pages: Vec<&&str> = pages.iter().filter(|p| p.contains("Recipient1")).collect();
    assert!(table_pages.len() > 3);
    assert!(table_pages.iter().all(|p| p.contains("Engaged by")));
    assert!(text.contains("Recipient0 ") && text.contains("Recipient399 "));
}

/// A name another party wrote that a spreadsheet would run as a formula is exported as text.
#[test]
fn csv_cells_that_start_a_formula_are_exported_as_text() {
    let sources: Vec<_> = manifest::examples::sources()
        .into_iter()
        .map(|source| manifest::Source {
            text: source.text.replace(
                "name: Mailer C Ltd",
                "name: '=HYPERLINK(\"http://attacker.example\",\"Mailer C\")'",
            ),
            ..source
        })
        .collect();
    let register = manifest::parse(&sources).unwrap();
    let document = Document::controller(
        &controller_record(&register, "hypermarket-a", date("2026-07-01")).unwrap(),
        "test",
        custos_render::Language::En,
    );
    let csv = String::from_utf8(document.csv(Some("recipients")).unwrap()).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let cells: Vec<String> = reader
        .records()
        .flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert!(
        cells
            .iter()
            .any(|c| c == "'=HYPERLINK(\"http://attacker.example\",\"Mailer C\")"),
        "{csv}"
    );
    assert!(!cells.iter().any(|c| c.starts_with('=')), "{csv}");
    for (raw, safe) in [
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("Plain", "Plain"),
    ] {
        assert_eq!(custos_render::spreadsheet_safe(raw), safe);
    }
}

/// Art. 12(1) and 15: the access answer is written in the controller's language (a Spanish
/// controller's in Spanish), names the other rights and the authority, and reads back from the
/// PDF as a subject would read it.
#[test]
fn the_access_answer_is_in_the_controllers_language() {
    let mut parts = examples().into_parts();
    for organisation in &mut parts.organisations {
        if organisation.id.as_str() == "hypermarket-a" {
            organisation.language = Some("es".to_owned());
        }
    }
    let register = Register::new(parts).unwrap();
    let mut report = ana_access_report(&register);
    report.copy_from = vec!["shop".to_owned()];
    let document = custos_render::rights::access_document(&report);
    let html = document.html();
    assert!(html.contains("<html lang=\"es\">"), "{html}");
    for expected in [
        "Sus datos personales: respuesta de acceso",
        "Destinatarios de sus datos (art. 15.1.c)",
        "Encargado de Agency B S.L.",
        "Israel",
        "Agencia Española de Protección de Datos",
        "art. 77",
        "Sistemas: shop.",
        "Organización",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    assert!(
        !html.contains("Recipients of your data"),
        "no English left: {html}"
    );
    let Some(text) = pdftotext(&document.pdf()) else {
        return;
    };
    assert!(text.contains("Sus datos personales"), "{text}");
    assert!(
        text.contains("Destinatario") && text.contains("Encargado de"),
        "{text}"
    );
}

/// Organisations named in seven of the EU's languages (Polish, Czech, Hungarian, Romanian,
/// Greek, Bulgarian, German), as their registers write them.
const SEVEN_NAMES: [(&str, &str); 7] = [
    ("Hypermarket A S.L.", "Łódzkie Zakłady Mięsne Sp. z o.o."),
    ("Agency B S.L.", "Česká Řešení s.r.o."),
    ("Mailer C Ltd", "Győri Őrző Szolgáltató Kft."),
    ("Hosting D Ltd", "Științe și Țărani S.R.L."),
    ("Analytics E S.L.", "Ελληνικές Υπηρεσίες Α.Ε."),
    ("Bulgarian F", "Български Решения ЕООД"),
    ("German G", "Müller & Söhne Straßenbau GmbH"),
];

fn seven_language_register() -> Register {
    let mut sources: Vec<manifest::Source> = manifest::examples::sources()
        .into_iter()
        .map(|source| manifest::Source {
            text: SEVEN_NAMES[..5]
                .iter()
                .fold(source.text, |text, (from, to)| {
                    text.replace(&format!("name: {from}"), &format!("name: \"{to}\""))
                }),
            ..source
        })
        .collect();
    sources.push(manifest::Source {
        name: "more.yaml".to_owned(),
        text: format!(
            "version: 1
organisations:
  - {{id: bg-f, name: \"{}\", country: BG}}
  - {{id: de-g, name: \"{}\", country: DE}}
engagements:
  - {{id: b-f, activity: customer-marketing, engaged_by: agency-b, processor: bg-f, service: Printing, since: 2025-03-01}}
  - {{id: b-g, activity: customer-marketing, engaged_by: agency-b, processor: de-g, service: Archiving, since: 2025-03-01}}
",
            SEVEN_NAMES[5].1, SEVEN_NAMES[6].1
        ),
    });
    manifest::parse(&sources).unwrap()
}

/// pdftotext gives back exactly the names of the register, in every script: the record of
/// processing and an access answer, whose title pages and footers name the controller and
/// whose tables name every recipient.
#[test]
fn the_pdf_gives_back_names_in_seven_languages_exactly() {
    let register = seven_language_register();
    let record = Document::controller(
        &controller_record(&register, "hypermarket-a", date("2026-11-28")).unwrap(),
        "test",
        custos_render::Language::En,
    );
    let report = ana_access_report(&register);
    let access = custos_render::rights::access_document(&report);
    for document in [record, access] {
        let pdf = document.pdf();
        let Some(text) = pdftotext_drawn(&pdf) else {
            return;
        };
        for (_, name) in SEVEN_NAMES {
            assert!(text.contains(name), "{name:?} not in:\n{text}");
        }
        assert!(!text.contains('?'), "a character fell back to '?':\n{text}");
    }
}

/// The hypermarket's access answer to Ana on 2026-11-28, of her e-mail disclosed to agency B
/// in May 2025.
fn ana_access_report(register: &Register) -> custos_core::rights::AccessReport {
    let on = date("2026-11-28");
    let answer = custos_core::ledger::access_answer(register, &[ana_to_agency_b()], on).unwrap();
    custos_core::rights::access_report(register, "hypermarket-a", answer, "r-1", on).unwrap()
}

/// Ana's e-mail disclosed to agency B in May 2025.
fn ana_to_agency_b() -> custos_core::ledger::Disclosure {
    custos_core::ledger::Disclosure {
        subject_key: custos_core::ledger::subject_key(b"pepper", "ana@example.com").unwrap(),
        activity: "customer-marketing".parse().unwrap(),
        recipient: "agency-b".parse().unwrap(),
        categories: vec!["email".parse().unwrap()],
        at: "2025-05-10T10:00:00Z".parse().unwrap(),
    }
}
