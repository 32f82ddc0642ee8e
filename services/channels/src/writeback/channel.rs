//! A shop's write-backs as a whole: paused when its Open API credentials go, resumed when they
//! come back, counted for the sync report.

use super::state;
use crate::db::stock_pushes;
use kernel::Timestamp;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use std::collections::HashMap;
use uuid::Uuid;

/// Stops a shop's write-backs that wait to be sent (its Open API credentials were removed):
/// they move to [`state::NO_API`] until [`resume_channel`] and the next plan. A row a worker is
/// sending right now ends as that call ends (done, or back to waiting with its error).
pub async fn pause_channel<C: ConnectionTrait>(
    db: &impl store::Dialect,
    tx: &C,
    tenant: Uuid,
    channel: Uuid,
) -> Result<(), DbErr> {
    for sql in [
        "update shipment_writebacks set state = ? where tenant_id = ? and channel_id = ? and state = ?",
        "update stock_pushes set state = ? where tenant_id = ? and channel_id = ? and state = ?",
    ] {
        let values = vec![state::NO_API.into(), tenant.into(), channel.into(), state::PENDING.into()];
        tx.execute_raw(store::stmt(db, sql, values)).await?;
    }
    Ok(())
}

/// Queues a shop's shipments that waited for Open API credentials, due at `now`. Its stock
/// rows need no resuming: the next plan (`replan_tenant`) sets every one of them again.
pub async fn resume_channel<C: ConnectionTrait>(
    db: &impl store::Dialect,
    tx: &C,
    tenant: Uuid,
    channel: Uuid,
    now: Timestamp,
) -> Result<(), DbErr> {
    tx.execute_raw(store::stmt(
        db,
        "update shipment_writebacks set state = ?, next_attempt_at = ?, last_error = null where tenant_id = ? and channel_id = ? and state = ?",
        vec![state::PENDING.into(), now.into(), tenant.into(), channel.into(), state::NO_API.into()],
    ))
    .await?;
    Ok(())
}

/// A shop's write-backs by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub shipments_pending: i64,
    pub shipments_done: i64,
    pub shipments_rejected: i64,
    pub shipments_without_api: i64,
    pub stock_pending: i64,
    pub stock_synced: i64,
    pub stock_rejected: i64,
    pub stock_without_api: i64,
    /// The newest error a stock push of the shop recorded.
    pub last_error: Option<String>,
}

/// Counts a shop's write-backs by state (for the sync report).
pub async fn counts(db: &store::TenantDb, tenant: Uuid, channel: Uuid) -> Result<Counts, DbErr> {
    let ships = by_state(
        db,
        "select state, count(*) from shipment_writebacks where tenant_id = ? and channel_id = ? group by state",
        tenant,
        channel,
    )
    .await?;
    let stock = by_state(
        db,
        "select state, count(*) from stock_pushes where tenant_id = ? and channel_id = ? group by state",
        tenant,
        channel,
    )
    .await?;
    let last_error = stock_pushes::Entity::find()
        .filter(stock_pushes::Column::TenantId.eq(tenant))
        .filter(stock_pushes::Column::ChannelId.eq(channel))
        .filter(stock_pushes::Column::LastError.is_not_null())
        .order_by_desc(stock_pushes::Column::UpdatedAt)
        .one(db.conn())
        .await?
        .and_then(|p| p.last_error);
    let n = |m: &HashMap<String, i64>, st: &str| m.get(st).copied().unwrap_or(0);
    Ok(Counts {
        shipments_pending: n(&ships, state::PENDING),
        shipments_done: n(&ships, state::DONE),
        shipments_rejected: n(&ships, state::REJECTED),
        shipments_without_api: n(&ships, state::NO_API),
        stock_pending: n(&stock, state::PENDING),
        stock_synced: n(&stock, state::SYNCED),
        stock_rejected: n(&stock, state::REJECTED),
        stock_without_api: n(&stock, state::NO_API),
        last_error,
    })
}

/// Rows by state, from `sql` selecting `(state, count)` for one shop.
async fn by_state(db: &store::TenantDb, sql: &str, tenant: Uuid, channel: Uuid) -> Result<HashMap<String, i64>, DbErr> {
    let rows = db.conn().query_all_raw(store::stmt(db, sql, vec![tenant.into(), channel.into()])).await?;
    rows.iter().map(|r| Ok((r.try_get_by_index::<String>(0)?, r.try_get_by_index::<i64>(1)?))).collect()
}

/// Sends the shop `skus`' quantities again (the variants they go to changed), whatever was
/// pushed before.
pub async fn resend_stock<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    channel: Uuid,
    skus: &[String],
    now: Timestamp,
) -> Result<(), DbErr> {
    stock_pushes::Entity::update_many()
        .col_expr(stock_pushes::Column::Pushed, Expr::value(Option::<i64>::None))
        .col_expr(stock_pushes::Column::State, Expr::value(state::PENDING))
        .col_expr(stock_pushes::Column::NextAttemptAt, Expr::value(now))
        .col_expr(stock_pushes::Column::Attempts, Expr::value(0))
        .filter(stock_pushes::Column::TenantId.eq(tenant))
        .filter(stock_pushes::Column::ChannelId.eq(channel))
        .filter(stock_pushes::Column::SkuCode.is_in(skus.to_vec()))
        .filter(stock_pushes::Column::State.ne(state::NO_API))
        .exec(conn)
        .await?;
    Ok(())
}
