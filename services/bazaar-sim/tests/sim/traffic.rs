//! The trickle and the burst.

use crate::helpers::*;
use bazaar_sim::{BurstConfig, NewShop, SimConfig, TradeStatus, TrickleConfig, spawn};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn a_burst_creates_and_pays_every_trade_and_every_message_arrives() {
    let t = spawn_sim().await;
    let second = t
        .sim
        .create_shop(NewShop {
            shop_id: Some("shop-2".into()),
            webhook_url: Some(t.receiver.url.clone()),
            webhook_secret: Some(SECRET.into()),
            ..NewShop::default()
        })
        .await
        .unwrap();
    let skus = vec!["HOT-1".to_string(), "COLD-1".into(), "COLD-2".into()];
    let report = t
        .sim
        .burst(BurstConfig {
            shops: vec![SHOP.into(), second.shop_id.clone()],
            orders: 300,
            skus: skus.clone(),
            hot_sku_share: 0.6,
            max_lines: 2,
            max_num: 2,
            ..BurstConfig::default()
        })
        .await
        .unwrap();
    assert_eq!((report.created, report.paid, report.tids.len()), (300, 300, 300));
    assert_eq!(report.tids.iter().collect::<HashSet<_>>().len(), 300);
    let hot = report.units_by_sku["HOT-1"];
    let total: i64 = report.units_by_sku.values().sum();
    assert!(hot * 10 > total * 3, "the hot SKU dominates: {:?}", report.units_by_sku);
    assert_eq!(report.units_by_shop_sku.values().flat_map(|m| m.values()).sum::<i64>(), total);
    t.sim.wait_delivered(Duration::from_secs(30)).await.unwrap();
    let got = t.receiver.received();
    assert_eq!(got.len(), 600);
    assert_eq!(got.iter().filter(|r| r.topic() == "trade.TradeBuyerPay").count(), 300);
    let s = t.sim.stats();
    assert_eq!((s.messages_created, s.messages_delivered, s.deliveries_pending), (600, 600, 0));
    assert!(s.push_latency_ms.p99 >= s.push_latency_ms.p50);
    let paid = t.sim.trades(Some(&second.shop_id)).await;
    assert!(paid.iter().all(|t| t.status == TradeStatus::WaitSellerSendGoods) && !paid.is_empty());
}

#[tokio::test]
async fn a_burst_can_be_paced() {
    let t = spawn_sim().await;
    let report = t
        .sim
        .burst(BurstConfig { orders: 20, rate_limit: Some(100.0), pay: false, ..BurstConfig::default() })
        .await
        .unwrap();
    assert_eq!((report.created, report.paid), (20, 0));
    assert!(report.elapsed_ms >= 180.0, "20 trades at 100/s take ≈ 190 ms, took {}", report.elapsed_ms);
}

#[tokio::test]
async fn the_trickle_makes_trades_live_their_lives() {
    let t = spawn_sim().await;
    t.sim
        .start_trickle(TrickleConfig {
            trades_per_minute: 1200.0,
            time_scale: 0.01,
            ship_share: 1.0,
            confirm_after_secs: 10.0,
            ..TrickleConfig::default()
        })
        .await
        .unwrap();
    assert!(t.sim.trickle_running());
    // 20 trades a second; each trade's minute of life takes ~0.6 s at 1/100 speed.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    t.sim.stop_trickle();
    assert!(!t.sim.trickle_running());
    let trades = t.sim.trades(Some(SHOP)).await;
    assert!(trades.len() >= 15, "{} trades", trades.len());
    let statuses: HashSet<TradeStatus> = trades.iter().map(|t| t.status).collect();
    assert!(statuses.contains(&TradeStatus::TradeFinished), "{statuses:?}");
    assert!(statuses.contains(&TradeStatus::TradeClosedByMarket) || trades.len() < 30, "{statuses:?}");
    assert!(trades.iter().any(|t| t.orders.len() > 1));
    t.sim.wait_delivered(Duration::from_secs(20)).await.unwrap();
    assert!(t.receiver.received().iter().all(|r| r.signature_ok(SECRET)));
}

#[tokio::test]
async fn demo_shops_and_state_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("bazaar-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let config = SimConfig {
        shops: 2,
        app_secret: Some("demo-secret".into()),
        state_file: Some(path.clone()),
        ..SimConfig::ephemeral()
    };
    let sim = spawn(config.clone()).await.unwrap();
    let shops = sim.shops().await;
    assert_eq!(shops.iter().map(|s| s.shop_id.as_str()).collect::<Vec<_>>(), ["shop-1001", "shop-1002"]);
    assert_eq!(sim.items("shop-1001").await.len(), 24);
    let report = sim.burst(BurstConfig { orders: 3, ..BurstConfig::default() }).await.unwrap();
    sim.shutdown().await.unwrap();
    assert!(path.exists());

    let again = spawn(config).await.unwrap();
    assert_eq!(again.shops().await, shops, "same shops, same tokens");
    for tid in &report.tids {
        assert_eq!(again.trade(tid).await.unwrap().status, TradeStatus::WaitSellerSendGoods);
    }
    let next = again.burst(BurstConfig { orders: 1, ..BurstConfig::default() }).await.unwrap();
    assert!(!report.tids.contains(&next.tids[0]));
    again.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
