//! The shipping phase of `cairn sim double11`: after the burst is verified, every seller's
//! warehouse draws, prints and ships what it sold, through Cairn's public API, and the run
//! checks the result from Cairn's, Courier's and the marketplace's side.
//!
//! At setup each seller gets a Courier seller on the simulator with a ZTO branch holding
//! enough numbers for its orders (plus a margin), connected with `POST /v1/shipping/accounts`
//! and made the default by `PUT /v1/shipping/rules` with a merge wait of 0: every order is its
//! own shipment, so shipments, waybills, labels and write-backs all count orders.
//!
//! The phase, timed from the first draw: every seller's pending shipments are listed (cursor
//! paging), then worked in waves of `--draw-batch` (1000): drawn (`POST /v1/shipments/waybills`),
//! printed in label batches of `--label-batch` (`POST /v1/label-batches`, polled until done,
//! the PDF fetched), shipped (`POST /v1/shipments/ship`); `--shipping-concurrency` sellers at
//! once. Then it waits until every allocated order is `shipped` in Cairn and every trade's
//! ship write-back reached the marketplace.
//!
//! Verification (each must be 0, else the run fails):
//! - *lost*: an order allocated before the phase that is not shipped, or that no shipped
//!   shipment carries;
//! - *shipped without stock*: a shipment, a shipped order or a shipped trade for an order that
//!   was not allocated (a backorder);
//! - *double-drawn*: Courier has more than one live waybill for one object id (= shipment id),
//!   a live waybill for no shipment, or a shipment's waybill differs from Courier's;
//! - *shipped twice or with another waybill*: an order's lines carry a waybill other than its
//!   shipment's, or the marketplace took more than one waybill (or refused one) for a trade, or
//!   took another than the shipment's;
//! - *not written back*: a shipped order whose trade is not `WAIT_BUYER_CONFIRM_GOODS` with its
//!   waybill at the marketplace;
//! - *units committed ≠ shipped*: per SKU, the stock ledger's commit movements (folded) against
//!   the units in shipped shipments and in the allocated orders.

use super::{OrderSeen, Seller, gate_since, orders_of};
use crate::CairnClient;
use bazaar_sim::{
    Carrier, NewCourierAccount, NewCourierSeller, Percentiles, Sim, TradeStatus, WaybillFilter, WritebackKind,
    WritebackOutcome,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Flags of the shipping phase.
#[derive(Debug, Clone, clap::Args)]
pub struct ShippingArgs {
    /// Skip the shipping phase (and the carrier accounts at setup).
    #[arg(long)]
    pub no_shipping: bool,
    /// Shipments per draw and ship request, and per wave (at most 1000).
    #[arg(long, default_value_t = 1000)]
    pub draw_batch: usize,
    /// Shipments per label batch (one PDF).
    #[arg(long, default_value_t = 1000)]
    pub label_batch: usize,
    /// Sellers drawing, printing and shipping at once.
    #[arg(long, default_value_t = 5)]
    pub shipping_concurrency: usize,
    /// Give up waiting for the shipping phase to drain after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub shipping_timeout_secs: u64,
}

impl Default for ShippingArgs {
    fn default() -> Self {
        ShippingArgs {
            no_shipping: false,
            draw_batch: 1000,
            label_batch: 1000,
            shipping_concurrency: 5,
            shipping_timeout_secs: 600,
        }
    }
}

impl ShippingArgs {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !(1..=1000).contains(&self.draw_batch) || !(1..=20_000).contains(&self.label_batch) {
            anyhow::bail!("--draw-batch must be 1-1000 and --label-batch 1-20000");
        }
        if self.shipping_concurrency == 0 {
            anyhow::bail!("--shipping-concurrency must be positive");
        }
        Ok(())
    }
}

/// A seller's Courier side and its account in Cairn.
#[derive(Debug, Clone)]
pub(super) struct CarrierLink {
    /// The Courier seller on the simulator.
    pub seller_id: String,
    pub branch_code: String,
}

/// Opens a Courier seller with a ZTO branch holding `quantity` numbers, connects it to the
/// Cairn seller `api` and makes it the default account, merge wait 0.
pub(super) async fn connect_carrier(
    api: &CairnClient,
    sim: &Sim,
    seller_id: String,
    name: String,
    quantity: i64,
) -> anyhow::Result<CarrierLink> {
    let seller = sim
        .create_courier_seller(NewCourierSeller {
            seller_id: Some(seller_id),
            name: Some(name),
            accounts: vec![NewCourierAccount { quantity: Some(quantity), ..NewCourierAccount::new(Carrier::Zto) }],
            ..NewCourierSeller::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("opening a Courier seller: {e}"))?;
    let branch_code = seller.accounts[0].branch_code.clone();
    let body = json!({
        "cp_code": "ZTO", "branch_code": branch_code, "api_url": sim.url(), "app_key": sim.app_key(),
        "app_secret": sim.app_secret(), "access_token": seller.access_token,
        "sender": {"name": "双十一发货仓", "phone": "0571-88886666", "province": "浙江省", "city": "杭州市",
                   "district": "余杭区", "address": "仓前街道良睦路1399号"},
    });
    let a = api.post("/v1/shipping/accounts", &body).await.map_err(|e| anyhow::anyhow!("connecting ZTO: {e}"))?;
    let account_id = a["id"].as_str().ok_or_else(|| anyhow::anyhow!("connect answered without an id: {a}"))?.to_owned();
    // Merge wait 0: every order is its own shipment (a flash sale's buyers rarely buy twice
    // within minutes, and the counts below then compare one to one).
    let rules = json!({"merge_wait_seconds": 0, "rules": [], "default_account_id": account_id});
    api.put("/v1/shipping/rules", &rules).await.map_err(|e| anyhow::anyhow!("setting the carrier rules: {e}"))?;
    Ok(CarrierLink { seller_id: seller.seller_id, branch_code })
}

/// What the shipping phase measured and found.
#[derive(Debug, Clone, Default)]
pub struct ShippingReport {
    /// Orders allocated (with stock) when the phase started: each should ship.
    pub allocated_orders: usize,
    /// Orders that stayed backordered (the hot SKU sold out): none should ship.
    pub backordered_orders: usize,
    /// Orders in neither state when the phase started (by status).
    pub other_orders: BTreeMap<String, usize>,
    /// Every order settled → every allocated order had a shipment (s).
    pub shipments_ready_secs: Option<f64>,
    /// Pending shipments listed at the start.
    pub shipments: usize,
    pub list_ms: f64,
    /// Outcomes of the draw requests: `drawn`, `already_drawn`, `failed`, …
    pub draw_outcomes: BTreeMap<String, usize>,
    pub draw_requests: Percentiles,
    pub label_batches: Percentiles,
    pub label_pages: usize,
    pub pdf_bytes: u64,
    pub ship_outcomes: BTreeMap<String, usize>,
    pub ship_requests: Percentiles,
    /// First draw → the last ship request answered.
    pub requests_secs: Option<f64>,
    /// First draw → every allocated order `shipped` in Cairn.
    pub cairn_shipped_secs: Option<f64>,
    /// First draw → the last ship write-back the marketplace took (the phase's drain time).
    pub drain_secs: Option<f64>,
    /// Ship write-backs the marketplace applied (one per trade expected).
    pub writebacks: usize,
    /// Write-back calls that repeated one already applied (retries).
    pub writeback_repeats: usize,
    /// Live waybills at Courier at the end.
    pub courier_live: usize,
    pub courier_balance_left: i64,
    // The checks.
    pub lost: usize,
    pub shipped_without_stock: usize,
    pub double_drawn: usize,
    pub shipped_twice: usize,
    pub not_written_back: usize,
    pub unit_mismatch: i64,
    pub units_committed: i64,
    pub units_shipped: i64,
    /// The single SQLite writer during the phase (embedded Cairn only).
    pub gate: Vec<store::GateUse>,
    /// First draw → the end of the wait (the gate table's denominator).
    pub phase_secs: f64,
    pub notes: Vec<String>,
}

impl ShippingReport {
    /// Nothing lost, shipped without stock, drawn or shipped twice, missing at the
    /// marketplace, or committed other than shipped.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.shipped_without_stock == 0
            && self.double_drawn == 0
            && self.shipped_twice == 0
            && self.not_written_back == 0
            && self.unit_mismatch == 0
    }

    fn outcome(map: &BTreeMap<String, usize>, k: &str) -> usize {
        map.get(k).copied().unwrap_or(0)
    }

    /// Waybills drawn (new or found again).
    pub fn drawn(&self) -> usize {
        Self::outcome(&self.draw_outcomes, "drawn") + Self::outcome(&self.draw_outcomes, "already_drawn")
    }

    /// Shipments shipped by the ship requests.
    pub fn shipped(&self) -> usize {
        Self::outcome(&self.ship_outcomes, "shipped")
    }
}

impl ShippingReport {
    /// The phase's part of the printed report.
    pub(super) fn write(&self, t: &mut String) -> std::fmt::Result {
        use std::fmt::Write as _;
        let row = |t: &mut String, name: &str, v: String| writeln!(t, "  {name:<44} {v:>18}");
        let ms = |p: &Percentiles| format!("{:.0} / {:.0}", p.p50, p.p99);
        writeln!(t, "  Shipping (ZTO on the simulator's Courier, merge wait 0: one shipment per order)")?;
        row(
            t,
            "orders allocated / backordered (no shipment)",
            format!("{} / {}", self.allocated_orders, self.backordered_orders),
        )?;
        for (status, n) in &self.other_orders {
            row(t, &format!("  orders {status}"), n.to_string())?;
        }
        row(t, "settled → a shipment per allocated order (s)", super::secs(self.shipments_ready_secs))?;
        row(t, "shipments (pending, listed)", self.shipments.to_string())?;
        row(t, "waybills drawn", self.drawn().to_string())?;
        for (k, n) in self.draw_outcomes.iter().filter(|(k, _)| !matches!(k.as_str(), "drawn" | "already_drawn")) {
            row(t, &format!("  draws {k}"), n.to_string())?;
        }
        row(t, "draw requests", self.draw_requests.count.to_string())?;
        row(t, "  draw request p50 / p99 (ms)", ms(&self.draw_requests))?;
        row(t, "label batches", self.label_batches.count.to_string())?;
        row(t, "  batch queued → PDF fetched p50 / p99 (ms)", ms(&self.label_batches))?;
        row(t, "label pages", self.label_pages.to_string())?;
        row(t, "PDF bytes per label", format!("{:.0}", self.pdf_bytes as f64 / self.label_pages.max(1) as f64))?;
        row(t, "ship requests", self.ship_requests.count.to_string())?;
        row(t, "  ship request p50 / p99 (ms)", ms(&self.ship_requests))?;
        row(t, "shipped", self.shipped().to_string())?;
        for (k, n) in self.ship_outcomes.iter().filter(|(k, _)| k.as_str() != "shipped") {
            row(t, &format!("  ship {k}"), n.to_string())?;
        }
        row(t, "write-backs applied at the marketplace", self.writebacks.to_string())?;
        if self.writeback_repeats > 0 {
            row(t, "  write-backs repeated (retries)", self.writeback_repeats.to_string())?;
        }
        row(t, "live waybills at Courier", self.courier_live.to_string())?;
        row(t, "numbers left at the branches", self.courier_balance_left.to_string())?;
        row(t, "first draw → last ship request answered (s)", super::secs(self.requests_secs))?;
        row(t, "first draw → every order shipped in Cairn (s)", super::secs(self.cairn_shipped_secs))?;
        row(t, "drain: first draw → last write-back (s)", super::secs(self.drain_secs))?;
        row(t, "shipments/s (over the drain)", super::rate(self.shipments, self.drain_secs))?;
        writeln!(t)?;
        let check =
            |t: &mut String, name: &str, n: i64| writeln!(t, "  {name:<44} {n:>18}  {}", super::verdict(n == 0));
        check(t, "lost (allocated, not shipped)", self.lost as i64)?;
        check(t, "shipped without stock (backorders)", self.shipped_without_stock as i64)?;
        check(t, "double-drawn or mismatched waybills", self.double_drawn as i64)?;
        check(t, "shipped twice or with another waybill", self.shipped_twice as i64)?;
        check(t, "not written back to the marketplace", self.not_written_back as i64)?;
        check(
            t,
            &format!("units committed ≠ shipped ({} / {})", self.units_committed, self.units_shipped),
            self.unit_mismatch,
        )?;
        if !self.gate.is_empty() {
            writeln!(t)?;
            writeln!(t, "  SQLite's write gate during the shipping phase ({:.2} s), by writer:", self.phase_secs)?;
            super::gate_table(t, &self.gate, self.phase_secs)?;
        }
        for n in &self.notes {
            writeln!(t, "  note (shipping): {n}")?;
        }
        Ok(())
    }
}

/// Nearest-rank percentiles of durations in milliseconds.
fn percentiles(mut ms: Vec<f64>) -> Percentiles {
    if ms.is_empty() {
        return Percentiles::default();
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Percentiles { count: ms.len(), p50: at(0.5), p99: at(0.99), max: at(1.0) }
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What one seller's warehouse did.
#[derive(Default)]
struct Worked {
    listed: usize,
    list_ms: f64,
    /// Wall-clock ms of this seller's first draw request.
    first_draw: Option<i64>,
    draw_ms: Vec<f64>,
    draw_outcomes: BTreeMap<String, usize>,
    batch_ms: Vec<f64>,
    pages: usize,
    pdf_bytes: u64,
    ship_ms: Vec<f64>,
    ship_outcomes: BTreeMap<String, usize>,
    problems: Vec<String>,
}

/// Every shipment of the seller with `query` (cursor paging, 500 a page).
async fn shipments_of(api: &CairnClient, query: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api.get(&format!("/v1/shipments?limit=500{query}{cursor}")).await?;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return Ok(out),
        }
    }
}

/// Lists, draws, prints and ships one seller's pending shipments, in waves.
async fn work(api: CairnClient, args: ShippingArgs) -> anyhow::Result<Worked> {
    let mut w = Worked::default();
    let started = Instant::now();
    let pending: Vec<String> = shipments_of(&api, "&status=pending")
        .await?
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    w.list_ms = started.elapsed().as_secs_f64() * 1000.0;
    w.listed = pending.len();
    // Oldest first, as a warehouse works.
    let pending: Vec<String> = pending.into_iter().rev().collect();
    for wave in pending.chunks(args.draw_batch) {
        w.first_draw.get_or_insert_with(wall_ms);
        let t = Instant::now();
        let r = api.post("/v1/shipments/waybills", &json!({"shipment_ids": wave})).await?;
        w.draw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let mut drawn = Vec::new();
        for x in r["results"].as_array().into_iter().flatten() {
            let outcome = x["outcome"].as_str().unwrap_or("?");
            *w.draw_outcomes.entry(outcome.to_owned()).or_default() += 1;
            match outcome {
                "drawn" | "already_drawn" => drawn.extend(x["id"].as_str().map(str::to_owned)),
                _ if w.problems.len() < 5 => w.problems.push(format!("draw {outcome}: {}", x["detail"])),
                _ => {}
            }
        }
        for batch in drawn.chunks(args.label_batch) {
            let t = Instant::now();
            let b = api
                .post("/v1/label-batches", &json!({"shipment_ids": batch, "sort": "route", "size": "100x180"}))
                .await?;
            let id = b["id"].as_str().unwrap_or_default().to_owned();
            let deadline = Instant::now() + Duration::from_secs(args.shipping_timeout_secs);
            let done = loop {
                let b = api.get(&format!("/v1/label-batches/{id}")).await?;
                match b["status"].as_str() {
                    Some("done") => break b,
                    Some("failed") => anyhow::bail!("label batch {id} failed: {b}"),
                    _ if Instant::now() > deadline => anyhow::bail!("label batch {id} not done in time: {b}"),
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let pdf = api.get_bytes(&format!("/v1/label-batches/{id}/pdf")).await?;
            w.batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            w.pages += done["pages"].as_u64().unwrap_or(0) as usize;
            w.pdf_bytes += pdf.len() as u64;
            if let Some(e) = done["error"].as_str() {
                w.problems.push(format!("label batch {id}: {e}"));
            }
        }
        if drawn.is_empty() {
            continue;
        }
        let t = Instant::now();
        let r = api.post("/v1/shipments/ship", &json!({"ids": drawn})).await?;
        w.ship_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        for x in r["results"].as_array().into_iter().flatten() {
            let outcome = x["outcome"].as_str().unwrap_or("?");
            *w.ship_outcomes.entry(outcome.to_owned()).or_default() += 1;
            if outcome != "shipped" && w.problems.len() < 10 {
                w.problems.push(format!("ship {outcome}: {}", x["detail"]));
            }
        }
    }
    Ok(w)
}

/// Ship write-backs the marketplace took for `shop`.
fn ship_writebacks(sim: &Sim, shop: &str) -> Vec<bazaar_sim::Writeback> {
    sim.writebacks(Some(shop)).into_iter().filter(|w| w.kind == WritebackKind::Ship).collect()
}

/// Runs the phase (the burst is over and verified) and fills `report`.
pub(super) async fn run(
    args: &ShippingArgs,
    poll: Duration,
    sim: &Sim,
    sellers: &[Seller],
    plan_skus: &[String],
    report: &mut ShippingReport,
) -> anyhow::Result<()> {
    // Where every order stands before anything ships.
    let mut before: Vec<Vec<OrderSeen>> = Vec::new();
    for s in sellers {
        before.push(orders_of(&s.api).await?);
    }
    let allocated: Vec<usize> = before.iter().map(|os| os.iter().filter(|o| o.status == "allocated").count()).collect();
    for o in before.iter().flatten() {
        match o.status.as_str() {
            "allocated" => report.allocated_orders += 1,
            "backordered" => report.backordered_orders += 1,
            other => *report.other_orders.entry(other.to_owned()).or_default() += 1,
        }
    }

    // Shipments come from `order.ready_to_ship`, behind the orders: wait until each seller has
    // one per allocated order.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.shipping_timeout_secs);
    loop {
        let mut ready = true;
        for (s, want) in sellers.iter().zip(&allocated) {
            let c = s.api.get("/v1/shipments/counts").await?;
            let have: u64 = c.as_object().into_iter().flatten().filter_map(|(_, n)| n.as_u64()).sum();
            ready &= have >= *want as u64;
        }
        if ready {
            report.shipments_ready_secs = Some(started.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() > deadline {
            report.notes.push("not every allocated order had a shipment before the timeout".into());
            break;
        }
        tokio::time::sleep(poll).await;
    }

    let gate_before = store::gate_report();
    let phase = Instant::now();
    let phase_wall = wall_ms();
    let worked: Vec<anyhow::Result<Worked>> =
        futures_util::stream::iter(sellers.iter().map(|s| work(s.api.clone(), args.clone())))
            .buffer_unordered(args.shipping_concurrency)
            .collect()
            .await;
    let requests_done = phase.elapsed().as_secs_f64();
    let (mut draw_ms, mut batch_ms, mut ship_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_draw: Option<i64> = None;
    for w in worked {
        let w = w?;
        report.shipments += w.listed;
        report.list_ms = report.list_ms.max(w.list_ms);
        first_draw = match (first_draw, w.first_draw) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        draw_ms.extend(w.draw_ms);
        batch_ms.extend(w.batch_ms);
        ship_ms.extend(w.ship_ms);
        report.label_pages += w.pages;
        report.pdf_bytes += w.pdf_bytes;
        for (k, n) in w.draw_outcomes {
            *report.draw_outcomes.entry(k).or_default() += n;
        }
        for (k, n) in w.ship_outcomes {
            *report.ship_outcomes.entry(k).or_default() += n;
        }
        report.notes.extend(w.problems);
    }
    report.draw_requests = percentiles(draw_ms);
    report.label_batches = percentiles(batch_ms);
    report.ship_requests = percentiles(ship_ms);
    let first_draw = first_draw.unwrap_or(phase_wall);
    // Measured from the first draw; listing before it is not part of the drain.
    let offset = (first_draw - phase_wall) as f64 / 1000.0;
    report.requests_secs = Some(requests_done - offset);

    // Wait for Cairn (orders shipped) and the marketplace (every trade written back).
    let want: usize = allocated.iter().sum();
    let deadline = Instant::now() + Duration::from_secs(args.shipping_timeout_secs);
    loop {
        let at = phase.elapsed().as_secs_f64() - offset;
        if report.cairn_shipped_secs.is_none() {
            let mut shipped = 0;
            for s in sellers {
                let c = s.api.get("/v1/orders/counts").await?;
                shipped += c["by_status"]["shipped"].as_u64().unwrap_or(0) as usize;
            }
            if shipped >= want {
                report.cairn_shipped_secs = Some(at);
            }
        }
        let mut written: HashSet<String> = HashSet::new();
        let mut last = None::<i64>;
        for s in sellers {
            for w in ship_writebacks(sim, &s.channel.shop_id) {
                if w.outcome == WritebackOutcome::Applied {
                    written.insert(w.target.clone());
                    last = last.max(bazaar_sim::parse_time(&w.at));
                }
            }
        }
        if written.len() >= want && report.cairn_shipped_secs.is_some() {
            // Inventory commits the shipped lines from the orders' events, a step behind the
            // orders: the stock is checked once nothing is reserved any more (backorders
            // reserve nothing), or at the deadline.
            let mut reserved = 0;
            for s in sellers {
                for code in plan_skus {
                    reserved += s.api.get(&format!("/v1/stock/{code}")).await?["reserved"].as_i64().unwrap_or(0);
                }
            }
            if reserved == 0 || Instant::now() > deadline {
                report.drain_secs = last.map(|l| (l - first_draw) as f64 / 1000.0);
                break;
            }
            tokio::time::sleep(poll).await;
            continue;
        }
        if Instant::now() > deadline {
            report.notes.push(format!(
                "gave up waiting after {} s: {} of {want} trades written back",
                args.shipping_timeout_secs,
                written.len()
            ));
            break;
        }
        tokio::time::sleep(poll).await;
    }
    report.phase_secs = phase.elapsed().as_secs_f64() - offset;
    report.gate = gate_since(&gate_before, store::gate_report());

    eprintln!("verifying the shipping phase…");
    for (s, before) in sellers.iter().zip(&before) {
        verify_seller(sim, s, before, plan_skus, report).await?;
    }
    Ok(())
}

/// A shipment as listed: id, status, waybill code, its orders, its lines (SKU, units).
struct ShipmentSeen {
    status: String,
    waybill: Option<String>,
    orders: Vec<String>,
    lines: Vec<(String, i64)>,
}

fn shipment_seen(v: &Value) -> ShipmentSeen {
    ShipmentSeen {
        status: v["status"].as_str().unwrap_or_default().to_owned(),
        waybill: v["waybill"]["code"].as_str().map(str::to_owned),
        orders: v["orders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["order_id"].as_str())
            .map(str::to_owned)
            .collect(),
        lines: v["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l["sku_code"].as_str().unwrap_or_default().to_owned(), l["quantity"].as_i64().unwrap_or(0)))
            .collect(),
    }
}

/// Units committed per SKU and commit movements, by folding the ledger (oldest first).
fn committed_units(entries: &[Value]) -> i64 {
    entries.iter().filter(|e| e["kind"] == "commit").map(|e| -e["on_hand_delta"].as_i64().unwrap_or(0)).sum()
}

async fn verify_seller(
    sim: &Sim,
    s: &Seller,
    before: &[OrderSeen],
    skus: &[String],
    report: &mut ShippingReport,
) -> anyhow::Result<()> {
    let Some(link) = &s.carrier else { return Ok(()) };
    let allocated: HashMap<&str, &OrderSeen> =
        before.iter().filter(|o| o.status == "allocated").map(|o| (o.id.as_str(), o)).collect();
    let tid_allocated: HashSet<&str> = allocated.values().map(|o| o.external_id.as_str()).collect();

    // Cairn: every shipment, every order after.
    let all: Vec<(String, ShipmentSeen)> = shipments_of(&s.api, "")
        .await?
        .iter()
        .map(|v| (v["id"].as_str().unwrap_or_default().to_owned(), shipment_seen(v)))
        .collect();
    let after = orders_of(&s.api).await?;
    let after_by_id: HashMap<&str, &OrderSeen> = after.iter().map(|o| (o.id.as_str(), o)).collect();
    // The waybill each order shipped with, from its shipped shipments.
    let mut shipped_with: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut units_shipped: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, sh) in &all {
        for o in &sh.orders {
            if !allocated.contains_key(o.as_str()) {
                report.shipped_without_stock += 1;
            }
        }
        if sh.status != "shipped" {
            continue;
        }
        for o in &sh.orders {
            shipped_with.entry(o.as_str()).or_default().extend(sh.waybill.as_deref());
        }
        for (sku, n) in &sh.lines {
            *units_shipped.entry(sku.as_str()).or_default() += n;
        }
    }
    for (id, o) in &allocated {
        let now = after_by_id.get(id);
        if now.is_none_or(|o| o.status != "shipped") || !shipped_with.contains_key(id) {
            report.lost += 1;
            if report.notes.len() < 20 {
                report.notes.push(format!(
                    "lost: order {} ({}) is {} with shipments {:?}",
                    o.external_id,
                    id,
                    now.map_or("missing", |o| o.status.as_str()),
                    shipped_with.get(id)
                ));
            }
        }
    }
    for o in &after {
        let allocated_before = allocated.contains_key(o.id.as_str());
        if !allocated_before && (o.status == "shipped" || !o.waybills.is_empty()) {
            report.shipped_without_stock += 1;
        }
        // An order's lines carry exactly its shipment's waybill.
        let ours = shipped_with.get(o.id.as_str());
        let lines: BTreeSet<&str> = o.waybills.iter().map(String::as_str).collect();
        if !o.waybills.is_empty() && (lines.len() > 1 || ours != Some(&lines)) {
            report.shipped_twice += 1;
        }
    }

    // Courier: one live waybill per object id, the one the shipment has.
    let waybills = sim
        .courier_waybills(&WaybillFilter { seller_id: Some(link.seller_id.clone()), ..WaybillFilter::default() })
        .await;
    let mut live: HashMap<&str, Vec<&str>> = HashMap::new();
    for w in waybills.iter().filter(|w| w.status != "CANCELLED") {
        live.entry(w.object_id.as_str()).or_default().push(w.waybill_code.as_str());
        report.courier_live += 1;
    }
    let by_id: HashMap<&str, &ShipmentSeen> = all.iter().map(|(id, s)| (id.as_str(), s)).collect();
    for (object_id, codes) in &live {
        report.double_drawn += codes.len() - 1;
        if !by_id.contains_key(object_id) {
            report.double_drawn += 1;
        }
    }
    for (id, sh) in &all {
        if let Some(code) = &sh.waybill
            && live.get(id.as_str()).is_none_or(|c| !c.contains(&code.as_str()))
        {
            report.double_drawn += 1;
        }
    }
    if let Some(seller) = sim.courier_seller(&link.seller_id).await {
        report.courier_balance_left +=
            seller.accounts.iter().find(|a| a.branch_code == link.branch_code).and_then(|a| a.quantity).unwrap_or(0);
    }

    // The marketplace: each shipped trade written back once, with its shipment's waybill.
    let tid_to_order: HashMap<&str, &str> = after.iter().map(|o| (o.external_id.as_str(), o.id.as_str())).collect();
    let mut by_tid: HashMap<&str, Vec<&bazaar_sim::Writeback>> = HashMap::new();
    let wbs = ship_writebacks(sim, &s.channel.shop_id);
    for w in &wbs {
        by_tid.entry(w.target.as_str()).or_default().push(w);
    }
    for (tid, calls) in &by_tid {
        let applied: Vec<&str> = calls
            .iter()
            .filter(|w| w.outcome == WritebackOutcome::Applied)
            .filter_map(|w| w.payload["waybill_no"].as_str())
            .collect();
        report.writebacks += applied.len();
        report.writeback_repeats += calls.iter().filter(|w| w.outcome == WritebackOutcome::Repeat).count();
        let rejected = calls.iter().any(|w| w.outcome == WritebackOutcome::Rejected);
        let ours = tid_to_order.get(tid).and_then(|o| shipped_with.get(o));
        let matches = applied.len() == 1 && ours.is_some_and(|set| set.len() == 1 && set.contains(applied[0]));
        if rejected || !matches {
            report.shipped_twice += 1;
            if report.notes.len() < 20 {
                report.notes.push(format!(
                    "trade {tid}: write-backs {applied:?} (rejected: {rejected}), shipment waybills {ours:?}"
                ));
            }
        }
    }
    for t in sim.trades(Some(&s.channel.shop_id)).await {
        let tid = t.tid.as_str();
        let shipped_status = t.status == TradeStatus::WaitBuyerConfirmGoods;
        if tid_allocated.contains(tid) {
            if !shipped_status || !by_tid.contains_key(tid) {
                report.not_written_back += 1;
            }
        } else if shipped_status || by_tid.contains_key(tid) {
            report.shipped_without_stock += 1;
        }
    }

    // Stock: units committed (the ledger's commit movements) = units shipped = units allocated.
    let mut units_allocated: BTreeMap<&str, i64> = BTreeMap::new();
    for o in allocated.values() {
        for (sku, n, _) in &o.lines {
            *units_allocated.entry(sku.as_str()).or_default() += n;
        }
    }
    for code in skus {
        let ledger = s.api.get(&format!("/v1/stock/{code}/ledger?limit={}", super::LEDGER_LIMIT)).await?;
        let committed = committed_units(ledger.as_array().map_or(&[][..], Vec::as_slice));
        let shipped = units_shipped.get(code.as_str()).copied().unwrap_or(0);
        let wanted = units_allocated.get(code.as_str()).copied().unwrap_or(0);
        report.units_committed += committed;
        report.units_shipped += shipped;
        report.unit_mismatch += (committed - shipped).abs() + (shipped - wanted).abs();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 50.0, 99.0, 100.0));
        assert_eq!(percentiles(vec![]).count, 0);
        assert_eq!(percentiles(vec![7.0, 3.0]).p50, 3.0);
    }

    #[test]
    fn commits_fold_to_units_left() {
        let l = [
            json!({"kind": "receipt", "on_hand_delta": 5, "reserved_delta": 0}),
            json!({"kind": "reserve", "on_hand_delta": 0, "reserved_delta": 2}),
            json!({"kind": "commit", "on_hand_delta": -2, "reserved_delta": -2}),
            json!({"kind": "commit", "on_hand_delta": -1, "reserved_delta": -1}),
        ];
        assert_eq!(committed_units(&l), 3);
    }
}
