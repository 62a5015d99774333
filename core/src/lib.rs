//! weir-core: the sans-IO heart of weir.
//!
//! Types ([`StreamKey`], [`Message`], [`Timestamp`], …), options, errors, URLs,
//! [`ConsumerCore`], the consumer state machine every backend drives, and
//! [`JoinCore`], which merges many consumers' messages by time. Nothing
//! here performs I/O, reads a clock or depends on an async runtime: time is an
//! argument where a deadline depends on it, so the same inputs always give the same outputs.
//!
//! ```
//! use std::time::Instant;
//! use weir_core::{Capabilities, Command, ConsumerCore, ConsumerOptions, Message,
//!     MessageHeader, SeqNo, SeqPos, ShardId, StreamKey, Timestamp};
//!
//! let start = Instant::now(); // the only clock read: the origin the auto-commit timer counts from
//! let orders = StreamKey::new("orders")?;
//! let mut core = ConsumerCore::new(Capabilities::full("demo"), ConsumerOptions::default(),
//!     vec![orders.clone()], start)?;
//!
//! // The application rewinds; the core tells the backend what to do.
//! let epoch = core.rewind(SeqPos::Beginning)?;
//! assert!(matches!(core.poll_command(), Some(Command::Position { .. })));
//!
//! // The backend reports that the rewind took effect, then feeds a message.
//! core.handle_positioned(epoch, Ok(()));
//! let header = MessageHeader::new(orders, ShardId(0), SeqNo(0), Timestamp::UNIX_EPOCH);
//! core.handle_message(Message::new(header, "hello".into()));
//! assert_eq!(core.poll_message().unwrap().payload.as_bytes(), b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod address;
pub mod answer;
pub mod backend;
pub mod consumer;
pub mod error;
pub mod group;
pub mod host_id;
pub mod join;
pub mod key;
pub mod listing;
pub mod message;
pub mod options;
pub mod timestamp;

pub use address::{HostPort, Login, Scheme, StreamUrl, StreamerUrl};
pub use consumer::{Capabilities, Command, CommitId, ConsumerCore, Epoch, Notice, StreamShard, Target};
pub use error::{
    BackendError, BackendErrorKind, ConsumerError, OptionsError, ProducerError, StreamKeyError,
    StreamerError, TimestampError, UrlError,
};
pub use join::{ErrorPolicy, JoinCore, JoinError, JoinOptions, Joined, LatePolicy, SourceId};
pub use key::{SeqNo, SeqPos, ShardId, StreamKey};
pub use listing::{ShardInfo, StreamInfo};
pub use message::{Message, MessageHeader, Payload};
pub use options::{ConsumerGroup, ConsumerMode, ConsumerOptions, ProducerOptions};
pub use timestamp::Timestamp;
