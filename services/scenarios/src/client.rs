//! A small client of Cairn's public API, as the scenarios (and a seller's script) use it.

use anyhow::Context;
use bazaar_sim::{ShopUpdate, Sim};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

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

    /// GET a binary body (a PDF), as is.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ApiError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| ApiError { status: 0, code: None, detail: format!("GET {path}: {e}") })?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await.map_err(|e| ApiError { status, code: None, detail: format!("GET {path}: {e}") })?;
        if !(200..300).contains(&status) {
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ApiError {
                status,
                code: json["code"].as_str().map(str::to_owned),
                detail: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes.to_vec())
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
