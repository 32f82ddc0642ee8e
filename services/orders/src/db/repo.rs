//! One order at a time: what the API's use cases read and write.

use super::{
    convert,
    entities::{order_lines, order_shipments, order_timeline, orders},
};
use crate::domain::{Order, TimelineEntry, shipment::Shipment};
use kernel::{OrderStatus, TenantId, trade::TradeSnapshot};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use std::collections::HashMap;
use uuid::Uuid;

/// An order as stored, with the snapshot it was last built from.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub order: Order,
    snapshot: String,
}

impl StoredOrder {
    /// The trade snapshot the order was last built from.
    pub fn trade(&self) -> Result<TradeSnapshot, DbErr> {
        serde_json::from_str(&self.snapshot)
            .map_err(|e| DbErr::Custom(format!("order {} snapshot: {e}", self.order.id)))
    }
}

async fn lines_of<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    order_id: Uuid,
) -> Result<Vec<order_lines::Model>, DbErr> {
    order_lines::Entity::find()
        .filter(order_lines::Column::TenantId.eq(tenant))
        .filter(order_lines::Column::OrderId.eq(order_id))
        .order_by_asc(order_lines::Column::LineNo)
        .all(conn)
        .await
}

/// The tenant's order `id` with its lines, the order locked until the transaction ends on
/// PostgreSQL (`pg`).
pub async fn find_for_update<C: ConnectionTrait>(
    conn: &C,
    pg: bool,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<StoredOrder>, DbErr> {
    let mut q = orders::Entity::find()
        .filter(orders::Column::TenantId.eq(tenant.0))
        .filter(sea_orm::Condition::all().add(orders::Column::Id.eq(id)));
    if pg {
        // Serialises this with the snapshot and reservation handlers on one order (SQLite
        // already serialises every write transaction).
        q = q.lock_exclusive();
    }
    let Some(row) = q.one(conn).await? else { return Ok(None) };
    let lines = lines_of(conn, tenant.0, id).await?;
    let (order, snapshot) = convert::order(row, lines)?;
    Ok(Some(StoredOrder { order, snapshot }))
}

/// The tenant's order `id` with its lines (another tenant's order is not found).
pub async fn find_order<C: ConnectionTrait>(conn: &C, tenant: TenantId, id: Uuid) -> Result<Option<Order>, DbErr> {
    let Some(row) = orders::Entity::find_by_id((tenant.0, id)).one(conn).await? else { return Ok(None) };
    let lines = lines_of(conn, tenant.0, row.id).await?;
    Ok(Some(convert::order(row, lines)?.0))
}

/// A page of orders and how many match in all.
#[derive(Debug, Clone)]
pub struct OrderPage {
    pub items: Vec<Order>,
    pub total: u64,
}

/// The tenant's orders with `status` and `external_id` (each when given), newest first, page
/// `page` (from 1) of `per_page`.
pub async fn list_orders<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    status: Option<OrderStatus>,
    external_id: Option<String>,
    page: u64,
    per_page: u64,
) -> Result<OrderPage, DbErr> {
    let t = tenant.0;
    let mut q = orders::Entity::find().filter(orders::Column::TenantId.eq(t));
    if let Some(s) = status {
        q = q.filter(orders::Column::Status.eq(s.as_str()));
    }
    if let Some(e) = external_id {
        q = q.filter(orders::Column::ExternalId.eq(e));
    }
    let total = q.clone().count(conn).await?;
    let rows = q
        .order_by_desc(orders::Column::TradeCreated)
        .order_by_desc(orders::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(conn)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let mut lines: HashMap<Uuid, Vec<order_lines::Model>> = HashMap::new();
    for l in order_lines::Entity::find()
        .filter(order_lines::Column::TenantId.eq(t))
        .filter(order_lines::Column::OrderId.is_in(ids))
        .order_by_asc(order_lines::Column::LineNo)
        .all(conn)
        .await?
    {
        lines.entry(l.order_id).or_default().push(l);
    }
    let items = rows
        .into_iter()
        .map(|o| {
            let mine = lines.remove(&o.id).unwrap_or_default();
            convert::order(o, mine).map(|(order, _)| order)
        })
        .collect::<Result<_, _>>()?;
    Ok(OrderPage { items, total })
}

/// The timeline of the tenant's order `order_id`, oldest first.
pub async fn timeline<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
) -> Result<Vec<TimelineEntry>, DbErr> {
    order_timeline::Entity::find()
        .filter(order_timeline::Column::TenantId.eq(tenant.0))
        .filter(order_timeline::Column::OrderId.eq(order_id))
        .order_by_asc(order_timeline::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(convert::timeline_entry)
        .collect()
}

/// Adds `entry` to the timeline of the tenant's order `order_id`.
pub async fn insert_timeline<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
    entry: TimelineEntry,
) -> Result<(), DbErr> {
    order_timeline::Entity::insert(convert::timeline_row(tenant.0, order_id, entry))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The shipments recorded for the tenant's order `order_id`, oldest first.
pub async fn shipments<C: ConnectionTrait>(conn: &C, tenant: TenantId, order_id: Uuid) -> Result<Vec<Shipment>, DbErr> {
    order_shipments::Entity::find()
        .filter(order_shipments::Column::TenantId.eq(tenant.0))
        .filter(order_shipments::Column::OrderId.eq(order_id))
        .order_by_asc(order_shipments::Column::CreatedAt)
        .order_by_asc(order_shipments::Column::WaybillNo)
        .all(conn)
        .await?
        .into_iter()
        .map(convert::shipment)
        .collect()
}

/// The shipment recorded for the tenant's order `order_id` under `waybill_no`.
pub async fn find_shipment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
    waybill_no: &str,
) -> Result<Option<Shipment>, DbErr> {
    order_shipments::Entity::find_by_id((tenant.0, order_id, waybill_no.to_owned()))
        .one(conn)
        .await?
        .map(convert::shipment)
        .transpose()
}

/// Records shipment `s` of the tenant's order `order_id`.
pub async fn insert_shipment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
    s: &Shipment,
) -> Result<(), DbErr> {
    let row = convert::shipment_row(tenant.0, order_id, s)?;
    order_shipments::Entity::insert(order_shipments::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// Sets `waybill_no` on the lines `line_ids` of the tenant's order `order_id`.
pub async fn mark_lines_shipped<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
    line_ids: &[String],
    waybill_no: &str,
) -> Result<(), DbErr> {
    order_lines::Entity::update_many()
        .col_expr(order_lines::Column::ShippedWaybill, Expr::value(waybill_no.to_owned()))
        .filter(order_lines::Column::TenantId.eq(tenant.0))
        .filter(order_lines::Column::OrderId.eq(order_id))
        .filter(order_lines::Column::ExternalLineId.is_in(line_ids.to_vec()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Writes what a shipment changes on the order row: its status, revision and update time.
pub async fn save_shipped_status<C: ConnectionTrait>(conn: &C, o: &Order) -> Result<(), DbErr> {
    orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value(o.status.as_str()))
        .col_expr(orders::Column::Revision, Expr::value(o.revision))
        .col_expr(orders::Column::UpdatedAt, Expr::value(o.updated_at))
        .filter(orders::Column::TenantId.eq(o.tenant_id.0))
        .filter(orders::Column::Id.eq(o.id))
        .exec(conn)
        .await?;
    Ok(())
}
