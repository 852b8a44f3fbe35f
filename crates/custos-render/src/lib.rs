//! Documents made from the register: the privacy-notice sections (templates an organisation
//! can edit, shipped in English and Spanish; HTML, Markdown, JSON) and the Art. 30 records
//! (CSV, XLSX with one sheet per section, a printable HTML document and a PDF).
//!
//! Pure functions from core values to bytes: no IO, no clock, no database.

pub mod mail;
mod metrics;
pub mod notice;
mod pdf;
pub mod records;
pub mod rights;

pub use custos_core::records::RecordKind;
pub use notice::{NoticeFormat, TemplateKind};
pub use records::{Document, Section};

/// The language of a document. Notices ship in English and Spanish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    #[default]
    En,
    Es,
}

impl Language {
    pub const ALL: [Self; 2] = [Self::En, Self::Es];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "en" => Ok(Self::En),
            "es" => Ok(Self::Es),
            other => Err(format!("unsupported language {other:?}: expected en or es")),
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template that does not compile or fails on a notice, with line where known.
    #[error("template {name}: {detail}")]
    Template { name: String, detail: String },
    #[error("spreadsheet: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("no section {0:?} in this record")]
    UnknownSection(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<minijinja::Error> for RenderError {
    fn from(error: minijinja::Error) -> Self {
        let name = error.name().unwrap_or("template").to_owned();
        let detail = match error.line() {
            Some(line) => format!(
                "line {line}: {}",
                error.detail().unwrap_or(&error.to_string())
            ),
            None => error.to_string(),
        };
        Self::Template { name, detail }
    }
}

/// Text for HTML content or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
