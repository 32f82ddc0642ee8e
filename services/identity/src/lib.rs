//! identity: tenants, users, login and access tokens.
//!
//! Signup creates a tenant with its owner; `POST /v1/auth/token` exchanges email and password
//! for a JWT that every other `/v1` route requires. `db` holds the tables, `http` the API.

mod db;
pub mod http;

pub use http::IdentityApi;

/// identity as the binary sees it.
pub const SERVICE: host::Descriptor =
    host::Descriptor { name: "identity", prefixes: &["signup", "auth"], consumers: &[], tables: &["tenants", "users"] };

/// Mounts identity: its API, issuing tokens with `keys`. It runs nothing in the background.
pub fn mount(ctx: &host::Context, keys: auth::JwtKeys) -> host::Mounted<IdentityApi> {
    host::Mounted::api_only(IdentityApi::new(ctx.db.clone(), keys))
}
