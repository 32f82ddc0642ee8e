//! `GET /metrics`: Prometheus text that moves with what Cairn does, and names no tenant.
//!
//! The recorder is global to the test process and the tests run side by side, so a counter
//! here may also move with another test's webhooks: each check is that a counter rose by *at
//! least* what this test did, read before and after (it fails when the instrumentation is
//! missing or counts under another label). Exact counts are the telemetry crate's unit tests.

use crate::harness::TestApp;
use reqwest::Method;
use serde_json::json;
use telemetry::metrics::{self as m, Sample};
use testkit::{
    Backend,
    bazaar::{Trade, sign},
};

/// Scrapes `/metrics` (no token: it is for the operator's Prometheus) and parses it strictly.
async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let resp = app.client.get(format!("{}/metrics", app.url)).send().await.expect("scraped");
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4");
    let text = resp.text().await.unwrap();
    let samples = m::parse(&text).unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"));
    (text, samples)
}

/// How much `name` with `labels` rose from `before` to `after`.
fn rose(before: &[Sample], after: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    m::sum(after, name, labels) - m::sum(before, name, labels)
}

#[track_caller]
fn assert_rose(before: &[Sample], after: &[Sample], name: &str, labels: &[(&str, &str)], at_least: f64) {
    let by = rose(before, after, name, labels);
    assert!(by >= at_least, "{name}{labels:?} rose by {by}, expected at least {at_least}");
}

fn has_series(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> bool {
    samples
        .iter()
        .any(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.iter().any(|l| l.0 == *k && l.1 == *v)))
}

async fn metrics_count_webhooks_and_reservations_and_name_no_tenant(app: TestApp) {
    let (_, before) = scrape(&app).await;
    let t = app.signup("Measured").await;
    app.create_sku(&t, "MUG", 0).await;
    app.adjust(&t, "MUG", 5).await;
    let ch = app.connect_bazaar(&t, "shop-metrics", None).await;
    let trade = Trade::new("shop-metrics", "T-METRICS-1", chrono::Utc::now(), "MUG", 2);

    assert_eq!(app.post_webhook(&ch, "metrics-1", &trade.paid_msg(1000)).await.expect(200)["status"], "accepted");
    assert_eq!(app.post_webhook(&ch, "metrics-1", &trade.paid_msg(1000)).await.expect(200)["status"], "duplicate");
    let body = serde_json::to_vec(&trade.paid_msg(1000)).unwrap();
    let now = chrono::Utc::now().timestamp();
    app.post_webhook_raw(&ch, "trade.TradeBuyerPay", "metrics-2", now, &sign("not the secret", now, &body), body)
        .await
        .assert_problem(401, "invalid_signature");
    app.settle().await;
    let order = app.order_by_tid(&t, &trade.tid).await.expect("the order exists");
    assert_eq!(order["lines"][0]["reservation_state"], "confirmed");

    // Direct reservations: one made, its replay, and one there is not enough stock for (5 on
    // hand, 2 for the order, 1 here).
    let reserve = |key: &'static str, quantity: i64| {
        let body = json!({"reference": "PO-M", "lines": [{"sku_code": "MUG", "quantity": quantity}]});
        let token = t.token.clone();
        let app = &app;
        async move {
            app.call(Method::POST, "/v1/reservations", Some(&token), Some(&body), &[("Idempotency-Key", key)]).await
        }
    };
    reserve("m-1", 1).await.expect(201);
    reserve("m-1", 1).await.expect(201);
    reserve("m-2", 100).await.assert_problem(409, "insufficient_stock");

    let (text, after) = scrape(&app).await;
    let bazaar = |outcome| [("marketplace", "bazaar"), ("outcome", outcome)];
    assert_rose(&before, &after, m::WEBHOOK_REQUESTS, &bazaar("accepted"), 1.0);
    assert_rose(&before, &after, m::WEBHOOK_REQUESTS, &bazaar("duplicate"), 1.0);
    assert_rose(&before, &after, m::WEBHOOK_REQUESTS, &bazaar("rejected_signature"), 1.0);
    // Latency is recorded with every answer, into a histogram with buckets.
    assert_rose(&before, &after, "cairn_webhook_duration_seconds_count", &bazaar("accepted"), 1.0);
    assert_rose(&before, &after, "cairn_webhook_duration_seconds_bucket", &[("le", "+Inf")], 3.0);

    assert_rose(&before, &after, m::RESERVATIONS, &[("source", "order"), ("outcome", "reserved")], 1.0);
    assert_rose(&before, &after, m::RESERVATIONS, &[("source", "api"), ("outcome", "reserved")], 1.0);
    assert_rose(&before, &after, m::RESERVATIONS, &[("source", "api"), ("outcome", "duplicate")], 1.0);
    assert_rose(&before, &after, m::RESERVATIONS, &[("source", "api"), ("outcome", "out_of_stock")], 1.0);

    // The trade went through the bus to orders and on to inventory, on either transport.
    for consumer in ["orders", "inventory"] {
        assert_rose(&before, &after, m::BUS_MESSAGES, &[("consumer", consumer), ("outcome", "ok")], 1.0);
        assert_rose(&before, &after, "cairn_bus_event_age_seconds_count", &[("consumer", consumer)], 1.0);
        assert!(has_series(&after, m::BUS_PENDING, &[("consumer", consumer)]), "no lag gauge for {consumer}\n{text}");
    }
    for state in ["pending", "no_api", "rejected"] {
        for kind in ["shipment", "stock"] {
            assert!(has_series(&after, m::WRITEBACKS_WAITING, &[("kind", kind), ("state", state)]), "{kind} {state}");
        }
    }
    if app.backend == Backend::Embedded {
        // Signing up, the webhooks and every consumer's commit passed SQLite's write gate.
        assert_rose(&before, &after, m::WRITE_GATE_ACQUISITIONS, &[], 5.0);
        assert_rose(&before, &after, "cairn_sqlite_write_gate_held_seconds_count", &[], 5.0);
        assert!(has_series(&after, m::BUS_OLDEST_PENDING_AGE, &[("consumer", "orders")]), "{text}");
    }

    // Nothing that identifies the tenant, its shop, its trade or its messages.
    for private in
        [t.tenant_id.to_string(), ch.id.to_string(), ch.shop_id.clone(), trade.tid.clone(), "metrics-1".into()]
    {
        assert!(!text.contains(&private), "/metrics shows {private}");
    }
    app.shutdown().await;
}
both!(metrics_count_webhooks_and_reservations_and_name_no_tenant);
