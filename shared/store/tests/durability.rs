//! Which transactions reach the disk before their commit returns (SQLite).

use sea_orm::ConnectionTrait;

async fn synchronous(tx: &store::WriteTx) -> i64 {
    let row = tx
        .query_one_raw(sea_orm::Statement::from_string(tx.get_database_backend(), "pragma synchronous"))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn derived_commits_skip_the_fsync_and_every_other_commit_is_full() {
    let dir = std::env::temp_dir().join(format!("cairn-store-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = store::Db::connect(&format!("sqlite://{}/t.db?mode=rwc", dir.display()), 2).await.unwrap();
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;

    let tx = db.system().write().await.unwrap();
    assert_eq!(synchronous(&tx).await, FULL, "a plain write is durable at commit");
    tx.commit().await.unwrap();

    let tx = db.system().write_derived("consumer").await.unwrap();
    assert_eq!(synchronous(&tx).await, NORMAL, "a derived write commits without fsync");
    tx.commit().await.unwrap();

    let tx = db.system().write_derived("consumer").await.unwrap();
    assert_eq!(synchronous(&tx).await, NORMAL);
    drop(tx); // rolled back

    // The next durable transaction after derived ones is FULL again, whichever way it starts.
    let tx = db.system().write_named("webhook ingest").await.unwrap();
    assert_eq!(synchronous(&tx).await, FULL);
    tx.commit().await.unwrap();

    // A switch to NORMAL cut short (the future dropped before it ran) leaves the next durable
    // transaction FULL.
    drop(db.system().write_derived("consumer"));
    let tx = db.system().write().await.unwrap();
    assert_eq!(synchronous(&tx).await, FULL);
    tx.commit().await.unwrap();

    drop(db);
    std::fs::remove_dir_all(&dir).ok();
}
