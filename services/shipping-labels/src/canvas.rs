//! Drawing in millimetres from a page's top-left corner, written straight into content
//! streams. The glyphs used are gathered across the whole document, whose font subset is
//! embedded once.
//!
//! A label is a fixed form (frame, rules, 收/寄, 集包地, the signature clause) filled in with
//! one parcel's data. The form is the same on every page of a batch, so it is drawn once, into
//! a form XObject (the template) that every page shows with `/Tpl Do`; each page's own stream
//! holds only its data. Rules are always the form's; text is the page's unless drawn with
//! [`Canvas::fixed_text`].
//!
//! Why not printpdf's `Op`s, as invoicing-pdf does: for a batch of thousands of labels,
//! building the ops and having printpdf and lopdf turn them into text took 60% of the render
//! (allocations per op, float formatting). A label needs a dozen operators, written here from
//! integers in 1/100 pt; printpdf still builds the document around these streams (font
//! dictionaries, ToUnicode map, page tree).

use std::io::Write;

use pdf_font::{Face, GlyphSet, Measure};

/// The resource name of the one font.
pub(crate) const FONT_RES: &str = "F1";

/// One printer dot of a 203 dpi thermal head, in mm: bar widths are whole dots so every bar of
/// a width prints the same.
pub(crate) const DOT: f32 = 25.4 / 203.0;

/// Millimetres to hundredths of a point: finer is invisible, and integers format fast.
fn centi(mm: f32) -> i32 {
    (mm * 7200.0 / 25.4).round() as i32
}

pub(crate) fn mm(pt: f32) -> f32 {
    pt * 25.4 / 72.0
}

/// Stroke weight: one weight of the font is embedded, so bold is the fill plus a stroke of the
/// outline, thicker for the very large print.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Weight {
    Regular,
    Bold,
    Heavy,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) struct Style {
    /// Points.
    pub size: f32,
    pub weight: Weight,
}

pub(crate) const fn regular(size: f32) -> Style {
    Style { size, weight: Weight::Regular }
}

pub(crate) const fn bold(size: f32) -> Style {
    Style { size, weight: Weight::Bold }
}

pub(crate) const fn heavy(size: f32) -> Style {
    Style { size, weight: Weight::Heavy }
}

impl Style {
    /// The outline stroke in 1/100 pt, for the bold weights.
    fn stroke(self) -> Option<i32> {
        match self.weight {
            Weight::Regular => None,
            Weight::Bold => Some((self.size / 28.0 * 100.0).round() as i32),
            Weight::Heavy => Some((self.size / 16.0 * 100.0).round() as i32),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// A content stream being written: numbers are 1/100 pt integers.
#[derive(Default)]
struct Stream(Vec<u8>);

impl Stream {
    /// `v` / 100, shortest form, and a space.
    fn num(&mut self, v: i32) {
        let b = &mut self.0;
        if v < 0 {
            b.push(b'-');
        }
        let v = v.unsigned_abs();
        let (int, frac) = (v / 100, v % 100);
        let mut digits = [0u8; 10];
        let mut n = 0;
        let mut i = int;
        loop {
            digits[n] = b'0' + (i % 10) as u8;
            n += 1;
            i /= 10;
            if i == 0 {
                break;
            }
        }
        b.extend(digits[..n].iter().rev());
        if frac != 0 {
            b.push(b'.');
            b.push(b'0' + (frac / 10) as u8);
            if frac % 10 != 0 {
                b.push(b'0' + (frac % 10) as u8);
            }
        }
        b.push(b' ');
    }

    fn op(&mut self, op: &str) {
        self.0.extend_from_slice(op.as_bytes());
        self.0.push(b'\n');
    }
}

/// The resource name of the template form XObject.
pub(crate) const TEMPLATE_RES: &str = "Tpl";

/// One content stream being drawn, with its graphics and text state.
#[derive(Default)]
struct Layer {
    /// Rules, boxes and bars.
    gfx: Stream,
    /// Text, one BT..ET section written after the graphics, in drawing (reading) order.
    text: Stream,
    /// Font size (1/100 pt), outline stroke and pen position (1/100 pt) of the text.
    font_size: Option<i32>,
    text_stroke: Option<Option<i32>>,
    pen: (i32, i32),
    /// Line width (1/100 pt) and dash of the graphics.
    stroke: Option<(i32, bool)>,
}

impl Layer {
    fn with_capacity(n: usize) -> Self {
        Self { gfx: Stream(Vec::with_capacity(n)), text: Stream(Vec::with_capacity(n)), ..Self::default() }
    }

    /// The stream, `prefix` then the graphics then the text; the layer starts over, empty
    /// (keeping its buffers' capacity).
    fn take(&mut self, prefix: &[u8]) -> Vec<u8> {
        let mut content = Vec::with_capacity(prefix.len() + self.gfx.0.len() + self.text.0.len() + 8);
        content.extend_from_slice(prefix);
        content.append(&mut self.gfx.0);
        if !self.text.0.is_empty() {
            content.extend_from_slice(b"BT\n");
            content.append(&mut self.text.0);
            content.extend_from_slice(b"ET\n");
        }
        *self = Self { gfx: std::mem::take(&mut self.gfx), text: std::mem::take(&mut self.text), ..Self::default() };
        content
    }

    fn set_stroke(&mut self, width_pt: f32, dashed: bool) {
        let w = (width_pt * 100.0).round() as i32;
        let (prev_w, prev_dashed) = self.stroke.unwrap_or((100, false));
        if self.stroke.is_none() || prev_w != w {
            self.gfx.num(w);
            self.gfx.op("w");
        }
        if prev_dashed != dashed {
            if dashed {
                self.gfx.0.push(b'[');
                self.gfx.num(centi(1.6));
                self.gfx.num(centi(1.0));
                self.gfx.op("] 0 d");
            } else {
                self.gfx.op("[] 0 d");
            }
        }
        self.stroke = Some((w, dashed));
    }

    fn line(&mut self, (x1, y1): (i32, i32), (x2, y2): (i32, i32), width_pt: f32, dashed: bool) {
        self.set_stroke(width_pt, dashed);
        let g = &mut self.gfx;
        g.num(x1);
        g.num(y1);
        g.op("m");
        g.num(x2);
        g.num(y2);
        g.op("l S");
    }

    /// One line of text at `(x, y)`, 1/100 pt from the bottom-left corner.
    fn text(&mut self, glyphs: &mut GlyphSet, face: &Face, s: &str, (x, y): (i32, i32), st: Style) {
        let size = (st.size * 100.0).round() as i32;
        let t = &mut self.text;
        if self.font_size != Some(size) {
            let _ = write!(t.0, "/{FONT_RES} ");
            t.num(size);
            t.op("Tf");
            self.font_size = Some(size);
        }
        let stroke = st.stroke();
        let was = self.text_stroke.replace(stroke);
        if was != Some(stroke) {
            if let Some(w) = stroke {
                t.num(w);
                t.op("w");
            }
            // Fill, or fill and stroke the outline; the mode stays while only the width changes.
            if was.is_none_or(|w| w.is_some() != stroke.is_some()) {
                t.op(if stroke.is_some() { "2 Tr" } else { "0 Tr" });
            }
        }
        // Td moves from the start of the previous line: shorter than a full Tm.
        t.num(x - self.pen.0);
        t.num(y - self.pen.1);
        t.op("Td");
        self.pen = (x, y);
        // A literal string of 2-byte glyph ids: half the bytes of hex, so less to deflate.
        t.0.push(b'(');
        let buf = &mut t.0;
        glyphs.encode(face, s, |gid| {
            for byte in gid.to_be_bytes() {
                match byte {
                    b'(' | b')' | b'\\' => buf.extend([b'\\', byte]),
                    // A bare CR in a string reads as a line feed.
                    b'\r' => buf.extend(*b"\\r"),
                    _ => buf.push(byte),
                }
            }
        });
        t.op(") Tj");
    }
}

pub(crate) struct Canvas<'f> {
    measure: Measure<'f>,
    glyphs: GlyphSet,
    pages: Vec<Vec<u8>>,
    page_w: f32,
    page_h: f32,
    /// The page being drawn: its own data.
    page: Layer,
    /// The form, while the first page is drawn.
    template: Option<Layer>,
    template_done: Option<Vec<u8>>,
}

impl<'f> Canvas<'f> {
    pub(crate) fn new(face: &'f Face, page_w: f32, page_h: f32, pages: usize) -> Self {
        Self {
            measure: Measure { face, to_unit: mm },
            glyphs: GlyphSet::default(),
            pages: Vec::with_capacity(pages),
            page_w,
            page_h,
            page: Layer::with_capacity(2048),
            template: Some(Layer::with_capacity(2048)),
            template_done: None,
        }
    }

    pub(crate) fn page_w(&self) -> f32 {
        self.page_w
    }

    /// Whether the form is being drawn (on the first page): what only the form shows need
    /// not be laid out again for the other pages.
    pub(crate) fn recording(&self) -> bool {
        self.template.is_some()
    }

    /// Width of `s` at `size` points, in mm.
    pub(crate) fn width(&self, s: &str, size: f32) -> f32 {
        self.measure.width(s, size)
    }

    /// The longest prefix of `s` that fits `max_w`, with `…` when cut.
    pub(crate) fn truncate(&self, s: &str, max_w: f32, size: f32) -> String {
        self.measure.truncate(s, max_w, size)
    }

    /// `s` in at most `max_lines` lines of `max_w`, the last cut with `…`.
    pub(crate) fn wrap(&self, s: &str, max_w: f32, size: f32, max_lines: usize) -> Vec<String> {
        self.measure.wrap(s, max_w, size, max_lines)
    }

    /// `s` at `st`, shrunk down to `min_size` and then cut so it fits `max_w`.
    pub(crate) fn fit(&self, s: &str, max_w: f32, st: Style, min_size: f32) -> (String, Style) {
        let w = self.width(s, st.size);
        if w <= max_w {
            return (s.to_owned(), st);
        }
        // Sizes in quarter points: fewer distinct font sizes in the content stream.
        let size = ((st.size * max_w / w * 4.0).floor() / 4.0).max(min_size);
        (self.truncate(s, max_w, size), Style { size, ..st })
    }

    /// Ends the page being drawn (and the form, after the first page).
    pub(crate) fn finish_page(&mut self) {
        if let Some(mut template) = self.template.take() {
            self.template_done = Some(template.take(b""));
        }
        let show_form = format!("/{TEMPLATE_RES} Do\n");
        self.pages.push(self.page.take(show_form.as_bytes()));
    }

    /// The form's content stream (`None` without pages), the pages' content streams and the
    /// glyphs they all use.
    pub(crate) fn finish(self) -> (Option<Vec<u8>>, Vec<Vec<u8>>, GlyphSet) {
        (self.template_done, self.pages, self.glyphs)
    }

    /// 1/100 pt from the bottom-left corner.
    fn at(&self, x: f32, y: f32) -> (i32, i32) {
        (centi(x), centi(self.page_h - y))
    }

    pub(crate) fn hline(&mut self, x1: f32, x2: f32, y: f32, width_pt: f32) {
        self.line(x1, y, x2, y, width_pt, false);
    }

    pub(crate) fn vline(&mut self, x: f32, y1: f32, y2: f32, width_pt: f32) {
        self.line(x, y1, x, y2, width_pt, false);
    }

    /// A dashed rule: where the two parts of a 二联单 are torn apart.
    pub(crate) fn dashed_hline(&mut self, x1: f32, x2: f32, y: f32, width_pt: f32) {
        self.line(x1, y, x2, y, width_pt, true);
    }

    /// A rule of the form: drawn once, on the first page.
    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width_pt: f32, dashed: bool) {
        let (a, b) = (self.at(x1, y1), self.at(x2, y2));
        if let Some(form) = self.template.as_mut() {
            form.line(a, b, width_pt, dashed);
        }
    }

    /// A box of the form: drawn once, on the first page.
    pub(crate) fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, width_pt: f32) {
        let (x, y) = self.at(x, y + h);
        let Some(form) = self.template.as_mut() else { return };
        form.set_stroke(width_pt, false);
        let g = &mut form.gfx;
        g.num(x);
        g.num(y);
        g.num(centi(w));
        g.num(centi(h));
        g.op("re S");
    }

    /// Bars of `modules` (1 = bar) `module` mm wide, from (`x`, `top`), `h` mm tall, on the
    /// page: one filled path, in module units (`x 0 w 1 re`: small integers, a short stream).
    pub(crate) fn bars(&mut self, modules: &[u8], x: f32, top: f32, module: f32, h: f32) {
        let (x, y) = self.at(x, top + h);
        let g = &mut self.page.gfx;
        g.op("q");
        // The matrix keeps full precision: a module of 3 dots must stay 3 dots over 150 modules.
        let _ = write!(g.0, "{:.4} 0 0 ", module * 72.0 / 25.4);
        g.num(centi(h));
        g.num(x);
        g.num(y);
        g.op("cm");
        for (start, len) in crate::barcode::bars(modules) {
            g.num(start as i32 * 100);
            g.0.extend_from_slice(b"0 ");
            g.num(len as i32 * 100);
            g.op("1 re");
        }
        g.op("f Q");
    }

    /// Where `s` starts when `x` is its left, centre or right.
    fn start(&self, s: &str, x: f32, y: f32, st: Style, align: Align) -> (i32, i32) {
        let x = match align {
            Align::Left => x,
            Align::Center => x - self.width(s, st.size) / 2.0,
            Align::Right => x - self.width(s, st.size),
        };
        self.at(x, y)
    }

    /// One line of this page's text with its baseline at `y`; `x` is its left, centre or
    /// right.
    pub(crate) fn text(&mut self, s: &str, x: f32, y: f32, st: Style, align: Align) {
        if s.is_empty() {
            return;
        }
        let at = self.start(s, x, y, st, align);
        self.page.text(&mut self.glyphs, self.measure.face, s, at, st);
    }

    /// One line of this page's text whose hanzi and digits are centred on the height `cy`.
    pub(crate) fn text_mid(&mut self, s: &str, x: f32, cy: f32, st: Style, align: Align) {
        self.text(s, x, cy + text_drop(st), st, align);
    }

    /// Text of the form, the same on every label (收, 集包地, the signature clause): drawn
    /// once, on the first page.
    pub(crate) fn fixed_text(&mut self, s: &str, x: f32, y: f32, st: Style, align: Align) {
        if s.is_empty() || self.template.is_none() {
            return;
        }
        let at = self.start(s, x, y, st, align);
        if let Some(form) = self.template.as_mut() {
            form.text(&mut self.glyphs, self.measure.face, s, at, st);
        }
    }

    /// [`Canvas::fixed_text`] centred on the height `cy`, like [`Canvas::text_mid`].
    pub(crate) fn fixed_text_mid(&mut self, s: &str, x: f32, cy: f32, st: Style, align: Align) {
        self.fixed_text(s, x, cy + text_drop(st), st, align);
    }
}

/// From the visual middle of hanzi and digits down to their baseline, mm.
fn text_drop(st: Style) -> f32 {
    mm(st.size) * 0.36
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_in_their_shortest_form() {
        let mut s = Stream::default();
        for v in [0, 5, 50, 100, 12345, -7, -250, 28346] {
            s.num(v);
        }
        assert_eq!(String::from_utf8(s.0).unwrap(), "0 0.05 0.5 1 123.45 -0.07 -2.5 283.46 ");
    }
}
