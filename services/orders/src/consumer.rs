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
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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
    async fn apply(&self, tx: &sea_orm::DatabaseTransaction, env: &Envelope) -> anyhow::Result<()> {
        match env.kind.as_str() {
            TradeReceived::TYPE => self.apply_trade_in(tx, env).await,
            ReservationChanged::TYPE => self.apply_reservation_in(tx, env).await,
            other => anyhow::bail!("orders does not consume {other}"),
        }
    }
}

/// The tenant's order matching `filter`, locked until the transaction ends on PostgreSQL.
pub(crate) async fn find_order<C: ConnectionTrait>(conn: &C, pg: bool, tenant: Uuid, filter: sea_orm::Condition) -> Result<Option<orders::Model>, DbErr> {
    let mut q = orders::Entity::find().filter(orders::Column::TenantId.eq(tenant)).filter(filter);
    if pg {
        // Serialises the snapshot and reservation handlers on one order (SQLite already
        // serialises every write transaction).
        q = q.lock_exclusive();
    }
    q.one(conn).await
}

/// A timeline entry.
pub(crate) fn timeline(tenant: Uuid, order_id: Uuid, at: kernel::Timestamp, kind: &str, detail: String) -> order_timeline::ActiveModel {
    order_timeline::ActiveModel { tenant_id: Set(tenant), order_id: Set(order_id), id: Set(kernel::new_id()), at: Set(at), kind: Set(kind.to_owned()), detail: Set(detail) }
}

fn res_state(s: &Option<String>) -> Option<LineReservationState> {
    s.as_deref().and_then(LineReservationState::parse)
}

impl OrdersHandler {
    #[tracing::instrument(skip_all, fields(tenant_id = %env.tenant_id, message_id = %env.id))]
    async fn apply_trade_in(&self, tx: &sea_orm::DatabaseTransaction, env: &Envelope) -> anyhow::Result<()> {
        let ev: TradeReceived = env.decode()?;
        let t = env.tenant_id.0;
        let snap = &ev.trade;
        let revision = snap.modified.timestamp_micros();
        let now = chrono::Utc::now();
        if !bus::inbox::claim(&*tx, CONSUMER, env).await? {
            return Ok(());
        }
        if self.db.is_postgres() {
            // Two snapshots of a trade not stored yet (say a webhook and a reconciliation pull)
            // would both insert it; the second would fail on the unique key and be retried.
            // A lock on the trade's key makes the second wait and then see the first.
            // FNV-1a: the same key in every instance and build.
            let key = t.as_bytes().iter().chain(ev.channel_id.as_bytes()).chain(snap.external_id.as_bytes()).fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)) as i64;
            tx.execute_raw(store::stmt(&self.db, "select pg_advisory_xact_lock(?)", vec![key.into()])).await?;
        }
        let cond = sea_orm::Condition::all().add(orders::Column::ChannelId.eq(ev.channel_id)).add(orders::Column::ExternalId.eq(snap.external_id.clone()));
        let existing = find_order(&*tx, self.db.is_postgres(), t, cond).await?;
        if existing.as_ref().is_some_and(|o| o.revision >= revision) {
            // Stale or duplicate snapshot: record that we saw the message, change nothing.
            // After a shipment made here the revision is the shipment's time (see
            // `service::ship`), so a snapshot the marketplace produced before it is stale too.
            return Ok(());
        }
        let order_id = existing.as_ref().map_or_else(kernel::new_id, |o| o.id);
        let old_lines = match &existing {
            Some(_) => order_lines::Entity::find().filter(order_lines::Column::TenantId.eq(t)).filter(order_lines::Column::OrderId.eq(order_id)).all(&*tx).await?,
            None => Vec::new(),
        };
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
        let status = refine(status_for_trade(snap.status), &lines.iter().map(|l| res_state(&l.reservation_state)).collect::<Vec<_>>());
        // A snapshot that has not caught up with a shipment made here (the write-back is still
        // on its way) does not take the order back to paid.
        let status = with_shipments(status, &lines.iter().map(|l| (outgoing::refunded(l), l.shipped_waybill.is_some())).collect::<Vec<_>>());
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
            created_at: existing.as_ref().map_or(now, |o| o.created_at),
            updated_at: now,
            hold_ttl_seconds: ev.hold_ttl_seconds,
        };
        let changed = outgoing::order_changed(&row, status, snap, &lines);
        let detail = match &existing {
            None => format!("Received from {} shop {} ({}): {}", ev.marketplace, ev.shop_id, ev.topic, status.as_str()),
            Some(o) if o.status != status.as_str() => format!("{} → {} ({})", o.status, status.as_str(), ev.topic),
            Some(_) => format!("Updated by {}", ev.topic),
        };
        let am = orders::ActiveModel::from(row).reset_all();
        if existing.is_some() {
            orders::Entity::update(am).exec(&*tx).await?;
            order_lines::Entity::delete_many().filter(order_lines::Column::TenantId.eq(t)).filter(order_lines::Column::OrderId.eq(order_id)).exec(&*tx).await?;
        } else {
            orders::Entity::insert(am).exec_without_returning(&*tx).await?;
        }
        order_lines::Entity::insert_many(lines.into_iter().map(order_lines::ActiveModel::from)).exec_without_returning(&*tx).await?;
        order_timeline::Entity::insert(timeline(t, order_id, now, if existing.is_some() { "status" } else { "created" }, detail)).exec_without_returning(&*tx).await?;
        bus::outbox::enqueue(&*tx, &[Envelope::new(TenantId(t), &changed, now, Some(env))]).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %env.tenant_id, message_id = %env.id))]
    async fn apply_reservation_in(&self, tx: &sea_orm::DatabaseTransaction, env: &Envelope) -> anyhow::Result<()> {
        let ev: ReservationChanged = env.decode()?;
        let t = env.tenant_id.0;
        let now = chrono::Utc::now();
        if !bus::inbox::claim(&*tx, CONSUMER, env).await? {
            return Ok(());
        }
        let Some(order_id) = ev.order_id else {
            // An API reservation: nothing of an order to update, but the message is handled.
            return Ok(());
        };
        let Some(order) = find_order(&*tx, self.db.is_postgres(), t, sea_orm::Condition::all().add(orders::Column::Id.eq(order_id))).await? else {
            return Ok(());
        };
        let mut lines = order_lines::Entity::find()
            .filter(order_lines::Column::TenantId.eq(t))
            .filter(order_lines::Column::OrderId.eq(order_id))
            .order_by_asc(order_lines::Column::LineNo)
            .all(&*tx)
            .await?;
        let mut notes = Vec::new();
        for line in &mut lines {
            let Some(r) = ev.lines.iter().find(|r| r.line_ref == line.external_line_id) else { continue };
            if ev.version <= line.reservation_version {
                continue;
            }
            let new = r.state.as_str().to_owned();
            if line.reservation_state.as_deref() != Some(new.as_str()) {
                notes.push(format!("{} {} ×{}: {} → {}", line.external_line_id, line.sku_code, line.quantity, line.reservation_state.as_deref().unwrap_or("none"), new));
            }
            line.reservation_state = Some(new);
            line.reservation_version = ev.version;
            order_lines::Entity::update_many()
                .col_expr(order_lines::Column::ReservationState, sea_orm::sea_query::Expr::value(line.reservation_state.clone()))
                .col_expr(order_lines::Column::ReservationVersion, sea_orm::sea_query::Expr::value(ev.version))
                .filter(order_lines::Column::TenantId.eq(t))
                .filter(order_lines::Column::OrderId.eq(order_id))
                .filter(order_lines::Column::LineNo.eq(line.line_no))
                .exec(&*tx)
                .await?;
        }
        let current = OrderStatus::parse(&order.status).unwrap_or(OrderStatus::Paid);
        let status = refine(current, &lines.iter().map(|l| res_state(&l.reservation_state)).collect::<Vec<_>>());
        for n in notes {
            order_timeline::Entity::insert(timeline(t, order_id, now, "stock", n)).exec_without_returning(&*tx).await?;
        }
        if status != current {
            orders::Entity::update_many()
                .col_expr(orders::Column::Status, sea_orm::sea_query::Expr::value(status.as_str()))
                .col_expr(orders::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
                .filter(orders::Column::TenantId.eq(t))
                .filter(orders::Column::Id.eq(order_id))
                .exec(&*tx)
                .await?;
            order_timeline::Entity::insert(timeline(t, order_id, now, "status", format!("{} → {} (stock)", current.as_str(), status.as_str()))).exec_without_returning(&*tx).await?;
        }
        Ok(())
    }
}
