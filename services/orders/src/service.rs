//! The use cases the orders API runs: reading orders and shipping lines of one. Rules from
//! [`crate::domain`], reads and writes through [`crate::db`], the time from the clock.

use crate::{
    db::{self, OrderFilter, OrderPage, Paging},
    domain::{
        Order, TimelineEntry, TimelineKind,
        events::order_changed,
        holds::{self, AuditRules, Hold, Waiver},
        shipment::{self, Decision, ShipError, ShipRequest, Shipment},
        stats,
    },
};
use chrono::SubsecRound;
use kernel::events::HoldReason;
use kernel::{Envelope, OrderStatus, SharedClock, TenantId, Timestamp};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a hold or release was refused. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum HoldFailure {
    /// No such order for this tenant (another tenant's order looks the same).
    #[error("order not found")]
    NotFound,
    /// The order is past holding (shipped, completed or cancelled).
    #[error("the order is {0}: there is nothing to hold")]
    Final(&'static str),
    /// Only holds that clear with their cause are left.
    #[error("the order's holds ({0}) clear only when their cause does: map the item, settle the refund")]
    NotReleasable(String),
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for HoldFailure {
    fn from(e: sea_orm::DbErr) -> Self {
        HoldFailure::Unknown(e.into())
    }
}

/// What a hold or release did.
#[derive(Debug, Clone)]
pub struct HoldOutcome {
    pub status: OrderStatus,
    pub holds: Vec<Hold>,
    /// False when the request changed nothing (a repeat).
    pub changed: bool,
}

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
        Ok(db::list_orders(self.db.tenant(tenant.0).conn(), tenant, f, paging).await?)
    }

    /// How many of the tenant's orders `f` selects are in each status (every status, 0 for
    /// none), and in all.
    pub async fn counts(&self, tenant: TenantId, f: &OrderFilter) -> anyhow::Result<StatusCounts> {
        let rows = db::count_by_status(self.db.tenant(tenant.0).conn(), tenant, f).await?;
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
        let counted = db::created_per_bucket(self.db.tenant(tenant.0).conn(), tenant, since, bucket_seconds)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(Stats { since, counts, buckets: stats::dense(since, now, bucket_seconds, &counted) })
    }

    /// The tenant's audit rules.
    pub async fn audit_rules(&self, tenant: TenantId) -> anyhow::Result<AuditRules> {
        Ok(db::audit_rules(self.db.tenant(tenant.0).conn(), tenant).await?)
    }

    /// Replaces the tenant's audit rules; the orders still to ship are audited again under
    /// them (a memo rule switched on holds the open orders with memos, switched off releases
    /// them). The same rules again change nothing.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn set_audit_rules(&self, tenant: TenantId, rules: AuditRules) -> anyhow::Result<AuditRules> {
        if db::audit_rules(self.db.tenant(tenant.0).conn(), tenant).await? == rules {
            return Ok(rules);
        }
        let now = self.clock.now();
        {
            let tx = self.db.tenant(tenant.0).write().await?;
            db::save_audit_rules(&*tx, tenant, &rules, now).await?;
            tx.commit().await?;
        }
        let f = |status| OrderFilter { status: Some(status), ..OrderFilter::default() };
        let mut ids = Vec::new();
        for status in [
            OrderStatus::Paid,
            OrderStatus::Allocated,
            OrderStatus::Backordered,
            OrderStatus::OnHold,
            OrderStatus::PartiallyShipped,
        ] {
            let mut after = None;
            loop {
                let page = db::list_orders(
                    self.db.tenant(tenant.0).conn(),
                    tenant,
                    &f(status),
                    Paging::After { after, limit: 500 },
                )
                .await?;
                ids.extend(page.items.iter().map(|o| o.id));
                match page.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
        }
        for chunk in ids.chunks(200) {
            let tx = self.db.tenant(tenant.0).write().await?;
            let mut keys = db::BatchKeys::default();
            for id in chunk {
                keys.order(tenant, *id);
            }
            let mut batch = db::OrderBatch::load(&tx, &self.db, keys).await?;
            for id in chunk {
                let Some(order) = batch.order_mut(tenant, *id) else { continue };
                let settled = holds::settle(order, &rules, now);
                if !settled.changed {
                    continue;
                }
                batch.changed(*id);
                batch.timeline(tenant, *id, settled.timeline.clone());
                if let Some(h) = &settled.hold_changed {
                    batch.emit(Envelope::new(tenant, h, now, None));
                }
                for r in &settled.ready {
                    batch.emit(Envelope::new(tenant, r, now, None));
                }
            }
            batch.save(&tx).await?;
            tx.commit().await?;
        }
        Ok(rules)
    }

    /// Holds the order by hand (`by` is who); a manual hold already there is kept as it is.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, order_id = %id))]
    pub async fn hold(&self, tenant: TenantId, id: Uuid, by: &str, note: &str) -> Result<HoldOutcome, HoldFailure> {
        self.change_holds(tenant, id, |order, now| {
            if let Some(why) = final_status(order.derived_status()) {
                return Err(HoldFailure::Final(why));
            }
            if order.holds.iter().any(|h| h.reason == HoldReason::Manual) {
                return Ok(None);
            }
            let detail = if note.trim().is_empty() { format!("held by {by}") } else { note.trim().to_owned() };
            order.holds.push(Hold {
                reason: HoldReason::Manual,
                detail,
                since: now,
                by: Some(by.to_owned()),
                fingerprint: String::new(),
            });
            order.holds.sort_by_key(|h| h.reason);
            let text = if note.trim().is_empty() { String::new() } else { format!(": {}", note.trim()) };
            Ok(Some(TimelineEntry { at: now, kind: TimelineKind::Hold, detail: format!("Held by {by}{text}") }))
        })
        .await
    }

    /// Releases the holds a person may release (manual; an address change, accepting the new
    /// address; a memo or amount rule, accepting what it saw). Holds that clear only with their
    /// cause stay, and a release with only those left is refused. Nothing to release is no
    /// change.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant, order_id = %id))]
    pub async fn release(&self, tenant: TenantId, id: Uuid, by: &str, note: &str) -> Result<HoldOutcome, HoldFailure> {
        self.change_holds(tenant, id, |order, now| {
            let (released, kept): (Vec<Hold>, Vec<Hold>) =
                order.holds.drain(..).partition(|h| holds::releasable(h.reason));
            order.holds = kept;
            if released.is_empty() {
                if order.holds.is_empty() {
                    return Ok(None);
                }
                let left = order.holds.iter().map(|h| h.reason.as_str()).collect::<Vec<_>>().join(", ");
                return Err(HoldFailure::NotReleasable(left));
            }
            for h in &released {
                match h.reason {
                    HoldReason::Manual => {}
                    // The new address is the one to ship to now.
                    HoldReason::AddressChanged => order.audit.paid_receiver = Some(h.fingerprint.clone()),
                    reason => {
                        order.waivers.retain(|w| w.reason != reason);
                        order.waivers.push(Waiver { reason, fingerprint: h.fingerprint.clone() });
                    }
                }
            }
            let reasons = released.iter().map(|h| h.reason.as_str()).collect::<Vec<_>>().join(", ");
            let text = if note.trim().is_empty() { String::new() } else { format!(": {}", note.trim()) };
            Ok(Some(TimelineEntry {
                at: now,
                kind: TimelineKind::Hold,
                detail: format!("Released {reasons} by {by}{text}"),
            }))
        })
        .await
    }

    /// One order's holds changed by `change` (which says what to put on the timeline, or
    /// `None` for no change), then settled and saved with its events, in one transaction.
    async fn change_holds(
        &self,
        tenant: TenantId,
        id: Uuid,
        change: impl FnOnce(&mut Order, Timestamp) -> Result<Option<TimelineEntry>, HoldFailure>,
    ) -> Result<HoldOutcome, HoldFailure> {
        let now = self.clock.now();
        let tx = self.db.tenant(tenant.0).write().await?;
        let stored =
            db::find_for_update(&*tx, self.db.is_postgres(), tenant, id).await?.ok_or(HoldFailure::NotFound)?;
        let rules = db::audit_rules(&*tx, tenant).await?;
        let mut order = stored.order;
        let was: Vec<HoldReason> = order.holds.iter().map(|h| h.reason).collect();
        let Some(entry) = change(&mut order, now)? else {
            tx.commit().await?;
            return Ok(HoldOutcome { status: order.status, holds: order.holds, changed: false });
        };
        let mut settled = holds::settle(&mut order, &rules, now);
        if was != order.holds.iter().map(|h| h.reason).collect::<Vec<_>>() {
            settled.hold_changed = Some(holds::hold_changed(&order));
        }
        let mut events: Vec<Envelope> =
            settled.hold_changed.iter().map(|h| Envelope::new(tenant, h, now, None)).collect();
        events.extend(settled.ready.iter().map(|r| Envelope::new(tenant, r, now, None)));
        let mut entries = vec![entry];
        entries.append(&mut settled.timeline);
        db::save_order(&*tx, &order, entries).await?;
        bus::outbox::enqueue(&*tx, &events).await?;
        tx.commit().await?;
        Ok(HoldOutcome { status: order.status, holds: order.holds, changed: true })
    }

    /// The marketplace variants the tenant's open orders wait on for a product mapping.
    pub async fn unmapped_items(&self, tenant: TenantId) -> anyhow::Result<Vec<db::UnmappedItem>> {
        Ok(db::unmapped_items(self.db.tenant(tenant.0).conn(), tenant).await?)
    }

    /// The tenant's order `id` with its timeline and shipments; `None` when the tenant has no
    /// such order.
    pub async fn get(&self, tenant: TenantId, id: Uuid) -> anyhow::Result<Option<OrderDetail>> {
        let db = self.db.tenant(tenant.0);
        let conn = db.conn();
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
        let tx = self.db.tenant(tenant.0).write().await?;
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
        // Shipped lines hold nothing any more (and a wholly shipped order nothing at all).
        let rules = db::audit_rules(&*tx, tenant).await?;
        let settled = holds::settle(&mut order, &rules, now);
        db::insert_shipment(&*tx, tenant, order_id, &made.shipment).await?;
        db::mark_lines_shipped(&*tx, tenant, order_id, &made.shipment.line_ids, &req.waybill_no).await?;
        db::save_shipped_status(&*tx, &order).await?;
        db::insert_timeline(&*tx, tenant, order_id, made.timeline).await?;
        db::save_order(&*tx, &order, settled.timeline).await?;
        let changed = order_changed(&order, &trade);
        let mut events =
            vec![Envelope::new(tenant, &changed, now, None), Envelope::new(tenant, &made.shipped, now, None)];
        events.extend(settled.hold_changed.iter().map(|h| Envelope::new(tenant, h, now, None)));
        bus::outbox::enqueue(&*tx, &events).await?;
        tx.commit().await?;
        Ok(Shipped { order_id, status: order.status, shipment: made.shipment, created: true })
    }
}

/// Why an order in `status` cannot be held, if it cannot.
fn final_status(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Shipped => Some("shipped"),
        OrderStatus::Completed => Some("completed"),
        OrderStatus::Cancelled => Some("cancelled"),
        _ => None,
    }
}
