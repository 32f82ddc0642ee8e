//! The `orders` consumer: trade snapshots → orders; reservation changes → line states and
//! allocated/backordered. The rules are in [`crate::domain`], the reads and writes in
//! [`crate::db::OrderBatch`]; this is the plumbing between them and the bus.

use crate::{
    db::{self, BatchKeys, OrderBatch},
    domain::{
        self, TimelineEntry, TimelineKind,
        events::order_changed,
        holds::{self, AuditRules},
    },
};
use kernel::{
    Envelope, Event, SharedClock, TenantId,
    events::{ItemMapped, Mapping, ReservationChanged, ShipmentShipped, ShipmentTracked, TradeReceived},
};
use std::collections::HashMap;

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "orders";
/// The topics it binds.
pub const TOPICS: &[&str] =
    &[TradeReceived::TYPE, ReservationChanged::TYPE, ItemMapped::TYPE, ShipmentShipped::TYPE, ShipmentTracked::TYPE];

/// Maintains orders from channel and inventory events.
pub struct OrdersHandler {
    db: store::Db,
    clock: SharedClock,
}

impl OrdersHandler {
    /// A handler writing to `db`, telling the time by `clock`.
    pub fn new(db: store::Db, clock: SharedClock) -> Self {
        OrdersHandler { db, clock }
    }
}

enum Incoming {
    Trade(Box<TradeReceived>),
    Reservation(ReservationChanged),
    /// With the open orders it concerns, oldest-paid first.
    Mapped(ItemMapped, Vec<uuid::Uuid>),
    /// A shipment drawn through Cairn's shipping left the warehouse.
    Shipped(ShipmentShipped),
    /// The carrier said a shipment was delivered, is in trouble, or came back.
    Tracked(ShipmentTracked),
}

#[async_trait::async_trait]
impl bus::TxHandler for OrdersHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    fn concurrency(&self) -> usize {
        8
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    /// Set-based: one inbox claim, one read of the orders and lines the batch touches, the
    /// events applied in order to those orders in memory, then one write per table. The result
    /// is the same as applying the events one by one (a later event sees an earlier one's
    /// effect through the in-memory orders).
    #[tracing::instrument(skip_all, fields(messages = envs.len()))]
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let mut events = Vec::with_capacity(claimed.len());
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            events.push(match env.kind.as_str() {
                TradeReceived::TYPE => (env, Incoming::Trade(Box::new(env.decode()?))),
                ReservationChanged::TYPE => (env, Incoming::Reservation(env.decode()?)),
                ItemMapped::TYPE => {
                    let ev: ItemMapped = env.decode()?;
                    let ids = db::orders_with_variant(
                        tx,
                        env.tenant_id,
                        ev.channel_id,
                        &ev.item_id,
                        ev.variant_id.as_deref(),
                    )
                    .await?;
                    (env, Incoming::Mapped(ev, ids))
                }
                ShipmentShipped::TYPE => (env, Incoming::Shipped(env.decode()?)),
                ShipmentTracked::TYPE => (env, Incoming::Tracked(env.decode()?)),
                other => anyhow::bail!("orders does not consume {other}"),
            });
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut keys = BatchKeys::default();
        for (env, ev) in &events {
            match ev {
                Incoming::Trade(ev) => keys.trade(env.tenant_id, ev.channel_id, &ev.trade.external_id),
                Incoming::Reservation(ev) => {
                    if let Some(id) = ev.order_id {
                        keys.order(env.tenant_id, id);
                    }
                }
                Incoming::Mapped(_, ids) => {
                    for id in ids {
                        keys.order(env.tenant_id, *id);
                    }
                }
                Incoming::Shipped(ev) => {
                    for o in &ev.orders {
                        keys.order(env.tenant_id, o.order_id);
                    }
                }
                Incoming::Tracked(_) => {}
            }
        }
        let mut batch = OrderBatch::load(tx, &self.db, keys).await?;
        let tenants: Vec<TenantId> = events.iter().map(|(env, _)| env.tenant_id).collect();
        let rules: HashMap<TenantId, AuditRules> = db::audit_rules_of(tx, &tenants).await?;
        let rules_of = |t: TenantId| rules.get(&t).copied().unwrap_or_default();
        let now = self.clock.now();
        for (env, ev) in &events {
            let tenant = env.tenant_id;
            match ev {
                Incoming::Trade(ev) => {
                    let existing = batch.trade_order(tenant, ev.channel_id, &ev.trade.external_id);
                    // Stale or duplicate snapshot: the inbox records that we saw the message;
                    // nothing else changes.
                    let Some(applied) = domain::apply_trade(existing, tenant, ev, now, kernel::new_id) else {
                        continue;
                    };
                    let returning = returns_expected(existing, &applied.order);
                    let mut order = applied.order;
                    let settled = holds::settle(&mut order, &rules_of(tenant), now);
                    batch.timeline(tenant, order.id, [applied.timeline]);
                    batch.timeline(tenant, order.id, settled.timeline.clone());
                    // After the holds: `order.changed` carries the status they give.
                    batch.emit(Envelope::new(tenant, &order_changed(&order, &ev.trade), now, Some(env)));
                    emit_settled(&mut batch, tenant, settled, now, env);
                    if let Some(r) = returning {
                        batch.emit(Envelope::new(tenant, &r, now, Some(env)));
                    }
                    batch.put(order, &ev.trade)?;
                }
                Incoming::Reservation(ev) => {
                    // An API reservation (no order), or one for an order this tenant does not
                    // have: nothing of an order to update, but the message is handled.
                    let Some(order) = ev.order_id.and_then(|id| batch.order_mut(tenant, id)) else { continue };
                    let order_id = order.id;
                    let out = domain::apply_reservation(order, ev, now);
                    let settled = holds::settle(order, &rules_of(tenant), now);
                    if out.changed || settled.changed {
                        batch.changed(order_id);
                    }
                    batch.timeline(tenant, order_id, out.timeline);
                    batch.timeline(tenant, order_id, settled.timeline.clone());
                    emit_settled(&mut batch, tenant, settled, now, env);
                }
                Incoming::Mapped(ev, ids) => {
                    // Oldest-paid first, so what waits on the variant is told in paid order.
                    let mut ordered: Vec<(Option<kernel::Timestamp>, uuid::Uuid)> =
                        ids.iter().filter_map(|id| batch.order_mut(tenant, *id).map(|o| (o.paid_at, o.id))).collect();
                    ordered.sort();
                    for (_, id) in ordered {
                        let Some(order) = batch.order_mut(tenant, id) else { continue };
                        let mut entries = Vec::new();
                        for l in order.lines.iter_mut().filter(|l| {
                            l.item_id.as_deref() == Some(ev.item_id.as_str()) && l.variant_id == ev.variant_id
                        }) {
                            if l.sku_code.as_deref() != Some(ev.sku_code.as_str()) || l.mapping != Mapping::Mapped {
                                entries.push(TimelineEntry {
                                    at: now,
                                    kind: TimelineKind::Mapping,
                                    detail: format!(
                                        "{} {} → SKU {} (product mapping)",
                                        l.external_line_id,
                                        l.sku_code.as_deref().unwrap_or("(unmapped)"),
                                        ev.sku_code
                                    ),
                                });
                                l.sku_code = Some(ev.sku_code.clone());
                                l.mapping = Mapping::Mapped;
                            }
                        }
                        if entries.is_empty() {
                            continue;
                        }
                        // A new revision, so inventory takes the lines up again; one microsecond
                        // past the snapshot's, so any newer snapshot of the trade still applies.
                        order.revision += 1;
                        let settled = holds::settle(order, &rules_of(tenant), now);
                        let order_id = order.id;
                        batch.changed(order_id);
                        batch.timeline(tenant, order_id, entries);
                        batch.timeline(tenant, order_id, settled.timeline.clone());
                        let changed = batch.changed_event(tenant, order_id)?;
                        batch.emit(Envelope::new(tenant, &changed, now, Some(env)));
                        emit_settled(&mut batch, tenant, settled, now, env);
                    }
                }
                Incoming::Shipped(ev) => ship(tx, &mut batch, tenant, ev, &rules_of(tenant), now, env).await?,
                Incoming::Tracked(ev) => {
                    for order_id in &ev.order_ids {
                        let updated = db::track_shipment(tx, tenant, *order_id, ev).await?;
                        if updated {
                            let what = match ev.status.as_str() {
                                "delivered" => "Delivered",
                                "returned" => "Returned to the sender",
                                "exception" => "Carrier exception",
                                other => other,
                            };
                            let detail = if ev.detail.is_empty() {
                                format!("{what}: {}", ev.waybill_code)
                            } else {
                                format!("{what}: {} ({})", ev.waybill_code, ev.detail)
                            };
                            batch.timeline(
                                tenant,
                                *order_id,
                                [TimelineEntry { at: ev.at, kind: TimelineKind::Shipment, detail }],
                            );
                        }
                    }
                }
            }
        }
        batch.save(tx).await?;
        Ok(())
    }
}

/// Records a shipment that left through Cairn's shipping on each order it carries: its
/// completed lines take the waybill (written back to the marketplace, their stock committed).
/// A parcel that left is a fact: an order held meanwhile (the hold came too late to stop it)
/// is recorded as shipped all the same, and its timeline says so; a cancelled one is not
/// written back.
async fn ship(
    tx: &sea_orm::DatabaseTransaction,
    batch: &mut OrderBatch,
    tenant: TenantId,
    ev: &ShipmentShipped,
    rules: &AuditRules,
    now: kernel::Timestamp,
    env: &Envelope,
) -> anyhow::Result<()> {
    use crate::domain::shipment::{self, Decision, ShipError, ShipRequest};
    for so in ev.orders.iter().filter(|o| !o.completed_line_ids.is_empty()) {
        let Some(order) = batch.order_mut(tenant, so.order_id) else { continue };
        let req = ShipRequest {
            company_code: ev.cp_code.clone(),
            waybill_no: ev.waybill_code.clone(),
            lines: Some(so.completed_line_ids.clone()),
        };
        let recorded = db::find_shipment(tx, tenant, so.order_id, &ev.waybill_code).await?;
        let held = !order.holds.is_empty();
        let decided = shipment::validate(&req).and_then(|()| {
            shipment::decide(
                order.base_status(),
                &order.line_facts(),
                recorded.as_ref().map(|r| r.recorded()).as_ref(),
                &req,
            )
        });
        let (lines, status, whole) = match decided {
            Ok(Decision::Replay) => continue,
            Ok(Decision::Ship { lines, status, whole_order }) => (lines, status, whole_order),
            Err(ShipError::Invalid(why) | ShipError::NotShippable(why)) => {
                let entry = TimelineEntry {
                    at: now,
                    kind: TimelineKind::Shipment,
                    detail: format!(
                        "Shipment {} {} left, but nothing was written back: {why}",
                        ev.cp_code, ev.waybill_code
                    ),
                };
                batch.timeline(tenant, so.order_id, [entry]);
                continue;
            }
            Err(e @ ShipError::WaybillReused(_)) => {
                let entry = TimelineEntry {
                    at: now,
                    kind: TimelineKind::Shipment,
                    detail: format!("Shipment not recorded: {e}"),
                };
                batch.timeline(tenant, so.order_id, [entry]);
                continue;
            }
        };
        let made = shipment::record(order, &req, lines, status, whole, now);
        let settled = holds::settle(order, rules, now);
        let order_id = order.id;
        db::insert_shipment(tx, tenant, order_id, &made.shipment).await?;
        batch.changed(order_id);
        let mut entries = vec![made.timeline];
        if held {
            entries.push(TimelineEntry {
                at: now,
                kind: TimelineKind::Shipment,
                detail: "The parcel left while the order was held (the hold came after it was scanned out)".into(),
            });
        }
        batch.timeline(tenant, order_id, entries);
        batch.timeline(tenant, order_id, settled.timeline.clone());
        let changed = batch.changed_event(tenant, order_id)?;
        batch.emit(Envelope::new(tenant, &changed, now, Some(env)));
        batch.emit(Envelope::new(tenant, &made.shipped, now, Some(env)));
        emit_settled(batch, tenant, settled, now, env);
    }
    Ok(())
}

/// The lines of `after` that shipped through Cairn and that the buyer now sends back (their
/// refund waits for the goods, `WAIT_BUYER_RETURN_GOODS`) when they did not before.
fn returns_expected(
    before: Option<&domain::Order>,
    after: &domain::Order,
) -> Option<kernel::events::OrderReturnExpected> {
    const RETURNING: &str = "WAIT_BUYER_RETURN_GOODS";
    let was = |id: &str| {
        before
            .and_then(|o| o.lines.iter().find(|l| l.external_line_id == id))
            .is_some_and(|l| l.refund_status == RETURNING)
    };
    let lines: Vec<kernel::events::ReturnLine> = after
        .lines
        .iter()
        .filter(|l| l.refund_status == RETURNING && l.shipped_waybill.is_some() && !was(&l.external_line_id))
        .map(|l| kernel::events::ReturnLine {
            external_line_id: l.external_line_id.clone(),
            sku_code: l.sku_code.clone().unwrap_or_default(),
            title: l.title.clone(),
            quantity: l.quantity,
        })
        .collect();
    (!lines.is_empty()).then(|| kernel::events::OrderReturnExpected {
        order_id: after.id,
        channel_id: after.channel_id,
        external_id: after.external_id.clone(),
        lines,
    })
}

/// Puts what settling an order announced into the outbox.
fn emit_settled(
    batch: &mut OrderBatch,
    tenant: TenantId,
    settled: holds::Settled,
    now: kernel::Timestamp,
    env: &Envelope,
) {
    if let Some(h) = settled.hold_changed {
        batch.emit(Envelope::new(tenant, &h, now, Some(env)));
    }
    for r in settled.ready {
        batch.emit(Envelope::new(tenant, &r, now, Some(env)));
    }
}
