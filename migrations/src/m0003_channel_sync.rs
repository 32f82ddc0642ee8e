//! channels: marketplace API credentials, reconciliation checkpoints and reports, write-backs.

const UP: &str = r#"
alter table channels add column api_base_url text;
alter table channels add column app_key text;
alter table channels add column app_secret text;
alter table channels add column access_token text;
alter table channels add column stock_percent integer not null default 100;
alter table channels add column stock_max bigint;
alter table channels add column stock_min bigint not null default 0;
alter table channels add column stock_reserve bigint not null default 0;
create table channel_trades (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    external_id text not null,
    modified_us bigint not null,
    source text not null,
    snapshot text not null,
    first_seen_at {ts} not null,
    updated_at {ts} not null,
    primary key (tenant_id, channel_id, external_id)
);
create table channel_sync (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    checkpoint {ts},
    next_pull_at {ts} not null,
    lease_until {ts},
    last_run_at {ts},
    last_window_start {ts},
    last_window_end {ts},
    last_pulled bigint not null default 0,
    last_found bigint not null default 0,
    last_error text,
    runs bigint not null default 0,
    pulled bigint not null default 0,
    found bigint not null default 0,
    primary key (tenant_id, channel_id)
);
create table channel_pull_finds (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    external_id text not null,
    modified_us bigint not null,
    status text not null,
    found_at {ts} not null,
    primary key (tenant_id, channel_id, external_id, modified_us)
);
create table channel_stock_levels (
    tenant_id {uuid} not null,
    sku_code text not null,
    available bigint not null,
    version bigint not null,
    primary key (tenant_id, sku_code)
);
create table stock_pushes (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    sku_code text not null,
    desired bigint not null,
    pushed bigint,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at {ts} not null,
    last_error text,
    pushed_at {ts},
    updated_at {ts} not null,
    primary key (tenant_id, channel_id, sku_code)
);
create index stock_pushes_due on stock_pushes (next_attempt_at);
create table shipment_writebacks (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    external_id text not null,
    waybill_no text not null,
    order_id {uuid} not null,
    company_code text not null,
    line_ids text,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at {ts} not null,
    last_error text,
    created_at {ts} not null,
    done_at {ts},
    primary key (tenant_id, channel_id, external_id, waybill_no)
);
create index shipment_writebacks_due on shipment_writebacks (state, next_attempt_at)
"#;

const DOWN: &str = "drop table shipment_writebacks; drop table stock_pushes; drop table channel_stock_levels; \
    drop table channel_pull_finds; drop table channel_sync; drop table channel_trades";

ddl_migration!("m0003_channel_sync", UP, DOWN);
