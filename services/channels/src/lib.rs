//! channels: connected shops, webhook ingress, reconciliation pulls and write-backs.
//!
//! A webhook is answered 2xx only after the raw message (for dedupe and audit) and the
//! `channel.trade_received` event are committed in one transaction; everything after that
//! runs from the outbox.

pub mod adapters;
pub mod connector;
pub mod db;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod reconcile;
pub mod service;
pub mod writeback;

pub use http::ChannelsApi;
