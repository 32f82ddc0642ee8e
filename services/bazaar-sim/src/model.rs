//! The simulator's public request and record types, shared by the Rust API (`Sim`), the admin
//! HTTP API (as JSON) and the tests. Amounts are BAZAAR.md decimal strings.

use crate::domain::trade::{InvoiceRequest, Receiver};
use serde::{Deserialize, Deserializer, Serialize};

/// A shop on Bazaar and the credentials of the app (Cairn) it authorised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shop {
    pub shop_id: String,
    pub name: String,
    pub app_key: String,
    pub app_secret: String,
    /// What Cairn sends as `Authorization: Bearer …` for this shop.
    pub access_token: String,
    /// Where Bazaar pushes this shop's messages; none until Cairn connected the shop.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A shop to create; every field left out is generated (app credentials: the simulator's app).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewShop {
    pub shop_id: Option<String>,
    pub name: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub access_token: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// Changes to a shop (or, through `upsert_shop`, a shop to create); fields left out stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopUpdate {
    pub name: Option<String>,
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub access_token: Option<String>,
    /// The URL Cairn gave when the shop was connected. An empty string unsubscribes the shop.
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A variant a shop sells (the simulator's record of it: one per SKU code). On the marketplace
/// it is variant `sku_id` of item `num_iid`; variants of one catalog product share the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub shop_id: String,
    /// The SKU code the simulator knows the variant by. The marketplace shows it as the
    /// variant's merchant code only when `merchant_code` is true.
    pub outer_sku_id: String,
    /// The seller set a merchant code on this variant (false: lines and the item list carry
    /// `outer_sku_id: null`).
    pub merchant_code: bool,
    pub num_iid: String,
    pub sku_id: String,
    /// The item's title, e.g. `纯棉T恤` (`title` is the variant's, e.g. `纯棉T恤 红色 M`).
    pub item_title: String,
    /// e.g. `颜色:红色;尺码:M`.
    pub properties: Option<String>,
    pub title: String,
    pub price: String,
    /// The quantity the shop displays (set by Cairn's quantity write-back; trades take from it,
    /// never below zero; the simulator does not refuse trades when it reaches zero).
    pub quantity: i64,
}

/// A variant to create or replace, by its SKU code.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewItem {
    pub shop_id: String,
    pub outer_sku_id: String,
    /// Defaults to the SKU code.
    #[serde(default)]
    pub title: Option<String>,
    pub price: String,
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Whether the seller set the code as the variant's merchant code. Absent: as before for a
    /// listed variant, else drawn with the `no_merchant_code_share` traffic knob.
    #[serde(default)]
    pub merchant_code: Option<bool>,
}

/// An item as `GET /api/v1/items` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub num_iid: String,
    pub title: String,
    pub skus: Vec<ListedSku>,
}

/// A variant of a [`Listing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedSku {
    pub sku_id: String,
    /// The seller's merchant code; null when none was set.
    pub outer_sku_id: Option<String>,
    pub properties: Option<String>,
    pub quantity: i64,
    pub price: String,
}

/// The seller's note and/or flag on a trade (`Sim::set_seller_memo`); a field left out stays.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SellerMemo {
    /// An empty string clears the memo.
    pub seller_memo: Option<String>,
    /// 0 (no flag) to 5.
    pub seller_flag: Option<i32>,
}

/// A buyer: nick plus where the goods go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuyerSpec {
    pub nick: String,
    pub receiver: Receiver,
}

/// A trade line to create. `price` and `title` default to the shop's item; a SKU the shop does
/// not list needs a `price` (it then becomes an item of the shop).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewLine {
    pub outer_sku_id: String,
    #[serde(default = "one")]
    pub num: i64,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

fn one() -> i64 {
    1
}

impl NewLine {
    /// `num` of a listed item at its listed price.
    pub fn new(outer_sku_id: impl Into<String>, num: i64) -> Self {
        NewLine { outer_sku_id: outer_sku_id.into(), num, price: None, title: None }
    }
}

/// A trade to create (status `WAIT_BUYER_PAY`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewTrade {
    pub shop_id: String,
    pub lines: Vec<NewLine>,
    /// Generated (Chinese nick, name, phone, address) when absent.
    pub buyer: Option<BuyerSpec>,
    pub buyer_memo: Option<String>,
    /// Defaults to `"0.00"`.
    pub post_fee: Option<String>,
    /// Defaults to `"0.00"`; split over the lines in proportion to their totals.
    pub discount_fee: Option<String>,
    /// Absent: drawn at random (15% company, 10% personal, 75% none). JSON `null`: no invoice.
    #[serde(deserialize_with = "some_even_if_null")]
    pub invoice_request: Option<Option<InvoiceRequest>>,
}

/// Tells a field that is present but `null` (`Some(None)`) from an absent one (`None`).
fn some_even_if_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl NewTrade {
    /// A trade of `shop_id` for these lines, everything else generated or zero.
    pub fn new(shop_id: impl Into<String>, lines: Vec<NewLine>) -> Self {
        NewTrade { shop_id: shop_id.into(), lines, ..NewTrade::default() }
    }
}

/// A buyer's change to the trade: new receiver and/or memo. Both absent: a new generated address
/// for the same receiver name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressChange {
    pub receiver: Option<Receiver>,
    pub buyer_memo: Option<String>,
}

/// How a refund ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    /// Requested and at once agreed: `WAIT_SELLER_AGREE` (refund.RefundCreated) then `SUCCESS`
    /// (refund.RefundSuccess, plus trade.TradeClose when no line is left).
    #[default]
    Success,
    /// Only requested: lines stay `WAIT_SELLER_AGREE` (settle later with `settle_refund`).
    Pending,
    /// Requested, then withdrawn: `CLOSED` (refund.RefundClosed).
    Closed,
    /// Requested for shipped lines with the goods to be sent back: `WAIT_SELLER_AGREE`, then the
    /// seller agrees and the lines wait for the goods, `WAIT_BUYER_RETURN_GOODS` (both pushed as
    /// refund.RefundCreated; BAZAAR.md has no topic of its own for the return step). Settle it
    /// with `settle_refund` (`success` once the seller has the goods back).
    ReturnGoods,
}

/// A refund of some lines (all refundable lines when `oids` is absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundRequest {
    pub oids: Option<Vec<String>>,
    pub outcome: RefundOutcome,
}

/// Settling refunds requested with `RefundOutcome::Pending`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundSettlement {
    pub oids: Option<Vec<String>>,
    pub success: bool,
}

/// A shipment: the body of `POST /api/v1/trades/{tid}/ship`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipRequest {
    pub company_code: String,
    pub waybill_no: String,
    /// Lines to ship; every line when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oids: Option<Vec<String>>,
}

/// Which write-back call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritebackKind {
    Ship,
    Quantity,
}

/// What a write-back call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritebackOutcome {
    /// Changed the marketplace.
    Applied,
    /// Same as what was already there (same waybill / same quantity): changed nothing.
    Repeat,
    /// Refused with an error.
    Rejected,
}

/// One write-back call Cairn made (ship or quantity), as the marketplace saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Writeback {
    pub seq: u64,
    /// When it arrived (+08:00, milliseconds).
    pub at: String,
    pub shop_id: String,
    pub kind: WritebackKind,
    /// The trade id (ship), the SKU code or `{num_iid}/{sku_id}` (quantity).
    pub target: String,
    /// The request body as JSON.
    pub payload: serde_json::Value,
    pub outcome: WritebackOutcome,
    /// The HTTP status the handler produced.
    pub status: u16,
    /// The error code when rejected.
    pub code: Option<String>,
    /// Chaos answered 500 after the call was applied (`--api-fail-after-rate`).
    pub response_lost: bool,
}

/// Where a webhook message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Being delivered or waiting for a retry.
    Pending,
    /// Some attempt was answered 2xx.
    Delivered,
    /// Every copy used up its retries.
    GivenUp,
    /// Chaos dropped it: never pushed.
    Dropped,
    /// The shop had no webhook URL when it was created: not pushed.
    Unsubscribed,
}

/// One webhook message and how its delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub shop_id: String,
    pub tid: String,
    pub topic: String,
    /// The snapshot's `modified`.
    pub modified: String,
    pub state: MessageState,
    /// 2 when chaos duplicated it.
    pub copies: u32,
    /// Attempts over all copies.
    pub attempts: u32,
    /// Successful (2xx) deliveries over all copies.
    pub deliveries: u32,
    /// HTTP status of the first attempt; `None` when it got no answer (outage, timeout, refused).
    pub first_status: Option<u16>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    /// Duration of the first successful attempt.
    pub latency_ms: Option<f64>,
    /// From the message's creation to its first successful delivery.
    pub delivered_after_ms: Option<f64>,
}

/// Which messages to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageFilter {
    pub shop_id: Option<String>,
    pub tid: Option<String>,
    pub state: Option<MessageState>,
    /// The most recent `limit` matches (all when absent).
    pub limit: Option<usize>,
}

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Counters of the simulator (`GET /admin/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub trades: usize,
    pub messages_created: u64,
    /// Messages with at least one 2xx.
    pub messages_delivered: u64,
    pub messages_dropped: u64,
    /// Messages chaos sent twice.
    pub messages_duplicated: u64,
    pub messages_given_up: u64,
    pub messages_unsubscribed: u64,
    /// Copies still being delivered or waiting for a retry.
    pub deliveries_pending: usize,
    pub attempts: u64,
    pub failed_attempts: u64,
    /// 2xx answers, duplicates included.
    pub successful_pushes: u64,
    /// Duration of successful push attempts.
    pub push_latency_ms: Percentiles,
    /// Message creation → first 2xx (includes chaos delays, retries, outages).
    pub delivery_lag_ms: Percentiles,
    pub api_calls: u64,
    pub api_rate_limited: u64,
    pub api_auth_failures: u64,
    /// 503 while the API was down, 500 and slow answers injected by chaos.
    pub api_unavailable: u64,
    pub api_failures_injected: u64,
    pub api_slow_injected: u64,
    pub writebacks: usize,
}
