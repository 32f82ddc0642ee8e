//! The two signatures of BAZAAR.md, written independently of Cairn's verifier (the simulator is
//! the other side of the protocol; a shared implementation would hide a shared mistake). Both
//! are pinned to vectors computed with Python's `hmac` module.

use base64::Engine as _;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// `X-Bazaar-Signature`: base64(HMAC-SHA256(webhook secret, `"{timestamp}.{raw body}"`)).
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn api_mac(app_secret: &str, params: &[(&str, &str)], body: &[u8]) -> HmacSha256 {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "sign").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut mac = hmac(app_secret);
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac.update(body);
    mac
}

/// The Open API `sign`: upper-case hex HMAC-SHA256(app_secret, `k1v1k2v2…` over every query
/// parameter except `sign`, keys sorted ascending by byte order, values URL-decoded, then the raw
/// body (empty for a GET)).
pub fn api_sign(app_secret: &str, params: &[(&str, &str)], body: &[u8]) -> String {
    api_mac(app_secret, params, body).finalize().into_bytes().iter().map(|b| format!("{b:02X}")).collect()
}

/// Checks an Open API `sign` in constant time. Only upper-case hex is accepted, as BAZAAR.md says.
pub fn verify_api_sign(app_secret: &str, params: &[(&str, &str)], body: &[u8], sign: &str) -> bool {
    let Some(bytes) = decode_upper_hex(sign) else { return false };
    api_mac(app_secret, params, body).verify_slice(&bytes).is_ok()
}

fn decode_upper_hex(s: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes().chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signature_matches_the_pinned_vector() {
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(b"whsec_test",
        //   b"1700000000."+"{\"tid\":\"T1\",\"buyer_nick\":\"买家\"}".encode(),hashlib.sha256).digest()).decode())'
        let body = r#"{"tid":"T1","buyer_nick":"买家"}"#.as_bytes();
        assert_eq!(
            webhook_signature("whsec_test", 1_700_000_000, body),
            "xcYy/L5pbXfy2u3pabHsRUpgqVfhXTULwo6tZVWHBPI="
        );
    }

    #[test]
    fn api_sign_matches_python() {
        // python3 -c 'import hmac,hashlib;p={"app_key":"ak_test","timestamp":"1700000000",
        //   "sign_method":"hmac-sha256","page_no":"2","modified_start":"2026-11-11 00:00:00"};
        //   print(hmac.new(b"sk_test",("".join(k+v for k,v in sorted(p.items()))).encode(),
        //   hashlib.sha256).hexdigest().upper())'
        let params = [
            ("timestamp", "1700000000"),
            ("app_key", "ak_test"),
            ("sign_method", "hmac-sha256"),
            ("page_no", "2"),
            ("modified_start", "2026-11-11 00:00:00"),
        ];
        assert_eq!(
            api_sign("sk_test", &params, b""),
            "E3A5575EA4A07D753037F7BA6B666E08D3735B301F3BD0C5459D14358DA68F8E"
        );
        // python3 -c 'import hmac,hashlib;p={"app_key":"ak_test","timestamp":"1700000000",
        //   "sign_method":"hmac-sha256"};print(hmac.new(b"sk_test",("".join(k+v for k,v in
        //   sorted(p.items()))+"{\"quantity\":120}").encode(),hashlib.sha256).hexdigest().upper())'
        let params =
            [("app_key", "ak_test"), ("timestamp", "1700000000"), ("sign_method", "hmac-sha256"), ("sign", "ignored")];
        assert_eq!(
            api_sign("sk_test", &params, br#"{"quantity":120}"#),
            "77CA91C3067C87C3C05369D5FB1E5BB0E927F108C9747DA15F5E9CDBCBC9005E"
        );
    }

    #[test]
    fn api_sign_verifies_upper_case_only() {
        let params = [("app_key", "k"), ("timestamp", "1")];
        let sign = api_sign("s", &params, b"x");
        assert!(verify_api_sign("s", &params, b"x", &sign));
        assert!(!verify_api_sign("s", &params, b"x", &sign.to_lowercase()));
        assert!(!verify_api_sign("s", &params, b"y", &sign));
        assert!(!verify_api_sign("t", &params, b"x", &sign));
        assert!(!verify_api_sign("s", &params, b"x", "zz"));
    }
}
