//! One tenant's flood of webhooks does not hold up another tenant's few orders.
//!
//! On the embedded default, ingestion (one writer) is the narrow part and the consumers keep
//! up. On RabbitMQ each consumer's queue is split by tenant into shards read side by side
//! through one fair semaphore (see `bus::rabbit`): a quiet tenant's messages wait in their own
//! shard, not behind the flood's backlog. Before the shards (one FIFO queue per consumer) the
//! quiet tenant's first orders took 22–59 s on the 2-core test machine while 1,500 flood
//! webhooks arrived. Tenants that hash to the same shard still share its FIFO, so the
//! distributed run picks a quiet tenant in another shard than the flood's and says so.

use crate::harness::TestApp;
use futures_util::{StreamExt, stream};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use testkit::bazaar::Trade;

/// The bound this test holds Cairn to: a quiet tenant's order is visible this soon after its
/// webhook was acknowledged, however large another tenant's flood.
const BOUND: Duration = Duration::from_secs(3);

async fn one_tenants_flood_does_not_hold_up_anothers_orders(app: TestApp) {
    const FLOOD: usize = 1_500;
    const QUIET: usize = 5;
    let flood = app.signup("Flood").await;
    let mut quiet = app.signup("Quiet").await;
    if let bus::Transport::Rabbit { shards, .. } = app.config.transport {
        use bus::rabbit::shard_of;
        while shard_of(quiet.tenant_id, shards) == shard_of(flood.tenant_id, shards) {
            quiet = app.signup("Quiet").await;
        }
        println!(
            "fairness: the flood's tenant is in shard {} of {shards}, the quiet tenant in shard {}",
            shard_of(flood.tenant_id, shards),
            shard_of(quiet.tenant_id, shards)
        );
    }
    for t in [&flood, &quiet] {
        app.create_sku(t, "BOX", 0).await;
        app.adjust(t, "BOX", 5_000).await;
    }
    let cha = app.connect_bazaar(&flood, "shop-flood", None).await;
    let chb = app.connect_bazaar(&quiet, "shop-quiet", None).await;
    let start = chrono::Utc::now();
    let acked = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (api, cha, acked) = (app.api.clone(), cha.clone(), acked.clone());
        tokio::spawn(async move {
            stream::iter(0..FLOOD)
                .for_each_concurrent(24, |i| {
                    let (api, cha, acked) = (api.clone(), cha.clone(), acked.clone());
                    async move {
                        let tid = format!("F{i:06}");
                        let msg = Trade::new("shop-flood", &tid, start, "BOX", 1).paid_msg(i as i64);
                        let r = api.post_webhook(&cha, &format!("m-{tid}"), &msg).await;
                        assert_eq!(r.status, 200, "{:?}", r.body);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < FLOOD / 3 {
        assert!(Instant::now() < deadline, "the flood is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The quiet tenant's orders, in the middle of the flood.
    let mut latencies = Vec::new();
    let mut flood_behind = Vec::new();
    for i in 0..QUIET {
        let tid = format!("Q{i:03}");
        let msg = Trade::new("shop-quiet", &tid, start, "BOX", 1).paid_msg(i as i64);
        let r = app.post_webhook(&chb, &format!("m-{tid}"), &msg).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let acked_at = Instant::now();
        let acked_flood = acked.load(Ordering::SeqCst) as i64;
        loop {
            if app.order_by_tid(&quiet, &tid).await.is_some() {
                break;
            }
            assert!(acked_at.elapsed() < Duration::from_secs(60), "{tid} never became visible");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.push(acked_at.elapsed());
        let visible_flood = app.scalar("select count(*) from orders where external_id like 'F%'").await;
        flood_behind.push(acked_flood - visible_flood);
    }
    sender.await.unwrap();
    let drain_start = Instant::now();
    while app.scalar("select count(*) from orders where external_id like 'F%'").await < FLOOD as i64 {
        assert!(drain_start.elapsed() < Duration::from_secs(120), "the flood never drained");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = drain_start.elapsed();
    let worst = latencies.iter().max().copied().unwrap();
    println!(
        "fairness ({:?}): quiet tenant's orders visible {:?} after their webhooks (worst {worst:?}); \
         flood orders acknowledged but not yet visible at those moments: {flood_behind:?}; the flood \
         drained {drain:?} after its last webhook",
        app.backend, latencies
    );
    assert!(worst < BOUND, "a quiet tenant's order took {worst:?} (> {BOUND:?}) behind another's flood");
    app.shutdown().await;
}
mod one_tenants_flood_does_not_hold_up_anothers_orders {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded() {
        super::one_tenants_flood_does_not_hold_up_anothers_orders(
            crate::harness::spawn_app(testkit::Backend::Embedded).await,
        )
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn distributed() {
        super::one_tenants_flood_does_not_hold_up_anothers_orders(
            crate::harness::spawn_app(testkit::Backend::Distributed).await,
        )
        .await
    }
}
