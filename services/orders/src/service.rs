//! Use cases the orders API runs: shipping lines of an order.

use crate::{
    consumer::{find_order, timeline},
    db::{order_lines, order_shipments, order_timeline, orders},
    domain::shipment::{self, Decision, LineFacts, Recorded, ShipError, ShipRequest},
    outgoing,
};
use chrono::SubsecRound;
use kernel::{Envelope, OrderStatus, TenantId, Timestamp, events::OrderShipped, trade::TradeSnapshot};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use uuid::Uuid;

/// Why a shipment was not recorded. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum ShipFailure {
    /// No such order for this tenant (another tenant's order looks the same).
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] ShipError),
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
    pub shipment: order_shipments::Model,
    /// False when the request repeated a recorded shipment (nothing changed).
    pub created: bool,
}

/// Records that the seller shipped lines of an order under a waybill, in one transaction:
/// the shipment, the lines' waybill, the order's status and revision, a timeline entry, and
/// `order.changed` + `order.shipped` in the outbox. The same request again changes nothing.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, order_id = %order_id, waybill_no = %req.waybill_no))]
pub async fn ship(
    db: &store::Db,
    tenant: TenantId,
    order_id: Uuid,
    req: ShipRequest,
    now: Timestamp,
) -> Result<Shipped, ShipFailure> {
    shipment::validate(&req)?;
    // What PostgreSQL keeps, so that a repeated request answers exactly what the first did.
    let now = now.trunc_subsecs(6);
    let t = tenant.0;
    let tx = db.write().await?;
    let order = find_order(&*tx, db.is_postgres(), t, sea_orm::Condition::all().add(orders::Column::Id.eq(order_id)))
        .await?
        .ok_or(ShipFailure::NotFound)?;
    let mut lines = order_lines::Entity::find()
        .filter(order_lines::Column::TenantId.eq(t))
        .filter(order_lines::Column::OrderId.eq(order_id))
        .order_by_asc(order_lines::Column::LineNo)
        .all(&*tx)
        .await?;
    let recorded = order_shipments::Entity::find_by_id((t, order_id, req.waybill_no.clone())).one(&*tx).await?;
    let recorded_lines = recorded.as_ref().map(order_shipments::Model::lines).transpose()?;
    let facts: Vec<LineFacts> = lines
        .iter()
        .map(|l| LineFacts {
            external_line_id: l.external_line_id.clone(),
            refunded: outgoing::refunded(l),
            shipped_waybill: l.shipped_waybill.clone(),
        })
        .collect();
    let current = OrderStatus::parse(&order.status)
        .ok_or_else(|| anyhow::anyhow!("order {order_id} has an unknown status `{}`", order.status))?;
    let rec = recorded
        .as_ref()
        .zip(recorded_lines)
        .map(|(r, line_ids)| Recorded { company_code: r.company_code.clone(), line_ids });
    let (ship_lines, status, whole_order) = match shipment::decide(current, &facts, rec.as_ref(), &req)? {
        Decision::Replay => {
            // Nothing was written; ending the transaction releases the order's row lock.
            tx.commit().await?;
            let shipment = recorded.expect("a replay has a recorded shipment");
            return Ok(Shipped { order_id, status: current, shipment, created: false });
        }
        Decision::Ship { lines, status, whole_order } => (lines, status, whole_order),
    };

    // `revision` is the marketplace's `modified` in µs, and every consumer applies an
    // `order.changed` only when its revision is newer than the one it has. This change is ours,
    // not the marketplace's, so it takes the first revision strictly newer than both the last
    // snapshot and the present: max(revision + 1, now). The price: a marketplace snapshot
    // whose `modified` is older than this shipment, arriving late (a delayed webhook, a
    // reconciliation pull), is from then on stale and ignored whole, including anything new in
    // it (say a refund the buyer got just before the seller shipped). That news is applied
    // with the trade's next, newer snapshot (the marketplace modifies the trade again when the
    // shipment is written back), which carries the whole trade. Clock skew between the
    // marketplace and us widens that window by the skew.
    let revision = (order.revision + 1).max(now.timestamp_micros());
    let shipment = order_shipments::Model {
        tenant_id: t,
        order_id,
        waybill_no: req.waybill_no.clone(),
        company_code: req.company_code.clone(),
        line_ids: serde_json::to_string(&ship_lines).map_err(anyhow::Error::from)?,
        created_at: now,
    };
    order_shipments::Entity::insert(order_shipments::ActiveModel::from(shipment.clone()))
        .exec_without_returning(&*tx)
        .await?;
    order_lines::Entity::update_many()
        .col_expr(order_lines::Column::ShippedWaybill, Expr::value(req.waybill_no.clone()))
        .filter(order_lines::Column::TenantId.eq(t))
        .filter(order_lines::Column::OrderId.eq(order_id))
        .filter(order_lines::Column::ExternalLineId.is_in(ship_lines.clone()))
        .exec(&*tx)
        .await?;
    for l in lines.iter_mut().filter(|l| ship_lines.contains(&l.external_line_id)) {
        l.shipped_waybill = Some(req.waybill_no.clone());
    }
    orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value(status.as_str()))
        .col_expr(orders::Column::Revision, Expr::value(revision))
        .col_expr(orders::Column::UpdatedAt, Expr::value(now))
        .filter(orders::Column::TenantId.eq(t))
        .filter(orders::Column::Id.eq(order_id))
        .exec(&*tx)
        .await?;
    let described: Vec<String> = lines
        .iter()
        .filter(|l| ship_lines.contains(&l.external_line_id))
        .map(|l| format!("{} {} ×{}", l.external_line_id, l.sku_code, l.quantity))
        .collect();
    let detail = format!(
        "Shipped {} with {} {}: {} → {}",
        described.join(", "),
        req.company_code,
        req.waybill_no,
        current.as_str(),
        status.as_str()
    );
    order_timeline::Entity::insert(timeline(t, order_id, now, "shipment", detail)).exec_without_returning(&*tx).await?;

    let snap: TradeSnapshot =
        serde_json::from_str(&order.snapshot).map_err(|e| anyhow::anyhow!("order {order_id} snapshot: {e}"))?;
    let updated = orders::Model { status: status.as_str().to_owned(), revision, updated_at: now, ..order };
    let changed = outgoing::order_changed(&updated, status, &snap, &lines);
    let shipped = OrderShipped {
        order_id,
        channel_id: updated.channel_id,
        external_id: updated.external_id.clone(),
        company_code: req.company_code.clone(),
        waybill_no: req.waybill_no.clone(),
        external_line_ids: (!whole_order).then(|| ship_lines.clone()),
        shipped_at: now,
    };
    bus::outbox::enqueue(
        &*tx,
        &[Envelope::new(tenant, &changed, now, None), Envelope::new(tenant, &shipped, now, None)],
    )
    .await?;
    tx.commit().await?;
    Ok(Shipped { order_id, status, shipment, created: true })
}

/// The shipments recorded for an order, oldest first.
pub async fn shipments<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    order_id: Uuid,
) -> Result<Vec<order_shipments::Model>, sea_orm::DbErr> {
    order_shipments::Entity::find()
        .filter(order_shipments::Column::TenantId.eq(tenant))
        .filter(order_shipments::Column::OrderId.eq(order_id))
        .order_by_asc(order_shipments::Column::CreatedAt)
        .order_by_asc(order_shipments::Column::WaybillNo)
        .all(conn)
        .await
}
