//! The inventory API: warehouses, SKUs, stock, adjustments and reservations.

use crate::remote::Commands;
use crate::{
    db,
    domain::{Adjust, Allocation, RegionRule, Reservation, Reserve, ReserveLine, StockError, Strategy, province_key},
    engine::{AdjustKey, Command, EngineError, Reply, StockView},
};
use auth::{BearerAuth, Scope};
use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, Tags,
    param::{Header, Path, Query},
};
use problem::status::{AUTHENTICATED, CONFLICT, NOT_FOUND, READ, READ_BY_ID, UNAVAILABLE, UNPROCESSABLE, WRITE};
use problem::{ApiResult, Code, Json, Problem, ProblemResponse, ShortLine};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// Warehouses, SKUs, stock levels, adjustments and reservations.
    Inventory,
}

/// The inventory HTTP API.
pub struct InventoryApi {
    db: store::Db,
    /// Where its commands are decided (see `crate::remote`).
    engine: Commands,
}

impl InventoryApi {
    /// Builds the API over the database (reads) and the engine that decides its commands
    /// (writes): this process's, or the owner of the tenant's shard.
    pub fn new(db: store::Db, engine: Commands) -> Self {
        InventoryApi { db, engine }
    }
}

fn problem(e: EngineError) -> ProblemResponse {
    match e {
        EngineError::Unavailable(d) => {
            tracing::warn!(detail = %d, "inventory write failed");
            Problem::new(Code::Unavailable, "Inventory could not store the change; nothing was applied. Retry.").into()
        }
        EngineError::Stock(s) => match s {
            StockError::UnknownSku(c) => Problem::new(Code::UnknownSku, format!("SKU `{c}` does not exist")),
            StockError::UnknownWarehouse(c) => Problem::new(Code::NotFound, format!("warehouse `{c}` does not exist")),
            StockError::UnknownWarehouses(codes) => Problem::new(
                Code::UnknownReference,
                format!("no warehouse with the code {}; nothing was changed", codes.join(", ")),
            ),
            StockError::UnknownReservation => Problem::not_found("reservation"),
            StockError::Insufficient(lines) => {
                let mut p =
                    Problem::new(Code::InsufficientStock, "Not enough stock for every line; nothing was reserved.");
                p.lines = Some(
                    lines
                        .into_iter()
                        .map(|l| ShortLine { sku_code: l.sku_code, requested: l.requested, available: l.available })
                        .collect(),
                );
                p
            }
            StockError::AlreadyExists(what, code) => {
                Problem::new(Code::AlreadyExists, format!("{what} `{code}` already exists with different fields"))
            }
            StockError::KeyReused => Problem::new(
                Code::IdempotencyKeyReused,
                "This Idempotency-Key was already used with a different request body.",
            ),
            e @ StockError::InvalidTransition { .. } => Problem::new(Code::InvalidStateTransition, e.to_string()),
            StockError::Invalid(m) => Problem::new(Code::InvalidInput, m),
        }
        .into(),
    }
}

fn check_code(field: &str, code: &str) -> Result<(), Problem> {
    let ok =
        !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            Code::InvalidInput,
            format!("{field} must be 1-64 characters of letters, digits, '-', '_' or '.'"),
        ))
    }
}

fn check_key(key: &str) -> Result<(), Problem> {
    if key.is_empty() || key.len() > 255 {
        return Err(Problem::new(Code::InvalidInput, "Idempotency-Key must be 1-255 characters"));
    }
    Ok(())
}

/// A stock location.
#[derive(Debug, Object)]
struct WarehouseDto {
    id: Uuid,
    code: String,
    name: String,
}

#[derive(Debug, Object)]
struct NewWarehouse {
    /// Unique per tenant, e.g. `SH-01`: 1-64 letters, digits, `-`, `_` or `.`.
    #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$"))]
    code: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
}

#[derive(ApiResponse)]
enum WarehouseCreated {
    /// Created (or the same warehouse again).
    #[oai(status = 201)]
    Created(Json<WarehouseDto>),
}

#[derive(ApiResponse)]
enum WarehouseList {
    /// The tenant's warehouses.
    #[oai(status = 200)]
    Ok(Json<Vec<WarehouseDto>>),
}

/// A stock-keeping unit.
#[derive(Debug, Object)]
struct SkuDto {
    id: Uuid,
    /// The seller's code; marketplaces' `outer_sku_id`.
    code: String,
    name: String,
    /// Units never promised to anyone.
    safety_stock: i64,
}

#[derive(Debug, Object)]
struct NewSku {
    /// The seller's code (marketplaces' `outer_sku_id`): 1-64 letters, digits, `-`, `_` or `.`.
    #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$"))]
    code: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
    #[oai(nullable, validator(minimum(value = "0"), maximum(value = "1000000000")))]
    safety_stock: Option<i64>,
}

#[derive(ApiResponse)]
enum SkuCreated {
    /// Created (or the same SKU again).
    #[oai(status = 201)]
    Created(Json<SkuDto>),
}

#[derive(ApiResponse)]
enum SkuList {
    /// The tenant's SKUs.
    #[oai(status = 200)]
    Ok(Json<Vec<SkuDto>>),
}

/// One SKU's stock across warehouses.
#[derive(Debug, Object)]
struct StockDto {
    sku_code: String,
    on_hand: i64,
    reserved: i64,
    safety_stock: i64,
    /// on_hand − reserved − safety_stock (never below 0).
    available: i64,
    warehouses: Vec<WarehouseStockDto>,
}

/// A SKU in the stock list: its stock per warehouse, and whether it runs low.
#[derive(Debug, Object)]
struct StockRow {
    sku_code: String,
    name: String,
    on_hand: i64,
    reserved: i64,
    safety_stock: i64,
    /// on_hand − reserved − safety_stock (never below 0).
    available: i64,
    /// `available` is at or below the tenant's `low_stock_threshold`.
    low: bool,
    warehouses: Vec<WarehouseStockDto>,
}

/// A page of the stock list, by SKU code.
#[derive(Debug, Object)]
struct StockPage {
    items: Vec<StockRow>,
    /// Pass as `after` for the next page; null on the last one.
    #[oai(nullable)]
    next_after: Option<String>,
}

#[derive(ApiResponse)]
enum StockListed {
    /// SKUs in code order.
    #[oai(status = 200)]
    Ok(Json<StockPage>),
}

/// The tenant's inventory settings.
#[derive(Debug, Clone, Object)]
struct InventorySettingsDto {
    /// A SKU whose available quantity is at or below this runs low (0: when nothing is left
    /// above its safety stock).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    low_stock_threshold: i64,
}

#[derive(ApiResponse)]
enum SettingsFound {
    /// The settings (the defaults until they are set).
    #[oai(status = 200)]
    Ok(Json<InventorySettingsDto>),
}

#[derive(Debug, Object)]
struct WarehouseStockDto {
    warehouse_code: String,
    on_hand: i64,
    reserved: i64,
}

impl From<StockView> for StockDto {
    fn from(v: StockView) -> Self {
        StockDto {
            sku_code: v.sku_code,
            on_hand: v.on_hand,
            reserved: v.reserved,
            safety_stock: v.safety_stock,
            available: v.available,
            warehouses: v
                .warehouses
                .into_iter()
                .map(|w| WarehouseStockDto {
                    warehouse_code: w.warehouse_code,
                    on_hand: w.on_hand,
                    reserved: w.reserved,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Object, Serialize)]
struct NewAdjustment {
    #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$"))]
    sku_code: String,
    /// Defaults to `MAIN`.
    #[oai(nullable, validator(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$"))]
    warehouse_code: Option<String>,
    /// Units received (positive) or removed (negative); never zero.
    #[oai(validator(minimum(value = "-1000000000"), maximum(value = "1000000000")))]
    delta: i64,
    #[oai(validator(min_length = 1, max_length = 500))]
    reason: String,
}

#[derive(ApiResponse)]
enum AdjustmentCreated {
    /// Applied; the SKU's stock afterwards (the first result again for a replayed key).
    #[oai(status = 201)]
    Created(Json<StockDto>),
}

#[derive(ApiResponse)]
enum StockFound {
    /// The SKU's stock.
    #[oai(status = 200)]
    Ok(Json<StockDto>),
}

/// A movement in the append-only stock ledger.
#[derive(Debug, Object)]
struct LedgerEntryDto {
    id: Uuid,
    warehouse_code: String,
    /// receipt, adjustment, reserve, release, commit, expire or return.
    kind: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    #[oai(nullable)]
    reservation_id: Option<Uuid>,
    cause: String,
    at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum LedgerFound {
    /// Movements, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<LedgerEntryDto>>),
}

#[derive(Debug, Object, Serialize)]
struct ReserveLineDto {
    #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._-]+$"))]
    sku_code: String,
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    quantity: i64,
}

#[derive(Debug, Object, Serialize)]
struct NewReservation {
    /// Your reference, e.g. an order number.
    #[oai(validator(min_length = 1, max_length = 200))]
    reference: String,
    #[oai(validator(min_items = 1, max_items = 200))]
    lines: Vec<ReserveLineDto>,
    /// How long the hold lasts unless confirmed; default 1800.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "604800")))]
    ttl_seconds: Option<i64>,
}

/// A reservation line and its state.
#[derive(Debug, Object)]
struct ReservationLineDto {
    line_ref: String,
    sku_code: String,
    quantity: i64,
    /// held, confirmed, committed, released, expired, backordered or unreserved.
    state: String,
}

/// A reservation.
#[derive(Debug, Object)]
struct ReservationDto {
    id: Uuid,
    reference: String,
    /// The order this reservation belongs to, if any.
    #[oai(nullable)]
    order_id: Option<Uuid>,
    state: String,
    #[oai(nullable)]
    expires_at: Option<DateTime<Utc>>,
    lines: Vec<ReservationLineDto>,
    created_at: DateTime<Utc>,
}

impl From<&Reservation> for ReservationDto {
    fn from(r: &Reservation) -> Self {
        ReservationDto {
            id: r.id,
            reference: r.reference.clone(),
            order_id: r.order_id,
            state: r.state().as_str().to_owned(),
            expires_at: r.expires_at,
            lines: r
                .lines
                .iter()
                .map(|l| ReservationLineDto {
                    line_ref: l.line_ref.clone(),
                    sku_code: l.sku_code.clone(),
                    quantity: l.quantity,
                    state: l.state.as_str().to_owned(),
                })
                .collect(),
            created_at: r.created_at,
        }
    }
}

#[derive(ApiResponse)]
enum ReservationCreated {
    /// Reserved (or the first result of this Idempotency-Key).
    #[oai(status = 201)]
    Created(Json<ReservationDto>),
}

#[derive(ApiResponse)]
enum ReservationFound {
    /// The reservation.
    #[oai(status = 200)]
    Ok(Json<ReservationDto>),
}

const DEFAULT_TTL_SECONDS: i64 = 1800;

/// How an order's lines pick the warehouses their stock is reserved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
enum StrategyDto {
    /// The warehouses in `priority` order, then the others by code.
    Priority,
    /// The warehouse with the most free units first (the default).
    MostStock,
    /// The receiver's province picks a list from `regions`, else `fallback`; the warehouses
    /// neither names follow, most free units first.
    Region,
}

/// The warehouses that serve one province, most preferred first.
#[derive(Debug, Clone, Object)]
struct RegionRuleDto {
    /// The receiver's province, e.g. `浙江省`; a trailing 省, 市 or 自治区 does not matter
    /// (`浙江` matches `浙江省`).
    #[oai(validator(min_length = 1, max_length = 50))]
    province: String,
    /// Warehouse codes.
    #[oai(validator(min_items = 1, max_items = 100))]
    warehouses: Vec<String>,
}

/// The tenant's allocation settings: where each order line's stock is reserved. API
/// reservations follow the strategy too (without a province) and may always split.
#[derive(Debug, Clone, Object)]
struct AllocationDto {
    strategy: StrategyDto,
    /// Warehouse codes, most preferred first (for `priority`). Default empty.
    #[oai(default, validator(max_items = 100))]
    priority: Vec<String>,
    /// Province → warehouses (for `region`). Default empty.
    #[oai(default, validator(max_items = 100))]
    regions: Vec<RegionRuleDto>,
    /// Warehouse codes for a province no rule names (for `region`). Default empty.
    #[oai(default, validator(max_items = 100))]
    fallback: Vec<String>,
    /// A line, or an order's lines, may take stock from several warehouses. When false an
    /// order's lines all come from one warehouse that can serve them all; until one can, they
    /// are backordered (in paid-time order), never reserved in part.
    allow_split: bool,
}

impl From<&Allocation> for AllocationDto {
    fn from(a: &Allocation) -> Self {
        AllocationDto {
            strategy: match a.strategy {
                Strategy::Priority => StrategyDto::Priority,
                Strategy::MostStock => StrategyDto::MostStock,
                Strategy::Region => StrategyDto::Region,
            },
            priority: a.priority.clone(),
            regions: a
                .regions
                .iter()
                .map(|r| RegionRuleDto { province: r.province.clone(), warehouses: r.warehouses.clone() })
                .collect(),
            fallback: a.fallback.clone(),
            allow_split: a.allow_split,
        }
    }
}

impl AllocationDto {
    /// The domain's settings, or which field is wrong.
    fn into_domain(self) -> Result<Allocation, Problem> {
        let codes = self.priority.iter().chain(self.regions.iter().flat_map(|r| &r.warehouses)).chain(&self.fallback);
        for c in codes {
            check_code("warehouse code", c)?;
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.regions {
            let key = province_key(&r.province);
            if key.is_empty() {
                return Err(Problem::new(Code::InvalidInput, "a region's province must not be blank"));
            }
            if !seen.insert(key.to_owned()) {
                return Err(Problem::new(Code::InvalidInput, format!("province `{}` has two rules", r.province)));
            }
        }
        Ok(Allocation {
            strategy: match self.strategy {
                StrategyDto::Priority => Strategy::Priority,
                StrategyDto::MostStock => Strategy::MostStock,
                StrategyDto::Region => Strategy::Region,
            },
            priority: self.priority,
            regions: self
                .regions
                .into_iter()
                .map(|r| RegionRule { province: r.province.trim().to_owned(), warehouses: r.warehouses })
                .collect(),
            fallback: self.fallback,
            allow_split: self.allow_split,
        })
    }
}

#[derive(ApiResponse)]
enum AllocationFound {
    /// The settings (the defaults, `most_stock` with splitting allowed, until they are set).
    #[oai(status = 200)]
    Ok(Json<AllocationDto>),
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Inventory")]
impl InventoryApi {
    /// Create a warehouse. Every tenant also has `MAIN`.
    #[oai(path = "/warehouses", method = "post")]
    async fn create_warehouse(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        body: Json<NewWarehouse>,
    ) -> ApiResult<WarehouseCreated, { WRITE | CONFLICT | UNAVAILABLE }> {
        check_code("code", &body.code)?;
        let reply = self
            .engine
            .call(auth.0.tenant_id, Command::CreateWarehouse { code: body.0.code, name: body.0.name })
            .await
            .map_err(problem)?;
        let Reply::Warehouse(w) = reply else { unreachable!("warehouse command answers a warehouse") };
        Ok(WarehouseCreated::Created(Json(WarehouseDto { id: w.id, code: w.code, name: w.name })))
    }

    /// List warehouses.
    #[oai(path = "/warehouses", method = "get")]
    async fn list_warehouses(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
    ) -> ApiResult<WarehouseList, AUTHENTICATED> {
        let rows = db::warehouses::Entity::find()
            .filter(db::warehouses::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(db::warehouses::Column::CreatedAt)
            .all(self.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        Ok(WarehouseList::Ok(Json(
            rows.into_iter().map(|w| WarehouseDto { id: w.id, code: w.code, name: w.name }).collect(),
        )))
    }

    /// Create a SKU.
    #[oai(path = "/skus", method = "post")]
    async fn create_sku(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        body: Json<NewSku>,
    ) -> ApiResult<SkuCreated, { WRITE | CONFLICT | UNAVAILABLE }> {
        check_code("code", &body.code)?;
        let cmd =
            Command::CreateSku { code: body.0.code, name: body.0.name, safety_stock: body.0.safety_stock.unwrap_or(0) };
        let Reply::Sku(s) = self.engine.call(auth.0.tenant_id, cmd).await.map_err(problem)? else {
            unreachable!("SKU command answers a SKU")
        };
        Ok(SkuCreated::Created(Json(SkuDto { id: s.id, code: s.code, name: s.name, safety_stock: s.safety_stock })))
    }

    /// List SKUs.
    #[oai(path = "/skus", method = "get")]
    async fn list_skus(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
    ) -> ApiResult<SkuList, AUTHENTICATED> {
        let rows = db::skus::Entity::find()
            .filter(db::skus::Column::TenantId.eq(auth.0.tenant_id.0))
            .order_by_asc(db::skus::Column::Code)
            .all(self.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?;
        Ok(SkuList::Ok(Json(
            rows.into_iter()
                .map(|s| SkuDto { id: s.id, code: s.code, name: s.name, safety_stock: s.safety_stock })
                .collect(),
        )))
    }

    /// Receive or remove stock. Send an `Idempotency-Key` to make retries safe.
    #[oai(path = "/stock/adjustments", method = "post")]
    async fn adjust(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: Json<NewAdjustment>,
    ) -> ApiResult<AdjustmentCreated, { WRITE | NOT_FOUND | CONFLICT | UNPROCESSABLE | UNAVAILABLE }> {
        check_code("sku_code", &body.sku_code)?;
        if body.delta == 0 {
            return Err(Problem::new(Code::InvalidInput, "delta must not be zero").into());
        }
        let idempotency = match key.0 {
            Some(k) => {
                check_key(&k)?;
                Some(AdjustKey::caller(k, store::request_hash(&body.0)))
            }
            None => None,
        };
        let adjust = Adjust {
            sku_code: body.0.sku_code,
            warehouse_code: body.0.warehouse_code,
            delta: body.0.delta,
            reason: body.0.reason,
        };
        let Reply::Stock(v) =
            self.engine.call(auth.0.tenant_id, Command::Adjust { adjust, idempotency }).await.map_err(problem)?
        else {
            unreachable!("adjustments answer stock")
        };
        Ok(AdjustmentCreated::Created(Json(v.into())))
    }

    /// One SKU's stock: on hand, reserved, available, per warehouse.
    #[oai(path = "/stock/:sku_code", method = "get")]
    async fn stock(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
        sku_code: Path<String>,
    ) -> ApiResult<StockFound, READ_BY_ID> {
        let t = auth.0.tenant_id.0;
        let sku = self.find_sku(t, &sku_code.0).await?;
        let row = self.stock_rows(t, vec![sku], 0).await.map_err(Problem::internal)?.remove(0);
        Ok(StockFound::Ok(Json(StockDto {
            sku_code: row.sku_code,
            on_hand: row.on_hand,
            reserved: row.reserved,
            safety_stock: row.safety_stock,
            available: row.available,
            warehouses: row.warehouses,
        })))
    }

    /// Every SKU's stock, in code order, a page at a time: on hand, reserved and available
    /// per warehouse, and whether it runs low. `q` keeps the SKUs whose code or name starts
    /// with it; `low=true` only those running low.
    #[oai(path = "/stock", method = "get")]
    async fn stock_list(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
        q: Query<Option<String>>,
        low: Query<Option<bool>>,
        /// The last code of the previous page.
        after: Query<Option<String>>,
        /// 1–500, default 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u64>>,
    ) -> ApiResult<StockListed, READ> {
        let t = auth.0.tenant_id.0;
        let limit = limit.0.unwrap_or(100);
        let threshold = self.settings(t).await.map_err(Problem::internal)?.low_stock_threshold;
        let (mut items, mut after) = (Vec::new(), after.0);
        // With `low`, a page of SKUs may hold few low ones: read on until the page is full.
        loop {
            let mut query = db::skus::Entity::find().filter(db::skus::Column::TenantId.eq(t));
            if let Some(q) = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                use sea_orm::sea_query::ExprTrait as _;
                // Case-insensitive on both backends (SQLite's LIKE is, PostgreSQL's is not).
                let prefix =
                    format!("{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                let starts = |col: db::skus::Column| {
                    sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(col)))
                        .like(sea_orm::sea_query::LikeExpr::new(prefix.clone()).escape('\\'))
                };
                query = query.filter(
                    sea_orm::Condition::any().add(starts(db::skus::Column::Code)).add(starts(db::skus::Column::Name)),
                );
            }
            if let Some(a) = &after {
                query = query.filter(db::skus::Column::Code.gt(a.clone()));
            }
            let skus = query
                .order_by_asc(db::skus::Column::Code)
                .limit(limit + 1)
                .all(self.db.tenant(t).conn())
                .await
                .map_err(Problem::internal)?;
            let more = skus.len() as u64 > limit;
            let skus: Vec<_> = skus.into_iter().take(limit as usize).collect();
            after = skus.last().map(|s| s.code.clone());
            let rows = self.stock_rows(t, skus, threshold).await.map_err(Problem::internal)?;
            items.extend(rows.into_iter().filter(|r| low.0 != Some(true) || r.low));
            if !more {
                after = None;
                break;
            }
            if items.len() as u64 >= limit {
                break;
            }
        }
        if items.len() as u64 > limit {
            items.truncate(limit as usize);
            after = items.last().map(|r| r.sku_code.clone());
        }
        Ok(StockListed::Ok(Json(StockPage { items, next_after: after })))
    }

    /// The tenant's inventory settings.
    #[oai(path = "/inventory/settings", method = "get")]
    async fn get_settings(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
    ) -> ApiResult<SettingsFound, AUTHENTICATED> {
        Ok(SettingsFound::Ok(Json(self.settings(auth.0.tenant_id.0).await.map_err(Problem::internal)?)))
    }

    /// Change the tenant's inventory settings (the same body again changes nothing).
    #[oai(path = "/inventory/settings", method = "put")]
    async fn put_settings(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<InventorySettingsDto>,
    ) -> ApiResult<SettingsFound, WRITE> {
        use db::inventory_settings as s;
        let row = s::ActiveModel {
            tenant_id: sea_orm::Set(auth.0.tenant_id.0),
            low_stock_threshold: sea_orm::Set(body.0.low_stock_threshold),
            updated_at: sea_orm::Set(Utc::now()),
        };
        let tx = self.db.tenant(auth.0.tenant_id.0).write().await.map_err(Problem::internal)?;
        s::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(s::Column::TenantId)
                    .update_columns([s::Column::LowStockThreshold, s::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        Ok(SettingsFound::Ok(body))
    }

    /// The tenant's allocation settings: how order lines pick their warehouses.
    #[oai(path = "/inventory/allocation", method = "get")]
    async fn get_allocation(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
    ) -> ApiResult<AllocationFound, AUTHENTICATED> {
        let a = db::load_allocation(self.db.tenant(auth.0.tenant_id.0).conn(), auth.0.tenant_id)
            .await
            .map_err(Problem::internal)?;
        Ok(AllocationFound::Ok(Json((&a).into())))
    }

    /// Replace the tenant's allocation settings (the same body again changes nothing). Every
    /// warehouse code must exist (else 422 `unknown_reference` naming them, and nothing
    /// changes). Lines reserved already keep their warehouses; backorders the new settings can
    /// serve are served.
    #[oai(path = "/inventory/allocation", method = "put")]
    async fn put_allocation(
        &self,
        #[oai(scope = "Scope::SettingsWrite")] auth: BearerAuth,
        body: Json<AllocationDto>,
    ) -> ApiResult<AllocationFound, { WRITE | UNPROCESSABLE | UNAVAILABLE }> {
        let a = body.0.into_domain()?;
        let Reply::Allocation(a) =
            self.engine.call(auth.0.tenant_id, Command::SetAllocation(a)).await.map_err(problem)?
        else {
            unreachable!("allocation settings answer settings")
        };
        Ok(AllocationFound::Ok(Json((&a).into())))
    }

    /// The stock ledger of one SKU: every movement with its cause, oldest first — or, with
    /// `newest_first=true`, the latest first, paged back with `before` (the last `id` seen).
    #[oai(path = "/stock/:sku_code/ledger", method = "get")]
    async fn ledger(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
        sku_code: Path<String>,
        /// At most this many movements (default 10,000).
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        limit: Query<Option<u64>>,
        newest_first: Query<Option<bool>>,
        /// Only movements older than this one (its `id`).
        before: Query<Option<Uuid>>,
    ) -> ApiResult<LedgerFound, READ_BY_ID> {
        let t = auth.0.tenant_id.0;
        let sku = self.find_sku(t, &sku_code.0).await?;
        let whs = db::warehouses::Entity::find()
            .filter(db::warehouses::Column::TenantId.eq(t))
            .all(self.db.tenant(t).conn())
            .await
            .map_err(Problem::internal)?;
        let mut q = db::stock_ledger::Entity::find()
            .filter(db::stock_ledger::Column::TenantId.eq(t))
            .filter(db::stock_ledger::Column::SkuId.eq(sku.id));
        if let Some(b) = before.0 {
            // Ids are UUID v7: their order is the order the movements were written in.
            q = q.filter(db::stock_ledger::Column::Id.lt(b));
        }
        q = if newest_first.0 == Some(true) {
            q.order_by_desc(db::stock_ledger::Column::Id)
        } else {
            q.order_by_asc(db::stock_ledger::Column::Id)
        };
        let rows = q.limit(limit.0.unwrap_or(10_000)).all(self.db.tenant(t).conn()).await.map_err(Problem::internal)?;
        let code = |id: Uuid| whs.iter().find(|w| w.id == id).map_or_else(|| id.to_string(), |w| w.code.clone());
        Ok(LedgerFound::Ok(Json(
            rows.into_iter()
                .map(|r| LedgerEntryDto {
                    id: r.id,
                    warehouse_code: code(r.warehouse_id),
                    kind: r.kind,
                    on_hand_delta: r.on_hand_delta,
                    reserved_delta: r.reserved_delta,
                    reservation_id: r.reservation_id,
                    cause: r.cause,
                    at: r.at,
                })
                .collect(),
        )))
    }

    /// Reserve stock for every line, or none. Requires an `Idempotency-Key`.
    #[oai(path = "/reservations", method = "post")]
    async fn reserve(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        #[oai(name = "Idempotency-Key")] key: Header<Option<String>>,
        body: Json<NewReservation>,
    ) -> ApiResult<ReservationCreated, { WRITE | NOT_FOUND | CONFLICT | UNPROCESSABLE | UNAVAILABLE }> {
        let Some(key) = key.0 else {
            return Err(Problem::new(
                Code::IdempotencyKeyRequired,
                "Send an Idempotency-Key header so a retried reservation is not made twice.",
            )
            .into());
        };
        check_key(&key)?;
        for l in &body.lines {
            check_code("sku_code", &l.sku_code)?;
        }
        let cmd = Reserve {
            key: format!("api:{key}"),
            request_hash: store::request_hash(&body.0),
            reference: body.0.reference,
            lines: body
                .0
                .lines
                .into_iter()
                .map(|l| ReserveLine { sku_code: l.sku_code, quantity: l.quantity })
                .collect(),
            ttl_seconds: body.0.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS),
        };
        let Reply::Reservation { reservation, .. } =
            self.engine.call(auth.0.tenant_id, Command::Reserve(cmd)).await.map_err(problem)?
        else {
            unreachable!("reserve answers a reservation")
        };
        Ok(ReservationCreated::Created(Json((&reservation).into())))
    }

    /// One reservation.
    #[oai(path = "/reservations/:id", method = "get")]
    async fn get_reservation(
        &self,
        #[oai(scope = "Scope::StockRead")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReservationFound, READ_BY_ID> {
        let row = db::reservations::Entity::find_by_id((auth.0.tenant_id.0, id.0))
            .one(self.db.tenant(auth.0.tenant_id.0).conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found("reservation"))?;
        let r = db::reservation_from_row(row).map_err(Problem::internal)?;
        Ok(ReservationFound::Ok(Json((&r).into())))
    }

    /// Confirm a held reservation (e.g. paid): it no longer expires.
    #[oai(path = "/reservations/:id/confirm", method = "post")]
    async fn confirm(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReservationFound, { READ_BY_ID | CONFLICT | UNAVAILABLE }> {
        Ok(self.transition(auth, Command::Confirm(id.0)).await?)
    }

    /// Release a reservation: its stock becomes available again.
    #[oai(path = "/reservations/:id/release", method = "post")]
    async fn release(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReservationFound, { READ_BY_ID | CONFLICT | UNAVAILABLE }> {
        Ok(self.transition(auth, Command::Release(id.0)).await?)
    }

    /// Commit a reservation (shipped): on-hand and reserved both drop.
    #[oai(path = "/reservations/:id/commit", method = "post")]
    async fn commit(
        &self,
        #[oai(scope = "Scope::StockWrite")] auth: BearerAuth,
        id: Path<Uuid>,
    ) -> ApiResult<ReservationFound, { READ_BY_ID | CONFLICT | UNAVAILABLE }> {
        Ok(self.transition(auth, Command::Commit(id.0)).await?)
    }
}

impl InventoryApi {
    /// The tenant's SKU with this code, or `unknown_sku` (also for another tenant's code).
    async fn settings(&self, tenant: Uuid) -> Result<InventorySettingsDto, sea_orm::DbErr> {
        let row = db::inventory_settings::Entity::find_by_id(tenant).one(self.db.tenant(tenant).conn()).await?;
        Ok(InventorySettingsDto { low_stock_threshold: row.map_or(0, |r| r.low_stock_threshold) })
    }

    /// `skus`' stock per warehouse (every warehouse of the tenant, oldest first), in two reads.
    async fn stock_rows(
        &self,
        tenant: Uuid,
        skus: Vec<db::skus::Model>,
        threshold: i64,
    ) -> Result<Vec<StockRow>, sea_orm::DbErr> {
        if skus.is_empty() {
            return Ok(Vec::new());
        }
        let whs = db::warehouses::Entity::find()
            .filter(db::warehouses::Column::TenantId.eq(tenant))
            .order_by_asc(db::warehouses::Column::CreatedAt)
            .all(self.db.tenant(tenant).conn())
            .await?;
        let levels = db::stock_levels::Entity::find()
            .filter(db::stock_levels::Column::TenantId.eq(tenant))
            .filter(db::stock_levels::Column::SkuId.is_in(skus.iter().map(|s| s.id)))
            .all(self.db.tenant(tenant).conn())
            .await?;
        let by_key: std::collections::HashMap<(Uuid, Uuid), &db::stock_levels::Model> =
            levels.iter().map(|l| ((l.sku_id, l.warehouse_id), l)).collect();
        Ok(skus
            .into_iter()
            .map(|sku| {
                let warehouses: Vec<WarehouseStockDto> = whs
                    .iter()
                    .map(|w| {
                        let l = by_key.get(&(sku.id, w.id));
                        WarehouseStockDto {
                            warehouse_code: w.code.clone(),
                            on_hand: l.map_or(0, |l| l.on_hand),
                            reserved: l.map_or(0, |l| l.reserved),
                        }
                    })
                    .collect();
                let on_hand: i64 = warehouses.iter().map(|w| w.on_hand).sum();
                let reserved: i64 = warehouses.iter().map(|w| w.reserved).sum();
                let available = crate::domain::sellable(on_hand, reserved, sku.safety_stock);
                StockRow {
                    sku_code: sku.code,
                    name: sku.name,
                    on_hand,
                    reserved,
                    safety_stock: sku.safety_stock,
                    available,
                    low: available <= threshold,
                    warehouses,
                }
            })
            .collect())
    }

    async fn find_sku(&self, tenant: Uuid, code: &str) -> Result<db::skus::Model, ProblemResponse> {
        db::skus::Entity::find()
            .filter(db::skus::Column::TenantId.eq(tenant))
            .filter(db::skus::Column::Code.eq(code))
            .one(self.db.tenant(tenant).conn())
            .await
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::new(Code::UnknownSku, format!("SKU `{code}` does not exist")).into())
    }

    async fn transition(&self, auth: BearerAuth, cmd: Command) -> Result<ReservationFound, ProblemResponse> {
        let Reply::Reservation { reservation, .. } = self.engine.call(auth.0.tenant_id, cmd).await.map_err(problem)?
        else {
            unreachable!("transitions answer a reservation")
        };
        Ok(ReservationFound::Ok(Json((&reservation).into())))
    }
}
