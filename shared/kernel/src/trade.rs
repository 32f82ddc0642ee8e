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
    pub sku_code: String,
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
    pub currency: String,
    pub payment: Money,
    pub post_fee: Money,
    pub discount_fee: Money,
    /// The buyer asked for an invoice (null when not).
    #[serde(default)]
    pub invoice_request: Option<InvoiceRequest>,
    pub lines: Vec<TradeLine>,
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
