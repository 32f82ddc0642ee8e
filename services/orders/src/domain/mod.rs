//! The order state machine: pure, no I/O.

pub mod shipment;

use kernel::{LineReservationState as Res, OrderStatus, trade::TradeStatus};

/// The order status a marketplace trade status implies, before stock is considered.
pub fn status_for_trade(s: TradeStatus) -> OrderStatus {
    match s {
        TradeStatus::WaitBuyerPay => OrderStatus::PendingPayment,
        TradeStatus::WaitSellerSendGoods => OrderStatus::Paid,
        TradeStatus::SellerConsignedPart => OrderStatus::PartiallyShipped,
        TradeStatus::WaitBuyerConfirmGoods => OrderStatus::Shipped,
        TradeStatus::TradeFinished => OrderStatus::Completed,
        TradeStatus::TradeClosed | TradeStatus::TradeClosedByMarket => OrderStatus::Cancelled,
    }
}

/// Refines a paid order by its lines' stock: `allocated` when every live line is confirmed,
/// `backordered` while any waits for stock, else `paid`. Other statuses are kept.
pub fn refine(status: OrderStatus, lines: &[Option<Res>]) -> OrderStatus {
    if !matches!(status, OrderStatus::Paid | OrderStatus::Allocated | OrderStatus::Backordered) {
        return status;
    }
    let live: Vec<Option<Res>> = lines.iter().copied().filter(|l| !matches!(l, Some(Res::Released))).collect();
    if live.contains(&Some(Res::Backordered)) {
        OrderStatus::Backordered
    } else if !live.is_empty() && live.iter().all(|l| *l == Some(Res::Confirmed)) {
        OrderStatus::Allocated
    } else {
        OrderStatus::Paid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_orders_follow_their_stock() {
        use OrderStatus::*;
        assert_eq!(refine(Paid, &[None]), Paid);
        assert_eq!(refine(Paid, &[Some(Res::Confirmed), Some(Res::Confirmed)]), Allocated);
        assert_eq!(refine(Allocated, &[Some(Res::Confirmed), Some(Res::Backordered)]), Backordered);
        assert_eq!(refine(Backordered, &[Some(Res::Confirmed), Some(Res::Released)]), Allocated);
        assert_eq!(refine(Shipped, &[Some(Res::Backordered)]), Shipped);
        assert_eq!(refine(PendingPayment, &[Some(Res::Held)]), PendingPayment);
    }

    #[test]
    fn every_trade_status_maps() {
        assert_eq!(status_for_trade(TradeStatus::TradeClosedByMarket), OrderStatus::Cancelled);
        assert_eq!(status_for_trade(TradeStatus::WaitBuyerConfirmGoods), OrderStatus::Shipped);
    }
}
