//! The `cairn` binary's library: configuration and the composition root. It builds every
//! service into one process, or the ones named; tests spawn the same [`app::spawn`] the
//! binary runs. What the binary runs besides Cairn itself (the demo, the Double-11 scenario)
//! lives in the `scenarios` crate, which gets a [`Launch`] to start Cairn with.

pub mod app;
pub mod config;
pub mod health;

pub use app::{Running, spawn};
pub use config::{Config, Service, Settings};

use std::path::Path;

/// The OpenAPI document of every service, as published in `openapi/cairn.yaml`.
pub fn openapi_yaml() -> String {
    app::spec_yaml()
}

/// Starts embedded Cairns for the scenarios, from the process's settings.
pub struct Launch(pub Settings);

#[async_trait::async_trait]
impl scenarios::Launcher for Launch {
    async fn embedded(&self, listen: &str, data_dir: &Path) -> anyhow::Result<Box<dyn scenarios::Instance>> {
        Ok(Box::new(spawn(Config::embedded(&self.0, listen, data_dir)?).await?))
    }

    fn bindings(&self) -> Vec<(&'static str, &'static [&'static str])> {
        app::bindings()
    }
}

#[async_trait::async_trait]
impl scenarios::Instance for Running {
    fn url(&self) -> String {
        Running::url(self)
    }

    fn db(&self) -> &store::Db {
        &self.db
    }

    async fn shutdown(self: Box<Self>) {
        Running::shutdown(*self).await
    }
}
