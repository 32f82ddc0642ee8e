//! Test helpers on the ground floor (`shared/`): fresh PostgreSQL databases and RabbitMQ
//! namespaces per test, temp dirs, a typed client of a running Cairn's API ([`Api`]), Bazaar
//! webhook builders, and [`settle`], which waits until every consumer has handled every event.
//!
//! It depends on nothing above `shared/`: what starts a Cairn (the composed app) lives with
//! the tests of the crate that composes it (`services/cairn/tests/api/harness.rs`), which
//! wraps an [`Api`] around the running process.
//!
//! The distributed backend needs `CAIRN_TEST_PG_URL` and `CAIRN_TEST_AMQP_URL`, which
//! `cargo xtask test` sets after starting throwaway servers.

pub mod bazaar;

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::{path::PathBuf, time::Duration};
use uuid::Uuid;

/// Which real components a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + embedded bus (`cairn up`).
    Embedded,
    /// PostgreSQL + RabbitMQ (`cairn serve`).
    Distributed,
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A variable `cargo xtask test` sets; panics with how to get it when it is missing.
pub fn env_required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with `cargo xtask test`, which starts PostgreSQL and RabbitMQ")
    })
}

/// The role Cairn's services connect as in tests: it owns nothing and has neither superuser
/// nor `BYPASSRLS`, so row-level security holds for it (`cairn migrate` grants it its rights).
pub const APP_ROLE: &str = "cairn_app";

/// A fresh PostgreSQL database: the owner's URL (migrations) and the app role's.
#[derive(Debug, Clone)]
pub struct PgDatabase {
    /// The test server's admin, who creates and owns the database: migrations run as it.
    pub owner_url: String,
    /// [`APP_ROLE`] on the same database: what the services connect as.
    pub app_url: String,
}

/// Creates a fresh PostgreSQL database, and [`APP_ROLE`] if the server does not have it yet
/// (roles belong to the whole server, so every test database shares it).
pub async fn fresh_pg_database() -> PgDatabase {
    let admin = env_required("CAIRN_TEST_PG_URL");
    let name = format!("cairn_test_{}", Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(admin.as_str()).await.expect("connect to the test PostgreSQL");
    conn.execute_unprepared(&format!("create database {name}")).await.expect("create test database");
    // Tests start in parallel: the loser of a race to create the role gets one of these.
    conn.execute_unprepared(&format!(
        "do $$ begin \
           if not exists (select 1 from pg_roles where rolname = '{APP_ROLE}') then \
             create role {APP_ROLE} login nosuperuser nobypassrls nocreatedb nocreaterole; \
           end if; \
         exception when duplicate_object or unique_violation then null; end $$"
    ))
    .await
    .expect("create the app role");
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    let owner_url = format!("{base}/{name}");
    // postgres://<admin>@host:port → postgres://cairn_app@host:port (the test server trusts
    // local connections, so no password).
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let app_url = format!("{scheme}://{APP_ROLE}@{host}/{name}");
    PgDatabase { owner_url, app_url }
}

/// A fresh RabbitMQ namespace: the test broker's URL and a prefix no other test uses.
pub fn fresh_amqp() -> (String, String) {
    (env_required("CAIRN_TEST_AMQP_URL"), format!("t{}.", &Uuid::new_v4().simple().to_string()[..12]))
}

/// A client of a running Cairn's public API, with its database for assertions.
#[derive(Clone)]
pub struct Api {
    pub backend: Backend,
    pub url: String,
    pub client: reqwest::Client,
    pub db: store::Db,
    /// Every bus consumer with its topics (for [`settle`]).
    pub bindings: Vec<(&'static str, &'static [&'static str])>,
}

/// A signed-up tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub tenant_id: Uuid,
    pub token: String,
}

/// A connected Bazaar shop.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: Uuid,
    pub shop_id: String,
    pub secret: String,
    pub webhook_url: String,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Resp {
    /// Asserts a problem+json error with `code` and `status`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {:?}", self.body);
        assert_eq!(self.content_type, "application/problem+json", "content type of {:?}", self.body);
        assert_eq!(self.body["code"], code, "problem code of {:?}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["type"].is_string() && self.body["detail"].is_string());
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {:?}", self.body);
        self.body
    }
}

impl Api {
    /// A client of the Cairn at `url`.
    pub fn new(
        backend: Backend,
        url: String,
        db: store::Db,
        bindings: Vec<(&'static str, &'static [&'static str])>,
    ) -> Api {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Api { backend, url, client, db, bindings }
    }

    /// Any call.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request sent")).await
    }

    /// A call with a raw JSON body (e.g. a signed webhook) and no token.
    pub async fn call_raw(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut req =
            self.client.request(method, format!("{}{path}", self.url)).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req.body(body).send().await.expect("request sent")).await
    }

    /// POST JSON with a bearer token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body), &[]).await
    }

    /// PUT JSON with a bearer token.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body), &[]).await
    }

    /// GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// Signs up a new tenant.
    pub async fn signup(&self, name: &str) -> Tenant {
        let email = format!("{}@{}.example.com", Uuid::new_v4().simple(), name.to_lowercase().replace(' ', "-"));
        let b = self
            .call(
                Method::POST,
                "/v1/signup",
                None,
                Some(&json!({"tenant_name": name, "email": email, "password": "correct horse battery"})),
                &[],
            )
            .await
            .expect(201);
        Tenant {
            tenant_id: b["tenant_id"].as_str().unwrap().parse().unwrap(),
            token: b["access_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a SKU.
    pub async fn create_sku(&self, t: &Tenant, code: &str, safety_stock: i64) -> Value {
        self.post(
            "/v1/skus",
            &t.token,
            &json!({"code": code, "name": format!("SKU {code}"), "safety_stock": safety_stock}),
        )
        .await
        .expect(201)
    }

    /// Receives (or removes) stock in `MAIN`.
    pub async fn adjust(&self, t: &Tenant, code: &str, delta: i64) -> Value {
        self.post("/v1/stock/adjustments", &t.token, &json!({"sku_code": code, "delta": delta, "reason": "test"}))
            .await
            .expect(201)
    }

    /// The stock of a SKU.
    pub async fn stock(&self, t: &Tenant, code: &str) -> Value {
        self.get(&format!("/v1/stock/{code}"), &t.token).await.expect(200)
    }

    /// Connects a Bazaar shop.
    pub async fn connect_bazaar(&self, t: &Tenant, shop_id: &str, hold_ttl_seconds: Option<i64>) -> Channel {
        let mut body = json!({"marketplace": "bazaar", "shop_id": shop_id, "name": format!("Shop {shop_id}")});
        if let Some(ttl) = hold_ttl_seconds {
            body["hold_ttl_seconds"] = json!(ttl);
        }
        let b = self.post("/v1/channels", &t.token, &body).await.expect(201);
        Channel {
            id: b["id"].as_str().unwrap().parse().unwrap(),
            shop_id: shop_id.to_owned(),
            secret: b["webhook_secret"].as_str().unwrap().to_owned(),
            webhook_url: b["webhook_url"].as_str().unwrap().to_owned(),
        }
    }

    /// Delivers a correctly signed webhook for `message`.
    pub async fn post_webhook(&self, ch: &Channel, message_id: &str, message: &Value) -> Resp {
        let body = serde_json::to_vec(message).unwrap();
        let ts = chrono::Utc::now().timestamp();
        let sig = bazaar::sign(&ch.secret, ts, &body);
        self.post_webhook_raw(ch, message["topic"].as_str().unwrap_or("trade.TradeChanged"), message_id, ts, &sig, body)
            .await
    }

    /// Delivers a webhook with explicit headers and body.
    pub async fn post_webhook_raw(
        &self,
        ch: &Channel,
        topic: &str,
        message_id: &str,
        ts: i64,
        signature: &str,
        body: Vec<u8>,
    ) -> Resp {
        let req = self
            .client
            .post(format!("{}/v1/webhooks/bazaar/{}", self.url, ch.id))
            .header("content-type", "application/json")
            .header("X-Bazaar-Topic", topic)
            .header("X-Bazaar-Message-Id", message_id)
            .header("X-Bazaar-Timestamp", ts.to_string())
            .header("X-Bazaar-Signature", signature)
            .header("X-Bazaar-Shop-Id", &ch.shop_id)
            .body(body);
        read(req.send().await.expect("webhook sent")).await
    }

    /// Finds the order of a marketplace trade id.
    pub async fn order_by_tid(&self, t: &Tenant, tid: &str) -> Option<Value> {
        let page = self.get(&format!("/v1/orders?external_id={tid}"), &t.token).await.expect(200);
        page["items"].as_array().and_then(|a| a.first().cloned())
    }

    /// Waits until every consumer has handled every event addressed to it.
    pub async fn settle(&self) {
        settle(&self.db, &self.bindings).await
    }

    /// Runs a SQL query returning one i64.
    pub async fn scalar(&self, sql: &str) -> i64 {
        scalar(&self.db, sql).await
    }
}

async fn read(r: reqwest::Response) -> Resp {
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    let bytes = r.bytes().await.unwrap_or_default();
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Resp { status, content_type, body }
}

/// Waits until every consumer has handled every event addressed to it (counted exactly: on
/// RabbitMQ one inbox row per consumer per outbox event of a topic it binds, on the embedded
/// bus the events at or before its cursor; see `bus::embedded::progress`), and the counts hold
/// still.
pub async fn settle(db: &store::Db, bindings: &[(&'static str, &'static [&'static str])]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let mut last = Vec::new();
    loop {
        let mut state = Vec::new();
        for (consumer, topics) in bindings {
            let (sent, done) = bus::embedded::progress(db, consumer, topics).await.unwrap();
            state.push((*consumer, sent, done));
        }
        if state.iter().all(|(_, s, d)| s == d) {
            if state == last {
                return;
            }
        } else if std::time::Instant::now() > deadline {
            panic!("pipeline did not settle: {state:?}");
        }
        last = state;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// SQL that counts stock levels which differ from the fold of their ledger (must be 0).
pub const LEDGER_MISMATCHES: &str = "select count(*) from stock_levels l left join (select tenant_id, sku_id, warehouse_id, sum(on_hand_delta) as oh, sum(reserved_delta) as r from stock_ledger group by tenant_id, sku_id, warehouse_id) g on g.tenant_id = l.tenant_id and g.sku_id = l.sku_id and g.warehouse_id = l.warehouse_id where coalesce(g.oh, 0) <> l.on_hand or coalesce(g.r, 0) <> l.reserved";

/// Runs a SQL query returning one i64 (e.g. a count).
pub async fn scalar(db: &store::Db, sql: &str) -> i64 {
    // Tests look at every tenant's rows.
    let row = db
        .system()
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(db.backend(), sql.to_owned()))
        .await
        .unwrap()
        .expect("one row");
    row.try_get_by_index::<i64>(0).unwrap()
}
