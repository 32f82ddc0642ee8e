//! `order.changed`: how orders describes an order to other services. Built from the order and
//! the snapshot it was last built from, so that a snapshot and a shipment made here describe an
//! order the same way.

use super::order::{Line, Order};
use kernel::{
    events::{OrderChanged, OrderLineRef},
    trade::TradeSnapshot,
};

/// One line as `order.changed` carries it.
pub fn line_ref(l: &Line) -> OrderLineRef {
    OrderLineRef {
        external_line_id: l.external_line_id.clone(),
        sku_code: l.sku_code.clone(),
        item_id: l.item_id.clone(),
        variant_id: l.variant_id.clone(),
        quantity: l.quantity,
        refunded: l.refunded(),
        title: l.title.clone(),
        unit_price: l.unit_price,
        payment: l.payment,
        shipped: l.shipped_waybill.is_some(),
    }
}

/// `order.changed` for `order` as it is now; `trade` is the snapshot it was last built from,
/// for the commercial terms the order itself does not keep.
pub fn order_changed(order: &Order, trade: &TradeSnapshot) -> OrderChanged {
    OrderChanged {
        order_id: order.id,
        channel_id: order.channel_id,
        external_id: order.external_id.clone(),
        status: order.status,
        revision: order.revision,
        created_at: order.trade_created,
        paid_at: order.paid_at,
        hold_ttl_seconds: order.hold_ttl_seconds,
        lines: order.lines.iter().map(line_ref).collect(),
        currency: trade.currency.clone(),
        payment: trade.payment,
        post_fee: trade.post_fee,
        discount_fee: trade.discount_fee,
        buyer_nick: trade.buyer_nick.clone(),
        invoice_request: trade.invoice_request.clone(),
        receiver: trade.receiver.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::{
        apply_trade,
        tests::{CHANNEL, ORDER, TENANT, at, received, two_lines},
    };
    use kernel::{
        Money, OrderStatus,
        trade::{InvoiceBuyerKind, InvoiceRequest, TradeStatus},
    };

    #[test]
    fn order_changed_carries_the_order_and_the_snapshots_terms() {
        let mut ev = received(TradeStatus::WaitSellerSendGoods, 3, two_lines());
        ev.trade.post_fee = Money(800);
        ev.trade.invoice_request = Some(InvoiceRequest {
            kind: InvoiceBuyerKind::Company,
            title: "杭州云栈服饰有限公司".into(),
            tax_id: Some("91330106MA27XL5X2K".into()),
            email: None,
        });
        let mut order = apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap().order;
        order.lines[1].refund_status = "SUCCESS".into();
        order.lines[0].shipped_waybill = Some("SF1".into());
        let c = order_changed(&order, &ev.trade);
        assert_eq!(
            c,
            OrderChanged {
                order_id: ORDER,
                channel_id: CHANNEL,
                external_id: "T1".into(),
                status: OrderStatus::Paid,
                revision: at(3).timestamp_micros(),
                created_at: at(0),
                paid_at: Some(at(3)),
                hold_ttl_seconds: 900,
                lines: vec![
                    OrderLineRef {
                        external_line_id: "O1".into(),
                        sku_code: Some("TEE-RED-M".into()),
                        item_id: None,
                        variant_id: None,
                        quantity: 2,
                        refunded: false,
                        title: "TEE-RED-M title".into(),
                        unit_price: Money(10_900),
                        payment: Money(21_800),
                        shipped: true,
                    },
                    OrderLineRef {
                        external_line_id: "O2".into(),
                        sku_code: Some("CAP-1".into()),
                        item_id: None,
                        variant_id: None,
                        quantity: 1,
                        refunded: true,
                        title: "CAP-1 title".into(),
                        unit_price: Money(10_900),
                        payment: Money(10_900),
                        shipped: false,
                    },
                ],
                currency: "CNY".into(),
                payment: Money(21_800),
                post_fee: Money(800),
                discount_fee: Money(2_000),
                buyer_nick: "买家小王".into(),
                invoice_request: ev.trade.invoice_request.clone(),
                receiver: None,
            }
        );
    }

    #[test]
    fn the_applied_snapshots_event_is_order_changed_for_the_new_order() {
        let ev = received(TradeStatus::WaitSellerSendGoods, 3, two_lines());
        let applied = apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap();
        assert_eq!(applied.changed, order_changed(&applied.order, &ev.trade));
    }
}
