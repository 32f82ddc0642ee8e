//! RabbitMQ transport: outbox relay with publisher confirms, quorum-queue consumers with a
//! parking queue, reconnection with re-declaration.
//!
//! Fairness between tenants: each consumer's queue is split into [`Topology::shards`] quorum
//! queues by tenant ([`shard_of`]); the relay publishes each event with its shard in the
//! routing key (`order.changed.3`). A consumer reads all its shards at once, each on a channel
//! of its own with its own prefetch, and its handlers take turns through one fair (FIFO)
//! semaphore of [`crate::Handler::concurrency`] permits. A flood from one tenant then fills only
//! its shard's queue: another tenant's message in another shard is delivered at once and waits
//! for at most one round of the flood's handlers, not for the flood's backlog. Two tenants in
//! the same shard still share one FIFO (with N shards a given pair does with probability 1/N).
//! Order is kept per tenant (one tenant is always in one shard), not across tenants.
//!
//! Ownership: a consumer listed as single-active (inventory) has its shard queues declared
//! with `x-single-active-consumer`, so across all processes exactly one consumer of each shard
//! is active; the rest stand by, and when the owner's connection drops the broker activates the
//! next and redelivers what the owner had not acknowledged (the failover test: 0.1–0.7 s from
//! `kill -9` to the standby's first reservation). Consumer tags are `<consumer>@<host>:<pid>`,
//! so `rabbitmqctl list_consumers queue_name consumer_tag active` shows who owns what.
//! Requests ([`crate::request`]) are sent into these same shard queues, so the owner of a
//! shard's events also answers its requests (inventory's API commands).
//!
//! Every process must use the same shard count. A consumer also drains its queue from before
//! sharding (`<prefix><consumer>`, still bound to the unsharded routing keys that processes
//! of an older version publish with) when it exists, so a rolling upgrade loses nothing.
//!
//! lapin does not reconnect by itself, so every loop here is "connect, declare, work until the
//! connection fails, back off, repeat". Outbox rows are marked published only after the broker
//! confirmed them; after a reconnect the relay simply publishes what is still unmarked, so
//! unconfirmed messages are re-published (consumers dedupe by message id).

use crate::{BusHealth, MAX_ATTEMPTS, SharedHandler, Shutdown, entities::outbox};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use kernel::Envelope;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::*,
    types::{AMQPValue, FieldTable, ShortString},
};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType},
};
use std::time::Duration;

/// Exchange and queue names, and every consumer's bindings (so the relay can declare all
/// queues before publishing anything: a message published before its queue exists is lost).
#[derive(Debug, Clone)]
pub struct Topology {
    url: String,
    prefix: String,
    shards: u16,
    bindings: Vec<(&'static str, &'static [&'static str])>,
    single_active: Vec<&'static str>,
}

/// The shard of `tenant` among `shards`: its id's low 64 bits modulo the count (random bits in
/// both UUID v4 and v7, so tenants spread evenly). Stable: never change it once deployed.
pub fn shard_of(tenant: uuid::Uuid, shards: u16) -> u16 {
    (tenant.as_u64_pair().1 % u64::from(shards.max(1))) as u16
}

impl Topology {
    /// `prefix` is prepended to every exchange and queue name; each consumer's queue is split
    /// into `shards` (at least 1) by tenant.
    pub fn new(url: &str, prefix: &str, shards: u16) -> Topology {
        Topology {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            shards: shards.max(1),
            bindings: Vec::new(),
            single_active: Vec::new(),
        }
    }

    /// Gives each shard queue of these consumers one active consumer at a time (RabbitMQ's
    /// `x-single-active-consumer`): the process that registered first owns the shard, the
    /// others stand by, and when the owner's connection goes the broker makes the next one
    /// active and hands it what the owner had not acknowledged. Every process must declare the
    /// queues alike (a queue's arguments cannot change), so every process lists them.
    pub fn with_single_active(mut self, consumers: &[&'static str]) -> Topology {
        self.single_active.extend_from_slice(consumers);
        self
    }

    /// How many queues each consumer's messages are split into by tenant.
    pub fn shards(&self) -> u16 {
        self.shards
    }

    /// Registers a consumer's queue so that publishers declare it too.
    pub fn with_binding(mut self, consumer: &'static str, topics: &'static [&'static str]) -> Topology {
        self.bindings.push((consumer, topics));
        self
    }

    fn events_exchange(&self) -> ShortString {
        format!("{}cairn.events", self.prefix).into()
    }
    fn parking_exchange(&self) -> ShortString {
        format!("{}cairn.parking", self.prefix).into()
    }
    /// The quorum queue of a consumer's `shard`.
    pub fn queue(&self, consumer: &str, shard: u16) -> String {
        format!("{}{consumer}.s{shard}", self.prefix)
    }
    /// A consumer's single queue from before sharding (drained when it exists).
    fn unsharded_queue(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.prefix)
    }
    /// The routing key of an event of type `kind` from `tenant`.
    pub fn routing_key(&self, kind: &str, tenant: uuid::Uuid) -> String {
        format!("{kind}.{}", shard_of(tenant, self.shards))
    }
    /// Where a consumer's poison messages wait for a person.
    pub fn parking_queue(&self, consumer: &str) -> String {
        format!("{}{consumer}.parking", self.prefix)
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<Connection> {
        Connection::connect(&self.url, ConnectionProperties::default()).await.context("connecting to RabbitMQ")
    }

    async fn declare_exchanges(&self, ch: &Channel) -> anyhow::Result<()> {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        ch.exchange_declare(self.events_exchange(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
        ch.exchange_declare(self.parking_exchange(), ExchangeKind::Direct, durable, FieldTable::default()).await?;
        Ok(())
    }

    async fn declare_consumer(&self, ch: &Channel, consumer: &str, topics: &[&str]) -> anyhow::Result<()> {
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        let parking = self.parking_queue(consumer);
        let mut pargs = FieldTable::default();
        pargs.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        ch.queue_declare(parking.clone().into(), durable, pargs).await?;
        ch.queue_bind(
            parking.into(),
            self.parking_exchange(),
            consumer.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(self.parking_exchange().as_str().into()));
        args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(consumer.into()));
        args.insert("x-delivery-limit".into(), AMQPValue::LongInt(MAX_ATTEMPTS as i32));
        if self.single_active.contains(&consumer) {
            args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        }
        for shard in 0..self.shards {
            let queue = self.queue(consumer, shard);
            ch.queue_declare(queue.clone().into(), durable, args.clone()).await?;
            for topic in topics {
                ch.queue_bind(
                    queue.clone().into(),
                    self.events_exchange(),
                    format!("{topic}.{shard}").into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Whether `consumer`'s queue from before sharding exists (asked on a channel of its own:
    /// a passive declare of a missing queue closes the channel).
    async fn has_unsharded_queue(&self, conn: &Connection, consumer: &str) -> anyhow::Result<bool> {
        let ch = conn.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let exists =
            ch.queue_declare(self.unsharded_queue(consumer).into(), passive, FieldTable::default()).await.is_ok();
        if exists {
            let _ = ch.close(200, "".into()).await;
        }
        Ok(exists)
    }

    async fn declare_all(&self, ch: &Channel) -> anyhow::Result<()> {
        self.declare_exchanges(ch).await?;
        for (consumer, topics) in &self.bindings {
            self.declare_consumer(ch, consumer, topics).await?;
        }
        Ok(())
    }
}

async fn backoff(attempt: &mut u32, shutdown: &mut Shutdown) {
    *attempt = (*attempt + 1).min(6);
    let wait = Duration::from_millis(100 << *attempt);
    tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = shutdown.changed() => {} }
}

/// Publishes outbox rows until shutdown, reconnecting as needed.
pub async fn relay(db: store::Db, topo: Topology, health: BusHealth, mut shutdown: Shutdown) {
    let mut attempt = 0;
    while !*shutdown.borrow() {
        match relay_session(&db, &topo, &health, &mut shutdown, &mut attempt).await {
            Ok(()) => return,
            Err(e) => {
                health.set(false);
                tracing::warn!(error = format!("{e:#}"), "outbox relay lost its connection; reconnecting");
                backoff(&mut attempt, &mut shutdown).await;
            }
        }
    }
}

async fn relay_session(
    db: &store::Db,
    topo: &Topology,
    health: &BusHealth,
    shutdown: &mut Shutdown,
    attempt: &mut u32,
) -> anyhow::Result<()> {
    let conn = topo.connect().await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    topo.declare_all(&ch).await?;
    health.set(true);
    *attempt = 0;
    tracing::info!("outbox relay connected");
    let mut commits = db.subscribe_commits();
    loop {
        if *shutdown.borrow() {
            // Drain what is already committed before leaving.
            while publish_batch(db, &ch, topo).await? > 0 {}
            let _ = conn.close(200, "shutdown".into()).await;
            return Ok(());
        }
        commits.borrow_and_update();
        if publish_batch(db, &ch, topo).await? == 0 {
            tokio::select! {
                _ = commits.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Publishes up to one batch of unpublished rows; returns how many. The relay publishes every
/// tenant's events in outbox order, so it works in the system scope.
pub async fn publish_batch(db: &store::Db, ch: &Channel, topo: &Topology) -> anyhow::Result<usize> {
    let tx = db.system().write().await?;
    let mut q = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .limit(256);
    if db.is_postgres() {
        // Several relays (one per service process) share the outbox; each row goes to one.
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = q.all(&*tx).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut confirms = Vec::with_capacity(rows.len());
    for r in &rows {
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(r.id.to_string().into());
        confirms.push(
            ch.basic_publish(
                topo.events_exchange(),
                topo.routing_key(&r.kind, r.tenant_id).into(),
                BasicPublishOptions::default(),
                r.envelope.as_bytes(),
                props,
            )
            .await?,
        );
    }
    for c in confirms {
        match c.await? {
            Confirmation::Ack(_) => {}
            other => bail!("broker refused a message: {other:?}"),
        }
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(chrono::Utc::now()))
        .filter(outbox::Column::Seq.is_in(seqs))
        .exec(&*tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Consumes one handler's queue until shutdown, reconnecting as needed.
pub async fn consume(topo: Topology, handler: SharedHandler, health: BusHealth, mut shutdown: Shutdown) {
    let mut attempt = 0;
    while !*shutdown.borrow() {
        match consume_session(&topo, &handler, &mut shutdown, &mut attempt).await {
            Ok(()) => return,
            Err(e) => {
                health.set(false);
                tracing::warn!(
                    consumer = handler.name(),
                    error = format!("{e:#}"),
                    "consumer lost its connection; reconnecting"
                );
                backoff(&mut attempt, &mut shutdown).await;
            }
        }
    }
}

async fn consume_session(
    topo: &Topology,
    handler: &SharedHandler,
    shutdown: &mut Shutdown,
    attempt: &mut u32,
) -> anyhow::Result<()> {
    let conn = topo.connect().await?;
    let ch = conn.create_channel().await?;
    topo.declare_exchanges(&ch).await?;
    topo.declare_consumer(&ch, handler.name(), handler.topics()).await?;
    let mut queues: Vec<String> = (0..topo.shards).map(|s| topo.queue(handler.name(), s)).collect();
    if topo.has_unsharded_queue(&conn, handler.name()).await? {
        queues.push(topo.unsharded_queue(handler.name()));
    }
    let concurrency = handler.concurrency().clamp(1, 1024);
    // Answers to requests (see `crate::request`) go out on a channel of their own, confirmed.
    let replies = conn.create_channel().await?;
    replies.confirm_select(ConfirmSelectOptions::default()).await?;
    // One channel per queue: prefetch is per channel, so a flooded shard cannot take another's.
    let tag = consumer_tag(handler.name());
    let mut consumers = Vec::with_capacity(queues.len());
    for queue in &queues {
        let ch = conn.create_channel().await?;
        ch.basic_qos(u16::try_from(concurrency * 2).unwrap_or(u16::MAX), BasicQosOptions::default()).await?;
        consumers.push(
            ch.basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?,
        );
    }
    *attempt = 0;
    tracing::info!(consumer = handler.name(), queues = queues.len(), "consumer connected");
    // Handlers take turns across the shards: tokio's semaphore is FIFO.
    let permits = tokio::sync::Semaphore::new(concurrency);
    // Set when one queue's stream ends before shutdown (its channel or the connection failed):
    // the session then reconnects as a whole rather than go on without that shard.
    let broken = tokio::sync::Notify::new();
    let shards = consumers.into_iter().map(|consumer| {
        let (permits, broken, replies) = (&permits, &broken, &replies);
        let mut stop = shutdown.clone();
        let stopped = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        let shutdown = shutdown.clone();
        async move {
            consumer
                .take_until(stopped)
                .for_each_concurrent(concurrency, |delivery| async {
                    let Ok(_turn) = permits.acquire().await else { return };
                    deliver(handler, replies, delivery).await;
                })
                .await;
            if !*shutdown.borrow() {
                broken.notify_one();
            }
        }
    });
    tokio::select! {
        _ = futures_util::future::join_all(shards) => {}
        _ = broken.notified() => {}
        _ = measure_pending(&conn, queues, handler.name()) => {}
    }
    if *shutdown.borrow() {
        let _ = conn.close(200, "shutdown".into()).await;
        return Ok(());
    }
    bail!("a consumer stream ended")
}

/// `<consumer>@<host>:<pid>`: which process a consumer is, for `rabbitmqctl list_consumers`
/// (with single-active-consumer queues, which instance owns a shard).
fn consumer_tag(consumer: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{consumer}@{}:{}", host.trim(), std::process::id())
}

/// Applies one delivery and acks it, or parks it when unreadable, or requeues it after a
/// failure. A request (a message with a reply address) is answered instead (see [`answer`]).
async fn deliver(handler: &SharedHandler, replies: &Channel, delivery: Result<lapin::message::Delivery, lapin::Error>) {
    let delivery = match delivery {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(consumer = handler.name(), error = %e, "delivery error");
            return;
        }
    };
    let env: Envelope = match serde_json::from_slice(&delivery.data) {
        Ok(env) => env,
        Err(e) => {
            tracing::error!(consumer = handler.name(), error = %e, "unreadable message parked");
            let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
            telemetry::metrics::bus_messages(handler.name(), "parked", 1);
            return;
        }
    };
    if let Some(reply_to) = delivery.properties.reply_to().clone() {
        return answer(handler, replies, delivery, env, reply_to).await;
    }
    let started = std::time::Instant::now();
    let result = handler.handle(env.clone()).await;
    match result {
        Ok(()) => {
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // It will be redelivered; the inbox makes that a no-op.
                tracing::warn!(consumer = handler.name(), error = %e, "ack failed");
            }
            // After the ack: the event's age is then from its occurrence to its ack.
            crate::handled(handler.name(), started, Some(std::slice::from_ref(&env)), 1);
        }
        Err(e) => {
            crate::handled(handler.name(), started, None, 1);
            tracing::warn!(consumer = handler.name(), message_id = %env.id, error = format!("{e:#}"), "handler failed; message requeued");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
        }
    }
}

/// Answers one request ([`crate::request::Requester::request`]): unless its requester has
/// given up on it already, the handler's answer is published to the request's reply address,
/// and only once the broker confirmed the reply is the request acknowledged. So a request
/// whose answer never left (the connection dropped, or this process died) is delivered again,
/// to this consumer or to the one that takes the shard over, and answered again: handlers
/// MUST answer a repeated request as they answered it the first time (inventory's commands
/// carry idempotency keys for that).
async fn answer(
    handler: &SharedHandler,
    replies: &Channel,
    delivery: lapin::message::Delivery,
    env: Envelope,
    reply_to: ShortString,
) {
    if crate::request::expired(&delivery.properties) {
        // Its requester has answered 503 ("nothing was applied"): doing it now would make that
        // a lie. (A request taken just before its deadline may still finish after it.)
        tracing::debug!(consumer = handler.name(), message_id = %env.id, "request past its deadline dropped");
        let _ = delivery.ack(BasicAckOptions::default()).await;
        telemetry::metrics::bus_messages(handler.name(), "expired", 1);
        return;
    }
    let started = std::time::Instant::now();
    let body = match handler.answer(env.clone()).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(consumer = handler.name(), message_id = %env.id, error = format!("{e:#}"), "unreadable request parked");
            let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
            telemetry::metrics::bus_messages(handler.name(), "parked", 1);
            return;
        }
    };
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_correlation_id(env.id.to_string().into());
    let sent = async {
        // The default exchange routes by queue name: the requester's own reply queue.
        replies.basic_publish("".into(), reply_to, BasicPublishOptions::default(), &body, props).await?.await
    }
    .await;
    match sent {
        Ok(Confirmation::Ack(_) | Confirmation::NotRequested) => {
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // Redelivered and answered again, alike (see above).
                tracing::warn!(consumer = handler.name(), error = %e, "ack of an answered request failed");
            }
            crate::handled(handler.name(), started, Some(std::slice::from_ref(&env)), 1);
        }
        other => {
            crate::handled(handler.name(), started, None, 1);
            tracing::warn!(consumer = handler.name(), message_id = %env.id, outcome = ?other, "reply not published; request requeued");
            let _ = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
        }
    }
}

/// How often a consumer's queue depth is asked for (`/metrics`).
const PENDING_EVERY: Duration = Duration::from_secs(5);

/// Sets `consumer`'s pending gauge to its queues' ready messages every [`PENDING_EVERY`],
/// with a passive declare (one round trip; nothing is created or changed) on a channel of its
/// own, so that a failure here cannot close the channel the consumer reads from. Gives up
/// quietly on an error (the next session starts it again); never returns otherwise.
async fn measure_pending(conn: &Connection, queues: Vec<String>, consumer: &'static str) {
    let result: anyhow::Result<()> = async {
        let ch = conn.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        loop {
            let mut pending = 0u64;
            for queue in &queues {
                pending += u64::from(
                    ch.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await?.message_count(),
                );
            }
            telemetry::metrics::bus_pending(consumer, pending, None);
            tokio::time::sleep(PENDING_EVERY).await;
        }
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(consumer, error = format!("{e:#}"), "cannot measure the queue's depth");
    }
    std::future::pending::<()>().await
}
