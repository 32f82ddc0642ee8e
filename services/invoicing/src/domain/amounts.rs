//! Invoice amounts: the order discount spread over lines, tax per line, totals.
//!
//! Everything is integer fen or [`Decimal`]; never a float. Tax is rounded **half-up** (四舍五入)
//! to the fen, per line: that is how China's tax platform computes a fapiao's tax, so Cairn's
//! figures match the ones the buyer's accountant checks against. Banker's rounding would
//! disagree with the platform by one fen on about half of the amounts that end in exactly ½ fen.

use rust_decimal::{Decimal, RoundingStrategy};

/// A VAT rate in basis points: 1300 = 13%.
pub type RateBp = u32;

/// The rates China's VAT knows (0, 1, 1.5, 3, 5, 6, 9, 13 %).
pub const VAT_RATES: [RateBp; 8] = [0, 100, 150, 300, 500, 600, 900, 1300];

/// One goods line of the order, as sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLine {
    pub line_ref: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
    /// Unit price in fen as the marketplace listed it (tax-inclusive when prices include tax).
    pub unit_price: i64,
    pub rate_bp: RateBp,
}

/// One line of an invoice, with its share of the discount and its tax.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceLine {
    /// The order line it comes from; `shipping` for the post fee.
    pub line_ref: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
    /// price × quantity, before the discount (fen).
    pub gross: i64,
    /// This line's share of the order discount (fen, ≥ 0).
    pub discount: i64,
    /// Excluding tax, after the discount (fen).
    pub net: i64,
    pub rate_bp: RateBp,
    pub tax: i64,
}

impl InvoiceLine {
    /// What the buyer pays for the line: net + tax.
    pub fn total(&self) -> i64 {
        self.net + self.tax
    }

    /// The same line with every amount negated (for a credit note).
    pub fn negated(&self) -> InvoiceLine {
        InvoiceLine {
            quantity: -self.quantity,
            gross: -self.gross,
            discount: -self.discount,
            net: -self.net,
            tax: -self.tax,
            ..self.clone()
        }
    }
}

/// Totals of a set of lines, with one row per tax rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    pub net: i64,
    pub tax: i64,
    /// (rate, net, tax), ascending by rate.
    pub by_rate: Vec<(RateBp, i64, i64)>,
}

impl Totals {
    /// Sums `lines`.
    pub fn of(lines: &[InvoiceLine]) -> Totals {
        let mut by_rate: Vec<(RateBp, i64, i64)> = Vec::new();
        for l in lines {
            match by_rate.iter_mut().find(|r| r.0 == l.rate_bp) {
                Some(r) => {
                    r.1 += l.net;
                    r.2 += l.tax;
                }
                None => by_rate.push((l.rate_bp, l.net, l.tax)),
            }
        }
        by_rate.sort_by_key(|r| r.0);
        Totals { net: lines.iter().map(|l| l.net).sum(), tax: lines.iter().map(|l| l.tax).sum(), by_rate }
    }

    /// net + tax.
    pub fn total(&self) -> i64 {
        self.net + self.tax
    }
}

/// Why an order cannot be invoiced as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the order has no lines")]
    NoLines,
    #[error("line {0} has a non-positive quantity or a negative price")]
    BadLine(String),
    #[error("the discount {discount} fen is negative or larger than the goods total {goods} fen")]
    BadDiscount { discount: i64, goods: i64 },
    #[error("the post fee is negative")]
    BadPostFee,
    #[error("amounts overflow")]
    Overflow,
}

/// Spreads `discount` over lines in proportion to `weights`, in whole fen, so that the shares
/// add up to exactly `discount`: each line gets the floor of its exact share, and the fen left
/// over go to the lines with the largest remainders (ties: the earlier line).
pub fn spread(discount: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| *w as i128).sum();
    if discount == 0 || sum == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = discount as i128 * *w as i128;
        shares.push((exact / sum) as i64);
        rems.push((exact % sum, i));
    }
    let mut left = discount - shares.iter().sum::<i64>();
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

fn rate(bp: RateBp) -> Decimal {
    Decimal::new(bp as i64, 4)
}

fn fen(d: Decimal) -> Result<i64, AmountError> {
    let r = d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(r).map_err(|_| AmountError::Overflow)
}

/// Splits a line amount into (net, tax). Tax-inclusive: net = amount ÷ (1 + rate) rounded
/// half-up and tax = amount − net, so net + tax is exactly what the buyer paid. Exclusive:
/// net = amount and tax = amount × rate rounded half-up.
pub fn split_tax(amount: i64, rate_bp: RateBp, prices_include_tax: bool) -> Result<(i64, i64), AmountError> {
    let a = Decimal::from(amount);
    if prices_include_tax {
        let net = fen(a / (Decimal::ONE + rate(rate_bp)))?;
        Ok((net, amount - net))
    } else {
        Ok((amount, fen(a * rate(rate_bp))?))
    }
}

/// The lines of an invoice for an order: goods lines with the order discount spread over them
/// by value, then the post fee (if any) as a shipping line taxed at `shipping_rate` (shipping
/// sold with goods is taxed as part of the sale).
///
/// With tax-inclusive prices the invoice total equals Σ price × qty − discount + post fee, to
/// the fen: what the buyer paid.
pub fn invoice_lines(
    lines: &[SaleLine],
    discount: i64,
    post_fee: i64,
    shipping_rate: RateBp,
    prices_include_tax: bool,
) -> Result<Vec<InvoiceLine>, AmountError> {
    if lines.is_empty() {
        return Err(AmountError::NoLines);
    }
    let mut gross = Vec::with_capacity(lines.len());
    for l in lines {
        if l.quantity <= 0 || l.unit_price < 0 {
            return Err(AmountError::BadLine(l.line_ref.clone()));
        }
        gross.push(l.unit_price.checked_mul(l.quantity).ok_or(AmountError::Overflow)?);
    }
    let goods = gross.iter().try_fold(0i64, |a, g| a.checked_add(*g)).ok_or(AmountError::Overflow)?;
    if discount < 0 || discount > goods {
        return Err(AmountError::BadDiscount { discount, goods });
    }
    if post_fee < 0 {
        return Err(AmountError::BadPostFee);
    }
    let shares = spread(discount, &gross);
    let mut out = Vec::with_capacity(lines.len() + 1);
    for ((l, g), d) in lines.iter().zip(gross).zip(shares) {
        let (net, tax) = split_tax(g - d, l.rate_bp, prices_include_tax)?;
        out.push(InvoiceLine {
            line_ref: l.line_ref.clone(),
            sku_code: l.sku_code.clone(),
            title: l.title.clone(),
            quantity: l.quantity,
            gross: g,
            discount: d,
            net,
            rate_bp: l.rate_bp,
            tax,
        });
    }
    if post_fee > 0 {
        let (net, tax) = split_tax(post_fee, shipping_rate, prices_include_tax)?;
        out.push(InvoiceLine {
            line_ref: SHIPPING.into(),
            sku_code: String::new(),
            title: "运费 Shipping".into(),
            quantity: 1,
            gross: post_fee,
            discount: 0,
            net,
            rate_bp: shipping_rate,
            tax,
        });
    }
    Ok(out)
}

/// The `line_ref` of the shipping line.
pub const SHIPPING: &str = "shipping";

/// Formats a rate for people: 1300 → `13%`, 150 → `1.5%`.
pub fn rate_label(bp: RateBp) -> String {
    let d = Decimal::new(bp as i64, 2).normalize();
    format!("{d}%")
}

/// Parses `13%`, `13`, `1.5%` into basis points; only China's VAT rates are accepted.
pub fn parse_rate(s: &str) -> Option<RateBp> {
    let t = s.trim().trim_end_matches('%').trim();
    let d: Decimal = t.parse().ok()?;
    let bp = (d * Decimal::from(100)).normalize();
    if bp.fract() != Decimal::ZERO {
        return None;
    }
    let bp = u32::try_from(bp).ok()?;
    VAT_RATES.contains(&bp).then_some(bp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(r: &str, price: i64, qty: i64, rate_bp: RateBp) -> SaleLine {
        SaleLine { line_ref: r.into(), sku_code: r.into(), title: r.into(), quantity: qty, unit_price: price, rate_bp }
    }

    #[test]
    fn spread_adds_up_and_follows_the_weights() {
        // 10.00 over three equal lines: 3.34 + 3.33 + 3.33.
        assert_eq!(spread(1000, &[100, 100, 100]), vec![334, 333, 333]);
        // An odd discount over uneven lines: exact shares 0.5, 1.5 and 5.0 fen → remainders decide.
        let s = spread(7, &[100, 300, 1000]);
        assert_eq!(s.iter().sum::<i64>(), 7);
        assert_eq!(s, vec![1, 1, 5]);
        assert_eq!(spread(0, &[5, 5]), vec![0, 0]);
        assert_eq!(spread(1, &[1, 1, 1]), vec![1, 0, 0]);
        // The whole amount: each line's share is its whole value.
        assert_eq!(spread(600, &[100, 200, 300]), vec![100, 200, 300]);
    }

    #[test]
    fn half_up_not_bankers() {
        // 100.00 at 13% exclusive with 0.5 fen: 0.125 × 13% ... pick amounts that land on ½ fen.
        // 50 fen × 9% = 4.5 fen → 5 (banker's would give 4).
        assert_eq!(split_tax(50, 900, false).unwrap(), (50, 5));
        // 150 fen × 3% = 4.5 → 5.
        assert_eq!(split_tax(150, 300, false).unwrap(), (150, 5));
        // Inclusive: 113.00 at 13% is exactly 100.00 + 13.00.
        assert_eq!(split_tax(11300, 1300, true).unwrap(), (10000, 1300));
        // 0.01 inclusive at 13%: net 0.0088… → 0.01, tax 0.00.
        assert_eq!(split_tax(1, 1300, true).unwrap(), (1, 0));
        assert_eq!(split_tax(0, 1300, true).unwrap(), (0, 0));
    }

    #[test]
    fn the_protocol_sample_reconciles() {
        // BAZAAR.md: 2 × 209.00, discount 20.00, paid 398.00.
        let l = invoice_lines(&[line("O1", 20900, 2, 1300)], 2000, 0, 1300, true).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].net + l[0].tax, 39800);
        // 398 / 1.13 = 352.2124 → 352.21; tax 45.79.
        assert_eq!((l[0].net, l[0].tax), (35221, 4579));
    }

    #[test]
    fn odd_discount_over_three_lines_with_mixed_rates_reconciles_to_the_fen() {
        let lines = [line("A", 3333, 3, 1300), line("B", 1999, 1, 900), line("C", 17, 7, 600)];
        let paid = 3333 * 3 + 1999 + 17 * 7 - 1001 + 1234;
        let l = invoice_lines(&lines, 1001, 1234, 1300, true).unwrap();
        let t = Totals::of(&l);
        assert_eq!(t.total(), paid);
        assert_eq!(l.iter().map(|x| x.discount).sum::<i64>(), 1001);
        assert_eq!(t.by_rate.iter().map(|r| r.0).collect::<Vec<_>>(), vec![600, 900, 1300]);
        assert_eq!(t.by_rate.iter().map(|r| r.1 + r.2).sum::<i64>(), paid);
        for x in &l {
            assert_eq!(x.net + x.tax, x.gross - x.discount, "{x:?}");
        }
    }

    #[test]
    fn a_one_fen_order() {
        let l = invoice_lines(&[line("A", 1, 1, 1300)], 0, 0, 1300, true).unwrap();
        assert_eq!(Totals::of(&l).total(), 1);
        // Discounted to one fen across two lines.
        let l = invoice_lines(&[line("A", 50, 1, 1300), line("B", 50, 1, 900)], 99, 0, 1300, true).unwrap();
        assert_eq!(Totals::of(&l).total(), 1);
        assert!(l.iter().all(|x| x.net >= 0 && x.tax >= 0));
    }

    #[test]
    fn exclusive_prices_add_tax_on_top() {
        let l = invoice_lines(&[line("A", 10000, 1, 1300), line("B", 333, 1, 600)], 0, 0, 1300, false).unwrap();
        let t = Totals::of(&l);
        assert_eq!(t.net, 10333);
        // 13.00 + 0.1998 → 0.20.
        assert_eq!(t.tax, 1300 + 20);
    }

    #[test]
    fn bad_orders_are_refused() {
        assert_eq!(invoice_lines(&[], 0, 0, 1300, true), Err(AmountError::NoLines));
        assert!(matches!(
            invoice_lines(&[line("A", 100, 1, 1300)], 101, 0, 1300, true),
            Err(AmountError::BadDiscount { .. })
        ));
        assert!(matches!(invoice_lines(&[line("A", 100, 0, 1300)], 0, 0, 1300, true), Err(AmountError::BadLine(_))));
        assert_eq!(invoice_lines(&[line("A", 100, 1, 1300)], 0, -1, 1300, true), Err(AmountError::BadPostFee));
    }

    #[test]
    fn rates_parse_and_print() {
        assert_eq!(parse_rate("13%"), Some(1300));
        assert_eq!(parse_rate("9"), Some(900));
        assert_eq!(parse_rate("1.5%"), Some(150));
        assert_eq!(parse_rate("0%"), Some(0));
        assert_eq!(parse_rate("12%"), None);
        assert_eq!(parse_rate("abc"), None);
        assert_eq!(parse_rate("13.01"), None);
        assert_eq!(rate_label(1300), "13%");
        assert_eq!(rate_label(150), "1.5%");
        assert_eq!(rate_label(0), "0%");
    }
}
