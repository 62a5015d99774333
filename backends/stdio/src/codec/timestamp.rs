//! Timestamps as the line format writes them, read and written without allocating.
//!
//! [`Timestamp::parse`] and [`Timestamp::write_full`] go through `time`'s format
//! descriptions, which allocate (an error string on every failed parse, a
//! `String` on every write). Every header's first part is tried as a timestamp,
//! so that cost would land on every keyed line; these fixed-format versions give
//! the same answers (tested against the core's functions) without it.
//!
//! Consecutive lines mostly share their second, so both directions keep the
//! last second seen: [`SecondText`] its text for writing, [`ParsedSecond`] its
//! value for reading. A line of the same second then costs its fraction only.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};
use weir_core::Timestamp;

/// Reads `[+|-]YYYY-MM-DDTHH:MM:SS[.fraction][Z]` as UTC, exactly as [`Timestamp::parse`] does.
///
/// Like `time`'s `[subsecond]`, the fraction takes 1 to 32 digits and digits past
/// the ninth (below a nanosecond) are read and ignored.
#[cfg(test)]
pub(crate) fn parse_timestamp(text: &str) -> Option<Timestamp> {
    ParsedSecond::default().parse(text.as_bytes())
}

/// The last second [`ParsedSecond::parse`] read: its text and its value.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParsedSecond {
    text: [u8; 19],
    /// `None` until a timestamp without a sign was read.
    at: Option<Timestamp>,
}

impl ParsedSecond {
    /// [`parse_timestamp`], reading the date and time only when the second
    /// differs from the previous call's.
    pub(crate) fn parse(&mut self, text: &[u8]) -> Option<Timestamp> {
        let text = text.strip_suffix(b"Z").unwrap_or(text);
        let (negative, text) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let (fixed, fraction) = text.split_at_checked(19)?;
        // A fixed size: compared inline, not by a call to `memcmp`.
        let fixed: &[u8; 19] = fixed.try_into().ok()?;
        let nanos = parse_fraction(fraction)?;
        if !negative {
            return self.second(fixed)?.with_nanosecond(nanos);
        }
        let at = Timestamp::from_datetime(parse_second(fixed, negative)?);
        at.with_nanosecond(nanos)
    }

    /// [`parse`](Self::parse) of the producers' full form,
    /// `2026-01-02T03:04:05.123456`: the same answer (no sign, no `Z` and
    /// six digits of fraction are what `parse` reads too), fewer checks.
    #[inline]
    pub(crate) fn parse_full(&mut self, text: &[u8; 26]) -> Option<Timestamp> {
        let (fixed, fraction) = text.split_first_chunk::<19>()?;
        let nanos = parse_fraction(fraction)?;
        self.second(fixed)?.with_nanosecond(nanos)
    }

    /// The second `fixed` (a year without a sign) says, from the previous
    /// call's if it is the same.
    #[inline]
    fn second(&mut self, fixed: &[u8; 19]) -> Option<Timestamp> {
        match self.at {
            Some(at) if self.text == *fixed => Some(at),
            _ => {
                let at = Timestamp::from_datetime(parse_second(fixed, false)?);
                self.text.copy_from_slice(fixed);
                self.at = Some(at);
                Some(at)
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (19 bytes) as a UTC time, the year negated if `negative`.
fn parse_second(fixed: &[u8], negative: bool) -> Option<OffsetDateTime> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1] = *fixed
    else {
        return None;
    };
    let year = i32::from(number(&[y0, y1, y2, y3])?);
    let year = if negative { -year } else { year };
    let month = Month::try_from(number(&[m0, m1])? as u8).ok()?;
    let date = Date::from_calendar_date(year, month, number(&[d0, d1])? as u8).ok()?;
    let hms = [number(&[h0, h1])?, number(&[n0, n1])?, number(&[s0, s1])?].map(|n| n as u8);
    let time = Time::from_hms(hms[0], hms[1], hms[2]).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// What a fraction of `n` digits (up to 9) is multiplied by to make nanoseconds.
const SCALE: [u32; 10] =
    [1_000_000_000, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// The nanoseconds of `[.fraction]`: nothing, or a dot and 1 to 32 digits.
#[inline]
fn parse_fraction(fraction: &[u8]) -> Option<u32> {
    match fraction {
        [] => Some(0),
        // Microseconds, what producers write: no loop.
        [b'.', digits @ ..] if digits.len() == 6 => {
            let mut micros = 0;
            for &digit in digits {
                let digit = digit.wrapping_sub(b'0');
                if digit > 9 {
                    return None;
                }
                micros = micros * 10 + u32::from(digit);
            }
            Some(micros * 1_000)
        }
        [b'.', digits @ ..] if (1..=32).contains(&digits.len()) => {
            let mut nanos = 0u32;
            for (at, &digit) in digits.iter().enumerate() {
                if !digit.is_ascii_digit() {
                    return None;
                }
                if at < 9 {
                    nanos = nanos * 10 + u32::from(digit - b'0');
                }
            }
            Some(nanos * SCALE[digits.len().min(9)])
        }
        _ => None,
    }
}

/// The value of 2 or 4 ASCII digits.
fn number(digits: &[u8]) -> Option<u16> {
    digits
        .iter()
        .try_fold(0u16, |value, &digit| digit.is_ascii_digit().then(|| value * 10 + u16::from(digit - b'0')))
}

/// Bytes of the usual full-form timestamp, `2026-01-02T03:04:05.123456`.
pub(crate) const TIMESTAMP: usize = 26;

/// The text of the last second written, `2026-01-02T03:04:05.` (a `-` first
/// for a negative year), with room for the microseconds after it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SecondText {
    /// The second `text` holds, `None` before the first write.
    second: Option<(Date, u8, u8, u8)>,
    text: [u8; 30],
    /// Where the microseconds go: `text[..micros]` is the second and its dot.
    micros: usize,
}

impl SecondText {
    /// Appends the producers' full form, `2026-01-02T03:04:05.123456`, as
    /// [`Timestamp::write_full`] writes it; the date and time are formatted
    /// only when the second differs from the previous call's.
    pub(crate) fn write(&mut self, at: Timestamp, out: &mut Vec<u8>) {
        match self.text(at) {
            Ok(usual) => out.extend_from_slice(usual),
            Err(other) => out.extend_from_slice(other),
        }
    }

    /// The text [`write`](Self::write) appends: `Ok` for the usual
    /// [`TIMESTAMP`] bytes (a four-digit year, not negative), which copies
    /// as a fixed-size array, `Err` for another length.
    pub(crate) fn text(&mut self, at: Timestamp) -> Result<&[u8; TIMESTAMP], &[u8]> {
        let at = at.datetime();
        let second = (at.date(), at.hour(), at.minute(), at.second());
        if self.second != Some(second) {
            self.fill(at);
            self.second = Some(second);
        }
        let end = self.micros + 6;
        if let Some(micros) = self.text.get_mut(self.micros..end) {
            micros.copy_from_slice(&fixed_digits::<6>(at.microsecond()));
        }
        let text = self.text.get(..end).unwrap_or_default();
        text.try_into().map_err(|_| text)
    }

    /// Formats `at`'s date and time, up to its dot.
    fn fill(&mut self, at: OffsetDateTime) {
        let (year, month, day) = at.to_calendar_date();
        let mut text = Vec::with_capacity(self.text.len());
        if year < 0 {
            text.push(b'-');
        }
        // `time` writes at least four digits; its years have at most six.
        if year.unsigned_abs() > 9999 {
            push_decimal(&mut text, u64::from(year.unsigned_abs()));
        } else {
            text.extend_from_slice(&fixed_digits::<4>(year.unsigned_abs()));
        }
        for (separator, value) in [
            (b'-', u8::from(month)),
            (b'-', day),
            (b'T', at.hour()),
            (b':', at.minute()),
            (b':', at.second()),
        ] {
            text.push(separator);
            text.extend_from_slice(&fixed_digits::<2>(u32::from(value)));
        }
        text.push(b'.');
        self.micros = text.len().min(self.text.len() - 6);
        if let Some(head) = self.text.get_mut(..self.micros) {
            head.copy_from_slice(text.get(..self.micros).unwrap_or_default());
        }
    }
}

/// Appends the producers' full form of `at` (see [`SecondText::write`]), without a cache.
#[cfg(test)]
pub(crate) fn write_timestamp(at: Timestamp, out: &mut Vec<u8>) {
    SecondText::default().write(at, out);
}

/// Two decimal digits of each value 0 to 99.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The last `N` decimal digits of `value`, zero-padded; by pairs.
fn fixed_digits<const N: usize>(mut value: u32) -> [u8; N] {
    let mut digits = [b'0'; N];
    for pair in digits.rchunks_mut(2) {
        let at = (value % 100) as usize * 2;
        value /= 100;
        match pair {
            [tens, ones] => [*tens, *ones] = [PAIRS[at], PAIRS[at + 1]],
            [ones] => *ones = PAIRS[at + 1],
            _ => {}
        }
    }
    digits
}

/// Appends `value` in decimal, no padding.
pub(crate) fn push_decimal(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0; 20];
    let end = put_decimal(&mut digits, 0, value);
    out.extend_from_slice(&digits[..end]);
}

/// Writes `value` in decimal, no padding, at `buf[at..]`, by pairs of
/// digits; returns where it ends. `buf` has room for the digits (a `u64`
/// has at most 20).
#[inline]
pub(crate) fn put_decimal(buf: &mut [u8], at: usize, mut value: u64) -> usize {
    let end = at + value.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut pair_at = end;
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        pair_at -= 2;
        buf[pair_at..pair_at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        buf[at] = b'0' + value as u8;
    }
    end
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn full(at: Timestamp) -> String {
        let mut out = Vec::new();
        write_timestamp(at, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reads_the_forms_core_reads() {
        let cases = [
            ("2026-01-02T03:04:05", Some(1_767_323_045_000_000_000)),
            ("2026-01-02T03:04:05Z", Some(1_767_323_045_000_000_000)),
            ("2026-01-02T03:04:05.5", Some(1_767_323_045_500_000_000)),
            ("2026-01-02T03:04:05.123456", Some(1_767_323_045_123_456_000)),
            ("2026-01-02T03:04:05.000000007Z", Some(1_767_323_045_000_000_007)),
            ("2026-01-02T03:04:05.1234567891234", Some(1_767_323_045_123_456_789)),
            ("+2026-01-02T03:04:05", Some(1_767_323_045_000_000_000)),
            ("1970-01-01T00:00:00", Some(0)),
            ("2024-02-29T23:59:59", Some(1_709_251_199_000_000_000)),
            ("2023-02-29T00:00:00", None),
            ("2026-13-01T00:00:00", None),
            ("2026-01-02T24:00:00", None),
            ("2026-01-02T23:60:00", None),
            ("2026-01-02T23:59:60", None),
            ("2026-01-02 03:04:05", None),
            ("2026-01-02T03:04:05.", None),
            ("2026-01-02T03:04:05.Z", None),
            ("2026-01-02T03:04:05ZZ", None),
            ("2026-01-02T03:04:05+01:00", None),
            ("2026-1-02T03:04:05", None),
            ("Jan 1, 2022", None),
            ("orders", None),
            ("", None),
            ("Z", None),
        ];
        for (text, nanos) in cases {
            let ours = parse_timestamp(text);
            assert_eq!(ours.map(Timestamp::unix_nanos), nanos, "{text}");
            assert_eq!(ours, Timestamp::parse(text).ok(), "{text}");
        }
    }

    #[test]
    fn writes_microseconds_like_core() {
        for nanos in
            [0, 1_767_323_045_123_456_789, -1, -62_135_596_800_000_000_000, 253_402_300_799_999_999_999]
        {
            let at = Timestamp::from_unix_nanos(nanos).unwrap();
            assert_eq!(full(at), at.to_string());
        }
        assert_eq!(
            full(Timestamp::from_unix_nanos(1_767_323_045_123_456_789).unwrap()),
            "2026-01-02T03:04:05.123456"
        );
    }

    #[test]
    fn writes_decimals() {
        let mut out = Vec::new();
        for value in [0, 7, 10, 99, 100, 123, 1000, 4_294_967_295, u64::MAX] {
            push_decimal(&mut out, value);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("0 7 10 99 100 123 1000 4294967295 {} ", u64::MAX)
        );
        // Every number of digits, and each power of ten with its neighbours.
        let powers = (0..20).map(|exp| 10u64.pow(exp));
        for value in powers.flat_map(|p| [p - 1, p, p + 1]).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
            let mut buf = [b'#'; 24];
            let end = put_decimal(&mut buf, 2, value);
            assert_eq!(&buf[2..end], value.to_string().as_bytes());
            assert!(buf[..2].iter().chain(&buf[end..]).all(|&b| b == b'#'), "{value}: wrote outside");
        }
    }

    /// Nanoseconds of `text`, a timestamp `Timestamp::parse` reads.
    fn nanos(text: &str) -> i128 {
        Timestamp::parse(text).unwrap().unix_nanos()
    }

    /// Timestamps a writer meets in a row: many in one second (sub-millisecond
    /// steps, sub-microsecond ones that write the same text), then across each
    /// boundary of the date and time, forwards and back.
    fn sequences() -> Vec<Vec<i128>> {
        let steps = [1, 999, 1_000, 1_001, 250_000, 999_999, 1_000_000, 333_333_333];
        let mut runs = Vec::new();
        for start in [
            "2026-01-02T03:04:05",
            "2026-01-02T03:04:59.999",
            "2026-01-02T03:59:59.999",
            "2026-01-02T23:59:59.999",
            "2026-01-31T23:59:59.999",
            "2026-02-28T23:59:59.999",
            "2024-02-28T23:59:59.999",
            "2024-02-29T23:59:59.999",
            "2026-12-31T23:59:59.999",
            "1999-12-31T23:59:59.999",
            "1969-12-31T23:59:59.999",
            "0000-12-31T23:59:59.999",
            "-0001-12-31T23:59:59.999",
            "9999-12-31T23:40:00.999",
        ] {
            let first = nanos(start);
            for step in steps {
                runs.push((0..3_000).map(|i| first + i * step).collect());
                runs.push((0..3_000).map(|i| first + 3_000 * step - i * step).collect());
            }
        }
        // Back and forth across one boundary: the cache must follow every change.
        let midnight = nanos("2027-01-01T00:00:00");
        runs.push((0..1_000).map(|i| midnight + if i % 2 == 0 { -1 } else { i }).collect());
        runs
    }

    #[test]
    fn the_cached_second_writes_what_the_general_formatter_writes() {
        let mut count = 0;
        for run in sequences() {
            let mut cached = SecondText::default();
            let mut out = Vec::new();
            for nanos in run {
                let at = Timestamp::from_unix_nanos(nanos).unwrap();
                out.clear();
                cached.write(at, &mut out);
                // `to_string` is `time`'s general-purpose formatter (`Timestamp::write_full`).
                assert_eq!(std::str::from_utf8(&out).unwrap(), at.to_string(), "{nanos} ns");
                count += 1;
            }
        }
        assert!(count > 600_000, "{count}");
    }

    #[test]
    fn the_cached_second_reads_what_core_reads() {
        let mut cached = ParsedSecond::default();
        for run in sequences() {
            for nanos in run.into_iter().step_by(7) {
                let at = Timestamp::from_unix_nanos(nanos).unwrap();
                let full = at.to_string();
                // The second alone (its first 19 bytes; cut short for a negative year).
                let second = full.get(..19).unwrap_or_default().to_owned();
                for text in [format!("{full}Z"), second, full] {
                    assert_eq!(cached.parse(text.as_bytes()), Timestamp::parse(&text).ok(), "{text}");
                }
                // A sign, a bad fraction or a bad second after a cached one.
                for text in ["+2026-01-02T03:04:05.5", "-2026-01-02T03:04:05", "2026-01-02T03:04:05.x"] {
                    assert_eq!(cached.parse(text.as_bytes()), Timestamp::parse(text).ok(), "{text}");
                }
            }
        }
    }

    /// Microseconds are read without the general loop: any byte but a digit
    /// in any of the six places, those next to the digits above all, is refused.
    #[test]
    fn six_fraction_digits_are_read_and_nothing_else() {
        for at in 0..6 {
            for byte in [b'/', b':', b'.', b' ', b'a', 0, 0xff] {
                let mut fraction = *b"123456";
                fraction[at] = byte;
                let mut text = b"2026-01-02T03:04:05.".to_vec();
                text.extend_from_slice(&fraction);
                assert_eq!(ParsedSecond::default().parse(&text), None, "{}", String::from_utf8_lossy(&text));
            }
        }
        let text = "2026-01-02T03:04:05.098765";
        assert_eq!(parse_timestamp(text), Timestamp::parse(text).ok());
        assert_eq!(parse_timestamp(text).map(|at| at.datetime().nanosecond()), Some(98_765_000));
    }

    proptest! {
        #[test]
        fn agrees_with_core_on_near_timestamps(
            text in r"[+-]?[0-9]{3,5}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{0,35})?Z{0,2}"
        ) {
            prop_assert_eq!(parse_timestamp(&text), Timestamp::parse(&text).ok());
        }

        #[test]
        fn the_full_form_reads_as_core_does(
            text in r"[-+0-9][0-9]{3}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9][.0-9Z][0-9Z]{6}"
        ) {
            let fixed: &[u8; 26] = text.as_bytes().try_into().unwrap();
            let fast = ParsedSecond::default().parse_full(fixed);
            let core = Timestamp::parse(&text).ok();
            let usual = text.as_bytes()[0].is_ascii_digit()
                && text.as_bytes()[19] == b'.'
                && text.as_bytes()[20..].iter().all(u8::is_ascii_digit);
            // Read only in the usual shape, and then as core reads it.
            prop_assert_eq!(fast, if usual { core } else { None });
        }

        #[test]
        fn agrees_with_core_on_timestamp_alphabet(text in "[-+0-9T:.Z ]{0,40}") {
            prop_assert_eq!(parse_timestamp(&text), Timestamp::parse(&text).ok());
        }

        #[test]
        fn writes_what_core_writes(nanos in -377_705_116_800_000_000_000i128..253_402_300_800_000_000_000) {
            let at = Timestamp::from_unix_nanos(nanos).unwrap();
            prop_assert_eq!(full(at), at.to_string());
        }

        #[test]
        fn the_cache_follows_any_sequence(
            seconds in proptest::collection::vec(-62_135_596_800i64..253_402_300_800, 1..8),
            fractions in proptest::collection::vec(0u32..1_000_000_000, 1..40),
        ) {
            let mut written = SecondText::default();
            let mut read = ParsedSecond::default();
            for (i, nanos) in fractions.iter().enumerate() {
                let second = seconds[i % seconds.len()];
                let at = Timestamp::from_unix_nanos(i128::from(second) * 1_000_000_000 + i128::from(*nanos)).unwrap();
                let mut out = Vec::new();
                written.write(at, &mut out);
                let text = String::from_utf8(out).unwrap();
                prop_assert_eq!(&text, &at.to_string());
                prop_assert_eq!(read.parse(text.as_bytes()), Timestamp::parse(&text).ok());
            }
        }
    }
}
