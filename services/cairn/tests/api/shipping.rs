use crate::harness::TestApp;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use testkit::{LEDGER_MISMATCHES, Resp, Tenant, bazaar::Trade};

/// Payloads of the outbox events of `kind` for `t`, oldest first.
async fn events(app: &TestApp, t: &Tenant, kind: &str) -> Vec<Value> {
    use bus::entities::outbox::{Column, Entity};
    let rows = Entity::find()
        .filter(Column::Kind.eq(kind))
        .filter(Column::TenantId.eq(t.tenant_id))
        .order_by_asc(Column::Seq)
        .all(app.db.tenant(t.tenant_id).conn())
        .await
        .unwrap();
    rows.into_iter().map(|r| serde_json::from_str::<Value>(&r.envelope).unwrap()["payload"].take()).collect()
}

/// The `stock.level_changed` payloads of one SKU, oldest first.
async fn levels(app: &TestApp, t: &Tenant, sku: &str) -> Vec<Value> {
    events(app, t, "stock.level_changed").await.into_iter().filter(|e| e["sku_code"] == sku).collect()
}

#[track_caller]
fn assert_versions_increase(levels: &[Value]) {
    let v: Vec<i64> = levels.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert!(v.windows(2).all(|w| w[0] < w[1]), "versions strictly increase: {v:?}");
}

async fn ship(app: &TestApp, t: &Tenant, order_id: &str, body: Value) -> Resp {
    app.post(&format!("/v1/orders/{order_id}/ship"), &t.token, &body).await
}

async fn order(app: &TestApp, t: &Tenant, order_id: &str) -> Value {
    app.get(&format!("/v1/orders/{order_id}"), &t.token).await.expect(200)
}

/// What must not move when a request is refused or repeated.
async fn footprint(app: &TestApp) -> [i64; 5] {
    [
        app.scalar("select count(*) from outbox").await,
        app.scalar("select count(*) from stock_ledger").await,
        app.scalar("select count(*) from order_shipments").await,
        app.scalar("select count(*) from order_timeline").await,
        app.scalar("select count(*) from order_lines where shipped_waybill is not null").await,
    ]
}

/// An order paid an hour ago: `T1-1` is 2 × TEE, `T1-2` is 1 × MUG.
async fn paid_order(app: &TestApp, t: &Tenant, ch: &testkit::Channel, tid: &str) -> (Trade, String) {
    let trade = Trade::new(&ch.shop_id, tid, Utc::now() - Duration::hours(1), "TEE", 2).line("MUG", 1, 5000);
    app.post_webhook(ch, &format!("{tid}-paid"), &trade.paid_msg(3_000)).await.expect(200);
    app.settle().await;
    let id = app.order_by_tid(t, tid).await.expect("order exists")["id"].as_str().unwrap().to_owned();
    (trade, id)
}

async fn shipping_lines_commits_their_stock_and_is_idempotent_by_waybill(app: TestApp) {
    let t = app.signup("Shipper").await;
    app.create_sku(&t, "TEE", 1).await;
    app.create_sku(&t, "MUG", 0).await;
    app.adjust(&t, "TEE", 10).await;
    app.adjust(&t, "MUG", 5).await;
    let ch = app.connect_bazaar(&t, "shop-1", None).await;
    let (trade, id) = paid_order(&app, &t, &ch, "T1").await;
    let o = order(&app, &t, &id).await;
    assert_eq!(o["status"], "allocated");
    assert_eq!(o["shipments"], json!([]));
    assert_eq!(levels(&app, &t, "TEE").await.last().unwrap()["available"], 7, "10 on hand − 2 reserved − 1 safety");

    // Ship the TEE line.
    let w1 = json!({"company_code": "SF", "waybill_no": "SF1000000001", "lines": ["T1-1"]});
    let first = ship(&app, &t, &id, w1.clone()).await.expect(200);
    assert_eq!(first["status"], "partially_shipped");
    assert_eq!(first["order_id"], id.as_str());
    assert_eq!(
        (&first["shipment"]["waybill_no"], &first["shipment"]["company_code"], &first["shipment"]["lines"]),
        (&json!("SF1000000001"), &json!("SF"), &json!(["T1-1"]))
    );
    app.settle().await;
    let o = order(&app, &t, &id).await;
    assert_eq!(o["status"], "partially_shipped");
    assert_eq!(
        (&o["lines"][0]["shipped_waybill"], &o["lines"][1]["shipped_waybill"]),
        (&json!("SF1000000001"), &Value::Null)
    );
    assert_eq!(
        (&o["lines"][0]["reservation_state"], &o["lines"][1]["reservation_state"]),
        (&json!("committed"), &json!("confirmed"))
    );
    assert_eq!(o["shipments"], json!([first["shipment"]]));
    assert!(
        o["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "shipment" && e["detail"].as_str().unwrap().contains("SF1000000001")),
        "{}",
        o["timeline"]
    );
    let tee = app.stock(&t, "TEE").await;
    assert_eq!(
        (tee["on_hand"].as_i64(), tee["reserved"].as_i64(), tee["available"].as_i64()),
        (Some(8), Some(0), Some(7))
    );
    let mug = app.stock(&t, "MUG").await;
    assert_eq!(
        (mug["on_hand"].as_i64(), mug["reserved"].as_i64()),
        (Some(5), Some(1)),
        "the other line is still reserved"
    );
    let kinds: Vec<Value> = app
        .get("/v1/stock/TEE/ledger", &t.token)
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("receipt"), json!("reserve"), json!("commit")]);
    let tee_levels = levels(&app, &t, "TEE").await;
    assert_eq!(
        tee_levels.last().unwrap(),
        &json!({"sku_code": "TEE", "available": 7, "on_hand": 8, "reserved": 0, "version": tee_levels.last().unwrap()["version"]})
    );
    assert_eq!(tee_levels.len(), 4, "creation, receipt, reserve, commit: one event each");
    assert_versions_increase(&tee_levels);
    let shipped = events(&app, &t, "order.shipped").await;
    assert_eq!(shipped.len(), 1);
    assert_eq!(
        (
            &shipped[0]["external_id"],
            &shipped[0]["waybill_no"],
            &shipped[0]["company_code"],
            &shipped[0]["external_line_ids"]
        ),
        (&json!("T1"), &json!("SF1000000001"), &json!("SF"), &json!(["T1-1"]))
    );
    let changed = events(&app, &t, "order.changed").await;
    let last = changed.last().unwrap();
    assert_eq!(last["status"], "partially_shipped");
    assert_eq!((&last["lines"][0]["shipped"], &last["lines"][1]["shipped"]), (&json!(true), &json!(false)));
    assert!(last["revision"].as_i64().unwrap() > changed[changed.len() - 2]["revision"].as_i64().unwrap());

    // Refused while partially shipped, and nothing moves.
    let other = app.signup("Other").await;
    let before = footprint(&app).await;
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "SF1000000003", "lines": ["T1-1", "T1-2"]}))
        .await
        .assert_problem(409, "invalid_state_transition");
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "SF1000000003", "lines": ["T1-9"]}))
        .await
        .assert_problem(400, "invalid_input");
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "SF1000000003", "lines": []}))
        .await
        .assert_problem(400, "invalid_input");
    // The codes' patterns are in the schema: refused before the handler, like any schema rule.
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": ""})).await.assert_problem(400, "malformed_request");
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "9".repeat(65)}))
        .await
        .assert_problem(400, "malformed_request");
    ship(&app, &t, &id, json!({"company_code": "", "waybill_no": "SF1000000003"}))
        .await
        .assert_problem(400, "malformed_request");
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "SF1000000001", "lines": ["T1-2"]}))
        .await
        .assert_problem(409, "already_exists");
    ship(&app, &t, &id, json!({"company_code": "YTO", "waybill_no": "SF1000000001", "lines": ["T1-1"]}))
        .await
        .assert_problem(409, "already_exists");
    ship(&app, &other, &id, json!({"company_code": "SF", "waybill_no": "SF1000000003"}))
        .await
        .assert_problem(404, "not_found");
    ship(&app, &t, &uuid::Uuid::now_v7().to_string(), json!({"company_code": "SF", "waybill_no": "SF1000000003"}))
        .await
        .assert_problem(404, "not_found");
    app.settle().await;
    assert_eq!(footprint(&app).await, before);
    assert_eq!(order(&app, &t, &id).await["status"], "partially_shipped");

    // Ship the rest: `lines` left out means every line not shipped yet.
    let w2 = json!({"company_code": "SF", "waybill_no": "SF1000000002"});
    let second = ship(&app, &t, &id, w2.clone()).await.expect(200);
    assert_eq!((&second["status"], &second["shipment"]["lines"]), (&json!("shipped"), &json!(["T1-2"])));
    app.settle().await;
    let o = order(&app, &t, &id).await;
    assert_eq!(o["status"], "shipped");
    assert_eq!(o["lines"][1]["shipped_waybill"], "SF1000000002");
    assert_eq!(o["lines"][1]["reservation_state"], "committed");
    assert_eq!(o["shipments"].as_array().unwrap().len(), 2);
    let mug = app.stock(&t, "MUG").await;
    assert_eq!((mug["on_hand"].as_i64(), mug["reserved"].as_i64()), (Some(4), Some(0)));
    assert_eq!(levels(&app, &t, "MUG").await.last().unwrap()["available"], 4);
    assert_eq!(events(&app, &t, "order.shipped").await[1]["external_line_ids"], json!(["T1-2"]));

    // The same requests again: the first results, and nothing moves.
    let before = footprint(&app).await;
    let again = ship(&app, &t, &id, w2).await.expect(200);
    assert_eq!(again, second);
    let again = ship(&app, &t, &id, w1).await.expect(200);
    assert_eq!(again["shipment"], first["shipment"]);
    assert_eq!(again["status"], "shipped", "the order's status now");
    ship(&app, &t, &id, json!({"company_code": "SF", "waybill_no": "SF1000000003"}))
        .await
        .assert_problem(409, "invalid_state_transition");
    app.settle().await;
    assert_eq!(footprint(&app).await, before);

    // A marketplace snapshot older than the shipment (a refund delivered late) is stale; a newer
    // one (still unaware of the shipment) is applied and keeps the shipped lines and status.
    app.post_webhook(&ch, "T1-late", &trade.refunded_msg(3_000, 60_000, &["T1-2"])).await.expect(200);
    app.settle().await;
    assert_eq!(footprint(&app).await[1..], before[1..]);
    let later = trade.message("trade.TradeChanged", "WAIT_SELLER_SEND_GOODS", 2 * 3_600_000, Some(3_000));
    app.post_webhook(&ch, "T1-changed", &later).await.expect(200);
    app.settle().await;
    let o = order(&app, &t, &id).await;
    assert_eq!(o["status"], "shipped");
    assert_eq!(
        (&o["lines"][0]["shipped_waybill"], &o["lines"][1]["shipped_waybill"]),
        (&json!("SF1000000001"), &json!("SF1000000002"))
    );
    assert_eq!(o["lines"][1]["refund_status"], "NO_REFUND", "the stale refund snapshot was not applied");
    let last = events(&app, &t, "order.changed").await.pop().unwrap();
    assert_eq!(
        (&last["status"], &last["lines"][0]["shipped"], &last["lines"][1]["shipped"]),
        (&json!("shipped"), &json!(true), &json!(true))
    );
    assert_eq!(app.scalar("select count(*) from stock_ledger").await, before[1], "no stock moved");
    // The marketplace confirms the shipment.
    app.post_webhook(&ch, "T1-shipped", &trade.shipped_msg(3_000, 3 * 3_600_000)).await.expect(200);
    app.settle().await;
    assert_eq!(order(&app, &t, &id).await["status"], "shipped");
    assert_eq!(app.scalar("select count(*) from stock_ledger").await, before[1]);
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(shipping_lines_commits_their_stock_and_is_idempotent_by_waybill);

async fn orders_that_cannot_ship_are_refused_and_refunded_lines_are_skipped(app: TestApp) {
    let t = app.signup("Careful").await;
    app.create_sku(&t, "TEE", 0).await;
    app.create_sku(&t, "MUG", 0).await;
    app.adjust(&t, "TEE", 20).await;
    app.adjust(&t, "MUG", 20).await;
    let ch = app.connect_bazaar(&t, "shop-2", None).await;
    let body = json!({"company_code": "ZTO", "waybill_no": "ZT42"});

    // Not paid yet.
    let unpaid = Trade::new("shop-2", "U1", Utc::now(), "TEE", 1);
    app.post_webhook(&ch, "U1-created", &unpaid.created_msg()).await.expect(200);
    // Cancelled after payment.
    let (closed, closed_id) = paid_order(&app, &t, &ch, "C1").await;
    app.post_webhook(&ch, "C1-closed", &closed.closed_msg(3_000, 60_000)).await.expect(200);
    app.settle().await;
    let unpaid_id = app.order_by_tid(&t, "U1").await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(order(&app, &t, &closed_id).await["status"], "cancelled");
    let before = footprint(&app).await;
    ship(&app, &t, &unpaid_id, body.clone()).await.assert_problem(409, "invalid_state_transition");
    ship(&app, &t, &closed_id, body.clone()).await.assert_problem(409, "invalid_state_transition");
    app.settle().await;
    assert_eq!(footprint(&app).await, before);
    assert_eq!(order(&app, &t, &unpaid_id).await["status"], "pending_payment");

    // A refunded line cannot ship; shipping "everything" skips it and ships the whole order.
    let (refunded, id) = paid_order(&app, &t, &ch, "R1").await;
    app.post_webhook(&ch, "R1-refund", &refunded.refunded_msg(3_000, 60_000, &["R1-2"])).await.expect(200);
    app.settle().await;
    let before = footprint(&app).await;
    ship(&app, &t, &id, json!({"company_code": "ZTO", "waybill_no": "ZT42", "lines": ["R1-2"]}))
        .await
        .assert_problem(409, "invalid_state_transition");
    assert_eq!(footprint(&app).await, before);
    let done = ship(&app, &t, &id, body).await.expect(200);
    assert_eq!((&done["status"], &done["shipment"]["lines"]), (&json!("shipped"), &json!(["R1-1"])));
    app.settle().await;
    let o = order(&app, &t, &id).await;
    assert_eq!(
        (&o["lines"][0]["reservation_state"], &o["lines"][1]["reservation_state"]),
        (&json!("committed"), &json!("released"))
    );
    let shipped = events(&app, &t, "order.shipped").await;
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0]["external_line_ids"], Value::Null, "the whole order shipped");
    let tee = app.stock(&t, "TEE").await;
    assert_eq!(
        (tee["on_hand"].as_i64(), tee["reserved"].as_i64()),
        (Some(18), Some(1)),
        "2 shipped; the unpaid order still holds 1"
    );
    let mug = app.stock(&t, "MUG").await;
    assert_eq!((mug["on_hand"].as_i64(), mug["reserved"].as_i64()), (Some(20), Some(0)));
    assert_eq!(app.scalar(LEDGER_MISMATCHES).await, 0);
    app.shutdown().await;
}
both!(orders_that_cannot_ship_are_refused_and_refunded_lines_are_skipped);

async fn every_stock_change_announces_the_sellable_quantity(app: TestApp) {
    let t = app.signup("Announcer").await;
    app.create_sku(&t, "CAP", 2).await;
    assert_eq!(
        levels(&app, &t, "CAP").await,
        [json!({"sku_code": "CAP", "available": 0, "on_hand": 0, "reserved": 0, "version": 0})],
        "a new SKU is announced with nothing sellable"
    );
    app.adjust(&t, "CAP", 10).await;
    app.post("/v1/warehouses", &t.token, &json!({"code": "SH-01", "name": "Shanghai"})).await.expect(201);
    app.post(
        "/v1/stock/adjustments",
        &t.token,
        &json!({"sku_code": "CAP", "warehouse_code": "SH-01", "delta": 5, "reason": "transfer"}),
    )
    .await
    .expect(201);
    let reserve = |key: &'static str, qty: i64| {
        let app = &app;
        let token = t.token.clone();
        async move {
            let body = json!({"reference": key, "lines": [{"sku_code": "CAP", "quantity": qty}]});
            app.call(reqwest::Method::POST, "/v1/reservations", Some(&token), Some(&body), &[("Idempotency-Key", key)])
                .await
                .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let a = reserve("a", 4).await;
    let b = reserve("b", 3).await;
    app.post(&format!("/v1/reservations/{a}/release"), &t.token, &json!({})).await.expect(200);
    app.post(&format!("/v1/reservations/{b}/commit"), &t.token, &json!({})).await.expect(200);
    // A replayed reservation changes nothing and announces nothing.
    reserve("b", 3).await;
    let got: Vec<(i64, i64, i64)> = levels(&app, &t, "CAP")
        .await
        .iter()
        .map(|e| (e["available"].as_i64().unwrap(), e["on_hand"].as_i64().unwrap(), e["reserved"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [(0, 0, 0), (8, 10, 0), (13, 15, 0), (9, 15, 4), (6, 15, 7), (10, 15, 3), (10, 12, 0)]);
    assert_versions_increase(&levels(&app, &t, "CAP").await);
    // Removing stock below the safety stock floors the sellable quantity at zero.
    app.post("/v1/stock/adjustments", &t.token, &json!({"sku_code": "CAP", "delta": -7, "reason": "count"}))
        .await
        .expect(201);
    app.post(
        "/v1/stock/adjustments",
        &t.token,
        &json!({"sku_code": "CAP", "warehouse_code": "SH-01", "delta": -4, "reason": "count"}),
    )
    .await
    .expect(201);
    let last = levels(&app, &t, "CAP").await.pop().unwrap();
    assert_eq!((last["available"].as_i64(), last["on_hand"].as_i64()), (Some(0), Some(1)));
    // The announcements flow like any event: consumers settle and the relay publishes them all.
    app.adjust(&t, "CAP", 1).await;
    app.settle().await;
    if app.backend == testkit::Backend::Distributed {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while app.scalar("select count(*) from outbox where published_at is null").await > 0 {
            assert!(std::time::Instant::now() < deadline, "the relay did not publish every event");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    app.shutdown().await;
}
both!(every_stock_change_announces_the_sellable_quantity);
