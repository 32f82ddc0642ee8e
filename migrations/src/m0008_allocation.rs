//! inventory: multi-warehouse allocation. A tenant's settings (strategy, warehouse lists,
//! whether orders may split) are a row of their own, as JSON; each reservation keeps its
//! order receiver's province, which the region strategy reads when a backorder is filled.

const UP: &str = r#"
create table inventory_allocation (
    tenant_id {uuid} not null primary key,
    settings text not null,
    updated_at {ts} not null
);
alter table reservations add column province text
"#;

ddl_migration!(
    "m0008_allocation",
    UP,
    "alter table reservations drop column province; drop table inventory_allocation"
);
