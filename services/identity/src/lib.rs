//! identity: tenants, users and their roles, ISV apps and the grants sellers give them, and
//! the access tokens all of them use.
//!
//! Signup creates a tenant with its owner; `POST /v1/auth/token` exchanges email and password
//! for a JWT carrying the role's scopes; the owner invites staff (`users`); apps get tokens
//! through OAuth 2.0 (`oauth`). `db` holds the tables, `secret` the random tokens and their
//! hashes.

pub mod audit;
mod db;
pub mod http;
pub mod oauth;
mod secret;
pub mod users;

pub use audit::AuditLog;
pub use oauth::Grants;

/// identity's API: accounts and login, users, apps and grants.
pub type IdentityApi = (http::IdentityApi, users::UsersApi, oauth::OAuthApi, audit::AuditApi);

/// identity as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "identity",
    prefixes: &["signup", "auth", "users", "invites", "apps", "oauth", "grants", "audit-log"],
    consumers: &[],
    single_active: &[],
    api_everywhere: false,
    tables: &[
        "tenants",
        "users",
        "user_invites",
        "apps",
        "app_grants",
        "oauth_codes",
        "oauth_refresh_tokens",
        "api_audit_log",
    ],
};

/// Mounts identity: its API, issuing tokens with `keys`. It runs nothing in the background.
pub fn mount(ctx: &host::Context, keys: auth::JwtKeys) -> host::Mounted<IdentityApi> {
    let db = ctx.db.clone();
    host::Mounted::api_only((
        http::IdentityApi::new(db.clone(), keys.clone()),
        users::UsersApi::new(db.clone(), keys.clone(), ctx.clock.clone(), ctx.public_url.clone()),
        oauth::OAuthApi::new(db.clone(), keys, ctx.clock.clone()),
        audit::AuditApi::new(db),
    ))
}
