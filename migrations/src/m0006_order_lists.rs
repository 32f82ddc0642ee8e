//! orders: indexes for the dashboard's lists — newest first per tenant and per status, by the
//! trade's creation time with the id as tie-breaker (the keyset cursor), and orders by SKU.

// `orders_status` ordered by `created_at`, which no query sorts by; its replacement serves
// the status tabs in list order.
const UP: &str = r#"
drop index orders_status;
create index orders_status_created on orders (tenant_id, status, trade_created, id);
create index orders_created on orders (tenant_id, trade_created, id);
create index order_lines_sku on order_lines (tenant_id, sku_code)
"#;

const DOWN: &str = "drop index order_lines_sku; drop index orders_created; drop index orders_status_created; \
    create index orders_status on orders (tenant_id, status, created_at)";

ddl_migration!("m0006_order_lists", UP, DOWN);
