//! Where everything goes on each label stock, in millimetres from the top-left corner.
//!
//! The three stocks share their blocks (header, 大头笔, 三段码, 集包地, parties, barcode,
//! signature, custom area); each stacks them in its own order and sizes, as the carriers'
//! standard templates do. A block never draws outside its box: text is shrunk, wrapped or cut
//! with `…` to fit. Row heights are fixed per stock, so the rules and the fixed text are the
//! same on every label and go into the batch's one form (see `canvas`).

use crate::barcode::code128_modules;
use crate::canvas::{Align, Canvas, DOT, bold, heavy, mm, regular};
use crate::{Label, LabelSize, Party, mask_phone};

/// Outer frame of each part, in points (2–3 printer dots).
const FRAME: f32 = 1.0;
/// Rules between and inside rows.
const RULE: f32 = 0.6;

/// Quiet zone on each side of a barcode, in modules (Code 128 asks for at least 10).
const QUIET: usize = 10;

pub(crate) fn draw(c: &mut Canvas, l: &Label, size: LabelSize) {
    match size {
        LabelSize::Mm100x180 => draw_100x180(c, l),
        LabelSize::Mm76x130 => draw_76x130(c, l),
        LabelSize::Mm100x150 => draw_100x150(c, l),
    }
}

/// Type sizes (pt) and proportions of one stock.
struct Type {
    carrier: f32,
    parcel: f32,
    sortation: f32,
    route: f32,
    consolidation: f32,
    small: f32,
    name: f32,
    address: f32,
    address_lines: usize,
    sender: f32,
    sender_lines: usize,
    code: f32,
    custom: f32,
    /// Width of the cells holding 收 / 寄 and of the header's parcel cell, mm.
    tag_w: f32,
    parcel_w: f32,
}

const WIDE: Type = Type {
    carrier: 14.0,
    parcel: 15.0,
    sortation: 40.0,
    route: 24.0,
    consolidation: 14.0,
    small: 6.5,
    name: 11.0,
    address: 10.0,
    address_lines: 3,
    sender: 8.0,
    sender_lines: 2,
    code: 11.0,
    custom: 7.5,
    tag_w: 9.0,
    parcel_w: 22.0,
};

const NARROW: Type = Type {
    carrier: 11.0,
    parcel: 12.0,
    sortation: 30.0,
    route: 18.0,
    consolidation: 11.0,
    small: 5.5,
    name: 9.5,
    address: 8.5,
    address_lines: 3,
    sender: 7.0,
    sender_lines: 2,
    code: 9.5,
    custom: 7.0,
    tag_w: 7.0,
    parcel_w: 17.0,
};

/// 100 × 180 二联单: the dispatch part (派件联) on top, the sender's stub (寄件联) below a
/// tear line, with the barcode again and the custom area.
fn draw_100x180(c: &mut Canvas, l: &Label) {
    let t = &WIDE;
    let mut s = Stack::new(2.0, 96.0, 2.0);
    header(c, l, s.row(10.0), t);
    sortation(c, &l.sortation_name, s.row(16.0), t);
    route(c, &l.route_code, s.row(11.0), t);
    consolidation(c, &l.consolidation_code, s.row(8.0), t);
    party(c, "收", &l.recipient, s.row(22.0), t, true);
    party(c, "寄", &l.sender, s.row(13.0), t, false);
    barcode(c, l, s.row(22.0), t, 4);
    sign(c, s.row(11.0), t);
    let bottom = s.close(c);

    c.dashed_hline(0.0, c.page_w(), bottom + 1.5, RULE);
    let mut s = Stack::new(2.0, 96.0, bottom + 3.0);
    stub_head(c, l, s.row(15.0), t);
    party(c, "收", &l.recipient, s.row(12.0), &Type { name: 8.5, address: 7.5, address_lines: 1, ..WIDE }, true);
    party(c, "寄", &l.sender, s.row(9.0), &Type { sender: 7.0, sender_lines: 1, ..WIDE }, false);
    let rest = 178.0 - s.y;
    custom(c, l, s.row(rest), t);
    s.close(c);
}

/// 76 × 130 一联单: one part, compact; the custom area fills the bottom.
fn draw_76x130(c: &mut Canvas, l: &Label) {
    let t = &NARROW;
    let mut s = Stack::new(1.5, 73.0, 1.5);
    header(c, l, s.row(8.0), t);
    sortation(c, &l.sortation_name, s.row(13.0), t);
    route(c, &l.route_code, s.row(9.0), t);
    consolidation(c, &l.consolidation_code, s.row(6.5), t);
    barcode(c, l, s.row(18.0), t, 3);
    party(c, "收", &l.recipient, s.row(18.0), t, true);
    party(c, "寄", &l.sender, s.row(10.5), t, false);
    let rest = 128.5 - s.y - 8.0;
    custom(c, l, s.row(rest), t);
    sign(c, s.row(8.0), t);
    s.close(c);
}

/// 100 × 150, SF's stock: the barcode right under the header, as on SF's own labels.
fn draw_100x150(c: &mut Canvas, l: &Label) {
    let t = &Type { sortation: 36.0, ..WIDE };
    let mut s = Stack::new(2.0, 96.0, 2.0);
    header(c, l, s.row(10.0), t);
    barcode(c, l, s.row(21.0), t, 4);
    sortation(c, &l.sortation_name, s.row(15.0), t);
    route(c, &l.route_code, s.row(10.0), t);
    consolidation(c, &l.consolidation_code, s.row(7.5), t);
    party(c, "收", &l.recipient, s.row(21.0), t, true);
    party(c, "寄", &l.sender, s.row(12.0), t, false);
    let rest = 148.0 - s.y - 11.0;
    custom(c, l, s.row(rest), t);
    sign(c, s.row(11.0), t);
    s.close(c);
}

/// A box on the page, mm.
#[derive(Clone, Copy, Debug)]
struct Area {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

impl Area {
    fn right(self) -> f32 {
        self.x + self.w
    }
    fn bottom(self) -> f32 {
        self.y + self.h
    }
    fn cx(self) -> f32 {
        self.x + self.w / 2.0
    }
    fn cy(self) -> f32 {
        self.y + self.h / 2.0
    }
    /// (the left `w` mm, the rest)
    fn split(self, w: f32) -> (Area, Area) {
        (Area { w, ..self }, Area { x: self.x + w, w: self.w - w, ..self })
    }
}

/// Rows stacked in a frame, a rule between each two.
struct Stack {
    x: f32,
    w: f32,
    top: f32,
    y: f32,
    /// Tops of the rows after the first: where the rules go.
    rules: Vec<f32>,
}

impl Stack {
    fn new(x: f32, w: f32, top: f32) -> Self {
        Self { x, w, top, y: top, rules: Vec::with_capacity(10) }
    }

    fn row(&mut self, h: f32) -> Area {
        if self.y > self.top {
            self.rules.push(self.y);
        }
        let area = Area { x: self.x, y: self.y, w: self.w, h };
        self.y += h;
        area
    }

    /// Draws the rules and the frame; returns the frame's bottom.
    fn close(self, c: &mut Canvas) -> f32 {
        for &y in &self.rules {
            c.hline(self.x, self.x + self.w, y, RULE);
        }
        c.stroke_rect(self.x, self.top, self.w, self.y - self.top, FRAME);
        self.y
    }
}

/// Carrier name | print time | parcel number (子母件 marked).
fn header(c: &mut Canvas, l: &Label, a: Area, t: &Type) {
    let (main, parcel) = a.split(a.w - t.parcel_w);
    c.vline(parcel.x, a.y, a.bottom(), RULE);

    let (name, st) = c.fit(&l.cp_name, main.w * 0.55, bold(t.carrier), 8.0);
    c.text_mid(&name, main.x + 2.0, main.cy(), st, Align::Left);
    let code_x = main.x + 2.0 + c.width(&name, st.size) + 1.5;
    c.text_mid(&l.cp_code, code_x, main.cy(), regular(t.small + 1.0), Align::Left);
    let right = main.right() - 1.5;
    c.fixed_text("打印时间", right, main.y + main.h * 0.42, regular(t.small), Align::Right);
    c.text(&l.printed_at, right, main.y + main.h * 0.42 + mm(t.small) * 1.3, regular(t.small), Align::Right);

    let count = format!("{}/{}", l.parcel_no, l.parcel_count);
    if l.parcel_count > 1 || l.parent_waybill_code.is_some() {
        c.text("子母件", parcel.cx(), parcel.y + mm(t.small) * 1.15, regular(t.small), Align::Center);
        let (count, st) = c.fit(&count, parcel.w - 2.0, bold(t.parcel * 0.9), 7.0);
        c.text_mid(&count, parcel.cx(), parcel.y + parcel.h * 0.64, st, Align::Center);
    } else {
        let (count, st) = c.fit(&count, parcel.w - 2.0, bold(t.parcel), 7.0);
        c.text_mid(&count, parcel.cx(), parcel.cy(), st, Align::Center);
    }
}

/// 大头笔: as large as fits.
fn sortation(c: &mut Canvas, s: &str, a: Area, t: &Type) {
    let (s, st) = c.fit(s, a.w - 4.0, heavy(t.sortation), t.sortation * 0.45);
    c.text_mid(&s, a.cx(), a.cy(), st, Align::Center);
}

/// 三段码.
fn route(c: &mut Canvas, s: &str, a: Area, t: &Type) {
    let (s, st) = c.fit(s, a.w - 4.0, bold(t.route), t.route * 0.5);
    c.text_mid(&s, a.cx(), a.cy(), st, Align::Center);
}

/// 集包地: its label in a cell, the hub after it.
fn consolidation(c: &mut Canvas, s: &str, a: Area, t: &Type) {
    let label = regular(t.small + 0.5);
    let (cell, rest) = a.split(c.width("集包地", label.size) + 3.0);
    c.vline(cell.right(), a.y, a.bottom(), RULE);
    c.fixed_text_mid("集包地", cell.cx(), cell.cy(), label, Align::Center);
    let (s, st) = c.fit(s, rest.w - 4.0, bold(t.consolidation), 7.0);
    c.text_mid(&s, rest.cx(), rest.cy(), st, Align::Center);
}

/// 收 or 寄: the tag in its cell; name and masked phone; the address, wrapped.
fn party(c: &mut Canvas, tag: &str, p: &Party, a: Area, t: &Type, recipient: bool) {
    let (cell, rest) = a.split(if recipient { t.tag_w } else { t.tag_w * 0.85 });
    c.vline(cell.right(), a.y, a.bottom(), RULE);
    let tag_size = (cell.w.min(a.h) * 0.62 / mm(1.0)).min(20.0);
    c.fixed_text_mid(tag, cell.cx(), cell.cy(), heavy(tag_size), Align::Center);

    let (name_st, addr_st, max_lines) = if recipient {
        (bold(t.name), bold(t.address), t.address_lines)
    } else {
        (regular(t.sender + 0.5), regular(t.sender), t.sender_lines)
    };
    let x = rest.x + 1.8;
    let w = rest.right() - 1.5 - x;
    let phone = mask_phone(&p.phone);
    let phone_w = c.width(&phone, name_st.size);
    let gap = if phone.is_empty() { 0.0 } else { 3.0 };
    let name = c.truncate(&p.name, (w - phone_w - gap).max(w * 0.35), name_st.size);
    let name_w = c.width(&name, name_st.size);
    let phone = c.truncate(&phone, w - name_w - gap, name_st.size);

    let address = join_address(p);
    let lines = c.wrap(&address, w, addr_st.size, max_lines);
    // The block is centred in the row: name line, then the address lines.
    let (name_lh, addr_lh) = (mm(name_st.size) * 1.3, mm(addr_st.size) * 1.28);
    let block = name_lh + addr_lh * lines.len() as f32;
    let top = a.y + ((a.h - block) / 2.0).max(0.6);
    let base = top + mm(name_st.size) * 0.92;
    c.text(&name, x, base, name_st, Align::Left);
    c.text(&phone, x + name_w + gap, base, name_st, Align::Left);
    for (k, line) in lines.iter().enumerate() {
        c.text(line, x, top + name_lh + addr_lh * k as f32 + mm(addr_st.size) * 0.92, addr_st, Align::Left);
    }
}

fn join_address(p: &Party) -> String {
    let parts = [&p.province, &p.city, &p.district, &p.address];
    let mut out = String::with_capacity(parts.iter().map(|s| s.len() + 1).sum());
    for s in parts.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    out
}

/// The barcode with the code under it (and the parent's code for a child parcel), centred in
/// `a`. `max_dots`: the widest module tried, in printer dots.
fn barcode(c: &mut Canvas, l: &Label, a: Area, t: &Type, max_dots: u8) {
    let code_st = bold(t.code);
    let parent = l.parent_waybill_code.as_deref().filter(|p| !p.is_empty());
    let text_h = mm(code_st.size) * 1.2 + if parent.is_some() { mm(t.small) * 1.5 } else { 0.0 };
    let bars_h = a.h - 3.0 - text_h;
    place_bars(c, &l.waybill_code, Area { y: a.y + 1.5, h: bars_h, ..a }, max_dots);
    let base = a.y + 1.5 + bars_h + mm(code_st.size) * 1.05;
    let (code, st) = c.fit(&l.waybill_code, a.w - 4.0, code_st, 6.0);
    c.text(&code, a.cx(), base, st, Align::Center);
    if let Some(parent) = parent {
        let s = format!("母单号 {parent}");
        let (s, st) = c.fit(&s, a.w - 4.0, regular(t.small + 0.5), 5.0);
        c.text(&s, a.cx(), base + mm(t.small) * 1.45, st, Align::Center);
    }
}

/// Bars of `code` centred in `a` (its full height); see [`bar_geometry`].
fn place_bars(c: &mut Canvas, code: &str, a: Area, max_dots: u8) {
    let Some(modules) = code128_modules(code) else {
        // Not Code 128 data (a carrier never returns such a code): the text still identifies it.
        c.text_mid("（单号无法生成条码）", a.cx(), a.cy(), regular(8.0), Align::Center);
        return;
    };
    let (x, module) = bar_geometry(modules.len(), a, max_dots);
    c.bars(&modules, x, a.y, module, a.h);
}

/// (left edge, module width) of `n` modules centred in `a`: modules a whole number of printer
/// dots, `max_dots` down to 2 (≥ 0.25 mm, what a 203 dpi scanner-friendly symbol needs), with
/// the quiet zones inside `a` less 1 mm each side; squeezed below 2 dots only when even that
/// does not fit, rather than spill over the frame. The left edge is on the dot grid of a
/// printer whose head starts at the page's left edge, so every bar of a width prints the same.
fn bar_geometry(n: usize, a: Area, max_dots: u8) -> (f32, f32) {
    let span = (n + 2 * QUIET) as f32;
    let avail = a.w - 2.0;
    let module =
        (2..=max_dots.max(2)).rev().map(|d| f32::from(d) * DOT).find(|m| m * span <= avail).unwrap_or(avail / span);
    let width = module * n as f32;
    let x = ((a.cx() - width / 2.0) / DOT).round() * DOT;
    (x, module)
}

/// The signature box and the delivery clause printed on every Chinese waybill.
fn sign(c: &mut Canvas, a: Area, t: &Type) {
    if !c.recording() {
        // All of it is the form's.
        return;
    }
    let (left, right) = a.split(a.w * 0.36);
    c.vline(left.right(), a.y, a.bottom(), RULE);
    let st = regular(t.small + 0.5);
    c.fixed_text("签收人：", left.x + 1.8, left.y + left.h * 0.38, st, Align::Left);
    c.fixed_text("时间：", left.x + 1.8, left.y + left.h * 0.38 + mm(st.size) * 1.6, st, Align::Left);
    const DELIVERED: &str = "快件送达收件人地址，经收件人或收件人允许的代收人签字，视为送达。";
    const CHECKED: &str = "您的签字代表您已验收此包裹，并确认商品信息无误、包装完好。";
    let size = t.small;
    let lh = mm(size) * 1.25;
    let max_lines = ((a.h - 1.0) / lh).floor().max(1.0) as usize;
    let mut lines = c.wrap(&format!("{DELIVERED}{CHECKED}"), right.w - 3.0, size, max_lines);
    if lines.last().is_some_and(|l| l.ends_with('…')) {
        // No room for both sentences: the one that makes delivery binding, whole.
        lines = c.wrap(DELIVERED, right.w - 3.0, size, max_lines);
    }
    let top = a.y + (a.h - lh * lines.len() as f32) / 2.0;
    for (k, line) in lines.iter().enumerate() {
        c.fixed_text(line, right.x + 1.5, top + lh * k as f32 + mm(size) * 0.9, regular(size), Align::Left);
    }
}

/// The stub's head: carrier and part name, the barcode again with its code.
fn stub_head(c: &mut Canvas, l: &Label, a: Area, t: &Type) {
    let (left, right) = a.split(30.0);
    c.vline(left.right(), a.y, a.bottom(), RULE);
    let (name, st) = c.fit(&l.cp_name, left.w - 3.0, bold(t.carrier * 0.8), 7.0);
    c.text_mid(&name, left.cx(), left.y + left.h * 0.36, st, Align::Center);
    let part = if l.parcel_count > 1 || l.parent_waybill_code.is_some() {
        format!("寄件联  子母件 {}/{}", l.parcel_no, l.parcel_count)
    } else {
        "寄件联".to_owned()
    };
    let (part, st) = c.fit(&part, left.w - 3.0, regular(t.small + 1.0), 5.0);
    c.text_mid(&part, left.cx(), left.y + left.h * 0.72, st, Align::Center);
    let code_st = bold(t.code * 0.75);
    let bars_h = right.h - 2.5 - mm(code_st.size) * 1.2;
    place_bars(c, &l.waybill_code, Area { y: right.y + 1.2, h: bars_h, ..right }, 3);
    let (code, st) = c.fit(&l.waybill_code, right.w - 4.0, code_st, 6.0);
    c.text(&code, right.cx(), right.y + 1.2 + bars_h + mm(st.size) * 1.05, st, Align::Center);
}

/// The custom area: items (`name ×count`), trade ids, the remark; what does not fit is cut
/// with `…`, and items beyond the room are summed up on the last line.
fn custom(c: &mut Canvas, l: &Label, a: Area, t: &Type) {
    let size = t.custom;
    let st = regular(size);
    let lh = mm(size) * 1.3;
    let x = a.x + 1.8;
    let w = a.w - 3.6;
    let room = ((a.h - 1.6) / lh).floor().max(1.0) as usize;

    let trade = if l.trade_ids.is_empty() {
        Vec::new()
    } else {
        c.wrap(&format!("订单号：{}", l.trade_ids.join(" ")), w, size, 2)
    };
    let remark = match l.remark.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => c.wrap(&format!("备注：{r}"), w, size, 2),
        _ => Vec::new(),
    };
    // The trade ids and the remark get a line each, the items what they need of the rest,
    // and what is left goes back to the trade ids and the remark.
    let items_min = usize::from(!l.items.is_empty());
    let mut trade_n = trade.len().min(1).min(room.saturating_sub(items_min));
    let mut remark_n = remark.len().min(1).min(room.saturating_sub(items_min + trade_n));
    let item_room = l.items.len().min(room - trade_n - remark_n);
    let mut left = room - trade_n - remark_n - item_room;
    let more = (trade.len() - trade_n).min(left);
    trade_n += more;
    left -= more;
    remark_n += (remark.len() - remark_n).min(left);

    let mut lines: Vec<String> = Vec::with_capacity(room);
    let total: u64 = l.items.iter().map(|i| u64::from(i.count)).sum();
    let shown = if l.items.len() > item_room { item_room - 1 } else { l.items.len() };
    for item in &l.items[..shown] {
        let count = format!(" ×{}", item.count);
        let name = c.truncate(item.name.trim(), w - c.width(&count, size), size);
        lines.push(format!("{name}{count}"));
    }
    if shown < l.items.len() {
        let more = format!("…等{}种商品，共{}件", l.items.len(), total);
        lines.push(c.truncate(&more, w, size));
    }
    lines.extend(cut(&trade, trade_n, c, w, size));
    lines.extend(cut(&remark, remark_n, c, w, size));
    for (k, line) in lines.iter().enumerate() {
        c.text(line, x, a.y + 0.8 + lh * k as f32 + mm(size) * 0.95, st, Align::Left);
    }
}

/// The first `n` of `lines`, the last of them marked as cut when lines were dropped.
fn cut(lines: &[String], n: usize, c: &Canvas, w: f32, size: f32) -> Vec<String> {
    let mut out = lines[..n].to_vec();
    if n < lines.len()
        && let Some(last) = out.last_mut()
        && !last.ends_with('…')
    {
        // Kept whole when it fits, else cut: either way it ends with `…`.
        *last = c.truncate(&format!("{last}…"), w, size);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_whole_dots_of_at_least_a_quarter_mm_with_quiet_zones() {
        // (stock's barcode area, widest module tried): 100 mm main, the 100x180 stub, 76 mm.
        let areas = [
            (Area { x: 2.0, y: 0.0, w: 96.0, h: 10.0 }, 4),
            (Area { x: 32.0, y: 0.0, w: 66.0, h: 10.0 }, 3),
            (Area { x: 1.5, y: 0.0, w: 73.0, h: 10.0 }, 3),
        ];
        for code in
            ["ZT7300012345678", "SF1402345678901", "JDVA00012345678-1-2-", "YT8800012345678901", "773012345678901"]
        {
            let n = code128_modules(code).unwrap().len();
            for (a, max_dots) in areas {
                let (x, module) = bar_geometry(n, a, max_dots);
                let dots = module / DOT;
                assert!(module >= 0.25, "{code} in {a:?}: {module} mm");
                assert!((dots - dots.round()).abs() < 1e-4, "{code}: {dots} dots");
                assert!(x - QUIET as f32 * module >= a.x, "{code} in {a:?}: left quiet zone");
                assert!(x + (n + QUIET) as f32 * module <= a.right(), "{code} in {a:?}: right quiet zone");
            }
        }
        // The main barcode of a 100 mm label gets 4-dot (0.5 mm) modules.
        let n = code128_modules("ZT7300012345678").unwrap().len();
        assert_eq!((bar_geometry(n, areas[0].0, 4).1 / DOT).round(), 4.0);
    }

    #[test]
    fn a_code_too_long_for_the_width_is_squeezed_not_spilled() {
        let code = "ZT".repeat(40);
        let n = code128_modules(&code).unwrap().len();
        let a = Area { x: 1.5, y: 0.0, w: 73.0, h: 10.0 };
        let (x, module) = bar_geometry(n, a, 3);
        assert!(x >= a.x && x + n as f32 * module <= a.right());
    }
}
