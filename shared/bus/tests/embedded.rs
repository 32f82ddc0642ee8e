//! The embedded bus's group commit against a real SQLite file: every message applied exactly
//! once whether a chunk moves the cursor (no inbox rows) or fails and goes one by one.

use kernel::{Envelope, Event, TenantId};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

#[derive(Debug, Serialize, Deserialize)]
struct Ping {
    n: usize,
}

impl Event for Ping {
    const TYPE: &'static str = "test.ping";
    fn partition_key(&self) -> String {
        self.n.to_string()
    }
}

/// Records each message it applies in `effects`; the batch holding `poison` fails
/// `poison_failures` times (the message alone succeeds).
struct Recorder {
    db: store::Db,
    poison: usize,
    poison_failures: AtomicUsize,
}

#[async_trait::async_trait]
impl bus::TxHandler for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[Ping::TYPE]
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    async fn apply_batch(&self, tx: &sea_orm::DatabaseTransaction, envs: &[Envelope]) -> anyhow::Result<()> {
        let claimed = bus::inbox::claim_many(tx, "recorder", envs).await?;
        for env in envs.iter().filter(|e| claimed.contains(&e.id)) {
            let n = env.decode::<Ping>()?.n;
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "insert into effects (n) values (?)",
                [(n as i64).into()],
            ))
            .await?;
        }
        if envs.len() > 1
            && envs.iter().any(|e| e.decode::<Ping>().is_ok_and(|p| p.n == self.poison))
            && self.poison_failures.load(Ordering::SeqCst) > 0
        {
            self.poison_failures.fetch_sub(1, Ordering::SeqCst);
            anyhow::bail!("poisoned batch");
        }
        Ok(())
    }
}

async fn count(db: &store::Db, sql: &str) -> i64 {
    let row = db.system().conn().query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn chunks_that_move_the_cursor_write_no_inbox_rows_and_a_failed_chunk_still_applies_once() {
    let dir = std::env::temp_dir().join(format!("cairn-bus-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = store::Db::connect(&format!("sqlite://{}?mode=rwc", dir.join("t.db").display()), 4).await.unwrap();
    migration::Migrator::up(db.schema_conn(), None).await.unwrap();
    db.schema_conn().execute_unprepared("create table effects (n integer not null)").await.unwrap();
    // 600 messages: chunks of 256, 256 and 88; the second holds message 300.
    let tenant = TenantId(uuid::Uuid::now_v7());
    let now = chrono::Utc::now();
    let envs: Vec<Envelope> = (0..600).map(|n| Envelope::new(tenant, &Ping { n }, now, None)).collect();
    let tx = db.system().write().await.unwrap();
    bus::outbox::enqueue(&*tx, &envs).await.unwrap();
    tx.commit().await.unwrap();

    // A step reads 512 rows: chunks 0..256 and 256..512, then 512..600 in the next step.
    // The batch with message 100 fails once, so its chunk goes one by one and the chunk
    // after it is applied without moving the cursor: both claim their messages in the inbox.
    let handler: bus::SharedHandler =
        Arc::new(Recorder { db: db.clone(), poison: 100, poison_failures: AtomicUsize::new(1) });
    let mut end = 0;
    while let Some(p) = bus::embedded::step(&db, &handler, end).await.unwrap() {
        end = p;
    }
    assert_eq!(count(&db, "select count(*) from effects").await, 600);
    assert_eq!(count(&db, "select count(distinct n) from effects").await, 600);
    assert_eq!(count(&db, "select count(*) from inbox where consumer = 'recorder'").await, 512);
    assert_eq!(count(&db, "select position from consumer_cursors where consumer = 'recorder'").await, end);
    // The claimed messages read again (as after a crash before the cursor moved) apply nothing.
    assert!(bus::embedded::step(&db, &handler, 0).await.unwrap().is_some());
    assert_eq!(count(&db, "select count(*) from effects").await, 600);
    // (That step moved the stored cursor back to its own end; put it where it was.)
    bus::embedded::save_cursor(db.system().conn(), "recorder", end).await.unwrap();

    // Without failures every chunk moves the cursor: no inbox rows at all.
    let more: Vec<Envelope> = (600..1200).map(|n| Envelope::new(tenant, &Ping { n }, now, None)).collect();
    let tx = db.system().write().await.unwrap();
    bus::outbox::enqueue(&*tx, &more).await.unwrap();
    tx.commit().await.unwrap();
    let mut pos = end;
    while let Some(p) = bus::embedded::step(&db, &handler, pos).await.unwrap() {
        pos = p;
    }
    assert_eq!(count(&db, "select count(*) from effects").await, 1200);
    assert_eq!(count(&db, "select count(*) from inbox where consumer = 'recorder'").await, 512);
    let _ = std::fs::remove_dir_all(&dir);
}
