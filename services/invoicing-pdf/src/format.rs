//! How numbers and dates are printed, shared by the PDF and the HTML page.

use std::fmt::Write;

/// Fen as yuan with two decimals and no grouping, as on a fapiao: `-123.45`.
pub(crate) fn money(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A tax rate in basis points as a percentage: `1300` → `13%`, `150` → `1.5%`.
pub(crate) fn rate(bp: u32) -> String {
    let mut s = format!("{}", bp / 100);
    let frac = bp % 100;
    if frac != 0 {
        let _ = write!(s, ".{frac:02}");
        while s.ends_with('0') {
            s.pop();
        }
    }
    s.push('%');
    s
}

/// `2026-03-14` → `2026年03月14日`; anything else is printed as given.
pub(crate) fn date_cn(iso: &str) -> String {
    match parse_date(iso) {
        Some((y, m, d)) => format!("{y:04}年{m:02}月{d:02}日"),
        None => iso.to_owned(),
    }
}

/// `YYYY-MM-DD` → (year, month, day), if it is one.
pub(crate) fn parse_date(iso: &str) -> Option<(i32, u8, u8)> {
    let mut parts = iso.splitn(3, '-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_two_decimals_and_a_plain_minus() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(39_800), "398.00");
        assert_eq!(money(-12_345), "-123.45");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(123_456_789), "1234567.89");
    }

    #[test]
    fn rates_drop_trailing_zeros() {
        assert_eq!(rate(1300), "13%");
        assert_eq!(rate(900), "9%");
        assert_eq!(rate(0), "0%");
        assert_eq!(rate(150), "1.5%");
        assert_eq!(rate(1), "0.01%");
    }

    #[test]
    fn dates_read_the_chinese_way() {
        assert_eq!(date_cn("2026-03-14"), "2026年03月14日");
        assert_eq!(date_cn("soon"), "soon");
    }
}
