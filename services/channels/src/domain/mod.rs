//! The channels domain: the rules that decide what Cairn does with a shop, a webhook, a refund,
//! a write-back or a stock level. Pure and synchronous: no database, HTTP, runtime or clock
//! (callers pass `now`), so every rule is unit-tested in its own file.

pub mod mapping;
pub mod refund;
pub mod retry;
pub mod shop;
pub mod stock;
pub mod webhook;
