//! What a streamer can tell about the streams it holds: their shards and
//! which sequence numbers each shard stores (for `weir list`, and for
//! consumers that stop once caught up).

use crate::key::{SeqNo, ShardId, StreamKey};

/// One shard of a listed stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard.
    pub shard: ShardId,
    /// The low watermark: the seq of the first message still stored.
    pub low: SeqNo,
    /// The high watermark: the seq the next message will get. The shard
    /// stores `low..high`; it is empty when they are equal.
    pub high: SeqNo,
}

/// A stream and its shards, in shard order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream.
    pub key: StreamKey,
    /// Its shards, in shard order.
    pub shards: Vec<ShardInfo>,
}
