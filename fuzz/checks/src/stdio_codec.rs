//! The stdio line codec on arbitrary bytes, against a model of the rules its
//! module documents: lines, the fill-ins for what a header leaves out, chunked
//! reading, and the producers' full form read back.

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};
use weir_stdio::codec::{check_framable, format_line, parse_line, split_lines, Header, LineDecoder};

/// When every line is "read": 2026-01-02T03:04:05.123456789, nanoseconds included
/// so that the round trip's truncation to microseconds shows.
const READ_AT_NANOS: i128 = 1_767_323_045_123_456_789;

/// Decodes the bytes after the first three ways and checks they agree with each
/// other and with the grammar; then formats each message and reads it back.
///
/// The first byte picks where the chunked decoding splits the rest: at
/// `len * byte / 255`.
pub fn stdio_codec(data: &[u8]) {
    let Some((&cut, input)) = data.split_first() else { return };
    let read_at = Timestamp::from_unix_nanos(READ_AT_NANOS).expect("a constant in range");
    let input = Bytes::copy_from_slice(input);
    let whole = decode_chunks(&input, &[input.len()], read_at);
    check_against_grammar(&input, &whole, read_at);
    let split = input.len() * usize::from(cut) / 255;
    let chunked = decode_chunks(&input, &[split, input.len()], read_at);
    assert!(chunked == whole, "split at {split}: chunked decoding differs from whole");
    let by_line = decode_line_by_line(&input, read_at);
    assert!(by_line == whole, "LineDecoder::decode line by line differs from decode_lines");
    check_round_trip(&whole, read_at);
}

/// Decodes `input` read in pieces ending at `ends`, the way the stdin reader does:
/// the unconsumed tail of each piece is kept and completed by the next one; what
/// is left at the end of input is the last line.
fn decode_chunks(input: &Bytes, ends: &[usize], read_at: Timestamp) -> Vec<Message> {
    let mut decoder = LineDecoder::new();
    let mut out = Vec::new();
    let (mut pending, mut start) = (Vec::new(), 0);
    for &end in ends {
        pending.extend_from_slice(&input[start..end]);
        start = end;
        let chunk = Bytes::from(std::mem::take(&mut pending));
        let before = out.len();
        let consumed = decoder.decode_lines(&chunk, read_at, &mut out);
        assert!(consumed <= chunk.len(), "consumed {consumed} of {} bytes", chunk.len());
        let lines = split_lines(&chunk);
        assert_eq!(out.len() - before, lines.count(), "one message per complete line");
        assert!(!chunk[consumed..].contains(&b'\n'), "a complete line was left unconsumed");
        pending.extend_from_slice(&chunk[consumed..]);
    }
    if !pending.is_empty() {
        out.push(decoder.decode(Bytes::from(pending), read_at));
    }
    out
}

/// Each line, ending included, through [`LineDecoder::decode`].
fn decode_line_by_line(input: &Bytes, read_at: Timestamp) -> Vec<Message> {
    let mut decoder = LineDecoder::new();
    let mut out = Vec::new();
    let mut start = 0;
    for line in input.split_inclusive(|&b| b == b'\n') {
        out.push(decoder.decode(input.slice(start..start + line.len()), read_at));
        start += line.len();
    }
    out
}

/// One message per line, each as the grammar says: a header's fields or the
/// fill-ins (`broadcast`, shard 0, the read time, the next seq of the stream and
/// shard), and the payload `parse_line` found.
fn check_against_grammar(input: &[u8], messages: &[Message], read_at: Timestamp) {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    assert_eq!(messages.len(), lines.len(), "one message per line");
    let terminated = input.iter().filter(|&&b| b == b'\n').count();
    let mut next: BTreeMap<(String, ShardId), SeqNo> = BTreeMap::new();
    let mut decoder = LineDecoder::new();
    for (at, (line, message)) in lines.into_iter().zip(messages).enumerate() {
        // Only a `\n` ending takes a `\r` with it.
        let line = if at < terminated { line.strip_suffix(b"\r").unwrap_or(line) } else { line };
        let (header, payload) = parse_line(line);
        assert_eq!(payload.end, line.len(), "the payload runs to the end of the line");
        check_header(line, header);
        let header = header.unwrap_or_else(|| {
            assert_eq!(payload.start, 0, "a raw line is all payload");
            Header::default()
        });
        let key = header.key.unwrap_or("broadcast");
        let shard = header.shard.unwrap_or(ShardId::ZERO);
        let counter = next.entry((key.to_owned(), shard)).or_default();
        let seq = header.seq.unwrap_or(*counter);
        *counter = seq.next();
        let expected = MessageHeader::new(
            StreamKey::new(key).expect("parse_line checked the key"),
            shard,
            seq,
            header.timestamp.unwrap_or(read_at),
        );
        assert_eq!(message.header, expected, "line {at}: {:?}", String::from_utf8_lossy(line));
        assert_eq!(message.payload.as_bytes(), &line[payload], "line {at}");
        // The decoder's own counters agree once it has read as far.
        decoder.decode(Bytes::copy_from_slice(line), read_at);
        assert_eq!(decoder.next_seq(key, shard), seq.next(), "next_seq after line {at}");
    }
}

/// A header found in `line` reads its first part as `Timestamp::parse` does, and
/// that first part alone in brackets is a timestamp, a key, or a raw line.
fn check_header(line: &[u8], header: Option<Header<'_>>) {
    let inner = line.strip_prefix(b"[").and_then(|rest| {
        let close = rest.iter().position(|&b| b == b']')?;
        std::str::from_utf8(&rest[..close]).ok()
    });
    let Some(inner) = inner else {
        assert_eq!(header, None, "a line without a text bracket at its start is raw");
        return;
    };
    let first = inner.split('|').next().unwrap_or_default().trim();
    let as_timestamp = Timestamp::parse(first).ok();
    if let Some(header) = header {
        assert_eq!(header.timestamp, as_timestamp, "the first part {first:?} as a timestamp");
        if let Some(key) = header.key {
            assert!(StreamKey::new(key).is_ok(), "an accepted key {key:?} is a stream key");
        }
    }
    let alone = format!("[{first}]");
    let expected = match (as_timestamp, StreamKey::new(first)) {
        (Some(timestamp), _) => Some(Header { timestamp: Some(timestamp), ..Header::default() }),
        (None, Ok(_)) => Some(Header { key: Some(first), ..Header::default() }),
        (None, Err(_)) => None,
    };
    assert_eq!(parse_line(alone.as_bytes()).0, expected, "{alone:?}");
}

/// Formats every framable message in the full form and reads the lines back:
/// the same messages, timestamps truncated to microseconds.
fn check_round_trip(messages: &[Message], read_at: Timestamp) {
    let mut out = Vec::new();
    let mut expected = Vec::new();
    for message in messages {
        let payload = message.payload.as_bytes();
        let before = out.len();
        let framable = check_framable(payload).is_ok();
        match format_line(&message.header, payload, &mut out) {
            Ok(()) => {
                assert!(framable, "format_line wrote a payload check_framable refuses: {payload:?}");
                let newline = out[before..].iter().position(|&b| b == b'\n').map(|at| before + at);
                assert_eq!(newline, Some(out.len() - 1), "one line per message");
                let header =
                    MessageHeader { timestamp: micros(message.header.timestamp), ..message.header.clone() };
                expected.push(Message::new(header, Payload::copy_from_slice(payload)));
            }
            Err(_) => {
                assert!(!framable, "format_line refused a framable payload: {payload:?}");
                assert_eq!(out.len(), before, "a refused message writes nothing");
            }
        }
    }
    let out = Bytes::from(out);
    let read = decode_chunks(&out, &[out.len()], read_at);
    assert_eq!(read, expected, "formatted lines read back:\n{}", String::from_utf8_lossy(&out));
}

/// `at` truncated to microseconds, as the full form writes it.
fn micros(at: Timestamp) -> Timestamp {
    Timestamp::from_unix_nanos(at.unix_nanos().div_euclid(1000) * 1000).unwrap_or(at)
}
