//! The stdio line codec: bytes to messages and back, one message per line. No I/O.
//!
//! ```text
//! [timestamp | stream_key | seq | shard] payload
//! ```
//!
//! Reading: [`split_lines`] finds complete lines in a buffer, [`parse_line`] splits
//! one into a borrowed [`Header`] and a payload range, and [`LineDecoder`] turns
//! lines into [`Message`]s, filling in what a header leaves out (the time the line
//! was read, the `broadcast` stream, shard 0, the next sequence number of the
//! stream and shard). Payloads are slices of the caller's [`Bytes`], not copies.
//! Writing: [`format_line`] appends the full form of a message.
//!
//! # Grammar
//! - A header is a `[` at byte 0, then everything up to the first `]`. Inside,
//!   parts are separated by `|` and trimmed with `str::trim` (Unicode white space).
//!   The accepted headers are `[ts]`, `[ts|key]`, `[ts|key|seq]`,
//!   `[ts|key|seq|shard]`, `[key]`, `[key|seq]`, `[key|seq|shard]`: the first part
//!   is a timestamp if it reads as one, the next part is the key, then seq, then
//!   shard. A timestamp is `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`, UTC, as
//!   [`Timestamp::parse`] reads it; a key is a valid [`StreamKey`]; seq is a `u64`
//!   and shard a `u32`, both read by `str::parse` (decimal, an optional `+`).
//! - Anything else is a raw line: no `[` at byte 0, no `]`, a bracket that is not
//!   valid UTF-8, or one that is not a header above (`["a","b"]`, `[ ]`, `[]`,
//!   five parts, a bad key, a negative number, …). Its payload is the whole line.
//! - The payload of a header line is what follows `]`, less one space if one is
//!   there. Line endings are `\n` and `\r\n`; a last line without one is a line.
//!   An empty line is a raw message with an empty payload.
//! - Sequence numbers count from 0 per (stream, shard); raw lines count in
//!   `broadcast` shard 0. An explicit seq `n` is used as is, and the next implicit
//!   one of that stream and shard is `n + 1` (saturating at `u64::MAX`).
//!
//! # The reference: SeaStreamer 0.1.0
//! Lines written here must be readable by, and lines readable by the reference
//! must mean the same here as in, the stdio backend of SeaStreamer 0.1.0
//! (repository SeaQL/sea-streamer at commit `10a7eedcd82d`, where
//! `sea-streamer-stdio/Cargo.toml` says version 0.1.0). Facts relied on, from
//! `sea-streamer-stdio/src/parser.rs` unless said otherwise:
//! 1. `consumers.rs` reads each line with `read_line` into a `String`, ending
//!    included, and gives that to `parse_meta`. Invalid UTF-8 is an I/O error there,
//!    and both that and a `parse_meta` error `panic!` the reader thread.
//! 2. The header is `[`, one or more characters other than `]`, then `]` (nom's
//!    `delimited(char('['), is_not("]"), char(']'))`), at the very start of the line.
//!    When that does not match (no `[` at the start, `[]`, no `]`) the line is raw
//!    and the payload is the input as read, line ending included.
//! 3. The inside is split on `|` and each part `str::trim`med. Parts are taken in
//!    order: a timestamp only while nothing is set yet; a key (1 to 249 characters
//!    of `[A-Za-z0-9._-]`, `MAX_STREAM_KEY_LEN` and `is_valid_stream_key_char` in
//!    `sea-streamer-types/src/stream.rs`) while no key is set; a seq (`str::parse`
//!    as `SequenceNo = u64`) once a key is set and before seq or shard; a shard
//!    (`str::parse` as `u64`) once key and seq are set. A part that fits none of
//!    these is an error. This admits exactly the seven headers above, so the part
//!    after an optional timestamp is always the key (`[123]` is key `123`).
//! 4. Timestamps are `time` descriptions `[year]-[month]-[day]T[hour]:[minute]:[second]`
//!    with or without `.[subsecond]`, read as UTC: no `Z`, no offset.
//! 5. The payload of a header line is the rest after `]`, `str::trim`med at both ends.
//! 6. `consumers.rs`: no key → `broadcast`; no shard → 0; no timestamp → now; seq
//!    counters per (stream, shard) start at 0, and an explicit seq `n` is stored as
//!    the counter, so the next implicit seq of that stream and shard is `n` again.
//! 7. `producer.rs` writes `[{timestamp} | {key} | {seq}] {payload}` with seconds
//!    only, so its output is a `[ts|key|seq]` header here.
//!
//! The full form written here is a `[ts|key|seq|shard]` header to the reference
//! (its subsecond format reads the six digits). Where weir reads differently:
//! - **(beyond)** lines the reference dies on are raw messages here: `[ ]`,
//!   `["a","b"]`, any other bracket that is not a header, and invalid UTF-8
//!   (whose payloads are delivered as bytes).
//! - **(beyond)** a trailing `Z` on the timestamp is accepted.
//! - **(beyond)** only one separating space is removed from a header line's
//!   payload; the reference trims all leading and trailing white space. A payload
//!   that starts or ends with white space, or is not UTF-8, reaches a reference
//!   reader changed (trimmed) or not at all; weir readers get it unchanged.
//! - **(beyond)** a raw line's payload excludes its line ending (the reference
//!   keeps it).
//! - **(beyond)** after an explicit seq `n` the next implicit seq is `n + 1`, per
//!   the specification, where the reference repeats `n`.
//! - Shards are `u32` here: a shard above `u32::MAX`, which the reference accepts,
//!   makes the line raw.
//! - The SeaStreamer 0.1.0 `README.md` calls `[2022-01-01T00:00:00] 12345` invalid;
//!   its parser reads it as a timestamp header with payload `12345`, and so does weir.

mod format;
mod header;
#[cfg(test)]
mod tests;
mod timestamp;

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use weir_core::key::BROADCAST;
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, StreamKeyError, Timestamp};

pub use format::{check_framable, format_line, LineFormatter};
pub use header::{parse_line, Header};
use header::{parse_line_in, RawHeader};
use timestamp::ParsedSecond;

/// The complete lines of a buffer, as ranges without their `\n` or `\r\n`.
///
/// Made by [`split_lines`]. A trailing line without `\n` is not yielded: it may
/// still be growing. [`Lines::consumed`] says where it starts.
#[derive(Clone, Debug)]
pub struct Lines<'a> {
    buf: &'a [u8],
    consumed: usize,
}

/// Finds the complete lines of `buf` with `memchr`, in one pass.
pub fn split_lines(buf: &[u8]) -> Lines<'_> {
    Lines { buf, consumed: 0 }
}

impl Lines<'_> {
    /// Bytes of the lines yielded so far, endings included: where the next line starts.
    pub fn consumed(&self) -> usize {
        self.consumed
    }
}

impl Iterator for Lines<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let start = self.consumed;
        let newline = start + memchr::memchr(b'\n', self.buf.get(start..)?)?;
        self.consumed = newline + 1;
        Some(start..content_end(self.buf, start, newline))
    }
}

/// Where the content of the line `start..end` stops once a `\r` before its `\n` at `end` is dropped.
fn content_end(buf: &[u8], start: usize, end: usize) -> usize {
    if end > start && buf.get(end - 1) == Some(&b'\r') {
        end - 1
    } else {
        end
    }
}

/// Turns lines into messages: sequence counters per (stream, shard), and each
/// stream key allocated once.
#[derive(Debug)]
pub struct LineDecoder {
    broadcast: StreamCounters,
    /// Every other stream seen, in order of appearance.
    streams: Vec<StreamCounters>,
    index: BTreeMap<StreamKey, usize>,
    /// The stream of the previous keyed line: consecutive lines mostly share one.
    last: usize,
    /// Lines that open with `[` but whose bracket is no header, since the
    /// last [`take_unparsed`](Self::take_unparsed), and the first of them.
    unparsed: (u64, Option<Bytes>),
    /// The second of the last timestamp read.
    second: ParsedSecond,
}

#[derive(Debug)]
struct StreamCounters {
    key: StreamKey,
    /// The next implicit seq of shard 0, the shard of nearly every line.
    zero: SeqNo,
    /// The next implicit seq of each other shard seen.
    next: BTreeMap<ShardId, SeqNo>,
}

impl StreamCounters {
    fn new(key: StreamKey) -> Self {
        Self { key, zero: SeqNo::default(), next: BTreeMap::new() }
    }

    fn next_mut(&mut self, shard: ShardId) -> &mut SeqNo {
        match shard {
            ShardId::ZERO => &mut self.zero,
            _ => self.next.entry(shard).or_default(),
        }
    }

    fn next(&self, shard: ShardId) -> SeqNo {
        match shard {
            ShardId::ZERO => self.zero,
            _ => self.next.get(&shard).copied().unwrap_or_default(),
        }
    }
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDecoder {
    /// A decoder whose counters all start at 0.
    pub fn new() -> Self {
        Self {
            broadcast: StreamCounters::new(StreamKey::broadcast()),
            streams: Vec::new(),
            index: BTreeMap::new(),
            last: 0,
            unparsed: (0, None),
            second: ParsedSecond::default(),
        }
    }

    /// The seq the next line of `key`/`shard` without an explicit seq gets.
    pub fn next_seq(&self, key: &str, shard: ShardId) -> SeqNo {
        let counters = if key == BROADCAST {
            Some(&self.broadcast)
        } else {
            self.index.get(key).and_then(|&at| self.streams.get(at))
        };
        counters.map(|c| c.next(shard)).unwrap_or_default()
    }

    /// Decodes one line, given with or without its `\n` or `\r\n` ending.
    ///
    /// For the last line of an input that lacks a newline, and for tests. Only a
    /// final `\n`, with a `\r` just before it if any, is an ending: another `\n`
    /// stays in the payload, and so does a final `\r` without a `\n` after it.
    pub fn decode(&mut self, line: Bytes, read_at: Timestamp) -> Message {
        let end = match line.last() {
            Some(b'\n') => content_end(&line, 0, line.len() - 1),
            _ => line.len(),
        };
        self.decode_in(&line, 0..end, read_at)
    }

    /// Decodes every complete line of `chunk` into `out`; returns the bytes
    /// consumed, so `chunk[consumed..]` is a partial line to complete with the
    /// next read (or to pass to [`LineDecoder::decode`] at end of input).
    pub fn decode_lines(&mut self, chunk: &Bytes, read_at: Timestamp, out: &mut Vec<Message>) -> usize {
        let mut lines = split_lines(chunk);
        for line in lines.by_ref() {
            out.push(self.decode_in(chunk, line, read_at));
        }
        lines.consumed()
    }

    fn decode_in(&mut self, buf: &Bytes, line: Range<usize>, read_at: Timestamp) -> Message {
        let text = buf.get(line.clone()).unwrap_or_default();
        let (header, payload, stream) = match parse_line_in(text, &mut self.second) {
            (Some(header), payload) => match header.key.map(|key| self.stream(key)).transpose() {
                Ok(stream) => (header, payload, stream.flatten()),
                // Unreachable: `parse_line` checked the key. Raw is the safe reading.
                Err(_) => (RawHeader::default(), 0..text.len(), None),
            },
            (None, payload) => {
                if text.first() == Some(&b'[') {
                    // Raw by the grammar, but likely meant as a header: worth a diagnostic.
                    self.unparsed.0 += 1;
                    self.unparsed.1.get_or_insert_with(|| buf.slice(line.clone()));
                }
                (RawHeader::default(), payload, None)
            }
        };
        let counters = match stream.and_then(|at| self.streams.get_mut(at)) {
            Some(counters) => counters,
            None => &mut self.broadcast,
        };
        let shard = header.shard.unwrap_or(ShardId::ZERO);
        let next = counters.next_mut(shard);
        let seq = header.seq.unwrap_or(*next);
        *next = seq.next();
        let header =
            MessageHeader::new(counters.key.clone(), shard, seq, header.timestamp.unwrap_or(read_at));
        let payload = buf.slice(line.start + payload.start..line.start + payload.end);
        Message::new(header, Payload::new(payload))
    }

    /// How many lines opened with `[` without a header (so were read as raw
    /// messages) since the last call, and the first of them; resets both.
    pub fn take_unparsed(&mut self) -> (u64, Option<Bytes>) {
        std::mem::take(&mut self.unparsed)
    }

    /// Where `key`'s counters are (`None`: in `broadcast`), adding them if new.
    fn stream(&mut self, key: &[u8]) -> Result<Option<usize>, StreamKeyError> {
        if self.streams.get(self.last).is_some_and(|s| s.key.name().as_bytes() == key) {
            return Ok(Some(self.last));
        }
        // Text only for a key other than the last: the usual line needs no UTF-8 pass.
        // Not UTF-8 (unreachable, the parser checked it): `StreamKey::new` refuses it.
        let key = String::from_utf8_lossy(key);
        let key = &*key;
        if key == BROADCAST {
            return Ok(None);
        }
        let at = match self.index.get(key) {
            Some(&at) => at,
            None => {
                let key = StreamKey::new(key)?;
                self.streams.push(StreamCounters::new(key.clone()));
                self.index.insert(key, self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.last = at;
        Ok(Some(at))
    }
}
