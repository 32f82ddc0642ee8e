//! subscriptions: URLs subscribed to the tenant's events, one delivery per (subscription, event,
//! public type) — unique, so a redelivered bus message makes none twice — and every attempt.
//!
//! Every primary key starts with `tenant_id`. `event_deliveries_due` serves the delivery
//! worker's scan of what is due, across tenants.

const UP: &str = r#"
create table event_subscriptions (
    tenant_id {uuid} not null,
    id {uuid} not null,
    url text not null,
    event_types text not null,
    secret text not null,
    description text not null,
    created_by text not null,
    status text not null,
    disabled_reason text,
    failing_since {ts},
    created_at {ts} not null,
    updated_at {ts} not null,
    primary key (tenant_id, id)
);
create unique index event_subscriptions_url on event_subscriptions (tenant_id, url);
create table event_deliveries (
    tenant_id {uuid} not null,
    id {uuid} not null,
    subscription_id {uuid} not null,
    event_id {uuid} not null,
    event_type text not null,
    occurred_at {ts} not null,
    body text not null,
    status text not null,
    attempts bigint not null,
    next_attempt_at {ts},
    last_status_code bigint,
    last_error text,
    created_at {ts} not null,
    delivered_at {ts},
    primary key (tenant_id, id)
);
create unique index event_deliveries_once on event_deliveries (tenant_id, subscription_id, event_id, event_type);
create index event_deliveries_due on event_deliveries (status, next_attempt_at);
create index event_deliveries_list on event_deliveries (tenant_id, subscription_id, id);
create table event_delivery_attempts (
    tenant_id {uuid} not null,
    id {uuid} not null,
    delivery_id {uuid} not null,
    subscription_id {uuid} not null,
    at {ts} not null,
    status_code bigint,
    error text,
    duration_ms bigint not null,
    primary key (tenant_id, id)
);
create index event_delivery_attempts_delivery on event_delivery_attempts (tenant_id, delivery_id)
"#;

const DOWN: &str = "drop table event_delivery_attempts; drop table event_deliveries; drop table event_subscriptions";

ddl_migration!("m0013_subscriptions", UP, DOWN);
