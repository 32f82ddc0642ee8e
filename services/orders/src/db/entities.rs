//! orders' tables, as sea-orm entities.

store::entity!(
    /// One row per order: the header of the last applied snapshot and Cairn's status.
    orders, "orders", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    channel_id: Uuid,
    external_id: String,
    status: String,
    trade_status: String,
    modified: DateTimeUtc,
    revision: i64,
    trade_created: DateTimeUtc,
    paid_at: Option<DateTimeUtc>,
    buyer_nick: String,
    currency: String,
    payment: i64,
    /// The last applied trade snapshot, as JSON.
    snapshot: String,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    /// The channel's hold TTL from the last snapshot (0 for orders stored before it was kept).
    hold_ttl_seconds: i64,
    /// JSON array of the order's holds.
    holds: String,
    /// JSON array of the causes a person waived.
    waivers: String,
    buyer_memo: Option<String>,
    seller_memo: Option<String>,
    seller_flag: i32,
    /// JSON of the receiver, as last reported.
    receiver: Option<String>,
    /// The receiver's fingerprint when the order was paid.
    paid_receiver: Option<String>,
    /// `order.ready_to_ship` went out for the order as it is.
    ready: bool,
});

store::entity!(
    /// A tenant's audit rules (a tenant without a row has the defaults).
    order_audit_rules, "order_audit_rules", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    buyer_memo: bool,
    seller_memo: bool,
    /// Fen; null: no amount rule.
    amount_over: Option<i64>,
    allow_partial_shipment: bool,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// An order's lines, with what inventory and shipments added to each.
    order_lines, "order_lines", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] order_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] line_no: i32,
    external_line_id: String,
    /// `''` while the line maps to no SKU (see `mapping`).
    sku_code: String,
    title: String,
    quantity: i64,
    unit_price: i64,
    payment: i64,
    refund_status: String,
    reservation_state: Option<String>,
    /// The inventory reservation version this state came from.
    reservation_version: i64,
    /// The waybill the line left with, when the seller shipped it through Cairn.
    shipped_waybill: Option<String>,
    /// The marketplace's item and variant.
    item_id: Option<String>,
    variant_id: Option<String>,
    properties: Option<String>,
    /// `mapped`, `merchant_code` or `unmapped`.
    mapping: String,
    /// JSON array of `{warehouse_code, quantity}` the line is reserved in.
    warehouses: Option<String>,
});

store::entity!(
    /// What happened to an order, and why.
    order_timeline, "order_timeline", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] order_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    at: DateTimeUtc,
    kind: String,
    detail: String,
});

/// Shipments the seller recorded through Cairn: one row per (order, waybill).
pub mod order_shipments {
    use sea_orm::entity::prelude::*;

    /// One shipment.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_shipments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub waybill_no: String,
        pub company_code: String,
        /// JSON array of the marketplace line ids this waybill carried.
        pub line_ids: String,
        pub created_at: DateTimeUtc,
        /// What the carrier last said (`delivered`, `exception`, `returned`), for shipments
        /// drawn through Cairn's shipping.
        pub tracking_status: Option<String>,
        pub delivered_at: Option<DateTimeUtc>,
    }

    /// None: orders' tables are joined in code.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// The line ids, as stored.
        pub fn lines(&self) -> Result<Vec<String>, DbErr> {
            serde_json::from_str(&self.line_ids)
                .map_err(|e| DbErr::Custom(format!("shipment {} line_ids: {e}", self.waybill_no)))
        }
    }
}
