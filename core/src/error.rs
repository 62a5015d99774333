//! Error values. Every input a user or a broker can produce ends here, never in a panic.

use std::time::Duration;

use thiserror::Error;

use crate::key::{SeqNo, ShardId, StreamKey};
use crate::options::ConsumerMode;

/// A stream key that breaks the Kafka topic rule.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamKeyError {
    /// The key has no characters.
    #[error("stream key is empty")]
    Empty,
    /// The key is longer than 249 bytes.
    #[error("stream key is {len} bytes long; at most 249 are allowed")]
    TooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// The key has a character outside `[A-Za-z0-9._-]`.
    #[error("stream key {key:?} has byte {byte:#04x}; only [A-Za-z0-9._-] are allowed")]
    InvalidChar {
        /// The key as given (lossily decoded).
        key: String,
        /// The first offending byte.
        byte: u8,
    },
}

/// A timestamp that could not be read or represented.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.fraction][Z]`.
    #[error("timestamp {text:?} is not of the form YYYY-MM-DDTHH:MM:SS[.fraction][Z]")]
    Malformed {
        /// The text given.
        text: String,
    },
    /// Outside the years -9999..=9999.
    #[error("timestamp {nanos} ns from the unix epoch is out of range")]
    OutOfRange {
        /// The value given.
        nanos: i128,
    },
}

/// A streamer or stream URL that cannot be used, naming the wrong part.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The text is not a URL at all.
    #[error("{url:?} is not a url: {reason}")]
    Malformed {
        /// The text given.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The scheme names no backend.
    #[error("unknown scheme {scheme:?}: expected stdio, kafka, sim, redis or file")]
    UnknownScheme {
        /// The scheme given.
        scheme: String,
    },
    /// The scheme names a backend this build does not include.
    #[error("scheme {scheme:?} needs weir's cargo feature {feature:?}")]
    BackendNotEnabled {
        /// The scheme given.
        scheme: String,
        /// The feature that enables it.
        feature: &'static str,
    },
    /// A host in the host list is missing or malformed.
    #[error("bad host {host:?} in {url:?}: {reason}")]
    BadHost {
        /// The host part at fault.
        host: String,
        /// The URL it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend needs at least one host and none was given.
    #[error("{url:?} names no host; {scheme} needs at least one, e.g. {scheme}://localhost:9092")]
    MissingHost {
        /// The URL given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A stream URL must name at least one stream key after the host part.
    #[error("{url:?} names no stream; append keys like /orders,payments")]
    MissingStreams {
        /// The URL given.
        url: String,
    },
    /// A stream key in the path is invalid.
    #[error("bad stream key in {url:?}: {source}")]
    BadStreamKey {
        /// The URL given.
        url: String,
        /// Why the key is invalid.
        source: StreamKeyError,
    },
    /// A query parameter is unknown or has a bad value.
    #[error("bad parameter {name:?}={value:?} in {url:?}: {reason}")]
    BadParam {
        /// The URL given.
        url: String,
        /// The parameter's name.
        name: String,
        /// The parameter's value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Options that contradict each other or the backend.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsError {
    /// LoadBalanced consumers must share a named group.
    #[error("mode {mode:?} needs a consumer group; set one with ConsumerOptions::set_group")]
    GroupRequired {
        /// The mode asked for.
        mode: ConsumerMode,
    },
    /// RealTime consumers use a group of their own; a shared one contradicts that.
    #[error("mode {mode:?} takes no consumer group (got {group:?}); use LoadBalanced to share work")]
    GroupNotAllowed {
        /// The mode asked for.
        mode: ConsumerMode,
        /// The group given.
        group: String,
    },
    /// A group name is empty, too long or has control characters.
    #[error("consumer group {group:?} is invalid: {reason}")]
    BadGroup {
        /// The group given.
        group: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Auto-commit only makes sense for a consumer that commits.
    #[error("auto-commit is set but mode {mode:?} never commits")]
    AutoCommitWithoutCommits {
        /// The mode asked for.
        mode: ConsumerMode,
    },
    /// Storing offsets by hand only makes sense for a consumer that commits.
    #[error("manual offset storing (auto_store off) is set but mode {mode:?} never commits")]
    ManualStoreWithoutCommits {
        /// The mode asked for.
        mode: ConsumerMode,
    },
    /// A buffer must hold at least one message.
    #[error("buffer size must be at least 1 message")]
    ZeroBuffer,
    /// An auto-commit interval of zero would keep the commit timer always due.
    #[error("auto-commit interval must be longer than zero; use set_auto_commit(None) to turn it off")]
    ZeroAutoCommit,
    /// A consumer needs at least one stream.
    #[error("a consumer needs at least one stream key")]
    NoStreams,
    /// The backend does not offer this mode or option.
    #[error("{backend} does not support {what}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The mode or option refused.
        what: String,
    },
}

/// What an application asked for that the consumer could not do.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The input ended and every buffered message was delivered.
    #[error("end of stream: the input is exhausted")]
    EndOfStream,
    /// The backend does not implement this operation.
    #[error("{backend} does not support {operation}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The operation refused.
        operation: &'static str,
    },
    /// The stream is not one this consumer subscribed to.
    #[error("stream {key} is not subscribed by this consumer")]
    NotSubscribed {
        /// The stream named.
        key: StreamKey,
    },
    /// The shard does not exist on this backend.
    #[error("stream {key} has no shard {shard} on {backend}")]
    NoSuchShard {
        /// The stream named.
        key: StreamKey,
        /// The shard named.
        shard: ShardId,
        /// The backend's name.
        backend: &'static str,
    },
    /// `unassign` of a shard that is not assigned.
    #[error("shard {shard} of stream {key} is not assigned")]
    NotAssigned {
        /// The stream named.
        key: StreamKey,
        /// The shard named.
        shard: ShardId,
    },
    /// Assignment is the group protocol's job in LoadBalanced mode.
    #[error("assign/unassign are not available in LoadBalanced mode: the group assigns shards")]
    GroupManagesAssignment,
    /// The mode never commits.
    #[error("commit is refused in {mode:?} mode; use Resumable or LoadBalanced")]
    CommitRefused {
        /// The consumer's mode.
        mode: ConsumerMode,
    },
    /// The message committed or stored was never delivered to this consumer.
    #[error("cannot commit or store {key}/{shard}/{seq}: this consumer has not delivered it")]
    NotDelivered {
        /// The stream named.
        key: StreamKey,
        /// The shard named.
        shard: ShardId,
        /// The sequence named.
        seq: SeqNo,
    },
    /// `store_offset` while every delivered message is stored anyway.
    #[error("store_offset needs manual offset storing: ConsumerOptions::set_auto_store(false) (Kafka: enable.auto.offset.store=false)")]
    AutoStore,
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What kind of thing went wrong in a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The broker could not be reached in time.
    Connect,
    /// An operation did not complete in time.
    Timeout,
    /// Reading or writing failed.
    Io,
    /// The broker refused the request.
    Broker,
    /// The consumer or producer was closed.
    Closed,
    /// The other end went away: the reader of an output pipe closed it.
    PeerClosed,
}

/// A failure reported by a backend, with the backend's own words.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{backend}: {message}")]
pub struct BackendError {
    /// The backend's name.
    pub backend: &'static str,
    /// What kind of failure.
    pub kind: BackendErrorKind,
    /// The details.
    pub message: String,
}

impl BackendError {
    /// A backend failure.
    pub fn new(backend: &'static str, kind: BackendErrorKind, message: impl Into<String>) -> Self {
        Self { backend, kind, message: message.into() }
    }
}

/// Why a message could not be produced.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerError {
    /// `send` needs a default stream; this producer has none.
    #[error("this producer has no default stream; use send_to or ProducerOptions::set_stream")]
    NoStream,
    /// The payload cannot be framed by this backend.
    #[error("{backend} cannot send this payload: {reason}")]
    Unframeable {
        /// The backend's name.
        backend: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The producer was ended.
    #[error("the producer has ended")]
    Ended,
    /// A bounded flush ran out of time. Nothing is dropped: the messages not yet
    /// stored are still being sent, and their receipts still resolve.
    #[error("not every message was stored within {waited:?}; the rest are still being sent")]
    FlushTimeout {
        /// How long the flush waited.
        waited: Duration,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a streamer, consumer or producer could not be created.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamerError {
    /// The URL is unusable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The options are contradictory or unsupported.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// A stream key is invalid.
    #[error(transparent)]
    StreamKey(#[from] StreamKeyError),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The backend cannot answer this question about its streams.
    #[error("{backend} does not support {operation}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The operation refused.
        operation: &'static str,
    },
}
