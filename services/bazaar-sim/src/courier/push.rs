//! Tracking push (Courier → Cairn): signing, delivery with retries, chaos and outages, and the
//! per-event delivery log.
//!
//! The same delivery model as Bazaar's webhooks (`crate::webhook`): one task per copy, the
//! scaled exponential retry schedule of `SimConfig::retry_delay` with ±10% jitter, a semaphore
//! on requests in flight, the endpoint and secret read at every attempt. It is a separate small
//! dispatcher rather than a generalisation of that one because everything around delivery
//! differs — the body and headers (`X-Courier-*`), what a push is keyed by (an account, not a
//! shop), the log's records and the chaos knobs — and Bazaar's dispatcher is the flash-sale
//! scenario's hot path, which should not grow type parameters for this.

use super::book::{Push, account_key};
use super::model::{CourierStats, PushFilter, PushRecord};
use crate::config::{CourierChaos, SimConfig};
use crate::domain::courier::waybill::TrackingEvent;
use crate::model::MessageState;
use crate::sign::webhook_signature;
use crate::webhook::Endpoint;
use rand::RngExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// `X-Courier-Topic` of a tracking event.
pub const TOPIC: &str = "tracking";

struct Message {
    idx: usize,
    id: String,
    key: String,
    body: Vec<u8>,
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
}

#[derive(Default)]
struct Log {
    records: Vec<PushRecord>,
    given_up_copies: Vec<u32>,
}

/// Delivers tracking events to the accounts' subscriptions.
pub(crate) struct Pusher {
    client: reqwest::Client,
    /// account key → where its events go.
    endpoints: RwLock<HashMap<String, Endpoint>>,
    chaos: Arc<RwLock<CourierChaos>>,
    permits: Semaphore,
    outage: Mutex<Option<(Instant, Instant)>>,
    log: Mutex<Log>,
    counters: Counters,
    pending: watch::Sender<usize>,
    shutdown: watch::Receiver<bool>,
    timeout: Duration,
    max_retries: u32,
    config: SimConfig,
}

impl Pusher {
    pub fn new(
        config: &SimConfig,
        chaos: Arc<RwLock<CourierChaos>>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let concurrency = config.webhook_concurrency.max(1);
        Ok(Pusher {
            client: reqwest::Client::builder().pool_max_idle_per_host(concurrency).tcp_nodelay(true).build()?,
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

    /// Sets where an account's events go.
    pub fn set_endpoint(&self, key: String, endpoint: Endpoint) {
        self.endpoints.write().expect("endpoints lock").insert(key, endpoint);
    }

    /// The tracking endpoints are "down" from `start` for `length`.
    pub fn set_outage(&self, start: Instant, length: Duration) {
        *self.outage.lock().expect("outage lock") = (!length.is_zero()).then(|| (start, start + length));
    }

    pub fn outage_left(&self) -> Option<Duration> {
        let now = Instant::now();
        self.outage.lock().expect("outage lock").filter(|(s, e)| *s <= now && now < *e).map(|(_, e)| e - now)
    }

    /// Logs a tracking event and starts delivering it (unless chaos drops it).
    pub fn publish(self: &Arc<Self>, push: Push) {
        let key = account_key(&push.seller_id, push.event.cp_code, &push.branch_code);
        let body = body_of(&push.event);
        let chaos = self.chaos.read().expect("chaos lock").clone();
        let subscribed = self.endpoints.read().expect("endpoints lock").contains_key(&key);
        let (drop, duplicate, reorder, hold, dup_gap) = {
            let mut rng = rand::rng();
            (
                rng.random_bool(chaos.push_drop_rate.clamp(0.0, 1.0)),
                rng.random_bool(chaos.push_duplicate_rate.clamp(0.0, 1.0)),
                rng.random_bool(chaos.push_reorder_rate.clamp(0.0, 1.0)),
                rng.random_range(0.5..=1.0) * chaos.push_reorder_ms as f64,
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
            log.records.push(PushRecord {
                id: id.clone(),
                seller_id: push.seller_id.clone(),
                branch_code: push.branch_code.clone(),
                event: push.event,
                state,
                copies,
                attempts: 0,
                deliveries: 0,
                first_status: None,
                last_status: None,
                last_error: None,
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
                return;
            }
            _ => {}
        }
        if copies == 2 {
            self.counters.duplicated.fetch_add(1, Relaxed);
        }
        let msg = Arc::new(Message { idx, id, key, body });
        self.pending.send_modify(|p| *p += copies as usize);
        let base = Duration::from_millis(chaos.push_delay_ms);
        let first = base + if reorder { Duration::from_secs_f64(hold / 1000.0) } else { Duration::ZERO };
        tokio::spawn(Arc::clone(self).deliver(Arc::clone(&msg), first));
        if copies == 2 {
            tokio::spawn(Arc::clone(self).deliver(msg, base + Duration::from_millis(dup_gap)));
        }
    }

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

    /// One copy of an event: attempts until a 2xx or the retries are used up.
    async fn deliver(self: Arc<Self>, msg: Arc<Message>, delay: Duration) {
        let mut retry = 0;
        let mut wait = delay;
        loop {
            if !self.sleep(wait).await {
                break;
            }
            let answer = self.attempt(&msg).await;
            let ok = matches!(answer, Ok(status) if (200..300).contains(&status));
            self.record(&msg, &answer);
            if ok {
                break;
            }
            if retry == self.max_retries {
                self.give_up(&msg);
                break;
            }
            retry += 1;
            let jitter = rand::rng().random_range(0.9..1.1);
            wait = self.config.retry_delay(retry).mul_f64(jitter);
        }
        self.pending.send_modify(|p| *p -= 1);
    }

    /// One request: the HTTP status, or why there was none.
    async fn attempt(&self, msg: &Message) -> Result<u16, String> {
        if self.outage_left().is_some() {
            return Err("tracking endpoint outage (simulated)".into());
        }
        let Some(ep) = self.endpoints.read().expect("endpoints lock").get(&msg.key).cloned() else {
            return Err("the account has no tracking subscription".into());
        };
        let Ok(_permit) = self.permits.acquire().await else { return Err("shutting down".into()) };
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(&ep.url)
            .header("content-type", "application/json")
            .header("X-Courier-Topic", TOPIC)
            .header("X-Courier-Message-Id", &msg.id)
            .header("X-Courier-Timestamp", timestamp.to_string())
            .header("X-Courier-Signature", webhook_signature(&ep.secret, timestamp, &msg.body))
            .body(msg.body.clone());
        let exchange = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            response.bytes().await?;
            Ok::<u16, reqwest::Error>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => Err(format!("request failed: {e}")),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    fn record(&self, msg: &Message, answer: &Result<u16, String>) {
        self.counters.attempts.fetch_add(1, Relaxed);
        let mut log = self.log.lock().expect("log lock");
        let r = &mut log.records[msg.idx];
        let status = answer.as_ref().ok().copied();
        if r.attempts == 0 {
            r.first_status = status;
        }
        r.attempts += 1;
        r.last_status = status;
        match answer {
            Ok(s) if (200..300).contains(s) => {
                r.deliveries += 1;
                r.last_error = None;
                if r.state != MessageState::Delivered {
                    r.state = MessageState::Delivered;
                    self.counters.delivered.fetch_add(1, Relaxed);
                }
            }
            Ok(s) => r.last_error = Some(format!("answered {s}")),
            Err(why) => r.last_error = Some(why.clone()),
        }
    }

    fn give_up(&self, msg: &Message) {
        let mut log = self.log.lock().expect("log lock");
        log.given_up_copies[msg.idx] += 1;
        let all = log.given_up_copies[msg.idx] == log.records[msg.idx].copies;
        let r = &mut log.records[msg.idx];
        if all && r.state == MessageState::Pending {
            r.state = MessageState::GivenUp;
            self.counters.given_up.fetch_add(1, Relaxed);
            tracing::warn!(message_id = %msg.id, waybill_code = %r.event.waybill_code, "gave up a tracking push");
        }
    }

    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Waits until no copy is pending, or the timeout.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut rx = self.pending.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p == 0)).await.is_ok_and(|r| r.is_ok())
    }

    /// The push log, filtered, in creation order.
    pub fn records(&self, f: &PushFilter) -> Vec<PushRecord> {
        let log = self.log.lock().expect("log lock");
        let matches = |r: &&PushRecord| {
            f.seller_id.as_ref().is_none_or(|s| &r.seller_id == s)
                && f.waybill_code.as_ref().is_none_or(|c| &r.event.waybill_code == c)
                && f.state.is_none_or(|s| r.state == s)
        };
        let mut out: Vec<PushRecord> = log.records.iter().filter(matches).cloned().collect();
        if let Some(n) = f.limit {
            out.drain(..out.len().saturating_sub(n));
        }
        out
    }

    /// Fills the push part of the stats.
    pub fn fill_stats(&self, s: &mut CourierStats) {
        let c = &self.counters;
        s.pushes_created = c.created.load(Relaxed);
        s.pushes_delivered = c.delivered.load(Relaxed);
        s.pushes_dropped = c.dropped.load(Relaxed);
        s.pushes_duplicated = c.duplicated.load(Relaxed);
        s.pushes_given_up = c.given_up.load(Relaxed);
        s.pushes_unsubscribed = c.unsubscribed.load(Relaxed);
        s.push_attempts = c.attempts.load(Relaxed);
        s.pushes_pending = self.pending();
    }
}

/// The body of a push: exactly `{"waybill_code","cp_code","status","time","location","detail"}`.
pub fn body_of(event: &TrackingEvent) -> Vec<u8> {
    serde_json::to_vec(event).expect("an event serialises")
}
