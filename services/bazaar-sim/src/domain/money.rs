//! Amounts in fen (1/100 yuan), written as BAZAAR.md's 2-decimal strings; never floats.

use super::SimError;

/// An amount in fen. Plain `i64` rather than a newtype: the simulator only adds, splits and
/// formats amounts, and every one of them enters through [`parse`] and leaves through [`format()`].
pub type Fen = i64;

/// `"209.00"`, `"209.5"` or `"209"` → fen. Rejects signs, more than 2 decimals and garbage.
pub fn parse(s: &str) -> Result<Fen, SimError> {
    let bad = || SimError::InvalidParameter(format!("`{s}` is not an amount like \"209.00\""));
    let s = s.trim();
    let (yuan, frac) = s.split_once('.').unwrap_or((s, ""));
    if yuan.is_empty() || frac.len() > 2 || !yuan.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let yuan: i64 = yuan.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    yuan.checked_mul(100).and_then(|y| y.checked_add(frac)).ok_or_else(bad)
}

/// fen → `"398.00"`.
pub fn format(fen: Fen) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Splits `total` over lines in proportion to `weights` (each line's price × num) so that the
/// shares add up to `total` exactly and no share exceeds its line's weight (largest remainder:
/// every line gets the floor of its exact share, the fen left over go to the largest fractions,
/// ties to the earlier line).
pub fn split_proportionally(total: Fen, weights: &[Fen]) -> Vec<Fen> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(i128, i128)> = weights
        .iter()
        .map(|&w| (i128::from(total) * i128::from(w) / sum, i128::from(total) * i128::from(w) % sum))
        .collect();
    let mut shares: Vec<Fen> = exact.iter().map(|&(q, _)| q as Fen).collect();
    let mut left = total - shares.iter().sum::<Fen>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse("209.00").unwrap(), 20900);
        assert_eq!(parse("209.5").unwrap(), 20950);
        assert_eq!(parse("0.07").unwrap(), 7);
        assert_eq!(parse("12").unwrap(), 1200);
        for bad in ["", "-1.00", "1.234", "1e3", "abc", ".5", "1,00"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format(39800), "398.00");
        assert_eq!(format(7), "0.07");
        assert_eq!(format(0), "0.00");
        assert_eq!(format(-150), "-1.50");
    }

    #[test]
    fn shares_add_up_and_stay_within_lines() {
        let cases: &[(Fen, &[Fen])] = &[
            (2000, &[41800]),
            (1000, &[3333, 3333, 3334]),
            (1, &[100, 100, 100]),
            (999, &[1, 1, 998]),
            (7, &[3, 2, 2]),
        ];
        for &(total, weights) in cases {
            let shares = split_proportionally(total, weights);
            assert_eq!(shares.iter().sum::<Fen>(), total, "{total} over {weights:?}");
            for (s, w) in shares.iter().zip(weights) {
                assert!(*s >= 0 && s <= w, "{shares:?} over {weights:?}");
            }
        }
        assert_eq!(split_proportionally(0, &[5, 5]), vec![0, 0]);
        assert_eq!(split_proportionally(10, &[50, 50]), vec![5, 5]);
    }
}
