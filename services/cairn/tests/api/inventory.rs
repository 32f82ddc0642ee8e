use crate::harness::TestApp;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::LEDGER_MISMATCHES;

async fn reserve(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> testkit::Resp {
    let headers: Vec<(&str, &str)> = key.map(|k| vec![("Idempotency-Key", k)]).unwrap_or_default();
    app.call(Method::POST, "/v1/reservations", Some(token), Some(body), &headers).await
}

async fn reservations_are_atomic_idempotent_and_stateful(app: TestApp) {
    let t = app.signup("Reserver").await;
    app.create_sku(&t, "MUG", 0).await;
    app.create_sku(&t, "CAP", 1).await;
    app.adjust(&t, "MUG", 10).await;
    app.adjust(&t, "CAP", 3).await;
    let body =
        json!({"reference": "PO-1", "lines": [{"sku_code": "MUG", "quantity": 4}, {"sku_code": "CAP", "quantity": 2}]});

    reserve(&app, &t.token, None, &body).await.assert_problem(400, "idempotency_key_required");
    let first = reserve(&app, &t.token, Some("k1"), &body).await.expect(201);
    assert_eq!(first["state"], "held");
    assert!(first["expires_at"].is_string());
    let again = reserve(&app, &t.token, Some("k1"), &body).await.expect(201);
    assert_eq!(again["id"], first["id"], "same key + same body is the first result");
    let other = json!({"reference": "PO-1", "lines": [{"sku_code": "MUG", "quantity": 5}]});
    reserve(&app, &t.token, Some("k1"), &other).await.assert_problem(422, "idempotency_key_reused");

    // All or nothing: MUG has 6 left, CAP has 0 left (3 on hand - 2 held - 1 safety).
    let short = reserve(&app, &t.token, Some("k2"), &json!({"reference": "PO-2", "lines": [{"sku_code": "MUG", "quantity": 1}, {"sku_code": "CAP", "quantity": 1}]})).await;
    short.assert_problem(409, "insufficient_stock");
    assert_eq!(short.body["lines"], json!([{"sku_code": "CAP", "requested": 1, "available": 0}]));
    assert_eq!(app.stock(&t, "MUG").await["reserved"], 4, "the MUG line of a failed reservation reserved nothing");
    reserve(&app, &t.token, Some("k3"), &json!({"reference": "x", "lines": [{"sku_code": "NOPE", "quantity": 1}]}))
        .await
        .assert_problem(404, "unknown_sku");
    reserve(&app, &t.token, Some("k4"), &json!({"reference": "x", "lines": [{"sku_code": "MUG", "quantity": 0}]}))
        .await
        .assert_problem(400, "malformed_request");
    reserve(&app, &t.token, Some("k5"), &json!({"reference": "x", "lines": []}))
        .await
        .assert_problem(400, "malformed_request");

    let id = first["id"].as_str().unwrap();
    let confirmed = app.post(&format!("/v1/reservations/{id}/confirm"), &t.token, &json!({})).await.expect(200);
    assert_eq!(confirmed["state"], "confirmed");
    assert!(confirmed["expires_at"].is_null());
    app.post(&format!("/v1/reservations/{id}/confirm"), &t.token, &json!({})).await.expect(200);
    assert_eq!(
        app.post(&format!("/v1/reservations/{id}/commit"), &t.token, &json!({})).await.expect(200)["state"],
        "committed"
    );
    app.post(&format!("/v1/reservations/{id}/commit"), &t.token, &json!({})).await.expect(200);
    app.post(&format!("/v1/reservations/{id}/release"), &t.token, &json!({}))
        .await
        .assert_problem(409, "invalid_state_transition");
    let mug = app.stock(&t, "MUG").await;
    assert_eq!(
        (mug["on_hand"].as_i64(), mug["reserved"].as_i64(), mug["available"].as_i64()),
        (Some(6), Some(0), Some(6))
    );
    assert_eq!(app.get(&format!("/v1/reservations/{id}"), &t.token).await.expect(200)["state"], "committed");
    app.get(&format!("/v1/reservations/{}", uuid::Uuid::now_v7()), &t.token).await.assert_problem(404, "not_found");
    app.post(&format!("/v1/reservations/{}/release", uuid::Uuid::now_v7()), &t.token, &json!({}))
        .await
        .assert_problem(404, "not_found");

    // The ledger explains every unit.
    let ledger = app.get("/v1/stock/MUG/ledger", &t.token).await.expect(200);
    let kinds: Vec<&str> = ledger.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["receipt", "reserve", "commit"]);
    // The latest first, a page at a time.
    let kinds_of = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    };
    let newest = app.get("/v1/stock/MUG/ledger?newest_first=true&limit=2", &t.token).await.expect(200);
    assert_eq!(kinds_of(&newest), ["commit", "reserve"]);
    let before = newest[1]["id"].as_str().unwrap();
    let older = app.get(&format!("/v1/stock/MUG/ledger?newest_first=true&before={before}"), &t.token).await.expect(200);
    assert_eq!(kinds_of(&older), ["receipt"]);
    assert_eq!(app.call(Method::GET, "/v1/stock/MUG/ledger?limit=0", Some(&t.token), None, &[]).await.status, 400);
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(reservations_are_atomic_idempotent_and_stateful);

async fn adjustments_honour_idempotency_keys_and_refuse_bad_input(app: TestApp) {
    let t = app.signup("Adjuster").await;
    app.create_sku(&t, "SOCK", 0).await;
    let body = json!({"sku_code": "SOCK", "delta": 10, "reason": "delivery 42"});
    let k = [("Idempotency-Key", "delivery-42")];
    let a = app.call(Method::POST, "/v1/stock/adjustments", Some(&t.token), Some(&body), &k).await.expect(201);
    let b = app.call(Method::POST, "/v1/stock/adjustments", Some(&t.token), Some(&body), &k).await.expect(201);
    assert_eq!(a, b);
    assert_eq!(app.stock(&t, "SOCK").await["on_hand"], 10, "a replayed key adds nothing");
    let other = json!({"sku_code": "SOCK", "delta": 11, "reason": "delivery 42"});
    app.call(Method::POST, "/v1/stock/adjustments", Some(&t.token), Some(&other), &k)
        .await
        .assert_problem(422, "idempotency_key_reused");
    app.post("/v1/stock/adjustments", &t.token, &json!({"sku_code": "NOPE", "delta": 1, "reason": "x"}))
        .await
        .assert_problem(404, "unknown_sku");
    app.post("/v1/stock/adjustments", &t.token, &json!({"sku_code": "SOCK", "delta": 0, "reason": "x"}))
        .await
        .assert_problem(400, "invalid_input");
    app.post(
        "/v1/stock/adjustments",
        &t.token,
        &json!({"sku_code": "SOCK", "warehouse_code": "NOWHERE", "delta": 1, "reason": "x"}),
    )
    .await
    .assert_problem(404, "not_found");
    reserve(&app, &t.token, Some("r"), &json!({"reference": "r", "lines": [{"sku_code": "SOCK", "quantity": 8}]}))
        .await
        .expect(201);
    app.post("/v1/stock/adjustments", &t.token, &json!({"sku_code": "SOCK", "delta": -3, "reason": "damaged"}))
        .await
        .assert_problem(409, "insufficient_stock");
    // A second warehouse, and the same SKU in it.
    app.post("/v1/warehouses", &t.token, &json!({"code": "SH-01", "name": "Shanghai"})).await.expect(201);
    app.post("/v1/warehouses", &t.token, &json!({"code": "SH-01", "name": "Shanghai"})).await.expect(201);
    app.post("/v1/warehouses", &t.token, &json!({"code": "SH-01", "name": "Elsewhere"}))
        .await
        .assert_problem(409, "already_exists");
    app.post(
        "/v1/stock/adjustments",
        &t.token,
        &json!({"sku_code": "SOCK", "warehouse_code": "SH-01", "delta": 5, "reason": "transfer"}),
    )
    .await
    .expect(201);
    let s = app.stock(&t, "SOCK").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64(), s["available"].as_i64()), (Some(15), Some(8), Some(7)));
    assert_eq!(s["warehouses"].as_array().unwrap().len(), 2);
    let ws = app.get("/v1/warehouses", &t.token).await.expect(200);
    assert_eq!(
        ws.as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect::<Vec<_>>(),
        ["MAIN", "SH-01"]
    );
    app.post("/v1/skus", &t.token, &json!({"code": "SOCK", "name": "Other", "safety_stock": 0}))
        .await
        .assert_problem(409, "already_exists");
    // The code's pattern is in the schema: refused before the handler, like any schema rule.
    app.post("/v1/skus", &t.token, &json!({"code": "bad code!", "name": "x"}))
        .await
        .assert_problem(400, "malformed_request");
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(adjustments_honour_idempotency_keys_and_refuse_bad_input);

async fn held_reservations_expire_and_confirmed_ones_do_not(app: TestApp) {
    let t = app.signup("Expiry").await;
    app.create_sku(&t, "PEN", 0).await;
    app.adjust(&t, "PEN", 10).await;
    let held = reserve(
        &app,
        &t.token,
        Some("h"),
        &json!({"reference": "h", "ttl_seconds": 600, "lines": [{"sku_code": "PEN", "quantity": 3}]}),
    )
    .await
    .expect(201);
    let kept = reserve(
        &app,
        &t.token,
        Some("c"),
        &json!({"reference": "c", "ttl_seconds": 600, "lines": [{"sku_code": "PEN", "quantity": 4}]}),
    )
    .await
    .expect(201);
    app.post(&format!("/v1/reservations/{}/confirm", kept["id"].as_str().unwrap()), &t.token, &json!({}))
        .await
        .expect(200);
    assert_eq!(app.stock(&t, "PEN").await["available"], 3);
    // Ten minutes pass on the services' clock; the engine's next expiry sweep (every second of
    // real time) finds the hold due.
    app.clock.advance(chrono::Duration::seconds(601));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.get(&format!("/v1/reservations/{}", held["id"].as_str().unwrap()), &t.token).await.expect(200);
        if r["state"] == "expired" {
            break;
        }
        assert!(Instant::now() < deadline, "hold never expired: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.stock(&t, "PEN").await["available"], 6, "expired stock returns");
    assert_eq!(
        app.get(&format!("/v1/reservations/{}", kept["id"].as_str().unwrap()), &t.token).await.expect(200)["state"],
        "confirmed"
    );
    app.post(&format!("/v1/reservations/{}/confirm", held["id"].as_str().unwrap()), &t.token, &json!({}))
        .await
        .assert_problem(409, "invalid_state_transition");
    let kinds: Vec<String> = app
        .get("/v1/stock/PEN/ledger", &t.token)
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"expire".to_owned()));
    app.shutdown().await;
}
both!(held_reservations_expire_and_confirmed_ones_do_not);

async fn the_stock_list_pages_filters_and_flags_low_stock(app: TestApp) {
    let t = app.signup("Lister").await;
    let other = app.signup("Neighbour").await;
    for (code, safety, stock) in [("CUP-1", 0, 50), ("CUP-2", 2, 3), ("MUG_1", 0, 4), ("TEA", 1, 0)] {
        app.create_sku(&t, code, safety).await;
        if stock > 0 {
            app.adjust(&t, code, stock).await;
        }
    }
    app.create_sku(&other, "CUP-9", 0).await;
    let list = |query: &'static str| {
        let (app, token) = (&app, t.token.clone());
        async move { app.get(&format!("/v1/stock{query}"), &token).await.expect(200) }
    };
    let codes = |page: &serde_json::Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|i| i["sku_code"].as_str().unwrap().to_owned()).collect()
    };
    let all = list("").await;
    assert_eq!(codes(&all), ["CUP-1", "CUP-2", "MUG_1", "TEA"], "code order, the tenant's own only");
    let cup2 = &all["items"][1];
    assert_eq!(
        (cup2["on_hand"].as_i64(), cup2["available"].as_i64(), cup2["low"].as_bool()),
        (Some(3), Some(1), Some(false))
    );
    assert_eq!(cup2["warehouses"][0]["warehouse_code"], "MAIN");
    // Default threshold 0: only what has nothing left above its safety stock is low.
    assert_eq!(codes(&list("?low=true").await), ["TEA"]);
    app.call(Method::PUT, "/v1/inventory/settings", Some(&t.token), Some(&json!({"low_stock_threshold": -1})), &[])
        .await
        .assert_problem(400, "malformed_request");
    let set = json!({"low_stock_threshold": 4});
    let once = app.call(Method::PUT, "/v1/inventory/settings", Some(&t.token), Some(&set), &[]).await.expect(200);
    let twice = app.call(Method::PUT, "/v1/inventory/settings", Some(&t.token), Some(&set), &[]).await.expect(200);
    assert_eq!((once.clone(), twice), (set.clone(), set.clone()));
    assert_eq!(app.get("/v1/inventory/settings", &t.token).await.expect(200), set);
    assert_eq!(app.get("/v1/inventory/settings", &other.token).await.expect(200)["low_stock_threshold"], 0);
    assert_eq!(codes(&list("?low=true").await), ["CUP-2", "MUG_1", "TEA"]);
    // A prefix of the code or the name; `_` and `%` are literal.
    assert_eq!(codes(&list("?q=CUP").await), ["CUP-1", "CUP-2"]);
    assert_eq!(codes(&list("?q=cup").await), ["CUP-1", "CUP-2"], "case-insensitive on both backends");
    assert_eq!(codes(&list("?q=MUG_").await), ["MUG_1"]);
    assert!(codes(&list("?q=C%25").await).is_empty());
    assert_eq!(codes(&list("?q=SKU%20TE").await), ["TEA"], "names are `SKU <code>`");
    // Pages of two.
    let p1 = list("?limit=2").await;
    assert_eq!(codes(&p1), ["CUP-1", "CUP-2"]);
    assert_eq!(p1["next_after"], "CUP-2");
    let p2 = list("?limit=2&after=CUP-2").await;
    assert_eq!((codes(&p2), p2["next_after"].clone()), (vec!["MUG_1".to_owned(), "TEA".to_owned()], json!(null)));
    let low1 = list("?low=true&limit=1").await;
    assert_eq!((codes(&low1), low1["next_after"].clone()), (vec!["CUP-2".to_owned()], json!("CUP-2")));
    for bad in ["/v1/stock?limit=0", "/v1/stock?limit=501", "/v1/stock?low=maybe"] {
        assert_eq!(app.call(Method::GET, bad, Some(&t.token), None, &[]).await.status, 400, "{bad}");
    }
    app.call(Method::GET, "/v1/stock", None, None, &[]).await.assert_problem(401, "unauthorized");
}
both!(the_stock_list_pages_filters_and_flags_low_stock);

/// RabbitMQ: an API command goes to the instance that owns the tenant's shard. While none
/// does, the command answers 503 (problem+json, `Retry-After`) once the command timeout has
/// passed, and it changes nothing — not even when an owner comes later and finds it queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_nobody_owns_times_out_with_503_and_changes_nothing() {
    const TIMEOUT: Duration = Duration::from_millis(1500);
    let dir = testkit::TempDir::new("cairn-test");
    let mut config = crate::harness::config(testkit::Backend::Distributed, &dir.0).await;
    config.inventory.command_timeout = TIMEOUT;
    let mut front_config = config.clone();
    // Every service but inventory: it answers inventory's API, but no engine runs here.
    front_config.services.retain(|s| *s != cairn::Service::Inventory);
    let front = crate::harness::start(testkit::Backend::Distributed, front_config, dir).await;
    let t = front.signup("Ownerless").await;
    let started = Instant::now();
    let sku = front.post("/v1/skus", &t.token, &json!({"code": "EARLY", "name": "Early"})).await;
    let waited = started.elapsed();
    sku.assert_problem(503, "unavailable");
    assert!(waited >= TIMEOUT && waited < TIMEOUT + Duration::from_secs(2), "answered after {waited:?}");
    let body = json!({"reference": "PO-1", "lines": [{"sku_code": "EARLY", "quantity": 1}]});
    let resp = front
        .client
        .post(format!("{}/v1/reservations", front.url))
        .bearer_auth(&t.token)
        .header("Idempotency-Key", "r1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], problem::RETRY_AFTER_SECONDS);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(front.scalar("select count(*) from skus").await, 0);
    assert_eq!(front.scalar("select count(*) from reservations").await, 0);

    // An owner starts: the expired commands still queued in its shard are dropped unapplied, and
    // the next command (the same tenant, so the same shard, behind them) is decided.
    let mut owner_config = config;
    owner_config.services = vec![cairn::Service::Inventory];
    let owner =
        crate::harness::start(testkit::Backend::Distributed, owner_config, testkit::TempDir::new("cairn-test")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = front.post("/v1/skus", &t.token, &json!({"code": "LATE", "name": "Late"})).await;
        if r.status == 201 {
            break;
        }
        r.assert_problem(503, "unavailable");
        assert!(Instant::now() < deadline, "the owner never answered");
    }
    let skus = front.get("/v1/skus", &t.token).await.expect(200);
    let codes: Vec<&str> = skus.as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["LATE"], "the command that timed out was never applied");
    assert_eq!(front.scalar("select count(*) from reservations").await, 0);
    // The same reservation again, now with an owner: decided there (unknown SKU), once.
    reserve(&front, &t.token, Some("r1"), &body).await.assert_problem(404, "unknown_sku");
    owner.shutdown().await;
    front.shutdown().await;
}
