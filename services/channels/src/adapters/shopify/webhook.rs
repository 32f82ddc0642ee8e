//! A Shopify webhook, checked before it is believed: `X-Shopify-Hmac-Sha256` over the raw body,
//! then the headers, then the payload.

use super::{Inbound, TOPICS, parse, verify as verify_signature};
use crate::domain::webhook::{self, WebhookError};

/// A Shopify webhook's headers as received; any may be missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `X-Shopify-Topic`.
    pub topic: Option<&'a str>,
    /// `X-Shopify-Hmac-Sha256`.
    pub hmac: Option<&'a str>,
    /// `X-Shopify-Webhook-Id`: the message id (dedupe).
    pub webhook_id: Option<&'a str>,
    /// `X-Shopify-Shop-Domain`.
    pub shop_domain: Option<&'a str>,
}

/// A webhook that passed every check.
#[derive(Debug)]
pub struct Verified<'a> {
    pub topic: &'a str,
    pub message_id: &'a str,
    pub inbound: Inbound,
}

/// Checks a webhook to the shop `shop_id` against the secrets it may be signed with now. The
/// checks run in a fixed order so that each failure always answers the same.
pub fn verify<'a, 's>(
    h: &Headers<'a>,
    body: &[u8],
    shop_id: &str,
    mut secrets: impl Iterator<Item = &'s str>,
) -> Result<Verified<'a>, WebhookError> {
    let Some(sig) = h.hmac else {
        return Err(WebhookError::Unsigned("X-Shopify-Hmac-Sha256 is required"));
    };
    if !secrets.any(|s| verify_signature(s, body, sig)) {
        return Err(WebhookError::BadSignature);
    }
    let topic = webhook::required(h.topic, "X-Shopify-Topic")?;
    let message_id = webhook::required(h.webhook_id, "X-Shopify-Webhook-Id")?;
    webhook::check_message_id(message_id, "X-Shopify-Webhook-Id")?;
    if h.shop_domain.is_some_and(|d| d != shop_id) {
        return Err(WebhookError::Invalid("X-Shopify-Shop-Domain is not this channel's shop".into()));
    }
    if !TOPICS.contains(&topic) {
        return Err(WebhookError::Invalid(format!("unknown topic `{topic}`")));
    }
    let inbound = parse(topic, body).map_err(|e| {
        // Not JSON at all is a malformed request; JSON that is not a Shopify payload is invalid.
        if serde_json::from_slice::<serde_json::Value>(body).is_err() {
            WebhookError::Malformed(e)
        } else {
            WebhookError::Invalid(e)
        }
    })?;
    Ok(Verified { topic, message_id, inbound })
}
