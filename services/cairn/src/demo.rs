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

use crate::{Config, Running};
use anyhow::Context;
use bazaar_sim::{NewItem, NewShop, ShopUpdate, Sim, SimConfig, TrickleConfig};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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

// ---- a small client of Cairn's public API ---------------------------------------------------

/// An answer that was not 2xx (or no answer at all: `status` 0), with the problem's `code`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
    pub detail: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "HTTP {} {code}: {}", self.status, self.detail),
            None => write!(f, "HTTP {}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ApiError {}

/// A client of Cairn's public API: JSON in, JSON out, bearer token when it has one. 429 and
/// 503 (and no answer) are retried a few times with backoff, since every call made here is
/// safe to repeat.
#[derive(Clone)]
pub struct CairnClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl CairnClient {
    /// A client of the Cairn at `base` (e.g. `http://127.0.0.1:8080`), without a token.
    pub fn new(base: impl Into<String>) -> Self {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("a reqwest client builds");
        CairnClient { http, base: base.into().trim_end_matches('/').to_owned(), token: None }
    }

    /// The same client, sending `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        CairnClient { token: Some(token.into()), ..self.clone() }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Any call; `headers` are extra request headers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let err = match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.unwrap_or_default();
                    let json: Value = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                    if (200..300).contains(&status) {
                        return Ok(json);
                    }
                    ApiError {
                        status,
                        code: json["code"].as_str().map(str::to_owned),
                        detail: json["detail"].as_str().map_or_else(|| json.to_string(), str::to_owned),
                    }
                }
                Err(e) => ApiError { status: 0, code: None, detail: format!("{method} {path}: {e}") },
            };
            if attempt >= 5 || !matches!(err.status, 0 | 429 | 503) {
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, path, None, &[]).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(Method::PUT, path, Some(body), &[]).await
    }

    /// Signs up a tenant and its owner, or logs the owner in when the email has an account.
    /// Returns the access token and, when it signed up, the new tenant's id.
    pub async fn signup_or_login(
        &self,
        tenant_name: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(String, Option<Uuid>)> {
        match self.post("/v1/signup", &json!({"tenant_name": tenant_name, "email": email, "password": password})).await
        {
            Ok(b) => {
                let token = b["access_token"].as_str().context("signup answered without access_token")?.to_owned();
                Ok((token, b["tenant_id"].as_str().and_then(|s| s.parse().ok())))
            }
            Err(e) if e.code.as_deref() == Some("email_taken") => {
                let b = self
                    .post("/v1/auth/token", &json!({"email": email, "password": password}))
                    .await
                    .context("logging in")?;
                Ok((b["access_token"].as_str().context("login answered without access_token")?.to_owned(), None))
            }
            Err(e) => Err(anyhow::Error::new(e).context("signing up")),
        }
    }

    /// Creates a SKU (the same SKU again is fine) and receives `stock` units into `MAIN` once:
    /// the `Idempotency-Key` makes a repeat of the same count a no-op.
    pub async fn ensure_sku(
        &self,
        code: &str,
        name: &str,
        safety_stock: i64,
        stock: i64,
        key: &str,
    ) -> anyhow::Result<()> {
        match self.post("/v1/skus", &json!({"code": code, "name": name, "safety_stock": safety_stock})).await {
            Ok(_) => {}
            // Someone changed the SKU since; keep theirs.
            Err(e) if e.code.as_deref() == Some("already_exists") => {
                tracing::warn!(sku = code, "SKU exists with other fields; kept as is")
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating SKU {code}"))),
        }
        if stock > 0 {
            let body = json!({"sku_code": code, "delta": stock, "reason": "期初盘点 initial count"});
            self.call(Method::POST, "/v1/stock/adjustments", Some(&body), &[("Idempotency-Key", key)])
                .await
                .with_context(|| format!("receiving stock of {code}"))?;
        }
        Ok(())
    }

    /// Connects a Bazaar shop with its Open API credentials and stock-sync rule, and returns
    /// the channel's id, webhook URL and webhook secret.
    ///
    /// When the shop is already connected with other settings (for instance the simulator came
    /// back on another port, so `api.base_url` differs), the existing channel is kept: its id
    /// and URL come from `GET /v1/channels`, and the secret from `known_secret` (Cairn shows a
    /// secret only when connecting; the marketplace kept it).
    pub async fn connect_bazaar(
        &self,
        shop: &bazaar_sim::Shop,
        api_base_url: &str,
        stock_sync: Value,
    ) -> anyhow::Result<Connected> {
        let body = json!({
            "marketplace": "bazaar",
            "shop_id": shop.shop_id,
            "name": shop.name,
            "api": {
                "base_url": api_base_url,
                "app_key": shop.app_key,
                "app_secret": shop.app_secret,
                "access_token": shop.access_token,
            },
            "stock_sync": stock_sync,
        });
        let answer = match self.post("/v1/channels", &body).await {
            Ok(b) => b,
            Err(e) if e.code.as_deref() == Some("already_exists") => {
                let list = self.get("/v1/channels").await.context("listing channels")?;
                let found = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["marketplace"] == "bazaar" && c["shop_id"] == shop.shop_id.as_str());
                let (Some(c), Some(secret)) = (found, shop.webhook_secret.clone()) else {
                    return Err(anyhow::Error::new(e).context(format!(
                        "shop {} is connected with other settings and its secret is unknown",
                        shop.shop_id
                    )));
                };
                tracing::warn!(shop_id = %shop.shop_id, "shop already connected with other settings (e.g. the simulator's URL changed); kept the existing channel");
                let mut c = c.clone();
                c["webhook_secret"] = json!(secret);
                c
            }
            Err(e) if e.status == 400 || e.status == 422 => {
                // A Cairn that does not take `api` / `stock_sync` yet: connect without them, so
                // webhooks still flow (reconciliation and write-backs need the credentials).
                tracing::warn!(shop_id = %shop.shop_id, error = %e, "connecting with Open API credentials was refused; connected without them");
                self.post("/v1/channels", &json!({"marketplace": "bazaar", "shop_id": shop.shop_id, "name": shop.name}))
                    .await
                    .with_context(|| format!("connecting shop {}", shop.shop_id))?
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("connecting shop {}", shop.shop_id))),
        };
        Ok(Connected {
            id: answer["id"].as_str().and_then(|s| s.parse().ok()).context("connect answered without an id")?,
            shop_id: shop.shop_id.clone(),
            webhook_url: answer["webhook_url"].as_str().context("connect answered without webhook_url")?.to_owned(),
            webhook_secret: answer["webhook_secret"]
                .as_str()
                .context("connect answered without webhook_secret")?
                .to_owned(),
        })
    }
}

/// A connected shop, as Cairn answered.
#[derive(Debug, Clone)]
pub struct Connected {
    pub id: Uuid,
    pub shop_id: String,
    pub webhook_url: String,
    pub webhook_secret: String,
}

/// Tells the marketplace where to push a connected shop's messages and with which secret.
pub async fn subscribe(sim: &Sim, ch: &Connected) -> anyhow::Result<()> {
    let update = ShopUpdate {
        webhook_url: Some(ch.webhook_url.clone()),
        webhook_secret: Some(ch.webhook_secret.clone()),
        ..ShopUpdate::default()
    };
    sim.upsert_shop(&ch.shop_id, update)
        .await
        .map_err(|e| anyhow::anyhow!("configuring shop {} on Bazaar: {e}", ch.shop_id))?;
    Ok(())
}

// ---- the demo -------------------------------------------------------------------------------

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    /// Cairn's address, e.g. `127.0.0.1:8080` (port 0 for any).
    pub listen: String,
    /// The trades; its `shops` and `skus` are set to the demo's.
    pub trickle: TrickleConfig,
}

impl DemoOptions {
    /// About one trade every two seconds, living a realistic life (most paid within seconds,
    /// some left unpaid and closed, some refunded, some re-addressed, some shipped).
    pub fn new(data_dir: impl Into<PathBuf>, listen: impl Into<String>) -> Self {
        DemoOptions {
            data_dir: data_dir.into(),
            listen: listen.into(),
            trickle: TrickleConfig { trades_per_minute: 30.0, refund_share: 0.08, ..TrickleConfig::default() },
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
    pub cairn: Running,
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
pub async fn start(opts: DemoOptions) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(&opts.data_dir).with_context(|| format!("creating {}", opts.data_dir.display()))?;
    let cairn = crate::spawn(Config::embedded(&opts.listen, &opts.data_dir)?).await?;
    let sim = match start_sim(&opts.data_dir).await {
        Ok(sim) => sim,
        Err(e) => {
            cairn.shutdown().await;
            return Err(e);
        }
    };
    match wire(&opts, &cairn, &sim).await {
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
async fn start_sim(data_dir: &Path) -> anyhow::Result<Sim> {
    let mut memo = Memo::load(data_dir);
    let config = |port: u16| SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        state_file: Some(data_dir.join("bazaar.json")),
        app_secret: Some(memo.app_secret.clone()),
        // Trades left unpaid by an earlier run (whose trickle stopped) still close.
        pay_timeout_secs: 180.0,
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

async fn wire(opts: &DemoOptions, cairn: &Running, sim: &Sim) -> anyhow::Result<Wired> {
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
    sim.save().await?;

    let trickle = TrickleConfig {
        shops: shops.iter().map(|s| s.shop_id.clone()).collect(),
        skus: skus.clone(),
        ..opts.trickle.clone()
    };
    sim.start_trickle(trickle).await.map_err(|e| anyhow::anyhow!("starting the trickle: {e}"))?;
    Ok((token, signed_up.or(memo.tenant_id), shops, skus))
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
        s += &format!("  Cairn     {url}   (API docs {url}/docs, health {url}/healthz)\n");
        s += &format!("  log in    {DEMO_EMAIL} / {DEMO_PASSWORD}\n");
        s += &format!("  Bazaar    {sim}   (the marketplace simulator: Open API under /api/v1, admin under /admin)\n");
        s += &format!("  app       key {}  secret {}\n", self.sim.app_key(), self.sim.app_secret());
        for shop in &self.shops {
            s += &format!("  shop      {} {} → channel {}\n", shop.shop_id, shop.name, shop.channel_id);
        }
        s += &format!(
            "  catalog   {} SKUs with stock in MAIN; buyers place trades on both shops (some unpaid, some refunded, some asking for invoices)\n",
            self.skus.len()
        );
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
