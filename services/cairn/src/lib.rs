//! The `cairn` binary's library: builds every service into one process, or the ones named.
//! Tests spawn the same [`app::spawn`] the binary runs.

pub mod app;
pub mod config;
pub mod demo;
pub mod double11;
pub mod health;

pub use app::{Running, spawn};
pub use config::{Config, Service};

/// The OpenAPI document of every service, as published in `openapi/cairn.yaml`.
pub fn openapi_yaml() -> String {
    app::api_service(None).spec_yaml()
}
