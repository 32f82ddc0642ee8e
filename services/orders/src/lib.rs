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
