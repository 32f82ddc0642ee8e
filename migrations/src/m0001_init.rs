//! The spine: identity, channels, the bus, orders, inventory.

const UP: &str = r#"
create table tenants (
    id {uuid} primary key,
    name text not null,
    created_at {ts} not null
);
create table users (
    tenant_id {uuid} not null,
    id {uuid} not null,
    email text not null unique,
    password_hash text not null,
    role text not null,
    created_at {ts} not null,
    primary key (tenant_id, id)
);
create table idempotency_keys (
    tenant_id {uuid} not null,
    scope text not null,
    key text not null,
    request_hash text not null,
    status integer not null,
    response text not null,
    created_at {ts} not null,
    primary key (tenant_id, scope, key)
);

create table channels (
    tenant_id {uuid} not null,
    id {uuid} not null unique,
    marketplace text not null,
    shop_id text not null,
    name text not null,
    webhook_secret text not null,
    previous_secret text,
    secret_rotated_at {ts},
    hold_ttl_seconds bigint not null,
    created_at {ts} not null,
    primary key (tenant_id, id),
    unique (tenant_id, marketplace, shop_id)
);
create table webhook_messages (
    tenant_id {uuid} not null,
    channel_id {uuid} not null,
    message_id text not null,
    topic text not null,
    body text not null,
    received_at {ts} not null,
    primary key (tenant_id, channel_id, message_id)
);

create table outbox (
    seq {serial},
    id {uuid} not null unique,
    tenant_id {uuid} not null,
    kind text not null,
    envelope text not null,
    created_at {ts} not null,
    published_at {ts}
);
create index outbox_unpublished on outbox (published_at, seq);
create table inbox (
    consumer text not null,
    message_id {uuid} not null,
    tenant_id {uuid} not null,
    processed_at {ts} not null,
    primary key (consumer, message_id)
);
create table consumer_cursors (
    consumer text primary key,
    position bigint not null
);
create table parked_messages (
    consumer text not null,
    message_id {uuid} not null,
    tenant_id {uuid} not null,
    envelope text not null,
    error text not null,
    attempts integer not null,
    parked_at {ts} not null,
    primary key (consumer, message_id)
);

create table orders (
    tenant_id {uuid} not null,
    id {uuid} not null,
    channel_id {uuid} not null,
    external_id text not null,
    status text not null,
    trade_status text not null,
    modified {ts} not null,
    revision bigint not null,
    trade_created {ts} not null,
    paid_at {ts},
    buyer_nick text not null,
    currency text not null,
    payment bigint not null,
    snapshot text not null,
    created_at {ts} not null,
    updated_at {ts} not null,
    primary key (tenant_id, id),
    unique (tenant_id, channel_id, external_id)
);
create index orders_status on orders (tenant_id, status, created_at);
create table order_lines (
    tenant_id {uuid} not null,
    order_id {uuid} not null,
    line_no integer not null,
    external_line_id text not null,
    sku_code text not null,
    title text not null,
    quantity bigint not null,
    unit_price bigint not null,
    payment bigint not null,
    refund_status text not null,
    reservation_state text,
    reservation_version bigint not null,
    primary key (tenant_id, order_id, line_no)
);
create table order_timeline (
    tenant_id {uuid} not null,
    order_id {uuid} not null,
    id {uuid} not null,
    at {ts} not null,
    kind text not null,
    detail text not null,
    primary key (tenant_id, order_id, id)
);

create table warehouses (
    tenant_id {uuid} not null,
    id {uuid} not null,
    code text not null,
    name text not null,
    created_at {ts} not null,
    primary key (tenant_id, id),
    unique (tenant_id, code)
);
create table skus (
    tenant_id {uuid} not null,
    id {uuid} not null,
    code text not null,
    name text not null,
    safety_stock bigint not null,
    created_at {ts} not null,
    primary key (tenant_id, id),
    unique (tenant_id, code)
);
create table stock_levels (
    tenant_id {uuid} not null,
    sku_id {uuid} not null,
    warehouse_id {uuid} not null,
    on_hand bigint not null,
    reserved bigint not null,
    version bigint not null,
    primary key (tenant_id, sku_id, warehouse_id)
);
create table reservations (
    tenant_id {uuid} not null,
    id {uuid} not null,
    reservation_key text not null,
    reference text not null,
    order_id {uuid},
    request_hash text not null,
    state text not null,
    expires_at {ts},
    paid_at {ts},
    revision bigint not null,
    version bigint not null,
    lines text not null,
    created_at {ts} not null,
    updated_at {ts} not null,
    primary key (tenant_id, id),
    unique (tenant_id, reservation_key)
);
create table stock_ledger (
    tenant_id {uuid} not null,
    id {uuid} not null,
    sku_id {uuid} not null,
    warehouse_id {uuid} not null,
    kind text not null,
    on_hand_delta bigint not null,
    reserved_delta bigint not null,
    reservation_id {uuid},
    cause text not null,
    at {ts} not null,
    primary key (tenant_id, id)
);
create index stock_ledger_sku on stock_ledger (tenant_id, sku_id, warehouse_id)
"#;

const DOWN: &str = "drop table stock_ledger; drop table reservations; drop table stock_levels; drop table skus; \
    drop table warehouses; drop table order_timeline; drop table order_lines; drop table orders; \
    drop table parked_messages; drop table consumer_cursors; drop table inbox; drop table outbox; \
    drop table webhook_messages; drop table channels; drop table idempotency_keys; drop table users; drop table tenants";

ddl_migration!("m0001_init", UP, DOWN);
