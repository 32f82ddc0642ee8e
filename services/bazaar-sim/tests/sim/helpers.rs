//! A tiny "Cairn" for the simulator to push to, a signed Open API client, and a spawner.

use base64::Engine as _;
use bazaar_sim::{CourierSeller, NewItem, NewShop, Shop, Sim, SimConfig, TradeSnapshot, api_sign, spawn};
use hmac::{KeyInit, Mac};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Request, Route, handler, post};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const SECRET: &str = "whsec_test";
pub const SHOP: &str = "shop-8848";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or_default()
    }
    /// `X-Bazaar-Message-Id`, or `X-Courier-Message-Id` for a tracking push.
    pub fn message_id(&self) -> &str {
        match self.header("X-Bazaar-Message-Id") {
            "" => self.header("X-Courier-Message-Id"),
            id => id,
        }
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook bodies are JSON")
    }
    pub fn trade(&self) -> TradeSnapshot {
        serde_json::from_value(self.json()["trade"].clone()).expect("the trade parses")
    }
    pub fn topic(&self) -> String {
        self.json()["topic"].as_str().unwrap_or_default().to_owned()
    }
    /// Verifies `X-Bazaar-Signature` with HMAC written here, not the simulator's signer.
    pub fn signature_ok(&self, secret: &str) -> bool {
        self.signed_with(secret, "X-Bazaar-Timestamp", "X-Bazaar-Signature")
    }
    /// Verifies a tracking push's `X-Courier-Signature` the same way.
    pub fn courier_signature_ok(&self, secret: &str) -> bool {
        self.signed_with(secret, "X-Courier-Timestamp", "X-Courier-Signature")
    }
    fn signed_with(&self, secret: &str, timestamp: &str, signature: &str) -> bool {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{}.", self.header(timestamp)).as_bytes());
        mac.update(&self.body);
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(self.header(signature)) else {
            return false;
        };
        mac.verify_slice(&sig).is_ok()
    }
}

/// How the receiver answers: given the request and how many times this message id came before
/// (0 the first time), a status and how long to wait before answering.
pub type Behaviour = Arc<dyn Fn(&Received, usize) -> (u16, Duration) + Send + Sync>;

struct RecvState {
    log: Mutex<Vec<Received>>,
    count: watch::Sender<usize>,
    behaviour: Behaviour,
}

/// An HTTP server on 127.0.0.1 playing Cairn's webhook endpoint.
pub struct Receiver {
    pub url: String,
    state: Arc<RecvState>,
}

#[handler]
async fn receive(req: &Request, body: Vec<u8>, Data(state): Data<&Arc<RecvState>>) -> StatusCode {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let r = Received { headers, body, at: Instant::now() };
    // Logged on arrival (before any delay), so a retry that overtakes a slow answer counts.
    let (status, delay) = {
        let mut log = state.log.lock().unwrap();
        let seen = log.iter().filter(|x| x.message_id() == r.message_id()).count();
        let answer = (state.behaviour)(&r, seen);
        log.push(r);
        answer
    };
    state.count.send_modify(|c| *c += 1);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let state = Arc::new(RecvState { log: Mutex::default(), count: watch::Sender::new(0), behaviour });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/bazaar", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let app = Route::new().at("/webhooks/bazaar", post(receive)).data(Arc::clone(&state));
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Receiver { url, state }
    }

    /// Answers 200 at once.
    pub async fn ok() -> Receiver {
        Receiver::start(Arc::new(|_, _| (200, Duration::ZERO))).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.log.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let mut rx = self.state.count.subscribe();
        let got = tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n)).await;
        assert!(got.is_ok(), "expected {n} requests within {timeout:?}, got {}", self.received().len());
        self.received()
    }
}

/// A simulator with one shop connected to a receiver, and the shop's signed client.
pub struct TestSim {
    pub sim: Sim,
    pub receiver: Receiver,
    pub api: Client,
}

pub async fn spawn_sim() -> TestSim {
    spawn_with(SimConfig::ephemeral(), Arc::new(|_, _| (200, Duration::ZERO))).await
}

pub async fn spawn_with(config: SimConfig, behaviour: Behaviour) -> TestSim {
    let receiver = Receiver::start(behaviour).await;
    let sim = spawn(config).await.expect("the simulator starts");
    let shop = sim
        .create_shop(NewShop {
            shop_id: Some(SHOP.into()),
            webhook_url: Some(receiver.url.clone()),
            webhook_secret: Some(SECRET.into()),
            ..NewShop::default()
        })
        .await
        .unwrap();
    for (sku, title, price) in [
        ("TEE-RED-M", "纯棉T恤 红色 M", "209.00"),
        ("CUP-SLV", "真空保温杯 500ml 银色", "89.00"),
        ("NUT", "每日坚果礼盒 750g", "139.00"),
    ] {
        sim.upsert_item(NewItem {
            shop_id: SHOP.into(),
            outer_sku_id: sku.into(),
            title: Some(title.into()),
            price: price.into(),
            quantity: Some(100),
            merchant_code: None,
        })
        .await
        .unwrap();
    }
    let api = Client::new(&sim, &shop);
    TestSim { sim, receiver, api }
}

/// An Open API answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }
}

/// A signed Open API client, as Cairn's connector would be; fields are public so tests can
/// spoil one thing at a time.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub app_key: String,
    pub app_secret: String,
    pub token: String,
    /// Seconds added to the clock when signing.
    pub skew: i64,
    /// Sign with this instead of the right signature.
    pub forced_sign: Option<String>,
    /// `/api/v1` (Bazaar) or `/courier/v1`.
    pub prefix: &'static str,
    /// Give up waiting for an answer after this long.
    pub timeout: Option<Duration>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(sim: &Sim, shop: &Shop) -> Client {
        Client {
            base: sim.url(),
            app_key: shop.app_key.clone(),
            app_secret: shop.app_secret.clone(),
            token: shop.access_token.clone(),
            skew: 0,
            forced_sign: None,
            prefix: "/api/v1",
            timeout: None,
            http: reqwest::Client::new(),
        }
    }

    /// A Courier seller's client: the simulator's app, the seller's token.
    pub fn courier(sim: &Sim, seller: &CourierSeller) -> Client {
        Client {
            base: sim.url(),
            app_key: sim.app_key().to_owned(),
            app_secret: sim.app_secret().to_owned(),
            token: seller.access_token.clone(),
            skew: 0,
            forced_sign: None,
            prefix: "/courier/v1",
            timeout: None,
            http: reqwest::Client::new(),
        }
    }

    /// A call that may get no answer in time (`None` then).
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: Option<Value>,
    ) -> Option<Answer> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let timestamp = (chrono::Utc::now().timestamp() + self.skew).to_string();
        let mut query: Vec<(&str, &str)> = params.to_vec();
        query.extend([
            ("app_key", self.app_key.as_str()),
            ("timestamp", timestamp.as_str()),
            ("sign_method", "hmac-sha256"),
        ]);
        let sign = self.forced_sign.clone().unwrap_or_else(|| api_sign(&self.app_secret, &query, &body));
        query.push(("sign", &sign));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{}{path}", self.base, self.prefix))
            .query(&query)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = self.timeout {
            request = request.timeout(t);
        }
        let resp = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return None,
            Err(e) => panic!("the simulator answers: {e}"),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some(Answer { status, headers, json })
    }

    pub async fn call(&self, method: &str, path: &str, params: &[(&str, &str)], body: Option<Value>) -> Answer {
        self.try_call(method, path, params, body).await.expect("the simulator answers in time")
    }

    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Answer {
        self.call("GET", path, params, None).await
    }
}

/// Parses a BAZAAR.md time.
pub fn time(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("`{s}` is not RFC 3339: {e}"))
}

/// "209.00" → 20900.
pub fn fen(s: &str) -> i64 {
    let (y, f) = s.split_once('.').expect("2 decimals");
    assert_eq!(f.len(), 2, "`{s}` has 2 decimals");
    y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
}
