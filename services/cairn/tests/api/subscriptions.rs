//! Event subscriptions: Standard Webhooks deliveries, at least once through a receiver's
//! outage, redelivery, replay, and disabling after three days of failures.

use crate::harness::TestApp;
use base64::{Engine, engine::general_purpose::STANDARD};
use bazaar_sim::{NewLine, NewTrade, SimConfig};
use hmac::{Hmac, KeyInit, Mac};
use poem::{EndpointExt, listener::Acceptor, listener::Listener};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

impl Got {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A webhook receiver on a free port: records what it gets; answers 503 while `down`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<Mutex<Vec<Got>>>,
    down: Arc<AtomicBool>,
    /// Milliseconds each answer takes.
    pub(crate) delay_ms: Arc<std::sync::atomic::AtomicU64>,
}

pub(crate) async fn receiver() -> Receiver {
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let down: Arc<AtomicBool> = Arc::default();
    let delay_ms: Arc<std::sync::atomic::AtomicU64> = Arc::default();
    let (g, d, w) = (got.clone(), down.clone(), delay_ms.clone());
    let ep = poem::endpoint::make(move |req: poem::Request| {
        let (g, d, w) = (g.clone(), d.clone(), w.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(w.load(Ordering::SeqCst))).await;
            if d.load(Ordering::SeqCst) {
                return poem::http::StatusCode::SERVICE_UNAVAILABLE;
            }
            let h = |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
            let body = req.into_body().into_string().await.unwrap();
            g.lock().unwrap().push(Got { id, timestamp: ts.parse().unwrap_or(0), signature: sig, body });
            poem::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(ep.map_to_response()).await });
    Receiver { url: format!("http://{addr}/hooks"), got, down, delay_ms }
}

/// Verifies a Standard Webhooks signature.
fn verify(secret: &str, g: &Got) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", g.id, g.timestamp, g.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    g.signature.split(' ').any(|s| s == expected)
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "after 30 s still not: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_type(r: &Receiver, ty: &str) -> Vec<Got> {
    r.got.lock().unwrap().iter().filter(|g| g.json()["type"] == ty).cloned().collect()
}

async fn a_subscription_gets_every_event_signed_through_an_outage(app: TestApp) {
    let rx = receiver().await;
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let t = app.signup("订阅").await;
    let other = app.signup("Other").await;
    app.create_sku(&t, "TEE", 0).await;
    app.adjust(&t, "TEE", 10).await;
    app.settle().await;
    let body = json!({"url": rx.url, "event_types": ["order.paid", "stock.level_changed"], "description": "ERP"});
    let created = app.post("/v1/subscriptions", &t.token, &body).await.expect(201);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = created["subscription"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["subscription"]["status"], "active");
    // Bad input changes nothing; the same URL twice is refused; another tenant sees nothing.
    app.post("/v1/subscriptions", &t.token, &json!({"url": rx.url, "event_types": ["order.nope"]}))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/v1/subscriptions", &t.token, &json!({"url": "ftp://example.com/x", "event_types": ["order.paid"]}))
        .await
        .assert_problem(400, "invalid_input");
    app.post("/v1/subscriptions", &t.token, &body).await.assert_problem(409, "already_exists");
    app.get(&format!("/v1/subscriptions/{id}"), &other.token).await.assert_problem(404, "not_found");
    assert_eq!(app.get("/v1/subscriptions", &other.token).await.expect(200)["subscriptions"], json!([]));
    assert_eq!(app.scalar("select count(*) from event_subscriptions").await, 1);
    // A paid order is delivered as order.paid, signed.
    let shop = "shop-subs";
    crate::reconcile::connect(&app, &sim, &t, shop, None).await;
    let trade = sim
        .create_trade(NewTrade::new(shop, vec![NewLine { price: Some("59.00".into()), ..NewLine::new("TEE", 1) }]))
        .await
        .unwrap();
    sim.pay(&trade.tid).await.unwrap();
    wait_for("order.paid delivered", || !of_type(&rx, "order.paid").is_empty()).await;
    let paid = of_type(&rx, "order.paid")[0].clone();
    assert!(verify(&secret, &paid), "signature of {paid:?}");
    assert!(paid.id.starts_with("msg_"));
    assert!((paid.timestamp - chrono::Utc::now().timestamp()).abs() < 600);
    let p = paid.json();
    assert_eq!(p["tenant_id"], t.tenant_id.to_string());
    assert_eq!(p["data"]["external_id"], trade.tid.as_str());
    assert!(!verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &paid));
    // The receiver goes down: three stock changes wait, retried with backoff, none lost.
    rx.down.store(true, Ordering::SeqCst);
    let before = of_type(&rx, "stock.level_changed").len();
    for _ in 0..3 {
        app.adjust(&t, "TEE", 1).await;
    }
    app.settle().await;
    let path = format!("/v1/subscriptions/{id}/deliveries?status=pending");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = app.get(&path, &t.token).await.expect(200);
        let tried: Vec<&Value> =
            pending["deliveries"].as_array().unwrap().iter().filter(|d| d["last_status_code"] == 503).collect();
        if tried.len() >= 3 {
            assert!(
                tried.iter().all(|d| d["next_attempt_at"].is_string() && d["attempt_log"][0]["status_code"] == 503)
            );
            break;
        }
        assert!(Instant::now() < deadline, "the failed attempts were not recorded: {pending}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failing = app.get(&format!("/v1/subscriptions/{id}"), &t.token).await.expect(200);
    assert!(failing["failing_since"].is_string(), "{failing}");
    rx.down.store(false, Ordering::SeqCst);
    // Nothing goes out before the backoff is over; moving the clock past it sends all.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(of_type(&rx, "stock.level_changed").len(), before);
    app.clock.advance(chrono::Duration::seconds(40));
    wait_for("the waiting stock changes delivered", || of_type(&rx, "stock.level_changed").len() >= before + 3).await;
    let stock: Vec<Got> = of_type(&rx, "stock.level_changed");
    let mut events: Vec<String> = stock.iter().map(|g| g.json()["event_id"].as_str().unwrap().to_owned()).collect();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), stock.len(), "each stock change once so far");
    assert!(stock.iter().all(|g| verify(&secret, g)));
    let on_hand: Vec<i64> = stock.iter().map(|g| g.json()["data"]["on_hand"].as_i64().unwrap_or(-1)).collect();
    assert!(on_hand.contains(&13), "the last change arrived: {on_hand:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = app.get(&format!("/v1/subscriptions/{id}"), &t.token).await.expect(200);
        if healthy["failing_since"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "still failing: {healthy}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Redeliver one: the same webhook-id again. Replay a range: all of it again.
    let list = app.get(&format!("/v1/subscriptions/{id}/deliveries?status=delivered"), &t.token).await.expect(200);
    let one = list["deliveries"][0].clone();
    assert!(one["attempts"].as_i64().unwrap() >= 1 && one["delivered_at"].is_string(), "{one}");
    let n = rx.got.lock().unwrap().len();
    let again = app
        .post(
            &format!("/v1/subscriptions/{id}/deliveries/{}/redeliver", one["id"].as_str().unwrap()),
            &t.token,
            &json!({}),
        )
        .await
        .expect(202);
    assert_eq!(again["status"], "pending");
    wait_for("redelivered", || rx.got.lock().unwrap().len() > n).await;
    let last = rx.got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.id, format!("msg_{}", one["id"].as_str().unwrap().replace('-', "")));
    let n = rx.got.lock().unwrap().len();
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let until = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let replay = app
        .post(&format!("/v1/subscriptions/{id}/replay"), &t.token, &json!({"since": since, "until": until}))
        .await
        .expect(202);
    let requeued = replay["requeued"].as_u64().unwrap() as usize;
    assert!(requeued >= 4, "{replay}");
    wait_for("replayed", || rx.got.lock().unwrap().len() >= n + requeued).await;
    app.post(&format!("/v1/subscriptions/{id}/replay"), &t.token, &json!({"since": until, "until": since}))
        .await
        .assert_problem(400, "invalid_input");
    // Another tenant cannot touch it.
    app.call(Method::DELETE, &format!("/v1/subscriptions/{id}"), Some(&other.token), None, &[])
        .await
        .assert_problem(404, "not_found");
    let r = app.call(Method::DELETE, &format!("/v1/subscriptions/{id}"), Some(&t.token), None, &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(app.get("/v1/subscriptions", &t.token).await.expect(200)["subscriptions"], json!([]));
    app.shutdown().await;
}
both!(a_subscription_gets_every_event_signed_through_an_outage);

async fn login_token(app: &TestApp, login: &Value) -> String {
    let t = app.call(Method::POST, "/v1/auth/token", None, Some(login), &[]).await.expect(200);
    t["access_token"].as_str().unwrap().to_owned()
}

async fn a_subscription_failing_for_three_days_is_disabled_and_can_be_enabled(app: TestApp) {
    let rx = receiver().await;
    rx.down.store(true, Ordering::SeqCst);
    let email = format!("{}@subs.example.com", uuid::Uuid::new_v4().simple());
    let login = json!({"email": email, "password": "correct horse battery"});
    let signup = json!({"tenant_name": "Subs", "email": email, "password": "correct horse battery"});
    app.call(Method::POST, "/v1/signup", None, Some(&signup), &[]).await.expect(201);
    let tok = login_token(&app, &login).await;
    app.post("/v1/skus", &tok, &json!({"code": "CAP", "name": "Cap"})).await.expect(201);
    let body = json!({"url": rx.url, "event_types": ["stock.level_changed"]});
    let id =
        app.post("/v1/subscriptions", &tok, &body).await.expect(201)["subscription"]["id"].as_str().unwrap().to_owned();
    app.post("/v1/stock/adjustments", &tok, &json!({"sku_code": "CAP", "delta": 5, "reason": "in"})).await.expect(201);
    let sub = format!("/v1/subscriptions/{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tok = tok;
    // Every 8 hours (the longest backoff) the attempt fails, until three days have passed.
    for _ in 0..12 {
        loop {
            let s = app.get(&sub, &tok).await.expect(200);
            if s["failing_since"].is_string() {
                break;
            }
            assert!(Instant::now() < deadline, "no failure recorded: {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let attempts = app.scalar("select count(*) from event_delivery_attempts").await;
        app.clock.advance(chrono::Duration::hours(7));
        tok = login_token(&app, &login).await;
        let s = app.get(&sub, &tok).await.expect(200);
        if s["status"] == "disabled" {
            break;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.scalar("select count(*) from event_delivery_attempts").await == attempts {
            let s = app.get(&sub, &tok).await.expect(200);
            if s["status"] == "disabled" {
                break;
            }
            app.clock.advance(chrono::Duration::hours(1));
            assert!(Instant::now() < deadline, "no new attempt");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let disabled = app.get(&sub, &tok).await.expect(200);
    assert_eq!(disabled["status"], "disabled", "{disabled}");
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("3 days"), "{disabled}");
    assert!(rx.got.lock().unwrap().is_empty());
    // Enabled again with the receiver back: what waited goes out.
    rx.down.store(false, Ordering::SeqCst);
    let enable = json!({"url": rx.url, "event_types": ["stock.level_changed"], "enabled": true});
    let s = app.put(&sub, &tok, &enable).await.expect(200);
    assert_eq!(s["status"], "active");
    assert!(s["failing_since"].is_null() && s["disabled_reason"].is_null());
    wait_for("the waiting delivery went out", || !rx.got.lock().unwrap().is_empty()).await;
    app.shutdown().await;
}
both!(a_subscription_failing_for_three_days_is_disabled_and_can_be_enabled);
