//! subscriptions: the tenant's events delivered to URLs that apps and sellers subscribe,
//! following Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! The bus consumer ([`consumer`]) turns each event an active subscription wants into a
//! pending delivery in the transaction that claims the event, so a crash loses none; the
//! worker ([`worker`]) sends them at least once with retries and backoff and records every
//! attempt; the API ([`http`]) manages subscriptions and shows, redelivers and replays
//! deliveries. The public event types are in [`catalog`].

pub mod catalog;
pub mod consumer;
mod db;
pub mod http;
pub mod sign;
pub mod worker;

pub use http::SubscriptionsApi;

/// subscriptions as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "subscriptions",
    prefixes: &["subscriptions"],
    consumers: &[(consumer::CONSUMER, catalog::TOPICS)],
    single_active: &[],
    api_everywhere: false,
    tables: &["event_subscriptions", "event_deliveries", "event_delivery_attempts"],
};

/// Settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Accept `http://` URLs and private or loopback targets (`cairn up` on one machine; off
    /// for a hosted Cairn, where such a URL would let a tenant probe the operator's network).
    pub allow_private_targets: bool,
}

/// Mounts subscriptions: its API and, served, the consumer and the delivery worker.
pub fn mount(ctx: &host::Context, settings: Settings) -> host::Mounted<SubscriptionsApi> {
    let api = SubscriptionsApi::new(ctx.db.clone(), ctx.clock.clone(), settings.allow_private_targets);
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    host::Mounted {
        api,
        consumers: vec![std::sync::Arc::new(consumer::SubscriptionsHandler { db: ctx.db.clone() })],
        tasks: vec![worker::spawn(ctx.db.clone(), ctx.clock.clone(), ctx.stop.clone())],
    }
}
