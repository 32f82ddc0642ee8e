//! inventory: SKUs, warehouses, stock levels, reservations, the stock ledger and backorders.
//!
//! `domain` is the pure stock book; `engine` is the single-writer, group-commit hot path that
//! owns the books; `http` is the API; `consumer` turns `order.changed` events into engine
//! commands.

pub mod consumer;
pub mod db;
pub mod domain;
pub mod engine;
pub mod http;

pub use engine::Engine;

use serde::Deserialize;

/// inventory as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "inventory",
    prefixes: &["warehouses", "skus", "stock", "reservations", "inventory"],
    consumers: &[(engine::CONSUMER, consumer::TOPICS)],
    single_active: &[engine::CONSUMER],
    tables: &[
        "warehouses",
        "skus",
        "stock_levels",
        "reservations",
        "stock_ledger",
        "inventory_settings",
        "inventory_allocation",
    ],
};

/// inventory's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Settings {
    /// Engine partitions (writer tasks); a tenant's stock lives in exactly one.
    pub partitions: usize,
}

/// Mounts inventory. Served, it starts the engine's partition writers (which also expire
/// holds) and the `order.changed` consumer; not served, the API gets an engine with no
/// writers and nothing runs.
pub fn mount(ctx: &host::Context, settings: &Settings) -> host::Mounted<http::InventoryApi> {
    if !ctx.serve {
        return host::Mounted::api_only(http::InventoryApi::new(ctx.db.clone(), Engine::detached()));
    }
    let (engine, tasks) = Engine::start(ctx.db.clone(), settings.partitions, true, ctx.clock.clone());
    host::Mounted {
        api: http::InventoryApi::new(ctx.db.clone(), engine.clone()),
        consumers: vec![std::sync::Arc::new(consumer::OrderStockHandler::new(engine))],
        tasks,
    }
}
