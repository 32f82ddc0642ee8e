//! Shopify-format webhooks: the `X-Shopify-Hmac-Sha256` signature and the REST Admin API order
//! and refund JSON, mapped onto the marketplace-neutral [`TradeSnapshot`] that `bazaar.rs`
//! produces for Bazaar.
//!
//! Mapping decisions:
//!
//! - **Verify first, over the raw bytes.** The signature is base64(HMAC-SHA256(secret, body)) of
//!   the bytes as sent; Shopify escapes `/` as `\/`, so a re-serialised body never matches. An
//!   empty secret verifies nothing: anyone can sign with an empty key.
//! - **The topic only picks the payload shape.** Every `orders/*` topic carries the whole order as
//!   it is now, so the status comes from the order's own fields, never from the topic (an
//!   `orders/updated` can arrive before the `orders/paid` it follows).
//! - **`updated_at` is the revision** (`modified`). Shopify delivers out of order and retries, and
//!   `updated_at` is the one field that moves on every change of the order, so it is required;
//!   Cairn applies a snapshot only when it is newer than the one it has.
//! - **Status** (`financial_status`, `fulfillment_status`, `cancelled_at`):
//!   - cancelled: `TradeClosed` when money was taken (`paid`, `partially_paid`,
//!     `partially_refunded`, `refunded`), else `TradeClosedByMarket`. `voided` counts as unpaid:
//!     it cancels an authorization that was never captured.
//!   - `pending`, `authorized`, and `voided`/`expired` on an order not cancelled: `WaitBuyerPay`.
//!     No money is coming for the last two, but the order is still open in Shopify (the merchant
//!     may yet mark it paid); the cancellation that usually follows closes it.
//!   - `refunded`: `TradeClosed`.
//!   - `paid`, `partially_paid`, `partially_refunded`, by fulfillment: none yet (`null`,
//!     `unfulfilled`, `pending` as Shopify's test notifications send, or `restocked`) →
//!     `WaitSellerSendGoods`; `partial` → `SellerConsignedPart`; `fulfilled` →
//!     `WaitBuyerConfirmGoods`. `partially_paid` counts as paid (a deposit was taken).
//!   - Shopify has no buyer confirmation, so nothing maps to `TradeFinished`.
//!   - An unknown `financial_status` or `fulfillment_status` is an error rather than a guess.
//! - **Line refunds.** A line whose whole `quantity` appears in the order's
//!   `refunds[].refund_line_items[]` (summed over all refunds) gets `SUCCESS`, which is what
//!   `TradeLine::refunded()` reads; a partly refunded line stays `NO_REFUND`, since a line is
//!   refunded or not in Cairn's model.
//! - **Amounts.** `total_price` (the original total, taxes and shipping included) is `payment`;
//!   `total_discounts` is `discount_fee`; the sum of `shipping_lines[].price` (lines marked
//!   `is_removed` left out) is `post_fee`. A line's payment is `price × quantity` less its
//!   `discount_allocations`. Amounts may be decimal strings (orders) or JSON numbers (a refund's
//!   `subtotal`); both are parsed from their decimal text by [`Money::parse`]. serde_json prints a
//!   number by the shortest text that reads back to the same value, which is the text Shopify
//!   wrote for any amount of up to 15 digits.
//! - **`pay_time`.** The order JSON has no payment time, so a paid order's `pay_time` is
//!   `processed_at` (falling back to `created_at`): the time the order was placed, earlier than
//!   the capture when an order is paid later.
//! - **`refunds/create`** is a refund object, not an order, so it becomes [`Inbound::Refund`]:
//!   the order it belongs to, the line items it touches and when it was made. It carries no
//!   quantities; the `orders/updated` that Shopify sends for the same change carries the order
//!   with its `refunds[]`, and that snapshot decides which lines are wholly refunded.
//! - **Ids** are JSON numbers up to 2^63; they become their decimal text (a decimal string is
//!   accepted too and gives the same text). They are never read through `f64`.

pub mod webhook;

pub use crate::domain::refund::Refund;
use std::collections::HashMap;

use kernel::{
    Money, Timestamp,
    trade::{TradeLine, TradeSnapshot, TradeStatus},
};
use serde::Deserialize;
use serde_json::Value;

/// The topics Cairn subscribes to.
pub const TOPICS: &[&str] = &["orders/create", "orders/paid", "orders/cancelled", "orders/updated", "refunds/create"];

/// Largest quantity accepted on a line, as for Bazaar.
const MAX_QUANTITY: i64 = 1_000_000;

/// Checks `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body) in constant time.
pub fn verify(secret: &str, body: &[u8], hmac_header: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    kernel::signature::verify_base64(kernel::signature::mac(secret.as_bytes(), &[body]), hmac_header)
}

/// What a Shopify webhook tells Cairn.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// The whole order as it is now (`orders/*`).
    Order(Box<TradeSnapshot>),
    /// A refund was made on an order (`refunds/create`).
    Refund(Refund),
}

/// Reads a webhook body of the given topic, or says what is wrong with it.
pub fn parse(topic: &str, body: &[u8]) -> Result<Inbound, String> {
    match topic {
        "orders/create" | "orders/paid" | "orders/cancelled" | "orders/updated" => {
            decode::<Order>(body)?.into_snapshot().map(|s| Inbound::Order(Box::new(s)))
        }
        "refunds/create" => decode::<RefundObject>(body)?.into_refund().map(Inbound::Refund),
        other => Err(format!("topic `{other}` is not one Cairn subscribes to")),
    }
}

fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not a Shopify payload: {e}"))
}

// Only the fields Cairn reads; Shopify sends many more. Ids and amounts are `Value` so that a
// wrong type is reported with the field's path rather than as serde's line and column.

/// An order as the REST Admin API writes it.
#[derive(Debug, Deserialize)]
struct Order {
    id: Option<Value>,
    created_at: Option<String>,
    updated_at: Option<String>,
    processed_at: Option<String>,
    cancelled_at: Option<String>,
    financial_status: Option<String>,
    fulfillment_status: Option<String>,
    currency: Option<String>,
    total_price: Option<Value>,
    total_discounts: Option<Value>,
    email: Option<String>,
    contact_email: Option<String>,
    note: Option<String>,
    customer: Option<Customer>,
    shipping_address: Option<Address>,
    line_items: Option<Vec<LineItem>>,
    shipping_lines: Option<Vec<ShippingLine>>,
    refunds: Option<Vec<RefundObject>>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    id: Option<Value>,
    product_id: Option<Value>,
    variant_id: Option<Value>,
    sku: Option<String>,
    title: Option<String>,
    variant_title: Option<String>,
    quantity: Option<i64>,
    price: Option<Value>,
    discount_allocations: Option<Vec<DiscountAllocation>>,
}

/// An order's shipping address; Shopify leaves out what the buyer did not give.
#[derive(Debug, Deserialize)]
struct Address {
    first_name: Option<String>,
    last_name: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    province: Option<String>,
    city: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    zip: Option<String>,
}

impl Address {
    fn receiver(self) -> kernel::trade::Receiver {
        let t = |v: &Option<String>| text(v.as_deref()).unwrap_or_default().to_owned();
        let name = match text(self.name.as_deref()) {
            Some(n) => n.to_owned(),
            None => [t(&self.first_name), t(&self.last_name)]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let address =
            [t(&self.address1), t(&self.address2)].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(", ");
        kernel::trade::Receiver {
            name,
            phone: t(&self.phone),
            province: t(&self.province),
            city: t(&self.city),
            district: String::new(),
            address,
            zip: t(&self.zip),
        }
    }
}

/// An optional Shopify id: `None` for null or missing (a custom line has no product).
fn optional_id(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Some(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct DiscountAllocation {
    amount: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ShippingLine {
    price: Option<Value>,
    is_removed: Option<bool>,
}

/// A refund: the `refunds/create` body, and each entry of an order's `refunds[]`.
#[derive(Debug, Deserialize)]
struct RefundObject {
    id: Option<Value>,
    order_id: Option<Value>,
    created_at: Option<String>,
    processed_at: Option<String>,
    refund_line_items: Option<Vec<RefundLineItem>>,
}

#[derive(Debug, Deserialize)]
struct RefundLineItem {
    line_item_id: Option<Value>,
    quantity: Option<i64>,
    line_item: Option<RefundedLine>,
}

#[derive(Debug, Deserialize)]
struct RefundedLine {
    id: Option<Value>,
}

/// A Shopify id (a JSON integer, or its decimal text) as Cairn's external id.
fn id(path: &str, v: Option<&Value>) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Err(format!("{path} is missing")),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(s.clone())
        }
        Some(_) => Err(format!("{path} must be a positive integer id")),
    }
}

/// A non-negative amount from a decimal string or a JSON number.
fn money(path: &str, v: Option<&Value>) -> Result<Money, String> {
    let text = match v {
        None | Some(Value::Null) => return Err(format!("{path} is missing")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(format!("{path} must be a decimal string or number")),
    };
    let m = Money::parse(&text).map_err(|e| format!("{path}: {e}"))?;
    if m.0 < 0 {
        return Err(format!("{path} must not be negative"));
    }
    Ok(m)
}

/// An RFC 3339 time, as Shopify writes them (`2021-12-31T19:00:00-05:00`), in UTC.
fn time(path: &str, v: Option<&str>) -> Result<Timestamp, String> {
    let s = v.ok_or_else(|| format!("{path} is missing"))?;
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{path}: `{s}` is not an RFC 3339 time"))
}

/// The text of an optional string field, if it says anything.
fn text(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Whether money was taken, by `financial_status`.
fn paid(financial_status: &str) -> Result<bool, String> {
    match financial_status {
        "paid" | "partially_paid" | "partially_refunded" | "refunded" => Ok(true),
        "pending" | "authorized" | "voided" | "expired" => Ok(false),
        other => Err(format!("financial_status `{other}` is not a Shopify financial status")),
    }
}

/// The trade status for a paid, open order, by `fulfillment_status`.
fn shipping_status(fulfillment_status: Option<&str>) -> Result<TradeStatus, String> {
    match fulfillment_status {
        None | Some("unfulfilled" | "pending" | "restocked") => Ok(TradeStatus::WaitSellerSendGoods),
        Some("partial") => Ok(TradeStatus::SellerConsignedPart),
        Some("fulfilled") => Ok(TradeStatus::WaitBuyerConfirmGoods),
        Some(other) => Err(format!("fulfillment_status `{other}` is not a Shopify fulfillment status")),
    }
}

/// See the module comment for why each combination maps where it does.
fn trade_status(
    financial_status: &str,
    fulfillment_status: Option<&str>,
    cancelled: bool,
) -> Result<TradeStatus, String> {
    let paid = paid(financial_status)?;
    // Checked even where it does not decide the status, so a new value is noticed at once.
    let shipping = shipping_status(fulfillment_status)?;
    Ok(match (cancelled, paid, financial_status) {
        (true, true, _) => TradeStatus::TradeClosed,
        (true, false, _) => TradeStatus::TradeClosedByMarket,
        (false, false, _) => TradeStatus::WaitBuyerPay,
        (false, true, "refunded") => TradeStatus::TradeClosed,
        (false, true, _) => shipping,
    })
}

impl Order {
    /// The marketplace-neutral snapshot, or why the order is not one.
    fn into_snapshot(self) -> Result<TradeSnapshot, String> {
        let external_id = id("id", self.id.as_ref())?;
        let created = time("created_at", self.created_at.as_deref())?;
        let modified = time("updated_at", self.updated_at.as_deref())?;
        let financial_status = self.financial_status.as_deref().ok_or("financial_status is missing")?;
        let status = trade_status(financial_status, self.fulfillment_status.as_deref(), self.cancelled_at.is_some())?;
        let pay_time = match (paid(financial_status)?, self.processed_at.as_deref()) {
            (false, _) => None,
            (true, None) => Some(created),
            (true, processed_at) => Some(time("processed_at", processed_at)?),
        };
        let currency = text(self.currency.as_deref()).ok_or("currency is missing")?.to_owned();

        let refunded = refunded_quantities(self.refunds.as_deref().unwrap_or_default())?;
        let items = self.line_items.unwrap_or_default();
        if items.is_empty() {
            return Err("line_items must not be empty".into());
        }
        let lines = items
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.into_line(&format!("line_items[{i}]"), &refunded))
            .collect::<Result<Vec<_>, _>>()?;

        let shipping = self.shipping_lines.unwrap_or_default();
        let post_fee = sum(shipping
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_removed != Some(true))
            .map(|(i, s)| (format!("shipping_lines[{i}].price"), s.price.as_ref())))?;
        let discount_fee = match &self.total_discounts {
            None | Some(Value::Null) => Money(0),
            v => money("total_discounts", v.as_ref())?,
        };

        Ok(TradeSnapshot {
            external_id,
            status,
            created,
            pay_time,
            modified,
            buyer_nick: buyer_nick(self.customer.as_ref(), &[self.email.as_deref(), self.contact_email.as_deref()]),
            buyer_memo: text(self.note.as_deref()).map(str::to_owned),
            seller_memo: None,
            seller_flag: 0,
            receiver: self.shipping_address.map(Address::receiver),
            currency,
            payment: money("total_price", self.total_price.as_ref())?,
            post_fee,
            discount_fee,
            invoice_request: None,
            lines,
        })
    }
}

impl LineItem {
    /// The trade line, given how much of each line the order's refunds cover.
    fn into_line(self, path: &str, refunded: &HashMap<String, i64>) -> Result<TradeLine, String> {
        let external_line_id = id(&format!("{path}.id"), self.id.as_ref())?;
        // Products without a SKU are common: such a line maps by its product and variant.
        let sku_code = text(self.sku.as_deref()).map(str::to_owned);
        let quantity = self.quantity.ok_or_else(|| format!("{path}.quantity is missing"))?;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(format!("{path}.quantity must be between 1 and {MAX_QUANTITY}"));
        }
        let unit_price = money(&format!("{path}.price"), self.price.as_ref())?;
        let allocations = self.discount_allocations.unwrap_or_default();
        let discount = sum(allocations
            .iter()
            .enumerate()
            .map(|(j, d)| (format!("{path}.discount_allocations[{j}].amount"), d.amount.as_ref())))?;
        let gross =
            unit_price.0.checked_mul(quantity).ok_or_else(|| format!("{path}: price × quantity is too large"))?;
        if discount.0 > gross {
            return Err(format!("{path}.discount_allocations exceed price × quantity"));
        }
        let title = match (text(self.title.as_deref()), text(self.variant_title.as_deref())) {
            (Some(t), Some(v)) => format!("{t} / {v}"),
            (t, v) => t.or(v).unwrap_or_default().to_owned(),
        };
        let wholly_refunded = refunded.get(&external_line_id).is_some_and(|&r| r >= quantity);
        Ok(TradeLine {
            external_line_id,
            item_id: optional_id(self.product_id.as_ref()),
            variant_id: optional_id(self.variant_id.as_ref()),
            sku_code,
            properties: text(self.variant_title.as_deref()).map(str::to_owned),
            title,
            quantity,
            unit_price,
            payment: Money(gross - discount.0),
            refund_status: if wholly_refunded { "SUCCESS" } else { "NO_REFUND" }.into(),
        })
    }
}

/// The sum of amounts, each named by its path for the error.
fn sum<'a>(amounts: impl IntoIterator<Item = (String, Option<&'a Value>)>) -> Result<Money, String> {
    let mut total = 0i64;
    for (path, v) in amounts {
        total = total.checked_add(money(&path, v)?.0).ok_or_else(|| format!("{path} is too large"))?;
    }
    Ok(Money(total))
}

/// The customer's name, or else the first email given.
fn buyer_nick(customer: Option<&Customer>, emails: &[Option<&str>]) -> String {
    let name = customer
        .into_iter()
        .flat_map(|c| [c.first_name.as_deref(), c.last_name.as_deref()])
        .filter_map(text)
        .collect::<Vec<_>>()
        .join(" ");
    if !name.is_empty() {
        return name;
    }
    emails
        .iter()
        .copied()
        .chain([customer.and_then(|c| c.email.as_deref())])
        .find_map(text)
        .unwrap_or_default()
        .to_owned()
}

/// How many of each line item the order's refunds cover, summed over all of them.
fn refunded_quantities(refunds: &[RefundObject]) -> Result<HashMap<String, i64>, String> {
    let mut out = HashMap::new();
    for (i, r) in refunds.iter().enumerate() {
        for (j, item) in r.refund_line_items.as_deref().unwrap_or_default().iter().enumerate() {
            let path = format!("refunds[{i}].refund_line_items[{j}]");
            let line = item.line_id(&path)?;
            let quantity = item.quantity.ok_or_else(|| format!("{path}.quantity is missing"))?;
            let sum: &mut i64 = out.entry(line).or_default();
            *sum = sum.saturating_add(quantity);
        }
    }
    Ok(out)
}

impl RefundLineItem {
    /// The refunded line's id: `line_item_id`, or the embedded `line_item.id`.
    fn line_id(&self, path: &str) -> Result<String, String> {
        match &self.line_item_id {
            None | Some(Value::Null) => {
                id(&format!("{path}.line_item_id"), self.line_item.as_ref().and_then(|l| l.id.as_ref()))
            }
            v => id(&format!("{path}.line_item_id"), v.as_ref()),
        }
    }
}

impl RefundObject {
    /// The refund Cairn records, or why the body is not one.
    fn into_refund(self) -> Result<Refund, String> {
        id("id", self.id.as_ref())?;
        let order_id = id("order_id", self.order_id.as_ref())?;
        let at = match (&self.created_at, &self.processed_at) {
            (Some(c), _) => time("created_at", Some(c))?,
            (None, Some(p)) => time("processed_at", Some(p))?,
            (None, None) => return Err("created_at is missing".into()),
        };
        let mut refunded_line_ids: Vec<String> = Vec::new();
        let mut quantities: HashMap<String, i64> = HashMap::new();
        for (i, item) in self.refund_line_items.unwrap_or_default().iter().enumerate() {
            let line = item.line_id(&format!("refund_line_items[{i}]"))?;
            let q = item.quantity.ok_or_else(|| format!("refund_line_items[{i}].quantity is missing"))?;
            *quantities.entry(line.clone()).or_default() += q;
            if !refunded_line_ids.contains(&line) {
                refunded_line_ids.push(line);
            }
        }
        Ok(Refund { order_id, refunded_line_ids, quantities, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = include_str!("../../../tests/fixtures/shopify/orders_create.json");
    const PAID: &str = include_str!("../../../tests/fixtures/shopify/orders_paid.json");
    const CANCELLED: &str = include_str!("../../../tests/fixtures/shopify/orders_cancelled.json");
    const UPDATED: &str = include_str!("../../../tests/fixtures/shopify/orders_updated.json");
    const REFUND: &str = include_str!("../../../tests/fixtures/shopify/refunds_create.json");

    fn order(topic: &str, body: &[u8]) -> TradeSnapshot {
        match parse(topic, body) {
            Ok(Inbound::Order(s)) => *s,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn utc(s: &str) -> Timestamp {
        time("test", Some(s)).unwrap()
    }

    /// The fixture with `edit` applied, as the bytes Shopify would send.
    fn edited(body: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(body).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn status_of(body: &[u8]) -> TradeStatus {
        order("orders/updated", body).status
    }

    #[test]
    fn orders_create_maps_a_pending_order() {
        let s = order("orders/create", CREATE.as_bytes());
        assert_eq!(s.external_id, "820982911946154508");
        assert_eq!(s.status, TradeStatus::WaitBuyerPay);
        assert_eq!(s.pay_time, None);
        assert_eq!(s.created, utc("2022-01-01T00:00:00Z"));
        assert_eq!(s.modified, utc("2022-01-01T00:00:01Z"));
        assert_eq!(s.buyer_nick, "John Smith");
        assert_eq!(s.buyer_memo.as_deref(), Some("Please gift wrap the sunglasses"));
        assert_eq!(s.currency, "USD");
        assert_eq!(s.payment, Money(41247));
        assert_eq!(s.post_fee, Money(1250));
        assert_eq!(s.discount_fee, Money(1000));
        assert_eq!(s.invoice_request, None);
        let r = s.receiver.clone().expect("the shipping address");
        assert_eq!(
            (
                r.name.as_str(),
                r.phone.as_str(),
                r.province.as_str(),
                r.city.as_str(),
                r.address.as_str(),
                r.zip.as_str()
            ),
            ("Steve Shipper", "555-555-SHIP", "Kentucky", "Shippington", "123 Shipping Street", "40003")
        );
        assert_eq!(
            s.lines,
            vec![
                TradeLine {
                    external_line_id: "487817672276298554".into(),
                    item_id: Some("788032119674292922".into()),
                    variant_id: Some("642667041472713922".into()),
                    sku_code: Some("SKU2006-001".into()),
                    properties: None,
                    title: "Aviator sunglasses".into(),
                    quantity: 1,
                    unit_price: Money(8999),
                    payment: Money(8999),
                    refund_status: "NO_REFUND".into(),
                },
                TradeLine {
                    external_line_id: "976318377106520349".into(),
                    item_id: Some("632910392".into()),
                    variant_id: Some("808950810".into()),
                    sku_code: Some("SKU2006-020".into()),
                    properties: Some("Walnut".into()),
                    title: "Mid-century lounger / Walnut".into(),
                    quantity: 2,
                    unit_price: Money(15999),
                    // 2 × 159.99 less the 10.00 LOUNGE10 allocation
                    payment: Money(30998),
                    refund_status: "NO_REFUND".into(),
                },
            ]
        );
    }

    #[test]
    fn orders_paid_waits_for_shipping_and_is_newer() {
        let created = order("orders/create", CREATE.as_bytes());
        let s = order("orders/paid", PAID.as_bytes());
        assert_eq!(s.status, TradeStatus::WaitSellerSendGoods);
        // processed_at: Shopify's order JSON carries no capture time.
        assert_eq!(s.pay_time, Some(utc("2022-01-01T00:00:00Z")));
        assert!(s.modified > created.modified);
        assert_eq!((s.payment, s.lines.len()), (Money(41247), 2));
    }

    #[test]
    fn orders_cancelled_before_payment_is_closed_by_the_market() {
        let s = order("orders/cancelled", CANCELLED.as_bytes());
        assert_eq!(s.external_id, "5735929692313");
        assert_eq!(s.status, TradeStatus::TradeClosedByMarket);
        assert_eq!(s.pay_time, None);
        // No customer name: the order's email stands in; an empty note is no memo.
        assert_eq!(s.buyer_nick, "jon@example.com");
        assert_eq!(s.buyer_memo, None);
        assert_eq!((s.payment, s.post_fee, s.discount_fee), (Money(17249), Money(1250), Money(0)));
        assert_eq!(s.lines[0].sku_code.as_deref(), Some("SKU2006-035"));
    }

    #[test]
    fn orders_cancelled_after_payment_is_closed() {
        for fs in ["paid", "partially_refunded", "refunded"] {
            let body = edited(CANCELLED, |v| v["financial_status"] = fs.into());
            assert_eq!(status_of(&body), TradeStatus::TradeClosed, "{fs}");
        }
    }

    #[test]
    fn orders_updated_with_a_refund_marks_the_wholly_refunded_line() {
        let s = order("orders/updated", UPDATED.as_bytes());
        assert_eq!(s.status, TradeStatus::SellerConsignedPart);
        assert_eq!(s.modified, utc("2022-01-03T15:15:42Z"));
        assert_eq!(s.lines[0].external_line_id, "487817672276298554");
        assert!(s.lines[0].refunded());
        assert_eq!(s.lines[0].refund_status, "SUCCESS");
        assert!(!s.lines[1].refunded());
        assert_eq!(s.lines[1].refund_status, "NO_REFUND");
    }

    #[test]
    fn a_line_is_refunded_only_when_its_whole_quantity_is() {
        let lounger = |v: &mut Value, quantities: &[i64]| {
            let template = v["refunds"][0].clone();
            v["refunds"] = quantities
                .iter()
                .map(|&q| {
                    let mut r = template.clone();
                    r["refund_line_items"][0]["line_item_id"] = 976318377106520349u64.into();
                    r["refund_line_items"][0]["quantity"] = q.into();
                    r
                })
                .collect();
        };
        let one = order("orders/updated", &edited(UPDATED, |v| lounger(v, &[1])));
        assert!(!one.lines[1].refunded(), "1 of 2 refunded");
        let both = order("orders/updated", &edited(UPDATED, |v| lounger(v, &[1, 1])));
        assert!(both.lines[1].refunded(), "1 + 1 of 2 refunded over two refunds");
    }

    #[test]
    fn statuses_follow_payment_and_fulfillment() {
        use TradeStatus::*;
        let cases = [
            ("pending", None, WaitBuyerPay),
            ("authorized", None, WaitBuyerPay),
            ("voided", None, WaitBuyerPay),
            ("paid", None, WaitSellerSendGoods),
            ("paid", Some("unfulfilled"), WaitSellerSendGoods),
            ("partially_paid", None, WaitSellerSendGoods),
            ("paid", Some("partial"), SellerConsignedPart),
            ("paid", Some("fulfilled"), WaitBuyerConfirmGoods),
            ("partially_refunded", Some("fulfilled"), WaitBuyerConfirmGoods),
            ("refunded", Some("fulfilled"), TradeClosed),
        ];
        for (fs, ff, want) in cases {
            let body = edited(PAID, |v| {
                v["financial_status"] = fs.into();
                v["fulfillment_status"] = ff.into();
            });
            assert_eq!(status_of(&body), want, "{fs} {ff:?}");
        }
    }

    #[test]
    fn refunds_create_names_the_order_and_lines() {
        let Ok(Inbound::Refund(r)) = parse("refunds/create", REFUND.as_bytes()) else {
            panic!("expected a refund");
        };
        assert_eq!(
            r,
            Refund {
                order_id: "820982911946154508".into(),
                refunded_line_ids: vec!["487817672276298554".into()],
                quantities: HashMap::from([("487817672276298554".into(), 1)]),
                at: utc("2022-01-03T15:15:40Z"),
            }
        );
    }

    #[test]
    fn amounts_may_be_json_numbers() {
        let body = edited(PAID, |v| {
            v["total_price"] = serde_json::json!(412.47);
            v["line_items"][1]["price"] = serde_json::json!(159.99);
            v["line_items"][1]["discount_allocations"][0]["amount"] = serde_json::json!(10);
            v["shipping_lines"][0]["price"] = serde_json::json!(12.5);
        });
        assert_eq!(order("orders/updated", &body), order("orders/paid", PAID.as_bytes()));
    }

    #[test]
    fn removed_shipping_lines_are_not_charged() {
        let body = edited(PAID, |v| {
            let mut removed = v["shipping_lines"][0].clone();
            removed["price"] = "30.00".into();
            removed["is_removed"] = true.into();
            v["shipping_lines"].as_array_mut().unwrap().push(removed);
        });
        assert_eq!(order("orders/paid", &body).post_fee, Money(1250));
    }

    #[test]
    fn ids_may_be_decimal_strings() {
        let body = edited(PAID, |v| v["id"] = "820982911946154508".into());
        assert_eq!(order("orders/updated", &body).external_id, "820982911946154508");
        let gid = edited(PAID, |v| v["id"] = "gid://shopify/Order/1".into());
        assert_eq!(parse("orders/paid", &gid).unwrap_err(), "id must be a positive integer id");
    }

    #[test]
    fn signatures_match_an_independent_implementation() {
        // Computed with Python's hmac/hashlib/base64, so signer and verifier cannot share a bug.
        let body = br#"{"id":820982911946154508,"total_price":"412.47"}"#;
        let sig = "BqE1Aj991CukdN4U13Kjy/XU62ySA/TjwqGVRHFwwr8=";
        assert!(verify("shpss_test_secret", body, sig));
        assert!(verify("shpss_test_secret", body, &format!(" {sig}\n")));
        // Over the fixture's raw bytes, `\/` escapes included.
        let create = "8JjSU9BPZSg0Q7UMC/ak9p9EhBL6yLIm5sTQF8o2bw0=";
        assert!(verify("shpss_test_secret", CREATE.as_bytes(), create));
    }

    #[test]
    fn tampered_bodies_and_wrong_secrets_fail() {
        let sig = "8JjSU9BPZSg0Q7UMC/ak9p9EhBL6yLIm5sTQF8o2bw0=";
        let tampered = CREATE.replacen("\"412.47\"", "\"0.01\"", 1);
        assert_ne!(tampered, CREATE);
        assert!(!verify("shpss_test_secret", tampered.as_bytes(), sig));
        assert!(!verify("shpss_other_secret", CREATE.as_bytes(), sig));
        assert!(!verify("", CREATE.as_bytes(), sig));
        assert!(!verify("shpss_test_secret", CREATE.as_bytes(), "not base64!"));
        assert!(!verify("shpss_test_secret", CREATE.as_bytes(), ""));
        // The same JSON re-serialised (no `\/` escapes) is not the signed body.
        let reserialised = edited(CREATE, |_| {});
        assert!(!verify("shpss_test_secret", &reserialised, sig));
    }

    #[test]
    fn a_line_without_a_sku_is_still_a_line() {
        for sku in [Value::Null, "".into(), "  ".into()] {
            let body = edited(PAID, |v| v["line_items"][1]["sku"] = sku.clone());
            let Ok(Inbound::Order(s)) = parse("orders/paid", &body) else { panic!("a line without a SKU is kept") };
            let l = &s.lines[1];
            assert_eq!(l.sku_code, None);
            assert!(l.item_id.is_some() && l.variant_id.is_some(), "it maps by product and variant: {l:?}");
        }
        let body = edited(PAID, |v| {
            v["line_items"][0].as_object_mut().unwrap().remove("sku");
        });
        let Ok(Inbound::Order(s)) = parse("orders/paid", &body) else { panic!("kept") };
        assert_eq!(s.lines[0].sku_code, None);
    }

    #[test]
    fn a_missing_updated_at_is_an_error() {
        let body = edited(PAID, |v| {
            v.as_object_mut().unwrap().remove("updated_at");
        });
        assert_eq!(parse("orders/paid", &body).unwrap_err(), "updated_at is missing");
        let bad = edited(PAID, |v| v["updated_at"] = "yesterday".into());
        assert_eq!(parse("orders/paid", &bad).unwrap_err(), "updated_at: `yesterday` is not an RFC 3339 time");
    }

    #[test]
    fn malformed_json_is_an_error() {
        let err = parse("orders/create", &CREATE.as_bytes()[..200]).unwrap_err();
        assert!(err.starts_with("body is not a Shopify payload"), "{err}");
        assert!(parse("refunds/create", b"not json").is_err());
        assert!(parse("orders/create", b"").is_err());
    }

    #[test]
    fn an_unknown_topic_is_an_error() {
        for topic in ["orders/fulfilled", "products/update", "", "ORDERS/CREATE"] {
            let err = parse(topic, CREATE.as_bytes()).unwrap_err();
            assert_eq!(err, format!("topic `{topic}` is not one Cairn subscribes to"));
        }
        for topic in TOPICS {
            let body = if *topic == "refunds/create" { REFUND } else { CREATE };
            assert!(parse(topic, body.as_bytes()).is_ok(), "{topic}");
        }
    }

    #[test]
    fn invalid_orders_say_what_is_wrong() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 9] = [
            ("line_items must not be empty", |v| v["line_items"] = serde_json::json!([])),
            ("line_items[0].quantity must be between 1 and 1000000", |v| v["line_items"][0]["quantity"] = 0.into()),
            ("line_items[0].quantity must be between 1 and 1000000", |v| {
                v["line_items"][0]["quantity"] = 1_000_001.into()
            }),
            ("line_items[0].id is missing", |v| v["line_items"][0]["id"] = Value::Null),
            ("id is missing", |v| v["id"] = Value::Null),
            ("line_items[0].price: `8.999` is not a decimal amount with at most two decimals", |v| {
                v["line_items"][0]["price"] = "8.999".into()
            }),
            ("line_items[1].discount_allocations exceed price × quantity", |v| {
                v["line_items"][1]["discount_allocations"][0]["amount"] = "320.00".into()
            }),
            ("financial_status `on_hold` is not a Shopify financial status", |v| {
                v["financial_status"] = "on_hold".into()
            }),
            ("fulfillment_status `shipped` is not a Shopify fulfillment status", |v| {
                v["fulfillment_status"] = "shipped".into()
            }),
        ];
        for (want, edit) in cases {
            assert_eq!(parse("orders/paid", &edited(PAID, edit)).unwrap_err(), want);
        }
    }

    #[test]
    fn invalid_refunds_say_what_is_wrong() {
        let body = edited(REFUND, |v| v["order_id"] = Value::Null);
        assert_eq!(parse("refunds/create", &body).unwrap_err(), "order_id is missing");
        // The embedded line item's id stands in for a missing line_item_id.
        let body = edited(REFUND, |v| v["refund_line_items"][0]["line_item_id"] = Value::Null);
        let Ok(Inbound::Refund(r)) = parse("refunds/create", &body) else { panic!() };
        assert_eq!(r.refunded_line_ids, ["487817672276298554"]);
        let body = edited(REFUND, |v| {
            v["refund_line_items"][0]["line_item_id"] = Value::Null;
            v["refund_line_items"][0]["line_item"]["id"] = Value::Null;
        });
        assert_eq!(parse("refunds/create", &body).unwrap_err(), "refund_line_items[0].line_item_id is missing");
    }
}
