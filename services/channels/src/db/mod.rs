//! channels' tables (entities), the domain's view of a stored shop, and the shops repository
//! ([`shops`]). The other tables' SQL lives with the module that owns them: `ingest`
//! (`webhook_messages`, `channel_trades`, `channel_pull_finds`), `reconcile` (`channel_sync`),
//! `writeback` (`shipment_writebacks`, `stock_pushes`, `channel_stock_levels`).

pub mod shops;

use crate::domain::{
    shop::{Settings, StoredApi},
    stock::{self, Rules},
    webhook::WebhookSecrets,
};

store::entity!(
    /// A connected shop: its marketplace, webhook secrets, Open API credentials and stock rules.
    channels, "channels", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] id: Uuid,
    marketplace: String,
    shop_id: String,
    name: String,
    webhook_secret: String,
    /// Still accepted for an hour after a rotation (BAZAAR.md).
    previous_secret: Option<String>,
    secret_rotated_at: Option<DateTimeUtc>,
    hold_ttl_seconds: i64,
    created_at: DateTimeUtc,
    /// The marketplace Open API (reconciliation pulls, write-backs); none = push only.
    api_base_url: Option<String>,
    app_key: Option<String>,
    app_secret: Option<String>,
    access_token: Option<String>,
    /// Stock sync rules (see `crate::domain::stock::allocate`).
    stock_percent: i32,
    stock_max: Option<i64>,
    stock_min: i64,
    stock_reserve: i64,
});

store::entity!(
    /// Every message received or pulled, as received: dedupe by message id, and audit.
    webhook_messages, "webhook_messages", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] message_id: String,
    topic: String,
    body: String,
    received_at: DateTimeUtc,
});

store::entity!(
    /// The newest snapshot of each trade seen by push or pull (`source`: `push` | `pull`).
    channel_trades, "channel_trades", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] external_id: String,
    modified_us: i64,
    source: String,
    snapshot: String,
    first_seen_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// One shop's reconciliation: checkpoint, schedule, lease and counters.
    channel_sync, "channel_sync", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    checkpoint: Option<DateTimeUtc>,
    next_pull_at: DateTimeUtc,
    lease_until: Option<DateTimeUtc>,
    last_run_at: Option<DateTimeUtc>,
    last_window_start: Option<DateTimeUtc>,
    last_window_end: Option<DateTimeUtc>,
    last_pulled: i64,
    last_found: i64,
    last_error: Option<String>,
    runs: i64,
    pulled: i64,
    found: i64,
});

store::entity!(
    /// A trade version that pull found before (or instead of) push.
    channel_pull_finds, "channel_pull_finds", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] external_id: String,
    #[sea_orm(primary_key, auto_increment = false)] modified_us: i64,
    status: String,
    found_at: DateTimeUtc,
});

store::entity!(
    /// The newest sellable quantity of each SKU, from `stock.level_changed`.
    channel_stock_levels, "channel_stock_levels", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] sku_code: String,
    available: i64,
    version: i64,
});

store::entity!(
    /// The quantity each shop should display, coalesced per SKU; `pushed` is what the shop last accepted.
    stock_pushes, "stock_pushes", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] sku_code: String,
    desired: i64,
    pushed: Option<i64>,
    state: String,
    attempts: i32,
    next_attempt_at: DateTimeUtc,
    last_error: Option<String>,
    pushed_at: Option<DateTimeUtc>,
    updated_at: DateTimeUtc,
});

store::entity!(
    /// A shipment to write back to the marketplace.
    shipment_writebacks, "shipment_writebacks", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] external_id: String,
    #[sea_orm(primary_key, auto_increment = false)] waybill_no: String,
    order_id: Uuid,
    company_code: String,
    line_ids: Option<String>,
    state: String,
    attempts: i32,
    next_attempt_at: DateTimeUtc,
    last_error: Option<String>,
    created_at: DateTimeUtc,
    done_at: Option<DateTimeUtc>,
});

/// The domain's view of a stored shop.
impl channels::Model {
    /// The shop's stock sync rules.
    pub fn stock_rules(&self) -> Rules {
        Rules { percent: self.stock_percent, max: self.stock_max, min: self.stock_min, reserve: self.stock_reserve }
    }

    /// The shop as stock planning sees it.
    pub fn stock_shop(&self) -> stock::Shop {
        stock::Shop {
            tenant_id: self.tenant_id,
            channel_id: self.id,
            syncs: self.api_base_url.is_some(),
            rules: self.stock_rules(),
        }
    }

    /// The shop's Open API credentials, as stored.
    pub fn stored_api(&self) -> StoredApi<'_> {
        StoredApi {
            base_url: self.api_base_url.as_deref(),
            app_key: self.app_key.as_deref(),
            app_secret: self.app_secret.as_deref(),
            access_token: self.access_token.as_deref(),
        }
    }

    /// What connecting this shop again must repeat.
    pub fn settings(&self) -> Settings<'_> {
        Settings {
            name: &self.name,
            hold_ttl_seconds: self.hold_ttl_seconds,
            api: self.stored_api(),
            webhook_secret: &self.webhook_secret,
            stock: self.stock_rules(),
        }
    }

    /// The secrets its webhooks may be signed with, and since when.
    pub fn webhook_secrets(&self) -> WebhookSecrets<'_> {
        WebhookSecrets {
            current: &self.webhook_secret,
            previous: self.previous_secret.as_deref(),
            rotated_at: self.secret_rotated_at,
        }
    }
}

store::entity!(
    /// The shop's marketplace items and variants Cairn knows of: pulled from the marketplace's
    /// item list, or seen in its trades (`source`: `pull` | `order`). `variant_id` is `''` for
    /// an item without variants.
    channel_items, "channel_items", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] item_id: String,
    #[sea_orm(primary_key, auto_increment = false)] variant_id: String,
    title: String,
    properties: Option<String>,
    merchant_code: Option<String>,
    source: String,
    seen_at: DateTimeUtc,
});

store::entity!(
    /// The shop's product mapping (商品对应): the SKU a marketplace variant sells.
    channel_item_mappings, "channel_item_mappings", {
    #[sea_orm(primary_key, auto_increment = false)] tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] channel_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)] item_id: String,
    #[sea_orm(primary_key, auto_increment = false)] variant_id: String,
    sku_code: String,
    updated_at: DateTimeUtc,
});
