//! A Bazaar webhook, checked as BAZAAR.md says: signed timestamp within the skew, HMAC over
//! `"{timestamp}.{raw body}"`, headers that agree with the body.

use super::{Message, TOPICS, verify as verify_signature};
use crate::domain::webhook::{self, WebhookError};
use kernel::{Timestamp, trade::TradeSnapshot};

/// A Bazaar webhook's headers as received; any may be missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `X-Bazaar-Topic`.
    pub topic: Option<&'a str>,
    /// `X-Bazaar-Message-Id`.
    pub message_id: Option<&'a str>,
    /// `X-Bazaar-Timestamp` (Unix seconds).
    pub timestamp: Option<&'a str>,
    /// `X-Bazaar-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Bazaar-Shop-Id`.
    pub shop_id: Option<&'a str>,
}

/// A webhook that passed every check.
#[derive(Debug)]
pub struct Verified<'a> {
    pub topic: &'a str,
    pub message_id: &'a str,
    pub trade: TradeSnapshot,
}

/// Checks a webhook to the shop `shop_id` against the secrets it may be signed with at `now`.
/// The signature is checked before anything in the body is believed; the checks run in a fixed
/// order so that each failure always answers the same.
pub fn verify<'a, 's>(
    h: &Headers<'a>,
    body: &[u8],
    shop_id: &str,
    mut secrets: impl Iterator<Item = &'s str>,
    now: Timestamp,
) -> Result<Verified<'a>, WebhookError> {
    let (Some(sig), Some(ts)) = (h.signature, h.timestamp) else {
        return Err(WebhookError::Unsigned("X-Bazaar-Signature and X-Bazaar-Timestamp are required"));
    };
    let ts_num: i64 = ts
        .trim()
        .parse()
        .map_err(|_| WebhookError::StaleTimestamp("X-Bazaar-Timestamp must be Unix seconds".into()))?;
    if !webhook::within_skew(ts_num, now) {
        return Err(WebhookError::StaleTimestamp(format!(
            "X-Bazaar-Timestamp is more than {} s from now",
            webhook::MAX_SKEW_SECONDS
        )));
    }
    if !secrets.any(|s| verify_signature(s, ts.trim(), body, sig)) {
        return Err(WebhookError::BadSignature);
    }
    let topic = webhook::required(h.topic, "X-Bazaar-Topic")?;
    let message_id = webhook::required(h.message_id, "X-Bazaar-Message-Id")?;
    webhook::check_message_id(message_id, "X-Bazaar-Message-Id")?;
    if webhook::required(h.shop_id, "X-Bazaar-Shop-Id")? != shop_id {
        return Err(WebhookError::Invalid("X-Bazaar-Shop-Id is not this channel's shop".into()));
    }
    if !TOPICS.contains(&topic) {
        return Err(WebhookError::Invalid(format!("unknown topic `{topic}`")));
    }
    let msg: Message = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("body is not a Bazaar message: {e}")))?;
    if msg.shop_id != shop_id || msg.topic != topic {
        return Err(WebhookError::Invalid("body shop_id/topic do not match the headers".into()));
    }
    let trade = msg.trade.into_snapshot().map_err(WebhookError::Invalid)?;
    Ok(Verified { topic, message_id, trade })
}
