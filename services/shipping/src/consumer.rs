//! The `shipping` consumer: `order.ready_to_ship` → shipments (merged when they may be),
//! `order.hold_changed` → held or intercepted shipments, `order.shipped` for a waybill drawn
//! elsewhere → a shipment recorded as shipped, `order.return_expected` → an expected return.
//! Set-based: one read of the shipments a batch
//! touches, the events applied in order in memory, one write.

use crate::{
    db,
    domain::{Line, OrderRef, PrintData, Shipment, Status, Waybill, plan::Desk},
    service::{lock_all, lock_key, save_desk},
};
use kernel::{
    Envelope, Event, SharedClock, TenantId,
    events::{OrderHoldChanged, OrderReadyToShip, OrderReturnExpected, OrderShipped},
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "shipping";
/// The topics it binds.
pub const TOPICS: &[&str] =
    &[OrderReadyToShip::TYPE, OrderHoldChanged::TYPE, OrderShipped::TYPE, OrderReturnExpected::TYPE];

/// Keeps shipments in step with orders' readiness.
pub struct ShippingHandler {
    db: store::Db,
    clock: SharedClock,
    /// The worker's wake-up, for waybills queued for cancellation (interceptions).
    wake: std::sync::Arc<tokio::sync::Notify>,
}

impl ShippingHandler {
    /// A handler writing to `db`, waking the worker with `wake`.
    pub fn new(db: store::Db, clock: SharedClock, wake: std::sync::Arc<tokio::sync::Notify>) -> Self {
        ShippingHandler { db, clock, wake }
    }
}

enum Incoming {
    Ready(OrderReadyToShip),
    Hold(OrderHoldChanged),
    Shipped(OrderShipped),
    Return(OrderReturnExpected),
}

impl Incoming {
    fn order_id(&self) -> Uuid {
        match self {
            Incoming::Ready(e) => e.order_id,
            Incoming::Hold(e) => e.order_id,
            Incoming::Shipped(e) => e.order_id,
            Incoming::Return(e) => e.order_id,
        }
    }
}

#[async_trait::async_trait]
impl bus::TxHandler for ShippingHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    fn concurrency(&self) -> usize {
        4
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    #[tracing::instrument(skip_all, fields(messages = envs.len()))]
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let mut by_tenant: BTreeMap<TenantId, Vec<(&Envelope, Incoming)>> = BTreeMap::new();
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            let ev = match env.kind.as_str() {
                OrderReadyToShip::TYPE => Incoming::Ready(env.decode()?),
                OrderHoldChanged::TYPE => Incoming::Hold(env.decode()?),
                OrderShipped::TYPE => Incoming::Shipped(env.decode()?),
                OrderReturnExpected::TYPE => Incoming::Return(env.decode()?),
                other => anyhow::bail!("shipping does not consume {other}"),
            };
            by_tenant.entry(env.tenant_id).or_default().push((env, ev));
        }
        let now = self.clock.now();
        for (tenant, events) in by_tenant {
            let orders: Vec<Uuid> = events.iter().map(|(_, e)| e.order_id()).collect();
            let keys: Vec<String> = events
                .iter()
                .filter_map(|(_, e)| match e {
                    Incoming::Ready(r) => Some(r.merge_key.clone()),
                    _ => None,
                })
                .collect();
            // Two instances must not both open a shipment for one merge key, nor plan one
            // order twice: the keys are locked before the shipments are read.
            let locks =
                orders.iter().map(|o| lock_key(tenant, &o.to_string())).chain(keys.iter().map(|k| lock_key(tenant, k)));
            lock_all(tx, &self.db, locks.collect()).await?;
            let mut ids = db::ids_with_orders(tx, tenant, &orders).await?;
            ids.extend(db::ids_open_for_merge(tx, tenant, &keys).await?);
            ids.sort();
            ids.dedup();
            let mut desk = Desk::new(db::load(tx, tenant, &ids, true).await?);
            let (settings, _) = db::settings(tx, tenant).await?;
            for (env, ev) in &events {
                match ev {
                    Incoming::Ready(r) => desk.ready(r, env.occurred_at, r.payment, &settings, now, kernel::new_id),
                    Incoming::Hold(h) => desk.hold_changed(h, env.occurred_at, now),
                    Incoming::Shipped(s) => record_external(&mut desk, s, now),
                    Incoming::Return(_) => {}
                }
            }
            if desk.effects.iter().any(|e| matches!(e, crate::domain::plan::Effect::CancelWaybill { .. })) {
                // Woken before the commit: it finds the queued waybills at most a poll later.
                self.wake.notify_one();
            }
            save_desk(tx, tenant, &mut desk, now).await?;
            // After the shipments are saved: a return finds the shipment that carried its lines.
            for (_, ev) in &events {
                if let Incoming::Return(r) = ev {
                    crate::returns::expect(tx, tenant, r, now).await?;
                }
            }
        }
        Ok(())
    }
}

/// `order.shipped` with a waybill no shipment of Cairn's carries: the seller shipped it with a
/// waybill drawn elsewhere (`POST /v1/orders/{id}/ship`). It is recorded as a shipment that
/// left, with the lines its open shipments had for those marketplace lines (when any).
fn record_external(desk: &mut Desk, ev: &OrderShipped, now: kernel::Timestamp) {
    let ours = desk.shipments.values().any(|s| s.waybill.as_ref().is_some_and(|w| w.code == ev.waybill_no));
    if ours {
        return;
    }
    let id = external_id(ev.order_id, &ev.waybill_no);
    if desk.shipments.contains_key(&id) {
        return;
    }
    let from_open: Vec<&Shipment> =
        desk.shipments.values().filter(|s| s.status.is_open() && s.order(ev.order_id).is_some()).collect();
    let lines: Vec<Line> = from_open
        .iter()
        .flat_map(|s| s.lines.iter())
        .filter(|l| {
            l.order_id == ev.order_id
                && ev.external_line_ids.as_ref().is_none_or(|ids| ids.contains(&l.external_line_id))
        })
        .cloned()
        .collect();
    let template = from_open.first();
    let order = template.and_then(|s| s.order(ev.order_id).cloned()).unwrap_or(OrderRef {
        order_id: ev.order_id,
        channel_id: ev.channel_id,
        external_id: ev.external_id.clone(),
        paid_at: None,
        payment: kernel::Money(0),
        seq: (0, ev.shipped_at),
        holds: Vec::new(),
    });
    let s = Shipment {
        id,
        warehouse_code: template.map(|s| s.warehouse_code.clone()).unwrap_or_default(),
        merge_key: String::new(),
        status: Status::Shipped,
        orders: vec![order],
        lines,
        receiver: template.map(|s| s.receiver.clone()).unwrap_or_default(),
        opened_at: ev.shipped_at,
        waybill: Some(Waybill {
            code: ev.waybill_no.clone(),
            cp_code: ev.company_code.clone(),
            account_id: Uuid::nil(),
            child_codes: Vec::new(),
            print: PrintData::default(),
            drawn_at: ev.shipped_at,
        }),
        parcels: 1,
        weight_grams: 0,
        problem: None,
        print_count: 0,
        tracking: None,
        shipped_at: Some(ev.shipped_at),
        delivered_at: None,
        created_at: now,
        updated_at: now,
    };
    desk.shipments.insert(id, s);
    desk.dirty.insert(id);
    desk.effects.push(crate::domain::plan::Effect::Note {
        shipment_id: id,
        text: format!("Shipped with {} {} (a waybill drawn outside Cairn)", ev.company_code, ev.waybill_no),
    });
}

/// The id of the shipment recorded for a waybill drawn elsewhere: the same for the same order
/// and waybill, so a redelivered `order.shipped` records nothing more.
fn external_id(order_id: Uuid, waybill: &str) -> Uuid {
    use kernel::signature::Mac as _;
    let tag = kernel::signature::mac(b"cairn/shipment/external", &[order_id.as_bytes(), waybill.as_bytes()]).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&tag.into_bytes()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
