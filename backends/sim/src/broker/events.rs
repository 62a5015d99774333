//! What the broker did, recorded for traces when asked to.

use std::fmt;
use std::time::Duration;

use tracing::{debug, trace};
use weir_core::{ConsumerGroup, SeqNo, ShardId, StreamKey, StreamShard};

use super::MemberId;

/// One thing the broker did on its own account (not a plain fetch or store).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimEvent {
    /// A member joined a group.
    Joined {
        /// The group.
        group: ConsumerGroup,
        /// The new member.
        member: MemberId,
    },
    /// A member left its group cleanly.
    Left {
        /// The group.
        group: ConsumerGroup,
        /// The member.
        member: MemberId,
    },
    /// A member was declared dead: its session expired, or the kill fault struck.
    Died {
        /// The group.
        group: ConsumerGroup,
        /// The member.
        member: MemberId,
        /// `true` when the kill fault struck rather than the session timeout.
        killed: bool,
    },
    /// A group's plan changed.
    Rebalanced {
        /// The group.
        group: ConsumerGroup,
        /// The new generation.
        generation: u64,
        /// Who owns what now (shards pending revocation stay with their old owner).
        owners: Vec<(StreamShard, MemberId)>,
    },
    /// The redelivery fault struck: every member resumes from committed offsets.
    Redeliver {
        /// The group.
        group: ConsumerGroup,
    },
    /// The broker restarted.
    Restarted,
    /// A message was delayed.
    Delayed {
        /// Its stream.
        key: StreamKey,
        /// Its shard.
        shard: ShardId,
        /// Its seq.
        seq: SeqNo,
        /// By how long.
        by: Duration,
    },
}

impl SimEvent {
    /// Emits this event as a `tracing` diagnostic, `at` the virtual time
    /// since the broker's origin: faults and group changes at debug, a
    /// delayed message (one per message under the delay fault) at trace.
    pub(super) fn report(&self, at: Duration) {
        match self {
            Self::Joined { group, member } => {
                debug!(?at, group = group.name(), member = member.0, "member joined")
            }
            Self::Left { group, member } => {
                debug!(?at, group = group.name(), member = member.0, "member left")
            }
            Self::Died { group, member, killed: true } => {
                debug!(?at, group = group.name(), member = member.0, "fault: member killed")
            }
            Self::Died { group, member, killed: false } => {
                debug!(?at, group = group.name(), member = member.0, "member's session expired")
            }
            Self::Rebalanced { group, generation, owners } => {
                let owners: Vec<String> = owners
                    .iter()
                    .map(|((key, shard), member)| format!("{key}/{shard}=m{}", member.0))
                    .collect();
                debug!(?at, group = group.name(), generation, owners = owners.join(","), "group rebalanced")
            }
            Self::Redeliver { group } => {
                debug!(?at, group = group.name(), "fault: redelivery from the committed offsets")
            }
            Self::Restarted => debug!(?at, "fault: broker restarted"),
            Self::Delayed { key, shard, seq, by } => {
                trace!(?at, stream = %key, shard = shard.0, seq = seq.0, ?by, "fault: message delayed")
            }
        }
    }
}

impl fmt::Display for SimEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Joined { group, member } => write!(f, "join {} m{}", group.name(), member.0),
            Self::Left { group, member } => write!(f, "leave {} m{}", group.name(), member.0),
            Self::Died { group, member, killed } => {
                let why = if *killed { "killed" } else { "expired" };
                write!(f, "dead {} m{} {why}", group.name(), member.0)
            }
            Self::Rebalanced { group, generation, owners } => {
                write!(f, "rebalance {} gen{generation}", group.name())?;
                for ((key, shard), member) in owners {
                    write!(f, " {key}/{}=m{}", shard.0, member.0)?;
                }
                Ok(())
            }
            Self::Redeliver { group } => write!(f, "redeliver {}", group.name()),
            Self::Restarted => f.write_str("broker restart"),
            Self::Delayed { key, shard, seq, by } => {
                write!(f, "delay {key}/{}#{} {}ms", shard.0, seq.0, by.as_millis())
            }
        }
    }
}
