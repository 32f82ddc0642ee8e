//! The one path every trade takes into Cairn, pushed or pulled: store the raw message (dedupe,
//! audit), keep the newest snapshot per trade, and — only when it is newer than anything seen —
//! put `channel.trade_received` in the outbox. One transaction, so a 2xx means durable.
//!
//! This module owns `webhook_messages`, `channel_trades` and `channel_pull_finds`; others read
//! them through [`latest`], [`seen_versions`] and [`recent_pull_finds`].

use crate::{
    db::{channel_pull_finds, channel_trades, channels, webhook_messages},
    domain::mapping,
};
use kernel::{
    Envelope, SharedClock, TenantId, Timestamp,
    events::{Mapping, TradeReceived},
    trade::TradeSnapshot,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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
pub async fn store_only(
    db: &store::TenantDb,
    c: &channels::Model,
    message_id: &str,
    topic: &str,
    body: &str,
    now: Timestamp,
) -> Result<Ingested, DbErr> {
    let inserted = webhook_messages::Entity::insert(webhook_messages::ActiveModel {
        tenant_id: Set(c.tenant_id),
        channel_id: Set(c.id),
        message_id: Set(message_id.to_owned()),
        topic: Set(topic.to_owned()),
        body: Set(body.to_owned()),
        received_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            webhook_messages::Column::TenantId,
            webhook_messages::Column::ChannelId,
            webhook_messages::Column::MessageId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db.conn())
    .await?;
    Ok(if inserted == 0 { Ingested::Duplicate } else { Ingested::Stale })
}

/// Stores `m` and, when its trade version is new, enqueues it for orders — in one transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %m.channel.tenant_id, channel_id = %m.channel.id, source = m.source.as_str()))]
pub async fn ingest(db: &store::TenantDb, m: Incoming<'_>, now: Timestamp) -> Result<Ingested, DbErr> {
    Ok(ingest_all(db, &[m], now).await?[0])
}

/// [`ingest`] for several messages in one transaction (e.g. a page of pulled trades): the same
/// outcome as one by one, in order.
pub async fn ingest_all(db: &store::TenantDb, ms: &[Incoming<'_>], now: Timestamp) -> Result<Vec<Ingested>, DbErr> {
    let tx = db.write_named("pulled or single ingest").await?;
    let r = ingest_many(db, &tx, ms, now).await?;
    tx.commit().await?;
    Ok(r)
}

/// `ms` stored inside the caller's transaction, with the same outcome as storing them one by
/// one in order, in a few statements per round instead of three per message: a round takes at
/// most one message per trade and per message id (so a later version of a trade sees the
/// earlier one stored, and one statement never touches a row twice).
async fn ingest_many(
    db: &impl store::Dialect,
    tx: &sea_orm::DatabaseTransaction,
    ms: &[Incoming<'_>],
    now: Timestamp,
) -> Result<Vec<Ingested>, DbErr> {
    let mut out = vec![Ingested::Duplicate; ms.len()];
    let mut remaining: Vec<usize> = (0..ms.len()).collect();
    while !remaining.is_empty() {
        // At most one message per trade and per message id (a marketplace that reused an id
        // for another trade still gets the second one answered as a duplicate).
        let (mut trades, mut ids) = (HashSet::new(), HashSet::new());
        let (round, later): (Vec<usize>, Vec<usize>) = remaining.iter().partition(|&&i| {
            let (trade, id) =
                ((ms[i].channel.id, ms[i].trade.external_id.as_str()), (ms[i].channel.id, ms[i].message_id));
            let free = !trades.contains(&trade) && !ids.contains(&id);
            if free {
                trades.insert(trade);
                ids.insert(id);
            }
            free
        });
        ingest_round(db, tx, ms, &round, &mut out, now).await?;
        remaining = later;
    }
    Ok(out)
}

/// Messages `round` of `ms` (at most one per trade), outcomes into `out`.
async fn ingest_round(
    db: &impl store::Dialect,
    tx: &sea_orm::DatabaseTransaction,
    ms: &[Incoming<'_>],
    round: &[usize],
    out: &mut [Ingested],
    now: Timestamp,
) -> Result<(), DbErr> {
    // 1. The raw messages; the ones already stored are duplicates.
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(round.len() * 6);
    for &i in round {
        let m = &ms[i];
        values.extend([
            m.channel.tenant_id.into(),
            m.channel.id.into(),
            m.message_id.into(),
            m.topic.into(),
            m.body.into(),
            now.into(),
        ]);
    }
    let sql = format!(
        "insert into webhook_messages (tenant_id, channel_id, message_id, topic, body, received_at) values {} \
         on conflict (tenant_id, channel_id, message_id) do nothing returning channel_id, message_id",
        store::value_rows(round.len(), 6)
    );
    let mut new_messages = HashSet::new();
    for r in tx.query_all_raw(store::stmt(db, &sql, values)).await? {
        new_messages.insert((r.try_get::<Uuid>("", "channel_id")?, r.try_get::<String>("", "message_id")?));
    }
    let fresh: Vec<usize> = round
        .iter()
        .copied()
        .filter(|&i| new_messages.contains(&(ms[i].channel.id, ms[i].message_id.to_owned())))
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    // 2. Newer-wins upsert of the trades: a row changes only for a newer version, which decides
    // whether anything downstream needs to hear about it.
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(fresh.len() * 8);
    for &i in &fresh {
        let m = &ms[i];
        out[i] = Ingested::Stale;
        let snapshot = serde_json::to_string(m.trade).map_err(|e| DbErr::Custom(e.to_string()))?;
        values.extend([
            m.channel.tenant_id.into(),
            m.channel.id.into(),
            m.trade.external_id.as_str().into(),
            m.trade.modified.timestamp_micros().into(),
            m.source.as_str().into(),
            snapshot.into(),
            now.into(),
            now.into(),
        ]);
    }
    let sql = format!(
        "insert into channel_trades (tenant_id, channel_id, external_id, modified_us, source, snapshot, first_seen_at, updated_at) values {} \
         on conflict (tenant_id, channel_id, external_id) do update set modified_us = excluded.modified_us, source = excluded.source, \
         snapshot = excluded.snapshot, updated_at = excluded.updated_at where channel_trades.modified_us < excluded.modified_us \
         returning channel_id, external_id",
        store::value_rows(fresh.len(), 8)
    );
    let mut newer = HashSet::new();
    for r in tx.query_all_raw(store::stmt(db, &sql, values)).await? {
        newer.insert((r.try_get::<Uuid>("", "channel_id")?, r.try_get::<String>("", "external_id")?));
    }
    let applied: Vec<usize> =
        fresh.into_iter().filter(|&i| newer.contains(&(ms[i].channel.id, ms[i].trade.external_id.clone()))).collect();
    if applied.is_empty() {
        return Ok(());
    }
    // 3. What pull found that push had not delivered.
    let finds: Vec<channel_pull_finds::ActiveModel> = applied
        .iter()
        .map(|&i| &ms[i])
        .filter(|m| m.source == Source::Pull)
        .map(|m| channel_pull_finds::ActiveModel {
            tenant_id: Set(m.channel.tenant_id),
            channel_id: Set(m.channel.id),
            external_id: Set(m.trade.external_id.clone()),
            modified_us: Set(m.trade.modified.timestamp_micros()),
            status: Set(serde_json::to_value(m.trade.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()),
            found_at: Set(now),
        })
        .collect();
    if !finds.is_empty() {
        use channel_pull_finds::Column as C;
        channel_pull_finds::Entity::insert_many(finds)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::ChannelId, C::ExternalId, C::ModifiedUs]).do_nothing().to_owned(),
            )
            .exec_without_returning(tx)
            .await?;
    }
    // 4. Each line's SKU by the shop's product mapping (one read for the round), and the
    // variants that map to nothing recorded for the mapping screen (every variant, for a
    // marketplace without an item list to pull: Shopify).
    let mut shops: Vec<(Uuid, Uuid)> = applied.iter().map(|&i| (ms[i].channel.tenant_id, ms[i].channel.id)).collect();
    shops.sort_unstable();
    shops.dedup();
    let mappings = crate::items::mappings_of(tx, &shops).await?;
    let none = HashMap::new();
    let mut skus = Vec::with_capacity(applied.len());
    let mut seen: HashMap<(Uuid, Uuid), Vec<mapping::Variant>> = HashMap::new();
    for &i in &applied {
        let (m, c) = (&ms[i], ms[i].channel);
        let resolved = mapping::resolve_all(&m.trade.lines, mappings.get(&(c.tenant_id, c.id)).unwrap_or(&none));
        let record_all = c.marketplace == "shopify";
        for (line, sku) in m.trade.lines.iter().zip(&resolved) {
            if record_all || sku.mapping == Mapping::Unmapped {
                seen.entry((c.tenant_id, c.id)).or_default().extend(mapping::Variant::of_line(line));
            }
        }
        skus.push(resolved);
    }
    for ((t, ch), variants) in &seen {
        crate::items::record_seen(tx, *t, *ch, variants, crate::items::source::ORDER, now).await?;
    }
    // 5. On to orders.
    let mut events = Vec::with_capacity(applied.len());
    for (&i, skus) in applied.iter().zip(skus) {
        let (m, c) = (&ms[i], ms[i].channel);
        out[i] = Ingested::Applied;
        let event = TradeReceived {
            channel_id: c.id,
            marketplace: c.marketplace.clone(),
            shop_id: c.shop_id.clone(),
            topic: m.topic.to_owned(),
            message_id: m.message_id.to_owned(),
            hold_ttl_seconds: c.hold_ttl_seconds,
            skus,
            trade: m.trade.clone(),
        };
        events.push(Envelope::new(TenantId(c.tenant_id), &event, now, None));
    }
    bus::outbox::enqueue(tx, &events).await
}

/// The newest snapshot seen of a trade (e.g. to apply a partial update such as a Shopify refund).
pub async fn latest(
    db: &store::TenantDb,
    c: &channels::Model,
    external_id: &str,
) -> Result<Option<TradeSnapshot>, DbErr> {
    let row = channel_trades::Entity::find_by_id((c.tenant_id, c.id, external_id.to_owned())).one(db.conn()).await?;
    row.map(|r| {
        serde_json::from_str(&r.snapshot).map_err(|e| DbErr::Custom(format!("stored snapshot of {external_id}: {e}")))
    })
    .transpose()
}

/// The newest version (`modified` in µs) stored of each of the shop's trades `external_ids`
/// that Cairn has seen at all.
pub async fn seen_versions(
    db: &store::TenantDb,
    c: &channels::Model,
    external_ids: Vec<String>,
) -> Result<HashMap<String, i64>, DbErr> {
    Ok(channel_trades::Entity::find()
        .filter(channel_trades::Column::TenantId.eq(c.tenant_id))
        .filter(channel_trades::Column::ChannelId.eq(c.id))
        .filter(channel_trades::Column::ExternalId.is_in(external_ids))
        .all(db.conn())
        .await?
        .into_iter()
        .map(|r| (r.external_id, r.modified_us))
        .collect())
}

/// When the shop's latest pushed message (not a pulled trade version) arrived.
pub async fn last_webhook_at(db: &store::TenantDb, tenant: Uuid, channel: Uuid) -> Result<Option<Timestamp>, DbErr> {
    use sea_orm::QuerySelect;
    let at: Option<Option<Timestamp>> = webhook_messages::Entity::find()
        .select_only()
        .column_as(webhook_messages::Column::ReceivedAt.max(), "at")
        .filter(webhook_messages::Column::TenantId.eq(tenant))
        .filter(webhook_messages::Column::ChannelId.eq(channel))
        .filter(webhook_messages::Column::MessageId.not_like("pull:%"))
        .into_tuple()
        .one(db.conn())
        .await?;
    Ok(at.flatten())
}

/// The latest `limit` trade versions a shop's pulls found before push delivered them, newest
/// first.
pub async fn recent_pull_finds(
    db: &store::TenantDb,
    tenant: Uuid,
    channel: Uuid,
    limit: u64,
) -> Result<Vec<channel_pull_finds::Model>, DbErr> {
    channel_pull_finds::Entity::find()
        .filter(channel_pull_finds::Column::TenantId.eq(tenant))
        .filter(channel_pull_finds::Column::ChannelId.eq(channel))
        .order_by_desc(channel_pull_finds::Column::FoundAt)
        .limit(limit)
        .all(db.conn())
        .await
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
        Incoming {
            channel: &self.channel,
            source: self.source,
            message_id: &self.message_id,
            topic: &self.topic,
            body: &self.body,
            trade: &self.trade,
        }
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
    clock: SharedClock,
    queue: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>>,
}

/// Webhooks per group-commit transaction.
pub const GROUP: usize = 256;

impl Ingestor {
    /// An ingestor over `db`; the writer task starts with the first webhook. A group is stored
    /// at `clock`'s time when it is written, not when each webhook arrived.
    pub fn new(db: store::Db, clock: SharedClock) -> Self {
        Ingestor { db, clock, queue: Default::default() }
    }

    /// Stores `m` (see [`ingest`]).
    pub async fn ingest(&self, m: OwnedIncoming, now: Timestamp) -> Result<Ingested, DbErr> {
        if self.db.is_postgres() {
            return ingest(&self.db.tenant(m.channel.tenant_id), m.borrow(), now).await;
        }
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4 * GROUP);
            tokio::spawn(write_groups(self.db.clone(), self.clock.clone(), rx));
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue.send((m, reply)).await.map_err(|_| DbErr::Custom("the webhook writer stopped".into()))?;
        answer.await.map_err(|_| DbErr::Custom("the webhook writer stopped".into()))?.map_err(DbErr::Custom)
    }
}

async fn write_groups(db: store::Db, clock: SharedClock, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let together = async {
            // A group mixes tenants' webhooks (SQLite only: no row-level security there).
            let tx = db.system().write_named("webhook ingest").await?;
            let ms: Vec<Incoming<'_>> = jobs.iter().map(|(m, _)| m.borrow()).collect();
            let out = ingest_many(&db, &tx, &ms, now).await?;
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
                    let db = db.tenant(m.channel.tenant_id);
                    let _ = reply.send(ingest(&db, m.borrow(), now).await.map_err(|e| e.to_string()));
                }
            }
        }
    }
}
