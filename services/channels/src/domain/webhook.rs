//! Which webhooks are believed: the secrets a signature may use at a given time, how far a
//! signed timestamp may be from ours, and why a webhook was refused.

use kernel::Timestamp;

/// How far a webhook's timestamp may be from our clock, either way (BAZAAR.md).
pub const MAX_SKEW_SECONDS: i64 = 300;

/// How long the previous secret is still accepted after a rotation (BAZAAR.md), so the
/// marketplace can be switched over without losing a webhook.
pub const PREVIOUS_SECRET_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Whether a webhook signed at `timestamp` (Unix seconds) may be accepted at `now`: a replay of
/// a captured message stops working after [`MAX_SKEW_SECONDS`].
pub fn within_skew(timestamp: i64, now: Timestamp) -> bool {
    // `abs_diff`: a timestamp near i64::MIN must not overflow into "close enough".
    now.timestamp().abs_diff(timestamp) <= MAX_SKEW_SECONDS as u64
}

/// The longest message id stored (a longer one is refused rather than cut, which could merge
/// two messages into one).
pub const MAX_MESSAGE_ID_LEN: usize = 128;

/// The value of a header the marketplace always sends; missing and empty are the same.
pub fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, WebhookError> {
    value.filter(|v| !v.is_empty()).ok_or(WebhookError::MissingHeader(name))
}

/// Refuses a message id (from header `name`) longer than [`MAX_MESSAGE_ID_LEN`] bytes.
pub fn check_message_id(id: &str, name: &str) -> Result<(), WebhookError> {
    if id.len() > MAX_MESSAGE_ID_LEN {
        return Err(WebhookError::Invalid(format!("{name} is longer than {MAX_MESSAGE_ID_LEN} characters")));
    }
    Ok(())
}

/// A shop's webhook secrets as stored.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSecrets<'a> {
    pub current: &'a str,
    /// The secret before the last rotation.
    pub previous: Option<&'a str>,
    pub rotated_at: Option<Timestamp>,
}

impl<'a> WebhookSecrets<'a> {
    /// The secrets a webhook may be signed with at `now`: the current one, and for
    /// [`PREVIOUS_SECRET_GRACE`] after a rotation the previous one.
    pub fn accepted(self, now: Timestamp) -> impl Iterator<Item = &'a str> {
        let previous = self.previous.filter(|_| self.rotated_at.is_some_and(|at| now - at < PREVIOUS_SECRET_GRACE));
        std::iter::once(self.current).chain(previous)
    }
}

/// Why a webhook was refused. Nothing was stored in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature headers are missing (which ones, in the message).
    #[error("{0}")]
    Unsigned(&'static str),
    /// No accepted secret signs these bytes.
    #[error("The signature does not match the body")]
    BadSignature,
    /// The signed timestamp is unreadable or too far from now.
    #[error("{0}")]
    StaleTimestamp(String),
    /// A header the marketplace always sends is missing or empty.
    #[error("{0} is required")]
    MissingHeader(&'static str),
    /// Signed, but not a message this shop can send (wrong shop, unknown topic, bad trade).
    #[error("{0}")]
    Invalid(String),
    /// Signed, but the body is not JSON of the expected shape.
    #[error("{0}")]
    Malformed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_timestamps_are_stale_not_an_overflow() {
        let now = chrono::Utc::now();
        assert!(!within_skew(i64::MIN, now));
        assert!(!within_skew(i64::MAX, now));
        assert!(within_skew(now.timestamp() - MAX_SKEW_SECONDS, now));
        assert!(!within_skew(now.timestamp() + MAX_SKEW_SECONDS + 1, now));
    }

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
    }

    #[test]
    fn the_timestamp_may_be_five_minutes_off_either_way() {
        let now = at("2026-11-11T00:00:00Z");
        let t = now.timestamp();
        assert!(within_skew(t, now));
        assert!(within_skew(t - 300, now));
        assert!(within_skew(t + 300, now));
        assert!(!within_skew(t - 301, now), "a replay of an old message");
        assert!(!within_skew(t + 301, now), "a clock far ahead");
        assert!(!within_skew(0, now));
    }

    #[test]
    fn required_headers_must_be_there_and_not_empty() {
        assert_eq!(required(Some("msg-1"), "X-Id"), Ok("msg-1"));
        assert_eq!(required(Some(""), "X-Id"), Err(WebhookError::MissingHeader("X-Id")));
        assert_eq!(required(None, "X-Id").unwrap_err().to_string(), "X-Id is required");
    }

    #[test]
    fn message_ids_are_at_most_128_bytes() {
        assert_eq!(check_message_id(&"m".repeat(128), "X-Id"), Ok(()));
        let err = check_message_id(&"m".repeat(129), "X-Id").unwrap_err();
        assert_eq!(err, WebhookError::Invalid("X-Id is longer than 128 characters".into()));
    }

    #[test]
    fn only_the_current_secret_without_a_rotation() {
        let s = WebhookSecrets { current: "new", previous: None, rotated_at: None };
        assert_eq!(s.accepted(at("2026-11-11T00:00:00Z")).collect::<Vec<_>>(), ["new"]);
        // A previous secret without a rotation time is never accepted.
        let s = WebhookSecrets { current: "new", previous: Some("old"), rotated_at: None };
        assert_eq!(s.accepted(at("2026-11-11T00:00:00Z")).collect::<Vec<_>>(), ["new"]);
    }

    #[test]
    fn the_previous_secret_is_accepted_for_an_hour_after_a_rotation() {
        let rotated = at("2026-11-11T00:00:00Z");
        let s = WebhookSecrets { current: "new", previous: Some("old"), rotated_at: Some(rotated) };
        assert_eq!(s.accepted(rotated).collect::<Vec<_>>(), ["new", "old"]);
        let almost = rotated + PREVIOUS_SECRET_GRACE - chrono::Duration::milliseconds(1);
        assert_eq!(s.accepted(almost).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(s.accepted(rotated + PREVIOUS_SECRET_GRACE).collect::<Vec<_>>(), ["new"], "the hour is over");
    }
}
