//! shipping: carrier accounts and rules, shipments (with the orders and lines they carry, as
//! JSON, and an index of orders → shipments), the waybills drawn and their cancellation queue,
//! the shipment history, tracking messages, label batches and returns. orders: what the
//! carrier says of each shipment recorded on an order (delivered, returned).
//!
//! Every primary key starts with `tenant_id`. `shipping_accounts.id` is also indexed alone:
//! the tracking webhook URL names the account, not the tenant.

const UP: &str = r#"
create table shipping_settings (
    tenant_id {uuid} not null primary key,
    merge_wait_seconds bigint not null,
    unit_weight_grams bigint not null,
    rules text not null,
    updated_at {ts} not null
);
create table shipping_accounts (
    tenant_id {uuid} not null,
    id {uuid} not null,
    cp_code text not null,
    branch_code text not null,
    branch_name text not null,
    api_url text not null,
    app_key text not null,
    app_secret text not null,
    access_token text not null,
    tracking_secret text not null,
    sender text not null,
    quantity bigint,
    allocated bigint not null default 0,
    cancelled bigint not null default 0,
    printed bigint not null default 0,
    balance_at {ts},
    created_at {ts} not null,
    primary key (tenant_id, id)
);
create unique index shipping_accounts_branch on shipping_accounts (tenant_id, cp_code, branch_code);
create index shipping_accounts_id on shipping_accounts (id);
create table shipments (
    tenant_id {uuid} not null,
    id {uuid} not null,
    warehouse_code text not null,
    merge_key text not null,
    status text not null,
    orders text not null,
    lines text not null,
    receiver text not null,
    opened_at {ts} not null,
    account_id {uuid},
    waybill_code text,
    waybill text,
    parcels integer not null,
    weight_grams bigint not null,
    problem text,
    print_count integer not null,
    tracking_status text,
    tracking_at {ts},
    shipped_at {ts},
    delivered_at {ts},
    created_at {ts} not null,
    updated_at {ts} not null,
    primary key (tenant_id, id)
);
create index shipments_status on shipments (tenant_id, status, created_at);
create index shipments_merge on shipments (tenant_id, merge_key, status);
create index shipments_waybill on shipments (tenant_id, waybill_code);
create table shipment_orders (
    tenant_id {uuid} not null,
    order_id {uuid} not null,
    shipment_id {uuid} not null,
    primary key (tenant_id, order_id, shipment_id)
);
create table shipment_waybills (
    tenant_id {uuid} not null,
    code text not null,
    shipment_id {uuid} not null,
    account_id {uuid} not null,
    cp_code text not null,
    parcels integer not null,
    state text not null,
    detail text,
    attempts integer not null default 0,
    next_attempt_at {ts},
    drawn_at {ts} not null,
    cancelled_at {ts},
    primary key (tenant_id, code)
);
create index shipment_waybills_todo on shipment_waybills (state, next_attempt_at);
create index shipment_waybills_shipment on shipment_waybills (tenant_id, shipment_id);
create table shipment_history (
    tenant_id {uuid} not null,
    shipment_id {uuid} not null,
    id {uuid} not null,
    at {ts} not null,
    detail text not null,
    primary key (tenant_id, shipment_id, id)
);
create table shipping_tracking (
    tenant_id {uuid} not null,
    account_id {uuid} not null,
    message_id text not null,
    waybill_code text not null,
    status text not null,
    event_time {ts} not null,
    location text not null,
    detail text not null,
    received_at {ts} not null,
    primary key (tenant_id, account_id, message_id)
);
create index shipping_tracking_waybill on shipping_tracking (tenant_id, waybill_code, event_time);
create table label_batches (
    tenant_id {uuid} not null,
    id {uuid} not null,
    status text not null,
    sort text not null,
    size text not null,
    shipment_ids text not null,
    total integer not null,
    done integer not null,
    pages integer not null,
    error text,
    pdf {bytes},
    created_at {ts} not null,
    finished_at {ts},
    primary key (tenant_id, id)
);
create index label_batches_todo on label_batches (status, created_at);
create table shipping_returns (
    tenant_id {uuid} not null,
    id {uuid} not null,
    return_key text not null,
    order_id {uuid} not null,
    external_id text not null,
    shipment_id {uuid},
    warehouse_code text not null,
    expected text not null,
    received text,
    status text not null,
    created_at {ts} not null,
    received_at {ts},
    primary key (tenant_id, id)
);
create unique index shipping_returns_key on shipping_returns (tenant_id, return_key);
alter table order_shipments add column tracking_status text;
alter table order_shipments add column delivered_at {ts}
"#;

const DOWN: &str = "alter table order_shipments drop column delivered_at; \
    alter table order_shipments drop column tracking_status; drop table shipping_returns; \
    drop table label_batches; drop table shipping_tracking; drop table shipment_history; \
    drop table shipment_waybills; drop table shipment_orders; drop table shipments; \
    drop table shipping_accounts; drop table shipping_settings";

ddl_migration!("m0010_shipping", UP, DOWN);
