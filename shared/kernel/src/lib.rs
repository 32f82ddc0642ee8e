//! Types more than one service shares: ids, money, the clock, and the integration-event
//! contracts that travel on the bus. Nothing here does I/O.

pub mod events;
pub mod money;
pub mod signature;
pub mod trade;

pub use events::{Envelope, Event, HoldReason, LineReservationState, OrderStatus};
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

/// A clock shared by a process's services.
pub type SharedClock = std::sync::Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}

impl SystemClock {
    /// The wall clock, shared.
    pub fn shared() -> SharedClock {
        std::sync::Arc::new(SystemClock)
    }
}

/// A clock that tests move by hand, so that time-decided behaviour (hold expiry, a rotated
/// secret's hour, token expiry) is tested without sleeping. It starts at the wall clock's now
/// and then advances only by [`ManualClock::advance`] (or the wall clock's own progress, when
/// made with [`ManualClock::offset`], for tests that run real traffic too).
#[derive(Debug, Default)]
pub struct ManualClock {
    state: std::sync::Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    fixed: Option<Timestamp>,
    offset: chrono::Duration,
}

impl ManualClock {
    /// Frozen at `at`.
    pub fn fixed(at: Timestamp) -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock {
            state: std::sync::Mutex::new(ManualState { fixed: Some(at), ..Default::default() }),
        })
    }

    /// The wall clock plus an offset that [`ManualClock::advance`] grows.
    pub fn offset() -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock::default())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut s = self.state.lock().expect("clock lock");
        match &mut s.fixed {
            Some(at) => *at += by,
            None => s.offset += by,
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let s = self.state.lock().expect("clock lock");
        s.fixed.unwrap_or_else(|| Utc::now() + s.offset)
    }
}
