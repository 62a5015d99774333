//! Redis entry ids (`ms-n`) and weir sequence numbers.
//!
//! The rule: `seq = ms << 20 | n`. It is lossless and keeps the order of
//! ids for every id with `ms < 2^44` (until the year 2527) and `n < 2^20`
//! (1 048 576 entries in one millisecond); any other id is an [`IdError`],
//! never a wrap. A message's timestamp is the id's `ms`.
//!
//! Why 20 bits for `n` (SeaStreamer's Redis backend uses 16): a server
//! numbers entries by its cached clock, which stands still while it works
//! through one batch of pipelined commands, so one pipeline of 100 000
//! XADDs gets one millisecond and `n` up to 99 999; 16 bits refused such
//! streams (the reference fails on them too).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use weir_core::{SeqNo, Timestamp};

/// Bits of a seq that hold the id's `n`.
const N_BITS: u32 = 20;
/// The largest `ms` a seq can hold.
pub const MAX_MS: u64 = (1 << (64 - N_BITS)) - 1;
/// The largest `n` a seq can hold.
pub const MAX_N: u64 = (1 << N_BITS) - 1;

/// An entry id that is not `ms-n`, or does not fit a seq.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Not two decimal numbers joined by `-`.
    #[error("entry id {0:?} is not of the form MS-N")]
    Malformed(String),
    /// `ms` or `n` too large for a weir seq.
    #[error("entry id {0} does not fit a weir seq (ms < 2^44 and n < 2^20 do)")]
    OutOfRange(EntryId),
}

/// A Redis stream entry id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// Milliseconds since the Unix epoch.
    pub ms: u64,
    /// The entry's number within its millisecond.
    pub n: u64,
}

impl EntryId {
    /// The id below every entry: reading after it reads everything.
    pub const ZERO: EntryId = EntryId { ms: 0, n: 0 };

    /// The id a seq names.
    pub fn from_seq(seq: SeqNo) -> EntryId {
        EntryId { ms: seq.0 >> N_BITS, n: seq.0 & MAX_N }
    }

    /// The seq of this id, if it fits.
    pub fn to_seq(self) -> Result<SeqNo, IdError> {
        if self.ms > MAX_MS || self.n > MAX_N {
            return Err(IdError::OutOfRange(self));
        }
        Ok(SeqNo(self.ms << N_BITS | self.n))
    }

    /// The first possible id of millisecond `ms`.
    pub fn at_millis(ms: u64) -> EntryId {
        EntryId { ms, n: 0 }
    }

    /// The greatest id before this one: reading *after* it (XREAD and
    /// XGROUP SETID take exclusive ids) starts *at* this one.
    pub fn before(self) -> EntryId {
        match (self.ms, self.n) {
            (0, 0) => EntryId::ZERO,
            (ms, 0) => EntryId { ms: ms - 1, n: u64::MAX },
            (ms, n) => EntryId { ms, n: n - 1 },
        }
    }

    /// The timestamp of this id (its `ms`).
    pub fn timestamp(self) -> Timestamp {
        i64::try_from(self.ms)
            .ok()
            .and_then(|ms| Timestamp::from_unix_millis(ms).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Converts ids' milliseconds to timestamps, once for a run of ids in the
/// same millisecond (the entries of one read or one pipeline mostly share
/// theirs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stamps {
    last: Option<(u64, Timestamp)>,
}

impl Stamps {
    /// The timestamp of `id`, as [`EntryId::timestamp`].
    pub fn of(&mut self, id: EntryId) -> Timestamp {
        match self.last {
            Some((ms, at)) if ms == id.ms => at,
            _ => {
                let at = id.timestamp();
                self.last = Some((id.ms, at));
                at
            }
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

impl EntryId {
    /// Parses `ms-n` from a reply's bytes as they are (every entry read or
    /// added goes through here), in one pass, with no text made unless it
    /// is malformed.
    pub fn from_ascii(bytes: &[u8]) -> Result<EntryId, IdError> {
        let parsed = leading_decimal(bytes).and_then(|(ms, rest)| match rest {
            [b'-', digits @ ..] => match leading_decimal(digits)? {
                (n, []) => Some(EntryId { ms, n }),
                _ => None,
            },
            _ => None,
        });
        parsed.ok_or_else(|| IdError::Malformed(String::from_utf8_lossy(bytes).into_owned()))
    }
}

impl FromStr for EntryId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        EntryId::from_ascii(text.as_bytes())
    }
}

/// The number the ASCII digits at the start of `bytes` spell (at least
/// one) and the bytes after them; `None` without a digit, or for a number
/// past `u64`.
fn leading_decimal(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut at = 0;
    while let Some(digit) = bytes.get(at).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        value = if at < 19 {
            // Up to 19 digits cannot pass u64::MAX (20 digits): no checks.
            value * 10 + u64::from(digit)
        } else {
            value.checked_mul(10)?.checked_add(u64::from(digit))?
        };
        at += 1;
    }
    (at > 0).then(|| (value, &bytes[at..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seq_rule_is_lossless_and_keeps_order() {
        let ids =
            ["0-1", "0-1048575", "1-0", "1700000000000-0", "1700000000000-99999", "17592186044415-1048575"];
        let ids: Vec<EntryId> = ids.iter().map(|t| t.parse().unwrap()).collect();
        let seqs: Vec<SeqNo> = ids.iter().map(|id| id.to_seq().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept: {seqs:?}");
        for (id, seq) in ids.iter().zip(&seqs) {
            assert_eq!(EntryId::from_seq(*seq), *id, "round trip of {id}");
        }
        assert_eq!("1-2".parse::<EntryId>().unwrap().to_seq(), Ok(SeqNo(1_048_578)));
    }

    #[test]
    fn ids_that_do_not_fit_are_errors() {
        let big_n: EntryId = "5-1048576".parse().unwrap();
        assert_eq!(big_n.to_seq(), Err(IdError::OutOfRange(big_n)));
        let big_ms: EntryId = "17592186044416-0".parse().unwrap();
        assert!(big_ms.to_seq().unwrap_err().to_string().contains("17592186044416-0"));
        let max: EntryId = "18446744073709551615-007".parse().unwrap();
        assert_eq!(max, EntryId { ms: u64::MAX, n: 7 }, "the largest u64, and leading zeros");
        for bad in
            ["", "5", "-1", "1-", "a-1", "1-b", "1-2-3", " 1-0", "+1-0", "18446744073709551616-0", "1-0x"]
        {
            assert_eq!(bad.parse::<EntryId>(), Err(IdError::Malformed(bad.into())), "{bad:?}");
        }
    }

    #[test]
    fn bytes_parse_like_text() {
        assert_eq!(EntryId::from_ascii(b"1700000000000-42"), Ok(EntryId { ms: 1_700_000_000_000, n: 42 }));
        assert_eq!(EntryId::from_ascii(b"1-\xff"), Err(IdError::Malformed("1-\u{fffd}".into())), "not UTF-8");
        assert_eq!(EntryId::from_ascii(b""), Err(IdError::Malformed(String::new())));
        let nineteen = EntryId::from_ascii(b"9999999999999999999-0000000000000000001");
        assert_eq!(
            nineteen,
            Ok(EntryId { ms: 9_999_999_999_999_999_999, n: 1 }),
            "19 digits, the unchecked path"
        );
        assert!(EntryId::from_ascii(b"99999999999999999999-0").is_err(), "20 nines pass u64");
    }

    #[test]
    fn stamps_follow_each_id_whatever_the_order() {
        let mut stamps = Stamps::default();
        for (ms, n) in [(5, 0), (5, 1), (9, 0), (5, 2), (0, 0), (u64::MAX, 0)] {
            let id = EntryId { ms, n };
            assert_eq!(stamps.of(id), id.timestamp(), "{id}");
        }
    }

    #[test]
    fn before_is_the_greatest_smaller_id() {
        assert_eq!(EntryId { ms: 5, n: 3 }.before(), EntryId { ms: 5, n: 2 });
        assert_eq!(EntryId { ms: 5, n: 0 }.before(), EntryId { ms: 4, n: u64::MAX });
        assert_eq!(EntryId::ZERO.before(), EntryId::ZERO);
        assert_eq!(EntryId { ms: 1_700_000_000_123, n: 0 }.timestamp().unix_millis(), 1_700_000_000_123);
    }
}
