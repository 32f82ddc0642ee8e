//! Webhook push throughput against a trivial local receiver (answers 200 at once).
//!
//! `cargo run --release -p bazaar-sim --example push_throughput -- [orders] [concurrency] [shops]`
//!
//! Creates and pays `orders` trades as fast as possible (2 messages each), waits until every
//! message is delivered, and prints the creation rate, the delivery rate and the latencies.

use bazaar_sim::{BurstConfig, NewShop, SimConfig, spawn};
use poem::http::StatusCode;
use poem::{Route, handler, post};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static RECEIVED: AtomicU64 = AtomicU64::new(0);

#[handler]
async fn receive(_body: Vec<u8>) -> StatusCode {
    RECEIVED.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let orders = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(128);
    let shops = args.get(2).copied().unwrap_or(4);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(Route::new().at("/hook", post(receive))));

    let sim = spawn(SimConfig { webhook_concurrency: concurrency, ..SimConfig::ephemeral() }).await?;
    let mut shop_ids = Vec::new();
    for i in 0..shops {
        let shop = NewShop {
            shop_id: Some(format!("shop-{i}")),
            webhook_url: Some(url.clone()),
            webhook_secret: Some("whsec_bench".into()),
            ..NewShop::default()
        };
        shop_ids.push(sim.create_shop(shop).await?.shop_id);
    }

    let started = Instant::now();
    let report =
        sim.burst(BurstConfig { shops: shop_ids, orders, hot_sku_share: 0.5, ..BurstConfig::default() }).await?;
    sim.wait_delivered(Duration::from_secs(600)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = sim.stats();
    println!("orders {orders}, shops {shops}, webhook concurrency {concurrency}");
    println!(
        "created+paid {} trades in {:.2} s ({:.0} trades/s)",
        report.created,
        report.elapsed_ms / 1000.0,
        report.trades_per_sec
    );
    println!(
        "delivered {} messages in {elapsed:.2} s: {:.0} messages/s (receiver counted {})",
        stats.messages_delivered,
        stats.messages_delivered as f64 / elapsed,
        RECEIVED.load(Ordering::Relaxed)
    );
    println!(
        "push latency p50 {:.2} ms, p99 {:.2} ms; creation→delivery p50 {:.1} ms, p99 {:.1} ms; failed attempts {}",
        stats.push_latency_ms.p50,
        stats.push_latency_ms.p99,
        stats.delivery_lag_ms.p50,
        stats.delivery_lag_ms.p99,
        stats.failed_attempts
    );
    sim.shutdown().await
}
