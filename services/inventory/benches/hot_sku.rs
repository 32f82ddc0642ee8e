//! Reservations per second for one hot SKU on PostgreSQL: Cairn's hot path (single writer per
//! partition, group commit, version-fenced levels, with a reservation row, a ledger row and an
//! outbox event per reservation) against the naive baseline (one
//! `UPDATE ... SET reserved = reserved + 1 WHERE ... AND on_hand - reserved >= 1` transaction per
//! reservation, from as many concurrent clients). Both run in the same process against the same
//! server, one after the other, and both are checked for oversell.
//!
//! Run with `cargo xtask bench` (starts PostgreSQL), or set `CAIRN_BENCH_PG_URL` to an admin
//! URL and run `cargo bench -p inventory --bench hot_sku`.

use futures_util::future::join_all;
use inventory::{
    Engine,
    domain::{Adjust, Reserve, ReserveLine, StockError},
    engine::{Command, EngineError},
};
use kernel::TenantId;
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Statement};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

const WINDOW: Duration = Duration::from_secs(10);

async fn fresh_db(admin: &str) -> String {
    let name = format!("cairn_bench_{}", uuid::Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(admin).await.expect("connect to PostgreSQL");
    conn.execute_unprepared(&format!("create database {name}")).await.unwrap();
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b).to_owned();
    format!("{base}/{name}")
}

/// Cairn's hot path: returns (successful reservations, elapsed).
async fn cairn_run(db: &store::Db, clients: usize, on_hand: i64, window: Duration) -> (u64, Duration, i64) {
    let (engine, _tasks) = Engine::start(db.clone(), 8, false, kernel::SystemClock::shared());
    let tenant = TenantId(uuid::Uuid::now_v7());
    engine.call(tenant, Command::CreateSku { code: "HOT".into(), name: "Hot".into(), safety_stock: 0 }).await.unwrap();
    engine
        .call(
            tenant,
            Command::Adjust {
                adjust: Adjust { sku_code: "HOT".into(), warehouse_code: None, delta: on_hand, reason: "bench".into() },
                idempotency: None,
            },
        )
        .await
        .unwrap();
    let ok = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks = (0..clients).map(|_| {
        let (engine, ok, next) = (engine.clone(), ok.clone(), next.clone());
        tokio::spawn(async move {
            while started.elapsed() < window {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let cmd = Reserve {
                    key: format!("api:bench-{n}"),
                    request_hash: "h".into(),
                    reference: format!("bench {n}"),
                    lines: vec![ReserveLine { sku_code: "HOT".into(), quantity: 1 }],
                    ttl_seconds: 3600,
                };
                match engine.call(tenant, Command::Reserve(cmd)).await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(EngineError::Stock(StockError::Insufficient(_))) => break,
                    Err(e) => panic!("reservation failed: {e}"),
                }
            }
        })
    });
    join_all(tasks).await;
    let elapsed = started.elapsed();
    let reserved = scalar(
        db,
        &format!("select coalesce(sum(reserved), 0)::bigint from stock_levels where tenant_id = '{}'", tenant.0),
    )
    .await;
    let rows = scalar(db, &format!("select count(*) from reservations where tenant_id = '{}'", tenant.0)).await;
    assert_eq!(rows as u64, ok.load(Ordering::Relaxed), "one stored reservation per success");
    assert_eq!(reserved as u64, ok.load(Ordering::Relaxed), "stored reserved units match successes");
    assert!(reserved <= on_hand, "oversold: {reserved} > {on_hand}");
    (ok.load(Ordering::Relaxed), elapsed, reserved)
}

/// The naive baseline: one UPDATE transaction per reservation, CLIENTS connections.
async fn naive_run(url: &str, clients: usize, on_hand: i64, window: Duration) -> (u64, Duration, i64) {
    let db = store::Db::connect(url, clients as u32 + 2).await.unwrap();
    let id: i64 = (uuid::Uuid::now_v7().as_u128() % 1_000_000_000) as i64;
    db.schema_conn().execute_unprepared("create table if not exists naive_stock (id bigint primary key, on_hand bigint not null, reserved bigint not null)").await.unwrap();
    db.schema_conn().execute_unprepared(&format!("insert into naive_stock values ({id}, {on_hand}, 0)")).await.unwrap();
    let ok = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks = (0..clients).map(|_| {
        let (db, ok) = (db.clone(), ok.clone());
        tokio::spawn(async move {
            let sql =
                format!("update naive_stock set reserved = reserved + 1 where id = {id} and on_hand - reserved >= 1");
            while started.elapsed() < window {
                let r = db.schema_conn().execute_raw(Statement::from_string(db.backend(), sql.clone())).await.unwrap();
                if r.rows_affected() == 0 {
                    break;
                }
                ok.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    join_all(tasks).await;
    let elapsed = started.elapsed();
    let reserved = scalar(&db, &format!("select reserved from naive_stock where id = {id}")).await;
    assert_eq!(reserved as u64, ok.load(Ordering::Relaxed));
    assert!(reserved <= on_hand, "oversold: {reserved} > {on_hand}");
    (ok.load(Ordering::Relaxed), elapsed, reserved)
}

async fn scalar(db: &store::Db, sql: &str) -> i64 {
    let row =
        db.schema_conn().query_one_raw(Statement::from_string(db.backend(), sql.to_owned())).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{} cores, {cpu}", std::thread::available_parallelism().map_or(0, |n| n.get()))
}

#[tokio::main]
async fn main() {
    let Ok(admin) = std::env::var("CAIRN_BENCH_PG_URL") else {
        eprintln!("CAIRN_BENCH_PG_URL is not set; run `cargo xtask bench`");
        std::process::exit(2);
    };
    let levels: Vec<usize> = std::env::var("CAIRN_BENCH_CLIENTS")
        .ok()
        .map_or_else(|| vec![64, 256], |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let url = fresh_db(&admin).await;
    let db = store::Db::connect(&url, 16).await.unwrap();
    migration::Migrator::up(db.schema_conn(), None).await.unwrap();
    let version: String = {
        let row = db
            .schema_conn()
            .query_one_raw(Statement::from_string(db.backend(), "show server_version".to_owned()))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    println!(
        "hot-SKU reservations on PostgreSQL {version} (fsync on) — {} — {}s window per run",
        machine(),
        WINDOW.as_secs()
    );

    // Oversell check: clients race for 500 units; exactly 500 must be reserved by each path.
    let racers = levels[0];
    let (c_ok, _, _) = cairn_run(&db, racers, 500, Duration::from_secs(60)).await;
    let (n_ok, _, _) = naive_run(&url, racers, 500, Duration::from_secs(60)).await;
    println!(
        "oversell check (500 units, {racers} clients racing to exhaustion): cairn reserved {c_ok}, naive reserved {n_ok} — {}",
        if c_ok == 500 && n_ok == 500 { "zero oversell in both" } else { "MISMATCH" }
    );
    assert_eq!((c_ok, n_ok), (500, 500));

    // Throughput: plenty of stock, fixed window, the same number of clients for both paths.
    println!();
    println!(
        "| clients | naive: one UPDATE transaction per reservation (res/s) | cairn: single writer + group commit, with reservation + ledger + outbox rows (res/s) | ratio |"
    );
    println!("|---:|---:|---:|---:|");
    for clients in levels {
        let (n, n_t, _) = naive_run(&url, clients, 1_000_000_000, WINDOW).await;
        let (c, c_t, _) = cairn_run(&db, clients, 1_000_000_000, WINDOW).await;
        let naive_rate = n as f64 / n_t.as_secs_f64();
        let cairn_rate = c as f64 / c_t.as_secs_f64();
        println!(
            "| {clients} | {naive_rate:.0} ({n} in {:.1}s) | {cairn_rate:.0} ({c} in {:.1}s) | {:.1}x |",
            n_t.as_secs_f64(),
            c_t.as_secs_f64(),
            cairn_rate / naive_rate
        );
    }
    println!();
    println!("target: cairn >= 20x naive");
}
