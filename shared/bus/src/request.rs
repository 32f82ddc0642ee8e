//! Requests over RabbitMQ, answered by the one consumer that owns the tenant's shard.
//!
//! A single-active consumer (inventory) owns each of its shard queues (see [`crate::rabbit`]).
//! A [`Requester`] sends a request *into that same queue* — with the default exchange, by the
//! queue's name `<prefix><consumer>.s<shard_of(tenant)>` — so whichever process owns a shard's
//! events also answers its requests, in the same FIFO, and takes both over together when it
//! dies. A separate request queue could have a different active consumer than the event
//! queue, that is two owners deciding at once.
//!
//! A request is an [`Envelope`] (its `tenant_id` names the tenant; the owner works in that
//! tenant's scope and in no other) with a reply address (this process's exclusive, auto-delete
//! reply queue), a correlation id (the envelope's id) and a deadline. It is published
//! persistent and mandatory with publisher confirms: a missing queue or a refusal fails at
//! once. The owner answers with [`crate::Handler::answer`] and acknowledges the request only
//! after the broker confirmed the reply; a request delivered again (its owner died before
//! acknowledging it) is answered again, alike. The requester waits until the deadline; then it
//! gives up, and an owner that receives the request later drops it unanswered, so that a
//! request that timed out while no instance owned its shard never takes effect. (One taken up
//! just before its deadline can still take effect after the requester gave up: the answer to a
//! timeout is "retry", and requests are idempotent.)
//!
//! The connection is made on the first request and again after it fails; what was waiting on
//! a failed connection fails with it.

use crate::{
    Transport,
    rabbit::{Topology, shard_of},
};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use kernel::Envelope;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection,
    options::*,
    types::{AMQPValue, FieldTable},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The AMQP header with a request's deadline, in milliseconds since the Unix epoch.
const DEADLINE: &str = "cairn-deadline-ms";

/// Whether a request's deadline (if it has one) has passed, by this machine's clock.
pub(crate) fn expired(props: &BasicProperties) -> bool {
    let deadline = props.headers().as_ref().and_then(|h| match h.inner().get(DEADLINE) {
        Some(AMQPValue::LongLongInt(ms)) => Some(*ms),
        _ => None,
    });
    deadline.is_some_and(|ms| chrono::Utc::now().timestamp_millis() > ms)
}

/// Sends requests to the active consumer of a tenant's shard and waits for the answers.
/// Cheap to clone; one connection per process, made on first use.
#[derive(Clone)]
pub struct Requester {
    topo: Topology,
    session: Arc<tokio::sync::Mutex<Option<Arc<Session>>>>,
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester").finish_non_exhaustive()
    }
}

/// One connection: a confirmed channel for requests and the reply queue's waiting callers.
struct Session {
    conn: Connection,
    channel: Channel,
    reply_to: String,
    /// Callers waiting for an answer, by correlation id. Emptied (each caller then fails) when
    /// the connection fails.
    waiting: Mutex<Option<HashMap<Uuid, oneshot::Sender<Vec<u8>>>>>,
}

impl Session {
    fn is_open(&self) -> bool {
        self.conn.status().connected() && self.waiting.lock().expect("not poisoned").is_some()
    }

    fn close(&self) {
        self.waiting.lock().expect("not poisoned").take();
    }
}

/// Takes a caller's entry out of the waiting list however its wait ends (answered, timed out,
/// dropped).
struct Waiting<'a>(&'a Session, Uuid);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.0.waiting.lock().expect("not poisoned").as_mut() {
            w.remove(&self.1);
        }
    }
}

impl Requester {
    /// A requester for `transport`; `None` on the embedded bus, where every service runs in
    /// the process and is called directly.
    pub fn new(transport: &Transport) -> Option<Requester> {
        match transport {
            Transport::Embedded => None,
            Transport::Rabbit { url, prefix, shards } => {
                Some(Requester { topo: Topology::new(url, prefix, *shards), session: Arc::default() })
            }
        }
    }

    /// Sends `env` to the active consumer of `consumer`'s queue for `env.tenant_id`'s shard
    /// and returns its answer ([`crate::Handler::answer`]), or fails: the broker is
    /// unreachable or refused the request, the connection failed while waiting, or no answer
    /// came within `timeout` (then the request is dropped unanswered by whoever gets it
    /// later). Never retried here: the caller decides.
    #[tracing::instrument(skip_all, fields(%consumer, request = %env.kind))]
    pub async fn request(&self, consumer: &str, env: &Envelope, timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let deadline = chrono::Utc::now() + timeout;
        match tokio::time::timeout(timeout, self.send_and_wait(consumer, env, deadline.timestamp_millis())).await {
            Ok(answer) => answer,
            Err(_) => bail!("no answer from {consumer} within {timeout:?}"),
        }
    }

    async fn send_and_wait(&self, consumer: &str, env: &Envelope, deadline_ms: i64) -> anyhow::Result<Vec<u8>> {
        let session = self.session().await?;
        let (tx, rx) = oneshot::channel();
        match session.waiting.lock().expect("not poisoned").as_mut() {
            Some(w) => w.insert(env.id, tx),
            None => bail!("the connection to RabbitMQ failed"),
        };
        let _waiting = Waiting(&session, env.id);
        let mut headers = FieldTable::default();
        headers.insert(DEADLINE.into(), AMQPValue::LongLongInt(deadline_ms));
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(env.id.to_string().into())
            .with_correlation_id(env.id.to_string().into())
            .with_reply_to(session.reply_to.as_str().into())
            .with_headers(headers);
        let queue = self.topo.queue(consumer, shard_of(env.tenant_id.0, self.topo.shards()));
        let body = serde_json::to_vec(env).context("encoding the request")?;
        let published = async {
            session
                .channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &body,
                    props,
                )
                .await?
                .await
        }
        .await;
        match published {
            Ok(Confirmation::Ack(None)) => {}
            Ok(Confirmation::Ack(Some(_))) => bail!("no queue {queue} (is the topology declared?)"),
            Ok(other) => bail!("the broker refused the request: {other:?}"),
            Err(e) => {
                session.close();
                return Err(e).context("publishing the request");
            }
        }
        rx.await.map_err(|_| anyhow::anyhow!("the connection to RabbitMQ failed while waiting for the answer"))
    }

    /// Closes the connection, if one is open (when the process stops, after the last request
    /// it serves): a request after this opens another.
    pub async fn close(&self) {
        if let Some(s) = self.session.lock().await.take() {
            s.close();
            let _ = s.conn.close(200, "shutdown".into()).await;
        }
    }

    /// The open session, or a new one.
    async fn session(&self) -> anyhow::Result<Arc<Session>> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| s.is_open()) {
            return Ok(s.clone());
        }
        let conn = self.topo.connect().await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        // Server-named, exclusive and auto-delete: it lives as long as this connection.
        let reply = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let reply_to = reply.name().to_string();
        let replies = channel
            .basic_consume(
                reply_to.as_str().into(),
                "".into(),
                BasicConsumeOptions { no_ack: true, exclusive: true, ..Default::default() },
                FieldTable::default(),
            )
            .await?;
        let session = Arc::new(Session { conn, channel, reply_to, waiting: Mutex::new(Some(HashMap::new())) });
        tokio::spawn(dispatch(session.clone(), replies));
        tracing::info!("request connection to RabbitMQ open");
        *slot = Some(session.clone());
        Ok(session)
    }
}

/// Hands each answer to its waiting caller (answers nobody waits for any more are dropped);
/// when the connection fails, fails every caller still waiting.
async fn dispatch(session: Arc<Session>, mut replies: lapin::Consumer) {
    while let Some(Ok(delivery)) = replies.next().await {
        let id = delivery.properties.correlation_id().as_ref().and_then(|c| Uuid::parse_str(c.as_str()).ok());
        let waiter = id.and_then(|id| session.waiting.lock().expect("not poisoned").as_mut()?.remove(&id));
        if let Some(tx) = waiter {
            let _ = tx.send(delivery.data);
        }
    }
    tracing::warn!("request connection to RabbitMQ lost");
    session.close();
}
