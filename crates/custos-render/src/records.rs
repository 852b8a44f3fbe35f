//! Art. 30 records as documents: a [`Document`] is a title, the organisation's details and
//! sections that are tables; it becomes CSV (one section), XLSX (a sheet per section), HTML
//! (a printable page) or PDF.

use std::fmt::Write as _;

use custos_core::Date;
use custos_core::notice::Party;
use custos_core::records::{ControllerRecord, ProcessorRecord, Record, TransferRow};
use custos_core::refdata::ReferenceData;
use rust_xlsxwriter::{Format, Workbook};

use crate::{Language, RenderError, escape_html as escape};

/// A record ready to be written in any format.
#[derive(Debug, Clone)]
pub struct Document {
    pub title: String,
    /// The legal basis of the document, under the title.
    pub subtitle: String,
    pub organisation: Party,
    pub on: Date,
    /// A version or reference shown on the title page.
    pub version: String,
    pub sections: Vec<Section>,
    /// The language of the labels around the tables (the title page, "none").
    pub language: Language,
}

/// One table of a record.
#[derive(Debug, Clone)]
pub struct Section {
    /// Short, used for the sheet name and to choose a CSV (`activities`).
    pub id: &'static str,
    pub title: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// What a cell holds, for the spreadsheet.
enum Typed {
    Number(f64),
    Date(rust_xlsxwriter::ExcelDateTime),
    Text,
}

/// A whole number (a depth, a count: digits, no leading zero, at most nine) or an ISO date;
/// anything else is text.
fn typed(value: &str) -> Typed {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    if digits && !value.is_empty() && value.len() <= 9 && !value.starts_with('0') {
        return value.parse().map_or(Typed::Text, Typed::Number);
    }
    let shaped_like_date = value.len() == 10
        && value.as_bytes()[4] == b'-'
        && value.as_bytes()[7] == b'-'
        && value.parse::<Date>().is_ok();
    if shaped_like_date && let Ok(date) = rust_xlsxwriter::ExcelDateTime::parse_from_str(value) {
        return Typed::Date(date);
    }
    Typed::Text
}

fn list(items: &[String]) -> String {
    items.join("; ")
}

fn country(code: custos_core::values::CountryCode, language: Language) -> String {
    ReferenceData::builtin().country_name_in(code, language.as_str())
}

fn countries(codes: &[custos_core::values::CountryCode], language: Language) -> String {
    codes
        .iter()
        .map(|&c| country(c, language))
        .collect::<Vec<_>>()
        .join("; ")
}

fn opt(value: Option<&str>) -> String {
    value.unwrap_or("").to_owned()
}

/// Chooses between a label's English and Spanish words.
pub fn in_language(language: Language) -> impl Fn(&'static str, &'static str) -> &'static str {
    move |english, spanish| match language {
        Language::En => english,
        Language::Es => spanish,
    }
}

fn transfers_section(rows: &[TransferRow], language: Language) -> Section {
    let l = in_language(language);
    Section {
        id: "transfers",
        title: l(
            "Transfers to third countries or international organisations",
            "Transferencias a terceros países u organizaciones internacionales",
        ),
        columns: vec![
            l("Activity", "Actividad"),
            l("Link", "Vínculo"),
            l("Depth", "Profundidad"),
            l("Exporter", "Exportador"),
            l("Importer", "Importador"),
            l("Destination", "Destino"),
            l("Mechanism", "Mecanismo"),
            l("Legal act", "Acto jurídico"),
            l("Valid", "Válida"),
            l("Assessment", "Evaluación"),
        ],
        rows: rows
            .iter()
            .map(|t| {
                let destination = t
                    .destination
                    .parse()
                    .map_or_else(|_| t.destination.clone(), |c| country(c, language));
                vec![
                    t.activity.to_string(),
                    t.engagement.to_string(),
                    t.depth.to_string(),
                    t.exporter.clone(),
                    t.importer.clone(),
                    destination,
                    t.mechanism.clone(),
                    opt(t.basis.as_deref()),
                    if t.valid {
                        l("yes", "sí")
                    } else {
                        l("no", "no")
                    }
                    .to_owned(),
                    t.assessment.clone(),
                ]
            })
            .collect(),
    }
}

impl Document {
    /// The document of either record.
    pub fn of(record: &Record, version: impl Into<String>, language: Language) -> Self {
        match record {
            Record::Controller(record) => Self::controller(record, version, language),
            Record::Processor(record) => Self::processor(record, version, language),
        }
    }

    pub fn controller(
        record: &ControllerRecord,
        version: impl Into<String>,
        language: Language,
    ) -> Self {
        let l = in_language(language);
        let activities = Section {
            id: "activities",
            title: l("Processing activities", "Actividades de tratamiento"),
            columns: vec![
                l("Activity", "Actividad"),
                l("Name", "Nombre"),
                l("Role", "Función"),
                l("Joint controllers", "Corresponsables"),
                l("Joint arrangement", "Acuerdo de corresponsabilidad"),
                l("Purposes", "Fines"),
                l("Lawful basis", "Base jurídica"),
                l("Art. 9 condition", "Condición del art. 9"),
                l("Data subjects", "Interesados"),
                l("Personal data", "Datos personales"),
                l("Special data", "Categorías especiales"),
                l("Categories of recipients", "Categorías de destinatarios"),
                l("Retention", "Conservación"),
                l("Security measures", "Medidas de seguridad"),
                l("Risk assessment", "Evaluación de riesgos"),
            ],
            rows: record
                .activities
                .iter()
                .map(|a| {
                    vec![
                        a.id.to_string(),
                        a.name.clone(),
                        match a.role {
                            "controller" => l("controller", "responsable"),
                            "joint controller" => l("joint controller", "corresponsable"),
                            other => other,
                        }
                        .to_owned(),
                        list(&a.joint_controllers),
                        opt(a.joint_arrangement.as_deref()),
                        list(&a.purposes),
                        opt(a.lawful_basis.as_deref()),
                        opt(a.special_category_condition.as_deref()),
                        list(&a.subjects),
                        list(&a.data),
                        list(&a.special_data),
                        list(&a.recipient_categories),
                        opt(a.retention.as_deref()),
                        list(&a.measures),
                        opt(a.risk_assessment.as_deref()),
                    ]
                })
                .collect(),
        };
        let recipients = Section {
            id: "recipients",
            title: l(
                "Recipients that have been or will be given the data, per activity",
                "Destinatarios a quienes se comunicaron o comunicarán los datos, por actividad",
            ),
            columns: vec![
                l("Activity", "Actividad"),
                l("Link", "Vínculo"),
                l("Depth", "Profundidad"),
                l("Recipient", "Destinatario"),
                l("Country", "País"),
                l("Engaged by", "Contratado por"),
                l("Service", "Servicio"),
                l("Category", "Categoría"),
                l("Locations", "Ubicaciones"),
                l("Since", "Desde"),
                l("Until", "Hasta"),
                l("Contract", "Contrato"),
            ],
            rows: record
                .recipients
                .iter()
                .map(|r| {
                    vec![
                        r.activity.to_string(),
                        r.engagement.to_string(),
                        r.depth.to_string(),
                        r.name.clone(),
                        country(r.country, language),
                        r.engaged_by.clone(),
                        r.service.clone(),
                        r.category.clone(),
                        countries(&r.locations, language),
                        // Past and planned links show by their dates against the record's.
                        r.since.to_string(),
                        r.until.map(|u| u.to_string()).unwrap_or_default(),
                        r.contract
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        };
        Self {
            title: l(
                "Record of processing activities",
                "Registro de actividades de tratamiento",
            )
            .to_owned(),
            subtitle: l(
                "Controller's record, GDPR Art. 30(1)",
                "Registro del responsable, art. 30.1 RGPD",
            )
            .to_owned(),
            organisation: record.organisation.clone(),
            on: record.on,
            version: version.into(),
            sections: vec![
                activities,
                recipients,
                transfers_section(&record.transfers, language),
            ],
            language,
        }
    }

    pub fn processor(
        record: &ProcessorRecord,
        version: impl Into<String>,
        language: Language,
    ) -> Self {
        let l = in_language(language);
        let processing = Section {
            id: "processing",
            title: l(
                "Processing carried out on behalf of each controller",
                "Tratamientos efectuados por cuenta de cada responsable",
            ),
            columns: vec![
                l("Controller", "Responsable"),
                l("Controller contact", "Contacto del responsable"),
                l("Controller DPO", "DPD del responsable"),
                l(
                    "Controller's representative",
                    "Representante del responsable",
                ),
                l("Joint controllers", "Corresponsables"),
                l("Activity", "Actividad"),
                l("Link", "Vínculo"),
                l("Engaged by", "Contratado por"),
                l("Category of processing", "Categoría de tratamiento"),
                l("Locations", "Ubicaciones"),
                l("Since", "Desde"),
                l("Until", "Hasta"),
                l("Security measures", "Medidas de seguridad"),
            ],
            rows: record
                .processing
                .iter()
                .map(|p| {
                    vec![
                        p.controller.name.clone(),
                        p.controller.contact().unwrap_or_default(),
                        [
                            p.controller.dpo_name.clone(),
                            p.controller.dpo_email.clone(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", "),
                        opt(p.controller.representative.as_deref()),
                        list(&p.joint_controllers),
                        p.activity_name.clone(),
                        p.engagement.to_string(),
                        p.engaged_by.clone(),
                        p.service.clone(),
                        countries(&p.locations, language),
                        p.since.to_string(),
                        p.until.map(|u| u.to_string()).unwrap_or_default(),
                        list(&p.measures),
                    ]
                })
                .collect(),
        };
        Self {
            title: l(
                "Record of processing activities",
                "Registro de actividades de tratamiento",
            )
            .to_owned(),
            subtitle: l(
                "Processor's record, GDPR Art. 30(2)",
                "Registro del encargado, art. 30.2 RGPD",
            )
            .to_owned(),
            organisation: record.organisation.clone(),
            on: record.on,
            version: version.into(),
            sections: vec![processing, transfers_section(&record.transfers, language)],
            language,
        }
    }

    /// The organisation's details, as label and value, for title pages and sheet heads.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        let o = &self.organisation;
        let label = in_language(self.language);
        let mut details = vec![
            (label("Organisation", "Organización"), o.name.clone()),
            (
                label("Country", "País"),
                ReferenceData::builtin().country_name_in(o.country, self.language.as_str()),
            ),
        ];
        if let Some(address) = &o.address {
            details.push((label("Address", "Dirección"), address.clone()));
        }
        if let Some(contact) = o.contact() {
            details.push((label("Contact", "Contacto"), contact));
        }
        let dpo: Vec<String> = [o.dpo_name.clone(), o.dpo_email.clone()]
            .into_iter()
            .flatten()
            .collect();
        if !dpo.is_empty() {
            details.push((
                label("Data protection officer", "Delegado de protección de datos"),
                dpo.join(", "),
            ));
        }
        if let Some(representative) = &o.representative {
            details.push((
                label("Representative (Art. 27)", "Representante (art. 27)"),
                representative.clone(),
            ));
        }
        details.push((
            label("As of", "Fecha"),
            crate::notice::long_date(self.on, self.language),
        ));
        details.push((label("Version", "Versión"), self.version.clone()));
        details
    }

    /// What an empty section says.
    pub fn none_text(&self) -> &'static str {
        in_language(self.language)("None.", "Ninguno.")
    }

    fn section(&self, id: &str) -> Result<&Section, RenderError> {
        self.sections
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| RenderError::UnknownSection(id.to_owned()))
    }

    /// One section as CSV (RFC 4180, a header row), the first when `section` is none.
    pub fn csv(&self, section: Option<&str>) -> Result<Vec<u8>, RenderError> {
        let section = match section {
            Some(id) => self.section(id)?,
            None => self.section(self.sections.first().map_or("", |s| s.id))?,
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&section.columns)?;
        for row in &section.rows {
            writer.write_record(
                row.iter()
                    .map(|cell| crate::spreadsheet_safe(cell).into_owned()),
            )?;
        }
        writer
            .into_inner()
            .map_err(|e| RenderError::Io(e.into_error()))
    }

    /// A workbook: a sheet with the organisation's details, then a sheet per section with its
    /// header row frozen, filters on, and columns as wide as their content (within reason).
    pub fn xlsx(&self) -> Result<Vec<u8>, RenderError> {
        let mut workbook = Workbook::new();
        let bold = Format::new().set_bold();
        let wrap = Format::new()
            .set_text_wrap()
            .set_align(rust_xlsxwriter::FormatAlign::Top);
        let date = Format::new()
            .set_num_format("yyyy-mm-dd")
            .set_align(rust_xlsxwriter::FormatAlign::Top);
        let number = Format::new().set_align(rust_xlsxwriter::FormatAlign::Top);
        let sheet = workbook
            .add_worksheet()
            .set_name(in_language(self.language)("Organisation", "Organización"))?;
        sheet.write_string_with_format(0, 0, &self.title, &bold)?;
        sheet.write_string(1, 0, &self.subtitle)?;
        for (row, (label, value)) in self.details().iter().enumerate() {
            let row = row as u32 + 3;
            sheet.write_string_with_format(row, 0, *label, &bold)?;
            sheet.write_string(row, 1, value)?;
        }
        sheet.set_column_width(0, 26)?;
        sheet.set_column_width(1, 60)?;
        for section in &self.sections {
            let sheet = workbook.add_worksheet().set_name(section.id)?;
            let mut widths: Vec<usize> =
                section.columns.iter().map(|c| c.chars().count()).collect();
            for (col, title) in section.columns.iter().enumerate() {
                sheet.write_string_with_format(0, col as u16, *title, &bold)?;
            }
            for (row, cells) in section.rows.iter().enumerate() {
                for (col, value) in cells.iter().enumerate() {
                    if value.is_empty() {
                        continue;
                    }
                    let (row, col) = (row as u32 + 1, col as u16);
                    // Typed cells: a spreadsheet sorts and filters dates and depths as such.
                    match typed(value) {
                        Typed::Number(n) => sheet.write_number_with_format(row, col, n, &number)?,
                        Typed::Date(d) => sheet.write_datetime_with_format(row, col, &d, &date)?,
                        Typed::Text => sheet.write_string_with_format(row, col, value, &wrap)?,
                    };
                    if let Some(width) = widths.get_mut(usize::from(col)) {
                        *width = (*width).max(value.chars().count());
                    }
                }
            }
            for (col, width) in widths.iter().enumerate() {
                // Readable: at least the header, at most about a sentence; longer text wraps.
                sheet.set_column_width(col as u16, (*width + 2).clamp(8, 60) as f64)?;
            }
            sheet.set_freeze_panes(1, 0)?;
            let last_row = section.rows.len() as u32;
            let last_col = section.columns.len().saturating_sub(1) as u16;
            sheet.autofilter(0, 0, last_row.max(1), last_col)?;
        }
        Ok(workbook.save_to_buffer()?)
    }

    /// A self-contained HTML page with a title page and a print stylesheet.
    pub fn html(&self) -> String {
        let mut page = String::with_capacity(64 * 1024);
        let _ = write!(
            page,
            "<!doctype html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — {}</title>\n<style>{}</style>\n</head>\n<body>\n<section class=\"title-page\">\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n<dl>\n",
            self.language.as_str(),
            escape(&self.title),
            escape(&self.organisation.name),
            PRINT_CSS,
            escape(&self.title),
            escape(&self.subtitle),
        );
        for (label, value) in self.details() {
            let _ = writeln!(
                page,
                "<dt>{}</dt><dd>{}</dd>",
                escape(label),
                escape(&value)
            );
        }
        page.push_str("</dl>\n</section>\n");
        for section in &self.sections {
            let _ = write!(
                page,
                "<section class=\"record-section\" id=\"{}\">\n<h2>{}</h2>\n",
                section.id,
                escape(section.title)
            );
            if section.rows.is_empty() {
                let _ = writeln!(page, "<p>{}</p>\n</section>", self.none_text());
                continue;
            }
            page.push_str("<table>\n<thead><tr>");
            for column in &section.columns {
                let _ = write!(page, "<th scope=\"col\">{}</th>", escape(column));
            }
            page.push_str("</tr></thead>\n<tbody>\n");
            for row in &section.rows {
                page.push_str("<tr>");
                for cell in row {
                    let _ = write!(page, "<td>{}</td>", escape(cell));
                }
                page.push_str("</tr>\n");
            }
            page.push_str("</tbody>\n</table>\n</section>\n");
        }
        page.push_str("</body>\n</html>\n");
        page
    }

    /// A PDF: title page, then each section as a table (landscape A4, headers repeated on
    /// every page, page numbers).
    pub fn pdf(&self) -> Vec<u8> {
        crate::pdf::render(self)
    }
}

const PRINT_CSS: &str = "body{font:10pt/1.35 system-ui,sans-serif;margin:2em;color:#111}\
h1{font-size:20pt;margin:0 0 .2em}h2{font-size:13pt;margin:1.5em 0 .5em}\
.title-page{margin-bottom:2em}.subtitle{color:#444;margin:0 0 1.5em}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1.5em}dt{font-weight:600}dd{margin:0}\
table{border-collapse:collapse;width:100%;font-size:8.5pt}th,td{border:1px solid #bbb;padding:.25em .4em;text-align:left;vertical-align:top}\
th{background:#eee}\
@page{size:A4 landscape;margin:12mm}\
@media print{body{margin:0}.title-page{page-break-after:always;padding-top:30vh}.record-section{page-break-before:always}thead{display:table-header-group}tr{page-break-inside:avoid}}";
