//! The audit step (审单): which holds keep an order from shipping, and when it is ready to.
//!
//! Holds are of two kinds:
//! - *caused* holds follow the order's facts and clear when their cause does: a line mapping
//!   to no SKU (`unmapped_sku`), a refund requested and not settled (`refund_pending`), the
//!   receiver changed after payment (`address_changed`), and — when the seller's audit rules
//!   switch them on — a buyer memo, a seller memo or flag, a payment above a threshold;
//! - a *manual* hold, which only a person releases.
//!
//! A person may also release `address_changed` and the optional reasons: that *waives* the
//! cause as it stands (its fingerprint — the new address, the memo, the amount), so the same
//! cause does not hold the order again, and a new one does. `unmapped_sku` and
//! `refund_pending` cannot be waived: nothing ships against a pending refund or an unknown SKU.

use super::order::{Line, Order, TimelineEntry, TimelineKind};
use kernel::{
    LineReservationState as Res, Money, OrderStatus, Timestamp,
    events::{HoldReason, Mapping, OrderHoldChanged, OrderReadyToShip, ReadyLine},
    trade::Receiver,
};
use std::collections::BTreeMap;

/// Which optional audit reasons a seller switched on (the others always apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditRules {
    /// Hold orders whose buyer left a memo.
    pub buyer_memo: bool,
    /// Hold orders with a seller memo or flag.
    pub seller_memo: bool,
    /// Hold orders whose payment is above this.
    pub amount_over: Option<Money>,
    /// An order may be ready to ship with only some lines allocated (the rest follow).
    pub allow_partial_shipment: bool,
}

/// A hold on an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reason: HoldReason,
    /// What caused it, for a person (the memo, the new address, the note of a manual hold).
    pub detail: String,
    pub since: Timestamp,
    /// Who placed it (a user id), for a manual hold.
    pub by: Option<String>,
    /// What the cause was when the hold was placed (see [`fingerprint`]).
    pub fingerprint: String,
}

/// A cause a person accepted: the reason stays off while its fingerprint is this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub reason: HoldReason,
    pub fingerprint: String,
}

/// Whether a person may release a hold of this reason.
pub fn releasable(reason: HoldReason) -> bool {
    !matches!(reason, HoldReason::UnmappedSku | HoldReason::RefundPending)
}

/// A receiver as one comparable text: name, phone and address, whitespace and case ignored.
pub fn fingerprint(r: &Receiver) -> String {
    let norm = |s: &str| s.split_whitespace().collect::<String>().to_lowercase();
    [&r.name, &r.phone, &r.province, &r.city, &r.district, &r.address].map(|s| norm(s)).join("|")
}

/// Refund statuses that mean "asked for and not settled".
fn refund_pending(l: &Line) -> bool {
    matches!(l.refund_status.as_str(), "WAIT_SELLER_AGREE" | "WAIT_BUYER_RETURN_GOODS")
}

/// Whether the order is past the point where a hold means anything (shipped, closed, unpaid).
fn beyond_audit(o: &Order) -> bool {
    o.paid_at.is_none()
        || matches!(
            o.base_status(),
            OrderStatus::PendingPayment | OrderStatus::Shipped | OrderStatus::Completed | OrderStatus::Cancelled
        )
}

/// The caused holds the order's facts call for now: (reason, detail, fingerprint).
pub fn caused(o: &Order, rules: &AuditRules) -> Vec<(HoldReason, String, String)> {
    if beyond_audit(o) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let live = || o.lines.iter().filter(|l| !l.refunded() && l.shipped_waybill.is_none());
    // A merchant code that names no SKU is unmapped too (inventory says so); a line the seller
    // just mapped is not, even before inventory has taken it up (the mapping's SKU exists).
    let unmapped: Vec<&Line> = live()
        .filter(|l| {
            l.mapping == Mapping::Unmapped || (l.mapping != Mapping::Mapped && l.reservation == Some(Res::Unmapped))
        })
        .collect();
    if !unmapped.is_empty() {
        let what: Vec<String> = unmapped
            .iter()
            .map(|l| match (&l.item_id, &l.sku_code) {
                (_, Some(code)) => format!("{} ({code}: no such SKU)", l.title),
                (Some(item), None) => format!(
                    "{} (item {item}{})",
                    l.title,
                    l.variant_id.as_deref().map(|v| format!(" variant {v}")).unwrap_or_default()
                ),
                (None, None) => l.title.clone(),
            })
            .collect();
        let fp = unmapped.iter().map(|l| l.external_line_id.as_str()).collect::<Vec<_>>().join(",");
        out.push((HoldReason::UnmappedSku, what.join("; "), fp));
    }
    let pending: Vec<&Line> = o.lines.iter().filter(|l| refund_pending(l) && l.shipped_waybill.is_none()).collect();
    if !pending.is_empty() {
        let ids = pending.iter().map(|l| l.external_line_id.as_str()).collect::<Vec<_>>().join(", ");
        out.push((HoldReason::RefundPending, format!("refund requested for {ids}"), ids));
    }
    if let (Some(paid), Some(now)) = (&o.audit.paid_receiver, &o.audit.receiver) {
        let fp = fingerprint(now);
        if &fp != paid {
            let detail =
                format!("{} {} {}{}{}{}", now.name, now.phone, now.province, now.city, now.district, now.address);
            out.push((HoldReason::AddressChanged, detail, fp));
        }
    }
    if rules.buyer_memo
        && let Some(m) = o.audit.buyer_memo.as_deref().filter(|m| !m.trim().is_empty())
    {
        out.push((HoldReason::BuyerMemo, m.to_owned(), m.trim().to_owned()));
    }
    let seller = o.audit.seller_memo.as_deref().filter(|m| !m.trim().is_empty());
    if rules.seller_memo && (seller.is_some() || o.audit.seller_flag > 0) {
        let detail = match seller {
            Some(m) => format!("{m} (flag {})", o.audit.seller_flag),
            None => format!("flag {}", o.audit.seller_flag),
        };
        out.push((HoldReason::SellerMemo, detail, format!("{}|{}", seller.unwrap_or(""), o.audit.seller_flag)));
    }
    if let Some(limit) = rules.amount_over
        && o.payment.0 > limit.0
    {
        out.push((HoldReason::AmountOver, format!("paid {} over {}", o.payment, limit), o.payment.0.to_string()));
    }
    out
}

/// What a re-evaluation did to the holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HoldChange {
    /// Reasons placed, with their detail.
    pub placed: Vec<(HoldReason, String)>,
    /// Reasons lifted (their cause went away).
    pub lifted: Vec<HoldReason>,
}

impl HoldChange {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.placed.is_empty() && self.lifted.is_empty()
    }
}

/// Brings the order's caused holds in line with its facts (manual holds are left alone): a
/// cause not yet held and not waived is placed; a held cause that went away is lifted; a
/// held cause whose fingerprint changed keeps its hold with the new detail.
pub fn reconcile(o: &mut Order, rules: &AuditRules, waivers: &[Waiver], now: Timestamp) -> HoldChange {
    let wanted = caused(o, rules);
    let mut change = HoldChange::default();
    let waived = |reason: HoldReason, fp: &str| waivers.iter().any(|w| w.reason == reason && w.fingerprint == fp);
    o.holds.retain(|h| {
        let keep = h.reason == HoldReason::Manual || wanted.iter().any(|(r, _, fp)| *r == h.reason && !waived(*r, fp));
        if !keep {
            change.lifted.push(h.reason);
        }
        keep
    });
    for (reason, detail, fp) in wanted {
        if waived(reason, &fp) {
            continue;
        }
        match o.holds.iter_mut().find(|h| h.reason == reason) {
            Some(h) => {
                h.detail = detail;
                h.fingerprint = fp;
            }
            None => {
                change.placed.push((reason, detail.clone()));
                o.holds.push(Hold { reason, detail, since: now, by: None, fingerprint: fp });
            }
        }
    }
    o.holds.sort_by_key(|h| h.reason);
    change
}

/// The status holds give an order: `on_hold` while it has any and it is paid and not (wholly)
/// shipped.
pub fn with_holds(status: OrderStatus, holds: &[Hold]) -> OrderStatus {
    match status {
        OrderStatus::Paid | OrderStatus::Allocated | OrderStatus::Backordered | OrderStatus::PartiallyShipped
            if !holds.is_empty() =>
        {
            OrderStatus::OnHold
        }
        s => s,
    }
}

/// What an order ships from each warehouse when it is ready to: paid, holding nothing, and
/// every live line confirmed (or, when the rules allow partial shipment, some). Lines split
/// over warehouses appear under each with their share. Empty when it is not ready.
pub fn ready_lines(o: &Order, rules: &AuditRules) -> BTreeMap<String, Vec<ReadyLine>> {
    let mut out: BTreeMap<String, Vec<ReadyLine>> = BTreeMap::new();
    if !o.holds.is_empty() || beyond_audit(o) {
        return out;
    }
    let live: Vec<&Line> = o
        .lines
        .iter()
        .filter(|l| !l.refunded() && l.shipped_waybill.is_none() && l.reservation != Some(Res::Released))
        .collect();
    let confirmed: Vec<&&Line> =
        live.iter().filter(|l| l.reservation == Some(Res::Confirmed) && !l.warehouses.is_empty()).collect();
    let all = !live.is_empty() && confirmed.len() == live.len();
    if !(all || (rules.allow_partial_shipment && !confirmed.is_empty())) {
        return out;
    }
    for l in confirmed {
        for w in &l.warehouses {
            out.entry(w.warehouse_code.clone()).or_default().push(ReadyLine {
                external_line_id: l.external_line_id.clone(),
                sku_code: l.sku_code.clone().unwrap_or_default(),
                title: l.title.clone(),
                quantity: w.quantity,
            });
        }
    }
    out
}

/// The key orders that may travel together share: tenant, warehouse, buyer, and the
/// receiver's name, phone and address as [`fingerprint`] normalises them.
pub fn merge_key(o: &Order, warehouse: &str) -> String {
    let receiver = o.audit.receiver.as_ref().map(fingerprint).unwrap_or_default();
    let mac = kernel::signature::mac(
        b"cairn/merge-key/v1",
        &[
            o.tenant_id.0.as_bytes(),
            warehouse.as_bytes(),
            b"\x1f",
            o.buyer_nick.as_bytes(),
            b"\x1f",
            receiver.as_bytes(),
        ],
    );
    use kernel::signature::Mac as _;
    mac.finalize().into_bytes().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What [`settle`] did beyond the order itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settled {
    /// Holds placed and lifted, and the status when they moved it.
    pub timeline: Vec<TimelineEntry>,
    /// The holds changed: whatever acts on readiness must hear it.
    pub hold_changed: Option<OrderHoldChanged>,
    /// The order became ready to ship: one per warehouse.
    pub ready: Vec<OrderReadyToShip>,
    /// The order changed (holds, status or readiness): it must be saved.
    pub changed: bool,
}

/// After anything changed an order: its caused holds follow its facts, its status follows
/// its holds, and when it has just become ready to ship (or stopped being ready) that is said.
pub fn settle(o: &mut Order, rules: &AuditRules, now: Timestamp) -> Settled {
    let mut out = Settled::default();
    let before = o.status;
    let was_ready = o.ready;
    let waivers = o.waivers.clone();
    let change = reconcile(o, rules, &waivers, now);
    for (reason, detail) in &change.placed {
        out.timeline.push(TimelineEntry {
            at: now,
            kind: TimelineKind::Hold,
            detail: format!("Held: {} — {detail}", reason.as_str()),
        });
    }
    for reason in &change.lifted {
        out.timeline.push(TimelineEntry {
            at: now,
            kind: TimelineKind::Hold,
            detail: format!("Hold lifted: {} (its cause is gone)", reason.as_str()),
        });
    }
    if !change.is_empty() {
        out.hold_changed = Some(hold_changed(o));
    }
    announce(o, rules, before, now, &mut out);
    if let Some(h) = &mut out.hold_changed {
        // Said after the status and readiness settled, so it carries them.
        *h = hold_changed(o);
    } else if was_ready && !o.ready {
        // Not ready any more without a new hold (cancelled, shipped elsewhere, refunded):
        // whatever acts on readiness must hear it too.
        out.hold_changed = Some(hold_changed(o));
    }
    out.changed = !change.is_empty() || o.status != before || o.ready != was_ready;
    out
}

/// `order.hold_changed` for the order as it is.
pub fn hold_changed(o: &Order) -> OrderHoldChanged {
    OrderHoldChanged {
        order_id: o.id,
        channel_id: o.channel_id,
        external_id: o.external_id.clone(),
        holds: o.holds.iter().map(|h| h.reason).collect(),
        revision: o.revision,
        ready: o.ready,
        status: Some(o.status),
    }
}

/// Sets the status from the holds (noting a move on the timeline, when it moved from
/// `before`), and the readiness: `order.ready_to_ship` per warehouse when it has just become
/// ready.
pub fn announce(o: &mut Order, rules: &AuditRules, before: OrderStatus, now: Timestamp, out: &mut Settled) {
    o.status = o.derived_status();
    if o.status != before {
        o.updated_at = now;
        out.timeline.push(TimelineEntry {
            at: now,
            kind: TimelineKind::Status,
            detail: format!("{} → {} (holds)", before.as_str(), o.status.as_str()),
        });
    }
    let ready = ready_lines(o, rules);
    if ready.is_empty() {
        o.ready = false;
        return;
    }
    if o.ready {
        return;
    }
    o.ready = true;
    for (warehouse_code, lines) in ready {
        out.ready.push(OrderReadyToShip {
            order_id: o.id,
            channel_id: o.channel_id,
            external_id: o.external_id.clone(),
            merge_key: merge_key(o, &warehouse_code),
            warehouse_code,
            lines,
            receiver: o.audit.receiver.clone(),
            paid_at: o.paid_at,
            revision: o.revision,
            payment: o.payment,
        });
    }
    out.timeline.push(TimelineEntry { at: now, kind: TimelineKind::Status, detail: "Ready to ship".into() });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::tests::{at, paid_order};
    use kernel::events::WarehouseQuantity;

    fn receiver(address: &str) -> Receiver {
        Receiver {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "余杭区".into(),
            address: address.into(),
            zip: "311121".into(),
        }
    }

    fn allocated(mut o: Order) -> Order {
        for l in &mut o.lines {
            l.reservation = Some(Res::Confirmed);
            l.warehouses = vec![WarehouseQuantity { warehouse_code: "HZ".into(), quantity: l.quantity }];
        }
        o
    }

    fn reasons(o: &Order) -> Vec<HoldReason> {
        o.holds.iter().map(|h| h.reason).collect()
    }

    #[test]
    fn an_allocated_order_without_causes_is_ready_once() {
        let mut o = allocated(paid_order());
        let s = settle(&mut o, &AuditRules::default(), at(20));
        assert_eq!((o.status, o.holds.len(), s.hold_changed), (OrderStatus::Allocated, 0, None));
        assert_eq!(s.ready.len(), 1);
        assert_eq!(s.ready[0].warehouse_code, "HZ");
        assert_eq!(s.ready[0].lines.iter().map(|l| l.quantity).sum::<i64>(), 3);
        assert!(o.ready && s.changed);
        let again = settle(&mut o, &AuditRules::default(), at(21));
        assert!(again.ready.is_empty() && !again.changed, "announced once");
    }

    #[test]
    fn an_unmapped_line_holds_until_it_maps() {
        let mut o = allocated(paid_order());
        o.lines[1].mapping = Mapping::Unmapped;
        o.lines[1].sku_code = None;
        o.lines[1].reservation = Some(Res::Unmapped);
        let s = settle(&mut o, &AuditRules::default(), at(20));
        assert_eq!((reasons(&o), o.status), (vec![HoldReason::UnmappedSku], OrderStatus::OnHold));
        assert!(s.hold_changed.is_some() && s.ready.is_empty());
        assert!(!releasable(HoldReason::UnmappedSku));
        o.lines[1].mapping = Mapping::Mapped;
        o.lines[1].sku_code = Some("CAP-1".into());
        o.lines[1].reservation = Some(Res::Confirmed);
        let s = settle(&mut o, &AuditRules::default(), at(30));
        assert_eq!((o.holds.len(), o.status), (0, OrderStatus::Allocated));
        assert_eq!(s.timeline.iter().filter(|t| t.detail.starts_with("Hold lifted")).count(), 1);
        assert_eq!(s.ready.len(), 1, "ready once the hold lifts");
    }

    #[test]
    fn a_line_just_mapped_does_not_hold_before_inventory_takes_it_up() {
        let mut o = allocated(paid_order());
        o.lines[1].mapping = Mapping::Mapped;
        o.lines[1].reservation = Some(Res::Unmapped);
        settle(&mut o, &AuditRules::default(), at(20));
        assert!(o.holds.is_empty(), "{:?}", o.holds);
        // A merchant code that names no SKU holds.
        o.lines[1].mapping = Mapping::MerchantCode;
        settle(&mut o, &AuditRules::default(), at(21));
        assert_eq!(reasons(&o), vec![HoldReason::UnmappedSku]);
    }

    #[test]
    fn a_pending_refund_holds_and_clears_when_it_does() {
        let mut o = allocated(paid_order());
        o.lines[0].refund_status = "WAIT_SELLER_AGREE".into();
        settle(&mut o, &AuditRules::default(), at(20));
        assert_eq!(reasons(&o), vec![HoldReason::RefundPending]);
        o.lines[0].refund_status = "CLOSED".into();
        settle(&mut o, &AuditRules::default(), at(30));
        assert!(o.holds.is_empty());
        // A refund that succeeds leaves the line out of what holds or ships.
        o.lines[0].refund_status = "SUCCESS".into();
        let s = settle(&mut o, &AuditRules::default(), at(40));
        assert!(o.holds.is_empty());
        assert!(s.ready.is_empty(), "was ready already");
    }

    #[test]
    fn an_address_change_after_payment_holds_and_a_release_accepts_the_new_one() {
        let mut o = allocated(paid_order());
        o.audit.receiver = Some(receiver("文一西路969号"));
        o.audit.paid_receiver = Some(fingerprint(&receiver("文一西路969号")));
        settle(&mut o, &AuditRules::default(), at(20));
        assert!(o.holds.is_empty() && o.ready);
        // Spaces and case do not make a change.
        o.audit.receiver = Some(receiver(" 文一西路 969号 "));
        settle(&mut o, &AuditRules::default(), at(21));
        assert!(o.holds.is_empty());
        o.audit.receiver = Some(receiver("良睦路1399号"));
        let s = settle(&mut o, &AuditRules::default(), at(30));
        assert_eq!((reasons(&o), o.status, o.ready), (vec![HoldReason::AddressChanged], OrderStatus::OnHold, false));
        assert!(o.holds[0].detail.contains("良睦路1399号") && s.hold_changed.is_some());
        // What a release does: the new address becomes the one paid for.
        o.audit.paid_receiver = Some(o.holds[0].fingerprint.clone());
        let s = settle(&mut o, &AuditRules::default(), at(40));
        assert!(o.holds.is_empty() && o.ready && s.ready.len() == 1, "ready again, with the new address");
        assert_eq!(s.ready[0].receiver.as_ref().unwrap().address, "良睦路1399号");
    }

    #[test]
    fn optional_reasons_hold_only_when_switched_on_and_a_waiver_holds_until_the_cause_changes() {
        let mut o = allocated(paid_order());
        o.audit.buyer_memo = Some("请尽快发货".into());
        o.audit.seller_flag = 2;
        settle(&mut o, &AuditRules::default(), at(20));
        assert!(o.holds.is_empty(), "memo and flag rules are off by default");
        let rules = AuditRules {
            buyer_memo: true,
            seller_memo: true,
            amount_over: Some(Money(10_000)),
            ..AuditRules::default()
        };
        settle(&mut o, &rules, at(30));
        assert_eq!(reasons(&o), vec![HoldReason::BuyerMemo, HoldReason::SellerMemo, HoldReason::AmountOver]);
        // A person accepts the memo: it stays off while the memo is the same.
        let fp = o.holds[0].fingerprint.clone();
        o.waivers.push(Waiver { reason: HoldReason::BuyerMemo, fingerprint: fp });
        settle(&mut o, &rules, at(40));
        assert_eq!(reasons(&o), vec![HoldReason::SellerMemo, HoldReason::AmountOver]);
        o.audit.buyer_memo = Some("换成顺丰".into());
        settle(&mut o, &rules, at(50));
        assert_eq!(
            reasons(&o),
            vec![HoldReason::BuyerMemo, HoldReason::SellerMemo, HoldReason::AmountOver],
            "a new memo holds again"
        );
        settle(&mut o, &AuditRules::default(), at(60));
        assert!(o.holds.is_empty(), "switched off: released");
    }

    #[test]
    fn a_manual_hold_survives_everything_but_a_release() {
        let mut o = allocated(paid_order());
        o.holds.push(Hold {
            reason: HoldReason::Manual,
            detail: "check stock".into(),
            since: at(5),
            by: Some("user:1".into()),
            fingerprint: String::new(),
        });
        let s = settle(&mut o, &AuditRules::default(), at(20));
        assert_eq!((reasons(&o), o.status), (vec![HoldReason::Manual], OrderStatus::OnHold));
        assert!(s.ready.is_empty() && releasable(HoldReason::Manual));
    }

    #[test]
    fn partial_shipment_when_allowed() {
        let mut o = paid_order();
        o.lines[0].reservation = Some(Res::Confirmed);
        o.lines[0].warehouses = vec![WarehouseQuantity { warehouse_code: "HZ".into(), quantity: 2 }];
        o.lines[1].reservation = Some(Res::Backordered);
        assert!(ready_lines(&o, &AuditRules::default()).is_empty());
        let partial = ready_lines(&o, &AuditRules { allow_partial_shipment: true, ..AuditRules::default() });
        assert_eq!(partial["HZ"].iter().map(|l| l.external_line_id.as_str()).collect::<Vec<_>>(), ["O1"]);
    }

    #[test]
    fn a_split_line_is_ready_from_each_warehouse_with_its_share() {
        let mut o = allocated(paid_order());
        o.lines[0].warehouses = vec![
            WarehouseQuantity { warehouse_code: "CD".into(), quantity: 1 },
            WarehouseQuantity { warehouse_code: "HZ".into(), quantity: 1 },
        ];
        let r = ready_lines(&o, &AuditRules::default());
        assert_eq!(r.keys().collect::<Vec<_>>(), ["CD", "HZ"]);
        assert_eq!(r["CD"].len(), 1);
        assert_eq!(r["HZ"].len(), 2);
        assert_ne!(merge_key(&o, "CD"), merge_key(&o, "HZ"));
    }

    #[test]
    fn merge_keys_ignore_spacing_and_differ_by_receiver() {
        let mut a = paid_order();
        a.audit.receiver = Some(receiver("文一西路969号"));
        let mut b = a.clone();
        b.audit.receiver = Some(receiver("文一西路 969 号"));
        assert_eq!(merge_key(&a, "HZ"), merge_key(&b, "HZ"));
        b.audit.receiver = Some(receiver("文一西路970号"));
        assert_ne!(merge_key(&a, "HZ"), merge_key(&b, "HZ"));
    }
}
