//! weir-file: streams kept in SeaStreamer `.ss` files.
//!
//! ```
//! use bytes::Bytes;
//! use weir_core::{MessageHeader, SeqNo, ShardId, StreamKey, Timestamp};
//! use weir_file::{Decoder, Encoder, FileHeader, Item};
//!
//! let created = Timestamp::from_unix_millis(1_700_000_000_000)?;
//! let header = FileHeader::new("orders.ss", created, 1024)?;
//! let mut file = Vec::new();
//! let mut encoder = Encoder::new_file(&header, &mut file)?;
//! let orders = StreamKey::new("orders")?;
//! let message = MessageHeader::new(orders, ShardId(0), SeqNo(1), created);
//! encoder.encode(&message, b"hello", &mut file)?;
//!
//! let file = Bytes::from(file);
//! let header = FileHeader::decode(&file)?.expect("128 bytes are there");
//! let mut decoder = Decoder::new(&header);
//! let first = decoder.decode(&file.slice(128..), 128)?.expect("a whole frame");
//! let Item::Message(read) = first.item else { panic!("a message comes first") };
//! assert_eq!(read.payload.as_bytes(), b"hello");
//! assert_eq!(first.end, file.len() as u64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The `.ss` layout, in short
//! A file is a 128-byte header followed by message frames, with a beacon at
//! every multiple of the header's *beacon interval* (a file offset, counted
//! from the start of the file, header included). All integers are big endian;
//! timestamps are milliseconds since the Unix epoch (so weir's finer
//! timestamps are stored to the millisecond).
//!
//! - **Header** (128 bytes): `0x53 0x73` ("Ss"), the version `0x01`, the file
//!   name as one length byte and its UTF-8 bytes, the creation time (`u64`),
//!   the beacon interval (`u32`, a multiple of 1024), zeros, and a final `0x0D`.
//! - **Frame**: the stream key as one length byte and its bytes, the shard
//!   (`u64`), the seq (`u64`), the timestamp (`u64`), the payload length
//!   (`u32`), the payload, the payload's CRC-16/CDMA2000 (`u16`), and `0x0D`.
//! - **Beacon**: `0x0D`, how many bytes of a frame it interrupts still follow
//!   it (`u32`), a marker count (`u8`), the markers, and `0x0D`. A marker is a
//!   frame's first four fields (key, shard, highest seq so far, latest
//!   timestamp so far) for one (stream, shard), then that shard's *running
//!   checksum*: the same CRC carried on over the big-endian checksum of each of
//!   its frames, starting from `0xFFFF`. A beacon lists at most half the
//!   markers that fit in an interval (127 for the default 1 MiB), taking the
//!   shards in key order, round-robin from where the previous beacon stopped.
//!   A frame that reaches a multiple of the interval is cut there and resumes
//!   after the beacon; a reader that starts at a beacon skips the count of
//!   bytes it gives to reach the next frame.
//! - **End of stream**: a frame of stream `SEA_STREAMER_INTERNAL`, shard 0,
//!   seq 0, with payload `EOS`, written when a writer ends the file.
//!
//! The codec ([`Encoder`], [`Decoder`]) is pure: no I/O, no clock. Bytes that
//! are not a valid file give a [`FormatError`] naming the file offset; a file
//! that ends inside a frame is a [`FormatError::TornFrame`], with every frame
//! before it readable.

mod appends;
mod consumer;
mod decode;
mod encode;
mod error;
mod feed;
pub mod format;
mod listing;
mod producer;
mod reader;
mod sidecar;
mod streamer;
mod writer;

pub use consumer::FileConsumer;
pub use producer::FileProducer;
pub use streamer::{FileOptions, FileStreamer, CAPABILITIES, RESUMABLE_GROUP};
pub use writer::WriterOptions;

pub use decode::{decode_all, Beacon, Decoded, Decoder, Item, WholeFile};
pub use encode::{Encoder, Marker, ShardState};
pub use error::FormatError;
pub use format::FileHeader;
