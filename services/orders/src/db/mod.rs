//! orders' persistence: the sea-orm entities, their conversions to and from the domain types,
//! and the queries the consumer and the service run. Nothing outside `db` sees a `Model` or a
//! `DbErr` that it has to interpret.

mod batch;
mod convert;
pub mod entities;
mod repo;

pub use batch::{BatchKeys, OrderBatch};
pub use entities::{order_audit_rules, order_lines, order_shipments, order_timeline, orders};
pub use repo::{
    Cursor, OrderFilter, OrderPage, Paging, StoredOrder, UnmappedItem, audit_rules, audit_rules_of, count_by_status,
    created_per_bucket, find_for_update, find_order, find_shipment, insert_shipment, insert_timeline, list_orders,
    mark_lines_shipped, orders_with_variant, save_audit_rules, save_order, save_shipped_status, shipments, timeline,
    track_shipment, unmapped_items,
};
