//! Trades through their BAZAAR.md statuses, as the receiver sees them.

use crate::helpers::*;
use bazaar_sim::{
    AddressChange, BuyerSpec, NewLine, NewTrade, Receiver as Addressee, RefundOutcome, RefundRequest, RefundStatus,
    ShipRequest, SimConfig, TradeSnapshot, TradeStatus,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn assert_adds_up(t: &TradeSnapshot) {
    let goods: i64 = t.orders.iter().map(|o| fen(&o.price) * o.num).sum();
    let lines: i64 = t.orders.iter().map(|o| fen(&o.payment)).sum();
    assert_eq!(fen(&t.payment), goods - fen(&t.discount_fee) + fen(&t.post_fee), "{t:?}");
    assert_eq!(lines, goods - fen(&t.discount_fee), "line payments carry exactly the discount: {t:?}");
    assert!(t.orders.iter().all(|o| fen(&o.payment) <= fen(&o.price) * o.num && fen(&o.payment) >= 0));
    assert_eq!(t.currency, "CNY");
}

#[tokio::test]
async fn a_trade_lifecycle_pushes_strictly_newer_snapshots_in_bazaar_md_order() {
    let t = spawn_sim().await;
    let sim = &t.sim;
    let created = sim
        .create_trade(NewTrade {
            discount_fee: Some("20.00".into()),
            post_fee: Some("8.00".into()),
            buyer_memo: Some("周末送货".into()),
            ..NewTrade::new(SHOP, vec![NewLine::new("TEE-RED-M", 2), NewLine::new("CUP-SLV", 1)])
        })
        .await
        .unwrap();
    let tid = created.tid.clone();
    let (tee, cup) = (created.orders[0].oid.clone(), created.orders[1].oid.clone());
    sim.pay(&tid).await.unwrap();
    sim.change_address(&tid, AddressChange::default()).await.unwrap();
    sim.refund(&tid, RefundRequest { oids: Some(vec![cup.clone()]), outcome: RefundOutcome::Success }).await.unwrap();
    sim.ship(&tid, ShipRequest { company_code: "SF".into(), waybill_no: "SF1234567890".into(), oids: None })
        .await
        .unwrap();
    let last = sim.confirm(&tid).await.unwrap();
    sim.wait_delivered(WAIT).await.unwrap();

    let mut got = t.receiver.received();
    assert_eq!(got.len(), 7);
    // Deliveries run concurrently, so arrival order is not guaranteed: order by `modified`.
    got.sort_by_key(|r| time(&r.trade().modified));
    let topics: Vec<String> = got.iter().map(Received::topic).collect();
    assert_eq!(
        topics,
        [
            "trade.TradeCreate",
            "trade.TradeBuyerPay",
            "trade.TradeChanged",
            "refund.RefundCreated",
            "refund.RefundSuccess",
            "trade.TradeSellerShip",
            "trade.TradeSuccess"
        ]
    );
    let statuses: Vec<TradeStatus> = got.iter().map(|r| r.trade().status).collect();
    use TradeStatus::*;
    assert_eq!(
        statuses,
        [
            WaitBuyerPay,
            WaitSellerSendGoods,
            WaitSellerSendGoods,
            WaitSellerSendGoods,
            WaitSellerSendGoods,
            WaitBuyerConfirmGoods,
            TradeFinished
        ]
    );
    let modified: Vec<_> = got.iter().map(|r| time(&r.trade().modified)).collect();
    assert!(modified.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {modified:?}");
    assert!(got.iter().all(|r| r.trade().modified.ends_with("+08:00") && r.trade().modified.len() == 29));
    let refunds: Vec<RefundStatus> = got.iter().map(|r| r.trade().orders[1].refund_status).collect();
    assert_eq!(&refunds[2..5], [RefundStatus::NoRefund, RefundStatus::WaitSellerAgree, RefundStatus::Success]);
    assert!(got.iter().all(|r| r.trade().orders[0].oid == tee));

    let ids: HashSet<&str> = got.iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), 7, "one message id per message");
    for r in &got {
        assert!(r.signature_ok(SECRET), "signature of {}", r.topic());
        assert_eq!(r.header("X-Bazaar-Topic"), r.topic());
        assert_eq!(r.header("X-Bazaar-Shop-Id"), SHOP);
        assert_eq!(r.json()["shop_id"], SHOP);
        let ts: i64 = r.header("X-Bazaar-Timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        assert_adds_up(&r.trade());
    }
    let paid = got[1].trade();
    assert_eq!(paid.pay_time.as_deref(), Some(paid.modified.as_str()));
    assert_eq!(got[6].trade(), last);
    assert_eq!(last.payment, "495.00", "209×2 + 89 − 20 + 8");
}

#[tokio::test]
async fn the_snapshot_has_exactly_the_bazaar_md_shape() {
    let t = spawn_sim().await;
    let receiver = Addressee {
        name: "王小明".into(),
        phone: "13800000000".into(),
        province: "浙江省".into(),
        city: "杭州市".into(),
        district: "余杭区".into(),
        address: "文一西路969号".into(),
        zip: "311121".into(),
    };
    t.sim
        .create_trade(NewTrade {
            buyer: Some(BuyerSpec { nick: "买家小王".into(), receiver }),
            discount_fee: Some("20.00".into()),
            invoice_request: Some(None),
            ..NewTrade::new(SHOP, vec![NewLine::new("TEE-RED-M", 2)])
        })
        .await
        .unwrap();
    let got = t.receiver.wait_for(1, WAIT).await;
    let body = got[0].json();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let mut top = keys(&body);
    top.sort();
    assert_eq!(top, ["shop_id", "topic", "trade"]);
    let trade = &body["trade"];
    let mut fields = keys(trade);
    fields.sort();
    let mut expected = vec![
        "tid",
        "status",
        "created",
        "pay_time",
        "modified",
        "buyer_nick",
        "buyer_memo",
        "seller_memo",
        "seller_flag",
        "receiver",
        "currency",
        "payment",
        "post_fee",
        "discount_fee",
        "invoice_request",
        "orders",
    ];
    expected.sort();
    assert_eq!(fields, expected);
    let mut line = keys(&trade["orders"][0]);
    line.sort();
    assert_eq!(
        line,
        [
            "num",
            "num_iid",
            "oid",
            "outer_sku_id",
            "payment",
            "price",
            "refund_status",
            "sku_id",
            "sku_properties",
            "title"
        ]
    );
    // The BAZAAR.md example line: a variant of the T-shirt item, with its merchant code.
    assert_eq!(trade["orders"][0]["outer_sku_id"], "TEE-RED-M");
    assert_eq!(trade["orders"][0]["sku_properties"], "颜色:红色;尺码:M");
    assert!(trade["orders"][0]["num_iid"].as_str().is_some_and(|s| s.len() == 12));
    assert!(trade["orders"][0]["sku_id"].as_str().is_some_and(|s| s.len() == 13));
    assert_eq!(trade["seller_memo"], serde_json::Value::Null);
    assert_eq!(trade["seller_flag"], 0);
    assert_eq!(trade["invoice_request"], serde_json::Value::Null);
    assert_eq!(trade["pay_time"], serde_json::Value::Null);
    assert_eq!(trade["payment"], "398.00");
    assert_eq!(trade["orders"][0]["payment"], "398.00");
    assert_eq!(trade["orders"][0]["num"], 2);
    assert_eq!(trade["orders"][0]["refund_status"], "NO_REFUND");
    assert_eq!(trade["status"], "WAIT_BUYER_PAY");
    assert_eq!(trade["receiver"]["district"], "余杭区");
}

#[tokio::test]
async fn a_full_refund_closes_the_trade() {
    let t = spawn_sim().await;
    let tid = t
        .sim
        .create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1), NewLine::new("CUP-SLV", 2)]))
        .await
        .unwrap()
        .tid;
    t.sim.pay(&tid).await.unwrap();
    let closed = t.sim.refund(&tid, RefundRequest::default()).await.unwrap();
    assert_eq!(closed.status, TradeStatus::TradeClosed);
    assert!(closed.orders.iter().all(|o| o.refund_status == RefundStatus::Success));
    t.sim.wait_delivered(WAIT).await.unwrap();
    let mut got = t.receiver.received();
    got.sort_by_key(|r| time(&r.trade().modified));
    let topics: Vec<String> = got.iter().map(Received::topic).collect();
    assert_eq!(
        topics,
        [
            "trade.TradeCreate",
            "trade.TradeBuyerPay",
            "refund.RefundCreated",
            "refund.RefundSuccess",
            "trade.TradeClose"
        ]
    );
    assert!(
        t.sim
            .ship(&tid, ShipRequest { company_code: "SF".into(), waybill_no: "SF1".into(), oids: None })
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unpaid_trades_close_by_market_after_the_pay_timeout() {
    let config = SimConfig { pay_timeout_secs: 0.2, ..SimConfig::ephemeral() };
    let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    let unpaid = t.sim.create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])).await.unwrap().tid;
    let paid = t.sim.create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])).await.unwrap().tid;
    t.sim.pay(&paid).await.unwrap();
    let got = t.receiver.wait_for(4, WAIT).await;
    let close = got.iter().find(|r| r.topic() == "trade.TradeClose").expect("a close message");
    assert_eq!(close.trade().tid, unpaid);
    assert_eq!(close.trade().status, TradeStatus::TradeClosedByMarket);
    assert_eq!(t.sim.trade(&paid).await.unwrap().status, TradeStatus::WaitSellerSendGoods);
}

#[tokio::test]
async fn partial_shipment_then_the_rest() {
    let t = spawn_sim().await;
    let trade = t
        .sim
        .create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1), NewLine::new("CUP-SLV", 1)]))
        .await
        .unwrap();
    t.sim.pay(&trade.tid).await.unwrap();
    let first = vec![trade.orders[0].oid.clone()];
    let part = t
        .sim
        .ship(&trade.tid, ShipRequest { company_code: "SF".into(), waybill_no: "SF1".into(), oids: Some(first) })
        .await
        .unwrap();
    assert_eq!(part.status, TradeStatus::SellerConsignedPart);
    let all = t
        .sim
        .ship(&trade.tid, ShipRequest { company_code: "YTO".into(), waybill_no: "YT2".into(), oids: None })
        .await
        .unwrap();
    assert_eq!(all.status, TradeStatus::WaitBuyerConfirmGoods);
    t.sim.wait_delivered(WAIT).await.unwrap();
    let topics: HashSet<String> = t.receiver.received().iter().map(Received::topic).collect();
    assert!(topics.contains("trade.TradePartlySellerShip") && topics.contains("trade.TradeSellerShip"));
}

#[tokio::test]
async fn generated_trades_look_real_and_add_up() {
    let t = spawn_sim().await;
    let mut company = 0;
    for i in 0..200 {
        let discount = format!("{}.{:02}", i % 7, i % 100);
        let trade = t
            .sim
            .create_trade(NewTrade {
                discount_fee: Some(discount),
                post_fee: Some(if i % 3 == 0 { "10.00".into() } else { "0.00".into() }),
                ..NewTrade::new(
                    SHOP,
                    vec![NewLine::new("TEE-RED-M", 1 + i % 3), NewLine::new("CUP-SLV", 1), NewLine::new("NUT", 2)],
                )
            })
            .await
            .unwrap();
        assert_adds_up(&trade);
        assert!(!trade.buyer_nick.is_empty() && trade.receiver.phone.len() == 11);
        assert!(
            trade.receiver.province.ends_with('省')
                || trade.receiver.province.ends_with('市')
                || trade.receiver.province.ends_with("自治区")
        );
        if let Some(tax_id) = trade.invoice_request.as_ref().and_then(|i| i.tax_id.as_ref()) {
            company += 1;
            assert_eq!(tax_id.len(), 18);
        }
    }
    assert!((10..60).contains(&company), "about 15% company invoices, got {company}/200");
}
