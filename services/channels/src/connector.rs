//! Marketplace connectors.
//!
//! A connector turns one marketplace's protocol into Cairn's marketplace-neutral
//! [`TradeSnapshot`]s and carries Cairn's write-backs to it. Inbound webhooks have a route per
//! marketplace (their headers and signatures differ; see `http.rs` and `shopify_http.rs`), and
//! all of them end in [`crate::ingest::ingest`]. Outbound calls go through [`MarketplaceApi`].
//! Orders and inventory only ever see `channel.trade_received`, so adding a marketplace means a
//! webhook parser, an optional `MarketplaceApi` impl and a line in [`api_for`] — nothing else.

use crate::db::channels;
use kernel::{Timestamp, trade::TradeSnapshot};
use std::time::Duration;

/// Why a marketplace call failed, as far as retrying is concerned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The marketplace asked us to slow down.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// Down, slow, 5xx, unauthorised (credentials can be fixed): try again later.
    #[error("{0}")]
    Retry(String),
    /// The marketplace refused this call for good (e.g. another waybill already shipped it).
    #[error("{code}: {message}")]
    Rejected { code: String, message: String },
}

/// One trade a pull returned, or why it could not be read.
pub type Pulled = Result<TradeSnapshot, String>;

/// A marketplace's Open API, as Cairn uses it. Implementations MUST be idempotent where the
/// marketplace is (a repeated ship with the same waybill, a repeated quantity) and MUST map
/// transport failures and 5xx to [`CallError::Retry`].
#[async_trait::async_trait]
pub trait MarketplaceApi: Send + Sync {
    /// Every trade of the shop modified in `[start, end]` (`end` in the past), read so that a
    /// trade modified while paging is not skipped.
    async fn trades_modified(&self, start: Timestamp, end: Timestamp) -> Result<Vec<Pulled>, CallError>;
    /// Marks the trade's lines shipped (all when `line_ids` is `None`).
    async fn ship(
        &self,
        external_id: &str,
        company_code: &str,
        waybill_no: &str,
        line_ids: Option<&[String]>,
    ) -> Result<(), CallError>;
    /// Sets the quantity the shop displays for a SKU.
    async fn set_quantity(&self, sku_code: &str, quantity: i64) -> Result<(), CallError>;
    /// The longest window one [`MarketplaceApi::trades_modified`] call may span.
    fn max_window(&self) -> chrono::Duration;
}

/// The Open API client of a connected shop, when the marketplace has one and the shop gave
/// credentials.
pub fn api_for(c: &channels::Model, http: &reqwest::Client) -> Option<Box<dyn MarketplaceApi>> {
    match c.marketplace.as_str() {
        "bazaar" => Some(Box::new(crate::bazaar_client::BazaarClient::new(
            http.clone(),
            c.api_base_url.as_deref()?,
            c.app_key.as_deref()?,
            c.app_secret.as_deref()?,
            c.access_token.as_deref()?,
        ))),
        _ => None,
    }
}

/// The HTTP client marketplace calls share: bounded, so a hung marketplace costs a retry, not a
/// stuck worker.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        .pool_max_idle_per_host(8)
        .build()
        .expect("HTTP client")
}
