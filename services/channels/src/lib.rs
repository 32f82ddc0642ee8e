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
pub mod reconcile;
pub mod service;
pub mod writeback;

pub use http::ChannelsApi;
