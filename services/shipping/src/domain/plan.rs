//! How orders' readiness news becomes shipments: merging, holds and interception, splitting,
//! unmerging and shipping. Works on a set of shipments loaded together ([`Desk`]), so that a
//! batch of events is applied in memory and written back once.

use super::{Line, OrderRef, Seq, Settings, Shipment, Status, Waybill};
use kernel::{
    OrderStatus, Timestamp,
    events::{OrderHoldChanged, OrderReadyToShip},
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// What the rules decided beyond the shipments themselves.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Give this waybill back to the carrier (it must not be used any more).
    CancelWaybill { shipment_id: Uuid, waybill: Waybill },
    /// A line for the shipment's history.
    Note { shipment_id: Uuid, text: String },
}

/// The shipments a unit of work touches, by id; those changed are written back.
#[derive(Debug, Default)]
pub struct Desk {
    pub shipments: BTreeMap<Uuid, Shipment>,
    pub dirty: BTreeSet<Uuid>,
    pub effects: Vec<Effect>,
}

/// Orders told Cairn nothing new: the event is older than what the shipment has.
fn stale(o: &OrderRef, seq: Seq) -> bool {
    seq < o.seq
}

impl Desk {
    /// A desk over `shipments`.
    pub fn new(shipments: impl IntoIterator<Item = Shipment>) -> Desk {
        Desk { shipments: shipments.into_iter().map(|s| (s.id, s)).collect(), ..Desk::default() }
    }

    fn touch(&mut self, id: Uuid, now: Timestamp) {
        if let Some(s) = self.shipments.get_mut(&id) {
            s.updated_at = now;
        }
        self.dirty.insert(id);
    }

    fn note(&mut self, shipment_id: Uuid, text: String) {
        self.effects.push(Effect::Note { shipment_id, text });
    }

    /// The open shipments that carry order `order_id`.
    pub fn open_with_order(&self, order_id: Uuid) -> Vec<Uuid> {
        self.shipments.values().filter(|s| s.status.is_open() && s.order(order_id).is_some()).map(|s| s.id).collect()
    }

    /// Gives up `shipment`'s live waybill (if any): it is to be cancelled at the carrier.
    fn drop_waybill(&mut self, id: Uuid) {
        let Some(s) = self.shipments.get_mut(&id) else { return };
        if let Some(w) = s.waybill.take() {
            self.effects.push(Effect::CancelWaybill { shipment_id: id, waybill: w });
        }
    }

    /// After a change of `id`'s orders: held → on hold (or intercepted when it had a waybill,
    /// which is then cancelled); empty → cancelled; neither → pending again if it was held.
    fn settle(&mut self, id: Uuid, why: &str) {
        let Some(s) = self.shipments.get(&id) else { return };
        if !s.status.is_open() {
            return;
        }
        if s.lines.is_empty() {
            self.drop_waybill(id);
            let s = self.shipments.get_mut(&id).expect("present");
            s.status = Status::Cancelled;
            s.problem = Some(why.to_owned());
            self.note(id, format!("Cancelled: {why}"));
            return;
        }
        if s.held() {
            let had_waybill = s.waybill.is_some();
            let reasons: BTreeSet<&str> = s.orders.iter().flat_map(|o| o.holds.iter().map(|h| h.as_str())).collect();
            let reasons = reasons.into_iter().collect::<Vec<_>>().join(", ");
            self.drop_waybill(id);
            let s = self.shipments.get_mut(&id).expect("present");
            let target =
                if had_waybill || s.status == Status::Intercepted { Status::Intercepted } else { Status::OnHold };
            if s.status != target {
                s.status = target;
                s.problem = Some(format!("held: {reasons}"));
                let text = if target == Status::Intercepted {
                    format!("Intercepted (held: {reasons}); the waybill is cancelled")
                } else {
                    format!("On hold ({reasons})")
                };
                self.note(id, text);
            }
            return;
        }
        let s = self.shipments.get_mut(&id).expect("present");
        if matches!(s.status, Status::OnHold | Status::Intercepted) {
            s.status = Status::Pending;
            s.problem = None;
            self.note(id, "Released: ready to draw a waybill".into());
        }
    }

    /// Applies `order.ready_to_ship` (said at `at`): the order's lines from that warehouse join
    /// its open shipment there, or a shipment open for merging (same merge key, paid within the
    /// merge wait, no waybill yet), or a new one (id from `new_id`).
    pub fn ready(
        &mut self,
        ev: &OrderReadyToShip,
        at: Timestamp,
        payment: kernel::Money,
        settings: &Settings,
        now: Timestamp,
        new_id: impl FnOnce() -> Uuid,
    ) {
        let seq: Seq = (ev.revision, at);
        let receiver = ev.receiver.clone().unwrap_or_default();
        let lines: Vec<Line> = ev
            .lines
            .iter()
            .map(|l| Line {
                order_id: ev.order_id,
                external_line_id: l.external_line_id.clone(),
                sku_code: l.sku_code.clone(),
                title: l.title.clone(),
                quantity: l.quantity,
            })
            .collect();
        let order = OrderRef {
            order_id: ev.order_id,
            channel_id: ev.channel_id,
            external_id: ev.external_id.clone(),
            paid_at: ev.paid_at,
            payment,
            seq,
            holds: Vec::new(),
        };
        // Already in an open shipment from this warehouse: the news replaces what it had.
        let current = self
            .shipments
            .values()
            .find(|s| s.status.is_open() && s.warehouse_code == ev.warehouse_code && s.order(ev.order_id).is_some());
        if let Some(s) = current {
            let id = s.id;
            if stale(s.order(ev.order_id).expect("it has the order"), seq) {
                return;
            }
            let alone = s.orders.len() == 1;
            let same_place = s.merge_key == ev.merge_key;
            let same_lines = {
                let mut had: Vec<&Line> = s.lines.iter().filter(|l| l.order_id == ev.order_id).collect();
                had.sort_by(|a, b| a.external_line_id.cmp(&b.external_line_id));
                let mut now_: Vec<&Line> = lines.iter().collect();
                now_.sort_by(|a, b| a.external_line_id.cmp(&b.external_line_id));
                had == now_
            };
            if same_place || alone {
                let s = self.shipments.get_mut(&id).expect("present");
                let changed = !same_place || !same_lines || s.receiver != receiver;
                s.lines.retain(|l| l.order_id != ev.order_id);
                s.lines.extend(lines);
                s.merge_key = ev.merge_key.clone();
                s.receiver = receiver;
                let o = s.orders.iter_mut().find(|o| o.order_id == ev.order_id).expect("it has the order");
                *o = order;
                if changed && s.waybill.is_some() {
                    // The label would be wrong (another address or other items): draw again.
                    self.drop_waybill(id);
                    let s = self.shipments.get_mut(&id).expect("present");
                    s.status = Status::Pending;
                    self.note(id, "The order changed after its waybill was drawn: the waybill is cancelled".into());
                }
                self.settle(id, "nothing left to ship");
                self.touch(id, now);
                return;
            }
            // The order now goes elsewhere (its receiver changed): it leaves this shipment.
            self.remove_order(id, ev.order_id, "an order in it now ships to another receiver", now);
        }
        // A shipment open for merging: same key, nothing drawn, paid within the wait.
        let wait = chrono::Duration::seconds(settings.merge_wait_seconds);
        let paid = ev.paid_at.unwrap_or(now);
        let merge_into = (settings.merge_wait_seconds > 0)
            .then(|| {
                self.shipments
                    .values()
                    .filter(|s| {
                        s.status == Status::Pending
                            && s.waybill.is_none()
                            && s.merge_key == ev.merge_key
                            && s.warehouse_code == ev.warehouse_code
                            && (paid - s.opened_at).abs() <= wait
                    })
                    .min_by_key(|s| (s.opened_at, s.id))
                    .map(|s| s.id)
            })
            .flatten();
        if let Some(id) = merge_into {
            let s = self.shipments.get_mut(&id).expect("present");
            s.lines.extend(lines);
            s.orders.push(order);
            // Oldest paid first, whatever order the news came in.
            s.orders.sort_by(|a, b| (a.paid_at, &a.external_id).cmp(&(b.paid_at, &b.external_id)));
            s.opened_at = s.opened_at.min(paid);
            s.receiver = receiver;
            self.note(id, format!("Merged: {} joins (same buyer and receiver)", ev.external_id));
            self.touch(id, now);
            return;
        }
        let id = new_id();
        let s = Shipment {
            id,
            warehouse_code: ev.warehouse_code.clone(),
            merge_key: ev.merge_key.clone(),
            status: Status::Pending,
            orders: vec![order],
            lines,
            receiver,
            opened_at: paid,
            waybill: None,
            parcels: 1,
            weight_grams: 0,
            problem: None,
            print_count: 0,
            tracking: None,
            shipped_at: None,
            delivered_at: None,
            created_at: now,
            updated_at: now,
        };
        self.shipments.insert(id, s);
        self.note(id, format!("Created from {} (ready to ship from {})", ev.external_id, ev.warehouse_code));
        self.touch(id, now);
    }

    /// Takes order `order_id` (all its lines) out of shipment `id`.
    fn remove_order(&mut self, id: Uuid, order_id: Uuid, why: &str, now: Timestamp) {
        let Some(s) = self.shipments.get_mut(&id) else { return };
        let external = s.order(order_id).map(|o| o.external_id.clone()).unwrap_or_default();
        s.orders.retain(|o| o.order_id != order_id);
        s.lines.retain(|l| l.order_id != order_id);
        let had_waybill = s.waybill.is_some();
        if had_waybill && !s.lines.is_empty() {
            // Its label lists what left: draw again for the rest.
            self.drop_waybill(id);
            let s = self.shipments.get_mut(&id).expect("present");
            s.status = Status::Pending;
        }
        self.note(id, format!("{external} left the shipment: {why}"));
        self.settle(id, why);
        self.touch(id, now);
    }

    /// Applies `order.hold_changed` (said at `at`): a held order holds (or intercepts) every
    /// open shipment it is in; an order that is neither held nor to ship any more (cancelled,
    /// shipped elsewhere, nothing left) leaves them.
    pub fn hold_changed(&mut self, ev: &OrderHoldChanged, at: Timestamp, now: Timestamp) {
        let seq: Seq = (ev.revision, at);
        for id in self.open_with_order(ev.order_id) {
            let s = self.shipments.get_mut(&id).expect("present");
            let o = s.orders.iter_mut().find(|o| o.order_id == ev.order_id).expect("it has the order");
            if stale(o, seq) {
                continue;
            }
            o.seq = seq;
            o.holds = ev.holds.clone();
            let gone = ev.holds.is_empty()
                && !ev.ready
                && matches!(ev.status, Some(OrderStatus::Cancelled | OrderStatus::Shipped | OrderStatus::Completed));
            if gone {
                let why = match ev.status {
                    Some(OrderStatus::Cancelled) => "the order was cancelled",
                    _ => "the order was shipped elsewhere",
                };
                self.remove_order(id, ev.order_id, why, now);
                continue;
            }
            self.settle(id, "nothing left to ship");
            self.touch(id, now);
        }
    }

    /// Splits shipment `id` into parts (each a list of (order, line, quantity)); the parts must
    /// add up to its lines exactly. The first part stays in `id`; the others become new
    /// shipments (ids from `new_id`), returned in order.
    pub fn split(
        &mut self,
        id: Uuid,
        parts: &[Vec<(Uuid, String, i64)>],
        now: Timestamp,
        mut new_id: impl FnMut() -> Uuid,
    ) -> Result<Vec<Uuid>, PlanError> {
        let s = self.shipments.get(&id).ok_or(PlanError::NotFound)?;
        editable(s)?;
        if parts.len() < 2 {
            return Err(PlanError::Invalid("a split needs at least two parts".into()));
        }
        let mut want: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
        for l in &s.lines {
            *want.entry((l.order_id, l.external_line_id.clone())).or_default() += l.quantity;
        }
        let mut got: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(PlanError::Invalid(format!("part {} is empty", i + 1)));
            }
            for (order, line, qty) in part {
                if *qty <= 0 {
                    return Err(PlanError::Invalid(format!("part {}: line `{line}` has quantity {qty}", i + 1)));
                }
                if !want.contains_key(&(*order, line.clone())) {
                    return Err(PlanError::Invalid(format!("part {}: the shipment has no line `{line}`", i + 1)));
                }
                *got.entry((*order, line.clone())).or_default() += qty;
            }
        }
        if let Some(((_, line), q)) = want.iter().find(|(k, q)| got.get(*k) != Some(*q)) {
            let g = got.get(&(want.keys().find(|k| k.1 == *line).expect("present").0, line.clone())).unwrap_or(&0);
            return Err(PlanError::Invalid(format!(
                "the parts must add up to the shipment: line `{line}` has {q}, the parts give {g}"
            )));
        }
        let original = s.clone();
        let lines_of = |part: &Vec<(Uuid, String, i64)>| -> Vec<Line> {
            part.iter()
                .map(|(o, l, q)| {
                    let src = original
                        .lines
                        .iter()
                        .find(|x| x.order_id == *o && x.external_line_id == *l)
                        .expect("checked above");
                    Line { quantity: *q, ..src.clone() }
                })
                .collect()
        };
        let orders_of = |lines: &[Line]| -> Vec<OrderRef> {
            original.orders.iter().filter(|o| lines.iter().any(|l| l.order_id == o.order_id)).cloned().collect()
        };
        let mut made = Vec::new();
        for part in &parts[1..] {
            let lines = lines_of(part);
            let nid = new_id();
            let new = Shipment {
                id: nid,
                orders: orders_of(&lines),
                lines,
                waybill: None,
                status: if original.held() { Status::OnHold } else { Status::Pending },
                problem: None,
                print_count: 0,
                created_at: now,
                updated_at: now,
                ..original.clone()
            };
            self.shipments.insert(nid, new);
            self.note(nid, format!("Split from shipment {id}"));
            self.touch(nid, now);
            made.push(nid);
        }
        let first = lines_of(&parts[0]);
        let s = self.shipments.get_mut(&id).expect("present");
        s.orders = orders_of(&first);
        s.lines = first;
        self.note(id, format!("Split into {} shipments", parts.len()));
        self.touch(id, now);
        Ok(made)
    }

    /// Unmerges shipment `id`: each order after the first gets a shipment of its own (ids from
    /// `new_id`), returned in order.
    pub fn unmerge(
        &mut self,
        id: Uuid,
        now: Timestamp,
        mut new_id: impl FnMut() -> Uuid,
    ) -> Result<Vec<Uuid>, PlanError> {
        let s = self.shipments.get(&id).ok_or(PlanError::NotFound)?;
        editable(s)?;
        if s.orders.len() < 2 {
            return Err(PlanError::Invalid("the shipment carries one order: nothing to unmerge".into()));
        }
        let parts: Vec<Vec<(Uuid, String, i64)>> = s
            .orders
            .iter()
            .map(|o| {
                s.lines
                    .iter()
                    .filter(|l| l.order_id == o.order_id)
                    .map(|l| (l.order_id, l.external_line_id.clone(), l.quantity))
                    .collect()
            })
            .collect();
        // Lines of one order repeated (a split line) add up per line in `split`; merge them here.
        let parts: Vec<Vec<(Uuid, String, i64)>> = parts
            .into_iter()
            .map(|p| {
                let mut m: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
                for (o, l, q) in p {
                    *m.entry((o, l)).or_default() += q;
                }
                m.into_iter().map(|((o, l), q)| (o, l, q)).collect()
            })
            .collect();
        self.split(id, &parts, now, &mut new_id)
    }

    /// Marks shipment `id` shipped (scanned out) at `now`; returns, per order in it, the lines
    /// this shipment completes: those with no unit left in another open shipment. A line split
    /// over several shipments is written back (and its stock committed) with the last of them.
    pub fn ship(&mut self, id: Uuid, now: Timestamp) -> Result<Vec<(OrderRef, Vec<String>)>, PlanError> {
        let s = self.shipments.get(&id).ok_or(PlanError::NotFound)?;
        match s.status {
            Status::WaybillAllocated | Status::Printed if !s.held() => {}
            Status::Shipped | Status::InTransit | Status::Delivered | Status::Exception | Status::Returned => {
                return Err(PlanError::AlreadyShipped);
            }
            Status::OnHold | Status::Intercepted => {
                return Err(PlanError::Conflict("the shipment is held: release its orders first".into()));
            }
            Status::Pending => {
                return Err(PlanError::Conflict("the shipment has no waybill yet: draw one first".into()));
            }
            Status::Cancelled => return Err(PlanError::Conflict("the shipment is cancelled".into())),
            _ => return Err(PlanError::Conflict("an order in the shipment is held".into())),
        }
        let mut out = Vec::new();
        for o in &s.orders {
            let mine: BTreeSet<&str> =
                s.lines.iter().filter(|l| l.order_id == o.order_id).map(|l| l.external_line_id.as_str()).collect();
            let elsewhere: BTreeSet<&str> = self
                .shipments
                .values()
                .filter(|x| x.id != id && x.status.is_open())
                .flat_map(|x| x.lines.iter().filter(|l| l.order_id == o.order_id).map(|l| l.external_line_id.as_str()))
                .collect();
            let done: Vec<String> = mine.difference(&elsewhere).map(|l| (*l).to_owned()).collect();
            out.push((o.clone(), done));
        }
        let s = self.shipments.get_mut(&id).expect("present");
        s.status = Status::Shipped;
        s.shipped_at = Some(now);
        s.problem = None;
        self.touch(id, now);
        Ok(out)
    }
}

/// Whether the plan of `s` may still change by hand (split, unmerge): open and without a
/// live waybill.
fn editable(s: &Shipment) -> Result<(), PlanError> {
    if !s.status.is_open() {
        return Err(PlanError::Conflict(format!("the shipment is {}", s.status.as_str())));
    }
    if s.waybill.is_some() {
        return Err(PlanError::Conflict("the shipment has a waybill: cancel it first".into()));
    }
    Ok(())
}

/// Why a change to the plan was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no such shipment")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the shipment has already left")]
    AlreadyShipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PrintData;
    use chrono::TimeZone;
    use kernel::{HoldReason, Money, events::ReadyLine, trade::Receiver};

    fn t(s: i64) -> Timestamp {
        chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn receiver(addr: &str) -> Receiver {
        Receiver {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "余杭区".into(),
            address: addr.into(),
            zip: String::new(),
        }
    }

    fn ready(order: Uuid, tid: &str, key: &str, paid: i64, lines: &[(&str, i64)]) -> OrderReadyToShip {
        OrderReadyToShip {
            order_id: order,
            channel_id: Uuid::nil(),
            external_id: tid.into(),
            warehouse_code: "MAIN".into(),
            lines: lines
                .iter()
                .map(|(l, q)| ReadyLine {
                    external_line_id: (*l).into(),
                    sku_code: "TEE".into(),
                    title: "T恤".into(),
                    quantity: *q,
                })
                .collect(),
            receiver: Some(receiver("文一西路969号")),
            paid_at: Some(t(paid)),
            merge_key: key.into(),
            revision: paid * 1_000_000,
            payment: Money(5900),
        }
    }

    fn waybill(code: &str) -> Waybill {
        Waybill {
            code: code.into(),
            cp_code: "ZTO".into(),
            account_id: Uuid::nil(),
            child_codes: vec![],
            print: PrintData::default(),
            drawn_at: t(0),
        }
    }

    fn settings(wait: i64) -> Settings {
        Settings { merge_wait_seconds: wait, ..Settings::default() }
    }

    #[test]
    fn orders_of_one_receiver_paid_within_the_wait_merge_and_later_ones_do_not() {
        let mut d = Desk::default();
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        d.ready(&ready(b, "T2", "K", 300, &[("O2", 2)]), t(300), Money(0), &settings(600), t(300), Uuid::now_v7);
        d.ready(&ready(c, "T3", "K", 601, &[("O3", 1)]), t(601), Money(0), &settings(600), t(601), Uuid::now_v7);
        assert_eq!(d.shipments.len(), 2);
        let first = d.shipments.values().find(|s| s.order(a).is_some()).unwrap();
        assert_eq!(first.trade_ids(), vec!["T1", "T2"]);
        assert_eq!(first.units(), 3);
        // Merging off: every order alone.
        let mut d = Desk::default();
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(0), t(0), Uuid::now_v7);
        d.ready(&ready(b, "T2", "K", 1, &[("O2", 1)]), t(1), Money(0), &settings(0), t(1), Uuid::now_v7);
        assert_eq!(d.shipments.len(), 2);
        // Another receiver (another key) never merges.
        let mut d = Desk::default();
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        d.ready(&ready(b, "T2", "L", 1, &[("O2", 1)]), t(1), Money(0), &settings(600), t(1), Uuid::now_v7);
        assert_eq!(d.shipments.len(), 2);
    }

    #[test]
    fn a_drawn_shipment_takes_no_more_orders() {
        let mut d = Desk::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        let id = *d.shipments.keys().next().unwrap();
        let s = d.shipments.get_mut(&id).unwrap();
        s.waybill = Some(waybill("ZT1"));
        s.status = Status::WaybillAllocated;
        d.ready(&ready(b, "T2", "K", 10, &[("O2", 1)]), t(10), Money(0), &settings(600), t(10), Uuid::now_v7);
        assert_eq!(d.shipments.len(), 2);
    }

    #[test]
    fn a_hold_after_the_draw_intercepts_and_cancels_the_waybill_and_a_release_makes_it_pending() {
        let mut d = Desk::default();
        let a = Uuid::now_v7();
        let ev = ready(a, "T1", "K", 0, &[("O1", 1)]);
        d.ready(&ev, t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        let id = *d.shipments.keys().next().unwrap();
        {
            let s = d.shipments.get_mut(&id).unwrap();
            s.waybill = Some(waybill("ZT1"));
            s.status = Status::WaybillAllocated;
        }
        let hold = OrderHoldChanged {
            order_id: a,
            channel_id: Uuid::nil(),
            external_id: "T1".into(),
            holds: vec![HoldReason::RefundPending],
            revision: ev.revision + 1,
            ready: false,
            status: Some(OrderStatus::OnHold),
        };
        d.hold_changed(&hold, t(5), t(5));
        let s = &d.shipments[&id];
        assert_eq!((s.status, s.waybill.is_none()), (Status::Intercepted, true));
        assert!(
            matches!(&d.effects[..], [.., Effect::CancelWaybill { waybill, .. }, Effect::Note { .. }] if waybill.code == "ZT1")
        );
        // An older hold news changes nothing; the release (ready again) makes it drawable.
        let mut released = ev.clone();
        released.revision = hold.revision;
        d.ready(&released, t(9), Money(0), &settings(600), t(9), Uuid::now_v7);
        assert_eq!(d.shipments[&id].status, Status::Pending);
        d.hold_changed(&hold, t(5), t(10));
        assert_eq!(d.shipments[&id].status, Status::Pending, "stale news");
        assert_eq!(d.shipments.len(), 1);
    }

    #[test]
    fn a_cancelled_order_leaves_a_merged_shipment_whose_waybill_is_then_drawn_again() {
        let mut d = Desk::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        d.ready(&ready(b, "T2", "K", 5, &[("O2", 1)]), t(5), Money(0), &settings(600), t(5), Uuid::now_v7);
        let id = *d.shipments.keys().next().unwrap();
        d.shipments.get_mut(&id).unwrap().waybill = Some(waybill("ZT1"));
        d.shipments.get_mut(&id).unwrap().status = Status::Printed;
        let gone = OrderHoldChanged {
            order_id: b,
            channel_id: Uuid::nil(),
            external_id: "T2".into(),
            holds: vec![],
            revision: 10_000_000,
            ready: false,
            status: Some(OrderStatus::Cancelled),
        };
        d.hold_changed(&gone, t(20), t(20));
        let s = &d.shipments[&id];
        assert_eq!((s.status, s.trade_ids(), s.waybill.is_none()), (Status::Pending, vec!["T1".to_owned()], true));
    }

    #[test]
    fn split_must_add_up_and_ship_completes_a_line_with_its_last_part() {
        let mut d = Desk::default();
        let a = Uuid::now_v7();
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 3), ("O2", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        let id = *d.shipments.keys().next().unwrap();
        let bad = vec![vec![(a, "O1".to_owned(), 2)], vec![(a, "O2".to_owned(), 1)]];
        assert!(matches!(d.split(id, &bad, t(1), Uuid::now_v7), Err(PlanError::Invalid(m)) if m.contains("add up")));
        let parts = vec![vec![(a, "O1".to_owned(), 2)], vec![(a, "O1".to_owned(), 1), (a, "O2".to_owned(), 1)]];
        let made = d.split(id, &parts, t(1), Uuid::now_v7).unwrap();
        assert_eq!(made.len(), 1);
        for s in d.shipments.values_mut() {
            s.waybill = Some(waybill(&format!("ZT{}", s.id)));
            s.status = Status::WaybillAllocated;
        }
        let first = d.ship(id, t(2)).unwrap();
        assert_eq!(first[0].1, Vec::<String>::new(), "O1 still has a unit in the other part");
        let second = d.ship(made[0], t(3)).unwrap();
        assert_eq!(second[0].1, vec!["O1".to_owned(), "O2".to_owned()]);
        assert_eq!(d.ship(made[0], t(4)), Err(PlanError::AlreadyShipped));
    }

    #[test]
    fn unmerge_gives_each_order_its_own_shipment() {
        let mut d = Desk::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        d.ready(&ready(a, "T1", "K", 0, &[("O1", 1)]), t(0), Money(0), &settings(600), t(0), Uuid::now_v7);
        d.ready(&ready(b, "T2", "K", 5, &[("O2", 2)]), t(5), Money(0), &settings(600), t(5), Uuid::now_v7);
        let id = *d.shipments.keys().next().unwrap();
        let made = d.unmerge(id, t(6), Uuid::now_v7).unwrap();
        assert_eq!(d.shipments[&id].trade_ids(), vec!["T1"]);
        assert_eq!(d.shipments[&made[0]].trade_ids(), vec!["T2"]);
        assert_eq!(d.shipments[&made[0]].units(), 2);
        assert!(matches!(d.unmerge(id, t(7), Uuid::now_v7), Err(PlanError::Invalid(_))));
    }
}
