//! inventory: SKUs, warehouses, stock levels, reservations, the stock ledger and backorders.
//!
//! `domain` is the pure stock book; `engine` is the single-writer, group-commit hot path that
//! owns the books; `http` is the API; `consumer` turns `order.changed` events into engine
//! commands and, on RabbitMQ, answers the API's commands sent to the owner of a tenant's shard
//! by `remote`.

pub mod consumer;
pub mod db;
pub mod domain;
pub mod engine;
pub mod http;
pub mod remote;

pub use engine::Engine;

use serde::Deserialize;

/// inventory as the binary sees it.
pub const SERVICE: host::Descriptor = host::Descriptor {
    name: "inventory",
    prefixes: &["warehouses", "skus", "stock", "reservations", "inventory"],
    consumers: &[(engine::CONSUMER, consumer::TOPICS)],
    single_active: &[engine::CONSUMER],
    // Reads from the database, commands to the shard's owner: see `remote`.
    api_everywhere: true,
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
    /// RabbitMQ: how long an API command waits for the answer of its shard's owner before
    /// it answers 503 (and the command is dropped unapplied by an owner that gets it later).
    pub command_timeout: std::time::Duration,
}

/// Mounts inventory. Served, it starts the engine's partition writers (which also expire
/// holds) and the consumer of its shards' events and commands. On RabbitMQ the API sends its
/// commands to the owner of the tenant's shard, served here or not (see [`remote`]); on the
/// embedded bus to this process's engine. Not served and without RabbitMQ (the spec alone),
/// the API gets an engine with no writers and nothing runs.
pub fn mount(ctx: &host::Context, settings: &Settings) -> host::Mounted<http::InventoryApi> {
    let remote =
        ctx.requester.clone().map(|r| remote::Commands::Remote(remote::RemoteEngine::new(r, settings.command_timeout)));
    if !ctx.serve {
        let commands = remote.unwrap_or_else(|| remote::Commands::Local(Engine::detached()));
        return host::Mounted::api_only(http::InventoryApi::new(ctx.db.clone(), commands));
    }
    let (engine, tasks) = Engine::start(ctx.db.clone(), settings.partitions, true, ctx.clock.clone());
    let commands = remote.unwrap_or_else(|| remote::Commands::Local(engine.clone()));
    host::Mounted {
        api: http::InventoryApi::new(ctx.db.clone(), commands),
        consumers: vec![std::sync::Arc::new(consumer::OrderStockHandler::new(engine))],
        tasks,
    }
}
