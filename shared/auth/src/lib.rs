//! Bearer-token authentication: JWTs (HS256) carrying the tenant, and the poem-openapi security
//! scheme that turns a valid token into a [`TenantContext`] for a handler.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::{SharedClock, TenantId};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

/// Who is calling, and for which tenant. Every repository call is scoped by `tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub user_id: Uuid,
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    tenant_id: Uuid,
    roles: Vec<String>,
    iat: i64,
    exp: i64,
}

/// How long past `exp` a token is still taken (clock skew between instances).
const LEEWAY_SECONDS: i64 = 5;

/// Signs and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<(EncodingKey, DecodingKey)>,
    ttl_seconds: i64,
    /// Issue and expiry times are read from it (not by jsonwebtoken from the system clock), so
    /// tests can move past a token's expiry.
    clock: SharedClock,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a shared secret (at least 32 bytes in production), with tokens that live
    /// `ttl_seconds` by `clock`.
    pub fn new(secret: &SecretString, ttl_seconds: i64, clock: SharedClock) -> JwtKeys {
        let s = secret.expose_secret().as_bytes();
        JwtKeys { inner: Arc::new((EncodingKey::from_secret(s), DecodingKey::from_secret(s))), ttl_seconds, clock }
    }

    /// Token lifetime in seconds.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// A new access token for a user of a tenant.
    pub fn issue(&self, ctx: &TenantContext) -> String {
        let now = self.clock.now().timestamp();
        let claims = Claims {
            sub: ctx.user_id,
            tenant_id: ctx.tenant_id.0,
            roles: ctx.roles.clone(),
            iat: now,
            exp: now + self.ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.0).expect("HS256 signing cannot fail")
    }

    /// The context of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<TenantContext> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.1, &v).ok()?;
        if data.claims.exp + LEEWAY_SECONDS < self.clock.now().timestamp() {
            return None;
        }
        Some(TenantContext {
            tenant_id: TenantId(data.claims.tenant_id),
            user_id: data.claims.sub,
            roles: data.claims.roles,
        })
    }
}

/// `Authorization: Bearer <JWT>`; handlers take it as a parameter, so no route forgets it.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub TenantContext);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<TenantContext> {
    let keys = req.data::<JwtKeys>().ok_or_else(|| {
        poem::Error::from_string("JWT keys are not configured", poem::http::StatusCode::INTERNAL_SERVER_ERROR)
    })?;
    keys.verify(&bearer.token).ok_or_else(|| {
        poem::Error::from_string("The bearer token is invalid or expired.", poem::http::StatusCode::UNAUTHORIZED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = JwtKeys::new(
            &SecretString::from("a-test-secret-of-at-least-32-bytes!!"),
            3600,
            kernel::SystemClock::shared(),
        );
        let ctx =
            TenantContext { tenant_id: TenantId(Uuid::now_v7()), user_id: Uuid::now_v7(), roles: vec!["owner".into()] };
        let token = keys.issue(&ctx);
        assert_eq!(keys.verify(&token), Some(ctx));
        let other = JwtKeys::new(
            &SecretString::from("another-secret-of-at-least-32-bytes"),
            3600,
            kernel::SystemClock::shared(),
        );
        assert_eq!(other.verify(&token), None);
        let mut forged = token.clone();
        forged.pop();
        assert_eq!(keys.verify(&forged), None);
        let expired = JwtKeys::new(
            &SecretString::from("a-test-secret-of-at-least-32-bytes!!"),
            -60,
            kernel::SystemClock::shared(),
        );
        let nobody = TenantContext { tenant_id: TenantId(Uuid::nil()), user_id: Uuid::nil(), roles: vec![] };
        assert_eq!(keys.verify(&expired.issue(&nobody)), None);
    }

    #[test]
    fn a_token_expires_by_the_keys_clock() {
        let clock = kernel::ManualClock::offset();
        let keys = JwtKeys::new(&SecretString::from("a-test-secret-of-at-least-32-bytes!!"), 600, clock.clone());
        let ctx = TenantContext { tenant_id: TenantId(Uuid::now_v7()), user_id: Uuid::now_v7(), roles: vec![] };
        let token = keys.issue(&ctx);
        clock.advance(chrono::Duration::seconds(600));
        assert_eq!(keys.verify(&token), Some(ctx), "within the leeway");
        clock.advance(chrono::Duration::seconds(LEEWAY_SECONDS + 1));
        assert_eq!(keys.verify(&token), None, "expired");
    }
}
