//! Courier through HTTP with real signing: accounts, draws (limits, per-package errors,
//! idempotency by object_id, multi-parcel, routing, codes), cancel, collection after a Bazaar
//! ship write-back, tracking pushes (signed, scheduled, with chaos), draw chaos, rate limits,
//! the admin routes, and a restart from the state file.

use crate::helpers::*;
use bazaar_sim::{
    Carrier, CourierChaos, CourierSchedule, CourierSeller, MessageState, NewCourierAccount, NewCourierSeller, NewLine,
    NewTrade, PushFilter, SimConfig, TrackingStatus, Unreachable, WaybillFilter, api_sign, spawn,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
const TRACKING_SECRET: &str = "trsec_test";

/// A simulator with a Bazaar shop (`t`), a Courier seller with a ZTO branch (1000 numbers) and
/// an SF account, both subscribed to `tracking`, and the seller's signed client.
struct Courier {
    t: TestSim,
    seller: CourierSeller,
    api: Client,
    zto: String,
    sf: String,
    tracking: Receiver,
}

async fn courier() -> Courier {
    courier_with(SimConfig::ephemeral(), Arc::new(|_, _| (200, Duration::ZERO))).await
}

async fn courier_with(config: SimConfig, tracking: Behaviour) -> Courier {
    let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    let tracking = Receiver::start(tracking).await;
    let seller = t
        .sim
        .create_courier_seller(NewCourierSeller { seller_id: Some("cs-test".into()), ..NewCourierSeller::default() })
        .await
        .unwrap();
    let api = Client::courier(&t.sim, &seller);
    let (zto, sf) = (seller.accounts[0].branch_code.clone(), seller.accounts[1].branch_code.clone());
    let c = Courier { t, seller, api, zto, sf, tracking };
    for (cp, branch) in [("ZTO", &c.zto), ("SF", &c.sf)] {
        let a = c.subscribe(cp, branch, &c.tracking.url).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
    }
    c
}

fn sender() -> Value {
    json!({"name": "云栈优品仓", "phone": "0571-88886666", "province": "浙江省", "city": "杭州市",
           "district": "余杭区", "address": "仓前街道良睦路1399号"})
}

fn to(province: &str, city: &str, district: &str) -> Value {
    json!({"name": "王小明", "phone": "13800000000", "province": province, "city": city,
           "district": district, "address": "幸福大道88号"})
}

fn chengdu() -> Value {
    to("四川省", "成都市", "都江堰市")
}

fn package(object_id: &str, recipient: Value) -> Value {
    json!({"object_id": object_id, "recipient": recipient, "items": [{"name": "纯棉T恤 红色 M", "count": 2}],
           "weight_grams": 450, "parcels": 1, "trade_ids": ["T2026111100000001"]})
}

fn parcels(object_id: &str, n: u32) -> Value {
    let mut p = package(object_id, chengdu());
    p["parcels"] = json!(n);
    p
}

/// A copy of a client with one thing changed.
fn spoiled(client: &Client, change: impl FnOnce(&mut Client)) -> Client {
    let mut c = client.clone();
    change(&mut c);
    c
}

fn is_zto(code: &str) -> bool {
    code.len() == 15 && code.starts_with("ZT73") && code[4..].bytes().all(|b| b.is_ascii_digit())
}

impl Courier {
    fn branch(&self, cp: &str) -> &str {
        if cp == "SF" { &self.sf } else { &self.zto }
    }

    async fn draw(&self, cp: &str, packages: Vec<Value>) -> Answer {
        let body = json!({"cp_code": cp, "branch_code": self.branch(cp), "sender": sender(), "packages": packages});
        self.api.call("POST", "/waybills", &[], Some(body)).await
    }

    /// Draws one ZTO package to Chengdu; its code.
    async fn draw_one(&self, object_id: &str) -> String {
        let a = self.draw("ZTO", vec![package(object_id, chengdu())]).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["results"][0]["waybill_code"].as_str().expect("a waybill").to_owned()
    }

    async fn account(&self, cp: &str) -> Value {
        let a = self.api.get("/accounts", &[]).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        a.json["accounts"].as_array().unwrap().iter().find(|x| x["cp_code"] == cp).unwrap().clone()
    }

    /// (quantity, allocated, cancelled) of the ZTO branch.
    async fn zto_counts(&self) -> (i64, u64, u64) {
        let a = self.account("ZTO").await;
        (a["quantity"].as_i64().unwrap(), a["allocated"].as_u64().unwrap(), a["cancelled"].as_u64().unwrap())
    }

    async fn waybill(&self, code: &str) -> Answer {
        self.api.get(&format!("/waybills/{code}"), &[]).await
    }

    async fn cancel(&self, code: &str) -> Answer {
        self.api.call("POST", &format!("/waybills/{code}/cancel"), &[], None).await
    }

    async fn subscribe(&self, cp: &str, branch: &str, url: &str) -> Answer {
        let body = json!({"cp_code": cp, "branch_code": branch, "url": url, "secret": TRACKING_SECRET});
        self.api.call("PUT", "/tracking-subscription", &[], Some(body)).await
    }

    fn statuses(&self, code: &str) -> Vec<String> {
        self.tracking
            .received()
            .iter()
            .map(Received::json)
            .filter(|b| b["waybill_code"] == code)
            .map(|b| b["status"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn only_signed_calls_with_a_sellers_token_are_answered() {
    let c = courier().await;
    let ok = c.api.get("/accounts", &[]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json, json!({"accounts": serde_json::to_value(&c.seller.accounts).unwrap()}));
    let zto = &ok.json["accounts"][0];
    assert_eq!((zto["cp_code"].as_str(), zto["quantity"].as_i64()), (Some("ZTO"), Some(1000)));
    assert_eq!(
        (zto["allocated"].as_u64(), zto["cancelled"].as_u64(), zto["printed"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(
        (ok.json["accounts"][1]["cp_code"].as_str(), &ok.json["accounts"][1]["quantity"]),
        (Some("SF"), &Value::Null)
    );

    let refused = |a: Answer, code: &str| {
        assert_eq!((a.status, a.code()), (401, code), "{:?}", a.json);
    };
    refused(
        spoiled(&c.api, |k| k.forced_sign = Some("00".repeat(32))).get("/accounts", &[]).await,
        "courier.invalid-signature",
    );
    refused(
        spoiled(&c.api, |k| k.app_secret = "not-the-secret".into()).get("/accounts", &[]).await,
        "courier.invalid-signature",
    );
    refused(spoiled(&c.api, |k| k.skew = 601).get("/accounts", &[]).await, "courier.invalid-signature");
    refused(spoiled(&c.api, |k| k.skew = -601).get("/accounts", &[]).await, "courier.invalid-signature");
    refused(spoiled(&c.api, |k| k.token = "ct_nobody".into()).get("/accounts", &[]).await, "courier.unauthorized");
    refused(spoiled(&c.api, |k| k.token = c.t.api.token.clone()).get("/accounts", &[]).await, "courier.unauthorized");
    assert_eq!(spoiled(&c.api, |k| k.skew = 590).get("/accounts", &[]).await.status, 200, "within 10 minutes");
    // The seller's token is no Bazaar shop's.
    let bazaar = spoiled(&c.t.api, |k| k.token = c.seller.access_token.clone()).get("/items", &[]).await;
    assert_eq!((bazaar.status, bazaar.code()), (401, "isv.invalid-access-token"));
    let stats = c.t.sim.courier_stats();
    assert_eq!((stats.api_calls, stats.api_auth_failures), (10, 6), "2 subscriptions, 2 good calls, 6 refused");
}

#[tokio::test]
async fn the_signature_covers_the_body() {
    let c = courier().await;
    let body =
        json!({"cp_code": "ZTO", "branch_code": c.zto, "sender": sender(), "packages": [package("p", chengdu())]});
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let params =
        [("app_key", c.api.app_key.as_str()), ("timestamp", timestamp.as_str()), ("sign_method", "hmac-sha256")];
    let signed_for_other = api_sign(&c.api.app_secret, &params, b"{}");
    let resp = reqwest::Client::new()
        .post(format!("{}/courier/v1/waybills", c.t.sim.url()))
        .query(&params)
        .query(&[("sign", signed_for_other)])
        .bearer_auth(&c.seller.access_token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "courier.invalid-signature");
    assert_eq!(c.zto_counts().await, (1000, 0, 0), "nothing was drawn");
}

#[tokio::test]
async fn a_draw_takes_at_most_ten_packages_and_answers_each_in_order() {
    let c = courier().await;
    let eleven: Vec<Value> = (0..11).map(|i| package(&format!("p{i}"), chengdu())).collect();
    let a = c.draw("ZTO", eleven.clone()).await;
    assert_eq!((a.status, a.code()), (400, "courier.too-many-packages"));
    assert_eq!(c.zto_counts().await, (1000, 0, 0));
    let a = c.draw("ZTO", eleven[..10].to_vec()).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let results = a.json["results"].as_array().unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r["object_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]);
    let codes: HashSet<&str> = results.iter().map(|r| r["waybill_code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| is_zto(c)), "{codes:?}");
    assert_eq!(c.zto_counts().await, (990, 10, 0));
    assert_eq!(c.draw("ZTO", vec![]).await.code(), "courier.invalid-request");
    let unknown = c
        .api
        .call(
            "POST",
            "/waybills",
            &[],
            Some(json!({"cp_code": "ZTO", "branch_code": "999999",
        "sender": sender(), "packages": [package("x", chengdu())]})),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "courier.account-not-found"));
    let dhl = c
        .api
        .call(
            "POST",
            "/waybills",
            &[],
            Some(json!({"cp_code": "DHL", "branch_code": c.zto,
        "sender": sender(), "packages": [package("x", chengdu())]})),
        )
        .await;
    assert_eq!((dhl.status, dhl.code()), (404, "courier.account-not-found"));
    let garbled = c.api.call("POST", "/waybills", &[], Some(json!({"cp_code": "ZTO"}))).await;
    assert_eq!((garbled.status, garbled.code()), (400, "courier.invalid-request"));
    let no_sender_phone = c.api.call("POST", "/waybills", &[], Some(json!({"cp_code": "ZTO", "branch_code": c.zto,
        "sender": {"name": "仓", "province": "浙江省", "city": "杭州市", "address": "x"}, "packages": [package("x", chengdu())]}))).await;
    assert_eq!((no_sender_phone.status, no_sender_phone.code()), (400, "courier.invalid-request"));
    assert_eq!(c.zto_counts().await, (990, 10, 0));
}

#[tokio::test]
async fn a_refused_package_leaves_the_others_in_the_call_alone() {
    let c = courier().await;
    let chaos = CourierChaos {
        unreachable: vec![Unreachable { cp_code: Carrier::Zto, province: "西藏".into() }],
        ..CourierChaos::default()
    };
    c.t.sim.set_courier_chaos(chaos).unwrap();
    c.t.sim.set_courier_balance("cs-test", Carrier::Zto, &c.zto, 3).await.unwrap();
    let mut no_phone = chengdu();
    no_phone["phone"] = json!("");
    let a = c
        .draw(
            "ZTO",
            vec![
                package("ok-1", chengdu()),
                package("mars", to("火星省", "奥林帕斯市", "")),
                package("no-phone", no_phone),
                package("lhasa", to("西藏自治区", "拉萨市", "城关区")),
                parcels("three", 3),
                package("ok-2", to("新疆维吾尔自治区", "乌鲁木齐市", "天山区")),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let r = a.json["results"].as_array().unwrap();
    let got: Vec<(&str, &str)> =
        r.iter().map(|x| (x["object_id"].as_str().unwrap(), x["error"]["code"].as_str().unwrap_or("drawn"))).collect();
    assert_eq!(
        got,
        [
            ("ok-1", "drawn"),
            ("mars", "courier.invalid-address"),
            ("no-phone", "courier.invalid-address"),
            ("lhasa", "courier.address-unreachable"),
            ("three", "courier.insufficient-balance"),
            ("ok-2", "drawn"),
        ]
    );
    assert_eq!(r[2]["error"]["message"], "the recipient's phone is missing");
    assert_eq!(r[3]["error"]["message"], "中通快递 does not deliver to 西藏自治区");
    assert_eq!(r[4]["error"]["message"], format!("branch {} has 2 numbers left; the package needs 3", c.zto));
    assert!(r[1].get("waybill_code").is_none() && r[0]["error"].is_null());
    assert_eq!(c.zto_counts().await, (1, 2, 0));
    // SF is a direct carrier: it reaches Tibet (only ZTO was ruled out) and has no balance.
    let sf = c.draw("SF", vec![package("lhasa", to("西藏", "拉萨市", "城关区"))]).await;
    assert!(sf.json["results"][0]["waybill_code"].as_str().unwrap().starts_with("SF"));
    let stats = c.t.sim.courier_stats();
    assert_eq!((stats.packages_drawn, stats.packages_failed), (3, 4));
}

#[tokio::test]
async fn drawing_again_by_object_id_returns_the_live_waybill_and_costs_nothing() {
    let c = courier().await;
    let first = c.draw("ZTO", vec![package("shp_1", chengdu())]).await;
    let code = first.json["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert_eq!(c.zto_counts().await, (999, 1, 0));
    let again = c.draw("ZTO", vec![package("shp_1", chengdu()), package("shp_1", chengdu())]).await;
    assert_eq!(again.json["results"][0], first.json["results"][0]);
    assert_eq!(again.json["results"][1], first.json["results"][0]);
    assert_eq!(c.zto_counts().await, (999, 1, 0), "charged once");
    assert_eq!(c.t.sim.courier_stats().packages_repeated, 2);

    let cancelled = c.cancel(&code).await;
    assert_eq!((cancelled.status, cancelled.json["status"].as_str()), (200, Some("CANCELLED")));
    assert_eq!(c.zto_counts().await, (1000, 1, 1), "the number went back");
    let twice = c.cancel(&code).await;
    assert_eq!((twice.status, twice.code()), (409, "courier.already-cancelled"));
    assert_eq!(c.zto_counts().await, (1000, 1, 1));

    let fresh = c.draw_one("shp_1").await;
    assert_ne!(fresh, code, "a cancelled waybill is not reused");
    assert_eq!(c.zto_counts().await, (999, 2, 1), "and the new one costs again");
    assert_eq!(c.waybill(&code).await.json["status"], "CANCELLED");
    assert_eq!(c.waybill(&fresh).await.json["status"], "ALLOCATED");
    let both = c.t.sim.courier_waybills(&WaybillFilter { object_id: Some("shp_1".into()), ..Default::default() }).await;
    let both: HashSet<&str> = both.iter().map(|w| w.waybill_code.as_str()).collect();
    assert_eq!(both, HashSet::from([code.as_str(), fresh.as_str()]));
}

#[tokio::test]
async fn a_collected_waybill_cannot_be_cancelled() {
    let c = courier().await;
    let code = c.draw_one("shp_1").await;
    let view = c.t.sim.collect_waybill(&code).await.unwrap();
    assert_eq!(view.status, "COLLECTED");
    let a = c.cancel(&code).await;
    assert_eq!((a.status, a.code()), (409, "courier.already-collected"));
    assert_eq!(c.zto_counts().await, (999, 1, 0), "no number comes back");
    assert_eq!(c.t.sim.collect_waybill(&code).await.unwrap_err().code(), "courier.already-collected");
    let unknown = c.waybill("ZT7300000000000").await;
    assert_eq!((unknown.status, unknown.code()), (404, "courier.waybill-not-found"));
    let other = c.t.sim.create_courier_seller(NewCourierSeller::default()).await.unwrap();
    let theirs = Client::courier(&c.t.sim, &other);
    let hidden = theirs.get(&format!("/waybills/{code}"), &[]).await;
    assert_eq!((hidden.status, hidden.code()), (404, "courier.waybill-not-found"), "a seller sees only its own");
    let hidden = theirs.call("POST", &format!("/waybills/{code}/cancel"), &[], None).await;
    assert_eq!(hidden.code(), "courier.waybill-not-found");
}

#[tokio::test]
async fn a_multi_parcel_package_gets_a_parent_and_child_codes() {
    let c = courier().await;
    let a = c.draw("ZTO", vec![parcels("big", 3)]).await;
    let r = &a.json["results"][0];
    let parent = r["waybill_code"].as_str().unwrap();
    assert_eq!(r["parent_waybill_code"], parent);
    let children: Vec<&str> =
        r["child_waybill_codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(children.len(), 2);
    let all: HashSet<&str> = children.iter().copied().chain([parent]).collect();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|c| is_zto(c)));
    assert_eq!(c.zto_counts().await, (997, 3, 0), "one number per parcel");
    let by_child = c.waybill(children[1]).await;
    assert_eq!(by_child.json["waybill_code"], parent);
    assert_eq!(by_child.json["parcels"], 3);
    let nos: Vec<(String, u64)> = by_child.json["parcel_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["waybill_code"].as_str().unwrap().to_owned(), p["parcel_no"].as_u64().unwrap()))
        .collect();
    assert_eq!(nos, [(parent.to_owned(), 1), (children[0].to_owned(), 2), (children[1].to_owned(), 3)]);
    let single = c.draw("ZTO", vec![package("small", chengdu())]).await;
    assert_eq!(single.json["results"][0]["parent_waybill_code"], Value::Null);
    assert_eq!(single.json["results"][0]["child_waybill_codes"], json!([]));
    let by_child = c.cancel(children[0]).await;
    assert_eq!((by_child.status, by_child.code()), (400, "courier.invalid-request"));
    assert_eq!(c.cancel(parent).await.status, 200);
    assert_eq!(c.zto_counts().await, (999, 4, 3));
    let sf = c.draw("SF", vec![parcels("sf-big", 2)]).await;
    assert!(sf.json["results"][0]["child_waybill_codes"][0].as_str().unwrap().starts_with("SF"));
    let sf = c.account("SF").await;
    assert_eq!((&sf["quantity"], sf["allocated"].as_u64()), (&Value::Null, Some(2)));
}

#[tokio::test]
async fn routing_follows_the_recipients_province_and_city() {
    let c = courier().await;
    let a = c
        .draw(
            "ZTO",
            vec![
                package("a", chengdu()),
                package("b", to("四川省", "成都市", "武侯区")),
                package("c", to("浙江省", "杭州市", "余杭区")),
                package("d", to("浙江省", "宁波市", "鄞州区")),
                package("e", chengdu()),
            ],
        )
        .await;
    let p = |i: usize| a.json["results"][i]["print_data"].clone();
    let seg1 = p(0)["route_code"].as_str().unwrap()[..3].to_owned();
    assert_eq!(
        p(0),
        json!({"sortation_name": format!("{seg1} 都江堰"), "route_code": p(0)["route_code"],
               "consolidation_code": "成都转运中心", "cp_name": "中通快递"})
    );
    assert_eq!(p(1)["sortation_name"], format!("{seg1} 武侯"), "same hub, another district");
    assert_ne!(p(1)["route_code"], p(0)["route_code"]);
    assert_eq!(p(2)["consolidation_code"], "杭州转运中心");
    assert_eq!(p(3)["consolidation_code"], "宁波转运中心", "Ningbo has a hub of its own");
    assert_ne!(p(2)["route_code"].as_str().unwrap()[..3], p(3)["route_code"].as_str().unwrap()[..3]);
    assert_eq!(p(4), p(0), "the same address routes the same way");
    let route = p(0)["route_code"].as_str().unwrap().to_owned();
    let b = route.as_bytes();
    assert_eq!((route.len(), b[3], b[7], b[10]), (14, b'-', b'-', b' '), "{route}");

    let sf = c.draw("SF", vec![package("f", to("浙江省", "杭州市", "余杭区"))]).await;
    let sf_print = &sf.json["results"][0]["print_data"];
    assert_eq!(
        (&sf_print["sortation_name"], &sf_print["consolidation_code"], &sf_print["cp_name"]),
        (&json!("杭州 余杭"), &json!("杭州中转场"), &json!("顺丰速运"))
    );
    let code = sf.json["results"][0]["waybill_code"].as_str().unwrap();
    assert!(code.len() == 14 && code.starts_with("SF") && code[2..].bytes().all(|b| b.is_ascii_digit()), "{code}");

    // Every mainland province is served, each by a hub of its own.
    let provinces = [
        ("北京市", "北京市"),
        ("天津市", "天津市"),
        ("河北省", "石家庄市"),
        ("山西省", "太原市"),
        ("内蒙古自治区", "呼和浩特市"),
        ("辽宁省", "沈阳市"),
        ("吉林省", "长春市"),
        ("黑龙江省", "哈尔滨市"),
        ("上海市", "上海市"),
        ("江苏省", "南京市"),
        ("浙江省", "杭州市"),
        ("安徽省", "合肥市"),
        ("福建省", "福州市"),
        ("江西省", "南昌市"),
        ("山东省", "济南市"),
        ("河南省", "郑州市"),
        ("湖北省", "武汉市"),
        ("湖南省", "长沙市"),
        ("广东省", "广州市"),
        ("广西壮族自治区", "南宁市"),
        ("海南省", "海口市"),
        ("重庆市", "重庆市"),
        ("四川省", "成都市"),
        ("贵州省", "贵阳市"),
        ("云南省", "昆明市"),
        ("西藏自治区", "拉萨市"),
        ("陕西省", "西安市"),
        ("甘肃省", "兰州市"),
        ("青海省", "西宁市"),
        ("宁夏回族自治区", "银川市"),
        ("新疆维吾尔自治区", "乌鲁木齐市"),
    ];
    let mut hubs = HashSet::new();
    for (k, chunk) in provinces.chunks(10).enumerate() {
        let pkgs =
            chunk.iter().enumerate().map(|(i, (p, city))| package(&format!("prov-{k}-{i}"), to(p, city, ""))).collect();
        let a = c.draw("ZTO", pkgs).await;
        for r in a.json["results"].as_array().unwrap() {
            let hub = r["print_data"]["consolidation_code"].as_str().unwrap_or_else(|| panic!("{r}"));
            assert!(hub.ends_with("转运中心"), "{hub}");
            hubs.insert(hub.to_owned());
        }
    }
    assert_eq!(hubs.len(), 31);
}

#[tokio::test]
async fn codes_are_the_same_for_the_same_seed_and_differ_for_another() {
    async fn codes(seed: u64) -> (String, Vec<String>) {
        let c = courier_with(
            SimConfig { seed: Some(seed), ..SimConfig::ephemeral() },
            Arc::new(|_, _| (200, Duration::ZERO)),
        )
        .await;
        let a = c.draw("ZTO", vec![package("a", chengdu()), parcels("b", 2)]).await;
        let r = &a.json["results"];
        let sf = c.draw("SF", vec![package("c", chengdu())]).await;
        let codes = vec![
            r[0]["waybill_code"].as_str().unwrap().to_owned(),
            r[1]["waybill_code"].as_str().unwrap().to_owned(),
            r[1]["child_waybill_codes"][0].as_str().unwrap().to_owned(),
            sf.json["results"][0]["waybill_code"].as_str().unwrap().to_owned(),
        ];
        (c.zto.clone(), codes)
    }
    let (branch, a) = codes(11).await;
    let (branch_again, b) = codes(11).await;
    assert_eq!((&branch, &a), (&branch_again, &b));
    let (_, other) = codes(12).await;
    assert!(a.iter().zip(&other).all(|(x, y)| x != y), "{a:?} vs {other:?}");
}

#[tokio::test]
async fn tracking_is_pushed_signed_and_moves_on_the_schedule() {
    let c = courier().await;
    c.t.sim.set_courier_schedule(CourierSchedule::every(40)).unwrap();
    let code = c.draw_one("shp_1").await;
    let started = chrono::Utc::now().timestamp();
    c.t.sim.collect_waybill(&code).await.unwrap();
    let got = c.tracking.wait_for(4, WAIT).await;
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    assert_eq!(c.tracking.received().len(), 4, "nothing more after DELIVERED");
    assert_eq!(c.statuses(&code), ["COLLECTED", "IN_TRANSIT", "DELIVERING", "DELIVERED"]);
    let ids: HashSet<&str> = got.iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), 4);
    for r in &got {
        assert_eq!(r.header("X-Courier-Topic"), "tracking");
        assert!(r.courier_signature_ok(TRACKING_SECRET), "signed with the subscription's secret");
        assert!(!r.courier_signature_ok("another-secret"));
        let ts: i64 = r.header("X-Courier-Timestamp").parse().unwrap();
        assert!((started - 1..=started + 20).contains(&ts), "{ts} vs {started}");
        let body = r.json();
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 6);
        for k in ["waybill_code", "cp_code", "status", "time", "location", "detail"] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
        assert_eq!(r.json()["cp_code"], "ZTO");
    }
    let times: Vec<_> = got.iter().map(|r| time(r.json()["time"].as_str().unwrap())).collect();
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= chrono::Duration::milliseconds(40), "{times:?}");
    }
    let first = got[0].json();
    assert_eq!(first["location"], "杭州市余杭区");
    let branch_name = &c.seller.accounts[0].branch_name;
    assert!(first["detail"].as_str().unwrap().contains(branch_name.as_str()), "{first}");
    assert_eq!(got[1].json()["detail"], "快件已从【杭州转运中心】发出，下一站【成都转运中心】");
    assert_eq!(got[2].json()["location"], "成都市都江堰市");
    assert!(got[3].json()["detail"].as_str().unwrap().contains("签收"));

    let view = c.waybill(&code).await.json;
    assert_eq!(view["status"], "DELIVERED");
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    assert_eq!(view["tracking"], json!(bodies), "the waybill lists what was pushed");
    let records = c.t.sim.courier_pushes(&PushFilter { waybill_code: Some(code.clone()), ..PushFilter::default() });
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|p| p.state == MessageState::Delivered && p.attempts == 1 && p.seller_id == "cs-test"));
    assert_eq!(records[0].id, got[0].message_id());
    assert_eq!(c.cancel(&code).await.code(), "courier.already-collected");
}

#[tokio::test]
async fn a_share_of_parcels_fails_delivery_and_goes_back() {
    let c = courier().await;
    c.t.sim.set_courier_schedule(CourierSchedule { exception_share: 1.0, ..CourierSchedule::every(20) }).unwrap();
    let code = c.draw_one("shp_1").await;
    c.t.sim.collect_waybill(&code).await.unwrap();
    let got = c.tracking.wait_for(6, WAIT).await;
    assert_eq!(c.statuses(&code), ["COLLECTED", "IN_TRANSIT", "DELIVERING", "EXCEPTION", "RETURNING", "RETURNED"]);
    let exception = got[3].json()["detail"].as_str().unwrap().to_owned();
    assert!(
        ["收件人电话无人接听，派件未成功", "收件地址不详，无法联系收件人", "收件人拒收", "收件人电话空号，派件未成功"]
            .contains(&exception.as_str()),
        "{exception}"
    );
    assert_eq!(got[4].json()["detail"], format!("快件已发起退回，退回原因：{exception}，正退回【杭州市】"));
    assert_eq!(
        (got[5].json()["location"].as_str(), got[5].json()["detail"].as_str()),
        (Some("杭州市余杭区"), Some("退回件已签收，签收人：寄件人云栈优品仓"))
    );
    assert_eq!(c.waybill(&code).await.json["status"], "RETURNED");
}

#[tokio::test]
async fn one_parcel_of_a_package_can_be_forced_back_to_the_sender() {
    let c = courier().await;
    let a = c.draw("ZTO", vec![parcels("big", 2)]).await;
    let parent = a.json["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    let child = a.json["results"][0]["child_waybill_codes"][0].as_str().unwrap().to_owned();
    let view = c.t.sim.force_tracking(&child, TrackingStatus::Returned).await.unwrap();
    let got = c.tracking.wait_for(7, WAIT).await;
    assert_eq!(got.len(), 7);
    assert_eq!(c.statuses(&parent), ["COLLECTED"]);
    assert_eq!(c.statuses(&child), ["COLLECTED", "IN_TRANSIT", "DELIVERING", "EXCEPTION", "RETURNING", "RETURNED"]);
    let status: Vec<Option<TrackingStatus>> = view.parcel_status.iter().map(|p| p.status).collect();
    assert_eq!(status, [Some(TrackingStatus::Collected), Some(TrackingStatus::Returned)]);
    assert_eq!(view.status, "COLLECTED", "the package's status is its parent's");
    let e = c.t.sim.force_tracking(&child, TrackingStatus::Delivered).await.unwrap_err();
    assert_eq!(e.code(), "courier.invalid-status");
    let moved = c.t.sim.advance_tracking(&parent).await.unwrap();
    assert_eq!(moved.status, "IN_TRANSIT");
    c.tracking.wait_for(8, WAIT).await;
    assert_eq!(c.statuses(&parent), ["COLLECTED", "IN_TRANSIT"]);
}

#[tokio::test]
async fn push_chaos_duplicates_reorders_and_drops() {
    let c = courier().await;
    let code = c.draw_one("dup").await;
    c.t.sim.set_courier_chaos(CourierChaos { push_duplicate_rate: 1.0, ..CourierChaos::default() }).unwrap();
    c.t.sim.collect_waybill(&code).await.unwrap();
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    let got = c.tracking.received();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].message_id(), &got[0].body), (got[1].message_id(), &got[1].body));
    let r = &c.t.sim.courier_pushes(&PushFilter::default())[0];
    assert_eq!((r.copies, r.deliveries, r.state), (2, 2, MessageState::Delivered));

    // COLLECTED is held back 1–2 s; IN_TRANSIT, pushed at once, overtakes it.
    let code = c.draw_one("reorder").await;
    let held = CourierChaos { push_reorder_rate: 1.0, push_reorder_ms: 2000, ..CourierChaos::default() };
    c.t.sim.set_courier_chaos(held).unwrap();
    c.t.sim.collect_waybill(&code).await.unwrap();
    c.t.sim.set_courier_chaos(CourierChaos::default()).unwrap();
    c.t.sim.advance_tracking(&code).await.unwrap();
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    assert_eq!(c.statuses(&code), ["IN_TRANSIT", "COLLECTED"], "the older event is still pushed, late");

    c.t.sim.set_courier_chaos(CourierChaos { push_drop_rate: 1.0, ..CourierChaos::default() }).unwrap();
    c.t.sim.advance_tracking(&code).await.unwrap();
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    assert_eq!(c.statuses(&code), ["IN_TRANSIT", "COLLECTED"], "dropped");
    let dropped = c.t.sim.courier_pushes(&PushFilter { state: Some(MessageState::Dropped), ..PushFilter::default() });
    assert_eq!(dropped.iter().map(|p| p.event.status).collect::<Vec<_>>(), [TrackingStatus::Delivering]);
    assert_eq!(c.waybill(&code).await.json["status"], "DELIVERING", "the carrier still knows");
    let stats = c.t.sim.courier_stats();
    assert_eq!((stats.pushes_created, stats.pushes_duplicated, stats.pushes_dropped), (4, 1, 1));
}

#[tokio::test]
async fn a_failed_push_is_retried_with_the_same_id_and_a_fresh_signature() {
    let c =
        courier_with(SimConfig::ephemeral(), Arc::new(|_, seen| (if seen < 2 { 503 } else { 200 }, Duration::ZERO)))
            .await;
    let code = c.draw_one("shp_1").await;
    c.t.sim.collect_waybill(&code).await.unwrap();
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    let got = c.tracking.received();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.message_id() == got[0].message_id() && r.body == got[0].body));
    assert!(got.iter().all(|r| r.courier_signature_ok(TRACKING_SECRET)));
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(50), "backoff");
    let r = &c.t.sim.courier_pushes(&PushFilter::default())[0];
    assert_eq!(
        (r.attempts, r.first_status, r.last_status, r.state),
        (3, Some(503), Some(200), MessageState::Delivered)
    );
}

#[tokio::test]
async fn events_of_an_account_without_a_subscription_are_not_pushed() {
    let c = courier().await;
    let other =
        c.t.sim
            .create_courier_seller(NewCourierSeller {
                accounts: vec![NewCourierAccount::new(Carrier::Yto)],
                ..NewCourierSeller::default()
            })
            .await
            .unwrap();
    assert!(other.accounts[0].branch_name.starts_with("圆通"), "{}", other.accounts[0].branch_name);
    let api = Client::courier(&c.t.sim, &other);
    let body = json!({"cp_code": "YTO", "branch_code": other.accounts[0].branch_code, "sender": sender(),
                      "packages": [package("y", chengdu())]});
    let a = api.call("POST", "/waybills", &[], Some(body)).await;
    let code = a.json["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("YT") && code.len() == 15, "{code}");
    c.t.sim.collect_waybill(&code).await.unwrap();
    let records = c.t.sim.courier_pushes(&PushFilter { waybill_code: Some(code), ..PushFilter::default() });
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, MessageState::Unsubscribed);
    assert!(c.tracking.received().is_empty());
}

#[tokio::test]
async fn the_tracking_subscription_is_idempotent_and_replaceable() {
    let c = courier().await;
    let a = c.subscribe("ZTO", &c.zto, &c.tracking.url).await;
    assert_eq!(a.json, json!({"cp_code": "ZTO", "branch_code": c.zto, "url": c.tracking.url}));
    assert_eq!(c.subscribe("ZTO", &c.zto, &c.tracking.url).await.json, a.json, "same body, same answer");
    let missing = c.subscribe("ZTO", "000000", &c.tracking.url).await;
    assert_eq!((missing.status, missing.code()), (404, "courier.account-not-found"));
    let missing = c.subscribe("YUNDA", &c.zto, &c.tracking.url).await;
    assert_eq!((missing.status, missing.code()), (404, "courier.account-not-found"));
    let bad = c.subscribe("ZTO", &c.zto, "ftp://example.cn").await;
    assert_eq!((bad.status, bad.code()), (400, "courier.invalid-request"));

    let moved = Receiver::ok().await;
    let body = json!({"cp_code": "ZTO", "branch_code": c.zto, "url": moved.url, "secret": "trsec_new"});
    assert_eq!(c.api.call("PUT", "/tracking-subscription", &[], Some(body)).await.status, 200);
    let code = c.draw_one("shp_1").await;
    c.t.sim.collect_waybill(&code).await.unwrap();
    let got = moved.wait_for(1, WAIT).await;
    assert!(got[0].courier_signature_ok("trsec_new") && !got[0].courier_signature_ok(TRACKING_SECRET));
    assert!(c.tracking.received().is_empty());
    let seller = c.t.sim.courier_seller("cs-test").await.unwrap();
    assert_eq!(seller.subscriptions.iter().filter(|s| s.cp_code == Carrier::Zto).count(), 1);
}

#[tokio::test]
async fn a_bazaar_ship_write_back_naming_the_waybill_has_it_collected() {
    let c = courier().await;
    c.t.sim.set_courier_schedule(CourierSchedule { collect_delay_ms: 1000, ..CourierSchedule::every(20) }).unwrap();
    let trade = c.t.sim.create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])).await.unwrap();
    c.t.sim.pay(&trade.tid).await.unwrap();
    let shipped = c.draw_one("shp_shipped").await;
    let never = c.draw_one("shp_never").await;
    let ship =
        c.t.api
            .call(
                "POST",
                &format!("/trades/{}/ship", trade.tid),
                &[],
                Some(json!({"company_code": "ZTO", "waybill_no": shipped})),
            )
            .await;
    assert_eq!(ship.status, 200, "{:?}", ship.json);
    let at = Instant::now();
    let pending = c.waybill(&shipped).await.json;
    assert_eq!(pending["status"], "ALLOCATED");
    assert!(pending["collect_due_at"].is_string(), "{pending}");
    c.tracking.wait_for(4, WAIT).await;
    assert!(at.elapsed() >= Duration::from_millis(900), "collected after the delay");
    assert_eq!(c.statuses(&shipped), ["COLLECTED", "IN_TRANSIT", "DELIVERING", "DELIVERED"]);
    assert_eq!(c.cancel(&shipped).await.code(), "courier.already-collected");
    // A repeated write-back changes nothing; the waybill never shipped is never collected.
    let again =
        c.t.api
            .call(
                "POST",
                &format!("/trades/{}/ship", trade.tid),
                &[],
                Some(json!({"company_code": "ZTO", "waybill_no": shipped})),
            )
            .await;
    assert_eq!(again.status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(c.statuses(&never).is_empty());
    assert_eq!(c.waybill(&never).await.json["status"], "ALLOCATED");
    assert_eq!(c.tracking.received().len(), 4);
    assert_eq!(c.cancel(&never).await.status, 200);
}

#[tokio::test]
async fn a_draw_that_times_out_after_drawing_is_recovered_by_drawing_again() {
    let c = courier().await;
    let lost = CourierChaos { draw_timeout_after_rate: 1.0, draw_timeout_ms: 3000, ..CourierChaos::default() };
    c.t.sim.set_courier_chaos(lost).unwrap();
    let impatient = spoiled(&c.api, |k| k.timeout = Some(Duration::from_millis(400)));
    let body =
        json!({"cp_code": "ZTO", "branch_code": c.zto, "sender": sender(), "packages": [package("shp_t", chengdu())]});
    assert!(impatient.try_call("POST", "/waybills", &[], Some(body)).await.is_none(), "no answer in time");
    assert_eq!(c.zto_counts().await, (999, 1, 0), "but the number was drawn");
    let drawn =
        c.t.sim.courier_waybills(&WaybillFilter { object_id: Some("shp_t".into()), ..Default::default() }).await;
    assert_eq!(drawn.len(), 1);

    c.t.sim.set_courier_chaos(CourierChaos { draw_fail_after_rate: 1.0, ..CourierChaos::default() }).unwrap();
    let failed = c.draw("ZTO", vec![package("shp_t", chengdu()), package("shp_f", chengdu())]).await;
    assert_eq!((failed.status, failed.code()), (500, "courier.internal-error"));
    assert_eq!(c.zto_counts().await, (998, 2, 0), "shp_f was drawn, shp_t was not drawn twice");

    c.t.sim.set_courier_chaos(CourierChaos { draw_fail_rate: 1.0, ..CourierChaos::default() }).unwrap();
    let failed = c.draw("ZTO", vec![package("shp_g", chengdu())]).await;
    assert_eq!((failed.status, failed.code()), (500, "courier.internal-error"));
    assert_eq!(c.zto_counts().await, (998, 2, 0), "a 500 before drawing draws nothing");

    c.t.sim.set_courier_chaos(CourierChaos { draw_latency_ms: 250, ..CourierChaos::default() }).unwrap();
    let started = Instant::now();
    let again = c.draw("ZTO", vec![package("shp_t", chengdu()), package("shp_f", chengdu())]).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    let codes: Vec<&str> =
        again.json["results"].as_array().unwrap().iter().map(|r| r["waybill_code"].as_str().unwrap()).collect();
    let all = c.t.sim.courier_waybills(&WaybillFilter::default()).await;
    assert_eq!(codes, all.iter().map(|w| w.waybill_code.as_str()).collect::<Vec<_>>(), "the waybills drawn before");
    assert_eq!(c.zto_counts().await, (998, 2, 0));
    let stats = c.t.sim.courier_stats();
    assert_eq!((stats.draw_timeouts_injected, stats.draw_failures_injected), (1, 2));
}

#[tokio::test]
async fn calls_over_the_rate_are_refused_with_retry_after() {
    let sim = spawn(SimConfig { api_rate: 1.0, ..SimConfig::ephemeral() }).await.unwrap();
    let seller = sim.create_courier_seller(NewCourierSeller::default()).await.unwrap();
    let other = sim.create_courier_seller(NewCourierSeller::default()).await.unwrap();
    let api = Client::courier(&sim, &seller);
    assert_eq!(api.get("/accounts", &[]).await.status, 200);
    let a = api.get("/accounts", &[]).await;
    assert_eq!((a.status, a.code()), (429, "courier.rate-limited"));
    assert_eq!(a.headers["retry-after"], "1");
    assert_eq!(Client::courier(&sim, &other).get("/accounts", &[]).await.status, 200, "limits are per seller");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(api.get("/accounts", &[]).await.status, 200);
    sim.set_courier_api_outage(Duration::from_secs(60));
    let down = api.get("/accounts", &[]).await;
    assert_eq!((down.status, down.code()), (503, "courier.service-unavailable"));
    assert!(down.headers.contains_key("retry-after"));
    assert_eq!(sim.courier_stats().api_rate_limited, 1);
}

#[tokio::test]
async fn the_admin_api_drives_courier() {
    let c = courier().await;
    let base = format!("{}/admin/courier", c.t.sim.url());
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut req = http.request(method, format!("{base}{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    use reqwest::Method;
    let (s, seller) = call(Method::POST, "/sellers".into(), Some(json!({"seller_id": "cs-admin",
        "accounts": [{"cp_code": "YUNDA", "branch_code": "579100", "branch_name": "韵达义乌北苑分部", "quantity": 0}]}))).await;
    assert_eq!(s, 200, "{seller}");
    assert_eq!(
        seller["accounts"][0],
        json!({"cp_code": "YUNDA", "branch_code": "579100", "branch_name": "韵达义乌北苑分部",
        "quantity": 0, "allocated": 0, "cancelled": 0, "printed": 0})
    );
    let (s, e) = call(Method::POST, "/sellers".into(), Some(json!({"seller_id": "cs-admin"}))).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("courier.seller-exists")));
    let (s, e) =
        call(Method::POST, "/sellers".into(), Some(json!({"accounts": [{"cp_code": "SF", "quantity": 5}]}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("courier.invalid-request")));

    let draw = json!({"cp_code": "YUNDA", "branch_code": "579100", "sender": sender(), "packages": [package("a1", chengdu())]});
    let (s, r) = call(Method::POST, "/sellers/cs-admin/waybills".into(), Some(draw.clone())).await;
    assert_eq!((s, r["results"][0]["error"]["code"].as_str()), (200, Some("courier.insufficient-balance")));
    let (s, acc) =
        call(Method::PUT, "/sellers/cs-admin/accounts/YUNDA/579100".into(), Some(json!({"quantity": 5, "printed": 2})))
            .await;
    assert_eq!((s, acc["quantity"].as_i64(), acc["printed"].as_u64()), (200, Some(5), Some(2)));
    let (_, r) = call(Method::POST, "/sellers/cs-admin/waybills".into(), Some(draw)).await;
    let code = r["results"][0]["waybill_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("43") && code.len() == 13, "{code}");
    assert_eq!(r["results"][0]["print_data"]["consolidation_code"], "成都分拨中心");

    let (s, list) = call(Method::GET, "/waybills?seller_id=cs-admin&status=ALLOCATED".into(), None).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    let (s, w) = call(Method::POST, format!("/waybills/{code}/collect"), None).await;
    assert_eq!((s, w["status"].as_str()), (200, Some("COLLECTED")));
    let (s, w) = call(Method::POST, format!("/waybills/{code}/advance"), None).await;
    assert_eq!((s, w["status"].as_str()), (200, Some("IN_TRANSIT")));
    let (s, w) = call(Method::POST, format!("/waybills/{code}/status"), Some(json!({"status": "RETURNED"}))).await;
    assert_eq!((s, w["status"].as_str()), (200, Some("RETURNED")));
    assert_eq!(w["tracking"].as_array().unwrap().len(), 6);
    let (s, e) = call(Method::POST, format!("/waybills/{code}/status"), Some(json!({"status": "DELIVERED"}))).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("courier.invalid-status")));
    let (s, e) = call(Method::POST, format!("/waybills/{code}/status"), Some(json!({"status": "LOST"}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("courier.invalid-request")));
    let (s, pushes) = call(Method::GET, format!("/pushes?waybill_code={code}"), None).await;
    assert_eq!((s, pushes.as_array().unwrap().len()), (200, 6));
    assert_eq!(pushes[0]["state"], "unsubscribed");
    let (s, e) = call(Method::GET, "/waybills/ZT7399999999999".into(), None).await;
    assert_eq!((s, e["code"].as_str()), (404, Some("courier.waybill-not-found")));

    let (s, chaos) = call(
        Method::PUT,
        "/chaos".into(),
        Some(json!({"draw_fail_rate": 0.25, "unreachable": [{"cp_code": "SF", "province": "新疆"}]})),
    )
    .await;
    assert_eq!(
        (s, chaos["draw_fail_rate"].as_f64(), chaos["draw_timeout_ms"].as_u64()),
        (200, Some(0.25), Some(30_000))
    );
    assert_eq!(c.t.sim.courier_chaos().unreachable[0].cp_code, Carrier::Sf);
    let (s, e) =
        call(Method::PUT, "/chaos".into(), Some(json!({"unreachable": [{"cp_code": "SF", "province": "火星"}]}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("courier.invalid-request")));
    let (s, sched) = call(Method::PUT, "/schedule".into(), Some(json!({"time_scale": 0.001}))).await;
    assert_eq!(
        (s, sched["time_scale"].as_f64(), sched["collect_delay_ms"].as_u64()),
        (200, Some(0.001), Some(1_800_000))
    );
    let (s, e) = call(Method::PUT, "/schedule".into(), Some(json!({"exception_share": 1.5}))).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("courier.invalid-request")));
    let (s, stats) = call(Method::GET, "/stats".into(), None).await;
    assert_eq!((s, stats["sellers"].as_u64(), stats["waybills"].as_u64()), (200, Some(2), Some(1)));
    let (s, out) = call(Method::POST, "/outage".into(), Some(json!({"seconds": 5}))).await;
    assert!(s == 200 && out["outage_left_secs"].as_f64().unwrap() > 4.0, "{out}");
}

#[tokio::test]
async fn courier_survives_a_restart_from_the_state_file() {
    let dir = std::env::temp_dir().join(format!(
        "courier-sim-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = SimConfig { state_file: Some(dir.join("sim.json")), ..SimConfig::ephemeral() };
    let c = courier_with(config.clone(), Arc::new(|_, _| (200, Duration::ZERO))).await;
    let delivered = c.draw_one("shp_delivered").await;
    c.t.sim.force_tracking(&delivered, TrackingStatus::Delivered).await.unwrap();
    let live = c.draw_one("shp_live").await;
    let cancelled = c.draw_one("shp_cancelled").await;
    c.cancel(&cancelled).await;
    let due = c.draw_one("shp_due").await;
    c.t.sim.set_courier_schedule(CourierSchedule { collect_delay_ms: 3000, ..CourierSchedule::default() }).unwrap();
    let trade = c.t.sim.create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])).await.unwrap();
    c.t.sim.pay(&trade.tid).await.unwrap();
    let ship =
        c.t.api
            .call(
                "POST",
                &format!("/trades/{}/ship", trade.tid),
                &[],
                Some(json!({"company_code": "ZTO", "waybill_no": due})),
            )
            .await;
    assert_eq!(ship.status, 200);
    c.t.sim.wait_courier_pushed(WAIT).await.unwrap();
    let before: Vec<Value> = views(&c, &[&delivered, &live, &cancelled, &due]).await;
    let accounts = c.api.get("/accounts", &[]).await.json;
    c.t.sim.shutdown().await.unwrap();
    let pushed_before = c.tracking.received().len();
    assert_eq!(pushed_before, 4);

    let sim = spawn(config).await.unwrap();
    let api = Client::courier(&sim, &c.seller);
    let restarted = Courier {
        t: TestSim { sim, receiver: Receiver::ok().await, api: c.t.api.clone() },
        seller: c.seller.clone(),
        api,
        zto: c.zto.clone(),
        sf: c.sf.clone(),
        tracking: c.tracking,
    };
    assert_eq!(restarted.api.get("/accounts", &[]).await.json, accounts, "token, accounts and counters are kept");
    let after = views(&restarted, &[&delivered, &live, &cancelled, &due]).await;
    assert_eq!(after, before);
    assert_eq!(restarted.draw_one("shp_live").await, live, "the live waybill of an object_id is still it");
    let fresh = restarted.draw_one("shp_new").await;
    assert!(![&delivered, &live, &cancelled, &due].contains(&&fresh), "no code is issued twice");
    // The collection the write-back scheduled still happens, and pushes to the kept subscription.
    restarted.tracking.wait_for(pushed_before + 1, WAIT).await;
    assert_eq!(restarted.statuses(&due), ["COLLECTED"]);
    assert!(restarted.tracking.received().last().unwrap().courier_signature_ok(TRACKING_SECRET));
    restarted.t.sim.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// The seller's view of each waybill.
async fn views(c: &Courier, codes: &[&String]) -> Vec<Value> {
    let mut out = Vec::new();
    for code in codes {
        let a = c.waybill(code).await;
        assert_eq!(a.status, 200);
        out.push(a.json);
    }
    out
}

#[tokio::test]
async fn sellers_can_open_accounts_at_every_carrier() {
    let c = courier().await;
    let accounts = Carrier::ALL.iter().map(|&cp| NewCourierAccount::new(cp)).collect();
    let s = c.t.sim.create_courier_seller(NewCourierSeller { accounts, ..NewCourierSeller::default() }).await.unwrap();
    let api = Client::courier(&c.t.sim, &s);
    for a in &s.accounts {
        assert_eq!(a.quantity.is_some(), a.cp_code.is_franchise(), "{a:?}");
        let body = json!({"cp_code": a.cp_code, "branch_code": a.branch_code, "sender": sender(),
                          "packages": [package(&format!("x-{}", a.cp_code), to("广东省", "深圳市", "南山区"))]});
        let r = api.call("POST", "/waybills", &[], Some(body)).await;
        let w = &r.json["results"][0];
        let code = w["waybill_code"].as_str().unwrap_or_else(|| panic!("{:?}", r.json));
        let shaped = match a.cp_code {
            Carrier::Sf => code.starts_with("SF") && code.len() == 14,
            Carrier::Jd => code.starts_with("JDV") && code.len() == 15,
            Carrier::Ems => code.starts_with('E') && code.ends_with("CN") && code.len() == 13,
            Carrier::Zto => is_zto(code),
            Carrier::Yto => code.starts_with("YT") && code.len() == 15,
            Carrier::Sto => code.starts_with("77") && code.len() == 13,
            Carrier::Yunda => code.starts_with("43") && code.len() == 13,
        };
        assert!(shaped, "{}: {code}", a.cp_code);
        assert_eq!(w["print_data"]["cp_name"], a.cp_code.name());
        assert!(w["print_data"]["consolidation_code"].as_str().unwrap().starts_with("深圳"), "{w}");
    }
    // The live waybill of an object_id is returned whichever account is asked: the caller
    // cancels it before drawing the package from another carrier.
    let body = json!({"cp_code": "SF", "branch_code": s.accounts[0].branch_code, "sender": sender(),
                      "packages": [package("x-ZTO", chengdu())]});
    let again = api.call("POST", "/waybills", &[], Some(body)).await;
    assert!(is_zto(again.json["results"][0]["waybill_code"].as_str().unwrap()), "{:?}", again.json);
}
