//! Builders for Bazaar webhook messages (BAZAAR.md).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// Signs as Bazaar does: base64(HMAC-SHA256(secret, `"{timestamp}.{body}"`)).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    kernel::signature::base64_tag(kernel::signature::mac(secret.as_bytes(), &[ts.as_bytes(), b".", body]))
}

/// A trade line.
#[derive(Debug, Clone)]
pub struct Line {
    pub oid: String,
    /// The merchant code (`outer_sku_id`); empty sends `null`, as for a variant the seller
    /// gave no code.
    pub sku: String,
    /// The marketplace's item and variant ids (`num_iid`, `sku_id`).
    pub num_iid: String,
    pub sku_id: Option<String>,
    pub num: i64,
    pub refund_status: &'static str,
    /// Unit price in fen.
    pub price: i64,
}

/// A trade whose snapshots a test sends.
#[derive(Debug, Clone)]
pub struct Trade {
    pub shop_id: String,
    pub tid: String,
    pub created: DateTime<Utc>,
    pub lines: Vec<Line>,
    /// Fen.
    pub discount_fee: i64,
    /// Fen.
    pub post_fee: i64,
    pub invoice_request: Value,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub seller_flag: i32,
    /// The receiver's street address (the rest is fixed: 王小明, 浙江省杭州市余杭区).
    pub address: String,
    pub province: String,
}

/// The item and variant ids a merchant code's line carries by default: `I-<code>`, `V-<code>`.
fn ids_of(sku: &str) -> (String, Option<String>) {
    (format!("I-{sku}"), Some(format!("V-{sku}")))
}

impl Trade {
    /// A trade created at `created` with one line.
    pub fn new(shop_id: &str, tid: &str, created: DateTime<Utc>, sku: &str, num: i64) -> Trade {
        Trade {
            shop_id: shop_id.into(),
            tid: tid.into(),
            created,
            lines: vec![Line {
                oid: format!("{tid}-1"),
                sku: sku.into(),
                num_iid: ids_of(sku).0,
                sku_id: ids_of(sku).1,
                num,
                refund_status: "NO_REFUND",
                price: 9900,
            }],
            discount_fee: 0,
            post_fee: 0,
            invoice_request: Value::Null,
            buyer_memo: None,
            seller_memo: None,
            seller_flag: 0,
            address: "文一西路969号".into(),
            province: "浙江省".into(),
        }
    }

    /// A trade whose one line is the marketplace's item `num_iid` / variant `sku_id` with no
    /// merchant code.
    pub fn without_code(
        shop_id: &str,
        tid: &str,
        created: DateTime<Utc>,
        num_iid: &str,
        sku_id: &str,
        num: i64,
    ) -> Trade {
        let mut t = Trade::new(shop_id, tid, created, "", num);
        t.lines[0].num_iid = num_iid.into();
        t.lines[0].sku_id = Some(sku_id.into());
        t
    }

    /// Adds a line of `num` × `sku` at `price` fen.
    pub fn line(mut self, sku: &str, num: i64, price: i64) -> Trade {
        let oid = format!("{}-{}", self.tid, self.lines.len() + 1);
        let (num_iid, sku_id) = ids_of(sku);
        self.lines.push(Line { oid, sku: sku.into(), num_iid, sku_id, num, refund_status: "NO_REFUND", price });
        self
    }

    /// What the buyer pays: Σ price × num − discount + post fee, in fen.
    pub fn payment(&self) -> i64 {
        self.lines.iter().map(|l| l.price * l.num).sum::<i64>() - self.discount_fee + self.post_fee
    }

    /// The webhook message for this trade in `status`, modified `offset_ms` after creation,
    /// paid at `paid_ms` after creation (if paid).
    pub fn message(&self, topic: &str, status: &str, offset_ms: i64, paid_ms: Option<i64>) -> Value {
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let at = |ms: i64| {
            (self.created + Duration::milliseconds(ms))
                .with_timezone(&cst)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        };
        let yuan = |fen: i64| format!("{}.{:02}", fen / 100, fen % 100);
        let orders: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                // The marketplace reports each line's share of the discount in its `payment`;
                // here the first line carries all of it.
                let paid = l.price * l.num - if i == 0 { self.discount_fee } else { 0 };
                let code = (!l.sku.is_empty()).then_some(l.sku.as_str());
                let title = format!("商品 {}", code.unwrap_or(&l.num_iid));
                json!({"oid": l.oid, "num_iid": l.num_iid, "sku_id": l.sku_id, "outer_sku_id": code, "title": title, "num": l.num, "price": yuan(l.price), "payment": yuan(paid), "refund_status": l.refund_status})
            })
            .collect();
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
                "buyer_memo": self.buyer_memo,
                "seller_memo": self.seller_memo,
                "seller_flag": self.seller_flag,
                "receiver": {"name": "王小明", "phone": "13800000000", "province": self.province, "city": "杭州市", "district": "余杭区", "address": self.address, "zip": "311121"},
                "currency": "CNY",
                "payment": yuan(self.payment()),
                "post_fee": yuan(self.post_fee),
                "discount_fee": yuan(self.discount_fee),
                "invoice_request": self.invoice_request,
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

    /// A refund of the lines `oids` succeeded at `at_ms` (`refund.RefundSuccess`); the trade
    /// still waits to ship the rest.
    pub fn refunded_msg(&self, paid_ms: i64, at_ms: i64, oids: &[&str]) -> Value {
        let mut t = self.clone();
        for l in &mut t.lines {
            if oids.contains(&l.oid.as_str()) {
                l.refund_status = "SUCCESS";
            }
        }
        t.message("refund.RefundSuccess", "WAIT_SELLER_SEND_GOODS", at_ms, Some(paid_ms))
    }

    /// A refund of the lines `oids` is in `refund_status` (`WAIT_SELLER_AGREE`, `CLOSED`,
    /// `SUCCESS`) at `at_ms` (`refund.RefundCreated` and friends); the trade waits to ship.
    pub fn refund_msg(&self, paid_ms: i64, at_ms: i64, oids: &[&str], refund_status: &'static str) -> Value {
        let mut t = self.clone();
        for l in &mut t.lines {
            if oids.contains(&l.oid.as_str()) {
                l.refund_status = refund_status;
            }
        }
        let topic = match refund_status {
            "SUCCESS" => "refund.RefundSuccess",
            "CLOSED" => "refund.RefundClosed",
            _ => "refund.RefundCreated",
        };
        t.message(topic, "WAIT_SELLER_SEND_GOODS", at_ms, Some(paid_ms))
    }

    /// Modified at `at_ms` after payment (`trade.TradeChanged`), e.g. after changing the
    /// receiver's address on a clone.
    pub fn modified_msg(&self, paid_ms: i64, at_ms: i64) -> Value {
        self.message("trade.TradeChanged", "WAIT_SELLER_SEND_GOODS", at_ms, Some(paid_ms))
    }

    /// Shipped at `at_ms` (`trade.TradeSellerShip`, WAIT_BUYER_CONFIRM_GOODS).
    pub fn shipped_msg(&self, paid_ms: i64, at_ms: i64) -> Value {
        self.message("trade.TradeSellerShip", "WAIT_BUYER_CONFIRM_GOODS", at_ms, Some(paid_ms))
    }

    /// Closed after payment at `at_ms` (`trade.TradeClose`, TRADE_CLOSED).
    pub fn closed_msg(&self, paid_ms: i64, at_ms: i64) -> Value {
        self.message("trade.TradeClose", "TRADE_CLOSED", at_ms, Some(paid_ms))
    }
}
