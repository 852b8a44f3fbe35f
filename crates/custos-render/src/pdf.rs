//! A [`Document`] as PDF: a title page, then each section as a table on landscape A4 pages,
//! header row repeated on each page, page numbers in the footer.
//!
//! Written with pdf-writer and a small table layout of our own instead of a typesetting
//! engine: typst (DESIGN.md's first choice) brings some 320 crates and ten minutes of build on
//! two cores, and a record of 50,000 links (some 1,500 pages) must come out in seconds. The
//! standard fonts need no embedding; text is measured with their metrics (`metrics.rs`).

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::{Content, Filter, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::metrics::{width, win_ansi};
use crate::records::{Document, Section};

const PAGE_WIDTH: f32 = 842.0;
const PAGE_HEIGHT: f32 = 595.0;
const MARGIN: f32 = 36.0;
const FOOTER: f32 = 20.0;
const CELL_SIZE: f32 = 7.0;
const CELL_LEADING: f32 = 8.4;
const PADDING: f32 = 2.5;
/// No column is laid out wider than this before scaling to the page.
const MAX_NATURAL: f32 = 200.0;

const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Text already encoded for the page.
fn encode(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi).collect()
}

/// Lines of `text` no wider than `max` at `size`: breaks at spaces, and inside words longer
/// than a line.
fn wrap(text: &[u8], bold: bool, size: f32, max: f32) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let candidate_width = if line.is_empty() {
            width(word, bold, size)
        } else {
            width(&line, bold, size) + width(b" ", bold, size) + width(word, bold, size)
        };
        if candidate_width <= max {
            if !line.is_empty() {
                line.push(b' ');
            }
            line.extend_from_slice(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word wider than the line is cut where it overflows.
        for &byte in word {
            if !line.is_empty() && width(&line, bold, size) + width(&[byte], bold, size) > max {
                lines.push(std::mem::take(&mut line));
            }
            line.push(byte);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Pages being drawn: the current page's content and where the next line goes.
struct Writer {
    pages: Vec<Content>,
    page: Content,
    y: f32,
}

impl Writer {
    fn new() -> Self {
        let mut page = Content::new();
        page.begin_text();
        Self {
            pages: Vec::new(),
            page,
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    fn new_page(&mut self) {
        let mut done = std::mem::replace(&mut self.page, Content::new());
        done.end_text();
        self.pages.push(done);
        self.page.begin_text();
        self.y = PAGE_HEIGHT - MARGIN;
    }

    fn text(&mut self, x: f32, y: f32, text: &[u8], bold: bool, size: f32) {
        self.page
            .set_font(if bold { BOLD } else { REGULAR }, size)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
            .show(Str(text));
    }

    /// A paragraph at the left margin, wrapped to the text width.
    fn paragraph(&mut self, text: &str, bold: bool, size: f32) {
        let leading = size * 1.3;
        for line in wrap(&encode(text), bold, size, PAGE_WIDTH - 2.0 * MARGIN) {
            if self.y - leading < MARGIN + FOOTER {
                self.new_page();
            }
            self.y -= leading;
            self.text(MARGIN, self.y, &line, bold, size);
        }
    }

    /// A horizontal rule under the current line (drawn outside the text object).
    fn rule(&mut self, y: f32) {
        self.page.end_text();
        self.page
            .save_state()
            .set_stroke_gray(0.7)
            .set_line_width(0.3)
            .move_to(MARGIN, y)
            .line_to(PAGE_WIDTH - MARGIN, y)
            .stroke()
            .restore_state();
        self.page.begin_text();
    }

    fn finish(mut self) -> Vec<Content> {
        self.page.end_text();
        self.pages.push(self.page);
        self.pages
    }
}

/// Widest word of `text`: what a column needs so that words are not cut.
fn longest_word(text: &str, bold: bool) -> f32 {
    text.split(' ')
        .map(|w| width(&encode(w), bold, CELL_SIZE))
        .fold(0.0, f32::max)
}

/// Column widths: every column gets at least its longest word (header words whole, cell words
/// up to a limit); what is left of the page is shared in proportion to what each column's
/// widest cell (capped) would want beyond that.
fn column_widths(section: &Section) -> Vec<f32> {
    const MAX_WORD: f32 = 60.0;
    let available = PAGE_WIDTH - 2.0 * MARGIN;
    let extra = 2.0 * PADDING + 1.0;
    let mut minimum: Vec<f32> = section
        .columns
        .iter()
        .map(|title| longest_word(title, true))
        .collect();
    let mut natural = minimum.clone();
    for row in &section.rows {
        for (col, cell) in row.iter().enumerate() {
            if let (Some(min), Some(nat)) = (minimum.get_mut(col), natural.get_mut(col)) {
                *min = min.max(longest_word(cell, false).min(MAX_WORD));
                *nat = nat.max(width(&encode(cell), false, CELL_SIZE).min(MAX_NATURAL));
            }
        }
    }
    let minimum: Vec<f32> = minimum.iter().map(|w| w + extra).collect();
    let natural: Vec<f32> = natural
        .iter()
        .zip(&minimum)
        .map(|(n, m)| (n + extra).max(*m))
        .collect();
    let floor: f32 = minimum.iter().sum();
    if floor >= available {
        return minimum.iter().map(|w| w * available / floor).collect();
    }
    let wanted: f32 = natural.iter().zip(&minimum).map(|(n, m)| n - m).sum();
    let share = (available - floor) / wanted.max(1.0);
    natural
        .iter()
        .zip(&minimum)
        .map(|(n, m)| m + (n - m) * share)
        .collect()
}

/// The lines of each cell of a row, and the row's height.
fn layout_row(cells: &[Vec<u8>], widths: &[f32], bold: bool) -> (Vec<Vec<Vec<u8>>>, f32) {
    let max_lines = ((PAGE_HEIGHT - 2.0 * MARGIN - FOOTER - 40.0) / CELL_LEADING) as usize;
    let lines: Vec<Vec<Vec<u8>>> = cells
        .iter()
        .zip(widths)
        .map(|(cell, w)| {
            let mut wrapped = wrap(cell, bold, CELL_SIZE, w - 2.0 * PADDING);
            // A cell taller than a page is cut, so that every row fits on one page.
            if wrapped.len() > max_lines {
                wrapped.truncate(max_lines);
                if let Some(last) = wrapped.last_mut() {
                    last.extend_from_slice(b" ...");
                }
            }
            wrapped
        })
        .collect();
    let count = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    (lines, count as f32 * CELL_LEADING + 2.0 * PADDING)
}

fn draw_row(writer: &mut Writer, lines: &[Vec<Vec<u8>>], widths: &[f32], height: f32, bold: bool) {
    let top = writer.y;
    let mut x = MARGIN;
    for (cell, w) in lines.iter().zip(widths) {
        let mut y = top - PADDING - CELL_SIZE;
        for line in cell {
            writer.text(x + PADDING, y, line, bold, CELL_SIZE);
            y -= CELL_LEADING;
        }
        x += w;
    }
    writer.y = top - height;
    writer.rule(writer.y);
}

fn draw_section(writer: &mut Writer, section: &Section, none: &str) {
    writer.new_page();
    writer.paragraph(section.title, true, 13.0);
    writer.y -= 6.0;
    if section.rows.is_empty() {
        writer.paragraph(none, false, 10.0);
        return;
    }
    let widths = column_widths(section);
    let header: Vec<Vec<u8>> = section.columns.iter().map(|c| encode(c)).collect();
    let (header_lines, header_height) = layout_row(&header, &widths, true);
    draw_row(writer, &header_lines, &widths, header_height, true);
    for row in &section.rows {
        let cells: Vec<Vec<u8>> = row.iter().map(|c| encode(c)).collect();
        let (lines, height) = layout_row(&cells, &widths, false);
        if writer.y - height < MARGIN + FOOTER {
            writer.new_page();
            draw_row(writer, &header_lines, &widths, header_height, true);
        }
        draw_row(writer, &lines, &widths, height, false);
    }
}

pub fn render(document: &Document) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.y = PAGE_HEIGHT * 0.66;
    writer.paragraph(&document.title, true, 22.0);
    writer.paragraph(&document.subtitle, false, 12.0);
    writer.y -= 18.0;
    for (label, value) in document.details() {
        writer.paragraph(&format!("{label}: {value}"), false, 11.0);
    }
    for section in &document.sections {
        draw_section(&mut writer, section, document.none_text());
    }
    let pages = writer.finish();

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ref = |i: usize| Ref::new(first_page + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(first_page + 2 * i as i32 + 1);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(page_ref))
        .count(pages.len() as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(&format!(
            "{} - {}",
            document.title, document.organisation.name
        )))
        .producer(TextStr("Custos"));
    let total = pages.len();
    let footer_name = encode(&format!(
        "{} - {} - {}",
        document.organisation.name, document.title, document.on
    ));
    for (index, mut content) in pages.into_iter().enumerate() {
        content
            .begin_text()
            .set_font(REGULAR, 7.0)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, MARGIN, MARGIN - 8.0])
            .show(Str(&footer_name));
        let number = encode(&format!("{} / {total}", index + 1));
        let x = PAGE_WIDTH - MARGIN - width(&number, false, 7.0);
        content
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, MARGIN - 8.0])
            .show(Str(&number))
            .end_text();
        let raw = content.finish();
        let compressed = deflate(raw.as_slice());
        pdf.stream(content_ref(index), &compressed)
            .filter(Filter::FlateDecode);
        let mut page = pdf.page(page_ref(index));
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree)
            .contents(content_ref(index));
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
    }
    pdf.finish()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}
