//! PostgreSQL row-level security (migration `m0014_row_level_security`): a tenant-scoped
//! handle sees and writes only its tenant's rows even when a query forgets the tenant filter,
//! and nothing of one tenant's transaction survives on a pooled connection. PostgreSQL only
//! (SQLite has no row-level security; its isolation is the queries' filters, tested in
//! `isolation`).

use crate::harness::{TestApp, spawn_app};
use sea_orm::{ConnectionTrait, DbErr, Statement};
use testkit::Backend;
use uuid::Uuid;

async fn count<C: ConnectionTrait>(conn: &C, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .expect("one row");
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn exec<C: ConnectionTrait>(conn: &C, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64, DbErr> {
    Ok(conn.execute_raw(store::stmt_for(conn.get_database_backend(), sql, values)).await?.rows_affected())
}

/// Two tenants, each with SKUs (A two, B one) and a channel.
async fn two_tenants(app: &TestApp) -> (testkit::Tenant, testkit::Tenant) {
    let a = app.signup("Alpha").await;
    let b = app.signup("Beta").await;
    app.create_sku(&a, "A-1", 0).await;
    app.create_sku(&a, "A-2", 0).await;
    app.create_sku(&b, "B-1", 0).await;
    app.connect_bazaar(&a, "shop-rls-a", None).await;
    app.connect_bazaar(&b, "shop-rls-b", None).await;
    (a, b)
}

/// The services run as the restricted role: not a superuser, no `BYPASSRLS`, owning nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_connects_as_a_role_that_cannot_bypass_row_level_security() {
    let app = spawn_app(Backend::Distributed).await;
    let conn = app.db.schema_conn();
    let role = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "select current_user::text, r.rolsuper, r.rolbypassrls from pg_roles r where r.rolname = current_user"
                .to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let (name, superuser, bypass): (String, bool, bool) =
        (role.try_get_by_index(0).unwrap(), role.try_get_by_index(1).unwrap(), role.try_get_by_index(2).unwrap());
    assert_eq!((name.as_str(), superuser, bypass), (testkit::APP_ROLE, false, false));
    assert_eq!(count(conn, "select count(*) from pg_tables where tableowner = current_user").await, 0);
    app.shutdown().await;
}

/// Every table with a `tenant_id` column (and `tenants`) has row-level security enabled and
/// forced, with both policies; the tables without one are the known global ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_tenant_table_is_under_row_level_security() {
    let app = spawn_app(Backend::Distributed).await;
    let conn = app.db.schema_conn();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "select c.relname::text, c.relrowsecurity, c.relforcerowsecurity, \
                    exists (select 1 from information_schema.columns k where k.table_schema = n.nspname \
                            and k.table_name = c.relname and k.column_name = 'tenant_id'), \
                    (select count(*) from pg_policy p where p.polrelid = c.oid) \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relkind = 'r' and n.nspname = current_schema() order by 1"
                .to_owned(),
        ))
        .await
        .unwrap();
    let mut global = Vec::new();
    for r in &rows {
        let (table, enabled, forced, tenant_column, policies): (String, bool, bool, bool, i64) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
            r.try_get_by_index(3).unwrap(),
            r.try_get_by_index(4).unwrap(),
        );
        if tenant_column || table == "tenants" {
            assert!(
                enabled && forced && policies == 2,
                "{table}: enabled {enabled}, forced {forced}, {policies} policies"
            );
        } else {
            global.push(table);
        }
    }
    assert_eq!(global, ["consumer_cursors", "seaql_migrations"], "tables outside row-level security");
    app.shutdown().await;
}

/// With the tenant filter left out on purpose, tenant A's handle still sees only A's rows;
/// it cannot write a row of B's, nor change or delete B's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_handle_sees_and_writes_only_its_tenants_rows() {
    let app = spawn_app(Backend::Distributed).await;
    let (a, b) = two_tenants(&app).await;
    let system = app.db.system();
    assert_eq!(count(system.conn(), "select count(*) from skus").await, 3, "the system scope sees both tenants");

    let a_db = app.db.tenant(a.tenant_id);
    // No `where tenant_id = …`: the policy alone keeps B's rows out.
    assert_eq!(count(a_db.conn(), "select count(*) from skus").await, 2);
    assert_eq!(count(a_db.conn(), "select count(*) from channels").await, 1);
    assert_eq!(count(a_db.conn(), "select count(*) from users").await, 1);
    assert_eq!(count(a_db.conn(), "select count(*) from tenants").await, 1);
    assert_eq!(count(a_db.conn(), "select count(*) from outbox").await, count_of(&app, a.tenant_id, "outbox").await);
    // An entity query without a filter, as a careless repository would write it.
    use sea_orm::EntityTrait;
    let skus = inventory::db::skus::Entity::find().all(a_db.conn()).await.unwrap();
    assert!(skus.iter().all(|s| s.tenant_id == a.tenant_id) && skus.len() == 2, "{skus:?}");
    // B's SKU by its own key answers nothing.
    let b_sku: Uuid = {
        let row = system
            .conn()
            .query_one_raw(store::stmt(&app.db, "select id from skus where tenant_id = ?", vec![b.tenant_id.into()]))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    assert!(inventory::db::skus::Entity::find_by_id((b.tenant_id, b_sku)).one(a_db.conn()).await.unwrap().is_none());

    // WITH CHECK: a row of B's cannot be written through A's handle, in a single statement or
    // in a write transaction.
    let insert = "insert into skus (tenant_id, id, code, name, safety_stock, created_at) values (?, ?, ?, ?, 0, ?)";
    let row = |t: Uuid, code: &str| -> Vec<sea_orm::Value> {
        vec![t.into(), Uuid::now_v7().into(), code.into(), "x".into(), chrono::Utc::now().into()]
    };
    let refused = exec(a_db.conn(), insert, row(b.tenant_id, "SMUGGLED")).await.unwrap_err();
    assert!(refused.to_string().contains("row-level security"), "{refused}");
    let tx = a_db.write().await.unwrap();
    let refused = exec(&*tx, insert, row(b.tenant_id, "SMUGGLED-2")).await.unwrap_err();
    assert!(refused.to_string().contains("row-level security"), "{refused}");
    drop(tx);
    // Moving one of A's rows to B is refused too; B's rows are out of reach of updates and deletes.
    let moved = exec(a_db.conn(), "update skus set tenant_id = ? where code = 'A-1'", vec![b.tenant_id.into()]).await;
    assert!(moved.unwrap_err().to_string().contains("row-level security"));
    assert_eq!(exec(a_db.conn(), "update skus set name = 'taken' where code = 'B-1'", vec![]).await.unwrap(), 0);
    assert_eq!(exec(a_db.conn(), "delete from channels where shop_id = 'shop-rls-b'", vec![]).await.unwrap(), 0);
    // A's own rows can be written as always.
    assert_eq!(exec(a_db.conn(), insert, row(a.tenant_id, "A-3")).await.unwrap(), 1);

    assert_eq!(
        count(system.conn(), &format!("select count(*) from skus where tenant_id = '{}'", b.tenant_id)).await,
        1
    );
    assert_eq!(count(system.conn(), "select count(*) from skus where name = 'taken'").await, 0);
    assert_eq!(count(system.conn(), "select count(*) from channels").await, 2);
    // B still sees exactly its own, through the API too.
    assert_eq!(app.get("/v1/skus", &b.token).await.expect(200).as_array().unwrap().len(), 1);
    app.shutdown().await;
}

async fn count_of(app: &TestApp, tenant: Uuid, table: &str) -> i64 {
    app.scalar(&format!("select count(*) from {table} where tenant_id = '{tenant}'")).await
}

/// One pooled connection serves A's transaction, then B's, then statements with no tenant:
/// nothing of A's setting (committed or rolled back) is left for the next user.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pooled_connection_carries_nothing_of_the_last_tenant_into_the_next_use() {
    let app = spawn_app(Backend::Distributed).await;
    let (a, b) = two_tenants(&app).await;
    // The app's own role and database, with a pool of exactly one connection.
    let db = store::Db::connect(&app.config.database_url, 1).await.unwrap();
    let raw = db.schema_conn();
    let pid = count(raw, "select pg_backend_pid()::bigint").await;
    assert_eq!(count(raw, "select count(*) from skus").await, 0, "no tenant set: no tenant rows");

    // A's transaction, committed.
    let tx = db.tenant(a.tenant_id).write().await.unwrap();
    assert_eq!(count(&*tx, "select count(*) from skus").await, 2);
    assert_eq!(count(&*tx, "select pg_backend_pid()::bigint").await, pid, "the one pooled connection");
    tx.commit().await.unwrap();
    assert_eq!(count(raw, "select pg_backend_pid()::bigint").await, pid);
    assert_eq!(count(raw, "select count(*) from skus").await, 0, "after A's commit");
    assert_eq!(count(raw, "select count(*) from channels").await, 0);

    // B next, on the same connection: only B's.
    assert_eq!(count(db.tenant(b.tenant_id).conn(), "select count(*) from skus").await, 1);
    let tx = db.tenant(b.tenant_id).write().await.unwrap();
    assert_eq!(count(&*tx, &format!("select count(*) from skus where tenant_id = '{}'", a.tenant_id)).await, 0);
    tx.commit().await.unwrap();

    // A's transaction dropped without a commit (rolled back), then nothing again.
    let tx = db.tenant(a.tenant_id).write().await.unwrap();
    assert_eq!(count(&*tx, "select count(*) from skus").await, 2);
    drop(tx);
    assert_eq!(count(raw, "select count(*) from skus").await, 0, "after A's rollback");
    assert_eq!(count(db.tenant(b.tenant_id).conn(), "select count(*) from skus").await, 1);
    // The system scope is as transaction-local as a tenant's.
    assert_eq!(count(db.system().conn(), "select count(*) from skus").await, 3);
    assert_eq!(count(raw, "select count(*) from skus").await, 0, "after the system scope");
    assert_eq!(count(raw, "select pg_backend_pid()::bigint").await, pid, "still the one connection");
    app.shutdown().await;
}

/// Only the composition root's migrations and role checks (and `store` itself) use the pool
/// with no scope; every service picks a tenant's or the system's (`store::Db::tenant`,
/// `store::Db::system`), so each database use says whose rows it may touch.
#[test]
fn no_service_uses_the_unscoped_pool() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && p.file_name().is_some_and(|n| n != "node_modules" && n != "target") {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for top in ["services", "shared"] {
        for krate in std::fs::read_dir(root.join(top)).unwrap().flatten() {
            rust_files(&krate.path().join("src"), &mut files);
        }
    }
    assert!(files.len() > 100, "found only {} source files", files.len());
    let allowed = ["services/cairn/src/app.rs", "shared/store/src/lib.rs"];
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap_or_default().contains(".schema_conn()"))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .filter(|f| !allowed.contains(&f.as_str()))
        .collect();
    assert!(offenders.is_empty(), "unscoped database use in {offenders:?}");
}
