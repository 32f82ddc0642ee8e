//! The use cases the orders API runs: reading orders and shipping lines of one. Rules from
//! [`crate::domain`], reads and writes through [`crate::db`], the time from the clock.

use crate::{
    db::{self, OrderFilter, OrderPage, Paging},
    domain::{
        Order, TimelineEntry,
        events::order_changed,
        shipment::{self, Decision, ShipError, ShipRequest, Shipment},
        stats,
    },
};
use chrono::SubsecRound;
use kernel::{Envelope, OrderStatus, SharedClock, TenantId, Timestamp};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a shipment was not recorded. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum ShipFailure {
    /// No such order for this tenant (another tenant's order looks the same).
    #[error("order not found")]
    NotFound,
    /// The rules refused it.
    #[error(transparent)]
    Refused(#[from] ShipError),
    /// Anything else (the database, a corrupt row).
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ShipFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        ShipFailure::Unknown(e.into())
    }
}

/// A recorded shipment and the order's status after it.
#[derive(Debug, Clone)]
pub struct Shipped {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub shipment: Shipment,
    /// False when the request repeated a recorded shipment (nothing changed).
    pub created: bool,
}

/// Orders per status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCounts {
    pub total: i64,
    /// Every status, by its wire name.
    pub by_status: BTreeMap<String, i64>,
}

/// What the dashboard's overview charts.
#[derive(Debug, Clone)]
pub struct Stats {
    pub since: Timestamp,
    pub counts: StatusCounts,
    /// (bucket start in Unix seconds, orders created in it), oldest first.
    pub buckets: Vec<(i64, i64)>,
}

/// Why there are no stats.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Window(#[from] stats::WindowError),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// An order with its timeline and the shipments recorded for it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    pub order: Order,
    /// Oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Oldest first.
    pub shipments: Vec<Shipment>,
}

/// The orders use cases, over orders' database and a clock.
#[derive(Clone)]
pub struct Orders {
    db: store::Db,
    clock: SharedClock,
}

impl Orders {
    /// The use cases over `db`, telling the time by `clock`.
    pub fn new(db: store::Db, clock: SharedClock) -> Self {
        Orders { db, clock }
    }

    /// The tenant's orders `f` selects, newest first, a page at a time.
    pub async fn list(&self, tenant: TenantId, f: &OrderFilter, paging: Paging) -> anyhow::Result<OrderPage> {
        Ok(db::list_orders(self.db.conn(), tenant, f, paging).await?)
    }

    /// How many of the tenant's orders `f` selects are in each status (every status, 0 for
    /// none), and in all.
    pub async fn counts(&self, tenant: TenantId, f: &OrderFilter) -> anyhow::Result<StatusCounts> {
        let rows = db::count_by_status(self.db.conn(), tenant, f).await?;
        let by_status: BTreeMap<String, i64> = OrderStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), rows.iter().find(|(r, _)| r == s.as_str()).map_or(0, |(_, n)| *n)))
            .collect();
        Ok(StatusCounts { total: rows.iter().map(|(_, n)| n).sum(), by_status })
    }

    /// The tenant's orders created since `since`: by status, and per `bucket_seconds` up to
    /// now (quiet buckets as 0).
    pub async fn stats(&self, tenant: TenantId, since: Timestamp, bucket_seconds: i64) -> Result<Stats, StatsError> {
        let now = self.clock.now();
        stats::check_window(since, now, bucket_seconds)?;
        let f = OrderFilter { created_from: Some(since), ..OrderFilter::default() };
        let counts = self.counts(tenant, &f).await?;
        let counted =
            db::created_per_bucket(self.db.conn(), tenant, since, bucket_seconds).await.map_err(anyhow::Error::from)?;
        Ok(Stats { since, counts, buckets: stats::dense(since, now, bucket_seconds, &counted) })
    }

    /// The tenant's order `id` with its timeline and shipments; `None` when the tenant has no
    /// such order.
    pub async fn get(&self, tenant: TenantId, id: Uuid) -> anyhow::Result<Option<OrderDetail>> {
        let conn = self.db.conn();
        let Some(order) = db::find_order(conn, tenant, id).await? else { return Ok(None) };
        let timeline = db::timeline(conn, tenant, order.id).await?;
        let shipments = db::shipments(conn, tenant, order.id).await?;
        Ok(Some(OrderDetail { order, timeline, shipments }))
    }

    /// Records that the seller shipped lines of an order under a waybill, in one transaction:
    /// the shipment, the lines' waybill, the order's status and revision, a timeline entry, and
    /// `order.changed` + `order.shipped` in the outbox. The same request again changes nothing.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, order_id = %order_id, waybill_no = %req.waybill_no))]
    pub async fn ship(&self, tenant: TenantId, order_id: Uuid, req: ShipRequest) -> Result<Shipped, ShipFailure> {
        shipment::validate(&req)?;
        // What PostgreSQL keeps, so that a repeated request answers exactly what the first did.
        let now = self.clock.now().trunc_subsecs(6);
        let tx = self.db.write().await?;
        let stored =
            db::find_for_update(&*tx, self.db.is_postgres(), tenant, order_id).await?.ok_or(ShipFailure::NotFound)?;
        let recorded = db::find_shipment(&*tx, tenant, order_id, &req.waybill_no).await?;
        let current = stored.order.status;
        let rec = recorded.as_ref().map(Shipment::recorded);
        let facts = stored.order.line_facts();
        let (lines, status, whole_order) = match shipment::decide(current, &facts, rec.as_ref(), &req)? {
            Decision::Replay => {
                // Nothing was written; ending the transaction releases the order's row lock.
                tx.commit().await?;
                let shipment = recorded.expect("a replay has a recorded shipment");
                return Ok(Shipped { order_id, status: current, shipment, created: false });
            }
            Decision::Ship { lines, status, whole_order } => (lines, status, whole_order),
        };
        let trade = stored.trade()?;
        let mut order = stored.order;
        let made = shipment::record(&mut order, &req, lines, status, whole_order, now);
        db::insert_shipment(&*tx, tenant, order_id, &made.shipment).await?;
        db::mark_lines_shipped(&*tx, tenant, order_id, &made.shipment.line_ids, &req.waybill_no).await?;
        db::save_shipped_status(&*tx, &order).await?;
        db::insert_timeline(&*tx, tenant, order_id, made.timeline).await?;
        let changed = order_changed(&order, &trade);
        bus::outbox::enqueue(
            &*tx,
            &[Envelope::new(tenant, &changed, now, None), Envelope::new(tenant, &made.shipped, now, None)],
        )
        .await?;
        tx.commit().await?;
        Ok(Shipped { order_id, status, shipment: made.shipment, created: true })
    }
}
