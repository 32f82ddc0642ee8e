//! Stock planning: the quantity each shop should display for each SKU, coalesced into
//! `stock_pushes` (one row per shop and SKU holding the newest desired quantity), from the
//! levels kept in `channel_stock_levels`.

use crate::{
    db::{channel_stock_levels, channels, shops, stock_pushes},
    domain::stock,
};
use kernel::{Clock, Timestamp, events::StockLevelChanged};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

/// Stores the levels (one per tenant and SKU) that are newer than the stored ones and plans
/// the shops' pushes for those, inside the consumer's transaction.
pub(super) async fn apply_levels(
    db: &impl store::Dialect,
    tx: &sea_orm::DatabaseTransaction,
    levels: Vec<(Uuid, StockLevelChanged)>,
    clock: &dyn Clock,
) -> Result<(), DbErr> {
    if levels.is_empty() {
        return Ok(());
    }
    let mut tenants: Vec<Uuid> = levels.iter().map(|(t, _)| *t).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for &t in &tenants {
        // In tenant order, so two transactions cannot deadlock (PostgreSQL).
        lock_planning(db, tx, t).await?;
    }
    let mut changed: Vec<(Uuid, String, i64)> = Vec::new();
    for chunk in levels.chunks(1000) {
        let sql = format!(
            "insert into channel_stock_levels (tenant_id, sku_code, available, version) values {} \
             on conflict (tenant_id, sku_code) do update set available = excluded.available, version = excluded.version \
             where channel_stock_levels.version < excluded.version returning tenant_id, sku_code, available",
            store::value_rows(chunk.len(), 4)
        );
        let values = chunk
            .iter()
            .flat_map(|(t, l)| [(*t).into(), l.sku_code.clone().into(), l.available.into(), l.version.into()])
            .collect();
        for r in tx.query_all_raw(store::stmt(db, &sql, values)).await? {
            changed.push((r.try_get("", "tenant_id")?, r.try_get("", "sku_code")?, r.try_get("", "available")?));
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let shops = shops::of_tenants(tx, &tenants).await?;
    let now = clock.now();
    let mut by_tenant: HashMap<Uuid, Vec<(String, i64)>> = HashMap::new();
    for (t, sku, available) in changed {
        by_tenant.entry(t).or_default().push((sku, available));
    }
    let mut rows = Vec::new();
    for (t, levels) in &by_tenant {
        let of_tenant: Vec<stock::Shop> =
            shops.iter().filter(|c| c.tenant_id == *t).map(channels::Model::stock_shop).collect();
        rows.extend(stock::plan(&of_tenant, levels));
    }
    upsert_pushes(db, tx, &rows, now).await
}

/// Stores `rows` (distinct shops and SKUs) as the desired quantities, coalescing into
/// `stock_pushes`: a row already showing that quantity is synced, else pending.
async fn upsert_pushes<C: ConnectionTrait>(
    db: &impl store::Dialect,
    conn: &C,
    rows: &[stock::Push],
    now: Timestamp,
) -> Result<(), DbErr> {
    for chunk in rows.chunks(1000) {
        let sql = format!(
            "insert into stock_pushes (tenant_id, channel_id, sku_code, desired, pushed, state, attempts, next_attempt_at, last_error, pushed_at, updated_at) \
             values {} \
             on conflict (tenant_id, channel_id, sku_code) do update set desired = excluded.desired, updated_at = excluded.updated_at, \
             state = case when stock_pushes.pushed = excluded.desired then 'synced' else 'pending' end",
            vec!["(?, ?, ?, ?, null, 'pending', 0, ?, null, null, ?)"; chunk.len()].join(", ")
        );
        let values = chunk
            .iter()
            .flat_map(|p| {
                [
                    p.tenant_id.into(),
                    p.channel_id.into(),
                    p.sku_code.clone().into(),
                    p.desired.into(),
                    now.into(),
                    now.into(),
                ]
            })
            .collect();
        conn.execute_raw(store::stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// Serialises stock planning per tenant on PostgreSQL, so that a level arriving while a shop is
/// connected is planned by one of the two (SQLite already runs one writer at a time).
async fn lock_planning<C: ConnectionTrait>(db: &impl store::Dialect, conn: &C, tenant: Uuid) -> Result<(), DbErr> {
    if db.dialect() == sea_orm::DatabaseBackend::Postgres {
        let key = i64::from_be_bytes(tenant.as_bytes()[8..16].try_into().expect("8 bytes")) ^ 0x5354_4f43_4b00_0000; // "STOCK"
        conn.execute_raw(store::stmt(db, "select pg_advisory_xact_lock(?)", vec![key.into()])).await?;
    }
    Ok(())
}

/// What a shop would display for each SKU Cairn knows a level of, with `rules` instead of its
/// own (the other shops' rules as they are), beside what it is meant to display now: (SKU,
/// sellable, desired now — `None` before the first plan —, with `rules`), in SKU order. The
/// shop is planned as if it synced, so a push-only shop sees what it would show. Reads only.
pub async fn preview(
    db: &store::TenantDb,
    tenant: Uuid,
    channel: Uuid,
    rules: stock::Rules,
) -> Result<Vec<(String, i64, Option<i64>, i64)>, DbErr> {
    let conn = db.conn();
    let shops: Vec<stock::Shop> = shops::of_tenant(conn, tenant)
        .await?
        .iter()
        .map(channels::Model::stock_shop)
        .map(|s| if s.channel_id == channel { stock::Shop { syncs: true, rules, ..s } } else { s })
        .collect();
    let mut levels: Vec<(String, i64)> = channel_stock_levels::Entity::find()
        .filter(channel_stock_levels::Column::TenantId.eq(tenant))
        .all(conn)
        .await?
        .into_iter()
        .map(|l| (l.sku_code, l.available))
        .collect();
    levels.sort();
    let now: HashMap<String, i64> = stock_pushes::Entity::find()
        .filter(stock_pushes::Column::TenantId.eq(tenant))
        .filter(stock_pushes::Column::ChannelId.eq(channel))
        .all(conn)
        .await?
        .into_iter()
        .map(|p| (p.sku_code, p.desired))
        .collect();
    let planned: HashMap<String, i64> = stock::plan(&shops, &levels)
        .into_iter()
        .filter(|p| p.channel_id == channel)
        .map(|p| (p.sku_code, p.desired))
        .collect();
    Ok(levels
        .into_iter()
        .map(|(sku, available)| {
            let shown = planned.get(&sku).copied().unwrap_or(0);
            let current = now.get(&sku).copied();
            (sku, available, current, shown)
        })
        .collect())
}

/// Re-plans every SKU Cairn knows a level of, for one tenant (after a shop's rules changed or a
/// shop was connected), as of `now`.
pub async fn replan_tenant(db: &store::TenantDb, tenant: Uuid, now: Timestamp) -> Result<(), DbErr> {
    let tx = db.write().await?;
    lock_planning(db, &*tx, tenant).await?;
    let shops: Vec<stock::Shop> =
        shops::of_tenant(&*tx, tenant).await?.iter().map(channels::Model::stock_shop).collect();
    let levels: Vec<(String, i64)> = channel_stock_levels::Entity::find()
        .filter(channel_stock_levels::Column::TenantId.eq(tenant))
        .all(&*tx)
        .await?
        .into_iter()
        .map(|l| (l.sku_code, l.available))
        .collect();
    upsert_pushes(db, &*tx, &stock::plan(&shops, &levels), now).await?;
    tx.commit().await
}
