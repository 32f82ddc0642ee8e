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
