//! The marketplace itself, free of I/O: money, the trade state machine and its BAZAAR.md
//! snapshot, and the generator of realistic buyers. No clock (callers pass `now` in Unix
//! milliseconds), no async, no HTTP.

pub mod courier;
pub mod ids;
pub mod money;
pub mod people;
pub mod trade;

/// Why a marketplace operation was refused. Each variant has a stable `isv.*` code and an HTTP
/// status, shared by the Open API and the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("trade `{0}` does not exist")]
    TradeNotFound(String),
    #[error("shop `{0}` does not exist")]
    ShopNotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// The trade's status (or a line's refund status) does not allow the operation.
    #[error("{0}")]
    InvalidStatus(String),
    /// Shipping again with a different waybill than the one already on the line(s).
    #[error("trade `{tid}` is already shipped with waybill `{waybill_no}`")]
    AlreadyShipped { tid: String, waybill_no: String },
    #[error("shop `{0}` already exists")]
    ShopExists(String),
    /// No item, variant or merchant code of the shop is this.
    #[error("{0}")]
    ItemNotFound(String),
}

impl SimError {
    /// The stable error code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            SimError::TradeNotFound(_) => "isv.trade-not-exist",
            SimError::ShopNotFound(_) => "isv.shop-not-exist",
            SimError::InvalidParameter(_) => "isv.invalid-parameter",
            SimError::InvalidStatus(_) => "isv.invalid-trade-status",
            SimError::AlreadyShipped { .. } => "isv.already-shipped",
            SimError::ShopExists(_) => "isv.shop-exists",
            SimError::ItemNotFound(_) => "isv.item-not-exist",
        }
    }

    /// The HTTP status the error is answered with.
    pub fn http_status(&self) -> u16 {
        match self {
            SimError::TradeNotFound(_) | SimError::ShopNotFound(_) | SimError::ItemNotFound(_) => 404,
            SimError::InvalidParameter(_) => 400,
            SimError::InvalidStatus(_) | SimError::AlreadyShipped { .. } | SimError::ShopExists(_) => 409,
        }
    }
}
