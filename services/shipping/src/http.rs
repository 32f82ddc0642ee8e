//! `/v1/shipping`, `/v1/shipments`, `/v1/label-batches` and `/v1/webhooks/courier/{account_id}`:
//! poem-openapi handlers that turn requests into [`Shipping`] calls. No rules here.

use crate::{
    courier::{Address, Credentials},
    db::{self, shipment_history, shipment_waybills, shipments, shipping_accounts},
    domain::{
        Settings, Shipment, Status,
        rules::{Rule, Rules, When},
    },
    labels::{Batch, Sort},
    returns::{Condition, Received, Return},
    service::{Error, ItemResult, NewAccount, Shipping},
    tracking::{self, Outcome, PushError},
};
use auth::{BearerAuth, Scope};
use chrono::{DateTime, Utc};
use kernel::TenantId;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path, Query},
    payload::Binary,
};
use problem::status::{
    AUTHENTICATED, CALLBACK, CONFLICT, READ, READ_BY_ID, UNAVAILABLE, UNPROCESSABLE, WRITE, WRITE_BY_ID,
};
use problem::{ApiResult, Code, Errors, Json, Problem, ProblemResponse};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use shipping_labels::LabelSize;
use std::sync::Arc;
use uuid::Uuid;

/// A tracking push's raw body (signed over its exact bytes), at most 64 KiB.
type RawPush = problem::raw::RawJson<{ tracking::MAX_BODY_BYTES }>;

#[derive(Tags)]
enum Tag {
    /// Carrier accounts, carrier rules, shipments, waybills, labels and scan-to-ship.
    Shipping,
    /// Carrier callbacks (signed; no bearer token).
    Webhooks,
}

/// The shipping HTTP API.
pub struct ShippingApi {
    svc: Shipping,
    renderer: Arc<shipping_labels::Renderer>,
}

impl ShippingApi {
    /// The API over the use cases and a label renderer.
    pub fn new(svc: Shipping, renderer: Arc<shipping_labels::Renderer>) -> Self {
        ShippingApi { svc, renderer }
    }
}

impl<const S: u16> From<Error> for Errors<S> {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::NotFound => Code::NotFound,
            Error::Invalid(_) => Code::InvalidInput,
            Error::UnknownReference(_) => Code::UnknownReference,
            Error::Conflict(_) => Code::InvalidStateTransition,
            Error::Courier(_) => Code::Unavailable,
            Error::Db(_) => Code::Internal,
        };
        match e {
            Error::Db(cause) => Problem::internal(cause),
            e => Problem::new(code, e.to_string()),
        }
        .into()
    }
}

impl<const S: u16> From<PushError> for Errors<S> {
    fn from(e: PushError) -> Self {
        let code = match &e {
            PushError::NotFound => Code::NotFound,
            PushError::Unsigned(_) => Code::MissingHeader,
            PushError::BadSignature => Code::InvalidSignature,
            PushError::Stale => Code::StaleTimestamp,
            PushError::Invalid(_) => Code::InvalidInput,
            PushError::Db(_) => Code::Internal,
        };
        match e {
            PushError::Db(cause) => Problem::internal(cause),
            e => Problem::new(code, e.to_string()),
        }
        .into()
    }
}

/// A 400 `invalid_input`, as whichever error type the caller returns.
fn bad<E: From<Problem>>(detail: impl Into<String>) -> E {
    Problem::new(Code::InvalidInput, detail).into()
}

// ---- DTOs ----

/// A postal address with a contact.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CarrierAddress")]
struct AddressDto {
    #[oai(validator(min_length = 1, max_length = 50))]
    name: String,
    #[oai(validator(min_length = 3, max_length = 30))]
    phone: String,
    /// e.g. `浙江省`.
    #[oai(validator(min_length = 1, max_length = 20))]
    province: String,
    #[oai(validator(min_length = 1, max_length = 30))]
    city: String,
    #[oai(default, validator(max_length = 30))]
    district: String,
    /// The street address.
    #[oai(validator(min_length = 1, max_length = 200))]
    address: String,
}

impl From<AddressDto> for Address {
    fn from(a: AddressDto) -> Self {
        Address {
            name: a.name.trim().into(),
            phone: a.phone.trim().into(),
            province: a.province.trim().into(),
            city: a.city.trim().into(),
            district: a.district.trim().into(),
            address: a.address.trim().into(),
        }
    }
}

impl From<Address> for AddressDto {
    fn from(a: Address) -> Self {
        AddressDto {
            name: a.name,
            phone: a.phone,
            province: a.province,
            city: a.city,
            district: a.district,
            address: a.address,
        }
    }
}

/// A carrier account to connect: a carrier's branch, Courier credentials and the sender.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewCarrierAccount")]
struct AccountIn {
    /// The carrier: `SF`, `JD`, `EMS`, `ZTO`, `YTO`, `STO`, `YUNDA`.
    #[oai(validator(min_length = 1, max_length = 16))]
    cp_code: String,
    /// The branch (网点) code; for direct carriers the account code Courier lists.
    #[oai(validator(min_length = 1, max_length = 32))]
    branch_code: String,
    /// Courier's API base URL.
    #[oai(validator(min_length = 1, max_length = 500))]
    api_url: String,
    #[oai(validator(min_length = 1, max_length = 100))]
    app_key: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    app_secret: String,
    #[oai(validator(min_length = 1, max_length = 500))]
    access_token: String,
    /// Printed as the sender on every label this account draws.
    sender: AddressDto,
}

/// A connected carrier account (secrets are never shown).
#[derive(Debug, Clone, Object)]
#[oai(rename = "CarrierAccount")]
struct AccountDto {
    id: Uuid,
    cp_code: String,
    branch_code: String,
    branch_name: String,
    api_url: String,
    app_key: String,
    sender: AddressDto,
    /// Waybill numbers left at the branch (franchise carriers); null for direct carriers.
    #[oai(nullable)]
    quantity: Option<i64>,
    allocated: i64,
    cancelled: i64,
    printed: i64,
    /// When Courier last told the balance.
    #[oai(nullable)]
    balance_at: Option<DateTime<Utc>>,
    /// Where Courier pushes this account's tracking events (registered when connected).
    tracking_url: String,
    created_at: DateTime<Utc>,
}

/// The tenant's carrier accounts.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CarrierAccountList")]
struct AccountList {
    items: Vec<AccountDto>,
}

/// Conditions of a carrier rule: every one given must hold (empty = any).
#[derive(Debug, Clone, Object, Default)]
#[oai(rename = "CarrierRuleConditions")]
struct WhenDto {
    /// Receiver provinces (`浙江` or `浙江省`).
    #[oai(default)]
    provinces: Vec<String>,
    #[oai(nullable)]
    min_weight_grams: Option<i64>,
    #[oai(nullable)]
    max_weight_grams: Option<i64>,
    /// The shipment's payment in fen (sum of its orders').
    #[oai(nullable)]
    min_payment: Option<i64>,
    #[oai(nullable)]
    max_payment: Option<i64>,
    #[oai(default)]
    sku_codes: Vec<String>,
    /// Shops (channel ids).
    #[oai(default)]
    channel_ids: Vec<Uuid>,
    /// Warehouse codes.
    #[oai(default)]
    warehouses: Vec<String>,
}

/// A carrier rule: conditions → account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "CarrierRule")]
struct RuleDto {
    #[oai(validator(min_length = 1, max_length = 64))]
    name: String,
    #[oai(default)]
    when: WhenDto,
    account_id: Uuid,
}

/// Shipping settings and carrier rules: the first rule whose conditions all hold picks the
/// account; else the default.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShippingRules")]
struct RulesDto {
    /// Orders of one buyer to one receiver paid within this many seconds travel together; 0
    /// turns merging off. Default 600.
    #[oai(default = "ten_minutes")]
    merge_wait_seconds: i64,
    /// The weight assumed per unit when a shipment has none set. Default 300.
    #[oai(default = "three_hundred")]
    unit_weight_grams: i64,
    #[oai(default)]
    rules: Vec<RuleDto>,
    #[oai(nullable)]
    default_account_id: Option<Uuid>,
}

fn ten_minutes() -> i64 {
    600
}
fn three_hundred() -> i64 {
    300
}

#[derive(ApiResponse)]
enum AccountSaved {
    /// Connected.
    #[oai(status = 201)]
    Created(Json<AccountDto>),
    /// The branch was connected already: credentials and sender updated.
    #[oai(status = 200)]
    Ok(Json<AccountDto>),
}

#[derive(ApiResponse)]
enum AccountsFound {
    #[oai(status = 200)]
    Ok(Json<AccountList>),
}

#[derive(ApiResponse)]
enum RulesFound {
    #[oai(status = 200)]
    Ok(Json<RulesDto>),
}

/// An order in a shipment.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentOrder")]
struct ShipmentOrderDto {
    order_id: Uuid,
    channel_id: Uuid,
    /// The marketplace trade id.
    external_id: String,
    #[oai(nullable)]
    paid_at: Option<DateTime<Utc>>,
    /// The order's holds as orders last said (the shipment waits while any).
    holds: Vec<String>,
}

/// Units of one order line in a shipment.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentLine")]
struct ShipmentLineDto {
    order_id: Uuid,
    external_line_id: String,
    sku_code: String,
    title: String,
    quantity: i64,
}

/// Where a shipment goes.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentReceiver")]
struct ReceiverDto {
    name: String,
    phone: String,
    province: String,
    city: String,
    district: String,
    address: String,
    zip: String,
}

/// A shipment's live waybill.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Waybill")]
struct WaybillDto {
    code: String,
    cp_code: String,
    account_id: Uuid,
    /// A multi-parcel waybill's other parcels.
    child_codes: Vec<String>,
    /// 大头笔.
    sortation_name: String,
    /// 三段码.
    route_code: String,
    /// 集包地.
    consolidation_code: String,
    cp_name: String,
    drawn_at: DateTime<Utc>,
}

/// Where a shipment stands.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "ShipmentStatus", rename_all = "snake_case")]
enum StatusDto {
    /// Waiting for a waybill (a failed draw leaves it here, with the reason in `problem`).
    Pending,
    WaybillAllocated,
    Printed,
    /// Scanned out: its orders are written back as shipped.
    Shipped,
    InTransit,
    Delivered,
    /// An order in it is held; nothing was drawn.
    OnHold,
    /// An order in it was held after the draw; the waybill is cancelled (拦截).
    Intercepted,
    /// Nothing in it is to ship any more.
    Cancelled,
    /// The carrier reported a problem (问题件).
    Exception,
    /// Back at the sender; its units are back in stock.
    Returned,
}

impl From<Status> for StatusDto {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => StatusDto::Pending,
            Status::WaybillAllocated => StatusDto::WaybillAllocated,
            Status::Printed => StatusDto::Printed,
            Status::Shipped => StatusDto::Shipped,
            Status::InTransit => StatusDto::InTransit,
            Status::Delivered => StatusDto::Delivered,
            Status::OnHold => StatusDto::OnHold,
            Status::Intercepted => StatusDto::Intercepted,
            Status::Cancelled => StatusDto::Cancelled,
            Status::Exception => StatusDto::Exception,
            Status::Returned => StatusDto::Returned,
        }
    }
}

/// What became of one shipment named in a bulk request.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "ShipmentOutcome", rename_all = "snake_case")]
enum OutcomeDto {
    Drawn,
    /// It had a live waybill already (shown): nothing drawn, nothing charged.
    AlreadyDrawn,
    /// Courier refused or did not answer, or nothing fits (see `detail`); retry-safe.
    Failed,
    /// Not in a state to act on (held, already shipped…; see `detail`).
    Skipped,
    Shipped,
    AlreadyShipped,
    /// No such shipment for this tenant.
    NotFound,
}

/// A shipment (发货单).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Shipment")]
struct ShipmentDto {
    id: Uuid,
    status: StatusDto,
    warehouse_code: String,
    /// Orders with the same key may travel together.
    merge_key: String,
    orders: Vec<ShipmentOrderDto>,
    lines: Vec<ShipmentLineDto>,
    receiver: ReceiverDto,
    #[oai(nullable)]
    waybill: Option<WaybillDto>,
    parcels: u32,
    /// 0: estimated from the units at drawing time.
    weight_grams: i64,
    /// Why it is stuck (the last draw's error, what held it).
    #[oai(nullable)]
    problem: Option<String>,
    /// How often its label was printed in a batch.
    print_count: i32,
    /// The carrier's latest status (`COLLECTED`, …, `DELIVERED`, `RETURNED`).
    #[oai(nullable)]
    tracking_status: Option<String>,
    #[oai(nullable)]
    tracking_at: Option<DateTime<Utc>>,
    /// When its first order was paid (orders paid within the merge wait may join).
    opened_at: DateTime<Utc>,
    #[oai(nullable)]
    shipped_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Shipment> for ShipmentDto {
    fn from(s: Shipment) -> Self {
        ShipmentDto {
            id: s.id,
            status: s.status.into(),
            warehouse_code: s.warehouse_code,
            merge_key: s.merge_key,
            orders: s
                .orders
                .into_iter()
                .map(|o| ShipmentOrderDto {
                    order_id: o.order_id,
                    channel_id: o.channel_id,
                    external_id: o.external_id,
                    paid_at: o.paid_at,
                    holds: o.holds.iter().map(|h| h.as_str().to_owned()).collect(),
                })
                .collect(),
            lines: s
                .lines
                .into_iter()
                .map(|l| ShipmentLineDto {
                    order_id: l.order_id,
                    external_line_id: l.external_line_id,
                    sku_code: l.sku_code,
                    title: l.title,
                    quantity: l.quantity,
                })
                .collect(),
            receiver: ReceiverDto {
                name: s.receiver.name,
                phone: s.receiver.phone,
                province: s.receiver.province,
                city: s.receiver.city,
                district: s.receiver.district,
                address: s.receiver.address,
                zip: s.receiver.zip,
            },
            waybill: s.waybill.map(|w| WaybillDto {
                code: w.code,
                cp_code: w.cp_code,
                account_id: w.account_id,
                child_codes: w.child_codes,
                sortation_name: w.print.sortation_name,
                route_code: w.print.route_code,
                consolidation_code: w.print.consolidation_code,
                cp_name: w.print.cp_name,
                drawn_at: w.drawn_at,
            }),
            parcels: s.parcels,
            weight_grams: s.weight_grams,
            problem: s.problem,
            print_count: s.print_count,
            tracking_status: s.tracking.map(|t| t.0.as_str().to_owned()),
            tracking_at: s.tracking.map(|t| t.1),
            opened_at: s.opened_at,
            shipped_at: s.shipped_at,
            delivered_at: s.delivered_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A line of a shipment's history.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentEvent")]
struct HistoryDto {
    at: DateTime<Utc>,
    detail: String,
}

/// A waybill ever drawn for a shipment.
#[derive(Debug, Clone, Object)]
#[oai(rename = "WaybillRecord")]
struct WaybillRecordDto {
    code: String,
    cp_code: String,
    account_id: Uuid,
    parcels: i32,
    /// `live`, `cancelling` (being given back), `cancelled` or `cancel_failed`.
    state: String,
    #[oai(nullable)]
    detail: Option<String>,
    drawn_at: DateTime<Utc>,
    #[oai(nullable)]
    cancelled_at: Option<DateTime<Utc>>,
}

/// A shipment with its history and every waybill drawn for it.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentDetail")]
struct ShipmentDetail {
    #[oai(flatten)]
    shipment: ShipmentDto,
    history: Vec<HistoryDto>,
    waybills: Vec<WaybillRecordDto>,
}

/// A page of shipments, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentPage")]
struct ShipmentPage {
    items: Vec<ShipmentDto>,
    /// Pass as `cursor` for the next page; null on the last.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// How many shipments are in each status (with the list's filters but the status).
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentCounts")]
struct ShipmentCounts {
    pending: u64,
    waybill_allocated: u64,
    printed: u64,
    shipped: u64,
    in_transit: u64,
    delivered: u64,
    on_hold: u64,
    intercepted: u64,
    cancelled: u64,
    exception: u64,
    returned: u64,
}

#[derive(ApiResponse)]
enum ShipmentFound {
    #[oai(status = 200)]
    Ok(Json<ShipmentDetail>),
}

#[derive(ApiResponse)]
enum ShipmentsFound {
    #[oai(status = 200)]
    Ok(Json<ShipmentPage>),
}

#[derive(ApiResponse)]
enum CountsFound {
    #[oai(status = 200)]
    Ok(Json<ShipmentCounts>),
}

/// Shipments to act on.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentIds")]
struct ShipmentIds {
    /// 1-1000 shipment ids.
    #[oai(validator(min_items = 1, max_items = 1000))]
    shipment_ids: Vec<Uuid>,
}

/// Shipments to mark shipped.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipRequestIds")]
struct ShipIds {
    /// 1-1000 shipment ids (what a scan-to-ship station scanned).
    #[oai(validator(min_items = 1, max_items = 1000))]
    ids: Vec<Uuid>,
}

/// What became of one shipment.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentResult")]
struct ItemResultDto {
    id: Uuid,
    outcome: OutcomeDto,
    #[oai(nullable)]
    waybill_code: Option<String>,
    #[oai(nullable)]
    detail: Option<String>,
}

impl From<ItemResult> for ItemResultDto {
    fn from(r: ItemResult) -> Self {
        let outcome = match r.outcome {
            "drawn" => OutcomeDto::Drawn,
            "already_drawn" => OutcomeDto::AlreadyDrawn,
            "skipped" => OutcomeDto::Skipped,
            "shipped" => OutcomeDto::Shipped,
            "already_shipped" => OutcomeDto::AlreadyShipped,
            "not_found" => OutcomeDto::NotFound,
            _ => OutcomeDto::Failed,
        };
        ItemResultDto { id: r.id, outcome, waybill_code: r.waybill_code, detail: r.detail }
    }
}

/// One answer per shipment named, in order.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentResults")]
struct BulkResults {
    results: Vec<ItemResultDto>,
}

#[derive(ApiResponse)]
enum BulkDone {
    #[oai(status = 200)]
    Ok(Json<BulkResults>),
}

/// Units of one order line in a split part.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SplitLine")]
struct PartLine {
    order_id: Uuid,
    external_line_id: String,
    #[oai(validator(minimum(value = "1")))]
    quantity: i64,
}

/// One part of a split.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SplitPart")]
struct Part {
    lines: Vec<PartLine>,
}

/// How to split a shipment: the parts must add up to its lines exactly. The first part stays
/// in this shipment; each other part becomes a new one.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentSplit")]
struct SplitIn {
    #[oai(validator(min_items = 2, max_items = 50))]
    parts: Vec<Part>,
}

/// The shipments a split or unmerge made.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Replanned")]
struct Replanned {
    /// This shipment (first) and the new ones.
    shipment_ids: Vec<Uuid>,
}

#[derive(ApiResponse)]
enum ReplanDone {
    #[oai(status = 200)]
    Ok(Json<Replanned>),
}

/// A shipment's package.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ShipmentPackage")]
struct PackageIn {
    /// 1-20; more than 1 draws a multi-parcel waybill (子母件), one label per parcel.
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    parcels: u32,
    /// 0-1000000; 0: estimate from the units.
    #[oai(default, validator(minimum(value = "0"), maximum(value = "1000000")))]
    weight_grams: i64,
}

#[derive(ApiResponse)]
enum ShipmentSaved {
    #[oai(status = 200)]
    Ok(Json<ShipmentDto>),
}

/// Label stock.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "LabelSize")]
enum SizeDto {
    /// 100 × 180 mm 二联单 (with a stub).
    #[oai(rename = "100x180")]
    S100x180,
    /// 76 × 130 mm 一联单.
    #[oai(rename = "76x130")]
    S76x130,
    /// 100 × 150 mm (SF).
    #[oai(rename = "100x150")]
    S100x150,
}

impl From<SizeDto> for LabelSize {
    fn from(s: SizeDto) -> Self {
        match s {
            SizeDto::S100x180 => LabelSize::Mm100x180,
            SizeDto::S76x130 => LabelSize::Mm76x130,
            SizeDto::S100x150 => LabelSize::Mm100x150,
        }
    }
}

/// The order of a batch's labels.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "LabelSort", rename_all = "snake_case")]
enum SortDto {
    /// By the carrier's route code: labels come out in sortation order.
    Route,
    /// By SKU: a picker walks the shelves once.
    Sku,
    /// As listed.
    AsGiven,
}

/// A label batch to print.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewLabelBatch")]
struct BatchIn {
    /// 1-20000 shipments with a live waybill.
    #[oai(validator(min_items = 1, max_items = 20000))]
    shipment_ids: Vec<Uuid>,
    #[oai(default = "by_route")]
    sort: SortDto,
    #[oai(default = "big_label")]
    size: SizeDto,
}

fn by_route() -> SortDto {
    SortDto::Route
}
fn big_label() -> SizeDto {
    SizeDto::S100x180
}

/// A label batch and its progress.
#[derive(Debug, Clone, Object)]
#[oai(rename = "LabelBatch")]
struct BatchDto {
    id: Uuid,
    /// `queued`, `rendering`, `done` or `failed`.
    status: String,
    sort: String,
    size: String,
    shipment_ids: Vec<Uuid>,
    /// Shipments in the batch.
    total: i32,
    /// Shipments prepared so far.
    done: i32,
    /// Pages in the PDF (one per parcel), once done.
    pages: i32,
    /// What was left out, if anything.
    #[oai(nullable)]
    error: Option<String>,
    /// Where the PDF is, once done.
    #[oai(nullable)]
    pdf_url: Option<String>,
    created_at: DateTime<Utc>,
    #[oai(nullable)]
    finished_at: Option<DateTime<Utc>>,
}

impl From<Batch> for BatchDto {
    fn from(b: Batch) -> Self {
        let done = b.status == "done";
        BatchDto {
            pdf_url: done.then(|| format!("/v1/label-batches/{}/pdf", b.id)),
            id: b.id,
            status: b.status,
            sort: b.sort.as_str().into(),
            size: b.size.as_str().into(),
            shipment_ids: b.shipment_ids,
            total: b.total,
            done: b.done,
            pages: b.pages,
            error: b.error,
            created_at: b.created_at,
            finished_at: b.finished_at,
        }
    }
}

#[derive(ApiResponse)]
enum BatchQueued {
    /// Queued: poll the batch for its progress.
    #[oai(status = 202)]
    Accepted(Json<BatchDto>),
}

#[derive(ApiResponse)]
enum BatchFound {
    #[oai(status = 200)]
    Ok(Json<BatchDto>),
}

#[derive(ApiResponse)]
enum PdfFound {
    /// The labels, one page per parcel.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Disposition")] String),
}

/// What a tracking push answers.
#[derive(Debug, Object)]
#[oai(rename = "TrackingAck")]
struct PushAck {
    /// `accepted` the first time, `duplicate` for a message id already stored.
    status: String,
    message_id: String,
}

#[derive(ApiResponse)]
enum PushAccepted {
    /// Durably stored (or already stored).
    #[oai(status = 200)]
    Ok(Json<PushAck>),
}

/// A line expected back.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ReturnExpectedLine")]
struct ExpectedDto {
    external_line_id: String,
    sku_code: String,
    title: String,
    quantity: i64,
}

/// How a returned unit arrived.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "ReturnCondition", rename_all = "snake_case")]
enum ConditionDto {
    /// Can be sold again: back in stock.
    Sellable,
    /// Counted apart, not restocked.
    Damaged,
}

/// What arrived of one SKU in one condition.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ReturnReceivedLine")]
struct ReceivedDto {
    #[oai(validator(min_length = 1, max_length = 64))]
    sku_code: String,
    #[oai(validator(minimum(value = "1")))]
    quantity: i64,
    condition: ConditionDto,
}

/// A return after sale (退货).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Return")]
struct ReturnDto {
    id: Uuid,
    order_id: Uuid,
    /// The marketplace trade id.
    external_id: String,
    /// The shipment that carried the lines out.
    #[oai(nullable)]
    shipment_id: Option<Uuid>,
    /// Where the sellable units go back.
    warehouse_code: String,
    expected: Vec<ExpectedDto>,
    /// What arrived, once received.
    #[oai(nullable)]
    received: Option<Vec<ReceivedDto>>,
    status: ReturnStatusDto,
    created_at: DateTime<Utc>,
    #[oai(nullable)]
    received_at: Option<DateTime<Utc>>,
}

impl From<Return> for ReturnDto {
    fn from(r: Return) -> Self {
        let cond = |c: Condition| match c {
            Condition::Sellable => ConditionDto::Sellable,
            Condition::Damaged => ConditionDto::Damaged,
        };
        ReturnDto {
            id: r.id,
            order_id: r.order_id,
            external_id: r.external_id,
            shipment_id: r.shipment_id,
            warehouse_code: r.warehouse_code,
            expected: r
                .expected
                .into_iter()
                .map(|e| ExpectedDto {
                    external_line_id: e.external_line_id,
                    sku_code: e.sku_code,
                    title: e.title,
                    quantity: e.quantity,
                })
                .collect(),
            received: r.received.map(|v| {
                v.into_iter()
                    .map(|l| ReceivedDto { sku_code: l.sku_code, quantity: l.quantity, condition: cond(l.condition) })
                    .collect()
            }),
            status: if r.status == "received" { ReturnStatusDto::Received } else { ReturnStatusDto::Expected },
            created_at: r.created_at,
            received_at: r.received_at,
        }
    }
}

/// A page of the tenant's returns, newest first.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ReturnList")]
struct ReturnList {
    items: Vec<ReturnDto>,
    /// Pass as `cursor` for the next page; null on the last.
    #[oai(nullable)]
    next_cursor: Option<String>,
}

/// How many returns wait and how many were received.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ReturnCounts")]
struct ReturnCounts {
    expected: u64,
    received: u64,
}

#[derive(ApiResponse)]
enum ReturnCountsFound {
    #[oai(status = 200)]
    Ok(Json<ReturnCounts>),
}

/// Where a return stands.
#[derive(Debug, Clone, Copy, Enum, PartialEq, Eq)]
#[oai(rename = "ReturnStatus", rename_all = "snake_case")]
enum ReturnStatusDto {
    /// The buyer is sending the goods back.
    Expected,
    /// Received: sellable units back in stock, damaged ones counted apart.
    Received,
}

/// What arrived of a return.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ReturnReceipt")]
struct ReceiveIn {
    #[oai(validator(min_items = 1, max_items = 200))]
    lines: Vec<ReceivedDto>,
}

#[derive(ApiResponse)]
enum ReturnFound {
    #[oai(status = 200)]
    Ok(Json<ReturnDto>),
}

#[derive(ApiResponse)]
enum ReturnsFound {
    #[oai(status = 200)]
    Ok(Json<ReturnList>),
}

fn account_dto(a: shipping_accounts::Model, public_url: &str) -> AccountDto {
    AccountDto {
        tracking_url: format!("{}/v1/webhooks/courier/{}", public_url.trim_end_matches('/'), a.id),
        id: a.id,
        cp_code: a.cp_code,
        branch_code: a.branch_code,
        branch_name: a.branch_name,
        api_url: a.api_url,
        app_key: a.app_key,
        sender: serde_json::from_str::<Address>(&a.sender).unwrap_or_default().into(),
        quantity: a.quantity,
        allocated: a.allocated,
        cancelled: a.cancelled,
        printed: a.printed,
        balance_at: a.balance_at,
        created_at: a.created_at,
    }
}

fn rules_dto(s: Settings, r: Rules) -> RulesDto {
    RulesDto {
        merge_wait_seconds: s.merge_wait_seconds,
        unit_weight_grams: s.unit_weight_grams,
        rules: r
            .rules
            .into_iter()
            .map(|r| RuleDto {
                name: r.name,
                when: WhenDto {
                    provinces: r.when.provinces,
                    min_weight_grams: r.when.min_weight_grams,
                    max_weight_grams: r.when.max_weight_grams,
                    min_payment: r.when.min_payment,
                    max_payment: r.when.max_payment,
                    sku_codes: r.when.sku_codes,
                    channel_ids: r.when.channel_ids,
                    warehouses: r.when.warehouses,
                },
                account_id: r.account_id,
            })
            .collect(),
        default_account_id: r.default_account_id,
    }
}

/// Keeps a code to the characters carriers use.
fn check_code(field: &str, v: &str, max: usize) -> Result<(), Problem> {
    if v.is_empty() || v.len() > max || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Problem::new(Code::InvalidInput, format!("{field} must be 1-{max} letters, digits, '-' or '_'")));
    }
    Ok(())
}

fn filename(stem: &str) -> String {
    format!("inline; filename=\"{stem}.pdf\"")
}

#[OpenApi(prefix_path = "/v1")]
impl ShippingApi {
    /// Connect a carrier account (a carrier's branch) with its Courier credentials and the
    /// sender printed on its labels. Courier is asked first: the credentials must list that
    /// branch. Cairn then registers the account's tracking URL with Courier. Connecting the
    /// same branch again updates its credentials and sender.
    #[oai(path = "/shipping/accounts", method = "post", tag = "Tag::Shipping")]
    async fn connect(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<AccountIn>,
    ) -> ApiResult<AccountSaved, { WRITE | UNPROCESSABLE | UNAVAILABLE }> {
        let b = body.0;
        check_code("cp_code", &b.cp_code, 16)?;
        check_code("branch_code", &b.branch_code, 32)?;
        let url = b.api_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
            return Err(bad("api_url must be an http(s) URL"));
        }
        for (field, v) in
            [("sender.name", &b.sender.name), ("sender.phone", &b.sender.phone), ("sender.address", &b.sender.address)]
        {
            if v.trim().is_empty() {
                return Err(bad(format!("{field} must not be blank")));
            }
        }
        let new = NewAccount {
            cp_code: b.cp_code,
            branch_code: b.branch_code,
            creds: Credentials {
                api_url: url.into(),
                app_key: b.app_key,
                app_secret: b.app_secret,
                access_token: b.access_token,
            },
            sender: b.sender.into(),
        };
        let (a, created) = self.svc.connect(auth.0.tenant_id, new).await?;
        let dto = account_dto(a, &self.svc.public_url);
        Ok(if created { AccountSaved::Created(Json(dto)) } else { AccountSaved::Ok(Json(dto)) })
    }

    /// The carrier accounts, with balances asked of Courier now (an account Courier did not
    /// answer for shows its last known balance and `balance_at`).
    #[oai(path = "/shipping/accounts", method = "get", tag = "Tag::Shipping")]
    async fn accounts(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
    ) -> ApiResult<AccountsFound, AUTHENTICATED> {
        let list = self.svc.accounts(auth.0.tenant_id).await?;
        Ok(AccountsFound::Ok(Json(AccountList {
            items: list.into_iter().map(|a| account_dto(a, &self.svc.public_url)).collect(),
        })))
    }

    /// The merge wait, the unit weight and the carrier rules.
    #[oai(path = "/shipping/rules", method = "get", tag = "Tag::Shipping")]
    async fn get_rules(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
    ) -> ApiResult<RulesFound, AUTHENTICATED> {
        let (s, r) = db::settings(self.svc.db.tenant(auth.0.tenant_id.0).conn(), auth.0.tenant_id)
            .await
            .map_err(Problem::internal)?;
        Ok(RulesFound::Ok(Json(rules_dto(s, r))))
    }

    /// Replace the merge wait, the unit weight and the carrier rules (every account named must
    /// be the tenant's: 422 otherwise). The same rules again change nothing.
    #[oai(path = "/shipping/rules", method = "put", tag = "Tag::Shipping")]
    async fn put_rules(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<RulesDto>,
    ) -> ApiResult<RulesFound, { WRITE | UNPROCESSABLE }> {
        let b = body.0;
        let settings = Settings { merge_wait_seconds: b.merge_wait_seconds, unit_weight_grams: b.unit_weight_grams };
        let rules = Rules {
            rules: b
                .rules
                .into_iter()
                .map(|r| Rule {
                    name: r.name.trim().to_owned(),
                    when: When {
                        provinces: r.when.provinces,
                        min_weight_grams: r.when.min_weight_grams,
                        max_weight_grams: r.when.max_weight_grams,
                        min_payment: r.when.min_payment,
                        max_payment: r.when.max_payment,
                        sku_codes: r.when.sku_codes,
                        channel_ids: r.when.channel_ids,
                        warehouses: r.when.warehouses,
                    },
                    account_id: r.account_id,
                })
                .collect(),
            default_account_id: b.default_account_id,
        };
        self.svc.set_rules(auth.0.tenant_id, settings.clone(), rules.clone()).await?;
        Ok(RulesFound::Ok(Json(rules_dto(settings, rules))))
    }

    /// Shipments, newest first: by status, warehouse, carrier account, order or waybill code.
    #[oai(path = "/shipments", method = "get", tag = "Tag::Shipping")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        status: Query<Option<String>>,
        warehouse: Query<Option<String>>,
        account: Query<Option<Uuid>>,
        order_id: Query<Option<Uuid>>,
        /// A waybill code (a parcel's, a multi-parcel waybill's child included): what a
        /// scan-to-ship station scans.
        waybill: Query<Option<String>>,
        /// 1-500, default 50.
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<ShipmentsFound, READ> {
        let tenant = auth.0.tenant_id;
        let limit = limit.0.unwrap_or(50);
        let mut q = self.filtered(tenant, warehouse.0, account.0, order_id.0).await?;
        if let Some(s) = status.0.as_deref() {
            let s = Status::parse(s).ok_or_else(|| {
                bad::<Problem>(format!(
                    "status must be one of {}",
                    Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            q = q.filter(shipments::Column::Status.eq(s.as_str()));
        }
        if let Some(w) = waybill.0.as_deref() {
            check_code("waybill", w, 64)?;
            // The parent's code is a column; a child's is inside the waybill's JSON, quoted.
            q = q.filter(
                sea_orm::Condition::any()
                    .add(shipments::Column::WaybillCode.eq(w))
                    .add(shipments::Column::Waybill.contains(format!("\"{w}\""))),
            );
        }
        if let Some(c) = cursor.0.as_deref() {
            let id: Uuid = c.parse().map_err(|_| bad::<Problem>("cursor is not one this API gave"))?;
            q = q.filter(shipments::Column::Id.lt(id));
        }
        let rows = q
            .order_by_desc(shipments::Column::Id)
            .limit(limit + 1)
            .all(self.svc.db.tenant(tenant.0).conn())
            .await
            .map_err(Problem::internal)?;
        let more = rows.len() as u64 > limit;
        let items: Vec<ShipmentDto> = rows
            .into_iter()
            .take(limit as usize)
            .map(|m| db::shipment(m).map(ShipmentDto::from))
            .collect::<Result<_, _>>()
            .map_err(Problem::internal)?;
        let next_cursor = more.then(|| items.last().map(|s| s.id.to_string())).flatten();
        Ok(ShipmentsFound::Ok(Json(ShipmentPage { items, next_cursor })))
    }

    /// How many shipments are in each status (with the same filters as the list).
    #[oai(path = "/shipments/counts", method = "get", tag = "Tag::Shipping")]
    async fn counts(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        warehouse: Query<Option<String>>,
        account: Query<Option<Uuid>>,
        order_id: Query<Option<Uuid>>,
    ) -> ApiResult<CountsFound, READ> {
        let q = self.filtered(auth.0.tenant_id, warehouse.0, account.0, order_id.0).await?;
        let rows: Vec<(String, i64)> = q
            .select_only()
            .column(shipments::Column::Status)
            .column_as(shipments::Column::Id.count(), "n")
            .group_by(shipments::Column::Status)
            .into_tuple()
            .all(self.svc.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        let n = |s: Status| rows.iter().find(|r| r.0 == s.as_str()).map_or(0, |r| r.1 as u64);
        Ok(CountsFound::Ok(Json(ShipmentCounts {
            pending: n(Status::Pending),
            waybill_allocated: n(Status::WaybillAllocated),
            printed: n(Status::Printed),
            shipped: n(Status::Shipped),
            in_transit: n(Status::InTransit),
            delivered: n(Status::Delivered),
            on_hold: n(Status::OnHold),
            intercepted: n(Status::Intercepted),
            cancelled: n(Status::Cancelled),
            exception: n(Status::Exception),
            returned: n(Status::Returned),
        })))
    }

    /// A shipment with its history and every waybill drawn for it.
    #[oai(path = "/shipments/:id", method = "get", tag = "Tag::Shipping")]
    async fn get(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ShipmentFound, READ_BY_ID> {
        let tenant = auth.0.tenant_id;
        let db = self.svc.db.tenant(tenant.0);
        let conn = db.conn();
        let s = db::load(conn, tenant, &[id.0], false).await.map_err(Problem::internal)?.pop();
        let s = s.ok_or_else(|| Problem::not_found("shipment"))?;
        let history = shipment_history::Entity::find()
            .filter(shipment_history::Column::TenantId.eq(tenant.0))
            .filter(shipment_history::Column::ShipmentId.eq(id.0))
            .order_by_asc(shipment_history::Column::Id)
            .all(conn)
            .await
            .map_err(Problem::internal)?;
        let waybills = shipment_waybills::Entity::find()
            .filter(shipment_waybills::Column::TenantId.eq(tenant.0))
            .filter(shipment_waybills::Column::ShipmentId.eq(id.0))
            .order_by_asc(shipment_waybills::Column::DrawnAt)
            .all(conn)
            .await
            .map_err(Problem::internal)?;
        Ok(ShipmentFound::Ok(Json(ShipmentDetail {
            shipment: s.into(),
            history: history.into_iter().map(|h| HistoryDto { at: h.at, detail: h.detail }).collect(),
            waybills: waybills
                .into_iter()
                .map(|w| WaybillRecordDto {
                    code: w.code,
                    cp_code: w.cp_code,
                    account_id: w.account_id,
                    parcels: w.parcels,
                    state: w.state,
                    detail: w.detail,
                    drawn_at: w.drawn_at,
                    cancelled_at: w.cancelled_at,
                })
                .collect(),
        })))
    }

    /// Draw waybills for pending shipments through the carrier rules, in calls of at most ten.
    /// Retry-safe: each shipment's id is Courier's `object_id`, so drawing again after a
    /// timeout returns the waybill already drawn and costs nothing. A shipment that fails
    /// stays `pending` with the reason in `problem`.
    #[oai(path = "/shipments/waybills", method = "post", tag = "Tag::Shipping")]
    async fn draw(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        body: Json<ShipmentIds>,
    ) -> ApiResult<BulkDone, WRITE> {
        let results = self.svc.draw(auth.0.tenant_id, &body.0.shipment_ids).await?;
        Ok(BulkDone::Ok(Json(BulkResults { results: results.into_iter().map(Into::into).collect() })))
    }

    /// Cancel a shipment's waybill (it goes back to Courier; the shipment is pending again).
    /// Without a waybill, the shipment is answered as it is.
    #[oai(path = "/shipments/:id/cancel-waybill", method = "post", tag = "Tag::Shipping")]
    async fn cancel_waybill(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ShipmentSaved, { READ_BY_ID | CONFLICT }> {
        let s = self.svc.cancel_waybill(auth.0.tenant_id, id.0).await?;
        Ok(ShipmentSaved::Ok(Json(s.into())))
    }

    /// Set a shipment's parcels (子母件 when more than one) and weight, before drawing.
    #[oai(path = "/shipments/:id/package", method = "post", tag = "Tag::Shipping")]
    async fn package(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<PackageIn>,
    ) -> ApiResult<ShipmentSaved, { WRITE_BY_ID | CONFLICT }> {
        let s = self.svc.set_package(auth.0.tenant_id, id.0, body.0.parcels, body.0.weight_grams).await?;
        Ok(ShipmentSaved::Ok(Json(s.into())))
    }

    /// Split a shipment by lines and quantities (the parts must add up to it). Only before a
    /// waybill is drawn.
    #[oai(path = "/shipments/:id/split", method = "post", tag = "Tag::Shipping")]
    async fn split(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<SplitIn>,
    ) -> ApiResult<ReplanDone, { WRITE_BY_ID | CONFLICT }> {
        let parts: Vec<Vec<(Uuid, String, i64)>> = body
            .0
            .parts
            .into_iter()
            .map(|p| p.lines.into_iter().map(|l| (l.order_id, l.external_line_id, l.quantity)).collect())
            .collect();
        let made = self.svc.split(auth.0.tenant_id, id.0, &parts).await?;
        Ok(ReplanDone::Ok(Json(Replanned { shipment_ids: std::iter::once(id.0).chain(made).collect() })))
    }

    /// Unmerge a shipment: each order in it gets a shipment of its own. Only before a waybill
    /// is drawn.
    #[oai(path = "/shipments/:id/unmerge", method = "post", tag = "Tag::Shipping")]
    async fn unmerge(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReplanDone, { READ_BY_ID | CONFLICT }> {
        let made = self.svc.unmerge(auth.0.tenant_id, id.0).await?;
        Ok(ReplanDone::Ok(Json(Replanned { shipment_ids: std::iter::once(id.0).chain(made).collect() })))
    }

    /// Mark shipments shipped (scan-to-ship). Each writes its orders back to their
    /// marketplaces with its waybill and commits exactly its lines' stock. Shipments already
    /// shipped answer `already_shipped`; held or undrawn ones `failed` with the reason.
    #[oai(path = "/shipments/ship", method = "post", tag = "Tag::Shipping")]
    async fn ship(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        body: Json<ShipIds>,
    ) -> ApiResult<BulkDone, { WRITE | CONFLICT }> {
        let results = self.svc.ship(auth.0.tenant_id, &body.0.ids).await?;
        Ok(BulkDone::Ok(Json(BulkResults { results: results.into_iter().map(Into::into).collect() })))
    }

    /// A shipment's label PDF, one page per parcel (a preview: printing is a batch, which
    /// counts).
    #[oai(path = "/shipments/:id/label.pdf", method = "get", tag = "Tag::Shipping")]
    async fn label(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        id: Path<Uuid>,
        size: Query<Option<SizeDto>>,
    ) -> ApiResult<PdfFound, { READ_BY_ID | CONFLICT }> {
        let size: LabelSize = size.0.unwrap_or(SizeDto::S100x180).into();
        let pdf = self.svc.label(auth.0.tenant_id, id.0, size, &self.renderer).await?;
        Ok(PdfFound::Ok(Binary(pdf), filename(&format!("label-{}", id.0))))
    }

    /// Print labels in a batch: one PDF, one label per page, sorted for picking. Answers 202
    /// with the batch; poll it for progress. Printing marks the shipments `printed`.
    #[oai(path = "/label-batches", method = "post", tag = "Tag::Shipping")]
    async fn create_batch(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        body: Json<BatchIn>,
    ) -> ApiResult<BatchQueued, { WRITE | CONFLICT | UNPROCESSABLE }> {
        let b = body.0;
        let sort = match b.sort {
            SortDto::Route => Sort::Route,
            SortDto::Sku => Sort::Sku,
            SortDto::AsGiven => Sort::AsGiven,
        };
        let batch = self.svc.create_batch(auth.0.tenant_id, &b.shipment_ids, sort, b.size.into()).await?;
        Ok(BatchQueued::Accepted(Json(batch.into())))
    }

    /// A label batch and its progress.
    #[oai(path = "/label-batches/:id", method = "get", tag = "Tag::Shipping")]
    async fn batch(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<BatchFound, READ_BY_ID> {
        let b = self.svc.batch(auth.0.tenant_id, id.0).await?.ok_or_else(|| Problem::not_found("label batch"))?;
        Ok(BatchFound::Ok(Json(b.into())))
    }

    /// A finished batch's PDF (409 while it renders).
    #[oai(path = "/label-batches/:id/pdf", method = "get", tag = "Tag::Shipping")]
    async fn batch_pdf(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<PdfFound, { READ_BY_ID | CONFLICT }> {
        let (b, pdf) =
            self.svc.batch_pdf(auth.0.tenant_id, id.0).await?.ok_or_else(|| Problem::not_found("label batch"))?;
        let pdf = pdf.ok_or_else(|| {
            Problem::new(
                Code::InvalidStateTransition,
                format!("the batch is {} ({}/{}): not printed yet", b.status, b.done, b.total),
            )
        })?;
        Ok(PdfFound::Ok(Binary(pdf), filename(&format!("labels-{}", b.id))))
    }

    /// Returns after sale (退货): lines shipped through Cairn that buyers send back, newest
    /// first; `status` is `expected` or `received`.
    #[oai(path = "/returns", method = "get", tag = "Tag::Shipping")]
    async fn returns(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        status: Query<Option<ReturnStatusDto>>,
        order_id: Query<Option<Uuid>>,
        /// 1-500, default 50.
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<ReturnsFound, READ> {
        let limit = limit.0.unwrap_or(50);
        let before = match cursor.0.as_deref() {
            Some(c) => Some(c.parse::<Uuid>().map_err(|_| bad::<Problem>("cursor is not one this API gave"))?),
            None => None,
        };
        let status = status.0.map(|s| match s {
            ReturnStatusDto::Expected => "expected",
            ReturnStatusDto::Received => "received",
        });
        let (list, more) = self.svc.returns(auth.0.tenant_id, status, order_id.0, before, limit).await?;
        let next_cursor = more.then(|| list.last().map(|r| r.id.to_string())).flatten();
        Ok(ReturnsFound::Ok(Json(ReturnList { items: list.into_iter().map(Into::into).collect(), next_cursor })))
    }

    /// How many returns are expected and received.
    #[oai(path = "/returns/counts", method = "get", tag = "Tag::Shipping")]
    async fn return_counts(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
    ) -> ApiResult<ReturnCountsFound, AUTHENTICATED> {
        let (expected, received) = self.svc.return_counts(auth.0.tenant_id).await?;
        Ok(ReturnCountsFound::Ok(Json(ReturnCounts { expected, received })))
    }

    /// A return.
    #[oai(path = "/returns/:id", method = "get", tag = "Tag::Shipping")]
    async fn return_of(
        &self,
        #[oai(scope = "Scope::ShippingRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReturnFound, READ_BY_ID> {
        let r = self.svc.return_of(auth.0.tenant_id, id.0).await?.ok_or_else(|| Problem::not_found("return"))?;
        Ok(ReturnFound::Ok(Json(r.into())))
    }

    /// Receive a return: the sellable units go back in stock (a `return` movement in the
    /// ledger), damaged ones are counted apart. Once: the same receipt again answers the same;
    /// another answers 409. More than expected of a SKU is refused.
    #[oai(path = "/returns/:id/receive", method = "post", tag = "Tag::Shipping")]
    async fn receive(
        &self,
        #[oai(scope = "Scope::ShippingWrite")] auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<ReceiveIn>,
    ) -> ApiResult<ReturnFound, { WRITE_BY_ID | CONFLICT | UNPROCESSABLE }> {
        let lines = body
            .0
            .lines
            .into_iter()
            .map(|l| Received {
                sku_code: l.sku_code,
                quantity: l.quantity,
                condition: match l.condition {
                    ConditionDto::Sellable => Condition::Sellable,
                    ConditionDto::Damaged => Condition::Damaged,
                },
            })
            .collect();
        let r = self.svc.receive(auth.0.tenant_id, id.0, lines).await?;
        Ok(ReturnFound::Ok(Json(r.into())))
    }

    /// Courier tracking push for one carrier account. Authenticated by `X-Courier-Signature`
    /// (HMAC-SHA256 over `"{timestamp}.{raw body}"` with the account's tracking secret);
    /// deduplicated by `X-Courier-Message-Id`; an event older than the shipment's latest
    /// changes nothing.
    #[oai(path = "/webhooks/courier/:account_id", method = "post", tag = "Tag::Webhooks")]
    async fn courier_webhook(
        &self,
        account_id: Path<Uuid>,
        #[oai(name = "X-Courier-Message-Id")] message_id: Header<Option<String>>,
        #[oai(name = "X-Courier-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Courier-Signature")] signature: Header<Option<String>>,
        body: RawPush,
    ) -> ApiResult<PushAccepted, CALLBACK> {
        let h = tracking::Signed {
            message_id: message_id.0.as_deref(),
            timestamp: timestamp.0.as_deref(),
            signature: signature.0.as_deref(),
        };
        let outcome = self.svc.track(account_id.0, h, &body.0).await?;
        let status = if outcome == Outcome::Duplicate { "duplicate" } else { "accepted" };
        Ok(PushAccepted::Ok(Json(PushAck { status: status.into(), message_id: message_id.0.unwrap_or_default() })))
    }
}

impl ShippingApi {
    /// The tenant's shipments with the list's filters but the status.
    async fn filtered(
        &self,
        tenant: TenantId,
        warehouse: Option<String>,
        account: Option<Uuid>,
        order_id: Option<Uuid>,
    ) -> Result<sea_orm::Select<shipments::Entity>, ProblemResponse> {
        let mut q = shipments::Entity::find().filter(shipments::Column::TenantId.eq(tenant.0));
        if let Some(w) = warehouse {
            q = q.filter(shipments::Column::WarehouseCode.eq(w));
        }
        if let Some(a) = account {
            q = q.filter(shipments::Column::AccountId.eq(a));
        }
        if let Some(o) = order_id {
            let ids = db::ids_with_orders(self.svc.db.tenant(tenant.0).conn(), tenant, &[o])
                .await
                .map_err(Problem::internal)?;
            q = q.filter(shipments::Column::Id.is_in(ids));
        }
        Ok(q)
    }
}
