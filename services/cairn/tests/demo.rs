//! `cairn up --demo`: the simulator's trades reach Cairn through the real webhook path and
//! take stock, and a second start on the same data dir finds the same seller, shops and stock.

use bazaar_sim::{MessageFilter, MessageState, TrickleConfig};
use scenarios::demo::{self, Demo, DemoOptions};
use std::time::{Duration, Instant};

/// A trade every 0.1 s, each living a hundred times faster than in real life.
fn fast(dir: &std::path::Path) -> DemoOptions {
    DemoOptions {
        trickle: TrickleConfig { trades_per_minute: 600.0, time_scale: 0.01, ..DemoOptions::new(dir, "").trickle },
        ..DemoOptions::new(dir, "127.0.0.1:0")
    }
}

/// Waits (at most 60 s) until `f` answers `Some`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn order_count(demo: &Demo) -> u64 {
    demo.client().get("/v1/orders?per_page=1").await.expect("orders list")["total"].as_u64().unwrap()
}

/// The tids of the orders in Cairn (first page, newest first).
async fn order_tids(demo: &Demo) -> Vec<String> {
    let page = demo.client().get("/v1/orders?per_page=100").await.expect("orders list");
    page["items"].as_array().unwrap().iter().map(|o| o["external_id"].as_str().unwrap().to_owned()).collect()
}

async fn reserved_units(demo: &Demo) -> i64 {
    let mut total = 0;
    for sku in &demo.skus {
        total += demo.client().get(&format!("/v1/stock/{sku}")).await.expect("stock")["reserved"].as_i64().unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_trades_reach_cairn_by_webhook_and_a_restart_finds_everything_again() {
    let dir = testkit::TempDir::new("cairn-demo");
    let demo = demo::start(fast(&dir.0), &cairn::Launch(cairn::Settings::default())).await.expect("the demo starts");
    assert_eq!(demo.shops.len(), 2);
    assert!((8..=12).contains(&demo.skus.len()));
    let welcome = demo.welcome();
    assert!(welcome.contains(demo::DEMO_EMAIL) && welcome.contains(&demo.sim.url()));
    assert!(welcome.contains(&format!("dashboard {}/", demo.url())), "the welcome names the dashboard: {welcome}");

    // Each shop was connected with its Open API credentials (for pulls and write-backs).
    for shop in &demo.shops {
        let ch = demo.client().get(&format!("/v1/channels/{}", shop.channel_id)).await.unwrap();
        assert_eq!(ch["api"]["base_url"], demo.sim.url().as_str(), "{ch}");
    }

    // Orders arrive, and each one the test looks at was pushed by the marketplace and answered
    // 2xx by Cairn: the webhook path, not a pull.
    let tids = eventually("orders in Cairn", || async {
        let tids = order_tids(&demo).await;
        (tids.len() >= 5).then_some(tids)
    })
    .await;
    for tid in &tids[..5] {
        let pushed = demo.sim.messages(&MessageFilter { tid: Some(tid.clone()), ..MessageFilter::default() });
        assert!(
            pushed
                .iter()
                .any(|m| m.state == MessageState::Delivered && m.first_status.is_some_and(|s| (200..300).contains(&s))),
            "{tid} reached Cairn without a delivered webhook: {pushed:?}"
        );
    }
    assert_eq!(demo.sim.stats().messages_given_up, 0);
    // Paid trades take stock.
    eventually("stock reserved", || async { (reserved_units(&demo).await > 0).then_some(()) }).await;

    let channels: Vec<_> = demo.shops.iter().map(|s| s.channel_id).collect();
    let tenant = demo.tenant_id.expect("the first start signed the seller up");
    let sim_url = demo.sim.url();
    let before = order_count(&demo).await;
    let token_shop = demo.sim.shop("shop-8848").await.unwrap().access_token;
    demo.shutdown().await;

    // Again on the same data dir: the same seller (logged in, not signed up again), the same
    // channels, the same marketplace, the initial stock received once — and trades still flow.
    let again = demo::start(fast(&dir.0), &cairn::Launch(cairn::Settings::default()))
        .await
        .expect("the demo starts again on the same data dir");
    assert_eq!(again.tenant_id, Some(tenant));
    assert_eq!(again.shops.iter().map(|s| s.channel_id).collect::<Vec<_>>(), channels);
    assert_eq!(again.sim.url(), sim_url, "the simulator came back on its port, which Cairn's channels point to");
    assert_eq!(again.sim.shop("shop-8848").await.unwrap().access_token, token_shop);
    assert!(again.sim.trades(None).await.len() as u64 >= before, "the marketplace kept its trades");
    for sku in &again.skus {
        let ledger = again.client().get(&format!("/v1/stock/{sku}/ledger")).await.unwrap();
        let receipts = ledger
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "receipt" && e["cause"].as_str().unwrap().contains("initial count"))
            .count();
        assert_eq!(receipts, 1, "{sku}'s initial stock was received once: {ledger}");
    }
    eventually("new orders after the restart", || async { (order_count(&again).await > before).then_some(()) }).await;
    again.shutdown().await;
}
