//! PostgreSQL row-level security (ARCHITECTURE.md, "Tenancy and auth"): every tenant table
//! admits only the rows of the tenant its transaction set in `app.tenant_id`, for reads
//! (`USING`) and writes (`WITH CHECK`), and `FORCE` makes that hold for the table's owner too.
//! `store::Db::tenant` sets the tenant at the start of each transaction
//! (`set_config('app.tenant_id', …, true)`, transaction-local); `store::Db::system` sets the
//! marker `*`, which the second policy admits (why a marker: see `store::Db::system`). With
//! nothing set — a pooled connection between transactions — no tenant row is visible.
//!
//! The services connect as a role that owns none of these tables and has no `BYPASSRLS` (nor
//! superuser, which bypasses every policy); `cairn migrate` runs this as the owner and then
//! grants that role what it needs (`cairn::app::grant_app_role`).
//!
//! PostgreSQL only: SQLite has no row-level security, and there the explicit `tenant_id`
//! filters in every query do the work alone.
//!
//! Tables left out, and why:
//! - `consumer_cursors`: the embedded bus's read position per consumer, across all tenants
//!   (bus bookkeeping; it holds no tenant data).
//! - `seaql_migrations`: the migrator's own bookkeeping (the app role is not granted it).
//!
//! `tenants` has no `tenant_id` column: its `id` is the tenant, and the same policies apply to it.

use sea_orm_migration::prelude::*;

/// Every table with a `tenant_id` column, and `tenants` by its `id`. A test
/// (`services/cairn/tests/api/rls.rs`) checks that no table with a `tenant_id` column is missing.
pub const TENANT_TABLES: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("users", "tenant_id"),
    ("user_invites", "tenant_id"),
    ("apps", "tenant_id"),
    ("app_grants", "tenant_id"),
    ("oauth_codes", "tenant_id"),
    ("oauth_refresh_tokens", "tenant_id"),
    ("api_audit_log", "tenant_id"),
    ("idempotency_keys", "tenant_id"),
    ("outbox", "tenant_id"),
    ("inbox", "tenant_id"),
    ("parked_messages", "tenant_id"),
    ("channels", "tenant_id"),
    ("webhook_messages", "tenant_id"),
    ("channel_trades", "tenant_id"),
    ("channel_sync", "tenant_id"),
    ("channel_pull_finds", "tenant_id"),
    ("channel_stock_levels", "tenant_id"),
    ("stock_pushes", "tenant_id"),
    ("shipment_writebacks", "tenant_id"),
    ("channel_items", "tenant_id"),
    ("channel_item_mappings", "tenant_id"),
    ("orders", "tenant_id"),
    ("order_lines", "tenant_id"),
    ("order_timeline", "tenant_id"),
    ("order_shipments", "tenant_id"),
    ("order_audit_rules", "tenant_id"),
    ("warehouses", "tenant_id"),
    ("skus", "tenant_id"),
    ("stock_levels", "tenant_id"),
    ("reservations", "tenant_id"),
    ("stock_ledger", "tenant_id"),
    ("inventory_settings", "tenant_id"),
    ("inventory_allocation", "tenant_id"),
    ("invoice_settings", "tenant_id"),
    ("invoice_tax_categories", "tenant_id"),
    ("invoice_series", "tenant_id"),
    ("invoice_orders", "tenant_id"),
    ("invoices", "tenant_id"),
    ("invoice_credited_lines", "tenant_id"),
    ("shipping_settings", "tenant_id"),
    ("shipping_accounts", "tenant_id"),
    ("shipments", "tenant_id"),
    ("shipment_orders", "tenant_id"),
    ("shipment_waybills", "tenant_id"),
    ("shipment_history", "tenant_id"),
    ("shipping_tracking", "tenant_id"),
    ("label_batches", "tenant_id"),
    ("shipping_returns", "tenant_id"),
    ("event_subscriptions", "tenant_id"),
    ("event_deliveries", "tenant_id"),
    ("event_delivery_attempts", "tenant_id"),
];

/// The tenant the transaction set, or NULL when it set none or the system marker. A plain SQL
/// function, so the planner inlines it into each policy.
const FUNCTIONS: &str = r#"
create function cairn_tenant() returns uuid language sql stable parallel safe as
$$ select nullif(nullif(current_setting('app.tenant_id', true), ''), '*')::uuid $$;
create function cairn_system() returns boolean language sql stable parallel safe as
$$ select coalesce(current_setting('app.tenant_id', true) = '*', false) $$
"#;

fn up_sql() -> Vec<String> {
    let mut v: Vec<String> = FUNCTIONS.split(";\n").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    for (table, col) in TENANT_TABLES {
        v.push(format!("alter table {table} enable row level security"));
        v.push(format!("alter table {table} force row level security"));
        v.push(format!(
            "create policy tenant_rows on {table} using ({col} = cairn_tenant()) with check ({col} = cairn_tenant())"
        ));
        v.push(format!("create policy system_rows on {table} using (cairn_system()) with check (cairn_system())"));
    }
    v
}

fn down_sql() -> Vec<String> {
    let mut v = Vec::new();
    for (table, _) in TENANT_TABLES {
        v.push(format!("drop policy system_rows on {table}"));
        v.push(format!("drop policy tenant_rows on {table}"));
        v.push(format!("alter table {table} no force row level security"));
        v.push(format!("alter table {table} disable row level security"));
    }
    v.push("drop function cairn_system()".into());
    v.push("drop function cairn_tenant()".into());
    v
}

/// The migration.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_row_level_security"
    }
}

async fn run(manager: &SchemaManager<'_>, sql: Vec<String>) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    for stmt in sql {
        manager.get_connection().execute_unprepared(&stmt).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, up_sql()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, down_sql()).await
    }
}
