//! The PDF's fonts: DejaVu Sans Condensed, regular and bold (from the `dejavu` crate; the
//! condensed cut keeps tables of a dozen columns legible on A4; the Bitstream Vera
//! licence with DejaVu's public-domain changes allows embedding). It covers Latin with its
//! extensions, Greek and Cyrillic: every script the EU writes. A document embeds only the
//! glyphs it uses, with a ToUnicode map, so that text extraction gives back the register's
//! names exactly (`pdf.rs`).

use std::sync::OnceLock;

/// One face, measured: the glyph and advance of every character of the Basic Multilingual
/// Plane, looked up once (a record of 1,500 pages measures millions of characters).
pub struct Face {
    pub data: &'static [u8],
    /// The PostScript name, as the PDF names the font.
    pub name: &'static str,
    pub units_per_em: f32,
    pub ascender: f32,
    pub descender: f32,
    pub cap_height: f32,
    /// xMin, yMin, xMax, yMax in font units.
    pub bbox: [f32; 4],
    /// Indexed by code point: (glyph id, advance in font units); glyph 0 when the face lacks
    /// the character.
    glyphs: Vec<(u16, u16)>,
    /// What a character the face lacks is drawn as: the question mark.
    fallback: (u16, u16),
    /// Advance in font units per glyph id.
    advances: Vec<u16>,
}

impl Face {
    fn load(data: &'static [u8], name: &'static str) -> Self {
        #[allow(clippy::expect_used)] // compiled-in fonts, loaded by the tests below
        let face = ttf_parser::Face::parse(data, 0).expect("the DejaVu font parses");
        let advance = |glyph: ttf_parser::GlyphId| face.glyph_hor_advance(glyph).unwrap_or(0);
        let glyphs: Vec<(u16, u16)> = (0..=0xFFFFu32)
            .map(|code| {
                char::from_u32(code)
                    .and_then(|c| face.glyph_index(c))
                    .map_or((0, 0), |g| (g.0, advance(g)))
            })
            .collect();
        let fallback = glyphs[usize::from(b'?')];
        let advances = (0..face.number_of_glyphs())
            .map(|g| advance(ttf_parser::GlyphId(g)))
            .collect();
        let bbox = face.global_bounding_box();
        Self {
            data,
            name,
            units_per_em: f32::from(face.units_per_em()),
            ascender: f32::from(face.ascender()),
            descender: f32::from(face.descender()),
            cap_height: f32::from(face.capital_height().unwrap_or(face.ascender())),
            bbox: [
                f32::from(bbox.x_min),
                f32::from(bbox.y_min),
                f32::from(bbox.x_max),
                f32::from(bbox.y_max),
            ],
            glyphs,
            fallback,
            advances,
        }
    }

    /// The glyph and advance a character is drawn with: its own, or the question mark.
    pub fn glyph(&self, c: char) -> (u16, u16) {
        match self.glyphs.get(c as usize) {
            Some(&(glyph, advance)) if glyph != 0 => (glyph, advance),
            _ => self.fallback,
        }
    }

    /// The character the document shows for `c`: itself, or `?` when the face lacks it (so
    /// that text extraction says `?` where the page does).
    pub fn shown(&self, c: char) -> char {
        match self.glyphs.get(c as usize) {
            Some(&(glyph, _)) if glyph != 0 => c,
            _ => '?',
        }
    }

    /// A glyph's advance in font units.
    pub fn glyph_advance(&self, glyph: u16) -> u16 {
        self.advances.get(usize::from(glyph)).copied().unwrap_or(0)
    }

    /// The width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text.chars().map(|c| u32::from(self.glyph(c).1)).sum();
        units as f32 * size / self.units_per_em
    }

    /// A glyph's advance in thousandths of the font size, as PDF width arrays give it.
    pub fn advance_per_mille(&self, advance: u16) -> f32 {
        f32::from(advance) * 1000.0 / self.units_per_em
    }
}

pub fn regular() -> &'static Face {
    static FACE: OnceLock<Face> = OnceLock::new();
    FACE.get_or_init(|| Face::load(dejavu::sans_condensed::regular(), "DejaVuSansCondensed"))
}

pub fn bold() -> &'static Face {
    static FACE: OnceLock<Face> = OnceLock::new();
    FACE.get_or_init(|| Face::load(dejavu::sans_condensed::bold(), "DejaVuSansCondensed-Bold"))
}

/// The face of regular or bold text.
pub fn face(bold_text: bool) -> &'static Face {
    if bold_text { bold() } else { regular() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_faces_cover_every_script_of_the_eu() {
        for face in [regular(), bold()] {
            for c in "ŁódźŻółćęąśńČeskoŘíšžŐőŰűȘșȚțĐđΑθήναБългарияÄÖÜß€".chars()
            {
                assert_ne!(face.glyphs[c as usize].0, 0, "{} lacks {c}", face.name);
            }
            assert!(face.width("Mięsne", 10.0) > face.width("Mi", 10.0));
        }
        // A character the face lacks is drawn as a question mark.
        assert_eq!(regular().glyph('\u{4E2D}'), regular().glyph('?'));
    }
}
