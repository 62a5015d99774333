//! Writing frames: a message becomes bytes, with a beacon spliced in at every
//! multiple of the beacon interval it crosses.

use std::collections::BTreeMap;

use weir_core::{MessageHeader, SeqNo, ShardId, StreamKey, StreamShard, Timestamp};

use crate::error::FormatError;
use crate::format::{
    markers_per_beacon, millis_of, payload_checksum, running_checksum, FileHeader, CR, FRAME_OVERHEAD,
    HEADER_SIZE, RUNNING_CHECKSUM_START,
};

/// What a beacon says of one (stream, shard): its highest seq and timestamp
/// so far, and the running checksum of its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The stream.
    pub stream_key: StreamKey,
    /// The shard.
    pub shard: ShardId,
    /// The highest seq written so far.
    pub seq: SeqNo,
    /// The latest timestamp written so far.
    pub timestamp: Timestamp,
    /// The running checksum over the shard's frame checksums.
    pub running_checksum: u16,
}

/// One (stream, shard)'s state as an encoder tracks it for its beacons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardState {
    /// The highest seq written.
    pub seq: SeqNo,
    /// The latest timestamp written.
    pub timestamp: Timestamp,
    /// The running checksum.
    pub running_checksum: u16,
}

/// Turns messages into `.ss` bytes. Pure: it appends to a `Vec` and keeps the
/// file offset and the per-shard beacon state; the caller writes the bytes.
#[derive(Clone, Debug)]
pub struct Encoder {
    interval: u64,
    offset: u64,
    shards: BTreeMap<StreamShard, ShardState>,
    /// Markers written so far: beacons take the shards round-robin from here.
    markers: u64,
    scratch: Vec<u8>,
}

impl Encoder {
    /// Starts a new file: appends its header (and, should the header end on a
    /// beacon position, that beacon).
    pub fn new_file(header: &FileHeader, out: &mut Vec<u8>) -> Result<Self, FormatError> {
        let bytes = header.encode()?;
        out.extend_from_slice(&bytes);
        Ok(Self::resume(header.beacon_interval, HEADER_SIZE as u64, BTreeMap::new(), out))
    }

    /// Continues a file whose next frame goes at `offset`, with the shards'
    /// state as its last frames left it. Should `offset` be a beacon position
    /// (a writer died between a frame and its beacon), the beacon is appended
    /// to `out` first.
    pub fn resume(
        beacon_interval: u32,
        offset: u64,
        shards: BTreeMap<StreamShard, ShardState>,
        out: &mut Vec<u8>,
    ) -> Self {
        let mut encoder = Self {
            interval: u64::from(beacon_interval.max(1)),
            offset,
            shards,
            markers: 0,
            scratch: Vec::new(),
        };
        if offset > 0 && offset.is_multiple_of(encoder.interval) {
            encoder.write_beacon(0, out);
        }
        encoder
    }

    /// Counts a frame already in the file into its shard's state, as
    /// [`encode`](Self::encode) would have.
    pub fn observe(&mut self, header: &MessageHeader, checksum: u16) {
        let state = self.shards.entry((header.stream_key.clone(), header.shard)).or_insert(ShardState {
            seq: header.seq,
            timestamp: header.timestamp,
            running_checksum: RUNNING_CHECKSUM_START,
        });
        state.seq = state.seq.max(header.seq);
        state.timestamp = state.timestamp.max(header.timestamp);
        state.running_checksum = running_checksum(state.running_checksum, checksum);
    }

    /// The beacon interval.
    pub fn interval(&self) -> u32 {
        self.interval as u32
    }

    /// Where the next byte goes in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The per-shard state the next beacons will report.
    pub fn shards(&self) -> &BTreeMap<StreamShard, ShardState> {
        &self.shards
    }

    /// Appends the frame of `header` and `payload` (and any beacon it crosses)
    /// to `out`; returns the frame's checksum. The timestamp is stored to the
    /// millisecond. On error nothing is appended and the state is unchanged.
    pub fn encode(
        &mut self,
        header: &MessageHeader,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u16, FormatError> {
        let millis = millis_of(header.timestamp, self.offset)?;
        let len =
            u32::try_from(payload.len()).map_err(|_| FormatError::PayloadTooLong { len: payload.len() })?;
        let checksum = payload_checksum(payload);

        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        frame.reserve(FRAME_OVERHEAD + header.stream_key.name().len() + payload.len());
        push_frame_header(&mut frame, &header.stream_key, header.shard, header.seq, millis);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&checksum.to_be_bytes());
        frame.push(CR);

        // The beacon state counts the frame before its bytes go out, so a
        // beacon that splits this frame already reports it.
        let timestamp = crate::format::timestamp_at(millis, self.offset)?;
        let stored = MessageHeader::new(header.stream_key.clone(), header.shard, header.seq, timestamp);
        self.observe(&stored, checksum);

        let mut rest = &frame[..];
        while !rest.is_empty() {
            let room = (self.interval - self.offset % self.interval) as usize;
            let (chunk, tail) = rest.split_at(room.min(rest.len()));
            out.extend_from_slice(chunk);
            self.offset += chunk.len() as u64;
            rest = tail;
            if self.offset.is_multiple_of(self.interval) {
                self.write_beacon(rest.len() as u32, out);
            }
        }
        self.scratch = frame;
        Ok(checksum)
    }

    /// Appends the beacon due at the current offset: `remaining` bytes of the
    /// frame it splits follow it.
    fn write_beacon(&mut self, remaining: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(CR);
        out.extend_from_slice(&remaining.to_be_bytes());
        let count = self.shards.len().min(markers_per_beacon(self.interval as u32));
        out.push(count as u8);
        if count > 0 {
            let skip = (self.markers % self.shards.len() as u64) as usize;
            for ((key, shard), state) in self.shards.iter().skip(skip).chain(self.shards.iter()).take(count) {
                // Stored timestamps are whole milliseconds since 1970: they fit.
                let millis = u64::try_from(state.timestamp.unix_millis()).unwrap_or(0);
                push_frame_header(out, key, *shard, state.seq, millis);
                out.extend_from_slice(&state.running_checksum.to_be_bytes());
            }
        }
        out.push(CR);
        self.markers += count as u64;
        self.offset += (out.len() - start) as u64;
    }
}

/// The fields a frame and a beacon marker share: key, shard, seq, timestamp.
fn push_frame_header(out: &mut Vec<u8>, key: &StreamKey, shard: ShardId, seq: SeqNo, millis: u64) {
    // Stream keys are at most 249 bytes.
    out.push(key.name().len() as u8);
    out.extend_from_slice(key.name().as_bytes());
    out.extend_from_slice(&u64::from(shard.0).to_be_bytes());
    out.extend_from_slice(&seq.0.to_be_bytes());
    out.extend_from_slice(&millis.to_be_bytes());
}
