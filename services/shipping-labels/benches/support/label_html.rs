//! The 100 × 180 label as HTML + CSS, the way an ERP would lay it out for a headless browser to
//! print: the benchmark's baseline. Same blocks and sizes as the PDF; the barcode is inline SVG
//! of the same modules.

use std::fmt::Write;

use shipping_labels::{Label, Party, code128_modules, mask_phone};

const CSS: &str = r#"
@page { size: 100mm 180mm; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif; color: #000; }
.label { width: 100mm; height: 180mm; padding: 2mm; position: relative; break-after: page; overflow: hidden; }
.part { border: 1pt solid #000; display: grid; }
.main { grid-template-rows: 10mm 16mm 11mm 8mm 22mm 13mm 22mm 11mm; height: 113mm; }
.stub { grid-template-rows: 15mm 12mm 9mm 1fr; height: 60mm; margin-top: 3mm; }
.cut { position: absolute; left: 0; right: 0; top: 116.5mm; border-top: 0.6pt dashed #000; }
.row { border-top: 0.6pt solid #000; display: flex; align-items: center; overflow: hidden; }
.row:first-child { border-top: none; }
.head .carrier { font-size: 14pt; font-weight: bold; padding-left: 2mm; }
.head .code { font-size: 7.5pt; margin-left: 1.5mm; }
.head .time { margin-left: auto; font-size: 6.5pt; text-align: right; padding-right: 1.5mm; }
.head .parcel { width: 22mm; height: 100%; border-left: 0.6pt solid #000; display: flex; align-items: center; justify-content: center; font-size: 15pt; font-weight: bold; }
.big { justify-content: center; font-size: 40pt; font-weight: 900; white-space: nowrap; }
.route { justify-content: center; font-size: 24pt; font-weight: bold; white-space: nowrap; }
.hub .lbl { font-size: 7pt; padding: 0 1.5mm; height: 100%; display: flex; align-items: center; border-right: 0.6pt solid #000; }
.hub .v { flex: 1; text-align: center; font-size: 14pt; font-weight: bold; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.party .tag { width: 9mm; height: 100%; border-right: 0.6pt solid #000; display: flex; align-items: center; justify-content: center; font-size: 18pt; font-weight: 900; }
.party .who { flex: 1; padding: 0 1.5mm 0 1.8mm; overflow: hidden; }
.party .who b { font-size: 11pt; }
.party .addr { font-size: 10pt; font-weight: bold; display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.party.sender .who b { font-size: 8.5pt; font-weight: normal; }
.party.sender .addr { font-size: 8pt; font-weight: normal; -webkit-line-clamp: 2; }
.bars { flex-direction: column; justify-content: center; }
.bars svg { display: block; }
.bars .txt { font-size: 11pt; font-weight: bold; }
.sign { font-size: 7pt; }
.sign .l { width: 36%; height: 100%; border-right: 0.6pt solid #000; padding: 2mm 1.8mm; line-height: 1.6; }
.sign .r { flex: 1; padding: 0 1.5mm; font-size: 6.5pt; line-height: 1.25; }
.stubhead .l { width: 30mm; height: 100%; border-right: 0.6pt solid #000; display: flex; flex-direction: column; align-items: center; justify-content: center; }
.stubhead .l b { font-size: 11pt; }
.stubhead .l span { font-size: 7.5pt; }
.stubhead .r { flex: 1; display: flex; flex-direction: column; align-items: center; }
.stubhead .txt { font-size: 8pt; font-weight: bold; }
.custom { display: block; padding: 0.8mm 1.8mm; font-size: 7.5pt; line-height: 1.3; }
.custom div { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
"#;

/// The labels as one HTML document, one label per printed page.
pub fn labels_html(labels: &[Label]) -> String {
    let mut h = String::with_capacity(8 * 1024 * labels.len());
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>电子面单</title><style>{CSS}</style></head><body>"#
    );
    for l in labels {
        label(&mut h, l);
    }
    h.push_str("</body></html>");
    h
}

fn label(h: &mut String, l: &Label) {
    let parcel = format!("{}/{}", l.parcel_no, l.parcel_count);
    let _ = write!(
        h,
        r#"<section class="label"><div class="part main">
<div class="row head"><span class="carrier">{}</span><span class="code">{}</span><span class="time">打印时间<br>{}</span><span class="parcel">{parcel}</span></div>
<div class="row big">{}</div><div class="row route">{}</div>
<div class="row hub"><span class="lbl">集包地</span><span class="v">{}</span></div>"#,
        esc(&l.cp_name),
        esc(&l.cp_code),
        esc(&l.printed_at),
        esc(&l.sortation_name),
        esc(&l.route_code),
        esc(&l.consolidation_code),
    );
    party(h, "收", &l.recipient, "");
    party(h, "寄", &l.sender, " sender");
    let _ = write!(
        h,
        r#"<div class="row bars">{}<span class="txt">{}</span></div>
<div class="row sign"><div class="l">签收人：<br>时间：</div><div class="r">快件送达收件人地址，经收件人或收件人允许的代收人签字，视为送达。您的签字代表您已验收此包裹，并确认商品信息无误、包装完好。</div></div>
</div><div class="cut"></div><div class="part stub">
<div class="row stubhead"><div class="l"><b>{}</b><span>寄件联</span></div><div class="r">{}<span class="txt">{}</span></div></div>"#,
        bars_svg(&l.waybill_code, 0.5, 13.0),
        esc(&l.waybill_code),
        esc(&l.cp_name),
        bars_svg(&l.waybill_code, 0.25, 8.0),
        esc(&l.waybill_code),
    );
    party(h, "收", &l.recipient, "");
    party(h, "寄", &l.sender, " sender");
    h.push_str(r#"<div class="row custom">"#);
    for item in &l.items {
        let _ = write!(h, "<div>{} ×{}</div>", esc(&item.name), item.count);
    }
    let _ = write!(h, "<div>订单号：{}</div>", esc(&l.trade_ids.join(" ")));
    if let Some(r) = &l.remark {
        let _ = write!(h, "<div>备注：{}</div>", esc(r));
    }
    h.push_str("</div></div></section>");
}

fn party(h: &mut String, tag: &str, p: &Party, class: &str) {
    let _ = write!(
        h,
        r#"<div class="row party{class}"><span class="tag">{tag}</span><div class="who"><b>{} &nbsp; {}</b><div class="addr">{} {} {} {}</div></div></div>"#,
        esc(&p.name),
        esc(&mask_phone(&p.phone)),
        esc(&p.province),
        esc(&p.city),
        esc(&p.district),
        esc(&p.address),
    );
}

/// The code's bars as an SVG path, `module` mm per module.
fn bars_svg(code: &str, module: f32, height: f32) -> String {
    let Some(m) = code128_modules(code) else { return String::new() };
    let mut d = String::with_capacity(m.len() * 6);
    let mut i = 0;
    while i < m.len() {
        if m[i] == 1 {
            let start = i;
            while i < m.len() && m[i] == 1 {
                i += 1;
            }
            let _ = write!(d, "M{start} 0h{}v1h-{}z", i - start, i - start);
        } else {
            i += 1;
        }
    }
    format!(
        r#"<svg width="{w}mm" height="{height}mm" viewBox="0 0 {n} 1" preserveAspectRatio="none"><path d="{d}"/></svg>"#,
        w = module * m.len() as f32,
        n = m.len()
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
