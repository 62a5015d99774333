//! UTC timestamps with nanosecond precision, on top of the `time` crate.

use std::fmt;

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::TimestampError;

/// The full form written by producers: microseconds, no zone suffix (UTC).
const FULL: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");

/// The form read: seconds, then an optional fraction of 1 to 9 digits.
const READ: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");

/// A point in time, UTC. Message timestamps and seek targets.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// 1970-01-01T00:00:00 UTC.
    pub const UNIX_EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// Wraps a `time` value, converting it to UTC.
    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Self(at.to_offset(UtcOffset::UTC))
    }

    /// The same second with its fraction set to `nanosecond` (below 10^9, else
    /// `None`). Cheaper than [`from_datetime`](Self::from_datetime) of a changed
    /// `time` value: the time is UTC already.
    #[inline]
    pub fn with_nanosecond(self, nanosecond: u32) -> Option<Self> {
        self.0.replace_nanosecond(nanosecond).ok().map(Self)
    }

    /// Milliseconds since the Unix epoch (Kafka's timestamp unit).
    pub fn from_unix_millis(millis: i64) -> Result<Self, TimestampError> {
        Self::from_unix_nanos(i128::from(millis) * 1_000_000)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i128) -> Result<Self, TimestampError> {
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(Self)
            .map_err(|_| TimestampError::OutOfRange { nanos })
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`, read as UTC.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let body = text.strip_suffix('Z').unwrap_or(text);
        PrimitiveDateTime::parse(body, READ)
            .map(|at| Self(at.assume_utc()))
            .map_err(|_| TimestampError::Malformed { text: text.to_owned() })
    }

    /// Milliseconds since the Unix epoch, truncated.
    pub fn unix_millis(self) -> i64 {
        // Representable dates span about ±10^4 years: this always fits.
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// The `time` value.
    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    /// This timestamp moved by `by`, saturating at the representable range.
    pub fn saturating_add(self, by: std::time::Duration) -> Self {
        let by = Duration::try_from(by).unwrap_or(Duration::MAX);
        Self(self.0.checked_add(by).unwrap_or(self.0))
    }

    /// Writes the producers' full form, `2026-01-02T03:04:05.123456`.
    pub fn write_full(self, out: &mut impl fmt::Write) -> fmt::Result {
        match self.0.format(FULL) {
            Ok(text) => out.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_full(f)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_full(f)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let base = Timestamp::parse("2026-01-02T03:04:05").unwrap();
        assert_eq!(base.unix_millis(), 1_767_323_045_000);
        assert_eq!(Timestamp::parse("2026-01-02T03:04:05Z").unwrap(), base);
        let frac = Timestamp::parse("2026-01-02T03:04:05.123456").unwrap();
        assert_eq!(frac.unix_nanos() - base.unix_nanos(), 123_456_000);
        let nanos = Timestamp::parse("2026-01-02T03:04:05.000000007Z").unwrap();
        assert_eq!(nanos.unix_nanos() - base.unix_nanos(), 7);
        assert_eq!(Timestamp::parse("2026-01-02T03:04:05.5").unwrap().unix_millis() % 1000, 500);
    }

    #[test]
    fn rejects_malformed_naming_the_text() {
        for bad in [
            "",
            "Jan 1, 2022",
            "2026-13-01T00:00:00",
            "2026-01-02 03:04:05",
            "2026-01-02T03:04:05.",
            "2026-01-02T03:04:05+01:00",
        ] {
            let err = Timestamp::parse(bad).unwrap_err();
            assert_eq!(err, TimestampError::Malformed { text: bad.to_owned() });
        }
    }

    #[test]
    fn full_form_round_trips_at_microseconds() {
        let t = Timestamp::from_unix_nanos(1_767_323_045_123_456_000).unwrap();
        assert_eq!(t.to_string(), "2026-01-02T03:04:05.123456");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
    }
}
