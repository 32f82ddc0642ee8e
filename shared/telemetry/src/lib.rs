//! Tracing setup (human-readable logs for `cairn up`, JSON for the distributed mode) and the
//! Prometheus [`metrics`] every service records into.

pub mod metrics;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pretty,
    Json,
}

/// Installs the global subscriber (`RUST_LOG` overrides `default_filter`). Safe to call twice.
pub fn init(format: Format, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        Format::Json => registry.with(fmt::layer().json().with_current_span(false)).try_init(),
        Format::Pretty => registry.with(fmt::layer().with_target(false).compact()).try_init(),
    };
}
