//! The Shopify connector, fed Shopify's published sample payloads (fixtures in
//! services/channels/tests/fixtures/shopify).

use crate::harness::TestApp;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::json;
use testkit::{Resp, Tenant};

const CREATE: &str = include_str!("../../../channels/tests/fixtures/shopify/orders_create.json");
const PAID: &str = include_str!("../../../channels/tests/fixtures/shopify/orders_paid.json");
const UPDATED: &str = include_str!("../../../channels/tests/fixtures/shopify/orders_updated.json");
const CANCELLED: &str = include_str!("../../../channels/tests/fixtures/shopify/orders_cancelled.json");
const REFUND: &str = include_str!("../../../channels/tests/fixtures/shopify/refunds_create.json");

const SECRET: &str = "shpss_5f1c0ffee0ddba11deadbeef";
const SHOP: &str = "johns-apparel.myshopify.com";
const ORDER: &str = "820982911946154508";

both!(shopify_orders_and_refunds_reach_orders_and_stock);
both!(shopify_rejects_tampered_and_bad_webhooks);

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn post(app: &TestApp, channel: &str, topic: &str, id: &str, hmac: Option<&str>, body: &[u8]) -> Resp {
    let mut headers = vec![("X-Shopify-Topic", topic), ("X-Shopify-Webhook-Id", id), ("X-Shopify-Shop-Domain", SHOP)];
    if let Some(h) = hmac {
        headers.push(("X-Shopify-Hmac-Sha256", h));
    }
    app.call_raw(reqwest::Method::POST, &format!("/v1/webhooks/shopify/{channel}"), &headers, body.to_vec()).await
}

async fn signed(app: &TestApp, channel: &str, topic: &str, id: &str, body: &str) -> Resp {
    post(app, channel, topic, id, Some(&sign(SECRET, body.as_bytes())), body.as_bytes()).await
}

async fn connect(app: &TestApp, t: &Tenant) -> String {
    let body = json!({"marketplace": "shopify", "shop_id": SHOP, "name": "John's Apparel", "webhook_secret": SECRET});
    let b = app.post("/v1/channels", &t.token, &body).await.expect(201);
    assert!(
        b["webhook_url"].as_str().unwrap().ends_with(&format!("/v1/webhooks/shopify/{}", b["id"].as_str().unwrap()))
    );
    b["id"].as_str().unwrap().to_owned()
}

async fn shopify_orders_and_refunds_reach_orders_and_stock(app: TestApp) {
    let t = app.signup("John's Apparel").await;
    for sku in ["SKU2006-001", "SKU2006-020"] {
        app.create_sku(&t, sku, 0).await;
        app.adjust(&t, sku, 10).await;
    }
    let ch = connect(&app, &t).await;

    // Paid arrives before create (Shopify does not keep order); create is then stale.
    assert_eq!(signed(&app, &ch, "orders/paid", "wh-2", PAID).await.expect(200)["status"], "accepted");
    assert_eq!(signed(&app, &ch, "orders/paid", "wh-2", PAID).await.expect(200)["status"], "duplicate");
    signed(&app, &ch, "orders/create", "wh-1", CREATE).await.expect(200);
    app.settle().await;
    let o = app.order_by_tid(&t, ORDER).await.expect("the Shopify order is an order");
    assert_eq!(o["status"], "allocated", "{o}");
    assert_eq!(o["payment"], "412.47", "{o}");
    assert_eq!(
        (
            app.stock(&t, "SKU2006-001").await["reserved"].as_i64(),
            app.stock(&t, "SKU2006-020").await["reserved"].as_i64()
        ),
        (Some(1), Some(2))
    );

    // refunds/create returns the sunglasses: that line's stock goes back.
    signed(&app, &ch, "refunds/create", "wh-3", REFUND).await.expect(200);
    app.settle().await;
    let o = app.order_by_tid(&t, ORDER).await.unwrap();
    let line = o["lines"].as_array().unwrap().iter().find(|l| l["sku_code"] == "SKU2006-001").unwrap().clone();
    assert_eq!(line["reservation_state"], "released", "{o}");
    assert_eq!(app.stock(&t, "SKU2006-001").await["reserved"], 0);

    // orders/updated (partially refunded, partly fulfilled) is newer and agrees.
    signed(&app, &ch, "orders/updated", "wh-4", UPDATED).await.expect(200);
    app.settle().await;
    let o = app.order_by_tid(&t, ORDER).await.unwrap();
    assert_eq!(o["status"], "partially_shipped", "{o}");
    assert_eq!(app.stock(&t, "SKU2006-020").await["reserved"], 2);

    // A cancelled, never-paid order is cancelled.
    signed(&app, &ch, "orders/cancelled", "wh-5", CANCELLED).await.expect(200);
    app.settle().await;
    assert_eq!(app.order_by_tid(&t, "5735929692313").await.unwrap()["status"], "cancelled");
    assert_eq!(app.scalar("select count(*) from webhook_messages").await, 5);
}

async fn shopify_rejects_tampered_and_bad_webhooks(app: TestApp) {
    let t = app.signup("Careful").await;
    let ch = connect(&app, &t).await;
    let good = sign(SECRET, PAID.as_bytes());
    let mut tampered = PAID.as_bytes().to_vec();
    let at = PAID.find("412.47").unwrap();
    tampered[at] = b'0';
    post(&app, &ch, "orders/paid", "bad-1", Some(&good), &tampered).await.assert_problem(401, "invalid_signature");
    post(&app, &ch, "orders/paid", "bad-2", Some(&sign("another-secret-entirely", PAID.as_bytes())), PAID.as_bytes())
        .await
        .assert_problem(401, "invalid_signature");
    post(&app, &ch, "orders/paid", "bad-3", None, PAID.as_bytes()).await.assert_problem(401, "invalid_signature");
    signed(&app, &ch, "orders/fulfilled", "bad-4", PAID).await.assert_problem(400, "invalid_input");
    signed(&app, &ch, "orders/paid", "bad-5", "{not json").await.assert_problem(400, "malformed_request");
    let other_shop = [
        ("X-Shopify-Topic", "orders/paid"),
        ("X-Shopify-Webhook-Id", "bad-7"),
        ("X-Shopify-Shop-Domain", "someone-else.myshopify.com"),
        ("X-Shopify-Hmac-Sha256", good.as_str()),
    ];
    app.call_raw(reqwest::Method::POST, &format!("/v1/webhooks/shopify/{ch}"), &other_shop, PAID.as_bytes().to_vec())
        .await
        .assert_problem(400, "invalid_input");
    // A Bazaar channel's id is not a Shopify endpoint, and unknown ids are not found.
    let bazaar = app.connect_bazaar(&t, "shop-1", None).await;
    signed(&app, &bazaar.id.to_string(), "orders/paid", "bad-8", PAID).await.assert_problem(404, "not_found");
    signed(&app, &uuid::Uuid::new_v4().to_string(), "orders/paid", "bad-9", PAID)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.scalar("select count(*) from webhook_messages").await, 0, "bad input changes nothing");
    app.settle().await;
    assert_eq!(app.scalar("select count(*) from orders").await, 0);
}
