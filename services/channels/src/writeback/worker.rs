//! The worker that sends due write-backs and records each outcome.

use super::state;
use crate::{
    adapters,
    connector::{CallError, MarketplaceApi},
    db::{shipment_writebacks, shops, stock_pushes},
    domain::retry::backoff,
};
use chrono::Duration as ChronoDuration;
use futures_util::StreamExt;
use kernel::{SharedClock, Timestamp};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::{collections::HashMap, time::Duration};
use tokio::sync::watch;
use uuid::Uuid;

/// How long a claimed row stays invisible to other workers.
const CLAIM: ChronoDuration = ChronoDuration::seconds(30);
/// Shipment write-backs in flight at once (the marketplace limits calls per app and shop and
/// answers 429 past it, which backs the row off).
const SHIP_CONCURRENCY: usize = 16;

/// Sends due write-backs.
#[derive(Clone)]
pub struct Worker {
    db: store::Db,
    http: reqwest::Client,
    tick: Duration,
    clock: SharedClock,
}

/// What one pass sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pass {
    pub sent: usize,
    pub failed: usize,
}

impl Worker {
    /// A worker looking for due rows every `tick`; `clock` decides what is due and when a
    /// failed row is tried again.
    pub fn new(db: store::Db, tick: Duration, clock: SharedClock) -> Self {
        Worker { db, http: adapters::http_client(), tick, clock }
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

    /// Sends what is due now, once. Due rows are found, claimed and recorded across tenants
    /// (the system scope: one write for many tenants' rows); each row's shop and targets are
    /// read, and each stock push written, in its tenant's scope.
    pub async fn pass(&self) -> Result<Pass, DbErr> {
        let system = self.db.system();
        let now = self.clock.now();
        let mut pass = Pass::default();
        let mut clients: HashMap<(Uuid, Uuid), Option<Box<dyn MarketplaceApi>>> = HashMap::new();
        let ships = shipment_writebacks::Entity::find()
            .filter(shipment_writebacks::Column::State.eq(state::PENDING))
            .filter(shipment_writebacks::Column::NextAttemptAt.lte(now))
            .order_by_asc(shipment_writebacks::Column::NextAttemptAt)
            .limit(100)
            .all(system.conn())
            .await?;
        // Claimed together (one write), sent concurrently, recorded together (one write): on
        // SQLite every write waits for the one writer, so a claim and a record per row made the
        // write-backs trickle out one by one behind everything else that writes.
        let mut claimed = Vec::with_capacity(ships.len());
        if !ships.is_empty() {
            let tx = system.write_named("write-backs").await?;
            for s in ships {
                let row = [("external_id", s.external_id.clone().into()), ("waybill_no", s.waybill_no.clone().into())];
                if Self::claim(
                    &*tx,
                    &self.db,
                    "shipment_writebacks",
                    s.tenant_id,
                    s.channel_id,
                    &row,
                    s.next_attempt_at,
                    now,
                )
                .await?
                {
                    claimed.push(s);
                }
            }
            tx.commit().await?;
        }
        let mut apis: HashMap<(Uuid, Uuid), Option<std::sync::Arc<dyn MarketplaceApi>>> = HashMap::new();
        for s in &claimed {
            let key = (s.tenant_id, s.channel_id);
            if let std::collections::hash_map::Entry::Vacant(e) = apis.entry(key) {
                let c = shops::find(self.db.tenant(key.0).conn(), key.0, key.1).await?;
                e.insert(c.as_ref().and_then(|c| adapters::api_for(c, &self.http)).map(std::sync::Arc::from));
            }
        }
        // Owned futures (the row and its shop's client), so they can run side by side.
        let calls: Vec<_> = claimed
            .into_iter()
            .filter_map(|s| {
                let api = apis.get(&(s.tenant_id, s.channel_id)).cloned().flatten()?;
                Some(async move {
                    let lines: Option<Vec<String>> = s.line_ids.as_deref().and_then(|l| serde_json::from_str(l).ok());
                    let result = api.ship(&s.external_id, &s.company_code, &s.waybill_no, lines.as_deref()).await;
                    (s, result)
                })
            })
            .collect();
        let results: Vec<(shipment_writebacks::Model, Result<(), CallError>)> =
            futures_util::stream::iter(calls).buffer_unordered(SHIP_CONCURRENCY).collect().await;
        if !results.is_empty() {
            let done = self.clock.now();
            let tx = system.write_named("write-backs").await?;
            for (s, result) in results {
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
                            .col_expr(
                                shipment_writebacks::Column::NextAttemptAt,
                                (done + backoff(s.attempts, e)).into(),
                            )
                            .col_expr(shipment_writebacks::Column::LastError, Some(e.to_string()).into())
                    }
                };
                q.exec(&*tx).await?;
            }
            tx.commit().await?;
        }

        let pushes = stock_pushes::Entity::find()
            .filter(stock_pushes::Column::State.eq(state::PENDING))
            .filter(stock_pushes::Column::NextAttemptAt.lte(now))
            .order_by_asc(stock_pushes::Column::NextAttemptAt)
            .limit(200)
            .all(system.conn())
            .await?;
        for p in pushes {
            let key = (p.tenant_id, p.channel_id);
            let db = self.db.tenant(p.tenant_id);
            if !Self::claim(
                db.conn(),
                &self.db,
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
            // To the variants the shop maps to this SKU, else by merchant code; done when all
            // took it (each call is idempotent, so a retry repeats the ones that did).
            let targets = crate::items::targets_of(db.conn(), p.tenant_id, p.channel_id, &p.sku_code).await?;
            let result = if targets.is_empty() {
                api.set_quantity(&p.sku_code, sent).await
            } else {
                let mut r = Ok(());
                for (item, variant) in &targets {
                    r = api.set_variant_quantity(item, variant.as_deref(), sent).await;
                    if r.is_err() {
                        break;
                    }
                }
                r
            };
            let done = self.clock.now();
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
                    db.conn()
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
                        .exec(db.conn())
                        .await?;
                }
                Err(e) => {
                    pass.failed += 1;
                    filter(stock_pushes::Entity::update_many())
                        .col_expr(stock_pushes::Column::Attempts, (p.attempts + 1).into())
                        .col_expr(stock_pushes::Column::NextAttemptAt, (done + backoff(p.attempts, e)).into())
                        .col_expr(stock_pushes::Column::LastError, Some(e.to_string()).into())
                        .exec(db.conn())
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
            let c = shops::find(self.db.tenant(key.0).conn(), key.0, key.1).await?;
            e.insert(c.as_ref().and_then(|c| adapters::api_for(c, &self.http)));
        }
        Ok(cache.get(&key).and_then(|c| c.as_deref()))
    }

    /// Claims a due row of `table` by moving its `next_attempt_at` forward — only if it still
    /// holds the value this worker read (`seen`), so no two workers send the same row.
    #[allow(clippy::too_many_arguments)]
    async fn claim<C: ConnectionTrait>(
        conn: &C,
        db: &store::Db,
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
        Ok(conn.execute_raw(store::stmt(db, &sql, values)).await?.rows_affected() == 1)
    }
}
