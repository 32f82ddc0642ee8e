//! ISV apps and the grants sellers give them: OAuth 2.0 (RFC 6749) with PKCE (RFC 7636).
//!
//! - An ISV (any Cairn tenant) registers an app: `POST /v1/apps` returns its `client_id` and a
//!   secret shown once; the app lists the redirect URIs and the most scopes it may ask for.
//! - Authorization code: the app sends the seller's browser to the dashboard's
//!   `/oauth/authorize?response_type=code&client_id=…&redirect_uri=…&scope=…&state=…&code_challenge=…&code_challenge_method=S256`.
//!   The consent page reads `GET /v1/oauth/consent` and, when the owner approves, posts
//!   `POST /v1/oauth/authorize`, which records the grant and returns where to send the browser
//!   (`redirect_uri?code=…&state=…`). The code lives ten minutes and works once.
//! - `POST /v1/oauth/token` (form-encoded, the client authenticated by HTTP Basic or
//!   `client_id`/`client_secret` in the body) exchanges the code and its `code_verifier` for
//!   an access token and a refresh token; `grant_type=refresh_token` rotates the refresh
//!   token; `grant_type=client_credentials` with `tenant_id` gives a server-to-server token
//!   for a tenant that granted the app.
//! - The seller lists grants (`GET /v1/grants`) and revokes them (`DELETE /v1/grants/{id}`);
//!   every app request checks its grant, so a revoked grant's tokens stop at once.
//!
//! Errors are problem+json like everywhere in Cairn; the token endpoint's `code`s are RFC 6749's
//! error names (`invalid_grant`, `invalid_client`, `invalid_scope`, `unsupported_grant_type`).

use crate::{
    db::{app_grants, apps, oauth_codes, oauth_refresh_tokens},
    secret,
    users::auth_user,
};
use auth::{BearerAuth, GrantCheck, JwtKeys, Scope, Scopes, TenantContext};
use base64::{Engine, engine::general_purpose::STANDARD};
use kernel::{SharedClock, TenantId};
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Form,
};
use problem::status::{
    AUTHENTICATED, BAD_REQUEST, PUBLIC, READ, READ_BY_ID, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE, WRITE,
};
use problem::{ApiResult, Code, Json, Problem};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::{future::Future, pin::Pin};
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// ISV apps, the OAuth 2.0 flows that give them access, and the grants sellers manage.
    Apps,
}

/// How long an authorization code can be exchanged.
const CODE_MINUTES: i64 = 10;
/// How long a refresh token lasts unused.
const REFRESH_DAYS: i64 = 30;

/// The apps and OAuth API.
pub struct OAuthApi {
    db: store::Db,
    keys: JwtKeys,
    clock: SharedClock,
}

impl OAuthApi {
    pub fn new(db: store::Db, keys: JwtKeys, clock: SharedClock) -> Self {
        OAuthApi { db, keys, clock }
    }
}

/// Looks grants up for the security scheme's checker (see [`auth::GrantCheck`]): a primary-key
/// read of the grant per app request (never cached: a revocation works at once), and the
/// app's rate limit (cached for a minute: a changed limit may take that long).
pub struct Grants {
    db: store::Db,
    limits: std::sync::Mutex<std::collections::HashMap<Uuid, (std::time::Instant, Option<u32>)>>,
}

impl Grants {
    pub fn new(db: store::Db) -> Grants {
        Grants { db, limits: Default::default() }
    }

    async fn app_limit(&self, app: Uuid) -> Result<Option<u32>, anyhow::Error> {
        let cached = self.limits.lock().unwrap_or_else(|e| e.into_inner()).get(&app).copied();
        if let Some((at, limit)) = cached
            && at.elapsed() < std::time::Duration::from_secs(60)
        {
            return Ok(limit);
        }
        // The app belongs to its ISV's tenant, not the caller's.
        let found = apps::Entity::find().filter(apps::Column::Id.eq(app)).one(self.db.system().conn()).await?;
        let limit = found.and_then(|a| a.rate_limit_per_minute).and_then(|l| u32::try_from(l).ok());
        let mut map = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(app, (std::time::Instant::now(), limit));
        Ok(limit)
    }
}

impl GrantCheck for Grants {
    fn active(
        &self,
        tenant: TenantId,
        grant: Uuid,
        app: Uuid,
    ) -> Pin<Box<dyn Future<Output = Result<Option<auth::ActiveGrant>, anyhow::Error>> + Send + '_>> {
        Box::pin(async move {
            let g = app_grants::Entity::find_by_id((tenant.0, grant)).one(self.db.tenant(tenant.0).conn()).await?;
            if !g.is_some_and(|g| g.revoked_at.is_none() && g.app_id == app) {
                return Ok(None);
            }
            Ok(Some(auth::ActiveGrant { rate_limit_per_minute: self.app_limit(app).await? }))
        })
    }
}

#[derive(Debug, Object)]
struct AppIn {
    #[oai(validator(min_length = 1, max_length = 100))]
    name: String,
    /// Where the consent page may send the browser back: `https://` URLs, or `http://`
    /// on `localhost`/`127.0.0.1` for development. Matched exactly.
    #[oai(validator(min_items = 1, max_items = 10))]
    redirect_uris: Vec<String>,
    /// The most the app may ask a seller for. Never `grants:*`, `apps:*` or `users:write`.
    #[oai(validator(min_items = 1, max_items = 32))]
    scopes: Vec<Scope>,
    /// Requests per minute per tenant the app may make (default: the server's).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "100000")))]
    rate_limit_per_minute: Option<u32>,
}

#[derive(Debug, Object)]
struct AppDto {
    /// The app's `client_id`.
    id: Uuid,
    name: String,
    redirect_uris: Vec<String>,
    scopes: Vec<Scope>,
    #[oai(nullable)]
    rate_limit_per_minute: Option<i64>,
    created_at: chrono::DateTime<chrono::Utc>,
}

fn app_dto(a: apps::Model) -> AppDto {
    AppDto {
        id: a.id,
        redirect_uris: serde_json::from_str(&a.redirect_uris).unwrap_or_default(),
        scopes: Scopes::parse(&a.scopes).unwrap_or_default().iter().collect(),
        name: a.name,
        rate_limit_per_minute: a.rate_limit_per_minute,
        created_at: a.created_at,
    }
}

#[derive(Debug, Object)]
struct AppWithSecret {
    app: AppDto,
    /// Shown once; Cairn keeps only its hash.
    client_secret: String,
}

#[derive(ApiResponse)]
enum AppCreated {
    #[oai(status = 201)]
    Created(Json<AppWithSecret>),
}

#[derive(ApiResponse)]
enum SecretRotated {
    /// The new secret; the old one stops working now.
    #[oai(status = 200)]
    Ok(Json<AppWithSecret>),
}

#[derive(Debug, Object)]
struct AppList {
    apps: Vec<AppDto>,
}

#[derive(ApiResponse)]
enum AppsFound {
    #[oai(status = 200)]
    Ok(Json<AppList>),
}

#[derive(Debug, Object)]
struct Consent {
    app_id: Uuid,
    app_name: String,
    redirect_uri: String,
    /// What the app asks for now.
    scopes: Vec<Scope>,
    /// What the tenant already granted it (empty if nothing).
    granted: Vec<Scope>,
}

#[derive(ApiResponse)]
enum ConsentFound {
    #[oai(status = 200)]
    Ok(Json<Consent>),
}

/// The owner's decision on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
enum Decision {
    Approve,
    Deny,
}

#[derive(Debug, Object)]
struct AuthorizeIn {
    client_id: Uuid,
    #[oai(validator(max_length = 2000))]
    redirect_uri: String,
    /// Space-separated scopes; none means all the app registered.
    #[oai(default, validator(max_length = 2000))]
    scope: String,
    /// Returned unchanged to the app.
    #[oai(default, validator(max_length = 500))]
    state: String,
    /// BASE64URL(SHA-256(code_verifier)).
    #[oai(validator(min_length = 43, max_length = 128))]
    code_challenge: String,
    /// Only `S256`.
    code_challenge_method: String,
    decision: Decision,
}

#[derive(Debug, Object)]
struct Redirect {
    /// Where to send the browser: the app's redirect URI with `code` and `state`, or with
    /// `error=access_denied` when denied.
    redirect_to: String,
}

#[derive(ApiResponse)]
enum Authorized {
    #[oai(status = 200)]
    Ok(Json<Redirect>),
}

/// `POST /v1/oauth/token`'s form (RFC 6749 §4.1.3, §4.4, §6).
#[derive(Debug, Object, serde::Deserialize)]
#[oai(rename = "OAuthTokenForm")]
struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    #[oai(nullable)]
    #[serde(default)]
    code: Option<String>,
    #[oai(nullable)]
    #[serde(default)]
    redirect_uri: Option<String>,
    #[oai(nullable)]
    #[serde(default)]
    code_verifier: Option<String>,
    #[oai(nullable)]
    #[serde(default)]
    refresh_token: Option<String>,
    /// For client credentials: the tenant whose grant the token is under.
    #[oai(nullable)]
    #[serde(default)]
    tenant_id: Option<Uuid>,
    /// A subset of the granted scopes (space-separated); none means all of them.
    #[oai(nullable)]
    #[serde(default)]
    scope: Option<String>,
    /// Unless the client authenticates with HTTP Basic.
    #[oai(nullable)]
    #[serde(default)]
    client_id: Option<Uuid>,
    #[oai(nullable)]
    #[serde(default)]
    client_secret: Option<String>,
}

#[derive(Debug, Object)]
#[oai(rename = "OAuthToken")]
struct OAuthToken {
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    expires_in: i64,
    /// Space-separated.
    scope: String,
    /// For the authorization-code and refresh grants; use it once.
    #[oai(nullable)]
    refresh_token: Option<String>,
    tenant_id: Uuid,
}

#[derive(ApiResponse)]
enum TokenGranted {
    #[oai(status = 200)]
    Ok(Json<OAuthToken>, #[oai(header = "Cache-Control")] String),
}

#[derive(Debug, Object)]
struct GrantDto {
    id: Uuid,
    app_id: Uuid,
    app_name: String,
    scopes: Vec<Scope>,
    /// The user who approved it.
    granted_by: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    #[oai(nullable)]
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Object)]
struct GrantList {
    grants: Vec<GrantDto>,
}

#[derive(ApiResponse)]
enum GrantsFound {
    #[oai(status = 200)]
    Ok(Json<GrantList>),
}

#[derive(ApiResponse)]
enum Revoked {
    /// Revoked (or it already was); its tokens no longer work.
    #[oai(status = 204)]
    NoContent,
}

fn valid_redirect(uri: &str) -> bool {
    let Ok(u) = poem::http::Uri::try_from(uri) else { return false };
    let local = matches!(u.host(), Some("localhost" | "127.0.0.1" | "[::1]"));
    !uri.contains('#')
        && u.host().is_some_and(|h| !h.is_empty())
        && (u.scheme_str() == Some("https") || (u.scheme_str() == Some("http") && local))
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&urlencode(v));
        sep = '&';
    }
    out
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl OAuthApi {
    /// An app by its client id. Apps are registered by their ISV's tenant and used by any
    /// tenant that grants them, so the look-up spans tenants.
    async fn app(&self, client_id: Uuid) -> Result<Option<apps::Model>, Problem> {
        apps::Entity::find()
            .filter(apps::Column::Id.eq(client_id))
            .one(self.db.system().conn())
            .await
            .map_err(Problem::internal)
    }

    /// The app and the scopes a consent request asks for, or why it is refused (never with a
    /// redirect: the redirect URI is not trusted until it matched).
    async fn consent_request(
        &self,
        client_id: Uuid,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<(apps::Model, Scopes), Problem> {
        let app =
            self.app(client_id).await?.ok_or_else(|| Problem::new(Code::InvalidInput, "No app has this client_id."))?;
        let uris: Vec<String> = serde_json::from_str(&app.redirect_uris).unwrap_or_default();
        if !uris.iter().any(|u| u == redirect_uri) {
            return Err(Problem::new(Code::InvalidInput, "redirect_uri is not one the app registered."));
        }
        let registered = Scopes::parse(&app.scopes).unwrap_or_default();
        let asked = if scope.trim().is_empty() {
            registered
        } else {
            Scopes::parse(scope).map_err(|s| Problem::new(Code::InvalidScope, format!("Unknown scope `{s}`.")))?
        };
        if !registered.covers(asked) {
            return Err(Problem::new(
                Code::InvalidScope,
                format!("The app did not register `{}`.", asked - registered),
            ));
        }
        Ok((app, asked))
    }

    /// The authenticated client: HTTP Basic (`client_secret_basic`) or the form's fields.
    async fn client(&self, basic: Option<&str>, form: &TokenForm) -> Result<apps::Model, Problem> {
        let bad = || Problem::new(Code::InvalidClient, "Unknown client or wrong client secret.");
        let (id, secret_given) = match basic.and_then(|h| h.strip_prefix("Basic ")) {
            Some(b64) => {
                let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
                let raw = String::from_utf8(raw).map_err(|_| bad())?;
                let (id, s) = raw.split_once(':').ok_or_else(bad)?;
                (Uuid::try_parse(id).map_err(|_| bad())?, s.to_owned())
            }
            None => (form.client_id.ok_or_else(bad)?, form.client_secret.clone().ok_or_else(bad)?),
        };
        let app = self.app(id).await?.ok_or_else(bad)?;
        if !secret::same_hash(&secret::hash(&secret_given), &app.secret_hash) {
            return Err(bad());
        }
        Ok(app)
    }

    async fn active_grant(&self, tenant: Uuid, app_id: Uuid) -> Result<Option<app_grants::Model>, Problem> {
        app_grants::Entity::find()
            .filter(app_grants::Column::TenantId.eq(tenant))
            .filter(app_grants::Column::AppId.eq(app_id))
            .filter(app_grants::Column::RevokedAt.is_null())
            .one(self.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)
    }

    /// Tokens under `grant` with `scopes`, with a new refresh token when `refresh`.
    async fn tokens(
        &self,
        grant: &app_grants::Model,
        scopes: Scopes,
        refresh: bool,
        tx: &store::WriteTx,
    ) -> Result<OAuthToken, Problem> {
        let ctx = TenantContext {
            tenant_id: TenantId(grant.tenant_id),
            actor: auth::Actor::App { app_id: grant.app_id, grant_id: grant.id },
            role: None,
            scopes,
        };
        let refresh_token = if refresh {
            let token = secret::tenant_token(grant.tenant_id);
            let now = self.clock.now();
            oauth_refresh_tokens::Entity::insert(oauth_refresh_tokens::ActiveModel {
                tenant_id: Set(grant.tenant_id),
                token_hash: Set(secret::hash(&token)),
                grant_id: Set(grant.id),
                app_id: Set(grant.app_id),
                scopes: Set(scopes.to_string()),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::days(REFRESH_DAYS)),
                used_at: Set(None),
            })
            .exec_without_returning(&**tx)
            .await
            .map_err(Problem::internal)?;
            Some(token)
        } else {
            None
        };
        Ok(OAuthToken {
            access_token: self.keys.issue(&ctx),
            token_type: "Bearer".into(),
            expires_in: self.keys.ttl_seconds(),
            scope: scopes.to_string(),
            refresh_token,
            tenant_id: grant.tenant_id,
        })
    }

    /// The scopes a token request asks for, within what the grant allows.
    fn narrowed(asked: Option<&str>, allowed: Scopes) -> Result<Scopes, Problem> {
        let Some(asked) = asked.filter(|s| !s.trim().is_empty()) else { return Ok(allowed) };
        let asked =
            Scopes::parse(asked).map_err(|s| Problem::new(Code::InvalidScope, format!("Unknown scope `{s}`.")))?;
        if !allowed.covers(asked) {
            return Err(Problem::new(Code::InvalidScope, format!("Not granted: `{}`.", asked - allowed)));
        }
        Ok(asked)
    }
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Apps")]
impl OAuthApi {
    /// Registers an app (as an ISV). The secret is in this answer only.
    #[oai(path = "/apps", method = "post")]
    async fn create_app(
        &self,
        #[oai(scope = "Scope::AppsWrite")] auth: BearerAuth,
        body: Json<AppIn>,
    ) -> ApiResult<AppCreated, WRITE> {
        let name = body.name.trim().to_owned();
        if name.is_empty() {
            return Err(Problem::new(Code::InvalidInput, "name must not be blank").into());
        }
        if let Some(bad) = body.redirect_uris.iter().find(|u| !valid_redirect(u)) {
            return Err(Problem::new(
                Code::InvalidInput,
                format!("redirect URI `{bad}` must be an https:// URL (or http:// on localhost) without a fragment"),
            )
            .into());
        }
        let scopes: Scopes = body.scopes.iter().copied().collect();
        if let Some(s) = scopes.iter().find(|s| !s.grantable()) {
            return Err(Problem::new(Code::InvalidScope, format!("Apps cannot hold `{}`.", s.as_str())).into());
        }
        let client_secret = format!("cs_{}", secret::random());
        let app = apps::Model {
            tenant_id: auth.0.tenant_id.0,
            id: kernel::new_id(),
            name,
            secret_hash: secret::hash(&client_secret),
            redirect_uris: serde_json::to_string(&body.redirect_uris).map_err(Problem::internal)?,
            scopes: scopes.to_string(),
            rate_limit_per_minute: body.rate_limit_per_minute.map(i64::from),
            created_at: self.clock.now(),
        };
        let tx = self.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        apps::Entity::insert(apps::ActiveModel::from(app.clone()))
            .exec_without_returning(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(AppCreated::Created(Json(AppWithSecret { app: app_dto(app), client_secret })))
    }

    /// The apps this tenant registered.
    #[oai(path = "/apps", method = "get")]
    async fn list_apps(
        &self,
        #[oai(scope = "Scope::AppsRead")] auth: BearerAuth,
    ) -> ApiResult<AppsFound, AUTHENTICATED> {
        let found = apps::Entity::find()
            .filter(apps::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(apps::Column::CreatedAt)
            .all(self.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        Ok(AppsFound::Ok(Json(AppList { apps: found.into_iter().map(app_dto).collect() })))
    }

    /// Gives the app a new secret; the old one stops working at once (tokens already issued
    /// keep working until they expire or their grant is revoked).
    #[oai(path = "/apps/:id/secret", method = "post")]
    async fn rotate_secret(
        &self,
        #[oai(scope = "Scope::AppsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<SecretRotated, READ_BY_ID> {
        let tx = self.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        let app = apps::Entity::find_by_id((auth.0.tenant_id.0, id.0))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("app"))?;
        let client_secret = format!("cs_{}", secret::random());
        let mut m: apps::ActiveModel = app.clone().into();
        m.secret_hash = Set(secret::hash(&client_secret));
        apps::Entity::update(m).exec(&*tx).await.map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(SecretRotated::Ok(Json(AppWithSecret { app: app_dto(app), client_secret })))
    }

    /// What the consent page shows: the app, what it asks for and what it already has. Fails
    /// (without redirecting) when the client or its redirect URI is unknown.
    #[oai(path = "/oauth/consent", method = "get")]
    async fn consent(
        &self,
        #[oai(scope = "Scope::GrantsWrite")] auth: BearerAuth,
        client_id: Query<Uuid>,
        redirect_uri: Query<String>,
        /// Space-separated; none means all the app registered.
        scope: Query<Option<String>>,
    ) -> ApiResult<ConsentFound, READ> {
        let (app, asked) =
            self.consent_request(client_id.0, &redirect_uri.0, scope.0.as_deref().unwrap_or_default()).await?;
        let granted = self.active_grant(auth.0.tenant_id.0, app.id).await?;
        let granted = granted.map(|g| Scopes::parse(&g.scopes).unwrap_or_default()).unwrap_or_default();
        Ok(ConsentFound::Ok(Json(Consent {
            app_id: app.id,
            app_name: app.name,
            redirect_uri: redirect_uri.0,
            scopes: asked.iter().collect(),
            granted: granted.iter().collect(),
        })))
    }

    /// The owner's decision on the consent page: on approval the grant is recorded (widened if
    /// the app already had one) and a one-time code issued; either way the answer says where
    /// to send the browser.
    #[oai(path = "/oauth/authorize", method = "post")]
    async fn authorize(
        &self,
        #[oai(scope = "Scope::GrantsWrite")] auth: BearerAuth,
        body: Json<AuthorizeIn>,
    ) -> ApiResult<Authorized, WRITE> {
        let b = body.0;
        let (app, asked) = self.consent_request(b.client_id, &b.redirect_uri, &b.scope).await?;
        if b.code_challenge_method != "S256" {
            return Err(Problem::new(Code::InvalidInput, "code_challenge_method must be S256 (PKCE).").into());
        }
        if b.decision == Decision::Deny {
            let to = with_params(&b.redirect_uri, &[("error", "access_denied"), ("state", &b.state)]);
            return Ok(Authorized::Ok(Json(Redirect { redirect_to: to })));
        }
        let tenant = auth.0.tenant_id.0;
        let now = self.clock.now();
        let tx = self.db.tenant(tenant).write().await.map_err(Problem::internal)?;
        let existing = app_grants::Entity::find()
            .filter(app_grants::Column::TenantId.eq(tenant))
            .filter(app_grants::Column::AppId.eq(app.id))
            .filter(app_grants::Column::RevokedAt.is_null())
            .one(&*tx)
            .await
            .map_err(Problem::internal)?;
        let grant = match existing {
            Some(g) => {
                let scopes = Scopes::parse(&g.scopes).unwrap_or_default() | asked;
                let mut m: app_grants::ActiveModel = g.clone().into();
                m.scopes = Set(scopes.to_string());
                m.updated_at = Set(now);
                app_grants::Entity::update(m).exec(&*tx).await.map_err(Problem::internal)?;
                g
            }
            None => {
                let g = app_grants::Model {
                    tenant_id: tenant,
                    id: kernel::new_id(),
                    app_id: app.id,
                    scopes: asked.to_string(),
                    granted_by: auth_user(&auth.0),
                    created_at: now,
                    updated_at: now,
                    revoked_at: None,
                };
                app_grants::Entity::insert(app_grants::ActiveModel::from(g.clone()))
                    .exec_without_returning(&*tx)
                    .await
                    .map_err(Problem::internal)?;
                g
            }
        };
        let code = secret::tenant_token(tenant);
        oauth_codes::Entity::insert(oauth_codes::ActiveModel {
            tenant_id: Set(tenant),
            code_hash: Set(secret::hash(&code)),
            grant_id: Set(grant.id),
            app_id: Set(app.id),
            redirect_uri: Set(b.redirect_uri.clone()),
            code_challenge: Set(b.code_challenge),
            scopes: Set(asked.to_string()),
            expires_at: Set(now + chrono::Duration::minutes(CODE_MINUTES)),
            used_at: Set(None),
        })
        .exec_without_returning(&*tx)
        .await
        .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        tracing::info!(tenant_id = %tenant, app_id = %app.id, scopes = %asked, "app granted access");
        let to = with_params(&b.redirect_uri, &[("code", &code), ("state", &b.state)]);
        Ok(Authorized::Ok(Json(Redirect { redirect_to: to })))
    }

    /// The OAuth 2.0 token endpoint (form-encoded): `authorization_code` (with PKCE's
    /// `code_verifier`), `refresh_token` (rotating: the old refresh token stops working) or
    /// `client_credentials` (with `tenant_id`).
    #[oai(path = "/oauth/token", method = "post")]
    async fn token(
        &self,
        #[oai(name = "Authorization")] authorization: Header<Option<String>>,
        body: Form<TokenForm>,
    ) -> ApiResult<TokenGranted, { PUBLIC | BAD_REQUEST | UNAUTHORIZED | UNSUPPORTED_MEDIA_TYPE }> {
        let form = body.0;
        let app = self.client(authorization.0.as_deref(), &form).await?;
        let bad_grant = |d: &str| Problem::new(Code::InvalidGrant, d.to_owned());
        let now = self.clock.now();
        // Codes and refresh tokens carry their tenant; client credentials name it.
        let tenant = match form.grant_type.as_str() {
            "authorization_code" => {
                let code = form.code.as_deref().ok_or_else(|| bad_grant("code is missing"))?;
                secret::split_tenant_token(code).ok_or_else(|| bad_grant("unknown code"))?.0
            }
            "refresh_token" => {
                let rt = form.refresh_token.as_deref().ok_or_else(|| bad_grant("refresh_token is missing"))?;
                secret::split_tenant_token(rt).ok_or_else(|| bad_grant("unknown refresh token"))?.0
            }
            "client_credentials" => form.tenant_id.ok_or_else(|| {
                Problem::new(Code::InvalidInput, "tenant_id is required: the tenant whose grant to use.")
            })?,
            other => {
                return Err(Problem::new(
                    Code::UnsupportedGrantType,
                    format!("grant_type `{other}` is not supported."),
                )
                .into());
            }
        };
        let tx = self.db.tenant(tenant).write().await.map_err(Problem::internal)?;
        let token = match form.grant_type.as_str() {
            "authorization_code" => {
                let code = form.code.as_deref().ok_or_else(|| bad_grant("code is missing"))?;
                let (tenant, hash) = secret::split_tenant_token(code).ok_or_else(|| bad_grant("unknown code"))?;
                let row = oauth_codes::Entity::find_by_id((tenant, hash))
                    .one(&*tx)
                    .await
                    .map_err(Problem::internal)?
                    .filter(|c| c.app_id == app.id)
                    .ok_or_else(|| bad_grant("unknown code"))?;
                if row.used_at.is_some() || row.expires_at <= now {
                    return Err(bad_grant("The code was already used or has expired.").into());
                }
                if form.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
                    return Err(bad_grant("redirect_uri differs from the authorization request's.").into());
                }
                if !secret::pkce_matches(form.code_verifier.as_deref().unwrap_or_default(), &row.code_challenge) {
                    return Err(bad_grant("code_verifier does not match the code_challenge (PKCE).").into());
                }
                let mut used: oauth_codes::ActiveModel = row.clone().into();
                used.used_at = Set(Some(now));
                oauth_codes::Entity::update(used).exec(&*tx).await.map_err(Problem::internal)?;
                let grant = app_grants::Entity::find_by_id((tenant, row.grant_id))
                    .one(&*tx)
                    .await
                    .map_err(Problem::internal)?
                    .filter(|g| g.revoked_at.is_none())
                    .ok_or_else(|| bad_grant("The grant was revoked."))?;
                let scopes = Scopes::parse(&row.scopes).unwrap_or_default();
                self.tokens(&grant, scopes, true, &tx).await?
            }
            "refresh_token" => {
                let rt = form.refresh_token.as_deref().ok_or_else(|| bad_grant("refresh_token is missing"))?;
                let (tenant, hash) =
                    secret::split_tenant_token(rt).ok_or_else(|| bad_grant("unknown refresh token"))?;
                let row = oauth_refresh_tokens::Entity::find_by_id((tenant, hash))
                    .one(&*tx)
                    .await
                    .map_err(Problem::internal)?
                    .filter(|r| r.app_id == app.id)
                    .ok_or_else(|| bad_grant("unknown refresh token"))?;
                if row.expires_at <= now {
                    return Err(bad_grant("The refresh token has expired.").into());
                }
                if row.used_at.is_some() {
                    // A rotated refresh token came back: it leaked, or a client replays it. As
                    // the OAuth 2.0 Security BCP asks, every refresh token of the grant is
                    // spent now (the thief's and the client's alike); the app must be
                    // authorized again to refresh. Its access tokens run out at expiry.
                    oauth_refresh_tokens::Entity::update_many()
                        .col_expr(oauth_refresh_tokens::Column::UsedAt, sea_orm::sea_query::Expr::value(now))
                        .filter(oauth_refresh_tokens::Column::TenantId.eq(tenant))
                        .filter(oauth_refresh_tokens::Column::GrantId.eq(row.grant_id))
                        .filter(oauth_refresh_tokens::Column::UsedAt.is_null())
                        .exec(&*tx)
                        .await
                        .map_err(Problem::internal)?;
                    tx.commit().await.map_err(Problem::internal)?;
                    tracing::warn!(%tenant, grant = %row.grant_id, app = %app.id, "a used refresh token was presented again; the grant's refresh tokens are revoked");
                    return Err(bad_grant(
                        "The refresh token was already used. Every refresh token of this grant is revoked now; authorize the app again.",
                    )
                    .into());
                }
                let grant = app_grants::Entity::find_by_id((tenant, row.grant_id))
                    .one(&*tx)
                    .await
                    .map_err(Problem::internal)?
                    .filter(|g| g.revoked_at.is_none())
                    .ok_or_else(|| bad_grant("The grant was revoked."))?;
                let scopes = Self::narrowed(
                    form.scope.as_deref(),
                    Scopes::parse(&row.scopes).unwrap_or_default() & Scopes::parse(&grant.scopes).unwrap_or_default(),
                )?;
                let mut used: oauth_refresh_tokens::ActiveModel = row.into();
                used.used_at = Set(Some(now));
                oauth_refresh_tokens::Entity::update(used).exec(&*tx).await.map_err(Problem::internal)?;
                self.tokens(&grant, scopes, true, &tx).await?
            }
            "client_credentials" => {
                let tenant = form.tenant_id.ok_or_else(|| {
                    Problem::new(Code::InvalidInput, "tenant_id is required: the tenant whose grant to use.")
                })?;
                let grant = app_grants::Entity::find()
                    .filter(app_grants::Column::TenantId.eq(tenant))
                    .filter(app_grants::Column::AppId.eq(app.id))
                    .filter(app_grants::Column::RevokedAt.is_null())
                    .one(&*tx)
                    .await
                    .map_err(Problem::internal)?
                    .ok_or_else(|| bad_grant("This tenant has not granted the app access (or revoked it)."))?;
                let scopes = Self::narrowed(form.scope.as_deref(), Scopes::parse(&grant.scopes).unwrap_or_default())?;
                self.tokens(&grant, scopes, false, &tx).await?
            }
            other => {
                return Err(Problem::new(
                    Code::UnsupportedGrantType,
                    format!("grant_type `{other}` is not supported."),
                )
                .into());
            }
        };
        tx.commit().await.map_err(Problem::internal)?;
        Ok(TokenGranted::Ok(Json(token), "no-store".into()))
    }

    /// The apps this tenant granted access, revoked ones included.
    #[oai(path = "/grants", method = "get")]
    async fn grants(
        &self,
        #[oai(scope = "Scope::GrantsRead")] auth: BearerAuth,
    ) -> ApiResult<GrantsFound, AUTHENTICATED> {
        let t = auth.0.tenant_id.0;
        let found = app_grants::Entity::find()
            .filter(app_grants::Column::TenantId.eq(t))
            .order_by_desc(app_grants::Column::CreatedAt)
            .all(self.db.tenant(t).conn())
            .await
            .map_err(Problem::internal)?;
        let mut out = Vec::with_capacity(found.len());
        for g in found {
            let name = self.app(g.app_id).await?.map(|a| a.name).unwrap_or_default();
            out.push(GrantDto {
                id: g.id,
                app_id: g.app_id,
                app_name: name,
                scopes: Scopes::parse(&g.scopes).unwrap_or_default().iter().collect(),
                granted_by: g.granted_by,
                created_at: g.created_at,
                updated_at: g.updated_at,
                revoked_at: g.revoked_at,
            });
        }
        Ok(GrantsFound::Ok(Json(GrantList { grants: out })))
    }

    /// Revokes a grant: the app's tokens for this tenant stop working at once and its refresh
    /// tokens can no longer be used. Revoking again changes nothing.
    #[oai(path = "/grants/:id", method = "delete")]
    async fn revoke(
        &self,
        #[oai(scope = "Scope::GrantsWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Revoked, READ_BY_ID> {
        let t = auth.0.tenant_id.0;
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        let g = app_grants::Entity::find_by_id((t, id.0))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("grant"))?;
        if g.revoked_at.is_none() {
            let app_id = g.app_id;
            let mut m: app_grants::ActiveModel = g.into();
            m.revoked_at = Set(Some(self.clock.now()));
            app_grants::Entity::update(m).exec(&*tx).await.map_err(Problem::internal)?;
            tracing::info!(tenant_id = %t, %app_id, "grant revoked");
        }
        tx.commit().await.map_err(Problem::internal)?;
        Ok(Revoked::NoContent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_https_or_local() {
        assert!(valid_redirect("https://isv.example/cb"));
        assert!(valid_redirect("http://localhost:3000/cb"));
        assert!(valid_redirect("http://127.0.0.1:9/cb?x=1"));
        assert!(!valid_redirect("http://isv.example/cb"));
        assert!(!valid_redirect("https://isv.example/cb#frag"));
        assert!(!valid_redirect("javascript:alert(1)"));
        assert!(!valid_redirect("/relative"));
    }

    #[test]
    fn redirects_carry_encoded_params() {
        assert_eq!(
            with_params("https://a.b/cb", &[("code", "x.y"), ("state", "a b&c")]),
            "https://a.b/cb?code=x.y&state=a%20b%26c"
        );
        assert_eq!(
            with_params("https://a.b/cb?k=1", &[("error", "access_denied"), ("state", "")]),
            "https://a.b/cb?k=1&error=access_denied"
        );
    }
}
