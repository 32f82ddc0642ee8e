//! The CJK font Cairn's PDF renderers (invoices, shipping labels) set every document in:
//! compiled into the binary once, parsed once per process, cut down to the glyphs of each
//! document. Also the stream compression they share, which has to know about font programs.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use printpdf::{FontType, ParsedFont};
use subsetter::GlyphRemapper;

mod text;
pub use text::Measure;

/// Noto Sans CJK SC cut to ASCII, Latin-1, CJK punctuation, full-width forms and the GB2312
/// hanzi (SIL OFL 1.1; how it was made: `assets/README.md`). The only copy in the binary:
/// renderers reach it through [`Face::bundled`].
pub static BUNDLED_FONT: &[u8] = include_bytes!("../assets/NotoSansSC-GB2312.ttf");
const BUNDLED_NAME: &str = "NotoSansCJKsc-Regular";
/// The PostScript name printed for a caller's font: reading the `name` table would need another
/// font parser, and viewers only show this in "document properties".
const CUSTOM_NAME: &str = "CairnCustomFont";

/// Why a caller's font (e.g. `invoicing_pdf::Renderer::with_font`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("not a TrueType/OpenType font (or a collection whose first face is unreadable)")]
    Unreadable,
    #[error("the font maps no glyph for the digit 0, so amounts could not be printed")]
    NoDigits,
    #[error("the font cannot be subset for PDF embedding: {0}")]
    NotSubsettable(subsetter::Error),
}

/// A parsed font face with O(1) character → glyph and glyph → advance look-ups.
pub struct Face {
    bytes: Cow<'static, [u8]>,
    /// Glyph id for every BMP code point; 0 (.notdef) where the font has none.
    bmp: Box<[u16]>,
    /// The few mapped code points above the BMP.
    astral: HashMap<u32, u16>,
    /// Advance width per glyph id, in font units.
    advances: Box<[u16]>,
    units_per_em: f32,
    /// printpdf's view of the font with its per-document parts emptied; cloned per document.
    template: ParsedFont,
    ps_name: &'static str,
}

impl Face {
    /// The bundled Noto Sans SC subset, parsed on first use and shared by every renderer of
    /// the process (parsing takes tens of milliseconds and ~1 MB).
    pub fn bundled() -> Arc<Self> {
        static BUNDLED: OnceLock<Arc<Face>> = OnceLock::new();
        BUNDLED
            .get_or_init(|| {
                Arc::new(
                    Self::parse(Cow::Borrowed(BUNDLED_FONT), BUNDLED_NAME)
                        .expect("the bundled font is valid: it is checked by the crate's tests"),
                )
            })
            .clone()
    }

    /// A caller's TrueType/OpenType font (the first face of a collection).
    pub fn custom(bytes: Vec<u8>) -> Result<Self, FontError> {
        Self::parse(Cow::Owned(bytes), CUSTOM_NAME)
    }

    fn parse(bytes: Cow<'static, [u8]>, ps_name: &'static str) -> Result<Self, FontError> {
        let mut warnings = Vec::new();
        let mut parsed = ParsedFont::from_bytes(&bytes, 0, &mut warnings).ok_or(FontError::Unreadable)?;

        let mut bmp = vec![0u16; 0x1_0000].into_boxed_slice();
        let mut astral = HashMap::new();
        for (&cp, &gid) in &parsed.codepoint_to_glyph {
            match usize::try_from(cp) {
                Ok(i) if i < bmp.len() => bmp[i] = gid,
                _ => {
                    astral.insert(cp, gid);
                }
            }
        }
        if bmp[usize::from(b'0')] == 0 {
            return Err(FontError::NoDigits);
        }
        let glyph_count = parsed.glyph_widths.keys().next_back().map_or(0, |g| usize::from(*g) + 1);
        let mut advances = vec![0u16; glyph_count].into_boxed_slice();
        for (&gid, &w) in &parsed.glyph_widths {
            advances[usize::from(gid)] = w;
        }
        // Fail at start-up, not on the first invoice, if the subsetter cannot handle the font
        // (CFF2, broken tables).
        subsetter::subset(&bytes, 0, &GlyphRemapper::new_from_glyphs(&[bmp[usize::from(b'0')]]))
            .map_err(FontError::NotSubsettable)?;

        let units_per_em = f32::from(parsed.units_per_em.max(1));
        parsed.original_bytes = Vec::new();
        parsed.codepoint_to_glyph.clear();
        parsed.glyph_widths.clear();
        Ok(Self { bytes, bmp, astral, advances, units_per_em, template: parsed, ps_name })
    }

    /// The glyph for `c`, 0 (.notdef, drawn as a box) when the font has none.
    #[inline]
    pub fn glyph(&self, c: char) -> u16 {
        let cp = c as u32;
        match self.bmp.get(cp as usize) {
            Some(&g) => g,
            None => self.astral.get(&cp).copied().unwrap_or(0),
        }
    }

    /// Advance of glyph `gid` in em (multiply by the font size).
    #[inline]
    pub fn advance_em(&self, gid: u16) -> f32 {
        f32::from(self.advances.get(usize::from(gid)).copied().unwrap_or(0)) / self.units_per_em
    }

    /// Width of `text` set at `size`, in the unit `size` is in.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance_em(self.glyph(c))).sum::<f32>() * size
    }

    /// The font program holding only the glyphs of `used`, numbered as `used` numbered them,
    /// ready for printpdf to embed as is. `tag` is the six-letter subset prefix.
    pub fn subset(&self, used: &GlyphSet, tag: &str) -> ParsedFont {
        let glyphs = &used.remapper;
        let program =
            subsetter::subset(&self.bytes, 0, glyphs).expect("subsetting was checked when the face was parsed");
        let mut font = self.template.clone();
        font.original_bytes = program;
        // printpdf maps text to glyph ids (and back, for /ToUnicode) through this.
        font.codepoint_to_glyph = used.chars.clone();
        font.glyph_widths = glyphs
            .remapped_gids()
            .enumerate()
            .map(|(new, old)| {
                let w = self.advances.get(usize::from(old)).copied().unwrap_or(0);
                (u16::try_from(new).unwrap_or(u16::MAX), w)
            })
            .collect();
        // subsetter writes CID-keyed CFF with an identity charset, or renumbered `glyf`
        // outlines: either way the content stream's codes are the new glyph ids.
        if font.original_bytes.starts_with(b"OTTO") {
            font.font_type = FontType::OpenTypeCFF(());
        }
        font.font_name = Some(format!("{tag}+{}", self.ps_name));
        font
    }
}

/// The glyphs one document uses, numbered from 1 in order of first use (0 is .notdef).
#[derive(Default)]
pub struct GlyphSet {
    remapper: GlyphRemapper,
    /// Character → glyph id in the subset, for every character the font has.
    chars: BTreeMap<u32, u16>,
}

impl GlyphSet {
    /// Records the characters of `text`; ones the font lacks print as .notdef (a box).
    pub fn add(&mut self, face: &Face, text: &str) {
        for c in text.chars() {
            if let std::collections::btree_map::Entry::Vacant(e) = self.chars.entry(c as u32) {
                let gid = face.glyph(c);
                if gid != 0 {
                    e.insert(self.remapper.remap(gid));
                }
            }
        }
    }

    /// Records the characters of `text` and hands out their glyph ids in the subset, for a
    /// renderer that writes its content streams itself (2-byte codes, Identity-H); 0
    /// (.notdef, a box) for a character the font lacks.
    pub fn encode(&mut self, face: &Face, text: &str, mut out: impl FnMut(u16)) {
        for c in text.chars() {
            let gid = match self.chars.entry(c as u32) {
                std::collections::btree_map::Entry::Occupied(e) => *e.get(),
                std::collections::btree_map::Entry::Vacant(e) => match face.glyph(c) {
                    0 => 0,
                    gid => *e.insert(self.remapper.remap(gid)),
                },
            };
            out(gid);
        }
    }

    /// Every recorded character the font has, once, in code point order.
    pub fn text(&self) -> String {
        self.chars.keys().filter_map(|&c| char::from_u32(c)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
}

/// The six capital letters that prefix a subset font's name (`ABCDEF+NotoSans…`), derived from
/// `seed` so that the same document gets the same name (PDF only asks that different subsets
/// in one file get different tags).
pub fn subset_tag(seed: u64) -> String {
    (0..6).map(|i| char::from(b'A' + ((seed >> (i * 5)) % 26) as u8)).collect()
}

/// 64-bit FNV-1a: stable across Rust releases, unlike `DefaultHasher`; for subset tags and
/// trailer /IDs that must not change between builds.
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Deflates every stream at the fastest level (lopdf's own `compress` uses the slowest, for a
/// few hundred bytes less on an invoice). A CFF font program (a caller's OpenType font) is left
/// as it is: its charstrings are already dense, deflate would save ~10% of it.
pub fn deflate_streams(doc: &mut lopdf::Document) {
    // One compressor for all streams: a fresh one allocates and clears ~300 KB of tables,
    // which a batch of a thousand small page streams would pay a thousand times.
    let mut z = flate2::Compress::new(flate2::Compression::fast(), true);
    for object in doc.objects.values_mut() {
        if let lopdf::Object::Stream(stream) = object {
            let cff = stream.dict.get(b"Subtype").and_then(|s| s.as_name()).is_ok_and(|n| n == b"CIDFontType0C");
            if cff || stream.dict.has(b"Filter") || stream.content.len() < 64 {
                continue;
            }
            // Level 1: 2-3x faster than the default 6 here, for ~5% more bytes.
            z.reset();
            let mut packed = Vec::with_capacity(stream.content.len() / 2 + 64);
            loop {
                let read = usize::try_from(z.total_in()).expect("fits in memory");
                let status = z
                    .compress_vec(&stream.content[read..], &mut packed, flate2::FlushCompress::Finish)
                    .expect("deflating into a Vec cannot fail");
                if status == flate2::Status::StreamEnd {
                    break;
                }
                packed.reserve(packed.capacity().max(256));
            }
            if packed.len() < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(packed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_font_covers_invoice_text() {
        let face = Face::bundled();
        for c in "电子发票（普通发票）价税合计壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整¥￥×0123456789ABCxyz-.,：%".chars()
        {
            assert_ne!(face.glyph(c), 0, "no glyph for {c:?}");
        }
        // A hanzi is one em wide; a digit about half.
        let han = face.advance_em(face.glyph('票'));
        let digit = face.advance_em(face.glyph('8'));
        assert!((han - 1.0).abs() < 0.01, "{han}");
        assert!(digit > 0.4 && digit < 0.7, "{digit}");
    }

    #[test]
    fn subset_keeps_only_the_used_glyphs() {
        let face = Face::bundled();
        let mut glyphs = GlyphSet::default();
        glyphs.add(&face, "发票123发");
        let font = face.subset(&glyphs, "AAAAAA");
        assert!(font.original_bytes.len() < 20_000, "{}", font.original_bytes.len());
        assert_eq!(font.glyph_widths.len(), 6); // .notdef + 5
        assert_eq!(font.codepoint_to_glyph.get(&('票' as u32)), Some(&2));
        assert_eq!(font.font_name.as_deref(), Some("AAAAAA+NotoSansCJKsc-Regular"));
    }

    #[test]
    fn encode_numbers_glyphs_as_the_subset_does() {
        let face = Face::bundled();
        let mut glyphs = GlyphSet::default();
        let mut gids = Vec::new();
        glyphs.encode(&face, "发票1发\u{10FFFF}", |g| gids.push(g));
        assert_eq!(gids, [1, 2, 3, 1, 0]);
        assert_eq!(glyphs.text(), "1发票");
        let font = face.subset(&glyphs, "AAAAAA");
        assert_eq!(font.codepoint_to_glyph.get(&('票' as u32)), Some(&2));
    }

    #[test]
    fn the_bundled_face_is_parsed_once() {
        assert!(Arc::ptr_eq(&Face::bundled(), &Face::bundled()));
    }

    #[test]
    fn garbage_is_not_a_font() {
        assert!(matches!(Face::custom(b"not a font".to_vec()), Err(FontError::Unreadable)));
    }
}
