//! Traffic: a steady trickle of realistic trades for a live demo, and bursts for load.

use crate::domain::money;
use crate::domain::people;
use crate::domain::trade::TradeStatus;
use crate::model::{
    NewItem, NewLine, NewTrade, RefundOutcome, RefundRequest, RefundSettlement, SellerMemo, ShipRequest,
};
use crate::store::now_ms;
use crate::{AddressChange, Sim, SimError, TrafficConfig, catalog};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A steady flow of trades, each living a realistic life: paid within seconds (or left unpaid
/// and closed), shipped by the seller from the marketplace console or left for Cairn to ship,
/// confirmed by the buyer. Memos, refund requests and address changes come at the rates of the
/// simulator's traffic knobs ([`TrafficConfig`], read at each new trade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrickleConfig {
    pub trades_per_minute: f64,
    /// Shops to sell in; every shop (at each new trade) when empty.
    pub shops: Vec<String>,
    /// SKUs to sell; each shop's items when empty (the demo catalog when it has none).
    pub skus: Vec<String>,
    /// Share of trades paid, 1–10 s after creation; the rest close unpaid.
    pub pay_share: f64,
    /// Share of paid trades the seller ships from the marketplace console 10–60 s after payment.
    /// The rest wait for Cairn's ship write-back (set 0 when Cairn ships everything).
    pub ship_share: f64,
    /// The buyer confirms receipt this long after shipment, whoever shipped.
    pub confirm_after_secs: f64,
    /// An unpaid trade is closed by the market this long after creation.
    pub unpaid_close_after_secs: f64,
    /// Multiplies every delay above (0.01 makes a trade's life a hundred times shorter).
    pub time_scale: f64,
}

impl Default for TrickleConfig {
    fn default() -> Self {
        TrickleConfig {
            trades_per_minute: 30.0,
            shops: Vec::new(),
            skus: Vec::new(),
            pay_share: 0.85,
            ship_share: 0.3,
            confirm_after_secs: 120.0,
            unpaid_close_after_secs: 60.0,
            time_scale: 1.0,
        }
    }
}

/// A running trickle.
pub(crate) struct Trickle {
    stop: watch::Sender<bool>,
}

#[derive(Debug, Clone)]
enum Action {
    Pay,
    CloseUnpaid,
    Refund {
        oids: Option<Vec<String>>,
    },
    SettleRefund {
        success: bool,
    },
    ChangeAddress,
    SellerMemo {
        memo: String,
        flag: i32,
    },
    Ship,
    /// Only in [`Sim::play`]; the trickle's buyers confirm in its once-a-second sweep.
    Confirm,
}

/// What [`Sim::play`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlayReport {
    /// The trades created, in order.
    pub tids: Vec<String>,
    /// Steps of their lives that ran (payments, refunds, address changes, shipments…).
    pub steps: usize,
    /// Steps the state machine refused because the trade had gone another way.
    pub skipped: usize,
}

/// The life of a trade just created with these line ids: each step and when it comes, in
/// seconds after creation (before `time_scale`). Draws the same numbers whatever the knobs are
/// set to, so that one knob changing does not reshuffle the others' choices.
fn plan_life(cfg: &TrickleConfig, traffic: &TrafficConfig, lines: &[String], rng: &mut StdRng) -> Vec<(f64, Action)> {
    if !rng.random_bool(cfg.pay_share) {
        return vec![(cfg.unpaid_close_after_secs * rng.random_range(0.8..1.2), Action::CloseUnpaid)];
    }
    let paid = rng.random_range(1.0..10.0);
    let mut plan = vec![(paid, Action::Pay)];
    let (address, address_at) = (rng.random_bool(traffic.address_change_share), paid + rng.random_range(2.0..8.0));
    if address {
        plan.push((address_at, Action::ChangeAddress));
    }
    let (memo, memo_at, flag) =
        (rng.random_bool(traffic.seller_memo_share), paid + rng.random_range(1.0..5.0), rng.random_range(1..=5));
    let text = people::seller_memo_text(rng);
    if memo {
        plan.push((memo_at, Action::SellerMemo { memo: text, flag }));
    }
    let refund = rng.random_bool(traffic.refund_request_share);
    let (refund_at, settle_after) = (paid + rng.random_range(5.0..30.0), rng.random_range(3.0..15.0));
    let (partial, closed) = (lines.len() > 1 && rng.random_bool(0.5), rng.random_bool(traffic.refund_close_share));
    if refund {
        let oids = partial.then(|| vec![lines[0].clone()]);
        plan.push((refund_at, Action::Refund { oids }));
        plan.push((refund_at + settle_after, Action::SettleRefund { success: !closed }));
    }
    if rng.random_bool(cfg.ship_share) {
        plan.push((paid + rng.random_range(10.0..60.0), Action::Ship));
    }
    plan
}

/// A flash-sale burst: `orders` trades created (and paid) as fast as possible or at a rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BurstConfig {
    /// Shops the trades are spread over (round robin); every shop when empty.
    pub shops: Vec<String>,
    pub orders: usize,
    /// SKUs sold; the first is the hot one. The first 20 catalog SKUs when empty. Every shop
    /// gets items for SKUs it does not list yet.
    pub skus: Vec<String>,
    /// Share of trades whose first line is the hot SKU (`skus[0]`); the rest pick uniformly
    /// among the others.
    pub hot_sku_share: f64,
    /// Pay each trade right after creating it.
    pub pay: bool,
    /// Trades per second; as fast as possible when absent.
    pub rate_limit: Option<f64>,
    /// Lines per trade: 1 to this many, distinct SKUs.
    pub max_lines: usize,
    /// Units per line: 1 to this many.
    pub max_num: i64,
}

impl Default for BurstConfig {
    fn default() -> Self {
        BurstConfig {
            shops: Vec::new(),
            orders: 1000,
            skus: Vec::new(),
            hot_sku_share: 0.5,
            pay: true,
            rate_limit: None,
            max_lines: 1,
            max_num: 1,
        }
    }
}

/// What a burst did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstReport {
    pub created: usize,
    pub paid: usize,
    pub elapsed_ms: f64,
    /// Created trades per second.
    pub trades_per_sec: f64,
    /// Units ordered per SKU (over every shop) — what Cairn must reserve, or refuse, exactly.
    pub units_by_sku: BTreeMap<String, i64>,
    /// Units ordered per (shop, SKU).
    pub units_by_shop_sku: BTreeMap<String, BTreeMap<String, i64>>,
    pub tids: Vec<String>,
}

fn validate_shares(cfg: &TrickleConfig) -> Result<(), SimError> {
    if [cfg.pay_share, cfg.ship_share].iter().any(|s| !(0.0..=1.0).contains(s)) {
        return Err(SimError::InvalidParameter("pay_share and ship_share must be between 0 and 1".into()));
    }
    Ok(())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl Sim {
    fn fork_rng(&self) -> StdRng {
        StdRng::seed_from_u64(self.state().rng.random())
    }

    /// Starts (or replaces) the trickle.
    pub async fn start_trickle(&self, cfg: TrickleConfig) -> Result<(), SimError> {
        if !(cfg.trades_per_minute > 0.0 && cfg.time_scale > 0.0) {
            return Err(SimError::InvalidParameter("trades_per_minute and time_scale must be positive".into()));
        }
        validate_shares(&cfg)?;
        self.stop_trickle();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.clone().run_trickle(cfg, stopped, self.fork_rng()));
        self.inner.tasks.lock().expect("tasks lock").push(task);
        *self.inner.trickle.lock().expect("trickle lock") = Some(Trickle { stop });
        Ok(())
    }

    /// Plays `trades` trickle trades at once, without waiting: creates them all, then runs every
    /// step of their lives (payment, memos, refunds, address changes, console shipments, and the
    /// buyer's confirmation after a console shipment) in the order their lives schedule them.
    /// Deterministic for a `--seed` when nothing else changes the marketplace meanwhile; the
    /// webhooks go out as usual ([`Sim::wait_delivered`]). `trades_per_minute` and `time_scale`
    /// do not matter here.
    pub async fn play(&self, cfg: TrickleConfig, trades: usize) -> Result<PlayReport, SimError> {
        validate_shares(&cfg)?;
        let mut rng = self.fork_rng();
        let mut agenda: Vec<(f64, usize, String, Action)> = Vec::new();
        let mut report = PlayReport::default();
        for _ in 0..trades {
            let traffic = self.traffic();
            let (tid, lines) = self.trickle_trade(&cfg, &traffic, &mut rng).await?;
            for (at, action) in plan_life(&cfg, &traffic, &lines, &mut rng) {
                if matches!(action, Action::Ship) {
                    agenda.push((at + cfg.confirm_after_secs, agenda.len(), tid.clone(), Action::Confirm));
                }
                agenda.push((at, agenda.len(), tid.clone(), action));
            }
            report.tids.push(tid);
        }
        agenda.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, _, tid, action) in agenda {
            if self.trickle_step(&tid, action, &mut rng).await {
                report.steps += 1;
            } else {
                report.skipped += 1;
            }
        }
        Ok(report)
    }

    /// Stops the trickle (trades already created keep their state; their scheduled steps stop).
    pub fn stop_trickle(&self) {
        if let Some(t) = self.inner.trickle.lock().expect("trickle lock").take() {
            t.stop.send_replace(true);
        }
    }

    /// Whether a trickle runs.
    pub fn trickle_running(&self) -> bool {
        self.inner.trickle.lock().expect("trickle lock").is_some()
    }

    async fn run_trickle(self, cfg: TrickleConfig, mut stop: watch::Receiver<bool>, mut rng: StdRng) {
        let scale = cfg.time_scale;
        let per_sec = cfg.trades_per_minute / 60.0;
        let mut next_trade = Instant::now();
        let mut agenda: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
        let mut actions: HashMap<u64, (String, Action)> = HashMap::new();
        let mut seq = 0u64;
        let mut shipped_at: HashMap<String, Instant> = HashMap::new();
        let mut watching: HashSet<String> = HashSet::new();
        let mut last_sweep = Instant::now();
        loop {
            let now = Instant::now();
            while next_trade <= now {
                // Exponential gaps: arrivals are a Poisson process at the configured rate.
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                next_trade += secs(-u.ln() / per_sec);
                let traffic = self.traffic();
                match self.trickle_trade(&cfg, &traffic, &mut rng).await {
                    Ok((tid, lines)) => {
                        watching.insert(tid.clone());
                        for (at, action) in plan_life(&cfg, &traffic, &lines, &mut rng) {
                            seq += 1;
                            agenda.push(Reverse((now + secs(at).mul_f64(scale), seq)));
                            actions.insert(seq, (tid.clone(), action));
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "trickle could not create a trade"),
                }
            }
            while let Some(Reverse((at, id))) = agenda.peek().copied() {
                if at > now {
                    break;
                }
                agenda.pop();
                if let Some((tid, action)) = actions.remove(&id) {
                    self.trickle_step(&tid, action, &mut rng).await;
                }
            }
            // Once a second: buyers confirm what was shipped long enough ago, by whoever.
            if now.duration_since(last_sweep) >= Duration::from_secs(1).mul_f64(scale.min(1.0)) {
                last_sweep = now;
                let confirm_after = secs(cfg.confirm_after_secs).mul_f64(scale);
                let statuses: Vec<(String, Option<TradeStatus>)> = {
                    let st = self.state();
                    watching.iter().map(|tid| (tid.clone(), st.trade(tid).map(|t| t.status))).collect()
                };
                for (tid, status) in statuses {
                    match status {
                        Some(TradeStatus::WaitBuyerConfirmGoods) => {
                            let since = *shipped_at.entry(tid.clone()).or_insert(now);
                            if now.duration_since(since) >= confirm_after && self.confirm(&tid).await.is_ok() {
                                watching.remove(&tid);
                                shipped_at.remove(&tid);
                            }
                        }
                        Some(s) if !s.is_final() => {}
                        _ => {
                            watching.remove(&tid);
                            shipped_at.remove(&tid);
                        }
                    }
                }
            }
            let wake = agenda.peek().map_or(next_trade, |Reverse((at, _))| (*at).min(next_trade));
            let wake = wake.min(Instant::now() + Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One realistic trade: 1–3 lines (70/22/8%), mostly one unit each, a discount on a third of
    /// trades, postage on a fifth, a buyer memo at `buyer_memo_share`; buyer and invoice generated.
    async fn trickle_trade(
        &self,
        cfg: &TrickleConfig,
        traffic: &TrafficConfig,
        rng: &mut StdRng,
    ) -> Result<(String, Vec<String>), SimError> {
        let shop_id = match cfg.shops.choose(rng) {
            Some(s) => s.clone(),
            None => {
                let shops = self.shops().await;
                shops
                    .choose(rng)
                    .map(|s| s.shop_id.clone())
                    .ok_or_else(|| SimError::InvalidParameter("there is no shop".into()))?
            }
        };
        let mut items = self.items(&shop_id).await;
        if !cfg.skus.is_empty() {
            self.ensure_items(&shop_id, &cfg.skus).await?;
            items = self.items(&shop_id).await;
            items.retain(|i| cfg.skus.contains(&i.outer_sku_id));
        } else if items.is_empty() {
            let skus: Vec<String> = catalog(24).into_iter().map(|c| c.outer_sku_id).collect();
            self.ensure_items(&shop_id, &skus).await?;
            items = self.items(&shop_id).await;
        }
        let n = match rng.random_range(0..100) {
            0..70 => 1,
            70..92 => 2,
            _ => 3,
        }
        .min(items.len());
        let chosen: Vec<_> = items.sample(rng, n).cloned().collect();
        let lines: Vec<NewLine> = chosen
            .iter()
            .map(|i| NewLine::new(&i.outer_sku_id, if rng.random_bool(0.8) { 1 } else { rng.random_range(2..4) }))
            .collect();
        let subtotal: i64 = chosen.iter().zip(&lines).map(|(i, l)| money::parse(&i.price).unwrap_or(0) * l.num).sum();
        let discount = if rng.random_bool(0.33) {
            (subtotal * rng.random_range(5..15) / 100 / 100 * 100).min(subtotal)
        } else {
            0
        };
        let post = if rng.random_bool(0.2) { *[600, 800, 1000, 1200].choose(rng).unwrap_or(&0) } else { 0 };
        let memo = people::memo_text(rng);
        let trade = NewTrade {
            discount_fee: Some(money::format(discount)),
            post_fee: Some(money::format(post)),
            buyer_memo: rng.random_bool(traffic.buyer_memo_share).then_some(memo),
            ..NewTrade::new(shop_id, lines)
        };
        let t = self.create_trade(trade).await?;
        Ok((t.tid, t.orders.into_iter().map(|o| o.oid).collect()))
    }

    /// Runs one step; false when the trade had gone another way and the step was refused.
    async fn trickle_step(&self, tid: &str, action: Action, rng: &mut StdRng) -> bool {
        let result = match action {
            Action::Pay => self.pay(tid).await,
            Action::CloseUnpaid => self.close_unpaid(tid).await,
            Action::Refund { oids } => self.refund(tid, RefundRequest { oids, outcome: RefundOutcome::Pending }).await,
            Action::SettleRefund { success } => self.settle_refund(tid, RefundSettlement { oids: None, success }).await,
            Action::ChangeAddress => self.change_address(tid, AddressChange::default()).await,
            Action::SellerMemo { memo, flag } => {
                self.set_seller_memo(tid, SellerMemo { seller_memo: Some(memo), seller_flag: Some(flag) }).await
            }
            Action::Ship => {
                let (company_code, waybill_no) = people::waybill(rng);
                self.ship(tid, ShipRequest { company_code, waybill_no, oids: None }).await
            }
            Action::Confirm => self.confirm(tid).await,
        };
        // Steps of a trade that went another way (refunded before shipping, shipped by Cairn
        // first) are refused by the state machine; that is expected.
        match result {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(%tid, error = %e, "trickle step skipped");
                false
            }
        }
    }

    /// Gives a shop items for the SKUs it does not list (catalog title and price when the SKU
    /// is a catalog one, else the code and 99.00), with 1000 displayed.
    async fn ensure_items(&self, shop_id: &str, skus: &[String]) -> Result<(), SimError> {
        let listed: HashSet<String> = self.items(shop_id).await.into_iter().map(|i| i.outer_sku_id).collect();
        let known: HashMap<String, (String, i64)> =
            catalog(200).into_iter().map(|c| (c.outer_sku_id, (c.title, c.price))).collect();
        for sku in skus.iter().filter(|s| !listed.contains(*s)) {
            let (title, price) = known.get(sku).cloned().unwrap_or_else(|| (sku.clone(), 9900));
            self.upsert_item(NewItem {
                shop_id: shop_id.to_owned(),
                outer_sku_id: sku.clone(),
                title: Some(title),
                price: money::format(price),
                quantity: Some(1000),
                merchant_code: None,
            })
            .await?;
        }
        Ok(())
    }

    /// Creates (and pays) `orders` trades as fast as possible or at `rate_limit` per second,
    /// returning once all are created (their webhooks may still be in flight: see
    /// [`Sim::wait_delivered`]).
    pub async fn burst(&self, cfg: BurstConfig) -> Result<BurstReport, SimError> {
        let shops: Vec<String> = if cfg.shops.is_empty() {
            self.shops().await.into_iter().map(|s| s.shop_id).collect()
        } else {
            cfg.shops.clone()
        };
        if shops.is_empty() {
            return Err(SimError::InvalidParameter("a burst needs at least one shop".into()));
        }
        if cfg.rate_limit.is_some_and(|r| r <= 0.0) || !(0.0..=1.0).contains(&cfg.hot_sku_share) {
            return Err(SimError::InvalidParameter("rate_limit must be positive and hot_sku_share in [0, 1]".into()));
        }
        let skus: Vec<String> = if cfg.skus.is_empty() {
            catalog(20).into_iter().map(|c| c.outer_sku_id).collect()
        } else {
            cfg.skus.clone()
        };
        for shop in &shops {
            if self.shop(shop).await.is_none() {
                return Err(SimError::ShopNotFound(shop.clone()));
            }
            self.ensure_items(shop, &skus).await?;
        }
        let mut rng = self.fork_rng();
        let mut report = BurstReport::default();
        let started = Instant::now();
        for i in 0..cfg.orders {
            if let Some(rate) = cfg.rate_limit {
                let due = started + secs(i as f64 / rate);
                if due > Instant::now() + Duration::from_millis(1) {
                    tokio::time::sleep_until(due.into()).await;
                }
            } else if i % 32 == 31 {
                // Let the deliveries run between batches on a small machine.
                tokio::task::yield_now().await;
            }
            let shop_id = &shops[i % shops.len()];
            let n = rng.random_range(1..=cfg.max_lines.clamp(1, skus.len()));
            let mut picked: Vec<&String> = Vec::with_capacity(n);
            if rng.random_bool(cfg.hot_sku_share) || skus.len() == 1 {
                picked.push(&skus[0]);
            }
            let others: Vec<&String> = skus[1..].iter().filter(|s| !picked.contains(s)).collect();
            picked.extend(others.sample(&mut rng, n - picked.len()).copied());
            let lines: Vec<NewLine> =
                picked.iter().map(|s| NewLine::new(s.as_str(), rng.random_range(1..=cfg.max_num.max(1)))).collect();
            // Counted by the SKU code ordered, which a line without a merchant code does not show.
            let units: Vec<(String, i64)> = lines.iter().map(|l| (l.outer_sku_id.clone(), l.num)).collect();
            let trade = self.create_trade(NewTrade::new(shop_id, lines)).await?;
            report.created += 1;
            for (code, num) in units {
                *report.units_by_sku.entry(code.clone()).or_default() += num;
                *report.units_by_shop_sku.entry(shop_id.clone()).or_default().entry(code).or_default() += num;
            }
            if cfg.pay {
                self.pay(&trade.tid).await?;
                report.paid += 1;
            }
            report.tids.push(trade.tid);
        }
        let elapsed = started.elapsed();
        report.elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        report.trades_per_sec = report.created as f64 / elapsed.as_secs_f64().max(1e-9);
        tracing::info!(created = report.created, per_sec = report.trades_per_sec as u64, at = now_ms(), "burst done");
        Ok(report)
    }
}
