//! Where weir's streams live in Redis: the layout SeaStreamer's Redis backend
//! uses, so either reads what the other writes.
//!
//! - Shard `N` of stream `k` is the Redis stream at key `k:N` when the stream
//!   has shards, and plain `k` when it has none (then it is shard 0).
//! - An entry's payload is its field `msg`; other fields are ignored. An
//!   entry without `msg` is an error naming its key and id, never skipped.
//! - An entry's seq and timestamp come from its id (see [`crate::id`]).
//! - With a `namespace` option every key and group name starts with it.

use weir_core::{ShardId, StreamKey};

/// The entry field that holds the payload.
pub const PAYLOAD_FIELD: &str = "msg";

/// Key names under one namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    namespace: String,
}

impl Layout {
    /// Keys and groups prefixed with `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self { namespace: namespace.into() }
    }

    /// The Redis key of `shard` of `key`; `sharded`: whether the stream uses `k:N` keys.
    pub fn key(&self, key: &StreamKey, shard: ShardId, sharded: bool) -> String {
        if sharded || shard != ShardId::ZERO {
            format!("{}{}:{}", self.namespace, key.name(), shard.0)
        } else {
            format!("{}{}", self.namespace, key.name())
        }
    }

    /// The SCAN pattern matching every shard key of `key`.
    pub fn shard_pattern(&self, key: &StreamKey) -> String {
        format!("{}{}:*", self.namespace, key.name())
    }

    /// The shard a key found by [`shard_pattern`](Self::shard_pattern) names;
    /// `None` for keys that only look alike (`k:x`, `k:1:2`).
    pub fn shard_of(&self, key: &StreamKey, redis_key: &str) -> Option<ShardId> {
        let rest = redis_key.strip_prefix(&self.namespace)?.strip_prefix(key.name())?.strip_prefix(':')?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok().map(ShardId)
    }

    /// The Redis name of consumer group `group`.
    pub fn group(&self, group: &str) -> String {
        format!("{}{group}", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_follow_the_shared_layout() {
        let orders = StreamKey::new("orders").unwrap();
        let plain = Layout::default();
        assert_eq!(plain.key(&orders, ShardId(0), false), "orders");
        assert_eq!(plain.key(&orders, ShardId(0), true), "orders:0");
        assert_eq!(plain.key(&orders, ShardId(2), false), "orders:2");
        let spaced = Layout::new("t1-");
        assert_eq!(spaced.key(&orders, ShardId(1), true), "t1-orders:1");
        assert_eq!(spaced.shard_pattern(&orders), "t1-orders:*");
        assert_eq!(spaced.shard_of(&orders, "t1-orders:12"), Some(ShardId(12)));
        for other in ["t1-orders:x", "t1-orders:", "t1-orders:1:2", "orders:1", "t1-orders.eu:1"] {
            assert_eq!(spaced.shard_of(&orders, other), None, "{other}");
        }
        assert_eq!(spaced.group("workers"), "t1-workers");
    }
}
