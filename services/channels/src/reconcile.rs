//! Reconciliation: per shop, pull the marketplace's incremental trade list from a stored
//! checkpoint and feed every trade version push has not delivered into the webhook path.
//!
//! - Windows overlap: each pull starts `overlap` before the checkpoint, because a marketplace
//!   may stamp `modified` a little before the trade shows in its list. Versions already seen
//!   cost one read per page, no write.
//! - Windows end `settle` in the past (BAZAAR.md pages are stable only for a closed window) and
//!   span at most the marketplace's limit; the checkpoint advances per finished window, so an
//!   outage mid-catch-up resumes where it stopped.
//! - One puller per shop across instances: a lease row in `channel_sync`, which this module owns
//!   (the sync report reads it through [`status`]).

use crate::{
    adapters,
    connector::{self, CallError},
    db::{channel_sync, channels, shops},
    ingest::{self, Incoming, Ingested, Source},
};
use chrono::Duration as ChronoDuration;
use kernel::{SharedClock, Timestamp};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{ExprTrait as _, OnConflict},
};
use std::{collections::HashMap, time::Duration};
use tokio::sync::watch;
use uuid::Uuid;

/// Reconciliation settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often each shop is pulled.
    pub interval: Duration,
    /// How far each window reaches back before the checkpoint.
    pub overlap: ChronoDuration,
    /// How far in the past a window ends.
    pub settle: ChronoDuration,
    /// Where the first pull of a new shop starts, before the shop was connected.
    pub first_lookback: ChronoDuration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(60),
            overlap: ChronoDuration::seconds(30),
            settle: ChronoDuration::seconds(2),
            first_lookback: ChronoDuration::hours(24),
        }
    }
}

/// What one pull did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunReport {
    pub window_start: Option<Timestamp>,
    pub window_end: Option<Timestamp>,
    /// Trade versions the marketplace listed.
    pub pulled: i64,
    /// Of those, versions Cairn had not seen: push missed them (or had not delivered them yet).
    pub found: i64,
    /// Trades the marketplace listed that could not be read (they are not applied).
    pub unreadable: Vec<String>,
    /// Why the pull stopped early, if it did; the checkpoint stays at the last full window.
    pub error: Option<String>,
}

/// Why a pull did not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("this shop has no Open API credentials; connect it with `api` to reconcile")]
    NotConfigured,
    #[error("a pull of this shop is already running")]
    Busy,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

/// A shop's reconciliation row (checkpoint, schedule, counters), if it was ever pulled.
pub async fn status(
    db: &store::TenantDb,
    tenant: Uuid,
    channel: Uuid,
) -> Result<Option<channel_sync::Model>, sea_orm::DbErr> {
    channel_sync::Entity::find_by_id((tenant, channel)).one(db.conn()).await
}

/// Pulls shops, on a schedule and on demand.
#[derive(Clone)]
pub struct Reconciler {
    db: store::Db,
    http: reqwest::Client,
    settings: Settings,
    clock: SharedClock,
}

const LEASE: ChronoDuration = ChronoDuration::minutes(5);

impl Reconciler {
    /// A reconciler over `db`; `clock` decides when a shop is due, its windows and its lease.
    pub fn new(db: store::Db, settings: Settings, clock: SharedClock) -> Self {
        Reconciler { db, http: adapters::http_client(), settings, clock }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn ensure_row(&self, c: &channels::Model, now: Timestamp) -> Result<(), sea_orm::DbErr> {
        let row = channel_sync::ActiveModel {
            tenant_id: Set(c.tenant_id),
            channel_id: Set(c.id),
            checkpoint: Set(None),
            next_pull_at: Set(now),
            lease_until: Set(None),
            last_run_at: Set(None),
            last_window_start: Set(None),
            last_window_end: Set(None),
            last_pulled: Set(0),
            last_found: Set(0),
            last_error: Set(None),
            runs: Set(0),
            pulled: Set(0),
            found: Set(0),
        };
        channel_sync::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([channel_sync::Column::TenantId, channel_sync::Column::ChannelId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(self.db.tenant(c.tenant_id).conn())
            .await?;
        Ok(())
    }

    /// Pulls one shop now.
    #[tracing::instrument(skip_all, fields(tenant_id = %c.tenant_id, channel_id = %c.id))]
    pub async fn reconcile(&self, c: &channels::Model) -> Result<RunReport, ReconcileError> {
        let api = adapters::api_for(c, &self.http).ok_or(ReconcileError::NotConfigured)?;
        let now = self.clock.now();
        let db = self.db.tenant(c.tenant_id);
        self.ensure_row(c, now).await?;
        let claimed = db
            .conn()
            .execute_raw(store::stmt(
                &self.db,
                "update channel_sync set lease_until = ? where tenant_id = ? and channel_id = ? and (lease_until is null or lease_until < ?)",
                vec![(now + LEASE).into(), c.tenant_id.into(), c.id.into(), now.into()],
            ))
            .await?
            .rows_affected();
        if claimed == 0 {
            return Err(ReconcileError::Busy);
        }
        let sync =
            channel_sync::Entity::find_by_id((c.tenant_id, c.id)).one(db.conn()).await?.ok_or(ReconcileError::Busy)?;
        let mut report = RunReport::default();
        let start = match sync.checkpoint {
            Some(cp) => cp - self.settings.overlap,
            None => c.created_at - self.settings.first_lookback,
        };
        let end = now - self.settings.settle;
        let mut checkpoint = sync.checkpoint;
        let mut from = start;
        while from < end {
            let to = Ord::min(from + api.max_window(), end);
            report.window_start.get_or_insert(from);
            report.window_end = Some(to);
            match api.trades_modified(from, to).await {
                Ok(trades) => {
                    if let Err(e) = self.feed(c, trades, &mut report).await {
                        report.error = Some(format!("storing pulled trades: {e}"));
                        break;
                    }
                    checkpoint = Some(checkpoint.map_or(to, |cp| Ord::max(cp, to)));
                }
                Err(e) => {
                    report.error = Some(match e {
                        CallError::RateLimited(d) => {
                            format!("rate limited by the marketplace (retry after {} s)", d.as_secs())
                        }
                        other => other.to_string(),
                    });
                    break;
                }
            }
            from = to;
        }
        let done = self.clock.now();
        let next = done + ChronoDuration::from_std(self.settings.interval).unwrap_or(ChronoDuration::seconds(60));
        channel_sync::Entity::update_many()
            .col_expr(channel_sync::Column::Checkpoint, sea_orm::sea_query::Expr::value(checkpoint))
            .col_expr(channel_sync::Column::NextPullAt, sea_orm::sea_query::Expr::value(next))
            .col_expr(channel_sync::Column::LeaseUntil, sea_orm::sea_query::Expr::value(Option::<Timestamp>::None))
            .col_expr(channel_sync::Column::LastRunAt, sea_orm::sea_query::Expr::value(done))
            .col_expr(channel_sync::Column::LastWindowStart, sea_orm::sea_query::Expr::value(report.window_start))
            .col_expr(channel_sync::Column::LastWindowEnd, sea_orm::sea_query::Expr::value(report.window_end))
            .col_expr(channel_sync::Column::LastPulled, sea_orm::sea_query::Expr::value(report.pulled))
            .col_expr(channel_sync::Column::LastFound, sea_orm::sea_query::Expr::value(report.found))
            .col_expr(channel_sync::Column::LastError, sea_orm::sea_query::Expr::value(report.error.clone()))
            .col_expr(channel_sync::Column::Runs, sea_orm::sea_query::Expr::col(channel_sync::Column::Runs).add(1))
            .col_expr(
                channel_sync::Column::Pulled,
                sea_orm::sea_query::Expr::col(channel_sync::Column::Pulled).add(report.pulled),
            )
            .col_expr(
                channel_sync::Column::Found,
                sea_orm::sea_query::Expr::col(channel_sync::Column::Found).add(report.found),
            )
            .filter(channel_sync::Column::TenantId.eq(c.tenant_id))
            .filter(channel_sync::Column::ChannelId.eq(c.id))
            .exec(db.conn())
            .await?;
        if report.found > 0 {
            tracing::warn!(found = report.found, "reconciliation found trade versions that push had not delivered");
        }
        Ok(report)
    }

    /// Ingests the pulled versions Cairn has not seen, 100 lookups at a time.
    async fn feed(
        &self,
        c: &channels::Model,
        trades: Vec<connector::Pulled>,
        report: &mut RunReport,
    ) -> Result<(), sea_orm::DbErr> {
        let db = self.db.tenant(c.tenant_id);
        let mut readable = Vec::with_capacity(trades.len());
        for t in trades {
            report.pulled += 1;
            match t {
                Ok(s) => readable.push(s),
                Err(e) => report.unreadable.push(e),
            }
        }
        for chunk in readable.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|t| t.external_id.clone()).collect();
            let seen = ingest::seen_versions(&db, c, ids).await?;
            let mut unseen = Vec::new();
            for t in chunk {
                if seen.get(&t.external_id).is_some_and(|&m| m >= t.modified.timestamp_micros()) {
                    continue;
                }
                let body = serde_json::to_string(t).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
                unseen.push((t, ingest::pull_message_id(t), body));
            }
            if unseen.is_empty() {
                continue;
            }
            // One transaction for the chunk: one by one, each waited for the write gate behind
            // the bus's batches, and a page took seconds under load.
            let ms: Vec<Incoming<'_>> = unseen
                .iter()
                .map(|(t, message_id, body)| Incoming {
                    channel: c,
                    source: Source::Pull,
                    message_id,
                    topic: "reconcile.pull",
                    body,
                    trade: t,
                })
                .collect();
            report.found += ingest::ingest_all(&db, &ms, self.clock.now())
                .await?
                .into_iter()
                .filter(|r| *r == Ingested::Applied)
                .count() as i64;
        }
        Ok(())
    }

    /// Pulls every due shop until `stop` turns true.
    pub fn start(self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let tick = self.settings.interval.min(Duration::from_secs(1));
            loop {
                if let Err(e) = self.pull_due().await {
                    tracing::warn!(error = %e, "reconciliation pass failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        })
    }

    /// Finds the due shops across tenants (the system scope); each is then pulled in its
    /// tenant's.
    async fn pull_due(&self) -> Result<(), sea_orm::DbErr> {
        let now = self.clock.now();
        let system = self.db.system();
        let shops = shops::with_api(system.conn()).await?;
        if shops.is_empty() {
            return Ok(());
        }
        let due: HashMap<(Uuid, Uuid), Timestamp> = channel_sync::Entity::find()
            .all(system.conn())
            .await?
            .into_iter()
            .map(|s| ((s.tenant_id, s.channel_id), s.next_pull_at))
            .collect();
        for c in shops {
            if due.get(&(c.tenant_id, c.id)).is_some_and(|&at| at > now) {
                continue;
            }
            match self.reconcile(&c).await {
                Ok(_) | Err(ReconcileError::Busy | ReconcileError::NotConfigured) => {}
                Err(ReconcileError::Db(e)) => return Err(e),
            }
        }
        Ok(())
    }
}
