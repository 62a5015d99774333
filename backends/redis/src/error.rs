//! The Redis backend's errors, and how the client's become weir's.

use thiserror::Error;
use weir_core::{BackendError, BackendErrorKind};

use crate::id::{EntryId, IdError};

/// The backend's name in error messages.
pub(crate) const BACKEND: &str = "redis";

/// What the Redis backend itself finds wrong in what the server holds or says.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisError {
    /// An entry id that is not `ms-n` or does not fit a seq.
    #[error("in key {key}: {source}")]
    Id {
        /// The Redis key of the entry.
        key: String,
        /// What is wrong with the id.
        source: IdError,
    },
    /// An entry without the payload field `msg`.
    #[error("entry {id} of key {key} has no field \"msg\" (the payload); weir does not skip it")]
    NoPayload {
        /// The Redis key of the entry.
        key: String,
        /// The entry's id.
        id: EntryId,
    },
    /// A reply of a shape the command does not give.
    #[error("unexpected reply to {command}: {reply}")]
    Reply {
        /// The command answered.
        command: &'static str,
        /// The reply, abridged.
        reply: String,
    },
}

impl From<RedisError> for BackendError {
    fn from(err: RedisError) -> Self {
        BackendError::new(BACKEND, BackendErrorKind::Broker, err.to_string())
    }
}

/// A backend error from a client failure, saying what was being done.
pub(crate) fn failed(doing: &str, err: &redis::RedisError) -> BackendError {
    let kind = if err.is_timeout() {
        BackendErrorKind::Timeout
    } else if err.is_connection_refusal() {
        BackendErrorKind::Connect
    } else if err.is_connection_dropped() || err.is_io_error() {
        BackendErrorKind::Io
    } else {
        BackendErrorKind::Broker
    };
    BackendError::new(BACKEND, kind, format!("{doing}: {err}"))
}

/// Whether `err` is the server's NOGROUP (the group, or its key, is gone).
pub(crate) fn is_nogroup(err: &redis::RedisError) -> bool {
    err.code() == Some("NOGROUP")
}

/// Whether `err` is lost contact (worth reconnecting), not a refusal by the server.
pub(crate) fn is_contact_lost(err: &redis::RedisError) -> bool {
    err.is_connection_dropped() || err.is_io_error() || err.is_timeout() || err.is_connection_refusal()
}
