//! inventory: per-tenant settings (the low-stock threshold the dashboard warns at).

const UP: &str = r#"
create table inventory_settings (
    tenant_id {uuid} not null primary key,
    low_stock_threshold bigint not null,
    updated_at {ts} not null
)
"#;

ddl_migration!("m0005_inventory_settings", UP, "drop table inventory_settings");
