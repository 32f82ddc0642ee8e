//! When a marketplace call is tried again: how a failure is classed, and how long to wait.

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

/// The wait before the next try of a write-back that failed `attempts` times before this
/// failure: as `Retry-After` says when rate limited, else 1 s doubling up to 60 s, so an outage
/// of any length costs one call a minute per row.
pub fn backoff(attempts: i32, err: &CallError) -> chrono::Duration {
    match err {
        CallError::RateLimited(d) => chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::seconds(1)),
        _ => chrono::Duration::milliseconds((1000i64 << attempts.clamp(0, 6)).min(60_000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> CallError {
        CallError::Retry("down".into())
    }

    #[test]
    fn doubles_from_one_second_up_to_a_minute() {
        let waits: Vec<i64> = (0..9).map(|a| backoff(a, &retry()).num_milliseconds()).collect();
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
        assert_eq!(backoff(-3, &retry()), chrono::Duration::seconds(1), "a negative count is the first retry");
        assert_eq!(backoff(i32::MAX, &retry()), chrono::Duration::seconds(60));
    }

    #[test]
    fn a_rejection_backs_off_like_a_retry() {
        let e = CallError::Rejected { code: "x".into(), message: "y".into() };
        assert_eq!(backoff(2, &e), chrono::Duration::seconds(4));
    }

    #[test]
    fn retry_after_wins_when_rate_limited() {
        let e = CallError::RateLimited(Duration::from_secs(7));
        assert_eq!(backoff(5, &e), chrono::Duration::seconds(7));
        assert_eq!(
            backoff(0, &CallError::RateLimited(Duration::from_millis(1500))),
            chrono::Duration::milliseconds(1500)
        );
    }
}
