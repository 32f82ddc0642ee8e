//! Delivery: retries, outages, timeouts, give-ups, and the chaos knobs.

use crate::helpers::*;
use bazaar_sim::{ChaosConfig, MessageFilter, MessageState, NewLine, NewTrade, SimConfig, TradeStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn one_line() -> NewTrade {
    NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])
}

#[tokio::test]
async fn a_message_answered_500_twice_is_delivered_on_attempt_3_with_the_same_id() {
    let t = spawn_with(SimConfig::ephemeral(), Arc::new(|_, seen| (if seen < 2 { 500 } else { 200 }, Duration::ZERO)))
        .await;
    t.sim.create_trade(one_line()).await.unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    let got = t.receiver.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.message_id() == got[0].message_id() && r.body == got[0].body));
    assert!(got.iter().all(|r| r.signature_ok(SECRET)), "every attempt is signed afresh");
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(50), "backoff: 60 ms × 0.9 at least");
    let records = t.sim.messages(&MessageFilter::default());
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.state, r.attempts, r.first_status, r.last_status),
        (MessageState::Delivered, 3, Some(500), Some(200))
    );
    assert_eq!(r.id, got[0].message_id());
    assert!(r.latency_ms.is_some() && r.delivered_after_ms.unwrap() >= 150.0);
    let stats = t.sim.stats();
    assert_eq!((stats.messages_delivered, stats.attempts, stats.failed_attempts), (1, 3, 2));
    assert_eq!(stats.push_latency_ms.count, 1);
}

#[tokio::test]
async fn nothing_is_delivered_during_an_outage_and_everything_after() {
    let t = spawn_sim().await;
    t.sim.set_webhook_outage(Duration::from_millis(800));
    let started = Instant::now();
    for _ in 0..5 {
        t.sim.create_trade(one_line()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(t.receiver.received().is_empty(), "the endpoint is down");
    assert!(
        t.sim.messages(&MessageFilter::default()).iter().all(|m| m.attempts >= 1),
        "attempts were made, and failed"
    );
    t.sim.wait_delivered(WAIT).await.unwrap();
    let got = t.receiver.received();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.at.duration_since(started) >= Duration::from_millis(800)));
    for r in t.sim.messages(&MessageFilter::default()) {
        assert_eq!(r.state, MessageState::Delivered);
        assert_eq!(r.first_status, None, "the first attempt fell in the outage");
        assert_eq!(r.last_status, Some(200));
        assert!(r.attempts >= 4, "60 + 120 + 240 ms of retries still fall in the outage");
    }
}

#[tokio::test]
async fn an_outage_can_be_ended_early() {
    let t = spawn_sim().await;
    t.sim.set_webhook_outage(Duration::from_secs(3600));
    t.sim.create_trade(one_line()).await.unwrap();
    assert!(t.sim.webhook_outage_left().is_some());
    t.sim.set_webhook_outage(Duration::ZERO);
    t.receiver.wait_for(1, WAIT).await;
}

#[tokio::test]
async fn a_message_is_given_up_after_the_last_retry() {
    let config = SimConfig { max_retries: 2, ..SimConfig::ephemeral() };
    let t = spawn_with(config, Arc::new(|_, _| (503, Duration::ZERO))).await;
    t.sim.create_trade(one_line()).await.unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    assert_eq!(t.receiver.received().len(), 3, "1 attempt + 2 retries");
    let r = &t.sim.messages(&MessageFilter::default())[0];
    assert_eq!((r.state, r.attempts, r.last_status), (MessageState::GivenUp, 3, Some(503)));
    assert_eq!(t.sim.stats().messages_given_up, 1);
}

#[tokio::test]
async fn a_slow_answer_counts_as_a_failure() {
    let config = SimConfig { webhook_timeout_ms: 300, ..SimConfig::ephemeral() };
    let t = spawn_with(
        config,
        Arc::new(|_, seen| (200, if seen == 0 { Duration::from_millis(1000) } else { Duration::ZERO })),
    )
    .await;
    t.sim.create_trade(one_line()).await.unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    let r = &t.sim.messages(&MessageFilter::default())[0];
    assert_eq!((r.state, r.attempts, r.first_status), (MessageState::Delivered, 2, None));
    assert!(r.last_error.is_none());
}

#[tokio::test]
async fn with_drop_rate_1_nothing_is_pushed_but_the_api_still_has_it() {
    let config =
        SimConfig { chaos: ChaosConfig { drop_rate: 1.0, ..ChaosConfig::default() }, ..SimConfig::ephemeral() };
    let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    t.sim.pay(&tid).await.unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(t.receiver.received().is_empty());
    let stats = t.sim.stats();
    assert_eq!((stats.messages_created, stats.messages_dropped, stats.attempts), (2, 2, 0));
    assert!(t.sim.messages(&MessageFilter::default()).iter().all(|m| m.state == MessageState::Dropped));
    let found = t.api.get(&format!("/trades/{tid}"), &[]).await;
    assert_eq!(found.json["trade"]["status"], "WAIT_SELLER_SEND_GOODS", "reconciliation finds what push never sent");
}

#[tokio::test]
async fn with_duplicate_rate_1_every_message_arrives_twice_with_the_same_id() {
    let config =
        SimConfig { chaos: ChaosConfig { duplicate_rate: 1.0, ..ChaosConfig::default() }, ..SimConfig::ephemeral() };
    let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    for _ in 0..3 {
        let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
        t.sim.pay(&tid).await.unwrap();
    }
    t.sim.wait_delivered(WAIT).await.unwrap();
    let got = t.receiver.received();
    assert_eq!(got.len(), 12);
    let mut by_id: HashMap<&str, Vec<&Received>> = HashMap::new();
    for r in &got {
        by_id.entry(r.message_id()).or_default().push(r);
    }
    assert_eq!(by_id.len(), 6);
    assert!(by_id.values().all(|copies| copies.len() == 2 && copies[0].body == copies[1].body));
    let stats = t.sim.stats();
    assert_eq!((stats.messages_duplicated, stats.messages_delivered, stats.successful_pushes), (6, 6, 12));
}

#[tokio::test]
async fn a_reordered_message_is_overtaken_by_a_later_one() {
    let t = spawn_sim().await;
    t.sim.set_chaos(ChaosConfig { reorder_rate: 1.0, reorder_ms: 600, ..ChaosConfig::default() }).unwrap();
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    t.sim.set_chaos(ChaosConfig::default()).unwrap();
    t.sim.pay(&tid).await.unwrap();
    let got = t.receiver.wait_for(2, WAIT).await;
    assert_eq!(got.iter().map(Received::topic).collect::<Vec<_>>(), ["trade.TradeBuyerPay", "trade.TradeCreate"]);
    assert_eq!(got[0].trade().status, TradeStatus::WaitSellerSendGoods);
}

#[tokio::test]
async fn delay_ms_holds_every_message_back() {
    let t = spawn_sim().await;
    t.sim.set_chaos(ChaosConfig { delay_ms: 200, ..ChaosConfig::default() }).unwrap();
    let started = Instant::now();
    t.sim.create_trade(one_line()).await.unwrap();
    let got = t.receiver.wait_for(1, WAIT).await;
    assert!(got[0].at.duration_since(started) >= Duration::from_millis(200));
}

#[tokio::test]
async fn retries_go_to_the_url_and_secret_the_shop_has_now() {
    let t = spawn_with(SimConfig::ephemeral(), Arc::new(|_, _| (500, Duration::ZERO))).await;
    t.sim.create_trade(one_line()).await.unwrap();
    t.receiver.wait_for(1, WAIT).await;
    let fresh = Receiver::ok().await;
    let update = bazaar_sim::ShopUpdate {
        webhook_url: Some(fresh.url.clone()),
        webhook_secret: Some("whsec_rotated".into()),
        ..Default::default()
    };
    t.sim.upsert_shop(SHOP, update).await.unwrap();
    let got = fresh.wait_for(1, WAIT).await;
    assert!(got[0].signature_ok("whsec_rotated"));
}

#[tokio::test]
async fn a_shop_without_a_webhook_url_gets_no_pushes() {
    let t = spawn_sim().await;
    let other = t.sim.create_shop(bazaar_sim::NewShop::default()).await.unwrap();
    t.sim
        .create_trade(NewTrade::new(
            &other.shop_id,
            vec![NewLine { price: Some("1.00".into()), ..NewLine::new("X", 1) }],
        ))
        .await
        .unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    assert_eq!(t.sim.stats().messages_unsubscribed, 1);
    assert!(t.receiver.received().is_empty());
}
