//! `/v1/orders`: list and inspect orders, and record shipments. Handlers and DTOs only; the
//! work is in [`crate::service`].

use crate::{
    domain::{
        Order, TimelineEntry,
        shipment::{ShipError, ShipRequest, Shipment},
        trade_status_name,
    },
    service::{OrderDetail, Orders, ShipFailure},
};
use auth::BearerAuth;
use chrono::{DateTime, Utc};
use kernel::{OrderStatus, SharedClock};
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use problem::{ApiResult, Code, Problem, ProblemResponse};
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Orders built from marketplace trades.
    Orders,
}

/// The orders HTTP API.
pub struct OrdersApi {
    orders: Orders,
}

impl OrdersApi {
    /// Builds the API over its database, telling the time by `clock`.
    pub fn new(db: store::Db, clock: SharedClock) -> Self {
        OrdersApi { orders: Orders::new(db, clock) }
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
    /// The waybill the line left with, when it was shipped through Cairn; null otherwise.
    shipped_waybill: Option<String>,
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
    /// Shipments recorded through Cairn, oldest first. Only in `GET /v1/orders/{id}`.
    #[oai(skip_serializing_if_is_none)]
    shipments: Option<Vec<ShipmentDto>>,
}

/// A shipment recorded through Cairn: one waybill and the lines it carried.
#[derive(Debug, Object)]
struct ShipmentDto {
    waybill_no: String,
    /// The carrier's code, e.g. `SF`.
    company_code: String,
    /// The marketplace line ids (`external_line_id`) shipped.
    lines: Vec<String>,
    shipped_at: DateTime<Utc>,
}

impl From<Shipment> for ShipmentDto {
    fn from(s: Shipment) -> Self {
        ShipmentDto {
            lines: s.line_ids,
            waybill_no: s.waybill_no,
            company_code: s.company_code,
            shipped_at: s.shipped_at,
        }
    }
}

/// The seller shipped (some of) an order.
#[derive(Debug, Object)]
struct NewShipment {
    /// The carrier's code, e.g. `SF`: 1-32 letters, digits, `-` or `_`.
    company_code: String,
    /// 1-64 letters, digits, `-` or `_`. Recording the same waybill again with the same
    /// carrier and lines returns the first result and changes nothing.
    waybill_no: String,
    /// The marketplace line ids (`external_line_id`) in this parcel; leave out to ship every
    /// line not yet shipped and not refunded.
    lines: Option<Vec<String>>,
}

/// A recorded shipment and where it left the order.
#[derive(Debug, Object)]
struct ShipmentRecorded {
    order_id: Uuid,
    /// The order's status now: `partially_shipped` or `shipped` after a new shipment; for a
    /// repeated request, whatever the status is now.
    status: String,
    shipment: ShipmentDto,
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
    /// The order, its lines, its shipments and its timeline.
    #[oai(status = 200)]
    Ok(Json<OrderDto>),
}

#[derive(ApiResponse)]
enum ShipmentDone {
    /// Recorded (or the same shipment again, with nothing changed).
    #[oai(status = 200)]
    Ok(Json<ShipmentRecorded>),
}

fn ship_problem(e: ShipFailure) -> ProblemResponse {
    match e {
        ShipFailure::NotFound => Problem::not_found("order"),
        ShipFailure::Refused(ShipError::Invalid(m)) => Problem::new(Code::InvalidInput, m),
        ShipFailure::Refused(ShipError::NotShippable(m)) => Problem::new(Code::InvalidStateTransition, m),
        ShipFailure::Refused(e @ ShipError::WaybillReused(_)) => Problem::new(Code::AlreadyExists, e.to_string()),
        ShipFailure::Unknown(e) => Problem::internal(e),
    }
    .into()
}

fn dto(o: Order, timeline: Option<Vec<TimelineEntry>>, shipments: Option<Vec<Shipment>>) -> OrderDto {
    OrderDto {
        id: o.id,
        channel_id: o.channel_id,
        external_id: o.external_id,
        status: o.status.as_str().to_owned(),
        trade_status: trade_status_name(o.trade_status).to_owned(),
        modified: o.modified,
        created: o.trade_created,
        paid_at: o.paid_at,
        buyer_nick: o.buyer_nick,
        currency: o.currency,
        payment: o.payment.to_string(),
        lines: o
            .lines
            .into_iter()
            .map(|l| LineDto {
                external_line_id: l.external_line_id,
                sku_code: l.sku_code,
                title: l.title,
                quantity: l.quantity,
                unit_price: l.unit_price.to_string(),
                payment: l.payment.to_string(),
                refund_status: l.refund_status,
                reservation_state: l.reservation.map(|r| r.as_str().to_owned()),
                shipped_waybill: l.shipped_waybill,
            })
            .collect(),
        timeline: timeline.map(|t| {
            t.into_iter()
                .map(|e| TimelineDto { at: e.at, kind: e.kind.as_str().to_owned(), detail: e.detail })
                .collect()
        }),
        shipments: shipments.map(|s| s.into_iter().map(ShipmentDto::from).collect()),
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
        let status = status
            .0
            .map(|s| {
                OrderStatus::parse(&s).ok_or_else(|| Problem::new(Code::InvalidInput, format!("unknown status `{s}`")))
            })
            .transpose()?;
        let (page, per_page) = (page.0.unwrap_or(1), per_page.0.unwrap_or(50));
        let found = self
            .orders
            .list(auth.0.tenant_id, status, external_id.0, page, per_page)
            .await
            .map_err(Problem::internal)?;
        let items = found.items.into_iter().map(|o| dto(o, None, None)).collect();
        let total = found.total;
        Ok(OrdersFound::Ok(Json(OrderPage { items, total, page, per_page })))
    }

    /// One order with its lines (each with its reservation state and waybill), its shipments
    /// and its timeline.
    #[oai(path = "/orders/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<OrderFound> {
        let OrderDetail { order, timeline, shipments } = self
            .orders
            .get(auth.0.tenant_id, id.0)
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("order"))?;
        Ok(OrderFound::Ok(Json(dto(order, Some(timeline), Some(shipments)))))
    }

    /// Record that the seller shipped lines of a paid order under a waybill (all lines not yet
    /// shipped when `lines` is left out). The order becomes `partially_shipped` or `shipped`,
    /// the shipped lines' stock is committed, and the shipment is written back to the
    /// marketplace. Idempotent by waybill: the same waybill with the same carrier and lines is
    /// the first result; with a different carrier or lines, `already_exists`.
    #[oai(path = "/orders/:id/ship", method = "post")]
    async fn ship(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<NewShipment>) -> ApiResult<ShipmentDone> {
        let req = ShipRequest { company_code: body.0.company_code, waybill_no: body.0.waybill_no, lines: body.0.lines };
        let done = self.orders.ship(auth.0.tenant_id, id.0, req).await.map_err(ship_problem)?;
        Ok(ShipmentDone::Ok(Json(ShipmentRecorded {
            order_id: done.order_id,
            status: done.status.as_str().to_owned(),
            shipment: done.shipment.into(),
        })))
    }
}
