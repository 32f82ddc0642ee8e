//! Scenarios that drive Cairn from the outside, through its public API and the marketplace
//! simulator: the demo that `cairn up --demo` runs and the Double-11 flash sale of
//! `cairn sim double11`.
//!
//! A scenario cannot depend on the crate that composes Cairn (that crate calls the
//! scenarios), so the `cairn` binary hands it a [`Launcher`] that starts an embedded Cairn.

pub mod client;
pub mod demo;
pub mod double11;

pub use client::{ApiError, CairnClient, Connected, subscribe};

use std::path::Path;

/// A Cairn running in this process.
#[async_trait::async_trait]
pub trait Instance: Send + Sync {
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    fn url(&self) -> String;
    /// Its database (the Double-11 report reads the bus's counters from it).
    fn db(&self) -> &store::Db;
    /// Drains and stops it.
    async fn shutdown(self: Box<Self>);
}

/// Starts Cairn for a scenario (implemented by the `cairn` binary).
#[async_trait::async_trait]
pub trait Launcher: Send + Sync {
    /// Every service in one process on a SQLite file in `data_dir`, listening on `listen`.
    async fn embedded(&self, listen: &str, data_dir: &Path) -> anyhow::Result<Box<dyn Instance>>;
    /// Every bus consumer with the event types it binds.
    fn bindings(&self) -> Vec<(&'static str, &'static [&'static str])>;
}
