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
    pub lines: Vec<TradeLine>,
}
