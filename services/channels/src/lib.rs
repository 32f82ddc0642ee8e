//! channels: connected shops, webhook ingress, reconciliation pulls and write-backs.
//!
//! A webhook is answered 2xx only after the raw message (for dedupe and audit) and the
//! `channel.trade_received` event are committed in one transaction; everything after that
//! runs from the outbox.
//!
//! Layout, outside in; dependencies only point down the list (and `reconcile` feeds `ingest`):
//!
//! - [`http`]: poem-openapi handlers and DTOs, mapping [`service::Error`] to problem codes.
//! - [`service`]: the use cases — connect a shop, change its settings, reconcile, report,
//!   receive a webhook (verify, parse, ingest).
//! - [`ingest`] (every trade in), [`reconcile`] (the puller), [`writeback`] (shipments and
//!   stock out): the pipeline; each owns its tables and offers functions instead of them.
//! - [`adapters`]: Bazaar and Shopify — webhook checks and parsing, the Bazaar Open API client,
//!   and `api_for`, which picks a shop's client behind the [`connector`] port.
//! - [`db`]: the entities and the shops repository.
//! - [`domain`]: the rules, pure and synchronous (no I/O, no clock): stock allocation, refunds,
//!   webhook secrets and skew, shop settings, retry backoff.

pub mod adapters;
pub mod connector;
pub mod db;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod items;
pub mod reconcile;
pub mod service;
pub mod writeback;

pub use http::ChannelsApi;

/// channels as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "channels",
    prefixes: &["channels", "webhooks"],
    consumers: &[(writeback::CONSUMER, writeback::TOPICS)],
    single_active: &[],
    api_everywhere: false,
    tables: &[
        "channels",
        "webhook_messages",
        "channel_trades",
        "channel_sync",
        "channel_pull_finds",
        "channel_stock_levels",
        "stock_pushes",
        "shipment_writebacks",
        "channel_items",
        "channel_item_mappings",
    ],
};

/// channels' settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Reconciliation pulls.
    pub reconcile: reconcile::Settings,
    /// How often the write-back worker looks for due write-backs when idle.
    pub writeback_tick: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { reconcile: reconcile::Settings::default(), writeback_tick: std::time::Duration::from_millis(500) }
    }
}

/// Mounts channels: its API (shops, webhook ingress) and, served, the write-back consumer,
/// the reconciliation puller, the write-back worker and the write-back gauges for `/metrics`.
pub fn mount(ctx: &host::Context, settings: &Settings) -> host::Mounted<ChannelsApi> {
    let (db, clock) = (&ctx.db, &ctx.clock);
    let reconciler = reconcile::Reconciler::new(db.clone(), settings.reconcile.clone(), clock.clone());
    let api = ChannelsApi::new(db.clone(), &ctx.public_url, reconciler.clone(), clock.clone());
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    let tasks = vec![
        reconciler.start(ctx.stop.clone()),
        writeback::Worker::new(db.clone(), settings.writeback_tick, clock.clone()).start(ctx.stop.clone()),
        writeback::gauge::start(db.clone(), ctx.stop.clone()),
    ];
    let handler = writeback::WritebackHandler::new(db.clone(), clock.clone());
    host::Mounted { api, consumers: vec![std::sync::Arc::new(handler)], tasks }
}
