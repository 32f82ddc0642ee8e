//! The events orders publishes, built from its stored rows, so that a snapshot and a shipment
//! describe an order the same way.

use crate::db::{order_lines, orders};
use kernel::{
    Money, OrderStatus,
    events::{OrderChanged, OrderLineRef},
    trade::TradeSnapshot,
};

/// One line as `order.changed` carries it.
pub fn line_ref(l: &order_lines::Model) -> OrderLineRef {
    OrderLineRef {
        external_line_id: l.external_line_id.clone(),
        sku_code: l.sku_code.clone(),
        quantity: l.quantity,
        refunded: refunded(l),
        title: l.title.clone(),
        unit_price: Money(l.unit_price),
        payment: Money(l.payment),
        shipped: l.shipped_waybill.is_some(),
    }
}

/// The marketplace reports the line's refund as succeeded.
pub fn refunded(l: &order_lines::Model) -> bool {
    l.refund_status == "SUCCESS"
}

/// `order.changed` for the order as stored (`o`, its snapshot `snap` and its `lines`).
pub fn order_changed(
    o: &orders::Model,
    status: OrderStatus,
    snap: &TradeSnapshot,
    lines: &[order_lines::Model],
) -> OrderChanged {
    OrderChanged {
        order_id: o.id,
        channel_id: o.channel_id,
        external_id: o.external_id.clone(),
        status,
        revision: o.revision,
        created_at: o.trade_created,
        paid_at: o.paid_at,
        hold_ttl_seconds: o.hold_ttl_seconds,
        lines: lines.iter().map(line_ref).collect(),
        currency: snap.currency.clone(),
        payment: snap.payment,
        post_fee: snap.post_fee,
        discount_fee: snap.discount_fee,
        buyer_nick: snap.buyer_nick.clone(),
        invoice_request: snap.invoice_request.clone(),
    }
}
