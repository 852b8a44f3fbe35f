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

/// The access answer as a document: recipients, transfers and safeguards, processing.
pub fn access_document(report: &AccessReport) -> Document {
    let data = ReferenceData::builtin();
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
            title: "Recipients of your data (Art. 15(1)(c))",
            columns: vec![
                "Recipient",
                "Country",
                "Address",
                "How it received your data",
                "Categories of data",
                "Holds your data since",
                "Last disclosure",
            ],
            rows: report
                .recipients
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        data.country_name(r.country),
                        r.address.clone().unwrap_or_default(),
                        match &r.through {
                            None => "Disclosed to it".to_owned(),
                            Some(through) => format!("Processor of {}", name_of(through)),
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
            title: "Transfers outside the EEA and their safeguards (Art. 15(2))",
            columns: vec![
                "From",
                "To",
                "Destination",
                "Safeguard",
                "Legal act",
                "Holds",
            ],
            rows: report
                .transfers
                .iter()
                .map(|t| {
                    vec![
                        name_of(&t.exporter),
                        name_of(&t.importer),
                        t.destination
                            .parse()
                            .map_or_else(|_| t.destination.clone(), |c| data.country_name(c)),
                        t.mechanism.clone(),
                        t.basis.clone().unwrap_or_default(),
                        if t.valid { "yes" } else { "no" }.to_owned(),
                    ]
                })
                .collect(),
        },
        Section {
            id: "processing",
            title: "Processing of your data (Art. 15(1)(a), (b), (d), (g))",
            columns: vec![
                "Activity",
                "Purposes",
                "Lawful basis",
                "Categories of data",
                "Retention",
                "Source",
                "Automated decisions (Art. 15(1)(h))",
            ],
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
                            .unwrap_or_else(|| "Collected from you".to_owned()),
                        p.automated_decisions
                            .clone()
                            .unwrap_or_else(|| "None".to_owned()),
                    ]
                })
                .collect(),
        },
    ];
    if let Some(named) = &report.activity_recipients {
        sections.push(Section {
            id: "activity-recipients",
            title: "Recipients of the activities that process your data (why: see the first row)",
            columns: vec!["Recipient", "Country", "What it does", "Activities"],
            rows: std::iter::once(vec![
                named.reason.clone(),
                String::new(),
                String::new(),
                String::new(),
            ])
            .chain(named.recipients.iter().map(|r| {
                vec![
                    r.name.clone(),
                    data.country_name(r.country),
                    r.services.join("; "),
                    join(&r.activities),
                ]
            }))
            .collect(),
        });
    }
    let mut rights = vec![vec![custos_core::rights::OTHER_RIGHTS.to_owned()]];
    if let Some(authority) = &report.authority {
        rights.push(vec![format!(
            "Our supervisory authority (where we are established): {} ({})",
            authority.name, authority.website
        )]);
    }
    rights.push(vec![match &report.copy {
        Some(copy) => format!("A copy of your data (Art. 15(3)): {copy}"),
        None => "A copy of your data (Art. 15(3)): ask us and we send it to you, free of charge for the first copy.".to_owned(),
    }]);
    sections.push(Section {
        id: "rights",
        title: "Your other rights (Art. 15(1)(e), (f); 15(3))",
        columns: vec!["What you can do"],
        rows: rights,
    });
    Document {
        title: "Your personal data: access answer".to_owned(),
        subtitle: "Art. 15 GDPR: the specific recipients of your data, and every processor below them that has held it or will hold it while it is kept"
            .to_owned(),
        organisation: report.controller.clone(),
        on: report.on,
        version: format!("Request {}", report.request),
        sections,
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
