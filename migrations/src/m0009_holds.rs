//! orders: the audit step. An order keeps its holds and the causes a person waived (JSON), the
//! trade facts audit rules look at (memos, flag, receiver, the receiver at payment), and
//! whether `order.ready_to_ship` went out for it; each line, the warehouses it is reserved in.
//! A tenant's audit rules are a row of their own.

const UP: &str = r#"
alter table orders add column holds text not null default '[]';
alter table orders add column waivers text not null default '[]';
alter table orders add column buyer_memo text;
alter table orders add column seller_memo text;
alter table orders add column seller_flag integer not null default 0;
alter table orders add column receiver text;
alter table orders add column paid_receiver text;
alter table orders add column ready boolean not null default false;
alter table order_lines add column warehouses text;
create table order_audit_rules (
    tenant_id {uuid} not null primary key,
    buyer_memo boolean not null,
    seller_memo boolean not null,
    amount_over bigint,
    allow_partial_shipment boolean not null,
    updated_at {ts} not null
)
"#;

const DOWN: &str = "drop table order_audit_rules; alter table order_lines drop column warehouses; \
    alter table orders drop column ready; alter table orders drop column paid_receiver; \
    alter table orders drop column receiver; alter table orders drop column seller_flag; \
    alter table orders drop column seller_memo; alter table orders drop column buyer_memo; \
    alter table orders drop column waivers; alter table orders drop column holds";

ddl_migration!("m0009_holds", UP, DOWN);
