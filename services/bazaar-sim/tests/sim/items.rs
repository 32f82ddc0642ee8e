//! Items with variants: the item list, quantity by the marketplace's ids, and variants the
//! seller set no merchant code on.

use crate::helpers::*;
use bazaar_sim::{NewItem, NewLine, NewShop, NewTrade, SimConfig, TrafficConfig, WritebackOutcome, catalog};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Lists the 39 catalog variants (12 items) on the test shop, the second T-shirt without a
/// merchant code.
async fn list_catalog(t: &TestSim) {
    for (i, c) in catalog(39).into_iter().enumerate() {
        t.sim
            .upsert_item(NewItem {
                shop_id: SHOP.into(),
                outer_sku_id: c.outer_sku_id,
                title: Some(c.title),
                price: bazaar_sim::domain::money::format(c.price),
                quantity: Some(10 + i as i64),
                merchant_code: Some(i != 1),
            })
            .await
            .unwrap();
    }
}

fn skus(page: &Value) -> Vec<Value> {
    page["items"].as_array().unwrap().iter().flat_map(|i| i["skus"].as_array().unwrap().clone()).collect()
}

#[tokio::test]
async fn the_item_list_pages_items_with_their_variants() {
    let t = spawn_sim().await;
    list_catalog(&t).await;
    let first = t.api.get("/items", &[("page_no", "1"), ("page_size", "5")]).await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    // The catalog's 12 products are the items; the helper's three SKUs are catalog variants too.
    assert_eq!(first.json["total_results"], 12);
    assert_eq!((first.json["page_no"].clone(), first.json["has_next"].clone()), (json!(1), json!(true)));
    let mut all = Vec::new();
    for page_no in ["1", "2", "3"] {
        let page = t.api.get("/items", &[("page_no", page_no), ("page_size", "5")]).await;
        assert_eq!(page.status, 200);
        all.extend(page.json["items"].as_array().unwrap().clone());
    }
    assert_eq!(all.len(), 12);
    let ids: HashSet<&str> = all.iter().map(|i| i["num_iid"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12, "every item once");
    let tee = all.iter().find(|i| i["title"] == "纯棉T恤").expect("the T-shirt item");
    let tee_skus = tee["skus"].as_array().unwrap();
    assert_eq!(tee_skus.len(), 12, "3 colours × 4 sizes");
    let red_s = tee_skus.iter().find(|s| s["outer_sku_id"] == "TEE-RED-S").unwrap();
    assert_eq!((red_s["properties"].clone(), red_s["quantity"].clone()), (json!("颜色:红色;尺码:S"), json!(10)));
    let mut keys: Vec<&String> = red_s.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["outer_sku_id", "price", "properties", "quantity", "sku_id"]);
    // The second catalog variant, TEE-RED-M, was listed without one.
    let hidden: Vec<&Value> = tee_skus.iter().filter(|s| s["outer_sku_id"].is_null()).collect();
    assert_eq!(hidden.len(), 1, "{tee_skus:?}");
    assert_eq!(hidden[0]["properties"], "颜色:红色;尺码:M");
    let nut = all.iter().find(|i| i["title"] == "每日坚果礼盒 750g").unwrap();
    assert_eq!(nut["skus"][0]["properties"], Value::Null, "a product without variants has one variant");
    assert!(nut["skus"][0]["sku_id"].as_str().is_some());

    let past = t.api.get("/items", &[("page_no", "4"), ("page_size", "5")]).await;
    assert_eq!((past.status, past.json["items"].as_array().unwrap().len()), (200, 0));
    for bad in [("page_size", "0"), ("page_size", "101"), ("page_no", "0"), ("page_no", "x")] {
        let a = t.api.get("/items", &[bad]).await;
        assert_eq!((a.status, a.code()), (400, "isv.invalid-parameter"), "{bad:?}");
    }
    // Another shop lists only its own items.
    let other = t.sim.create_shop(NewShop::default()).await.unwrap();
    let a = Client::new(&t.sim, &other).get("/items", &[]).await;
    assert_eq!((a.status, a.json["total_results"].clone()), (200, json!(0)));
}

#[tokio::test]
async fn the_item_list_is_signed_like_every_call() {
    let t = spawn_sim().await;
    let mut bad = t.api.clone();
    bad.app_secret = "not-the-secret".into();
    let a = bad.get("/items", &[]).await;
    assert_eq!((a.status, a.code()), (401, "isv.invalid-signature"));
    let mut stale = t.api.clone();
    stale.skew = -601;
    assert_eq!(stale.get("/items", &[]).await.code(), "isv.invalid-signature");
    let mut wrong = t.api.clone();
    wrong.token = "at_nope".into();
    assert_eq!(wrong.get("/items", &[]).await.code(), "isv.invalid-access-token");
    // A signed page_size cannot be changed on the way.
    let mut tampered = t.api.clone();
    tampered.forced_sign = Some(bazaar_sim::api_sign(&t.api.app_secret, &[("page_size", "5")], b""));
    assert_eq!(tampered.get("/items", &[("page_size", "6")]).await.status, 401);
    let config = SimConfig { api_rate: 1.0, ..SimConfig::ephemeral() };
    let limited = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(limited.api.get("/items", &[]).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn quantity_by_ids_sets_what_the_item_list_shows() {
    let t = spawn_sim().await;
    list_catalog(&t).await;
    let page = t.api.get("/items", &[("page_size", "100")]).await;
    let item = page.json["items"].as_array().unwrap().iter().find(|i| i["title"] == "纯棉T恤").unwrap().clone();
    let hidden = item["skus"].as_array().unwrap().iter().find(|s| s["outer_sku_id"].is_null()).unwrap().clone();
    let (num_iid, sku_id) = (item["num_iid"].as_str().unwrap(), hidden["sku_id"].as_str().unwrap());
    let path = format!("/items/{num_iid}/skus/{sku_id}/quantity");

    let a = t.api.call("PUT", &path, &[], Some(json!({"quantity": 77}))).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["item"]["num_iid"], num_iid);
    assert_eq!(a.json["item"]["skus"][0]["quantity"], 77);
    assert_eq!(a.json["item"]["skus"][0]["outer_sku_id"], Value::Null);
    let after = t.api.get("/items", &[("page_size", "100")]).await;
    let shown = skus(&after.json).into_iter().find(|s| s["sku_id"] == sku_id).unwrap();
    assert_eq!(shown["quantity"], 77);
    let again = t.api.call("PUT", &path, &[], Some(json!({"quantity": 77}))).await;
    assert_eq!(again.status, 200);

    // Unknown ids: the documented 404, and nothing is created.
    let unknown_item = t
        .api
        .call("PUT", &format!("/items/600000000000/skus/{sku_id}/quantity"), &[], Some(json!({"quantity": 1})))
        .await;
    assert_eq!((unknown_item.status, unknown_item.code()), (404, "isv.item-not-exist"));
    assert!(unknown_item.json["message"].as_str().unwrap().contains("600000000000"));
    let unknown_sku = t
        .api
        .call("PUT", &format!("/items/{num_iid}/skus/5000000000000/quantity"), &[], Some(json!({"quantity": 1})))
        .await;
    assert_eq!((unknown_sku.status, unknown_sku.code()), (404, "isv.item-not-exist"));
    // Another item's variant is not this item's.
    let nut = page.json["items"].as_array().unwrap().iter().find(|i| i["title"] == "每日坚果礼盒 750g").unwrap();
    let cross = format!("/items/{num_iid}/skus/{}/quantity", nut["skus"][0]["sku_id"].as_str().unwrap());
    assert_eq!(t.api.call("PUT", &cross, &[], Some(json!({"quantity": 1}))).await.code(), "isv.item-not-exist");
    let bad = t.api.call("PUT", &path, &[], Some(json!({"quantity": -1}))).await;
    assert_eq!((bad.status, bad.code()), (400, "isv.invalid-parameter"));
    let bad = t.api.call("PUT", &path, &[], Some(json!({"qty": 1}))).await;
    assert_eq!((bad.status, bad.code()), (400, "isv.invalid-parameter"));
    // Another shop's credentials do not reach this shop's variant.
    let other = t.sim.create_shop(NewShop::default()).await.unwrap();
    let a = Client::new(&t.sim, &other).call("PUT", &path, &[], Some(json!({"quantity": 1}))).await;
    assert_eq!((a.status, a.code()), (404, "isv.item-not-exist"));
    let mut unsigned = t.api.clone();
    unsigned.app_secret = "nope".into();
    assert_eq!(unsigned.call("PUT", &path, &[], Some(json!({"quantity": 1}))).await.status, 401);
    assert_eq!(skus(&t.api.get("/items", &[("page_size", "100")]).await.json).len(), 39, "nothing was created");

    // The write-back log has them, by ids, with repeats and refusals.
    let wb: Vec<_> = t
        .sim
        .writebacks(Some(SHOP))
        .into_iter()
        .filter(|w| w.target.starts_with(num_iid))
        .map(|w| (w.target, w.outcome))
        .collect();
    assert_eq!(wb[0], (format!("{num_iid}/{sku_id}"), WritebackOutcome::Applied));
    assert_eq!(wb[1].1, WritebackOutcome::Repeat);
    assert!(wb[2..].iter().all(|(_, o)| *o == WritebackOutcome::Rejected));
    // A variant without a merchant code is not reached by the code the simulator knows it by.
    let by_code = t.api.call("PUT", "/items/TEE-RED-M/quantity", &[], Some(json!({"quantity": 5}))).await;
    assert_eq!((by_code.status, by_code.code()), (404, "isv.item-not-exist"));
}

#[tokio::test]
async fn lines_of_variants_without_a_merchant_code_carry_only_the_ids() {
    let t = spawn_sim().await;
    list_catalog(&t).await;
    let trade = t
        .sim
        .create_trade(NewTrade::new(SHOP, vec![NewLine::new("TEE-RED-M", 1), NewLine::new("TEE-RED-S", 2)]))
        .await
        .unwrap();
    let got = t.receiver.wait_for(1, Duration::from_secs(10)).await;
    let lines = got[0].json()["trade"]["orders"].clone();
    assert_eq!(lines[0]["outer_sku_id"], Value::Null, "TEE-RED-M lost its merchant code");
    assert_eq!(lines[1]["outer_sku_id"], "TEE-RED-S");
    assert_eq!(lines[0]["num_iid"], lines[1]["num_iid"], "two variants of one item");
    assert_ne!(lines[0]["sku_id"], lines[1]["sku_id"]);
    assert_eq!(lines[0]["sku_properties"], "颜色:红色;尺码:M");
    let listed = skus(&t.api.get("/items", &[("page_size", "100")]).await.json);
    let red_m = listed.iter().find(|s| s["sku_id"] == lines[0]["sku_id"]).unwrap();
    assert_eq!(red_m["outer_sku_id"], Value::Null);
    // The trade still takes from the variant's displayed quantity (it was 11).
    assert_eq!(red_m["quantity"], 10);
    assert_eq!(trade.orders[0].outer_sku_id, None);
}

#[tokio::test]
async fn no_merchant_code_share_drops_the_code_on_its_share_of_variants_deterministically() {
    let run = || async {
        let config = SimConfig {
            traffic: TrafficConfig { no_merchant_code_share: 0.15, ..TrafficConfig::default() },
            ..SimConfig::ephemeral()
        };
        let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
        for c in catalog(400) {
            let price = bazaar_sim::domain::money::format(c.price);
            t.sim
                .upsert_item(NewItem {
                    shop_id: SHOP.into(),
                    outer_sku_id: c.outer_sku_id,
                    price,
                    ..NewItem::default()
                })
                .await
                .unwrap();
        }
        let items = t.sim.items(SHOP).await;
        let hidden: Vec<String> = items.iter().filter(|i| !i.merchant_code).map(|i| i.outer_sku_id.clone()).collect();
        // A trade for an unlisted SKU lists it with the same draw.
        t.sim
            .create_trade(NewTrade::new(SHOP, vec![NewLine { price: Some("9.90".into()), ..NewLine::new("NEW-1", 1) }]))
            .await
            .unwrap();
        (items.len(), hidden)
    };
    let (n, hidden) = run().await;
    assert_eq!(n, 400, "the helper's 3 SKUs are among the catalog's first 400");
    assert!((40..80).contains(&hidden.len()), "{} of 400 without a merchant code", hidden.len());
    assert_eq!(run().await.1, hidden, "the same variants every run with the same seed");
    // An explicit choice wins, and a relisted variant keeps its answer.
    let t = spawn_sim().await;
    let spec = NewItem { shop_id: SHOP.into(), outer_sku_id: "X-1".into(), price: "1.00".into(), ..NewItem::default() };
    assert!(t.sim.upsert_item(spec.clone()).await.unwrap().merchant_code, "default share 0: every variant has one");
    let off = t.sim.upsert_item(NewItem { merchant_code: Some(false), ..spec.clone() }).await.unwrap();
    assert!(!off.merchant_code);
    let relisted = t.sim.upsert_item(NewItem { quantity: Some(3), ..spec }).await.unwrap();
    assert_eq!((relisted.merchant_code, relisted.num_iid, relisted.sku_id), (false, off.num_iid, off.sku_id));
}
