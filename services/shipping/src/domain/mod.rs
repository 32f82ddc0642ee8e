//! The shipping domain: shipments (发货单) and how orders become them, carrier rules, waybills
//! and tracking. Pure: no I/O, no clock (times come in as arguments).
//!
//! A shipment is what leaves one warehouse as one parcel (or one multi-parcel waybill): the
//! lines of one or more orders of one buyer to one receiver. Orders keep their identity inside
//! it, because each is written back to its marketplace on its own.

pub mod plan;
pub mod rules;
pub mod tracking;

use kernel::{HoldReason, Money, Timestamp, trade::Receiver};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a shipment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a waybill (a draw that failed leaves it here, with the reason).
    Pending,
    WaybillAllocated,
    Printed,
    /// Scanned out of the warehouse: the orders are written back as shipped.
    Shipped,
    InTransit,
    Delivered,
    /// An order in it is held (审单) before any waybill was drawn.
    OnHold,
    /// An order in it was held after its waybill was drawn: the waybill is cancelled (拦截).
    Intercepted,
    /// Nothing in it is to ship any more (its orders were cancelled or shipped elsewhere).
    Cancelled,
    /// The carrier reported a problem with the parcel (问题件).
    Exception,
    /// The parcel came back to the sender; its units are back in stock.
    Returned,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 11] = [
        Status::Pending,
        Status::WaybillAllocated,
        Status::Printed,
        Status::Shipped,
        Status::InTransit,
        Status::Delivered,
        Status::OnHold,
        Status::Intercepted,
        Status::Cancelled,
        Status::Exception,
        Status::Returned,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::WaybillAllocated => "waybill_allocated",
            Status::Printed => "printed",
            Status::Shipped => "shipped",
            Status::InTransit => "in_transit",
            Status::Delivered => "delivered",
            Status::OnHold => "on_hold",
            Status::Intercepted => "intercepted",
            Status::Cancelled => "cancelled",
            Status::Exception => "exception",
            Status::Returned => "returned",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Not left the warehouse and not given up: it may still change, be held or be drawn.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::WaybillAllocated | Status::Printed | Status::OnHold | Status::Intercepted
        )
    }

    /// Scanned out (or further along the carrier's way).
    pub fn has_left(self) -> bool {
        matches!(self, Status::Shipped | Status::InTransit | Status::Delivered | Status::Exception | Status::Returned)
    }
}

/// The order of an order's readiness news: its revision, then when orders said it. Two events
/// about one order compare by this; the older one changes nothing. (A manual hold and its
/// release keep the revision, so the time tells them apart.)
pub type Seq = (i64, Timestamp);

/// One order travelling in a shipment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRef {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    /// The marketplace's trade id, written on the label and used for the write-back.
    pub external_id: String,
    pub paid_at: Option<Timestamp>,
    /// What the buyer paid for the whole order (carrier rules may look at it).
    #[serde(default)]
    pub payment: Money,
    /// The newest readiness news applied for this order.
    pub seq: Seq,
    /// Its holds as orders last said; while any, the shipment may not be drawn or shipped.
    #[serde(default)]
    pub holds: Vec<HoldReason>,
}

/// Units of one order line in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub order_id: Uuid,
    pub external_line_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
}

/// What Courier printed data says about a waybill (COURIER.md `print_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PrintData {
    pub sortation_name: String,
    pub route_code: String,
    pub consolidation_code: String,
    pub cp_name: String,
}

/// A waybill drawn for a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waybill {
    pub code: String,
    pub cp_code: String,
    pub account_id: Uuid,
    /// For a multi-parcel waybill: the children's codes (the parent is `code`).
    #[serde(default)]
    pub child_codes: Vec<String>,
    pub print: PrintData,
    pub drawn_at: Timestamp,
}

impl Waybill {
    /// Every parcel's code, the parent first.
    pub fn parcel_codes(&self) -> Vec<String> {
        std::iter::once(self.code.clone()).chain(self.child_codes.iter().cloned()).collect()
    }
}

/// A shipment with everything the rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    pub id: Uuid,
    pub warehouse_code: String,
    /// Orders with the same key may travel together (see `order.ready_to_ship`).
    pub merge_key: String,
    pub status: Status,
    pub orders: Vec<OrderRef>,
    pub lines: Vec<Line>,
    pub receiver: Receiver,
    /// When its first order was paid: orders paid within the merge wait of it may join.
    pub opened_at: Timestamp,
    /// The live waybill, if one is drawn.
    pub waybill: Option<Waybill>,
    pub parcels: u32,
    pub weight_grams: i64,
    /// Why it is stuck: the last draw's error, or what intercepted it.
    pub problem: Option<String>,
    pub print_count: i32,
    /// The carrier's latest tracking status and its time (newer wins).
    pub tracking: Option<(tracking::TrackStatus, Timestamp)>,
    pub shipped_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Shipment {
    /// The order `id` in it.
    pub fn order(&self, id: Uuid) -> Option<&OrderRef> {
        self.orders.iter().find(|o| o.order_id == id)
    }

    /// Whether any order in it is held.
    pub fn held(&self) -> bool {
        self.orders.iter().any(|o| !o.holds.is_empty())
    }

    /// Units in it.
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// The trade ids it carries, in order.
    pub fn trade_ids(&self) -> Vec<String> {
        self.orders.iter().map(|o| o.external_id.clone()).collect()
    }
}

/// The seller's shipping settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Orders of one buyer to one receiver paid within this many seconds of the shipment's
    /// first one travel together; 0 turns merging off.
    pub merge_wait_seconds: i64,
    /// The weight assumed per unit when nothing better is known (carrier rules compare it).
    pub unit_weight_grams: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { merge_wait_seconds: 600, unit_weight_grams: 300 }
    }
}

/// Longest merge wait a seller may set (one day).
pub const MAX_MERGE_WAIT_SECONDS: i64 = 86_400;
/// Most parcels one waybill may have.
pub const MAX_PARCELS: u32 = 20;
