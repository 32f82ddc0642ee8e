//! The A4 PDF: layout in millimetres from the top-left corner, drawn with printpdf ops.

use std::sync::Arc;

use crate::format::{date_cn, money, parse_date, rate};
use crate::qr::Qr;
use crate::{DocKind, InvoiceDoc};
use pdf_font::{Face, FontError, GlyphSet, Measure, deflate_streams, fnv1a, subset_tag};
use printpdf::{
    Color, CurTransMat, FontId, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfDocumentInfo, PdfFont,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem, TextMatrix, TextRenderingMode,
};

/// Renders [`InvoiceDoc`]s to PDF; build once and share (it is `Send + Sync`, cloning is cheap).
#[derive(Clone)]
pub struct Renderer {
    face: Arc<Face>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A renderer using the bundled Noto Sans SC subset; the font is parsed once per process
    /// (and shared with the other renderers using it, e.g. the shipping labels).
    pub fn new() -> Self {
        Self { face: Face::bundled() }
    }

    /// A renderer using a caller's TrueType/OpenType font (the first face of a collection).
    /// It must cover the Chinese labels of the form, or they print as empty boxes.
    pub fn with_font(bytes: Vec<u8>) -> Result<Self, FontError> {
        Ok(Self { face: Arc::new(Face::custom(bytes)?) })
    }

    /// The document as PDF bytes. Same input, same bytes: nothing depends on the clock or
    /// on randomness.
    pub fn render(&self, doc: &InvoiceDoc) -> Vec<u8> {
        let mut canvas = Canvas::new(&self.face);
        draw(&mut canvas, doc);
        canvas.into_pdf(doc)
    }
}

// ---------------------------------------------------------------------------------------------
// Page geometry (mm, y grows downwards) and colours.

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const L: f32 = 12.0;
const R: f32 = 198.0;
const MID: f32 = 105.0;
/// Buyer | seller split: the seller block has more to say (address, bank).
const PARTY_MID: f32 = 96.0;
const PARTIES_MIN_H: f32 = 34.0;
/// Width of the cells holding a vertical label (购买方信息, 备注).
const LABEL_CELL: f32 = 8.0;
/// Nothing but the footer goes below this.
const PAGE_BOTTOM: f32 = 280.0;
const FOOTER_Y: f32 = 287.0;
const FIRST_FRAME_TOP: f32 = 34.0;
/// Room for the issuer line under the frame of the last page.
const ISSUER_GAP: f32 = 8.0;
const CONT_FRAME_TOP: f32 = 30.0;

/// Column edges of the line table: item, SKU, qty, unit price, amount, rate, tax.
const COLS: [f32; 8] = [L, 74.0, 104.0, 118.0, 141.0, 166.0, 178.0, R];
const TABLE_HEAD_H: f32 = 10.0;
const LINE_H: f32 = 4.0;
const ROW_PAD: f32 = 2.0;
const ITEM_SIZE: f32 = 8.5;
/// The item area of the last page is at least this tall, so a one-line invoice still looks
/// like a form rather than a receipt.
const MIN_ITEMS_H: f32 = 40.0;
const TOTAL_ROW_H: f32 = 7.0;
const SUMMARY_ROW_H: f32 = 5.0;
const WORDS_ROW_H: f32 = 10.0;
const REMARKS_MIN_H: f32 = 20.0;

/// The reddish brown of printed fapiao forms: frame, labels, title.
const BROWN: [f32; 3] = [0.58, 0.30, 0.18];
/// English sub-labels and row separators: the same hue, lighter.
const TAN: [f32; 3] = [0.72, 0.52, 0.42];
const RULE: [f32; 3] = [0.88, 0.78, 0.72];
const INK: [f32; 3] = [0.08, 0.08, 0.08];
const RED: [f32; 3] = [0.86, 0.10, 0.10];

const FONT_RES: &str = "FCJK";

/// Millimetres to points, rounded to 1/100 pt: finer is invisible, and every extra digit is
/// formatted and written for each coordinate of the content stream.
fn pt(mm: f32) -> f32 {
    (mm * 7200.0 / 25.4).round() / 100.0
}

fn mm(pt: f32) -> f32 {
    pt * 25.4 / 72.0
}

fn rgb(c: [f32; 3]) -> Color {
    Color::Rgb(Rgb { r: c[0], g: c[1], b: c[2], icc_profile: None })
}

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy, PartialEq)]
struct Style {
    size: f32,
    color: [f32; 3],
    bold: bool,
}

/// One line of text, placed.
struct TextRun {
    style: Style,
    matrix: TextMatrix,
    text: String,
}

/// The ops that switch the text state from `prev` to `st`.
fn set_text_style(ops: &mut Vec<Op>, prev: Option<Style>, st: Style) {
    if prev.map(|p| p.size) != Some(st.size) {
        ops.push(Op::SetFont { font: PdfFontHandle::External(FontId(FONT_RES.into())), size: Pt(st.size) });
    }
    if prev.map(|p| p.color) != Some(st.color) {
        ops.push(Op::SetFillColor { col: rgb(st.color) });
        ops.push(Op::SetOutlineColor { col: rgb(st.color) });
    }
    if prev.map(|p| p.bold) != Some(st.bold) {
        // One weight is embedded; bold is the fill plus a hairline stroke of the outline.
        let mode = if st.bold { TextRenderingMode::FillStroke } else { TextRenderingMode::Fill };
        ops.push(Op::SetTextRenderingMode { mode });
    }
    if st.bold && prev.is_none_or(|p| !p.bold || p.size != st.size) {
        ops.push(Op::SetOutlineThickness { pt: Pt(st.size / 30.0) });
    }
}

const fn style(size: f32, color: [f32; 3]) -> Style {
    Style { size, color, bold: false }
}

const LABEL: Style = style(8.0, BROWN);
const SUB: Style = style(5.5, TAN);
const VALUE: Style = style(9.5, INK);

// ---------------------------------------------------------------------------------------------
// Canvas: collects printpdf ops for each page and hands out subset glyph ids as text is drawn.

struct Canvas<'f> {
    face: &'f Face,
    glyphs: GlyphSet,
    pages: Vec<PdfPage>,
    /// Lines and rectangles of the page being drawn.
    gfx: Vec<Op>,
    /// Text of the page being drawn; one BT..ET section after the graphics.
    text: Vec<TextRun>,
    /// Drawn last, over everything (the VOID stamp).
    overlay: Vec<Op>,
    stroke: Option<([f32; 3], f32)>,
}

impl<'f> Canvas<'f> {
    fn new(face: &'f Face) -> Self {
        Self {
            face,
            glyphs: GlyphSet::default(),
            pages: Vec::new(),
            gfx: Vec::with_capacity(256),
            text: Vec::with_capacity(128),
            overlay: Vec::new(),
            stroke: None,
        }
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        self.measure().width(s, size)
    }

    fn finish_page(&mut self) {
        let mut ops = std::mem::take(&mut self.gfx);
        if !self.text.is_empty() {
            // Kept in drawing order, which is reading order, for copy-paste and screen readers
            // (grouping runs by style would save ~4% of a render in text-state ops).
            ops.reserve(self.text.len() * 2 + 16);
            ops.push(Op::StartTextSection);
            let mut prev: Option<Style> = None;
            for run in self.text.drain(..) {
                set_text_style(&mut ops, prev, run.style);
                prev = Some(run.style);
                ops.push(Op::SetTextMatrix { matrix: run.matrix });
                ops.push(Op::ShowText { items: vec![TextItem::Text(run.text)] });
            }
            ops.push(Op::EndTextSection);
        }
        ops.append(&mut self.overlay);
        self.pages.push(PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops));
        self.stroke = None;
    }

    fn set_stroke(&mut self, color: [f32; 3], width_pt: f32) {
        if self.stroke != Some((color, width_pt)) {
            self.gfx.push(Op::SetOutlineColor { col: rgb(color) });
            self.gfx.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
            self.stroke = Some((color, width_pt));
        }
    }

    fn hline(&mut self, x1: f32, x2: f32, y: f32, color: [f32; 3], width_pt: f32) {
        self.line(x1, y, x2, y, color, width_pt);
    }

    fn vline(&mut self, x: f32, y1: f32, y2: f32, color: [f32; 3], width_pt: f32) {
        self.line(x, y1, x, y2, color, width_pt);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, color: [f32; 3], width_pt: f32) {
        self.set_stroke(color, width_pt);
        let p = |x: f32, y: f32| LinePoint { p: Point { x: Pt(pt(x)), y: Pt(pt(PAGE_H - y)) }, bezier: false };
        self.gfx.push(Op::DrawLine { line: Line { points: vec![p(x1, y1), p(x2, y2)], is_closed: false } });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, mode: PaintMode) {
        self.gfx.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(pt(x)),
                y: Pt(pt(PAGE_H - y - h)),
                width: Pt(pt(w)),
                height: Pt(pt(h)),
                mode: Some(mode),
                winding_order: None,
            },
        });
    }

    fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: [f32; 3], width_pt: f32) {
        self.set_stroke(color, width_pt);
        self.rect(x, y, w, h, PaintMode::Stroke);
    }

    /// Draws one line of text with its baseline at `y`; `x` is its left, centre or right.
    fn text(&mut self, s: &str, x: f32, y: f32, st: Style, align: Align) {
        if s.is_empty() {
            return;
        }
        let x = match align {
            Align::Left => x,
            Align::Center => x - self.width(s, st.size) / 2.0,
            Align::Right => x - self.width(s, st.size),
        };
        self.text_at(s, TextMatrix::Translate(Pt(pt(x)), Pt(pt(PAGE_H - y))), st);
    }

    /// Text turned 90° anticlockwise (reading upwards), its baseline the line x = `x`,
    /// centred on `cy`.
    fn text_up(&mut self, s: &str, x: f32, cy: f32, st: Style) {
        let y = cy + self.width(s, st.size) / 2.0;
        self.text_at(s, TextMatrix::Raw([0.0, 1.0, -1.0, 0.0, pt(x), pt(PAGE_H - y)]), st);
    }

    fn text_at(&mut self, s: &str, matrix: TextMatrix, style: Style) {
        self.glyphs.add(self.face, s);
        self.text.push(TextRun { style, matrix, text: s.to_owned() });
    }

    fn measure(&self) -> Measure<'f> {
        Measure { face: self.face, to_unit: mm }
    }

    /// The longest prefix of `s` that fits `max_w` at `size`, with `…` when cut.
    fn truncate(&self, s: &str, max_w: f32, size: f32) -> String {
        self.measure().truncate(s, max_w, size)
    }

    /// `s` at `st`, shrunk down to `min_size` and then truncated so it fits `max_w`.
    fn fit(&self, s: &str, max_w: f32, st: Style, min_size: f32) -> (String, Style) {
        let w = self.width(s, st.size);
        if w <= max_w {
            return (s.to_owned(), st);
        }
        let size = (st.size * max_w / w).max(min_size);
        let st = Style { size, ..st };
        (self.truncate(s, max_w, size), st)
    }

    /// Breaks `s` into at most `max_lines` lines of `max_w`; the last is truncated with `…`.
    fn wrap(&self, s: &str, max_w: f32, size: f32, max_lines: usize) -> Vec<String> {
        self.measure().wrap(s, max_w, size, max_lines)
    }

    fn into_pdf(mut self, doc: &InvoiceDoc) -> Vec<u8> {
        if !self.gfx.is_empty() || !self.text.is_empty() {
            self.finish_page();
        }
        let seed = fnv1a(doc.number.as_bytes(), 0xcbf2_9ce4_8422_2325);
        let tag = subset_tag(seed);
        let font = self.face.subset(&self.glyphs, &tag);

        let (title, _) = titles(doc.kind);
        let date = match parse_date(&doc.issued_on) {
            Some((year, month, day)) => {
                printpdf::DateTime { date: printpdf::Date { year, month, day }, ..printpdf::DateTime::epoch() }
            }
            None => printpdf::DateTime::epoch(),
        };
        let mut pdf = PdfDocument::new(&format!("{title} {}", doc.number));
        pdf.metadata.info = PdfDocumentInfo {
            document_title: format!("{title} {}", doc.number),
            author: doc.seller.name.clone(),
            creator: "Cairn".into(),
            producer: "Cairn invoicing-pdf (printpdf)".into(),
            subject: format!("{title} {} — {}", doc.number, doc.buyer.title),
            identifier: doc.number.clone(),
            creation_date: date,
            modification_date: date,
            metadata_date: date,
            ..PdfDocumentInfo::default()
        };
        pdf.resources.fonts.map.insert(FontId(FONT_RES.into()), PdfFont::new(font));
        pdf.pages = self.pages;

        // Compression is ours (below); subsetting was done by `Face::subset`.
        let opts = PdfSaveOptions { optimize: false, subset_fonts: false, secure: true, image_optimization: None };
        let mut warnings = Vec::new();
        let mut lo = pdf.to_lopdf_document(&opts, &mut warnings);
        debug_assert!(
            warnings.iter().all(|w| !matches!(w.severity, printpdf::PdfParseErrorSeverity::Error)),
            "{warnings:?}"
        );

        // printpdf draws the trailer /ID at random; a PDF's /ID only has to identify the
        // document, so derive it from the number (same document, same bytes).
        let id = format!("{:016x}{:016x}", seed, fnv1a(doc.number.as_bytes(), 0x8422_2325_cbf2_9ce4));
        let id = lopdf::Object::String(id.into_bytes(), lopdf::StringFormat::Hexadecimal);
        lo.trailer.set("ID", lopdf::Object::Array(vec![id.clone(), id]));
        deflate_streams(&mut lo);

        let mut out = Vec::with_capacity(48 * 1024);
        lo.save_to(&mut out).expect("writing to a Vec cannot fail");
        out
    }
}

/// (Chinese title, English title) of the form.
pub(crate) fn titles(kind: DocKind) -> (&'static str, &'static str) {
    match kind {
        DocKind::Invoice => ("电子发票（普通发票）", "ELECTRONIC INVOICE"),
        DocKind::CreditNote => ("电子发票（红字）", "CREDIT NOTE"),
    }
}

// ---------------------------------------------------------------------------------------------
// Layout.

/// One table row, measured before anything is drawn so pages can be planned.
struct Row {
    name: Vec<String>,
    sku: (String, Style),
    height: f32,
}

fn draw(c: &mut Canvas, doc: &InvoiceDoc) {
    let name_w = COLS[1] - COLS[0] - 3.0;
    let sku_w = COLS[2] - COLS[1] - 3.0;
    let rows: Vec<Row> = doc
        .lines
        .iter()
        .map(|l| {
            let name = c.wrap(&l.name, name_w, ITEM_SIZE, 2);
            let sku = c.fit(&l.sku, sku_w, style(ITEM_SIZE, INK), 6.5);
            let height = ROW_PAD + LINE_H * name.len() as f32;
            Row { name, sku, height }
        })
        .collect();

    let remarks = remark_lines(c, doc);
    // Everything under the item rows on the last page, down to the issuer line.
    let tail_h = ISSUER_GAP
        + TOTAL_ROW_H
        + SUMMARY_ROW_H * (1 + doc.tax_summary.len()) as f32
        + WORDS_ROW_H
        + (4.0 + 4.2 * remarks.len() as f32).max(REMARKS_MIN_H);

    let parties_plan = Parties::new(c, doc);
    // Plan pages: which rows go where, and whether the totals need a page of their own.
    let first_rows_top = FIRST_FRAME_TOP + parties_plan.height + TABLE_HEAD_H;
    let cont_rows_top = CONT_FRAME_TOP + TABLE_HEAD_H;
    let mut pages: Vec<Vec<usize>> = vec![Vec::new()];
    let mut y = first_rows_top;
    for (i, r) in rows.iter().enumerate() {
        if y + r.height > PAGE_BOTTOM {
            pages.push(Vec::new());
            y = cont_rows_top;
        }
        pages.last_mut().expect("one page at least").push(i);
        y += r.height;
    }
    if y + tail_h > PAGE_BOTTOM {
        // Carry the last row over, so the totals never stand on a page without any item.
        let last = pages.last_mut().expect("one page at least");
        let carried = if last.len() > 1 { last.pop() } else { None };
        pages.push(carried.into_iter().collect());
    }

    let page_count = pages.len();
    for (p, page_rows) in pages.iter().enumerate() {
        let last = p + 1 == page_count;
        let frame_top = if p == 0 { header(c, doc, true) } else { header(c, doc, false) };
        let mut y = frame_top;
        if p == 0 {
            y = parties(c, &parties_plan, y);
        }
        let table_top = y;
        table_head(c, table_top);
        y += TABLE_HEAD_H;
        for &i in page_rows {
            table_row(c, doc, &rows[i], i, y);
            y += rows[i].height;
            if !last || i + 1 < doc.lines.len() {
                c.hline(L, R, y, RULE, 0.3);
            }
        }
        if last {
            // Stretch the item area to its minimum, as far as the page allows.
            let min_end = table_top + TABLE_HEAD_H + MIN_ITEMS_H;
            y = y.max(min_end.min(PAGE_BOTTOM - tail_h));
        }
        for x in &COLS[1..COLS.len() - 1] {
            c.vline(*x, table_top, y, BROWN, 0.5);
        }
        if last {
            y = totals(c, doc, y, &remarks);
        }
        c.stroke_rect(L, frame_top, R - L, y - frame_top, BROWN, 1.0);
        footer(c, doc, p, page_count, last, y + ISSUER_GAP - 2.0);
        if doc.void {
            void_stamp(c, (frame_top + y) / 2.0);
        }
        c.finish_page();
    }
}

/// Title, QR code, number and date; returns where the frame starts.
fn header(c: &mut Canvas, doc: &InvoiceDoc, first: bool) -> f32 {
    let (cn, en) = titles(doc.kind);
    let title_color = if doc.kind == DocKind::CreditNote { RED } else { BROWN };
    let (top_y, title_size) = if first { (20.0, 19.0) } else { (16.0, 14.0) };
    c.text(cn, MID, top_y, Style { size: title_size, color: title_color, bold: true }, Align::Center);
    let en_y = top_y + if first { 5.5 } else { 4.5 };
    let en = if first { en.to_owned() } else { format!("{en} · 续页 CONTINUED") };
    c.text(&en, MID, en_y, style(7.5, title_color), Align::Center);
    let rule_w = c.width(cn, title_size).max(60.0) / 2.0 + 4.0;
    c.hline(MID - rule_w, MID + rule_w, en_y + 2.0, title_color, 0.8);
    c.hline(MID - rule_w, MID + rule_w, en_y + 2.9, title_color, 0.4);

    if first {
        qr(c, &doc.verify_url, L, 9.0, 22.0);
    }

    // Number and date, top right: Chinese label, English sub-label, value flush right.
    let rows: [(&str, &str, String); 2] =
        [("发票号码", "Invoice No.", doc.number.clone()), ("开票日期", "Date", date_cn(&doc.issued_on))];
    let base = if first { 15.0 } else { 12.0 };
    for (i, (cn, en, value)) in rows.iter().enumerate() {
        let y = base + 6.0 * i as f32;
        let x = 140.0;
        c.text(cn, x, y, LABEL, Align::Left);
        c.text(en, x + c.width(cn, LABEL.size) + 1.0, y, SUB, Align::Left);
        let (v, st) = c.fit(value, R - 162.0, VALUE, 7.0);
        c.text(&v, R, y, st, Align::Right);
    }
    if first { FIRST_FRAME_TOP } else { CONT_FRAME_TOP }
}

/// A form field: label and English sub-label on one line, the value below it, shrunk a
/// little and then wrapped onto a second line when long.
struct Field {
    cn: &'static str,
    en: &'static str,
    lines: Vec<String>,
    style: Style,
}

const FIELD_H: f32 = 8.0;
const FIELD_LINE_H: f32 = 3.4;

impl Field {
    fn new(c: &Canvas, cn: &'static str, en: &'static str, value: &str, w: f32) -> Self {
        let min = 8.0;
        let (lines, style) = if c.width(value, min) <= w {
            let (v, st) = c.fit(value, w, VALUE, min);
            (vec![v], st)
        } else {
            (c.wrap(value, w, min, 2), Style { size: min, ..VALUE })
        };
        Self { cn, en, lines, style }
    }

    fn height(&self) -> f32 {
        FIELD_H + FIELD_LINE_H * (self.lines.len().max(1) - 1) as f32
    }

    fn draw(&self, c: &mut Canvas, x: f32, top: f32) {
        c.text(self.cn, x, top + 3.0, style(7.0, BROWN), Align::Left);
        c.text(self.en, x + c.width(self.cn, 7.0) + 1.2, top + 3.0, SUB, Align::Left);
        for (k, line) in self.lines.iter().enumerate() {
            c.text(line, x, top + 7.0 + FIELD_LINE_H * k as f32, self.style, Align::Left);
        }
    }
}

/// The buyer's and the seller's fields, measured.
struct Parties {
    buyer: Vec<Field>,
    seller: Vec<Field>,
    height: f32,
}

impl Parties {
    fn new(c: &Canvas, doc: &InvoiceDoc) -> Self {
        let tax_cn = "统一社会信用代码/纳税人识别号";
        let bw = PARTY_MID - L - LABEL_CELL - 5.0;
        let b = &doc.buyer;
        let buyer = vec![
            Field::new(c, "名称", "Name", &b.title, bw),
            Field::new(c, tax_cn, "Tax ID", b.tax_id.as_deref().unwrap_or(""), bw),
        ];
        let sw = R - PARTY_MID - LABEL_CELL - 5.0;
        let s = &doc.seller;
        let seller = vec![
            Field::new(c, "名称", "Name", &s.name, sw),
            Field::new(c, tax_cn, "Tax ID", &s.tax_id, sw),
            Field::new(c, "地址、电话", "Address & phone", &join(&s.address, &s.phone), sw),
            Field::new(c, "开户行及账号", "Bank & account", &join(&s.bank, &s.account), sw),
        ];
        let sum = |f: &[Field]| f.iter().map(Field::height).sum::<f32>() + 2.0;
        let height = sum(&buyer).max(sum(&seller)).max(PARTIES_MIN_H);
        Self { buyer, seller, height }
    }
}

/// A cell holding a label set vertically: Chinese stacked, English turned.
fn side_label(c: &mut Canvas, cn: &str, en: &str, x: f32, top: f32, h: f32) {
    let n = cn.chars().count() as f32;
    let step = 4.2;
    let cy = top + h / 2.0;
    let mut y = cy - step * n / 2.0 + 3.0;
    let mut buf = [0u8; 4];
    for ch in cn.chars() {
        c.text(ch.encode_utf8(&mut buf), x + 3.0, y, style(8.5, BROWN), Align::Center);
        y += step;
    }
    c.text_up(en, x + LABEL_CELL - 1.0, cy, SUB);
}

/// Buyer and seller side by side; returns the bottom of the block.
fn parties(c: &mut Canvas, p: &Parties, top: f32) -> f32 {
    let h = p.height;
    let bottom = top + h;
    c.vline(L + LABEL_CELL, top, bottom, BROWN, 0.5);
    c.vline(PARTY_MID, top, bottom, BROWN, 0.5);
    c.vline(PARTY_MID + LABEL_CELL, top, bottom, BROWN, 0.5);
    c.hline(L, R, bottom, BROWN, 0.8);
    side_label(c, "购买方信息", "BUYER", L, top, h);
    side_label(c, "销售方信息", "SELLER", PARTY_MID, top, h);
    for (fields, x) in [(&p.buyer, L), (&p.seller, PARTY_MID)] {
        let mut y = top + 1.0;
        for f in fields {
            f.draw(c, x + LABEL_CELL + 2.5, y);
            y += f.height();
        }
    }
    bottom
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (false, false) => format!("{a} {b}"),
        (false, true) => a.to_owned(),
        _ => b.to_owned(),
    }
}

fn table_head(c: &mut Canvas, top: f32) {
    const HEADS: [(&str, &str); 7] = [
        ("项目名称", "Item"),
        ("规格型号", "SKU"),
        ("数量", "Qty"),
        ("单价", "Unit price"),
        ("金额", "Amount"),
        ("税率", "Rate"),
        ("税额", "Tax"),
    ];
    for (i, (cn, en)) in HEADS.iter().enumerate() {
        let cx = (COLS[i] + COLS[i + 1]) / 2.0;
        c.text(cn, cx, top + 4.6, LABEL, Align::Center);
        c.text(en, cx, top + 8.2, SUB, Align::Center);
    }
    c.hline(L, R, top + TABLE_HEAD_H, BROWN, 0.5);
}

fn table_row(c: &mut Canvas, doc: &InvoiceDoc, row: &Row, i: usize, top: f32) {
    let l = &doc.lines[i];
    let base = top + ROW_PAD / 2.0 + 3.1;
    let item = style(ITEM_SIZE, INK);
    for (k, line) in row.name.iter().enumerate() {
        c.text(line, COLS[0] + 1.5, base + LINE_H * k as f32, item, Align::Left);
    }
    c.text(&row.sku.0, COLS[1] + 1.5, base, row.sku.1, Align::Left);
    let nums = [l.quantity.to_string(), money(l.unit_price_net), money(l.amount_net)];
    for (k, n) in nums.iter().enumerate() {
        let col = 2 + k;
        let (v, st) = c.fit(n, COLS[col + 1] - COLS[col] - 3.0, item, 6.0);
        c.text(&v, COLS[col + 1] - 1.5, base, st, Align::Right);
    }
    c.text(&rate(l.tax_rate_bp), (COLS[5] + COLS[6]) / 2.0, base, item, Align::Center);
    let (v, st) = c.fit(&money(l.tax), COLS[7] - COLS[6] - 3.0, item, 6.0);
    c.text(&v, COLS[7] - 1.5, base, st, Align::Right);
}

/// Lines of the remarks box, already wrapped.
fn remark_lines(c: &Canvas, doc: &InvoiceDoc) -> Vec<String> {
    let w = R - L - LABEL_CELL - 5.0;
    let mut lines = vec![format!("订单号 Order ref: {}", doc.order_ref)];
    if let Some(orig) = &doc.original_number {
        lines.push(format!("对应蓝字发票 Original invoice: {orig}"));
    }
    if let Some(r) = doc.remarks.as_deref().filter(|r| !r.trim().is_empty()) {
        lines.extend(c.wrap(r.trim(), w, 8.5, 4));
    }
    lines
}

/// 合计, per-rate summary, total in words and remarks; returns the frame's bottom.
fn totals(c: &mut Canvas, doc: &InvoiceDoc, top: f32, remarks: &[String]) -> f32 {
    let strong = Style { size: 9.0, color: INK, bold: true };
    // 合计 Total
    c.hline(L, R, top, BROWN, 0.5);
    let mut y = top + TOTAL_ROW_H;
    let base = top + 4.8;
    let (label, label_st) = ("合  计", style(9.0, BROWN));
    let pair_w = c.width(label, label_st.size) + 1.2 + c.width("Total", SUB.size);
    let lx = (COLS[0] + COLS[2]) / 2.0 - pair_w / 2.0;
    c.text(label, lx, base, label_st, Align::Left);
    c.text("Total", lx + pair_w, base, SUB, Align::Right);
    c.text(&format!("¥{}", money(doc.total_net)), COLS[5] - 1.5, base, strong, Align::Right);
    c.text(&format!("¥{}", money(doc.total_tax)), COLS[7] - 1.5, base, strong, Align::Right);
    for x in [COLS[4], COLS[5], COLS[6]] {
        c.vline(x, top, y, BROWN, 0.5);
    }
    c.hline(L, R, y, BROWN, 0.5);

    // Per-rate summary: its own small table on the right, amounts flush with the columns above.
    let sum_top = y;
    let (rate_l, amt_l) = (COLS[2], 130.0);
    let sh = SUMMARY_ROW_H * (1 + doc.tax_summary.len()) as f32;
    let label_cy = sum_top + sh / 2.0;
    c.text("分税率合计", (L + rate_l) / 2.0, label_cy + 0.2, LABEL, Align::Center);
    c.text("Subtotal by tax rate", (L + rate_l) / 2.0, label_cy + 3.4, SUB, Align::Center);
    let heads = [("税率", "Rate"), ("金额", "Amount"), ("税额", "Tax")];
    let spans = [(rate_l, amt_l), (amt_l, COLS[5]), (COLS[5], R)];
    for ((cn, en), (a, b)) in heads.iter().zip(spans) {
        let hx = (a + b) / 2.0;
        c.text(cn, hx - 1.0, sum_top + 3.6, style(7.0, BROWN), Align::Right);
        c.text(en, hx, sum_top + 3.6, SUB, Align::Left);
    }
    let small = style(8.0, INK);
    for (k, r) in doc.tax_summary.iter().enumerate() {
        let by = sum_top + SUMMARY_ROW_H * (k + 1) as f32 + 3.6;
        c.text(&rate(r.tax_rate_bp), (rate_l + amt_l) / 2.0, by, small, Align::Center);
        c.text(&money(r.net), COLS[5] - 1.5, by, small, Align::Right);
        c.text(&money(r.tax), R - 1.5, by, small, Align::Right);
    }
    y += sh;
    for x in [rate_l, amt_l, COLS[5]] {
        c.vline(x, sum_top, y, BROWN, 0.5);
    }
    c.hline(rate_l, R, sum_top + SUMMARY_ROW_H, RULE, 0.3);
    c.hline(L, R, y, BROWN, 0.5);

    // 价税合计 in words and in figures.
    let wt = y;
    let label_r = 56.0;
    c.text("价税合计（大写）", (L + label_r) / 2.0, wt + 4.6, LABEL, Align::Center);
    c.text("Total incl. tax (in words)", (L + label_r) / 2.0, wt + 8.0, SUB, Align::Center);
    c.vline(label_r, wt, wt + WORDS_ROW_H, BROWN, 0.5);
    let figures = format!("¥{}", money(doc.total));
    let fig_st = Style { size: 11.0, color: INK, bold: true };
    let fig_w = c.width(&figures, fig_st.size);
    let small_label_x = R - 3.0 - fig_w - 2.0;
    c.text("（小写）", small_label_x, wt + 6.2, LABEL, Align::Right);
    c.text("In figures", small_label_x - 1.5, wt + 9.0, SUB, Align::Right);
    c.text(&figures, R - 3.0, wt + 6.4, fig_st, Align::Right);
    let words_w = small_label_x - c.width("（小写）", LABEL.size) - label_r - 6.0;
    let (words, st) = c.fit(&doc.total_in_words, words_w, Style { size: 10.5, color: INK, bold: true }, 7.0);
    c.text(&words, label_r + 3.0, wt + 6.4, st, Align::Left);
    y += WORDS_ROW_H;
    c.hline(L, R, y, BROWN, 0.5);

    // 备注 Remarks
    let rt = y;
    let rh = (4.0 + 4.2 * remarks.len() as f32).max(REMARKS_MIN_H);
    side_label(c, "备注", "REMARKS", L, rt, rh);
    c.vline(L + LABEL_CELL, rt, rt + rh, BROWN, 0.5);
    for (k, line) in remarks.iter().enumerate() {
        c.text(line, L + LABEL_CELL + 2.5, rt + 5.0 + 4.2 * k as f32, style(8.5, INK), Align::Left);
    }
    rt + rh
}

/// The issuer line right under the frame of the last page; page numbers at the bottom.
fn footer(c: &mut Canvas, doc: &InvoiceDoc, page: usize, pages: usize, last: bool, y: f32) {
    if last {
        c.text("开票人", L, y, LABEL, Align::Left);
        let x = L + c.width("开票人", LABEL.size) + 1.0;
        c.text("Issuer", x, y, SUB, Align::Left);
        let x = x + c.width("Issuer", SUB.size) + 2.0;
        c.text("系统自动开具 Issued by Cairn", x, y, style(8.5, INK), Align::Left);
        let seller = format!("销售方 Seller: {}", doc.seller.name);
        let (s, st) = c.fit(&seller, R - PARTY_MID - 2.0, style(8.5, INK), 6.0);
        c.text(&s, PARTY_MID + 2.0, y, st, Align::Left);
    }
    if pages > 1 {
        let s = format!("第 {} 页 / 共 {} 页  Page {} of {}", page + 1, pages, page + 1, pages);
        c.text(&s, R, FOOTER_Y, style(7.5, BROWN), Align::Right);
    }
}

/// A big red 作废 VOID, outlined so the form stays readable under it, in a turned frame
/// centred at height `cy_mm`.
fn void_stamp(c: &mut Canvas, cy_mm: f32) {
    let text = "作废 VOID";
    let size = 66.0;
    let angle = 28f32.to_radians();
    let (sin, cos) = angle.sin_cos();
    let w = c.face.width(text, size); // pt
    let (cx, cy) = (pt(MID), pt(PAGE_H - cy_mm));
    // Baseline start so the text's centre (cap-height/2 above the baseline) sits on (cx, cy).
    let (dx, dy) = (-w / 2.0, -size * 0.34);
    let tx = cx + dx * cos - dy * sin;
    let ty = cy + dx * sin + dy * cos;
    c.glyphs.add(c.face, text);
    let (bw, bh) = (w + 44.0, size * 1.6);
    c.overlay.extend([
        Op::SaveGraphicsState,
        Op::SetOutlineColor { col: rgb(RED) },
        Op::SetTransformationMatrix { matrix: CurTransMat::Raw([cos, sin, -sin, cos, cx, cy]) },
        Op::SetOutlineThickness { pt: Pt(3.0) },
        Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(-bw / 2.0),
                y: Pt(-bh / 2.0),
                width: Pt(bw),
                height: Pt(bh),
                mode: Some(PaintMode::Stroke),
                winding_order: None,
            },
        },
        Op::SetOutlineThickness { pt: Pt(1.0) },
        Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(-bw / 2.0 + 5.0),
                y: Pt(-bh / 2.0 + 5.0),
                width: Pt(bw - 10.0),
                height: Pt(bh - 10.0),
                mode: Some(PaintMode::Stroke),
                winding_order: None,
            },
        },
        Op::RestoreGraphicsState,
        Op::SaveGraphicsState,
        Op::StartTextSection,
        Op::SetFont { font: PdfFontHandle::External(FontId(FONT_RES.into())), size: Pt(size) },
        Op::SetOutlineColor { col: rgb(RED) },
        Op::SetOutlineThickness { pt: Pt(2.2) },
        Op::SetTextRenderingMode { mode: TextRenderingMode::Stroke },
        Op::SetTextMatrix { matrix: TextMatrix::Raw([cos, sin, -sin, cos, tx, ty]) },
        Op::ShowText { items: vec![TextItem::Text(text.into())] },
        Op::EndTextSection,
        Op::RestoreGraphicsState,
    ]);
}

/// The verification URL as a QR code of filled rectangles, one per run of dark modules.
fn qr(c: &mut Canvas, url: &str, x: f32, y: f32, size: f32) {
    // A URL too long for any QR version prints no code; the number still identifies the
    // document, so this is not worth failing the invoice over.
    let Some(code) = Qr::encode(url) else {
        return;
    };
    let n = code.width;
    let module = pt(size) / n as f32;
    // Draw in module units (y downwards): rectangles get small integer coordinates, which
    // keeps the content stream short.
    c.gfx.extend([
        Op::SaveGraphicsState,
        Op::SetTransformationMatrix { matrix: CurTransMat::Raw([module, 0.0, 0.0, -module, pt(x), pt(PAGE_H - y)]) },
        Op::SetFillColor { col: rgb(INK) },
    ]);
    for (x, y, w, h) in code.rectangles() {
        c.gfx.push(Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(x as f32),
                y: Pt(y as f32),
                width: Pt(w as f32),
                // A little taller so viewers show no seams between rows.
                height: Pt(if y + h < n { h as f32 + 0.05 } else { h as f32 }),
                mode: Some(PaintMode::Fill),
                winding_order: None,
            },
        });
    }
    c.gfx.push(Op::RestoreGraphicsState);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_and_fitted_text_stays_inside_its_cell() {
        let face = Face::bundled();
        let c = Canvas::new(&face);
        let texts = [
            "云栈2026春季新款纯棉圆领短袖T恤男女同款宽松百搭打底衫 红色 M",
            "浙江省杭州市西湖区文三路478号华星时代广场A座1203室 0571-88362190",
            "A-very-long-SKU-without-any-space-at-all-0123456789",
            "短",
            "",
        ];
        for t in texts {
            for w in [10.0, 27.0, 59.0, 90.0] {
                for line in c.wrap(t, w, ITEM_SIZE, 2) {
                    assert!(c.width(&line, ITEM_SIZE) <= w + 0.01, "{line:?} wider than {w} mm");
                }
                let (fitted, st) = c.fit(t, w, VALUE, 7.0);
                assert!(c.width(&fitted, st.size) <= w + 0.01, "{fitted:?} wider than {w} mm");
            }
        }
        // Breaks fall between words, not inside the phone number.
        let lines = c.wrap(texts[1], 90.0, 8.0, 2);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "0571-88362190");
    }
}
