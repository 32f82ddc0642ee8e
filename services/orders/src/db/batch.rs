//! The consumer's unit of work: the orders a batch of events touches, read at once (with their
//! locks) and written back at once, one statement per table.

use super::{
    convert,
    entities::{order_lines, order_timeline, orders},
};
use crate::domain::{Order, TimelineEntry};
use kernel::{Envelope, TenantId, trade::TradeSnapshot};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The orders a batch names: by trade (tenant, channel, external id) and by id (tenant, id).
#[derive(Debug, Default)]
pub struct BatchKeys {
    trades: Vec<(Uuid, Uuid, String)>,
    ids: Vec<(Uuid, Uuid)>,
}

impl BatchKeys {
    /// The order made from the tenant's trade `external_id` on `channel`, if there is one.
    pub fn trade(&mut self, tenant: TenantId, channel: Uuid, external_id: &str) {
        self.trades.push((tenant.0, channel, external_id.to_owned()));
    }

    /// The tenant's order `id`, if there is one.
    pub fn order(&mut self, tenant: TenantId, id: Uuid) {
        self.ids.push((tenant.0, id));
    }
}

/// One order as the batch sees it.
struct Working {
    order: Order,
    /// The JSON of the snapshot the order was last built from, written back as it is.
    snapshot: String,
    /// Stored before the batch started (else it is inserted).
    stored: bool,
    /// Changed by the batch: written back at the end.
    dirty: bool,
}

/// The orders a batch touches, loaded at once and written back at once, with the timeline
/// rows and outbox messages the batch adds.
pub struct OrderBatch {
    by_id: HashMap<Uuid, Working>,
    /// (tenant, channel, external id) → order id.
    by_trade: HashMap<(Uuid, Uuid, String), Uuid>,
    timeline: Vec<order_timeline::ActiveModel>,
    outbox: Vec<Envelope>,
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

impl OrderBatch {
    /// Reads (and on PostgreSQL locks) the orders `keys` name, with their lines: at most two
    /// reads of orders and one of lines, whatever the batch's size.
    pub async fn load(tx: &sea_orm::DatabaseTransaction, db: &store::Db, keys: BatchKeys) -> Result<OrderBatch, DbErr> {
        let pg = db.is_postgres();
        let BatchKeys { mut trades, ids } = keys;
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
            let wanted: HashSet<(Uuid, Uuid, &str)> = trades.iter().map(|(t, c, e)| (*t, *c, e.as_str())).collect();
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
            let wanted: HashSet<(Uuid, Uuid)> = ids.iter().copied().collect();
            let have: HashSet<Uuid> = found.iter().map(|o| o.id).collect();
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
            OrderBatch { by_id: HashMap::new(), by_trade: HashMap::new(), timeline: Vec::new(), outbox: Vec::new() };
        for o in found {
            let lines = lines_of.remove(&o.id).unwrap_or_default();
            let (order, snapshot) = convert::order(o, lines)?;
            batch.by_trade.insert((order.tenant_id.0, order.channel_id, order.external_id.clone()), order.id);
            batch.by_id.insert(order.id, Working { order, snapshot, stored: true, dirty: false });
        }
        Ok(batch)
    }

    /// The order made from the tenant's trade `external_id` on `channel`, as the batch has it
    /// now (stored, or made by an earlier event of the batch).
    pub fn trade_order(&self, tenant: TenantId, channel: Uuid, external_id: &str) -> Option<&Order> {
        self.by_trade
            .get(&(tenant.0, channel, external_id.to_owned()))
            .and_then(|id| self.by_id.get(id))
            .map(|w| &w.order)
    }

    /// The tenant's order `id`, when the batch has it; call [`OrderBatch::changed`] after
    /// changing it, or the change is not saved.
    pub fn order_mut(&mut self, tenant: TenantId, id: Uuid) -> Option<&mut Order> {
        // An event naming another tenant's order finds nothing, as if it did not exist.
        self.by_id.get_mut(&id).map(|w| &mut w.order).filter(|o| o.tenant_id == tenant)
    }

    /// `order.changed` for the batch's order `id` as it is now, from the snapshot it keeps.
    pub fn changed_event(&self, tenant: TenantId, id: Uuid) -> Result<kernel::events::OrderChanged, DbErr> {
        let w = self
            .by_id
            .get(&id)
            .filter(|w| w.order.tenant_id == tenant)
            .ok_or_else(|| DbErr::RecordNotFound(id.to_string()))?;
        let trade: TradeSnapshot =
            serde_json::from_str(&w.snapshot).map_err(|e| DbErr::Custom(format!("order {id} snapshot: {e}")))?;
        Ok(crate::domain::events::order_changed(&w.order, &trade))
    }

    /// Marks order `id` to be written back.
    pub fn changed(&mut self, id: Uuid) {
        if let Some(w) = self.by_id.get_mut(&id) {
            w.dirty = true;
        }
    }

    /// Puts `order`, just built from the snapshot `trade`, in place of the batch's version of
    /// it (or adds it, when new), to be written back.
    pub fn put(&mut self, order: Order, trade: &TradeSnapshot) -> Result<(), serde_json::Error> {
        let snapshot = serde_json::to_string(trade)?;
        let stored = self.by_id.get(&order.id).is_some_and(|w| w.stored);
        self.by_trade.insert((order.tenant_id.0, order.channel_id, order.external_id.clone()), order.id);
        self.by_id.insert(order.id, Working { order, snapshot, stored, dirty: true });
        Ok(())
    }

    /// Adds `entries` to the timeline of the tenant's order `order_id`.
    pub fn timeline(&mut self, tenant: TenantId, order_id: Uuid, entries: impl IntoIterator<Item = TimelineEntry>) {
        self.timeline.extend(entries.into_iter().map(|e| convert::timeline_row(tenant.0, order_id, e)));
    }

    /// Adds `env` to the outbox.
    pub fn emit(&mut self, env: Envelope) {
        self.outbox.push(env);
    }

    /// Writes every changed order with its lines, the timeline and the outbox.
    pub async fn save(self, tx: &sea_orm::DatabaseTransaction) -> Result<(), DbErr> {
        use orders::Column as O;
        let dirty: Vec<Working> = self.by_id.into_values().filter(|w| w.dirty).collect();
        if !dirty.is_empty() {
            if dirty.iter().any(|w| w.stored) {
                let cond =
                    lines_of_orders(dirty.iter().filter(|w| w.stored).map(|w| (w.order.tenant_id.0, w.order.id)));
                order_lines::Entity::delete_many().filter(cond).exec(tx).await?;
            }
            let lines: Vec<order_lines::ActiveModel> =
                dirty.iter().flat_map(|w| convert::line_rows(&w.order).map(order_lines::ActiveModel::from)).collect();
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
                    O::Holds,
                    O::Waivers,
                    O::BuyerMemo,
                    O::SellerMemo,
                    O::SellerFlag,
                    O::Receiver,
                    O::PaidReceiver,
                    O::Ready,
                ])
                .to_owned();
            orders::Entity::insert_many(
                dirty.into_iter().map(|w| orders::ActiveModel::from(convert::order_row(&w.order, w.snapshot))),
            )
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
