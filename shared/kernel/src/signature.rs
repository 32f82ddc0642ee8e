//! HMAC-SHA256, the one MAC every Cairn-side signature uses (marketplace webhooks and Open API
//! calls, invoice verification tokens). The simulator in `services/bazaar-sim` signs with its
//! own code on purpose: it plays the other party, and a shared bug would pass both sides.

use base64::Engine as _;
use hmac::KeyInit;

pub use hmac::Mac;

/// HMAC-SHA256 (`hmac::Hmac<sha2::Sha256>`).
pub type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The MAC of `parts` concatenated, under `key`: call `finalize`, `verify_slice` or
/// `verify_truncated_left` on it (they compare in constant time).
pub fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac
}

/// Whether `signature_b64` (standard base64, surrounding spaces ignored) is `mac`'s tag,
/// compared in constant time.
pub fn verify_base64(mac: HmacSha256, signature_b64: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else { return false };
    mac.verify_slice(&sig).is_ok()
}

/// Standard base64 of `mac`'s tag.
pub fn base64_tag(mac: HmacSha256) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The Open API `sign` of BAZAAR.md (and COURIER.md, which uses the same scheme): upper-case
/// hex HMAC-SHA256(app_secret, `k1v1k2v2…` over the parameters sorted by key, `sign` itself
/// left out, then the raw body).
pub fn open_api_sign(app_secret: &str, params: &[(String, String)], body: &[u8]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sign").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut m = mac(app_secret.as_bytes(), &[]);
    for (k, v) in sorted {
        m.update(k.as_bytes());
        m.update(v.as_bytes());
    }
    m.update(body);
    m.finalize().into_bytes().iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        let tag = mac(b"Jefe", &[b"what do ya want ", b"for nothing?"]).finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn base64_round_trip_and_tamper() {
        let tag = base64_tag(mac(b"k", &[b"body"]));
        assert!(verify_base64(mac(b"k", &[b"body"]), &format!(" {tag} ")));
        assert!(!verify_base64(mac(b"k", &[b"bodY"]), &tag));
        assert!(!verify_base64(mac(b"k", &[b"body"]), "not base64!"));
    }
}
