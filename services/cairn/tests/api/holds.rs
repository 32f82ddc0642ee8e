//! The audit step (issue 14): lines that map to no SKU, product mapping, holds and releases.

use crate::harness::TestApp;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use testkit::{Channel, Tenant, bazaar::Trade};

both!(lines_without_a_sku_are_kept_on_hold_until_they_are_mapped);
both!(waiting_orders_are_released_in_paid_time_order_and_never_oversell);
both!(refunds_address_changes_memos_and_people_hold_and_release);
both!(hold_routes_are_tenant_scoped_idempotent_and_check_their_input);

const SHOPIFY_PAID: &str = include_str!("../../../channels/tests/fixtures/shopify/orders_paid.json");
const SHOPIFY_SECRET: &str = "shpss_mapping_secret";
const SHOPIFY_SHOP: &str = "mapping-test.myshopify.com";

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

async fn lines_without_a_sku_are_kept_on_hold_until_they_are_mapped(app: TestApp) {
    let t = app.signup("Mapping").await;
    for sku in ["MUG-BLUE", "SKU2006-001", "SKU2006-020"] {
        app.create_sku(&t, sku, 0).await;
        app.adjust(&t, sku, 10).await;
    }
    let ch = app.connect_bazaar(&t, "shop-map", None).await;

    // A Bazaar line without a merchant code: stored, answered 2xx, on hold.
    let trade = Trade::without_code("shop-map", "TMAP1", chrono::Utc::now(), "680001", "501", 2);
    paid(&app, &ch, &trade, "m-1").await;
    app.settle().await;
    let o = order(&app, &t, "TMAP1").await;
    assert_eq!((o["status"].as_str(), hold_reasons(&o)), (Some("on_hold"), vec!["unmapped_sku".to_owned()]), "{o}");
    let line = &o["lines"][0];
    assert_eq!((line["sku_code"].clone(), line["mapping"].as_str()), (json!(null), Some("unmapped")), "{o}");
    assert_eq!((line["item_id"].as_str(), line["variant_id"].as_str()), (Some("680001"), Some("501")));
    assert_eq!(o["holds"][0]["releasable"], false);
    // Nobody can release it by hand.
    let id = o["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/orders/{id}/release"), &t.token, &json!({"note": "ship it"}))
        .await
        .assert_problem(409, "invalid_state_transition");
    // The list filters and the mapping screen's list see it.
    let held = app.get("/v1/orders?status=on_hold&hold_reason=unmapped_sku", &t.token).await.expect(200);
    assert!(held["items"].as_array().unwrap().iter().any(|x| x["external_id"] == "TMAP1"), "{held}");
    let memo = app.get("/v1/orders?hold_reason=buyer_memo", &t.token).await.expect(200);
    assert!(memo["items"].as_array().unwrap().is_empty(), "{memo}");
    let waiting = app.get("/v1/orders/unmapped-items", &t.token).await.expect(200);
    assert_eq!(waiting["items"][0]["item_id"], "680001", "{waiting}");
    assert_eq!(waiting["items"][0]["orders"], 1, "{waiting}");
    let items = app.get(&format!("/v1/channels/{}/items", ch.id), &t.token).await.expect(200);
    let v = items["items"].as_array().unwrap().iter().find(|i| i["item_id"] == "680001").expect("seen in a trade");
    assert_eq!((v["mapping"].as_str(), v["sku_code"].clone()), (Some("unmapped"), json!(null)), "{items}");
    assert_eq!(app.stock(&t, "MUG-BLUE").await["reserved"], 0);

    // Mapping the variant reserves the stock and lifts the hold.
    let mapping = json!({"mappings": [{"item_id": "680001", "variant_id": "501", "sku_code": "MUG-BLUE"}]});
    let r = app.put(&format!("/v1/channels/{}/item-mappings", ch.id), &t.token, &mapping).await;
    assert_eq!(r.expect(200)["changed"], 1);
    app.settle().await;
    let o = order(&app, &t, "TMAP1").await;
    assert_eq!(o["status"], "allocated", "{o}");
    assert!(hold_reasons(&o).is_empty(), "{o}");
    assert_eq!(
        (o["lines"][0]["sku_code"].as_str(), o["lines"][0]["mapping"].as_str()),
        (Some("MUG-BLUE"), Some("mapped"))
    );
    assert_eq!(o["lines"][0]["warehouses"][0]["quantity"], 2, "{o}");
    assert_eq!(app.stock(&t, "MUG-BLUE").await["reserved"], 2);
    let timeline = o["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["kind"] == "hold"), "{o}");
    // The same mapping again changes nothing.
    let r = app.put(&format!("/v1/channels/{}/item-mappings", ch.id), &t.token, &mapping).await;
    assert_eq!(r.expect(200)["changed"], 0);
    app.settle().await;
    assert_eq!(app.stock(&t, "MUG-BLUE").await["reserved"], 2);
    let items = app.get(&format!("/v1/channels/{}/items", ch.id), &t.token).await.expect(200);
    let v = items["items"].as_array().unwrap().iter().find(|i| i["item_id"] == "680001").unwrap().clone();
    assert_eq!((v["mapping"].as_str(), v["sku_code"].as_str()), (Some("mapped"), Some("MUG-BLUE")));
    // A later trade for the variant finds its SKU at once.
    let next = Trade::without_code("shop-map", "TMAP2", chrono::Utc::now(), "680001", "501", 1);
    paid(&app, &ch, &next, "m-2").await;
    app.settle().await;
    assert_eq!(order(&app, &t, "TMAP2").await["status"], "allocated");

    // A Shopify order whose line has `"sku": ""`: 200, on hold, its variant listed.
    let body =
        json!({"marketplace": "shopify", "shop_id": SHOPIFY_SHOP, "name": "S", "webhook_secret": SHOPIFY_SECRET});
    let shop = app.post("/v1/channels", &t.token, &body).await.expect(201)["id"].as_str().unwrap().to_owned();
    let payload = SHOPIFY_PAID.replace("\"sku\": \"SKU2006-020\"", "\"sku\": \"\"");
    assert_ne!(payload, SHOPIFY_PAID, "the fixture names SKU2006-020");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SHOPIFY_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    let tag = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let headers = [
        ("X-Shopify-Topic", "orders/paid"),
        ("X-Shopify-Webhook-Id", "s-1"),
        ("X-Shopify-Shop-Domain", SHOPIFY_SHOP),
        ("X-Shopify-Hmac-Sha256", tag.as_str()),
    ];
    let path = format!("/v1/webhooks/shopify/{shop}");
    app.call_raw(reqwest::Method::POST, &path, &headers, payload.into_bytes()).await.expect(200);
    app.settle().await;
    let s = order(&app, &t, "820982911946154508").await;
    assert_eq!((s["status"].as_str(), hold_reasons(&s)), (Some("on_hold"), vec!["unmapped_sku".to_owned()]), "{s}");
    let empty =
        s["lines"].as_array().unwrap().iter().find(|l| l["sku_code"].is_null()).expect("the line without a SKU");
    let (product, variant) = (empty["item_id"].as_str().unwrap(), empty["variant_id"].as_str().unwrap());
    let items = app.get(&format!("/v1/channels/{shop}/items"), &t.token).await.expect(200);
    assert!(items["items"].as_array().unwrap().iter().any(|i| i["item_id"] == product && i["mapping"] == "unmapped"));
    let mapping = json!({"mappings": [{"item_id": product, "variant_id": variant, "sku_code": "SKU2006-020"}]});
    let r = app.put(&format!("/v1/channels/{shop}/item-mappings"), &t.token, &mapping).await;
    r.expect(200);
    app.settle().await;
    let s = order(&app, &t, "820982911946154508").await;
    assert_eq!(s["status"], "allocated", "{s}");
    assert_eq!(app.stock(&t, "SKU2006-020").await["reserved"], 2);
}

async fn waiting_orders_are_released_in_paid_time_order_and_never_oversell(app: TestApp) {
    let t = app.signup("Queue").await;
    app.create_sku(&t, "HOT-1", 0).await;
    app.adjust(&t, "HOT-1", 150).await;
    let ch = app.connect_bazaar(&t, "shop-q", None).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    // 200 trades paid a second apart, sent in a shuffled order.
    let mut order_of: Vec<usize> = (0..200).collect();
    order_of.sort_by_key(|i| (i * 7919) % 200);
    for i in order_of {
        let trade = Trade::without_code("shop-q", &format!("TQ{i:03}"), start, "990001", "1", 1);
        let msg = trade.paid_msg(1000 * (i as i64 + 1));
        app.post_webhook(&ch, &format!("q-{i}"), &msg).await.expect(200);
    }
    app.settle().await;
    let held = app.get("/v1/orders/counts", &t.token).await.expect(200);
    assert_eq!(held["by_status"]["on_hold"], 200, "{held}");
    assert_eq!(app.stock(&t, "HOT-1").await["reserved"], 0);

    let mapping = json!({"mappings": [{"item_id": "990001", "variant_id": "1", "sku_code": "HOT-1"}]});
    let r = app.put(&format!("/v1/channels/{}/item-mappings", ch.id), &t.token, &mapping).await;
    r.expect(200);
    app.settle().await;
    let stock = app.stock(&t, "HOT-1").await;
    assert_eq!((stock["reserved"].as_i64(), stock["on_hand"].as_i64()), (Some(150), Some(150)), "{stock}");
    for i in 0..200 {
        let o = app.order_by_tid(&t, &format!("TQ{i:03}")).await.unwrap();
        let want = if i < 150 { "allocated" } else { "backordered" };
        assert_eq!(o["status"], want, "the {i}th paid: {o}");
    }
    assert_eq!(app.scalar(testkit::LEDGER_MISMATCHES).await, 0);
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
    // The same rules again: the same answer, and nothing more happens to the orders.
    assert_eq!(app.put("/v1/orders/audit-rules", &t.token, &on).await.expect(200), r);
    app.settle().await;
    let again = order(&app, &t, "TR3").await;
    assert_eq!((again["holds"].clone(), again["timeline"].clone()), (o["holds"].clone(), o["timeline"].clone()));
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

async fn hold_routes_are_tenant_scoped_idempotent_and_check_their_input(app: TestApp) {
    let a = app.signup("Owner").await;
    let b = app.signup("Intruder").await;
    app.create_sku(&a, "OWN-1", 0).await;
    app.adjust(&a, "OWN-1", 5).await;
    app.create_sku(&b, "THEIRS-1", 0).await;
    let ch = app.connect_bazaar(&a, "shop-own", None).await;
    let trade = Trade::without_code("shop-own", "TOWN1", chrono::Utc::now(), "777", "7", 1);
    paid(&app, &ch, &trade, "o-1").await;
    app.settle().await;
    let o = order(&app, &a, "TOWN1").await;
    let id = o["id"].as_str().unwrap().to_owned();

    // Another tenant's order, channel and mappings are not found.
    app.post(&format!("/v1/orders/{id}/hold"), &b.token, &json!({})).await.assert_problem(404, "not_found");
    app.post(&format!("/v1/orders/{id}/release"), &b.token, &json!({})).await.assert_problem(404, "not_found");
    let r = app.post("/v1/orders/bulk", &b.token, &json!({"action": "hold", "ids": [id]})).await.expect(200);
    assert_eq!(r["results"][0]["error_code"], "not_found", "{r}");
    app.get(&format!("/v1/channels/{}/items", ch.id), &b.token).await.assert_problem(404, "not_found");
    let theirs = json!({"mappings": [{"item_id": "777", "variant_id": "7", "sku_code": "THEIRS-1"}]});
    app.put(&format!("/v1/channels/{}/item-mappings", ch.id), &b.token, &theirs).await.assert_problem(404, "not_found");
    assert!(app.get("/v1/orders/unmapped-items", &b.token).await.expect(200)["items"].as_array().unwrap().is_empty());
    assert!(hold_reasons(&order(&app, &a, "TOWN1").await) == ["unmapped_sku"], "nothing changed");

    // Bad input: problem+json, nothing changes.
    let put = |body: Value| {
        let path = format!("/v1/channels/{}/item-mappings", ch.id);
        let app = &app;
        let token = a.token.as_str();
        async move { app.put(&path, token, &body).await }
    };
    // Another tenant's SKU is an unknown SKU here: named in a 422.
    let r = put(theirs.clone()).await;
    r.assert_problem(422, "unknown_reference");
    assert!(r.body.to_string().contains("THEIRS-1"), "{}", r.body);
    put(json!({"mappings": []})).await.assert_problem(400, "malformed_request");
    put(json!({"mappings": [{"item_id": "", "sku_code": "OWN-1"}]})).await.assert_problem(400, "malformed_request");
    put(json!({"mappings": "OWN-1"})).await.assert_problem(400, "malformed_request");
    let path = format!("/v1/channels/{}/item-mappings", ch.id);
    let headers = [("Authorization", format!("Bearer {}", a.token)), ("Content-Type", "application/json".to_owned())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.call_raw(reqwest::Method::PUT, &path, &headers, b"{not json".to_vec())
        .await
        .assert_problem(400, "malformed_request");
    let bad_rules = json!({"amount_over": "lots"});
    app.put("/v1/orders/audit-rules", &a.token, &bad_rules).await.assert_problem(400, "invalid_input");
    assert_eq!(app.get("/v1/orders/audit-rules", &a.token).await.expect(200)["amount_over"], json!(null));
    app.post("/v1/orders/bulk", &a.token, &json!({"action": "ship", "ids": [id]}))
        .await
        .assert_problem(400, "invalid_input");
    app.post("/v1/orders/bulk", &a.token, &json!({"action": "hold", "ids": []}))
        .await
        .assert_problem(400, "malformed_request");
    app.post(&format!("/v1/orders/{id}/hold"), &a.token, &json!({"note": "x".repeat(501)}))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/v1/orders/not-a-uuid/hold", &a.token, &json!({})).await.assert_problem(400, "malformed_request");
    app.post(&format!("/v1/orders/{id}/hold"), "not-a-token", &json!({})).await.assert_problem(401, "unauthorized");
    let o = order(&app, &a, "TOWN1").await;
    assert_eq!(hold_reasons(&o), vec!["unmapped_sku".to_owned()], "nothing changed: {o}");
    assert_eq!(app.scalar("select count(*) from channel_item_mappings").await, 0);

    // The right mapping, twice: the second changes nothing.
    let ours = json!({"mappings": [{"item_id": "777", "variant_id": "7", "sku_code": "OWN-1"}]});
    assert_eq!(put(ours.clone()).await.expect(200)["changed"], 1);
    assert_eq!(put(ours).await.expect(200)["changed"], 0);
    app.settle().await;
    assert_eq!(order(&app, &a, "TOWN1").await["status"], "allocated");
    assert_eq!(app.scalar("select count(*) from channel_item_mappings").await, 1);
}
