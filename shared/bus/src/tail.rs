//! A live tail of the outbox, for views that follow events as they happen (the dashboard's
//! event stream). One reader per process follows new rows and broadcasts them; each
//! subscriber keeps only its tenant's. A subscriber that resumes asks for the rows after its
//! last one first ([`Tail::replay`]).
//!
//! The outbox is every event of every service, in `seq` order, and is never trimmed, so it is
//! both the live feed and the history to resume from. On SQLite commits are serialised and
//! `seq` is commit order. On PostgreSQL a transaction can commit after another that took a
//! higher `seq`; the reader keeps the `seq`s it skipped over for [`GAP_WAIT`] and delivers
//! them if they appear (rows of a rolled-back transaction never do).

use crate::entities::outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;
use uuid::Uuid;

/// How long a skipped `seq` is looked for before it counts as a rollback.
pub const GAP_WAIT: Duration = Duration::from_secs(10);
/// How often the reader looks when no commit of this process woke it (other processes'
/// commits, on PostgreSQL).
const POLL: Duration = Duration::from_millis(300);
/// Rows per read.
const PAGE: u64 = 1000;
/// Events a subscriber may fall behind by before it is told to start over.
const BUFFER: usize = 8192;

/// One event as the tail delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tailed {
    /// Its position in the outbox: the stream's event id.
    pub seq: i64,
    pub tenant_id: Uuid,
    /// The event type, e.g. `order.changed`.
    pub kind: String,
    /// The envelope as JSON.
    pub envelope: String,
}

impl From<outbox::Model> for Tailed {
    fn from(r: outbox::Model) -> Self {
        Tailed { seq: r.seq, tenant_id: r.tenant_id, kind: r.kind, envelope: r.envelope }
    }
}

/// The process's outbox tail; clones share one reader.
#[derive(Clone)]
pub struct Tail {
    db: store::Db,
    sender: broadcast::Sender<Arc<Tailed>>,
    reader: Arc<OnceLock<()>>,
    stop: crate::Shutdown,
}

impl Tail {
    /// A tail over `db`; its reader starts with the first subscriber and ends with `stop`.
    pub fn new(db: store::Db, stop: crate::Shutdown) -> Tail {
        Tail { db, sender: broadcast::channel(BUFFER).0, reader: Default::default(), stop }
    }

    /// Every event committed from now on (the caller filters by tenant). A receiver that lags
    /// by more than the buffer gets `RecvError::Lagged` and should start over.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Tailed>> {
        let rx = self.sender.subscribe();
        self.reader.get_or_init(|| {
            tokio::spawn(read(self.db.clone(), self.sender.clone(), self.stop.clone()));
        });
        rx
    }

    /// The tenant's events after `seq`, oldest first, at most `limit`.
    pub async fn replay(&self, tenant: Uuid, seq: i64, limit: u64) -> Result<Vec<Tailed>, sea_orm::DbErr> {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Seq.gt(seq))
            .filter(outbox::Column::TenantId.eq(tenant))
            .order_by_asc(outbox::Column::Seq)
            .limit(limit)
            .all(self.db.tenant(tenant).conn())
            .await?;
        Ok(rows.into_iter().map(Tailed::from).collect())
    }
}

/// The newest `seq` in the outbox (0 when empty).
async fn head(db: &store::Db) -> Result<i64, sea_orm::DbErr> {
    let top: Option<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Seq)
        .order_by_desc(outbox::Column::Seq)
        .limit(1)
        .into_tuple()
        .one(db.system().conn())
        .await?;
    Ok(top.unwrap_or(0))
}

/// Follows the outbox from its head, broadcasting every new row, until `stop`. It reads every
/// tenant's events (each subscriber keeps only its own), so in the system scope.
async fn read(db: store::Db, sender: broadcast::Sender<Arc<Tailed>>, mut stop: crate::Shutdown) {
    let mut commits = db.subscribe_commits();
    let mut cursor = None;
    // Skipped `seq`s (PostgreSQL) and since when.
    let mut gaps: BTreeMap<i64, Instant> = BTreeMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        if sender.receiver_count() == 0 {
            // Nobody listens: start again from the head when somebody does.
            cursor = None;
            gaps.clear();
        } else {
            match step(&db, &sender, cursor, &mut gaps).await {
                Ok(c) => cursor = Some(c),
                Err(e) => tracing::warn!(error = %e, "reading the outbox tail failed; retrying"),
            }
        }
        tokio::select! {
            _ = commits.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One read: rows after `cursor` (or the head, on the first) and any skipped ones that showed
/// up; returns the new cursor.
async fn step(
    db: &store::Db,
    sender: &broadcast::Sender<Arc<Tailed>>,
    cursor: Option<i64>,
    gaps: &mut BTreeMap<i64, Instant>,
) -> Result<i64, sea_orm::DbErr> {
    let Some(mut cursor) = cursor else { return head(db).await };
    let now = Instant::now();
    gaps.retain(|_, since| now.duration_since(*since) < GAP_WAIT);
    if !gaps.is_empty() {
        let late = outbox::Entity::find()
            .filter(outbox::Column::Seq.is_in(gaps.keys().copied().collect::<Vec<_>>()))
            .all(db.system().conn())
            .await?;
        for r in late {
            gaps.remove(&r.seq);
            let _ = sender.send(Arc::new(r.into()));
        }
    }
    loop {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Seq.gt(cursor))
            .order_by_asc(outbox::Column::Seq)
            .limit(PAGE)
            .all(db.system().conn())
            .await?;
        let full = rows.len() as u64 == PAGE;
        for r in rows {
            for missing in cursor + 1..r.seq {
                gaps.insert(missing, now);
            }
            cursor = r.seq;
            let _ = sender.send(Arc::new(r.into()));
        }
        if !full {
            return Ok(cursor);
        }
    }
}
