//! Webhook push (Bazaar → Cairn): signing, delivery with retries, chaos and outages, and the
//! per-message delivery log.
//!
//! Each message copy is one tokio task: it waits out its chaos delay, then makes attempts until
//! one is answered 2xx or the retries are used up, sleeping the (scaled) exponential backoff in
//! between. A semaphore bounds the requests in flight (`--webhook-concurrency`); waiting
//! copies cost only a sleeping task. The endpoint and secret are read at every attempt, so a
//! shop reconnected with a new URL or a rotated secret gets its retries at the new place.

use crate::config::{ChaosConfig, SimConfig};
use crate::domain::trade::{Change, TradeSnapshot};
use crate::model::{MessageFilter, MessageRecord, MessageState, Percentiles, Stats};
use crate::sign::webhook_signature;
use rand::RngExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// Where a shop's messages go.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub url: String,
    pub secret: String,
}

/// A webhook body (BAZAAR.md).
#[derive(Serialize)]
struct Body<'a> {
    topic: &'static str,
    shop_id: &'a str,
    trade: &'a TradeSnapshot,
}

struct Message {
    idx: usize,
    id: String,
    shop_id: String,
    topic: &'static str,
    body: Vec<u8>,
    created: Instant,
}

enum Attempt {
    Answered { status: u16, latency: Duration },
    NoAnswer(String),
}

#[derive(Default)]
struct Counters {
    created: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    given_up: AtomicU64,
    unsubscribed: AtomicU64,
    attempts: AtomicU64,
    failed_attempts: AtomicU64,
    successful_pushes: AtomicU64,
}

#[derive(Default)]
struct Log {
    records: Vec<MessageRecord>,
    /// Copies of each record that gave up.
    given_up_copies: Vec<u32>,
    latencies_us: Vec<u64>,
    lags_us: Vec<u64>,
}

/// Delivers webhook messages.
pub(crate) struct Dispatcher {
    client: reqwest::Client,
    endpoints: RwLock<HashMap<String, Endpoint>>,
    chaos: Arc<RwLock<ChaosConfig>>,
    permits: Semaphore,
    /// [start, end) of the current webhook outage.
    outage: Mutex<Option<(Instant, Instant)>>,
    log: Mutex<Log>,
    counters: Counters,
    pending: watch::Sender<usize>,
    shutdown: watch::Receiver<bool>,
    timeout: Duration,
    max_retries: u32,
    config: SimConfig,
}

impl Dispatcher {
    pub fn new(
        config: &SimConfig,
        chaos: Arc<RwLock<ChaosConfig>>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let concurrency = config.webhook_concurrency.max(1);
        let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).tcp_nodelay(true).build()?;
        Ok(Dispatcher {
            client,
            endpoints: RwLock::default(),
            chaos,
            permits: Semaphore::new(concurrency),
            outage: Mutex::new(None),
            log: Mutex::default(),
            counters: Counters::default(),
            pending: watch::Sender::new(0),
            shutdown,
            timeout: Duration::from_millis(config.webhook_timeout_ms),
            max_retries: config.max_retries,
            config: config.clone(),
        })
    }

    /// Sets (or with `None` removes) where a shop's messages go.
    pub fn set_endpoint(&self, shop_id: &str, endpoint: Option<Endpoint>) {
        let mut eps = self.endpoints.write().expect("endpoints lock");
        match endpoint {
            Some(e) => eps.insert(shop_id.to_owned(), e),
            None => eps.remove(shop_id),
        };
    }

    /// The endpoint is "down" from `start` for `length`: attempts then fail without a request.
    pub fn set_outage(&self, start: Instant, length: Duration) {
        *self.outage.lock().expect("outage lock") = (!length.is_zero()).then(|| (start, start + length));
    }

    /// Time left in the current outage.
    pub fn outage_left(&self) -> Option<Duration> {
        let now = Instant::now();
        self.outage.lock().expect("outage lock").filter(|(s, e)| *s <= now && now < *e).map(|(_, e)| e - now)
    }

    /// Creates the message for a change and starts delivering it (unless chaos drops it).
    pub fn publish(self: &Arc<Self>, shop_id: &str, change: &Change) {
        let body = serde_json::to_vec(&Body { topic: change.topic.as_str(), shop_id, trade: &change.snapshot })
            .expect("a snapshot serialises");
        let chaos = self.chaos.read().expect("chaos lock").clone();
        let subscribed = self.endpoints.read().expect("endpoints lock").contains_key(shop_id);
        let (drop, duplicate, reorder, hold, dup_gap) = {
            let mut rng = rand::rng();
            (
                rng.random_bool(chaos.drop_rate.clamp(0.0, 1.0)),
                rng.random_bool(chaos.duplicate_rate.clamp(0.0, 1.0)),
                rng.random_bool(chaos.reorder_rate.clamp(0.0, 1.0)),
                rng.random_range(0.5..=1.0) * chaos.reorder_ms as f64,
                rng.random_range(0..50u64),
            )
        };
        let state = match (subscribed, drop) {
            (false, _) => MessageState::Unsubscribed,
            (true, true) => MessageState::Dropped,
            (true, false) => MessageState::Pending,
        };
        let copies = if state == MessageState::Pending { 1 + u32::from(duplicate) } else { 0 };
        let id = uuid::Uuid::now_v7().to_string();
        let idx = {
            let mut log = self.log.lock().expect("log lock");
            log.records.push(MessageRecord {
                id: id.clone(),
                shop_id: shop_id.to_owned(),
                tid: change.snapshot.tid.clone(),
                topic: change.topic.as_str().to_owned(),
                modified: change.snapshot.modified.clone(),
                state,
                copies,
                attempts: 0,
                deliveries: 0,
                first_status: None,
                last_status: None,
                last_error: None,
                latency_ms: None,
                delivered_after_ms: None,
            });
            log.given_up_copies.push(0);
            log.records.len() - 1
        };
        self.counters.created.fetch_add(1, Relaxed);
        match state {
            MessageState::Unsubscribed => {
                self.counters.unsubscribed.fetch_add(1, Relaxed);
                return;
            }
            MessageState::Dropped => {
                self.counters.dropped.fetch_add(1, Relaxed);
                tracing::debug!(message_id = %id, topic = change.topic.as_str(), "chaos dropped a message");
                return;
            }
            _ => {}
        }
        if copies == 2 {
            self.counters.duplicated.fetch_add(1, Relaxed);
        }
        let msg = Arc::new(Message {
            idx,
            id,
            shop_id: shop_id.to_owned(),
            topic: change.topic.as_str(),
            body,
            created: Instant::now(),
        });
        self.pending.send_modify(|p| *p += copies as usize);
        let base = Duration::from_millis(chaos.delay_ms);
        let first = base + if reorder { Duration::from_secs_f64(hold / 1000.0) } else { Duration::ZERO };
        tokio::spawn(Arc::clone(self).deliver(Arc::clone(&msg), first));
        if copies == 2 {
            tokio::spawn(Arc::clone(self).deliver(msg, base + Duration::from_millis(dup_gap)));
        }
    }

    /// Sleeps, unless the simulator shuts down first (then `false`).
    async fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return !*self.shutdown.borrow();
        }
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = shutdown.wait_for(|s| *s) => false,
        }
    }

    /// One copy of a message: attempts until a 2xx or the retries are used up.
    async fn deliver(self: Arc<Self>, msg: Arc<Message>, delay: Duration) {
        let mut retry = 0;
        let mut wait = delay;
        loop {
            if !self.sleep(wait).await {
                break;
            }
            let attempt = self.attempt(&msg).await;
            let ok = matches!(attempt, Attempt::Answered { status, .. } if (200..300).contains(&status));
            self.record(&msg, &attempt);
            if ok {
                break;
            }
            if retry == self.max_retries {
                self.give_up(&msg);
                break;
            }
            retry += 1;
            // ±10% jitter, so retries of messages that failed together do not stampede together.
            let jitter = rand::rng().random_range(0.9..1.1);
            wait = self.config.retry_delay(retry).mul_f64(jitter);
        }
        self.pending.send_modify(|p| *p -= 1);
    }

    async fn attempt(&self, msg: &Message) -> Attempt {
        if self.outage_left().is_some() {
            return Attempt::NoAnswer("webhook outage (simulated)".into());
        }
        let Some(ep) = self.endpoints.read().expect("endpoints lock").get(&msg.shop_id).cloned() else {
            return Attempt::NoAnswer("the shop has no webhook_url".into());
        };
        let Ok(_permit) = self.permits.acquire().await else { return Attempt::NoAnswer("shutting down".into()) };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhook_signature(&ep.secret, timestamp, &msg.body);
        let started = Instant::now();
        let request = self
            .client
            .post(&ep.url)
            .header("content-type", "application/json")
            .header("X-Bazaar-Topic", msg.topic)
            .header("X-Bazaar-Message-Id", &msg.id)
            .header("X-Bazaar-Timestamp", timestamp.to_string())
            .header("X-Bazaar-Signature", signature)
            .header("X-Bazaar-Shop-Id", &msg.shop_id)
            .body(msg.body.clone());
        let exchange = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            // Read the answer to the end so the connection goes back to the pool.
            response.bytes().await?;
            Ok::<u16, reqwest::Error>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(status)) => Attempt::Answered { status, latency: started.elapsed() },
            Ok(Err(e)) => Attempt::NoAnswer(format!("request failed: {e}")),
            Err(_) => Attempt::NoAnswer(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    fn record(&self, msg: &Message, attempt: &Attempt) {
        self.counters.attempts.fetch_add(1, Relaxed);
        let mut log = self.log.lock().expect("log lock");
        let log = &mut *log;
        let r = &mut log.records[msg.idx];
        let status = match attempt {
            Attempt::Answered { status, .. } => Some(*status),
            Attempt::NoAnswer(_) => None,
        };
        if r.attempts == 0 {
            r.first_status = status;
        }
        r.attempts += 1;
        r.last_status = status;
        match attempt {
            Attempt::Answered { status, latency } if (200..300).contains(status) => {
                self.counters.successful_pushes.fetch_add(1, Relaxed);
                r.deliveries += 1;
                r.last_error = None;
                if r.state != MessageState::Delivered {
                    let lag = msg.created.elapsed();
                    r.state = MessageState::Delivered;
                    r.latency_ms = Some(latency.as_secs_f64() * 1000.0);
                    r.delivered_after_ms = Some(lag.as_secs_f64() * 1000.0);
                    log.latencies_us.push(latency.as_micros() as u64);
                    log.lags_us.push(lag.as_micros() as u64);
                    self.counters.delivered.fetch_add(1, Relaxed);
                }
            }
            Attempt::Answered { status, .. } => {
                self.counters.failed_attempts.fetch_add(1, Relaxed);
                r.last_error = Some(format!("answered {status}"));
            }
            Attempt::NoAnswer(why) => {
                self.counters.failed_attempts.fetch_add(1, Relaxed);
                r.last_error = Some(why.clone());
            }
        }
    }

    fn give_up(&self, msg: &Message) {
        let mut log = self.log.lock().expect("log lock");
        log.given_up_copies[msg.idx] += 1;
        let gave_up_all = log.given_up_copies[msg.idx] == log.records[msg.idx].copies;
        let r = &mut log.records[msg.idx];
        if gave_up_all && r.state == MessageState::Pending {
            r.state = MessageState::GivenUp;
            self.counters.given_up.fetch_add(1, Relaxed);
            tracing::warn!(message_id = %msg.id, shop_id = %msg.shop_id, topic = msg.topic, attempts = r.attempts, "gave up a webhook message");
        }
    }

    /// Copies still being delivered or waiting for a retry.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Waits until no copy is pending (every message delivered, given up, dropped or never
    /// subscribed), or the timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut rx = self.pending.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p == 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// The delivery log, filtered.
    pub fn messages(&self, f: &MessageFilter) -> Vec<MessageRecord> {
        let log = self.log.lock().expect("log lock");
        let matches = |r: &&MessageRecord| {
            f.shop_id.as_ref().is_none_or(|s| &r.shop_id == s)
                && f.tid.as_ref().is_none_or(|t| &r.tid == t)
                && f.state.is_none_or(|s| r.state == s)
        };
        let mut out: Vec<MessageRecord> = match f.limit {
            Some(n) => log
                .records
                .iter()
                .rev()
                .filter(matches)
                .take(n)
                .cloned()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
            None => log.records.iter().filter(matches).cloned().collect(),
        };
        out.shrink_to_fit();
        out
    }

    /// Fills the webhook part of the stats.
    pub fn fill_stats(&self, s: &mut Stats) {
        let c = &self.counters;
        s.messages_created = c.created.load(Relaxed);
        s.messages_delivered = c.delivered.load(Relaxed);
        s.messages_dropped = c.dropped.load(Relaxed);
        s.messages_duplicated = c.duplicated.load(Relaxed);
        s.messages_given_up = c.given_up.load(Relaxed);
        s.messages_unsubscribed = c.unsubscribed.load(Relaxed);
        s.attempts = c.attempts.load(Relaxed);
        s.failed_attempts = c.failed_attempts.load(Relaxed);
        s.successful_pushes = c.successful_pushes.load(Relaxed);
        s.deliveries_pending = self.pending();
        let (latencies, lags) = {
            let log = self.log.lock().expect("log lock");
            (log.latencies_us.clone(), log.lags_us.clone())
        };
        s.push_latency_ms = percentiles(latencies);
        s.delivery_lag_ms = percentiles(lags);
    }
}

/// p50 / p99 / max of microsecond samples, in milliseconds (nearest rank).
fn percentiles(mut us: Vec<u64>) -> Percentiles {
    if us.is_empty() {
        return Percentiles::default();
    }
    us.sort_unstable();
    let at = |p: f64| us[((p * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1] as f64 / 1000.0;
    Percentiles { count: us.len(), p50: at(0.50), p99: at(0.99), max: at(1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = percentiles((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 50.0, 99.0, 100.0));
        assert_eq!(percentiles(vec![]).count, 0);
        assert_eq!(percentiles(vec![1500]).p99, 1.5);
    }
}
