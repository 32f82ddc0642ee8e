//! Every table belongs to exactly one service (its `host::Descriptor` lists it) or to the
//! shared floor (the bus, the idempotency store, the migrator): services talk through events
//! and APIs, never through each other's tables.

use crate::harness::spawn_app;
use sea_orm::ConnectionTrait;

/// Tables of `shared/`: the bus's outbox, inbox, cursors and parking, the idempotency keys of
/// `store`, and sea-orm's migration log.
const SHARED: &[&str] =
    &["outbox", "inbox", "consumer_cursors", "parked_messages", "idempotency_keys", "seaql_migrations"];

#[tokio::test]
async fn every_table_has_exactly_one_owner() {
    let app = spawn_app(testkit::Backend::Embedded).await;
    let rows = app
        .db
        .schema_conn()
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.backend(),
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'",
        ))
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
    assert!(tables.len() > 20, "{tables:?}");
    for t in &tables {
        let owners: Vec<&str> = cairn::Service::ALL
            .iter()
            .map(|s| s.descriptor())
            .filter(|d| d.tables.contains(&t.as_str()))
            .map(|d| d.name)
            .collect();
        let shared = SHARED.contains(&t.as_str());
        assert!(
            owners.len() + usize::from(shared) == 1,
            "table {t}: owned by {owners:?}{}",
            if shared { " and shared" } else { "" }
        );
    }
    for s in cairn::Service::ALL {
        for t in s.descriptor().tables {
            assert!(tables.iter().any(|x| x == t), "{s:?} lists {t}, which no migration creates");
        }
    }
}
