//! RFC 3339 timestamps for the API's `createdAt`, `expiresAt`, … fields. Pure
//! conversions: the caller supplies every instant.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// UTC with exactly three fraction digits.
const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// An instant, ms since the epoch, written as RFC 3339 on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ms(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_ms(&text)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom("not an RFC 3339 timestamp"))
    }
}

/// `2026-01-22T10:00:00.250Z`: UTC, always with millisecond precision, so every
/// timestamp the API shows has the same length and sorts as text.
pub fn format_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

/// Unix seconds of an instant, rounded up: a reset is never announced before it
/// happens.
pub fn unix_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// Whole seconds from `now_ms` until `at_ms`, rounded up (0 once it has passed).
pub fn seconds_until(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1000)
}

/// Parses an RFC 3339 timestamp with any offset into ms since the epoch. `None` for a
/// malformed one or one before 1970.
pub fn parse_ms(text: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_spec() {
        assert_eq!(format_ms(1_769_076_000_000), "2026-01-22T10:00:00.000Z");
        assert_eq!(format_ms(1_769_076_000_250), "2026-01-22T10:00:00.250Z");
        assert_eq!(format_ms(1_769_076_000_007), "2026-01-22T10:00:00.007Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        let shown = format_ms(1_769_076_000_250);
        assert_eq!(parse_ms(&shown), Some(1_769_076_000_250), "round trip");
    }

    #[test]
    fn parses_offsets_and_refuses_junk() {
        assert_eq!(parse_ms("2026-01-22T10:00:00Z"), Some(1_769_076_000_000));
        assert_eq!(
            parse_ms("2026-01-22T12:00:00+02:00"),
            Some(1_769_076_000_000)
        );
        assert_eq!(parse_ms("2026-01-22"), None);
        assert_eq!(parse_ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_ms("yesterday"), None);
    }
}
