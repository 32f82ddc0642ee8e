//! The `channels` table: connected shops. Every query is by tenant, except the two that start
//! from something else (a webhook URL names only the channel; the puller visits every shop).

use super::channels;
use crate::domain::{shop::Credentials, stock::Rules};
use kernel::Timestamp;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// One shop of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: Uuid, id: Uuid) -> Result<Option<channels::Model>, DbErr> {
    channels::Entity::find_by_id((tenant, id)).one(conn).await
}

/// The shop a webhook URL names, when it is of the marketplace whose route the webhook took
/// (the URL carries no tenant: the signature is what authenticates it).
pub async fn find_for_webhook<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    marketplace: &str,
) -> Result<Option<channels::Model>, DbErr> {
    channels::Entity::find()
        .filter(channels::Column::Id.eq(id))
        .filter(channels::Column::Marketplace.eq(marketplace))
        .one(conn)
        .await
}

/// A tenant's shop by its marketplace and the marketplace's shop id.
pub async fn find_by_shop<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    marketplace: &str,
    shop_id: &str,
) -> Result<Option<channels::Model>, DbErr> {
    channels::Entity::find()
        .filter(channels::Column::TenantId.eq(tenant))
        .filter(channels::Column::Marketplace.eq(marketplace))
        .filter(channels::Column::ShopId.eq(shop_id))
        .one(conn)
        .await
}

/// A tenant's shops, oldest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: Uuid) -> Result<Vec<channels::Model>, DbErr> {
    channels::Entity::find()
        .filter(channels::Column::TenantId.eq(tenant))
        .order_by_asc(channels::Column::CreatedAt)
        .all(conn)
        .await
}

/// A tenant's shops, in no particular order.
pub async fn of_tenant<C: ConnectionTrait>(conn: &C, tenant: Uuid) -> Result<Vec<channels::Model>, DbErr> {
    channels::Entity::find().filter(channels::Column::TenantId.eq(tenant)).all(conn).await
}

/// The shops of several tenants, in no particular order.
pub async fn of_tenants<C: ConnectionTrait>(conn: &C, tenants: &[Uuid]) -> Result<Vec<channels::Model>, DbErr> {
    channels::Entity::find().filter(channels::Column::TenantId.is_in(tenants.iter().copied())).all(conn).await
}

/// Every tenant's shops with Open API credentials (the ones reconciliation pulls).
pub async fn with_api<C: ConnectionTrait>(conn: &C) -> Result<Vec<channels::Model>, DbErr> {
    channels::Entity::find().filter(channels::Column::ApiBaseUrl.is_not_null()).all(conn).await
}

/// Stores a new shop; `false` when one with the same key or the same marketplace shop exists
/// already (connected concurrently).
pub async fn insert<C: ConnectionTrait>(conn: &C, row: &channels::Model) -> Result<bool, DbErr> {
    let am: channels::ActiveModel = row.clone().into();
    match channels::Entity::insert(am).exec_without_returning(conn).await {
        Ok(_) => Ok(true),
        Err(e) if store::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Replaces a shop's stock sync rules.
pub async fn set_stock_rules<C: ConnectionTrait>(conn: &C, tenant: Uuid, id: Uuid, r: Rules) -> Result<(), DbErr> {
    channels::Entity::update_many()
        .col_expr(channels::Column::StockPercent, r.percent.into())
        .col_expr(channels::Column::StockMax, r.max.into())
        .col_expr(channels::Column::StockMin, r.min.into())
        .col_expr(channels::Column::StockReserve, r.reserve.into())
        .filter(channels::Column::TenantId.eq(tenant))
        .filter(channels::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Makes `new` the webhook secret and `current` the previous one, rotated at `now` — only if
/// the secret is still `current`, so that of two rotations at once the second fails rather than
/// drop the secret the marketplace may still be using. `false` when it was not.
pub async fn rotate_secret<C: ConnectionTrait>(
    db: &impl store::Dialect,
    conn: &C,
    tenant: Uuid,
    id: Uuid,
    current: &str,
    new: &str,
    now: Timestamp,
) -> Result<bool, DbErr> {
    let changed = conn
        .execute_raw(store::stmt(
            db,
            "update channels set previous_secret = webhook_secret, webhook_secret = ?, secret_rotated_at = ? where tenant_id = ? and id = ? and webhook_secret = ?",
            vec![new.into(), now.into(), tenant.into(), id.into(), current.into()],
        ))
        .await?
        .rows_affected();
    Ok(changed > 0)
}

/// Sets or replaces a shop's Open API credentials.
pub async fn set_api<C: ConnectionTrait>(
    db: &impl store::Dialect,
    conn: &C,
    tenant: Uuid,
    id: Uuid,
    a: &Credentials,
) -> Result<(), DbErr> {
    conn.execute_raw(store::stmt(
        db,
        "update channels set api_base_url = ?, app_key = ?, app_secret = ?, access_token = ? where tenant_id = ? and id = ?",
        vec![
            a.base_url.clone().into(),
            a.app_key.clone().into(),
            a.app_secret.clone().into(),
            a.access_token.clone().into(),
            tenant.into(),
            id.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Removes a shop's Open API credentials.
pub async fn clear_api<C: ConnectionTrait>(
    db: &impl store::Dialect,
    conn: &C,
    tenant: Uuid,
    id: Uuid,
) -> Result<(), DbErr> {
    conn.execute_raw(store::stmt(
        db,
        "update channels set api_base_url = null, app_key = null, app_secret = null, access_token = null where tenant_id = ? and id = ?",
        vec![tenant.into(), id.into()],
    ))
    .await?;
    Ok(())
}
