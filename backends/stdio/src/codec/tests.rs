//! The decoder over whole inputs, and agreement with the SeaStreamer 0.1.0 grammar.

use proptest::prelude::*;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::PrimitiveDateTime;

use super::*;

/// A fixed "now" for lines without a timestamp.
fn read_at() -> Timestamp {
    Timestamp::parse("2030-05-06T07:08:09.5").unwrap()
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// What a user sees of a message: key, shard, seq, timestamp, payload.
type Seen = (String, u32, u64, Timestamp, Vec<u8>);

fn seen(m: &Message) -> Seen {
    (m.stream_key().name().to_owned(), m.shard().0, m.seq().0, m.timestamp(), m.payload.as_bytes().to_vec())
}

/// Decodes a whole input the way a reader does: complete lines, then the unterminated rest.
fn decode_all(input: &[u8]) -> Vec<Message> {
    let mut decoder = LineDecoder::new();
    let chunk = Bytes::copy_from_slice(input);
    let mut out = Vec::new();
    let consumed = decoder.decode_lines(&chunk, read_at(), &mut out);
    if consumed < chunk.len() {
        out.push(decoder.decode(chunk.slice(consumed..), read_at()));
    }
    out
}

/// `(key, shard, seq, payload)` of every message of `input`.
fn ids(input: &str) -> Vec<(String, u32, u64, String)> {
    decode_all(input.as_bytes())
        .iter()
        .map(|m| {
            let (key, shard, seq, _, payload) = seen(m);
            (key, shard, seq, String::from_utf8(payload).unwrap())
        })
        .collect()
}

fn id(key: &str, shard: u32, seq: u64, payload: &str) -> (String, u32, u64, String) {
    (key.to_owned(), shard, seq, payload.to_owned())
}

#[test]
fn fills_in_what_a_header_leaves_out() {
    let input =
        "[2026-01-02T03:04:05.25 | orders | 7 | 2] full\n[orders] keyed\nraw\n[2026-01-02T03:04:05] timed\n";
    let got: Vec<Seen> = decode_all(input.as_bytes()).iter().map(seen).collect();
    assert_eq!(
        got,
        [
            ("orders".into(), 2, 7, ts("2026-01-02T03:04:05.25"), b"full".to_vec()),
            ("orders".into(), 0, 0, read_at(), b"keyed".to_vec()),
            ("broadcast".into(), 0, 0, read_at(), b"raw".to_vec()),
            ("broadcast".into(), 0, 1, ts("2026-01-02T03:04:05"), b"timed".to_vec()),
        ]
    );
}

#[test]
fn implicit_seqs_count_per_stream_from_zero() {
    let input = "[a] 1\n[b] 2\n[a] 3\n[a] 4\n[b] 5\n[c.d] 6\n";
    assert_eq!(
        ids(input),
        [
            id("a", 0, 0, "1"),
            id("b", 0, 0, "2"),
            id("a", 0, 1, "3"),
            id("a", 0, 2, "4"),
            id("b", 0, 1, "5"),
            id("c.d", 0, 0, "6")
        ]
    );
}

#[test]
fn an_explicit_seq_sets_the_counter_of_its_stream_and_shard() {
    let input = "[a] x\n[a | 10] x\n[a] x\n[b] x\n[a | 3] x\n[a] x\n[a | 7 | 1] x\n[a] x\n[a | 9 | 1] x\n[a | 5] x\n[a] x\n";
    assert_eq!(
        ids(input),
        [
            id("a", 0, 0, "x"),
            id("a", 0, 10, "x"),
            id("a", 0, 11, "x"),
            id("b", 0, 0, "x"),
            // Backwards too: the counter follows the producer.
            id("a", 0, 3, "x"),
            id("a", 0, 4, "x"),
            // Shard 1 counts apart; shard 0 goes on where it was.
            id("a", 1, 7, "x"),
            id("a", 0, 5, "x"),
            id("a", 1, 9, "x"),
            id("a", 0, 5, "x"),
            id("a", 0, 6, "x"),
        ]
    );
    let mut decoder = LineDecoder::new();
    for line in ["[a | 7 | 1] x", "[a | 9 | 1] x", "[a] x"] {
        decoder.decode(Bytes::from(line), read_at());
    }
    assert_eq!(decoder.next_seq("a", ShardId(1)), SeqNo(10));
    assert_eq!(decoder.next_seq("a", ShardId(0)), SeqNo(1));
    assert_eq!(decoder.next_seq("a", ShardId(2)), SeqNo(0));
    assert_eq!(decoder.next_seq("never", ShardId(0)), SeqNo(0));
}

#[test]
fn raw_and_unkeyed_lines_count_in_broadcast() {
    let input = "plain\n[2026-01-02T03:04:05] timed\n[broadcast] named\n[ ] bad header\n[broadcast | 9] jump\n\n[a] other\n[2026-01-02T03:04:05] again\n";
    assert_eq!(
        ids(input),
        [
            id("broadcast", 0, 0, "plain"),
            id("broadcast", 0, 1, "timed"),
            id("broadcast", 0, 2, "named"),
            id("broadcast", 0, 3, "[ ] bad header"),
            id("broadcast", 0, 9, "jump"),
            id("broadcast", 0, 10, ""),
            id("a", 0, 0, "other"),
            id("broadcast", 0, 11, "again"),
        ]
    );
    assert_eq!(LineDecoder::new().next_seq(BROADCAST, ShardId::ZERO), SeqNo(0));
}

#[test]
fn seq_saturates_at_the_top() {
    let input = format!("[a | {}] x\n[a] y\n", u64::MAX);
    assert_eq!(ids(&input), [id("a", 0, u64::MAX, "x"), id("a", 0, u64::MAX, "y")]);
}

#[test]
fn line_endings() {
    let input = b"[k] crlf\r\nraw crlf\r\n\r\n\n[k] lf\nmid\rdle\r\n[k] cr at end\r\r\nlast without newline";
    let payloads: Vec<Vec<u8>> =
        decode_all(input).into_iter().map(|m| m.payload.as_bytes().to_vec()).collect();
    let expected: [&[u8]; 8] =
        [b"crlf", b"raw crlf", b"", b"", b"lf", b"mid\rdle", b"cr at end\r", b"last without newline"];
    assert_eq!(payloads, expected);
}

#[test]
fn decode_takes_a_line_with_or_without_its_ending() {
    let mut decoder = LineDecoder::new();
    let cases: [(&[u8], &[u8]); 9] = [
        (b"[k] a\n", b"a"),
        (b"[k] a\r\n", b"a"),
        (b"[k] a", b"a"),
        (b"[k] a\r", b"a\r"),
        (b"", b""),
        (b"\n", b""),
        (b"\r\n", b""),
        (b"\r", b"\r"),
        (b"x\ny\n", b"x\ny"),
    ];
    for (line, payload) in cases {
        let m = decoder.decode(Bytes::copy_from_slice(line), read_at());
        assert_eq!(m.payload.as_bytes(), payload, "{line:?}");
    }
}

#[test]
fn payload_bytes_are_delivered_as_they_are() {
    let input = b"[k]   three spaces\n[k] a]b [c|1]\n[k] \xff\xfe not utf-8\n\xc3\x28 raw not utf-8\n[k\xff] bad header\n";
    let got: Vec<(String, Vec<u8>)> = decode_all(input)
        .iter()
        .map(|m| (m.stream_key().name().to_owned(), m.payload.as_bytes().to_vec()))
        .collect();
    assert_eq!(
        got,
        [
            ("k".to_owned(), b"  three spaces".to_vec()),
            ("k".to_owned(), b"a]b [c|1]".to_vec()),
            ("k".to_owned(), b"\xff\xfe not utf-8".to_vec()),
            ("broadcast".to_owned(), b"\xc3\x28 raw not utf-8".to_vec()),
            ("broadcast".to_owned(), b"[k\xff] bad header".to_vec()),
        ]
    );
}

#[test]
fn payloads_share_the_read_buffer_and_keys_are_allocated_once() {
    let chunk = Bytes::from_static(b"[orders] one\n[orders] two\n[other] three\n[orders] four\n");
    let mut out = Vec::new();
    assert_eq!(LineDecoder::new().decode_lines(&chunk, read_at(), &mut out), chunk.len());
    let span = chunk.as_ptr_range();
    for m in &out {
        assert!(span.contains(&m.payload.as_bytes().as_ptr()), "{m:?} was copied");
    }
    let name = |at: usize| out[at].stream_key().name().as_ptr();
    assert_eq!(name(0), name(1));
    assert_eq!(name(0), name(3));
    assert_ne!(name(0), name(2));
}

#[test]
fn split_lines_leaves_the_partial_line() {
    let buf = b"a\r\n\nbc\ndef";
    let mut lines = split_lines(buf);
    assert_eq!(lines.by_ref().collect::<Vec<_>>(), [0..1, 3..3, 4..6]);
    assert_eq!(lines.consumed(), 7);
    assert_eq!(split_lines(b"").count(), 0);
    assert_eq!(split_lines(b"no newline").consumed(), 0);
    assert_eq!(split_lines(b"\r\n").next(), Some(0..0));
    assert_eq!(split_lines(b"\r").count(), 0);
}

#[test]
fn a_line_split_across_reads_decodes_once_complete() {
    let mut decoder = LineDecoder::new();
    let mut out = Vec::new();
    let first = Bytes::from_static(b"[k] one\n[k] tw");
    let consumed = decoder.decode_lines(&first, read_at(), &mut out);
    assert_eq!(consumed, 8);
    let mut second = first.slice(consumed..).to_vec();
    second.extend_from_slice(b"o\n");
    assert_eq!(decoder.decode_lines(&second.into(), read_at(), &mut out), 8);
    let got: Vec<(u64, &[u8])> = out.iter().map(|m| (m.seq().0, m.payload.as_bytes())).collect();
    assert_eq!(got, [(0, &b"one"[..]), (1, b"two")]);
}

#[test]
fn huge_lines_and_many_lines_are_linear() {
    let mut input = b"[big | 5] ".to_vec();
    input.resize(3 << 20, b'x');
    input.extend_from_slice(b"\r\n[");
    input.resize(6 << 20, b'y');
    input.push(b'\n');
    for _ in 0..200_000 {
        input.extend_from_slice(b"[k] m\n");
    }
    let out = decode_all(&input);
    assert_eq!(out.len(), 200_002);
    assert_eq!(
        (out[0].stream_key().name(), out[0].seq().0, out[0].payload.len()),
        ("big", 5, (3 << 20) - 10)
    );
    assert_eq!((out[1].stream_key().name(), out[1].payload.len()), ("broadcast", (6 << 20) - (3 << 20) - 2));
    assert_eq!(out.last().map(|m| m.seq().0), Some(199_999));
}

/// Lines the reference accepts, and what it reads: (line, ts, key, seq, shard, payload).
/// Its own tests and README examples, its producer's output, and consequences of its grammar.
#[test]
fn reads_what_the_reference_accepts_with_its_meaning() {
    type Row = (&'static str, Option<&'static str>, &'static str, Option<u64>, u32, &'static str);
    let table: [Row; 22] = [
        ("a plain, raw message", None, "broadcast", None, 0, "a plain, raw message"),
        (r#"{ "payload": "anything" }"#, None, "broadcast", None, 0, r#"{ "payload": "anything" }"#),
        (
            r#"[2022-01-02T03:04:05] { "payload": "anything" }"#,
            Some("2022-01-02T03:04:05"),
            "broadcast",
            None,
            0,
            r#"{ "payload": "anything" }"#,
        ),
        (
            r#"[2022-01-02T03:04:05.678 | my-fancy_topic.1] ["array", "of", "values"]"#,
            Some("2022-01-02T03:04:05.678"),
            "my-fancy_topic.1",
            None,
            0,
            r#"["array", "of", "values"]"#,
        ),
        (
            r#"[2022-01-02T03:04:05 | my-fancy_topic.1 | 123] { "payload": "anything" }"#,
            Some("2022-01-02T03:04:05"),
            "my-fancy_topic.1",
            Some(123),
            0,
            r#"{ "payload": "anything" }"#,
        ),
        (
            r#"[2022-01-02T03:04:05 | my-fancy_topic.1 | 123 | 4] { "payload": "anything" }"#,
            Some("2022-01-02T03:04:05"),
            "my-fancy_topic.1",
            Some(123),
            4,
            r#"{ "payload": "anything" }"#,
        ),
        (
            r#"[my-fancy_topic.1] { "payload": "anything" }"#,
            None,
            "my-fancy_topic.1",
            None,
            0,
            r#"{ "payload": "anything" }"#,
        ),
        (
            r#"[my-fancy_topic.1 | 123] ["array", "of", "values"]"#,
            None,
            "my-fancy_topic.1",
            Some(123),
            0,
            r#"["array", "of", "values"]"#,
        ),
        (
            r#"[my-fancy_topic.1 | 123 | 4] { "payload": "anything" }"#,
            None,
            "my-fancy_topic.1",
            Some(123),
            4,
            r#"{ "payload": "anything" }"#,
        ),
        (
            r#"[2022-01-01T00:00:00.123 | my_topic] "a string payload""#,
            Some("2022-01-01T00:00:00.123"),
            "my_topic",
            None,
            0,
            r#""a string payload""#,
        ),
        ("[my_topic] a string payload", None, "my_topic", None, 0, "a string payload"),
        ("[2022-01-01T00:00:00] 12345", Some("2022-01-01T00:00:00"), "broadcast", None, 0, "12345"),
        // What the reference producer prints.
        (
            "[2026-01-02T03:04:05 | orders | 7] hello",
            Some("2026-01-02T03:04:05"),
            "orders",
            Some(7),
            0,
            "hello",
        ),
        // What weir's producer prints.
        (
            "[2026-01-02T03:04:05.123456 | orders | 42 | 0] hi",
            Some("2026-01-02T03:04:05.123456"),
            "orders",
            Some(42),
            0,
            "hi",
        ),
        // Consequences of the grammar.
        ("[123] digits are a key", None, "123", None, 0, "digits are a key"),
        ("[k | +5 | +1] plus signs", None, "k", Some(5), 1, "plus signs"),
        ("[\tk\t|\t5\t] tabs", None, "k", Some(5), 0, "tabs"),
        ("[k]no space", None, "k", None, 0, "no space"),
        ("[k] a]b", None, "k", None, 0, "a]b"),
        ("[k]", None, "k", None, 0, ""),
        ("[] x", None, "broadcast", None, 0, "[] x"),
        ("[no close", None, "broadcast", None, 0, "[no close"),
    ];
    for (line, timestamp, key, seq, shard, payload) in table {
        let m = LineDecoder::new().decode(Bytes::from(line), read_at());
        let expected = (
            key.to_owned(),
            shard,
            seq.unwrap_or(0),
            timestamp.map_or(read_at(), ts),
            payload.as_bytes().to_vec(),
        );
        assert_eq!(seen(&m), expected, "{line}");
    }
}

/// Lines both read, differently; weir's reading, as SEMANTICS asks.
#[test]
fn reads_differently_where_the_reference_loses_data() {
    let line =
        |text: &str| seen(&LineDecoder::new().decode(Bytes::copy_from_slice(text.as_bytes()), read_at()));
    // The reference trims the payload to `x`.
    assert_eq!(line("[k]   x  \n").4, b"  x  ");
    // The reference keeps the line ending of a raw line.
    assert_eq!(line("raw\r\n").4, b"raw");
    // The reference reads shard 4294967296; a weir shard is a u32.
    assert_eq!(line("[k | 1 | 4294967296] x").0, "broadcast");
    // The reference's next implicit seq after an explicit 5 is 5 again.
    assert_eq!(ids("[k | 5] a\n[k] b\n"), [id("k", 0, 5, "a"), id("k", 0, 6, "b")]);
}

/// What the reference does with a line, from the grammar facts in the module docs.
#[derive(Debug, PartialEq)]
enum Reference {
    /// No bracket: the whole line is the payload.
    Raw,
    /// A header.
    Header {
        timestamp: Option<Timestamp>,
        key: Option<String>,
        seq: Option<u64>,
        shard: Option<u64>,
        payload: String,
    },
    /// A parse error: the reference panics.
    Dies,
}

const REF_TIME: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
const REF_TIME_SUBSEC: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");

/// A model of the reference's reading of one line without its ending, written from facts 2-5.
fn reference(line: &str) -> Reference {
    let Some((inner, after)) = line.strip_prefix('[').and_then(|rest| rest.split_once(']')) else {
        return Reference::Raw;
    };
    if inner.is_empty() {
        return Reference::Raw;
    }
    let (mut timestamp, mut key, mut seq, mut shard) = (None, None, None, None);
    for part in inner.split('|').map(str::trim) {
        let nothing_yet = timestamp.is_none() && key.is_none() && seq.is_none() && shard.is_none();
        let as_time = PrimitiveDateTime::parse(part, REF_TIME_SUBSEC)
            .or_else(|_| PrimitiveDateTime::parse(part, REF_TIME));
        let is_key = (1..=249).contains(&part.len())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        let number = part.parse::<u64>().ok();
        match (as_time, nothing_yet) {
            (Ok(at), true) => timestamp = Some(Timestamp::from_datetime(at.assume_utc())),
            _ if key.is_none() && is_key => key = Some(part.to_owned()),
            _ if key.is_some() && seq.is_none() && shard.is_none() && number.is_some() => seq = number,
            _ if key.is_some() && seq.is_some() && shard.is_none() && number.is_some() => shard = number,
            _ => return Reference::Dies,
        }
    }
    Reference::Header { timestamp, key, seq, shard, payload: after.trim().to_owned() }
}

/// One header part, of the kinds the grammar tells apart, with white space around.
fn part() -> impl Strategy<Value = String> {
    let core = prop_oneof![
        r"[+-]?20[0-9]{2}-0[1-9]-[0-2][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\.[0-9]{1,12})?Z?",
        r"[a-z0-9._-]{1,6}",
        r"\+?[0-9]{1,21}",
        r"[ a-z:,/-]{0,6}",
    ];
    (r"[ \t]{0,2}", core, r"[ \t]{0,2}").prop_map(|(before, core, after)| format!("{before}{core}{after}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_the_reference_grammar(
        parts in proptest::collection::vec(part(), 0..6),
        close in prop_oneof![9 => Just("]"), 1 => Just("")],
        payload in r"[ a-z\]|\[]{0,8}",
    ) {
        let line = format!("[{}{close}{payload}", parts.join("|"));
        let (header, range) = parse_line(line.as_bytes());
        match (reference(&line), header) {
            (Reference::Raw, header) => {
                prop_assert_eq!(header, None);
                prop_assert_eq!(range, 0..line.len());
            }
            (Reference::Header { timestamp, key, seq, shard: Some(shard), .. }, None) => {
                // The one header weir refuses: a shard past u32.
                prop_assert!(shard > u64::from(u32::MAX), "{:?}", (timestamp, key, seq, shard));
            }
            (Reference::Header { timestamp, key, seq, shard, payload }, Some(header)) => {
                prop_assert_eq!(header.timestamp, timestamp);
                prop_assert_eq!(header.key.map(str::to_owned), key);
                prop_assert_eq!(header.seq.map(|s| s.0), seq);
                prop_assert_eq!(header.shard.map(|s| u64::from(s.0)), shard);
                prop_assert_eq!(line[range].trim(), payload);
            }
            (Reference::Header { .. }, None) => prop_assert!(false, "weir refuses a header the reference reads"),
            (Reference::Dies, None) => {}
            (Reference::Dies, Some(header)) => {
                // Beyond the reference: a timestamp with a `Z`.
                let first = parts.first().map(|p| p.trim()).unwrap_or_default();
                prop_assert!(header.timestamp.is_some() && first.ends_with('Z'), "{:?}", header);
            }
        }
    }

    #[test]
    fn any_bytes_decode_without_panic(input in proptest::collection::vec(any::<u8>(), 0..400), cut in any::<prop::sample::Index>()) {
        let whole = decode_all(&input);
        let newlines = input.iter().filter(|&&b| b == b'\n').count();
        prop_assert_eq!(whole.len(), newlines + usize::from(!input.ends_with(b"\n") && !input.is_empty()));
        prop_assert!(whole.iter().all(|m| !m.payload.as_bytes().contains(&b'\n')));
        // Reads cut anywhere give the same messages.
        let cut = cut.index(input.len() + 1);
        let mut decoder = LineDecoder::new();
        let mut pieces = Vec::new();
        let first = Bytes::copy_from_slice(&input[..cut]);
        let consumed = decoder.decode_lines(&first, read_at(), &mut pieces);
        let second = Bytes::copy_from_slice(&input[consumed..]);
        let consumed = decoder.decode_lines(&second, read_at(), &mut pieces);
        if consumed < second.len() {
            pieces.push(decoder.decode(second.slice(consumed..), read_at()));
        }
        prop_assert_eq!(pieces, whole);
    }
}
