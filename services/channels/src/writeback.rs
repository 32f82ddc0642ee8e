//! Write-backs to the marketplaces: shipments and the stock each shop displays.
//!
//! Events arrive through the bus (`order.shipped`, `stock.level_changed`) and become rows
//! (`shipment_writebacks`, `stock_pushes`) in the same transaction as the inbox claim; a worker
//! sends due rows and records the outcome. That is the outbox pattern towards the marketplace:
//! a row is only finished when the marketplace answered 2xx, so an outage of any length costs
//! retries, never a write-back.
//!
//! - Stock is coalesced per (shop, SKU): the row holds the newest `desired` quantity and the
//!   last `pushed` one; a burst of reservations becomes one call with the latest figure.
//! - Retries back off exponentially (1 s doubling to 60 s) or as `Retry-After` says. A worker
//!   claims a row by moving its `next_attempt_at` forward with a conditional update, so two
//!   instances never send the same row at once.
//! - Both calls are idempotent at the marketplace (same waybill; a quantity is a level), so a
//!   call whose answer was lost is safely repeated.

use crate::{
    adapters,
    connector::{CallError, MarketplaceApi},
    db::{channel_stock_levels, channels, shipment_writebacks, stock_pushes},
    domain::{retry::backoff, stock},
};
use chrono::{Duration as ChronoDuration, Utc};
use kernel::{
    Envelope, Event, Timestamp,
    events::{OrderShipped, StockLevelChanged},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use std::{collections::HashMap, time::Duration};
use tokio::sync::watch;
use uuid::Uuid;

/// The consumer name.
pub const CONSUMER: &str = "channels";
/// The topics it binds.
pub const TOPICS: &[&str] = &[OrderShipped::TYPE, StockLevelChanged::TYPE];

/// Row states.
pub mod state {
    /// Waiting to be sent (or retried).
    pub const PENDING: &str = "pending";
    /// The marketplace shows what Cairn wants.
    pub const SYNCED: &str = "synced";
    /// The shipment was written back.
    pub const DONE: &str = "done";
    /// The marketplace refused it for good; `last_error` says why.
    pub const REJECTED: &str = "rejected";
    /// The shop has no Open API credentials: nothing can be written back.
    pub const NO_API: &str = "no_api";
}

/// Turns bus events into write-back rows.
pub struct WritebackHandler {
    db: store::Db,
}

impl WritebackHandler {
    /// A handler writing to `db`.
    pub fn new(db: store::Db) -> Self {
        WritebackHandler { db }
    }
}

#[async_trait::async_trait]
impl bus::TxHandler for WritebackHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }
    fn topics(&self) -> &'static [&'static str] {
        TOPICS
    }
    fn concurrency(&self) -> usize {
        4
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    /// Set-based: one inbox claim; shipments one by one (they are few); stock levels coalesced
    /// to the newest version per (tenant, SKU), one newer-wins upsert of those returning the
    /// ones that changed, one read of their tenants' shops and one upsert of the shops'
    /// pushes. The end state equals applying the events one by one: of a SKU's levels, the
    /// newest decides both the stored level and the last plan, and an older one is either not
    /// newer than what is stored or overwritten by it.
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, CONSUMER, envs).await?;
        let mut newest: std::collections::BTreeMap<(Uuid, String), StockLevelChanged> =
            std::collections::BTreeMap::new();
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            match env.kind.as_str() {
                OrderShipped::TYPE => self.shipped(tx, env).await?,
                StockLevelChanged::TYPE => {
                    let ev: StockLevelChanged = env.decode()?;
                    let key = (env.tenant_id.0, ev.sku_code.clone());
                    if newest.get(&key).is_none_or(|seen| seen.version < ev.version) {
                        newest.insert(key, ev);
                    }
                }
                other => anyhow::bail!("channels does not consume {other}"),
            }
        }
        self.levels(tx, newest.into_iter().map(|((t, _), ev)| (t, ev)).collect()).await
    }
}

impl WritebackHandler {
    /// A shipment to write back (its message already claimed).
    #[tracing::instrument(skip_all, fields(tenant_id = %env.tenant_id, message_id = %env.id))]
    async fn shipped(&self, tx: &sea_orm::DatabaseTransaction, env: &Envelope) -> anyhow::Result<()> {
        let ev: OrderShipped = env.decode()?;
        let t = env.tenant_id.0;
        let now = Utc::now();
        let channel = channels::Entity::find_by_id((t, ev.channel_id)).one(tx).await?;
        let has_api = channel.as_ref().is_some_and(|c| c.api_base_url.is_some());
        let row = shipment_writebacks::ActiveModel {
            tenant_id: Set(t),
            channel_id: Set(ev.channel_id),
            external_id: Set(ev.external_id),
            waybill_no: Set(ev.waybill_no),
            order_id: Set(ev.order_id),
            company_code: Set(ev.company_code),
            line_ids: Set(ev.external_line_ids.map(|l| serde_json::to_string(&l).expect("JSON"))),
            state: Set(if has_api { state::PENDING } else { state::NO_API }.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set((!has_api).then(|| "the shop has no Open API credentials".to_owned())),
            created_at: Set(now),
            done_at: Set(None),
        };
        shipment_writebacks::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    shipment_writebacks::Column::TenantId,
                    shipment_writebacks::Column::ChannelId,
                    shipment_writebacks::Column::ExternalId,
                    shipment_writebacks::Column::WaybillNo,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
        Ok(())
    }

    /// Stores the levels (one per tenant and SKU, their messages already claimed) that are
    /// newer than the stored ones and plans the shops' pushes for those.
    async fn levels(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        levels: Vec<(Uuid, StockLevelChanged)>,
    ) -> anyhow::Result<()> {
        if levels.is_empty() {
            return Ok(());
        }
        let mut tenants: Vec<Uuid> = levels.iter().map(|(t, _)| *t).collect();
        tenants.sort_unstable();
        tenants.dedup();
        for &t in &tenants {
            // In tenant order, so two transactions cannot deadlock (PostgreSQL).
            lock_planning(&self.db, tx, t).await?;
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
            for r in tx.query_all_raw(store::stmt(&self.db, &sql, values)).await? {
                changed.push((r.try_get("", "tenant_id")?, r.try_get("", "sku_code")?, r.try_get("", "available")?));
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let shops = channels::Entity::find().filter(channels::Column::TenantId.is_in(tenants)).all(tx).await?;
        let now = Utc::now();
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
        upsert_pushes(&self.db, tx, &rows, now).await?;
        Ok(())
    }
}

/// Sets the quantity each shop of `shops` (one tenant's) should display for each `(sku,
/// available)`, coalescing into `stock_pushes`.
pub async fn plan<C: ConnectionTrait>(
    db: &store::Db,
    conn: &C,
    shops: &[channels::Model],
    levels: &[(String, i64)],
    now: Timestamp,
) -> Result<(), DbErr> {
    let shops: Vec<stock::Shop> = shops.iter().map(channels::Model::stock_shop).collect();
    upsert_pushes(db, conn, &stock::plan(&shops, levels), now).await
}

/// Stores `rows` (distinct shops and SKUs) as the desired quantities, coalescing into
/// `stock_pushes`: a row already showing that quantity is synced, else pending.
async fn upsert_pushes<C: ConnectionTrait>(
    db: &store::Db,
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
async fn lock_planning<C: ConnectionTrait>(db: &store::Db, conn: &C, tenant: Uuid) -> Result<(), DbErr> {
    if db.is_postgres() {
        let key = i64::from_be_bytes(tenant.as_bytes()[8..16].try_into().expect("8 bytes")) ^ 0x5354_4f43_4b00_0000; // "STOCK"
        conn.execute_raw(store::stmt(db, "select pg_advisory_xact_lock(?)", vec![key.into()])).await?;
    }
    Ok(())
}

/// Re-plans every SKU Cairn knows a level of, for one tenant (after a shop's rules changed or a
/// shop was connected).
pub async fn replan_tenant(db: &store::Db, tenant: Uuid) -> Result<(), DbErr> {
    let tx = db.write().await?;
    lock_planning(db, &*tx, tenant).await?;
    let shops = channels::Entity::find().filter(channels::Column::TenantId.eq(tenant)).all(&*tx).await?;
    let levels: Vec<(String, i64)> = channel_stock_levels::Entity::find()
        .filter(channel_stock_levels::Column::TenantId.eq(tenant))
        .all(&*tx)
        .await?
        .into_iter()
        .map(|l| (l.sku_code, l.available))
        .collect();
    plan(db, &*tx, &shops, &levels, Utc::now()).await?;
    tx.commit().await
}

/// How long a claimed row stays invisible to other workers.
const CLAIM: ChronoDuration = ChronoDuration::seconds(30);

/// Sends due write-backs.
#[derive(Clone)]
pub struct Worker {
    db: store::Db,
    http: reqwest::Client,
    tick: Duration,
}

/// What one pass sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
}

impl Worker {
    /// A worker looking for due rows every `tick`.
    pub fn new(db: store::Db, tick: Duration) -> Self {
        Worker { db, http: adapters::http_client(), tick }
    }

    /// Runs passes until `stop` turns true.
    pub fn start(self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let busy = match self.pass().await {
                    Ok(p) => p.sent + p.failed > 0,
                    Err(e) => {
                        tracing::warn!(error = %e, "write-back pass failed");
                        false
                    }
                };
                if !busy {
                    tokio::select! {
                        _ = tokio::time::sleep(self.tick) => {}
                        _ = stop.changed() => {}
                    }
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    }

    /// Sends what is due now, once.
    pub async fn pass(&self) -> Result<Pass, DbErr> {
        let now = Utc::now();
        let mut pass = Pass::default();
        let mut clients: HashMap<(Uuid, Uuid), Option<Box<dyn MarketplaceApi>>> = HashMap::new();
        let ships = shipment_writebacks::Entity::find()
            .filter(shipment_writebacks::Column::State.eq(state::PENDING))
            .filter(shipment_writebacks::Column::NextAttemptAt.lte(now))
            .order_by_asc(shipment_writebacks::Column::NextAttemptAt)
            .limit(100)
            .all(self.db.conn())
            .await?;
        for s in ships {
            let key = (s.tenant_id, s.channel_id);
            let row = [("external_id", s.external_id.clone().into()), ("waybill_no", s.waybill_no.clone().into())];
            if !self.claim("shipment_writebacks", s.tenant_id, s.channel_id, &row, s.next_attempt_at, now).await? {
                continue;
            }
            let Some(api) = self.client(&mut clients, key).await? else { continue };
            let lines: Option<Vec<String>> = s.line_ids.as_deref().and_then(|l| serde_json::from_str(l).ok());
            let result = api.ship(&s.external_id, &s.company_code, &s.waybill_no, lines.as_deref()).await;
            let done = Utc::now();
            let mut q = shipment_writebacks::Entity::update_many()
                .filter(shipment_writebacks::Column::TenantId.eq(s.tenant_id))
                .filter(shipment_writebacks::Column::ChannelId.eq(s.channel_id))
                .filter(shipment_writebacks::Column::ExternalId.eq(s.external_id.clone()))
                .filter(shipment_writebacks::Column::WaybillNo.eq(s.waybill_no.clone()));
            q = match &result {
                Ok(()) => {
                    pass.sent += 1;
                    q.col_expr(shipment_writebacks::Column::State, state::DONE.into())
                        .col_expr(shipment_writebacks::Column::DoneAt, Some(done).into())
                        .col_expr(shipment_writebacks::Column::LastError, Option::<String>::None.into())
                }
                Err(CallError::Rejected { code, message }) => {
                    pass.failed += 1;
                    tracing::warn!(tenant_id = %s.tenant_id, tid = %s.external_id, %code, "the marketplace rejected a shipment write-back");
                    q.col_expr(shipment_writebacks::Column::State, state::REJECTED.into())
                        .col_expr(shipment_writebacks::Column::LastError, Some(format!("{code}: {message}")).into())
                }
                Err(e) => {
                    pass.failed += 1;
                    q.col_expr(shipment_writebacks::Column::Attempts, (s.attempts + 1).into())
                        .col_expr(shipment_writebacks::Column::NextAttemptAt, (done + backoff(s.attempts, e)).into())
                        .col_expr(shipment_writebacks::Column::LastError, Some(e.to_string()).into())
                }
            };
            q.exec(self.db.conn()).await?;
        }

        let pushes = stock_pushes::Entity::find()
            .filter(stock_pushes::Column::State.eq(state::PENDING))
            .filter(stock_pushes::Column::NextAttemptAt.lte(now))
            .order_by_asc(stock_pushes::Column::NextAttemptAt)
            .limit(200)
            .all(self.db.conn())
            .await?;
        for p in pushes {
            let key = (p.tenant_id, p.channel_id);
            if !self
                .claim(
                    "stock_pushes",
                    p.tenant_id,
                    p.channel_id,
                    &[("sku_code", p.sku_code.clone().into())],
                    p.next_attempt_at,
                    now,
                )
                .await?
            {
                continue;
            }
            let Some(api) = self.client(&mut clients, key).await? else { continue };
            let sent = p.desired;
            let result = api.set_quantity(&p.sku_code, sent).await;
            let done = Utc::now();
            let filter = |q: sea_orm::UpdateMany<stock_pushes::Entity>| {
                q.filter(stock_pushes::Column::TenantId.eq(p.tenant_id))
                    .filter(stock_pushes::Column::ChannelId.eq(p.channel_id))
                    .filter(stock_pushes::Column::SkuCode.eq(p.sku_code.clone()))
            };
            match &result {
                Ok(()) => {
                    pass.sent += 1;
                    // `desired` may have moved on while the call was out: then the row stays
                    // pending and the next pass sends the newer figure.
                    self.db
                        .conn()
                        .execute_raw(store::stmt(
                            &self.db,
                            "update stock_pushes set pushed = ?, pushed_at = ?, attempts = 0, last_error = null, next_attempt_at = ?, \
                             state = case when desired = ? then 'synced' else 'pending' end where tenant_id = ? and channel_id = ? and sku_code = ?",
                            vec![sent.into(), done.into(), done.into(), sent.into(), p.tenant_id.into(), p.channel_id.into(), p.sku_code.clone().into()],
                        ))
                        .await?;
                }
                Err(CallError::Rejected { code, message }) => {
                    pass.failed += 1;
                    filter(stock_pushes::Entity::update_many())
                        .col_expr(stock_pushes::Column::State, state::REJECTED.into())
                        .col_expr(stock_pushes::Column::LastError, Some(format!("{code}: {message}")).into())
                        .exec(self.db.conn())
                        .await?;
                }
                Err(e) => {
                    pass.failed += 1;
                    filter(stock_pushes::Entity::update_many())
                        .col_expr(stock_pushes::Column::Attempts, (p.attempts + 1).into())
                        .col_expr(stock_pushes::Column::NextAttemptAt, (done + backoff(p.attempts, e)).into())
                        .col_expr(stock_pushes::Column::LastError, Some(e.to_string()).into())
                        .exec(self.db.conn())
                        .await?;
                }
            }
        }
        Ok(pass)
    }

    async fn client<'a>(
        &self,
        cache: &'a mut HashMap<(Uuid, Uuid), Option<Box<dyn MarketplaceApi>>>,
        key: (Uuid, Uuid),
    ) -> Result<Option<&'a dyn MarketplaceApi>, DbErr> {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(key) {
            let c = channels::Entity::find_by_id(key).one(self.db.conn()).await?;
            e.insert(c.as_ref().and_then(|c| adapters::api_for(c, &self.http)));
        }
        Ok(cache.get(&key).and_then(|c| c.as_deref()))
    }

    /// Claims a due row of `table` by moving its `next_attempt_at` forward — only if it still
    /// holds the value this worker read (`seen`), so no two workers send the same row.
    async fn claim(
        &self,
        table: &str,
        tenant: Uuid,
        channel: Uuid,
        key: &[(&str, sea_orm::Value)],
        seen: Timestamp,
        now: Timestamp,
    ) -> Result<bool, DbErr> {
        let key_sql: String = key.iter().map(|(column, _)| format!(" and {column} = ?")).collect();
        let sql = format!(
            "update {table} set next_attempt_at = ? where tenant_id = ? and channel_id = ?{key_sql} and next_attempt_at = ? and state = 'pending'"
        );
        let mut values: Vec<sea_orm::Value> = vec![(now + CLAIM).into(), tenant.into(), channel.into()];
        values.extend(key.iter().map(|(_, v)| v.clone()));
        values.push(seen.into());
        Ok(self.db.conn().execute_raw(store::stmt(&self.db, &sql, values)).await?.rows_affected() == 1)
    }
}
