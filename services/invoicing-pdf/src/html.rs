//! The same invoice as one self-contained HTML page (inline CSS, inline SVG QR code), the way
//! many ERPs make PDFs through a headless browser. Kept as the baseline of the benchmark.

use std::fmt::Write;

use crate::format::{date_cn, money, rate};
use crate::pdf::titles;
use crate::qr::Qr;
use crate::{DocKind, InvoiceDoc};

const CSS: &str = r#"
@page { size: A4; margin: 10mm 12mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; color: #141414; font-size: 9.5pt; }
.page { width: 186mm; margin: 0 auto; position: relative; }
.brown { color: #944d2e; }
.en { font-size: 5.5pt; color: #b8856b; margin-left: 1mm; }
header { display: grid; grid-template-columns: 30mm 1fr 58mm; align-items: start; height: 24mm; }
header svg { width: 22mm; height: 22mm; }
h1 { margin: 4mm 0 0; text-align: center; font-size: 19pt; letter-spacing: 1pt; color: #944d2e; }
h1.credit, .sub.credit { color: #db1a1a; }
.sub { text-align: center; font-size: 7.5pt; color: #944d2e; border-bottom: 3px double currentColor; width: 84mm; margin: 1mm auto 0; padding-bottom: 1mm; }
.meta { margin-top: 4mm; font-size: 8pt; }
.meta div { display: flex; justify-content: space-between; margin-bottom: 2mm; }
.meta b { font-weight: normal; font-size: 9.5pt; }
.frame { border: 1pt solid #944d2e; }
.parties { display: grid; grid-template-columns: 8mm 76mm 8mm 1fr; border-bottom: 0.8pt solid #944d2e; min-height: 34mm; }
.side { writing-mode: vertical-rl; text-align: center; color: #944d2e; font-size: 8.5pt; border-right: 0.5pt solid #944d2e; letter-spacing: 2pt; }
.side + div { padding: 1mm 2.5mm; }
.party + .side { border-left: 0.5pt solid #944d2e; }
.field { min-height: 8mm; }
.field label { display: block; font-size: 7pt; color: #944d2e; white-space: nowrap; }
.field > span { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; line-height: 1.15; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th { font-weight: normal; font-size: 8pt; color: #944d2e; height: 10mm; border-bottom: 0.5pt solid #944d2e; }
th .en { display: block; margin: 0; }
td { font-size: 8.5pt; padding: 1mm 1.5mm; vertical-align: top; border-bottom: 0.3pt solid #e0c7b8; }
td, th { border-left: 0.5pt solid #944d2e; }
td:first-child, th:first-child { border-left: none; }
td.num { text-align: right; }
td.c { text-align: center; }
td.name { overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
td.sku { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
tr.filler td { height: auto; border-bottom: none; }
tr.total td { border-top: 0.5pt solid #944d2e; border-bottom: 0.5pt solid #944d2e; font-weight: bold; }
.summary { display: grid; grid-template-columns: 92mm 26mm 36mm 32mm; border-bottom: 0.5pt solid #944d2e; font-size: 8pt; }
.summary > div { padding: 0.6mm 1.5mm; border-left: 0.5pt solid #944d2e; }
.summary > .lbl { border-left: none; grid-row: span 9; color: #944d2e; text-align: center; align-self: center; }
.summary .h { color: #944d2e; font-size: 7pt; text-align: center; }
.summary .num { text-align: right; }
.words { display: grid; grid-template-columns: 44mm 1fr auto; border-bottom: 0.5pt solid #944d2e; height: 10mm; align-items: center; }
.words .lbl { color: #944d2e; text-align: center; border-right: 0.5pt solid #944d2e; height: 100%; padding-top: 1.5mm; font-size: 8pt; }
.words .lbl .en { display: block; }
.words .w { padding-left: 3mm; font-weight: bold; font-size: 10.5pt; }
.words .fig { padding-right: 3mm; font-weight: bold; font-size: 11pt; }
.words .fig small { font-weight: normal; color: #944d2e; font-size: 8pt; }
.remarks { display: grid; grid-template-columns: 8mm 1fr; min-height: 20mm; }
.remarks .lines { padding: 1.5mm 2.5mm; font-size: 8.5pt; line-height: 4.2mm; }
footer { display: flex; justify-content: space-between; margin-top: 3mm; font-size: 8.5pt; }
.void { position: absolute; top: 120mm; left: 30mm; transform: rotate(-28deg); color: transparent; -webkit-text-stroke: 2px #db1a1a; font-size: 66pt; border: 3pt double #db1a1a; padding: 2mm 8mm; white-space: nowrap; }
"#;

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The QR code as inline SVG (the same symbol as in the PDF).
fn qr_svg(url: &str) -> String {
    let Some(code) = Qr::encode(url) else {
        return String::new();
    };
    let svg = qrcode::render::Renderer::<qrcode::render::svg::Color>::new(&code.modules, code.width, 0).build();
    // Drop the XML declaration: the SVG is inlined into HTML.
    svg.split_once("<svg").map(|(_, rest)| format!("<svg{rest}")).unwrap_or_default()
}

/// The document as a standalone A4 HTML page, equivalent to [`crate::Renderer::render`].
pub fn render_html(doc: &InvoiceDoc) -> String {
    let (cn, en) = titles(doc.kind);
    let credit = if doc.kind == DocKind::CreditNote { " credit" } else { "" };
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{cn} {num}</title><style>{CSS}</style></head><body><div class="page">
<header><div>{qr}</div><div><h1 class="{credit}">{cn}</h1><div class="sub{credit}">{en}</div></div>
<div class="meta"><div><span class="brown">发票号码<span class="en">Invoice No.</span></span><b>{num}</b></div><div><span class="brown">开票日期<span class="en">Date</span></span><b>{date}</b></div></div></header>
<div class="frame"><div class="parties"><div class="side">购买方信息 BUYER</div><div class="party">"#,
        num = esc(&doc.number),
        qr = qr_svg(&doc.verify_url),
        date = esc(&date_cn(&doc.issued_on)),
    );
    let tax_cn = "统一社会信用代码/纳税人识别号";
    let field = |h: &mut String, cn: &str, en: &str, v: &str| {
        let _ = write!(
            h,
            r#"<div class="field"><label>{cn}<span class="en">{en}</span></label><span>{}</span></div>"#,
            esc(v)
        );
    };
    field(&mut h, "名称", "Name", &doc.buyer.title);
    field(&mut h, tax_cn, "Tax ID", doc.buyer.tax_id.as_deref().unwrap_or(""));
    h.push_str(r#"</div><div class="side">销售方信息 SELLER</div><div class="party">"#);
    let s = &doc.seller;
    field(&mut h, "名称", "Name", &s.name);
    field(&mut h, tax_cn, "Tax ID", &s.tax_id);
    field(&mut h, "地址、电话", "Address &amp; phone", &format!("{} {}", s.address, s.phone));
    field(&mut h, "开户行及账号", "Bank &amp; account", &format!("{} {}", s.bank, s.account));
    h.push_str(
        r#"</div></div><table><colgroup><col style="width:62mm"><col style="width:30mm"><col style="width:14mm"><col style="width:23mm"><col style="width:25mm"><col style="width:12mm"><col style="width:20mm"></colgroup>
<tr><th>项目名称<span class="en">Item</span></th><th>规格型号<span class="en">SKU</span></th><th>数量<span class="en">Qty</span></th><th>单价<span class="en">Unit price</span></th><th>金额<span class="en">Amount</span></th><th>税率<span class="en">Rate</span></th><th>税额<span class="en">Tax</span></th></tr>"#,
    );
    for l in &doc.lines {
        let _ = write!(
            h,
            r#"<tr><td><div class="name">{}</div></td><td class="sku">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="c">{}</td><td class="num">{}</td></tr>"#,
            esc(&l.name),
            esc(&l.sku),
            l.quantity,
            money(l.unit_price_net),
            money(l.amount_net),
            rate(l.tax_rate_bp),
            money(l.tax)
        );
    }
    let filler = (40.0 - 6.0 * doc.lines.len() as f32).max(0.0);
    let _ = write!(
        h,
        r#"<tr class="filler"><td style="height:{filler}mm"></td><td></td><td></td><td></td><td></td><td></td><td></td></tr>
<tr class="total"><td class="c brown">合&nbsp;&nbsp;计<span class="en">Total</span></td><td></td><td></td><td></td><td class="num">¥{}</td><td></td><td class="num">¥{}</td></tr></table>
<div class="summary"><div class="lbl">分税率合计<span class="en">Subtotal by tax rate</span></div><div class="h">税率 Rate</div><div class="h">金额 Amount</div><div class="h">税额 Tax</div>"#,
        money(doc.total_net),
        money(doc.total_tax)
    );
    for r in &doc.tax_summary {
        let _ = write!(
            h,
            r#"<div style="text-align:center">{}</div><div class="num">{}</div><div class="num">{}</div>"#,
            rate(r.tax_rate_bp),
            money(r.net),
            money(r.tax)
        );
    }
    let _ = write!(
        h,
        r#"</div><div class="words"><div class="lbl">价税合计（大写）<span class="en">Total incl. tax (in words)</span></div><div class="w">{}</div><div class="fig"><small>（小写）</small>¥{}</div></div>
<div class="remarks"><div class="side">备注 REMARKS</div><div class="lines"><div>订单号 Order ref: {}</div>"#,
        esc(&doc.total_in_words),
        money(doc.total),
        esc(&doc.order_ref)
    );
    if let Some(orig) = &doc.original_number {
        let _ = write!(h, "<div>对应蓝字发票 Original invoice: {}</div>", esc(orig));
    }
    if let Some(r) = &doc.remarks {
        let _ = write!(h, "<div>{}</div>", esc(r));
    }
    let _ = write!(
        h,
        r#"</div></div></div><footer><span><span class="brown">开票人<span class="en">Issuer</span></span> 系统自动开具 Issued by Cairn</span><span>销售方 Seller: {}</span></footer>{}</div></body></html>"#,
        esc(&doc.seller.name),
        if doc.void { r#"<div class="void">作废 VOID</div>"# } else { "" }
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_carries_the_same_content_escaped() {
        let mut doc = crate::samples::invoice();
        doc.buyer.title = "A&B <Trading>".into();
        let html = render_html(&doc);
        assert!(html.contains("A&amp;B &lt;Trading&gt;"));
        assert!(html.contains("杭州云栈服饰有限公司"));
        assert!(html.contains("肆佰柒拾叁元柒角伍分"));
        assert!(html.contains("¥473.75"));
        assert!(html.contains("<svg"));
        assert!(!html.contains("作废"));
    }

    #[test]
    fn void_credit_note_has_stamp_and_original_number() {
        let html = render_html(&crate::samples::voided_credit_note());
        assert!(html.contains("作废 VOID"));
        assert!(html.contains("对应蓝字发票 Original invoice: INV2026-00000001"));
        assert!(html.contains("-223.74"));
    }
}
