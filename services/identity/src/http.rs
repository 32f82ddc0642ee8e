//! `/v1/signup` and `/v1/auth/token`.

use crate::db::{tenants, users};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use auth::{JwtKeys, Role, TenantContext};
use kernel::TenantId;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use problem::status::{BAD_REQUEST, CONFLICT, PUBLIC, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE};
use problem::{ApiResult, Code, Json, Problem};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Tenants, users and access tokens.
    Identity,
}

/// The identity HTTP API.
pub struct IdentityApi {
    db: store::Db,
    keys: JwtKeys,
}

impl IdentityApi {
    /// Builds the API over its database and token keys.
    pub fn new(db: store::Db, keys: JwtKeys) -> Self {
        IdentityApi { db, keys }
    }
}

/// A new seller account.
#[derive(Debug, Object)]
struct SignupRequest {
    /// The seller's company or shop name.
    #[oai(validator(min_length = 1, max_length = 200))]
    tenant_name: String,
    #[oai(validator(min_length = 3, max_length = 254))]
    email: String,
    /// At least 8 characters.
    #[oai(validator(min_length = 8, max_length = 256))]
    password: String,
}

#[derive(Debug, Object)]
struct SignupResponse {
    tenant_id: Uuid,
    access_token: String,
}

#[derive(ApiResponse)]
enum SignupCreated {
    /// The tenant and its owner were created.
    #[oai(status = 201)]
    Created(Json<SignupResponse>),
}

#[derive(Debug, Object)]
struct TokenRequest {
    email: String,
    password: String,
}

#[derive(Debug, Object)]
struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the token expires.
    expires_in: i64,
    /// The scopes the token carries (space-separated): the role's.
    scope: String,
    /// `owner` or `staff`.
    role: String,
}

#[derive(ApiResponse)]
enum TokenIssued {
    /// A fresh access token.
    #[oai(status = 200)]
    Ok(Json<TokenResponse>),
}

pub(crate) fn normalize_email(email: &str) -> Result<String, Problem> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !e.contains(char::is_whitespace) => Ok(e),
        _ => Err(Problem::new(Code::InvalidInput, "email is not a valid address")),
    }
}

pub(crate) async fn hash_password(password: String) -> Result<String, Problem> {
    tokio::task::spawn_blocking(move || Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()))
        .await
        .map_err(Problem::internal)?
        .map_err(|e| Problem::internal(anyhow::anyhow!("hashing: {e}")))
}

async fn verify_password(password: String, hash: Option<String>) -> bool {
    // Hash even when the user does not exist, so timing does not reveal which emails have accounts.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$dGhpc2lzbm90YXJlYWxoYXNoYnV0aXRpc2xvbmc";
    let found = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
        && found
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Identity")]
impl IdentityApi {
    /// Sign up: creates a tenant and its owner, and returns an access token.
    #[oai(path = "/signup", method = "post")]
    async fn signup(
        &self,
        body: Json<SignupRequest>,
    ) -> ApiResult<SignupCreated, { PUBLIC | BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE | CONFLICT }> {
        let email = normalize_email(&body.email)?;
        let name = body.tenant_name.trim().to_owned();
        if name.is_empty() {
            return Err(Problem::new(Code::InvalidInput, "tenant_name must not be blank").into());
        }
        let hash = hash_password(body.0.password).await?;
        let tenant_id = kernel::new_id();
        let user_id = kernel::new_id();
        let now = chrono::Utc::now();
        let tx = self.db.tenant(tenant_id).write().await.map_err(Problem::internal)?;
        tenants::Entity::insert(tenants::ActiveModel { id: Set(tenant_id), name: Set(name), created_at: Set(now) })
            .exec_without_returning(&*tx)
            .await
            .map_err(Problem::internal)?;
        let user = users::ActiveModel {
            tenant_id: Set(tenant_id),
            id: Set(user_id),
            email: Set(email),
            password_hash: Set(hash),
            role: Set("owner".into()),
            created_at: Set(now),
        };
        if let Err(e) = users::Entity::insert(user).exec_without_returning(&*tx).await {
            return Err(if store::is_unique_violation(&e) {
                Problem::new(Code::EmailTaken, "An account with this email already exists; log in instead.")
            } else {
                Problem::internal(e)
            }
            .into());
        }
        tx.commit().await.map_err(Problem::internal)?;
        tracing::info!(%tenant_id, "tenant signed up");
        let ctx = TenantContext::user(TenantId(tenant_id), user_id, Role::Owner);
        Ok(SignupCreated::Created(Json(SignupResponse { tenant_id, access_token: self.keys.issue(&ctx) })))
    }

    /// Log in: exchanges email and password for an access token.
    #[oai(path = "/auth/token", method = "post")]
    async fn token(
        &self,
        body: Json<TokenRequest>,
    ) -> ApiResult<TokenIssued, { PUBLIC | BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE | UNAUTHORIZED }> {
        let email = body.email.trim().to_lowercase();
        // The email is what finds the tenant, so this look-up spans tenants.
        let user = users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(self.db.system().conn())
            .await
            .map_err(Problem::internal)?;
        let ok = verify_password(body.0.password, user.as_ref().map(|u| u.password_hash.clone())).await;
        let Some(user) = user.filter(|_| ok) else {
            return Err(Problem::new(Code::InvalidCredentials, "Email or password is wrong.").into());
        };
        let role =
            Role::parse(&user.role).ok_or_else(|| Problem::internal(anyhow::anyhow!("unknown role {}", user.role)))?;
        let ctx = TenantContext::user(TenantId(user.tenant_id), user.id, role);
        Ok(TokenIssued::Ok(Json(TokenResponse {
            access_token: self.keys.issue(&ctx),
            token_type: "Bearer".into(),
            expires_in: self.keys.ttl_seconds(),
            scope: ctx.scopes.to_string(),
            role: role.as_str().to_owned(),
        })))
    }
}
