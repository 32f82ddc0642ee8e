//! Bazaar, the marketplace simulator (`cairn sim`).
//!
//! It plays the other side of BAZAAR.md for Cairn's connector — in tests, in a live demo and in
//! the Double-11 flash-sale scenario: shops, items, buyers with realistic Chinese names and
//! addresses, trades moving through the marketplace's statuses, signed webhooks with retries
//! (and chaos: drops, duplicates, reordering, delays, outages), and the signed Open API
//! (trade lookups, the incremental trade list, ship and quantity write-backs, rate limits).
//!
//! It is an independent implementation of the protocol: it shares no code with Cairn's
//! `channels` connector, so a misreading of BAZAAR.md on one side shows up as a failure
//! instead of cancelling out. Its signers are pinned to vectors computed with Python.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use bazaar_sim::{NewLine, NewShop, NewTrade, SimConfig, spawn};
//! let sim = spawn(SimConfig::ephemeral()).await?;
//! let shop = sim.create_shop(NewShop::default()).await?;
//! let trade = sim.create_trade(NewTrade::new(&shop.shop_id, vec![NewLine { price: Some("59.00".into()), ..NewLine::new("TEE-RED-M", 2) }])).await?;
//! sim.pay(&trade.tid).await?;
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! It also plays Courier (COURIER.md and `notes/courier-protocol-extension.md`), the carrier
//! network Cairn's `shipping` service speaks: sellers with accounts at carriers' branches
//! (franchise ones with a balance of numbers), signed waybill draws of up to 10 packages with
//! per-package results, idempotency by `object_id`, multi-parcel packages, waybill codes in
//! each carrier's real shape (unique and deterministic for a seed) and routing data by
//! province and city for the label (大头笔, 三段码, 集包地; all 31 mainland provinces);
//! cancellation; collection — by the admin, or `collect_delay_ms` after a Bazaar ship
//! write-back names the waybill — then tracking on a compressible schedule (a share of parcels
//! fails delivery and goes back), pushed signed with `X-Courier-*` headers, with retries and
//! chaos (duplicates, reordering, drops, outages). Draw chaos includes answering 500, or not
//! answering at all, after the draw was done, which is what makes the caller's idempotency
//! matter.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use bazaar_sim::{Carrier, NewCourierSeller, SimConfig, TrackingStatus, spawn};
//! let sim = spawn(SimConfig::ephemeral()).await?;
//! let seller = sim.create_courier_seller(NewCourierSeller::default()).await?; // ZTO + SF
//! let zto = &seller.accounts[0];
//! sim.set_courier_balance(&seller.seller_id, Carrier::Zto, &zto.branch_code, 5).await?;
//! // ... Cairn draws with `seller.access_token` over /courier/v1, ships on Bazaar ...
//! # let code = "ZT7300012345678";
//! sim.force_tracking(code, TrackingStatus::Returned).await?;
//! # Ok(()) }
//! ```
//!
//! Mounting: [`spawn`] binds its own HTTP server (`/api/v1/...` Open API, `/courier/v1/...`
//! Courier API, `/admin/...` admin API with Courier's under `/admin/courier/...`, no auth,
//! 127.0.0.1 by default) and returns a [`Sim`] handle with the same operations as async
//! methods. `--state-file` keeps shops, items, trades and Courier's sellers and waybills.

mod admin;
mod api;
mod config;
mod courier;
pub mod domain;
mod model;
mod sign;
mod store;
mod traffic;
mod webhook;

pub use api::{ApiError, parse_time};
pub use config::{ChaosConfig, CourierChaos, CourierSchedule, SimConfig, TrafficConfig, Unreachable};
pub use courier::model::*;
pub use domain::SimError;
pub use domain::courier::waybill::TrackingEvent;
pub use domain::courier::{
    Address as CourierAddress, Carrier, CourierError, PackageError, PackageItem, PrintData, TrackingStatus,
};
pub use domain::people::{CatalogItem, catalog};
pub use domain::trade::{
    InvoiceKind, InvoiceRequest, OrderSnapshot, Receiver, RefundStatus, Topic, TradeSnapshot, TradeStatus, format_time,
};
pub use model::*;
pub use sign::{api_sign, verify_api_sign, webhook_signature};
pub use traffic::{BurstConfig, BurstReport, PlayReport, TrickleConfig};

use domain::trade::{Change, Trade};
use rand::rngs::StdRng;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use store::{AppDefaults, State, now_ms};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webhook::{Dispatcher, Endpoint};

/// A running simulator. Cheap to clone; every clone drives the same marketplace.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimConfig,
    app: AppDefaults,
    addr: SocketAddr,
    state: Mutex<State>,
    webhooks: Arc<Dispatcher>,
    chaos: Arc<RwLock<ChaosConfig>>,
    traffic: RwLock<TrafficConfig>,
    api: api::ApiGuard,
    courier: courier::Courier,
    trickle: Mutex<Option<traffic::Trickle>>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    server: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

/// Starts the simulator: loads `--state-file` if present, binds `--listen`, creates the demo
/// shops, starts the outage windows, the pay-timeout sweep and the trickle as configured.
pub async fn spawn(config: SimConfig) -> anyhow::Result<Sim> {
    config.chaos.validate().map_err(anyhow::Error::msg)?;
    config.traffic.validate().map_err(anyhow::Error::msg)?;
    let state = match &config.state_file {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)?;
            State::restore(
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                config.seed,
            )
        }
        _ => State::new(config.seed),
    };
    let mut state = state;
    let app_secret = config.app_secret.clone().unwrap_or_else(|| {
        use rand::RngExt;
        (0..16).map(|_| format!("{:02x}", state.rng.random::<u8>())).collect()
    });
    let app = AppDefaults { app_key: config.app_key.clone(), app_secret };
    let (shutdown, shutdown_rx) = watch::channel(false);
    let chaos = Arc::new(RwLock::new(config.chaos.clone()));
    let webhooks = Arc::new(Dispatcher::new(&config, Arc::clone(&chaos), shutdown_rx.clone())?);
    for shop in state.shops() {
        webhooks.set_endpoint(&shop.shop_id, endpoint_of(&shop));
    }
    let courier = courier::Courier::new(&config, shutdown_rx.clone())?;
    for seller in state.courier.sellers() {
        courier.set_endpoints(&seller);
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let sim = Sim {
        inner: Arc::new(Inner {
            api: api::ApiGuard::new(config.api_rate),
            courier,
            config: config.clone(),
            app,
            addr,
            state: Mutex::new(state),
            webhooks,
            chaos,
            traffic: RwLock::new(config.traffic.clone()),
            trickle: Mutex::new(None),
            shutdown,
            tasks: Mutex::default(),
            server: Mutex::new(None),
        }),
    };
    let app = poem::Route::new()
        .nest("/api/v1", api::routes(sim.clone()))
        .nest("/courier/v1", courier::api::routes(sim.clone()))
        .nest("/admin", admin::routes(sim.clone()));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    let mut stop = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
                Some(Duration::from_secs(2)),
            )
            .await
    });
    *sim.inner.server.lock().expect("server lock") = Some(server);

    let now = Instant::now();
    if config.outage_secs > 0 {
        sim.inner
            .webhooks
            .set_outage(now + Duration::from_secs(config.outage_start_secs), Duration::from_secs(config.outage_secs));
    }
    if config.api_down_secs > 0 {
        sim.inner.api.set_outage(now, Duration::from_secs(config.api_down_secs));
    }
    for i in 1..=config.shops {
        sim.ensure_demo_shop(&format!("shop-{}", 1000 + i)).await?;
    }
    let clock = tokio::spawn(sim.clone().run_courier_clock(shutdown_rx.clone()));
    sim.inner.tasks.lock().expect("tasks lock").push(clock);
    if config.pay_timeout_secs > 0.0 {
        let timeout = Duration::try_from_secs_f64(config.pay_timeout_secs)?;
        let task = tokio::spawn(sim.clone().sweep_unpaid(timeout, shutdown_rx));
        sim.inner.tasks.lock().expect("tasks lock").push(task);
    }
    if config.trickle_per_minute > 0.0 {
        sim.start_trickle(TrickleConfig { trades_per_minute: config.trickle_per_minute, ..TrickleConfig::default() })
            .await?;
    }
    tracing::info!(url = %sim.url(), app_key = %sim.inner.app.app_key, "Bazaar simulator listening");
    Ok(sim)
}

fn endpoint_of(shop: &Shop) -> Option<Endpoint> {
    match (&shop.webhook_url, &shop.webhook_secret) {
        (Some(url), Some(secret)) => Some(Endpoint { url: url.clone(), secret: secret.clone() }),
        _ => None,
    }
}

impl Sim {
    /// Base URL, e.g. `http://127.0.0.1:7700` (the Open API is under `/api/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The address the HTTP server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The app key new shops authorise by default (what Cairn signs with).
    pub fn app_key(&self) -> &str {
        &self.inner.app.app_key
    }

    /// The app secret of [`Sim::app_key`].
    pub fn app_secret(&self) -> &str {
        &self.inner.app.app_secret
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Stops the trickle, the HTTP server, Courier's clock and every delivery (undelivered
    /// messages and tracking pushes are not kept; parcel moves still due are), then saves
    /// `--state-file`. Safe to call more than once.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.stop_trickle();
        self.inner.shutdown.send_replace(true);
        let server = self.inner.server.lock().expect("server lock").take();
        if let Some(server) = server {
            server.await??;
        }
        for task in self.inner.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
        self.save().await
    }

    /// Writes the marketplace (shops, items, trades, Courier's sellers and waybills) to
    /// `--state-file`, if one was given.
    pub async fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.inner.config.state_file else { return Ok(()) };
        let json = serde_json::to_vec_pretty(&self.inner.state.lock().expect("state lock").persist())?;
        write_atomically(path, &json)?;
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("state lock")
    }

    fn publish(&self, shop_id: &str, changes: &[Change]) {
        for c in changes {
            self.inner.webhooks.publish(shop_id, c);
        }
    }

    // ---- shops and items --------------------------------------------------------------------

    /// Creates a shop (fields left out are generated; the app is the simulator's own).
    pub async fn create_shop(&self, spec: NewShop) -> Result<Shop, SimError> {
        let shop = self.state().create_shop(spec, &self.inner.app)?;
        self.inner.webhooks.set_endpoint(&shop.shop_id, endpoint_of(&shop));
        Ok(shop)
    }

    /// Updates a shop — typically the `webhook_url` and `webhook_secret` Cairn gave when the
    /// shop was connected — or creates it with this id.
    pub async fn upsert_shop(&self, shop_id: &str, update: ShopUpdate) -> Result<Shop, SimError> {
        let shop = self.state().upsert_shop(shop_id, update, &self.inner.app)?;
        self.inner.webhooks.set_endpoint(&shop.shop_id, endpoint_of(&shop));
        Ok(shop)
    }

    /// A demo shop: created if missing, with an access token derived from the app secret (so it
    /// is the same every run with the same `--app-secret`) and the first 24 catalog items.
    pub async fn ensure_demo_shop(&self, shop_id: &str) -> Result<Shop, SimError> {
        if let Some(shop) = self.shop(shop_id).await {
            return Ok(shop);
        }
        let token = format!("at_{}", &api_sign(self.app_secret(), &[("shop_id", shop_id)], b"")[..32].to_lowercase());
        let shop = self
            .create_shop(NewShop { shop_id: Some(shop_id.to_owned()), access_token: Some(token), ..NewShop::default() })
            .await?;
        for item in catalog(24) {
            self.upsert_item(NewItem {
                shop_id: shop_id.to_owned(),
                outer_sku_id: item.outer_sku_id,
                title: Some(item.title),
                price: domain::money::format(item.price),
                quantity: Some(100),
                merchant_code: None,
            })
            .await?;
        }
        Ok(shop)
    }

    pub async fn shop(&self, shop_id: &str) -> Option<Shop> {
        self.state().shop(shop_id).cloned()
    }

    pub async fn shops(&self) -> Vec<Shop> {
        self.state().shops()
    }

    /// Creates or replaces an item of a shop (a new one without `merchant_code` draws it with
    /// the `no_merchant_code_share` traffic knob).
    pub async fn upsert_item(&self, item: NewItem) -> Result<Item, SimError> {
        let share = self.traffic().no_merchant_code_share;
        self.state().upsert_item(item, share)
    }

    /// The shop's variants, one record per SKU code.
    pub async fn items(&self, shop_id: &str) -> Vec<Item> {
        self.state().items(shop_id)
    }

    /// The shop's items with their variants, as `GET /api/v1/items` lists them (every page).
    pub async fn listings(&self, shop_id: &str) -> Vec<Listing> {
        self.state().listings(shop_id, 1, usize::MAX).0
    }

    // ---- trades -----------------------------------------------------------------------------

    /// Creates a trade (`WAIT_BUYER_PAY`, pushes `trade.TradeCreate`).
    pub async fn create_trade(&self, spec: NewTrade) -> Result<TradeSnapshot, SimError> {
        let shop_id = spec.shop_id.clone();
        let share = self.traffic().no_merchant_code_share;
        let change = self.state().create_trade(spec, now_ms(), share)?;
        self.publish(&shop_id, std::slice::from_ref(&change));
        Ok(change.snapshot)
    }

    /// Runs changes on a trade under the lock, pushes them, returns the final snapshot.
    fn change(
        &self,
        tid: &str,
        f: impl FnOnce(&mut Trade, &mut StdRng, i64) -> Result<Vec<Change>, SimError>,
    ) -> Result<TradeSnapshot, SimError> {
        let (shop_id, changes, snapshot) = {
            let mut st = self.state();
            let (shop_id, changes) =
                st.update_trade(tid, None, |t, rng| Ok((t.shop_id.clone(), f(t, rng, now_ms())?)))?;
            let snapshot = st.snapshot(tid, None)?;
            (shop_id, changes, snapshot)
        };
        self.publish(&shop_id, &changes);
        Ok(snapshot)
    }

    /// The buyer pays (`trade.TradeBuyerPay`).
    pub async fn pay(&self, tid: &str) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| Ok(vec![t.pay(now)?]))
    }

    /// The market closes an unpaid trade (`TRADE_CLOSED_BY_MARKET`, `trade.TradeClose`).
    pub async fn close_unpaid(&self, tid: &str) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| Ok(vec![t.close_unpaid(now)?]))
    }

    /// The buyer changes receiver and/or memo (`trade.TradeChanged`); with neither given, a
    /// new generated address for the same receiver name.
    pub async fn change_address(&self, tid: &str, change: AddressChange) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, rng, now| {
            let receiver = match (change.receiver, &change.buyer_memo) {
                (Some(r), _) => Some(r),
                (None, Some(_)) => None,
                (None, None) => Some(domain::people::receiver(rng, &t.receiver.name)),
            };
            Ok(vec![t.change_address(receiver, change.buyer_memo, now)?])
        })
    }

    /// The seller writes a memo and/or sets the flag in the marketplace console
    /// (`trade.TradeChanged`).
    pub async fn set_seller_memo(&self, tid: &str, memo: SellerMemo) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| Ok(vec![t.set_seller_memo(memo.seller_memo, memo.seller_flag, now)?]))
    }

    /// A refund of some lines (all refundable ones when `oids` is absent): `refund.RefundCreated`,
    /// then per `outcome` `refund.RefundSuccess` (+ `trade.TradeClose` when nothing is left),
    /// `refund.RefundClosed`, or nothing yet.
    pub async fn refund(&self, tid: &str, req: RefundRequest) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| {
            let oids = req.oids.as_deref();
            let created = t.request_refund(oids, now)?;
            let mut changes = vec![created];
            match req.outcome {
                RefundOutcome::Pending => {}
                RefundOutcome::Success => changes.extend(t.settle_refund(oids, true, now)?),
                RefundOutcome::Closed => changes.extend(t.settle_refund(oids, false, now)?),
                RefundOutcome::ReturnGoods => changes.push(t.await_return(oids, now)?),
            }
            Ok(changes)
        })
    }

    /// Ends pending refunds (those requested with [`RefundOutcome::Pending`]).
    pub async fn settle_refund(&self, tid: &str, s: RefundSettlement) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| t.settle_refund(s.oids.as_deref(), s.success, now))
    }

    /// The seller ships from the marketplace's own console (not a write-back; Cairn's ship
    /// calls go through the Open API and are logged as write-backs). Like a write-back, it has
    /// Courier collect the waybill if it is one of Courier's.
    pub async fn ship(&self, tid: &str, req: ShipRequest) -> Result<TradeSnapshot, SimError> {
        let snapshot = self.change(tid, |t, _, now| {
            match t.ship(&req.company_code, &req.waybill_no, req.oids.as_deref(), now)? {
                domain::trade::ShipOutcome::Shipped(c) => Ok(vec![*c]),
                domain::trade::ShipOutcome::Repeat => Ok(vec![]),
            }
        })?;
        self.courier_shipped(&req.waybill_no);
        Ok(snapshot)
    }

    /// The buyer confirms receipt (`TRADE_FINISHED`, `trade.TradeSuccess`).
    pub async fn confirm(&self, tid: &str) -> Result<TradeSnapshot, SimError> {
        self.change(tid, |t, _, now| Ok(vec![t.confirm(now)?]))
    }

    pub async fn trade(&self, tid: &str) -> Option<TradeSnapshot> {
        self.state().snapshot(tid, None).ok()
    }

    /// Every trade (of one shop), oldest first.
    pub async fn trades(&self, shop_id: Option<&str>) -> Vec<TradeSnapshot> {
        self.state().snapshots(shop_id, None)
    }

    /// Closes trades left unpaid longer than `timeout`, checking every quarter of it (at most
    /// once a second).
    async fn sweep_unpaid(self, timeout: Duration, mut shutdown: watch::Receiver<bool>) {
        let every = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let cutoff = now_ms() - timeout.as_millis() as i64;
            let due = self.state().unpaid_before(cutoff);
            for tid in due {
                if let Err(e) = self.close_unpaid(&tid).await {
                    tracing::debug!(%tid, error = %e, "pay-timeout close skipped");
                }
            }
        }
    }

    // ---- observation ------------------------------------------------------------------------

    /// Counters: messages, deliveries, latencies, API calls, write-backs.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        {
            let st = self.state();
            s.trades = st.trade_count();
            s.writebacks = st.writeback_count();
        }
        self.inner.webhooks.fill_stats(&mut s);
        let api = &self.inner.api;
        s.api_calls = api.calls.load(Relaxed);
        s.api_rate_limited = api.rate_limited.load(Relaxed);
        s.api_auth_failures = api.auth_failures.load(Relaxed);
        s.api_unavailable = api.unavailable.load(Relaxed);
        s.api_failures_injected = api.failures_injected.load(Relaxed);
        s.api_slow_injected = api.slow_injected.load(Relaxed);
        s
    }

    /// The webhook delivery log.
    pub fn messages(&self, filter: &MessageFilter) -> Vec<MessageRecord> {
        self.inner.webhooks.messages(filter)
    }

    /// Every ship and quantity write-back call Cairn made (of one shop), in arrival order.
    pub fn writebacks(&self, shop_id: Option<&str>) -> Vec<Writeback> {
        self.state().writebacks(shop_id)
    }

    /// Waits until every message that is going to be pushed was delivered or given up.
    pub async fn wait_delivered(&self, timeout: Duration) -> anyhow::Result<()> {
        if self.inner.webhooks.wait_idle(timeout).await {
            Ok(())
        } else {
            anyhow::bail!("{} webhook deliveries still pending after {timeout:?}", self.inner.webhooks.pending())
        }
    }

    // ---- traffic knobs ----------------------------------------------------------------------

    pub fn traffic(&self) -> TrafficConfig {
        self.inner.traffic.read().expect("traffic lock").clone()
    }

    /// Replaces the traffic knobs; applies to variants listed and trades started from now on.
    pub fn set_traffic(&self, traffic: TrafficConfig) -> Result<(), SimError> {
        traffic.validate().map_err(SimError::InvalidParameter)?;
        *self.inner.traffic.write().expect("traffic lock") = traffic;
        Ok(())
    }

    // ---- chaos ------------------------------------------------------------------------------

    pub fn chaos(&self) -> ChaosConfig {
        self.inner.chaos.read().expect("chaos lock").clone()
    }

    /// Replaces the chaos knobs; applies to messages created and API calls made from now on.
    pub fn set_chaos(&self, chaos: ChaosConfig) -> Result<(), SimError> {
        chaos.validate().map_err(SimError::InvalidParameter)?;
        *self.inner.chaos.write().expect("chaos lock") = chaos;
        Ok(())
    }

    /// "The webhook endpoint is down" for `length` from now: every push attempt in the window
    /// fails without a request and is retried on the normal schedule. Zero ends an outage.
    pub fn set_webhook_outage(&self, length: Duration) {
        self.inner.webhooks.set_outage(Instant::now(), length);
    }

    /// Time left in the webhook outage, if one is on.
    pub fn webhook_outage_left(&self) -> Option<Duration> {
        self.inner.webhooks.outage_left()
    }

    /// The Open API answers 503 (`isv.service-unavailable`, with `Retry-After`) for `length`
    /// from now. Zero ends an outage.
    pub fn set_api_outage(&self, length: Duration) {
        self.inner.api.set_outage(Instant::now(), length);
    }

    /// Time left in the Open API outage, if one is on.
    pub fn api_outage_left(&self) -> Option<Duration> {
        self.inner.api.outage_left()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}
