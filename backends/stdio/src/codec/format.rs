//! Producer output: the full header form, one line per message.

use weir_core::{MessageHeader, ProducerError, Timestamp};

use super::timestamp::{put_decimal, SecondText, TIMESTAMP};

/// Checks that `payload` fits on one line and reads back unchanged.
///
/// A `\n` would split the message in two. A trailing `\r` would be taken, with
/// the line's `\n`, for a `\r\n` ending and dropped. A `\r` anywhere else is fine.
pub fn check_framable(payload: &[u8]) -> Result<(), ProducerError> {
    let reason = if memchr::memchr(b'\n', payload).is_some() {
        "the payload contains a newline, and stdio carries one message per line"
    } else if payload.last() == Some(&b'\r') {
        "the payload ends with a carriage return, which readers take for part of a \\r\\n line ending"
    } else {
        return Ok(());
    };
    Err(ProducerError::Unframeable { backend: "stdio", reason })
}

/// Appends `[2026-01-02T03:04:05.123456 | key | 42 | 0] payload\n` to `out`.
///
/// The timestamp is truncated to microseconds. On error (see [`check_framable`])
/// nothing is written. A writer of many lines keeps a [`LineFormatter`] instead.
pub fn format_line(header: &MessageHeader, payload: &[u8], out: &mut Vec<u8>) -> Result<(), ProducerError> {
    LineFormatter::new().format_line(header, payload, out)
}

/// Writes lines one after another: [`format_line`], with the text of the
/// previous line's second kept, so that most timestamps cost only their
/// microseconds. Writes the same bytes as [`format_line`].
#[derive(Clone, Debug, Default)]
pub struct LineFormatter {
    second: SecondText,
}

impl LineFormatter {
    /// A formatter that has written nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one line, as [`format_line`] does.
    pub fn format_line(
        &mut self,
        header: &MessageHeader,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProducerError> {
        check_framable(payload)?;
        self.format_framable(header, payload, out);
        Ok(())
    }

    /// [`format_line`](Self::format_line) for a payload [`check_framable`] accepted.
    ///
    /// The parts of fixed size (the usual timestamp, and the numbers with
    /// their punctuation, copied with their spare room and cut back) are
    /// copied as fixed-size arrays, without a call to `memcpy` each.
    pub(crate) fn format_framable(&mut self, header: &MessageHeader, payload: &[u8], out: &mut Vec<u8>) {
        let key = header.stream_key.name().as_bytes();
        out.reserve(1 + TIMESTAMP + key.len() + TAIL + payload.len() + 1);
        out.push(b'[');
        match self.second.text(header.timestamp) {
            Ok(usual) => out.extend_from_slice(usual),
            Err(other) => out.extend_from_slice(other),
        }
        out.extend_from_slice(b" | ");
        out.extend_from_slice(key);
        let (tail, len) = numbers(header.seq.0, header.shard.0);
        out.extend_from_slice(&tail);
        out.truncate(out.len() - (TAIL - len));
        out.extend_from_slice(payload);
        out.push(b'\n');
    }

    /// Appends `at` as lines carry it, `2026-01-02T03:04:05.123456`: the text
    /// of [`Timestamp`]'s `Display`, without its general-purpose formatter.
    pub fn timestamp(&mut self, at: Timestamp, out: &mut Vec<u8>) {
        self.second.write(at, out);
    }
}

/// Room for ` | {seq} | {shard}] `: 20 and 10 digits, 8 punctuation.
const TAIL: usize = 38;

/// ` | {seq} | {shard}] ` at the start of an array, and its length.
fn numbers(seq: u64, shard: u32) -> ([u8; TAIL], usize) {
    let mut tail = [0; TAIL];
    tail[..3].copy_from_slice(b" | ");
    let at = put_decimal(&mut tail, 3, seq);
    tail[at..at + 3].copy_from_slice(b" | ");
    let at = put_decimal(&mut tail, at + 3, u64::from(shard));
    tail[at..at + 2].copy_from_slice(b"] ");
    (tail, at + 2)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use weir_core::{SeqNo, ShardId, StreamKey, Timestamp};

    use super::*;
    use crate::codec::LineDecoder;

    fn header(key: &str, seq: u64, shard: u32, nanos: i128) -> MessageHeader {
        MessageHeader::new(
            StreamKey::new(key).unwrap(),
            ShardId(shard),
            SeqNo(seq),
            Timestamp::from_unix_nanos(nanos).unwrap(),
        )
    }

    fn micros(at: Timestamp) -> Timestamp {
        Timestamp::from_unix_nanos(at.unix_nanos().div_euclid(1000) * 1000).unwrap()
    }

    fn line(header: &MessageHeader, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        format_line(header, payload, &mut out).unwrap();
        out
    }

    #[test]
    fn writes_the_full_form() {
        let h = header("orders", 42, 0, 1_767_323_045_123_456_789);
        assert_eq!(line(&h, b"payload"), b"[2026-01-02T03:04:05.123456 | orders | 42 | 0] payload\n");
        let h = header("broadcast", u64::MAX, u32::MAX, 0);
        assert_eq!(
            line(&h, b""),
            format!("[1970-01-01T00:00:00.000000 | broadcast | {} | {}] \n", u64::MAX, u32::MAX).into_bytes()
        );
    }

    #[test]
    fn appends_to_what_is_there() {
        let mut out = b"before\n".to_vec();
        format_line(&header("k", 1, 2, 0), b"x", &mut out).unwrap();
        assert_eq!(out, b"before\n[1970-01-01T00:00:00.000000 | k | 1 | 2] x\n");
    }

    #[test]
    fn refuses_what_cannot_be_framed_and_writes_nothing() {
        for payload in [&b"a\nb"[..], b"\n", b"a\n", b"a\r", b"\r", b"a\r\n"] {
            let mut out = b"kept".to_vec();
            let err = format_line(&header("k", 0, 0, 0), payload, &mut out).unwrap_err();
            assert!(matches!(err, ProducerError::Unframeable { backend: "stdio", .. }), "{payload:?}");
            assert_eq!(out, b"kept");
            assert_eq!(check_framable(payload), Err(err));
        }
        let err = check_framable(b"a\nb").unwrap_err().to_string();
        assert!(err.contains("stdio") && err.contains("newline"), "{err}");
        for payload in [&b""[..], b"a\rb", b"\ra", b" ", b"\xff"] {
            assert_eq!(check_framable(payload), Ok(()));
        }
    }

    #[test]
    fn round_trips_at_microseconds() {
        let cases = [
            header("orders", 42, 0, 1_767_323_045_123_456_789),
            header("broadcast", 0, 7, -1),
            header(&"k".repeat(249), u64::MAX, u32::MAX, 253_402_300_799_999_999_999),
        ];
        for (h, payload) in cases.iter().zip([&b"  spaced  "[..], b"", b"\xff[x | 1] y\r z"]) {
            let bytes = bytes::Bytes::from(line(h, payload));
            let m = LineDecoder::new().decode(bytes, Timestamp::UNIX_EPOCH);
            assert_eq!(m.header, MessageHeader { timestamp: micros(h.timestamp), ..h.clone() });
            assert_eq!(m.payload.as_bytes(), payload);
        }
    }

    proptest! {
        #[test]
        fn a_formatter_writes_what_format_line_writes(
            lines in proptest::collection::vec(
                ("[a-z]{1,8}", any::<u64>(), any::<u32>(), -2_000_000_000_000i128..2_000_000_000_000, "[ -~]{0,20}"),
                1..50,
            ),
            base in -377_705_116_800_000_000_000i128..253_402_300_700_000_000_000,
        ) {
            let mut formatter = LineFormatter::new();
            let (mut kept, mut fresh) = (Vec::new(), Vec::new());
            for (key, seq, shard, offset, payload) in &lines {
                let h = header(key, *seq, *shard, base + offset);
                formatter.format_line(&h, payload.as_bytes(), &mut kept).unwrap();
                format_line(&h, payload.as_bytes(), &mut fresh).unwrap();
            }
            prop_assert_eq!(String::from_utf8(kept).unwrap(), String::from_utf8(fresh).unwrap());
        }

        #[test]
        fn round_trips_any_framable_payload(
            key in "[A-Za-z0-9._-]{1,249}",
            seq: u64,
            shard: u32,
            nanos in -377_705_116_800_000_000_000i128..253_402_300_800_000_000_000,
            payload in prop_oneof![
                3 => proptest::collection::vec(any::<u8>().prop_map(|b| if b == b'\n' { b'x' } else { b }), 0..300),
                1 => proptest::collection::vec(any::<u8>(), 0..300),
            ],
        ) {
            let h = header(&key, seq, shard, nanos);
            let mut out = Vec::new();
            match format_line(&h, &payload, &mut out) {
                Ok(()) => {
                    prop_assert_eq!(memchr::memchr(b'\n', &out), Some(out.len() - 1));
                    let m = LineDecoder::new().decode(out.into(), Timestamp::UNIX_EPOCH);
                    prop_assert_eq!(m.header, MessageHeader { timestamp: micros(h.timestamp), ..h });
                    prop_assert_eq!(m.payload.as_bytes(), &payload[..]);
                }
                Err(_) => {
                    prop_assert!(payload.contains(&b'\n') || payload.last() == Some(&b'\r'));
                    prop_assert!(out.is_empty());
                }
            }
        }
    }
}
