//! A [`Document`] as PDF: a title page, then each section as a table on landscape A4 pages,
//! header row repeated on each page, page numbers in the footer.
//!
//! Written with pdf-writer and a small table layout of our own instead of a typesetting
//! engine: typst (DESIGN.md's first choice) brings some 320 crates and ten minutes of build on
//! two cores, and a record of 50,000 links (some 1,500 pages) must come out in seconds. The
//! text is set in DejaVu Sans (`font.rs`), embedded as the subset of glyphs the document uses
//! (subsetter), shown as two-byte glyph ids (Identity-H) with a ToUnicode map: every script of
//! the EU prints, and pdftotext gives back exactly what the register says.

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;

use crate::font::{self, Face};
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

fn width(text: &str, bold: bool, size: f32) -> f32 {
    font::face(bold).width(text, size)
}

/// The pieces a line may break between: words, each ending at a space or after a hyphen
/// between letters (`customer-` / `marketing`), never inside one (dates stay whole).
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ')
        .filter(|w| !w.is_empty())
        .flat_map(word_pieces)
}

/// A word cut after each hyphen that has a letter on both sides.
fn word_pieces(word: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut previous: Option<char> = None;
    let mut chars = word.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if c == '-'
            && previous.is_some_and(char::is_alphabetic)
            && next.is_some_and(char::is_alphabetic)
        {
            pieces.push(&word[start..index + 1]);
            start = index + 1;
        }
        previous = Some(c);
    }
    pieces.push(&word[start..]);
    pieces
}

/// Lines of `text` no wider than `max` at `size`: breaks at spaces and after hyphens; only a
/// piece wider than a whole line is cut where it overflows.
fn wrap(text: &str, bold: bool, size: f32, max: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_width = 0.0;
    let space = width(" ", bold, size);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        // The first piece of a word follows a space; the next ones follow their hyphen.
        for (index, piece) in word_pieces(word).into_iter().enumerate() {
            let gap = if line.is_empty() || index > 0 {
                0.0
            } else {
                space
            };
            let piece_width = width(piece, bold, size);
            if line_width + gap + piece_width <= max {
                if gap > 0.0 {
                    line.push(' ');
                }
                line.push_str(piece);
                line_width += gap + piece_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            if piece_width <= max {
                line.push_str(piece);
                line_width = piece_width;
                continue;
            }
            // A piece wider than the line (a long address) is cut where it overflows.
            for c in piece.chars() {
                let c_width = font::face(bold).width(c.encode_utf8(&mut [0; 4]), size);
                if !line.is_empty() && line_width + c_width > max {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(c);
                line_width += c_width;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The glyphs one face has drawn so far: the subset to embed, and what each stands for.
struct Used {
    face: &'static Face,
    remapper: GlyphRemapper,
    /// (subset glyph id, character), for the ToUnicode map.
    unicode: Vec<(u16, char)>,
}

impl Used {
    fn new(face: &'static Face) -> Self {
        Self {
            face,
            remapper: GlyphRemapper::new(),
            unicode: Vec::new(),
        }
    }

    /// `text` as two-byte subset glyph ids.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(text.len() * 2);
        for c in text.chars().map(|c| self.face.shown(c)) {
            let (glyph, _) = self.face.glyph(c);
            let known = self.remapper.get(glyph).is_some();
            let id = self.remapper.remap(glyph);
            if !known {
                self.unicode.push((id, c));
            }
            bytes.extend_from_slice(&id.to_be_bytes());
        }
        bytes
    }
}

/// Pages being drawn: the current page's content and where the next line goes.
struct Writer {
    pages: Vec<Content>,
    page: Content,
    y: f32,
    regular: Used,
    bold: Used,
}

impl Writer {
    fn new() -> Self {
        let mut page = Content::new();
        page.begin_text();
        Self {
            pages: Vec::new(),
            page,
            y: PAGE_HEIGHT - MARGIN,
            regular: Used::new(font::regular()),
            bold: Used::new(font::bold()),
        }
    }

    fn new_page(&mut self) {
        let mut done = std::mem::replace(&mut self.page, Content::new());
        done.end_text();
        self.pages.push(done);
        self.page.begin_text();
        self.y = PAGE_HEIGHT - MARGIN;
    }

    fn encode(&mut self, text: &str, bold: bool) -> Vec<u8> {
        if bold {
            self.bold.encode(text)
        } else {
            self.regular.encode(text)
        }
    }

    fn text(&mut self, x: f32, y: f32, text: &str, bold: bool, size: f32) {
        let glyphs = self.encode(text, bold);
        self.page
            .set_font(if bold { BOLD } else { REGULAR }, size)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
            .show(Str(&glyphs));
    }

    /// A paragraph at the left margin, wrapped to the text width.
    fn paragraph(&mut self, text: &str, bold: bool, size: f32) {
        let leading = size * 1.3;
        for line in wrap(text, bold, size, PAGE_WIDTH - 2.0 * MARGIN) {
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

    fn finish(mut self) -> (Vec<Content>, Used, Used) {
        self.page.end_text();
        self.pages.push(self.page);
        (self.pages, self.regular, self.bold)
    }
}

/// Widest piece of `text` (a word, or part of one up to a hyphen): what a column needs so
/// that nothing is cut.
fn longest_word(text: &str, bold: bool) -> f32 {
    pieces(text)
        .map(|w| width(w, bold, CELL_SIZE))
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
                *nat = nat.max(width(cell, false, CELL_SIZE).min(MAX_NATURAL));
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
fn layout_row(cells: &[String], widths: &[f32], bold: bool) -> (Vec<Vec<String>>, f32) {
    let max_lines = ((PAGE_HEIGHT - 2.0 * MARGIN - FOOTER - 40.0) / CELL_LEADING) as usize;
    let lines: Vec<Vec<String>> = cells
        .iter()
        .zip(widths)
        .map(|(cell, w)| {
            let mut wrapped = wrap(cell, bold, CELL_SIZE, w - 2.0 * PADDING);
            // A cell taller than a page is cut, so that every row fits on one page.
            if wrapped.len() > max_lines {
                wrapped.truncate(max_lines);
                if let Some(last) = wrapped.last_mut() {
                    last.push_str(" ...");
                }
            }
            wrapped
        })
        .collect();
    let count = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    (lines, count as f32 * CELL_LEADING + 2.0 * PADDING)
}

fn draw_row(writer: &mut Writer, lines: &[Vec<String>], widths: &[f32], height: f32, bold: bool) {
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
    let header: Vec<String> = section.columns.iter().map(|c| (*c).to_owned()).collect();
    let (header_lines, header_height) = layout_row(&header, &widths, true);
    draw_row(writer, &header_lines, &widths, header_height, true);
    for row in &section.rows {
        let (lines, height) = layout_row(row, &widths, false);
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
    // The footers are drawn last: their glyphs belong to the subset too.
    let total = writer.pages.len() + 1;
    let footer_name = format!(
        "{} - {} - {}",
        document.organisation.name, document.title, document.on
    );
    let (mut pages, mut regular_used, bold_used) = writer.finish();
    for (index, content) in pages.iter_mut().enumerate() {
        let name = regular_used.encode(&footer_name);
        let number_text = format!("{} / {total}", index + 1);
        let number = regular_used.encode(&number_text);
        let x = PAGE_WIDTH - MARGIN - width(&number_text, false, 7.0);
        content
            .begin_text()
            .set_font(REGULAR, 7.0)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, MARGIN, MARGIN - 8.0])
            .show(Str(&name))
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, MARGIN - 8.0])
            .show(Str(&number))
            .end_text();
    }

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    // Each face: Type0 font, CID font, descriptor, font file, ToUnicode map.
    let regular = Ref::new(4);
    let bold = Ref::new(9);
    let first_page = 14;
    let page_ref = |i: usize| Ref::new(first_page + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(first_page + 2 * i as i32 + 1);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(page_ref))
        .count(pages.len() as i32);
    write_font(&mut pdf, regular, &regular_used, "CUSTAA");
    write_font(&mut pdf, bold, &bold_used, "CUSTAB");
    pdf.document_info(info)
        .title(TextStr(&format!(
            "{} - {}",
            document.title, document.organisation.name
        )))
        .producer(TextStr("Custos"));
    for (index, content) in pages.into_iter().enumerate() {
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

/// One face as the subset of the glyphs `used` drew: a Type0 font over a CIDFontType2 with
/// Identity encoding (the content's two-byte ids are the subset's glyph ids), its widths, the
/// embedded subset and the ToUnicode map. Objects `id` to `id + 4`.
fn write_font(pdf: &mut Pdf, id: Ref, used: &Used, tag: &str) {
    let face = used.face;
    let (cid_font, descriptor, file, cmap) = (
        Ref::new(id.get() + 1),
        Ref::new(id.get() + 2),
        Ref::new(id.get() + 3),
        Ref::new(id.get() + 4),
    );
    let base = format!("{tag}+{}", face.name);
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(id)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_font)
        .to_unicode(cmap);
    let widths: Vec<f32> = used
        .remapper
        .remapped_gids()
        .map(|glyph| {
            let advance = face.glyph_advance(glyph);
            face.advance_per_mille(advance)
        })
        .collect();
    {
        let mut cid = pdf.cid_font(cid_font);
        cid.subtype(CidFontType::Type2)
            .base_font(Name(base.as_bytes()))
            .system_info(system_info)
            .font_descriptor(descriptor)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cid.widths().consecutive(0, widths);
    }
    let scale = |v: f32| v * 1000.0 / face.units_per_em;
    pdf.font_descriptor(descriptor)
        .name(Name(base.as_bytes()))
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(
            scale(face.bbox[0]),
            scale(face.bbox[1]),
            scale(face.bbox[2]),
            scale(face.bbox[3]),
        ))
        .italic_angle(0.0)
        .ascent(scale(face.ascender))
        .descent(scale(face.descender))
        .cap_height(scale(face.cap_height))
        .stem_v(80.0)
        .font_file2(file);
    // Subsetting a compiled-in font with the glyphs it has cannot fail; were it to, the whole
    // font is embedded instead (correct, only larger).
    let subset =
        subsetter::subset(face.data, 0, &used.remapper).unwrap_or_else(|_| face.data.to_vec());
    pdf.stream(file, &deflate(&subset))
        .filter(Filter::FlateDecode);
    let mut unicode = UnicodeCmap::new(
        Name(b"Custom"),
        SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"UCS"),
            supplement: 0,
        },
    );
    for &(glyph, c) in &used.unicode {
        unicode.pair(glyph, c);
    }
    let unicode = unicode.finish();
    pdf.cmap(cmap, unicode.as_slice());
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}
