//! Messages: a header naming where a message is stored, and its payload bytes.

use std::fmt;

use bytes::Bytes;

use crate::key::{SeqNo, ShardId, StreamKey};
use crate::timestamp::Timestamp;

/// Message bytes. Cloning shares them; payloads need not be UTF-8.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Payload(Bytes);

impl Payload {
    /// Wraps bytes without copying.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// Copies a slice into a new payload.
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, if they are UTF-8.
    pub fn as_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The underlying shared buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Ok(text) => fmt::Debug::fmt(text, f),
            Err(_) => fmt::Debug::fmt(&self.0, f),
        }
    }
}

impl From<&'static str> for Payload {
    fn from(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Bytes::from(bytes))
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

/// Where a message is stored and when it was produced.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    /// The stream the message belongs to.
    pub stream_key: StreamKey,
    /// The shard within the stream.
    pub shard: ShardId,
    /// The position within the shard.
    pub seq: SeqNo,
    /// When the message was produced (or, for stdio, read).
    pub timestamp: Timestamp,
}

impl MessageHeader {
    /// A header from its parts.
    pub fn new(stream_key: StreamKey, shard: ShardId, seq: SeqNo, timestamp: Timestamp) -> Self {
        Self { stream_key, shard, seq, timestamp }
    }
}

/// A message as delivered to the application.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    /// Identity and timestamp.
    pub header: MessageHeader,
    /// The bytes.
    pub payload: Payload,
}

impl Message {
    /// A message from its parts.
    pub fn new(header: MessageHeader, payload: Payload) -> Self {
        Self { header, payload }
    }

    /// The stream key.
    pub fn stream_key(&self) -> &StreamKey {
        &self.header.stream_key
    }

    /// The shard.
    pub fn shard(&self) -> ShardId {
        self.header.shard
    }

    /// The sequence number.
    pub fn seq(&self) -> SeqNo {
        self.header.seq
    }

    /// The timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.header.timestamp
    }
}
