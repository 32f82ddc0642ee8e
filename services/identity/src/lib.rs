//! identity: tenants, users, login and access tokens.
//!
//! First cut: signup creates a tenant with its owner; `POST /v1/auth/token` exchanges email and
//! password for a JWT that every other `/v1` route requires.

mod db;
pub mod http;

pub use http::IdentityApi;
