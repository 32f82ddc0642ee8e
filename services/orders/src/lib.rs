//! orders: the order aggregate, built from channel trade snapshots (newer `modified` wins),
//! its state machine, line reservation states reported by inventory, shipments the seller
//! records through Cairn, and a timeline.
//!
//! Where things are:
//! - [`domain`]: the rules, pure and synchronous (no database, HTTP, clock or async): the
//!   [`domain::Order`] and how a snapshot, a reservation change or a shipment changes it, the
//!   timeline entries that records, and the `order.changed` it emits. Unit tests sit there.
//! - [`db`]: the tables (sea-orm entities), their conversion to and from the domain types, the
//!   consumer's batch reads and writes ([`db::OrderBatch`]), and the one-order queries.
//! - [`consumers`]: the bus handler ([`consumer::OrdersHandler`]): inbox claim, decode, load,
//!   apply, save.
//! - [`service`]: the use cases the API runs (list, get, ship).
//! - [`http`]: the `/v1/orders` handlers and DTOs ([`OrdersApi`]).
//!
//! Time comes from a [`kernel::SharedClock`] given to [`OrdersApi::new`] and
//! [`consumer::OrdersHandler::new`].

pub mod consumers;
pub mod db;
pub mod domain;
pub mod http;
pub mod service;

/// The consumer under the path the binary has always used (`orders::consumer::...`).
pub use consumers as consumer;
pub use http::OrdersApi;

/// orders as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "orders",
    prefixes: &["orders"],
    consumers: &[(consumer::CONSUMER, consumer::TOPICS)],
    single_active: &[],
    api_everywhere: false,
    tables: &["orders", "order_lines", "order_timeline", "order_shipments", "order_audit_rules"],
};

/// Mounts orders: its API and, served, the consumer that builds orders from trade snapshots
/// and reservation changes.
pub fn mount(ctx: &host::Context) -> host::Mounted<OrdersApi> {
    let api = OrdersApi::new(ctx.db.clone(), ctx.clock.clone());
    if !ctx.serve {
        return host::Mounted::api_only(api);
    }
    host::Mounted {
        api,
        consumers: vec![std::sync::Arc::new(consumer::OrdersHandler::new(ctx.db.clone(), ctx.clock.clone()))],
        tasks: Vec::new(),
    }
}
