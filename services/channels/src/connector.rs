//! The marketplace port: what Cairn asks of a marketplace's Open API, and how a call can fail.
//!
//! A connector turns one marketplace's protocol into Cairn's marketplace-neutral
//! [`TradeSnapshot`]s and carries Cairn's write-backs to it. Inbound webhooks have a route per
//! marketplace (their headers and signatures differ), and all of them end in
//! [`crate::ingest::ingest`]. Outbound calls go through [`MarketplaceApi`]. Orders and
//! inventory only ever see `channel.trade_received`, so adding a marketplace means a webhook
//! parser, an optional `MarketplaceApi` impl and a line in `adapters::api_for` — nothing else.
//! This module knows no adapter: the adapters depend on it, never the other way round.

pub use crate::domain::mapping::Variant;
pub use crate::domain::retry::CallError;
use kernel::{Timestamp, trade::TradeSnapshot};

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
    /// Sets the quantity the shop displays for one variant, by the marketplace's own ids (for
    /// a variant without a merchant code, or mapped to a SKU of another code).
    async fn set_variant_quantity(
        &self,
        item_id: &str,
        variant_id: Option<&str>,
        quantity: i64,
    ) -> Result<(), CallError>;
    /// Every item of the shop with its variants, or `None` when the marketplace has no item
    /// list.
    async fn items(&self) -> Result<Option<Vec<Variant>>, CallError>;
    /// The longest window one [`MarketplaceApi::trades_modified`] call may span.
    fn max_window(&self) -> chrono::Duration;
}
