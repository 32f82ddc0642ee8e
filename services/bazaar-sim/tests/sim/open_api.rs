//! The signed Open API as Cairn's connector calls it.

use crate::helpers::*;
use bazaar_sim::{
    ChaosConfig, MessageFilter, NewLine, NewShop, NewTrade, SimConfig, WritebackKind, WritebackOutcome, format_time,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn one_line() -> NewTrade {
    NewTrade::new(SHOP, vec![NewLine::new("NUT", 1)])
}

#[tokio::test]
async fn a_signed_call_gets_the_same_snapshot_as_the_webhook() {
    let t = spawn_sim().await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    let pushed = t.receiver.wait_for(1, Duration::from_secs(10)).await[0].trade();
    let got = t.api.get(&format!("/trades/{tid}"), &[]).await;
    assert_eq!(got.status, 200, "{:?}", got.json);
    let pulled: bazaar_sim::TradeSnapshot = serde_json::from_value(got.json["trade"].clone()).unwrap();
    assert_eq!(pulled, pushed);
    assert_eq!(t.api.get("/trades/T0", &[]).await.code(), "isv.trade-not-exist");
}

#[tokio::test]
async fn bad_signatures_stale_timestamps_and_wrong_tokens_are_401() {
    let t = spawn_sim().await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    let path = format!("/trades/{tid}");

    let mut bad = t.api.clone();
    bad.app_secret = "not-the-secret".into();
    let a = bad.get(&path, &[]).await;
    assert_eq!((a.status, a.code()), (401, "isv.invalid-signature"));

    let mut lower = t.api.clone();
    let params = [("app_key", t.api.app_key.as_str())];
    lower.forced_sign = Some(bazaar_sim::api_sign(&t.api.app_secret, &params, b"").to_lowercase());
    assert_eq!(lower.get(&path, &[]).await.status, 401);

    let mut stale = t.api.clone();
    stale.skew = -601;
    let a = stale.get(&path, &[]).await;
    assert_eq!((a.status, a.code()), (401, "isv.invalid-signature"));
    stale.skew = 650;
    assert_eq!(stale.get(&path, &[]).await.status, 401, "from the future too");
    stale.skew = -590;
    assert_eq!(stale.get(&path, &[]).await.status, 200, "within 10 minutes");

    let mut wrong = t.api.clone();
    wrong.token = "at_nope".into();
    let a = wrong.get(&path, &[]).await;
    assert_eq!((a.status, a.code()), (401, "isv.invalid-access-token"));

    // Another shop's valid credentials do not reach this shop's trades.
    let other = t.sim.create_shop(NewShop::default()).await.unwrap();
    let a = Client::new(&t.sim, &other).get(&path, &[]).await;
    assert_eq!((a.status, a.code()), (404, "isv.trade-not-exist"));

    // Tampering with a signed parameter breaks the signature.
    let mut tampered = t.api.clone();
    let good = bazaar_sim::api_sign(&t.api.app_secret, &[("page_no", "1")], b"");
    tampered.forced_sign = Some(good);
    assert_eq!(tampered.get(&path, &[("page_no", "2")]).await.status, 401);
    assert!(t.sim.stats().api_auth_failures >= 6);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_per_app_and_shop() {
    let config = SimConfig { api_rate: 1.0, ..SimConfig::ephemeral() };
    let t = spawn_with(config, Arc::new(|_, _| (200, Duration::ZERO))).await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    let path = format!("/trades/{tid}");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(t.api.get(&path, &[]).await);
    }
    let limited: Vec<_> = statuses.iter().filter(|a| a.status == 429).collect();
    assert!(limited.len() >= 3, "{:?}", statuses.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(limited[0].code(), "isv.rate-limited");
    let retry_after: u64 = limited[0].headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let other = t.sim.create_shop(NewShop::default()).await.unwrap();
    assert_eq!(Client::new(&t.sim, &other).get("/trades/T0", &[]).await.status, 404, "another shop has its own bucket");
    assert!(t.sim.stats().api_rate_limited >= 1);
}

#[tokio::test]
async fn paging_from_the_last_page_backwards_returns_every_trade_exactly_once() {
    let t = spawn_sim().await;
    let start = format_time(chrono::Utc::now().timestamp_millis() - 1000);
    let mut tids = HashSet::new();
    for _ in 0..25 {
        tids.insert(t.sim.create_trade(one_line()).await.unwrap().tid);
    }
    // A closed window: its end is in the past, so a trade modified while the reader pages
    // leaves the window instead of moving to its front.
    let end = format_time(chrono::Utc::now().timestamp_millis());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let page = |no: usize| {
        let (start, end, api) = (start.clone(), end.clone(), t.api.clone());
        async move {
            let no = no.to_string();
            let a = api
                .get(
                    "/trades",
                    &[("modified_start", &start), ("modified_end", &end), ("page_no", &no), ("page_size", "10")],
                )
                .await;
            assert_eq!(a.status, 200, "{:?}", a.json);
            a.json
        }
    };
    let tids_of = |p: &serde_json::Value| -> Vec<String> {
        p["trades"].as_array().unwrap().iter().map(|t| t["tid"].as_str().unwrap().to_owned()).collect()
    };
    let first = page(1).await;
    assert_eq!(first["total_results"], 25);
    assert_eq!(first["has_next"], true);
    let mut seen = Vec::new();
    for no in (1..=3).rev() {
        let p = page(no).await;
        assert_eq!(p["has_next"], no < 3);
        let modified: Vec<_> =
            p["trades"].as_array().unwrap().iter().map(|t| time(t["modified"].as_str().unwrap())).collect();
        assert!(modified.windows(2).all(|w| w[0] >= w[1]), "newest first");
        seen.extend(tids_of(&p));
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), tids);

    // Again, while the 5 newest trades are paid after the reader took the last page: they leave
    // the window, the rest shift towards page 1, and the reader still misses none of them
    // (a reader going forwards would have skipped some).
    let newest: HashSet<String> = tids_of(&first).into_iter().take(5).collect();
    let mut again = Vec::new();
    for no in (1..=3).rev() {
        again.extend(tids_of(&page(no).await));
        if no == 3 {
            for tid in &newest {
                t.sim.pay(tid).await.unwrap();
            }
        }
    }
    let again: HashSet<String> = again.into_iter().collect();
    assert!(tids.difference(&newest).all(|tid| again.contains(tid)), "no unchanged trade is skipped");
}

#[tokio::test]
async fn the_trade_list_checks_its_window() {
    let t = spawn_sim().await;
    let list = |s: &str, e: &str, extra: Vec<(&'static str, &'static str)>| {
        let mut params =
            vec![("modified_start".to_string(), s.to_string()), ("modified_end".to_string(), e.to_string())];
        params.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let api = t.api.clone();
        async move {
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            api.get("/trades", &refs).await
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let plain = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    assert_eq!(
        list(&plain(now - 3_600_000), &plain(now + 1000), vec![]).await.status,
        200,
        "`YYYY-MM-DD HH:MM:SS` in +08:00"
    );
    assert_eq!(list(&format_time(now - 3_600_000), &format_time(now), vec![]).await.status, 200, "RFC 3339");
    let too_wide = list(&format_time(now - 25 * 3_600_000), &format_time(now), vec![]).await;
    assert_eq!((too_wide.status, too_wide.code()), (400, "isv.invalid-parameter"));
    let too_old = now - 100 * 24 * 3_600_000;
    assert_eq!(list(&format_time(too_old), &format_time(too_old + 1000), vec![]).await.status, 400);
    assert_eq!(list(&format_time(now), &format_time(now - 1000), vec![]).await.status, 400, "end before start");
    assert_eq!(list(&format_time(now - 1000), &format_time(now), vec![("page_size", "101")]).await.status, 400);
    assert_eq!(list(&format_time(now - 1000), &format_time(now), vec![("page_no", "0")]).await.status, 400);
    assert_eq!(list("yesterday", &format_time(now), vec![]).await.status, 400);
}

#[tokio::test]
async fn ship_is_idempotent_for_the_same_waybill_and_409_for_another() {
    let t = spawn_sim().await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    let path = format!("/trades/{tid}/ship");
    let sf = json!({"company_code": "SF", "waybill_no": "SF1234567890"});
    let unpaid = t.api.call("POST", &path, &[], Some(sf.clone())).await;
    assert_eq!((unpaid.status, unpaid.code()), (409, "isv.invalid-trade-status"));
    t.sim.pay(&tid).await.unwrap();

    let first = t.api.call("POST", &path, &[], Some(sf.clone())).await;
    assert_eq!(first.status, 200, "{:?}", first.json);
    assert_eq!(first.json["trade"]["status"], "WAIT_BUYER_CONFIRM_GOODS");
    let again = t.api.call("POST", &path, &[], Some(sf.clone())).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["trade"], first.json["trade"], "a repeat changes nothing");
    let other = t.api.call("POST", &path, &[], Some(json!({"company_code": "YTO", "waybill_no": "YT999"}))).await;
    assert_eq!((other.status, other.code()), (409, "isv.already-shipped"));
    let missing = t.api.call("POST", "/trades/T404/ship", &[], Some(sf.clone())).await;
    assert_eq!((missing.status, missing.code()), (404, "isv.trade-not-exist"));
    let garbage = t.api.call("POST", &path, &[], Some(json!({"waybill": 1}))).await;
    assert_eq!((garbage.status, garbage.code()), (400, "isv.invalid-parameter"));

    t.sim.wait_delivered(Duration::from_secs(10)).await.unwrap();
    let ships = t.sim.messages(&MessageFilter { tid: Some(tid.clone()), ..Default::default() });
    assert_eq!(ships.iter().filter(|m| m.topic == "trade.TradeSellerShip").count(), 1, "pushed once");

    let wb = t.sim.writebacks(Some(SHOP));
    let outcomes: Vec<_> = wb.iter().map(|w| (w.kind, w.outcome, w.status)).collect();
    use WritebackOutcome::*;
    assert_eq!(
        outcomes,
        [
            (WritebackKind::Ship, Rejected, 409),
            (WritebackKind::Ship, Applied, 200),
            (WritebackKind::Ship, Repeat, 200),
            (WritebackKind::Ship, Rejected, 409),
            (WritebackKind::Ship, Rejected, 404),
            (WritebackKind::Ship, Rejected, 400),
        ]
    );
    assert_eq!(wb[1].payload, sf);
    assert_eq!(wb[1].target, tid);
    assert_eq!(wb.iter().filter(|w| w.outcome == Applied).count(), 1, "landed once");
}

#[tokio::test]
async fn partial_ship_by_oids() {
    let t = spawn_sim().await;
    let trade = t
        .sim
        .create_trade(NewTrade::new(SHOP, vec![NewLine::new("NUT", 1), NewLine::new("CUP-SLV", 1)]))
        .await
        .unwrap();
    t.sim.pay(&trade.tid).await.unwrap();
    let path = format!("/trades/{}/ship", trade.tid);
    let a = t
        .api
        .call(
            "POST",
            &path,
            &[],
            Some(json!({"company_code": "SF", "waybill_no": "SF1", "oids": [trade.orders[0].oid]})),
        )
        .await;
    assert_eq!(a.json["trade"]["status"], "SELLER_CONSIGNED_PART");
    let b = t.api.call("POST", &path, &[], Some(json!({"company_code": "SF", "waybill_no": "SF2"}))).await;
    assert_eq!(b.json["trade"]["status"], "WAIT_BUYER_CONFIRM_GOODS", "no oids: ship the rest");
    let bad = t
        .api
        .call("POST", &path, &[], Some(json!({"company_code": "SF", "waybill_no": "SF3", "oids": ["O-nope"]})))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn quantity_updates_are_recorded_with_repeats() {
    let t = spawn_sim().await;
    let set = |q: i64| t.api.call("PUT", "/items/TEE-RED-M/quantity", &[], Some(json!({ "quantity": q })));
    let a = set(120).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["item"]["quantity"], 120);
    assert_eq!(set(120).await.status, 200);
    assert_eq!(set(-1).await.status, 400);
    let item = t.sim.items(SHOP).await.into_iter().find(|i| i.outer_sku_id == "TEE-RED-M").unwrap();
    assert_eq!(item.quantity, 120);
    let wb: Vec<_> = t.sim.writebacks(Some(SHOP)).into_iter().map(|w| (w.kind, w.target, w.outcome)).collect();
    assert_eq!(
        wb,
        [
            (WritebackKind::Quantity, "TEE-RED-M".to_string(), WritebackOutcome::Applied),
            (WritebackKind::Quantity, "TEE-RED-M".to_string(), WritebackOutcome::Repeat),
            (WritebackKind::Quantity, "TEE-RED-M".to_string(), WritebackOutcome::Rejected),
        ]
    );
    // Also over HTTP, per shop.
    let http: serde_json::Value =
        reqwest::get(format!("{}/admin/writebacks?shop_id={SHOP}", t.sim.url())).await.unwrap().json().await.unwrap();
    assert_eq!(http.as_array().unwrap().len(), 3);
    assert_eq!(http[0]["payload"], json!({"quantity": 120}));
    let none: serde_json::Value =
        reqwest::get(format!("{}/admin/writebacks?shop_id=other", t.sim.url())).await.unwrap().json().await.unwrap();
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn api_chaos_and_outages() {
    let t = spawn_sim().await;
    let tid = t.sim.create_trade(one_line()).await.unwrap().tid;
    t.sim.pay(&tid).await.unwrap();
    let path = format!("/trades/{tid}");

    t.sim.set_api_outage(Duration::from_secs(60));
    let down = t.api.get(&path, &[]).await;
    assert_eq!((down.status, down.code()), (503, "isv.service-unavailable"));
    assert!(down.headers.contains_key("retry-after"));
    t.sim.set_api_outage(Duration::ZERO);
    assert_eq!(t.api.get(&path, &[]).await.status, 200);

    t.sim.set_chaos(ChaosConfig { api_fail_rate: 1.0, ..ChaosConfig::default() }).unwrap();
    assert_eq!(t.api.get(&path, &[]).await.status, 500);

    // The write lands, the answer is lost; the connector retries and gets a repeat.
    t.sim.set_chaos(ChaosConfig { api_fail_after_rate: 1.0, ..ChaosConfig::default() }).unwrap();
    let ship = json!({"company_code": "SF", "waybill_no": "SF42"});
    let lost = t.api.call("POST", &format!("{path}/ship"), &[], Some(ship.clone())).await;
    assert_eq!(lost.status, 500);
    t.sim.set_chaos(ChaosConfig::default()).unwrap();
    let retried = t.api.call("POST", &format!("{path}/ship"), &[], Some(ship)).await;
    assert_eq!(retried.status, 200);
    let wb = t.sim.writebacks(Some(SHOP));
    assert_eq!(
        wb.iter().map(|w| (w.outcome, w.response_lost)).collect::<Vec<_>>(),
        [(WritebackOutcome::Applied, true), (WritebackOutcome::Repeat, false)]
    );

    t.sim.set_chaos(ChaosConfig { api_slow_rate: 1.0, api_slow_ms: 150, ..ChaosConfig::default() }).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(t.api.get(&path, &[]).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let s = t.sim.stats();
    assert_eq!((s.api_unavailable, s.api_failures_injected, s.api_slow_injected), (1, 2, 1));
}
