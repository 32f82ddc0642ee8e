//! Types more than one service shares: ids, money, the clock, and the integration-event
//! contracts that travel on the bus. Nothing here does I/O.

pub mod events;
pub mod money;
pub mod signature;
pub mod trade;

pub use events::{Envelope, Event, LineReservationState, OrderStatus};
pub use money::{Money, MoneyError};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A point in time; every service uses UTC internally.
pub type Timestamp = DateTime<Utc>;

/// A tenant's id: every row, event and token carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A new time-ordered id (UUID v7): primary keys and message ids sort by creation.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// The source of "now", so that domain code never reads the system clock itself.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}
