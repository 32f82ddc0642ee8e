//! The audit step (issue 14): lines that map to no SKU, product mapping, holds and releases.

use crate::harness::TestApp;
use serde_json::{Value, json};
use testkit::{Channel, Tenant, bazaar::Trade};

both!(refunds_address_changes_memos_and_people_hold_and_release);

fn hold_reasons(o: &Value) -> Vec<String> {
    o["holds"].as_array().unwrap().iter().map(|h| h["reason"].as_str().unwrap().to_owned()).collect()
}

async fn order(app: &TestApp, t: &Tenant, tid: &str) -> Value {
    let o = app.order_by_tid(t, tid).await.unwrap_or_else(|| panic!("order {tid} exists"));
    app.get(&format!("/v1/orders/{}", o["id"].as_str().unwrap()), &t.token).await.expect(200)
}

async fn paid(app: &TestApp, ch: &Channel, trade: &Trade, id: &str) {
    app.post_webhook(ch, id, &trade.paid_msg(1000)).await.expect(200);
}

async fn refunds_address_changes_memos_and_people_hold_and_release(app: TestApp) {
    let t = app.signup("Audit").await;
    for sku in ["A-1", "B-1"] {
        app.create_sku(&t, sku, 0).await;
        app.adjust(&t, sku, 10).await;
    }
    let ch = app.connect_bazaar(&t, "shop-a", None).await;
    let now = chrono::Utc::now() - chrono::Duration::minutes(10);

    // A refund requested on a paid, unshipped order holds it; the stock stays reserved.
    let trade = Trade::new("shop-a", "TR1", now, "A-1", 1).line("B-1", 2, 5000);
    paid(&app, &ch, &trade, "r-0").await;
    app.settle().await;
    assert_eq!(order(&app, &t, "TR1").await["status"], "allocated");
    let oid = trade.lines[0].oid.clone();
    app.post_webhook(&ch, "r-1", &trade.refund_msg(1000, 2000, &[&oid], "WAIT_SELLER_AGREE")).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, "TR1").await;
    assert_eq!((o["status"].as_str(), hold_reasons(&o)), (Some("on_hold"), vec!["refund_pending".to_owned()]), "{o}");
    assert_eq!(app.stock(&t, "A-1").await["reserved"], 1, "held, not released");
    let id = o["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/orders/{id}/release"), &t.token, &json!({}))
        .await
        .assert_problem(409, "invalid_state_transition");
    // The refund closing lifts the hold.
    app.post_webhook(&ch, "r-2", &trade.refund_msg(1000, 3000, &[&oid], "CLOSED")).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, "TR1").await;
    assert_eq!((o["status"].as_str(), hold_reasons(&o).len()), (Some("allocated"), 0), "{o}");
    // Asked again, then granted: the line's stock goes back and the rest is ready.
    app.post_webhook(&ch, "r-3", &trade.refund_msg(1000, 4000, &[&oid], "WAIT_SELLER_AGREE")).await.expect(200);
    app.settle().await;
    assert_eq!(order(&app, &t, "TR1").await["status"], "on_hold");
    app.post_webhook(&ch, "r-4", &trade.refund_msg(1000, 5000, &[&oid], "SUCCESS")).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, "TR1").await;
    assert_eq!((o["status"].as_str(), hold_reasons(&o).len()), (Some("allocated"), 0), "{o}");
    assert_eq!(app.stock(&t, "A-1").await["reserved"], 0);
    assert_eq!(app.stock(&t, "B-1").await["reserved"], 2);

    // An address change after payment holds; a release accepts the new address.
    let trade = Trade::new("shop-a", "TR2", now, "A-1", 1);
    paid(&app, &ch, &trade, "a-0").await;
    let mut moved = trade.clone();
    moved.address = "良睦路1399号".into();
    app.post_webhook(&ch, "a-1", &moved.modified_msg(1000, 2000)).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, "TR2").await;
    assert_eq!(hold_reasons(&o), vec!["address_changed".to_owned()], "{o}");
    assert!(o["holds"][0]["detail"].as_str().unwrap().contains("良睦路1399号"), "{o}");
    assert_eq!(o["holds"][0]["releasable"], true);
    let id = o["id"].as_str().unwrap().to_owned();
    let r =
        app.post(&format!("/v1/orders/{id}/release"), &t.token, &json!({"note": "买家确认新地址"})).await.expect(200);
    assert_eq!((r["status"].as_str(), r["changed"].as_bool()), (Some("allocated"), Some(true)), "{r}");
    let r = app.post(&format!("/v1/orders/{id}/release"), &t.token, &json!({})).await.expect(200);
    assert_eq!(r["changed"], false, "a repeat changes nothing: {r}");
    let o = order(&app, &t, "TR2").await;
    assert_eq!((o["status"].as_str(), o["receiver"]["address"].as_str()), (Some("allocated"), Some("良睦路1399号")));
    let released =
        o["timeline"].as_array().unwrap().iter().find(|e| e["detail"].as_str().unwrap().contains("买家确认新地址"));
    assert!(released.is_some_and(|e| e["detail"].as_str().unwrap().contains("user:")), "who released it: {o}");
    // The same snapshot again does not hold it again.
    app.post_webhook(&ch, "a-2", &moved.modified_msg(1000, 2500)).await.expect(200);
    app.settle().await;
    assert_eq!(order(&app, &t, "TR2").await["status"], "allocated");

    // Memo and amount rules hold only when switched on.
    let mut memo = Trade::new("shop-a", "TR3", now, "B-1", 1);
    memo.buyer_memo = Some("请发顺丰".into());
    paid(&app, &ch, &memo, "b-0").await;
    app.settle().await;
    assert_eq!(order(&app, &t, "TR3").await["status"], "allocated", "memo rules are off by default");
    let rules = app.get("/v1/orders/audit-rules", &t.token).await.expect(200);
    assert_eq!((rules["buyer_memo"].as_bool(), rules["amount_over"].clone()), (Some(false), json!(null)), "{rules}");
    let on = json!({"buyer_memo": true, "amount_over": "120.00"});
    let r = app.put("/v1/orders/audit-rules", &t.token, &on).await.expect(200);
    assert_eq!((r["buyer_memo"].as_bool(), r["amount_over"].as_str()), (Some(true), Some("120.00")), "{r}");
    app.settle().await;
    let o = order(&app, &t, "TR3").await;
    assert_eq!(hold_reasons(&o), vec!["buyer_memo".to_owned()], "{o}");
    // TR1's payment (99 + 2 × 50 = 199) is over 120; TR2 (99) is not.
    assert_eq!(hold_reasons(&order(&app, &t, "TR1").await), vec!["amount_over".to_owned()]);
    assert!(hold_reasons(&order(&app, &t, "TR2").await).is_empty());
    let off = json!({"buyer_memo": false});
    app.put("/v1/orders/audit-rules", &t.token, &off).await.expect(200);
    app.settle().await;
    assert_eq!(order(&app, &t, "TR3").await["status"], "allocated");
    assert_eq!(order(&app, &t, "TR1").await["status"], "allocated");

    // A manual hold survives a newer snapshot of the trade; only a release lifts it.
    let id = order(&app, &t, "TR3").await["id"].as_str().unwrap().to_owned();
    let r = app.post(&format!("/v1/orders/{id}/hold"), &t.token, &json!({"note": "核对库存"})).await.expect(200);
    assert_eq!((r["status"].as_str(), r["changed"].as_bool()), (Some("on_hold"), Some(true)), "{r}");
    let r = app.post(&format!("/v1/orders/{id}/hold"), &t.token, &json!({"note": "again"})).await.expect(200);
    assert_eq!(r["changed"], false, "{r}");
    app.post_webhook(&ch, "b-1", &memo.modified_msg(1000, 9000)).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, "TR3").await;
    assert_eq!(hold_reasons(&o), vec!["manual".to_owned()], "{o}");
    assert_eq!(app.stock(&t, "B-1").await["reserved"], 3, "held orders keep their stock");
    let r = app.post(&format!("/v1/orders/{id}/release"), &t.token, &json!({})).await.expect(200);
    assert_eq!(r["status"], "allocated", "{r}");

    // Bulk: each id its own answer.
    let ids: Vec<String> = [order(&app, &t, "TR2").await, order(&app, &t, "TR3").await]
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let missing = uuid::Uuid::new_v4().to_string();
    let body = json!({"action": "hold", "ids": [ids[0], ids[1], missing], "note": "盘点"});
    let r = app.post("/v1/orders/bulk", &t.token, &body).await.expect(200);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|x| x["ok"].as_bool().unwrap()).collect::<Vec<_>>(), [true, true, false], "{r}");
    assert_eq!(results[2]["error_code"], "not_found");
    assert_eq!(
        app.get("/v1/orders?status=on_hold&hold_reason=manual", &t.token).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let body = json!({"action": "release", "ids": [ids[0], ids[1]]});
    let r = app.post("/v1/orders/bulk", &t.token, &body).await.expect(200);
    assert!(r["results"].as_array().unwrap().iter().all(|x| x["status"] == "allocated"), "{r}");
}
