//! Reading frames: bytes of a file, from a known frame or beacon boundary,
//! become messages, beacons and the end-of-stream marker.
//!
//! The decoder is handed the bytes it has (a buffer and the file offset of its
//! first byte) and answers with one item and where it ends, or `None` when the
//! item is not complete yet: the caller reads more and asks again. At the end
//! of a file, leftover bytes are a torn frame ([`Decoder::torn`]).

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};

use crate::encode::Marker;
use crate::error::FormatError;
use crate::format::{
    payload_checksum, read_u32, read_u64, timestamp_at, FileHeader, CR, EOS_PAYLOAD, INTERNAL_KEY,
};

/// A beacon: the positions of some shards, at a multiple of the interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beacon {
    /// Which multiple of the beacon interval it sits at (its offset / interval).
    pub index: u64,
    /// Bytes of a frame split by this beacon that follow it (0 when it sits
    /// between frames).
    pub remaining: u32,
    /// The shards it reports.
    pub markers: Vec<Marker>,
}

/// What a stretch of file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A message frame.
    Message(Message),
    /// The end-of-stream frame, stamped when the writer ended.
    EndOfStream(Timestamp),
    /// A beacon between two frames.
    Beacon(Beacon),
}

/// An item and the file range it spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// What was read.
    pub item: Item,
    /// Where it starts.
    pub offset: u64,
    /// Where the next item starts.
    pub end: u64,
}

/// Why a read stopped: more bytes are needed, or the bytes are wrong.
enum Stop {
    Short,
    Bad(FormatError),
}

impl From<FormatError> for Stop {
    fn from(err: FormatError) -> Self {
        Stop::Bad(err)
    }
}

/// Decodes the frames of one file. Keeps the keys it has seen, so that a
/// stream's messages share one key allocation.
#[derive(Clone, Debug)]
pub struct Decoder {
    interval: u64,
    keys: Vec<StreamKey>,
}

/// Keys remembered; files usually hold a handful of streams.
const KEY_CACHE: usize = 16;

impl Decoder {
    /// A decoder for the file `header` opens.
    pub fn new(header: &FileHeader) -> Self {
        Self { interval: u64::from(header.beacon_interval.max(1)), keys: Vec::new() }
    }

    /// The beacon interval.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// The item starting at file offset `base`, which must be a frame or beacon
    /// boundary, read from `buf` (the file's bytes from `base` on). `Ok(None)`:
    /// `buf` ends before the item does.
    pub fn decode(&mut self, buf: &Bytes, base: u64) -> Result<Option<Decoded>, FormatError> {
        let result = if base.is_multiple_of(self.interval) {
            self.beacon(buf, base, base).map(|(beacon, end)| (Item::Beacon(beacon), end))
        } else {
            self.frame(buf, base)
        };
        match result {
            Ok((item, end)) => Ok(Some(Decoded { item, offset: base, end })),
            Err(Stop::Short) => Ok(None),
            Err(Stop::Bad(err)) => Err(err),
        }
    }

    /// The error for a file that ends `present` bytes into the item at `offset`.
    pub fn torn(&self, offset: u64, present: u64) -> FormatError {
        FormatError::TornFrame { offset, present }
    }

    /// The first boundary after the beacon at `base` (a multiple of the
    /// interval): past the beacon and the rest of any frame it splits. Lets a
    /// reader start mid-file. `Ok(None)`: `buf` ends before that.
    pub fn after_beacon(&mut self, buf: &Bytes, base: u64) -> Result<Option<(Beacon, u64)>, FormatError> {
        let run = |this: &mut Self| -> Result<(Beacon, u64), Stop> {
            let (beacon, end) = this.beacon(buf, base, base)?;
            let mut cursor = Cursor { buf, base, pos: end, interval: this.interval, frame: base };
            cursor.skip(beacon.remaining as usize)?;
            Ok((beacon, cursor.pos))
        };
        match run(self) {
            Ok(found) => Ok(Some(found)),
            Err(Stop::Short) => Ok(None),
            Err(Stop::Bad(err)) => Err(err),
        }
    }

    fn frame(&mut self, buf: &Bytes, base: u64) -> Result<(Item, u64), Stop> {
        let mut cursor = Cursor { buf, base, pos: base, interval: self.interval, frame: base };
        let (key, shard, seq, timestamp) = self.fields(&mut cursor, "frame", base)?;
        let len = read_u32(&cursor.take(4)?) as usize;
        let payload = cursor.take_bytes(len)?;
        let tail = cursor.take(3)?;
        let stored = u16::from_be_bytes([tail[0], tail[1]]);
        let computed = payload_checksum(&payload);
        if stored != computed {
            return Err(FormatError::Checksum { offset: base, stored, computed }.into());
        }
        if tail[2] != CR {
            return Err(malformed("frame", base, format!("ends with {:#04x}, not 0x0d", tail[2])));
        }
        let item = if key.name() == INTERNAL_KEY && payload[..] == *EOS_PAYLOAD {
            Item::EndOfStream(timestamp)
        } else {
            Item::Message(Message::new(MessageHeader::new(key, shard, seq, timestamp), Payload::new(payload)))
        };
        Ok((item, cursor.pos))
    }

    /// Key, shard, seq and timestamp: the start of a frame and a beacon marker.
    fn fields(
        &mut self,
        cursor: &mut Cursor<'_>,
        what: &'static str,
        offset: u64,
    ) -> Result<(StreamKey, ShardId, SeqNo, Timestamp), Stop> {
        let len = usize::from(cursor.take(1)?[0]);
        let key = cursor.take(len)?;
        let key = self.key(&key).map_err(|reason| malformed(what, offset, reason))?;
        let fixed = cursor.take(24)?;
        let shard = read_u64(&fixed);
        let shard = u32::try_from(shard)
            .map_err(|_| malformed(what, offset, format!("shard {shard} is past weir's 32-bit shard ids")))?;
        let seq = SeqNo(read_u64(&fixed[8..]));
        let timestamp = timestamp_at(read_u64(&fixed[16..]), offset)?;
        Ok((key, ShardId(shard), seq, timestamp))
    }

    fn key(&mut self, bytes: &[u8]) -> Result<StreamKey, String> {
        if let Some(key) = self.keys.iter().find(|key| key.name().as_bytes() == bytes) {
            return Ok(key.clone());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "its stream key is not utf-8".to_owned())?;
        let key = StreamKey::new(text).map_err(|err| err.to_string())?;
        if self.keys.len() == KEY_CACHE {
            self.keys.remove(0);
        }
        self.keys.push(key.clone());
        Ok(key)
    }

    /// The beacon at `at` (a multiple of the interval), read from `buf`
    /// starting at file offset `base`; returns it and where it ends.
    fn beacon(&mut self, buf: &Bytes, base: u64, at: u64) -> Result<(Beacon, u64), Stop> {
        let start = (at - base) as usize;
        let bytes = buf.get(start..).unwrap_or_default();
        if bytes.len() < 6 {
            return Err(Stop::Short);
        }
        if bytes[0] != CR {
            return Err(malformed("beacon", at, format!("starts with {:#04x}, not 0x0d", bytes[0])));
        }
        let remaining = read_u32(&bytes[1..]);
        let count = bytes[5];
        // A beacon is read in one piece: it never crosses the next interval.
        let mut cursor = Cursor { buf, base, pos: at + 6, interval: u64::MAX, frame: at };
        let mut markers = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let (stream_key, shard, seq, timestamp) = self.fields(&mut cursor, "beacon", at)?;
            let sum = cursor.take(2)?;
            markers.push(Marker {
                stream_key,
                shard,
                seq,
                timestamp,
                running_checksum: u16::from_be_bytes([sum[0], sum[1]]),
            });
        }
        let last = cursor.take(1)?[0];
        if last != CR {
            return Err(malformed("beacon", at, format!("ends with {last:#04x}, not 0x0d")));
        }
        if cursor.pos - at >= self.interval {
            return Err(malformed(
                "beacon",
                at,
                format!("is {} bytes, not less than the interval", cursor.pos - at),
            ));
        }
        Ok((Beacon { index: at / self.interval, remaining, markers }, cursor.pos))
    }
}

fn malformed(what: &'static str, offset: u64, reason: impl Into<String>) -> Stop {
    Stop::Bad(FormatError::Malformed { what, offset, reason: reason.into() })
}

/// Reads a frame's bytes in file order, stepping over the beacons that split it.
struct Cursor<'a> {
    buf: &'a Bytes,
    /// The file offset of `buf[0]`.
    base: u64,
    /// The file offset of the next byte to read.
    pos: u64,
    interval: u64,
    /// Where the frame being read starts (a beacon there is the frame's own business).
    frame: u64,
}

impl<'a> Cursor<'a> {
    /// Steps over the beacon at the current position, if one is due there.
    fn skip_beacon(&mut self) -> Result<(), Stop> {
        if !self.pos.is_multiple_of(self.interval) || self.pos == self.frame {
            return Ok(());
        }
        let start = (self.pos - self.base) as usize;
        let bytes = self.buf.get(start..).unwrap_or_default();
        let size = beacon_size(bytes).map_err(|reason| match reason {
            None => Stop::Short,
            Some(reason) => malformed("beacon", self.pos, reason),
        })?;
        self.pos += size as u64;
        Ok(())
    }

    /// Bytes left in `buf` from the position on.
    fn available(&self) -> usize {
        self.buf.len().saturating_sub((self.pos - self.base) as usize)
    }

    /// The next `n` frame bytes: borrowed when no beacon splits them.
    fn take(&mut self, n: usize) -> Result<Cow<'a, [u8]>, Stop> {
        if n == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        self.skip_beacon()?;
        let room = self.interval - self.pos % self.interval;
        if n as u64 <= room {
            let start = (self.pos - self.base) as usize;
            let bytes = self.buf.get(start..start + n).ok_or(Stop::Short)?;
            self.pos += n as u64;
            return Ok(Cow::Borrowed(bytes));
        }
        Ok(Cow::Owned(self.gather(n)?.to_vec()))
    }

    /// Like `take`, as shared bytes (a slice of `buf` when contiguous).
    fn take_bytes(&mut self, n: usize) -> Result<Bytes, Stop> {
        if n == 0 {
            return Ok(Bytes::new());
        }
        self.skip_beacon()?;
        let room = self.interval - self.pos % self.interval;
        if n as u64 <= room {
            let start = (self.pos - self.base) as usize;
            if start + n > self.buf.len() {
                return Err(Stop::Short);
            }
            self.pos += n as u64;
            return Ok(self.buf.slice(start..start + n));
        }
        Ok(self.gather(n)?.freeze())
    }

    /// Copies `n` bytes that cross at least one beacon.
    fn gather(&mut self, n: usize) -> Result<BytesMut, Stop> {
        // A length read from a corrupt file may be huge: allocate only what
        // the buffer could possibly provide.
        if n > self.available() {
            return Err(Stop::Short);
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            self.skip_beacon()?;
            let room = (self.interval - self.pos % self.interval) as usize;
            let chunk = room.min(n - out.len());
            let start = (self.pos - self.base) as usize;
            out.extend_from_slice(self.buf.get(start..start + chunk).ok_or(Stop::Short)?);
            self.pos += chunk as u64;
        }
        Ok(out)
    }

    /// Steps over `n` frame bytes without copying them.
    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        let mut left = n;
        while left > 0 {
            self.skip_beacon()?;
            let room = (self.interval - self.pos % self.interval) as usize;
            let chunk = room.min(left);
            if chunk > self.available() {
                return Err(Stop::Short);
            }
            self.pos += chunk as u64;
            left -= chunk;
        }
        Ok(())
    }
}

/// The size of the beacon at the start of `bytes`, without building it.
/// `Err(None)`: more bytes are needed; `Err(Some(reason))`: it is malformed.
fn beacon_size(bytes: &[u8]) -> Result<usize, Option<String>> {
    if bytes.len() < 6 {
        return Err(None);
    }
    if bytes[0] != CR {
        return Err(Some(format!("starts with {:#04x}, not 0x0d", bytes[0])));
    }
    let mut at = 6;
    for _ in 0..bytes[5] {
        let len = usize::from(*bytes.get(at).ok_or(None)?);
        at += 1 + len + 24 + 2;
    }
    match bytes.get(at) {
        None => Err(None),
        Some(&CR) => Ok(at + 1),
        Some(other) => Err(Some(format!("ends with {other:#04x}, not 0x0d"))),
    }
}

/// A whole file read from memory: its header, its items in order, and why
/// reading stopped before the end, if it did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WholeFile {
    /// The header, if the file has a valid one.
    pub header: Option<FileHeader>,
    /// Every complete item before the end or the first error.
    pub items: Vec<Decoded>,
    /// The first error: a corrupt item, or a torn last frame.
    pub error: Option<FormatError>,
}

/// Reads every item of `file`, up to the end or the first error.
pub fn decode_all(file: &Bytes) -> WholeFile {
    let mut whole = WholeFile::default();
    let header = match FileHeader::decode(file) {
        Ok(Some(header)) => header,
        Ok(None) if file.is_empty() => {
            whole.error = Some(FormatError::Empty);
            return whole;
        }
        Ok(None) => {
            whole.error = Some(FormatError::TornHeader { len: file.len() });
            return whole;
        }
        Err(err) => {
            whole.error = Some(err);
            return whole;
        }
    };
    let mut decoder = Decoder::new(&header);
    whole.header = Some(header);
    let mut at = crate::format::HEADER_SIZE as u64;
    while (at as usize) < file.len() {
        match decoder.decode(&file.slice(at as usize..), at) {
            Ok(Some(decoded)) => {
                at = decoded.end;
                whole.items.push(decoded);
            }
            Ok(None) => {
                whole.error = Some(decoder.torn(at, file.len() as u64 - at));
                break;
            }
            Err(err) => {
                whole.error = Some(err);
                break;
            }
        }
    }
    whole
}
