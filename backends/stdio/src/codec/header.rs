//! One line's header: the bracket at its start, split into fields. Borrowed, no allocation.

use std::ops::Range;

use weir_core::key::MAX_STREAM_KEY_LEN;
use weir_core::{SeqNo, ShardId, Timestamp};

use super::timestamp::ParsedSecond;

/// Header fields as written on one line; `None` where the line leaves a field out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header<'a> {
    /// When the message was produced, if the line says.
    pub timestamp: Option<Timestamp>,
    /// The stream, already checked to be a valid stream key.
    pub key: Option<&'a str>,
    /// The explicit sequence number.
    pub seq: Option<SeqNo>,
    /// The explicit shard.
    pub shard: Option<ShardId>,
}

/// Splits one line (without its `\n` or `\r\n`) into its header and the byte range of its payload.
///
/// `None` means a raw line: there is no bracket at byte 0, or the bracket is not
/// one of the accepted headers; its payload is then the whole line. Never panics.
pub fn parse_line(line: &[u8]) -> (Option<Header<'_>>, Range<usize>) {
    match parse_line_in(line, &mut ParsedSecond::default()) {
        (Some(raw), payload) => match raw.text() {
            Some(header) => (Some(header), payload),
            // Unreachable: the key was checked byte by byte. Raw is the safe reading.
            None => (None, 0..line.len()),
        },
        (None, payload) => (None, payload),
    }
}

/// A [`Header`] whose key (checked to be a valid stream key) is still
/// bytes: the full form's key needs no UTF-8 pass until it is wanted as text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawHeader<'a> {
    pub(crate) timestamp: Option<Timestamp>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) seq: Option<SeqNo>,
    pub(crate) shard: Option<ShardId>,
}

impl<'a> RawHeader<'a> {
    /// The header with its key as text; `None` if the key is not UTF-8.
    fn text(self) -> Option<Header<'a>> {
        let key = match self.key {
            Some(key) => Some(std::str::from_utf8(key).ok()?),
            None => None,
        };
        Some(Header { timestamp: self.timestamp, key, seq: self.seq, shard: self.shard })
    }
}

impl<'a> From<Header<'a>> for RawHeader<'a> {
    fn from(header: Header<'a>) -> Self {
        let Header { timestamp, key, seq, shard } = header;
        Self { timestamp, key: key.map(str::as_bytes), seq, shard }
    }
}

/// [`parse_line`], with the second of the previous line's timestamp at
/// hand, and the key left as bytes.
pub(crate) fn parse_line_in<'a>(
    line: &'a [u8],
    second: &mut ParsedSecond,
) -> (Option<RawHeader<'a>>, Range<usize>) {
    if let Some((header, start)) = parse_full_form(line, second) {
        return (Some(header), start..line.len());
    }
    let (header, payload) = parse_general(line, second);
    (header.map(RawHeader::from), payload)
}

/// The full form producers write, `[2026-01-02T03:04:05.123456 | key | 42 | 0] `,
/// read in one pass: the header and where the payload starts. `None` for any
/// other line, which the grammar then reads.
///
/// Whatever this reads, [`parse_general`] reads the same way: the bracket
/// closes at the first `]` (none can come earlier: the parts are digits,
/// timestamp punctuation and key bytes), it has four parts, each already
/// trimmed but for the single spaces around the `|`s, and each is checked by
/// the same functions.
fn parse_full_form<'a>(line: &'a [u8], second: &mut ParsedSecond) -> Option<(RawHeader<'a>, usize)> {
    let (head, rest) = line.split_first_chunk::<30>()?;
    let [b'[', timestamp @ .., b' ', b'|', b' '] = head else { return None };
    let timestamp = second.parse_full(timestamp)?;
    let (key, rest) = rest.split_at(rest.iter().position(|&b| !is_key_byte(b))?);
    // Every byte is a key byte already (ASCII): only the length is left to check.
    if !(1..=MAX_STREAM_KEY_LEN).contains(&key.len()) {
        return None;
    }
    let rest = rest.strip_prefix(b" | ")?;
    let (seq, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(b" | ")?;
    let (shard, rest) = leading_number(rest)?;
    let rest = rest.strip_prefix(b"]")?;
    let start = line.len() - rest.len() + usize::from(rest.first() == Some(&b' '));
    let (seq, shard) = (Some(SeqNo(seq)), Some(ShardId(u32::try_from(shard).ok()?)));
    Some((RawHeader { timestamp: Some(timestamp), key: Some(key), seq, shard }, start))
}

/// [`parse_line`] by the grammar.
fn parse_general<'a>(line: &'a [u8], second: &mut ParsedSecond) -> (Option<Header<'a>>, Range<usize>) {
    let raw = (None, 0..line.len());
    let Some(after_open) = line.strip_prefix(b"[") else { return raw };
    let Some(close) = memchr::memchr(b']', after_open) else { return raw };
    let Some(header) = parse_header(&after_open[..close], second) else { return raw };
    // `[`, the inside, `]`, then one separating space if there is one.
    let mut start = close + 2;
    if line.get(start) == Some(&b' ') {
        start += 1;
    }
    (Some(header), start..line.len())
}

/// Reads the inside of a bracket: `[ts|]key[|seq[|shard]]` or `ts`, parts trimmed.
///
/// The inside must be UTF-8. Splitting at `|` (ASCII) keeps that part by part,
/// and every field is ASCII: a part with another byte is no field, so no part
/// needs checking as a whole but one that [`trim`] must decode.
fn parse_header<'a>(inner: &'a [u8], second: &mut ParsedSecond) -> Option<Header<'a>> {
    let mut parts: [&[u8]; 4] = [&[]; 4];
    let mut count = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'|', inner).chain([inner.len()]) {
        // A fifth part makes the whole bracket a payload, so stop looking.
        *parts.get_mut(count)? = trim(inner.get(start..end)?)?;
        count += 1;
        start = end + 1;
    }
    let parts = &parts[..count];
    let (timestamp, fields) =
        match parts.split_first().and_then(|(first, rest)| Some((second.parse(first)?, rest))) {
            Some((timestamp, rest)) => (Some(timestamp), rest),
            None => (None, parts),
        };
    let mut fields = fields.iter().copied();
    let key = match fields.next() {
        Some(key) => Some(valid_key(key)?),
        None => None,
    };
    let seq = match fields.next() {
        Some(seq) => Some(SeqNo(number(seq)?)),
        None => None,
    };
    let shard = match fields.next() {
        Some(shard) => Some(ShardId(number(shard)?)),
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    Some(Header { timestamp, key, seq, shard })
}

/// `str::trim` of a part; `None` if the part is not UTF-8 and has to be
/// decoded. The usual case, ASCII spaces around visible ASCII, decodes nothing:
/// a part left with other bytes inside is no field anyway.
fn trim(part: &[u8]) -> Option<&[u8]> {
    let start = part.iter().position(|&b| b != b' ').unwrap_or(part.len());
    let end = part.iter().rposition(|&b| b != b' ').map_or(start, |at| at + 1);
    let inner = part.get(start..end).unwrap_or_default();
    match (inner.first(), inner.last()) {
        (None, _) => Some(inner),
        // Visible ASCII is never white space: nothing more to trim.
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => Some(inner),
        _ => std::str::from_utf8(inner).ok().map(|text| text.trim().as_bytes()),
    }
}

/// Digits that cannot overflow a `u64` (19 nines are less than 2^64), so need no checks.
const SAFE_DIGITS: usize = 19;

/// What `str::parse` reads, like the reference: decimal, an optional leading `+`, no overflow.
fn number<T: TryFrom<u64>>(part: &[u8]) -> Option<T> {
    let digits = part.strip_prefix(b"+").unwrap_or(part);
    if digits.is_empty() {
        return None;
    }
    let mut value = 0u64;
    if digits.len() <= SAFE_DIGITS {
        for &digit in digits {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u64::from(digit - b'0');
        }
    } else {
        for &digit in digits {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
        }
    }
    T::try_from(value).ok()
}

/// The digits `text` opens with, read as [`number`] reads them, and the
/// rest; `None` if it opens with none. One pass over the digits.
// Always: twice per full-form line, where a call costs as much as its digits.
#[inline(always)]
fn leading_number(text: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    let mut len = 0;
    for &byte in text.iter().take(SAFE_DIGITS) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        value = value * 10 + u64::from(digit);
        len += 1;
    }
    let value = match len {
        0 => return None,
        // Perhaps more digits: the slow reading, with its overflow checks.
        SAFE_DIGITS if text.get(len).is_some_and(u8::is_ascii_digit) => {
            len = text.iter().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
            number(&text[..len])?
        }
        _ => value,
    };
    Some((value, &text[len..]))
}

/// Which bytes may be part of a stream key: `[A-Za-z0-9._-]`.
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-';
        byte += 1;
    }
    table
};

/// Whether `byte` may be part of a stream key.
#[inline]
fn is_key_byte(byte: u8) -> bool {
    KEY_BYTES[usize::from(byte)]
}

/// `key` if it is a valid stream key (the rule of `StreamKey::new`, without allocating).
fn valid_key(key: &[u8]) -> Option<&str> {
    let ok = (1..=MAX_STREAM_KEY_LEN).contains(&key.len()) && key.iter().copied().all(is_key_byte);
    if ok {
        std::str::from_utf8(key).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use weir_core::StreamKey;

    use super::*;

    fn ts(text: &str) -> Option<Timestamp> {
        Some(Timestamp::parse(text).unwrap())
    }

    /// The header and payload of `line`, payload as text.
    fn parsed(line: &str) -> (Option<Header<'_>>, &str) {
        let (header, payload) = parse_line(line.as_bytes());
        (header, &line[payload])
    }

    #[test]
    fn every_accepted_form() {
        let t = "2026-01-02T03:04:05.123456";
        let h = |timestamp: Option<&str>, key, seq: Option<u64>, shard: Option<u32>| Header {
            timestamp: timestamp.and_then(ts),
            key,
            seq: seq.map(SeqNo),
            shard: shard.map(ShardId),
        };
        let cases = [
            (format!("[{t}] p"), h(Some(t), None, None, None)),
            (format!("[{t} | orders] p"), h(Some(t), Some("orders"), None, None)),
            (format!("[{t} | orders | 42] p"), h(Some(t), Some("orders"), Some(42), None)),
            (format!("[{t} | orders | 42 | 3] p"), h(Some(t), Some("orders"), Some(42), Some(3))),
            ("[orders] p".to_owned(), h(None, Some("orders"), None, None)),
            ("[orders | 42] p".to_owned(), h(None, Some("orders"), Some(42), None)),
            ("[orders | 42 | 3] p".to_owned(), h(None, Some("orders"), Some(42), Some(3))),
            (format!("[{t}|orders|42|3] p"), h(Some(t), Some("orders"), Some(42), Some(3))),
            (format!("[ {t}Z\t|\torders |42| 3 ] p"), h(Some(t), Some("orders"), Some(42), Some(3))),
            ("[2026-01-02T03:04:05] p".to_owned(), h(Some("2026-01-02T03:04:05"), None, None, None)),
            (
                "[orders | 18446744073709551615 | 4294967295] p".to_owned(),
                h(None, Some("orders"), Some(u64::MAX), Some(u32::MAX)),
            ),
            ("[orders | +7 | +0] p".to_owned(), h(None, Some("orders"), Some(7), Some(0))),
            ("[orders | 007] p".to_owned(), h(None, Some("orders"), Some(7), None)),
            ("[123] p".to_owned(), h(None, Some("123"), None, None)),
            ("[a.b_c-D9] p".to_owned(), h(None, Some("a.b_c-D9"), None, None)),
        ];
        for (line, header) in &cases {
            assert_eq!(parsed(line), (Some(*header), "p"), "{line}");
        }
        let long = "k".repeat(MAX_STREAM_KEY_LEN);
        let line = format!("[{long}] p");
        assert_eq!(parsed(&line), (Some(h(None, Some(&long), None, None)), "p"));
    }

    #[test]
    fn payload_is_the_rest_after_one_space() {
        let cases = [
            ("[k] p", "p"),
            ("[k]p", "p"),
            ("[k]   p  ", "  p  "),
            ("[k]\tp", "\tp"),
            ("[k]", ""),
            ("[k] ", ""),
            ("[k]  ", " "),
            ("[k] a]b]", "a]b]"),
            ("[k] [x | 1] y", "[x | 1] y"),
            ("[k] |", "|"),
        ];
        for (line, payload) in cases {
            let (header, got) = parsed(line);
            assert_eq!(header.and_then(|h| h.key), Some("k"), "{line}");
            assert_eq!(got, payload, "{line}");
        }
    }

    #[test]
    fn malformed_headers_make_raw_lines() {
        let long = format!("[{}] p", "k".repeat(MAX_STREAM_KEY_LEN + 1));
        let cases = [
            r#"["a","b"]"#,
            "[Jan 1, 2022] x",
            "[ ]",
            "[]",
            "[] x",
            "[1,2]",
            "[k|notanumber] x",
            "[k|-1] x",
            "[k|1.5] x",
            "[k|1|-1] x",
            "[k|1|4294967296] x",
            "[k|18446744073709551616] x",
            "[has space] x",
            "[caf\u{e9}] x",
            "[a/b] x",
            &long,
            "[t|k|1|2|3] x",
            "[2026-01-02T03:04:05|k|1|2|3] x",
            "[k|1|2|3] x",
            "[missing close",
            "[k",
            "[",
            " [k] leading space",
            "[k||1] x",
            "[|k] x",
            "[k|] x",
            "[|] x",
            "[k | 2026-01-02T03:04:05] x",
            "[2026-01-02T03:04:05 | 2026-01-02T03:04:05] x",
            "[2026-01-02T03:04:05+01:00] x",
            "[2026-01-02 03:04:05] x",
            "[2026-01-02T03:04:05.] x",
            "[2026-13-02T03:04:05] x",
            "[k\u{3000}x] x",
            "k] x",
            "",
            "plain text",
            "{\"json\": [1, 2]}",
        ];
        for line in cases {
            assert_eq!(parsed(line), (None, line), "{line:?}");
        }
    }

    #[test]
    fn headers_that_are_not_utf8_make_raw_lines() {
        for line in [&b"[k\xff] x"[..], b"[\xc3] x", b"[\xe2\x80] x"] {
            assert_eq!(parse_line(line), (None, 0..line.len()));
        }
        // Only the header has to be text.
        let line = b"[k] \xff\xfe";
        assert_eq!(parse_line(line), (Some(Header { key: Some("k"), ..Header::default() }), 4..6));
    }

    #[test]
    fn unicode_whitespace_is_trimmed_like_str_trim() {
        let (header, payload) = parsed("[\u{3000}k\u{a0}|\u{2003}5 ] p");
        assert_eq!(header, Some(Header { key: Some("k"), seq: Some(SeqNo(5)), ..Header::default() }));
        assert_eq!(payload, "p");
    }

    #[test]
    fn a_huge_line_is_read_in_one_pass() {
        let mut line = b"[k | 1] ".to_vec();
        line.resize(4 << 20, b'x');
        let (header, payload) = parse_line(&line);
        assert_eq!(header.and_then(|h| h.seq), Some(SeqNo(1)));
        assert_eq!(payload, 8..line.len());
        let mut unclosed = vec![b'['; 4 << 20];
        unclosed.push(b'|');
        assert_eq!(parse_line(&unclosed), (None, 0..unclosed.len()));
        let pipes = format!("[{}] x", "|".repeat(4 << 20));
        assert_eq!(parsed(&pipes), (None, pipes.as_str()));
    }

    proptest! {
        #[test]
        fn never_panics_and_ranges_fit(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (_, payload) = parse_line(&line);
            prop_assert!(payload.start <= payload.end && payload.end == line.len());
        }

        #[test]
        fn never_panics_on_header_alphabet(line in r"\[?[-+ |0-9kT:.Z\]\t]{0,60}") {
            let (header, payload) = parse_line(line.as_bytes());
            prop_assert!(payload.end == line.len());
            if header.is_none() {
                prop_assert_eq!(payload.start, 0);
            }
        }

        #[test]
        fn trims_like_str_trim(part in r"[ \t\u{a0}\u{3000}\u{2003}\u{85}a-c|\u{e9}]{0,12}") {
            prop_assert_eq!(trim(part.as_bytes()), Some(part.trim().as_bytes()));
        }

        #[test]
        fn trims_bytes_that_are_not_utf8_to_nothing_valid(part in proptest::collection::vec(any::<u8>(), 0..12)) {
            match (trim(&part), std::str::from_utf8(&part)) {
                (Some(trimmed), Ok(text)) => prop_assert_eq!(trimmed, text.trim().as_bytes()),
                // Not UTF-8: either refused, or kept with a byte no field accepts.
                (Some(trimmed), Err(_)) => prop_assert!(!trimmed.is_ascii()),
                (None, text) => prop_assert!(text.is_err()),
            }
        }

        #[test]
        fn the_full_form_reads_as_the_grammar_does(
            line in r"\[[-+]?[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\.[0-9]{1,7})?Z? ?\| ?[a-z.\]|+ ]{0,4} ?\| ?[+ 0-9]{0,4}[0-9]{0,18} ?\|? ?[0-9 \]]{0,3}[0-9]{0,8}\]? ?[] x]{0,3}"
        ) {
            let line = line.as_bytes();
            let general = parse_general(line, &mut ParsedSecond::default());
            let fast = parse_full_form(line, &mut ParsedSecond::default());
            if let Some((header, start)) = fast {
                prop_assert_eq!((header.text(), start..line.len()), general);
            }
        }

        #[test]
        fn the_full_form_is_read_in_one_pass(
            nanos in -62_135_596_800_000_000_000i128..253_402_300_799_000_000_000,
            key in "[A-Za-z0-9._-]{1,20}",
            seq: u64,
            shard: u32,
            payload in "[ -~]{0,20}",
        ) {
            let at = Timestamp::from_unix_nanos(nanos).unwrap();
            let line = format!("[{at} | {key} | {seq} | {shard}] {payload}");
            let fast = parse_full_form(line.as_bytes(), &mut ParsedSecond::default());
            // Negative years are longer than 26 bytes: the grammar reads those.
            prop_assert_eq!(fast.is_some(), at.datetime().year() >= 0);
            prop_assert_eq!(parse_line(line.as_bytes()), parse_general(line.as_bytes(), &mut ParsedSecond::default()));
        }

        #[test]
        fn leading_numbers_are_what_number_reads(digits in r"[0-9]{0,22}", rest in r"([^0-9][ -~]?)?") {
            let text = format!("{digits}{rest}");
            let read = leading_number(text.as_bytes());
            prop_assert_eq!(read.map(|(value, _)| value), number::<u64>(digits.as_bytes()));
            if let Some((_, after)) = read {
                prop_assert_eq!(after, rest.as_bytes());
            }
            let read = leading_number(text.as_bytes()).and_then(|(value, _)| u32::try_from(value).ok());
            prop_assert_eq!(read, number::<u32>(digits.as_bytes()));
        }

        #[test]
        fn numbers_are_what_str_parse_reads(text in r"[-+ 0-9a]{0,3}[0-9]{0,18}|[+]?[0-9]{9,21}") {
            prop_assert_eq!(number::<u64>(text.as_bytes()), text.parse::<u64>().ok());
            prop_assert_eq!(number::<u32>(text.as_bytes()), text.parse::<u32>().ok());
        }

        #[test]
        fn keys_are_those_stream_key_accepts(key in r"[ -~\u{e9}]{0,4}|[a-z]{248,251}") {
            prop_assert_eq!(valid_key(key.as_bytes()).is_some(), StreamKey::new(&key).is_ok());
        }
    }
}
