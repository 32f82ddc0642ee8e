//! Write-backs to the marketplaces: shipments and the stock each shop displays.
//!
//! Events arrive through the bus (`order.shipped`, `stock.level_changed`) and become rows
//! (`shipment_writebacks`, `stock_pushes`) in the same transaction as the inbox claim; a worker
//! sends due rows and records the outcome. That is the outbox pattern towards the marketplace:
//! a row is only finished when the marketplace answered 2xx, so an outage of any length costs
//! retries, never a write-back.
//!
//! - Stock is coalesced per (shop, SKU): the row holds the newest `desired` quantity and the
//!   last `pushed` one; a burst of reservations becomes one call with the latest figure.
//! - Retries back off exponentially (1 s doubling to 60 s) or as `Retry-After` says. A worker
//!   claims a row by moving its `next_attempt_at` forward with a conditional update, so two
//!   instances never send the same row at once.
//! - Both calls are idempotent at the marketplace (same waybill; a quantity is a level), so a
//!   call whose answer was lost is safely repeated.
//!
//! This module owns `shipment_writebacks`, `stock_pushes` and `channel_stock_levels`: other
//! modules pause, resume and count a shop's write-backs through the functions here.

mod channel;
pub mod gauge;
mod handler;
mod plan;
pub mod state;
mod worker;

pub use channel::{Counts, counts, pause_channel, resend_stock, resume_channel};
pub use handler::{CONSUMER, TOPICS, WritebackHandler};
pub use plan::{preview, replan_tenant};
pub use worker::{Pass, Worker};
