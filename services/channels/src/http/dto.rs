//! The request and response bodies of `/v1/channels`, and how they map onto the service's
//! types. Names and doc comments here are the OpenAPI schema: change them and the spec moves.

use crate::{
    db::channels,
    domain::{
        shop::{Credentials, NewShop},
        stock::Rules,
    },
    reconcile::RunReport,
    service, writeback,
};
use chrono::{DateTime, Utc};
use kernel::Timestamp;
use poem_openapi::{ApiResponse, Object, Union};
use problem::Json;
use uuid::Uuid;

/// A shop's Open API credentials (Bazaar: BAZAAR.md "Open API"), for reconciliation and
/// write-backs. Without them a shop is push-only.
#[derive(Debug, Clone, PartialEq, Object)]
pub(super) struct ApiCredentials {
    /// e.g. `https://api.bazaar.example` (no trailing path).
    #[oai(validator(min_length = 8, max_length = 300))]
    base_url: String,
    #[oai(validator(min_length = 1, max_length = 128))]
    app_key: String,
    #[oai(validator(min_length = 1, max_length = 256))]
    app_secret: String,
    #[oai(validator(min_length = 1, max_length = 512))]
    access_token: String,
}

/// A shop's new webhook secret.
#[derive(Debug, Object)]
pub(super) struct NewWebhookSecret {
    /// Bazaar: a random string you generate; Shopify: the app's client secret.
    #[oai(validator(min_length = 24, max_length = 256))]
    secret: String,
}

/// How much of each SKU's sellable stock the shop displays: `percent` of what the other shops'
/// reserves leave, at least `min` and this shop's own `reserve`, at most `max`, never more than
/// there is.
#[derive(Debug, Clone, Copy, PartialEq, Object)]
pub(super) struct StockSync {
    /// 0-100; default 100.
    #[oai(default = "default_percent", validator(minimum(value = "0"), maximum(value = "100")))]
    percent: i32,
    #[oai(nullable, validator(minimum(value = "0")))]
    max: Option<i64>,
    #[oai(default, validator(minimum(value = "0")))]
    min: i64,
    /// Units set aside for this shop: the other shops never display them.
    #[oai(default, validator(minimum(value = "0")))]
    reserve: i64,
}

/// One SKU of a stock-sync preview.
#[derive(Debug, Object)]
pub(super) struct PreviewItem {
    pub sku_code: String,
    /// Sellable now.
    pub available: i64,
    /// What the shop is meant to display now under its current rules (null before the first
    /// plan, e.g. no stock level yet).
    #[oai(nullable)]
    pub shown_now: Option<i64>,
    /// What it would display under the rules previewed.
    pub shown: i64,
}

/// What the shop would display under the rules previewed.
#[derive(Debug, Object)]
pub(super) struct StockPreview {
    pub items: Vec<PreviewItem>,
}

fn default_percent() -> i32 {
    100
}

/// Where the shop's Open API is (secrets are never shown).
#[derive(Debug, Object)]
pub(super) struct ApiInfo {
    base_url: String,
    app_key: String,
}

/// A shop to connect. `marketplace` decides who makes the webhook secret: Cairn for Bazaar
/// (so a Bazaar shop takes no `webhook_secret`), the Shopify app for Shopify (so a Shopify shop
/// must send its client secret).
#[derive(Debug, Union)]
#[oai(discriminator_name = "marketplace")]
pub(super) enum NewChannel {
    #[oai(mapping = "bazaar")]
    Bazaar(NewBazaarChannel),
    #[oai(mapping = "shopify")]
    Shopify(NewShopifyChannel),
}

/// A Bazaar shop to connect (`marketplace: bazaar`); Cairn generates its webhook secret.
#[derive(Debug, Object)]
pub(super) struct NewBazaarChannel {
    /// The marketplace's shop id (`X-Bazaar-Shop-Id`).
    #[oai(validator(min_length = 1, max_length = 64))]
    shop_id: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
    /// How long an unpaid order holds stock (default 1800 s).
    #[oai(nullable, validator(minimum(value = "60"), maximum(value = "604800")))]
    hold_ttl_seconds: Option<i64>,
    /// The shop's Open API (reconciliation pulls, shipment and stock write-backs).
    #[oai(nullable)]
    api: Option<ApiCredentials>,
    /// Stock sync rules (default: show everything sellable).
    #[oai(nullable)]
    stock_sync: Option<StockSync>,
    /// Not taken: Cairn makes a Bazaar shop's webhook secret (it is in the answer). Leave it
    /// out; a secret sent here is refused.
    #[oai(nullable, validator(max_length = 0))]
    webhook_secret: Option<String>,
}

/// A Shopify shop to connect (`marketplace: shopify`).
#[derive(Debug, Object)]
pub(super) struct NewShopifyChannel {
    /// The shop's domain, e.g. `example.myshopify.com` (`X-Shopify-Shop-Domain`).
    #[oai(validator(min_length = 1, max_length = 64))]
    shop_id: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    name: String,
    /// How long an unpaid order holds stock (default 1800 s).
    #[oai(nullable, validator(minimum(value = "60"), maximum(value = "604800")))]
    hold_ttl_seconds: Option<i64>,
    /// The shop's Admin API (reconciliation pulls, fulfillment and stock write-backs).
    #[oai(nullable)]
    api: Option<ApiCredentials>,
    /// Stock sync rules (default: show everything sellable).
    #[oai(nullable)]
    stock_sync: Option<StockSync>,
    /// The app's client secret, which Shopify signs webhooks with.
    #[oai(validator(min_length = 16, max_length = 256))]
    webhook_secret: String,
}

/// A connected shop.
#[derive(Debug, Object)]
pub(super) struct ChannelDto {
    id: Uuid,
    marketplace: String,
    shop_id: String,
    name: String,
    hold_ttl_seconds: i64,
    /// Give this URL to the marketplace.
    webhook_url: String,
    /// The HMAC secret the marketplace signs webhooks with.
    #[oai(nullable, skip_serializing_if_is_none)]
    webhook_secret: Option<String>,
    /// The shop's Open API, when given (reconciliation and write-backs run only then).
    #[oai(nullable, skip_serializing_if_is_none)]
    api: Option<ApiInfo>,
    stock_sync: StockSync,
    created_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub(super) enum ChannelCreated {
    /// Connected (or the same shop again, with the same secret).
    #[oai(status = 201)]
    Created(Json<ChannelDto>),
}

#[derive(ApiResponse)]
pub(super) enum ChannelList {
    /// The tenant's channels (secrets are shown only when connecting).
    #[oai(status = 200)]
    Ok(Json<Vec<ChannelDto>>),
}

#[derive(ApiResponse)]
pub(super) enum PreviewFound {
    /// What the shop would display.
    #[oai(status = 200)]
    Ok(Json<StockPreview>),
}

#[derive(ApiResponse)]
pub(super) enum ChannelFound {
    /// One channel.
    #[oai(status = 200)]
    Ok(Json<ChannelDto>),
}

/// What one pull did.
#[derive(Debug, Object)]
pub(super) struct RunDto {
    #[oai(nullable)]
    window_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    window_end: Option<DateTime<Utc>>,
    /// Trade versions the marketplace listed.
    pulled: i64,
    /// Versions Cairn had not received by push; they are now on their way to orders.
    found_by_pull_only: i64,
    /// Trades that could not be read, with why.
    unreadable: Vec<String>,
    /// Why the pull stopped early (the checkpoint stays at the last full window).
    #[oai(nullable, skip_serializing_if_is_none)]
    error: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum Reconciled {
    /// The pull ran.
    #[oai(status = 200)]
    Ok(Json<RunDto>),
}

/// The last pull.
#[derive(Debug, Object)]
pub(super) struct LastRun {
    at: DateTime<Utc>,
    #[oai(nullable)]
    window_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    window_end: Option<DateTime<Utc>>,
    pulled: i64,
    found_by_pull_only: i64,
    #[oai(nullable, skip_serializing_if_is_none)]
    error: Option<String>,
}

/// A trade version found by pull before push delivered it.
#[derive(Debug, Object)]
pub(super) struct FoundDto {
    external_id: String,
    modified: DateTime<Utc>,
    status: String,
    found_at: DateTime<Utc>,
}

/// Write-backs by state.
#[derive(Debug, Object)]
pub(super) struct WritebackCounts {
    shipments_pending: i64,
    shipments_done: i64,
    shipments_rejected: i64,
    /// Shipped in Cairn, but the shop has no Open API credentials to write them back with.
    shipments_without_api: i64,
    stock_pending: i64,
    stock_synced: i64,
    stock_rejected: i64,
    /// Quantities waiting because the shop's Open API credentials were removed; they are
    /// planned and sent again once credentials are given.
    stock_without_api: i64,
    #[oai(nullable, skip_serializing_if_is_none)]
    last_error: Option<String>,
}

/// How far Cairn's view of a shop can be behind the marketplace.
#[derive(Debug, Object)]
pub(super) struct SyncReport {
    /// Whether the shop is pulled (it has Open API credentials).
    reconciles: bool,
    interval_seconds: i64,
    /// When the shop's latest webhook arrived (null before the first).
    #[oai(nullable)]
    last_webhook_at: Option<DateTime<Utc>>,
    /// Every trade modified before this is known to Cairn.
    #[oai(nullable)]
    checkpoint: Option<DateTime<Utc>>,
    /// Now − checkpoint.
    #[oai(nullable)]
    sync_lag_seconds: Option<f64>,
    #[oai(nullable)]
    next_pull_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    last_run: Option<LastRun>,
    runs: i64,
    pulled: i64,
    /// Trade versions that only pull delivered (push missed or had not yet delivered them).
    found_by_pull_only: i64,
    /// The latest 50 of them.
    recent_found: Vec<FoundDto>,
    writebacks: WritebackCounts,
}

#[derive(ApiResponse)]
pub(super) enum SyncFound {
    /// The report.
    #[oai(status = 200)]
    Ok(Json<SyncReport>),
}

impl From<ApiCredentials> for Credentials {
    fn from(a: ApiCredentials) -> Self {
        Credentials { base_url: a.base_url, app_key: a.app_key, app_secret: a.app_secret, access_token: a.access_token }
    }
}

impl NewWebhookSecret {
    /// The secret asked for.
    pub(super) fn into_secret(self) -> String {
        self.secret
    }
}

impl From<StockSync> for Rules {
    fn from(s: StockSync) -> Self {
        Rules { percent: s.percent, max: s.max, min: s.min, reserve: s.reserve }
    }
}

impl From<Rules> for StockSync {
    fn from(r: Rules) -> Self {
        StockSync { percent: r.percent, max: r.max, min: r.min, reserve: r.reserve }
    }
}

impl From<NewChannel> for NewShop {
    fn from(n: NewChannel) -> Self {
        match n {
            NewChannel::Bazaar(b) => NewShop {
                marketplace: "bazaar".into(),
                shop_id: b.shop_id,
                name: b.name,
                hold_ttl_seconds: b.hold_ttl_seconds,
                api: b.api.map(Credentials::from),
                stock: b.stock_sync.map(Rules::from),
                // Only an empty one gets here (the schema takes no other); the domain refuses it.
                webhook_secret: b.webhook_secret,
            },
            NewChannel::Shopify(s) => NewShop {
                marketplace: "shopify".into(),
                shop_id: s.shop_id,
                name: s.name,
                hold_ttl_seconds: s.hold_ttl_seconds,
                api: s.api.map(Credentials::from),
                stock: s.stock_sync.map(Rules::from),
                webhook_secret: Some(s.webhook_secret),
            },
        }
    }
}

impl ChannelDto {
    /// The shop as the API shows it; its webhook URL is under `public_url`, and its webhook
    /// secret is shown only `with_secret` (when connecting or rotating).
    pub(super) fn new(c: channels::Model, public_url: &str, with_secret: bool) -> Self {
        ChannelDto {
            stock_sync: c.stock_rules().into(),
            webhook_url: format!("{public_url}/v1/webhooks/{}/{}", c.marketplace, c.id),
            webhook_secret: with_secret.then_some(c.webhook_secret),
            id: c.id,
            marketplace: c.marketplace,
            shop_id: c.shop_id,
            name: c.name,
            hold_ttl_seconds: c.hold_ttl_seconds,
            api: c
                .api_base_url
                .clone()
                .map(|base_url| ApiInfo { base_url, app_key: c.app_key.clone().unwrap_or_default() }),
            created_at: c.created_at,
        }
    }
}

impl From<RunReport> for RunDto {
    fn from(r: RunReport) -> Self {
        RunDto {
            window_start: r.window_start,
            window_end: r.window_end,
            pulled: r.pulled,
            found_by_pull_only: r.found,
            unreadable: r.unreadable,
            error: r.error,
        }
    }
}

impl From<writeback::Counts> for WritebackCounts {
    fn from(c: writeback::Counts) -> Self {
        WritebackCounts {
            shipments_pending: c.shipments_pending,
            shipments_done: c.shipments_done,
            shipments_rejected: c.shipments_rejected,
            shipments_without_api: c.shipments_without_api,
            stock_pending: c.stock_pending,
            stock_synced: c.stock_synced,
            stock_rejected: c.stock_rejected,
            stock_without_api: c.stock_without_api,
            last_error: c.last_error,
        }
    }
}

impl From<service::SyncReport> for SyncReport {
    fn from(r: service::SyncReport) -> Self {
        let sync = r.sync.as_ref();
        SyncReport {
            reconciles: r.reconciles,
            interval_seconds: r.interval.as_secs() as i64,
            last_webhook_at: r.last_webhook_at,
            checkpoint: sync.and_then(|s| s.checkpoint),
            sync_lag_seconds: r.sync_lag.map(|lag| lag.num_milliseconds() as f64 / 1000.0),
            next_pull_at: sync.map(|s| s.next_pull_at),
            last_run: sync.and_then(|s| {
                s.last_run_at.map(|at| LastRun {
                    at,
                    window_start: s.last_window_start,
                    window_end: s.last_window_end,
                    pulled: s.last_pulled,
                    found_by_pull_only: s.last_found,
                    error: s.last_error.clone(),
                })
            }),
            runs: sync.map_or(0, |s| s.runs),
            pulled: sync.map_or(0, |s| s.pulled),
            found_by_pull_only: sync.map_or(0, |s| s.found),
            recent_found: r
                .recent_found
                .into_iter()
                .map(|f| FoundDto {
                    external_id: f.external_id,
                    modified: Timestamp::from_timestamp_micros(f.modified_us).unwrap_or_default(),
                    status: f.status,
                    found_at: f.found_at,
                })
                .collect(),
            writebacks: r.writebacks.into(),
        }
    }
}

/// A marketplace variant of the shop and the SKU its lines go to.
#[derive(Debug, Object)]
pub(super) struct ItemDto {
    /// The marketplace's item id (Bazaar `num_iid`, Shopify product id).
    pub item_id: String,
    /// Its variant (Bazaar `sku_id`, Shopify variant id); null for an item without variants.
    #[oai(nullable)]
    pub variant_id: Option<String>,
    pub title: String,
    #[oai(nullable)]
    pub properties: Option<String>,
    /// The seller's merchant code on the marketplace, if set.
    #[oai(nullable)]
    pub merchant_code: Option<String>,
    /// The SKU the variant's lines take stock from: its mapping's, else its merchant code
    /// when that names a SKU; null when neither (its orders wait, on hold `unmapped_sku`).
    #[oai(nullable)]
    pub sku_code: Option<String>,
    /// `mapped`, `merchant_code` or `unmapped`.
    pub mapping: String,
    /// Where Cairn learned of the variant: `pull` (the marketplace's item list), `order` (a
    /// trade), `mapping` (only its mapping).
    pub source: String,
    pub seen_at: DateTime<Utc>,
}

/// The shop's variants.
#[derive(Debug, Object)]
pub(super) struct ItemsDto {
    /// Unmapped variants first, then by item and variant.
    pub items: Vec<ItemDto>,
    /// The marketplace's item list was read just now.
    pub pulled: bool,
    /// Why it could not be read (the list then shows what Cairn saw in trades).
    #[oai(nullable)]
    pub pull_error: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum ItemsFound {
    /// The variants.
    #[oai(status = 200)]
    Ok(Json<ItemsDto>),
}

/// One product mapping.
#[derive(Debug, Object)]
pub(super) struct MappingIn {
    #[oai(validator(min_length = 1, max_length = 64))]
    pub item_id: String,
    /// Null (or left out) for an item without variants.
    #[oai(nullable, validator(min_length = 1, max_length = 64))]
    pub variant_id: Option<String>,
    #[oai(validator(min_length = 1, max_length = 64))]
    pub sku_code: String,
}

/// Product mappings to set.
#[derive(Debug, Object)]
pub(super) struct MappingsIn {
    /// 1 to 1,000.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub mappings: Vec<MappingIn>,
}

/// What setting the mappings changed.
#[derive(Debug, Object)]
pub(super) struct MappingsSet {
    /// How many variants now map to another SKU than before (0 for a repeat).
    pub changed: u64,
}

#[derive(ApiResponse)]
pub(super) enum MappingsSaved {
    /// Stored; orders waiting on the variants are released.
    #[oai(status = 200)]
    Ok(Json<MappingsSet>),
}
