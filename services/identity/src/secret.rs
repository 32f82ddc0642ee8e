//! Secrets Cairn hands out (client secrets, authorization codes, refresh tokens, invitation
//! tokens): random, shown once, stored only as SHA-256 hashes. Codes, refresh tokens and
//! invitations start with their tenant (`<tenant uuid>.<random>`), so they are found by
//! primary key; the random part alone is 256 bits, so the hash need not be slow.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// 256 random bits, URL-safe base64.
pub fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares in constant time, so the comparison's duration says nothing of the stored hash.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new tenant-bound token: `<tenant>.<random>`.
pub fn tenant_token(tenant: Uuid) -> String {
    format!("{}.{}", tenant.simple(), random())
}

/// The tenant a tenant-bound token names, and the token's hash.
pub fn split_tenant_token(token: &str) -> Option<(Uuid, String)> {
    let (tenant, rest) = token.split_once('.')?;
    if rest.len() < 32 {
        return None;
    }
    Some((Uuid::try_parse(tenant).ok()?, hash(token)))
}

/// PKCE (RFC 7636), `S256` only: whether `verifier` hashes to `challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    valid && same_hash(&URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn tenant_tokens_name_their_tenant() {
        let t = Uuid::now_v7();
        let token = tenant_token(t);
        let (tenant, h) = split_tenant_token(&token).unwrap();
        assert_eq!(tenant, t);
        assert_eq!(h, hash(&token));
        assert!(split_tenant_token("nonsense").is_none());
        assert!(split_tenant_token(&format!("{}.short", t.simple())).is_none());
        assert_ne!(random(), random());
    }
}
