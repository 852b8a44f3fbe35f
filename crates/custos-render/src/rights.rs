//! Documents of data-subject requests: the access answer (Art. 15) as a printable document
//! (HTML, PDF), and the portability export (Art. 20): a ZIP of JSON and CSV files with a
//! manifest.

use std::collections::BTreeMap;
use std::io::Write as _;

use custos_core::refdata::ReferenceData;
use custos_core::rights::AccessReport;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::records::{Document, Section};
use crate::{Language, RenderError};

/// The UTC day of a moment (its RFC 3339 form starts with it).
fn day(at: impl std::fmt::Display) -> String {
    at.to_string().chars().take(10).collect()
}

/// The words of the access document, in English and Spanish.
struct Words {
    title: &'static str,
    subtitle: &'static str,
    request: &'static str,
    recipients: &'static str,
    recipient_columns: [&'static str; 7],
    disclosed: &'static str,
    processor_of: &'static str,
    transfers: &'static str,
    transfer_columns: [&'static str; 6],
    yes: &'static str,
    no: &'static str,
    processing: &'static str,
    processing_columns: [&'static str; 7],
    from_you: &'static str,
    no_automated: &'static str,
    activity_recipients: &'static str,
    activity_columns: [&'static str; 4],
    no_ledger: &'static str,
    rights: &'static str,
    rights_column: &'static str,
    other_rights: &'static str,
    authority: &'static str,
    copy: &'static str,
    copy_on_request: &'static str,
    copy_exported: &'static str,
}

const EN: Words = Words {
    title: "Your personal data: access answer",
    subtitle: "Art. 15 GDPR: the specific recipients of your data, and every processor below them that has held it or will hold it while it is kept",
    request: "Request",
    recipients: "Recipients of your data (Art. 15(1)(c))",
    recipient_columns: [
        "Recipient",
        "Country",
        "Address",
        "How it received your data",
        "Categories of data",
        "Holds your data since",
        "Last disclosure",
    ],
    disclosed: "Disclosed to it",
    processor_of: "Processor of",
    transfers: "Transfers outside the EEA and their safeguards (Art. 15(2))",
    transfer_columns: [
        "From",
        "To",
        "Destination",
        "Safeguard",
        "Legal act",
        "Holds",
    ],
    yes: "yes",
    no: "no",
    processing: "Processing of your data (Art. 15(1)(a), (b), (d), (g), (h))",
    processing_columns: [
        "Activity",
        "Purposes",
        "Lawful basis",
        "Categories of data",
        "Retention",
        "Source",
        "Automated decisions (Art. 15(1)(h))",
    ],
    from_you: "Collected from you",
    no_automated: "None",
    activity_recipients: "Recipients of the activities that process your data (why: see the first row)",
    activity_columns: ["Recipient", "Country", "What it does", "Activities"],
    no_ledger: custos_core::rights::NO_LEDGER_ENTRIES,
    rights: "Your other rights (Art. 15(1)(e), (f); 15(3))",
    rights_column: "What you can do",
    other_rights: custos_core::rights::OTHER_RIGHTS,
    authority: "Our supervisory authority (where we are established)",
    copy: "A copy of your data (Art. 15(3))",
    copy_on_request: "ask us and we send it to you, free of charge for the first copy.",
    copy_exported: "our systems export what they hold on you for this request as a ZIP file of JSON and CSV files, which we provide with this answer. Systems:",
};

const ES: Words = Words {
    title: "Sus datos personales: respuesta de acceso",
    subtitle: "Art. 15 RGPD: los destinatarios concretos de sus datos, y cada encargado por debajo de ellos que los ha tenido o los tendrá mientras se conserven",
    request: "Solicitud",
    recipients: "Destinatarios de sus datos (art. 15.1.c)",
    recipient_columns: [
        "Destinatario",
        "País",
        "Dirección",
        "Cómo recibió sus datos",
        "Categorías de datos",
        "Tiene sus datos desde",
        "Última comunicación",
    ],
    disclosed: "Se le comunicaron",
    processor_of: "Encargado de",
    transfers: "Transferencias fuera del EEE y sus garantías (art. 15.2)",
    transfer_columns: [
        "Desde",
        "A",
        "Destino",
        "Garantía",
        "Acto jurídico",
        "Vigente",
    ],
    yes: "sí",
    no: "no",
    processing: "Tratamiento de sus datos (art. 15.1.a, b, d, g, h)",
    processing_columns: [
        "Actividad",
        "Fines",
        "Base jurídica",
        "Categorías de datos",
        "Conservación",
        "Origen",
        "Decisiones automatizadas (art. 15.1.h)",
    ],
    from_you: "Recogidos de usted",
    no_automated: "Ninguna",
    activity_recipients: "Destinatarios de las actividades que tratan sus datos (por qué: véase la primera fila)",
    activity_columns: ["Destinatario", "País", "Qué hace", "Actividades"],
    no_ledger: "Nuestro registro de comunicaciones no recoge ninguna comunicación de sus datos a un destinatario concreto. Estos son los destinatarios de las actividades que tratan sus datos, por su nombre: cada uno puede haberlos recibido (TJUE C-154/21, apartados 48 a 51: los destinatarios se nombran siempre que puedan identificarse).",
    rights: "Sus otros derechos (art. 15.1.e y f; 15.3)",
    rights_column: "Qué puede hacer",
    other_rights: "Puede pedirnos que rectifiquemos los datos inexactos (art. 16), que los suprimamos (art. 17), que limitemos su tratamiento (art. 18), y oponerse al tratamiento basado en intereses legítimos o públicos o con fines de mercadotecnia directa (art. 21). Puede presentar una reclamación ante una autoridad de control, en particular en el Estado miembro de su residencia habitual, lugar de trabajo o lugar de la supuesta infracción (art. 77).",
    authority: "Nuestra autoridad de control (donde estamos establecidos)",
    copy: "Una copia de sus datos (art. 15.3)",
    copy_on_request: "pídanosla y se la enviamos; la primera copia es gratuita.",
    copy_exported: "nuestros sistemas exportan lo que contienen sobre usted para esta solicitud en un archivo ZIP de ficheros JSON y CSV, que le facilitamos con esta respuesta. Sistemas:",
};

/// The access answer as a document, in the controller's language: recipients, transfers and
/// safeguards, processing, and the subject's other rights.
pub fn access_document(report: &AccessReport) -> Document {
    let data = ReferenceData::builtin();
    let language = language_of(Some(&report.language));
    let words = match language {
        Language::En => &EN,
        Language::Es => &ES,
    };
    let country = |code| data.country_name_in(code, language.as_str());
    let name_of = |id: &custos_core::values::Slug| {
        report
            .recipients
            .iter()
            .find(|r| &r.id == id)
            .map_or_else(|| id.to_string(), |r| r.name.clone())
    };
    let mut sections = vec![
        Section {
            id: "recipients",
            title: words.recipients,
            columns: words.recipient_columns.to_vec(),
            rows: report
                .recipients
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        country(r.country),
                        r.address.clone().unwrap_or_default(),
                        match &r.through {
                            None => words.disclosed.to_owned(),
                            Some(through) => format!("{} {}", words.processor_of, name_of(through)),
                        },
                        join(&r.categories),
                        r.since.to_string(),
                        day(r.last),
                    ]
                })
                .collect(),
        },
        Section {
            id: "transfers",
            title: words.transfers,
            columns: words.transfer_columns.to_vec(),
            rows: report
                .transfers
                .iter()
                .map(|t| {
                    vec![
                        name_of(&t.exporter),
                        name_of(&t.importer),
                        t.destination
                            .parse()
                            .map_or_else(|_| t.destination.clone(), country),
                        t.mechanism.clone(),
                        t.basis.clone().unwrap_or_default(),
                        if t.valid { words.yes } else { words.no }.to_owned(),
                    ]
                })
                .collect(),
        },
        Section {
            id: "processing",
            title: words.processing,
            columns: words.processing_columns.to_vec(),
            rows: report
                .processing
                .iter()
                .map(|p| {
                    vec![
                        p.name.clone(),
                        p.purposes.join("; "),
                        p.lawful_basis.clone().unwrap_or_default(),
                        join(&p.categories),
                        p.retention.clone().unwrap_or_default(),
                        p.source
                            .clone()
                            .unwrap_or_else(|| words.from_you.to_owned()),
                        p.automated_decisions
                            .clone()
                            .unwrap_or_else(|| words.no_automated.to_owned()),
                    ]
                })
                .collect(),
        },
    ];
    if let Some(named) = &report.activity_recipients {
        sections.push(Section {
            id: "activity-recipients",
            title: words.activity_recipients,
            columns: words.activity_columns.to_vec(),
            rows: std::iter::once(vec![
                words.no_ledger.to_owned(),
                String::new(),
                String::new(),
                String::new(),
            ])
            .chain(named.recipients.iter().map(|r| {
                vec![
                    r.name.clone(),
                    country(r.country),
                    r.services.join("; "),
                    join(&r.activities),
                ]
            }))
            .collect(),
        });
    }
    let mut rights = vec![vec![words.other_rights.to_owned()]];
    if let Some(authority) = &report.authority {
        rights.push(vec![format!(
            "{}: {} ({})",
            words.authority, authority.name, authority.website
        )]);
    }
    rights.push(vec![if report.copy_from.is_empty() {
        format!("{}: {}", words.copy, words.copy_on_request)
    } else {
        format!(
            "{}: {} {}.",
            words.copy,
            words.copy_exported,
            report.copy_from.join(", ")
        )
    }]);
    sections.push(Section {
        id: "rights",
        title: words.rights,
        columns: vec![words.rights_column],
        rows: rights,
    });
    Document {
        title: words.title.to_owned(),
        subtitle: words.subtitle.to_owned(),
        organisation: report.controller.clone(),
        on: report.on,
        version: format!("{} {}", words.request, report.request),
        sections,
        language,
    }
}

fn join(slugs: &[custos_core::values::Slug]) -> String {
    slugs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one connected system returned for the subject: datasets of records (JSON objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceData {
    pub source: String,
    pub datasets: BTreeMap<String, Vec<serde_json::Value>>,
}

/// One file of an export, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportFile {
    pub path: String,
    pub media_type: String,
    pub source: String,
    pub dataset: String,
    pub records: usize,
    pub sha256: String,
}

/// The manifest at the root of an export (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub format: String,
    pub controller: String,
    pub request: String,
    pub produced_at: String,
    pub files: Vec<ExportFile>,
}

/// A dataset's name as a file name: lowercase letters, digits, `-` and `_`, at most 64.
fn file_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "data".to_owned()
    } else {
        name
    }
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
        nested => nested.to_string(),
    }
}

/// A dataset as CSV: one column per field (in order of first appearance), nested values as
/// JSON, records that are not objects in a `value` column.
fn dataset_csv(records: &[serde_json::Value]) -> Result<Vec<u8>, RenderError> {
    let mut columns: Vec<String> = Vec::new();
    for record in records {
        match record.as_object() {
            Some(fields) => {
                for name in fields.keys() {
                    if !columns.contains(name) {
                        columns.push(name.clone());
                    }
                }
            }
            None if !columns.iter().any(|c| c == "value") => columns.push("value".to_owned()),
            None => {}
        }
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&columns)?;
    for record in records {
        let row: Vec<String> = columns
            .iter()
            .map(|column| match record.as_object() {
                Some(fields) => fields.get(column).map(cell).unwrap_or_default(),
                None if column == "value" => cell(record),
                None => String::new(),
            })
            .map(|text| crate::spreadsheet_safe(&text).into_owned())
            .collect();
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|e| RenderError::Io(std::io::Error::other(e.to_string())))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The portability export: `SOURCE/DATASET.json` and `.csv` for each dataset of each source,
/// and `manifest.json` listing every file with its SHA-256.
pub fn portability_zip(
    controller: &str,
    request: &str,
    produced_at: &str,
    sources: &[SourceData],
) -> Result<(Vec<u8>, ExportManifest), RenderError> {
    let zip_error = |e: zip::result::ZipError| RenderError::Io(std::io::Error::other(e));
    let mut files = Vec::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    for source in sources {
        let folder = file_name(&source.source);
        for (dataset, records) in &source.datasets {
            let name = file_name(dataset);
            let json = serde_json::to_vec_pretty(records)
                .map_err(|e| RenderError::Io(std::io::Error::other(e)))?;
            let csv = dataset_csv(records)?;
            for (extension, media_type, bytes) in
                [("json", "application/json", json), ("csv", "text/csv", csv)]
            {
                let path = format!("{folder}/{name}.{extension}");
                files.push(ExportFile {
                    path: path.clone(),
                    media_type: media_type.to_owned(),
                    source: source.source.clone(),
                    dataset: dataset.clone(),
                    records: records.len(),
                    sha256: hex_sha256(&bytes),
                });
                contents.push((path, bytes));
            }
        }
    }
    let manifest = ExportManifest {
        format: "custos-portability/1".to_owned(),
        controller: controller.to_owned(),
        request: request.to_owned(),
        produced_at: produced_at.to_owned(),
        files,
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("manifest.json", options)
        .map_err(zip_error)?;
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| RenderError::Io(std::io::Error::other(e)))?;
    zip.write_all(&manifest_json)?;
    for (path, bytes) in contents {
        zip.start_file(path, options).map_err(zip_error)?;
        zip.write_all(&bytes)?;
    }
    let cursor = zip.finish().map_err(zip_error)?;
    Ok((cursor.into_inner(), manifest))
}

/// The language of a request's documents and e-mails (the controller's).
pub fn language_of(raw: Option<&str>) -> Language {
    raw.and_then(|l| l.parse().ok()).unwrap_or_default()
}
