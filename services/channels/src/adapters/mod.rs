//! The marketplaces behind the [`crate::connector`] port: each one's webhook format and, where
//! it has one, its Open API client. Only this module knows which marketplaces exist as code;
//! everything else asks [`api_for`] for a shop's [`MarketplaceApi`].

pub mod bazaar;
pub mod shopify;

use crate::{connector::MarketplaceApi, db::channels};
use std::time::Duration;

/// The Open API client of a connected shop, when the marketplace has one and the shop gave
/// credentials.
pub fn api_for(c: &channels::Model, http: &reqwest::Client) -> Option<Box<dyn MarketplaceApi>> {
    match c.marketplace.as_str() {
        "bazaar" => Some(Box::new(bazaar::client::BazaarClient::new(
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
