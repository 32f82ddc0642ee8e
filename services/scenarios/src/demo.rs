//! `cairn up --demo`: Cairn and an in-process Bazaar simulator, wired to each other through
//! Cairn's public API, with a demo seller, two shops, a small catalog with stock, and a steady
//! trickle of realistic trades.
//!
//! Everything goes through the doors a real seller and marketplace use: the seller signs up (or
//! logs in) over HTTP, connects each shop with `POST /v1/channels` (giving the shop's Open API
//! credentials), and the simulator pushes signed webhooks to the URL Cairn answered with.
//! Starting again on the same data dir finds everything again: the simulator keeps its
//! marketplace in `bazaar.json` (saved every 30 s and on shutdown), and every call here is
//! idempotent (the same SKU again, the same `Idempotency-Key` for the initial stock, the same
//! shop connected again).

use crate::{CairnClient, Instance, Launcher, subscribe};
use anyhow::Context;
use bazaar_sim::{
    Carrier, CourierSchedule, NewCourierAccount, NewCourierSeller, NewItem, NewShop, Sim, SimConfig, TrafficConfig,
    TrickleConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// The demo seller's login.
pub const DEMO_EMAIL: &str = "demo@cairn.local";
/// The demo seller's password.
pub const DEMO_PASSWORD: &str = "cairn demo";
const DEMO_TENANT: &str = "云栈优品 (demo)";

/// The two demo shops: (Bazaar shop id, name).
const SHOPS: [(&str, &str); 2] = [("shop-8848", "云栈优品天猫旗舰店"), ("shop-9527", "云栈优品生活馆")];

/// The demo catalog: (SKU = the simulator catalog's `outer_sku_id`, initial stock, safety stock).
const SKUS: [(&str, i64, i64); 12] = [
    ("TEE-RED-M", 120, 2),
    ("TEE-BLK-L", 90, 2),
    ("CUP-SLV", 80, 0),
    ("EAR-WHT", 40, 1),
    ("NUT", 200, 5),
    ("DWN-BLK-L", 30, 1),
    ("MSK", 300, 10),
    ("SHO-WHT-42", 25, 0),
    ("TEA", 60, 2),
    ("RCE", 150, 5),
    ("CSE-CLR", 200, 0),
    ("LMP", 35, 1),
];

// ---- the demo -------------------------------------------------------------------------------

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    /// Cairn's address, e.g. `127.0.0.1:8080` (port 0 for any).
    pub listen: String,
    /// The trades; its `shops` and `skus` are set to the demo's.
    pub trickle: TrickleConfig,
    /// What the shops' variants and the trades' lives look like: merchant codes missing on some
    /// variants (their orders wait on hold for a product mapping), memos, refund requests,
    /// address changes.
    pub traffic: TrafficConfig,
}

impl DemoOptions {
    /// About one trade every two seconds, living a realistic life (most paid within seconds,
    /// some left unpaid and closed, some shipped; memos, refund requests and address changes
    /// at the rates of [`TrafficConfig::realistic`]).
    pub fn new(data_dir: impl Into<PathBuf>, listen: impl Into<String>) -> Self {
        DemoOptions {
            data_dir: data_dir.into(),
            listen: listen.into(),
            trickle: TrickleConfig { trades_per_minute: 30.0, ..TrickleConfig::default() },
            traffic: TrafficConfig::realistic(),
        }
    }
}

/// What the demo remembers between runs besides the databases (`demo.json` in the data dir).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Memo {
    /// The simulator's port last time: Cairn stored `api.base_url` with it.
    sim_port: u16,
    /// The simulator app's secret (the shops keep their own credentials in `bazaar.json`).
    app_secret: String,
    tenant_id: Option<Uuid>,
}

impl Memo {
    fn path(dir: &Path) -> PathBuf {
        dir.join("demo.json")
    }

    fn load(dir: &Path) -> Memo {
        let memo = std::fs::read(Self::path(dir)).ok().and_then(|b| serde_json::from_slice::<Memo>(&b).ok());
        memo.unwrap_or_else(|| Memo { app_secret: Uuid::new_v4().simple().to_string(), ..Memo::default() })
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?).with_context(|| format!("writing {}", path.display()))
    }
}

/// A demo shop and its channel in Cairn.
#[derive(Debug, Clone)]
pub struct DemoShop {
    pub shop_id: String,
    pub name: String,
    pub channel_id: Uuid,
}

/// A running demo: Cairn, the simulator, and what connects them.
pub struct Demo {
    pub cairn: Box<dyn Instance>,
    pub sim: Sim,
    /// The demo seller's access token.
    pub token: String,
    /// Known when this run signed the seller up (or an earlier run remembered it).
    pub tenant_id: Option<Uuid>,
    pub shops: Vec<DemoShop>,
    pub skus: Vec<String>,
    data_dir: PathBuf,
    saver: tokio::task::JoinHandle<()>,
}

/// Starts Cairn embedded on `opts.data_dir`, the simulator beside it, wires them, and starts
/// the trickle. Idempotent: a second start on the same data dir finds the same seller, shops,
/// SKUs and stock.
pub async fn start(opts: DemoOptions, launcher: &dyn Launcher) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&opts.data_dir).with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let cairn = launcher.embedded(&opts.listen, &opts.data_dir).await?;
    let sim = match start_sim(&opts.data_dir, &opts.traffic).await {
        Ok(sim) => sim,
        Err(e) => {
            cairn.shutdown().await;
            return Err(e);
        }
    };
    match wire(&opts, cairn.as_ref(), &sim).await {
        Ok((token, tenant_id, shops, skus)) => {
            let saver = tokio::spawn({
                let sim = sim.clone();
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        if let Err(e) = sim.save().await {
                            tracing::warn!(error = %e, "saving the simulator's state failed");
                        }
                    }
                }
            });
            Ok(Demo { cairn, sim, token, tenant_id, shops, skus, data_dir: opts.data_dir, saver })
        }
        Err(e) => {
            let _ = sim.shutdown().await;
            cairn.shutdown().await;
            Err(e)
        }
    }
}

/// The simulator on the port it had last time (Cairn's channels point there), or any free one.
async fn start_sim(data_dir: &Path, traffic: &TrafficConfig) -> anyhow::Result<Sim> {
    let mut memo = Memo::load(data_dir);
    let config = |port: u16| SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        state_file: Some(data_dir.join("bazaar.json")),
        app_secret: Some(memo.app_secret.clone()),
        // Trades left unpaid by an earlier run (whose trickle stopped) still close.
        pay_timeout_secs: 180.0,
        traffic: traffic.clone(),
        ..SimConfig::default()
    };
    let sim = match bazaar_sim::spawn(config(memo.sim_port)).await {
        Ok(sim) => sim,
        Err(e) if memo.sim_port != 0 => {
            tracing::warn!(port = memo.sim_port, error = %e, "the simulator's previous port is taken; using another");
            bazaar_sim::spawn(config(0)).await?
        }
        Err(e) => return Err(e),
    };
    memo.sim_port = sim.addr().port();
    memo.save(data_dir)?;
    Ok(sim)
}

type Wired = (String, Option<Uuid>, Vec<DemoShop>, Vec<String>);

async fn wire(opts: &DemoOptions, cairn: &dyn Instance, sim: &Sim) -> anyhow::Result<Wired> {
    let anon = CairnClient::new(cairn.url());
    let (token, signed_up) = anon.signup_or_login(DEMO_TENANT, DEMO_EMAIL, DEMO_PASSWORD).await?;
    let mut memo = Memo::load(&opts.data_dir);
    if signed_up.is_some() {
        memo.tenant_id = signed_up;
        memo.save(&opts.data_dir)?;
    }
    let api = anon.with_token(&token);

    let catalog = bazaar_sim::catalog(46);
    let mut skus = Vec::new();
    for (code, stock, safety) in SKUS {
        let item = catalog
            .iter()
            .find(|c| c.outer_sku_id == code)
            .with_context(|| format!("{code} is not in the simulator's catalog"))?;
        api.ensure_sku(code, &item.title, safety, stock, &format!("demo-initial-stock-{code}")).await?;
        skus.push(code.to_owned());
    }
    // Invoices for every paid order (buyers ask for them), rice at the 9% agricultural rate.
    api.put(
        "/v1/invoicing/settings",
        &json!({"seller_name": "杭州云栈优品电子商务有限公司", "tax_id": "91330106MA27XL5X2K", "address": "杭州市西湖区文三路90号",
                "phone": "0571-88886666", "bank": "招商银行杭州分行", "account": "571908765210001"}),
    )
    .await
    .context("setting up invoicing")?;
    api.put("/v1/invoicing/tax-categories/RCE", &json!({"vat_rate": "9%"})).await.context("setting rice's VAT rate")?;

    let mut shops = Vec::new();
    for (i, (shop_id, name)) in SHOPS.into_iter().enumerate() {
        let shop = match sim.shop(shop_id).await {
            Some(s) => s,
            None => sim
                .create_shop(NewShop { shop_id: Some(shop_id.into()), name: Some(name.into()), ..NewShop::default() })
                .await
                .map_err(|e| anyhow::anyhow!("creating {shop_id} on Bazaar: {e}"))?,
        };
        let listed: Vec<String> = sim.items(shop_id).await.into_iter().map(|i| i.outer_sku_id).collect();
        for (code, stock, _) in SKUS.iter().filter(|(c, _, _)| !listed.iter().any(|l| l == c)) {
            let item = catalog.iter().find(|c| c.outer_sku_id == *code).expect("checked above");
            let new = NewItem {
                shop_id: shop_id.into(),
                outer_sku_id: item.outer_sku_id.clone(),
                title: Some(item.title.clone()),
                price: bazaar_sim::domain::money::format(item.price),
                quantity: Some(*stock),
                // Drawn with the traffic's `no_merchant_code_share`.
                merchant_code: None,
            };
            sim.upsert_item(new).await.map_err(|e| anyhow::anyhow!("listing {code} on {shop_id}: {e}"))?;
        }
        // The flagship shows all available stock; the second shop half of it, at most 200.
        let stock_sync = if i == 0 {
            json!({"percent": 100, "max": null, "min": 0, "reserve": 0})
        } else {
            json!({"percent": 50, "max": 200, "min": 0, "reserve": 0})
        };
        let ch = api.connect_bazaar(&shop, &sim.url(), stock_sync).await?;
        subscribe(sim, &ch).await?;
        shops.push(DemoShop { shop_id: shop_id.to_owned(), name: shop.name.clone(), channel_id: ch.id });
    }
    connect_carriers(&api, sim).await?;
    sim.save().await?;

    let trickle = TrickleConfig {
        shops: shops.iter().map(|s| s.shop_id.clone()).collect(),
        skus: skus.clone(),
        ..opts.trickle.clone()
    };
    sim.start_trickle(trickle).await.map_err(|e| anyhow::anyhow!("starting the trickle: {e}"))?;
    Ok((token, signed_up.or(memo.tenant_id), shops, skus))
}

/// The demo seller's Courier seller id on the simulator.
const COURIER_SELLER: &str = "cairn-demo";

/// The warehouse the demo ships from, printed as the sender on every label.
fn sender() -> serde_json::Value {
    json!({"name": "云栈优品仓", "phone": "0571-88886666", "province": "浙江省", "city": "杭州市",
           "district": "余杭区", "address": "仓前街道良睦路1399号"})
}

/// A franchise carrier (ZTO, a branch with numbers bought in advance) and a direct one (SF),
/// connected through Cairn's API; ZTO by default, SF for orders of 500 yuan and more. Parcels
/// move on a schedule compressed a thousandfold (collected about 2 s after the seller ships,
/// delivered about a minute later).
async fn connect_carriers(api: &CairnClient, sim: &Sim) -> anyhow::Result<()> {
    sim.set_courier_schedule(CourierSchedule { time_scale: 0.001, ..CourierSchedule::default() })
        .map_err(|e| anyhow::anyhow!("the courier schedule: {e}"))?;
    let seller = match sim.courier_seller(COURIER_SELLER).await {
        Some(s) => s,
        None => sim
            .create_courier_seller(NewCourierSeller {
                seller_id: Some(COURIER_SELLER.into()),
                name: Some("杭州云栈优品电子商务有限公司".into()),
                accounts: vec![
                    NewCourierAccount { quantity: Some(5000), ..NewCourierAccount::new(Carrier::Zto) },
                    NewCourierAccount::new(Carrier::Sf),
                ],
                ..NewCourierSeller::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("opening the demo's carrier accounts: {e}"))?,
    };
    let mut ids = Vec::new();
    for a in &seller.accounts {
        let body = json!({
            "cp_code": a.cp_code, "branch_code": a.branch_code, "api_url": sim.url(), "app_key": sim.app_key(),
            "app_secret": sim.app_secret(), "access_token": seller.access_token, "sender": sender(),
        });
        let r = api.post("/v1/shipping/accounts", &body).await.context("connecting a carrier account")?;
        ids.push((a.cp_code, r["id"].as_str().unwrap_or_default().to_owned()));
    }
    let id = |c: Carrier| ids.iter().find(|(x, _)| *x == c).map(|(_, id)| id.clone());
    let rules = json!({
        "merge_wait_seconds": 600,
        "rules": [{"name": "500元以上走顺丰", "when": {"min_payment": 50_000}, "account_id": id(Carrier::Sf)}],
        "default_account_id": id(Carrier::Zto),
    });
    api.put("/v1/shipping/rules", &rules).await.context("setting the carrier rules")?;
    Ok(())
}

impl Demo {
    /// Cairn's base URL.
    pub fn url(&self) -> String {
        self.cairn.url()
    }

    /// A client of Cairn logged in as the demo seller.
    pub fn client(&self) -> CairnClient {
        CairnClient::new(self.url()).with_token(&self.token)
    }

    /// What a newcomer needs to know, for the terminal.
    pub fn welcome(&self) -> String {
        let url = self.url();
        let sim = self.sim.url();
        let mut s = String::new();
        s += &format!("Cairn demo is up — data in {}\n", self.data_dir.display());
        s += &format!("  dashboard {url}/   ← open this; log in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n");
        s += &format!("  API       {url}/v1   (docs {url}/docs, health {url}/healthz)\n");
        s += &format!("  Bazaar    {sim}   (the marketplace simulator: Open API under /api/v1, admin under /admin)\n");
        s += &format!("  app       key {}  secret {}\n", self.sim.app_key(), self.sim.app_secret());
        for shop in &self.shops {
            s += &format!("  shop      {} {} → channel {}\n", shop.shop_id, shop.name, shop.channel_id);
        }
        s += &format!(
            "  catalog   {} SKUs with stock in MAIN; buyers place trades on both shops (some unpaid, some refunded, some asking for invoices)\n",
            self.skus.len()
        );
        s += "  carriers  ZTO (a franchise branch with 5000 waybill numbers) and SF, on the simulator's Courier; paid orders wait in 发货 Shipping to be drawn, printed and shipped\n";
        s += "\nTry:\n";
        s += &format!(
            "  TOKEN=$(curl -s -X POST {url}/v1/auth/token -H 'content-type: application/json' -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}' | jq -r .access_token)\n"
        );
        s += &format!(
            "  curl -s \"{url}/v1/orders?per_page=5\" -H \"Authorization: Bearer $TOKEN\" | jq '.items[] | {{external_id, status, buyer_nick, payment}}'\n"
        );
        s += &format!(
            "  curl -s {url}/v1/stock/{} -H \"Authorization: Bearer $TOKEN\"\n",
            self.skus.first().map_or("TEE-RED-M", String::as_str)
        );
        s += &format!("  curl -s {sim}/admin/stats\n");
        s += "\nCtrl-C stops both.";
        s
    }

    /// Stops the trickle and the simulator (saving its marketplace), then Cairn (draining).
    pub async fn shutdown(self) {
        self.saver.abort();
        if let Err(e) = self.sim.shutdown().await {
            tracing::warn!(error = %e, "the simulator did not stop cleanly");
        }
        self.cairn.shutdown().await;
    }

    /// Runs until `signal`, then shuts down.
    pub async fn wait(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down the demo");
        self.shutdown().await;
        tracing::info!("stopped");
    }
}
