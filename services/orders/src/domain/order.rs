//! The order: the marketplace's trade as last applied, plus what only Cairn knows about it
//! (each line's reservation state and the waybill it left with, the status those refine), and
//! the two ways events change it: a newer trade snapshot, and a reservation change.

use super::{
    events::order_changed,
    holds::{Hold, Waiver, fingerprint, with_holds},
    refine,
    shipment::{LineFacts, with_shipments},
    status_for_trade,
};
use kernel::{
    LineReservationState, Money, OrderStatus, TenantId, Timestamp,
    events::{Mapping, OrderChanged, ReservationChanged, TradeReceived, WarehouseQuantity},
    trade::{Receiver, TradeStatus},
};
use uuid::Uuid;

/// An order, as the rules see it (the stored snapshot's JSON stays with the adapter).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub channel_id: Uuid,
    /// The marketplace's trade id (`tid`).
    pub external_id: String,
    pub status: OrderStatus,
    /// The marketplace's own status in the snapshot applied last.
    pub trade_status: TradeStatus,
    /// The marketplace's `modified` of the snapshot applied last.
    pub modified: Timestamp,
    /// Which version of the order this is: the snapshot's `modified` in µs, or a later value
    /// after a shipment made through Cairn (see [`super::shipment::record`]). A snapshot is
    /// applied only when its revision is newer.
    pub revision: i64,
    pub trade_created: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub buyer_nick: String,
    pub currency: String,
    pub payment: Money,
    /// The channel's hold TTL from the last snapshot (0 for orders stored before it was kept).
    pub hold_ttl_seconds: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// In the trade's order.
    pub lines: Vec<Line>,
    /// What the audit rules look at, from the snapshot applied last.
    pub audit: AuditFacts,
    /// What keeps it from shipping (see [`super::holds`]).
    pub holds: Vec<Hold>,
    /// Causes a person accepted.
    pub waivers: Vec<Waiver>,
    /// `order.ready_to_ship` went out for the order as it is (sent again after it stopped
    /// being ready, e.g. after a hold was released).
    pub ready: bool,
}

/// The trade's facts the audit rules look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFacts {
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    /// 0 (none) to 5.
    pub seller_flag: i32,
    pub receiver: Option<Receiver>,
    /// The receiver's fingerprint ([`super::holds::fingerprint`]) when the order was paid (or
    /// as a person last accepted it): a different one now is an address change.
    pub paid_receiver: Option<String>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based position in the trade.
    pub line_no: i32,
    /// The marketplace's line id (`oid`).
    pub external_line_id: String,
    /// The Cairn SKU the line sells; `None` while it maps to none.
    pub sku_code: Option<String>,
    /// How the line found its SKU.
    pub mapping: Mapping,
    /// The marketplace's item and variant, which a product mapping is keyed by.
    pub item_id: Option<String>,
    pub variant_id: Option<String>,
    /// The variant's properties as the marketplace shows them.
    pub properties: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub payment: Money,
    /// The marketplace's refund status, e.g. `NO_REFUND`, `SUCCESS`.
    pub refund_status: String,
    /// As inventory last reported it; `None` until it has.
    pub reservation: Option<LineReservationState>,
    /// The inventory reservation version `reservation` came from.
    pub reservation_version: i64,
    /// The waybill the line left with, when the seller shipped it through Cairn.
    pub shipped_waybill: Option<String>,
    /// Where its units are reserved, as inventory last reported it.
    pub warehouses: Vec<WarehouseQuantity>,
}

impl Line {
    /// The marketplace reports the line's refund as succeeded.
    pub fn refunded(&self) -> bool {
        self.refund_status == "SUCCESS"
    }
}

impl Order {
    /// Each line's reservation state, in line order (what [`refine`] takes).
    pub fn reservation_states(&self) -> Vec<Option<LineReservationState>> {
        self.lines.iter().map(|l| l.reservation).collect()
    }

    /// Each line as the shipping rules see it.
    pub fn line_facts(&self) -> Vec<LineFacts> {
        self.lines
            .iter()
            .map(|l| LineFacts {
                external_line_id: l.external_line_id.clone(),
                refunded: l.refunded(),
                shipped_waybill: l.shipped_waybill.clone(),
            })
            .collect()
    }

    /// Each line's `(refunded, shipped)` (what [`with_shipments`] takes).
    fn shipped_lines(&self) -> Vec<(bool, bool)> {
        self.lines.iter().map(|l| (l.refunded(), l.shipped_waybill.is_some())).collect()
    }

    /// The status the marketplace's trade status, the lines' stock and Cairn's shipments give
    /// the order, before holds.
    pub fn base_status(&self) -> OrderStatus {
        let status = refine(status_for_trade(self.trade_status), &self.reservation_states());
        // A snapshot that has not caught up with a shipment made here (the write-back is still
        // on its way) does not take the order back to paid.
        with_shipments(status, &self.shipped_lines())
    }

    /// The status with the holds applied: what the order is.
    pub fn derived_status(&self) -> OrderStatus {
        with_holds(self.base_status(), &self.holds)
    }
}

/// What a timeline entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineKind {
    /// The first snapshot made the order.
    Created,
    /// A snapshot or a stock change moved the order.
    Status,
    /// A line's reservation state changed.
    Stock,
    /// The seller shipped lines through Cairn.
    Shipment,
    /// A hold was placed, lifted or released (審单).
    Hold,
    /// A line found its SKU (a product mapping).
    Mapping,
}

impl TimelineKind {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Created => "created",
            TimelineKind::Status => "status",
            TimelineKind::Stock => "stock",
            TimelineKind::Shipment => "shipment",
            TimelineKind::Hold => "hold",
            TimelineKind::Mapping => "mapping",
        }
    }

    /// Parses [`TimelineKind::as_str`]'s names.
    pub fn parse(s: &str) -> Option<TimelineKind> {
        [
            TimelineKind::Created,
            TimelineKind::Status,
            TimelineKind::Stock,
            TimelineKind::Shipment,
            TimelineKind::Hold,
            TimelineKind::Mapping,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Something that happened to an order, and why, in words a seller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub detail: String,
}

/// A trade snapshot applied: the order as it is now, its timeline entry, and the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub order: Order,
    pub timeline: TimelineEntry,
    pub changed: OrderChanged,
}

/// Applies `ev`'s snapshot of a trade of `tenant` to the order made from that trade
/// (`existing`, none yet for a new trade; `new_id` names a new one). `None` when the snapshot
/// is not newer than the order (stale or a duplicate): nothing changes.
///
/// The snapshot replaces the order and its lines, except what the marketplace does not know:
/// a line keeps its reservation state and version (matched by marketplace line id) and the
/// waybill it left with, and the order keeps its id and creation time.
pub fn apply_trade(
    existing: Option<&Order>,
    tenant: TenantId,
    ev: &TradeReceived,
    now: Timestamp,
    new_id: impl FnOnce() -> Uuid,
) -> Option<Applied> {
    let snap = &ev.trade;
    let revision = snap.modified.timestamp_micros();
    if existing.is_some_and(|o| o.revision >= revision) {
        // After a shipment made here the revision is the shipment's time (see
        // `shipment::record`), so a snapshot the marketplace produced before it is stale too.
        return None;
    }
    let old_lines: &[Line] = existing.map_or(&[], |o| &o.lines);
    let lines: Vec<Line> = snap
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let old = old_lines.iter().find(|o| o.external_line_id == l.external_line_id);
            // The channel's resolution of the line (events from before mappings existed carry
            // none: the merchant code is the SKU then).
            let sku = ev.skus.iter().find(|s| s.external_line_id == l.external_line_id);
            let (sku_code, mapping) = match (sku, &l.sku_code) {
                (Some(s), _) => (s.sku_code.clone(), s.mapping),
                (None, Some(code)) => (Some(code.clone()), Mapping::MerchantCode),
                (None, None) => (None, Mapping::Unmapped),
            };
            Line {
                line_no: i as i32 + 1,
                external_line_id: l.external_line_id.clone(),
                sku_code,
                mapping,
                item_id: l.item_id.clone(),
                variant_id: l.variant_id.clone(),
                properties: l.properties.clone(),
                title: l.title.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                payment: l.payment,
                refund_status: l.refund_status.clone(),
                reservation: old.and_then(|o| o.reservation),
                reservation_version: old.map_or(0, |o| o.reservation_version),
                // Shipped through Cairn: the marketplace's snapshot does not know it (or not
                // yet), so the line keeps it, as it keeps its reservation state.
                shipped_waybill: old.and_then(|o| o.shipped_waybill.clone()),
                warehouses: old.map(|o| o.warehouses.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let mut order = Order {
        tenant_id: existing.map_or(tenant, |o| o.tenant_id),
        id: existing.map_or_else(new_id, |o| o.id),
        channel_id: ev.channel_id,
        external_id: snap.external_id.clone(),
        // Set below, once the lines are there to refine it.
        status: status_for_trade(snap.status),
        trade_status: snap.status,
        modified: snap.modified,
        revision,
        trade_created: snap.created,
        paid_at: snap.pay_time,
        buyer_nick: snap.buyer_nick.clone(),
        currency: snap.currency.clone(),
        payment: snap.payment,
        hold_ttl_seconds: ev.hold_ttl_seconds,
        created_at: existing.map_or(now, |o| o.created_at),
        updated_at: now,
        lines,
        audit: AuditFacts {
            buyer_memo: snap.buyer_memo.clone(),
            seller_memo: snap.seller_memo.clone(),
            seller_flag: snap.seller_flag,
            receiver: snap.receiver.clone(),
            // The receiver the order was paid for: set by the first paid snapshot, kept after.
            paid_receiver: existing
                .and_then(|o| o.audit.paid_receiver.clone())
                .or_else(|| snap.pay_time.and(snap.receiver.as_ref()).map(fingerprint)),
        },
        holds: existing.map(|o| o.holds.clone()).unwrap_or_default(),
        waivers: existing.map(|o| o.waivers.clone()).unwrap_or_default(),
        ready: existing.is_some_and(|o| o.ready),
    };
    // Holds are reconciled by the caller, which knows the audit rules (`holds::settle`).
    order.status = order.derived_status();
    let status = order.status.as_str();
    let timeline = match existing {
        None => TimelineEntry {
            at: now,
            kind: TimelineKind::Created,
            detail: format!("Received from {} shop {} ({}): {status}", ev.marketplace, ev.shop_id, ev.topic),
        },
        Some(o) if o.status != order.status => TimelineEntry {
            at: now,
            kind: TimelineKind::Status,
            detail: format!("{} → {status} ({})", o.status.as_str(), ev.topic),
        },
        Some(_) => TimelineEntry { at: now, kind: TimelineKind::Status, detail: format!("Updated by {}", ev.topic) },
    };
    let changed = order_changed(&order, snap);
    Some(Applied { order, timeline, changed })
}

/// What a reservation change did to an order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reserved {
    /// The order changed (a line's state or version, or the status): it must be saved.
    pub changed: bool,
    /// Each line whose state changed, then the status when it moved.
    pub timeline: Vec<TimelineEntry>,
}

/// Applies inventory's report on the order's reservation (`ev`, whose `order_id` is this
/// order): each line it names takes the reported state, unless the line already has a state
/// from this or a later reservation version; then a paid order is refined by its lines' stock.
pub fn apply_reservation(order: &mut Order, ev: &ReservationChanged, now: Timestamp) -> Reserved {
    let mut out = Reserved::default();
    for line in &mut order.lines {
        let Some(r) = ev.lines.iter().find(|r| r.line_ref == line.external_line_id) else { continue };
        if ev.version <= line.reservation_version {
            continue;
        }
        if line.reservation != Some(r.state) {
            out.timeline.push(TimelineEntry {
                at: now,
                kind: TimelineKind::Stock,
                detail: format!(
                    "{} {} ×{}: {} → {}",
                    line.external_line_id,
                    line.sku_code.as_deref().unwrap_or("(unmapped)"),
                    line.quantity,
                    line.reservation.map_or("none", LineReservationState::as_str),
                    r.state.as_str()
                ),
            });
        }
        line.reservation = Some(r.state);
        line.reservation_version = ev.version;
        // Committed units left from where they were reserved: the line keeps showing it.
        if !(r.state == LineReservationState::Committed && r.warehouses.is_empty()) {
            line.warehouses = r.warehouses.clone();
        }
        if let Some(sku) = &r.sku_code
            && line.sku_code.is_none()
        {
            // Inventory resolved the line (its mapping arrived there first).
            line.sku_code = Some(sku.clone());
            line.mapping = Mapping::Mapped;
        }
        out.changed = true;
    }
    let current = order.status;
    let status = order.derived_status();
    if status != current {
        order.status = status;
        order.updated_at = now;
        out.changed = true;
        out.timeline.push(TimelineEntry {
            at: now,
            kind: TimelineKind::Status,
            detail: format!("{} → {} (stock)", current.as_str(), status.as_str()),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use kernel::{
        LineReservationState as Res,
        events::ReservedLine,
        trade::{TradeLine, TradeSnapshot},
    };

    pub(crate) fn at(secs: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap() + Duration::seconds(secs)
    }

    pub(crate) const TENANT: TenantId = TenantId(Uuid::from_u128(1));
    pub(crate) const CHANNEL: Uuid = Uuid::from_u128(2);
    pub(crate) const ORDER: Uuid = Uuid::from_u128(3);

    fn trade_line(id: &str, sku: &str, quantity: i64, refund: &str) -> TradeLine {
        TradeLine {
            external_line_id: id.into(),
            item_id: None,
            variant_id: None,
            sku_code: Some(sku.into()),
            properties: None,
            title: format!("{sku} title"),
            quantity,
            unit_price: Money(10_900),
            payment: Money(10_900 * quantity),
            refund_status: refund.into(),
        }
    }

    /// A trade snapshot modified at `at(modified)`.
    pub(crate) fn received(status: TradeStatus, modified: i64, lines: Vec<TradeLine>) -> TradeReceived {
        TradeReceived {
            channel_id: CHANNEL,
            marketplace: "bazaar".into(),
            shop_id: "shop-8848".into(),
            topic: "trade.TradeBuyerPay".into(),
            message_id: "msg-1".into(),
            hold_ttl_seconds: 900,
            skus: Vec::new(),
            trade: TradeSnapshot {
                external_id: "T1".into(),
                status,
                created: at(0),
                pay_time: (status != TradeStatus::WaitBuyerPay).then(|| at(3)),
                modified: at(modified),
                buyer_nick: "买家小王".into(),
                buyer_memo: None,
                seller_memo: None,
                seller_flag: 0,
                receiver: None,
                currency: "CNY".into(),
                payment: Money(21_800),
                post_fee: Money(0),
                discount_fee: Money(2_000),
                invoice_request: None,
                lines,
            },
        }
    }

    pub(crate) fn two_lines() -> Vec<TradeLine> {
        vec![trade_line("O1", "TEE-RED-M", 2, "NO_REFUND"), trade_line("O2", "CAP-1", 1, "NO_REFUND")]
    }

    /// The order a paid snapshot of [`two_lines`] makes.
    pub(crate) fn paid_order() -> Order {
        let ev = received(TradeStatus::WaitSellerSendGoods, 3, two_lines());
        apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap().order
    }

    fn reservation(version: i64, lines: &[(&str, Res)]) -> ReservationChanged {
        ReservationChanged {
            reservation_id: Uuid::from_u128(9),
            reservation_key: format!("order:{ORDER}"),
            reference: "T1".into(),
            order_id: Some(ORDER),
            version,
            lines: lines
                .iter()
                .map(|(id, state)| ReservedLine {
                    line_ref: (*id).into(),
                    sku_code: Some("ANY".into()),
                    quantity: 1,
                    state: *state,
                    warehouses: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_paid_snapshot_makes_a_new_paid_order() {
        let ev = received(TradeStatus::WaitSellerSendGoods, 3, two_lines());
        let applied = apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap();
        let o = &applied.order;
        assert_eq!((o.tenant_id, o.id, o.channel_id, o.external_id.as_str()), (TENANT, ORDER, CHANNEL, "T1"));
        assert_eq!(o.status, OrderStatus::Paid);
        assert_eq!(o.trade_status, TradeStatus::WaitSellerSendGoods);
        assert_eq!(o.revision, at(3).timestamp_micros());
        assert_eq!((o.modified, o.trade_created, o.paid_at), (at(3), at(0), Some(at(3))));
        assert_eq!((o.created_at, o.updated_at), (at(10), at(10)));
        assert_eq!((o.buyer_nick.as_str(), o.currency.as_str(), o.payment), ("买家小王", "CNY", Money(21_800)));
        assert_eq!(o.hold_ttl_seconds, 900);
        assert_eq!(
            o.lines[1],
            Line {
                line_no: 2,
                external_line_id: "O2".into(),
                sku_code: Some("CAP-1".into()),
                mapping: Mapping::MerchantCode,
                item_id: None,
                variant_id: None,
                properties: None,
                title: "CAP-1 title".into(),
                quantity: 1,
                unit_price: Money(10_900),
                payment: Money(10_900),
                refund_status: "NO_REFUND".into(),
                reservation: None,
                reservation_version: 0,
                shipped_waybill: None,
                warehouses: Vec::new(),
            }
        );
        assert_eq!(o.lines[0].line_no, 1);
        assert_eq!(
            applied.timeline,
            TimelineEntry {
                at: at(10),
                kind: TimelineKind::Created,
                detail: "Received from bazaar shop shop-8848 (trade.TradeBuyerPay): paid".into()
            }
        );
        assert_eq!(applied.changed.order_id, ORDER);
        assert_eq!(applied.changed.status, OrderStatus::Paid);
    }

    #[test]
    fn an_unpaid_snapshot_makes_a_pending_order() {
        let ev = received(TradeStatus::WaitBuyerPay, 1, two_lines());
        let applied = apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap();
        assert_eq!(applied.order.status, OrderStatus::PendingPayment);
        assert_eq!(applied.order.paid_at, None);
        assert!(applied.timeline.detail.ends_with(": pending_payment"), "{}", applied.timeline.detail);
    }

    #[test]
    fn a_stale_or_equal_revision_snapshot_changes_nothing() {
        let order = paid_order();
        let never = || -> Uuid { panic!("no new order for a known trade") };
        for modified in [2, 3] {
            let ev = received(TradeStatus::TradeClosed, modified, vec![]);
            assert_eq!(apply_trade(Some(&order), TENANT, &ev, at(20), never), None, "modified {modified}");
        }
        // A shipment made here moved the revision past the marketplace's later snapshots.
        let shipped = Order { revision: at(30).timestamp_micros(), ..order };
        let ev = received(TradeStatus::WaitSellerSendGoods, 29, two_lines());
        assert_eq!(apply_trade(Some(&shipped), TENANT, &ev, at(40), never), None);
    }

    #[test]
    fn a_newer_snapshot_keeps_each_lines_reservation_and_waybill() {
        let mut order = paid_order();
        order.status = OrderStatus::PartiallyShipped;
        order.lines[0].reservation = Some(Res::Committed);
        order.lines[0].reservation_version = 4;
        order.lines[0].shipped_waybill = Some("SF1".into());
        order.lines[1].reservation = Some(Res::Confirmed);
        order.lines[1].reservation_version = 2;
        // The marketplace reorders the lines, refunds O2 and adds O3; it does not know of SF1.
        let mut lines = vec![trade_line("O2", "CAP-1", 1, "SUCCESS"), trade_line("O3", "SOCK-9", 3, "NO_REFUND")];
        lines.push(trade_line("O1", "TEE-RED-M", 2, "NO_REFUND"));
        let mut ev = received(TradeStatus::WaitSellerSendGoods, 50, lines);
        ev.topic = "trade.TradeModified".into();
        let applied = apply_trade(Some(&order), TENANT, &ev, at(60), || panic!("known trade")).unwrap();
        let o = &applied.order;
        assert_eq!((o.id, o.created_at, o.updated_at), (ORDER, at(10), at(60)));
        assert_eq!(o.revision, at(50).timestamp_micros());
        let kept: Vec<_> = o
            .lines
            .iter()
            .map(|l| {
                (
                    l.line_no,
                    l.external_line_id.as_str(),
                    l.reservation,
                    l.reservation_version,
                    l.shipped_waybill.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                (1, "O2", Some(Res::Confirmed), 2, None),
                (2, "O3", None, 0, None),
                (3, "O1", Some(Res::Committed), 4, Some("SF1")),
            ]
        );
        assert_eq!(o.lines[0].refund_status, "SUCCESS");
        // O1 shipped here, O2 refunded, O3 not shipped: still partially shipped, not paid.
        assert_eq!(o.status, OrderStatus::PartiallyShipped);
        assert_eq!(applied.timeline.detail, "Updated by trade.TradeModified");
        assert_eq!(applied.timeline.kind, TimelineKind::Status);
        assert!(applied.changed.lines[2].shipped);
    }

    #[test]
    fn a_newer_snapshot_that_moves_the_status_says_so() {
        let mut order = paid_order();
        order.lines.iter_mut().for_each(|l| l.reservation = Some(Res::Confirmed));
        order.status = OrderStatus::Allocated;
        let mut ev = received(TradeStatus::TradeClosed, 40, two_lines());
        ev.topic = "trade.TradeClose".into();
        let applied = apply_trade(Some(&order), TENANT, &ev, at(41), || ORDER).unwrap();
        assert_eq!(applied.order.status, OrderStatus::Cancelled);
        assert_eq!(
            applied.timeline,
            TimelineEntry {
                at: at(41),
                kind: TimelineKind::Status,
                detail: "allocated → cancelled (trade.TradeClose)".into()
            }
        );
        // Paid again with its stock confirmed: the snapshot's `paid` is refined.
        let ev = received(TradeStatus::WaitSellerSendGoods, 40, two_lines());
        assert_eq!(
            apply_trade(Some(&order), TENANT, &ev, at(41), || ORDER).unwrap().order.status,
            OrderStatus::Allocated
        );
    }

    #[test]
    fn reservation_states_refine_a_paid_order() {
        let mut order = paid_order();
        let out = apply_reservation(&mut order, &reservation(1, &[("O1", Res::Confirmed)]), at(20));
        assert!(out.changed);
        assert_eq!(
            out.timeline,
            [TimelineEntry {
                at: at(20),
                kind: TimelineKind::Stock,
                detail: "O1 TEE-RED-M ×2: none → confirmed".into()
            }]
        );
        // One line of two confirmed: still paid, and the order's time is unchanged.
        assert_eq!((order.status, order.updated_at), (OrderStatus::Paid, at(10)));

        let out =
            apply_reservation(&mut order, &reservation(2, &[("O1", Res::Confirmed), ("O2", Res::Confirmed)]), at(21));
        assert_eq!(order.status, OrderStatus::Allocated);
        assert_eq!(order.updated_at, at(21));
        let texts: Vec<_> = out.timeline.iter().map(|e| (e.kind, e.detail.as_str())).collect();
        assert_eq!(
            texts,
            [
                (TimelineKind::Stock, "O2 CAP-1 ×1: none → confirmed"),
                (TimelineKind::Status, "paid → allocated (stock)")
            ]
        );
        assert_eq!((order.lines[0].reservation_version, order.lines[1].reservation_version), (2, 2));

        let out = apply_reservation(&mut order, &reservation(3, &[("O2", Res::Backordered)]), at(22));
        assert_eq!(order.status, OrderStatus::Backordered);
        assert_eq!(out.timeline.last().unwrap().detail, "allocated → backordered (stock)");
    }

    #[test]
    fn older_reservation_versions_are_ignored() {
        let mut order = paid_order();
        apply_reservation(&mut order, &reservation(5, &[("O1", Res::Confirmed), ("O2", Res::Confirmed)]), at(20));
        let before = order.clone();
        for version in [4, 5] {
            let out = apply_reservation(&mut order, &reservation(version, &[("O1", Res::Released)]), at(30));
            assert_eq!(out, Reserved::default(), "version {version}");
            assert_eq!(order, before);
        }
        // Lines the event does not name, and names the order does not have, are left alone.
        let out = apply_reservation(&mut order, &reservation(6, &[("O9", Res::Released)]), at(30));
        assert_eq!(out, Reserved::default());
        assert_eq!(order, before);
    }

    #[test]
    fn a_newer_version_with_the_same_state_is_saved_without_a_note() {
        let mut order = paid_order();
        apply_reservation(&mut order, &reservation(1, &[("O1", Res::Held)]), at(20));
        let out = apply_reservation(&mut order, &reservation(2, &[("O1", Res::Held)]), at(21));
        assert!(out.changed, "the version moved");
        assert!(out.timeline.is_empty());
        assert_eq!(order.lines[0].reservation_version, 2);
    }

    #[test]
    fn reservation_changes_do_not_move_an_order_that_is_not_paid() {
        let ev = received(TradeStatus::WaitBuyerPay, 1, two_lines());
        let mut order = apply_trade(None, TENANT, &ev, at(10), || ORDER).unwrap().order;
        let out = apply_reservation(&mut order, &reservation(1, &[("O1", Res::Held), ("O2", Res::Held)]), at(11));
        assert_eq!(order.status, OrderStatus::PendingPayment);
        assert!(out.timeline.iter().all(|e| e.kind == TimelineKind::Stock));
        // A released line no longer counts: the remaining confirmed line allocates the order.
        let mut order = paid_order();
        apply_reservation(&mut order, &reservation(1, &[("O1", Res::Released), ("O2", Res::Confirmed)]), at(11));
        assert_eq!(order.status, OrderStatus::Allocated);
    }

    #[test]
    fn timeline_kinds_have_stable_names() {
        for k in [TimelineKind::Created, TimelineKind::Status, TimelineKind::Stock, TimelineKind::Shipment] {
            assert_eq!(TimelineKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TimelineKind::Created.as_str(), "created");
        assert_eq!(TimelineKind::parse("note"), None);
    }
}
