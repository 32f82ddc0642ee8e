//! `CAIRN_SQL_TRACE`: the SQLite writer's statements, replayable.

use sea_orm::{ConnectionTrait, Statement, Value};

fn stmt(db: &store::Db, sql: &str, values: Vec<Value>) -> Statement {
    store::stmt(db, sql, values)
}

/// Every row of `t`, each column with its storage class, so that a value written back as a
/// different type (a UUID as text instead of a blob, say) shows.
async fn rows<C: ConnectionTrait>(conn: &C) -> Vec<String> {
    let sql = "select id, typeof(u) || ':' || hex(u), typeof(s) || ':' || s, typeof(j) || ':' || j, typeof(at) || ':' || at, \
               typeof(n) || ':' || n, typeof(f) || ':' || f, typeof(b) || ':' || b, typeof(missing) from t order by id";
    let rows = conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql)).await.unwrap();
    rows.iter()
        .map(|r| {
            (0..9)
                .map(|i| {
                    r.try_get_by_index::<Option<String>>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| r.try_get_by_index::<i64>(i).map(|v| v.to_string()).unwrap_or_default())
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

#[tokio::test]
async fn the_trace_replays_into_the_same_rows_and_leaves_out_what_rolled_back() {
    let dir = std::env::temp_dir().join(format!("cairn-store-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("writer.sql");
    let db =
        store::Db::connect_traced(&format!("sqlite://{}/t.db?mode=rwc", dir.display()), 2, Some(&trace)).await.unwrap();
    let schema = "create table t (id integer primary key, u blob, s text, j text, at text, n integer, f real, b integer, missing text)";
    db.schema_conn().execute_unprepared(schema).await.unwrap();

    let insert = "insert into t (id, u, s, j, at, n, f, b, missing) values (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let at = sea_orm::prelude::ChronoDateTimeUtc::from_timestamp_micros(1_796_172_377_487_123).unwrap();
    let row = |id: i64, s: &str| -> Vec<Value> {
        vec![
            id.into(),
            uuid::Uuid::from_u128(0x01a2_3437_6dc4_7212_b3d7_4ff1_96b9_3108 + id as u128).into(),
            s.into(),
            serde_json::json!({"buyer": "小确幸", "memo": "it's ?"}).into(),
            at.into(),
            (-42i64 * id).into(),
            0.25f64.into(),
            (id % 2 == 0).into(),
            Option::<String>::None.into(),
        ]
    };
    let tx = db.system().write().await.unwrap();
    tx.execute_raw(stmt(&db, insert, row(1, "O'Brien; a ? in text"))).await.unwrap();
    // A literal with a question mark in the SQL itself is not a placeholder.
    tx.execute_raw(stmt(&db, "insert into t (id, s, n) values (?, 'why?', ?)", vec![2i64.into(), 7i64.into()]))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let tx = db.system().write_derived("consumer").await.unwrap();
    tx.execute_raw(stmt(&db, insert, row(3, "rolled back"))).await.unwrap();
    drop(tx);

    let tx = db.system().write_derived("consumer").await.unwrap();
    tx.execute_raw(stmt(&db, insert, row(4, "北京市朝阳区\nline two"))).await.unwrap();
    tx.execute_raw(stmt(&db, "update t set n = n + ? where id = ?", vec![100i64.into(), 4i64.into()])).await.unwrap();
    tx.commit().await.unwrap();
    let written = rows(db.schema_conn()).await;
    assert_eq!(written.len(), 3, "{written:#?}");

    let text = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(text.matches("BEGIN IMMEDIATE;").count(), 3, "{text}");
    assert_eq!(text.matches("ROLLBACK;").count(), 1, "{text}");
    assert!(text.contains("pragma synchronous = normal;"), "derived transactions say so: {text}");

    // Replayed into a fresh database with the same schema: the same rows, of the same types.
    let replay = store::Db::connect(&format!("sqlite://{}/replay.db?mode=rwc", dir.display()), 1).await.unwrap();
    replay.schema_conn().execute_unprepared(schema).await.unwrap();
    replay.schema_conn().execute_unprepared(&text).await.unwrap();
    assert_eq!(rows(replay.schema_conn()).await, written);

    drop((db, replay));
    std::fs::remove_dir_all(&dir).ok();
}
