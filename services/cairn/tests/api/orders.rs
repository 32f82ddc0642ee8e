//! The orders list as the dashboard uses it: filters, keyset paging, status counts and the
//! per-minute chart.

use crate::harness::TestApp;
use chrono::{Duration, SubsecRound, Utc};
use serde_json::{Value, json};
use testkit::bazaar::Trade;

fn tids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|o| o["external_id"].as_str().unwrap().to_owned()).collect()
}

async fn orders_filter_page_count_and_chart(app: TestApp) {
    let t = app.signup("Lists").await;
    let other = app.signup("Elsewhere").await;
    for sku in ["A", "B"] {
        app.create_sku(&t, sku, 0).await;
        app.adjust(&t, sku, 100).await;
    }
    let shops = [app.connect_bazaar(&t, "shop-1", None).await, app.connect_bazaar(&t, "shop-2", None).await];
    // Seven trades a minute apart, ending five minutes ago: T0 oldest … T6 newest.
    let base = (Utc::now() - Duration::minutes(12)).trunc_subsecs(3);
    for i in 0..7i64 {
        let ch = &shops[(i % 2) as usize];
        let sku = if i == 2 || i == 5 { "B" } else { "A" };
        let trade = Trade::new(&ch.shop_id, &format!("T{i}"), base + Duration::minutes(i), sku, 1);
        let mut msg = if i == 6 { trade.created_msg() } else { trade.paid_msg(1000) };
        msg["trade"]["buyer_nick"] = json!(if i % 2 == 1 { format!("Alice-{i}") } else { format!("bob{i}") });
        app.post_webhook(ch, &format!("m{i}"), &msg).await.expect(200);
    }
    app.settle().await;
    let get = |q: String| {
        let (app, token) = (&app, t.token.clone());
        async move { app.get(&format!("/v1/orders{q}"), &token).await }
    };

    let all = get(String::new()).await.expect(200);
    assert_eq!(tids(&all), ["T6", "T5", "T4", "T3", "T2", "T1", "T0"], "newest first");
    assert_eq!(
        (all["total"].as_u64(), all["page"].as_u64(), all["next_cursor"].clone()),
        (Some(7), Some(1), json!(null))
    );
    let one = |q: &str| get(q.to_owned());
    assert_eq!(tids(&one(&format!("?channel_id={}", shops[1].id)).await.expect(200)), ["T5", "T3", "T1"]);
    assert_eq!(tids(&one("?sku_code=B").await.expect(200)), ["T5", "T2"]);
    assert_eq!(tids(&one("?buyer=aLiCe").await.expect(200)), ["T5", "T3", "T1"], "any case");
    assert_eq!(tids(&one("?buyer=%25").await.expect(200)), Vec::<String>::new(), "`%` is literal");
    assert_eq!(tids(&one("?status=pending_payment").await.expect(200)), ["T6"]);
    assert_eq!(tids(&one("?external_id=T3").await.expect(200)), ["T3"]);
    let window = format!(
        "?created_from={}&created_to={}",
        urlencode(&(base + Duration::minutes(2)).to_rfc3339()),
        urlencode(&(base + Duration::minutes(4)).to_rfc3339())
    );
    assert_eq!(tids(&get(window).await.expect(200)), ["T3", "T2"], "from inclusive, to exclusive");
    assert_eq!(tids(&one("?sku_code=B&buyer=alice").await.expect(200)), ["T5"], "filters combine");

    // Keyset pages of three, then the rest; the same orders as the plain list, none twice.
    let p1 = one("?limit=3").await.expect(200);
    assert_eq!(
        (tids(&p1), p1["page"].clone(), p1["total"].as_u64()),
        (vec!["T6".into(), "T5".into(), "T4".into()], json!(null), Some(7))
    );
    let c1 = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2 = get(format!("?limit=3&cursor={c1}")).await.expect(200);
    assert_eq!(tids(&p2), ["T3", "T2", "T1"]);
    let p3 = get(format!("?limit=3&cursor={}", p2["next_cursor"].as_str().unwrap())).await.expect(200);
    assert_eq!((tids(&p3), p3["next_cursor"].clone()), (vec!["T0".to_owned()], json!(null)));
    let p2b = get(format!("?limit=3&cursor={c1}&sku_code=A")).await.expect(200);
    assert_eq!(tids(&p2b), ["T3", "T1", "T0"], "a cursor works with filters");
    one(&format!("?page=2&cursor={c1}")).await.assert_problem(400, "invalid_input");
    one("?cursor=not-a-cursor").await.assert_problem(400, "invalid_input");
    one("?status=lost").await.assert_problem(400, "invalid_input");
    assert_eq!(one("?page=0").await.status, 400);
    assert_eq!(one("?page=27144795537361116").await.status, 400, "a huge page is refused, not a panic");

    // Tab counts: every status, the same filters.
    let counts = app.get("/v1/orders/counts", &t.token).await.expect(200);
    assert_eq!(counts["total"], 7);
    assert_eq!(
        (counts["by_status"]["allocated"].as_i64(), counts["by_status"]["pending_payment"].as_i64()),
        (Some(6), Some(1))
    );
    assert_eq!(counts["by_status"]["shipped"], 0, "statuses with none are there as 0");
    let by_shop = app.get(&format!("/v1/orders/counts?channel_id={}", shops[0].id), &t.token).await.expect(200);
    assert_eq!((by_shop["total"].as_i64(), by_shop["by_status"]["pending_payment"].as_i64()), (Some(4), Some(1)));

    // The chart: per minute since before the first trade, quiet minutes as 0, up to now.
    let since = base - Duration::seconds(30);
    let stats =
        app.get(&format!("/v1/orders/stats?since={}", urlencode(&since.to_rfc3339())), &t.token).await.expect(200);
    assert_eq!(stats["total"], 7);
    assert_eq!(stats["by_status"]["allocated"], 6);
    let buckets = stats["buckets"].as_array().unwrap();
    assert_eq!(buckets.iter().map(|b| b["orders"].as_i64().unwrap()).sum::<i64>(), 7);
    assert!(buckets.len() >= 12 && buckets.iter().any(|b| b["orders"] == 0), "{buckets:?}");
    let later = app
        .get(
            &format!(
                "/v1/orders/stats?since={}&bucket_seconds=3600",
                urlencode(&(base + Duration::minutes(5)).to_rfc3339())
            ),
            &t.token,
        )
        .await
        .expect(200);
    assert_eq!(later["total"], 2, "T5 and T6");
    let future = urlencode(&(Utc::now() + Duration::hours(1)).to_rfc3339());
    app.get(&format!("/v1/orders/stats?since={future}"), &t.token).await.assert_problem(400, "invalid_input");
    let week = urlencode(&(Utc::now() - Duration::days(8)).to_rfc3339());
    app.get(&format!("/v1/orders/stats?since={week}&bucket_seconds=3600"), &t.token)
        .await
        .assert_problem(400, "invalid_input");
    app.get(&format!("/v1/orders/stats?since={}&bucket_seconds=10", urlencode(&since.to_rfc3339())), &t.token)
        .await
        .assert_problem(400, "malformed_request");
    assert_eq!(app.get("/v1/orders/stats", &t.token).await.status, 400, "`since` is required");

    // Another tenant sees none of it.
    assert_eq!(app.get("/v1/orders", &other.token).await.expect(200)["total"], 0);
    assert_eq!(app.get("/v1/orders/counts", &other.token).await.expect(200)["total"], 0);
    assert_eq!(
        app.get(&format!("/v1/orders/stats?since={}", urlencode(&since.to_rfc3339())), &other.token).await.expect(200)
            ["total"],
        0
    );
}
both!(orders_filter_page_count_and_chart);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
