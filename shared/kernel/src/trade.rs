//! The marketplace-neutral trade snapshot that every connector produces.

use crate::{Money, Timestamp};
use serde::{Deserialize, Serialize};

/// A marketplace trade's status, in the industry's own names (BAZAAR.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    WaitSellerSendGoods,
    SellerConsignedPart,
    WaitBuyerConfirmGoods,
    TradeFinished,
    TradeClosed,
    TradeClosedByMarket,
}

/// A trade line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TradeLine {
    pub external_line_id: String,
    /// The marketplace's item (Bazaar `num_iid`, Shopify `product_id`).
    #[serde(default)]
    pub item_id: Option<String>,
    /// The item's variant (Bazaar `sku_id`, Shopify `variant_id`); none for an item without
    /// variants.
    #[serde(default)]
    pub variant_id: Option<String>,
    /// The seller's merchant code (Bazaar `outer_sku_id`, Shopify `sku`), when the seller set
    /// one: Cairn's SKU code unless a product mapping says otherwise.
    pub sku_code: Option<String>,
    /// The variant's properties as the marketplace shows them, e.g. `颜色:红色;尺码:M`.
    #[serde(default)]
    pub properties: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub payment: Money,
    /// The marketplace's refund status, e.g. `NO_REFUND`, `SUCCESS`.
    pub refund_status: String,
}

impl TradeLine {
    /// The refund of this line succeeded.
    pub fn refunded(&self) -> bool {
        self.refund_status == "SUCCESS"
    }
}

/// A whole trade as the marketplace reports it now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TradeSnapshot {
    pub external_id: String,
    pub status: TradeStatus,
    pub created: Timestamp,
    pub pay_time: Option<Timestamp>,
    /// Newer wins; an older snapshot changes nothing.
    pub modified: Timestamp,
    pub buyer_nick: String,
    pub buyer_memo: Option<String>,
    /// The seller's note on the trade (卖家备注).
    #[serde(default)]
    pub seller_memo: Option<String>,
    /// The coloured flag the seller set on the trade, 0 (none) to 5.
    #[serde(default)]
    pub seller_flag: i32,
    /// Where the parcel goes; `None` when the marketplace did not say (yet).
    #[serde(default)]
    pub receiver: Option<Receiver>,
    pub currency: String,
    pub payment: Money,
    pub post_fee: Money,
    pub discount_fee: Money,
    /// The buyer asked for an invoice (null when not).
    #[serde(default)]
    pub invoice_request: Option<InvoiceRequest>,
    pub lines: Vec<TradeLine>,
}

/// The receiver of a trade's parcel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct Receiver {
    pub name: String,
    pub phone: String,
    /// e.g. `浙江省`.
    pub province: String,
    pub city: String,
    #[serde(default)]
    pub district: String,
    /// The street address.
    pub address: String,
    #[serde(default)]
    pub zip: String,
}

/// Who the buyer wants the invoice made out to (BAZAAR.md `invoice_request`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InvoiceRequest {
    pub kind: InvoiceBuyerKind,
    /// A company's registered name, or a person's name.
    pub title: String,
    /// The company's unified social credit code; none for a person.
    #[serde(default)]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// A personal or a company invoice.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceBuyerKind {
    Personal,
    Company,
}
