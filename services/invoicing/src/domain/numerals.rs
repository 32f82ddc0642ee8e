//! Amounts in Chinese capital numerals (大写金额), as printed on every fapiao and cheque:
//! 398.00 → 叁佰玖拾捌元整, 100.05 → 壹佰元零伍分.
//!
//! Rules (中国人民银行《支付结算办法》附件一): a run of zeros inside the yuan part is read as one
//! 零; zeros at the end of a 4-digit group are silent; 万 and 亿 close their groups; an amount
//! in whole yuan ends in 整; 零 stands between 元 and 分 when there are no 角; an amount below
//! one yuan starts at its first non-zero digit. A negative amount (a credit note) starts with 负.

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const UNITS: [&str; 4] = ["", "拾", "佰", "仟"];
const GROUPS: [&str; 5] = ["", "万", "亿", "万亿", "亿亿"];

/// `fen` (1/100 yuan) in capital numerals.
pub fn capital(fen: i64) -> String {
    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    let a = fen.unsigned_abs();
    let (yuan, jiao, f) = (a / 100, (a / 10) % 10, a % 10);
    if yuan > 0 {
        out.push_str(&integer(yuan));
        out.push('元');
    }
    match (jiao, f) {
        (0, 0) if yuan == 0 => out.push_str("零元整"),
        (0, 0) => out.push('整'),
        (j, 0) => {
            out.push(DIGITS[j as usize]);
            out.push('角');
        }
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(DIGITS[f as usize]);
            out.push('分');
        }
        (j, f) => {
            out.push(DIGITS[j as usize]);
            out.push('角');
            out.push(DIGITS[f as usize]);
            out.push('分');
        }
    }
    out
}

/// A positive integer: groups of four digits, most significant first.
fn integer(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push((rest % 10_000) as u32);
        rest /= 10_000;
    }
    let mut out = String::new();
    // A zero is owed when digits were skipped and a non-zero digit follows.
    let mut zero_pending = false;
    for (gi, g) in groups.iter().enumerate().rev() {
        if *g == 0 {
            zero_pending = !out.is_empty();
            continue;
        }
        if !out.is_empty() && *g < 1000 {
            zero_pending = true;
        }
        let digits = [g / 1000, (g / 100) % 10, (g / 10) % 10, g % 10];
        let mut started = false;
        for (i, d) in digits.iter().enumerate() {
            if *d == 0 {
                if started {
                    zero_pending = true;
                }
                continue;
            }
            if zero_pending && (started || !out.is_empty()) {
                out.push('零');
            }
            zero_pending = false;
            started = true;
            out.push(DIGITS[*d as usize]);
            out.push_str(UNITS[3 - i]);
        }
        out.push_str(GROUPS[gi]);
        zero_pending = false;
        // Trailing zeros of this group are silent, but owe a 零 before the next group's digits
        // only if that group itself starts below the thousands (handled at its start).
    }
    out
}

#[cfg(test)]
mod tests {
    use super::capital;

    #[test]
    fn hand_checked_cases() {
        let cases = [
            (39800, "叁佰玖拾捌元整"),
            (10005, "壹佰元零伍分"),
            (10050, "壹佰元伍角"),
            (10055, "壹佰元伍角伍分"),
            (1, "壹分"),
            (10, "壹角"),
            (11, "壹角壹分"),
            (0, "零元整"),
            (100, "壹元整"),
            (1000, "壹拾元整"),
            (1005, "壹拾元零伍分"),
            (100500, "壹仟零伍元整"),
            (101000, "壹仟零壹拾元整"),
            (110000, "壹仟壹佰元整"),
            (1000000, "壹万元整"),
            (1001000, "壹万零壹拾元整"),
            (10000000, "壹拾万元整"),
            (10100000, "壹拾万壹仟元整"),
            (10010000, "壹拾万零壹佰元整"),
            (100000000, "壹佰万元整"),
            (1000000000, "壹仟万元整"),
            (10000000000, "壹亿元整"),
            (10000010000, "壹亿零壹佰元整"),
            (12345678900, "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元整"),
            (160700, "壹仟陆佰零柒元整"),
            (10700053, "壹拾万柒仟元伍角叁分"),
            (300000000001, "叁拾亿元零壹分"),
            (-10005, "负壹佰元零伍分"),
            (-39800, "负叁佰玖拾捌元整"),
            (123456, "壹仟贰佰叁拾肆元伍角陆分"),
            (100000100, "壹佰万零壹元整"),
        ];
        for (fen, words) in cases {
            assert_eq!(capital(fen), words, "{fen} fen");
        }
    }
}
