//! The embedded bus: the outbox is the queue and each consumer keeps a durable cursor.
//! Nothing acknowledged is lost across `kill -9`: an event exists once its producer's
//! transaction committed, and a consumer's cursor only moves past events it has applied.

use crate::{
    SharedHandler, Shutdown,
    entities::{consumer_cursors, parked_messages},
};
use futures_util::StreamExt;
use kernel::Envelope;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};
use std::time::Duration;

const BATCH: u64 = 512;
/// Messages per group-commit transaction: enough to amortise the commit and the per-statement
/// cost of set-based handlers, few enough that the write gate is not held long against
/// webhooks. Double-11 on a 2-core machine: 256 order events hold it for about 25 ms; 64
/// gave about 15% fewer orders/s for 15–25 ms less webhook p99.
const GROUP: usize = 256;

/// How often a consumer's lag is measured for `/metrics` (between two batches, or while idle).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Runs one consumer until shutdown.
pub async fn run(db: store::Db, handler: SharedHandler, mut shutdown: Shutdown) {
    let mut commits = db.subscribe_commits();
    let mut cursor: Option<i64> = None;
    let mut unsynced = false;
    let mut measured: Option<std::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Some(pos) = cursor
            && measured.is_none_or(|m| m.elapsed() >= LAG_EVERY)
        {
            measured = Some(std::time::Instant::now());
            if let Err(e) = measure_lag(&db, &handler, pos).await {
                tracing::debug!(consumer = handler.name(), error = %e, "cannot measure the consumer's lag");
            }
        }
        let pos = match cursor {
            Some(p) => p,
            None => match load_cursor(&db, handler.name()).await {
                Ok(p) => {
                    cursor = Some(p);
                    p
                }
                Err(e) => {
                    tracing::error!(consumer = handler.name(), error = %e, "cannot read cursor");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        commits.borrow_and_update();
        match step(&db, &handler, pos).await {
            Ok(Some(next)) => {
                cursor = Some(next);
                unsynced = true;
            }
            Ok(None) if unsynced => {
                // Caught up after derived (unsynced) commits: one durable commit syncs the
                // log, so they are on disk before this consumer sleeps.
                match sync(&db, handler.name(), pos).await {
                    Ok(()) => unsynced = false,
                    Err(e) => tracing::error!(consumer = handler.name(), error = %e, "cannot sync the log"),
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = commits.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(consumer = handler.name(), error = %e, "embedded bus step failed; retrying");
                // Chunks applied before the failure may have moved the stored cursor (and their
                // messages have no inbox rows): read it again rather than retry from `pos`.
                cursor = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// How far `consumer` (binding `topics`) is: (events of its topics written, events of its topics
/// handled). On the embedded bus "handled" means at or before its cursor (a group commit that
/// moves the cursor writes no inbox rows); a consumer without a cursor (RabbitMQ, or not
/// started yet) is measured by its inbox.
pub async fn progress(db: &store::Db, consumer: &str, topics: &[&str]) -> Result<(u64, u64), DbErr> {
    use crate::entities::{inbox, outbox};
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let kinds: Vec<String> = topics.iter().map(|s| s.to_string()).collect();
    let written = outbox::Entity::find().filter(outbox::Column::Kind.is_in(kinds.clone())).count(db.conn()).await?;
    let handled = match consumer_cursors::Entity::find_by_id(consumer.to_owned()).one(db.conn()).await? {
        Some(c) => {
            outbox::Entity::find()
                .filter(outbox::Column::Kind.is_in(kinds))
                .filter(outbox::Column::Seq.lte(c.position))
                .count(db.conn())
                .await?
        }
        None => inbox::Entity::find().filter(inbox::Column::Consumer.eq(consumer)).count(db.conn()).await?,
    };
    Ok((written, handled))
}

/// Sets `consumer`'s lag gauges: its topics' events after `pos` (counted up to
/// [`telemetry::metrics::BUS_PENDING_CAP`], so a far-behind consumer costs a bounded scan of
/// the outbox's key range, not one of everything it has yet to read) and the age of the
/// oldest. Reads only, on the pool: the writer and its gate are not involved.
async fn measure_lag(db: &store::Db, handler: &SharedHandler, pos: i64) -> Result<(), DbErr> {
    use crate::entities::outbox;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let topics = handler.topics();
    let kinds = vec!["?"; topics.len()].join(", ");
    let sql = format!(
        "select count(*) as n from (select 1 from outbox where seq > ? and kind in ({kinds}) limit {}) as pending",
        telemetry::metrics::BUS_PENDING_CAP
    );
    let mut values: Vec<sea_orm::Value> = vec![pos.into()];
    values.extend(topics.iter().map(|t| (*t).into()));
    let pending: i64 = match db.conn().query_one_raw(store::stmt(db, &sql, values)).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    let oldest: Option<chrono::DateTime<chrono::Utc>> = if pending == 0 {
        None
    } else {
        outbox::Entity::find()
            .select_only()
            .column(outbox::Column::CreatedAt)
            .filter(outbox::Column::Seq.gt(pos))
            .filter(outbox::Column::Kind.is_in(topics.iter().copied()))
            .order_by_asc(outbox::Column::Seq)
            .into_tuple()
            .one(db.conn())
            .await?
    };
    let age = oldest.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds() as f64 / 1e3);
    telemetry::metrics::bus_pending(handler.name(), pending.max(0) as u64, Some(age));
    Ok(())
}

async fn load_cursor(db: &store::Db, consumer: &str) -> Result<i64, DbErr> {
    Ok(consumer_cursors::Entity::find_by_id(consumer.to_owned()).one(db.conn()).await?.map_or(0, |c| c.position))
}

/// Handles the next batch after `pos`; returns the new position, or `None` when idle.
pub async fn step(db: &store::Db, handler: &SharedHandler, pos: i64) -> anyhow::Result<Option<i64>> {
    let topics = handler.topics();
    // Every row after the cursor (it moves past all of them), but the envelope only of those
    // this consumer binds: most rows are other consumers' and their envelopes are the bulk.
    let sql = format!(
        "select seq, case when kind in ({}) then envelope end as envelope from outbox where seq > ? order by seq limit {BATCH}",
        vec!["?"; topics.len()].join(", ")
    );
    let mut values: Vec<sea_orm::Value> = topics.iter().map(|t| (*t).into()).collect();
    values.push(pos.into());
    let rows: Vec<(i64, Option<String>)> = db
        .conn()
        .query_all_raw(store::stmt(db, &sql, values))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "seq")?, r.try_get("", "envelope")?)))
        .collect::<Result<_, DbErr>>()?;
    let Some(last) = rows.last().map(|r| r.0) else { return Ok(None) };
    let mut seqs: Vec<i64> = Vec::with_capacity(rows.len());
    let envs: Vec<Envelope> = rows
        .iter()
        .filter_map(|(seq, envelope)| match serde_json::from_str(envelope.as_deref()?) {
            Ok(e) => {
                seqs.push(*seq);
                Some(e)
            }
            Err(e) => {
                tracing::error!(seq, error = %e, "unreadable outbox row skipped");
                None
            }
        })
        .collect();
    // Group commit first: a handler that can apply a chunk in one transaction saves a commit
    // per message. While every chunk so far was applied, each chunk's transaction also moves
    // the cursor past it (the last one past every row read, this consumer's or not), so its
    // messages are never read again and need no inbox rows (see `inbox::claim_many`). A chunk
    // that fails (or a handler that cannot batch) goes one by one below, and the chunks after
    // it claim their messages in the inbox without moving the cursor.
    let mut single: Vec<Envelope> = Vec::new();
    let mut cursor_saved = false;
    let chunks = envs.chunks(GROUP).count();
    for (i, (chunk, chunk_seqs)) in envs.chunks(GROUP).zip(seqs.chunks(GROUP)).enumerate() {
        let upto = if i + 1 == chunks { last } else { chunk_seqs.last().copied().unwrap_or(last) };
        let with_cursor = single.is_empty().then_some(upto);
        let started = std::time::Instant::now();
        match handler.handle_batch(chunk, with_cursor).await {
            Ok(true) => {
                crate::handled(handler.name(), started, Some(chunk), chunk.len() as u64);
                cursor_saved = with_cursor == Some(last);
            }
            Ok(false) => single.extend_from_slice(chunk),
            Err(e) => {
                crate::handled(handler.name(), started, None, chunk.len() as u64);
                tracing::warn!(consumer = handler.name(), error = %e, "batch failed; handling its messages one by one");
                single.extend_from_slice(chunk);
            }
        }
    }
    if cursor_saved {
        return Ok(Some(last));
    }
    let envs = single;
    let results: Vec<_> = futures_util::stream::iter(envs)
        .map(|env| {
            let handler = handler.clone();
            async move {
                match crate::handle_with_retry(handler.as_ref(), &env).await {
                    Ok(()) => Ok(()),
                    Err((err, attempts)) => {
                        park(db, handler.name(), &env, &err, attempts).await?;
                        telemetry::metrics::bus_messages(handler.name(), "parked", 1);
                        Ok(())
                    }
                }
            }
        })
        .buffer_unordered(handler.concurrency().max(1))
        .collect()
        .await;
    // A message that could neither be applied nor parked keeps the cursor where it is; the
    // batch is retried and the inbox makes the already-applied ones no-ops.
    results.into_iter().collect::<Result<Vec<()>, DbErr>>()?;
    let tx = db.write_derived("bus cursors").await?;
    save_cursor(&*tx, handler.name(), last).await?;
    tx.commit().await?;
    Ok(Some(last))
}

/// A durable commit (rewriting the cursor where it is): syncs every derived commit before it.
async fn sync(db: &store::Db, consumer: &str, position: i64) -> Result<(), DbErr> {
    let tx = db.write_named("bus idle sync").await?;
    save_cursor(&*tx, consumer, position).await?;
    tx.commit().await
}

/// Moves `consumer`'s cursor to `position` inside `tx`.
pub async fn save_cursor<C: sea_orm::ConnectionTrait>(tx: &C, consumer: &str, position: i64) -> Result<(), DbErr> {
    consumer_cursors::Entity::insert(consumer_cursors::ActiveModel {
        consumer: Set(consumer.to_owned()),
        position: Set(position),
    })
    .on_conflict(
        OnConflict::column(consumer_cursors::Column::Consumer)
            .update_column(consumer_cursors::Column::Position)
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

async fn park(db: &store::Db, consumer: &str, env: &Envelope, err: &anyhow::Error, attempts: u32) -> Result<(), DbErr> {
    tracing::error!(consumer, message_id = %env.id, kind = %env.kind, error = ?err, "message parked after repeated failures");
    let tx = db.write_named("bus parking").await?;
    parked_messages::Entity::insert(parked_messages::ActiveModel {
        consumer: Set(consumer.to_owned()),
        message_id: Set(env.id),
        tenant_id: Set(env.tenant_id.0),
        envelope: Set(serde_json::to_string(env).expect("envelopes serialize")),
        error: Set(format!("{err:#}")),
        attempts: Set(attempts as i32),
        parked_at: Set(chrono::Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([parked_messages::Column::Consumer, parked_messages::Column::MessageId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&*tx)
    .await?;
    tx.commit().await
}
