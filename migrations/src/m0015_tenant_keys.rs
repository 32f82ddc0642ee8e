//! Every key starts with `tenant_id` on PostgreSQL, so each table can be distributed by tenant
//! (e.g. with Citus, which needs the distribution column in every primary key and unique
//! constraint). The bus's per-message tables (`outbox`, `inbox`, `parked_messages`) were keyed
//! by message alone and `channels.id` was unique on its own; they now lead with the tenant.
//! Nothing is lost: a message and a channel belong to one tenant, and their ids are UUID v7,
//! unique by construction. `channels` keeps a plain index on `id` for webhooks, which name the
//! channel and not the tenant. `services/cairn/tests/api/sharding.rs` reads the catalog and
//! keeps it so; the tables it lists as global say why.
//!
//! PostgreSQL only: SQLite (`cairn up`) is one file and never distributed, and it cannot
//! change a table's primary key in place.

use sea_orm_migration::prelude::*;

const UP: &[&str] = &[
    "alter table outbox drop constraint outbox_pkey",
    "alter table outbox add primary key (tenant_id, seq)",
    "alter table outbox drop constraint outbox_id_key",
    "alter table outbox add constraint outbox_id_key unique (tenant_id, id)",
    "alter table inbox drop constraint inbox_pkey",
    "alter table inbox add primary key (tenant_id, consumer, message_id)",
    "alter table parked_messages drop constraint parked_messages_pkey",
    "alter table parked_messages add primary key (tenant_id, consumer, message_id)",
    "alter table channels drop constraint channels_id_key",
    "create index channels_id on channels (id)",
];

const DOWN: &[&str] = &[
    "drop index channels_id",
    "alter table channels add constraint channels_id_key unique (id)",
    "alter table parked_messages drop constraint parked_messages_pkey",
    "alter table parked_messages add primary key (consumer, message_id)",
    "alter table inbox drop constraint inbox_pkey",
    "alter table inbox add primary key (consumer, message_id)",
    "alter table outbox drop constraint outbox_id_key",
    "alter table outbox add constraint outbox_id_key unique (id)",
    "alter table outbox drop constraint outbox_pkey",
    "alter table outbox add primary key (seq)",
];

/// The migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_tenant_keys"
    }
}

async fn run(manager: &SchemaManager<'_>, sql: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    for stmt in sql {
        manager.get_connection().execute_unprepared(stmt).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, DOWN).await
    }
}
