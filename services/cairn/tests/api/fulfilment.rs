//! Shipping (issue 15): shipments from ready orders (merged, split), waybills from Courier (the
//! simulator), scan-to-ship with write-backs, interception, tracking and returns.

use crate::harness::TestApp;
use bazaar_sim::{
    BuyerSpec, Carrier, CourierChaos, CourierSchedule, NewCourierAccount, NewCourierSeller, NewLine, NewTrade,
    Receiver, RefundOutcome, RefundRequest, RefundSettlement, SimConfig, TrackingStatus, WritebackKind,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testkit::Tenant;

both!(merged_orders_ship_as_one_parcel_and_each_trade_is_written_back);
both!(a_refund_after_the_draw_intercepts_and_a_closed_refund_draws_again);
both!(draws_survive_timeouts_and_a_short_balance_without_drawing_twice);
both!(tracking_out_of_order_ends_in_the_latest_status_and_a_return_restocks_once);
both!(a_batch_of_200_labels_is_one_pdf_with_every_waybill_and_no_full_phone);
both!(goods_sent_back_after_a_sale_are_expected_and_received_once);
both!(carrier_accounts_are_checked_with_courier_and_bad_input_changes_nothing);

/// A Cairn tenant with a shop and a ZTO account on one simulator.
struct Setup {
    sim: bazaar_sim::Sim,
    t: Tenant,
    shop: String,
    account: String,
    /// The Courier branch.
    branch: String,
}

const SENDER: &str = r#"{"name": "云栈优品仓", "phone": "0571-88886666", "province": "浙江省", "city": "杭州市", "district": "余杭区", "address": "仓前街道良睦路1399号"}"#;

async fn setup(app: &TestApp, skus: &[(&str, i64)], balance: i64) -> Setup {
    let sim = bazaar_sim::spawn(SimConfig::ephemeral()).await.unwrap();
    sim.set_courier_schedule(CourierSchedule::every(50)).unwrap();
    let t = app.signup("发货").await;
    for (sku, qty) in skus {
        app.create_sku(&t, sku, 0).await;
        app.adjust(&t, sku, *qty).await;
    }
    let shop = "shop-ship".to_owned();
    crate::reconcile::connect(app, &sim, &t, &shop, None).await;
    let seller = sim
        .create_courier_seller(NewCourierSeller {
            accounts: vec![NewCourierAccount { quantity: Some(balance), ..NewCourierAccount::new(Carrier::Zto) }],
            ..NewCourierSeller::default()
        })
        .await
        .unwrap();
    let branch = seller.accounts[0].branch_code.clone();
    let body = json!({
        "cp_code": "ZTO", "branch_code": branch, "api_url": sim.url(), "app_key": sim.app_key(),
        "app_secret": sim.app_secret(), "access_token": seller.access_token,
        "sender": serde_json::from_str::<Value>(SENDER).unwrap(),
    });
    let a = app.post("/v1/shipping/accounts", &t.token, &body).await.expect(201);
    assert_eq!((a["quantity"].as_i64(), a["branch_code"].as_str()), (Some(balance), Some(branch.as_str())), "{a}");
    assert!(a.get("app_secret").is_none() && a.get("access_token").is_none(), "secrets are never shown: {a}");
    let account = a["id"].as_str().unwrap().to_owned();
    let rules = json!({"merge_wait_seconds": 600, "default_account_id": account});
    app.put("/v1/shipping/rules", &t.token, &rules).await.expect(200);
    Setup { sim, t, shop, account, branch }
}

fn buyer(nick: &str, address: &str) -> BuyerSpec {
    BuyerSpec {
        nick: nick.into(),
        receiver: Receiver {
            name: "王小明".into(),
            phone: "13800000000".into(),
            province: "四川省".into(),
            city: "成都市".into(),
            district: "都江堰市".into(),
            address: address.into(),
            zip: "611830".into(),
        },
    }
}

/// Creates and pays a trade of `lines` for `buyer`; returns its tid.
async fn paid_trade(s: &Setup, buyer: &BuyerSpec, lines: &[(&str, i64)]) -> String {
    let mut spec = NewTrade::new(
        &s.shop,
        lines.iter().map(|(sku, n)| NewLine { price: Some("59.00".into()), ..NewLine::new(*sku, *n) }).collect(),
    );
    spec.buyer = Some(buyer.clone());
    spec.invoice_request = Some(None);
    let t = s.sim.create_trade(spec).await.unwrap();
    s.sim.pay(&t.tid).await.unwrap();
    t.tid
}

/// Waits until the simulator delivered its webhooks and Cairn's bus is idle.
async fn settle(app: &TestApp, s: &Setup) {
    s.sim.wait_delivered(Duration::from_secs(30)).await.unwrap();
    app.settle().await;
}

async fn shipments(app: &TestApp, t: &Tenant, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/shipments?{query}"), &t.token).await.expect(200)["items"].as_array().unwrap().clone()
}

async fn shipment(app: &TestApp, t: &Tenant, id: &str) -> Value {
    app.get(&format!("/v1/shipments/{id}"), &t.token).await.expect(200)
}

async fn order_of(app: &TestApp, t: &Tenant, tid: &str) -> Value {
    let o = app.order_by_tid(t, tid).await.unwrap_or_else(|| panic!("order {tid}"));
    app.get(&format!("/v1/orders/{}", o["id"].as_str().unwrap()), &t.token).await.expect(200)
}

async fn balance(app: &TestApp, t: &Tenant) -> i64 {
    let a = app.get("/v1/shipping/accounts", &t.token).await.expect(200);
    a["items"][0]["quantity"].as_i64().unwrap()
}

/// Polls `f` until it is true (background work: the cancel queue, Courier's pushes).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "after 30 s still not: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

/// The ship write-backs the simulator took for `tid`: (waybill, oids).
fn writebacks(s: &Setup, tid: &str) -> Vec<(String, Value)> {
    s.sim
        .writebacks(Some(&s.shop))
        .into_iter()
        .filter(|w| w.kind == WritebackKind::Ship && w.target == tid)
        .map(|w| (w.payload["waybill_no"].as_str().unwrap_or_default().to_owned(), w.payload["oids"].clone()))
        .collect()
}

async fn merged_orders_ship_as_one_parcel_and_each_trade_is_written_back(app: TestApp) {
    let s = setup(&app, &[("TEE", 10), ("MUG", 10)], 100).await;
    let t = &s.t;
    let b = buyer("买家小王", "幸福大道88号");
    let t1 = paid_trade(&s, &b, &[("TEE", 1)]).await;
    let t2 = paid_trade(&s, &b, &[("MUG", 2)]).await;
    // Another receiver: its own shipment.
    let t3 = paid_trade(&s, &buyer("买家小王", "幸福大道90号"), &[("TEE", 1)]).await;
    settle(&app, &s).await;
    let list = shipments(&app, t, "status=pending").await;
    assert_eq!(list.len(), 2, "{list:?}");
    let merged = list.iter().find(|x| x["orders"].as_array().unwrap().len() == 2).expect("a merged shipment");
    let trades: Vec<&str> =
        merged["orders"].as_array().unwrap().iter().map(|o| o["external_id"].as_str().unwrap()).collect();
    assert_eq!(trades, vec![t1.as_str(), t2.as_str()]);
    assert_eq!(merged["receiver"]["address"], "幸福大道88号");
    let merged_id = merged["id"].as_str().unwrap().to_owned();
    // The order filter finds it.
    let o1 = order_of(&app, t, &t1).await;
    let by_order = shipments(&app, t, &format!("order_id={}", o1["id"].as_str().unwrap())).await;
    assert_eq!(ids(&by_order), vec![merged_id.clone()]);

    // One waybill for the merged shipment; one number off the branch's balance.
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [merged_id]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "drawn", "{r}");
    let code = r["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, t).await, 99);
    let view = s.sim.courier_waybill(&code).await.expect("Courier has it");
    assert_eq!(view.trade_ids, vec![t1.clone(), t2.clone()]);
    assert_eq!(view.recipient.address, "幸福大道88号");
    // Drawing again is the same waybill and costs nothing.
    let again = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [merged_id]})).await.expect(200);
    assert_eq!(
        (again["results"][0]["outcome"].as_str(), again["results"][0]["waybill_code"].as_str()),
        (Some("already_drawn"), Some(code.as_str()))
    );
    assert_eq!(balance(&app, t).await, 99);
    let d = shipment(&app, t, &merged_id).await;
    assert_eq!(
        (d["status"].as_str(), d["waybill"]["sortation_name"].as_str().map(|x| !x.is_empty())),
        (Some("waybill_allocated"), Some(true)),
        "{d}"
    );

    // Its label: one page, the waybill as text, no full phone number.
    let pdf = app
        .client
        .get(format!("{}/v1/shipments/{merged_id}/label.pdf?size=76x130", app.url))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));

    // Scan to ship: each trade is written back with the one waybill; the stock leaves.
    let r = app.post("/v1/shipments/ship", &t.token, &json!({"ids": [merged_id]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "shipped", "{r}");
    settle(&app, &s).await;
    eventually("both trades written back", || async {
        !writebacks(&s, &t1).is_empty() && !writebacks(&s, &t2).is_empty()
    })
    .await;
    for tid in [&t1, &t2] {
        let wb = writebacks(&s, tid);
        assert_eq!(wb[0].0, code, "{tid}: {wb:?}");
        let o = order_of(&app, t, tid).await;
        assert_eq!(o["status"], "shipped", "{o}");
        assert_eq!(o["shipments"][0]["waybill_no"], code.as_str());
        // The committed line still says where it left from.
        assert_eq!(o["lines"][0]["warehouses"][0]["warehouse_code"], "MAIN", "{o}");
    }
    assert!(writebacks(&s, &t3).is_empty());
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 9);
    assert_eq!(app.stock(t, "MUG").await["on_hand"], 8);
    // Shipping again changes nothing more.
    let r = app.post("/v1/shipments/ship", &t.token, &json!({"ids": [merged_id]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "already_shipped");
    settle(&app, &s).await;
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 9);

    // Split by hand: t3's shipment gets a second line first, then ships in two parts.
    let other = list.iter().find(|x| x["id"] != merged_id.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let t4 = paid_trade(&s, &buyer("买家小李", "春熙路1号"), &[("TEE", 2), ("MUG", 1)]).await;
    settle(&app, &s).await;
    let o4 = order_of(&app, t, &t4).await;
    let o4_id = o4["id"].as_str().unwrap().to_owned();
    let sh4 = shipments(&app, t, &format!("order_id={o4_id}")).await;
    assert_eq!(sh4.len(), 1);
    let sh4_id = sh4[0]["id"].as_str().unwrap().to_owned();
    let (tee_line, mug_line) = {
        let lines = sh4[0]["lines"].as_array().unwrap();
        let l = |sku: &str| {
            lines.iter().find(|l| l["sku_code"] == sku).unwrap()["external_line_id"].as_str().unwrap().to_owned()
        };
        (l("TEE"), l("MUG"))
    };
    // Parts that do not add up change nothing.
    let bad = json!({"parts": [{"lines": [{"order_id": o4_id, "external_line_id": tee_line, "quantity": 1}]},
                               {"lines": [{"order_id": o4_id, "external_line_id": mug_line, "quantity": 1}]}]});
    app.post(&format!("/v1/shipments/{sh4_id}/split"), &t.token, &bad).await.assert_problem(400, "invalid_input");
    let parts = json!({"parts": [{"lines": [{"order_id": o4_id, "external_line_id": tee_line, "quantity": 2}]},
                                 {"lines": [{"order_id": o4_id, "external_line_id": mug_line, "quantity": 1}]}]});
    let split = app.post(&format!("/v1/shipments/{sh4_id}/split"), &t.token, &parts).await.expect(200);
    let parts: Vec<String> =
        split["shipment_ids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect();
    assert_eq!(parts.len(), 2);
    let r = app
        .post(
            "/v1/shipments/waybills",
            &t.token,
            &json!({"shipment_ids": parts.clone().into_iter().chain([other.clone()]).collect::<Vec<_>>()}),
        )
        .await
        .expect(200);
    let codes: Vec<String> =
        r["results"].as_array().unwrap().iter().map(|x| x["waybill_code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 3);
    assert_ne!(codes[0], codes[1]);
    app.post("/v1/shipments/ship", &t.token, &json!({"ids": [parts[0]]})).await.expect(200);
    settle(&app, &s).await;
    eventually("the first part written back", || async { !writebacks(&s, &t4).is_empty() }).await;
    assert_eq!(order_of(&app, t, &t4).await["status"], "partially_shipped");
    app.post("/v1/shipments/ship", &t.token, &json!({"ids": [parts[1]]})).await.expect(200);
    settle(&app, &s).await;
    eventually("both parts written back", || async { writebacks(&s, &t4).len() == 2 }).await;
    let wb = writebacks(&s, &t4);
    assert_eq!((wb[0].0.as_str(), &wb[0].1), (codes[0].as_str(), &json!([tee_line])), "{wb:?}");
    assert_eq!((wb[1].0.as_str(), &wb[1].1), (codes[1].as_str(), &json!([mug_line])), "{wb:?}");
    assert_eq!(order_of(&app, t, &t4).await["status"], "shipped");
}

async fn a_refund_after_the_draw_intercepts_and_a_closed_refund_draws_again(app: TestApp) {
    let s = setup(&app, &[("TEE", 10)], 100).await;
    let t = &s.t;
    let tid = paid_trade(&s, &buyer("买家小张", "人民南路4段1号"), &[("TEE", 1)]).await;
    settle(&app, &s).await;
    let id = shipments(&app, t, "").await[0]["id"].as_str().unwrap().to_owned();
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [id]})).await.expect(200);
    let first = r["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert_eq!(balance(&app, t).await, 99);

    // The buyer asks for a refund: the shipment is intercepted and its waybill given back.
    let oid = s.sim.trade(&tid).await.unwrap().orders[0].oid.clone();
    s.sim.refund(&tid, RefundRequest { oids: Some(vec![oid.clone()]), outcome: RefundOutcome::Pending }).await.unwrap();
    settle(&app, &s).await;
    let d = shipment(&app, t, &id).await;
    assert_eq!((d["status"].as_str(), d["waybill"].is_null()), (Some("intercepted"), true), "{d}");
    assert_eq!(d["orders"][0]["holds"], json!(["refund_pending"]));
    eventually("the waybill cancelled at Courier", || async {
        s.sim.courier_waybill(&first).await.is_some_and(|w| w.status == "CANCELLED")
    })
    .await;
    assert_eq!(balance(&app, t).await, 100);
    let d = shipment(&app, t, &id).await;
    assert_eq!(d["waybills"][0]["state"], "cancelled", "{d}");
    // Nothing ships against the pending refund, and nothing is written back.
    let r = app.post("/v1/shipments/ship", &t.token, &json!({"ids": [id]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "failed", "{r}");
    app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [id]})).await.expect(200);
    assert_eq!(balance(&app, t).await, 100, "a held shipment is not drawn");
    settle(&app, &s).await;
    assert!(writebacks(&s, &tid).is_empty());

    // The buyer withdraws it: ready again, drawn again with a new number.
    s.sim.settle_refund(&tid, RefundSettlement { oids: Some(vec![oid]), success: false }).await.unwrap();
    settle(&app, &s).await;
    assert_eq!(shipment(&app, t, &id).await["status"], "pending");
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [id]})).await.expect(200);
    let second = r["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(balance(&app, t).await, 99);
    app.post("/v1/shipments/ship", &t.token, &json!({"ids": [id]})).await.expect(200);
    settle(&app, &s).await;
    eventually("written back with the second waybill", || async { !writebacks(&s, &tid).is_empty() }).await;
    assert_eq!(writebacks(&s, &tid)[0].0, second);
}

async fn draws_survive_timeouts_and_a_short_balance_without_drawing_twice(app: TestApp) {
    let s = setup(&app, &[("TEE", 100)], 100).await;
    let t = &s.t;
    for n in 0..12 {
        paid_trade(&s, &buyer(&format!("买家{n}"), &format!("天府大道{n}号")), &[("TEE", 1)]).await;
    }
    settle(&app, &s).await;
    let all = ids(&shipments(&app, t, "status=pending").await);
    assert_eq!(all.len(), 12);
    // Courier draws, then never answers (the call times out): nothing is recorded as drawn.
    s.sim
        .set_courier_chaos(CourierChaos {
            draw_timeout_after_rate: 1.0,
            draw_timeout_ms: 300,
            ..CourierChaos::default()
        })
        .unwrap();
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": all})).await.expect(200);
    assert!(r["results"].as_array().unwrap().iter().all(|x| x["outcome"] == "failed"), "{r}");
    let d = shipment(&app, t, &all[0]).await;
    assert_eq!(d["status"], "pending");
    assert!(d["problem"].as_str().unwrap().contains("did not answer"), "{d}");
    assert_eq!(courier_balance(&s).await, Some(88), "Courier did draw the 12");
    // Drawing again gets the same 12 numbers at no cost.
    s.sim.set_courier_chaos(CourierChaos::default()).unwrap();
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": all})).await.expect(200);
    assert!(r["results"].as_array().unwrap().iter().all(|x| x["outcome"] == "drawn"), "{r}");
    assert_eq!(balance(&app, t).await, 88);
    let live = s.sim.courier_waybills(&Default::default()).await;
    assert_eq!(live.len(), 12, "one waybill per shipment");

    // A branch that runs short: those it cannot serve stay pending with the reason.
    for n in 0..5 {
        paid_trade(&s, &buyer(&format!("买家B{n}"), &format!("锦里路{n}号")), &[("TEE", 1)]).await;
    }
    settle(&app, &s).await;
    let pending = ids(&shipments(&app, t, "status=pending").await);
    assert_eq!(pending.len(), 5);
    s.sim.set_courier_balance(&seller_of(&s).await, Carrier::Zto, &s.branch, 3).await.unwrap();
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": pending})).await.expect(200);
    let outcomes: Vec<&str> = r["results"].as_array().unwrap().iter().map(|x| x["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "drawn").count(), 3, "{r}");
    let failed: Vec<&Value> = r["results"].as_array().unwrap().iter().filter(|x| x["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|x| x["detail"].as_str().unwrap().contains("courier.insufficient-balance")), "{r}");
    assert_eq!(shipments(&app, t, "status=pending").await.len(), 2);
    assert_eq!(balance(&app, t).await, 0);

    // Bad input changes nothing; another tenant's shipment is not found.
    // (An empty list is refused by the schema, like a list that is not one.)
    app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": []}))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": "x"}))
        .await
        .assert_problem(400, "malformed_request");
    let other = app.signup("别家").await;
    app.get(&format!("/v1/shipments/{}", all[0]), &other.token).await.assert_problem(404, "not_found");
    let r = app.post("/v1/shipments/ship", &other.token, &json!({"ids": [all[0]]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "not_found");
    let r = app.post("/v1/shipments/waybills", &other.token, &json!({"shipment_ids": [all[0]]})).await.expect(200);
    assert_eq!(r["results"][0]["outcome"], "not_found");
    app.post(
        &format!("/v1/shipments/{}/split", all[0]),
        &other.token,
        &json!({"parts": [{"lines": []}, {"lines": []}]}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post("/v1/label-batches", &other.token, &json!({"shipment_ids": [all[0]]}))
        .await
        .assert_problem(422, "unknown_reference");
    let rules = json!({"default_account_id": s.account});
    app.put("/v1/shipping/rules", &other.token, &rules).await.assert_problem(422, "unknown_reference");
}

/// The branch's balance as Courier (the simulator) has it.
async fn courier_balance(s: &Setup) -> Option<i64> {
    let seller = s.sim.courier_seller(&seller_of(s).await).await.unwrap();
    seller.accounts.iter().find(|a| a.branch_code == s.branch).unwrap().quantity
}

async fn seller_of(s: &Setup) -> String {
    s.sim
        .courier_sellers()
        .await
        .into_iter()
        .find(|x| x.accounts.iter().any(|a| a.branch_code == s.branch))
        .unwrap()
        .seller_id
}

async fn tracking_out_of_order_ends_in_the_latest_status_and_a_return_restocks_once(app: TestApp) {
    let s = setup(&app, &[("TEE", 10)], 100).await;
    let t = &s.t;
    s.sim.set_courier_schedule(CourierSchedule { collect_delay_ms: 50, ..CourierSchedule::every(3_600_000) }).unwrap();
    s.sim
        .set_courier_chaos(CourierChaos {
            push_duplicate_rate: 1.0,
            push_reorder_rate: 0.5,
            push_reorder_ms: 200,
            ..CourierChaos::default()
        })
        .unwrap();
    let a = paid_trade(&s, &buyer("买家甲", "一环路1号"), &[("TEE", 2)]).await;
    let b = paid_trade(&s, &buyer("买家乙", "二环路2号"), &[("TEE", 1)]).await;
    settle(&app, &s).await;
    let all = ids(&shipments(&app, t, "").await);
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": all})).await.expect(200);
    let codes: Vec<String> =
        r["results"].as_array().unwrap().iter().map(|x| x["waybill_code"].as_str().unwrap().to_owned()).collect();
    app.post("/v1/shipments/ship", &t.token, &json!({"ids": all})).await.expect(200);
    settle(&app, &s).await;
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 7);
    // The simulator collects each parcel soon after its write-back; then the first walks to
    // DELIVERED and the second comes back (every status pushed twice, some out of order).
    let (sa, sb) = (&all[0], &all[1]);
    for code in &codes {
        eventually("collected", || async {
            s.sim.courier_waybill(code).await.is_some_and(|w| w.collected_at.is_some())
        })
        .await;
    }
    s.sim.force_tracking(&codes[0], TrackingStatus::Delivered).await.unwrap();
    s.sim.force_tracking(&codes[1], TrackingStatus::Returned).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while shipment(&app, t, sa).await["status"] != "delivered" {
        assert!(
            Instant::now() < deadline,
            "not delivered: {} / pushes {:?}",
            shipment(&app, t, sa).await,
            s.sim.courier_pushes(&Default::default()).iter().map(|p| format!("{:?}", p)).take(6).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("the second returned", || async { shipment(&app, t, sb).await["status"] == "returned" }).await;
    s.sim.wait_courier_pushed(Duration::from_secs(30)).await.unwrap();
    app.settle().await;
    let d = shipment(&app, t, sa).await;
    assert_eq!((d["status"].as_str(), d["tracking_status"].as_str()), (Some("delivered"), Some("DELIVERED")), "{d}");
    assert!(d["delivered_at"].is_string());
    // Delivery shows on the order; the return put its units back once.
    let tid_of = |d: &Value| d["orders"][0]["external_id"].as_str().unwrap().to_owned();
    let (ta, tb) = (tid_of(&d), tid_of(&shipment(&app, t, sb).await));
    assert_eq!([ta.as_str(), tb.as_str()].iter().filter(|x| [a.as_str(), b.as_str()].contains(x)).count(), 2);
    let oa = order_of(&app, t, &ta).await;
    assert_eq!(oa["shipments"][0]["tracking_status"], "delivered", "{oa}");
    assert!(oa["shipments"][0]["delivered_at"].is_string(), "{oa}");
    assert_eq!(order_of(&app, t, &tb).await["shipments"][0]["tracking_status"], "returned");
    let returned_units = if tb == a { 2 } else { 1 };
    let stock = app.stock(t, "TEE").await;
    assert_eq!(stock["on_hand"], 7 + returned_units, "{stock}");
    let ledger = app.get("/v1/stock/TEE/ledger", &t.token).await.expect(200);
    let returns: Vec<&Value> = ledger.as_array().unwrap().iter().filter(|m| m["kind"] == "return").collect();
    assert_eq!(returns.len(), 1, "{ledger}");
    assert_eq!(returns[0]["on_hand_delta"], returned_units);
    // Pushes that are not signed right change nothing.
    let body =
        json!({"waybill_code": codes[0], "cp_code": "ZTO", "status": "EXCEPTION", "time": "2099-01-01T00:00:00+08:00"})
            .to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let url = format!("/v1/webhooks/courier/{}", s.account);
    let bad =
        [("X-Courier-Message-Id", "m-forged"), ("X-Courier-Timestamp", now.as_str()), ("X-Courier-Signature", "AAAA")];
    app.call_raw(reqwest::Method::POST, &url, &bad, body.clone().into_bytes())
        .await
        .assert_problem(401, "invalid_signature");
    app.call_raw(reqwest::Method::POST, &url, &bad[..2], body.into_bytes()).await.assert_problem(400, "missing_header");
    assert_eq!(shipment(&app, t, sa).await["status"], "delivered");
}

async fn a_batch_of_200_labels_is_one_pdf_with_every_waybill_and_no_full_phone(app: TestApp) {
    let s = setup(&app, &[("TEE", 500), ("MUG", 500)], 1000).await;
    let t = &s.t;
    for n in 0..200 {
        let sku = if n % 3 == 0 { "MUG" } else { "TEE" };
        paid_trade(&s, &buyer(&format!("买家{n:03}"), &format!("科华北路{n}号")), &[(sku, 1)]).await;
    }
    settle(&app, &s).await;
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/v1/shipments?status=pending&limit=100{cursor}"), &t.token).await.expect(200);
        all.extend(ids(page["items"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(all.len(), 200);
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": all})).await.expect(200);
    let codes: Vec<String> =
        r["results"].as_array().unwrap().iter().map(|x| x["waybill_code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 200);
    // One shipment has two parcels (子母件): one more page.
    let first = &all[0];
    app.post(&format!("/v1/shipments/{first}/cancel-waybill"), &t.token, &json!({})).await.expect(200);
    app.post(&format!("/v1/shipments/{first}/package"), &t.token, &json!({"parcels": 2, "weight_grams": 3000}))
        .await
        .expect(200);
    let r = app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [first]})).await.expect(200);
    let multi = r["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    let child = shipment(&app, t, first).await["waybill"]["child_codes"][0].as_str().unwrap().to_owned();
    // A scan of either parcel's code finds the shipment.
    for code in [&multi, &child] {
        assert_eq!(ids(&shipments(&app, t, &format!("waybill={code}")).await), vec![first.clone()], "{code}");
    }
    assert!(shipments(&app, t, "waybill=ZT0000000000").await.is_empty());
    app.get("/v1/shipments?waybill=a%25b", &t.token).await.assert_problem(400, "invalid_input");
    let counts = app.get("/v1/shipments/counts", &t.token).await.expect(200);
    assert_eq!((counts["waybill_allocated"].as_u64(), counts["pending"].as_u64()), (Some(200), Some(0)), "{counts}");

    // Unknown or undrawn shipments are refused and nothing is queued.
    app.post("/v1/label-batches", &t.token, &json!({"shipment_ids": [uuid::Uuid::now_v7()]}))
        .await
        .assert_problem(422, "unknown_reference");
    app.post("/v1/label-batches", &t.token, &json!({"shipment_ids": all, "sort": "by_color"}))
        .await
        .assert_problem(400, "malformed_request");
    let b = app
        .post("/v1/label-batches", &t.token, &json!({"shipment_ids": all, "sort": "route", "size": "100x180"}))
        .await
        .expect(202);
    assert_eq!((b["status"].as_str(), b["total"].as_i64()), (Some("queued"), Some(200)), "{b}");
    let batch = b["id"].as_str().unwrap().to_owned();
    let mut seen_progress = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let b = app.get(&format!("/v1/label-batches/{batch}"), &t.token).await.expect(200);
        seen_progress.push(b["done"].as_i64().unwrap());
        if b["status"] == "done" {
            break b;
        }
        assert!(Instant::now() < deadline, "the batch did not finish: {b}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((done["pages"].as_i64(), done["done"].as_i64()), (Some(201), Some(200)), "{done}");
    assert!(seen_progress.windows(2).all(|w| w[0] <= w[1]), "progress only moves forward: {seen_progress:?}");
    let pdf = app
        .client
        .get(format!("{}{}", app.url, done["pdf_url"].as_str().unwrap()))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    let bytes = pdf.bytes().await.unwrap();
    let path = app.dir.0.join("batch.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let info = String::from_utf8(std::process::Command::new("pdfinfo").arg(&path).output().unwrap().stdout).unwrap();
    assert!(info.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 201")), "{info}");
    let text = String::from_utf8(std::process::Command::new("pdftotext").arg(&path).arg("-").output().unwrap().stdout)
        .unwrap();
    for code in codes.iter().skip(1).chain([&multi, &child]) {
        assert!(text.contains(code.as_str()), "{code} is on a label");
    }
    assert!(
        !text.contains("13800000000") && !bytes.windows(11).any(|w| w == b"13800000000"),
        "no full phone number in the PDF"
    );
    assert!(text.contains("138****0000"));
    // Printing marked them printed, once; printing again counts again.
    let counts = app.get("/v1/shipments/counts", &t.token).await.expect(200);
    assert_eq!(counts["printed"], 200, "{counts}");
    assert_eq!(shipment(&app, t, &all[5]).await["print_count"], 1);
    // Another tenant sees neither the batch nor its PDF.
    let other = app.signup("别家").await;
    app.get(&format!("/v1/label-batches/{batch}"), &other.token).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/label-batches/{batch}/pdf"), &other.token).await.assert_problem(404, "not_found");
    app.get(&format!("/v1/shipments/{first}/label.pdf"), &other.token).await.assert_problem(404, "not_found");
}

async fn goods_sent_back_after_a_sale_are_expected_and_received_once(app: TestApp) {
    let s = setup(&app, &[("TEE", 10)], 100).await;
    let t = &s.t;
    let tid = paid_trade(&s, &buyer("买家退货", "金沙路5号"), &[("TEE", 3)]).await;
    settle(&app, &s).await;
    let id = shipments(&app, t, "").await[0]["id"].as_str().unwrap().to_owned();
    app.post("/v1/shipments/waybills", &t.token, &json!({"shipment_ids": [id]})).await.expect(200);
    app.post("/v1/shipments/ship", &t.token, &json!({"ids": [id]})).await.expect(200);
    settle(&app, &s).await;
    eventually("written back", || async { !writebacks(&s, &tid).is_empty() }).await;
    settle(&app, &s).await;
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 7);
    assert!(app.get("/v1/returns", &t.token).await.expect(200)["items"].as_array().unwrap().is_empty());

    // The buyer sends the goods back (退货退款): a return is expected, nothing restocked yet.
    s.sim.refund(&tid, RefundRequest { oids: None, outcome: RefundOutcome::ReturnGoods }).await.unwrap();
    settle(&app, &s).await;
    let list = app.get("/v1/returns?status=expected", &t.token).await.expect(200);
    let r = &list["items"][0];
    assert_eq!(
        (r["external_id"].as_str(), r["shipment_id"].as_str(), r["warehouse_code"].as_str()),
        (Some(tid.as_str()), Some(id.as_str()), Some("MAIN")),
        "{list}"
    );
    assert_eq!((r["expected"][0]["sku_code"].as_str(), r["expected"][0]["quantity"].as_i64()), (Some("TEE"), Some(3)));
    let rid = r["id"].as_str().unwrap().to_owned();
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 7);

    // Bad receipts change nothing.
    let path = format!("/v1/returns/{rid}/receive");
    app.post(&path, &t.token, &json!({"lines": [{"sku_code": "MUG", "quantity": 1, "condition": "sellable"}]}))
        .await
        .assert_problem(422, "unknown_reference");
    app.post(&path, &t.token, &json!({"lines": [{"sku_code": "TEE", "quantity": 4, "condition": "sellable"}]}))
        .await
        .assert_problem(400, "invalid_input");
    app.post(&path, &t.token, &json!({"lines": [{"sku_code": "TEE", "quantity": 1, "condition": "wet"}]}))
        .await
        .assert_problem(400, "malformed_request");
    app.post(&path, &t.token, &json!({"lines": []})).await.assert_problem(400, "malformed_request");
    let other = app.signup("别家").await;
    app.post(&path, &other.token, &json!({"lines": [{"sku_code": "TEE", "quantity": 1, "condition": "sellable"}]}))
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/returns/{rid}"), &other.token).await.assert_problem(404, "not_found");

    // Two sellable, one damaged: two back in stock, once.
    let receipt = json!({"lines": [{"sku_code": "TEE", "quantity": 2, "condition": "sellable"}, {"sku_code": "TEE", "quantity": 1, "condition": "damaged"}]});
    let done = app.post(&path, &t.token, &receipt).await.expect(200);
    assert_eq!(done["status"], "received", "{done}");
    assert_eq!(app.post(&path, &t.token, &receipt).await.expect(200)["received_at"], done["received_at"]);
    // The same receipt written another way is the same receipt.
    let reordered = json!({"lines": [{"sku_code": "TEE", "quantity": 1, "condition": "damaged"}, {"sku_code": "TEE", "quantity": 1, "condition": "sellable"}, {"sku_code": "TEE", "quantity": 1, "condition": "sellable"}]});
    assert_eq!(app.post(&path, &t.token, &reordered).await.expect(200)["received_at"], done["received_at"]);
    let oid = order_of(&app, t, &tid).await["id"].as_str().unwrap().to_owned();
    let of_order = app.get(&format!("/v1/returns?order_id={oid}"), &t.token).await.expect(200);
    assert_eq!(ids(of_order["items"].as_array().unwrap()), vec![rid.clone()]);
    assert!(
        app.get(&format!("/v1/returns?order_id={}", uuid::Uuid::now_v7()), &t.token).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let counts = app.get("/v1/returns/counts", &t.token).await.expect(200);
    assert_eq!((counts["expected"].as_u64(), counts["received"].as_u64()), (Some(0), Some(1)), "{counts}");
    app.get("/v1/returns?status=lost", &t.token).await.assert_problem(400, "malformed_request");
    let changed = json!({"lines": [{"sku_code": "TEE", "quantity": 3, "condition": "sellable"}]});
    app.post(&path, &t.token, &changed).await.assert_problem(409, "invalid_state_transition");
    settle(&app, &s).await;
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 9);
    let ledger = app.get("/v1/stock/TEE/ledger", &t.token).await.expect(200);
    let returns: Vec<&Value> = ledger.as_array().unwrap().iter().filter(|m| m["kind"] == "return").collect();
    assert_eq!(returns.len(), 1, "{ledger}");
    assert_eq!(returns[0]["on_hand_delta"], 2);
    // The seller's refund then completes at the marketplace: nothing more moves.
    s.sim.settle_refund(&tid, RefundSettlement { oids: None, success: true }).await.unwrap();
    settle(&app, &s).await;
    assert_eq!(app.stock(t, "TEE").await["on_hand"], 9);
    assert_eq!(app.get("/v1/returns", &t.token).await.expect(200)["items"].as_array().unwrap().len(), 1);
}

async fn carrier_accounts_are_checked_with_courier_and_bad_input_changes_nothing(app: TestApp) {
    let s = setup(&app, &[("TEE", 10)], 100).await;
    let t = &s.t;
    let seller = s.sim.courier_seller(&seller_of(&s).await).await.unwrap();
    let body = |branch: &str, token: &str| {
        json!({
            "cp_code": "ZTO", "branch_code": branch, "api_url": s.sim.url(), "app_key": s.sim.app_key(),
            "app_secret": s.sim.app_secret(), "access_token": token,
            "sender": serde_json::from_str::<Value>(SENDER).unwrap(),
        })
    };
    // Connecting the same branch again updates it (200) and keeps its id.
    let again = app.post("/v1/shipping/accounts", &t.token, &body(&s.branch, &seller.access_token)).await.expect(200);
    assert_eq!(again["id"].as_str(), Some(s.account.as_str()));
    // A branch Courier does not list for these credentials, bad credentials, bad fields.
    app.post("/v1/shipping/accounts", &t.token, &body("999999", &seller.access_token))
        .await
        .assert_problem(422, "unknown_reference");
    app.post("/v1/shipping/accounts", &t.token, &body(&s.branch, "not-a-token"))
        .await
        .assert_problem(400, "invalid_input");
    let mut bad = body(&s.branch, &seller.access_token);
    bad["api_url"] = json!("ftp://courier");
    app.post("/v1/shipping/accounts", &t.token, &bad).await.assert_problem(400, "invalid_input");
    bad = body("分店", &seller.access_token);
    app.post("/v1/shipping/accounts", &t.token, &bad).await.assert_problem(400, "invalid_input");
    bad = body(&s.branch, &seller.access_token);
    bad["sender"]["name"] = json!("  ");
    app.post("/v1/shipping/accounts", &t.token, &bad).await.assert_problem(400, "invalid_input");
    app.call_raw(
        reqwest::Method::POST,
        "/v1/shipping/accounts",
        &[("Authorization", &format!("Bearer {}", t.token)), ("content-type", "application/json")],
        b"{".to_vec(),
    )
    .await
    .assert_problem(400, "malformed_request");
    // Courier down: 503, nothing stored.
    s.sim.set_courier_api_outage(Duration::from_secs(5));
    let other = app.signup("另一家").await;
    app.post("/v1/shipping/accounts", &other.token, &body(&s.branch, &seller.access_token))
        .await
        .assert_problem(503, "unavailable");
    s.sim.set_courier_api_outage(Duration::from_secs(0));
    assert!(app.get("/v1/shipping/accounts", &other.token).await.expect(200)["items"].as_array().unwrap().is_empty());
    assert_eq!(app.get("/v1/shipping/accounts", &t.token).await.expect(200)["items"].as_array().unwrap().len(), 1);
    // Rules: bounds checked, another tenant's account refused, the same rules again are the same.
    let rules = json!({"merge_wait_seconds": 60, "rules": [{"name": "重货", "when": {"min_weight_grams": 5000, "max_weight_grams": 100}, "account_id": s.account}]});
    app.put("/v1/shipping/rules", &t.token, &rules).await.assert_problem(400, "invalid_input");
    app.put("/v1/shipping/rules", &t.token, &json!({"merge_wait_seconds": -1}))
        .await
        .assert_problem(400, "invalid_input");
    let good = json!({"merge_wait_seconds": 60, "rules": [{"name": "江浙沪", "when": {"provinces": ["浙江", "上海"]}, "account_id": s.account}], "default_account_id": s.account});
    let first = app.put("/v1/shipping/rules", &t.token, &good).await.expect(200);
    assert_eq!(app.put("/v1/shipping/rules", &t.token, &good).await.expect(200), first);
    assert_eq!(app.get("/v1/shipping/rules", &t.token).await.expect(200), first);
    // A tracking push with a stale timestamp or for no account changes nothing.
    let body =
        json!({"waybill_code": "ZT1", "cp_code": "ZTO", "status": "COLLECTED", "time": "2026-11-13T15:20:11+08:00"})
            .to_string();
    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    let account: Value = app.get("/v1/shipping/accounts", &t.token).await.expect(200)["items"][0].clone();
    let url = account["tracking_url"].as_str().unwrap().trim_start_matches(&app.url).to_owned();
    let secret_sig = "AAAA";
    let h =
        [("X-Courier-Message-Id", "m-1"), ("X-Courier-Timestamp", old.as_str()), ("X-Courier-Signature", secret_sig)];
    app.call_raw(reqwest::Method::POST, &url, &h, body.clone().into_bytes())
        .await
        .assert_problem(401, "invalid_signature");
    let nobody = format!("/v1/webhooks/courier/{}", uuid::Uuid::now_v7());
    app.call_raw(reqwest::Method::POST, &nobody, &h, body.into_bytes()).await.assert_problem(404, "not_found");
}
