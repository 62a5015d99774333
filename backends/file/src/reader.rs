//! Reading a log file from any frame boundary: buffered decoding, the end of
//! the file, and the beacon search that `rewind` and `seek` start from.
//! Blocking: called from the jobs the consumers hand to their runtime.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use weir_core::{BackendError, BackendErrorKind, SeqNo, ShardId, StreamKey, Timestamp};

use crate::decode::{Beacon, Decoded, Decoder};
use crate::encode::Marker;
use crate::error::FormatError;
use crate::format::{FileHeader, HEADER_SIZE};

/// How much is read from the file at a time.
const CHUNK: usize = 256 * 1024;

/// The backend's name in errors.
pub(crate) const BACKEND: &str = "file";

pub(crate) fn io_error(path: &Path, doing: &str, err: &io::Error) -> BackendError {
    BackendError::new(BACKEND, BackendErrorKind::Io, format!("{doing} {}: {err}", path.display()))
}

pub(crate) fn format_error(path: &Path, err: &FormatError) -> BackendError {
    BackendError::new(BACKEND, BackendErrorKind::Io, format!("{}: {err}", path.display()))
}

/// What a shard's start is searched by.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Probe {
    Seq(SeqNo),
    Time(Timestamp),
}

impl Probe {
    /// Whether every message of the marker's shard up to its beacon comes
    /// before the target (so reading may start after that beacon).
    fn all_before(self, marker: &Marker) -> bool {
        match self {
            Probe::Seq(seq) => marker.seq < seq,
            Probe::Time(at) => marker.timestamp < at,
        }
    }
}

/// One open log, read forward from a frame boundary.
pub(crate) struct LogReader {
    path: PathBuf,
    file: File,
    header: FileHeader,
    decoder: Decoder,
    /// File bytes from `base` on, not decoded yet.
    buf: Bytes,
    base: u64,
}

impl LogReader {
    /// Opens `path` and reads its header.
    pub(crate) fn open(path: &Path) -> Result<Self, BackendError> {
        let file = File::open(path).map_err(|err| io_error(path, "cannot open", &err))?;
        let mut head = vec![0u8; HEADER_SIZE];
        let len = read_at(&file, &mut head, 0).map_err(|err| io_error(path, "cannot read", &err))?;
        let header = match FileHeader::decode(&head[..len]) {
            Ok(Some(header)) => header,
            Ok(None) if len == 0 => return Err(format_error(path, &FormatError::Empty)),
            Ok(None) => return Err(format_error(path, &FormatError::TornHeader { len })),
            Err(err) => return Err(format_error(path, &err)),
        };
        let decoder = Decoder::new(&header);
        Ok(Self { path: path.to_owned(), file, header, decoder, buf: Bytes::new(), base: HEADER_SIZE as u64 })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file offset of the next item.
    pub(crate) fn position(&self) -> u64 {
        self.base
    }

    /// The file's length now.
    pub(crate) fn len(&self) -> Result<u64, BackendError> {
        self.file.metadata().map(|m| m.len()).map_err(|err| io_error(&self.path, "cannot stat", &err))
    }

    /// Continues from `offset`, a frame or beacon boundary.
    pub(crate) fn seek(&mut self, offset: u64) {
        self.base = offset;
        self.buf = Bytes::new();
    }

    /// Reads more of the file after what is buffered; `Ok(0)` at its end.
    fn fill(&mut self) -> Result<usize, BackendError> {
        let mut next = BytesMut::with_capacity(self.buf.len() + CHUNK);
        next.extend_from_slice(&self.buf);
        next.resize(self.buf.len() + CHUNK, 0);
        let at = self.base + self.buf.len() as u64;
        let read = read_at(&self.file, &mut next[self.buf.len()..], at)
            .map_err(|err| io_error(&self.path, "cannot read", &err))?;
        next.truncate(self.buf.len() + read);
        self.buf = next.freeze();
        Ok(read)
    }

    /// The next complete item; `Ok(None)` at the end of what the file holds
    /// now (see [`torn`](Self::torn) for what is left over).
    pub(crate) fn next_item(&mut self) -> Result<Option<Decoded>, BackendError> {
        loop {
            match self.decoder.decode(&self.buf, self.base) {
                Ok(Some(decoded)) => {
                    let used = (decoded.end - self.base) as usize;
                    self.buf = self.buf.slice(used.min(self.buf.len())..);
                    self.base = decoded.end;
                    return Ok(Some(decoded));
                }
                Ok(None) => {
                    if self.fill()? == 0 {
                        return Ok(None);
                    }
                }
                Err(err) => return Err(format_error(&self.path, &err)),
            }
        }
    }

    /// At the end of the file: the torn frame the bytes left over make, if any.
    pub(crate) fn torn(&self) -> Option<BackendError> {
        (!self.buf.is_empty())
            .then(|| format_error(&self.path, &self.decoder.torn(self.base, self.buf.len() as u64)))
    }

    /// The beacon at index `k` and the first boundary after it, if the file
    /// holds all of it.
    fn beacon(&mut self, k: u64) -> Result<Option<(Beacon, u64)>, BackendError> {
        let at = k * self.decoder.interval();
        let mut want = 64 * 1024;
        loop {
            let mut bytes = vec![0u8; want];
            let read = read_at(&self.file, &mut bytes, at)
                .map_err(|err| io_error(&self.path, "cannot read", &err))?;
            bytes.truncate(read);
            match self.decoder.after_beacon(&Bytes::from(bytes), at) {
                Ok(Some(found)) => return Ok(Some(found)),
                Ok(None) if read < want => return Ok(None),
                Ok(None) => want *= 2,
                Err(err) => return Err(format_error(&self.path, &err)),
            }
        }
    }

    /// Beacons whose bytes are all in the file now: `1..=last`.
    fn last_beacon(&self) -> Result<u64, BackendError> {
        let len = self.len()?;
        Ok(len.saturating_sub(1) / self.decoder.interval())
    }

    /// Moves to the first item boundary after beacon `k`, or after the
    /// nearest whole beacon before it (a beacon at the very end may be torn),
    /// or after the header.
    fn seek_after_beacon(&mut self, mut k: u64) -> Result<(), BackendError> {
        let start = loop {
            if k == 0 {
                break HEADER_SIZE as u64;
            }
            match self.beacon(k)? {
                Some((_, next)) => break next,
                None => k -= 1,
            }
        };
        self.seek(start);
        Ok(())
    }

    /// Where the last complete frame ends: reads from the last beacon on, not
    /// from the start. Leaves the reader there.
    pub(crate) fn seek_end(&mut self) -> Result<u64, BackendError> {
        self.seek_after_beacon(self.last_beacon()?)?;
        while self.next_item()?.is_some() {}
        Ok(self.base)
    }

    /// The first item boundary at or after `offset` (a length the file had
    /// earlier, which may have fallen inside a frame being written), or the
    /// end of what the file holds. Reads from the beacon before it.
    pub(crate) fn seek_boundary(&mut self, offset: u64) -> Result<u64, BackendError> {
        self.seek_after_beacon(offset.saturating_sub(1) / self.decoder.interval())?;
        while self.base < offset {
            if self.next_item()?.is_none() {
                break;
            }
        }
        Ok(self.base)
    }

    /// The offset to read `shard` from so that nothing of it at or after
    /// `probe` is missed: after the last beacon that shows all of the shard
    /// before the probe (a binary search over the beacons).
    pub(crate) fn search(
        &mut self,
        key: &StreamKey,
        shard: ShardId,
        probe: Probe,
    ) -> Result<u64, BackendError> {
        let (mut lo, mut hi) = (1u64, self.last_beacon()?);
        let mut best = HEADER_SIZE as u64;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            // Beacons name shards round-robin: look back for the nearest one naming this shard.
            let mut found = None;
            let mut k = mid;
            while k >= lo {
                if let Some((beacon, next)) = self.beacon(k)? {
                    if let Some(marker) =
                        beacon.markers.iter().find(|m| m.stream_key == *key && m.shard == shard)
                    {
                        found = Some((probe.all_before(marker), next));
                        break;
                    }
                }
                k -= 1;
            }
            match found {
                Some((true, next)) => {
                    best = best.max(next);
                    lo = mid + 1;
                }
                _ => hi = mid - 1,
            }
        }
        Ok(best)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

impl LogReader {
    /// The open file's device and inode, to notice a file replaced under its path.
    #[cfg(unix)]
    pub(crate) fn identity(&self) -> Result<(u64, u64), BackendError> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata().map_err(|err| io_error(&self.path, "cannot stat", &err))?;
        Ok((meta.dev(), meta.ino()))
    }
}

/// Where an appending writer continues, and the shard state its beacons carry on.
pub(crate) struct Resume {
    /// The end of the last complete frame (before a final end-of-stream frame,
    /// which an append removes).
    pub(crate) end: u64,
    pub(crate) shards: std::collections::BTreeMap<weir_core::StreamShard, crate::encode::ShardState>,
    pub(crate) interval: u32,
}

impl LogReader {
    /// What a writer appending to this file needs, read from the last beacons
    /// and the frames after them, not from the whole file: walk back over
    /// beacons until one lists every shard (or the round-robin comes around),
    /// take each shard's latest marker, then count the frames after it.
    pub(crate) fn resume(&mut self) -> Result<Resume, BackendError> {
        use std::collections::BTreeMap;
        let interval = self.decoder.interval();
        let per_beacon = crate::format::markers_per_beacon(self.header.beacon_interval);
        let mut marks: BTreeMap<weir_core::StreamShard, (u64, crate::encode::ShardState)> = BTreeMap::new();
        let mut k = self.last_beacon()?;
        let mut scan_from = HEADER_SIZE as u64;
        while k > 0 {
            let Some((beacon, next)) = self.beacon(k)? else {
                k -= 1;
                continue;
            };
            scan_from = next;
            let mut repeated = false;
            for m in &beacon.markers {
                let state = crate::encode::ShardState {
                    seq: m.seq,
                    timestamp: m.timestamp,
                    running_checksum: m.running_checksum,
                };
                match marks.entry((m.stream_key.clone(), m.shard)) {
                    std::collections::btree_map::Entry::Occupied(_) => repeated = true,
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert((k * interval, state));
                    }
                }
            }
            if repeated || beacon.markers.len() < per_beacon {
                break;
            }
            k -= 1;
        }
        if k == 0 {
            scan_from = HEADER_SIZE as u64;
        }
        let mut shards: BTreeMap<_, _> =
            marks.iter().map(|(shard, (_, state))| (shard.clone(), *state)).collect();
        let mut encoder =
            crate::encode::Encoder::resume(self.header.beacon_interval, 0, shards.clone(), &mut Vec::new());
        self.seek(scan_from);
        let mut end = scan_from;
        while let Some(decoded) = self.next_item()? {
            match &decoded.item {
                crate::decode::Item::Message(message) => {
                    let shard = (message.header.stream_key.clone(), message.header.shard);
                    let counted = marks.get(&shard).is_some_and(|(beacon, _)| decoded.offset < *beacon);
                    if !counted {
                        encoder.observe(
                            &message.header,
                            crate::format::payload_checksum(message.payload.as_bytes()),
                        );
                    }
                    end = decoded.end;
                }
                crate::decode::Item::EndOfStream(_) => {}
                crate::decode::Item::Beacon(_) => end = decoded.end,
            }
        }
        shards.clone_from(encoder.shards());
        Ok(Resume { end, shards, interval: self.header.beacon_interval })
    }
}
