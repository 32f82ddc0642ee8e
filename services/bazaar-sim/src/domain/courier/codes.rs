//! Waybill codes in each carrier's real shape, unique and deterministic: the n-th code a
//! carrier issues is a keyed permutation of n (a small Feistel network with cycle walking over
//! exactly the carrier's number space), so codes look random, never repeat while n stays below
//! the space's size, and the same seed issues the same codes in the same order.

use super::Carrier;
use crate::domain::ids::fnv1a;

/// How many distinct codes a carrier's shape holds.
fn space(carrier: Carrier) -> u64 {
    match carrier {
        Carrier::Sf => 1_000_000_000_000,   // SF + 12 digits
        Carrier::Yto => 10_000_000_000_000, // YT + 13 digits
        Carrier::Zto => 100_000_000_000,    // ZT73 + 11 digits
        Carrier::Sto => 100_000_000_000,    // 77 + 11 digits
        Carrier::Yunda => 100_000_000_000,  // 43 + 11 digits
        Carrier::Jd => 6 * 100_000_000_000, // JDV + A–F + 11 digits
        Carrier::Ems => 26 * 100_000_000,   // E + A–Z + 8 digits + check digit + CN
    }
}

/// SplitMix64's finaliser.
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A bijection of `[0, domain)` keyed by `key`: four Feistel rounds over the smallest
/// even-width bit space holding `domain`, walked until the result falls inside it.
fn permute(x: u64, domain: u64, key: u64) -> u64 {
    debug_assert!(x < domain);
    let mut bits = 64 - (domain - 1).leading_zeros();
    bits += bits % 2;
    let half = bits.max(2) / 2;
    let mask = (1u64 << half) - 1;
    let mut y = x;
    loop {
        let (mut l, mut r) = (y >> half, y & mask);
        for round in 0..4u64 {
            let f = mix(key ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ r) & mask;
            (l, r) = (r, l ^ f);
        }
        y = (l << half) | r;
        if y < domain {
            return y;
        }
    }
}

/// The UPU S10 check digit of an 8-digit serial (weights 8 6 4 2 3 5 9 7).
pub fn s10_check_digit(serial: u64) -> u8 {
    let digits: Vec<u64> = format!("{serial:08}").bytes().map(|b| u64::from(b - b'0')).collect();
    let sum: u64 = digits.iter().zip([8, 6, 4, 2, 3, 5, 9, 7]).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c as u8,
    }
}

/// The `n`-th waybill code `carrier` issues under `salt` (the simulator's seed):
/// `SF` + 12 digits, `ZT73` + 11 digits (ZTO), `YT` + 13 digits, `77` + 11 digits (STO),
/// `43` + 11 digits (YUNDA), `JDV` + a letter + 11 digits, or an EMS S10 number
/// (`E` + letter + 8 digits + check digit + `CN`).
pub fn waybill_code(carrier: Carrier, salt: u64, n: u64) -> String {
    let domain = space(carrier);
    let key = fnv1a(&["waybill", carrier.code(), &salt.to_string()]);
    let x = permute(n % domain, domain, key);
    match carrier {
        Carrier::Sf => format!("SF{x:012}"),
        Carrier::Yto => format!("YT{x:013}"),
        Carrier::Zto => format!("ZT73{x:011}"),
        Carrier::Sto => format!("77{x:011}"),
        Carrier::Yunda => format!("43{x:011}"),
        Carrier::Jd => {
            let letter = char::from(b'A' + (x / 100_000_000_000) as u8);
            format!("JDV{letter}{:011}", x % 100_000_000_000)
        }
        Carrier::Ems => {
            let letter = char::from(b'A' + (x / 100_000_000) as u8);
            let serial = x % 100_000_000;
            format!("E{letter}{serial:08}{}CN", s10_check_digit(serial))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn permutations_are_bijections() {
        for domain in [1u64, 2, 10, 26, 1000, 6000] {
            let image: HashSet<u64> = (0..domain).map(|x| permute(x, domain, 42)).collect();
            assert_eq!(image.len() as u64, domain);
            assert!(image.iter().all(|&y| y < domain));
        }
    }

    #[test]
    fn codes_have_their_carriers_shapes() {
        let shape = |c: Carrier, s: &str| -> bool {
            let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
            match c {
                Carrier::Sf => s.starts_with("SF") && digits(&s[2..], 12),
                Carrier::Yto => s.starts_with("YT") && digits(&s[2..], 13),
                Carrier::Zto => s.starts_with("ZT73") && digits(&s[4..], 11),
                Carrier::Sto => s.starts_with("77") && digits(s, 13),
                Carrier::Yunda => s.starts_with("43") && digits(s, 13),
                Carrier::Jd => s.starts_with("JDV") && (b'A'..=b'F').contains(&s.as_bytes()[3]) && digits(&s[4..], 11),
                Carrier::Ems => {
                    s.len() == 13
                        && s.starts_with('E')
                        && s.as_bytes()[1].is_ascii_uppercase()
                        && digits(&s[2..11], 9)
                        && s.ends_with("CN")
                        && s10_check_digit(s[2..10].parse().unwrap()) == s.as_bytes()[10] - b'0'
                }
            }
        };
        for c in Carrier::ALL {
            let codes: HashSet<String> = (0..2000).map(|n| waybill_code(c, 7, n)).collect();
            assert_eq!(codes.len(), 2000, "{c}: codes are unique");
            assert!(codes.iter().all(|s| shape(c, s)), "{c}: {codes:?}");
            assert_eq!(waybill_code(c, 7, 5), waybill_code(c, 7, 5), "deterministic");
            assert_ne!(waybill_code(c, 7, 5), waybill_code(c, 8, 5), "another seed, other codes");
        }
    }

    #[test]
    fn the_s10_check_digit_matches_published_examples() {
        // UPU S10 examples: RR473124829GB (serial 47312482, check 9), EE123456785CN.
        assert_eq!(s10_check_digit(47_312_482), 9);
        assert_eq!(s10_check_digit(12_345_678), 5);
    }
}
