//! Ready for sharding by tenant (PostgreSQL): every primary key and unique constraint (or
//! unique index) starts with `tenant_id`, and every foreign key carries it, so each table can
//! be distributed by tenant (Citus needs the distribution column in all of them). Migration
//! `m0015_tenant_keys` made the last ones so. The tables that are global say why.

use crate::harness::spawn_app;
use sea_orm::{ConnectionTrait, Statement};
use testkit::Backend;

/// Tables that are not distributed by tenant, and why.
const GLOBAL: &[(&str, &str)] = &[
    ("tenants", "the tenants themselves: `id` is the tenant (distributed by it, or a reference table)"),
    ("seaql_migrations", "the migrator's bookkeeping, one row per migration"),
    ("consumer_cursors", "the embedded bus's read position per consumer across all tenants (SQLite only in use)"),
    (
        "users",
        "sign-in finds a user by email before any tenant is known, so an email is unique across Cairn \
         (`users_email_key`); distributing users needs a global email → tenant lookup table first",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_key_starts_with_the_tenant_but_for_the_global_tables() {
    let app = spawn_app(Backend::Distributed).await;
    let conn = app.db.schema_conn();
    let rows = |sql: &str| conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()));
    // Primary keys, unique constraints, foreign keys, and unique indexes that back no
    // constraint: (table, kind, name, columns in key order).
    let keys = rows(
        "select c.relname::text, con.contype::text, con.conname::text, \
           (select string_agg(a.attname::text, ',' order by k.ord) \
              from unnest(con.conkey) with ordinality k(attnum, ord) \
              join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum) \
         from pg_constraint con join pg_class c on c.oid = con.conrelid \
         join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' and con.contype in ('p', 'u', 'f') \
         union all \
         select t.relname::text, 'i', i.relname::text, \
           (select string_agg(a.attname::text, ',' order by k.ord) \
              from unnest(ix.indkey::int2[]) with ordinality k(attnum, ord) \
              join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum) \
         from pg_index ix join pg_class i on i.oid = ix.indexrelid join pg_class t on t.oid = ix.indrelid \
         join pg_namespace n on n.oid = t.relnamespace \
         where n.nspname = 'public' and ix.indisunique \
           and not exists (select 1 from pg_constraint c where c.conindid = ix.indexrelid) \
         order by 1, 2, 3",
    )
    .await
    .unwrap();
    assert!(keys.len() > 40, "the catalog query found {} keys", keys.len());
    let mut wrong = Vec::new();
    let mut tables = std::collections::BTreeSet::new();
    for r in &keys {
        let (table, kind, name, cols): (String, String, String, Option<String>) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
            r.try_get_by_index(3).unwrap(),
        );
        // An expression index has no plain columns: it cannot lead with the tenant.
        let cols = cols.unwrap_or_default();
        tables.insert(table.clone());
        if GLOBAL.iter().any(|(t, _)| *t == table) {
            continue;
        }
        let ok = match kind.as_str() {
            "f" => cols.split(',').any(|c| c == "tenant_id"),
            _ => cols.split(',').next() == Some("tenant_id"),
        };
        if !ok {
            wrong.push(format!("{table}: {kind} {name} ({cols})"));
        }
    }
    assert!(wrong.is_empty(), "keys that do not lead with (or, for foreign keys, carry) tenant_id: {wrong:#?}");
    // Every global table exists (a stale entry would hide nothing, but would mislead).
    for (t, _) in GLOBAL {
        assert!(tables.contains(*t), "{t} is listed as global but has no keys");
    }
    // Every tenant table is in the catalog's answer at all (it has a primary key).
    let without_pk = rows(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' and c.relkind = 'r' \
           and not exists (select 1 from pg_constraint p where p.conrelid = c.oid and p.contype = 'p')",
    )
    .await
    .unwrap();
    let without_pk: Vec<String> = without_pk.iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
    assert!(without_pk.is_empty(), "tables without a primary key: {without_pk:?}");
    app.shutdown().await;
}
