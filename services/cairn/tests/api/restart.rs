//! One service's processes killed and started again while the others go on: every `cairn serve
//! orders` process is killed with SIGKILL in the middle of a webhook burst. The front (every
//! other service) keeps acknowledging webhooks and answering its API while orders is down; what
//! it acknowledged waits in RabbitMQ, and the orders processes, started again a few seconds
//! later, drain it: each acknowledged trade becomes one order and each order is decided.
//!
//! It kills only processes of its own, on its own database and RabbitMQ namespace, so it runs
//! beside the other tests, unlike crash.rs's restarts of the shared RabbitMQ and PostgreSQL,
//! which `cargo xtask test` runs alone (select it with `restart::`: `restart` also matches those).

use crate::{
    crash::free_port,
    deployment::{Deployment, Serve, count_reaches, ready},
};
use futures_util::{StreamExt, stream};
use serde_json::json;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use testkit::{Api, Backend, LEDGER_MISMATCHES, bazaar::Trade};

/// Trades per tenant; every other one buys the tenant's hot SKU, the rest a plentiful one.
const TRADES: usize = 150;
/// The two tenants: shop and stock of the hot SKU (sold out by the burst).
const SHOPS: [(&str, i64); 2] = [("shop-restart-a", 40), ("shop-restart-b", 25)];
const PLENTY: i64 = 1000;
const ORDERS_PROCESSES: usize = 2;

/// The orders processes, each on a fresh port.
async fn start_orders(d: &Deployment, client: &reqwest::Client) -> Vec<Serve> {
    let procs: Vec<Serve> = (0..ORDERS_PROCESSES).map(|_| d.serve(&["orders"], free_port())).collect();
    for p in &procs {
        ready(client, p).await;
    }
    procs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_killed_and_restarted_mid_burst_loses_nothing_while_the_front_goes_on() {
    let total = (TRADES * SHOPS.len()) as i64;
    let d = Deployment::new().await;
    let client = reqwest::Client::new();
    let front = d.serve_front(cairn::Service::Orders);
    ready(&client, &front).await;
    let mut orders = start_orders(&d, &client).await;
    let db = store::Db::connect(&d.pg.owner_url, 4).await.unwrap();
    let api = Api::new(Backend::Distributed, front.url.clone(), db.clone(), cairn::app::bindings());
    let mut tenants = Vec::new();
    let mut trades = Vec::new();
    let start = chrono::Utc::now();
    for (n, (shop, hot)) in SHOPS.into_iter().enumerate() {
        let t = api.signup(&format!("Restart {n}")).await;
        api.create_sku(&t, "HOT", 0).await;
        api.adjust(&t, "HOT", hot).await;
        api.create_sku(&t, "MUG", 0).await;
        api.adjust(&t, "MUG", PLENTY).await;
        let ch = api.connect_bazaar(&t, shop, None).await;
        for i in 0..TRADES {
            let tid = format!("{shop}-{i:04}");
            let sku = if i % 2 == 0 { "HOT" } else { "MUG" };
            trades.push((i, ch.clone(), tid.clone(), Trade::new(shop, &tid, start, sku, 1).paid_msg(i as i64)));
        }
        tenants.push((t, hot));
    }
    // The tenants' trades interleaved, in order of time.
    trades.sort_by_key(|(i, ..)| *i);

    // The burst: four senders, each pausing a little between webhooks (about 40 a second at
    // most), so that it goes on through the outage. The front must acknowledge every one.
    let acks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let sender = {
        let (api, acks) = (api.clone(), acks.clone());
        tokio::spawn(async move {
            stream::iter(trades)
                .for_each_concurrent(4, |(_, ch, tid, msg)| {
                    let (api, acks) = (api.clone(), acks.clone());
                    async move {
                        let r = api.post_webhook(&ch, &format!("m-{tid}"), &msg).await;
                        assert!(r.status.is_success(), "webhook {tid} refused: {} {:?}", r.status, r.body);
                        acks.lock().unwrap().push(Instant::now());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })
                .await
        })
    };
    let orders_made = "select count(*) from orders";
    // Mid-burst, once orders are being made: kill -9 every orders process.
    count_reaches(&api, orders_made, total / 10, Duration::from_secs(120), "orders made before the kill").await;
    let killed = Instant::now();
    for p in &mut orders {
        p.kill();
    }
    let at_kill = api.scalar(orders_made).await;
    // Orders is down a few seconds; the other services go on.
    let t = &tenants[0].0;
    let skus = api.get("/v1/skus", &t.token).await.expect(200);
    assert!(skus.as_array().is_some_and(|s| s.len() >= 2), "{skus}");
    api.create_sku(t, "SPARE", 0).await;
    api.adjust(t, "SPARE", 5).await;
    assert_eq!(api.stock(t, "SPARE").await["on_hand"], 5);
    api.get("/v1/orders", &t.token).await.assert_problem(404, "not_found");
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(killed.elapsed())).await;
    assert_eq!(api.scalar(orders_made).await, at_kill, "no order is made while orders is down");
    let restarted = Instant::now();
    let orders = start_orders(&d, &client).await;
    let back = Instant::now();
    let outage = back - killed;
    let (acked_in_outage, backlog) = {
        let acks = acks.lock().unwrap();
        (acks.iter().filter(|at| (killed..back).contains(*at)).count(), acks.len() as i64)
    };
    assert!(acked_in_outage > 0, "the burst went on through the outage");
    // What queued up while orders was down becomes orders, while the burst goes on.
    count_reaches(&api, orders_made, backlog, Duration::from_secs(120), "orders of the backlog").await;
    let drained = restarted.elapsed();
    sender.await.unwrap();
    let burst_ended = restarted.elapsed();
    assert_eq!(acks.lock().unwrap().len() as i64, total, "every webhook acknowledged");
    count_reaches(&api, orders_made, total, Duration::from_secs(120), "orders made").await;
    let visible = restarted.elapsed();
    let decided = "select count(*) from orders where status in ('allocated', 'backordered')";
    count_reaches(&api, decided, total, Duration::from_secs(120), "orders decided").await;
    let all_decided = restarted.elapsed();
    api.settle().await;
    println!(
        "restart: {ORDERS_PROCESSES} orders processes killed with {at_kill} of {total} orders made; down \
         {outage:?} (until both were ready again), {acked_in_outage} webhooks acknowledged meanwhile; from the \
         restart: the {backlog} trades acknowledged by then were orders in {drained:?}, the burst ended at \
         {burst_ended:?}, every order made at {visible:?}, every order decided at {all_decided:?}"
    );

    // Every acknowledged webhook is exactly one order, every order decided, none oversold.
    assert_eq!(api.scalar("select count(distinct (channel_id, external_id)) from orders").await, total);
    assert_eq!(api.scalar("select count(*) - count(distinct order_id) from reservations").await, 0);
    let on_orders = Api::new(Backend::Distributed, orders[1].url.clone(), db.clone(), Vec::new());
    let mut allocated = 0;
    for (t, hot) in &tenants {
        let count = |status: &str| {
            let path = format!("/v1/orders?per_page=1{status}");
            let on_orders = &on_orders;
            async move { on_orders.get(&path, &t.token).await.expect(200)["total"].as_i64() }
        };
        let half = TRADES as i64 / 2;
        assert_eq!(count("").await, Some(TRADES as i64));
        assert_eq!(count("&status=allocated").await, Some(half + hot));
        assert_eq!(count("&status=backordered").await, Some(half - hot));
        let s = api.stock(t, "HOT").await;
        assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(*hot), Some(*hot)), "{s}");
        assert_eq!(api.stock(t, "MUG").await["reserved"], json!(half));
        allocated += half + hot;
    }
    assert_eq!(api.scalar("select count(*) from stock_ledger where kind = 'reserve'").await, allocated);
    assert_eq!(api.scalar("select count(*) from stock_levels where reserved > on_hand").await, 0, "oversold");
    assert_eq!(api.scalar(LEDGER_MISMATCHES).await, 0);
    assert_eq!(api.scalar("select count(*) from parked_messages").await, 0, "nothing parked");
    drop((front, orders));
}
