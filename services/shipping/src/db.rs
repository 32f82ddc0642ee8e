//! shipping's tables (entities) and the conversions between rows and the domain. Every read
//! and write names the tenant.

use crate::domain::{Line, OrderRef, Settings, Shipment, Status, Waybill, rules::Rules, tracking::TrackStatus};
use kernel::{TenantId, Timestamp, trade::Receiver};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use std::collections::BTreeSet;
use uuid::Uuid;

store::entity!(
    /// A tenant's shipping settings and carrier rules (JSON).
    shipping_settings, "shipping_settings", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    merge_wait_seconds: i64,
    unit_weight_grams: i64,
    rules: String,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// A carrier account (a branch of a carrier) with Courier credentials and the sender.
    shipping_accounts, "shipping_accounts", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    cp_code: String,
    branch_code: String,
    branch_name: String,
    api_url: String,
    app_key: String,
    app_secret: String,
    access_token: String,
    /// Signs the account's tracking pushes (Cairn made it and registered it with Courier).
    tracking_secret: String,
    /// JSON of the sender address.
    sender: String,
    /// Numbers left (franchise carriers), as Courier last said.
    quantity: Option<i64>,
    allocated: i64,
    cancelled: i64,
    printed: i64,
    balance_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
});

store::entity!(
    /// A shipment; its orders, lines, receiver and live waybill as JSON.
    shipments, "shipments", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    warehouse_code: String,
    merge_key: String,
    status: String,
    orders: String,
    lines: String,
    receiver: String,
    opened_at: DateTimeUtc,
    account_id: Option<Uuid>,
    waybill_code: Option<String>,
    waybill: Option<String>,
    parcels: i32,
    weight_grams: i64,
    problem: Option<String>,
    print_count: i32,
    tracking_status: Option<String>,
    tracking_at: Option<DateTimeUtc>,
    shipped_at: Option<DateTimeUtc>,
    delivered_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// Which shipments carry an order (the index consumers look shipments up by).
    shipment_orders, "shipment_orders", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] order_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] shipment_id: Uuid,
});

store::entity!(
    /// Every waybill drawn: `live`, `cancelling` (to give back to Courier), `cancelled`, or
    /// `cancel_failed` (Courier refused, e.g. already collected; `detail` says why).
    shipment_waybills, "shipment_waybills", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] code: String,
    shipment_id: Uuid,
    account_id: Uuid,
    cp_code: String,
    parcels: i32,
    state: String,
    detail: Option<String>,
    attempts: i32,
    next_attempt_at: Option<DateTimeUtc>,
    drawn_at: DateTimeUtc,
    cancelled_at: Option<DateTimeUtc>,
});

store::entity!(
    /// What happened to a shipment, in order (ids are UUIDv7).
    shipment_history, "shipment_history", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] shipment_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    at: DateTimeUtc,
    detail: String,
});

store::entity!(
    /// Every tracking message received (deduplicated by its message id per account).
    shipping_tracking, "shipping_tracking", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] account_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] message_id: String,
    waybill_code: String,
    status: String,
    event_time: DateTimeUtc,
    location: String,
    detail: String,
    received_at: DateTimeUtc,
});

store::entity!(
    /// A label batch: the shipments to print, its progress and, when done, the PDF.
    label_batches, "label_batches", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    status: String,
    sort: String,
    size: String,
    shipment_ids: String,
    total: i32,
    done: i32,
    pages: i32,
    error: Option<String>,
    pdf: Option<Vec<u8>>,
    created_at: DateTimeUtc,
    finished_at: Option<DateTimeUtc>,
});

store::entity!(
    /// A return expected from a buyer (or a parcel the carrier brought back), and what was
    /// received of it.
    shipping_returns, "shipping_returns", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    return_key: String,
    order_id: Uuid,
    external_id: String,
    shipment_id: Option<Uuid>,
    warehouse_code: String,
    expected: String,
    received: Option<String>,
    status: String,
    created_at: DateTimeUtc,
    received_at: Option<DateTimeUtc>,
});

fn corrupt(what: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("shipping: stored data unreadable: {what}"))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

fn parse<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, DbErr> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("{what}: {e}")))
}

/// A stored shipment as the domain sees it.
pub fn shipment(m: shipments::Model) -> Result<Shipment, DbErr> {
    let tracking = match (m.tracking_status.as_deref().and_then(TrackStatus::parse), m.tracking_at) {
        (Some(s), Some(at)) => Some((s, at)),
        _ => None,
    };
    Ok(Shipment {
        id: m.id,
        status: Status::parse(&m.status).ok_or_else(|| corrupt(format!("status {}", m.status)))?,
        orders: parse::<Vec<OrderRef>>(&m.orders, "orders")?,
        lines: parse::<Vec<Line>>(&m.lines, "lines")?,
        receiver: parse::<Receiver>(&m.receiver, "receiver")?,
        waybill: m.waybill.as_deref().map(|w| parse::<Waybill>(w, "waybill")).transpose()?,
        warehouse_code: m.warehouse_code,
        merge_key: m.merge_key,
        opened_at: m.opened_at,
        parcels: m.parcels.max(1) as u32,
        weight_grams: m.weight_grams,
        problem: m.problem,
        print_count: m.print_count,
        tracking,
        shipped_at: m.shipped_at,
        delivered_at: m.delivered_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// The row of shipment `s`.
pub fn shipment_row(tenant: TenantId, s: &Shipment) -> shipments::ActiveModel {
    shipments::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(s.id),
        warehouse_code: Set(s.warehouse_code.clone()),
        merge_key: Set(s.merge_key.clone()),
        status: Set(s.status.as_str().to_owned()),
        orders: Set(json(&s.orders)),
        lines: Set(json(&s.lines)),
        receiver: Set(json(&s.receiver)),
        opened_at: Set(s.opened_at),
        account_id: Set(s.waybill.as_ref().map(|w| w.account_id)),
        waybill_code: Set(s.waybill.as_ref().map(|w| w.code.clone())),
        waybill: Set(s.waybill.as_ref().map(json)),
        parcels: Set(s.parcels as i32),
        weight_grams: Set(s.weight_grams),
        problem: Set(s.problem.clone()),
        print_count: Set(s.print_count),
        tracking_status: Set(s.tracking.map(|t| t.0.as_str().to_owned())),
        tracking_at: Set(s.tracking.map(|t| t.1)),
        shipped_at: Set(s.shipped_at),
        delivered_at: Set(s.delivered_at),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
    }
}

/// Writes `shipments` (inserted or replaced) and keeps the order index in step with them.
pub async fn save_shipments<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    shipments: &[&Shipment],
) -> Result<(), DbErr> {
    if shipments.is_empty() {
        return Ok(());
    }
    use shipments::Column as C;
    for chunk in shipments.chunks(200) {
        shipments::Entity::insert_many(chunk.iter().map(|s| shipment_row(tenant, s)))
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Id])
                    .update_columns([
                        C::WarehouseCode,
                        C::MergeKey,
                        C::Status,
                        C::Orders,
                        C::Lines,
                        C::Receiver,
                        C::OpenedAt,
                        C::AccountId,
                        C::WaybillCode,
                        C::Waybill,
                        C::Parcels,
                        C::WeightGrams,
                        C::Problem,
                        C::PrintCount,
                        C::TrackingStatus,
                        C::TrackingAt,
                        C::ShippedAt,
                        C::DeliveredAt,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
        // The index: what each shipment carries now (an order may have left one).
        let ids: Vec<Uuid> = chunk.iter().map(|s| s.id).collect();
        shipment_orders::Entity::delete_many()
            .filter(shipment_orders::Column::TenantId.eq(tenant.0))
            .filter(shipment_orders::Column::ShipmentId.is_in(ids))
            .exec(conn)
            .await?;
        let rows: Vec<shipment_orders::ActiveModel> = chunk
            .iter()
            .flat_map(|s| {
                s.orders.iter().map(|o| shipment_orders::ActiveModel {
                    tenant_id: Set(tenant.0),
                    order_id: Set(o.order_id),
                    shipment_id: Set(s.id),
                })
            })
            .collect();
        if !rows.is_empty() {
            shipment_orders::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([
                        shipment_orders::Column::TenantId,
                        shipment_orders::Column::OrderId,
                        shipment_orders::Column::ShipmentId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(conn)
                .await?;
        }
    }
    Ok(())
}

/// The tenant's shipments `ids` (those it has), locked for update on PostgreSQL.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    ids: &[Uuid],
    lock: bool,
) -> Result<Vec<Shipment>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut q = shipments::Entity::find()
            .filter(shipments::Column::TenantId.eq(tenant.0))
            .filter(shipments::Column::Id.is_in(chunk.to_vec()));
        if lock && conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        for m in q.all(conn).await? {
            out.push(shipment(m)?);
        }
    }
    Ok(out)
}

/// The ids of the tenant's shipments that carry any of `orders`.
pub async fn ids_with_orders<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    orders: &[Uuid],
) -> Result<Vec<Uuid>, DbErr> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = BTreeSet::new();
    for chunk in orders.chunks(500) {
        let rows: Vec<Uuid> = shipment_orders::Entity::find()
            .select_only()
            .column(shipment_orders::Column::ShipmentId)
            .filter(shipment_orders::Column::TenantId.eq(tenant.0))
            .filter(shipment_orders::Column::OrderId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(rows);
    }
    Ok(out.into_iter().collect())
}

/// The ids of the tenant's pending shipments with one of `merge_keys` (merge candidates).
pub async fn ids_open_for_merge<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    merge_keys: &[String],
) -> Result<Vec<Uuid>, DbErr> {
    if merge_keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for chunk in merge_keys.chunks(500) {
        let rows: Vec<Uuid> = shipments::Entity::find()
            .select_only()
            .column(shipments::Column::Id)
            .filter(shipments::Column::TenantId.eq(tenant.0))
            .filter(shipments::Column::MergeKey.is_in(chunk.to_vec()))
            .filter(shipments::Column::Status.eq(Status::Pending.as_str()))
            .into_tuple()
            .all(conn)
            .await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Adds lines to shipments' histories.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    entries: &[(Uuid, String)],
    at: Timestamp,
) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    for chunk in entries.chunks(500) {
        shipment_history::Entity::insert_many(chunk.iter().map(|(id, text)| shipment_history::ActiveModel {
            tenant_id: Set(tenant.0),
            shipment_id: Set(*id),
            id: Set(kernel::new_id()),
            at: Set(at),
            detail: Set(text.clone()),
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// The tenant's settings and rules (defaults when never set).
pub async fn settings<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<(Settings, Rules), DbErr> {
    Ok(match shipping_settings::Entity::find_by_id(tenant.0).one(conn).await? {
        Some(m) => (
            Settings { merge_wait_seconds: m.merge_wait_seconds, unit_weight_grams: m.unit_weight_grams },
            parse::<Rules>(&m.rules, "rules")?,
        ),
        None => (Settings::default(), Rules::default()),
    })
}

/// Stores the tenant's settings and rules.
pub async fn save_settings<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    settings: &Settings,
    rules: &Rules,
    now: Timestamp,
) -> Result<(), DbErr> {
    use shipping_settings::Column as C;
    shipping_settings::Entity::insert(shipping_settings::ActiveModel {
        tenant_id: Set(tenant.0),
        merge_wait_seconds: Set(settings.merge_wait_seconds),
        unit_weight_grams: Set(settings.unit_weight_grams),
        rules: Set(json(rules)),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(C::TenantId)
            .update_columns([C::MergeWaitSeconds, C::UnitWeightGrams, C::Rules, C::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Queues `waybill` of the tenant's shipment to be given back to Courier.
pub async fn queue_cancel<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    shipment_id: Uuid,
    waybill: &Waybill,
    why: &str,
    now: Timestamp,
) -> Result<(), DbErr> {
    use shipment_waybills::Column as C;
    shipment_waybills::Entity::update_many()
        .col_expr(C::State, sea_orm::sea_query::Expr::value("cancelling"))
        .col_expr(C::Detail, sea_orm::sea_query::Expr::value(why.to_owned()))
        .col_expr(C::NextAttemptAt, sea_orm::sea_query::Expr::value(now))
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::Code.eq(waybill.code.clone()))
        .filter(C::ShipmentId.eq(shipment_id))
        .filter(C::State.eq("live"))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a waybill drawn for a shipment (again: nothing changes, the draw was idempotent).
pub async fn record_waybill<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    shipment_id: Uuid,
    w: &Waybill,
    parcels: u32,
) -> Result<(), DbErr> {
    use shipment_waybills::Column as C;
    shipment_waybills::Entity::insert(shipment_waybills::ActiveModel {
        tenant_id: Set(tenant.0),
        code: Set(w.code.clone()),
        shipment_id: Set(shipment_id),
        account_id: Set(w.account_id),
        cp_code: Set(w.cp_code.clone()),
        parcels: Set(parcels as i32),
        state: Set("live".into()),
        detail: Set(None),
        attempts: Set(0),
        next_attempt_at: Set(None),
        drawn_at: Set(w.drawn_at),
        cancelled_at: Set(None),
    })
    .on_conflict(OnConflict::columns([C::TenantId, C::Code]).do_nothing().to_owned())
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The account `id` of the tenant.
pub async fn account<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<shipping_accounts::Model>, DbErr> {
    shipping_accounts::Entity::find_by_id((tenant.0, id)).one(conn).await
}

/// Every account of the tenant, oldest first.
pub async fn accounts<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Vec<shipping_accounts::Model>, DbErr> {
    shipping_accounts::Entity::find()
        .filter(shipping_accounts::Column::TenantId.eq(tenant.0))
        .order_by_asc(shipping_accounts::Column::CreatedAt)
        .order_by_asc(shipping_accounts::Column::Id)
        .all(conn)
        .await
}
