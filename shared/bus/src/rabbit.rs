//! RabbitMQ transport: outbox relay with publisher confirms, quorum-queue consumers with a
//! parking queue, reconnection with re-declaration.
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
    bindings: Vec<(&'static str, &'static [&'static str])>,
}

impl Topology {
    /// `prefix` is prepended to every exchange and queue name.
    pub fn new(url: &str, prefix: &str) -> Topology {
        Topology { url: url.to_owned(), prefix: prefix.to_owned(), bindings: Vec::new() }
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
    /// The quorum queue of a consumer.
    pub fn queue(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.prefix)
    }
    /// Where a consumer's poison messages wait for a person.
    pub fn parking_queue(&self, consumer: &str) -> String {
        format!("{}{consumer}.parking", self.prefix)
    }

    async fn connect(&self) -> anyhow::Result<Connection> {
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
        let queue = self.queue(consumer);
        ch.queue_declare(queue.clone().into(), durable, args).await?;
        for topic in topics {
            ch.queue_bind(
                queue.clone().into(),
                self.events_exchange(),
                (*topic).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        Ok(())
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

/// Publishes up to one batch of unpublished rows; returns how many.
pub async fn publish_batch(db: &store::Db, ch: &Channel, topo: &Topology) -> anyhow::Result<usize> {
    let tx = db.write().await?;
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
                r.kind.clone().into(),
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
    let concurrency = handler.concurrency().clamp(1, 1024);
    ch.basic_qos(u16::try_from(concurrency * 2).unwrap_or(u16::MAX), BasicQosOptions::default()).await?;
    let consumer = ch
        .basic_consume(
            topo.queue(handler.name()).into(),
            handler.name().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    *attempt = 0;
    tracing::info!(consumer = handler.name(), "consumer connected");
    let mut stop = shutdown.clone();
    let stopped = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    let handling = consumer
        .take_until(stopped)
        .for_each_concurrent(concurrency, |delivery| async {
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
        });
    tokio::select! {
        _ = handling => {}
        _ = measure_pending(&conn, topo.queue(handler.name()), handler.name()) => {}
    }
    if *shutdown.borrow() {
        let _ = conn.close(200, "shutdown".into()).await;
        return Ok(());
    }
    bail!("consumer stream ended")
}

/// How often a consumer's queue depth is asked for (`/metrics`).
const PENDING_EVERY: Duration = Duration::from_secs(5);

/// Sets `consumer`'s pending gauge to its queue's ready messages every [`PENDING_EVERY`],
/// with a passive declare (one round trip; nothing is created or changed) on a channel of its
/// own, so that a failure here cannot close the channel the consumer reads from. Gives up
/// quietly on an error (the next session starts it again); never returns otherwise.
async fn measure_pending(conn: &Connection, queue: String, consumer: &'static str) {
    let result: anyhow::Result<()> = async {
        let ch = conn.create_channel().await?;
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        loop {
            let q = ch.queue_declare(queue.clone().into(), passive, FieldTable::default()).await?;
            telemetry::metrics::bus_pending(consumer, u64::from(q.message_count()), None);
            tokio::time::sleep(PENDING_EVERY).await;
        }
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(consumer, error = format!("{e:#}"), "cannot measure the queue's depth");
    }
    std::future::pending::<()>().await
}
