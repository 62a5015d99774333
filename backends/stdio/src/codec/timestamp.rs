//! Timestamps as the line format writes them, read and written without allocating.
//!
//! [`Timestamp::parse`] and [`Timestamp::write_full`] go through `time`'s format
//! descriptions, which allocate (an error string on every failed parse, a
//! `String` on every write). Every header's first part is tried as a timestamp,
//! so that cost would land on every keyed line; these fixed-format versions give
//! the same answers (tested against the core's functions) without it.

use time::{Date, Month, PrimitiveDateTime, Time};
use weir_core::Timestamp;

/// Reads `[+|-]YYYY-MM-DDTHH:MM:SS[.fraction][Z]` as UTC, exactly as [`Timestamp::parse`] does.
///
/// Like `time`'s `[subsecond]`, the fraction takes 1 to 32 digits and digits past
/// the ninth (below a nanosecond) are read and ignored.
pub(crate) fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.as_bytes();
    let text = text.strip_suffix(b"Z").unwrap_or(text);
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (fixed, fraction) = text.split_at_checked(19)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', n0, n1, b':', s0, s1] = *fixed
    else {
        return None;
    };
    let year = i32::from(number(&[y0, y1, y2, y3])?);
    let year = if negative { -year } else { year };
    let month = Month::try_from(number(&[m0, m1])? as u8).ok()?;
    let date = Date::from_calendar_date(year, month, number(&[d0, d1])? as u8).ok()?;
    let hms = [number(&[h0, h1])?, number(&[n0, n1])?, number(&[s0, s1])?].map(|n| n as u8);
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=32).contains(&digits.len()) => {
            let mut nanos = 0;
            for (at, &digit) in digits.iter().enumerate() {
                if !digit.is_ascii_digit() {
                    return None;
                }
                if at < 9 {
                    nanos += u32::from(digit - b'0') * 10u32.pow(8 - at as u32);
                }
            }
            nanos
        }
        _ => return None,
    };
    let time = Time::from_hms_nano(hms[0], hms[1], hms[2], nanos).ok()?;
    Some(Timestamp::from_datetime(PrimitiveDateTime::new(date, time).assume_utc()))
}

/// The value of 2 or 4 ASCII digits.
fn number(digits: &[u8]) -> Option<u16> {
    digits
        .iter()
        .try_fold(0u16, |value, &digit| digit.is_ascii_digit().then(|| value * 10 + u16::from(digit - b'0')))
}

/// Appends the producers' full form, `2026-01-02T03:04:05.123456`, as [`Timestamp::write_full`] writes it.
pub(crate) fn write_timestamp(at: Timestamp, out: &mut Vec<u8>) {
    let at = at.datetime();
    let year = at.year();
    if year < 0 {
        out.push(b'-');
    }
    push_padded(out, u64::from(year.unsigned_abs()), 4);
    out.push(b'-');
    push_padded(out, u64::from(u8::from(at.month())), 2);
    out.push(b'-');
    push_padded(out, u64::from(at.day()), 2);
    out.push(b'T');
    push_padded(out, u64::from(at.hour()), 2);
    out.push(b':');
    push_padded(out, u64::from(at.minute()), 2);
    out.push(b':');
    push_padded(out, u64::from(at.second()), 2);
    out.push(b'.');
    push_padded(out, u64::from(at.microsecond()), 6);
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
pub(crate) fn push_padded(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while value > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    let start = start.min(digits.len() - width.min(digits.len()));
    out.extend_from_slice(&digits[start..]);
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
    fn pads_numbers() {
        let mut out = Vec::new();
        for (value, width) in [(0, 0), (0, 4), (7, 2), (123, 2), (u64::MAX, 0), (u64::MAX, 30)] {
            push_padded(&mut out, value, width);
            out.push(b' ');
        }
        assert_eq!(String::from_utf8(out).unwrap(), format!("0 0000 07 123 {0} {0} ", u64::MAX));
    }

    proptest! {
        #[test]
        fn agrees_with_core_on_near_timestamps(
            text in r"[+-]?[0-9]{3,5}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{0,35})?Z{0,2}"
        ) {
            prop_assert_eq!(parse_timestamp(&text), Timestamp::parse(&text).ok());
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
    }
}
