//! Bearer-token authentication and authorization: JWTs (HS256) carrying the tenant, the caller
//! (a seller's user or an ISV's app) and its scopes, and the poem-openapi security scheme that
//! turns a valid token into a [`TenantContext`] for a handler.
//!
//! **Scopes are declared once, on the handler, and enforced from that declaration.** Every
//! operation's `auth` parameter carries `#[oai(scope = "Scope::…")]`, which poem-openapi writes
//! into the operation's security requirement in the spec. At startup the server reads its own
//! spec into a [`ScopeTable`]; a middleware looks the request up in it and the security
//! scheme's checker refuses a token that lacks one of the operation's scopes with 403
//! `insufficient_scope`, before the body is read. An operation that declares no scope is
//! refused to everyone (fail closed), and a test checks that none does. So what the spec says
//! and what the server enforces cannot drift apart.

mod guard;
mod limit;
mod scope;
mod table;

pub use guard::{AuditEntry, AuditSink, Guard};
pub use limit::{Limits, RateState};
pub use scope::{Role, Scope, Scopes};
pub use table::{Required, ScopeTable};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kernel::{SharedClock, TenantId};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use problem::{Code, Problem};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::{future::Future, pin::Pin, sync::Arc};
use uuid::Uuid;

/// Who calls: one of the tenant's users, or an ISV's app acting under a grant the tenant gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    App { app_id: Uuid, grant_id: Uuid },
}

impl std::fmt::Display for Actor {
    /// `user:<id>` or `app:<client_id>`, as histories and the audit log record it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::App { app_id, .. } => write!(f, "app:{app_id}"),
        }
    }
}

/// Who is calling, for which tenant, with what rights. Every repository call is scoped by
/// `tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    pub tenant_id: TenantId,
    pub actor: Actor,
    /// A user's role; `None` for an app.
    pub role: Option<Role>,
    pub scopes: Scopes,
}

impl TenantContext {
    /// A user of the tenant with the scopes of `role`.
    pub fn user(tenant_id: TenantId, user_id: Uuid, role: Role) -> TenantContext {
        TenantContext { tenant_id, actor: Actor::User(user_id), role: Some(role), scopes: role.scopes() }
    }

    /// Fails with 403 `insufficient_scope` unless the caller holds `scope`; for checks inside a
    /// handler beyond the operation's declared scopes.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.scopes.contains(scope) { Ok(()) } else { Err(insufficient(Scopes::from(scope))) }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id, or the app's client id.
    sub: Uuid,
    tenant_id: Uuid,
    /// Space-separated scopes (RFC 9068). Absent in tokens issued before scopes existed: those
    /// get their role's scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// A user's roles (one today).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    /// An app token's grant: revoking it ends the token at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<Uuid>,
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

    /// A new access token for `ctx`.
    pub fn issue(&self, ctx: &TenantContext) -> String {
        let now = self.clock.now().timestamp();
        let (sub, grant) = match ctx.actor {
            Actor::User(id) => (id, None),
            Actor::App { app_id, grant_id } => (app_id, Some(grant_id)),
        };
        let claims = Claims {
            sub,
            tenant_id: ctx.tenant_id.0,
            scope: Some(ctx.scopes.to_string()),
            roles: ctx.role.map(|r| vec![r.as_str().to_owned()]).unwrap_or_default(),
            grant,
            iat: now,
            exp: now + self.ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.inner.0).expect("HS256 signing cannot fail")
    }

    /// The context of a valid, unexpired token (whose grant, for an app, may since have been
    /// revoked: see [`GrantCheck`]).
    pub fn verify(&self, token: &str) -> Option<TenantContext> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        let c = jsonwebtoken::decode::<Claims>(token, &self.inner.1, &v).ok()?.claims;
        if c.exp + LEEWAY_SECONDS < self.clock.now().timestamp() {
            return None;
        }
        let tenant_id = TenantId(c.tenant_id);
        match c.grant {
            Some(grant_id) => Some(TenantContext {
                tenant_id,
                actor: Actor::App { app_id: c.sub, grant_id },
                role: None,
                scopes: Scopes::parse(c.scope.as_deref()?).ok()?,
            }),
            None => {
                let role = Role::parse(c.roles.first()?)?;
                let scopes = match c.scope.as_deref() {
                    Some(s) => Scopes::parse(s).ok()?,
                    None => role.scopes(),
                };
                // A user never holds more than the role gives, whatever the token says.
                Some(TenantContext {
                    tenant_id,
                    actor: Actor::User(c.sub),
                    role: Some(role),
                    scopes: scopes & role.scopes(),
                })
            }
        }
    }
}

/// An app grant in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveGrant {
    /// The app's own rate limit, if it registered one.
    pub rate_limit_per_minute: Option<u32>,
}

/// Whether an app's grant is still in force. Asked on every request an app token makes, so a
/// revoked grant's tokens stop working at once, not at their expiry.
pub trait GrantCheck: Send + Sync {
    /// `None` when the grant is revoked (or never existed).
    fn active(
        &self,
        tenant: TenantId,
        grant: Uuid,
        app: Uuid,
    ) -> Pin<Box<dyn Future<Output = Result<Option<ActiveGrant>, anyhow::Error>> + Send + '_>>;
}

/// What the checker needs, put in the request data by the server: the token keys, where
/// grants are looked up, and the rate limits.
#[derive(Clone)]
pub struct Authenticator {
    pub keys: JwtKeys,
    pub grants: Arc<dyn GrantCheck>,
    pub limits: Arc<Limits>,
}

/// What the checker learnt of the caller, for the [`Guard`] around the operation (the audit
/// log, the rate-limit headers): the token's context once it verified (even if the call is
/// then refused for its scope or rate), and the rate-limit state.
#[derive(Clone, Default)]
pub struct AuthSlot(Arc<std::sync::Mutex<(Option<TenantContext>, Option<RateState>)>>);

impl AuthSlot {
    /// The caller whose token verified, and its rate-limit state.
    pub fn get(&self) -> (Option<TenantContext>, Option<RateState>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_ctx(&self, ctx: &TenantContext) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(ctx.clone());
    }

    fn set_rate(&self, r: RateState) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(r);
    }
}

/// OAuth 2.0 bearer tokens: a seller's login token (`POST /v1/auth/token`), or an app's token
/// from the authorization-code flow with PKCE (the consent page is the dashboard's
/// `/oauth/authorize`) or the client-credentials grant, both at `POST /v1/oauth/token`. Each
/// operation lists the scopes it needs; a token without one of them gets 403
/// `insufficient_scope`.
#[derive(SecurityScheme)]
#[oai(
    ty = "oauth2",
    flows(
        authorization_code(authorization_url = "/oauth/authorize", token_url = "/v1/oauth/token", scopes = "Scope"),
        client_credentials(token_url = "/v1/oauth/token", scopes = "Scope")
    ),
    checker = "check_bearer"
)]
pub struct BearerAuth(pub TenantContext);

fn unauthorized(detail: &str) -> poem::Error {
    let mut resp = problem::response(&Problem::new(Code::Unauthorized, detail));
    resp.headers_mut().insert(poem::http::header::WWW_AUTHENTICATE, poem::http::HeaderValue::from_static("Bearer"));
    poem::Error::from_response(resp)
}

fn insufficient(missing: Scopes) -> Problem {
    Problem::new(
        Code::InsufficientScope,
        format!("This call needs the scope `{missing}`, which the token does not carry."),
    )
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<TenantContext> {
    let auth = req.data::<Authenticator>().ok_or_else(|| {
        poem::Error::from_string("authentication is not configured", poem::http::StatusCode::INTERNAL_SERVER_ERROR)
    })?;
    let ctx = auth.keys.verify(&bearer.token).ok_or_else(|| unauthorized("The bearer token is invalid or expired."))?;
    let slot = req.data::<AuthSlot>();
    if let Some(slot) = slot {
        slot.set_ctx(&ctx);
    }
    let mut app_limit = None;
    if let Actor::App { grant_id, app_id } = ctx.actor {
        let active = auth.grants.active(ctx.tenant_id, grant_id, app_id).await.map_err(|e| {
            poem::Error::from_response(problem::response(&Problem::internal(e.context("checking an app's grant"))))
        })?;
        let Some(grant) = active else {
            return Err(unauthorized("The tenant revoked this app's access; its tokens no longer work."));
        };
        app_limit = grant.rate_limit_per_minute;
    }
    let rate = auth.limits.spend(&ctx, app_limit);
    if let Some(slot) = slot {
        slot.set_rate(rate);
    }
    if let Some(wait) = rate.retry_after {
        let mut resp = problem::response(&Problem::new(
            Code::RateLimited,
            format!("Over {} requests a minute; retry in {wait} s.", rate.limit),
        ));
        rate.apply(resp.headers_mut());
        return Err(poem::Error::from_response(resp));
    }
    let need = req.data::<Required>().map(|r| r.0).unwrap_or_default();
    let missing = need - ctx.scopes;
    if !missing.is_empty() || need.is_empty() {
        let p = if need.is_empty() {
            Problem::new(Code::Forbidden, "This operation declares no scope, so nobody may call it.")
        } else {
            insufficient(missing)
        };
        let mut resp = problem::response(&p);
        if let Ok(v) = format!("Bearer error=\"insufficient_scope\", scope=\"{need}\"").parse() {
            resp.headers_mut().insert(poem::http::header::WWW_AUTHENTICATE, v);
        }
        return Err(poem::Error::from_response(resp));
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ttl: i64) -> JwtKeys {
        JwtKeys::new(&SecretString::from("a-test-secret-of-at-least-32-bytes!!"), ttl, kernel::SystemClock::shared())
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = keys(3600);
        let ctx = TenantContext::user(TenantId(Uuid::now_v7()), Uuid::now_v7(), Role::Owner);
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
        let nobody = TenantContext::user(TenantId(Uuid::nil()), Uuid::nil(), Role::Staff);
        assert_eq!(keys.verify(&super::tests::keys(-60).issue(&nobody)), None);
    }

    #[test]
    fn app_tokens_carry_their_grant_and_scopes() {
        let keys = keys(600);
        let ctx = TenantContext {
            tenant_id: TenantId(Uuid::now_v7()),
            actor: Actor::App { app_id: Uuid::now_v7(), grant_id: Uuid::now_v7() },
            role: None,
            scopes: Scopes::from(Scope::OrdersRead) | Scope::StockRead,
        };
        assert_eq!(keys.verify(&keys.issue(&ctx)), Some(ctx));
    }

    #[test]
    fn a_user_token_never_holds_more_than_its_role() {
        let keys = keys(600);
        let mut ctx = TenantContext::user(TenantId(Uuid::now_v7()), Uuid::now_v7(), Role::Staff);
        ctx.scopes = Scopes::ALL_SCOPES;
        let back = keys.verify(&keys.issue(&ctx)).unwrap();
        assert_eq!(back.scopes, Role::Staff.scopes());
        assert!(!back.scopes.contains(Scope::GrantsWrite));
    }

    #[test]
    fn a_token_expires_by_the_keys_clock() {
        let clock = kernel::ManualClock::offset();
        let keys = JwtKeys::new(&SecretString::from("a-test-secret-of-at-least-32-bytes!!"), 600, clock.clone());
        let ctx = TenantContext::user(TenantId(Uuid::now_v7()), Uuid::now_v7(), Role::Owner);
        let token = keys.issue(&ctx);
        clock.advance(chrono::Duration::seconds(600));
        assert_eq!(keys.verify(&token), Some(ctx), "within the leeway");
        clock.advance(chrono::Duration::seconds(LEEWAY_SECONDS + 1));
        assert_eq!(keys.verify(&token), None, "expired");
    }
}
