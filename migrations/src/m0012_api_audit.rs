//! identity: the API audit log, one row per mutating call of a known caller (user or app).
//! Its primary key starts with `tenant_id`; ids are UUIDv7, so the key orders by time.

const UP: &str = r#"
create table api_audit_log (
    tenant_id {uuid} not null,
    id {uuid} not null,
    at {ts} not null,
    actor text not null,
    method text not null,
    route text not null,
    path text not null,
    status bigint not null,
    idempotency_key text,
    primary key (tenant_id, id)
)
"#;

const DOWN: &str = "drop table api_audit_log";

ddl_migration!("m0012_api_audit", UP, DOWN);
