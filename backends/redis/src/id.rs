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
    // Eight digits at a time while there are eight (a millisecond has 13),
    // twice at most: 16 digits stay far below u64::MAX.
    while let Some(eight) = bytes.get(at..at + 8).filter(|_| at < 16).and_then(eight_digits) {
        value = value * 100_000_000 + eight;
        at += 8;
    }
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

/// The number eight ASCII digits spell, or `None` if any byte is not a
/// digit: all eight checked and converted at once in a `u64`.
fn eight_digits(chunk: &[u8]) -> Option<u64> {
    const LANES: u64 = 0x0101_0101_0101_0101;
    let v = u64::from_le_bytes(chunk.try_into().ok()?);
    // A digit is 0x30..=0x39: high nibble 3, and adding 6 keeps it 3.
    let digits = v & (0xF0 * LANES) == 0x30 * LANES && (v + 0x06 * LANES) & (0xF0 * LANES) == 0x30 * LANES;
    if !digits {
        return None;
    }
    // The first digit is the lowest byte. Pairs, then fours, then all eight.
    let v = v - 0x30 * LANES;
    let v = v * 10 + (v >> 8);
    let pairs = 0x0000_00FF_0000_00FF;
    // The sum lands in the high half; what passes 64 bits is not wanted.
    let high = (v & pairs).wrapping_mul(100 + (1_000_000 << 32));
    let low = ((v >> 16) & pairs).wrapping_mul(1 + (10_000 << 32));
    Some(high.wrapping_add(low) >> 32)
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

    /// The plain reading of `ms-n`, to check the fast one against.
    fn plain(text: &[u8]) -> Option<EntryId> {
        let text = std::str::from_utf8(text).ok()?;
        let (ms, n) = text.split_once('-')?;
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        (all_digits(ms) && all_digits(n)).then_some(())?;
        Some(EntryId { ms: ms.parse().ok()?, n: n.parse().ok()? })
    }

    #[test]
    fn ids_parse_like_the_plain_reading_whatever_the_bytes() {
        // Digits of every length around the 8-digit steps, with one byte at
        // every place changed to a near-digit (/ : - x, 0x80+) or not.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..20_000 {
            let mut text = Vec::new();
            for part in 0..2 {
                if part == 1 {
                    text.push(b'-');
                }
                for _ in 0..next(24) {
                    text.push(b'0' + u8::try_from(next(10)).unwrap());
                }
            }
            if next(2) == 0 && !text.is_empty() {
                let at = usize::try_from(next(text.len() as u64)).unwrap();
                text[at] = [b'/', b':', b'-', b'x', 0xB0, 0x3A + 6][usize::try_from(next(6)).unwrap()];
            }
            let want =
                plain(&text).ok_or_else(|| IdError::Malformed(String::from_utf8_lossy(&text).into_owned()));
            assert_eq!(EntryId::from_ascii(&text), want, "{:?}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn eight_digits_at_once() {
        assert_eq!(eight_digits(b"17647800"), Some(17_647_800));
        assert_eq!(eight_digits(b"00000001"), Some(1));
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        for bad in [b"1764780/", b":7647800", b"1234-678", b"1234567\xff"] {
            assert_eq!(eight_digits(bad), None, "{bad:?}");
        }
        assert_eq!(eight_digits(b"1234567"), None, "seven bytes");
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
