//! The admin HTTP API, as the demo and curl use it.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_admin_api_drives_the_marketplace() {
    let t = spawn_sim().await;
    let base = format!("{}/admin", t.sim.url());
    use reqwest::Method;

    let (s, shop) = call(
        Method::PUT,
        format!("{base}/shops/shop-9"),
        Some(json!({"webhook_url": t.receiver.url, "webhook_secret": "whsec_9"})),
    )
    .await;
    assert_eq!(s, 200, "{shop}");
    assert_eq!(shop["shop_id"], "shop-9");
    let (s, _) = call(
        Method::POST,
        format!("{base}/items"),
        Some(json!({"shop_id": "shop-9", "outer_sku_id": "TEA", "price": "268.00", "quantity": 10})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, trade) = call(
        Method::POST,
        format!("{base}/trades"),
        Some(json!({"shop_id": "shop-9", "lines": [{"outer_sku_id": "TEA", "num": 2}], "discount_fee": "16.00", "invoice_request": null})),
    )
    .await;
    assert_eq!(s, 200, "{trade}");
    assert_eq!(trade["payment"], "520.00");
    assert_eq!(trade["invoice_request"], Value::Null);
    let tid = trade["tid"].as_str().unwrap();
    let (s, paid) = call(Method::POST, format!("{base}/trades/{tid}/pay"), None).await;
    assert_eq!((s, paid["status"].as_str()), (200, Some("WAIT_SELLER_SEND_GOODS")));
    let (s, again) = call(Method::POST, format!("{base}/trades/{tid}/pay"), None).await;
    assert_eq!((s, again["code"].as_str()), (409, Some("isv.invalid-trade-status")));
    let (s, moved) = call(Method::POST, format!("{base}/trades/{tid}/address"), Some(json!({}))).await;
    assert_eq!(s, 200);
    assert_eq!(moved["receiver"]["name"], trade["receiver"]["name"]);
    let (s, _) = call(Method::POST, format!("{base}/trades/{tid}/refund"), Some(json!({"outcome": "pending"}))).await;
    assert_eq!(s, 200);
    let (s, settled) =
        call(Method::POST, format!("{base}/trades/{tid}/refund/settle"), Some(json!({"success": false}))).await;
    assert_eq!((s, settled["orders"][0]["refund_status"].as_str()), (200, Some("CLOSED")));
    let (s, shipped) = call(
        Method::POST,
        format!("{base}/trades/{tid}/ship"),
        Some(json!({"company_code": "SF", "waybill_no": "SF1"})),
    )
    .await;
    assert_eq!((s, shipped["status"].as_str()), (200, Some("WAIT_BUYER_CONFIRM_GOODS")));
    let (s, done) = call(Method::POST, format!("{base}/trades/{tid}/confirm"), None).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("TRADE_FINISHED")));
    let (s, missing) = call(Method::POST, format!("{base}/trades/T0/pay"), None).await;
    assert_eq!((s, missing["code"].as_str()), (404, Some("isv.trade-not-exist")));

    let (_, listed) = call(Method::GET, format!("{base}/trades?shop_id=shop-9&status=TRADE_FINISHED"), None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    t.sim.wait_delivered(Duration::from_secs(10)).await.unwrap();
    let (_, msgs) = call(Method::GET, format!("{base}/messages?tid={tid}"), None).await;
    assert_eq!(msgs.as_array().unwrap().len(), 7, "create, pay, address, refund created, refund closed, ship, confirm");
    assert!(msgs.as_array().unwrap().iter().all(|m| m["state"] == "delivered"));
    let (_, stats) = call(Method::GET, format!("{base}/stats"), None).await;
    assert_eq!(stats["messages_delivered"], 7);
    assert!(stats["push_latency_ms"]["p99"].as_f64().unwrap() > 0.0);

    let (s, o) = call(Method::POST, format!("{base}/outage"), Some(json!({"seconds": 30}))).await;
    assert_eq!(s, 200);
    assert!(o["outage_left_secs"].as_f64().unwrap() > 29.0);
    assert!(t.sim.webhook_outage_left().is_some());
    call(Method::POST, format!("{base}/outage"), Some(json!({"seconds": 0}))).await;
    assert!(t.sim.webhook_outage_left().is_none());
    let (s, _) = call(Method::POST, format!("{base}/api-outage"), Some(json!({"seconds": 5}))).await;
    assert_eq!(s, 200);
    assert!(t.sim.api_outage_left().is_some());

    let (s, e) = call(Method::PUT, format!("{base}/chaos"), Some(json!({"drop_rate": 2.0}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("isv.invalid-parameter")));
    let (s, c) = call(Method::PUT, format!("{base}/chaos"), Some(json!({"duplicate_rate": 0.5}))).await;
    assert_eq!((s, c["duplicate_rate"].as_f64()), (200, Some(0.5)));
    let (s, e) =
        call(Method::POST, format!("{base}/trades"), Some(json!({"shop_id": "shop-9", "lines": "nope"}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("isv.invalid-parameter")));

    let (s, b) = call(Method::POST, format!("{base}/burst"), Some(json!({"shops": ["shop-9"], "orders": 5}))).await;
    assert_eq!((s, b["created"].as_u64()), (200, Some(5)));
    let (s, _) = call(Method::POST, format!("{base}/trickle"), Some(json!({"trades_per_minute": 60}))).await;
    assert_eq!(s, 200);
    assert!(t.sim.trickle_running());
    call(Method::DELETE, format!("{base}/trickle"), None).await;
    assert!(!t.sim.trickle_running());
}
