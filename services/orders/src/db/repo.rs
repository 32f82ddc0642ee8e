//! One order at a time: what the API's use cases read and write.

use super::{
    convert,
    entities::{order_audit_rules, order_lines, order_shipments, order_timeline, orders},
};
use crate::domain::{Order, TimelineEntry, holds::AuditRules, shipment::Shipment};
use kernel::{Money, OrderStatus, TenantId, Timestamp, trade::TradeSnapshot};
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
    /// Where the next page starts, when there may be one.
    pub next: Option<Cursor>,
}

/// Which of a tenant's orders a list or a count covers; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    /// The marketplace's trade id.
    pub external_id: Option<String>,
    pub channel_id: Option<Uuid>,
    /// The trade was created at or after.
    pub created_from: Option<Timestamp>,
    /// The trade was created before.
    pub created_to: Option<Timestamp>,
    /// Part of the buyer's nick, any case.
    pub buyer: Option<String>,
    /// A line has this SKU.
    pub sku_code: Option<String>,
    /// The order has a hold of this reason.
    pub hold_reason: Option<kernel::events::HoldReason>,
}

/// A position in the newest-first order of orders: the page after it starts with the next
/// older one. Keyset paging, so page 100 costs what page 1 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub trade_created: Timestamp,
    pub id: Uuid,
}

/// How a list is paged.
#[derive(Debug, Clone, Copy)]
pub enum Paging {
    /// Page `page` (from 1) of `per_page`.
    Offset { page: u64, per_page: u64 },
    /// `limit` orders after `after` (from the newest when `None`).
    After { after: Option<Cursor>, limit: u64 },
}

/// `LIKE` escaping with `\`, for a pattern built from what a person typed.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The tenant's orders `f` selects.
fn filtered(tenant: TenantId, f: &OrderFilter) -> sea_orm::Select<orders::Entity> {
    use sea_orm::sea_query::{ExprTrait as _, Func, LikeExpr, Query};
    let mut q = orders::Entity::find().filter(orders::Column::TenantId.eq(tenant.0));
    if let Some(s) = f.status {
        q = q.filter(orders::Column::Status.eq(s.as_str()));
    }
    if let Some(e) = &f.external_id {
        q = q.filter(orders::Column::ExternalId.eq(e.clone()));
    }
    if let Some(c) = f.channel_id {
        q = q.filter(orders::Column::ChannelId.eq(c));
    }
    if let Some(r) = f.hold_reason {
        // `holds` is the JSON `convert` writes: `[{"reason":"manual",...}]`.
        q = q.filter(orders::Column::Holds.like(format!("%\"reason\":\"{}\"%", r.as_str())));
    }
    if let Some(from) = f.created_from {
        q = q.filter(orders::Column::TradeCreated.gte(from));
    }
    if let Some(to) = f.created_to {
        q = q.filter(orders::Column::TradeCreated.lt(to));
    }
    if let Some(b) = f.buyer.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        let pattern = LikeExpr::new(format!("%{}%", like_escape(&b.to_lowercase()))).escape('\\');
        q = q.filter(Expr::expr(Func::lower(Expr::col(orders::Column::BuyerNick))).like(pattern));
    }
    if let Some(sku) = &f.sku_code {
        let with_sku = Query::select()
            .column(order_lines::Column::OrderId)
            .from(order_lines::Entity)
            .and_where(Expr::col(order_lines::Column::TenantId).eq(tenant.0))
            .and_where(Expr::col(order_lines::Column::SkuCode).eq(sku.clone()))
            .to_owned();
        q = q.filter(orders::Column::Id.in_subquery(with_sku));
    }
    q
}

/// The tenant's orders `f` selects, newest first (by the trade's creation), a page at a time.
pub async fn list_orders<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    f: &OrderFilter,
    paging: Paging,
) -> Result<OrderPage, DbErr> {
    let t = tenant.0;
    let q = filtered(tenant, f);
    let total = q.clone().count(conn).await?;
    let q = q.order_by_desc(orders::Column::TradeCreated).order_by_desc(orders::Column::Id);
    let (q, limit) = match paging {
        Paging::Offset { page, per_page } => (q.offset(store::page_offset(page, per_page)), per_page),
        Paging::After { after, limit } => {
            let q = match after {
                None => q,
                Some(c) => q.filter(
                    sea_orm::Condition::any().add(orders::Column::TradeCreated.lt(c.trade_created)).add(
                        sea_orm::Condition::all()
                            .add(orders::Column::TradeCreated.eq(c.trade_created))
                            .add(orders::Column::Id.lt(c.id)),
                    ),
                ),
            };
            (q, limit)
        }
    };
    let rows = q.limit(limit).all(conn).await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|o| Cursor { trade_created: o.trade_created, id: o.id }))
        .flatten();
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
    Ok(OrderPage { items, total, next })
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

/// Tracking statuses that end a parcel's journey.
const TRACKING_ENDS: [&str; 2] = ["delivered", "returned"];

/// Records what the carrier said of the tenant's order `order_id`'s shipment under
/// `ev.waybill_code`; `false` when the order has no such shipment, or when the event is older
/// news than the end the shipment already reached.
pub async fn track_shipment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    order_id: Uuid,
    ev: &kernel::events::ShipmentTracked,
) -> Result<bool, DbErr> {
    let mut q = order_shipments::Entity::update_many()
        .col_expr(order_shipments::Column::TrackingStatus, Expr::value(ev.status.clone()))
        .filter(order_shipments::Column::TenantId.eq(tenant.0))
        .filter(order_shipments::Column::OrderId.eq(order_id))
        .filter(order_shipments::Column::WaybillNo.eq(ev.waybill_code.clone()));
    if ev.status == "delivered" {
        q = q.col_expr(order_shipments::Column::DeliveredAt, Expr::value(ev.at));
    }
    // Tracking events of one shipment can be handled out of order (on RabbitMQ a consumer
    // handles several messages of a shard at once): an earlier `in_transit` or `exception`
    // must not overwrite a parcel's end (`delivered`, `returned`), whatever order they come in.
    if !TRACKING_ENDS.contains(&ev.status.as_str()) {
        q = q.filter(
            sea_orm::Condition::any()
                .add(order_shipments::Column::TrackingStatus.is_null())
                .add(order_shipments::Column::TrackingStatus.is_not_in(TRACKING_ENDS)),
        );
    }
    Ok(q.exec(conn).await?.rows_affected > 0)
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

/// How many of the tenant's orders `f` selects are in each status (statuses with none are
/// left out).
pub async fn count_by_status<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    f: &OrderFilter,
) -> Result<Vec<(String, i64)>, DbErr> {
    filtered(tenant, f)
        .select_only()
        .column(orders::Column::Status)
        .column_as(orders::Column::Id.count(), "n")
        .group_by(orders::Column::Status)
        .into_tuple()
        .all(conn)
        .await
}

/// The tenant's orders created at or after `since`, counted per `bucket_seconds`: (bucket
/// start in Unix seconds, orders), buckets without orders left out.
pub async fn created_per_bucket<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    since: Timestamp,
    bucket_seconds: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let epoch = match conn.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "floor(extract(epoch from trade_created))",
        _ => "strftime('%s', trade_created)",
    };
    let bucket = Expr::cust(format!("cast({epoch} as bigint) / {bucket_seconds} * {bucket_seconds}"));
    let f = OrderFilter { created_from: Some(since), ..OrderFilter::default() };
    filtered(tenant, &f)
        .select_only()
        .column_as(bucket.clone(), "bucket")
        .column_as(orders::Column::Id.count(), "n")
        .group_by(bucket)
        .into_tuple()
        .all(conn)
        .await
}

/// The tenant's audit rules (the defaults without a row).
pub async fn audit_rules<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<AuditRules, DbErr> {
    Ok(audit_rules_of(conn, &[tenant]).await?.remove(&tenant).unwrap_or_default())
}

/// The audit rules of each of `tenants` (those without a row have the defaults), in one read.
pub async fn audit_rules_of<C: ConnectionTrait>(
    conn: &C,
    tenants: &[TenantId],
) -> Result<HashMap<TenantId, AuditRules>, DbErr> {
    let mut ids: Vec<Uuid> = tenants.iter().map(|t| t.0).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(order_audit_rules::Entity::find()
        .filter(order_audit_rules::Column::TenantId.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| {
            let rules = AuditRules {
                buyer_memo: r.buyer_memo,
                seller_memo: r.seller_memo,
                amount_over: r.amount_over.map(Money),
                allow_partial_shipment: r.allow_partial_shipment,
            };
            (TenantId(r.tenant_id), rules)
        })
        .collect())
}

/// Stores the tenant's audit rules.
pub async fn save_audit_rules<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    r: &AuditRules,
    now: Timestamp,
) -> Result<(), DbErr> {
    use order_audit_rules::Column as C;
    use sea_orm::ActiveValue::Set;
    order_audit_rules::Entity::insert(order_audit_rules::ActiveModel {
        tenant_id: Set(tenant.0),
        buyer_memo: Set(r.buyer_memo),
        seller_memo: Set(r.seller_memo),
        amount_over: Set(r.amount_over.map(|m| m.0)),
        allow_partial_shipment: Set(r.allow_partial_shipment),
        updated_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(C::TenantId)
            .update_columns([C::BuyerMemo, C::SellerMemo, C::AmountOver, C::AllowPartialShipment, C::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The tenant's orders on `channel` not yet shipped, cancelled or completed that have a line
/// of the marketplace's `item_id` and `variant_id` (a product mapping for it concerns them).
pub async fn orders_with_variant<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    channel: Uuid,
    item_id: &str,
    variant_id: Option<&str>,
) -> Result<Vec<Uuid>, DbErr> {
    use sea_orm::sea_query::Query;
    let variant = match variant_id {
        Some(v) => order_lines::Column::VariantId.eq(v),
        None => order_lines::Column::VariantId.is_null(),
    };
    let lines = Query::select()
        .column(order_lines::Column::OrderId)
        .from(order_lines::Entity)
        .cond_where(
            sea_orm::Condition::all()
                .add(order_lines::Column::TenantId.eq(tenant.0))
                .add(order_lines::Column::ItemId.eq(item_id))
                .add(variant),
        )
        .to_owned();
    let open = ["shipped", "completed", "cancelled"];
    orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .filter(orders::Column::TenantId.eq(tenant.0))
        .filter(orders::Column::ChannelId.eq(channel))
        .filter(orders::Column::Status.is_not_in(open))
        .filter(orders::Column::Id.in_subquery(lines))
        .into_tuple()
        .all(conn)
        .await
}

/// Saves an order's header and lines after a use case changed them (holds, a release), and
/// its timeline entries, inside `conn`'s transaction.
pub async fn save_order<C: ConnectionTrait>(conn: &C, o: &Order, entries: Vec<TimelineEntry>) -> Result<(), DbErr> {
    use orders::Column as O;
    let row = convert::order_row(o, String::new());
    orders::Entity::update_many()
        .col_expr(O::Status, Expr::value(row.status))
        .col_expr(O::UpdatedAt, Expr::value(row.updated_at))
        .col_expr(O::Holds, Expr::value(row.holds))
        .col_expr(O::Waivers, Expr::value(row.waivers))
        .col_expr(O::PaidReceiver, Expr::value(row.paid_receiver))
        .col_expr(O::Ready, Expr::value(row.ready))
        .filter(O::TenantId.eq(o.tenant_id.0))
        .filter(O::Id.eq(o.id))
        .exec(conn)
        .await?;
    if entries.is_empty() {
        return Ok(());
    }
    order_timeline::Entity::insert_many(entries.into_iter().map(|e| convert::timeline_row(o.tenant_id.0, o.id, e)))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A marketplace variant that open orders' lines sell without a SKU Cairn has, and how many
/// orders wait on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedItem {
    pub channel_id: Uuid,
    pub item_id: Option<String>,
    pub variant_id: Option<String>,
    /// The merchant code the lines carry (naming no SKU), if any.
    pub merchant_code: Option<String>,
    pub title: String,
    pub orders: i64,
}

/// The variants the tenant's open orders wait on for a product mapping, most orders first.
pub async fn unmapped_items<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Vec<UnmappedItem>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Row {
        channel_id: Uuid,
        item_id: Option<String>,
        variant_id: Option<String>,
        sku_code: String,
        title: String,
        orders: i64,
    }
    let sql = "select o.channel_id, l.item_id, l.variant_id, l.sku_code, max(l.title) as title, \
               count(distinct o.id) as orders from order_lines l join orders o on o.tenant_id = l.tenant_id and o.id = l.order_id \
               where l.tenant_id = ? and (l.mapping = 'unmapped' or l.reservation_state = 'unmapped') \
               and o.status not in ('shipped', 'completed', 'cancelled', 'pending_payment') \
               group by o.channel_id, l.item_id, l.variant_id, l.sku_code order by orders desc, l.item_id";
    let stmt = sea_orm::Statement::from_sql_and_values(
        conn.get_database_backend(),
        if conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            sql.replace('?', "$1")
        } else {
            sql.to_owned()
        },
        [tenant.0.into()],
    );
    Ok(Row::find_by_statement(stmt)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| UnmappedItem {
            channel_id: r.channel_id,
            item_id: r.item_id,
            variant_id: r.variant_id,
            merchant_code: (!r.sku_code.is_empty()).then_some(r.sku_code),
            title: r.title,
            orders: r.orders,
        })
        .collect())
}
