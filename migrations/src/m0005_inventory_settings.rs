//! inventory: per-tenant settings (the low-stock threshold the dashboard warns at).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_inventory_settings"
    }
}

const UP: &str = r#"
create table inventory_settings (
    tenant_id {uuid} not null primary key,
    low_stock_threshold bigint not null,
    updated_at {ts} not null
)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::run_ddl(manager, "drop table inventory_settings").await
    }
}
