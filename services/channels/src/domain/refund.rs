//! A refund that arrives without its order (Shopify's `refunds/create`), applied to the newest
//! snapshot Cairn holds of that order.

use kernel::{
    Timestamp,
    trade::{TradeSnapshot, TradeStatus},
};
use std::collections::HashMap;

/// A refund of some of an order's lines.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refund {
    /// The order's id, as in [`TradeSnapshot::external_id`].
    pub order_id: String,
    /// The line items the refund touches, as in [`kernel::trade::TradeLine::external_line_id`].
    pub refunded_line_ids: Vec<String>,
    /// Units this refund returns per line id (a line is refunded in Cairn's model only when all
    /// its units are).
    pub quantities: HashMap<String, i64>,
    /// When the refund was made.
    pub at: Timestamp,
}

/// The order after the refund `r`: lines whose every unit it returns are refunded, and the
/// trade closes when no line is left. `None` when it changes nothing (an `orders/updated`
/// already carried it, or it returns only part of a line). Its version is the refund's time,
/// or just after the snapshot's when Shopify's whole-second clock puts them together.
pub fn apply(mut s: TradeSnapshot, r: &Refund) -> Option<TradeSnapshot> {
    let mut changed = false;
    for l in &mut s.lines {
        if !l.refunded() && r.quantities.get(&l.external_line_id).is_some_and(|&q| q >= l.quantity) {
            l.refund_status = "SUCCESS".into();
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    if s.lines.iter().all(|l| l.refunded()) {
        s.status = TradeStatus::TradeClosed;
    }
    s.modified = Ord::max(r.at, s.modified + chrono::Duration::microseconds(1));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Money, trade::TradeLine};

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
    }

    fn line(id: &str, quantity: i64) -> TradeLine {
        TradeLine {
            external_line_id: id.into(),
            item_id: None,
            variant_id: None,
            sku_code: Some(format!("SKU-{id}")),
            properties: None,
            title: String::new(),
            quantity,
            unit_price: Money(100),
            payment: Money(100 * quantity),
            refund_status: "NO_REFUND".into(),
        }
    }

    fn order(lines: Vec<TradeLine>) -> TradeSnapshot {
        TradeSnapshot {
            external_id: "1001".into(),
            status: TradeStatus::WaitSellerSendGoods,
            created: at("2022-01-01T00:00:00Z"),
            pay_time: Some(at("2022-01-01T00:00:00Z")),
            modified: at("2022-01-03T15:15:40Z"),
            buyer_nick: String::new(),
            buyer_memo: None,
            seller_memo: None,
            seller_flag: 0,
            receiver: None,
            currency: "USD".into(),
            payment: Money(300),
            post_fee: Money(0),
            discount_fee: Money(0),
            invoice_request: None,
            lines,
        }
    }

    fn refund(quantities: &[(&str, i64)], when: &str) -> Refund {
        Refund {
            order_id: "1001".into(),
            refunded_line_ids: quantities.iter().map(|(id, _)| (*id).to_owned()).collect(),
            quantities: quantities.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect(),
            at: at(when),
        }
    }

    #[test]
    fn a_wholly_returned_line_is_refunded_and_the_order_stays_open() {
        let s = apply(order(vec![line("a", 1), line("b", 2)]), &refund(&[("a", 1)], "2022-01-03T15:20:00Z")).unwrap();
        assert!(s.lines[0].refunded());
        assert_eq!(s.lines[0].refund_status, "SUCCESS");
        assert!(!s.lines[1].refunded());
        assert_eq!(s.status, TradeStatus::WaitSellerSendGoods);
        assert_eq!(s.modified, at("2022-01-03T15:20:00Z"), "the refund's time is the new version");
    }

    #[test]
    fn a_partly_returned_line_changes_nothing() {
        assert_eq!(apply(order(vec![line("a", 1), line("b", 2)]), &refund(&[("b", 1)], "2022-01-04T00:00:00Z")), None);
        assert_eq!(apply(order(vec![line("a", 1)]), &refund(&[("zz", 5)], "2022-01-04T00:00:00Z")), None);
    }

    #[test]
    fn a_refund_the_snapshot_already_shows_changes_nothing() {
        let mut s = order(vec![line("a", 1), line("b", 2)]);
        s.lines[0].refund_status = "SUCCESS".into();
        assert_eq!(apply(s, &refund(&[("a", 1)], "2022-01-04T00:00:00Z")), None);
    }

    #[test]
    fn the_order_closes_when_every_line_is_refunded() {
        let s = apply(order(vec![line("a", 1), line("b", 2)]), &refund(&[("a", 1), ("b", 3)], "2022-01-04T00:00:00Z"))
            .unwrap();
        assert!(s.lines.iter().all(|l| l.refunded()));
        assert_eq!(s.status, TradeStatus::TradeClosed);
    }

    #[test]
    fn the_version_moves_past_the_snapshot_when_the_clocks_collide() {
        // Shopify stamps whole seconds: the refund and the snapshot's update share a second.
        let before = order(vec![line("a", 1), line("b", 1)]);
        let s = apply(before.clone(), &refund(&[("a", 1)], "2022-01-03T15:15:40Z")).unwrap();
        assert_eq!(s.modified, before.modified + chrono::Duration::microseconds(1));
        let s = apply(before.clone(), &refund(&[("a", 1)], "2022-01-03T15:15:39Z")).unwrap();
        assert!(s.modified > before.modified, "an older refund time never makes an older version");
    }
}
