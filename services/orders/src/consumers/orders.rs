//! The `orders` consumer: trade snapshots → orders; reservation changes → line states and
//! allocated/backordered. The rules are in [`crate::domain`], the reads and writes in
//! [`crate::db::OrderBatch`]; this is the plumbing between them and the bus.

use crate::{
    db::{BatchKeys, OrderBatch},
    domain,
};
use kernel::{
    Envelope, Event, SharedClock,
    events::{ReservationChanged, TradeReceived},
};

/// The consumer name (queue, inbox scope).
pub const CONSUMER: &str = "orders";
/// The topics it binds.
pub const TOPICS: &[&str] = &[TradeReceived::TYPE, ReservationChanged::TYPE];

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
            }
        }
        let mut batch = OrderBatch::load(tx, &self.db, keys).await?;
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
                    batch.timeline(tenant, applied.order.id, [applied.timeline]);
                    batch.emit(Envelope::new(tenant, &applied.changed, now, Some(env)));
                    batch.put(applied.order, &ev.trade)?;
                }
                Incoming::Reservation(ev) => {
                    // An API reservation (no order), or one for an order this tenant does not
                    // have: nothing of an order to update, but the message is handled.
                    let Some(order) = ev.order_id.and_then(|id| batch.order_mut(tenant, id)) else { continue };
                    let order_id = order.id;
                    let out = domain::apply_reservation(order, ev, now);
                    if out.changed {
                        batch.changed(order_id);
                    }
                    batch.timeline(tenant, order_id, out.timeline);
                }
            }
        }
        batch.save(tx).await?;
        Ok(())
    }
}
