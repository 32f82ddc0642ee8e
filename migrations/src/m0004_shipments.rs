//! orders: shipments made through Cairn and the lines they shipped.

// `shipped_waybill` on a line is the waybill it left with (null = not shipped through Cairn);
// `order_shipments.line_ids` is a JSON array of the marketplace line ids one waybill carried.
// `orders.hold_ttl_seconds` keeps the channel's hold TTL from the last snapshot, so that an
// `order.changed` raised by Cairn itself (a shipment) carries the same terms as one raised by
// a snapshot.
const UP: &str = r#"
alter table order_lines add column shipped_waybill text;
alter table orders add column hold_ttl_seconds bigint not null default 0;
create table order_shipments (
    tenant_id {uuid} not null,
    order_id {uuid} not null,
    waybill_no text not null,
    company_code text not null,
    line_ids text not null,
    created_at {ts} not null,
    primary key (tenant_id, order_id, waybill_no)
)
"#;

const DOWN: &str = "drop table order_shipments; alter table orders drop column hold_ttl_seconds; \
    alter table order_lines drop column shipped_waybill";

ddl_migration!("m0004_shipments", UP, DOWN);
