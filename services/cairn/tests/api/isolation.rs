use crate::harness::TestApp;
use reqwest::Method;
use serde_json::json;
use testkit::bazaar::{Trade, sign};

async fn tenants_cannot_see_or_touch_each_other(app: TestApp) {
    let a = app.signup("Alpha").await;
    let b = app.signup("Beta").await;
    app.create_sku(&a, "SECRET", 0).await;
    app.adjust(&a, "SECRET", 10).await;
    let ch = app.connect_bazaar(&a, "shop-a", None).await;
    let b_ch = app.connect_bazaar(&b, "shop-b", None).await;
    let res = app
        .call(
            Method::POST,
            "/v1/reservations",
            Some(&a.token),
            Some(&json!({"reference": "a", "lines": [{"sku_code": "SECRET", "quantity": 2}]})),
            &[("Idempotency-Key", "a1")],
        )
        .await
        .expect(201);
    let res_id = res["id"].as_str().unwrap();
    let trade = Trade::new("shop-a", "TA", chrono::Utc::now(), "SECRET", 1);
    app.post_webhook(&ch, "a-1", &trade.paid_msg(100)).await.expect(200);
    app.settle().await;
    let order_id = app.order_by_tid(&a, "TA").await.unwrap()["id"].as_str().unwrap().to_owned();

    // Beta sees nothing of Alpha's.
    assert_eq!(app.get("/v1/orders", &b.token).await.expect(200)["total"], 0);
    assert_eq!(app.get("/v1/skus", &b.token).await.expect(200), json!([]));
    assert_eq!(app.get("/v1/channels", &b.token).await.expect(200).as_array().unwrap().len(), 1);
    app.get(&format!("/v1/orders/{order_id}"), &b.token).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/reservations/{res_id}"), &b.token).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/channels/{}", ch.id), &b.token).await.assert_problem(404, "not_found");
    app.get("/v1/stock/SECRET", &b.token).await.assert_problem(404, "unknown_sku");
    app.get("/v1/stock/SECRET/ledger", &b.token).await.assert_problem(404, "unknown_sku");
    assert!(app.get("/v1/orders?external_id=TA", &b.token).await.expect(200)["items"].as_array().unwrap().is_empty());
    // ... and can change nothing of it.
    for action in ["confirm", "release", "commit"] {
        app.post(&format!("/v1/reservations/{res_id}/{action}"), &b.token, &json!({}))
            .await
            .assert_problem(404, "not_found");
    }
    app.call(
        Method::POST,
        "/v1/reservations",
        Some(&b.token),
        Some(&json!({"reference": "b", "lines": [{"sku_code": "SECRET", "quantity": 1}]})),
        &[("Idempotency-Key", "a1")],
    )
    .await
    .assert_problem(404, "unknown_sku");
    app.post("/v1/stock/adjustments", &b.token, &json!({"sku_code": "SECRET", "delta": -5, "reason": "x"}))
        .await
        .assert_problem(404, "unknown_sku");
    // A webhook for Alpha's channel signed with Beta's secret is refused.
    let body = serde_json::to_vec(&trade.closed_msg(100, 5000)).unwrap();
    let now = chrono::Utc::now().timestamp();
    app.post_webhook_raw(&ch, "trade.TradeClose", "b-1", now, &sign(&b_ch.secret, now, &body), body)
        .await
        .assert_problem(401, "invalid_signature");
    // Beta may use the same codes for its own things.
    app.create_sku(&b, "SECRET", 0).await;
    app.call(
        Method::POST,
        "/v1/reservations",
        Some(&b.token),
        Some(&json!({"reference": "b", "lines": [{"sku_code": "SECRET", "quantity": 1}]})),
        &[("Idempotency-Key", "a1")],
    )
    .await
    .assert_problem(409, "insufficient_stock");
    app.settle().await;

    // Alpha is untouched.
    assert_eq!(app.get(&format!("/v1/reservations/{res_id}"), &a.token).await.expect(200)["state"], "held");
    let s = app.stock(&a, "SECRET").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(10), Some(3)));
    assert_eq!(app.get(&format!("/v1/orders/{order_id}"), &a.token).await.expect(200)["status"], "allocated");
    app.shutdown().await;
}
both!(tenants_cannot_see_or_touch_each_other);
