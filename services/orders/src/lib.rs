//! orders: the order aggregate, built from channel trade snapshots (newer `modified` wins),
//! its state machine, line reservation states reported by inventory, shipments the seller
//! records through Cairn, and a timeline.

pub mod consumer;
pub mod db;
pub mod domain;
pub mod http;
pub mod outgoing;
pub mod service;

pub use http::OrdersApi;

/// orders as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "orders",
    prefixes: &["orders"],
    consumers: &[(consumer::CONSUMER, consumer::TOPICS)],
    tables: &["orders", "order_lines", "order_timeline", "order_shipments"],
};

/// Mounts orders: its API and, served, the consumer that builds orders from trade snapshots
/// and reservation changes.
pub fn mount(ctx: &host::Context) -> host::Mounted<OrdersApi> {
    let api = OrdersApi::new(ctx.db.clone());
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    host::Mounted {
        api,
        consumers: vec![std::sync::Arc::new(consumer::OrdersHandler::new(ctx.db.clone()))],
        tasks: Vec::new(),
    }
}
