//! Cairn against the Bazaar simulator: chaos on push, reconciliation by pull, write-backs
//! through outages.

use crate::harness::TestApp;
use bazaar_sim::{
    BurstConfig, ChaosConfig, NewLine, NewShop, NewTrade, RefundOutcome, RefundRequest, ShopUpdate, Sim, SimConfig,
    WritebackKind, WritebackOutcome,
};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::{collections::HashMap, time::Duration};
use testkit::{Backend, LEDGER_MISMATCHES, TempDir, Tenant};
use uuid::Uuid;

/// Declares a test on both backends, with Cairn pulling every second.
macro_rules! both_fast {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                super::$name(super::fast_app(testkit::Backend::Embedded).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn distributed() {
                super::$name(super::fast_app(testkit::Backend::Distributed).await).await
            }
        }
    };
}

both_fast!(chaos_on_push_ends_with_every_trade_in_its_latest_status);
both!(a_batch_of_stock_levels_plans_the_newest_of_each_sku);
both_fast!(credentials_given_later_start_write_backs_and_pulls);
both_fast!(removed_credentials_hold_write_backs_until_given_again);
both_fast!(writebacks_land_once_after_bazaar_comes_back);
both_fast!(reconcile_and_sync_reject_bad_input);

async fn fast_app(backend: Backend) -> TestApp {
    let dir = TempDir::new("cairn-test");
    let mut c = crate::harness::config(backend, &dir.0).await;
    c.channels.reconcile.interval = Duration::from_secs(1);
    c.channels.reconcile.overlap = chrono::Duration::seconds(5);
    c.channels.reconcile.settle = chrono::Duration::milliseconds(300);
    c.channels.writeback_tick = Duration::from_millis(50);
    crate::harness::start(backend, c, dir).await
}

/// Creates `shop_id` on Bazaar, connects it to Cairn with its Open API credentials, and points
/// Bazaar's webhooks at Cairn.
pub(crate) async fn connect(app: &TestApp, sim: &Sim, t: &Tenant, shop_id: &str, stock_sync: Option<Value>) -> Uuid {
    let shop = sim.create_shop(NewShop { shop_id: Some(shop_id.into()), ..NewShop::default() }).await.unwrap();
    let mut body = json!({
        "marketplace": "bazaar", "shop_id": shop_id, "name": format!("店铺 {shop_id}"), "hold_ttl_seconds": 3600,
        "api": {"base_url": sim.url(), "app_key": shop.app_key, "app_secret": shop.app_secret, "access_token": shop.access_token},
    });
    if let Some(r) = stock_sync {
        body["stock_sync"] = r;
    }
    let b = app.post("/v1/channels", &t.token, &body).await.expect(201);
    assert_eq!(b["api"]["app_key"], shop.app_key.as_str());
    assert!(
        b["api"].get("app_secret").is_none() && b["api"].get("access_token").is_none(),
        "secrets are never shown: {b}"
    );
    let update = ShopUpdate {
        webhook_url: Some(b["webhook_url"].as_str().unwrap().into()),
        webhook_secret: Some(b["webhook_secret"].as_str().unwrap().into()),
        ..ShopUpdate::default()
    };
    sim.upsert_shop(shop_id, update).await.unwrap();
    b["id"].as_str().unwrap().parse().unwrap()
}

fn micros(bazaar_time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(bazaar_time).unwrap().timestamp_micros()
}

/// Trade id → (marketplace status, revision) of every order of `tenant` in Cairn.
async fn cairn_orders(app: &TestApp, tenant: Uuid) -> HashMap<String, (String, i64)> {
    let rows = app
        .db
        .tenant(tenant)
        .conn()
        .query_all_raw(store::stmt(
            &app.db,
            "select external_id, trade_status, revision from orders where tenant_id = ?",
            vec![tenant.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get_by_index::<String>(0).unwrap(),
                (r.try_get_by_index::<String>(1).unwrap(), r.try_get_by_index::<i64>(2).unwrap()),
            )
        })
        .collect()
}

/// How many Bazaar trades Cairn does not have in their latest version.
async fn behind(app: &TestApp, sim: &Sim, shops: &[(Tenant, String)]) -> (usize, Vec<String>) {
    let mut missing = Vec::new();
    let mut total = 0;
    for (t, shop) in shops {
        let ours = cairn_orders(app, t.tenant_id).await;
        for trade in sim.trades(Some(shop)).await {
            total += 1;
            let status = serde_json::to_value(trade.status).unwrap().as_str().unwrap().to_owned();
            match ours.get(&trade.tid) {
                Some((s, rev)) if *s == status && *rev == micros(&trade.modified) => {}
                other => missing.push(format!("{} {status} {} vs {other:?}", trade.tid, trade.modified)),
            }
        }
    }
    (total, missing)
}

async fn chaos_on_push_ends_with_every_trade_in_its_latest_status(app: TestApp) {
    let chaos = ChaosConfig {
        duplicate_rate: 0.10,
        reorder_rate: 0.10,
        reorder_ms: 300,
        drop_rate: 0.05,
        ..ChaosConfig::default()
    };
    let sim = bazaar_sim::spawn(SimConfig { chaos, ..SimConfig::ephemeral() }).await.unwrap();
    let skus = ["HOT-1", "TEE-1", "CUP-1"];
    let mut shops = Vec::new();
    for (i, name) in ["云栈", "青木", "山海"].iter().enumerate() {
        let t = app.signup(name).await;
        for sku in skus {
            app.create_sku(&t, sku, 0).await;
            app.adjust(&t, sku, if sku == "HOT-1" { 25 } else { 1000 }).await;
        }
        let shop_id = format!("shop-{i}");
        connect(&app, &sim, &t, &shop_id, None).await;
        shops.push((t, shop_id));
    }

    // A webhook outage while the burst runs: Bazaar's retries (compressed 1000×) outlast it.
    sim.set_webhook_outage(Duration::from_secs(3));
    let burst = BurstConfig {
        shops: shops.iter().map(|(_, s)| s.clone()).collect(),
        orders: 360,
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
        hot_sku_share: 0.4,
        pay: true,
        rate_limit: Some(300.0),
        max_lines: 2,
        max_num: 2,
    };
    let report = sim.burst(burst).await.unwrap();
    assert_eq!(report.created, 360);
    // Later changes to some of them: refunds of the first line, unpaid trades that time out.
    for tid in report.tids.iter().step_by(9) {
        let trade = sim.trade(tid).await.unwrap();
        sim.refund(
            tid,
            RefundRequest { oids: Some(vec![trade.orders[0].oid.clone()]), outcome: RefundOutcome::Success },
        )
        .await
        .unwrap();
    }
    for (_, shop) in &shops {
        for n in 0..6 {
            let t = sim.create_trade(NewTrade::new(shop, vec![NewLine::new("TEE-1", 1)])).await.unwrap();
            if n % 2 == 0 {
                sim.close_unpaid(&t.tid).await.unwrap();
            }
        }
    }
    sim.wait_delivered(Duration::from_secs(60)).await.unwrap();
    let stats = sim.stats();
    assert!(stats.messages_dropped > 0 && stats.messages_duplicated > 0, "chaos did happen: {stats:?}");

    // Everything push missed is found by the next pulls (one per second here).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (total, missing) = behind(&app, &sim, &shops).await;
        assert_eq!(total, 360 + 18);
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} trades not in their latest version after 30 s, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.settle().await;

    let mut found = 0;
    for (t, _) in &shops {
        let chans = app.get("/v1/channels", &t.token).await.expect(200);
        let id = chans[0]["id"].as_str().unwrap();
        let r = app.get(&format!("/v1/channels/{id}/sync"), &t.token).await.expect(200);
        assert!(r["runs"].as_i64().unwrap() >= 1 && r["reconciles"] == true, "{r}");
        assert!(r["sync_lag_seconds"].as_f64().unwrap() < 10.0, "{r}");
        found += r["found_by_pull_only"].as_i64().unwrap();
    }
    assert!(found > 0, "dropped messages ({}) were found by pull", stats.messages_dropped);

    // Zero oversold, zero double-applied, and the ledger explains every level.
    assert_eq!(app.scalar("select count(*) from stock_levels where reserved > on_hand or on_hand < 0").await, 0);
    assert_eq!(
        app.scalar("select count(*) from (select reservation_id, sku_id from stock_ledger where kind = 'reserve' group by reservation_id, sku_id having count(*) > 1) d").await,
        0,
        "a line was reserved twice"
    );
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    for (t, _) in &shops {
        let hot = app.stock(t, "HOT-1").await;
        assert!(hot["available"].as_i64().unwrap() >= 0 && hot["reserved"].as_i64().unwrap() <= 25, "{hot}");
    }
    // Each shop ends up showing its seller's final available quantity (default rules: all of
    // it), however the burst's many level changes were batched and coalesced on the way.
    for (t, shop) in &shops {
        for sku in skus {
            let available = app.stock(t, sku).await["available"].as_i64().unwrap();
            wait_for(&format!("{shop} showing {available} of {sku}"), || async {
                sim.items(shop).await.into_iter().find(|i| i.outer_sku_id == sku).map(|i| i.quantity) == Some(available)
            })
            .await;
        }
    }
    sim.shutdown().await.unwrap();
}

async fn writebacks_land_once_after_bazaar_comes_back(app: TestApp) {
    let sim = bazaar_sim::spawn(SimConfig {
        chaos: ChaosConfig { api_fail_after_rate: 0.3, ..ChaosConfig::default() },
        ..SimConfig::ephemeral()
    })
    .await
    .unwrap();
    let t = app.signup("Writeback").await;
    app.create_sku(&t, "TEE-1", 0).await;
    app.adjust(&t, "TEE-1", 100).await;
    connect(&app, &sim, &t, "shop-a", Some(json!({"percent": 50}))).await;
    connect(&app, &sim, &t, "shop-b", Some(json!({"reserve": 5}))).await;
    let quantity = |shop: &'static str| {
        let sim = sim.clone();
        async move { sim.items(shop).await.into_iter().find(|i| i.outer_sku_id == "TEE-1").map(|i| i.quantity) }
    };
    // Shop A: half of what B's reserve leaves; shop B: everything.
    wait_for("initial quantities", || async {
        quantity("shop-a").await == Some(47) && quantity("shop-b").await == Some(100)
    })
    .await;

    // Bazaar's Open API goes down; a paid trade arrives by push and the seller ships it.
    sim.set_api_outage(Duration::from_secs(4));
    let trade = sim
        .create_trade(NewTrade::new(
            "shop-a",
            vec![NewLine { price: Some("59.00".into()), ..NewLine::new("TEE-1", 3) }],
        ))
        .await
        .unwrap();
    sim.pay(&trade.tid).await.unwrap();
    sim.wait_delivered(Duration::from_secs(30)).await.unwrap();
    app.settle().await;
    let order = app.order_by_tid(&t, &trade.tid).await.expect("order arrived");
    let ship = json!({"company_code": "SF", "waybill_no": "SF1234567890"});
    app.post(&format!("/v1/orders/{}/ship", order["id"].as_str().unwrap()), &t.token, &ship).await.expect(200);
    app.settle().await;
    assert!(sim.api_outage_left().is_some(), "the test is meant to ship while Bazaar is down");

    // When it is back: the shipment lands exactly once, the quantities settle on the new level
    // (97 available: A shows (97 − 5) / 2, B all of it).
    wait_for("the shipment write-back", || async {
        sim.trade(&trade.tid).await.unwrap().status == bazaar_sim::TradeStatus::WaitBuyerConfirmGoods
    })
    .await;
    wait_for("final quantities", || async {
        quantity("shop-a").await == Some(46) && quantity("shop-b").await == Some(97)
    })
    .await;
    let chans = app.get("/v1/channels", &t.token).await.expect(200);
    let a =
        chans.as_array().unwrap().iter().find(|c| c["shop_id"] == "shop-a").unwrap()["id"].as_str().unwrap().to_owned();
    // Answers lost after Bazaar applied a call (chaos) are retried until one is answered.
    wait_for("write-backs marked done", || async {
        let r = app.get(&format!("/v1/channels/{a}/sync"), &t.token).await.expect(200);
        let w = &r["writebacks"];
        (
            w["shipments_done"].as_i64(),
            w["shipments_pending"].as_i64(),
            w["stock_pending"].as_i64(),
            w["stock_rejected"].as_i64(),
        ) == (Some(1), Some(0), Some(0), Some(0))
    })
    .await;
    let wbs = sim.writebacks(None);
    let ships: Vec<_> = wbs.iter().filter(|w| w.kind == WritebackKind::Ship).collect();
    assert_eq!(ships.iter().filter(|w| w.outcome == WritebackOutcome::Applied).count(), 1, "{ships:?}");
    assert!(ships.iter().all(|w| w.outcome != WritebackOutcome::Rejected), "{ships:?}");
    assert!(wbs.iter().all(|w| w.outcome != WritebackOutcome::Rejected), "no write-back was refused: {wbs:?}");
    // Every quantity Bazaar applied for a shop was one Cairn computed at some point (0 when
    // the SKU was created and had no stock yet, shop A shows 50 until shop B's reserve
    // exists), and the last is the current one.
    for (shop, expected) in [("shop-a", &[0, 50, 47, 46][..]), ("shop-b", &[0, 100, 97][..])] {
        let applied: Vec<i64> = wbs
            .iter()
            .filter(|w| {
                w.kind == WritebackKind::Quantity && w.shop_id == shop && w.outcome == WritebackOutcome::Applied
            })
            .map(|w| w.payload["quantity"].as_i64().unwrap())
            .collect();
        assert_eq!(applied.last(), expected.last(), "{shop}: {applied:?}");
        assert!(applied.iter().all(|q| expected.contains(q)), "{shop} was pushed something else: {applied:?}");
    }

    // A rule change is pushed too.
    app.call(
        reqwest::Method::PUT,
        &format!("/v1/channels/{a}/stock-sync"),
        Some(&t.token),
        Some(&json!({"percent": 100, "max": 20})),
        &[],
    )
    .await
    .expect(200);
    wait_for("the new rule's quantity", || async { quantity("shop-a").await == Some(20) }).await;
    sim.shutdown().await.unwrap();
}

/// The channels consumer coalesces a batch's stock levels per SKU (the embedded bus hands it up
/// to 256 messages at once): the newest version decides, whatever order the batch holds them
/// in, and a level older than the stored one changes nothing.
async fn a_batch_of_stock_levels_plans_the_newest_of_each_sku(app: TestApp) {
    use bus::TxHandler;
    use kernel::{Envelope, TenantId, events::StockLevelChanged};
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let t = app.signup("Batch").await;
    connect(&app, &sim, &t, "shop-batch", Some(json!({"percent": 50}))).await;
    let level = |sku: &str, available: i64, version: i64| {
        let ev = StockLevelChanged { sku_code: sku.into(), available, on_hand: available, reserved: 0, version };
        Envelope::new(TenantId(t.tenant_id), &ev, chrono::Utc::now(), None)
    };
    let handler = channels::writeback::WritebackHandler::new(app.db.clone(), kernel::SystemClock::shared());
    let apply = |envs: Vec<Envelope>| {
        let (db, handler) = (app.db.clone(), &handler);
        async move {
            let tx = db.system().write().await.unwrap();
            handler.apply_batch(&tx, &envs).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    let desired = |sku: &'static str| {
        let app = &app;
        async move { app.scalar(&format!("select desired from stock_pushes where sku_code = '{sku}'")).await }
    };
    let first = vec![level("ZZ-1", 40, 10), level("ZZ-2", 8, 3), level("ZZ-1", 90, 30), level("ZZ-1", 70, 20)];
    apply(first.clone()).await;
    assert_eq!((desired("ZZ-1").await, desired("ZZ-2").await), (45, 4), "half of the newest level of each SKU");
    assert_eq!(app.scalar("select available from channel_stock_levels where sku_code = 'ZZ-1'").await, 90);
    // Older than what is stored: nothing changes. The same messages again: nothing changes.
    apply(vec![level("ZZ-1", 2, 25)]).await;
    apply(first).await;
    assert_eq!((desired("ZZ-1").await, desired("ZZ-2").await), (45, 4));
    // Newer: planned.
    apply(vec![level("ZZ-1", 10, 31), level("ZZ-2", 0, 4)]).await;
    assert_eq!((desired("ZZ-1").await, desired("ZZ-2").await), (5, 0));
    sim.shutdown().await.unwrap();
}

/// A shop connected push-only gets its Open API credentials later (say the seller authorised
/// Cairn after the sale started): the shipment recorded meanwhile is written back, the shop
/// starts showing Cairn's quantity, and pulls begin.
async fn credentials_given_later_start_write_backs_and_pulls(app: TestApp) {
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let t = app.signup("Late").await;
    let other = app.signup("Other").await;
    app.create_sku(&t, "TEE-1", 0).await;
    app.adjust(&t, "TEE-1", 30).await;
    let shop = sim.create_shop(NewShop { shop_id: Some("shop-late".into()), ..NewShop::default() }).await.unwrap();
    let b = app
        .post("/v1/channels", &t.token, &json!({"marketplace": "bazaar", "shop_id": "shop-late", "name": "晚到的店"}))
        .await
        .expect(201);
    let id = b["id"].as_str().unwrap().to_owned();
    let update = ShopUpdate {
        webhook_url: Some(b["webhook_url"].as_str().unwrap().into()),
        webhook_secret: Some(b["webhook_secret"].as_str().unwrap().into()),
        ..ShopUpdate::default()
    };
    sim.upsert_shop("shop-late", update).await.unwrap();

    let trade = sim
        .create_trade(NewTrade::new(
            "shop-late",
            vec![NewLine { price: Some("59.00".into()), ..NewLine::new("TEE-1", 2) }],
        ))
        .await
        .unwrap();
    sim.pay(&trade.tid).await.unwrap();
    sim.wait_delivered(Duration::from_secs(30)).await.unwrap();
    app.settle().await;
    let order = app.order_by_tid(&t, &trade.tid).await.expect("order arrived");
    app.post(
        &format!("/v1/orders/{}/ship", order["id"].as_str().unwrap()),
        &t.token,
        &json!({"company_code": "SF", "waybill_no": "SF0000000001"}),
    )
    .await
    .expect(200);
    app.settle().await;
    let sync = || {
        let (app, id, token) = (&app, id.clone(), t.token.clone());
        async move { app.get(&format!("/v1/channels/{id}/sync"), &token).await.expect(200) }
    };
    assert_eq!(sync().await["writebacks"]["shipments_without_api"], 1);

    let path = format!("/v1/channels/{id}/api");
    let api = json!({"base_url": format!("{}/", sim.url()), "app_key": shop.app_key, "app_secret": shop.app_secret, "access_token": shop.access_token});
    app.call(reqwest::Method::PUT, &path, Some(&other.token), Some(&api), &[]).await.assert_problem(404, "not_found");
    let mut bad = api.clone();
    bad["base_url"] = json!("ftp://bazaar.example");
    app.call(reqwest::Method::PUT, &path, Some(&t.token), Some(&bad), &[]).await.assert_problem(400, "invalid_input");
    app.call(reqwest::Method::PUT, &path, Some(&t.token), Some(&json!({"base_url": sim.url()})), &[])
        .await
        .assert_problem(400, "malformed_request");
    assert!(app.get(&format!("/v1/channels/{id}"), &t.token).await.expect(200).get("api").is_none(), "nothing changed");

    let set = app.call(reqwest::Method::PUT, &path, Some(&t.token), Some(&api), &[]).await.expect(200);
    assert_eq!(
        (set["api"]["base_url"].as_str(), set["api"]["app_key"].as_str()),
        (Some(sim.url().trim_end_matches('/')), Some(shop.app_key.as_str()))
    );
    assert!(
        set["api"].get("app_secret").is_none()
            && set["api"].get("access_token").is_none()
            && set.get("webhook_secret").is_none(),
        "secrets are never shown: {set}"
    );
    app.call(reqwest::Method::PUT, &path, Some(&t.token), Some(&api), &[]).await.expect(200);

    wait_for("the shipment written back", || async {
        sim.trade(&trade.tid).await.unwrap().status == bazaar_sim::TradeStatus::WaitBuyerConfirmGoods
    })
    .await;
    wait_for("the shop showing Cairn's quantity", || async {
        sim.items("shop-late").await.into_iter().find(|i| i.outer_sku_id == "TEE-1").map(|i| i.quantity) == Some(28)
    })
    .await;
    wait_for("a pull", || async { sync().await["runs"].as_i64().unwrap_or(0) >= 1 }).await;
    let s = sync().await;
    assert_eq!(
        (s["writebacks"]["shipments_without_api"].as_i64(), s["writebacks"]["shipments_done"].as_i64()),
        (Some(0), Some(1)),
        "{s}"
    );
    let ships = sim
        .writebacks(None)
        .into_iter()
        .filter(|w| w.kind == WritebackKind::Ship && w.outcome == WritebackOutcome::Applied)
        .count();
    assert_eq!(ships, 1);
    sim.shutdown().await.unwrap();
}

async fn removed_credentials_hold_write_backs_until_given_again(app: TestApp) {
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let t = app.signup("Revoked").await;
    let other = app.signup("Other").await;
    app.create_sku(&t, "TEE-1", 0).await;
    app.adjust(&t, "TEE-1", 30).await;
    let id = connect(&app, &sim, &t, "shop-gone", None).await;
    let quantity =
        || async { sim.items("shop-gone").await.into_iter().find(|i| i.outer_sku_id == "TEE-1").map(|i| i.quantity) };
    let sync = || {
        let (app, token) = (&app, t.token.clone());
        async move { app.get(&format!("/v1/channels/{id}/sync"), &token).await.expect(200) }
    };
    let trade = sim
        .create_trade(NewTrade::new(
            "shop-gone",
            vec![NewLine { price: Some("59.00".into()), ..NewLine::new("TEE-1", 2) }],
        ))
        .await
        .unwrap();
    sim.pay(&trade.tid).await.unwrap();
    sim.wait_delivered(Duration::from_secs(30)).await.unwrap();
    wait_for("the shop showing Cairn's quantity", || async { quantity().await == Some(28) }).await;

    // The marketplace is down: a shipment and a new quantity wait to be written back.
    sim.set_api_outage(Duration::from_secs(600));
    app.settle().await;
    let order = app.order_by_tid(&t, &trade.tid).await.expect("order arrived");
    app.post(
        &format!("/v1/orders/{}/ship", order["id"].as_str().unwrap()),
        &t.token,
        &json!({"company_code": "SF", "waybill_no": "SF0000000002"}),
    )
    .await
    .expect(200);
    app.adjust(&t, "TEE-1", 10).await;
    app.settle().await;
    wait_for("both write-backs waiting", || async {
        let w = sync().await["writebacks"].clone();
        w["shipments_pending"] == 1 && w["stock_pending"] == 1
    })
    .await;

    // The seller withdraws Cairn's authorisation.
    let path = format!("/v1/channels/{id}/api");
    app.call(reqwest::Method::DELETE, &path, Some(&other.token), None, &[]).await.assert_problem(404, "not_found");
    assert_eq!(sync().await["reconciles"], true, "another tenant changed nothing");
    let removed = app.call(reqwest::Method::DELETE, &path, Some(&t.token), None, &[]).await.expect(200);
    assert!(removed.get("api").is_none(), "{removed}");
    let again = app.call(reqwest::Method::DELETE, &path, Some(&t.token), None, &[]).await.expect(200);
    assert_eq!(again, removed);
    let s = sync().await;
    assert_eq!(s["reconciles"], false, "{s}");
    let w = &s["writebacks"];
    assert_eq!(
        (
            w["shipments_pending"].as_i64(),
            w["shipments_without_api"].as_i64(),
            w["stock_pending"].as_i64(),
            w["stock_without_api"].as_i64()
        ),
        (Some(0), Some(1), Some(0), Some(1)),
        "{s}"
    );
    app.post(&format!("/v1/channels/{id}/reconcile"), &t.token, &json!({})).await.assert_problem(409, "not_configured");

    // The marketplace is back, but nothing goes out without credentials.
    sim.set_api_outage(Duration::ZERO);
    app.adjust(&t, "TEE-1", 5).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(quantity().await, Some(28));
    assert_eq!(sim.trade(&trade.tid).await.unwrap().status, bazaar_sim::TradeStatus::WaitSellerSendGoods);

    // Authorised again: what waited is sent, once, with the quantity of now.
    let shop = sim.shop("shop-gone").await.unwrap();
    let api = json!({"base_url": sim.url(), "app_key": shop.app_key, "app_secret": shop.app_secret, "access_token": shop.access_token});
    app.call(reqwest::Method::PUT, &path, Some(&t.token), Some(&api), &[]).await.expect(200);
    wait_for("the shipment written back", || async {
        sim.trade(&trade.tid).await.unwrap().status == bazaar_sim::TradeStatus::WaitBuyerConfirmGoods
    })
    .await;
    wait_for("the shop showing the quantity of now", || async { quantity().await == Some(43) }).await;
    let w = sync().await["writebacks"].clone();
    assert_eq!(
        (w["shipments_done"].as_i64(), w["shipments_without_api"].as_i64(), w["stock_without_api"].as_i64()),
        (Some(1), Some(0), Some(0)),
        "{w}"
    );
    let ships = sim
        .writebacks(None)
        .into_iter()
        .filter(|w| w.kind == WritebackKind::Ship && w.outcome == WritebackOutcome::Applied)
        .count();
    assert_eq!(ships, 1);
    sim.shutdown().await.unwrap();
}

async fn reconcile_and_sync_reject_bad_input(app: TestApp) {
    let t = app.signup("Strict").await;
    let other = app.signup("Other").await;
    let push_only = app.connect_bazaar(&t, "shop-push", None).await;
    let api = json!({"base_url": "ftp://nope", "app_key": "k", "app_secret": "s", "access_token": "a"});
    app.post("/v1/channels", &t.token, &json!({"marketplace": "bazaar", "shop_id": "s-1", "name": "X", "api": api}))
        .await
        .assert_problem(400, "invalid_input");
    // The spec says who makes the webhook secret: a Shopify shop must send its app's, a Bazaar
    // shop must not send one.
    app.post("/v1/channels", &t.token, &json!({"marketplace": "shopify", "shop_id": "s.myshopify.com", "name": "X"}))
        .await
        .assert_problem(400, "malformed_request");
    app.post(
        "/v1/channels",
        &t.token,
        &json!({"marketplace": "bazaar", "shop_id": "s-2", "name": "X", "webhook_secret": "0123456789abcdef"}),
    )
    .await
    .assert_problem(400, "malformed_request");
    app.post(
        "/v1/channels",
        &t.token,
        &json!({"marketplace": "bazaar", "shop_id": "s-2", "name": "X", "webhook_secret": ""}),
    )
    .await
    .assert_problem(400, "invalid_input");
    assert_eq!(app.scalar("select count(*) from channels").await, 1);

    // Connecting a shop with Open API credentials again is the first result; other credentials
    // are refused and change nothing.
    let api = json!({"base_url": "http://127.0.0.1:9", "app_key": "k", "app_secret": "s", "access_token": "a"});
    let body = json!({"marketplace": "bazaar", "shop_id": "s-api", "name": "API shop", "api": api, "stock_sync": {"percent": 40}});
    let first = app.post("/v1/channels", &t.token, &body).await.expect(201);
    let again = app.post("/v1/channels", &t.token, &body).await.expect(201);
    assert_eq!(
        (&first["id"], &first["webhook_secret"], &again["stock_sync"]),
        (&again["id"], &again["webhook_secret"], &first["stock_sync"])
    );
    // The same URL with a trailing slash is the same shop (it is stored without it).
    let mut slashed = body.clone();
    slashed["api"]["base_url"] = json!("http://127.0.0.1:9/");
    assert_eq!(app.post("/v1/channels", &t.token, &slashed).await.expect(201)["id"], first["id"]);
    let mut other_api = body.clone();
    other_api["api"]["access_token"] = json!("b");
    app.post("/v1/channels", &t.token, &other_api).await.assert_problem(409, "already_exists");
    let mut other_rules = body.clone();
    other_rules["stock_sync"]["percent"] = json!(41);
    app.post("/v1/channels", &t.token, &other_rules).await.assert_problem(409, "already_exists");
    assert_eq!(app.scalar("select count(*) from channels").await, 2);

    let reconcile = format!("/v1/channels/{}/reconcile", push_only.id);
    app.post(&reconcile, &t.token, &json!({})).await.assert_problem(409, "not_configured");
    app.post(&reconcile, &other.token, &json!({})).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/channels/{}/sync", push_only.id), &other.token).await.assert_problem(404, "not_found");
    let sync = app.get(&format!("/v1/channels/{}/sync", push_only.id), &t.token).await.expect(200);
    assert_eq!((sync["reconciles"].as_bool(), sync["runs"].as_i64()), (Some(false), Some(0)));

    let rules = format!("/v1/channels/{}/stock-sync", push_only.id);
    let put = |token: String, body: Value| {
        let (app, rules) = (&app, rules.clone());
        async move { app.call(reqwest::Method::PUT, &rules, Some(&token), Some(&body), &[]).await }
    };
    put(t.token.clone(), json!({"percent": 50, "min": 10, "max": 5})).await.assert_problem(400, "invalid_input");
    assert_eq!(put(t.token.clone(), json!({"percent": 150})).await.status.as_u16(), 400);
    put(other.token.clone(), json!({"percent": 50})).await.assert_problem(404, "not_found");
    let unchanged = app.get(&format!("/v1/channels/{}", push_only.id), &t.token).await.expect(200);
    assert_eq!(unchanged["stock_sync"]["percent"], 100);
    // The same rules twice: the same answer, and the second changes nothing.
    let once = put(t.token.clone(), json!({"percent": 60, "min": 2, "max": 50, "reserve": 1})).await.expect(200);
    let twice = put(t.token.clone(), json!({"percent": 60, "min": 2, "max": 50, "reserve": 1})).await.expect(200);
    assert_eq!(once, twice);
    assert_eq!(twice["stock_sync"], json!({"percent": 60, "min": 2, "max": 50, "reserve": 1}));
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Write-backs back off up to 60 s while Bazaar is down (README: write-backs), so a row
    // may wait that long after it comes back; a loaded machine adds to it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stock_sync_rules_are_previewed_before_they_are_saved(app: TestApp) {
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    let t = app.signup("Preview").await;
    let other = app.signup("Nosy").await;
    for (code, stock) in [("P-1", 100), ("P-2", 7)] {
        app.create_sku(&t, code, 0).await;
        app.adjust(&t, code, stock).await;
    }
    // A syncing shop that sets 10 units aside, and a push-only shop to preview.
    let synced = connect(&app, &sim, &t, "shop-reserve", Some(json!({"reserve": 10}))).await;
    let push_only = app.connect_bazaar(&t, "shop-push", None).await;
    app.settle().await;
    let path = format!("/v1/channels/{}/stock-sync/preview", push_only.id);
    let preview = app.post(&path, &t.token, &json!({"percent": 50, "max": 40})).await.expect(200);
    let items = preview["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{preview}");
    // Half of what the other shop's reserve leaves, capped at 40; never more than there is.
    assert_eq!(items[0], json!({"sku_code": "P-1", "available": 100, "shown_now": null, "shown": 40}));
    assert_eq!(items[1], json!({"sku_code": "P-2", "available": 7, "shown_now": null, "shown": 0}));
    // The syncing shop's own preview shows what it displays now beside the new figure.
    let mine = app
        .post(&format!("/v1/channels/{synced}/stock-sync/preview"), &t.token, &json!({"percent": 10, "reserve": 10}))
        .await
        .expect(200);
    assert_eq!(mine["items"][0], json!({"sku_code": "P-1", "available": 100, "shown_now": 100, "shown": 10}));
    // Nothing was saved or planned by a preview.
    let ch = app.get(&format!("/v1/channels/{synced}"), &t.token).await.expect(200);
    assert_eq!(ch["stock_sync"], json!({"percent": 100, "max": null, "min": 0, "reserve": 10}));
    app.post(&path, &t.token, &json!({"percent": 50, "min": 10, "max": 5})).await.assert_problem(400, "invalid_input");
    assert_eq!(app.post(&path, &t.token, &json!({"percent": 101})).await.status, 400);
    app.post(&path, &other.token, &json!({"percent": 50})).await.assert_problem(404, "not_found");
    let _ = sim.shutdown().await;
}
both!(stock_sync_rules_are_previewed_before_they_are_saved);
