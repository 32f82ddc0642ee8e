//! Multi-warehouse allocation: the settings API, the region strategy with and without
//! splitting, and each order line showing the warehouses its units are reserved in.

use crate::harness::TestApp;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{LEDGER_MISMATCHES, bazaar::Trade};

async fn put_allocation(app: &TestApp, token: &str, body: &Value) -> testkit::Resp {
    app.call(Method::PUT, "/v1/inventory/allocation", Some(token), Some(body), &[]).await
}

/// A paid Bazaar trade of `num` × `sku` shipped to `province`.
fn paid_to(tid: &str, sku: &str, num: i64, province: &str) -> Value {
    let mut msg = Trade::new("shop-wh", tid, chrono::Utc::now(), sku, num).paid_msg(1000);
    msg["trade"]["receiver"]["province"] = json!(province);
    msg
}

/// The order's lines as (reservation state, [(warehouse, units)]), from GET /v1/orders/{id}.
async fn lines_of(app: &TestApp, t: &testkit::Tenant, tid: &str) -> (String, Vec<(String, Vec<(String, i64)>)>) {
    let id = app.order_by_tid(t, tid).await.expect("order exists")["id"].as_str().unwrap().to_owned();
    let o = app.get(&format!("/v1/orders/{id}"), &t.token).await.expect(200);
    let lines = o["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let whs = l["warehouses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| (w["warehouse_code"].as_str().unwrap().to_owned(), w["quantity"].as_i64().unwrap()))
                .collect();
            (l["reservation_state"].as_str().unwrap_or("none").to_owned(), whs)
        })
        .collect();
    (o["status"].as_str().unwrap().to_owned(), lines)
}

fn wh(code: &str, n: i64) -> (String, i64) {
    (code.to_owned(), n)
}

async fn region_allocation_reserves_near_the_receiver_and_splits_only_when_allowed(app: TestApp) {
    let t = app.signup("Regional").await;
    for (code, name) in [("HZ", "杭州仓"), ("CD", "成都仓")] {
        app.post("/v1/warehouses", &t.token, &json!({"code": code, "name": name})).await.expect(201);
    }
    app.create_sku(&t, "TEE", 0).await;
    for code in ["HZ", "CD"] {
        let body = json!({"sku_code": "TEE", "warehouse_code": code, "delta": 5, "reason": "count"});
        app.post("/v1/stock/adjustments", &t.token, &body).await.expect(201);
    }
    let settings = json!({
        "strategy": "region",
        "regions": [{"province": "浙江省", "warehouses": ["HZ"]}, {"province": "四川", "warehouses": ["CD"]}],
        "fallback": ["HZ", "CD"],
        "allow_split": false
    });
    let set = put_allocation(&app, &t.token, &settings).await.expect(200);
    assert_eq!(set["strategy"], "region");
    assert_eq!(set["priority"], json!([]));
    let ch = app.connect_bazaar(&t, "shop-wh", None).await;

    app.post_webhook(&ch, "zj", &paid_to("T-ZJ", "TEE", 2, "浙江省")).await.expect(200);
    app.post_webhook(&ch, "sc", &paid_to("T-SC", "TEE", 2, "四川省")).await.expect(200);
    app.settle().await;
    assert_eq!(lines_of(&app, &t, "T-ZJ").await, ("allocated".into(), vec![("confirmed".into(), vec![wh("HZ", 2)])]));
    assert_eq!(lines_of(&app, &t, "T-SC").await, ("allocated".into(), vec![("confirmed".into(), vec![wh("CD", 2)])]));

    // 5 more: 3 are free in HZ and 3 in CD, so neither warehouse can serve it alone. Without
    // splitting it waits, reserving nothing.
    app.post_webhook(&ch, "big", &paid_to("T-BIG", "TEE", 5, "浙江省")).await.expect(200);
    app.settle().await;
    let (_, lines) = lines_of(&app, &t, "T-BIG").await;
    assert_eq!(lines, vec![("backordered".into(), vec![])]);
    assert_eq!(app.stock(&t, "TEE").await["reserved"], 4);

    // Allowing splits serves it: Zhejiang's warehouse first, the rest from the fallback list.
    let mut settings = settings.clone();
    settings["allow_split"] = json!(true);
    put_allocation(&app, &t.token, &settings).await.expect(200);
    app.settle().await;
    assert_eq!(
        lines_of(&app, &t, "T-BIG").await,
        ("allocated".into(), vec![("confirmed".into(), vec![wh("HZ", 3), wh("CD", 2)])])
    );
    let s = app.stock(&t, "TEE").await;
    // (MAIN is created with the first warehouse, at the same instant: compare by code.)
    let reserved: std::collections::BTreeMap<String, i64> = s["warehouses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["warehouse_code"].as_str().unwrap().to_owned(), w["reserved"].as_i64().unwrap()))
        .collect();
    assert_eq!(reserved, [wh("CD", 4), wh("HZ", 5), wh("MAIN", 0)].into_iter().collect());

    // A line whose code no SKU has waits, unmapped; creating the SKU and receiving stock
    // reserves it.
    app.post_webhook(&ch, "later", &paid_to("T-LATER", "CAP", 1, "四川省")).await.expect(200);
    app.settle().await;
    assert_eq!(lines_of(&app, &t, "T-LATER").await.1, vec![("unmapped".into(), vec![])]);
    app.create_sku(&t, "CAP", 0).await;
    let body = json!({"sku_code": "CAP", "warehouse_code": "CD", "delta": 1, "reason": "count"});
    app.post("/v1/stock/adjustments", &t.token, &body).await.expect(201);
    app.settle().await;
    assert_eq!(lines_of(&app, &t, "T-LATER").await.1, vec![("confirmed".into(), vec![wh("CD", 1)])]);
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(region_allocation_reserves_near_the_receiver_and_splits_only_when_allowed);

async fn allocation_settings_are_validated_idempotent_and_tenant_scoped(app: TestApp) {
    let t = app.signup("Settings").await;
    let other = app.signup("Other").await;
    app.post("/v1/warehouses", &t.token, &json!({"code": "HZ", "name": "Hangzhou"})).await.expect(201);
    let defaults =
        json!({"strategy": "most_stock", "priority": [], "regions": [], "fallback": [], "allow_split": true});
    assert_eq!(app.get("/v1/inventory/allocation", &t.token).await.expect(200), defaults);
    app.call(Method::GET, "/v1/inventory/allocation", None, None, &[]).await.assert_problem(401, "unauthorized");
    app.call(Method::PUT, "/v1/inventory/allocation", None, Some(&defaults), &[])
        .await
        .assert_problem(401, "unauthorized");
    app.get("/v1/inventory/allocations", &t.token).await.assert_problem(404, "not_found");

    let body = json!({"strategy": "priority", "priority": ["HZ", "MAIN"], "allow_split": false});
    let set = put_allocation(&app, &t.token, &body).await.expect(200);
    let expected = json!({"strategy": "priority", "priority": ["HZ", "MAIN"], "regions": [], "fallback": [], "allow_split": false});
    assert_eq!(set, expected);
    assert_eq!(put_allocation(&app, &t.token, &body).await.expect(200), expected, "the same body again");
    assert_eq!(app.get("/v1/inventory/allocation", &t.token).await.expect(200), expected);
    assert_eq!(app.scalar("select count(*) from inventory_allocation").await, 1);

    // Bad input: problem+json, and nothing changes.
    let unknown = json!({"strategy": "region", "regions": [{"province": "浙江省", "warehouses": ["NOPE"]}], "fallback": ["HZ", "XX"], "allow_split": true});
    let r = put_allocation(&app, &t.token, &unknown).await;
    r.assert_problem(422, "unknown_reference");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("NOPE") && detail.contains("XX") && !detail.contains("HZ"), "{detail}");
    for bad in [
        json!({"strategy": "nearest", "allow_split": true}),
        json!({"strategy": "priority"}),
        json!({"strategy": "priority", "priority": "HZ", "allow_split": true}),
        json!({"strategy": "region", "regions": [{"province": "", "warehouses": ["HZ"]}], "allow_split": true}),
        json!({"strategy": "region", "regions": [{"province": "浙江", "warehouses": []}], "allow_split": true}),
    ] {
        put_allocation(&app, &t.token, &bad).await.assert_problem(400, "malformed_request");
    }
    put_allocation(&app, &t.token, &json!({"strategy": "priority", "priority": ["bad code!"], "allow_split": true}))
        .await
        .assert_problem(400, "invalid_input");
    let twice = json!({"strategy": "region", "regions": [{"province": "浙江省", "warehouses": ["HZ"]}, {"province": "浙江", "warehouses": ["MAIN"]}], "allow_split": true});
    put_allocation(&app, &t.token, &twice).await.assert_problem(400, "invalid_input");
    let auth = format!("Bearer {}", t.token);
    app.call_raw(Method::PUT, "/v1/inventory/allocation", &[("authorization", &auth)], b"{\"strategy\":".to_vec())
        .await
        .assert_problem(400, "malformed_request");
    assert_eq!(app.get("/v1/inventory/allocation", &t.token).await.expect(200), expected);

    // Another tenant sees its own defaults, and cannot name this tenant's warehouse.
    assert_eq!(app.get("/v1/inventory/allocation", &other.token).await.expect(200), defaults);
    put_allocation(&app, &other.token, &body).await.assert_problem(422, "unknown_reference");
    assert_eq!(app.get("/v1/inventory/allocation", &other.token).await.expect(200), defaults);
    assert_eq!(app.get("/v1/inventory/allocation", &t.token).await.expect(200), expected);
    app.shutdown().await;
}
both!(allocation_settings_are_validated_idempotent_and_tenant_scoped);
