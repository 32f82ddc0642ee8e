//! `/v1/orders`: list and inspect orders.

use crate::db::{order_lines, order_timeline, orders};
use auth::BearerAuth;
use chrono::{DateTime, Utc};
use kernel::{Money, OrderStatus};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, param::{Path, Query}, payload::Json};
use problem::{ApiResult, Code, Problem};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Orders built from marketplace trades.
    Orders,
}

/// The orders HTTP API.
pub struct OrdersApi {
    db: store::Db,
}

impl OrdersApi {
    /// Builds the API over its database.
    pub fn new(db: store::Db) -> Self {
        OrdersApi { db }
    }
}

/// An order line.
#[derive(Debug, Object)]
struct LineDto {
    external_line_id: String,
    sku_code: String,
    title: String,
    quantity: i64,
    /// Decimal string, e.g. `209.00`.
    unit_price: String,
    payment: String,
    refund_status: String,
    /// held, confirmed, committed, released, expired, backordered or unreserved; null until
    /// inventory has processed the line.
    reservation_state: Option<String>,
}

/// Something that happened to an order.
#[derive(Debug, Object)]
struct TimelineDto {
    at: DateTime<Utc>,
    kind: String,
    detail: String,
}

/// An order.
#[derive(Debug, Object)]
struct OrderDto {
    id: Uuid,
    channel_id: Uuid,
    /// The marketplace's trade id (`tid`).
    external_id: String,
    /// pending_payment, paid, allocated, backordered, on_hold, partially_shipped, shipped,
    /// completed or cancelled.
    status: String,
    /// The marketplace's own status.
    trade_status: String,
    /// The marketplace's `modified` of the snapshot applied last.
    modified: DateTime<Utc>,
    created: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    buyer_nick: String,
    currency: String,
    payment: String,
    lines: Vec<LineDto>,
    /// Only in `GET /v1/orders/{id}`.
    #[oai(skip_serializing_if_is_none)]
    timeline: Option<Vec<TimelineDto>>,
}

/// A page of orders.
#[derive(Debug, Object)]
struct OrderPage {
    items: Vec<OrderDto>,
    total: u64,
    page: u64,
    per_page: u64,
}

#[derive(ApiResponse)]
enum OrdersFound {
    /// A page of orders, newest first.
    #[oai(status = 200)]
    Ok(Json<OrderPage>),
}

#[derive(ApiResponse)]
enum OrderFound {
    /// The order, its lines and its timeline.
    #[oai(status = 200)]
    Ok(Json<OrderDto>),
}

fn dto(o: orders::Model, lines: Vec<order_lines::Model>, timeline: Option<Vec<order_timeline::Model>>) -> OrderDto {
    OrderDto {
        id: o.id,
        channel_id: o.channel_id,
        external_id: o.external_id,
        status: o.status,
        trade_status: o.trade_status,
        modified: o.modified,
        created: o.trade_created,
        paid_at: o.paid_at,
        buyer_nick: o.buyer_nick,
        currency: o.currency,
        payment: Money(o.payment).to_string(),
        lines: lines
            .into_iter()
            .map(|l| LineDto {
                external_line_id: l.external_line_id,
                sku_code: l.sku_code,
                title: l.title,
                quantity: l.quantity,
                unit_price: Money(l.unit_price).to_string(),
                payment: Money(l.payment).to_string(),
                refund_status: l.refund_status,
                reservation_state: l.reservation_state,
            })
            .collect(),
        timeline: timeline.map(|t| t.into_iter().map(|e| TimelineDto { at: e.at, kind: e.kind, detail: e.detail }).collect()),
    }
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Orders")]
impl OrdersApi {
    /// List orders, newest first; filter by `status` or the marketplace's `external_id`.
    #[oai(path = "/orders", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        status: Query<Option<String>>,
        external_id: Query<Option<String>>,
        #[oai(validator(minimum(value = "1")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] per_page: Query<Option<u64>>,
    ) -> ApiResult<OrdersFound> {
        let t = auth.0.tenant_id.0;
        let mut q = orders::Entity::find().filter(orders::Column::TenantId.eq(t));
        if let Some(s) = status.0 {
            let s = OrderStatus::parse(&s).ok_or_else(|| Problem::new(Code::InvalidInput, format!("unknown status `{s}`")))?;
            q = q.filter(orders::Column::Status.eq(s.as_str()));
        }
        if let Some(e) = external_id.0 {
            q = q.filter(orders::Column::ExternalId.eq(e));
        }
        let (page, per_page) = (page.0.unwrap_or(1), per_page.0.unwrap_or(50));
        let total = q.clone().count(self.db.conn()).await.map_err(Problem::internal)?;
        let rows = q
            .order_by_desc(orders::Column::TradeCreated)
            .order_by_desc(orders::Column::Id)
            .offset((page - 1) * per_page)
            .limit(per_page)
            .all(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
        let mut lines = order_lines::Entity::find()
            .filter(order_lines::Column::TenantId.eq(t))
            .filter(order_lines::Column::OrderId.is_in(ids))
            .order_by_asc(order_lines::Column::LineNo)
            .all(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        let items = rows
            .into_iter()
            .map(|o| {
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut lines).into_iter().partition(|l| l.order_id == o.id);
                lines = rest;
                dto(o, mine, None)
            })
            .collect();
        Ok(OrdersFound::Ok(Json(OrderPage { items, total, page, per_page })))
    }

    /// One order with its lines, each line's reservation state, and its timeline.
    #[oai(path = "/orders/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<OrderFound> {
        let t = auth.0.tenant_id.0;
        let o = orders::Entity::find_by_id((t, id.0)).one(self.db.conn()).await.map_err(Problem::internal)?.ok_or_else(|| Problem::not_found("order"))?;
        let lines = order_lines::Entity::find()
            .filter(order_lines::Column::TenantId.eq(t))
            .filter(order_lines::Column::OrderId.eq(o.id))
            .order_by_asc(order_lines::Column::LineNo)
            .all(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        let timeline = order_timeline::Entity::find()
            .filter(order_timeline::Column::TenantId.eq(t))
            .filter(order_timeline::Column::OrderId.eq(o.id))
            .order_by_asc(order_timeline::Column::Id)
            .all(self.db.conn())
            .await
            .map_err(Problem::internal)?;
        Ok(OrderFound::Ok(Json(dto(o, lines, Some(timeline)))))
    }
}
