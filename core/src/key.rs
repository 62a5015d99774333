//! Identifiers: stream keys, shards, sequence numbers and positions.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::StreamKeyError;

/// The longest stream key accepted, in bytes (Kafka's topic limit).
pub const MAX_STREAM_KEY_LEN: usize = 249;

/// The stream that messages without a key go to; every stdio consumer gets it.
pub const BROADCAST: &str = "broadcast";

/// A validated stream name (a Kafka topic): 1..=249 bytes of `[A-Za-z0-9._-]`.
///
/// Cloning is cheap (a reference count), so every message can carry its key.
#[derive(Clone, PartialOrd, Ord)]
pub struct StreamKey(Arc<str>);

impl PartialEq for StreamKey {
    fn eq(&self, other: &Self) -> bool {
        // Keys of one consumer usually share an allocation: settle most comparisons by address.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for StreamKey {}

impl std::hash::Hash for StreamKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl StreamKey {
    /// Validates `key` and makes a stream key of it.
    pub fn new(key: impl AsRef<str>) -> Result<Self, StreamKeyError> {
        let key = key.as_ref();
        validate_key(key.as_bytes())?;
        Ok(Self(Arc::from(key)))
    }

    /// The stream that unkeyed messages go to, delivered to every consumer.
    pub fn broadcast() -> Self {
        Self(Arc::from(BROADCAST))
    }

    /// The key as text.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether this is the [`BROADCAST`] stream.
    pub fn is_broadcast(&self) -> bool {
        &*self.0 == BROADCAST
    }
}

/// Checks the bytes of a would-be stream key without allocating.
pub(crate) fn validate_key(key: &[u8]) -> Result<(), StreamKeyError> {
    if key.is_empty() {
        return Err(StreamKeyError::Empty);
    }
    if key.len() > MAX_STREAM_KEY_LEN {
        return Err(StreamKeyError::TooLong { len: key.len() });
    }
    if let Some(&bad) = key.iter().find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))) {
        return Err(StreamKeyError::InvalidChar {
            key: String::from_utf8_lossy(key).into_owned(),
            byte: bad,
        });
    }
    Ok(())
}

impl FromStr for StreamKey {
    type Err = StreamKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Borrow<str> for StreamKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StreamKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A shard of a stream (a Kafka partition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u32);

impl ShardId {
    /// Shard zero, used when a consumer has no explicit assignment.
    pub const ZERO: ShardId = ShardId(0);
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The position of a message within its shard (a Kafka offset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The sequence number after this one.
    pub fn next(self) -> SeqNo {
        SeqNo(self.0.saturating_add(1))
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a rewind puts every assigned shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqPos {
    /// The first message still stored.
    Beginning,
    /// After the last message: only messages produced from now on.
    End,
    /// The message with this sequence number (or the next one that exists).
    At(SeqNo),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_topic_charset() {
        for ok in ["a", "orders", "a.b_c-D9", &"x".repeat(249)] {
            assert_eq!(StreamKey::new(ok).map(|k| k.name().to_owned()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_bad_keys_naming_them() {
        assert_eq!(StreamKey::new(""), Err(StreamKeyError::Empty));
        assert_eq!(StreamKey::new("x".repeat(250)), Err(StreamKeyError::TooLong { len: 250 }));
        let err = StreamKey::new("has space").unwrap_err();
        assert_eq!(err, StreamKeyError::InvalidChar { key: "has space".into(), byte: b' ' });
        assert!(err.to_string().contains("has space"), "{err}");
        assert!(StreamKey::new("caf\u{e9}").is_err());
        assert!(StreamKey::new("a/b").is_err());
    }

    #[test]
    fn broadcast_is_a_valid_key() {
        assert_eq!(StreamKey::new(BROADCAST), Ok(StreamKey::broadcast()));
        assert!(StreamKey::broadcast().is_broadcast());
    }
}
