//! inventory's tables, and loading/persisting a tenant's [`Book`].

use crate::domain::{Allocation, Book, Level, Movement, ResLine, Reservation, Sku, Warehouse};
use kernel::{TenantId, Timestamp};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

store::entity!(warehouses, "warehouses", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    code: String,
    name: String,
    created_at: DateTimeUtc,
});

store::entity!(skus, "skus", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    code: String,
    name: String,
    safety_stock: i64,
    created_at: DateTimeUtc,
});

store::entity!(stock_levels, "stock_levels", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] sku_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] warehouse_id: Uuid,
    on_hand: i64,
    reserved: i64,
    version: i64,
});

store::entity!(reservations, "reservations", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    reservation_key: String,
    reference: String,
    order_id: Option<Uuid>,
    request_hash: String,
    state: String,
    expires_at: Option<DateTimeUtc>,
    paid_at: Option<DateTimeUtc>,
    revision: i64,
    /// The order receiver's province (region allocation).
    province: Option<String>,
    version: i64,
    /// JSON array of lines with their allocations.
    lines: String,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// Per-tenant settings; a tenant without a row has the defaults.
    inventory_settings, "inventory_settings", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    low_stock_threshold: i64,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// Per-tenant allocation settings (JSON of [`crate::domain::Allocation`]); a tenant
    /// without a row has the defaults.
    inventory_allocation, "inventory_allocation", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    settings: String,
    updated_at: DateTimeUtc,
});

store::entity!(stock_ledger, "stock_ledger", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    sku_id: Uuid,
    warehouse_id: Uuid,
    kind: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    reservation_id: Option<Uuid>,
    cause: String,
    at: DateTimeUtc,
});

/// Converts a stored reservation.
pub fn reservation_from_row(r: reservations::Model) -> Result<Reservation, DbErr> {
    let lines: Vec<ResLine> =
        serde_json::from_str(&r.lines).map_err(|e| DbErr::Custom(format!("reservation {} lines: {e}", r.id)))?;
    Ok(Reservation {
        id: r.id,
        key: r.reservation_key,
        reference: r.reference,
        order_id: r.order_id,
        request_hash: r.request_hash,
        expires_at: r.expires_at,
        paid_at: r.paid_at,
        revision: r.revision,
        province: r.province,
        version: r.version,
        lines,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// The row for a reservation.
pub fn reservation_to_row(tenant: TenantId, r: &Reservation) -> reservations::ActiveModel {
    use sea_orm::ActiveValue::Set;
    reservations::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(r.id),
        reservation_key: Set(r.key.clone()),
        reference: Set(r.reference.clone()),
        order_id: Set(r.order_id),
        request_hash: Set(r.request_hash.clone()),
        state: Set(r.state().as_str().to_owned()),
        expires_at: Set(r.expires_at),
        paid_at: Set(r.paid_at),
        revision: Set(r.revision),
        province: Set(r.province.clone()),
        version: Set(r.version),
        lines: Set(serde_json::to_string(&r.lines).expect("lines serialize")),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    }
}

/// Loads everything the tenant's book holds.
pub async fn load_book<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Book, DbErr> {
    let t = tenant.0;
    let whs = warehouses::Entity::find()
        .filter(warehouses::Column::TenantId.eq(t))
        .order_by_asc(warehouses::Column::CreatedAt)
        .all(conn)
        .await?;
    let skus = skus::Entity::find().filter(skus::Column::TenantId.eq(t)).all(conn).await?;
    let levels = stock_levels::Entity::find().filter(stock_levels::Column::TenantId.eq(t)).all(conn).await?;
    let res = reservations::Entity::find().filter(reservations::Column::TenantId.eq(t)).all(conn).await?;
    let allocation = load_allocation(conn, tenant).await?;
    Ok(Book::from_parts(
        whs.into_iter().map(|w| Warehouse { id: w.id, code: w.code, name: w.name }).collect(),
        skus.into_iter().map(|s| Sku { id: s.id, code: s.code, name: s.name, safety_stock: s.safety_stock }).collect(),
        levels
            .into_iter()
            .map(|l| {
                ((l.sku_id, l.warehouse_id), Level { on_hand: l.on_hand, reserved: l.reserved, version: l.version })
            })
            .collect(),
        res.into_iter().map(reservation_from_row).collect::<Result<_, _>>()?,
        allocation,
    ))
}

/// The tenant's allocation settings (the defaults until they are set).
pub async fn load_allocation<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Allocation, DbErr> {
    match inventory_allocation::Entity::find_by_id(tenant.0).one(conn).await? {
        Some(row) => serde_json::from_str(&row.settings)
            .map_err(|e| DbErr::Custom(format!("allocation settings of tenant {}: {e}", tenant.0))),
        None => Ok(Allocation::default()),
    }
}

/// A ledger row for a movement.
pub fn ledger_row(tenant: TenantId, m: &Movement, at: Timestamp) -> stock_ledger::ActiveModel {
    use sea_orm::ActiveValue::Set;
    stock_ledger::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(kernel::new_id()),
        sku_id: Set(m.sku_id),
        warehouse_id: Set(m.warehouse_id),
        kind: Set(m.kind.as_str().to_owned()),
        on_hand_delta: Set(m.on_hand_delta),
        reserved_delta: Set(m.reserved_delta),
        reservation_id: Set(m.reservation_id),
        cause: Set(m.cause.clone()),
        at: Set(at),
    }
}
