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
    deployment::{Deployment, count_reaches, ready},
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_inventory_takes_over_when_the_owner_is_killed_mid_burst() {
    const ORDERS: usize = 900;
    const STOCK: i64 = 300;
    let d = Deployment::new().await;
    let client = reqwest::Client::new();
    let front = d.serve_front(cairn::Service::Inventory);
    ready(&client, &front).await;
    // The first inventory instance registers first on every shard: it is the active consumer
    // of all of them, the second a standby.
    let owner = d.serve(&["inventory"], free_port());
    ready(&client, &owner).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let standby = d.serve(&["inventory"], free_port());
    ready(&client, &standby).await;
    // The broker says so: on every shard both are consumers, the owner the active one.
    wait_for_owner(&d.prefix, owner.child.id(), 2).await;
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
