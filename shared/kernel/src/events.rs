//! The integration-event envelope and the contracts services publish to each other.
//! A consumer depends on these types, never on the producer's tables.

use crate::{
    Money, TenantId, Timestamp,
    trade::{InvoiceRequest, Receiver, TradeSnapshot},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every message on the bus, whatever the transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// UUID v7; consumers dedupe on it.
    pub id: Uuid,
    /// e.g. `order.changed`; also the routing key.
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant_id: TenantId,
    pub occurred_at: Timestamp,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    /// What must be handled in order (e.g. the order id); used to partition work.
    pub partition_key: String,
    pub schema_version: u32,
    /// The event as JSON text, kept as it came: a consumer parses it once, straight into the
    /// type it expects ([`Envelope::decode`]), and a relay or consumer that only passes the
    /// envelope on never builds a tree of it. (A `serde_json::Value` here cost a parse into
    /// maps, a clone per decode and the drop of both, for each of an event's consumers.)
    pub payload: Box<serde_json::value::RawValue>,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        let Envelope {
            id,
            kind,
            tenant_id,
            occurred_at,
            correlation_id,
            causation_id,
            partition_key,
            schema_version,
            payload,
        } = self;
        *id == other.id
            && *kind == other.kind
            && *tenant_id == other.tenant_id
            && *occurred_at == other.occurred_at
            && *correlation_id == other.correlation_id
            && *causation_id == other.causation_id
            && *partition_key == other.partition_key
            && *schema_version == other.schema_version
            && payload.get() == other.payload.get()
    }
}

impl Envelope {
    /// A new envelope for `event`, caused by `cause` when there is one.
    pub fn new<E: Event>(tenant_id: TenantId, event: &E, occurred_at: Timestamp, cause: Option<&Envelope>) -> Envelope {
        let id = crate::new_id();
        Envelope {
            id,
            kind: E::TYPE.to_owned(),
            tenant_id,
            occurred_at,
            correlation_id: cause.map_or(id, |c| c.correlation_id),
            causation_id: cause.map(|c| c.id),
            partition_key: event.partition_key(),
            schema_version: 1,
            payload: serde_json::value::to_raw_value(event).expect("events serialize"),
        }
    }

    /// The payload as the event type it claims to be.
    pub fn decode<E: Event>(&self) -> Result<E, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }

    /// One top-level string field of the payload (`None` when it is absent, not a string or
    /// the payload is not an object), read without decoding the rest into values.
    pub fn payload_str(&self, field: &str) -> Option<String> {
        serde_json::from_str::<std::collections::HashMap<&str, &serde_json::value::RawValue>>(self.payload.get())
            .ok()?
            .get(field)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    }
}

/// An integration event: a payload with a stable type name.
pub trait Event: Serialize + for<'de> Deserialize<'de> {
    /// The routing key, e.g. `order.changed`.
    const TYPE: &'static str;
    /// Events with the same key must be applied in order.
    fn partition_key(&self) -> String;
}

/// channels → orders: a marketplace told us (push or pull) what a trade looks like now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TradeReceived {
    pub channel_id: Uuid,
    pub marketplace: String,
    pub shop_id: String,
    /// The marketplace topic, e.g. `trade.TradeBuyerPay`.
    pub topic: String,
    pub message_id: String,
    /// How long an unpaid order holds its stock, from the channel's settings.
    pub hold_ttl_seconds: i64,
    pub trade: TradeSnapshot,
    /// The Cairn SKU each line maps to, by the shop's product mapping (商品对应) or its
    /// merchant code, in line order; empty in events written before mappings existed (every
    /// line then goes by its merchant code).
    #[serde(default)]
    pub skus: Vec<LineSku>,
}

/// How a trade line found the Cairn SKU it sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mapping {
    /// The shop's product mapping names the SKU for the line's item and variant.
    Mapped,
    /// No mapping: the line's merchant code is taken as the SKU code.
    MerchantCode,
    /// Neither: the line sells nothing Cairn can name until the seller maps it.
    Unmapped,
}

impl Mapping {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mapping::Mapped => "mapped",
            Mapping::MerchantCode => "merchant_code",
            Mapping::Unmapped => "unmapped",
        }
    }
}

/// One line's SKU, as the channel resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSku {
    pub external_line_id: String,
    pub sku_code: Option<String>,
    pub mapping: Mapping,
}

/// channels → orders, inventory: the seller mapped a marketplace item variant to a SKU (or
/// changed the mapping). Lines waiting on that variant can now take stock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemMapped {
    pub channel_id: Uuid,
    pub item_id: String,
    pub variant_id: Option<String>,
    pub sku_code: String,
}

impl Event for ItemMapped {
    const TYPE: &'static str = "channel.item_mapped";
    fn partition_key(&self) -> String {
        format!("{}:{}:{}", self.channel_id, self.item_id, self.variant_id.as_deref().unwrap_or(""))
    }
}

impl Event for TradeReceived {
    const TYPE: &'static str = "channel.trade_received";
    fn partition_key(&self) -> String {
        format!("{}:{}", self.channel_id, self.trade.external_id)
    }
}

/// Cairn's order states (see ARCHITECTURE.md, Orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Allocated,
    Backordered,
    OnHold,
    PartiallyShipped,
    Shipped,
    Completed,
    Cancelled,
}

impl OrderStatus {
    /// The wire name, as in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Allocated => "allocated",
            OrderStatus::Backordered => "backordered",
            OrderStatus::OnHold => "on_hold",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        Self::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// Every state, in lifecycle order.
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Allocated,
        OrderStatus::Backordered,
        OrderStatus::OnHold,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
    ];
}

/// One order line as inventory (and invoicing) need it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderLineRef {
    pub external_line_id: String,
    /// The SKU the line sells; `None` while it maps to none (it then waits, keyed by its
    /// marketplace item and variant, for the seller to map it).
    pub sku_code: Option<String>,
    /// The marketplace's item and variant (see [`crate::trade::TradeLine`]).
    #[serde(default)]
    pub item_id: Option<String>,
    #[serde(default)]
    pub variant_id: Option<String>,
    pub quantity: i64,
    /// A refund succeeded for this line.
    pub refunded: bool,
    // What invoicing needs; absent from events written before they existed.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub unit_price: Money,
    /// What the buyer paid for the line, as the marketplace reports it.
    #[serde(default)]
    pub payment: Money,
    /// The seller shipped this line through Cairn (`POST /v1/orders/{id}/ship`); its stock is
    /// committed even while the order as a whole is only partially shipped.
    #[serde(default)]
    pub shipped: bool,
}

/// orders → inventory (and anyone else): the order as it is now. Consumers apply it only
/// when `revision` is newer than what they applied, so redelivery and reordering are harmless.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderChanged {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    pub external_id: String,
    pub status: OrderStatus,
    /// Monotonic per order: the marketplace's `modified` in microseconds.
    pub revision: i64,
    pub created_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub hold_ttl_seconds: i64,
    pub lines: Vec<OrderLineRef>,
    // The commercial terms, for invoicing; absent from events written before they existed.
    #[serde(default)]
    pub currency: String,
    /// What the buyer paid for the whole order (lines − discount + post fee).
    #[serde(default)]
    pub payment: Money,
    #[serde(default)]
    pub post_fee: Money,
    /// The order-level discount.
    #[serde(default)]
    pub discount_fee: Money,
    #[serde(default)]
    pub buyer_nick: String,
    #[serde(default)]
    pub invoice_request: Option<InvoiceRequest>,
    /// Where the order ships to (its province decides the warehouse under the region
    /// strategy).
    #[serde(default)]
    pub receiver: Option<Receiver>,
}

impl Event for OrderChanged {
    const TYPE: &'static str = "order.changed";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}

/// The state of one reserved line, as inventory reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineReservationState {
    /// Nothing reserved (an unpaid line for which there was no stock to hold).
    Unreserved,
    Held,
    Confirmed,
    Committed,
    Released,
    Expired,
    Backordered,
    /// The line names no SKU Cairn has: it waits, in paid-time order, for a product mapping
    /// (or the SKU) to exist.
    Unmapped,
}

impl LineReservationState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreserved => "unreserved",
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Backordered => "backordered",
            Self::Unmapped => "unmapped",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Unreserved,
            Self::Held,
            Self::Confirmed,
            Self::Committed,
            Self::Released,
            Self::Expired,
            Self::Backordered,
            Self::Unmapped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One line of [`ReservationChanged`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReservedLine {
    pub line_ref: String,
    /// The SKU reserved (`None` while the line is [`LineReservationState::Unmapped`]).
    pub sku_code: Option<String>,
    pub quantity: i64,
    pub state: LineReservationState,
    /// Where the units are reserved: one warehouse, or several when the tenant lets a line
    /// split; empty while nothing is reserved.
    #[serde(default)]
    pub warehouses: Vec<WarehouseQuantity>,
}

/// Units of a line in one warehouse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WarehouseQuantity {
    pub warehouse_code: String,
    pub quantity: i64,
}

/// inventory → orders: a reservation's lines changed state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReservationChanged {
    pub reservation_id: Uuid,
    pub reservation_key: String,
    pub reference: String,
    /// Set when the reservation belongs to an order.
    pub order_id: Option<Uuid>,
    /// Increases with every change of this reservation.
    pub version: i64,
    pub lines: Vec<ReservedLine>,
}

impl Event for ReservationChanged {
    const TYPE: &'static str = "stock.reservation_changed";
    fn partition_key(&self) -> String {
        self.reservation_key.clone()
    }
}

/// orders → channels: the seller shipped (some of) an order through Cairn; the shipment is
/// written back to the marketplace. One event per (order, waybill).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderShipped {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    /// The marketplace's trade id.
    pub external_id: String,
    /// The carrier's code, e.g. `SF`.
    pub company_code: String,
    pub waybill_no: String,
    /// The marketplace line ids shipped; `None` when the whole order shipped.
    pub external_line_ids: Option<Vec<String>>,
    pub shipped_at: Timestamp,
}

impl Event for OrderShipped {
    const TYPE: &'static str = "order.shipped";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}

/// Why an order is held back from shipping (审单).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A line maps to no SKU.
    UnmappedSku,
    /// A line's refund is requested and the order is not shipped.
    RefundPending,
    /// The receiver changed after payment.
    AddressChanged,
    /// The buyer left a memo (when the seller's audit rules say so).
    BuyerMemo,
    /// The seller left a memo or flag (when the audit rules say so).
    SellerMemo,
    /// The payment is above the seller's threshold (when the audit rules say so).
    AmountOver,
    /// Someone held it by hand.
    Manual,
}

impl HoldReason {
    /// Every reason.
    pub const ALL: [HoldReason; 7] = [
        HoldReason::UnmappedSku,
        HoldReason::RefundPending,
        HoldReason::AddressChanged,
        HoldReason::BuyerMemo,
        HoldReason::SellerMemo,
        HoldReason::AmountOver,
        HoldReason::Manual,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::UnmappedSku => "unmapped_sku",
            HoldReason::RefundPending => "refund_pending",
            HoldReason::AddressChanged => "address_changed",
            HoldReason::BuyerMemo => "buyer_memo",
            HoldReason::SellerMemo => "seller_memo",
            HoldReason::AmountOver => "amount_over",
            HoldReason::Manual => "manual",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<HoldReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// orders → shipping: an order's holds changed. While `holds` is not empty nothing may ship
/// it: whatever acts on [`OrderReadyToShip`] stops (intercepts) what it has not shipped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderHoldChanged {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    pub external_id: String,
    pub holds: Vec<HoldReason>,
    /// Monotonic per order (as in [`OrderChanged`]).
    pub revision: i64,
    /// Whether the order is ready to ship now. Also sent with no hold when an order that was
    /// ready stops being so for another reason (cancelled, shipped elsewhere, nothing left).
    #[serde(default)]
    pub ready: bool,
    /// The order's status when this was said (absent from events written before it existed).
    #[serde(default)]
    pub status: Option<OrderStatus>,
}

impl Event for OrderHoldChanged {
    const TYPE: &'static str = "order.hold_changed";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}

/// A line of [`OrderReadyToShip`]: what leaves one warehouse for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReadyLine {
    pub external_line_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
}

/// orders → shipping: an order (paid, allocated, holding nothing) can ship from `warehouse_code`;
/// one event per warehouse it ships from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderReadyToShip {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    pub external_id: String,
    pub warehouse_code: String,
    pub lines: Vec<ReadyLine>,
    pub receiver: Option<Receiver>,
    pub paid_at: Option<Timestamp>,
    /// Orders with the same key may travel as one parcel: tenant, warehouse, buyer, and the
    /// receiver's name, phone and address, normalised.
    pub merge_key: String,
    /// Monotonic per order (as in [`OrderChanged`]).
    pub revision: i64,
    /// What the buyer paid for the whole order (carrier rules may look at it).
    #[serde(default)]
    pub payment: Money,
}

impl Event for OrderReadyToShip {
    const TYPE: &'static str = "order.ready_to_ship";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}

/// inventory → channels: a SKU's sellable quantity changed. Emitted at most once per SKU per
/// committed batch, with the level after the batch; consumers keep the newest `version`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockLevelChanged {
    pub sku_code: String,
    /// on hand − reserved − safety stock, over every warehouse, never below zero.
    pub available: i64,
    pub on_hand: i64,
    pub reserved: i64,
    /// Increases with every change of this SKU's levels (the engine's batch sequence).
    pub version: i64,
}

impl Event for StockLevelChanged {
    const TYPE: &'static str = "stock.level_changed";
    fn partition_key(&self) -> String {
        self.sku_code.clone()
    }
}

/// A line of a shipment that left, as [`ShipmentShipped`] lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShippedOrder {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    pub external_id: String,
    /// The marketplace line ids this shipment completes (every unit of them has now left);
    /// empty when it carried only part of lines that other shipments finish.
    pub completed_line_ids: Vec<String>,
}

/// shipping → orders: a shipment was scanned out with its waybill. Each order in it is
/// shipped (its completed lines written back to the marketplace with this waybill).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShipmentShipped {
    pub shipment_id: Uuid,
    /// The carrier's code, e.g. `ZTO`: the marketplace's `company_code`.
    pub cp_code: String,
    pub waybill_code: String,
    pub warehouse_code: String,
    pub orders: Vec<ShippedOrder>,
    pub shipped_at: Timestamp,
}

impl Event for ShipmentShipped {
    const TYPE: &'static str = "shipment.shipped";
    fn partition_key(&self) -> String {
        self.shipment_id.to_string()
    }
}

/// shipping → orders: the carrier reported a shipment delivered, in trouble or returned.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShipmentTracked {
    pub shipment_id: Uuid,
    pub waybill_code: String,
    /// `in_transit`, `delivered`, `exception` or `returned` (the shipment's status now).
    pub status: String,
    pub order_ids: Vec<Uuid>,
    /// The carrier's time of the event.
    pub at: Timestamp,
    /// The carrier's words (location, detail).
    pub detail: String,
}

impl Event for ShipmentTracked {
    const TYPE: &'static str = "shipment.tracked";
    fn partition_key(&self) -> String {
        self.shipment_id.to_string()
    }
}

/// invoicing → subscribers: an invoice or a credit note was issued (once per document).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InvoiceIssued {
    pub invoice_id: Uuid,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// e.g. `CN2026-000042`.
    pub number: String,
    pub order_id: Uuid,
    /// The marketplace's order number.
    pub order_ref: String,
    /// A credit note's invoice.
    pub original_id: Option<Uuid>,
    pub currency: String,
    /// Total with tax, in minor units (fen).
    pub total: Money,
    pub issued_at: Timestamp,
}

impl Event for InvoiceIssued {
    const TYPE: &'static str = "invoice.issued";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}

/// Units of a SKU coming back, as [`StockReturned`] lists them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReturnedUnits {
    pub sku_code: String,
    pub quantity: i64,
}

/// shipping → inventory: goods came back to a warehouse and may be sold again (a parcel
/// returned by the carrier, or a buyer's return received as sellable). Applied once per
/// `return_key`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StockReturned {
    /// Unique per return: `shipment:<id>` for a returned parcel, `return:<id>` for a receipt.
    pub return_key: String,
    pub warehouse_code: String,
    pub lines: Vec<ReturnedUnits>,
    /// Why, for the ledger (e.g. `parcel ZT730… returned by the carrier`).
    pub cause: String,
}

impl Event for StockReturned {
    const TYPE: &'static str = "stock.returned";
    fn partition_key(&self) -> String {
        self.return_key.clone()
    }
}

/// A line of [`OrderReturnExpected`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReturnLine {
    pub external_line_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: i64,
}

/// orders → shipping: lines that left through Cairn are being sent back by the buyer (a refund
/// with the goods returned: `WAIT_BUYER_RETURN_GOODS`). Shipping expects the return and
/// restocks what arrives sellable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderReturnExpected {
    pub order_id: Uuid,
    pub channel_id: Uuid,
    pub external_id: String,
    pub lines: Vec<ReturnLine>,
}

impl Event for OrderReturnExpected {
    const TYPE: &'static str = "order.return_expected";
    fn partition_key(&self) -> String {
        self.order_id.to_string()
    }
}
