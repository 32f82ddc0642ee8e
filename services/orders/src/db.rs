//! orders' tables.

pub mod orders {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub channel_id: Uuid,
        pub external_id: String,
        pub status: String,
        pub trade_status: String,
        pub modified: DateTimeUtc,
        pub revision: i64,
        pub trade_created: DateTimeUtc,
        pub paid_at: Option<DateTimeUtc>,
        pub buyer_nick: String,
        pub currency: String,
        pub payment: i64,
        /// The last applied trade snapshot, as JSON.
        pub snapshot: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// The channel's hold TTL from the last snapshot (0 for orders stored before it was kept).
        pub hold_ttl_seconds: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_lines {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub line_no: i32,
        pub external_line_id: String,
        pub sku_code: String,
        pub title: String,
        pub quantity: i64,
        pub unit_price: i64,
        pub payment: i64,
        pub refund_status: String,
        pub reservation_state: Option<String>,
        /// The inventory reservation version this state came from.
        pub reservation_version: i64,
        /// The waybill the line left with, when the seller shipped it through Cairn.
        pub shipped_waybill: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_timeline {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_timeline")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub at: DateTimeUtc,
        pub kind: String,
        pub detail: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_shipments {
    use sea_orm::entity::prelude::*;

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
    }

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
