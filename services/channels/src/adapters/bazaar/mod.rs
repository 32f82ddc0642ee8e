//! The Bazaar protocol (BAZAAR.md): webhook signatures and the trade snapshot format.

pub mod client;
pub mod webhook;

use kernel::signature;
use kernel::{
    Money, Timestamp,
    trade::{TradeLine, TradeSnapshot, TradeStatus},
};
use serde::Deserialize;

/// Largest webhook body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The topics Bazaar pushes.
pub const TOPICS: &[&str] = &[
    "trade.TradeCreate",
    "trade.TradeBuyerPay",
    "trade.TradeSellerShip",
    "trade.TradePartlySellerShip",
    "trade.TradeSuccess",
    "trade.TradeClose",
    "trade.TradeChanged",
    "refund.RefundCreated",
    "refund.RefundSuccess",
    "refund.RefundClosed",
];

/// HMAC-SHA256 over `"{timestamp}.{body}"`, the message BAZAAR.md signs.
fn mac(secret: &str, timestamp: &str, body: &[u8]) -> signature::HmacSha256 {
    signature::mac(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])
}

/// base64(HMAC-SHA256(secret, "{timestamp}.{body}")).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    signature::base64_tag(mac(secret, &timestamp.to_string(), body))
}

/// Checks a signature in constant time over the raw bytes.
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature_b64: &str) -> bool {
    signature::verify_base64(mac(secret, timestamp, body), signature_b64)
}

/// A webhook body.
#[derive(Debug, Deserialize)]
pub struct Message {
    pub topic: String,
    pub shop_id: String,
    pub trade: Trade,
}

/// A trade as Bazaar writes it.
#[derive(Debug, Deserialize)]
pub struct Trade {
    pub tid: String,
    pub status: TradeStatus,
    pub created: chrono::DateTime<chrono::FixedOffset>,
    pub pay_time: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub modified: chrono::DateTime<chrono::FixedOffset>,
    #[serde(default)]
    pub buyer_nick: String,
    #[serde(default)]
    pub buyer_memo: Option<String>,
    #[serde(default)]
    pub seller_memo: Option<String>,
    #[serde(default)]
    pub seller_flag: Option<i32>,
    #[serde(default)]
    pub receiver: Option<Receiver>,
    #[serde(default = "cny")]
    pub currency: String,
    pub payment: String,
    #[serde(default = "zero")]
    pub post_fee: String,
    #[serde(default = "zero")]
    pub discount_fee: String,
    #[serde(default)]
    pub invoice_request: Option<kernel::trade::InvoiceRequest>,
    pub orders: Vec<Line>,
}

fn cny() -> String {
    "CNY".into()
}
fn zero() -> String {
    "0.00".into()
}

/// Where a trade ships to; any field may be missing or null.
#[derive(Debug, Default, Deserialize)]
pub struct Receiver {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub province: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
}

impl From<Receiver> for kernel::trade::Receiver {
    fn from(r: Receiver) -> Self {
        let s = |v: Option<String>| v.map(|v| v.trim().to_owned()).unwrap_or_default();
        kernel::trade::Receiver {
            name: s(r.name),
            phone: s(r.phone),
            province: s(r.province),
            city: s(r.city),
            district: s(r.district),
            address: s(r.address),
            zip: s(r.zip),
        }
    }
}

/// A marketplace id that may arrive as a JSON string or number (or null).
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A trade line (`orders[]` in Bazaar's words). Only `num`, `price` and `payment` must be
/// there: a line without a merchant code (`outer_sku_id`) is common and still a line.
#[derive(Debug, Deserialize)]
pub struct Line {
    #[serde(default, deserialize_with = "id_text")]
    pub oid: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    pub num_iid: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    pub sku_id: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    pub outer_sku_id: Option<String>,
    #[serde(default)]
    pub sku_properties: Option<String>,
    #[serde(default)]
    pub title: String,
    pub num: i64,
    pub price: String,
    pub payment: String,
    #[serde(default = "no_refund")]
    pub refund_status: String,
}

fn no_refund() -> String {
    "NO_REFUND".into()
}

/// A Chinese taxpayer id: the 18-character unified social credit code, or an older 15/20-digit one.
fn valid_tax_id(t: &str) -> bool {
    (15..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn utc(t: chrono::DateTime<chrono::FixedOffset>) -> Timestamp {
    t.with_timezone(&chrono::Utc)
}

impl Trade {
    /// The marketplace-neutral snapshot, or why the trade is not one.
    pub fn into_snapshot(self) -> Result<TradeSnapshot, String> {
        if self.tid.is_empty() || self.tid.len() > 64 {
            return Err("trade.tid must be 1-64 characters".into());
        }
        if self.orders.is_empty() {
            return Err("trade.orders must not be empty".into());
        }
        let money = |field: &str, v: &str| Money::parse(v).map_err(|e| format!("{field}: {e}"));
        let mut lines = Vec::with_capacity(self.orders.len());
        for (i, l) in self.orders.into_iter().enumerate() {
            // A line without an oid keeps its position as its id, so versions of the trade
            // still name the same line.
            let oid = l.oid.unwrap_or_else(|| format!("{}-{}", self.tid, i + 1));
            if l.num <= 0 || l.num > 1_000_000 {
                return Err(format!("orders[{oid}].num must be between 1 and 1000000"));
            }
            lines.push(TradeLine {
                unit_price: money("price", &l.price)?,
                payment: money("payment", &l.payment)?,
                external_line_id: oid,
                item_id: l.num_iid,
                variant_id: l.sku_id,
                sku_code: l.outer_sku_id,
                properties: l.sku_properties.filter(|p| !p.trim().is_empty()),
                title: l.title,
                quantity: l.num,
                refund_status: l.refund_status,
            });
        }
        Ok(TradeSnapshot {
            external_id: self.tid,
            status: self.status,
            created: utc(self.created),
            pay_time: self.pay_time.map(utc),
            modified: utc(self.modified),
            buyer_nick: self.buyer_nick,
            buyer_memo: self.buyer_memo.filter(|m| !m.trim().is_empty()),
            seller_memo: self.seller_memo.filter(|m| !m.trim().is_empty()),
            seller_flag: self.seller_flag.unwrap_or(0).clamp(0, 5),
            receiver: self.receiver.map(Into::into),
            currency: self.currency,
            payment: money("payment", &self.payment)?,
            post_fee: money("post_fee", &self.post_fee)?,
            discount_fee: money("discount_fee", &self.discount_fee)?,
            invoice_request: match self.invoice_request {
                Some(r) if r.title.trim().is_empty() || r.title.chars().count() > 100 => {
                    return Err("invoice_request.title must be 1-100 characters".into());
                }
                Some(r)
                    if r.kind == kernel::trade::InvoiceBuyerKind::Company
                        && r.tax_id.as_deref().is_none_or(|t| !valid_tax_id(t)) =>
                {
                    return Err("invoice_request.tax_id must be a 15-20 character tax id for a company".into());
                }
                r => r,
            },
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"topic":"trade.TradeBuyerPay","shop_id":"shop-8848","trade":{"tid":"T2026111100000001","status":"WAIT_SELLER_SEND_GOODS","created":"2026-11-11T00:00:00.120+08:00","pay_time":"2026-11-11T00:00:03.005+08:00","modified":"2026-11-11T00:00:03.005+08:00","buyer_nick":"买家小王","buyer_memo":null,"receiver":{"name":"王小明"},"currency":"CNY","payment":"398.00","post_fee":"0.00","discount_fee":"20.00","invoice_request":null,"orders":[{"oid":"O2026111100000001","outer_sku_id":"TEE-RED-M","title":"纯棉T恤 红色 M","num":2,"price":"209.00","payment":"398.00","refund_status":"NO_REFUND"}]}}"#;

    #[test]
    fn parses_the_protocol_sample() {
        let m: Message = serde_json::from_str(SAMPLE).unwrap();
        let s = m.trade.into_snapshot().unwrap();
        assert_eq!(s.status, TradeStatus::WaitSellerSendGoods);
        assert_eq!(s.payment, Money(39800));
        assert_eq!(s.lines[0].quantity, 2);
        assert_eq!(s.modified.to_rfc3339(), "2026-11-10T16:00:03.005+00:00");
    }

    #[test]
    fn signatures_match_an_independent_implementation() {
        // Computed with Python's hmac/hashlib/base64, so signer and verifier cannot share a bug.
        let body = r#"{"tid":"T1","buyer_nick":"买家"}"#.as_bytes();
        assert_eq!(sign("whsec_test", 1_700_000_000, body), "xcYy/L5pbXfy2u3pabHsRUpgqVfhXTULwo6tZVWHBPI=");
        assert!(verify("whsec_test", "1700000000", body, "xcYy/L5pbXfy2u3pabHsRUpgqVfhXTULwo6tZVWHBPI="));
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let sig = sign("s3cret", 1_700_000_000, SAMPLE.as_bytes());
        assert!(verify("s3cret", "1700000000", SAMPLE.as_bytes(), &sig));
        assert!(!verify("other", "1700000000", SAMPLE.as_bytes(), &sig));
        assert!(!verify("s3cret", "1700000001", SAMPLE.as_bytes(), &sig));
        let mut tampered = SAMPLE.as_bytes().to_vec();
        tampered[10] ^= 1;
        assert!(!verify("s3cret", "1700000000", &tampered, &sig));
        assert!(!verify("s3cret", "1700000000", SAMPLE.as_bytes(), "not base64!"));
    }
}
