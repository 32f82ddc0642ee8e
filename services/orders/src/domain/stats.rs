//! What the dashboard charts: orders per time bucket over a window.

use kernel::Timestamp;

/// The widest window a chart may ask for.
pub const MAX_WINDOW: chrono::Duration = chrono::Duration::days(7);
/// The most buckets one answer holds.
pub const MAX_BUCKETS: i64 = 2016;

/// Why a window cannot be charted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("`since` must not be in the future")]
    Future,
    #[error("`since` may reach back at most 7 days")]
    TooWide,
    #[error("`bucket_seconds` must be 60-86400 and give at most 2016 buckets")]
    Buckets,
}

/// Checks a window from `since` to `now` cut into `bucket_seconds`.
pub fn check_window(since: Timestamp, now: Timestamp, bucket_seconds: i64) -> Result<(), WindowError> {
    if since > now {
        return Err(WindowError::Future);
    }
    if now - since > MAX_WINDOW {
        return Err(WindowError::TooWide);
    }
    if !(60..=86_400).contains(&bucket_seconds) || (now - since).num_seconds() / bucket_seconds > MAX_BUCKETS {
        return Err(WindowError::Buckets);
    }
    Ok(())
}

/// Every bucket from the one holding `since` to the one holding `now`, in order, each with its
/// count from `counted` ((bucket start in Unix seconds, count), any order) or 0: a chart
/// shows quiet minutes as zero rather than skipping them.
pub fn dense(since: Timestamp, now: Timestamp, bucket_seconds: i64, counted: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let first = since.timestamp().div_euclid(bucket_seconds) * bucket_seconds;
    let last = now.timestamp().div_euclid(bucket_seconds) * bucket_seconds;
    let by_start: std::collections::HashMap<i64, i64> = counted.iter().copied().collect();
    (0..)
        .map(|i| first + i * bucket_seconds)
        .take_while(|b| *b <= last)
        .map(|b| (b, by_start.get(&b).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
    }

    #[test]
    fn quiet_buckets_are_zero_and_the_ends_are_included() {
        let (since, now) = (at("2026-11-11T00:00:30Z"), at("2026-11-11T00:03:10Z"));
        let base = at("2026-11-11T00:00:00Z").timestamp();
        let got = dense(since, now, 60, &[(base + 120, 5), (base, 2)]);
        assert_eq!(got, vec![(base, 2), (base + 60, 0), (base + 120, 5), (base + 180, 0)]);
    }

    #[test]
    fn windows_are_bounded() {
        let now = at("2026-11-11T12:00:00Z");
        assert_eq!(check_window(now + chrono::Duration::seconds(1), now, 60), Err(WindowError::Future));
        assert_eq!(check_window(now - chrono::Duration::days(8), now, 3600), Err(WindowError::TooWide));
        assert_eq!(check_window(now - chrono::Duration::hours(1), now, 59), Err(WindowError::Buckets));
        assert_eq!(check_window(now - chrono::Duration::days(7), now, 60), Err(WindowError::Buckets));
        assert_eq!(check_window(now - chrono::Duration::days(7), now, 300), Ok(()));
        assert_eq!(check_window(now - chrono::Duration::hours(6), now, 60), Ok(()));
    }
}
