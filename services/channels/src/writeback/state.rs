//! The states of a write-back row (`shipment_writebacks.state`, `stock_pushes.state`).

/// Waiting to be sent (or retried).
pub const PENDING: &str = "pending";
/// The marketplace shows what Cairn wants.
pub const SYNCED: &str = "synced";
/// The shipment was written back.
pub const DONE: &str = "done";
/// The marketplace refused it for good; `last_error` says why.
pub const REJECTED: &str = "rejected";
/// The shop has no Open API credentials: nothing can be written back.
pub const NO_API: &str = "no_api";
