//! What a join hands out: messages tagged with their source, and why it ended.

use std::fmt;

use thiserror::Error;

use crate::error::ConsumerError;
use crate::message::{Message, MessageHeader};
use crate::timestamp::Timestamp;

/// Names one source of a join: the order in which it was added, from 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub usize);

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message as the join hands it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The source it came from.
    pub source: SourceId,
    /// The message.
    pub message: Message,
    /// It is older than a message emitted before it (see [`LatePolicy::Deliver`](super::LatePolicy::Deliver)).
    pub late: bool,
}

/// Why a join stopped, or a source failure it reports and survives.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Every source ended and every buffered message was delivered.
    #[error("end of stream: every source of the join ended")]
    EndOfStream,
    /// A source failed, which ends the join ([`ErrorPolicy::EndJoin`](super::ErrorPolicy::EndJoin)).
    #[error("source {input} failed: {error}")]
    Source {
        /// The source that failed.
        input: SourceId,
        /// Its error.
        error: ConsumerError,
    },
    /// A source failed and the join goes on without it
    /// ([`ErrorPolicy::KeepGoing`](super::ErrorPolicy::KeepGoing)): reported
    /// once, not an end.
    #[error("source {input} failed and is left out; the join goes on: {error}")]
    SourceLeftOut {
        /// The source that failed.
        input: SourceId,
        /// Its error.
        error: ConsumerError,
    },
    /// A message older than the output had reached, under [`LatePolicy::Fail`](super::LatePolicy::Fail).
    #[error(
        "late message {}/{}/{} at {} from source {input}: the output had reached {reached}",
        header.stream_key, header.shard, header.seq, header.timestamp
    )]
    Late {
        /// The source it came from.
        input: SourceId,
        /// The late message's header.
        header: MessageHeader,
        /// The timestamp of the newest message emitted before it.
        reached: Timestamp,
    },
}

impl JoinError {
    /// Whether the join ended: every error but [`SourceLeftOut`](Self::SourceLeftOut).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, JoinError::SourceLeftOut { .. })
    }
}
