//! The schema, as sea-orm migrations. Every tenant-owned table's primary key starts with
//! `tenant_id`, so the schema can be distributed by tenant (Citus) without change.
//!
//! The DDL is written once with a few type placeholders, so SQLite (`cairn up`) and
//! PostgreSQL get the same tables: `{uuid}`, `{ts}` (UTC timestamp), `{bytes}` (a binary
//! value), `{serial}` (an auto-incrementing bigint primary key).

pub use sea_orm_migration::prelude::*;

/// Declares this module's `Migration`: `name`, then the DDL `up` applies and `down` reverts,
/// both through [`run_ddl`].
macro_rules! ddl_migration {
    ($name:literal, $up:expr, $down:expr) => {
        /// The migration.
        pub struct Migration;

        impl sea_orm_migration::prelude::MigrationName for Migration {
            fn name(&self) -> &str {
                $name
            }
        }

        #[async_trait::async_trait]
        impl sea_orm_migration::prelude::MigrationTrait for Migration {
            async fn up(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run_ddl(manager, $up).await
            }

            async fn down(
                &self,
                manager: &sea_orm_migration::prelude::SchemaManager,
            ) -> Result<(), sea_orm_migration::prelude::DbErr> {
                crate::run_ddl(manager, $down).await
            }
        }
    };
}

mod m0001_init;
mod m0002_invoicing;
mod m0003_channel_sync;
mod m0004_shipments;
mod m0005_inventory_settings;
mod m0006_order_lists;
mod m0007_product_mapping;
mod m0008_allocation;
mod m0009_holds;
mod m0010_shipping;
mod m0011_apps;
mod m0012_api_audit;
mod m0013_subscriptions;
pub mod m0014_row_level_security;
mod m0015_tenant_keys;

/// Applies Cairn's migrations in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_init::Migration),
            Box::new(m0002_invoicing::Migration),
            Box::new(m0003_channel_sync::Migration),
            Box::new(m0004_shipments::Migration),
            Box::new(m0005_inventory_settings::Migration),
            Box::new(m0006_order_lists::Migration),
            Box::new(m0007_product_mapping::Migration),
            Box::new(m0008_allocation::Migration),
            Box::new(m0009_holds::Migration),
            Box::new(m0010_shipping::Migration),
            Box::new(m0011_apps::Migration),
            Box::new(m0012_api_audit::Migration),
            Box::new(m0013_subscriptions::Migration),
            Box::new(m0014_row_level_security::Migration),
            Box::new(m0015_tenant_keys::Migration),
        ]
    }
}

/// Runs `ddl` (statements separated by `;`) with the placeholders filled in for the backend.
pub(crate) async fn run_ddl(manager: &SchemaManager<'_>, ddl: &str) -> Result<(), DbErr> {
    let pg = manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let sql = ddl
        .replace("{uuid}", if pg { "uuid" } else { "blob" })
        .replace("{ts}", if pg { "timestamptz" } else { "text" })
        .replace("{bytes}", if pg { "bytea" } else { "blob" })
        .replace("{serial}", if pg { "bigserial primary key" } else { "integer primary key autoincrement" });
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        manager.get_connection().execute_unprepared(stmt).await?;
    }
    Ok(())
}
