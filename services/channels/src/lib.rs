//! channels: connected shops, webhook ingress, reconciliation pulls and write-backs.
//!
//! A webhook is answered 2xx only after the raw message (for dedupe and audit) and the
//! `channel.trade_received` event are committed in one transaction; everything after that
//! runs from the outbox.

pub mod bazaar;
pub mod bazaar_client;
pub mod connector;
pub mod db;
pub mod http;
pub mod ingest;
pub mod reconcile;
pub mod shopify;
pub mod stock;
pub mod writeback;

pub use http::ChannelsApi;

/// channels as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "channels",
    prefixes: &["channels", "webhooks"],
    consumers: &[(writeback::CONSUMER, writeback::TOPICS)],
    tables: &[
        "channels",
        "webhook_messages",
        "channel_trades",
        "channel_sync",
        "channel_pull_finds",
        "channel_stock_levels",
        "stock_pushes",
        "shipment_writebacks",
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
/// the reconciliation puller and the write-back worker.
pub fn mount(ctx: &host::Context, settings: &Settings) -> host::Mounted<ChannelsApi> {
    let reconciler = reconcile::Reconciler::new(ctx.db.clone(), settings.reconcile.clone());
    let api = ChannelsApi::new(ctx.db.clone(), &ctx.public_url, reconciler.clone());
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    let tasks = vec![
        reconciler.start(ctx.stop.clone()),
        writeback::Worker::new(ctx.db.clone(), settings.writeback_tick).start(ctx.stop.clone()),
    ];
    host::Mounted { api, consumers: vec![std::sync::Arc::new(writeback::WritebackHandler::new(ctx.db.clone()))], tasks }
}
