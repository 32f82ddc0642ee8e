//! The message bus: a transactional outbox, an inbox per consumer, and two transports.
//!
//! Producers write events with [`outbox::enqueue`] inside the transaction that changes their
//! state. Consumers implement [`Handler`] and record each message with [`inbox::claim`] inside
//! the transaction of its effect, so a redelivered message is a no-op.
//!
//! Transports:
//! - [`embedded`]: the outbox table *is* the queue; each consumer keeps a durable cursor
//!   (`consumer_cursors`). Used by `cairn up` on SQLite, where commits are serialised and the
//!   outbox sequence is therefore commit order.
//! - [`rabbit`]: a relay publishes outbox rows to the topic exchange with publisher confirms and
//!   marks them published only after the confirm; consumers read quorum queues and ack after
//!   their transaction commits. Messages that fail [`MAX_ATTEMPTS`] times are parked.
//!
//! Both transports are measured for `/metrics` per consumer: messages finished by outcome,
//! time per delivery, each message's age when its effect committed, and what waits (the
//! embedded bus counts its outbox after the cursor every few seconds; RabbitMQ asks for the
//! queue's depth). See `telemetry::metrics`.

pub mod embedded;
pub mod entities;
pub mod inbox;
pub mod outbox;
pub mod rabbit;
pub mod request;
pub mod tail;

pub use request::Requester;

use kernel::Envelope;
use std::sync::Arc;
use tokio::sync::watch;

/// Deliveries of one message before it is parked for a person to look at.
pub const MAX_ATTEMPTS: u32 = 5;

/// A consumer of integration events.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The consumer's name: its queue, cursor and inbox scope. Never change it once deployed.
    fn name(&self) -> &'static str;
    /// The event types it consumes (routing keys).
    fn topics(&self) -> &'static [&'static str];
    /// How many messages it may handle at once. Handlers that batch internally (inventory)
    /// want many; the default keeps per-consumer order.
    fn concurrency(&self) -> usize {
        1
    }
    /// Applies one message exactly once (use [`inbox::claim`] in the effect's transaction).
    /// An error means "try again later"; it MUST leave no partial effect behind.
    async fn handle(&self, env: Envelope) -> anyhow::Result<()>;
    /// Applies `envs` in order in ONE transaction (group commit), claiming each in the inbox,
    /// and returns `true`; or returns `false` to have them handled one by one. An error MUST
    /// leave no effect of any of them behind (the caller then handles them one by one). Only the
    /// embedded bus calls it; with `cursor`, the same transaction also moves the consumer's
    /// cursor there ([`embedded::save_cursor`]), which saves the bus a commit of its own, and
    /// the messages need no inbox rows (they are checked against the inbox, not recorded).
    async fn handle_batch(&self, _envs: &[Envelope], _cursor: Option<i64>) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// Answers a request sent to this consumer's queue by [`Requester::request`] (RabbitMQ
    /// only) with the reply's body. A request is answered once its answer is published, and
    /// answered again if it is delivered again, so the answer to a repeated request MUST be
    /// the first one's (see `rabbit::answer`). An error means the request cannot be read and
    /// parks it; a request that was read but failed is answered with that failure, since its
    /// requester is waiting. The default answers nothing (every request is parked).
    async fn answer(&self, env: Envelope) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("{} takes no requests (got a {})", self.name(), env.kind)
    }
}

/// A handler whose whole effect on a message happens in one database transaction it is
/// given: [`Handler::handle`] (a transaction per message) and [`Handler::handle_batch`] (one
/// per group, for the embedded bus) come with it.
#[async_trait::async_trait]
pub trait TxHandler: Send + Sync + 'static {
    /// See [`Handler::name`].
    fn name(&self) -> &'static str;
    /// See [`Handler::topics`].
    fn topics(&self) -> &'static [&'static str];
    /// See [`Handler::concurrency`].
    fn concurrency(&self) -> usize {
        1
    }
    /// The database its transactions run on.
    fn db(&self) -> &store::Db;
    /// Applies `envs` in order inside `tx`, claiming each in the inbox there (one message
    /// from [`Handler::handle`], a group from [`Handler::handle_batch`]). A handler that can
    /// work on a set (one read of everything the batch touches, one write of each table)
    /// does; either way the result must equal applying them one by one.
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()>;
}

#[async_trait::async_trait]
impl<T: TxHandler> Handler for T {
    fn name(&self) -> &'static str {
        TxHandler::name(self)
    }
    fn topics(&self) -> &'static [&'static str] {
        TxHandler::topics(self)
    }
    fn concurrency(&self) -> usize {
        TxHandler::concurrency(self)
    }
    async fn handle(&self, env: Envelope) -> anyhow::Result<()> {
        // One message, one tenant: its transaction sees only that tenant's rows.
        let tx = self.db().tenant(env.tenant_id.0).write_named(TxHandler::name(self)).await?;
        self.apply_batch(&tx, std::slice::from_ref(&env)).await?;
        tx.commit().await?;
        Ok(())
    }
    async fn handle_batch(&self, envs: &[Envelope], cursor: Option<i64>) -> anyhow::Result<bool> {
        // Only the embedded bus calls this, and its progress is in the same database: a
        // derived commit (see `store::SystemDb::write_derived`). A group mixes tenants, so
        // it runs in the system scope (on SQLite, which has no row-level security).
        let tx = self.db().system().write_derived(TxHandler::name(self)).await?;
        // With the cursor moving in this transaction, its messages are never read again: the
        // inbox is checked but not written (see `inbox::claim_many`).
        inbox::CURSOR_MOVES.scope(cursor.is_some(), self.apply_batch(&tx, envs)).await?;
        if let Some(position) = cursor {
            embedded::save_cursor(&*tx, TxHandler::name(self), position).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// A shared handler.
pub type SharedHandler = Arc<dyn Handler>;

/// Set to `true` to ask every loop to stop after its current batch.
pub type Shutdown = watch::Receiver<bool>;

/// Which transport runs the consumers.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The database alone (SQLite, `cairn up`).
    Embedded,
    /// RabbitMQ. `prefix` namespaces the exchange and queue names (tests use one per test);
    /// each consumer's queue is split into `shards` by tenant (see [`rabbit`]).
    Rabbit { url: String, prefix: String, shards: u16 },
}

/// Health of the bus connection, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct BusHealth {
    connected: Arc<std::sync::atomic::AtomicBool>,
}

impl BusHealth {
    /// Reachable (always true for the embedded bus, which is the database).
    pub fn is_up(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn set(&self, up: bool) {
        self.connected.store(up, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts the transport: the relay (RabbitMQ only) and one loop per handler.
///
/// `bindings` names every consumer of the whole system with its topics, whether or not it runs
/// in this process: a RabbitMQ publisher declares all queues before it publishes, so no event
/// is published into the void while a consumer's service is still starting. `single_active`
/// names the consumers whose RabbitMQ queues have one active consumer at a time across all
/// processes (the same list in every process: it is part of each queue's declaration).
pub fn start(
    db: store::Db,
    transport: &Transport,
    bindings: &[(&'static str, &'static [&'static str])],
    single_active: &[&'static str],
    handlers: Vec<SharedHandler>,
    shutdown: Shutdown,
) -> (BusHealth, Vec<tokio::task::JoinHandle<()>>) {
    let health = BusHealth::default();
    let tasks = match transport {
        Transport::Embedded => {
            health.set(true);
            handlers.into_iter().map(|h| tokio::spawn(embedded::run(db.clone(), h, shutdown.clone()))).collect()
        }
        Transport::Rabbit { url, prefix, shards } => {
            let topo = bindings
                .iter()
                .fold(rabbit::Topology::new(url, prefix, *shards), |t, (c, topics)| t.with_binding(c, topics))
                .with_single_active(single_active);
            let mut tasks =
                vec![tokio::spawn(rabbit::relay(db.clone(), topo.clone(), health.clone(), shutdown.clone()))];
            tasks.extend(
                handlers
                    .into_iter()
                    .map(|h| tokio::spawn(rabbit::consume(topo.clone(), h, health.clone(), shutdown.clone()))),
            );
            tasks
        }
    };
    (health, tasks)
}

/// Runs `handler` with retries; returns the last error after [`MAX_ATTEMPTS`].
pub(crate) async fn handle_with_retry(handler: &dyn Handler, env: &Envelope) -> Result<(), (anyhow::Error, u32)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = std::time::Instant::now();
        let result = handler.handle(env.clone()).await;
        handled(handler.name(), started, result.as_ref().ok().map(|_| std::slice::from_ref(env)), 1);
        match result {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= MAX_ATTEMPTS => return Err((e, attempt)),
            Err(e) => {
                tracing::warn!(consumer = handler.name(), message_id = %env.id, kind = %env.kind, attempt, error = %e, "handler failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
    }
}

/// Records for `/metrics` that `consumer` finished one delivery (started at `started`) of
/// `count` messages: applied (`Some`, the messages, whose effects are committed now) or failed
/// (`None`, to be tried again).
pub(crate) fn handled(consumer: &'static str, started: std::time::Instant, applied: Option<&[Envelope]>, count: u64) {
    use telemetry::metrics;
    metrics::bus_handled(consumer, started.elapsed());
    match applied {
        Some(envs) => {
            metrics::bus_messages(consumer, "ok", count);
            let now = chrono::Utc::now();
            metrics::bus_event_ages(
                consumer,
                envs.iter().map(|e| (now - e.occurred_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6),
            );
        }
        None => metrics::bus_messages(consumer, "failed", count),
    }
}
