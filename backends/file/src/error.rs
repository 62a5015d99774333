//! What can be wrong with `.ss` bytes, each naming where.

use thiserror::Error;

/// Bytes that are not a valid `.ss` file. Offsets are from the start of the file.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The file is empty: not even a header.
    #[error("the file is empty: a .ss file starts with a 128-byte header")]
    Empty,
    /// The first two bytes are not `Ss`.
    #[error("not a .ss file: it starts with {found:02x?}, not 53 73 (\"Ss\")")]
    BadMagic {
        /// The first two bytes.
        found: [u8; 2],
    },
    /// The version byte names a layout this crate does not know.
    #[error("unsupported .ss version {version} at offset 2 (only version 1 exists)")]
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// The header ends before its 128 bytes.
    #[error("torn header: the file ends after {len} of its 128 header bytes")]
    TornHeader {
        /// Bytes present.
        len: usize,
    },
    /// The header's file name does not fit in the header.
    #[error("header file name of {len} bytes does not fit in the 128-byte header")]
    FileNameTooLong {
        /// Its length.
        len: usize,
    },
    /// The header's file name is not UTF-8.
    #[error("header file name at offset 4 is not utf-8")]
    FileNameNotUtf8,
    /// The beacon interval is not a positive multiple of 1024.
    #[error("beacon interval {interval} is not a positive multiple of 1024")]
    BadBeaconInterval {
        /// The interval given or read.
        interval: u32,
    },
    /// A timestamp before 1970 or past year 9999.
    #[error("timestamp of {millis} ms since the epoch at offset {offset} cannot be stored or read")]
    TimestampOutOfRange {
        /// Where.
        offset: u64,
        /// The milliseconds.
        millis: i64,
    },
    /// A frame's checksum does not match its payload.
    #[error("frame at offset {offset}: checksum {stored:#06x} does not match its payload's {computed:#06x}")]
    Checksum {
        /// Where the frame starts.
        offset: u64,
        /// The checksum in the file.
        stored: u16,
        /// The checksum of the payload read.
        computed: u16,
    },
    /// A frame or beacon whose fields cannot be right.
    #[error("{what} at offset {offset}: {reason}")]
    Malformed {
        /// `frame` or `beacon`.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file ends inside a frame: its writer stopped mid-write. Every frame
    /// before `offset` is complete.
    #[error("torn frame at offset {offset}: the file ends {present} bytes into it")]
    TornFrame {
        /// Where the incomplete frame starts.
        offset: u64,
        /// How many of its bytes are there.
        present: u64,
    },
    /// A payload too long for the 32-bit length field.
    #[error("payload of {len} bytes is longer than a frame can hold (4 GiB - 1)")]
    PayloadTooLong {
        /// Its length.
        len: usize,
    },
}
