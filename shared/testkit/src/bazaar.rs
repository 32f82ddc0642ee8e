//! Builders for Bazaar webhook messages (BAZAAR.md).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// Signs as Bazaar does; the same code Cairn verifies with (pinned to an independent vector in
/// `channels::bazaar`'s tests).
pub use channels::bazaar::sign;

/// A trade line.
#[derive(Debug, Clone)]
pub struct Line {
    pub oid: String,
    pub sku: String,
    pub num: i64,
    pub refund_status: &'static str,
}

/// A trade whose snapshots a test sends.
#[derive(Debug, Clone)]
pub struct Trade {
    pub shop_id: String,
    pub tid: String,
    pub created: DateTime<Utc>,
    pub lines: Vec<Line>,
}

impl Trade {
    /// A trade created at `created` with one line.
    pub fn new(shop_id: &str, tid: &str, created: DateTime<Utc>, sku: &str, num: i64) -> Trade {
        Trade { shop_id: shop_id.into(), tid: tid.into(), created, lines: vec![Line { oid: format!("{tid}-1"), sku: sku.into(), num, refund_status: "NO_REFUND" }] }
    }

    /// The webhook message for this trade in `status`, modified `offset_ms` after creation,
    /// paid at `paid_ms` after creation (if paid).
    pub fn message(&self, topic: &str, status: &str, offset_ms: i64, paid_ms: Option<i64>) -> Value {
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let at = |ms: i64| (self.created + Duration::milliseconds(ms)).with_timezone(&cst).to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let orders: Vec<Value> = self
            .lines
            .iter()
            .map(|l| json!({"oid": l.oid, "outer_sku_id": l.sku, "title": format!("商品 {}", l.sku), "num": l.num, "price": "99.00", "payment": format!("{}.00", 99 * l.num), "refund_status": l.refund_status}))
            .collect();
        let total: i64 = self.lines.iter().map(|l| 99 * l.num).sum();
        json!({
            "topic": topic,
            "shop_id": self.shop_id,
            "trade": {
                "tid": self.tid,
                "status": status,
                "created": at(0),
                "pay_time": paid_ms.map(at),
                "modified": at(offset_ms),
                "buyer_nick": "买家小王",
                "buyer_memo": null,
                "receiver": {"name": "王小明", "phone": "13800000000", "province": "浙江省", "city": "杭州市", "district": "余杭区", "address": "文一西路969号", "zip": "311121"},
                "currency": "CNY",
                "payment": format!("{total}.00"),
                "post_fee": "0.00",
                "discount_fee": "0.00",
                "invoice_request": null,
                "orders": orders
            }
        })
    }

    /// Unpaid (`trade.TradeCreate`, WAIT_BUYER_PAY).
    pub fn created_msg(&self) -> Value {
        self.message("trade.TradeCreate", "WAIT_BUYER_PAY", 0, None)
    }

    /// Paid `paid_ms` after creation (`trade.TradeBuyerPay`).
    pub fn paid_msg(&self, paid_ms: i64) -> Value {
        self.message("trade.TradeBuyerPay", "WAIT_SELLER_SEND_GOODS", paid_ms, Some(paid_ms))
    }

    /// Closed after payment at `at_ms` (`trade.TradeClose`, TRADE_CLOSED).
    pub fn closed_msg(&self, paid_ms: i64, at_ms: i64) -> Value {
        self.message("trade.TradeClose", "TRADE_CLOSED", at_ms, Some(paid_ms))
    }
}
