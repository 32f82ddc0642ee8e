//! channels: connected shops and webhook ingress.
//!
//! A webhook is answered 2xx only after the raw message (for dedupe and audit) and the
//! `channel.trade_received` event are committed in one transaction; everything after that
//! runs from the outbox.

pub mod bazaar;
pub mod db;
pub mod http;

pub use http::ChannelsApi;
