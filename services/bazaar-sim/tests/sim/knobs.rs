//! The traffic knobs: each produces what it says, at its rate, the same way for the same seed.

use crate::helpers::*;
use bazaar_sim::{RefundStatus, SellerMemo, SimConfig, TradeSnapshot, TrafficConfig, TrickleConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// Every trade paid, none shipped from the console: nothing cuts a life short.
fn lives() -> TrickleConfig {
    TrickleConfig { pay_share: 1.0, ship_share: 0.0, ..TrickleConfig::default() }
}

async fn sim_with(traffic: TrafficConfig) -> TestSim {
    spawn_with(SimConfig { traffic, ..SimConfig::ephemeral() }, Arc::new(|_, _| (200, Duration::ZERO))).await
}

/// (buyer memo, seller memo, flag, refund statuses, receiver address) of a trade.
type Outcome = (Option<String>, Option<String>, i32, Vec<RefundStatus>, String);

/// What the knobs did to the played trades, by tid.
#[derive(Debug, PartialEq)]
struct Tally {
    buyer_memos: usize,
    seller_memos: usize,
    refunds_closed: usize,
    refunds_succeeded: usize,
    address_changes: usize,
    /// Per trade in order: what two runs with the same seed must agree on.
    outcomes: Vec<Outcome>,
}

async fn play_and_tally(t: &TestSim, trades: usize) -> Tally {
    let report = t.sim.play(lives(), trades).await.unwrap();
    assert_eq!(report.tids.len(), trades);
    t.sim.wait_delivered(WAIT).await.unwrap();
    let created: HashMap<String, TradeSnapshot> = t
        .receiver
        .received()
        .iter()
        .filter(|r| r.topic() == "trade.TradeCreate")
        .map(|r| (r.trade().tid.clone(), r.trade()))
        .collect();
    let mut tally = Tally {
        buyer_memos: 0,
        seller_memos: 0,
        refunds_closed: 0,
        refunds_succeeded: 0,
        address_changes: 0,
        outcomes: Vec::new(),
    };
    for tid in &report.tids {
        let now = t.sim.trade(tid).await.unwrap();
        let refunds: Vec<RefundStatus> = now.orders.iter().map(|o| o.refund_status).collect();
        tally.buyer_memos += usize::from(now.buyer_memo.is_some());
        if now.seller_memo.is_some() {
            assert!((1..=5).contains(&now.seller_flag), "a seller memo comes with a flag: {}", now.seller_flag);
            tally.seller_memos += 1;
        } else {
            assert_eq!(now.seller_flag, 0);
        }
        tally.refunds_closed += usize::from(refunds.contains(&RefundStatus::Closed));
        tally.refunds_succeeded += usize::from(refunds.contains(&RefundStatus::Success));
        assert!(!refunds.contains(&RefundStatus::WaitSellerAgree), "every requested refund was settled");
        let before = &created[tid].receiver;
        if now.receiver != *before {
            assert_eq!(now.receiver.name, before.name, "the same person, a new address");
            tally.address_changes += 1;
        }
        tally.outcomes.push((now.buyer_memo, now.seller_memo, now.seller_flag, refunds, now.receiver.address));
    }
    tally
}

#[tokio::test]
async fn each_knob_produces_its_share_the_same_way_every_run() {
    let traffic = TrafficConfig {
        buyer_memo_share: 0.2,
        seller_memo_share: 0.1,
        refund_request_share: 0.15,
        refund_close_share: 1.0 / 3.0,
        address_change_share: 0.1,
        ..TrafficConfig::default()
    };
    let t = sim_with(traffic.clone()).await;
    let a = play_and_tally(&t, 1000).await;
    // Binomial counts, ±4 standard deviations.
    let near = |got: usize, expected: f64| {
        let sd = (expected * (1.0 - expected / 1000.0)).sqrt();
        (got as f64 - expected).abs() <= 4.0 * sd
    };
    assert!(near(a.buyer_memos, 200.0), "buyer memos {}", a.buyer_memos);
    assert!(near(a.seller_memos, 100.0), "seller memos {}", a.seller_memos);
    assert!(near(a.address_changes, 100.0), "address changes {}", a.address_changes);
    let refunds = a.refunds_closed + a.refunds_succeeded;
    assert!(near(refunds, 150.0), "refunds {refunds}");
    assert!(near(a.refunds_closed, 50.0), "closed {} of {refunds}", a.refunds_closed);

    let again = sim_with(traffic).await;
    assert_eq!(play_and_tally(&again, 1000).await, a, "the same seed plays the same lives");
}

#[tokio::test]
async fn knobs_at_zero_leave_trades_plain() {
    let t = sim_with(TrafficConfig::default()).await;
    let tally = play_and_tally(&t, 200).await;
    assert_eq!(
        (tally.buyer_memos, tally.seller_memos, tally.refunds_closed, tally.refunds_succeeded, tally.address_changes),
        (0, 0, 0, 0, 0)
    );
    assert!(t.sim.items(SHOP).await.iter().all(|i| i.merchant_code));
}

/// The pushed messages of one trade, oldest first.
fn pushed(t: &TestSim, tid: &str) -> Vec<(String, TradeSnapshot)> {
    let mut got: Vec<(String, TradeSnapshot)> =
        t.receiver.received().iter().map(|r| (r.topic(), r.trade())).filter(|(_, s)| s.tid == tid).collect();
    got.sort_by_key(|(_, s)| time(&s.modified));
    got.dedup_by(|a, b| a.1.modified == b.1.modified);
    got
}

#[tokio::test]
async fn refunds_close_or_succeed_and_addresses_change_with_a_webhook_each_and_a_newer_modified() {
    let traffic = TrafficConfig {
        refund_request_share: 1.0,
        refund_close_share: 0.5,
        address_change_share: 1.0,
        seller_memo_share: 1.0,
        ..TrafficConfig::default()
    };
    let t = sim_with(traffic).await;
    let report = t.sim.play(lives(), 40).await.unwrap();
    t.sim.wait_delivered(WAIT).await.unwrap();
    assert!(t.receiver.received().iter().all(|r| r.signature_ok(SECRET)));
    let (mut closed, mut succeeded) = (0, 0);
    for tid in &report.tids {
        let msgs = pushed(&t, tid);
        let topics: Vec<&str> = msgs.iter().map(|(topic, _)| topic.as_str()).collect();
        let modified: Vec<_> = msgs.iter().map(|(_, s)| time(&s.modified)).collect();
        assert!(modified.windows(2).all(|w| w[0] < w[1]), "{tid}: every change bumps modified: {modified:?}");
        assert_eq!(&topics[..2], ["trade.TradeCreate", "trade.TradeBuyerPay"], "{tid}: {topics:?}");
        let at = |topic: &str| topics.iter().position(|t| *t == topic);
        // The receiver changed after payment, with its own message.
        let paid = &msgs[1].1;
        let changed =
            msgs.iter().find(|(topic, s)| topic == "trade.TradeChanged" && s.receiver != paid.receiver).expect(tid);
        assert!(time(&changed.1.modified) > time(&paid.modified) && changed.1.pay_time == paid.pay_time);
        // The seller's memo, flagged.
        assert!(
            msgs.iter().any(|(topic, s)| topic == "trade.TradeChanged" && s.seller_memo.is_some() && s.seller_flag > 0)
        );
        // The refund was requested, then closed (the lines are back to normal) or succeeded.
        let created = at("refund.RefundCreated").expect(tid);
        let requested = &msgs[created].1;
        assert!(requested.orders.iter().any(|o| o.refund_status == RefundStatus::WaitSellerAgree));
        match (at("refund.RefundClosed"), at("refund.RefundSuccess")) {
            (Some(end), None) => {
                assert!(end > created);
                assert!(msgs[end].1.orders.iter().any(|o| o.refund_status == RefundStatus::Closed));
                assert!(msgs[end].1.orders.iter().all(|o| o.refund_status != RefundStatus::Success));
                closed += 1;
            }
            (None, Some(end)) => {
                assert!(end > created);
                assert!(msgs[end].1.orders.iter().any(|o| o.refund_status == RefundStatus::Success));
                succeeded += 1;
            }
            other => panic!("{tid}: one refund ending, got {other:?} in {topics:?}"),
        }
    }
    assert!(closed > 5 && succeeded > 5, "{closed} closed, {succeeded} succeeded");
}

#[tokio::test]
async fn the_seller_memo_and_flag_change_the_trade() {
    let t = spawn_sim().await;
    let tid = t
        .sim
        .create_trade(bazaar_sim::NewTrade::new(SHOP, vec![bazaar_sim::NewLine::new("NUT", 1)]))
        .await
        .unwrap()
        .tid;
    let memo = SellerMemo { seller_memo: Some("优先发货".into()), seller_flag: Some(4) };
    let s = t.sim.set_seller_memo(&tid, memo).await.unwrap();
    assert_eq!((s.seller_memo.as_deref(), s.seller_flag), (Some("优先发货"), 4));
    let s = t.sim.set_seller_memo(&tid, SellerMemo { seller_flag: Some(0), ..SellerMemo::default() }).await.unwrap();
    assert_eq!((s.seller_memo.as_deref(), s.seller_flag), (Some("优先发货"), 0), "a field left out stays");
    let bad = t.sim.set_seller_memo(&tid, SellerMemo { seller_flag: Some(9), ..SellerMemo::default() }).await;
    assert_eq!(bad.unwrap_err().code(), "isv.invalid-parameter");
    // Over the admin API too, and the knobs can be read and changed while running.
    let http = reqwest::Client::new();
    let a: serde_json::Value = http
        .post(format!("{}/admin/trades/{tid}/seller-memo", t.sim.url()))
        .json(&serde_json::json!({"seller_memo": "", "seller_flag": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((a["seller_memo"].clone(), a["seller_flag"].clone()), (serde_json::Value::Null, serde_json::json!(2)));
    let put = http
        .put(format!("{}/admin/traffic", t.sim.url()))
        .json(&serde_json::to_value(TrafficConfig::realistic()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(t.sim.traffic(), TrafficConfig::realistic());
    let bad = http
        .put(format!("{}/admin/traffic", t.sim.url()))
        .json(&serde_json::json!({"buyer_memo_share": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    t.sim.wait_delivered(WAIT).await.unwrap();
    let changed: Vec<_> = t.receiver.received().into_iter().filter(|r| r.topic() == "trade.TradeChanged").collect();
    assert_eq!(changed.len(), 3, "one message per change");
}
