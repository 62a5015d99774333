//! What the consumer core asks its backend to do.

use crate::key::{SeqNo, SeqPos, ShardId, StreamKey};
use crate::timestamp::Timestamp;

/// Counts rewinds and seeks. Messages of an older epoch are never delivered
/// once a newer positioning has been requested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

/// Names one commit request, to match its outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub u64);

/// Where a positioning sends every target shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A rewind.
    Seq(SeqPos),
    /// A seek: the earliest message whose timestamp is not before this one.
    Time(Timestamp),
}

/// A shard of a stream: what assignments are made of.
pub type StreamShard = (StreamKey, ShardId);

/// An instruction from the core to its backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Consume exactly `shards` from now on, each from `target`. Answer with
    /// `handle_positioned(epoch, …)` once no message from the old position
    /// can be fed any more. It also ends a `Pause`: fetching restarts on every
    /// target shard without a `Resume`.
    Position {
        /// The epoch this positioning opens.
        epoch: Epoch,
        /// The shards to consume, each moved to `target`.
        shards: Vec<StreamShard>,
        /// Where to.
        target: Target,
    },
    /// Record that consumption resumes at `offsets` (the seq *after* the last
    /// processed message). Answer with `handle_committed(id, …)`.
    Commit {
        /// The request's name.
        id: CommitId,
        /// For each shard, the sequence number to resume from.
        offsets: Vec<(StreamKey, ShardId, SeqNo)>,
    },
    /// The buffer is full: stop feeding messages.
    Pause,
    /// The buffer has drained: feed messages again.
    Resume,
}
