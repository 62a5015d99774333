//! The layout's constants, the file header, and the checksums.
//!
//! See the [crate docs](crate) for the layout in words. Every number is big
//! endian; timestamps are milliseconds since the Unix epoch.

use crc::{Crc, Table, CRC_16_CDMA2000};
use weir_core::Timestamp;

use crate::error::FormatError;

/// Bytes of the file header; the first frame starts right after it.
pub const HEADER_SIZE: usize = 128;
/// The first two bytes of every `.ss` file (`"Ss"`).
pub const MAGIC: [u8; 2] = [0x53, 0x73];
/// The one version of the layout there is.
pub const VERSION: u8 = 1;
/// The byte that closes the header, every frame and every beacon, so that a
/// text editor shows one frame per line.
pub const CR: u8 = 0x0D;
/// The reference's default distance between beacons (1 MiB).
pub const DEFAULT_BEACON_INTERVAL: u32 = 1024 * 1024;
/// The stream key of the end-of-stream frame.
pub const INTERNAL_KEY: &str = "SEA_STREAMER_INTERNAL";
/// The payload of the end-of-stream frame.
pub const EOS_PAYLOAD: &[u8] = b"EOS";
/// Frame bytes besides the key and the payload: key length (1), shard (8),
/// seq (8), timestamp (8), payload length (4), checksum (2), `CR` (1).
pub const FRAME_OVERHEAD: usize = 32;
/// The largest beacon item: a 255-byte key plus the fixed fields and the running checksum.
pub const MAX_MARKER_SIZE: usize = 1 + 255 + 8 + 8 + 8 + 2;
/// The header's file name holds at most this many bytes: 128 less the magic,
/// version, name length, creation time, interval and the closing `CR`.
pub const MAX_FILE_NAME: usize = HEADER_SIZE - 3 - 1 - 8 - 4 - 1;

/// Slice-by-16 tables: every payload byte goes through this CRC on both
/// the write and the read path, and the byte-wise table is several times slower.
static CDMA2000: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_CDMA2000);

/// The checksum stored after a payload: CRC-16/CDMA2000 of the payload bytes.
pub fn payload_checksum(payload: &[u8]) -> u16 {
    CDMA2000.checksum(payload)
}

/// The running checksum of a (stream, shard) that beacons carry: the same CRC
/// continued over the big-endian checksum of each of its frames, from `0xFFFF`.
pub fn running_checksum(previous: u16, frame_checksum: u16) -> u16 {
    let mut digest = CDMA2000.digest_with_initial(previous);
    digest.update(&frame_checksum.to_be_bytes());
    digest.finalize()
}

/// Where running checksums start.
pub const RUNNING_CHECKSUM_START: u16 = 0xFFFF;

/// How many stream positions a beacon carries with beacons every `interval`
/// bytes: half of what fits, at most 127 (the reference's rule, which keeps a
/// beacon well inside its interval).
pub fn markers_per_beacon(interval: u32) -> usize {
    let space = interval as usize;
    if space < 7 {
        return 0;
    }
    usize::min(255, (space - 7) / MAX_MARKER_SIZE) / 2
}

/// The file header: what the first 128 bytes say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHeader {
    /// The file's name when it was created (informational).
    pub file_name: String,
    /// When the file was created, to the millisecond.
    pub created_at: Timestamp,
    /// The distance in bytes between beacons; a beacon sits at every multiple of it.
    pub beacon_interval: u32,
}

impl FileHeader {
    /// A header for a new file; a name longer than the header holds is cut at
    /// a character boundary (it is informational only).
    pub fn new(file_name: &str, created_at: Timestamp, beacon_interval: u32) -> Result<Self, FormatError> {
        check_interval(beacon_interval)?;
        let mut end = file_name.len().min(MAX_FILE_NAME);
        while !file_name.is_char_boundary(end) {
            end -= 1;
        }
        let created_at = Timestamp::from_unix_millis(created_at.unix_millis())
            .map_err(|_| FormatError::TimestampOutOfRange { offset: 0, millis: created_at.unix_millis() })?;
        Ok(Self { file_name: file_name[..end].to_owned(), created_at, beacon_interval })
    }

    /// The 128 header bytes.
    pub fn encode(&self) -> Result<[u8; HEADER_SIZE], FormatError> {
        let mut out = [0u8; HEADER_SIZE];
        out[..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        let name = self.file_name.as_bytes();
        if name.len() > MAX_FILE_NAME {
            return Err(FormatError::FileNameTooLong { len: name.len() });
        }
        out[3] = name.len() as u8;
        let mut at = 4 + name.len();
        out[4..at].copy_from_slice(name);
        out[at..at + 8].copy_from_slice(&millis_of(self.created_at, 0)?.to_be_bytes());
        at += 8;
        out[at..at + 4].copy_from_slice(&self.beacon_interval.to_be_bytes());
        out[HEADER_SIZE - 1] = CR;
        Ok(out)
    }

    /// Reads a header from the start of a file. `Ok(None)`: fewer than 128
    /// bytes are there yet.
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, FormatError> {
        if bytes.len() >= 2 && bytes[..2] != MAGIC {
            return Err(FormatError::BadMagic { found: [bytes[0], bytes[1]] });
        }
        if bytes.len() >= 3 && bytes[2] != VERSION {
            return Err(FormatError::UnsupportedVersion { version: bytes[2] });
        }
        if bytes.len() < HEADER_SIZE {
            return Ok(None);
        }
        let len = usize::from(bytes[3]);
        if len > MAX_FILE_NAME {
            return Err(FormatError::FileNameTooLong { len });
        }
        let file_name =
            std::str::from_utf8(&bytes[4..4 + len]).map_err(|_| FormatError::FileNameNotUtf8)?.to_owned();
        let at = 4 + len;
        let created_at = timestamp_at(read_u64(&bytes[at..]), at as u64)?;
        let beacon_interval = read_u32(&bytes[at + 8..]);
        check_interval(beacon_interval)?;
        Ok(Some(Self { file_name, created_at, beacon_interval }))
    }
}

/// The reference requires a positive multiple of 1024, which also keeps the
/// header before the first beacon.
fn check_interval(interval: u32) -> Result<(), FormatError> {
    if interval == 0 || !interval.is_multiple_of(1024) {
        return Err(FormatError::BadBeaconInterval { interval });
    }
    Ok(())
}

/// Milliseconds since the epoch as stored; times before 1970 cannot be.
pub(crate) fn millis_of(timestamp: Timestamp, offset: u64) -> Result<u64, FormatError> {
    let millis = timestamp.unix_millis();
    u64::try_from(millis).map_err(|_| FormatError::TimestampOutOfRange { offset, millis })
}

/// A stored millisecond count as a timestamp.
pub(crate) fn timestamp_at(millis: u64, offset: u64) -> Result<Timestamp, FormatError> {
    let signed = i64::try_from(millis).unwrap_or(i64::MAX);
    Timestamp::from_unix_millis(signed)
        .map_err(|_| FormatError::TimestampOutOfRange { offset, millis: signed })
}

/// The big-endian `u64` at the start of `bytes` (callers check the length).
pub(crate) fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(word)
}

/// The big-endian `u32` at the start of `bytes` (callers check the length).
pub(crate) fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_the_published_check_values() {
        // CRC-16/CDMA2000's catalogue check value, and the reference's own test vector.
        assert_eq!(payload_checksum(b"123456789"), 0x4C06);
        assert_eq!(payload_checksum(b"hello, world"), 0x8028);
        // The running form continued byte-wise equals the one-shot CRC.
        let mut running = RUNNING_CHECKSUM_START;
        for pair in b"123456789abc".chunks(2) {
            running = running_checksum(running, u16::from_be_bytes([pair[0], pair[1]]));
        }
        assert_eq!(running, payload_checksum(b"123456789abc"));
    }

    #[test]
    fn a_header_round_trips_and_ends_with_cr() -> Result<(), FormatError> {
        let at = Timestamp::from_unix_millis(1_700_000_000_123).map_err(|_| FormatError::FileNameNotUtf8)?;
        let header = FileHeader::new("orders.ss", at, 1024)?;
        let bytes = header.encode()?;
        assert_eq!(&bytes[..4], &[0x53, 0x73, 1, 9]);
        assert_eq!(bytes[HEADER_SIZE - 1], CR);
        assert_eq!(FileHeader::decode(&bytes)?, Some(header));
        assert_eq!(FileHeader::decode(&bytes[..100])?, None);
        Ok(())
    }

    #[test]
    fn markers_per_beacon_follow_the_interval() {
        assert_eq!(markers_per_beacon(1024), 1);
        assert_eq!(markers_per_beacon(DEFAULT_BEACON_INTERVAL), 127);
    }
}
