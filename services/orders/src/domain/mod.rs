//! The order aggregate and its state machine: pure and synchronous. No database, no HTTP, no
//! clock and no id generator: callers pass in the time and, where an order is created, its id.
//!
//! - [`order`]: the order and its lines, and how a trade snapshot or a reservation change
//!   applies to them (with the timeline entries each produces).
//! - [`shipment`]: the seller shipping lines through Cairn.
//! - [`events`]: `order.changed`, the event that describes an order to other services.
//! - [`stats`]: orders per time bucket, for charts.
//! - here: the status rules every path shares.

pub mod events;
pub mod holds;
pub mod order;
pub mod shipment;
pub mod stats;

pub use order::{Applied, Line, Order, Reserved, TimelineEntry, TimelineKind, apply_reservation, apply_trade};

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

/// The marketplace's name for a trade status, as the snapshot's JSON spells it (and as the
/// orders table and the API show it).
pub fn trade_status_name(s: TradeStatus) -> &'static str {
    match s {
        TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
        TradeStatus::WaitSellerSendGoods => "WAIT_SELLER_SEND_GOODS",
        TradeStatus::SellerConsignedPart => "SELLER_CONSIGNED_PART",
        TradeStatus::WaitBuyerConfirmGoods => "WAIT_BUYER_CONFIRM_GOODS",
        TradeStatus::TradeFinished => "TRADE_FINISHED",
        TradeStatus::TradeClosed => "TRADE_CLOSED",
        TradeStatus::TradeClosedByMarket => "TRADE_CLOSED_BY_MARKET",
    }
}

/// Parses [`trade_status_name`]'s names.
pub fn parse_trade_status(s: &str) -> Option<TradeStatus> {
    TRADE_STATUSES.into_iter().find(|t| trade_status_name(*t) == s)
}

const TRADE_STATUSES: [TradeStatus; 7] = [
    TradeStatus::WaitBuyerPay,
    TradeStatus::WaitSellerSendGoods,
    TradeStatus::SellerConsignedPart,
    TradeStatus::WaitBuyerConfirmGoods,
    TradeStatus::TradeFinished,
    TradeStatus::TradeClosed,
    TradeStatus::TradeClosedByMarket,
];

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

    #[test]
    fn trade_status_names_are_the_snapshot_json_names() {
        for s in TRADE_STATUSES {
            // The names stored before this function existed were written by serde.
            assert_eq!(serde_json::to_value(s).unwrap(), trade_status_name(s), "{s:?}");
            assert_eq!(parse_trade_status(trade_status_name(s)), Some(s));
        }
        assert_eq!(parse_trade_status("wait_buyer_pay"), None);
    }
}
