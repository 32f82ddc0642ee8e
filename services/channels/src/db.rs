//! channels' tables.

pub mod channels {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub marketplace: String,
        pub shop_id: String,
        pub name: String,
        pub webhook_secret: String,
        /// Still accepted for an hour after a rotation (BAZAAR.md).
        pub previous_secret: Option<String>,
        pub secret_rotated_at: Option<DateTimeUtc>,
        pub hold_ttl_seconds: i64,
        pub created_at: DateTimeUtc,
        /// The marketplace Open API (reconciliation pulls, write-backs); none = push only.
        pub api_base_url: Option<String>,
        pub app_key: Option<String>,
        pub app_secret: Option<String>,
        pub access_token: Option<String>,
        /// Stock sync rules (see `crate::stock::allocate`).
        pub stock_percent: i32,
        pub stock_max: Option<i64>,
        pub stock_min: i64,
        pub stock_reserve: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_messages {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: String,
        pub topic: String,
        pub body: String,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Declares a plain entity: `table!(module, "table", [pk fields] [other fields])`.
macro_rules! table {
    ($m:ident, $name:literal, { $($pk:ident : $pt:ty),* $(,)? }, { $($f:ident : $t:ty),* $(,)? }) => {
        pub mod $m {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $name)]
            pub struct Model {
                $(#[sea_orm(primary_key, auto_increment = false)] pub $pk: $pt,)*
                $(pub $f: $t,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

// The newest snapshot of each trade seen by push or pull (`source`: `push` | `pull`).
table!(channel_trades, "channel_trades", { tenant_id: Uuid, channel_id: Uuid, external_id: String }, {
    modified_us: i64, source: String, snapshot: String, first_seen_at: DateTimeUtc, updated_at: DateTimeUtc,
});

// One shop's reconciliation: checkpoint, schedule, lease and counters.
table!(channel_sync, "channel_sync", { tenant_id: Uuid, channel_id: Uuid }, {
    checkpoint: Option<DateTimeUtc>, next_pull_at: DateTimeUtc, lease_until: Option<DateTimeUtc>, last_run_at: Option<DateTimeUtc>,
    last_window_start: Option<DateTimeUtc>, last_window_end: Option<DateTimeUtc>, last_pulled: i64, last_found: i64,
    last_error: Option<String>, runs: i64, pulled: i64, found: i64,
});

// A trade version that pull found before (or instead of) push.
table!(channel_pull_finds, "channel_pull_finds", { tenant_id: Uuid, channel_id: Uuid, external_id: String, modified_us: i64 }, {
    status: String, found_at: DateTimeUtc,
});

// The newest sellable quantity of each SKU, from `stock.level_changed`.
table!(channel_stock_levels, "channel_stock_levels", { tenant_id: Uuid, sku_code: String }, { available: i64, version: i64 });

// The quantity each shop should display, coalesced per SKU; `pushed` is what the shop last accepted.
table!(stock_pushes, "stock_pushes", { tenant_id: Uuid, channel_id: Uuid, sku_code: String }, {
    desired: i64, pushed: Option<i64>, state: String, attempts: i32, next_attempt_at: DateTimeUtc, last_error: Option<String>,
    pushed_at: Option<DateTimeUtc>, updated_at: DateTimeUtc,
});

// A shipment to write back to the marketplace.
table!(shipment_writebacks, "shipment_writebacks", { tenant_id: Uuid, channel_id: Uuid, external_id: String, waybill_no: String }, {
    order_id: Uuid, company_code: String, line_ids: Option<String>, state: String, attempts: i32, next_attempt_at: DateTimeUtc,
    last_error: Option<String>, created_at: DateTimeUtc, done_at: Option<DateTimeUtc>,
});
