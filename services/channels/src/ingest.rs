//! The one path every trade takes into Cairn, pushed or pulled: store the raw message (dedupe,
//! audit), keep the newest snapshot per trade, and — only when it is newer than anything seen —
//! put `channel.trade_received` in the outbox. One transaction, so a 2xx means durable.

use crate::db::{channel_pull_finds, channel_trades, channels, webhook_messages};
use kernel::{Envelope, TenantId, Timestamp, events::TradeReceived, trade::TradeSnapshot};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

/// How the trade reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A marketplace webhook.
    Push,
    /// A reconciliation pull of the marketplace's trade list.
    Pull,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Push => "push",
            Source::Pull => "pull",
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// New, and newer than anything seen of the trade: sent on to orders.
    Applied,
    /// Stored, but an equal or newer version of the trade was already seen: nothing to do.
    Stale,
    /// This message id was already stored.
    Duplicate,
}

/// One message to ingest.
pub struct Incoming<'a> {
    pub channel: &'a channels::Model,
    pub source: Source,
    pub message_id: &'a str,
    pub topic: &'a str,
    /// The raw body as received (pulled trades: the trade's JSON).
    pub body: &'a str,
    pub trade: &'a TradeSnapshot,
}

/// The message id a pulled trade version is stored under: the same version pulled twice is one
/// message.
pub fn pull_message_id(trade: &TradeSnapshot) -> String {
    format!("pull:{}:{}", trade.external_id, trade.modified.timestamp_micros())
}

/// Stores a message that carries no trade to apply (yet): for dedupe and audit only.
pub async fn store_only(db: &store::Db, c: &channels::Model, message_id: &str, topic: &str, body: &str, now: Timestamp) -> Result<Ingested, DbErr> {
    let inserted = webhook_messages::Entity::insert(webhook_messages::ActiveModel {
        tenant_id: Set(c.tenant_id),
        channel_id: Set(c.id),
        message_id: Set(message_id.to_owned()),
        topic: Set(topic.to_owned()),
        body: Set(body.to_owned()),
        received_at: Set(now),
    })
    .on_conflict(OnConflict::columns([webhook_messages::Column::TenantId, webhook_messages::Column::ChannelId, webhook_messages::Column::MessageId]).do_nothing().to_owned())
    .exec_without_returning(db.conn())
    .await?;
    Ok(if inserted == 0 { Ingested::Duplicate } else { Ingested::Stale })
}

/// Stores `m` and, when its trade version is new, enqueues it for orders — in one transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %m.channel.tenant_id, channel_id = %m.channel.id, source = m.source.as_str()))]
pub async fn ingest(db: &store::Db, m: Incoming<'_>, now: Timestamp) -> Result<Ingested, DbErr> {
    let tx = db.write().await?;
    let r = ingest_in(db, &tx, m, now).await?;
    tx.commit().await?;
    Ok(r)
}

/// [`ingest`] inside the caller's transaction.
async fn ingest_in(db: &store::Db, tx: &sea_orm::DatabaseTransaction, m: Incoming<'_>, now: Timestamp) -> Result<Ingested, DbErr> {
    let c = m.channel;
    let inserted = webhook_messages::Entity::insert(webhook_messages::ActiveModel {
        tenant_id: Set(c.tenant_id),
        channel_id: Set(c.id),
        message_id: Set(m.message_id.to_owned()),
        topic: Set(m.topic.to_owned()),
        body: Set(m.body.to_owned()),
        received_at: Set(now),
    })
    .on_conflict(OnConflict::columns([webhook_messages::Column::TenantId, webhook_messages::Column::ChannelId, webhook_messages::Column::MessageId]).do_nothing().to_owned())
    .exec_without_returning(tx)
    .await?;
    if inserted == 0 {
        return Ok(Ingested::Duplicate);
    }
    let modified_us = m.trade.modified.timestamp_micros();
    let snapshot = serde_json::to_string(m.trade).map_err(|e| DbErr::Custom(e.to_string()))?;
    // Newer-wins upsert: the row changes only for a newer version, which decides whether
    // anything downstream needs to hear about it.
    let newer = tx
        .execute_raw(store::stmt(
            db,
            "insert into channel_trades (tenant_id, channel_id, external_id, modified_us, source, snapshot, first_seen_at, updated_at) \
             values (?, ?, ?, ?, ?, ?, ?, ?) \
             on conflict (tenant_id, channel_id, external_id) do update set modified_us = excluded.modified_us, source = excluded.source, \
             snapshot = excluded.snapshot, updated_at = excluded.updated_at where channel_trades.modified_us < excluded.modified_us",
            vec![
                c.tenant_id.into(),
                c.id.into(),
                m.trade.external_id.clone().into(),
                modified_us.into(),
                m.source.as_str().into(),
                snapshot.into(),
                now.into(),
                now.into(),
            ],
        ))
        .await?
        .rows_affected()
        > 0;
    if !newer {
        return Ok(Ingested::Stale);
    }
    if m.source == Source::Pull {
        channel_pull_finds::Entity::insert(channel_pull_finds::ActiveModel {
            tenant_id: Set(c.tenant_id),
            channel_id: Set(c.id),
            external_id: Set(m.trade.external_id.clone()),
            modified_us: Set(modified_us),
            status: Set(serde_json::to_value(m.trade.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
            found_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                channel_pull_finds::Column::TenantId,
                channel_pull_finds::Column::ChannelId,
                channel_pull_finds::Column::ExternalId,
                channel_pull_finds::Column::ModifiedUs,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
    }
    let event = TradeReceived {
        channel_id: c.id,
        marketplace: c.marketplace.clone(),
        shop_id: c.shop_id.clone(),
        topic: m.topic.to_owned(),
        message_id: m.message_id.to_owned(),
        hold_ttl_seconds: c.hold_ttl_seconds,
        trade: m.trade.clone(),
    };
    bus::outbox::enqueue(tx, &[Envelope::new(TenantId(c.tenant_id), &event, now, None)]).await?;
    Ok(Ingested::Applied)
}

/// The newest snapshot seen of a trade (e.g. to apply a partial update such as a Shopify refund).
pub async fn latest(db: &store::Db, c: &channels::Model, external_id: &str) -> Result<Option<TradeSnapshot>, DbErr> {
    let row = channel_trades::Entity::find_by_id((c.tenant_id, c.id, external_id.to_owned())).one(db.conn()).await?;
    row.map(|r| serde_json::from_str(&r.snapshot).map_err(|e| DbErr::Custom(format!("stored snapshot of {external_id}: {e}")))).transpose()
}

/// An [`Incoming`] that owns its parts, to hand to the group-commit writer.
pub struct OwnedIncoming {
    pub channel: channels::Model,
    pub source: Source,
    pub message_id: String,
    pub topic: String,
    pub body: String,
    pub trade: TradeSnapshot,
}

impl OwnedIncoming {
    fn borrow(&self) -> Incoming<'_> {
        Incoming { channel: &self.channel, source: self.source, message_id: &self.message_id, topic: &self.topic, body: &self.body, trade: &self.trade }
    }
}

type Job = (OwnedIncoming, tokio::sync::oneshot::Sender<Result<Ingested, String>>);

/// Group commit for webhooks on SQLite: concurrent webhooks are stored up to [`GROUP`] per
/// transaction by one writer task, and each is answered only after that transaction
/// committed — durable before 2xx as before, for one fsync per group instead of per webhook.
/// On PostgreSQL each webhook has its own transaction (many commit in parallel there).
#[derive(Clone)]
pub struct Ingestor {
    db: store::Db,
    queue: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>>,
}

/// Webhooks per group-commit transaction.
pub const GROUP: usize = 64;

impl Ingestor {
    /// An ingestor over `db`; the writer task starts with the first webhook.
    pub fn new(db: store::Db) -> Self {
        Ingestor { db, queue: Default::default() }
    }

    /// Stores `m` (see [`ingest`]).
    pub async fn ingest(&self, m: OwnedIncoming, now: Timestamp) -> Result<Ingested, DbErr> {
        if self.db.is_postgres() {
            return ingest(&self.db, m.borrow(), now).await;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4 * GROUP);
            tokio::spawn(write_groups(self.db.clone(), rx));
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue.send((m, reply)).await.map_err(|_| DbErr::Custom("the webhook writer stopped".into()))?;
        answer.await.map_err(|_| DbErr::Custom("the webhook writer stopped".into()))?.map_err(DbErr::Custom)
    }
}

async fn write_groups(db: store::Db, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now = chrono::Utc::now();
        let together = async {
            let tx = db.write().await?;
            let mut out = Vec::with_capacity(jobs.len());
            for (m, _) in &jobs {
                out.push(ingest_in(&db, &tx, m.borrow(), now).await?);
            }
            tx.commit().await?;
            Ok::<_, DbErr>(out)
        };
        match together.await {
            Ok(results) => {
                for ((_, reply), r) in jobs.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            // One bad message must not fail the others: store each on its own.
            Err(e) => {
                tracing::warn!(error = %e, webhooks = jobs.len(), "group commit failed; storing each webhook alone");
                for (m, reply) in jobs {
                    let _ = reply.send(ingest(&db, m.borrow(), now).await.map_err(|e| e.to_string()));
                }
            }
        }
    }
}
