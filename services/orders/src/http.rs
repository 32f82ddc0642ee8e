//! `/v1/orders`: list and inspect orders, and record shipments. Handlers and DTOs only; the
//! work is in [`crate::service`].

use crate::{
    db::{Cursor, OrderFilter, Paging},
    domain::{
        Order, TimelineEntry,
        holds::{self, AuditRules, Hold},
        shipment::{ShipError, ShipRequest, Shipment},
        trade_status_name,
    },
    service::{HoldFailure, HoldOutcome, OrderDetail, Orders, ShipFailure, StatsError},
};
use auth::{BearerAuth, Scope};
use chrono::{DateTime, Utc};
use kernel::{Money, OrderStatus, SharedClock, events::HoldReason};
use poem_openapi::{
    ApiResponse, Object, OpenApi, Tags,
    param::{Path, Query},
};
use problem::status::{AUTHENTICATED, CONFLICT, READ, READ_BY_ID, WRITE, WRITE_BY_ID};
use problem::{ApiResult, Code, Json, Problem, ProblemResponse};
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
    /// The Cairn SKU the line sells; null while it maps to none (`mapping: unmapped`).
    #[oai(nullable)]
    sku_code: Option<String>,
    /// How the line found its SKU: `mapped` (the shop's product mapping), `merchant_code`
    /// (the marketplace's merchant code is a SKU code), `unmapped` (neither: the order is on
    /// hold `unmapped_sku` until the seller maps the item).
    mapping: String,
    /// The marketplace's item and variant (Bazaar `num_iid` and `sku_id`, Shopify product and
    /// variant ids).
    #[oai(nullable)]
    item_id: Option<String>,
    #[oai(nullable)]
    variant_id: Option<String>,
    /// The variant as the marketplace shows it, e.g. `颜色:红色;尺码:M`.
    #[oai(nullable)]
    properties: Option<String>,
    /// Where the line's units are reserved (empty until they are).
    warehouses: Vec<WarehouseQuantityDto>,
    title: String,
    quantity: i64,
    /// Decimal string, e.g. `209.00`.
    unit_price: String,
    payment: String,
    refund_status: String,
    /// held, confirmed, committed, released, expired, backordered or unreserved; null until
    /// inventory has processed the line.
    #[oai(nullable)]
    reservation_state: Option<String>,
    /// The waybill the line left with, when it was shipped through Cairn; null otherwise.
    #[oai(nullable)]
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
    #[oai(nullable)]
    paid_at: Option<DateTime<Utc>>,
    buyer_nick: String,
    currency: String,
    payment: String,
    lines: Vec<LineDto>,
    /// What keeps the order from shipping (审单); the order is `on_hold` while there are any.
    holds: Vec<HoldDto>,
    /// Where it ships to.
    #[oai(nullable)]
    receiver: Option<ReceiverDto>,
    #[oai(nullable)]
    buyer_memo: Option<String>,
    #[oai(nullable)]
    seller_memo: Option<String>,
    /// The seller's coloured flag, 0 (none) to 5.
    seller_flag: i32,
    /// Only in `GET /v1/orders/{id}`.
    #[oai(nullable, skip_serializing_if_is_none)]
    timeline: Option<Vec<TimelineDto>>,
    /// Shipments recorded through Cairn, oldest first. Only in `GET /v1/orders/{id}`.
    #[oai(nullable, skip_serializing_if_is_none)]
    shipments: Option<Vec<ShipmentDto>>,
}

/// A hold on an order.
#[derive(Debug, Object)]
struct HoldDto {
    /// `unmapped_sku`, `refund_pending`, `address_changed`, `buyer_memo`, `seller_memo`,
    /// `amount_over` or `manual`.
    reason: String,
    /// What caused it (the memo, the new address, the note of a manual hold).
    detail: String,
    since: DateTime<Utc>,
    /// Who placed it, for a manual hold.
    #[oai(nullable)]
    by: Option<String>,
    /// Whether `POST /v1/orders/{id}/release` releases it (`unmapped_sku` and
    /// `refund_pending` clear only when their cause does).
    releasable: bool,
}

impl From<Hold> for HoldDto {
    fn from(h: Hold) -> Self {
        HoldDto {
            releasable: holds::releasable(h.reason),
            reason: h.reason.as_str().to_owned(),
            detail: h.detail,
            since: h.since,
            by: h.by,
        }
    }
}

/// Where an order ships to.
#[derive(Debug, Object)]
struct ReceiverDto {
    name: String,
    phone: String,
    province: String,
    city: String,
    district: String,
    address: String,
    zip: String,
}

/// Units of a line in one warehouse.
#[derive(Debug, Object)]
struct WarehouseQuantityDto {
    warehouse_code: String,
    quantity: i64,
}

/// The seller's audit rules: which optional reasons hold an order. Unmapped SKUs, pending
/// refunds and address changes after payment always do.
#[derive(Debug, Clone, Object)]
struct AuditRulesDto {
    /// Hold orders whose buyer left a memo (default off).
    #[oai(default)]
    buyer_memo: bool,
    /// Hold orders with a seller memo or flag (default off).
    #[oai(default)]
    seller_memo: bool,
    /// Hold orders that paid more than this, a decimal amount such as `"5000.00"` (default
    /// none).
    #[oai(nullable)]
    amount_over: Option<String>,
    /// An order may be ready to ship with only some lines allocated (default off).
    #[oai(default)]
    allow_partial_shipment: bool,
}

#[derive(ApiResponse)]
enum AuditRulesFound {
    /// The rules (the defaults until they are set).
    #[oai(status = 200)]
    Ok(Json<AuditRulesDto>),
}

/// Why a person holds or releases an order.
#[derive(Debug, Object)]
struct HoldIn {
    /// Shown on the order's timeline.
    #[oai(default, validator(max_length = 500))]
    note: String,
}

/// An order's holds after a hold or release.
#[derive(Debug, Object)]
struct HoldsDto {
    id: Uuid,
    status: String,
    holds: Vec<HoldDto>,
    /// False when the request changed nothing (a repeat).
    changed: bool,
}

#[derive(ApiResponse)]
enum HoldsChanged {
    /// The order's holds now.
    #[oai(status = 200)]
    Ok(Json<HoldsDto>),
}

/// Hold or release several orders.
#[derive(Debug, Object)]
struct BulkIn {
    /// `hold` or `release`.
    action: String,
    /// 1 to 500 order ids.
    #[oai(validator(min_items = 1, max_items = 500))]
    ids: Vec<Uuid>,
    #[oai(default, validator(max_length = 500))]
    note: String,
}

/// What happened to one order of a bulk request.
#[derive(Debug, Object)]
struct BulkResult {
    id: Uuid,
    ok: bool,
    /// The order's status and holds after it (when `ok`).
    #[oai(nullable)]
    status: Option<String>,
    #[oai(nullable)]
    holds: Option<Vec<HoldDto>>,
    /// Why it was refused (when not `ok`): a problem `code` and its detail.
    #[oai(nullable)]
    error_code: Option<String>,
    #[oai(nullable)]
    error: Option<String>,
}

/// Every order's result, in the order asked.
#[derive(Debug, Object)]
struct BulkDto {
    results: Vec<BulkResult>,
}

#[derive(ApiResponse)]
enum BulkDone {
    /// One result per id (some may be refused).
    #[oai(status = 200)]
    Ok(Json<BulkDto>),
}

/// A marketplace variant open orders wait on for a product mapping.
#[derive(Debug, Object)]
struct UnmappedItemDto {
    channel_id: Uuid,
    #[oai(nullable)]
    item_id: Option<String>,
    #[oai(nullable)]
    variant_id: Option<String>,
    /// The merchant code the lines carry when it names no SKU.
    #[oai(nullable)]
    merchant_code: Option<String>,
    title: String,
    /// Open orders waiting on it.
    orders: i64,
}

/// The variants open orders wait on, most orders first.
#[derive(Debug, Object)]
struct UnmappedItemsDto {
    items: Vec<UnmappedItemDto>,
}

#[derive(ApiResponse)]
enum UnmappedFound {
    /// The variants.
    #[oai(status = 200)]
    Ok(Json<UnmappedItemsDto>),
}

fn hold_problem(e: HoldFailure) -> ProblemResponse {
    match e {
        HoldFailure::NotFound => Problem::not_found("order"),
        e @ (HoldFailure::Final(_) | HoldFailure::NotReleasable(_)) => {
            Problem::new(Code::InvalidStateTransition, e.to_string())
        }
        HoldFailure::Unknown(e) => Problem::internal(e),
    }
    .into()
}

fn holds_dto(id: Uuid, o: HoldOutcome) -> HoldsDto {
    HoldsDto {
        id,
        status: o.status.as_str().to_owned(),
        holds: o.holds.into_iter().map(HoldDto::from).collect(),
        changed: o.changed,
    }
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
    /// What the carrier last said (`delivered`, `exception`, `returned`); null until it says
    /// one of those, and for waybills drawn outside Cairn.
    #[oai(nullable)]
    tracking_status: Option<String>,
    #[oai(nullable)]
    delivered_at: Option<DateTime<Utc>>,
}

impl From<Shipment> for ShipmentDto {
    fn from(s: Shipment) -> Self {
        ShipmentDto {
            tracking_status: s.tracking_status,
            delivered_at: s.delivered_at,
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
    #[oai(validator(pattern = "^[A-Za-z0-9_-]{1,32}$"))]
    company_code: String,
    /// 1-64 letters, digits, `-` or `_`. Recording the same waybill again with the same
    /// carrier and lines returns the first result and changes nothing.
    #[oai(validator(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    waybill_no: String,
    /// The marketplace line ids (`external_line_id`) in this parcel; leave out to ship every
    /// line not yet shipped and not refunded.
    #[oai(nullable)]
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
    /// How many orders match the filters in all.
    total: u64,
    /// The page number asked for (null when paging by `cursor`).
    #[oai(nullable)]
    page: Option<u64>,
    /// The page size (null when paging by `cursor`; see `limit`).
    #[oai(nullable)]
    per_page: Option<u64>,
    /// Pass as `cursor` for the next page; null when this page is the last.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// Orders per status.
#[derive(Debug, Object)]
struct StatusCountsDto {
    total: i64,
    /// Every status (`pending_payment`, `paid`, `allocated`, …) with its count.
    by_status: std::collections::BTreeMap<String, i64>,
}

#[derive(ApiResponse)]
enum CountsFound {
    /// The counts.
    #[oai(status = 200)]
    Ok(Json<StatusCountsDto>),
}

/// Orders created in one bucket of time.
#[derive(Debug, Object)]
struct BucketDto {
    start: DateTime<Utc>,
    orders: i64,
}

/// The tenant's orders created since a time: by status, and per bucket (for a chart).
#[derive(Debug, Object)]
struct StatsDto {
    since: DateTime<Utc>,
    total: i64,
    by_status: std::collections::BTreeMap<String, i64>,
    /// Every bucket from `since` to now, oldest first; quiet ones as 0.
    buckets: Vec<BucketDto>,
}

#[derive(ApiResponse)]
enum StatsFound {
    /// The figures.
    #[oai(status = 200)]
    Ok(Json<StatsDto>),
}

fn rules_dto(r: AuditRules) -> AuditRulesDto {
    AuditRulesDto {
        buyer_memo: r.buyer_memo,
        seller_memo: r.seller_memo,
        amount_over: r.amount_over.map(|m| m.to_string()),
        allow_partial_shipment: r.allow_partial_shipment,
    }
}

/// A keyset cursor as the API shows it: `<trade created, µs>.<order id>`.
fn cursor_string(c: Cursor) -> String {
    format!("{}.{}", c.trade_created.timestamp_micros(), c.id.simple())
}

fn parse_cursor(s: &str) -> Result<Cursor, Problem> {
    let bad = || Problem::new(Code::InvalidInput, "`cursor` is not one this API returned");
    let (micros, id) = s.split_once('.').ok_or_else(bad)?;
    let trade_created = micros.parse().ok().and_then(DateTime::<Utc>::from_timestamp_micros).ok_or_else(bad)?;
    Ok(Cursor { trade_created, id: Uuid::parse_str(id).map_err(|_| bad())? })
}

/// The list's and the counts' filters but `status`, from their query parameters.
fn filter(
    external_id: Query<Option<String>>,
    channel_id: Query<Option<Uuid>>,
    created_from: Query<Option<DateTime<Utc>>>,
    created_to: Query<Option<DateTime<Utc>>>,
    buyer: Query<Option<String>>,
    sku_code: Query<Option<String>>,
) -> OrderFilter {
    OrderFilter {
        status: None,
        hold_reason: None,
        external_id: external_id.0,
        channel_id: channel_id.0,
        created_from: created_from.0,
        created_to: created_to.0,
        buyer: buyer.0,
        sku_code: sku_code.0,
    }
}

fn status_filter(status: Option<String>) -> Result<Option<OrderStatus>, Problem> {
    status
        .map(|s| {
            OrderStatus::parse(&s).ok_or_else(|| Problem::new(Code::InvalidInput, format!("unknown status `{s}`")))
        })
        .transpose()
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
        holds: o.holds.into_iter().map(HoldDto::from).collect(),
        receiver: o.audit.receiver.map(|r| ReceiverDto {
            name: r.name,
            phone: r.phone,
            province: r.province,
            city: r.city,
            district: r.district,
            address: r.address,
            zip: r.zip,
        }),
        buyer_memo: o.audit.buyer_memo,
        seller_memo: o.audit.seller_memo,
        seller_flag: o.audit.seller_flag,
        lines: o
            .lines
            .into_iter()
            .map(|l| LineDto {
                external_line_id: l.external_line_id,
                mapping: l.mapping.as_str().to_owned(),
                sku_code: l.sku_code,
                item_id: l.item_id,
                variant_id: l.variant_id,
                properties: l.properties,
                warehouses: l
                    .warehouses
                    .into_iter()
                    .map(|w| WarehouseQuantityDto { warehouse_code: w.warehouse_code, quantity: w.quantity })
                    .collect(),
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
    /// List orders, newest first (by when the trade was created). Every filter given must
    /// hold: `status`, the marketplace's `external_id`, the shop (`channel_id`), the trade's
    /// creation time (`created_from` inclusive, `created_to` exclusive), part of the buyer's
    /// nick (`buyer`, any case), a line's `sku_code`. Page by `page`/`per_page`, or — for
    /// deep lists, where it stays as fast as the first page — by `limit` and the
    /// `next_cursor` of the page before.
    #[oai(path = "/orders", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn list(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
        status: Query<Option<String>>,
        external_id: Query<Option<String>>,
        channel_id: Query<Option<Uuid>>,
        created_from: Query<Option<DateTime<Utc>>>,
        created_to: Query<Option<DateTime<Utc>>>,
        #[oai(validator(max_length = 100))] buyer: Query<Option<String>>,
        #[oai(validator(max_length = 64))] sku_code: Query<Option<String>>,
        /// Orders with a hold of this reason (`unmapped_sku`, `refund_pending`, …).
        hold_reason: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))] page: Query<Option<u64>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))] per_page: Query<Option<u64>>,
        /// Page size when paging by cursor (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u64>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<OrdersFound, READ> {
        let hold_reason = hold_reason
            .0
            .map(|r| {
                HoldReason::parse(&r)
                    .ok_or_else(|| Problem::new(Code::InvalidInput, format!("unknown hold reason `{r}`")))
            })
            .transpose()?;
        let f = OrderFilter {
            status: status_filter(status.0)?,
            hold_reason,
            ..filter(external_id, channel_id, created_from, created_to, buyer, sku_code)
        };
        let keyset = cursor.0.is_some() || limit.0.is_some();
        if keyset && (page.0.is_some() || per_page.0.is_some()) {
            return Err(
                Problem::new(Code::InvalidInput, "page by `page`/`per_page` or by `limit`/`cursor`, not both").into()
            );
        }
        let paging = if keyset {
            Paging::After { after: cursor.0.as_deref().map(parse_cursor).transpose()?, limit: limit.0.unwrap_or(50) }
        } else {
            Paging::Offset { page: page.0.unwrap_or(1), per_page: per_page.0.unwrap_or(50) }
        };
        let found = self.orders.list(auth.0.tenant_id, &f, paging).await.map_err(Problem::internal)?;
        let (page, per_page) = match paging {
            Paging::Offset { page, per_page } => (Some(page), Some(per_page)),
            Paging::After { .. } => (None, None),
        };
        Ok(OrdersFound::Ok(Json(OrderPage {
            items: found.items.into_iter().map(|o| dto(o, None, None)).collect(),
            total: found.total,
            page,
            per_page,
            next_cursor: found.next.map(cursor_string),
        })))
    }

    /// How many orders are in each status, with the same filters as the list (but `status`):
    /// the counts on the list's status tabs.
    #[oai(path = "/orders/counts", method = "get")]
    #[allow(clippy::too_many_arguments)] // one per query parameter
    async fn counts(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
        external_id: Query<Option<String>>,
        channel_id: Query<Option<Uuid>>,
        created_from: Query<Option<DateTime<Utc>>>,
        created_to: Query<Option<DateTime<Utc>>>,
        #[oai(validator(max_length = 100))] buyer: Query<Option<String>>,
        #[oai(validator(max_length = 64))] sku_code: Query<Option<String>>,
    ) -> ApiResult<CountsFound, READ> {
        let f = filter(external_id, channel_id, created_from, created_to, buyer, sku_code);
        let c = self.orders.counts(auth.0.tenant_id, &f).await.map_err(Problem::internal)?;
        Ok(CountsFound::Ok(Json(StatusCountsDto { total: c.total, by_status: c.by_status })))
    }

    /// The tenant's orders whose trade was created since `since` (at most 7 days back): how
    /// many are in each status, and how many were created in each `bucket_seconds` (60–86,400,
    /// default 60) up to now.
    #[oai(path = "/orders/stats", method = "get")]
    async fn stats(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
        since: Query<DateTime<Utc>>,
        #[oai(validator(minimum(value = "60"), maximum(value = "86400")))] bucket_seconds: Query<Option<i64>>,
    ) -> ApiResult<StatsFound, READ> {
        let s = self.orders.stats(auth.0.tenant_id, since.0, bucket_seconds.0.unwrap_or(60)).await.map_err(
            |e| match e {
                StatsError::Window(w) => Problem::new(Code::InvalidInput, w.to_string()),
                StatsError::Unknown(e) => Problem::internal(e),
            },
        )?;
        Ok(StatsFound::Ok(Json(StatsDto {
            since: s.since,
            total: s.counts.total,
            by_status: s.counts.by_status,
            buckets: s
                .buckets
                .into_iter()
                .map(|(start, orders)| BucketDto {
                    start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
                    orders,
                })
                .collect(),
        })))
    }

    /// The seller's audit rules (审单规则).
    #[oai(path = "/orders/audit-rules", method = "get")]
    async fn get_audit_rules(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
    ) -> ApiResult<AuditRulesFound, AUTHENTICATED> {
        let r = self.orders.audit_rules(auth.0.tenant_id).await.map_err(Problem::internal)?;
        Ok(AuditRulesFound::Ok(Json(rules_dto(r))))
    }

    /// Switch the optional audit rules on or off. The orders still to ship are audited again:
    /// a rule switched on holds those it applies to, one switched off releases them (unless
    /// something else holds them). The same rules again change nothing.
    #[oai(path = "/orders/audit-rules", method = "put")]
    async fn put_audit_rules(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<AuditRulesDto>,
    ) -> ApiResult<AuditRulesFound, WRITE> {
        let b = body.0;
        let amount_over = match b.amount_over.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => match Money::parse(a) {
                Ok(m) if m.0 >= 0 => Some(m),
                _ => {
                    return Err(Problem::new(
                        Code::InvalidInput,
                        format!("amount_over `{a}` is not an amount such as 5000.00"),
                    )
                    .into());
                }
            },
        };
        let rules = AuditRules {
            buyer_memo: b.buyer_memo,
            seller_memo: b.seller_memo,
            amount_over,
            allow_partial_shipment: b.allow_partial_shipment,
        };
        let r = self.orders.set_audit_rules(auth.0.tenant_id, rules).await.map_err(Problem::internal)?;
        Ok(AuditRulesFound::Ok(Json(rules_dto(r))))
    }

    /// Hold an order by hand: it does not ship until someone releases it. Holding it again
    /// changes nothing. Its stock stays reserved.
    #[oai(path = "/orders/:id/hold", method = "post")]
    async fn hold(
        &self,
        #[oai(scope = "Scope::OrdersWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<HoldIn>,
    ) -> ApiResult<HoldsChanged, { WRITE_BY_ID | CONFLICT }> {
        let by = auth.0.actor.to_string();
        let out = self.orders.hold(auth.0.tenant_id, id.0, &by, &body.0.note).await.map_err(hold_problem)?;
        Ok(HoldsChanged::Ok(Json(holds_dto(id.0, out))))
    }

    /// Release an order's holds that a person may release: a manual hold, an address change
    /// (the new address is accepted), a memo or amount rule (what it saw is accepted; a new
    /// memo holds it again). `unmapped_sku` and `refund_pending` clear only when their cause
    /// does; with only those left the release is refused (409). Nothing to release changes
    /// nothing.
    #[oai(path = "/orders/:id/release", method = "post")]
    async fn release(
        &self,
        #[oai(scope = "Scope::OrdersWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<HoldIn>,
    ) -> ApiResult<HoldsChanged, { WRITE_BY_ID | CONFLICT }> {
        let by = auth.0.actor.to_string();
        let out = self.orders.release(auth.0.tenant_id, id.0, &by, &body.0.note).await.map_err(hold_problem)?;
        Ok(HoldsChanged::Ok(Json(holds_dto(id.0, out))))
    }

    /// Hold or release several orders at once; each id gets its own result (another tenant's
    /// or a missing one is `not_found`), in the order asked.
    #[oai(path = "/orders/bulk", method = "post")]
    async fn bulk(
        &self,
        #[oai(scope = "Scope::OrdersWrite")] auth: BearerAuth,
        body: Json<BulkIn>,
    ) -> ApiResult<BulkDone, WRITE> {
        let b = body.0;
        let hold = match b.action.as_str() {
            "hold" => true,
            "release" => false,
            other => {
                return Err(
                    Problem::new(Code::InvalidInput, format!("action must be hold or release, not `{other}`")).into()
                );
            }
        };
        let by = auth.0.actor.to_string();
        let mut results = Vec::with_capacity(b.ids.len());
        for id in b.ids {
            let out = if hold {
                self.orders.hold(auth.0.tenant_id, id, &by, &b.note).await
            } else {
                self.orders.release(auth.0.tenant_id, id, &by, &b.note).await
            };
            results.push(match out {
                Ok(o) => BulkResult {
                    id,
                    ok: true,
                    status: Some(o.status.as_str().to_owned()),
                    holds: Some(o.holds.into_iter().map(HoldDto::from).collect()),
                    error_code: None,
                    error: None,
                },
                Err(HoldFailure::Unknown(e)) => return Err(Problem::internal(e).into()),
                Err(e) => {
                    let code = match e {
                        HoldFailure::NotFound => "not_found",
                        _ => "invalid_state_transition",
                    };
                    BulkResult {
                        id,
                        ok: false,
                        status: None,
                        holds: None,
                        error_code: Some(code.into()),
                        error: Some(e.to_string()),
                    }
                }
            });
        }
        Ok(BulkDone::Ok(Json(BulkDto { results })))
    }

    /// The marketplace variants open orders wait on for a product mapping (their lines map to
    /// no SKU), with how many orders wait on each: what the product mapping screen lists
    /// first.
    #[oai(path = "/orders/unmapped-items", method = "get")]
    async fn unmapped_items(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
    ) -> ApiResult<UnmappedFound, AUTHENTICATED> {
        let items = self.orders.unmapped_items(auth.0.tenant_id).await.map_err(Problem::internal)?;
        Ok(UnmappedFound::Ok(Json(UnmappedItemsDto {
            items: items
                .into_iter()
                .map(|i| UnmappedItemDto {
                    channel_id: i.channel_id,
                    item_id: i.item_id,
                    variant_id: i.variant_id,
                    merchant_code: i.merchant_code,
                    title: i.title,
                    orders: i.orders,
                })
                .collect(),
        })))
    }

    /// One order with its lines (each with its reservation state and waybill), its shipments
    /// and its timeline.
    #[oai(path = "/orders/:id", method = "get")]
    async fn get(
        &self,
        #[oai(scope = "Scope::OrdersRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<OrderFound, READ_BY_ID> {
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
    async fn ship(
        &self,
        #[oai(scope = "Scope::OrdersWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<NewShipment>,
    ) -> ApiResult<ShipmentDone, { WRITE_BY_ID | CONFLICT }> {
        let req = ShipRequest { company_code: body.0.company_code, waybill_no: body.0.waybill_no, lines: body.0.lines };
        let done = self.orders.ship(auth.0.tenant_id, id.0, req).await.map_err(ship_problem)?;
        Ok(ShipmentDone::Ok(Json(ShipmentRecorded {
            order_id: done.order_id,
            status: done.status.as_str().to_owned(),
            shipment: done.shipment.into(),
        })))
    }
}
