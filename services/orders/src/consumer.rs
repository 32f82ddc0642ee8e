//! Trade snapshots → orders; reservation changes → line states and allocated/backordered.

use crate::{
    db::{order_lines, order_timeline, orders},
    domain::{refine, shipment::with_shipments, status_for_trade},
    outgoing,
};
use kernel::{
    Envelope, Event, LineReservationState, OrderStatus, TenantId,
    events::{ReservationChanged, TradeReceived},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "orders";
/// The topics it binds.
pub const TOPICS: &[&str] = &[TradeReceived::TYPE, ReservationChanged::TYPE];

/// Maintains orders from channel and inventory events.
pub struct OrdersHandler {
    db: store::Db,
}

impl OrdersHandler {
    /// A handler writing to `db`.
    pub fn new(db: store::Db) -> Self {
        OrdersHandler { db }
    }
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
    /// events applied in order to those rows in memory, then one write per table. The result
    /// is the same as applying the events one by one (a later event sees an earlier one's
    /// effect through the in-memory rows).
    #[tracing::instrument(skip_all, fields(messages = envs.len()))]
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let mut events = Vec::with_capacity(claimed.len());
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            events.push(match env.kind.as_str() {
                TradeReceived::TYPE => (env, Incoming::Trade(Box::new(env.decode()?))),
                ReservationChanged::TYPE => (env, Incoming::Reservation(env.decode()?)),
                other => anyhow::bail!("orders does not consume {other}"),
            });
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::load(tx, &self.db, &events).await?;
        let now = chrono::Utc::now();
        for (env, ev) in &events {
            match ev {
                Incoming::Trade(ev) => batch.trade(env, ev, now)?,
                Incoming::Reservation(ev) => batch.reservation(env, ev, now),
            }
        }
        batch.save(tx).await?;
        Ok(())
    }
}

/// The tenant's order matching `filter`, locked until the transaction ends on PostgreSQL.
pub(crate) async fn find_order<C: ConnectionTrait>(
    conn: &C,
    pg: bool,
    tenant: Uuid,
    filter: sea_orm::Condition,
) -> Result<Option<orders::Model>, DbErr> {
    let mut q = orders::Entity::find().filter(orders::Column::TenantId.eq(tenant)).filter(filter);
    if pg {
        // Serialises the snapshot and reservation handlers on one order (SQLite already
        // serialises every write transaction).
        q = q.lock_exclusive();
    }
    q.one(conn).await
}

/// The lines of `orders` (tenant, order id): one term per tenant, its orders' ids in an `IN`.
fn lines_of_orders(orders: impl Iterator<Item = (Uuid, Uuid)>) -> sea_orm::Condition {
    let mut per_tenant: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (t, o) in orders {
        per_tenant.entry(t).or_default().push(o);
    }
    per_tenant.into_iter().fold(sea_orm::Condition::any(), |cond, (t, os)| {
        cond.add(
            sea_orm::Condition::all()
                .add(order_lines::Column::TenantId.eq(t))
                .add(order_lines::Column::OrderId.is_in(os)),
        )
    })
}

/// A timeline entry.
pub(crate) fn timeline(
    tenant: Uuid,
    order_id: Uuid,
    at: kernel::Timestamp,
    kind: &str,
    detail: String,
) -> order_timeline::ActiveModel {
    order_timeline::ActiveModel {
        tenant_id: Set(tenant),
        order_id: Set(order_id),
        id: Set(kernel::new_id()),
        at: Set(at),
        kind: Set(kind.to_owned()),
        detail: Set(detail),
    }
}

fn res_state(s: &Option<String>) -> Option<LineReservationState> {
    s.as_deref().and_then(LineReservationState::parse)
}

enum Incoming {
    Trade(Box<TradeReceived>),
    Reservation(ReservationChanged),
}

/// One order as the batch sees it.
struct Working {
    order: orders::Model,
    lines: Vec<order_lines::Model>,
    /// Stored before the batch started (else it is inserted).
    stored: bool,
    /// Changed by the batch: written back at the end.
    dirty: bool,
}

/// The orders a batch touches, loaded at once and written back at once.
struct Batch {
    by_id: HashMap<Uuid, Working>,
    /// (tenant, channel, external id) → order id.
    by_trade: HashMap<(Uuid, Uuid, String), Uuid>,
    timeline: Vec<order_timeline::ActiveModel>,
    outbox: Vec<Envelope>,
}

impl Batch {
    async fn load(
        tx: &sea_orm::DatabaseTransaction,
        db: &store::Db,
        events: &[(&Envelope, Incoming)],
    ) -> Result<Batch, DbErr> {
        let pg = db.is_postgres();
        let mut trades: Vec<(Uuid, Uuid, String)> = Vec::new();
        let mut ids: Vec<(Uuid, Uuid)> = Vec::new();
        for (env, ev) in events {
            let t = env.tenant_id.0;
            match ev {
                Incoming::Trade(ev) => trades.push((t, ev.channel_id, ev.trade.external_id.clone())),
                Incoming::Reservation(ev) => ids.extend(ev.order_id.map(|o| (t, o))),
            }
        }
        trades.sort();
        trades.dedup();
        if pg {
            // Two snapshots of a trade not stored yet (say a webhook and a reconciliation pull)
            // would both insert it; the second would fail on the unique key and be retried.
            // A lock on the trade's key makes the second wait and then see the first. Taken in
            // key order, so two batches cannot deadlock. FNV-1a: the same key in every
            // instance and build.
            let mut keys: Vec<i64> = trades
                .iter()
                .map(|(t, c, e)| {
                    t.as_bytes()
                        .iter()
                        .chain(c.as_bytes())
                        .chain(e.as_bytes())
                        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
                        as i64
                })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                tx.execute_raw(store::stmt(db, "select pg_advisory_xact_lock(?)", vec![key.into()])).await?;
            }
        }
        // Two plain lookups by index (`IN` on each key column, the exact keys checked here),
        // rather than one OR of a term per event, which SQLite plans and runs term by term.
        let pick = |keys: Vec<Uuid>| -> Vec<Uuid> {
            let mut k = keys;
            k.sort_unstable();
            k.dedup();
            k
        };
        let mut found: Vec<orders::Model> = Vec::new();
        if !trades.is_empty() {
            let mut q = orders::Entity::find()
                .filter(orders::Column::TenantId.is_in(pick(trades.iter().map(|k| k.0).collect())))
                .filter(orders::Column::ChannelId.is_in(pick(trades.iter().map(|k| k.1).collect())))
                .filter(orders::Column::ExternalId.is_in(trades.iter().map(|k| k.2.clone())));
            if pg {
                // Serialises the snapshot and reservation handlers on one order (SQLite already
                // serialises every write transaction).
                q = q.lock_exclusive();
            }
            let wanted: std::collections::HashSet<(Uuid, Uuid, &str)> =
                trades.iter().map(|(t, c, e)| (*t, *c, e.as_str())).collect();
            found.extend(
                q.all(tx)
                    .await?
                    .into_iter()
                    .filter(|o| wanted.contains(&(o.tenant_id, o.channel_id, o.external_id.as_str()))),
            );
        }
        if !ids.is_empty() {
            let mut q = orders::Entity::find()
                .filter(orders::Column::TenantId.is_in(pick(ids.iter().map(|k| k.0).collect())))
                .filter(orders::Column::Id.is_in(pick(ids.iter().map(|k| k.1).collect())));
            if pg {
                q = q.lock_exclusive();
            }
            let wanted: std::collections::HashSet<(Uuid, Uuid)> = ids.iter().copied().collect();
            let have: std::collections::HashSet<Uuid> = found.iter().map(|o| o.id).collect();
            found.extend(
                q.all(tx).await?.into_iter().filter(|o| wanted.contains(&(o.tenant_id, o.id)) && !have.contains(&o.id)),
            );
        }
        let mut lines_of: HashMap<Uuid, Vec<order_lines::Model>> = HashMap::new();
        if !found.is_empty() {
            let cond = lines_of_orders(found.iter().map(|o| (o.tenant_id, o.id)));
            for l in order_lines::Entity::find().filter(cond).order_by_asc(order_lines::Column::LineNo).all(tx).await? {
                lines_of.entry(l.order_id).or_default().push(l);
            }
        }
        let mut batch =
            Batch { by_id: HashMap::new(), by_trade: HashMap::new(), timeline: Vec::new(), outbox: Vec::new() };
        for o in found {
            batch.by_trade.insert((o.tenant_id, o.channel_id, o.external_id.clone()), o.id);
            let lines = lines_of.remove(&o.id).unwrap_or_default();
            batch.by_id.insert(o.id, Working { order: o, lines, stored: true, dirty: false });
        }
        Ok(batch)
    }

    fn trade(&mut self, env: &Envelope, ev: &TradeReceived, now: kernel::Timestamp) -> anyhow::Result<()> {
        let t = env.tenant_id.0;
        let snap = &ev.trade;
        let revision = snap.modified.timestamp_micros();
        let existing =
            self.by_trade.get(&(t, ev.channel_id, snap.external_id.clone())).and_then(|id| self.by_id.get(id));
        if existing.is_some_and(|w| w.order.revision >= revision) {
            // Stale or duplicate snapshot: record that we saw the message, change nothing.
            // After a shipment made here the revision is the shipment's time (see
            // `service::ship`), so a snapshot the marketplace produced before it is stale too.
            return Ok(());
        }
        let order_id = existing.map_or_else(kernel::new_id, |w| w.order.id);
        let old_lines: &[order_lines::Model] = existing.map_or(&[], |w| &w.lines);
        let lines: Vec<order_lines::Model> = snap
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let old = old_lines.iter().find(|o| o.external_line_id == l.external_line_id);
                order_lines::Model {
                    tenant_id: t,
                    order_id,
                    line_no: i as i32 + 1,
                    external_line_id: l.external_line_id.clone(),
                    sku_code: l.sku_code.clone(),
                    title: l.title.clone(),
                    quantity: l.quantity,
                    unit_price: l.unit_price.0,
                    payment: l.payment.0,
                    refund_status: l.refund_status.clone(),
                    reservation_state: old.and_then(|o| o.reservation_state.clone()),
                    reservation_version: old.map_or(0, |o| o.reservation_version),
                    // Shipped through Cairn: the marketplace's snapshot does not know it (or
                    // not yet), so the line keeps it, as it keeps its reservation state.
                    shipped_waybill: old.and_then(|o| o.shipped_waybill.clone()),
                }
            })
            .collect();
        let status = refine(
            status_for_trade(snap.status),
            &lines.iter().map(|l| res_state(&l.reservation_state)).collect::<Vec<_>>(),
        );
        // A snapshot that has not caught up with a shipment made here (the write-back is still
        // on its way) does not take the order back to paid.
        let status = with_shipments(
            status,
            &lines.iter().map(|l| (outgoing::refunded(l), l.shipped_waybill.is_some())).collect::<Vec<_>>(),
        );
        let row = orders::Model {
            tenant_id: t,
            id: order_id,
            channel_id: ev.channel_id,
            external_id: snap.external_id.clone(),
            status: status.as_str().to_owned(),
            trade_status: serde_json::to_value(snap.status)?.as_str().unwrap_or_default().to_owned(),
            modified: snap.modified,
            revision,
            trade_created: snap.created,
            paid_at: snap.pay_time,
            buyer_nick: snap.buyer_nick.clone(),
            currency: snap.currency.clone(),
            payment: snap.payment.0,
            snapshot: serde_json::to_string(snap)?,
            created_at: existing.map_or(now, |w| w.order.created_at),
            updated_at: now,
            hold_ttl_seconds: ev.hold_ttl_seconds,
        };
        let changed = outgoing::order_changed(&row, status, snap, &lines);
        let detail = match existing {
            None => format!("Received from {} shop {} ({}): {}", ev.marketplace, ev.shop_id, ev.topic, status.as_str()),
            Some(w) if w.order.status != status.as_str() => {
                format!("{} → {} ({})", w.order.status, status.as_str(), ev.topic)
            }
            Some(_) => format!("Updated by {}", ev.topic),
        };
        self.timeline.push(timeline(t, order_id, now, if existing.is_some() { "status" } else { "created" }, detail));
        self.outbox.push(Envelope::new(TenantId(t), &changed, now, Some(env)));
        let stored = existing.is_some_and(|w| w.stored);
        self.by_trade.insert((t, ev.channel_id, snap.external_id.clone()), order_id);
        self.by_id.insert(order_id, Working { order: row, lines, stored, dirty: true });
        Ok(())
    }

    fn reservation(&mut self, env: &Envelope, ev: &ReservationChanged, now: kernel::Timestamp) {
        let t = env.tenant_id.0;
        // An API reservation (no order), or one for an order this tenant does not have:
        // nothing of an order to update, but the message is handled.
        let Some(w) = ev.order_id.and_then(|id| self.by_id.get_mut(&id)).filter(|w| w.order.tenant_id == t) else {
            return;
        };
        let order_id = w.order.id;
        let mut notes = Vec::new();
        for line in &mut w.lines {
            let Some(r) = ev.lines.iter().find(|r| r.line_ref == line.external_line_id) else { continue };
            if ev.version <= line.reservation_version {
                continue;
            }
            let new = r.state.as_str().to_owned();
            if line.reservation_state.as_deref() != Some(new.as_str()) {
                notes.push(format!(
                    "{} {} ×{}: {} → {}",
                    line.external_line_id,
                    line.sku_code,
                    line.quantity,
                    line.reservation_state.as_deref().unwrap_or("none"),
                    new
                ));
            }
            line.reservation_state = Some(new);
            line.reservation_version = ev.version;
            w.dirty = true;
        }
        let current = OrderStatus::parse(&w.order.status).unwrap_or(OrderStatus::Paid);
        let status = refine(current, &w.lines.iter().map(|l| res_state(&l.reservation_state)).collect::<Vec<_>>());
        for n in notes {
            self.timeline.push(timeline(t, order_id, now, "stock", n));
        }
        if status != current {
            w.order.status = status.as_str().to_owned();
            w.order.updated_at = now;
            w.dirty = true;
            self.timeline.push(timeline(
                t,
                order_id,
                now,
                "status",
                format!("{} → {} (stock)", current.as_str(), status.as_str()),
            ));
        }
    }

    /// Writes every changed order with its lines, the timeline and the outbox.
    async fn save(self, tx: &sea_orm::DatabaseTransaction) -> Result<(), DbErr> {
        use orders::Column as O;
        let dirty: Vec<Working> = self.by_id.into_values().filter(|w| w.dirty).collect();
        if !dirty.is_empty() {
            if dirty.iter().any(|w| w.stored) {
                let cond = lines_of_orders(dirty.iter().filter(|w| w.stored).map(|w| (w.order.tenant_id, w.order.id)));
                order_lines::Entity::delete_many().filter(cond).exec(tx).await?;
            }
            let lines: Vec<order_lines::ActiveModel> =
                dirty.iter().flat_map(|w| w.lines.iter().cloned().map(order_lines::ActiveModel::from)).collect();
            // The upsert's conflict target is the primary key; a new order cannot clash on
            // (tenant, channel, external id) because the batch read that key first, under the
            // write lock (SQLite) or the trade's advisory lock (PostgreSQL).
            let upsert = sea_orm::sea_query::OnConflict::columns([O::TenantId, O::Id])
                .update_columns([
                    O::Status,
                    O::TradeStatus,
                    O::Modified,
                    O::Revision,
                    O::TradeCreated,
                    O::PaidAt,
                    O::BuyerNick,
                    O::Currency,
                    O::Payment,
                    O::Snapshot,
                    O::UpdatedAt,
                    O::HoldTtlSeconds,
                ])
                .to_owned();
            orders::Entity::insert_many(dirty.into_iter().map(|w| orders::ActiveModel::from(w.order)))
                .on_conflict(upsert)
                .exec_without_returning(tx)
                .await?;
            if !lines.is_empty() {
                order_lines::Entity::insert_many(lines).exec_without_returning(tx).await?;
            }
        }
        if !self.timeline.is_empty() {
            order_timeline::Entity::insert_many(self.timeline).exec_without_returning(tx).await?;
        }
        bus::outbox::enqueue(tx, &self.outbox).await
    }
}
