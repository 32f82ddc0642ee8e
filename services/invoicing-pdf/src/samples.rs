//! Realistic documents for the example, the benchmark and tests (here and in other crates).

use crate::{Buyer, DocKind, DocLine, InvoiceDoc, Seller, TaxRow};

/// The seller on every sample: a Hangzhou apparel shop.
pub fn seller() -> Seller {
    Seller {
        name: "杭州云栈服饰有限公司".into(),
        tax_id: "91330106MA2KX7Q35F".into(),
        address: "浙江省杭州市西湖区文三路478号华星时代广场A座1203室".into(),
        phone: "0571-88362190".into(),
        bank: "招商银行杭州文三路支行".into(),
        account: "571908834210602".into(),
    }
}

/// A company buyer with a tax id.
pub fn company_buyer() -> Buyer {
    Buyer {
        title: "上海明澜文化传播有限公司".into(),
        tax_id: Some("91310115MA1H9R2C6X".into()),
        email: Some("finance@minglan.example".into()),
    }
}

fn line(name: &str, sku: &str, quantity: i64, unit_price_net: i64, tax_rate_bp: u32) -> DocLine {
    let amount_net = quantity * unit_price_net;
    // Round half up, as the tax bureau does.
    let tax = (amount_net * i64::from(tax_rate_bp) + 5_000).div_euclid(10_000);
    DocLine { name: name.into(), sku: sku.into(), quantity, unit_price_net, amount_net, tax_rate_bp, tax }
}

fn summary(lines: &[DocLine]) -> Vec<TaxRow> {
    let mut rows: Vec<TaxRow> = Vec::new();
    for l in lines {
        match rows.iter_mut().find(|r| r.tax_rate_bp == l.tax_rate_bp) {
            Some(r) => {
                r.net += l.amount_net;
                r.tax += l.tax;
            }
            None => rows.push(TaxRow { tax_rate_bp: l.tax_rate_bp, net: l.amount_net, tax: l.tax }),
        }
    }
    rows.sort_by_key(|r| r.tax_rate_bp);
    rows
}

fn doc(kind: DocKind, number: &str, lines: Vec<DocLine>, total_in_words: &str) -> InvoiceDoc {
    let tax_summary = summary(&lines);
    let total_net = lines.iter().map(|l| l.amount_net).sum::<i64>();
    let total_tax = lines.iter().map(|l| l.tax).sum::<i64>();
    InvoiceDoc {
        kind,
        number: number.into(),
        issued_on: "2026-03-14".into(),
        seller: seller(),
        buyer: company_buyer(),
        lines,
        tax_summary,
        total_net,
        total_tax,
        total: total_net + total_tax,
        total_in_words: total_in_words.into(),
        order_ref: "BZ20260314-7781236".into(),
        original_number: None,
        verify_url: format!("https://cairn.example/v/{number}?c=7Q3F9K"),
        void: false,
        remarks: None,
    }
}

/// A three-line invoice at 13% and 9%, one line with a long marketplace title; total ¥473.75.
pub fn invoice() -> InvoiceDoc {
    doc(
        DocKind::Invoice,
        "INV2026-00000001",
        vec![
            line("云栈2026春季新款纯棉圆领短袖T恤男女同款宽松百搭打底衫 红色 M", "YZ-TS2026-RED-M", 2, 8_850, 1300),
            line("加绒连帽卫衣 藏青 L", "YZ-HD-NVY-L", 1, 19_800, 1300),
            line("《服装面料与搭配》图书", "BK-9787518012", 1, 4_587, 900),
        ],
        "肆佰柒拾叁元柒角伍分",
    )
}

/// A voided credit note refunding the hoodie of [`invoice`]; total ¥-223.74.
pub fn voided_credit_note() -> InvoiceDoc {
    let mut d = doc(
        DocKind::CreditNote,
        "CRN2026-00000001",
        vec![line("加绒连帽卫衣 藏青 L", "YZ-HD-NVY-L", -1, 19_800, 1300)],
        "负贰佰贰拾叁元柒角肆分",
    );
    d.original_number = Some("INV2026-00000001".into());
    d.remarks = Some("退货退款：尺码偏小，买家已退回商品。Return: size too small, item received back.".into());
    d.void = true;
    d
}

/// An invoice with `n` lines (1..=99) of ¥10.00 + 13% each, to exercise pagination.
pub fn long_invoice(n: usize) -> InvoiceDoc {
    assert!((1..=99).contains(&n), "long_invoice supports 1..=99 lines");
    let lines = (1..=n)
        .map(|i| line(&format!("纯棉袜子 第{i}款 均码 五双装"), &format!("YZ-SOCK-{i:03}"), 1, 1_000, 1300))
        .collect();
    // n × ¥11.30, spelled out.
    let fen = 1_130 * n as i64;
    doc(DocKind::Invoice, "INV2026-00000060", lines, &capital_yuan(fen))
}

/// Chinese capital numerals for amounts below ¥10,000 (enough for the samples).
fn capital_yuan(fen: i64) -> String {
    const DIGITS: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];
    const UNITS: [&str; 4] = ["仟", "佰", "拾", ""];
    let yuan = fen / 100;
    let mut s = String::new();
    let mut zero = false;
    for (i, unit) in UNITS.iter().enumerate() {
        let d = (yuan / 10_i64.pow(3 - i as u32) % 10) as usize;
        if d == 0 {
            zero = !s.is_empty();
        } else {
            if zero {
                s.push_str(DIGITS[0]);
                zero = false;
            }
            s.push_str(DIGITS[d]);
            s.push_str(unit);
        }
    }
    s.push('元');
    let (jiao, fen) = ((fen / 10 % 10) as usize, (fen % 10) as usize);
    match (jiao, fen) {
        (0, 0) => s.push('整'),
        (j, 0) => s.push_str(&format!("{}角整", DIGITS[j])),
        (0, f) => s.push_str(&format!("零{}分", DIGITS[f])),
        (j, f) => s.push_str(&format!("{}角{}分", DIGITS[j], DIGITS[f])),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_add_up() {
        for d in [invoice(), voided_credit_note(), long_invoice(60)] {
            assert_eq!(d.total, d.total_net + d.total_tax);
            assert_eq!(d.tax_summary.iter().map(|r| r.tax).sum::<i64>(), d.total_tax);
        }
        assert_eq!(invoice().total, 47_375);
        assert_eq!(voided_credit_note().total, -22_374);
        assert_eq!(capital_yuan(47_375), "肆佰柒拾叁元柒角伍分");
        assert_eq!(capital_yuan(67_800), "陆佰柒拾捌元整");
        assert_eq!(capital_yuan(100_130), "壹仟零壹元叁角整");
    }
}
