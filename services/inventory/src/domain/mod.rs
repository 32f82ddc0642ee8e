//! The inventory domain: one tenant's stock book, kept in memory by its single writer.
//!
//! Pure and synchronous: no clock (callers pass `now`), no I/O, no async. Every command either
//! applies fully and returns the [`StockEvent`]s describing what changed, or returns an error
//! and leaves the book untouched. The engine persists the events (ledger rows, levels,
//! reservations, outbox) in one transaction per batch.

mod book;

pub use book::*;

use kernel::{LineReservationState as LineState, OrderStatus, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Units that can still be promised: on hand − reserved − safety stock. Negative when stock
/// was taken below the safety stock (a count or a damaged unit); see [`sellable`].
pub fn available(on_hand: i64, reserved: i64, safety_stock: i64) -> i64 {
    on_hand - reserved - safety_stock
}

/// What a person or a shop is shown as sellable: [`available`], never below 0.
pub fn sellable(on_hand: i64, reserved: i64, safety_stock: i64) -> i64 {
    available(on_hand, reserved, safety_stock).max(0)
}

/// Why a stock command was refused. Serializable: the owner of a tenant's shard sends it to
/// the process that asked (see `crate::remote`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum StockError {
    #[error("unknown SKU `{0}`")]
    UnknownSku(String),
    #[error("unknown warehouse `{0}`")]
    UnknownWarehouse(String),
    /// Settings name warehouses the tenant does not have (each listed once).
    #[error("unknown warehouses: {}", .0.join(", "))]
    UnknownWarehouses(Vec<String>),
    #[error("no reservation with that id")]
    UnknownReservation,
    #[error("not enough stock")]
    Insufficient(Vec<Shortage>),
    #[error("{0} `{1}` already exists with different fields")]
    AlreadyExists(&'static str, String),
    #[error("the Idempotency-Key was used for a different request")]
    KeyReused,
    #[error("cannot {action} a reservation that is {state}")]
    InvalidTransition { action: &'static str, state: &'static str },
    #[error("{0}")]
    Invalid(String),
}

/// A [`StockError`] as read back from its serialized form: its fixed words as strings.
#[derive(Deserialize)]
enum WireStockError {
    UnknownSku(String),
    UnknownWarehouse(String),
    UnknownWarehouses(Vec<String>),
    UnknownReservation,
    Insufficient(Vec<Shortage>),
    AlreadyExists(String, String),
    KeyReused,
    InvalidTransition { action: String, state: String },
    Invalid(String),
}

// By hand, through the wire form: serde's derive would read the fixed words as borrowed
// `&'static str`, which only a `'static` input can lend.
impl<'de> Deserialize<'de> for StockError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        WireStockError::deserialize(d).map(Into::into)
    }
}

impl From<WireStockError> for StockError {
    fn from(w: WireStockError) -> Self {
        use WireStockError as W;
        match w {
            W::UnknownSku(c) => StockError::UnknownSku(c),
            W::UnknownWarehouse(c) => StockError::UnknownWarehouse(c),
            W::UnknownWarehouses(c) => StockError::UnknownWarehouses(c),
            W::UnknownReservation => StockError::UnknownReservation,
            W::Insufficient(l) => StockError::Insufficient(l),
            W::AlreadyExists(what, code) => StockError::AlreadyExists(known_word(&what), code),
            W::KeyReused => StockError::KeyReused,
            W::InvalidTransition { action, state } => {
                StockError::InvalidTransition { action: known_word(&action), state: known_word(&state) }
            }
            W::Invalid(m) => StockError::Invalid(m),
        }
    }
}

/// A word a [`StockError`] names (`sku`, `confirm`, a line state, …), or `unknown` for one
/// this version does not use.
fn known_word(s: &str) -> &'static str {
    const WORDS: [&str; 5] = ["warehouse", "sku", "confirm", "release", "commit"];
    WORDS.into_iter().find(|w| *w == s).or_else(|| LineState::parse(s).map(LineState::as_str)).unwrap_or("unknown")
}

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortage {
    pub sku_code: String,
    pub requested: i64,
    pub available: i64,
}

/// A stock location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: Uuid,
    pub code: String,
    pub name: String,
}

/// A stock-keeping unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// Units never promised to anyone.
    pub safety_stock: i64,
}

/// On-hand and reserved units of one SKU in one warehouse. `version` is the stored row's
/// version (0 = not stored yet); writes are fenced on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub on_hand: i64,
    pub reserved: i64,
    pub version: i64,
}

/// Part of a line taken from one warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alloc {
    pub warehouse_id: Uuid,
    pub quantity: i64,
}

/// One reserved line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResLine {
    /// The order line id, or the line's index for API reservations.
    pub line_ref: String,
    pub sku_id: Uuid,
    pub sku_code: String,
    pub quantity: i64,
    pub state: LineState,
    pub allocations: Vec<Alloc>,
    /// When the line joined the backorder queue (FIFO by this, then by reservation key).
    pub backordered_at: Option<Timestamp>,
    /// The marketplace variant an order line sells (absent from API reservations and from
    /// lines stored before it was kept). While the line is unmapped, the first message that
    /// maps the variant resolves every line waiting on it (see [`Book::sync_order`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<VariantRef>,
}

/// A shop's item variant, as the marketplace names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VariantRef {
    pub channel_id: Uuid,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
}

/// A reservation: made through the API, or the stock side of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: Uuid,
    pub key: String,
    pub reference: String,
    pub order_id: Option<Uuid>,
    /// Hash of the request that created it (API reservations), for idempotency.
    pub request_hash: String,
    /// Held lines expire at this time.
    pub expires_at: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    /// The order revision applied last (0 for API reservations).
    pub revision: i64,
    /// The order receiver's province (the region strategy's input), if known.
    pub province: Option<String>,
    /// Increases with every change.
    pub version: i64,
    pub lines: Vec<ResLine>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Reservation {
    /// One word for the whole reservation: the most pressing of its lines' states.
    pub fn state(&self) -> LineState {
        const ORDER: [LineState; 8] = [
            LineState::Backordered,
            LineState::Unmapped,
            LineState::Held,
            LineState::Confirmed,
            LineState::Committed,
            LineState::Expired,
            LineState::Released,
            LineState::Unreserved,
        ];
        ORDER.into_iter().find(|s| self.lines.iter().any(|l| l.state == *s)).unwrap_or(LineState::Unreserved)
    }
}

/// Why stock moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    Receipt,
    Adjustment,
    Reserve,
    Release,
    Commit,
    Expire,
    /// Goods back from a buyer or the carrier, sellable again.
    Return,
}

impl MovementKind {
    /// The ledger's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Receipt => "receipt",
            MovementKind::Adjustment => "adjustment",
            MovementKind::Reserve => "reserve",
            MovementKind::Release => "release",
            MovementKind::Commit => "commit",
            MovementKind::Expire => "expire",
            MovementKind::Return => "return",
        }
    }
}

/// One row of the append-only stock ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub sku_id: Uuid,
    pub warehouse_id: Uuid,
    pub kind: MovementKind,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reservation_id: Option<Uuid>,
    pub cause: String,
}

/// What a command changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockEvent {
    WarehouseCreated(Uuid),
    SkuCreated(Uuid),
    /// A ledger movement; the (sku, warehouse) level changed by its deltas.
    Moved(Movement),
    /// The reservation with this key changed (state, lines or expiry).
    ReservationChanged(String),
}

/// An order as inventory needs it (from `order.changed`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOrder {
    pub order_id: Uuid,
    /// The shop the order came from (its lines' variants are that shop's).
    pub channel_id: Uuid,
    pub reference: String,
    pub revision: i64,
    pub status: OrderStatus,
    pub created_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub hold_ttl_seconds: i64,
    pub lines: Vec<kernel::events::OrderLineRef>,
    /// The receiver's province, e.g. `浙江省` (see [`Strategy::Region`]).
    pub province: Option<String>,
}

/// A line of an API reservation request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveLine {
    pub sku_code: String,
    pub quantity: i64,
}

/// An API reservation request: all lines or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserve {
    pub key: String,
    pub request_hash: String,
    pub reference: String,
    pub lines: Vec<ReserveLine>,
    pub ttl_seconds: i64,
}

/// A stock correction or receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjust {
    pub sku_code: String,
    pub warehouse_code: Option<String>,
    pub delta: i64,
    pub reason: String,
}

/// The order in which an order's lines take stock from the tenant's warehouses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The warehouses in [`Allocation::priority`] order, then the others by code.
    Priority,
    /// The warehouse with the most free units of what is wanted first.
    #[default]
    MostStock,
    /// The receiver's province picks a list ([`Allocation::regions`]), else
    /// [`Allocation::fallback`]; the warehouses named by neither follow, most stock first.
    Region,
}

/// The warehouses that serve one province, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRule {
    /// e.g. `浙江省`; `浙江` matches it too (see [`province_key`]).
    pub province: String,
    pub warehouses: Vec<String>,
}

/// A tenant's allocation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub strategy: Strategy,
    /// Warehouse codes, most preferred first ([`Strategy::Priority`]).
    #[serde(default)]
    pub priority: Vec<String>,
    #[serde(default)]
    pub regions: Vec<RegionRule>,
    /// Warehouse codes for provinces no rule names ([`Strategy::Region`]).
    #[serde(default)]
    pub fallback: Vec<String>,
    /// A line, and an order's lines, may be served from several warehouses. When false, an
    /// order's lines all come from one warehouse that can serve them all, or wait for one.
    pub allow_split: bool,
}

impl Default for Allocation {
    /// Most stock first, splitting allowed.
    fn default() -> Self {
        Allocation {
            strategy: Strategy::MostStock,
            priority: Vec::new(),
            regions: Vec::new(),
            fallback: Vec::new(),
            allow_split: true,
        }
    }
}

impl Allocation {
    /// Every warehouse code the settings name, each once, in order of first mention.
    pub fn warehouse_codes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self.priority.iter().chain(self.regions.iter().flat_map(|r| &r.warehouses)).chain(&self.fallback);
        for c in all {
            if !out.contains(&c.as_str()) {
                out.push(c);
            }
        }
        out
    }
}

/// A province's name without its administrative suffix and surrounding space, so that
/// `浙江省`, `浙江` and ` 浙江 ` match, as do `上海市`/`上海` and `广西壮族自治区`/`广西`.
pub fn province_key(p: &str) -> &str {
    const SUFFIXES: [&str; 7] = ["壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市"];
    let p = p.trim();
    SUFFIXES.iter().find_map(|s| p.strip_suffix(s)).filter(|k| !k.is_empty()).unwrap_or(p).trim()
}
