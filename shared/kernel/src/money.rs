//! Money as integer minor units (fen, cents): never a float.

use serde::{Deserialize, Serialize};

/// An amount in minor units of its currency (1 yuan = 100 fen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(pub i64);

/// Why a decimal string is not an amount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    /// Not of the form `123`, `123.4` or `123.45` (optionally negative).
    #[error("`{0}` is not a decimal amount with at most two decimals")]
    Invalid(String),
}

impl Money {
    /// Parses a marketplace decimal string such as `"398.00"`.
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        let bad = || MoneyError::Invalid(s.to_owned());
        let t = s.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty()
            || frac.len() > 2
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = int.parse().map_err(|_| bad())?;
        let cents: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
            _ => frac.parse().map_err(|_| bad())?,
        };
        let v = whole.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)?;
        Ok(Money(if neg { -v } else { v }))
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_decimal_strings() {
        assert_eq!(Money::parse("398.00"), Ok(Money(39800)));
        assert_eq!(Money::parse("0.5"), Ok(Money(50)));
        assert_eq!(Money::parse("12"), Ok(Money(1200)));
        assert_eq!(Money::parse("-0.01"), Ok(Money(-1)));
        assert_eq!(Money(39800).to_string(), "398.00");
        assert_eq!(Money(-1).to_string(), "-0.01");
        for bad in ["", "1.234", "abc", "1.x", ".5", "1e3", "99999999999999999999"] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
    }
}
