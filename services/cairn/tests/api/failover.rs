//! Inventory ownership on RabbitMQ: every tenant shard of the inventory consumer's queue has
//! exactly one active consumer across the instances (single-active-consumer), so one engine at
//! a time decides a tenant's reservations; when that instance dies, the broker hands its
//! shards, with the messages it had not acknowledged, to a standby instance.
//!
//! Real processes: a front (`cairn serve` with every service but inventory) and two
//! `cairn serve inventory`, on one PostgreSQL database and one RabbitMQ namespace; the killed
//! one is started again mid-drain and rejoins as the standby while the others go on.

use crate::{
    crash::free_port,
    deployment::{Deployment, Serve, count_reaches, ready},
};
use futures_util::{StreamExt, stream};
use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use testkit::{Api, Backend, LEDGER_MISMATCHES, bazaar::Trade};

/// Per inventory shard queue of `prefix`: the pids of its consumers, the active one first.
fn inventory_consumers(prefix: &str) -> Vec<(String, Vec<(u32, bool)>)> {
    let ctl = std::env::var("CAIRN_TEST_RABBITMQCTL").expect("CAIRN_TEST_RABBITMQCTL is set by `cargo xtask test`");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{ctl} -q list_consumers --no-table-headers queue_name consumer_tag active"))
        .output()
        .expect("rabbitmqctl");
    assert!(out.status.success(), "rabbitmqctl: {}", String::from_utf8_lossy(&out.stderr));
    let mut queues: std::collections::BTreeMap<String, Vec<(u32, bool)>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 3 && f[0].starts_with(&format!("{prefix}inventory.s")) {
            let pid = f[1].rsplit(':').next().and_then(|p| p.parse().ok()).expect("tag ends with the pid");
            queues.entry(f[0].to_owned()).or_default().push((pid, f[2] == "true"));
        }
    }
    queues
        .into_iter()
        .map(|(q, mut c)| {
            c.sort_by_key(|(_, active)| !active);
            (q, c)
        })
        .collect()
}

/// Waits until every inventory shard queue has exactly `want` consumers, `owner` the one active.
async fn wait_for_owner(prefix: &str, owner: u32, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = inventory_consumers(prefix);
        let ok = q.len() == crate::harness::TEST_SHARDS as usize
            && q.iter().all(|(_, c)| c.len() == want && c[0] == (owner, true) && c[1..].iter().all(|(_, a)| !a));
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "expected {owner} to own every shard with {want} consumers: {q:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two `cairn serve inventory`, once the broker shows them so: the first registers first on
/// every shard, so it is the active consumer of all of them (the owner), the second a standby.
async fn owner_and_standby(d: &Deployment, client: &reqwest::Client) -> (Serve, Serve) {
    let owner = d.serve(&["inventory"], free_port());
    ready(client, &owner).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let standby = d.serve(&["inventory"], free_port());
    ready(client, &standby).await;
    // On every shard both are consumers, the owner the active one.
    wait_for_owner(&d.prefix, owner.child.id(), 2).await;
    (owner, standby)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_inventory_takes_over_when_the_owner_is_killed_mid_burst() {
    const ORDERS: usize = 900;
    const STOCK: i64 = 300;
    let d = Deployment::new().await;
    let client = reqwest::Client::new();
    let front = d.serve_front(cairn::Service::Inventory);
    ready(&client, &front).await;
    let (owner, standby) = owner_and_standby(&d, &client).await;
    let db = store::Db::connect(&d.pg.owner_url, 4).await.unwrap();
    let api = Api::new(Backend::Distributed, front.url.clone(), db.clone(), Vec::new());
    let inv_owner = Api::new(Backend::Distributed, owner.url.clone(), db.clone(), Vec::new());
    let inv_standby = Api::new(Backend::Distributed, standby.url.clone(), db.clone(), Vec::new());
    let t = api.signup("Failover").await;
    inv_owner.create_sku(&t, "HOT", 0).await;
    inv_owner.adjust(&t, "HOT", STOCK).await;
    let ch = api.connect_bazaar(&t, "shop-failover", None).await;

    let decided = "select count(*) from orders where status in ('allocated', 'backordered')";
    let reservations = "select count(*) from reservations";
    let start = chrono::Utc::now();
    let acked = Arc::new(AtomicUsize::new(0));
    let burst = Instant::now();
    let sender = {
        let (api, ch, acked) = (api.clone(), ch.clone(), acked.clone());
        tokio::spawn(async move {
            stream::iter(0..ORDERS)
                .for_each_concurrent(16, |i| {
                    let (api, ch, acked) = (api.clone(), ch.clone(), acked.clone());
                    async move {
                        let tid = format!("H{i:05}");
                        let msg = Trade::new("shop-failover", &tid, start, "HOT", 1).paid_msg(i as i64);
                        api.post_webhook(&ch, &format!("m-{tid}"), &msg).await.expect(200);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .await
        })
    };
    // Mid-burst: once the owner has decided some reservations, kill -9 it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while api.scalar(reservations).await < (ORDERS / 5) as i64 {
        assert!(Instant::now() < deadline, "the owner reserved nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut owner = owner;
    let killed = Instant::now();
    let before_kill = burst.elapsed();
    owner.kill();
    let at_kill = api.scalar(reservations).await;
    let standby_pid = standby.child.id();
    // The standby's first reservation: the takeover.
    let takeover = loop {
        if api.scalar(reservations).await > at_kill {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "no instance took the shards over");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    wait_for_owner(&d.prefix, standby_pid, 1).await;
    // The killed instance comes back while the burst drains: it joins as the standby.
    let back = d.serve(&["inventory"], free_port());
    ready(&client, &back).await;
    wait_for_owner(&d.prefix, standby_pid, 2).await;
    sender.await.unwrap();
    count_reaches(&api, decided, ORDERS as i64, Duration::from_secs(120), "orders decided").await;
    let all_decided = killed.elapsed();
    println!(
        "failover: owner killed {before_kill:?} into the burst with {at_kill} of {ORDERS} reservations made ({} \
         webhooks acknowledged); the standby made its first {takeover:?} after the kill; all {ORDERS} orders \
         decided {all_decided:?} after it",
        acked.load(Ordering::SeqCst)
    );
    // 0 lost, 0 oversold, each order once.
    assert_eq!(api.scalar("select count(*) from orders").await, ORDERS as i64);
    assert_eq!(api.scalar("select count(*) from orders where status = 'allocated'").await, STOCK);
    assert_eq!(api.scalar("select count(*) from orders where status = 'backordered'").await, ORDERS as i64 - STOCK);
    assert_eq!(api.scalar("select count(*) - count(distinct order_id) from reservations").await, 0);
    let s = inv_standby.stock(&t, "HOT").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(STOCK), Some(STOCK)), "{s}");
    assert_eq!(api.scalar(LEDGER_MISMATCHES).await, 0);
    assert!(takeover < Duration::from_secs(10), "takeover took {takeover:?}");
}

/// How a reservation request sent to the front ended, after its retries.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// 201 with this reservation id.
    Reserved(String),
    /// 409 `insufficient_stock`.
    Refused,
}

/// `cairn_reservations_total{source="api"}` of the process at `url` (0 when it decided none).
async fn api_decisions(client: &reqwest::Client, url: &str) -> f64 {
    let text = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let samples = telemetry::metrics::parse(&text).expect("Prometheus text");
    telemetry::metrics::sum(&samples, telemetry::metrics::RESERVATIONS, &[("source", "api")])
}

/// The inventory API's commands are decided by the owner of the tenant's shard, whichever
/// process the HTTP request reaches: here a front that runs no inventory at all (no engine, no
/// consumer). Mid-burst the owner is killed with `kill -9`; requests that failed meanwhile (503)
/// are retried with the same Idempotency-Key, and the standby decides them, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_reservations_sent_to_a_front_are_decided_by_the_shard_owner_across_its_kill() {
    const REQUESTS: usize = 600;
    const STOCK: i64 = 300;
    let d = Deployment::new().await;
    let client = reqwest::Client::new();
    // A command timeout shorter than the takeover, so that commands in flight at the kill time
    // out (503) and are retried: the retries, and commands taken up just before their deadline,
    // must still be decided once.
    let front = d.serve_front_with(cairn::Service::Inventory, &[("CAIRN_INVENTORY_COMMAND_TIMEOUT_MS", "300")]);
    ready(&client, &front).await;
    // Exactly two consumers per shard, the owner active: the front consumes nothing.
    let (owner, standby) = owner_and_standby(&d, &client).await;
    let db = store::Db::connect(&d.pg.owner_url, 4).await.unwrap();
    let api = Api::new(Backend::Distributed, front.url.clone(), db.clone(), Vec::new());
    let t = api.signup("Front").await;
    // Even these go through the front to the owner.
    api.create_sku(&t, "HOT", 0).await;
    api.adjust(&t, "HOT", STOCK).await;

    let retries = Arc::new(AtomicUsize::new(0));
    let killed_at: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    // The first answer to a request first sent after the kill: only the standby can give it.
    let first_after_kill: Arc<std::sync::Mutex<Option<Duration>>> = Arc::default();
    let burst = {
        let (api, t, retries, killed_at, first_after_kill) =
            (api.clone(), t.clone(), retries.clone(), killed_at.clone(), first_after_kill.clone());
        tokio::spawn(async move {
            stream::iter(0..REQUESTS)
                .map(|i| {
                    let (api, t, retries, killed_at, first_after_kill) =
                        (api.clone(), t.clone(), retries.clone(), killed_at.clone(), first_after_kill.clone());
                    async move {
                        let key = format!("hot-{i:04}");
                        let body = serde_json::json!({"reference": key, "lines": [{"sku_code": "HOT", "quantity": 1}]});
                        let sent_after_kill = killed_at.get().is_some();
                        let deadline = Instant::now() + Duration::from_secs(120);
                        let outcome = loop {
                            let r = api
                                .call(
                                    reqwest::Method::POST,
                                    "/v1/reservations",
                                    Some(&t.token),
                                    Some(&body),
                                    &[("Idempotency-Key", &key)],
                                )
                                .await;
                            match r.status.as_u16() {
                                201 => break Outcome::Reserved(r.body["id"].as_str().unwrap().to_owned()),
                                409 => {
                                    r.assert_problem(409, "insufficient_stock");
                                    break Outcome::Refused;
                                }
                                _ => {
                                    r.assert_problem(503, "unavailable");
                                    retries.fetch_add(1, Ordering::SeqCst);
                                    assert!(Instant::now() < deadline, "{key} never answered");
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        };
                        if sent_after_kill && let Some(k) = killed_at.get() {
                            let mut first = first_after_kill.lock().unwrap();
                            let took = k.elapsed();
                            if first.is_none_or(|f| took < f) {
                                *first = Some(took);
                            }
                        }
                        (key, outcome)
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<_>>()
                .await
        })
    };
    // Mid-burst: once the owner has decided some, kill -9 it.
    let reservations = "select count(*) from reservations";
    let deadline = Instant::now() + Duration::from_secs(120);
    while api.scalar(reservations).await < (STOCK / 5) {
        assert!(Instant::now() < deadline, "the owner reserved nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (owner_decided, standby_decided) =
        (api_decisions(&client, &owner.url).await as u64, api_decisions(&client, &standby.url).await as u64);
    let mut owner = owner;
    owner.child.kill().expect("SIGKILL");
    let killed = Instant::now();
    killed_at.set(killed).unwrap();
    let _ = owner.child.wait();
    let at_kill = api.scalar(reservations).await;
    let takeover = loop {
        if api.scalar(reservations).await > at_kill {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "no instance took the shards over");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    wait_for_owner(&d.prefix, standby.child.id(), 1).await;
    let outcomes = burst.await.unwrap();
    let first_answer = *first_after_kill.lock().unwrap();
    let after = api_decisions(&client, &standby.url).await as u64;
    println!(
        "front → owner: before the kill the owner had decided {owner_decided} API reservations and the standby \
         {standby_decided}; owner killed with {at_kill} reserved; the standby's first reservation {takeover:?} after \
         the kill, its first answer to a request sent after the kill {first_answer:?}; {} retries (503) in all; the \
         standby decided {after} (replays included)",
        retries.load(Ordering::SeqCst)
    );
    // The owner decided, not the front (which has no engine) nor the standby.
    assert!(owner_decided > 0, "the owner decided none");
    assert_eq!(standby_decided, 0, "the standby decided while the owner was alive");
    assert_eq!(api_decisions(&client, &front.url).await as u64, 0, "the front decided a reservation");
    assert!(after > 0, "the standby decided nothing after the kill");
    // Every request answered; 0 oversold; each reservation decided once.
    assert_eq!(outcomes.len(), REQUESTS);
    let reserved: std::collections::BTreeSet<&String> =
        outcomes.iter().filter_map(|(_, o)| if let Outcome::Reserved(id) = o { Some(id) } else { None }).collect();
    let refused = outcomes.iter().filter(|(_, o)| *o == Outcome::Refused).count();
    assert_eq!((reserved.len() as i64, refused as i64), (STOCK, REQUESTS as i64 - STOCK));
    assert_eq!(api.scalar(reservations).await, STOCK);
    assert_eq!(api.scalar("select count(*) from stock_ledger where kind = 'reserve'").await, STOCK);
    let s = api.stock(&t, "HOT").await;
    assert_eq!((s["on_hand"].as_i64(), s["reserved"].as_i64()), (Some(STOCK), Some(STOCK)), "{s}");
    assert_eq!(api.scalar(LEDGER_MISMATCHES).await, 0);
    // A replay of any key answers its first result.
    let (key, first) = outcomes.iter().find(|(_, o)| matches!(o, Outcome::Reserved(_))).unwrap();
    let body = serde_json::json!({"reference": key, "lines": [{"sku_code": "HOT", "quantity": 1}]});
    let again = api
        .call(reqwest::Method::POST, "/v1/reservations", Some(&t.token), Some(&body), &[("Idempotency-Key", key)])
        .await
        .expect(201);
    assert_eq!(Outcome::Reserved(again["id"].as_str().unwrap().to_owned()), *first);
    assert!(takeover < Duration::from_secs(10), "takeover took {takeover:?}");
}
