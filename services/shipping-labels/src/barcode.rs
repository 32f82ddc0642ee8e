//! The waybill code as Code 128. Encoding (symbol table, checksum) is `barcoders`'; only the
//! choice of code set is ours, because `barcoders` wants it spelled out in the data.

use barcoders::sym::code128::Code128;

/// Code set switches as `barcoders` spells them.
const SET_B: char = 'Ɓ';
const SET_C: char = 'Ć';

/// The modules of `data` as Code 128, 1 = bar, 0 = space, from the start symbol through the
/// stop pattern (quiet zones not included): what the label prints, for previews elsewhere.
/// `None` when `data` has a character Code 128 set B cannot carry (only ASCII 32–126 can).
pub fn code128_modules(data: &str) -> Option<Vec<u8>> {
    let spelled = spell(data)?;
    Code128::new(spelled).ok().map(|code| code.encode())
}

/// `data` with `barcoders`' set markers: set C (two digits per symbol) for runs of digits long
/// enough to pay for the switch, set B for the rest. Waybill codes are mostly digits
/// (`ZT7300012345678`, `SF1234567890123`), so this makes the symbol ~40% narrower than set B
/// alone, and a narrower symbol can use wider bars in the same space.
fn spell(data: &str) -> Option<String> {
    let bytes = data.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(|b| (32..=126).contains(b)) {
        return None;
    }
    let n = bytes.len();
    let mut out = String::with_capacity(n + 8);
    let mut set = None;
    let mut i = 0;
    while i < n {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        // A switch costs a symbol each way; the ends need only one.
        let at_edge = i == 0 || i + run == n;
        let worth = if run == n {
            run >= 2
        } else if at_edge {
            run >= 4
        } else {
            run >= 6
        };
        if worth {
            // An odd digit goes first, in set B, so set C gets whole pairs.
            let (odd, pairs) = (run % 2, run - run % 2);
            if odd == 1 {
                switch(&mut out, &mut set, SET_B);
                out.push(char::from(bytes[i]));
            }
            switch(&mut out, &mut set, SET_C);
            out.push_str(&data[i + odd..i + odd + pairs]);
            i += run;
        } else {
            let end = if run > 0 { i + run } else { i + 1 };
            switch(&mut out, &mut set, SET_B);
            out.push_str(&data[i..end]);
            i = end;
        }
    }
    Some(out)
}

fn switch(out: &mut String, set: &mut Option<char>, to: char) {
    if *set != Some(to) {
        out.push(to);
        *set = Some(to);
    }
}

/// Runs of bars in `modules`: (first module, width in modules).
pub(crate) fn bars(modules: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let start = i + modules[i..].iter().position(|&m| m == 1)?;
        let len = modules[start..].iter().take_while(|&&m| m == 1).count();
        i = start + len;
        Some((start, len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_use_set_c() {
        assert_eq!(spell("ZT7300012345678").as_deref(), Some("ƁZT7Ć300012345678"));
        assert_eq!(spell("SF1234567890123").as_deref(), Some("ƁSF1Ć234567890123"));
        assert_eq!(spell("7300012345678").as_deref(), Some("Ɓ7Ć300012345678"));
        assert_eq!(spell("730001234567").as_deref(), Some("Ć730001234567"));
        assert_eq!(spell("JDVA00012345678-1-2-").as_deref(), Some("ƁJDVA0Ć0012345678Ɓ-1-2-"));
        assert_eq!(spell("AB12CD").as_deref(), Some("ƁAB12CD"));
        assert_eq!(spell("AB1234").as_deref(), Some("ƁABĆ1234"));
        assert_eq!(spell("A123456B").as_deref(), Some("ƁAĆ123456ƁB"));
        assert_eq!(spell("A12345B").as_deref(), Some("ƁA12345B"));
        assert_eq!(spell("1").as_deref(), Some("Ɓ1"));
        assert_eq!(spell("YT 1"), Some("ƁYT 1".into()));
        assert_eq!(spell(""), None);
        assert_eq!(spell("中通"), None);
        assert_eq!(spell("ZT\n1"), None);
    }

    #[test]
    fn every_printable_code_encodes() {
        for code in ["ZT7300012345678", "SF1234567890123", "JDVA00012345678-1-2-", "1", "a~ |{}", "73000123456780"] {
            let m = code128_modules(code).unwrap_or_else(|| panic!("{code}"));
            // Start + symbols + checksum of 11 modules, stop of 13; starts and ends with a bar.
            assert_eq!((m.len() - 13) % 11, 0, "{code}");
            assert_eq!((m[0], m[m.len() - 1]), (1, 1));
        }
        // Set C halves the digits: 15 characters in 9 symbols.
        assert_eq!(code128_modules("ZT7300012345678").unwrap().len(), 11 * (1 + 4 + 6 + 1) + 13);
    }

    #[test]
    fn bars_are_the_runs_of_ones() {
        let runs: Vec<_> = bars(&[1, 1, 0, 1, 0, 0, 1, 1, 1]).collect();
        assert_eq!(runs, [(0, 2), (3, 1), (6, 3)]);
        assert_eq!(bars(&[0, 0]).count(), 0);
    }
}
