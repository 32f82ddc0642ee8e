//! Phone masking: a label is read by everyone who handles the parcel, so it never carries a
//! full number (the courier calls through the carrier's app, which has it).

/// The phone as printed on a label: `13800000000` → `138****0000`.
///
/// - Mobile numbers (11 digits from `1`, after an optional `+86`/`0086`): the first three and
///   last four digits stay, an extension after them (virtual numbers, `转1234`) too.
/// - Landlines (from `0`): the area code (3 digits for `010`/`02x`, else 4, or the first group
///   when written with separators) and the last four digits of the subscriber number stay, an
///   extension too: `0571-88886666` → `0571-****6666`.
/// - Anything else: the last four digits stay when there are at least seven, the last two when
///   five or six, none below that (`95311` → `***11`, `110` → `***`).
///
/// Separators and other characters are kept as written; full-width digits are printed as ASCII.
pub fn mask_phone(phone: &str) -> String {
    let phone = phone.trim();
    let digit = |c: char| match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    };
    // Digit runs, as (start, len) in the sequence of digits: separators tell a landline's
    // area code and extension apart.
    let mut digits = Vec::with_capacity(phone.len());
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut in_group = false;
    for c in phone.chars() {
        match digit(c) {
            Some(d) => {
                if in_group {
                    groups.last_mut().expect("in a group").1 += 1;
                } else {
                    groups.push((digits.len(), 1));
                }
                in_group = true;
                digits.push(d as u8);
            }
            None => in_group = false,
        }
    }
    let keep = visible_digits(&digits, &groups);
    let mut out = String::with_capacity(phone.len() + 4);
    let mut i = 0;
    for c in phone.chars() {
        match digit(c) {
            Some(d) => {
                out.push(if keep[i] { d } else { '*' });
                i += 1;
            }
            None => out.push(c),
        }
    }
    out
}

/// Which of `d` (ASCII digits, grouped by `groups`) stay readable.
fn visible_digits(d: &[u8], groups: &[(usize, usize)]) -> Vec<bool> {
    let n = d.len();
    let mut keep = vec![false; n];
    let mut show = |range: std::ops::Range<usize>| keep[range].iter_mut().for_each(|k| *k = true);

    let cc = if d.starts_with(b"0086") && n >= 15 && d[4] == b'1' {
        4
    } else if d.starts_with(b"86") && n >= 13 && d[2] == b'1' {
        2
    } else {
        0
    };
    let national = &d[cc..];
    let m = national.len();

    if m >= 11 && national[0] == b'1' {
        show(0..cc + 3);
        show(cc + 7..n);
    } else if m >= 10 && national[0] == b'0' {
        // Written with separators: `0571-88886666-801`, `(010) 12345678`.
        let area = match groups {
            [(0, a), (_, s), ..] if (3..=4).contains(a) && (7..=8).contains(s) => *a,
            _ if matches!(national[1], b'1' | b'2') => 3,
            _ => 4,
        };
        let subscriber = (m - area).min(8);
        show(0..area);
        let tail = if subscriber >= 7 { 4 } else { subscriber / 3 };
        show(area + subscriber - tail..n);
    } else {
        let tail = match n {
            7.. => 4,
            5..=6 => 2,
            _ => 0,
        };
        show(n - tail..n);
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_keep_the_first_three_and_last_four_digits() {
        for (given, printed) in [
            ("13800000000", "138****0000"),
            ("18612345678", "186****5678"),
            (" 138 1234 5678 ", "138 **** 5678"),
            ("138-1234-5678", "138-****-5678"),
            ("+86 13812345678", "+86 138****5678"),
            ("+86-138-1234-5678", "+86-138-****-5678"),
            ("008613812345678", "0086138****5678"),
            ("8613812345678", "86138****5678"),
            ("１３８１２３４５６７８", "138****5678"),
            // Virtual numbers with an extension: the courier needs the extension.
            ("18112345678-1234", "181****5678-1234"),
            ("18112345678转1234", "181****5678转1234"),
        ] {
            assert_eq!(mask_phone(given), printed, "{given:?}");
        }
    }

    #[test]
    fn landlines_keep_the_area_code_and_last_four_digits() {
        for (given, printed) in [
            ("0571-88886666", "0571-****6666"),
            ("057188886666", "0571****6666"),
            ("010-12345678", "010-****5678"),
            ("01012345678", "010****5678"),
            ("(021) 62345678", "(021) ****5678"),
            ("0571-8888666", "0571-***8666"),
            ("0571-88886666-801", "0571-****6666-801"),
            ("0755 2345 6789", "0755 **** 6789"),
        ] {
            assert_eq!(mask_phone(given), printed, "{given:?}");
        }
    }

    #[test]
    fn other_numbers_are_masked_by_length() {
        for (given, printed) in [
            ("88886666", "****6666"),
            ("8888666", "***8666"),
            ("400-820-8820", "***-***-8820"),
            ("95311", "***11"),
            ("123456", "****56"),
            ("1234", "****"),
            ("110", "***"),
            ("", ""),
            ("无", "无"),
            ("   ", ""),
        ] {
            assert_eq!(mask_phone(given), printed, "{given:?}");
        }
    }

    #[test]
    fn no_mask_shows_more_than_seven_digits_of_a_long_number() {
        for given in ["13800000000", "0571-88886666", "02162345678", "4008208820", "+8613800000000", "123456789012"] {
            let printed = mask_phone(given);
            let shown = printed.chars().filter(char::is_ascii_digit).count();
            let masked = printed.chars().filter(|&c| c == '*').count();
            assert!(masked >= 4, "{given} → {printed}");
            assert!(shown <= 9, "{given} → {printed}"); // +86 138 ... 0000
        }
    }
}
