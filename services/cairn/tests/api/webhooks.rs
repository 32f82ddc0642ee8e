use crate::harness::TestApp;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};
use testkit::{
    LEDGER_MISMATCHES,
    bazaar::{Trade, sign},
};

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn a_signed_webhook_becomes_an_order_with_reserved_stock(app: TestApp) {
    let t = app.signup("Flagship").await;
    app.create_sku(&t, "TEE-RED-M", 2).await;
    app.adjust(&t, "TEE-RED-M", 10).await;
    let ch = app.connect_bazaar(&t, "shop-8848", None).await;
    assert!(ch.webhook_url.ends_with(&format!("/v1/webhooks/bazaar/{}", ch.id)));
    // Connecting the same shop again is the first result; different settings or a marketplace
    // we do not speak are refused, and nothing new is stored.
    let again = app.connect_bazaar(&t, "shop-8848", None).await;
    assert_eq!((again.id, again.secret.as_str()), (ch.id, ch.secret.as_str()));
    app.post("/v1/channels", &t.token, &json!({"marketplace": "bazaar", "shop_id": "shop-8848", "name": "Renamed"}))
        .await
        .assert_problem(409, "already_exists");
    // Not a marketplace the spec names (`marketplace` picks the body's shape).
    app.post("/v1/channels", &t.token, &json!({"marketplace": "amazon", "shop_id": "s-2", "name": "X"}))
        .await
        .assert_problem(400, "malformed_request");
    app.post(
        "/v1/channels",
        &t.token,
        &json!({"marketplace": "bazaar", "shop_id": "s-3", "name": "X", "hold_ttl_seconds": 5}),
    )
    .await
    .assert_problem(400, "malformed_request");
    assert_eq!(app.scalar("select count(*) from channels").await, 1);
    let trade = Trade::new("shop-8848", "T2026111100000001", chrono::Utc::now(), "TEE-RED-M", 2);
    let sync = format!("/v1/channels/{}/sync", ch.id);
    assert_eq!(app.get(&sync, &t.token).await.expect(200)["last_webhook_at"], json!(null));

    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = app.post_webhook(&ch, "m-1", &trade.created_msg()).await.expect(200);
    assert_eq!(r["status"], "accepted");
    let last = app.get(&sync, &t.token).await.expect(200)["last_webhook_at"].clone();
    let last: chrono::DateTime<chrono::Utc> = last.as_str().expect("the webhook's time").parse().unwrap();
    assert!(last >= before, "{last}");
    app.settle().await;
    let o = app.order_by_tid(&t, &trade.tid).await.expect("order exists");
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["lines"][0]["reservation_state"], "held");
    assert_eq!(app.stock(&t, "TEE-RED-M").await["available"], 6);

    app.post_webhook(&ch, "m-2", &trade.paid_msg(3005)).await.expect(200);
    assert_eq!(app.post_webhook(&ch, "m-2", &trade.paid_msg(3005)).await.expect(200)["status"], "duplicate");
    app.settle().await;
    let o = app.order_by_tid(&t, &trade.tid).await.unwrap();
    assert_eq!(o["status"], "allocated");
    assert_eq!(o["lines"][0]["reservation_state"], "confirmed");
    assert_eq!(o["payment"], "198.00");
    let detail = app.get(&format!("/v1/orders/{}", o["id"].as_str().unwrap()), &t.token).await.expect(200);
    let timeline: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert!(timeline.iter().any(|d| d.contains("pending_payment → paid")), "{timeline:?}");
    assert!(timeline.iter().any(|d| d.contains("held → confirmed")), "{timeline:?}");
    let s = app.stock(&t, "TEE-RED-M").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(10), Some(2)));
    assert_eq!(app.get("/v1/orders?status=allocated", &t.token).await.expect(200)["total"], 1);
    assert_eq!(app.get("/v1/orders?status=cancelled", &t.token).await.expect(200)["total"], 0);
    app.get("/v1/orders?status=lost", &t.token).await.assert_problem(400, "invalid_input");

    // The trade is closed after payment: the stock comes back.
    app.post_webhook(&ch, "m-3", &trade.closed_msg(3005, 60_000)).await.expect(200);
    app.settle().await;
    let o = app.order_by_tid(&t, &trade.tid).await.unwrap();
    assert_eq!(o["status"], "cancelled");
    assert_eq!(o["lines"][0]["reservation_state"], "released");
    assert_eq!(app.stock(&t, "TEE-RED-M").await["reserved"], 0);
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(a_signed_webhook_becomes_an_order_with_reserved_stock);

async fn bad_webhooks_get_problems_and_change_nothing(app: TestApp) {
    let t = app.signup("Guarded").await;
    app.create_sku(&t, "TEE", 0).await;
    let ch = app.connect_bazaar(&t, "shop-1", None).await;
    let trade = Trade::new("shop-1", "T1", chrono::Utc::now(), "TEE", 1);
    let body = serde_json::to_vec(&trade.paid_msg(1000)).unwrap();
    let now = chrono::Utc::now().timestamp();
    let topic = "trade.TradeBuyerPay";

    app.post_webhook_raw(&ch, topic, "m1", now, "bm90IHRoZSBzaWduYXR1cmU=", body.clone())
        .await
        .assert_problem(401, "invalid_signature");
    app.post_webhook_raw(&ch, topic, "m1", now, &sign("another secret", now, &body), body.clone())
        .await
        .assert_problem(401, "invalid_signature");
    // Well outside the 300 s window, so a slow test run cannot bring them back inside it.
    for skew in [360, -360] {
        let ts = now + skew;
        app.post_webhook_raw(&ch, topic, "m1", ts, &sign(&ch.secret, ts, &body), body.clone())
            .await
            .assert_problem(401, "stale_timestamp");
    }
    let malformed = b"{\"topic\": \"trade.TradeBuyerPay\", \"shop_id\": ".to_vec();
    app.post_webhook_raw(&ch, topic, "m1", now, &sign(&ch.secret, now, &malformed), malformed)
        .await
        .assert_problem(400, "malformed_request");
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)).into_bytes();
    app.post_webhook_raw(&ch, topic, "m1", now, &sign(&ch.secret, now, &huge), huge)
        .await
        .assert_problem(413, "payload_too_large");
    let mut unknown = ch.clone();
    unknown.id = uuid::Uuid::now_v7();
    app.post_webhook_raw(&unknown, topic, "m1", now, &sign(&ch.secret, now, &body), body.clone())
        .await
        .assert_problem(404, "not_found");
    let mut wrong_shop = ch.clone();
    wrong_shop.shop_id = "shop-2".into();
    app.post_webhook_raw(&wrong_shop, topic, "m1", now, &sign(&ch.secret, now, &body), body.clone())
        .await
        .assert_problem(400, "invalid_input");
    let mut bad_trade = trade.paid_msg(1000);
    bad_trade["trade"]["orders"][0]["num"] = json!(0);
    let bad = serde_json::to_vec(&bad_trade).unwrap();
    app.post_webhook_raw(&ch, topic, "m1", now, &sign(&ch.secret, now, &bad), bad)
        .await
        .assert_problem(400, "invalid_input");

    assert_eq!(app.scalar("select count(*) from webhook_messages").await, 0, "nothing stored");
    // (Creating the SKU announced its level; nothing else may be there.)
    let published = "select count(*) from outbox where kind <> 'stock.level_changed'";
    assert_eq!(app.scalar(published).await, 0, "nothing published");
    assert_eq!(app.get("/v1/orders", &t.token).await.expect(200)["total"], 0);
    // The same message, correctly signed, is accepted: the checks above were the only obstacle.
    app.post_webhook_raw(&ch, topic, "m1", now, &sign(&ch.secret, now, &body), body).await.expect(200);
    app.settle().await;
    assert_eq!(app.get("/v1/orders", &t.token).await.expect(200)["total"], 1);
    app.shutdown().await;
}
both!(bad_webhooks_get_problems_and_change_nothing);

/// The snapshots one trade goes through.
fn script(trade: &Trade, kind: u64) -> Vec<Value> {
    match kind {
        0 => vec![trade.created_msg(), trade.paid_msg(2_000)],
        1 => vec![trade.created_msg()],
        2 => vec![trade.created_msg(), trade.paid_msg(2_000), trade.closed_msg(2_000, 9_000)],
        _ => vec![trade.paid_msg(1_500)],
    }
}

/// Per trade: (status, line states), and the stock.
async fn end_state(app: &TestApp, t: &testkit::Tenant) -> (BTreeMap<String, (String, Vec<String>)>, Value) {
    let page = app.get("/v1/orders?per_page=500", &t.token).await.expect(200);
    let orders = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let lines = o["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["reservation_state"].as_str().unwrap_or("none").to_owned())
                .collect();
            (o["external_id"].as_str().unwrap().to_owned(), (o["status"].as_str().unwrap().to_owned(), lines))
        })
        .collect();
    let mut stock = app.stock(t, "HOODIE").await;
    stock["sku_code"] = json!("HOODIE");
    (orders, stock)
}

/// A clean seller and a second one (`other`), each with HOODIE stock and a shop; `n` trades
/// of random scripts, delivered to the clean seller's shop once each, in order. Returns the two
/// sellers, their shops and the trades (the second seller's deliveries are the test's).
async fn clean_and_other(
    app: &TestApp,
    other: &str,
    n: usize,
    rng: &mut Lcg,
) -> ([testkit::Tenant; 2], Vec<testkit::Channel>, Vec<(String, u64)>, chrono::DateTime<chrono::Utc>) {
    let clean = app.signup("Clean").await;
    let other = app.signup(other).await;
    let mut chans = Vec::new();
    for (i, t) in [&clean, &other].into_iter().enumerate() {
        app.create_sku(t, "HOODIE", 3).await;
        app.adjust(t, "HOODIE", 500).await;
        chans.push(app.connect_bazaar(t, &format!("shop-{i}"), None).await);
    }
    let start = chrono::Utc::now();
    let trades: Vec<(String, u64)> = (0..n).map(|i| (format!("T{i:04}"), rng.below(4))).collect();
    for (tid, kind) in &trades {
        for (n, msg) in
            script(&Trade::new("shop-0", tid, start, "HOODIE", 1 + (n_of(tid) % 3)), *kind).into_iter().enumerate()
        {
            app.post_webhook(&chans[0], &format!("{tid}-{n}"), &msg).await.expect(200);
        }
    }
    ([clean, other], chans, trades, start)
}

async fn duplicated_and_reordered_delivery_ends_like_a_clean_one(app: TestApp) {
    let mut rng = Lcg(7);
    let ([clean, chaos], chans, trades, start) = clean_and_other(&app, "Chaos", 60, &mut rng).await;
    // Chaos: every message twice; 20% of trades deliver their snapshots newest first.
    let mut deliveries = Vec::new();
    for (tid, kind) in &trades {
        let mut msgs: Vec<(String, Value)> =
            script(&Trade::new("shop-1", tid, start, "HOODIE", 1 + (n_of(tid) % 3)), *kind)
                .into_iter()
                .enumerate()
                .map(|(n, m)| (format!("{tid}-{n}"), m))
                .collect();
        if rng.below(5) == 0 {
            msgs.reverse();
        }
        for m in msgs {
            deliveries.push(m.clone());
            deliveries.push(m);
        }
    }
    for (id, msg) in &deliveries {
        app.post_webhook(&chans[1], id, msg).await.expect(200);
    }
    app.settle().await;
    let (a, sa) = end_state(&app, &clean).await;
    let (b, sb) = end_state(&app, &chaos).await;
    assert_eq!(a.len(), 60);
    assert_eq!(a, b, "same orders, statuses and line states");
    assert_eq!(sa, sb, "same stock");
    assert!(
        a.values().any(|(s, _)| s == "cancelled")
            && a.values().any(|(s, _)| s == "allocated")
            && a.values().any(|(s, _)| s == "pending_payment")
    );
    assert_eq!(
        app.scalar("select count(*) from webhook_messages").await,
        (trades.iter().map(|(_, k)| script(&Trade::new("s", "t", start, "x", 1), *k).len() as i64).sum::<i64>()) * 2
    );
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(duplicated_and_reordered_delivery_ends_like_a_clean_one);

/// Every version of a trade and its duplicates arrive at once, so the embedded ingest stores
/// several of them in one group (one statement per round): the outcome must be the one of
/// storing them one by one — each message accepted once, the newest version wins, the same
/// orders and stock as a clean delivery.
async fn concurrent_versions_and_duplicates_end_like_a_clean_delivery(app: TestApp) {
    let mut rng = Lcg(11);
    let ([clean, burst], chans, trades, start) = clean_and_other(&app, "Burst", 40, &mut rng).await;
    // Each message three times, shuffled, 48 in flight.
    let mut deliveries = Vec::new();
    for (tid, kind) in &trades {
        for (n, m) in
            script(&Trade::new("shop-1", tid, start, "HOODIE", 1 + (n_of(tid) % 3)), *kind).into_iter().enumerate()
        {
            for _ in 0..3 {
                deliveries.push((format!("{tid}-{n}"), m.clone()));
            }
        }
    }
    for i in (1..deliveries.len()).rev() {
        deliveries.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let (ch, app_ref) = (&chans[1], &app);
    let answers: Vec<(String, String)> = stream::iter(deliveries.iter())
        .map(|(id, msg)| async move {
            let app = app_ref;
            (id.clone(), app.post_webhook(ch, id, msg).await.expect(200)["status"].as_str().unwrap().to_owned())
        })
        .buffer_unordered(48)
        .collect()
        .await;
    let mut accepted: HashMap<String, usize> = HashMap::new();
    for (id, status) in &answers {
        *accepted.entry(id.clone()).or_default() += usize::from(status == "accepted");
        assert!(status == "accepted" || status == "duplicate", "{status}");
    }
    assert!(accepted.values().all(|n| *n == 1), "each message accepted exactly once: {accepted:?}");
    app.settle().await;
    let (a, sa) = end_state(&app, &clean).await;
    let (b, sb) = end_state(&app, &burst).await;
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "same orders, statuses and line states");
    assert_eq!(sa, sb, "same stock");
    let per_shop = deliveries.len() as i64 / 3;
    assert_eq!(app.scalar("select count(*) from webhook_messages").await, 2 * per_shop);
    // Newer wins: a trade sends a version on to orders at most once per version.
    assert!(app.scalar("select count(*) from outbox where kind = 'channel.trade_received'").await <= 2 * per_shop);
    // ... and only a version newer than every one sent before it.
    use sea_orm::ConnectionTrait;
    let sent = app
        .db
        .system()
        .conn()
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.backend(),
            "select envelope from outbox where kind = 'channel.trade_received' order by seq",
        ))
        .await
        .unwrap();
    let mut last: HashMap<(String, String), String> = HashMap::new();
    for row in sent {
        let env: Value = serde_json::from_str(&row.try_get::<String>("", "envelope").unwrap()).unwrap();
        let (tenant, trade) = (env["tenant_id"].to_string(), &env["payload"]["trade"]);
        let modified = trade["modified"].as_str().unwrap().to_owned();
        if let Some(before) = last.insert((tenant, trade["external_id"].to_string()), modified.clone()) {
            let (b, m) = (
                before.parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
                modified.parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
            );
            assert!(m > b, "{} sent on {modified} after {before}", trade["external_id"]);
        }
    }
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(concurrent_versions_and_duplicates_end_like_a_clean_delivery);

fn n_of(tid: &str) -> i64 {
    tid[1..].parse().unwrap()
}

async fn a_thousand_concurrent_paid_trades_never_oversell(app: TestApp) {
    const TRADES: usize = 1000;
    let t = app.signup("Flash sale").await;
    app.create_sku(&t, "HOT", 5).await;
    app.adjust(&t, "HOT", 105).await;
    let ch = app.connect_bazaar(&t, "shop-hot", None).await;
    let start = chrono::Utc::now();
    // Paid times are a permutation of 0..1000 ms after creation, independent of send order.
    let mut rng = Lcg(42);
    let mut paid: Vec<i64> = (0..TRADES as i64).collect();
    for i in (1..paid.len()).rev() {
        paid.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let trades: Vec<(String, i64)> = (0..TRADES).map(|i| (format!("F{i:05}"), paid[i])).collect();

    // A watcher checks the invariant the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, client, url, token) = (stop.clone(), app.client.clone(), app.url.clone(), t.token.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                let s: Value = client
                    .get(format!("{url}/v1/stock/HOT"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let (on_hand, reserved, safety) = (
                    s["on_hand"].as_i64().unwrap(),
                    s["reserved"].as_i64().unwrap(),
                    s["safety_stock"].as_i64().unwrap(),
                );
                assert!(on_hand - reserved >= safety, "oversold: {s}");
                samples += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            samples
        })
    };
    let results: Vec<u16> = stream::iter(trades.iter())
        .map(|(tid, paid_ms)| {
            let msg = Trade::new("shop-hot", tid, start, "HOT", 1).paid_msg(*paid_ms);
            let (app, ch) = (&app, &ch);
            async move { app.post_webhook(ch, &format!("{tid}-pay"), &msg).await.status.as_u16() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(results.iter().all(|s| *s == 200), "every webhook accepted");
    app.settle().await;
    stop.store(true, Ordering::Relaxed);
    let samples = watcher.await.unwrap();
    assert!(samples > 0);

    let allocated = app.get("/v1/orders?status=allocated&per_page=500", &t.token).await.expect(200);
    assert_eq!(allocated["total"], 100, "exactly the available units were reserved");
    assert_eq!(app.get("/v1/orders?status=backordered&per_page=1", &t.token).await.expect(200)["total"], 900);
    let s = app.stock(&t, "HOT").await;
    assert_eq!(
        (s["on_hand"].as_i64(), s["reserved"].as_i64(), s["available"].as_i64()),
        (Some(105), Some(100), Some(0))
    );
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0, "the ledger folds to the stored levels");

    // 50 more units go to the 50 oldest backorders by payment time.
    let mut backordered = Vec::new();
    for page in 1..=2 {
        let p = app.get(&format!("/v1/orders?status=backordered&per_page=500&page={page}"), &t.token).await.expect(200);
        backordered
            .extend(p["items"].as_array().unwrap().iter().map(|o| o["external_id"].as_str().unwrap().to_owned()));
    }
    let paid_of: HashMap<&str, i64> = trades.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    backordered.sort_by_key(|tid| paid_of[tid.as_str()]);
    app.adjust(&t, "HOT", 50).await;
    app.settle().await;
    let now_allocated = app.get("/v1/orders?status=allocated&per_page=500", &t.token).await.expect(200);
    assert_eq!(now_allocated["total"], 150);
    let allocated_ids: std::collections::HashSet<String> = now_allocated["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_id"].as_str().unwrap().to_owned())
        .collect();
    for tid in &backordered[..50] {
        assert!(allocated_ids.contains(tid), "{tid} was among the 50 oldest backorders");
    }
    for tid in &backordered[50..] {
        assert!(!allocated_ids.contains(tid), "{tid} is younger and must still wait");
    }
    assert_eq!(app.stock(&t, "HOT").await["reserved"], 150);
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(a_thousand_concurrent_paid_trades_never_oversell);

/// A seller rotates a shop's webhook secret: the new one works at once, the old one for an
/// hour more (BAZAAR.md), a retry of the same rotation does not push the old one out, and bad
/// requests change nothing.
async fn a_rotated_webhook_secret_keeps_the_previous_one_for_the_switch_over(app: TestApp) {
    let t = app.signup("Rotating").await;
    let other = app.signup("Other").await;
    app.create_sku(&t, "TEE", 0).await;
    let ch = app.connect_bazaar(&t, "shop-rot", None).await;
    let path = format!("/v1/channels/{}/webhook-secret", ch.id);
    let put = |token: &str, secret: &str| {
        let (app, path, token, body) = (&app, path.clone(), token.to_owned(), json!({"secret": secret}));
        async move { app.call(reqwest::Method::PUT, &path, Some(&token), Some(&body), &[]).await }
    };
    let new_secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());

    put(&other.token, &new_secret).await.assert_problem(404, "not_found");
    put(&t.token, "short").await.assert_problem(400, "malformed_request");
    put(&t.token, &format!(" {new_secret}")).await.assert_problem(400, "invalid_input");
    app.call(reqwest::Method::PUT, &path, None, Some(&json!({"secret": new_secret})), &[])
        .await
        .assert_problem(401, "unauthorized");
    // Nothing changed: only the original secret works.
    let signed_with = |secret: &str| testkit::Channel { secret: secret.to_owned(), ..ch.clone() };
    let deliver = |secret: String, n: u32| {
        let (app, ch) = (&app, signed_with(&secret));
        async move {
            app.post_webhook(
                &ch,
                &format!("rot-{n}"),
                &Trade::new("shop-rot", &format!("R{n}"), chrono::Utc::now(), "TEE", 1).created_msg(),
            )
            .await
        }
    };
    deliver(new_secret.clone(), 1).await.assert_problem(401, "invalid_signature");
    deliver(ch.secret.clone(), 2).await.expect(200);

    let rotated = put(&t.token, &new_secret).await.expect(200);
    assert_eq!(rotated["webhook_secret"], new_secret.as_str());
    // A retry (say the answer was lost) changes nothing, so the original stays accepted.
    put(&t.token, &new_secret).await.expect(200);
    deliver(new_secret.clone(), 3).await.expect(200);
    deliver(ch.secret.clone(), 4).await.expect(200);
    deliver("some other secret that is long enough".into(), 5).await.assert_problem(401, "invalid_signature");
    // The next rotation retires the original.
    let third = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    put(&t.token, &third).await.expect(200);
    deliver(ch.secret.clone(), 6).await.assert_problem(401, "invalid_signature");
    deliver(new_secret, 7).await.expect(200);
    deliver(third, 8).await.expect(200);
    app.settle().await;
    for n in [2, 3, 4, 7, 8] {
        assert!(app.order_by_tid(&t, &format!("R{n}")).await.is_some(), "R{n} became an order");
    }
    for n in [1, 5, 6] {
        assert!(app.order_by_tid(&t, &format!("R{n}")).await.is_none(), "R{n} was refused");
    }
    app.shutdown().await;
}
both!(a_rotated_webhook_secret_keeps_the_previous_one_for_the_switch_over);
