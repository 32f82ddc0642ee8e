//! Product mapping (商品对应): channels keeps each shop's marketplace items and variants and
//! the SKU each maps to; orders keeps, per line, the marketplace's item and variant and how
//! the line found its SKU (`mapped`, `merchant_code`, `unmapped`; `order_lines.sku_code` is
//! `''` while it found none).

// `variant_id` is `''` for an item without variants: a key column cannot be null.
const UP: &str = r#"
create table channel_items (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    item_id text not null,
    variant_id text not null,
    title text not null,
    properties text,
    merchant_code text,
    source text not null,
    seen_at {ts} not null,
    primary key (tenant_id, channel_id, item_id, variant_id)
);
create table channel_item_mappings (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    item_id text not null,
    variant_id text not null,
    sku_code text not null,
    updated_at {ts} not null,
    primary key (tenant_id, channel_id, item_id, variant_id)
);
create index channel_item_mappings_sku on channel_item_mappings (tenant_id, channel_id, sku_code);
alter table order_lines add column item_id text;
alter table order_lines add column variant_id text;
alter table order_lines add column properties text;
alter table order_lines add column mapping text not null default 'merchant_code'
"#;

const DOWN: &str = "alter table order_lines drop column mapping; alter table order_lines drop column properties; \
    alter table order_lines drop column variant_id; alter table order_lines drop column item_id; \
    drop table channel_item_mappings; drop table channel_items";

ddl_migration!("m0007_product_mapping", UP, DOWN);
