//! `cairn sim double11`: a Double-11 flash sale against Cairn, verified from both sides.
//!
//! 1. Baseline: the simulator's webhook dispatcher pushes the same burst to a bare endpoint that
//!    only answers 200, so the figure below it is the harness's own ceiling on this machine.
//! 2. Cairn (at `--cairn-url`, or embedded in this process on a fresh data dir): N sellers sign
//!    up, each connects one Bazaar shop (with its Open API credentials) and creates SKUs with
//!    known stock. The first SKU is hot: it takes `--hot-sku-share` of the trades and has less
//!    stock than their demand, so an oversell would show.
//! 3. The simulator creates and pays M trades as fast as it can (`Sim::burst`) and pushes their
//!    webhooks; Cairn's order counts are polled until every order is in Cairn with its stock
//!    decided (allocated or backordered), or the timeout.
//! 4. Verification, through Cairn's public API only: every trade the marketplace has is an order
//!    of the right seller (lost), no SKU ever had more reserved and committed than the stock given
//!    (oversold, by folding the stock ledger in order), and no order line was reserved twice
//!    (duplicates, from the ledger's reserve movements per reservation).
//!
//! 5. Shipping (unless `--no-shipping`; see [`shipping`]): every seller's warehouse draws,
//!    prints and ships its allocated orders through Cairn, timed from the first draw to the
//!    last write-back the marketplace took, then checked from Cairn's, Courier's and the
//!    marketplace's side.
//!
//! Exit code 1 when anything was lost, oversold or applied twice, or shipped wrong.

mod shipping;

pub use shipping::{ShippingArgs, ShippingReport};

use crate::{CairnClient, Connected, Launcher, subscribe};
use anyhow::bail;
use bazaar_sim::{BurstConfig, BurstReport, ChaosConfig, NewShop, Percentiles, Sim, SimConfig};
use futures_util::future::try_join_all;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Flags of `cairn sim double11`.
#[derive(Debug, Clone, clap::Args)]
pub struct Double11Args {
    /// Sellers (tenants), one Bazaar shop each; trades go round robin over the shops.
    #[arg(long, default_value_t = 5)]
    pub tenants: usize,
    /// Paid trades pushed in the burst (each is two webhooks: TradeCreate and TradeBuyerPay).
    #[arg(long, default_value_t = 20_000)]
    pub orders: usize,
    /// Share of trades whose first line is the hot SKU.
    #[arg(long, default_value_t = 0.3)]
    pub hot_sku_share: f64,
    /// The hot SKU's stock as a share of its expected demand (below 1, so it sells out).
    #[arg(long, default_value_t = 0.5)]
    pub hot_stock_ratio: f64,
    /// SKUs per seller (the first is the hot one).
    #[arg(long, default_value_t = 10)]
    pub skus: usize,
    /// Lines per trade: 1 to this many, distinct SKUs.
    #[arg(long, default_value_t = 1)]
    pub max_lines: usize,
    /// Units per line: 1 to this many.
    #[arg(long, default_value_t = 1)]
    pub max_num: i64,
    /// A running Cairn to drive (it must reach the simulator on 127.0.0.1). Without it, Cairn
    /// runs embedded in this process on a fresh data dir.
    #[arg(long)]
    pub cairn_url: Option<String>,
    /// The embedded Cairn's data dir (default: a fresh one under the system temp dir, removed
    /// afterwards).
    #[arg(long, conflicts_with = "cairn_url")]
    pub data_dir: Option<PathBuf>,
    /// Trades per second; as fast as possible when absent.
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Webhook requests in flight at most (the simulator's dispatcher).
    #[arg(long, default_value_t = 128)]
    pub webhook_concurrency: usize,
    /// Multiplies the retry schedule (1 = BAZAAR.md's 1 min … 128 min); small so a failed push
    /// is retried within the run.
    #[arg(long, default_value_t = 0.01)]
    pub retry_scale: f64,
    /// The simulator's Open API rate per app and shop (Cairn's pulls and write-backs).
    #[arg(long, default_value_t = 1000.0)]
    pub api_rate: f64,
    /// Seed of the trade generator.
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    /// Give up waiting for Cairn to drain after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// How often Cairn's order counts are polled while it drains (the polls are reads on the
    /// same database, so very frequent polls slow what they measure).
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
    /// Skip the bare-endpoint baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Cairn's webhook endpoint is "down" for this many seconds from the start of the burst
    /// (every push fails and is retried on the simulator's schedule; see --retry-scale).
    #[arg(long, default_value_t = 0)]
    pub webhook_outage_secs: u64,
    #[command(flatten)]
    pub chaos: ChaosConfig,
    #[command(flatten)]
    pub shipping: ShippingArgs,
}

/// What one side of the comparison measured.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// Creating and paying the trades in the simulator.
    pub burst_secs: f64,
    /// First push → every webhook answered 2xx.
    pub delivered_secs: Option<f64>,
    /// First push → every order visible in Cairn (any status).
    pub visible_secs: Option<f64>,
    /// First push → every order paid in Cairn with its stock decided (allocated/backordered…).
    pub settled_secs: Option<f64>,
    pub messages_delivered: u64,
    pub failed_attempts: u64,
    pub push_latency: Percentiles,
    pub delivery_lag: Percentiles,
}

/// The hot SKU of one seller after the sale.
#[derive(Debug, Clone, Default)]
pub struct HotSku {
    pub stock: i64,
    pub demand: i64,
    pub reserved: i64,
    pub backordered: i64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub machine: String,
    /// "Cairn (embedded)" or "Cairn (remote)".
    pub target: String,
    pub cairn_url: String,
    pub tenants: usize,
    pub orders: usize,
    pub baseline: Option<Side>,
    pub cairn: Side,
    /// Trades the marketplace created (and pushed).
    pub pushed: usize,
    /// Of those, orders found in Cairn under the right seller.
    pub in_cairn: usize,
    pub lost: usize,
    /// Orders found under a seller whose shop did not sell them, or more than once.
    pub misplaced_or_doubled: usize,
    pub oversold_units: i64,
    pub duplicates: usize,
    /// Units where a SKU's reserved level differs from the live order lines or its ledger fold.
    pub mismatched_units: i64,
    pub hot: Vec<HotSku>,
    /// Chaos and outages the run was under, as flags.
    pub conditions: String,
    pub reconcile_nudges: usize,
    /// Embedded Cairn only: per consumer, (events of its topics written, handled) at the moment
    /// every webhook had been answered — where the backlog was.
    pub bus_at_delivered: Vec<(String, u64, u64)>,
    /// Embedded Cairn only: events written per kind over the run.
    pub events: Vec<(String, i64)>,
    /// Embedded Cairn only: how long each writer held SQLite's one write gate during the burst
    /// and drain, longest first; the sum against the burst's duration says how busy it was.
    pub gate: Vec<store::GateUse>,
    /// The shipping phase, when it ran.
    pub shipping: Option<ShippingReport>,
    pub notes: Vec<String>,
}

impl Report {
    /// Nothing lost, oversold or applied twice, and (when it ran) nothing shipped wrong.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.oversold_units == 0
            && self.duplicates == 0
            && self.misplaced_or_doubled == 0
            && self.shipping.as_ref().is_none_or(ShippingReport::ok)
    }
}

// ---- the run --------------------------------------------------------------------------------

/// Runs the whole scenario and returns the report (print it with `{report}`).
pub async fn run(args: Double11Args, launcher: &dyn Launcher) -> anyhow::Result<Report> {
    if args.tenants == 0 || args.orders == 0 || args.skus < 2 {
        bail!("--tenants and --orders must be positive and --skus at least 2");
    }
    if !(0.0..=1.0).contains(&args.hot_sku_share) || args.hot_stock_ratio < 0.0 {
        bail!("--hot-sku-share must be in [0, 1] and --hot-stock-ratio not negative");
    }
    args.chaos.validate().map_err(anyhow::Error::msg)?;
    args.shipping.validate()?;
    let c = &args.chaos;
    let conditions = format!(
        "duplicate {:.0}%, reorder {:.0}%, drop {:.0}%, webhook outage {} s",
        c.duplicate_rate * 100.0,
        c.reorder_rate * 100.0,
        c.drop_rate * 100.0,
        args.webhook_outage_secs
    );
    let mut report =
        Report { machine: machine(), tenants: args.tenants, orders: args.orders, conditions, ..Report::default() };

    if !args.no_baseline {
        eprintln!("baseline: pushing {} trades to a bare 200 endpoint…", args.orders);
        report.baseline = Some(baseline(&args).await?);
    }

    let (cairn, base, _dir) = match &args.cairn_url {
        Some(url) => (None, url.trim_end_matches('/').to_owned(), None),
        None => {
            let dir = match &args.data_dir {
                Some(d) => TempDir::keep(d.clone()),
                None => TempDir::new("cairn-double11"),
            };
            let running = launcher.embedded("127.0.0.1:0", &dir.0).await?;
            let url = running.url();
            (Some(running), url, Some(dir))
        }
    };
    report.target = match &cairn {
        Some(_) => "Cairn (embedded)".into(),
        None => "Cairn (remote)".into(),
    };
    report.cairn_url = base.clone();
    let db = cairn.as_ref().map(|c| c.db().clone());
    let bindings = launcher.bindings();
    let result = sale(&args, &base, db, &bindings, &mut report).await;
    if let Some(c) = cairn {
        c.shutdown().await;
    }
    result?;
    Ok(report)
}

/// Every bus consumer with its topics.
type Bindings = [(&'static str, &'static [&'static str])];

async fn sale(
    args: &Double11Args,
    base: &str,
    db: Option<store::Db>,
    bindings: &Bindings,
    report: &mut Report,
) -> anyhow::Result<()> {
    let sim = bazaar_sim::spawn(sim_config(args, args.chaos.clone())).await?;
    let result = async {
        eprintln!("setting up {} sellers in {} …", args.tenants, base);
        let plan = Plan::new(args);
        let sellers = setup(args, base, &sim, &plan).await?;
        eprintln!("burst: {} trades…", args.orders);
        let gate_before = store::gate_report();
        let driven = drive(args, &sim, &sellers, db.as_ref().map(|db| (db, bindings))).await?;
        report.gate = gate_since(&gate_before, store::gate_report());
        report.cairn = driven.side;
        report.reconcile_nudges = driven.nudges;
        report.bus_at_delivered = driven.bus;
        if let Some(db) = &db {
            report.events = events_by_kind(db).await?;
        }
        eprintln!("verifying…");
        verify(&sim, &sellers, &plan, &driven.burst, report).await?;
        if !args.shipping.no_shipping {
            eprintln!("shipping: drawing, printing and shipping every allocated order…");
            let mut shipped = ShippingReport::default();
            let poll = Duration::from_millis(args.poll_ms.max(10));
            let result = shipping::run(&args.shipping, poll, &sim, &sellers, &plan.codes(), &mut shipped).await;
            report.shipping = Some(shipped);
            result?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = sim.shutdown().await;
    result
}

fn sim_config(args: &Double11Args, chaos: ChaosConfig) -> SimConfig {
    SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seed: Some(args.seed),
        webhook_concurrency: args.webhook_concurrency,
        retry_scale: args.retry_scale,
        api_rate: args.api_rate,
        chaos,
        ..SimConfig::default()
    }
}

fn burst_config(args: &Double11Args, shops: Vec<String>, skus: Vec<String>) -> BurstConfig {
    BurstConfig {
        shops,
        orders: args.orders,
        skus,
        hot_sku_share: args.hot_sku_share,
        pay: true,
        rate_limit: args.rate_limit,
        max_lines: args.max_lines,
        max_num: args.max_num,
    }
}

/// The SKUs and the stock each seller gets.
struct Plan {
    /// (code, title)
    skus: Vec<(String, String)>,
    /// Stock per seller: index = seller, value = stock per SKU (same order as `skus`).
    stock: Vec<Vec<i64>>,
}

impl Plan {
    fn new(args: &Double11Args) -> Plan {
        let skus: Vec<(String, String)> =
            bazaar_sim::catalog(args.skus).into_iter().map(|c| (c.outer_sku_id, c.title)).collect();
        let mean_num = (1 + args.max_num.max(1)) as f64 / 2.0;
        let stock = (0..args.tenants)
            .map(|i| {
                // Round robin: seller i gets every tenants-th trade.
                let trades = (args.orders / args.tenants + usize::from(i < args.orders % args.tenants)) as f64;
                let hot = (trades * args.hot_sku_share * mean_num * args.hot_stock_ratio).round() as i64;
                // The others can never run out: every line of every trade would fit.
                let other = (trades * (args.max_lines.max(1) as f64) * args.max_num.max(1) as f64) as i64 + 10;
                std::iter::once(hot.max(1)).chain(std::iter::repeat_n(other, skus.len() - 1)).collect()
            })
            .collect();
        Plan { skus, stock }
    }

    fn codes(&self) -> Vec<String> {
        self.skus.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// A seller in Cairn with its shop and (for the shipping phase) its carrier account.
struct Seller {
    api: CairnClient,
    channel: Connected,
    carrier: Option<shipping::CarrierLink>,
}

async fn setup(args: &Double11Args, base: &str, sim: &Sim, plan: &Plan) -> anyhow::Result<Vec<Seller>> {
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let anon = CairnClient::new(base);
    let sellers = (0..args.tenants).map(|i| {
        let anon = anon.clone();
        async move {
            let email = format!("d11-{run}-{i}@bench.cairn.local");
            let (token, _) =
                anon.signup_or_login(&format!("双十一卖家 {} ({run})", i + 1), &email, "double eleven").await?;
            let api = anon.with_token(token);
            for ((code, title), stock) in plan.skus.iter().zip(&plan.stock[i]) {
                api.ensure_sku(code, title, 0, *stock, &format!("d11-{run}-{code}")).await?;
            }
            let shop = NewShop {
                shop_id: Some(format!("d11-{run}-{}", i + 1)),
                name: Some(format!("双十一 {} 号店", i + 1)),
                ..NewShop::default()
            };
            let shop = sim.create_shop(shop).await.map_err(|e| anyhow::anyhow!("creating a shop: {e}"))?;
            let channel = api
                .connect_bazaar(&shop, &sim.url(), json!({"percent": 100, "max": null, "min": 0, "reserve": 0}))
                .await?;
            subscribe(sim, &channel).await?;
            // Numbers for every trade the seller may get, and a margin.
            let trades = (args.orders / args.tenants + usize::from(i < args.orders % args.tenants)) as i64;
            let carrier = match args.shipping.no_shipping {
                true => None,
                false => Some(
                    shipping::connect_carrier(
                        &api,
                        sim,
                        format!("d11-{run}-{}", i + 1),
                        format!("双十一卖家 {} 发货", i + 1),
                        trades + trades / 10 + 100,
                    )
                    .await?,
                ),
            };
            anyhow::Ok(Seller { api, channel, carrier })
        }
    });
    try_join_all(sellers).await
}

/// What the burst and the wait for Cairn found.
struct Driven {
    side: Side,
    burst: BurstReport,
    /// Times Cairn was asked to reconcile because pushes stopped short.
    nudges: usize,
    /// The embedded bus when the last webhook was answered.
    bus: Vec<(String, u64, u64)>,
}

/// Runs the burst and polls Cairn until every order is in with its stock decided.
async fn drive(
    args: &Double11Args,
    sim: &Sim,
    sellers: &[Seller],
    db: Option<(&store::Db, &Bindings)>,
) -> anyhow::Result<Driven> {
    let shops = sellers.iter().map(|s| s.channel.shop_id.clone()).collect();
    let cfg = burst_config(args, shops, Plan::new(args).codes());
    if args.webhook_outage_secs > 0 {
        sim.set_webhook_outage(Duration::from_secs(args.webhook_outage_secs));
    }
    let started = Instant::now();
    let mut running = Some(tokio::spawn({
        let sim = sim.clone();
        async move { sim.burst(cfg).await }
    }));
    let mut burst = None;
    let mut side = Side::default();
    let mut bus = Vec::new();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let (mut nudges, mut last_nudge) = (0, None::<Instant>);
    // (visible, unsettled) and since when: a pipeline that stopped moving.
    let mut progress = ((0u64, u64::MAX), started);
    loop {
        tokio::time::sleep(Duration::from_millis(args.poll_ms.max(10))).await;
        let now = Instant::now();
        let at = now.duration_since(started).as_secs_f64();
        if running.as_ref().is_some_and(|b| b.is_finished()) {
            let r = running.take().expect("checked").await?.map_err(|e| anyhow::anyhow!("burst: {e}"))?;
            side.burst_secs = r.elapsed_ms / 1000.0;
            burst = Some(r);
        }
        if burst.is_some() && side.delivered_secs.is_none() && sim.stats().deliveries_pending == 0 {
            side.delivered_secs = Some(at);
            if let Some((db, bindings)) = db {
                bus = consumers(db, bindings).await?;
            }
        }
        let visible = count_all(sellers, &[None]).await?;
        if visible >= args.orders as u64 && side.visible_secs.is_none() {
            side.visible_secs = Some(at);
        }
        let unsettled = match side.visible_secs {
            Some(_) => count_all(sellers, &[Some("pending_payment"), Some("paid")]).await?,
            None => u64::MAX,
        };
        if unsettled == 0 && side.delivered_secs.is_some() {
            side.settled_secs = Some(at);
            break;
        }
        if (visible, unsettled) != progress.0 {
            progress = ((visible, unsettled), now);
        }
        // Every push was answered, yet orders are missing or unpaid and nothing moved for 3 s:
        // what the marketplace never pushed (chaos drops, retries given up) only a pull finds.
        if side.delivered_secs.is_some()
            && now.duration_since(progress.1) > Duration::from_secs(3)
            && last_nudge.is_none_or(|l| now.duration_since(l) > Duration::from_secs(10))
        {
            last_nudge = Some(now);
            nudges += 1;
            for s in sellers {
                if let Err(e) = s.api.post(&format!("/v1/channels/{}/reconcile", s.channel.id), &json!({})).await {
                    tracing::warn!(error = %e, "asking Cairn to reconcile failed");
                }
            }
        }
        if now > deadline {
            eprintln!("gave up waiting after {} s ({visible} of {} orders visible)", args.timeout_secs, args.orders);
            break;
        }
    }
    if let Some(b) = running {
        let r = b.await?.map_err(|e| anyhow::anyhow!("burst: {e}"))?;
        side.burst_secs = r.elapsed_ms / 1000.0;
        burst = Some(r);
    }
    fill_stats(&mut side, sim);
    Ok(Driven { side, burst: burst.expect("the burst finished"), nudges, bus })
}

/// Per consumer of the embedded bus: events of its topics written, and handled (see
/// `bus::embedded::progress`).
async fn consumers(db: &store::Db, bindings: &Bindings) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let mut out = Vec::new();
    for (consumer, topics) in bindings {
        let (written, handled) = bus::embedded::progress(db, consumer, topics).await?;
        out.push((consumer.to_string(), written, handled));
    }
    Ok(out)
}

/// Events written per kind.
/// `after` minus `before`, per writer, longest first; writers idle in between are left out.
fn gate_since(before: &[store::GateUse], after: Vec<store::GateUse>) -> Vec<store::GateUse> {
    let mut v: Vec<store::GateUse> = after
        .into_iter()
        .map(|mut u| {
            if let Some(b) = before.iter().find(|b| b.writer == u.writer) {
                u.transactions -= b.transactions;
                u.held -= b.held;
                u.committing -= b.committing;
            }
            u
        })
        .filter(|u| u.transactions > 0)
        .collect();
    v.sort_by_key(|u| std::cmp::Reverse(u.held));
    v
}

async fn events_by_kind(db: &store::Db) -> anyhow::Result<Vec<(String, i64)>> {
    use bus::entities::outbox;
    use sea_orm::{EntityTrait, QuerySelect, sea_query::Expr};
    let rows = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Kind)
        .expr(Expr::cust("count(*)"))
        .group_by(outbox::Column::Kind)
        .into_tuple::<(String, i64)>()
        .all(db.system().conn())
        .await?;
    Ok(rows)
}

fn fill_stats(side: &mut Side, sim: &Sim) {
    let stats = sim.stats();
    side.messages_delivered = stats.messages_delivered;
    side.failed_attempts = stats.failed_attempts;
    side.push_latency = stats.push_latency_ms;
    side.delivery_lag = stats.delivery_lag_ms;
}

/// Orders over every seller, summed over the `statuses` (`None` = any status).
async fn count_all(sellers: &[Seller], statuses: &[Option<&str>]) -> anyhow::Result<u64> {
    let counts = sellers.iter().flat_map(|s| {
        statuses.iter().map(move |st| async move {
            let path = match st {
                Some(st) => format!("/v1/orders?per_page=1&status={st}"),
                None => "/v1/orders?per_page=1".to_owned(),
            };
            anyhow::Ok(s.api.get(&path).await?["total"].as_u64().unwrap_or(0))
        })
    });
    Ok(try_join_all(counts).await?.into_iter().sum())
}

/// The same burst through the same dispatcher to an endpoint that only answers 200.
async fn baseline(args: &Double11Args) -> anyhow::Result<Side> {
    #[poem::handler]
    async fn ok(_body: Vec<u8>) -> poem::http::StatusCode {
        poem::http::StatusCode::OK
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        poem::Route::new().at("/hook", poem::post(ok)),
        async {
            let _ = stopped.await;
        },
        None,
    ));
    let sim = bazaar_sim::spawn(sim_config(args, ChaosConfig::default())).await?;
    let result = async {
        let mut shops = Vec::new();
        for i in 0..args.tenants {
            let shop = NewShop {
                shop_id: Some(format!("bare-{}", i + 1)),
                webhook_url: Some(url.clone()),
                webhook_secret: Some("whsec_baseline".into()),
                ..NewShop::default()
            };
            shops.push(sim.create_shop(shop).await.map_err(|e| anyhow::anyhow!("{e}"))?.shop_id);
        }
        let started = Instant::now();
        let burst = sim
            .burst(burst_config(args, shops, Plan::new(args).codes()))
            .await
            .map_err(|e| anyhow::anyhow!("burst: {e}"))?;
        sim.wait_delivered(Duration::from_secs(args.timeout_secs)).await?;
        let mut side = Side {
            burst_secs: burst.elapsed_ms / 1000.0,
            delivered_secs: Some(started.elapsed().as_secs_f64()),
            ..Side::default()
        };
        fill_stats(&mut side, &sim);
        anyhow::Ok(side)
    }
    .await;
    let _ = sim.shutdown().await;
    let _ = stop.send(());
    let _ = server.await;
    result
}

// ---- verification ---------------------------------------------------------------------------

/// An order as listed by Cairn.
struct OrderSeen {
    id: String,
    external_id: String,
    status: String,
    /// (SKU, quantity, reservation state)
    lines: Vec<(String, i64, Option<String>)>,
    /// The waybills its lines were shipped with, one per line shipped.
    waybills: Vec<String>,
}

async fn orders_of(api: &CairnClient) -> anyhow::Result<Vec<OrderSeen>> {
    let mut out = Vec::new();
    for page in 1.. {
        let b = api.get(&format!("/v1/orders?per_page=500&page={page}")).await?;
        let items = b["items"].as_array().cloned().unwrap_or_default();
        for o in &items {
            let lines = o["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    (
                        l["sku_code"].as_str().unwrap_or("").to_owned(),
                        l["quantity"].as_i64().unwrap_or(0),
                        l["reservation_state"].as_str().map(str::to_owned),
                    )
                })
                .collect();
            let waybills = o["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["shipped_waybill"].as_str().map(str::to_owned))
                .collect();
            let text = |k: &str| o[k].as_str().unwrap_or("").to_owned();
            out.push(OrderSeen {
                id: text("id"),
                external_id: text("external_id"),
                status: text("status"),
                lines,
                waybills,
            });
        }
        if items.len() < 500 {
            break;
        }
    }
    Ok(out)
}

/// What the ledger of one SKU says.
#[derive(Debug, Default, PartialEq)]
struct LedgerCheck {
    /// The most units ever reserved or committed beyond what was received.
    oversold: i64,
    /// Reserve movements beyond the first per reservation.
    duplicate_reserves: usize,
    /// Reserved at the end, by folding the ledger.
    reserved: i64,
    entries: usize,
}

/// Folds a SKU's ledger (oldest first) and checks it never promised more than it had.
fn check_ledger(entries: &[Value], safety_stock: i64) -> LedgerCheck {
    let (mut on_hand, mut reserved) = (0i64, 0i64);
    let mut check = LedgerCheck { entries: entries.len(), ..LedgerCheck::default() };
    let mut reserves: HashMap<&str, usize> = HashMap::new();
    for e in entries {
        on_hand += e["on_hand_delta"].as_i64().unwrap_or(0);
        reserved += e["reserved_delta"].as_i64().unwrap_or(0);
        check.oversold = check.oversold.max(reserved - (on_hand - safety_stock));
        if e["kind"] == "reserve" {
            *reserves.entry(e["reservation_id"].as_str().unwrap_or("")).or_default() += 1;
        }
    }
    check.duplicate_reserves = reserves.values().map(|n| n - 1).sum();
    check.reserved = reserved;
    check
}

const LEDGER_LIMIT: usize = 100_000;

async fn verify(
    sim: &Sim,
    sellers: &[Seller],
    plan: &Plan,
    burst: &BurstReport,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.pushed = burst.tids.len();
    for (i, s) in sellers.iter().enumerate() {
        let expected: HashSet<String> = sim.trades(Some(&s.channel.shop_id)).await.into_iter().map(|t| t.tid).collect();
        let orders = orders_of(&s.api).await?;
        let mut seen: HashSet<&str> = HashSet::new();
        // Units per SKU of lines that hold stock, and of lines waiting for it.
        let mut live: BTreeMap<&str, i64> = BTreeMap::new();
        let mut backordered: BTreeMap<&str, i64> = BTreeMap::new();
        for o in &orders {
            if !seen.insert(&o.external_id) || !expected.contains(&o.external_id) {
                report.misplaced_or_doubled += 1;
            }
            for (sku, qty, state) in &o.lines {
                match state.as_deref() {
                    Some("held" | "confirmed") => *live.entry(sku).or_default() += qty,
                    Some("backordered") => *backordered.entry(sku).or_default() += qty,
                    _ => {}
                }
            }
        }
        let found = expected.iter().filter(|t| seen.contains(t.as_str())).count();
        report.in_cairn += found;
        report.lost += expected.len() - found;

        for (j, (code, _)) in plan.skus.iter().enumerate() {
            let stock = s.api.get(&format!("/v1/stock/{code}")).await?;
            let ledger = s.api.get(&format!("/v1/stock/{code}/ledger?limit={LEDGER_LIMIT}")).await?;
            let entries = ledger.as_array().cloned().unwrap_or_default();
            let safety = stock["safety_stock"].as_i64().unwrap_or(0);
            let check = check_ledger(&entries, safety);
            if check.entries >= LEDGER_LIMIT {
                report.notes.push(format!(
                    "seller {} {code}: ledger longer than {LEDGER_LIMIT} entries, checked the first ones only",
                    i + 1
                ));
            }
            let (on_hand, reserved) = (stock["on_hand"].as_i64().unwrap_or(0), stock["reserved"].as_i64().unwrap_or(0));
            let given = plan.stock[i][j];
            // Now, from the levels: reserved plus committed (given − on hand) within the stock given.
            let oversold_now = reserved + (given - on_hand) - (given - safety);
            report.oversold_units += check.oversold.max(oversold_now).max(0);
            report.duplicates += check.duplicate_reserves;
            let from_orders = live.get(code.as_str()).copied().unwrap_or(0);
            report.mismatched_units += (reserved - from_orders).abs() + (reserved - check.reserved).abs();
            if j == 0 {
                let demand =
                    burst.units_by_shop_sku.get(&s.channel.shop_id).and_then(|m| m.get(code)).copied().unwrap_or(0);
                report.hot.push(HotSku {
                    stock: given,
                    demand,
                    reserved,
                    backordered: backordered.get(code.as_str()).copied().unwrap_or(0),
                });
            }
        }
    }
    if report.mismatched_units != 0 {
        report.notes.push(format!(
            "{} units differ between stock levels, live order lines and the ledger fold",
            report.mismatched_units
        ));
    }
    Ok(())
}

// ---- the report -----------------------------------------------------------------------------

/// The CPU model and core count, from /proc/cpuinfo.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores available ({cpus} CPUs in /proc/cpuinfo)")
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |s| format!("{s:.2}"))
}

fn rate(n: usize, v: Option<f64>) -> String {
    v.filter(|s| *s > 0.0).map_or_else(|| "—".into(), |s| format!("{:.0}", n as f64 / s))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAIL" }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut t = String::new();
        let c = &self.cairn;
        let b = self.baseline.clone().unwrap_or_default();
        let has_b = self.baseline.is_some();
        let col = |v: String| if has_b { v } else { String::new() };
        let ratio = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) if has_b && y > 0.0 => format!("{:.2}", x / y),
            _ => String::new(),
        };
        // Done: for Cairn when every order is settled, for the bare endpoint when every webhook
        // was answered.
        let (c_done, b_done) = (c.settled_secs, b.delivered_secs);
        let per_sec = |d: Option<f64>| d.filter(|d| *d > 0.0).map(|d| self.orders as f64 / d);
        writeln!(t, "Double-11: {} sellers, {} paid trades ({} webhooks)", self.tenants, self.orders, self.orders * 2)?;
        if !self.conditions.is_empty() {
            writeln!(t, "conditions: {}", self.conditions)?;
        }
        writeln!(t, "machine: {}", self.machine)?;
        writeln!(t, "{}: {}", self.target, self.cairn_url)?;
        writeln!(t)?;
        writeln!(
            t,
            "  {:<44} {:>18} {:>18} {:>7}",
            "",
            self.target,
            if has_b { "bare 200 endpoint" } else { "" },
            if has_b { "ratio" } else { "" }
        )?;
        let mut row =
            |name: &str, a: String, bb: String, r: String| writeln!(t, "  {name:<44} {a:>18} {:>18} {r:>7}", col(bb));
        row(
            "orders/s end to end",
            rate(self.orders, c_done),
            rate(self.orders, b_done),
            ratio(per_sec(c_done), per_sec(b_done)),
        )?;
        row("first push → done (s)", secs(c_done), secs(b_done), String::new())?;
        row(
            "  trades created + paid in the simulator (s)",
            format!("{:.2}", c.burst_secs),
            format!("{:.2}", b.burst_secs),
            String::new(),
        )?;
        row("  every webhook answered 2xx (s)", secs(c.delivered_secs), secs(b.delivered_secs), String::new())?;
        row("  every order visible in Cairn (s)", secs(c.visible_secs), String::new(), String::new())?;
        row("  every order paid, stock decided (s)", secs(c.settled_secs), String::new(), String::new())?;
        row(
            "time to drain after the last webhook (s)",
            secs(c.settled_secs.zip(c.delivered_secs).map(|(s, d)| (s - d).max(0.0))),
            String::new(),
            String::new(),
        )?;
        row(
            "webhooks answered/s",
            rate(c.messages_delivered as usize, c.delivered_secs),
            rate(b.messages_delivered as usize, b.delivered_secs),
            String::new(),
        )?;
        row(
            "webhook latency p50 (ms)",
            format!("{:.2}", c.push_latency.p50),
            format!("{:.2}", b.push_latency.p50),
            ratio(Some(c.push_latency.p50), Some(b.push_latency.p50)),
        )?;
        row(
            "webhook latency p99 (ms)",
            format!("{:.2}", c.push_latency.p99),
            format!("{:.2}", b.push_latency.p99),
            ratio(Some(c.push_latency.p99), Some(b.push_latency.p99)),
        )?;
        row(
            "trade change → webhook answered p99 (ms)",
            format!("{:.1}", c.delivery_lag.p99),
            format!("{:.1}", b.delivery_lag.p99),
            String::new(),
        )?;
        row(
            "failed push attempts (retried)",
            c.failed_attempts.to_string(),
            b.failed_attempts.to_string(),
            String::new(),
        )?;
        writeln!(t)?;
        writeln!(t, "  {:<44} {:>18}", "orders pushed", self.pushed)?;
        writeln!(t, "  {:<44} {:>18}", "orders in Cairn", self.in_cairn)?;
        writeln!(t, "  {:<44} {:>18}  {}", "lost", self.lost, verdict(self.lost == 0))?;
        writeln!(t, "  {:<44} {:>18}  {}", "oversold units", self.oversold_units, verdict(self.oversold_units == 0))?;
        writeln!(t, "  {:<44} {:>18}  {}", "duplicates applied", self.duplicates, verdict(self.duplicates == 0))?;
        writeln!(
            t,
            "  {:<44} {:>18}  {}",
            "orders under the wrong seller or doubled",
            self.misplaced_or_doubled,
            verdict(self.misplaced_or_doubled == 0)
        )?;
        if self.reconcile_nudges > 0 {
            writeln!(t, "  {:<44} {:>18}", "reconcile requests (for pushes missed)", self.reconcile_nudges)?;
        }
        writeln!(t)?;
        for (i, h) in self.hot.iter().enumerate() {
            writeln!(
                t,
                "  hot SKU, seller {}: stock {}, demand {}, reserved {}, backordered {}",
                i + 1,
                h.stock,
                h.demand,
                h.reserved,
                h.backordered
            )?;
        }
        if !self.bus_at_delivered.is_empty() {
            writeln!(t)?;
            writeln!(t, "  when the last webhook was answered, the embedded bus stood at (handled / written):")?;
            for (consumer, written, handled) in &self.bus_at_delivered {
                writeln!(
                    t,
                    "    {consumer:<12} {handled:>8} / {written:<8} ({} behind)",
                    written.saturating_sub(*handled)
                )?;
            }
        }
        if !self.gate.is_empty() {
            let total = self.cairn.settled_secs.unwrap_or(0.0);
            writeln!(t)?;
            writeln!(t, "  SQLite's write gate during the burst and drain ({total:.2} s), by writer:")?;
            gate_table(&mut t, &self.gate, total)?;
        }
        if !self.events.is_empty() {
            let per_order: Vec<String> =
                self.events.iter().map(|(k, n)| format!("{k} {:.2}", *n as f64 / self.orders as f64)).collect();
            writeln!(t, "  events written per order: {}", per_order.join(", "))?;
        }
        for n in &self.notes {
            writeln!(t, "  note: {n}")?;
        }
        if let Some(sh) = &self.shipping {
            writeln!(t)?;
            sh.write(&mut t)?;
        }
        f.write_str(t.trim_end())
    }
}

/// How long each writer held the write gate, against `total` seconds.
fn gate_table(t: &mut String, gate: &[store::GateUse], total: f64) -> std::fmt::Result {
    writeln!(
        t,
        "    {:<24} {:>12} {:>10} {:>9} {:>12}",
        "writer", "transactions", "held (s)", "of run", "in commit (s)"
    )?;
    for u in gate {
        let held = u.held.as_secs_f64();
        writeln!(
            t,
            "    {:<24} {:>12} {:>10.2} {:>8.0}% {:>12.2}",
            u.writer,
            u.transactions,
            held,
            100.0 * held / total.max(1e-9),
            u.committing.as_secs_f64()
        )?;
    }
    let sum: f64 = gate.iter().map(|u| u.held.as_secs_f64()).sum();
    writeln!(
        t,
        "    {:<24} {:>12} {:>10.2} {:>8.0}%",
        "all",
        gate.iter().map(|u| u.transactions).sum::<u64>(),
        sum,
        100.0 * sum / total.max(1e-9)
    )
}

/// A directory removed on drop (unless it was given).
struct TempDir(PathBuf, bool);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        TempDir(std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4().simple())), true)
    }
    fn keep(path: PathBuf) -> TempDir {
        TempDir(path, false)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(kind: &str, on_hand: i64, reserved: i64, res: &str) -> Value {
        json!({"kind": kind, "on_hand_delta": on_hand, "reserved_delta": reserved, "reservation_id": res})
    }

    #[test]
    fn a_ledger_that_never_promises_more_than_it_has_passes() {
        let l = [
            mv("receipt", 2, 0, ""),
            mv("reserve", 0, 1, "a"),
            mv("reserve", 0, 1, "b"),
            mv("release", 0, -1, "a"),
            mv("reserve", 0, 1, "c"),
            mv("commit", -1, -1, "b"),
        ];
        assert_eq!(check_ledger(&l, 0), LedgerCheck { oversold: 0, duplicate_reserves: 0, reserved: 1, entries: 6 });
    }

    #[test]
    fn oversell_and_double_reserves_are_counted() {
        let l =
            [mv("receipt", 1, 0, ""), mv("reserve", 0, 1, "a"), mv("reserve", 0, 1, "a"), mv("release", 0, -1, "a")];
        let c = check_ledger(&l, 0);
        assert_eq!((c.oversold, c.duplicate_reserves, c.reserved), (1, 1, 1));
        // Safety stock is never promised either.
        assert_eq!(check_ledger(&[mv("receipt", 3, 0, ""), mv("reserve", 0, 2, "a")], 2).oversold, 1);
    }

    #[test]
    fn the_hot_sku_gets_less_stock_than_its_demand() {
        let args = Double11Args {
            tenants: 3,
            orders: 10_000,
            hot_sku_share: 0.3,
            hot_stock_ratio: 0.5,
            skus: 10,
            max_lines: 1,
            max_num: 1,
            cairn_url: None,
            data_dir: None,
            rate_limit: None,
            webhook_concurrency: 128,
            retry_scale: 0.01,
            api_rate: 1000.0,
            seed: 11,
            timeout_secs: 60,
            poll_ms: 250,
            no_baseline: true,
            webhook_outage_secs: 0,
            chaos: ChaosConfig::default(),
            shipping: ShippingArgs::default(),
        };
        let plan = Plan::new(&args);
        assert_eq!(plan.skus.len(), 10);
        // 3334 trades × 0.3 × 0.5
        assert_eq!(plan.stock[0][0], 500);
        assert!(plan.stock.iter().all(|s| s[1..].iter().all(|&q| q > 3334)));
    }
}
