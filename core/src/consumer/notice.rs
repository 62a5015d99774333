//! What the core decided that an operator may want to hear about.
//!
//! The core logs nothing (it does no I/O); it queues [`Notice`]s instead, and
//! the driver drains them with [`ConsumerCore::poll_notice`](super::ConsumerCore::poll_notice)
//! and turns them into diagnostics. Only rare events are notices — never one
//! per message — so queueing them costs nothing on the receive path.

use std::collections::VecDeque;

use super::command::{CommitId, Epoch, StreamShard};
use crate::error::BackendError;
use crate::key::{SeqNo, ShardId, StreamKey};

/// How many undrained notices are kept: a core driven by something that
/// never drains them (a test, a hand-written driver) stays bounded.
const KEPT: usize = 64;

/// A decision of the core, reported to whoever drives it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The positioning of `epoch` took effect, or failed. Superseded
    /// positionings are not reported.
    Positioned {
        /// The rewind or seek's epoch.
        epoch: Epoch,
        /// Its outcome.
        result: Result<(), BackendError>,
    },
    /// The backend's group protocol changed the shards consumed.
    Assigned {
        /// The shards consumed from now on, in order.
        shards: Vec<StreamShard>,
        /// The shards no longer consumed, in order.
        revoked: Vec<StreamShard>,
        /// Buffered messages of revoked shards that were dropped (their new
        /// owner delivers them).
        dropped: usize,
    },
    /// The broker acknowledged a commit, or refused it.
    Committed {
        /// The request's name.
        id: CommitId,
        /// Whether the automatic commit timer started it (no caller awaits it).
        automatic: bool,
        /// For each shard, the sequence number to resume from.
        offsets: Vec<(StreamKey, ShardId, SeqNo)>,
        /// Its outcome.
        result: Result<(), BackendError>,
    },
    /// No more input will come: cleanly (`None`) or after a fatal error.
    Ended {
        /// Why, if it failed.
        failure: Option<BackendError>,
    },
}

/// The bounded queue of notices not drained yet.
#[derive(Debug, Default)]
pub(super) struct Notices(VecDeque<Notice>);

impl Notices {
    pub(super) fn push(&mut self, notice: Notice) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(notice);
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<Notice> {
        self.0.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::Notice;
    use crate::consumer::{Capabilities, ConsumerCore};
    use crate::error::{BackendError, BackendErrorKind};
    use crate::key::{SeqNo, ShardId, StreamKey};
    use crate::message::{Message, MessageHeader};
    use crate::options::{ConsumerGroup, ConsumerMode, ConsumerOptions};
    use crate::timestamp::Timestamp;

    /// The tests' only clock read: an origin nothing here counts from.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn balanced(key: &StreamKey) -> ConsumerCore {
        let mut options = ConsumerOptions::new(ConsumerMode::LoadBalanced);
        options.set_group(ConsumerGroup::new("g").expect("valid group"));
        ConsumerCore::new(Capabilities::full("test"), options, vec![key.clone()], origin())
            .expect("valid options")
    }

    fn notices(core: &mut ConsumerCore) -> Vec<Notice> {
        std::iter::from_fn(|| core.poll_notice()).collect()
    }

    #[test]
    fn assignments_name_what_was_revoked_and_dropped() {
        let key = StreamKey::new("k").expect("valid key");
        let shard = |n| (key.clone(), ShardId(n));
        let mut core = balanced(&key);
        core.handle_assignment([shard(0), shard(1)]);
        let header = MessageHeader::new(key.clone(), ShardId(1), SeqNo(0), Timestamp::UNIX_EPOCH);
        core.handle_message(Message::new(header, "x".into()));
        core.handle_assignment([shard(0), shard(1)]); // unchanged: nothing to say
        core.handle_assignment([shard(0)]);
        assert_eq!(
            notices(&mut core),
            [
                Notice::Assigned { shards: vec![shard(0), shard(1)], revoked: vec![], dropped: 0 },
                Notice::Assigned { shards: vec![shard(0)], revoked: vec![shard(1)], dropped: 1 },
            ]
        );
    }

    #[test]
    fn the_end_is_told_once_and_the_queue_is_bounded() {
        let key = StreamKey::new("k").expect("valid key");
        let mut core = balanced(&key);
        let failure = BackendError::new("test", BackendErrorKind::Io, "gone");
        core.handle_end(Some(failure.clone()));
        core.handle_end(None);
        assert_eq!(notices(&mut core), [Notice::Ended { failure: Some(failure) }]);
        for n in 0..100 {
            core.handle_assignment([(key.clone(), ShardId(n % 2))]);
        }
        let kept = notices(&mut core);
        assert_eq!(kept.len(), super::KEPT, "the oldest undrained notices are dropped");
        assert!(
            matches!(&kept[super::KEPT - 1], Notice::Assigned { shards, .. } if shards[0].1 == ShardId(1))
        );
    }
}
