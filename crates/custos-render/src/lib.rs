//! Documents made from the register: the privacy-notice sections (templates an organisation
//! can edit, shipped in English and Spanish; HTML, Markdown, JSON) and the Art. 30 records
//! (CSV, XLSX with one sheet per section, a printable HTML document and a PDF).
//!
//! Pure functions from core values to bytes: no IO, no clock, no database.

mod font;
pub mod mail;
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
    /// A template went past a limit: too much work, or too much output.
    #[error("template {name}: {detail}")]
    Limit { name: String, detail: String },
}

/// Instructions a template may run for one document (organisations write templates; a
/// loop of loops must stop). A notice of 100,000 recipients takes a few million.
pub const TEMPLATE_FUEL: u64 = 50_000_000;

/// Bytes a template may write for one document.
pub const MAX_TEMPLATE_OUTPUT: usize = 32 * 1024 * 1024;

/// Renders `template` within [`TEMPLATE_FUEL`] (set on the environment) and
/// [`MAX_TEMPLATE_OUTPUT`].
pub(crate) fn render_bounded(
    template: &minijinja::Template<'_, '_>,
    context: minijinja::Value,
) -> Result<String, RenderError> {
    struct Bounded(Vec<u8>);
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + bytes.len() > MAX_TEMPLATE_OUTPUT {
                return Err(std::io::Error::other("output limit"));
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded(Vec::new());
    let name = template.name().to_owned();
    match template.render_captured_to(context, &mut out) {
        Ok(_) => {}
        Err(error) if error.kind() == minijinja::ErrorKind::OutOfFuel => {
            return Err(RenderError::Limit {
                name,
                detail: format!(
                    "the template does more work than the limit of {TEMPLATE_FUEL} instructions for one document"
                ),
            });
        }
        Err(error) if error.kind() == minijinja::ErrorKind::WriteFailure => {
            return Err(RenderError::Limit {
                name,
                detail: format!(
                    "the template writes more than the limit of {} MiB for one document",
                    MAX_TEMPLATE_OUTPUT / 1024 / 1024
                ),
            });
        }
        Err(error) => return Err(error.into()),
    }
    String::from_utf8(out.0).map_err(|e| RenderError::Template {
        name,
        detail: e.to_string(),
    })
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

/// A CSV cell that a spreadsheet will show as text: one starting with `=`, `+`, `-`, `@`, a
/// tab or a carriage return would be run as a formula (CSV injection, OWASP), so it gets a
/// leading `'`. Names and texts in exports come from every party of an instance.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
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
