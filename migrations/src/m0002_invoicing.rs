//! invoicing: settings, tax categories, numbering series, invoices and credit notes.

const UP: &str = r#"
create table invoice_settings (
    tenant_id {uuid} primary key,
    seller_name text not null,
    tax_id text not null,
    address text not null,
    phone text not null,
    bank text not null,
    account text not null,
    prices_include_tax boolean not null,
    default_rate_bp integer not null,
    issue_on text not null,
    series_pattern text not null,
    credit_series_pattern text not null,
    updated_at {ts} not null
);
create table invoice_tax_categories (
    tenant_id {uuid} not null,
    sku_code text not null,
    rate_bp integer not null,
    primary key (tenant_id, sku_code)
);
create table invoice_series (
    tenant_id {uuid} not null,
    series text not null,
    last_number bigint not null,
    primary key (tenant_id, series)
);
create table invoice_orders (
    tenant_id {uuid} not null,
    order_id {uuid} not null,
    revision bigint not null,
    status text not null,
    paid boolean not null,
    event text not null,
    updated_at {ts} not null,
    primary key (tenant_id, order_id)
);
create table invoices (
    tenant_id {uuid} not null,
    id {uuid} not null,
    kind text not null,
    source_key text not null,
    series text not null,
    seq bigint not null,
    number text not null,
    order_id {uuid} not null,
    order_ref text not null,
    original_id {uuid},
    status text not null,
    issued_at {ts} not null,
    voided_at {ts},
    void_reason text,
    currency text not null,
    total_net bigint not null,
    total_tax bigint not null,
    total bigint not null,
    buyer_title text not null,
    buyer_tax_id text,
    document text not null,
    primary key (tenant_id, id),
    unique (tenant_id, source_key),
    unique (tenant_id, series, seq)
);
create index invoices_order on invoices (tenant_id, order_id);
create index invoices_issued on invoices (tenant_id, issued_at);
create table invoice_credited_lines (
    tenant_id {uuid} not null,
    invoice_id {uuid} not null,
    line_ref text not null,
    credit_note_id {uuid} not null,
    primary key (tenant_id, invoice_id, line_ref)
)
"#;

const DOWN: &str = "drop table invoice_credited_lines; drop table invoices; drop table invoice_orders; \
    drop table invoice_series; drop table invoice_tax_categories; drop table invoice_settings";

ddl_migration!("m0002_invoicing", UP, DOWN);
