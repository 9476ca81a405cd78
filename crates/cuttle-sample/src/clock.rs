//! Sample time: timestamps derived from the seed, never from the clock.

use cuttle_domain::documents::Timestamp;

use crate::rng::Rng;

pub(crate) const SECOND: i64 = 1_000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// 2025-01-01T00:00:00Z, in milliseconds since the Unix epoch.
const YEAR_2025: i64 = 1_735_689_600_000;

/// The moment the sample's history begins: a working-day morning in 2025, chosen by the seed.
pub(crate) fn origin(seed: u64) -> i64 {
    let mut rng = Rng::stream(seed, "clock", 0);
    YEAR_2025 + rng.below(300) as i64 * DAY + (8 + rng.below(3) as i64) * HOUR
}

/// `2026-01-31T12:00:00.000Z`: RFC 3339, UTC, millisecond precision.
pub(crate) fn rfc3339(ms: i64) -> String {
    timestamp(ms).as_str().to_owned()
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

/// `2026-01-31 12:00:00`: how a task log prints time.
pub(crate) fn log_time(ms: i64) -> String {
    let text = rfc3339(ms);
    format!("{} {}", &text[..10], &text[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(YEAR_2025), "2025-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_769_860_800_123), "2026-01-31T12:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(log_time(1_769_860_800_123), "2026-01-31 12:00:00");
    }

    #[test]
    fn origin_is_in_2025() {
        for seed in 0..50 {
            assert!(rfc3339(origin(seed)).starts_with("2025-"));
        }
    }
}
