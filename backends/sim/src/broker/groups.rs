//! Consumer groups: membership with session timeouts, Kafka-like range
//! assignment, hand-over of shards without two owners, committed offsets.
//!
//! A rebalance computes a *target* plan. A shard whose live owner is not its
//! target stays with that owner until the owner [syncs](Broker::sync) (it has
//! seen the new plan and dropped the shard) or dies; only then does the target
//! get it. So a shard has at most one owner at any time, as in Kafka where a
//! rebalance completes only once every member has rejoined.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_core::group::assign_ranges;
use weir_core::{ConsumerGroup, SeqNo, ShardId, StreamKey, StreamShard};

use super::{Broker, MemberId, SimEvent};
use crate::config::OffsetReset;

#[derive(Debug)]
struct Member {
    streams: Vec<StreamKey>,
    /// Virtual time of the member's last look for input.
    last_seen: Duration,
    /// Waiting for input: its session cannot expire meanwhile.
    parked: bool,
}

#[derive(Debug, Default)]
pub(super) struct Group {
    members: BTreeMap<MemberId, Member>,
    generation: u64,
    target: BTreeMap<StreamShard, MemberId>,
    owners: BTreeMap<StreamShard, MemberId>,
    /// Shard ends as of the rebalance that planned each hand-over, where a
    /// member starts under [`OffsetReset::Latest`].
    handover_end: BTreeMap<StreamShard, u64>,
    committed: BTreeMap<StreamShard, SeqNo>,
    resets: u64,
}

impl Group {
    pub(super) fn next_expiry(&self, timeout: Duration) -> Option<Duration> {
        self.members.values().filter(|m| !m.parked).map(|m| m.last_seen.saturating_add(timeout)).min()
    }

    pub(super) fn forget_members(&mut self) {
        self.members.clear();
        self.target.clear();
        self.owners.clear();
        self.generation += 1;
    }
}

/// What one member of a group consumes now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The group's generation: changes whenever ownership may have changed.
    pub generation: u64,
    /// How many times the redelivery fault struck the group.
    pub resets: u64,
    /// The shards the member owns and keeps.
    pub shards: Vec<StreamShard>,
}

/// Why the broker refused a commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitRejected {
    /// The member is no longer in the group (declared dead, or the broker restarted).
    #[error("member m{member} is not in group {group}: declared dead or the broker restarted")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member.
        member: u64,
    },
    /// The shard belongs to another member now.
    #[error("member m{member} of group {group} does not own shard {shard} of stream {key}")]
    NotOwner {
        /// The group.
        group: String,
        /// The member.
        member: u64,
        /// The stream.
        key: StreamKey,
        /// The shard.
        shard: u32,
    },
}

impl Broker {
    /// A new member of `group` subscribing `streams`; rebalances the group.
    pub fn join(&mut self, group: &ConsumerGroup, streams: &[StreamKey]) -> MemberId {
        for key in streams {
            self.ensure_stream(key);
        }
        let member = MemberId(self.next_member);
        self.next_member += 1;
        let state = self.groups.entry(group.clone()).or_default();
        let joined = Member { streams: streams.to_vec(), last_seen: self.elapsed, parked: false };
        state.members.insert(member, joined);
        self.event(|| SimEvent::Joined { group: group.clone(), member });
        self.rebalance(group);
        member
    }

    /// A member leaves its group; the others share its shards.
    pub fn leave(&mut self, group: &ConsumerGroup, member: MemberId) {
        if self.groups.get_mut(group).is_some_and(|state| state.members.remove(&member).is_some()) {
            self.event(|| SimEvent::Left { group: group.clone(), member });
            self.rebalance(group);
        }
    }

    fn kill(&mut self, group: &ConsumerGroup, member: MemberId, killed: bool) {
        if self.groups.get_mut(group).is_some_and(|state| state.members.remove(&member).is_some()) {
            self.event(|| SimEvent::Died { group: group.clone(), member, killed });
            self.rebalance(group);
        }
    }

    /// The member's consumer looks for input. `false` if it is no longer a
    /// member (then it must rejoin); the kill fault is drawn here.
    pub fn heartbeat(&mut self, group: &ConsumerGroup, member: MemberId) -> bool {
        if !self.is_member(group, member) {
            return false;
        }
        if self.rng.chance(self.faults.kill) {
            self.kill(group, member, true);
            return false;
        }
        self.touch(group, member, false);
        true
    }

    /// The member's consumer waits for input: alive for as long as it waits.
    pub fn park(&mut self, group: &ConsumerGroup, member: MemberId) {
        self.touch(group, member, true);
    }

    /// The member's consumer stopped without leaving (its process died): the
    /// session times out from now on.
    pub fn silence(&mut self, group: &ConsumerGroup, member: MemberId) {
        self.touch(group, member, false);
    }

    fn touch(&mut self, group: &ConsumerGroup, member: MemberId, parked: bool) {
        let elapsed = self.elapsed;
        if let Some(state) = self.groups.get_mut(group).and_then(|g| g.members.get_mut(&member)) {
            state.last_seen = elapsed;
            state.parked = parked;
        }
    }

    pub(super) fn expire_members(&mut self) {
        let (elapsed, timeout) = (self.elapsed, self.session_timeout);
        let dead: Vec<(ConsumerGroup, MemberId)> = self
            .groups
            .iter()
            .flat_map(|(name, group)| {
                group
                    .members
                    .iter()
                    .filter(|(_, m)| !m.parked && elapsed >= m.last_seen.saturating_add(timeout))
                    .map(|(id, _)| (name.clone(), *id))
            })
            .collect();
        for (group, member) in dead {
            self.kill(&group, member, false);
        }
    }

    /// Whether `member` belongs to `group`.
    pub fn is_member(&self, group: &ConsumerGroup, member: MemberId) -> bool {
        self.groups.get(group).is_some_and(|state| state.members.contains_key(&member))
    }

    /// The members of a group, in id order.
    pub fn members(&self, group: &ConsumerGroup) -> Vec<MemberId> {
        self.groups.get(group).map_or_else(Vec::new, |state| state.members.keys().copied().collect())
    }

    /// The member owning a shard now, if any.
    pub fn owner(&self, group: &ConsumerGroup, shard: &StreamShard) -> Option<MemberId> {
        self.groups.get(group).and_then(|state| state.owners.get(shard)).copied()
    }

    /// The shards `member` owns and keeps under the group's latest plan.
    pub fn view(&self, group: &ConsumerGroup, member: MemberId) -> View {
        let Some(state) = self.groups.get(group) else {
            return View { generation: 0, resets: 0, shards: Vec::new() };
        };
        let shards = state
            .owners
            .iter()
            .filter(|(shard, owner)| **owner == member && state.target.get(*shard) == Some(&member))
            .map(|(shard, _)| shard.clone())
            .collect();
        View { generation: state.generation, resets: state.resets, shards }
    }

    /// `member` has seen its latest [`view`](Self::view) and stopped consuming
    /// the shards it no longer keeps: they go to their new owners.
    pub fn sync(&mut self, group: &ConsumerGroup, member: MemberId) {
        let Some(state) = self.groups.get_mut(group) else { return };
        let released: Vec<StreamShard> = state
            .owners
            .iter()
            .filter(|(shard, owner)| **owner == member && state.target.get(*shard) != Some(&member))
            .map(|(shard, _)| shard.clone())
            .collect();
        if released.is_empty() {
            return;
        }
        for shard in released {
            match state.target.get(&shard) {
                Some(next) => state.owners.insert(shard, *next),
                None => state.owners.remove(&shard),
            };
        }
        state.generation += 1;
        let (generation, owners) = (state.generation, owner_list(state));
        self.event(|| SimEvent::Rebalanced { group: group.clone(), generation, owners });
    }

    fn rebalance(&mut self, group: &ConsumerGroup) {
        let Some(state) = self.groups.get(group) else { return };
        // Range assignment per stream, among the members subscribing it.
        let mut subscribers: BTreeMap<&StreamKey, Vec<MemberId>> = BTreeMap::new();
        for (member, joined) in &state.members {
            for key in &joined.streams {
                subscribers.entry(key).or_default().push(*member);
            }
        }
        let mut target = BTreeMap::new();
        let mut ends = BTreeMap::new();
        for (key, members) in subscribers {
            let count = self.log_count(key);
            let shards = BTreeMap::from([(key.clone(), count)]);
            for (member, owned) in assign_ranges(&shards, &members) {
                target.extend(owned.into_iter().map(|shard| (shard, member)));
            }
            ends.extend((0..count).map(|s| ((key.clone(), ShardId(s)), self.end_of(key, ShardId(s)))));
        }
        let redeliver = self.rng.chance(self.faults.redeliver);
        let Some(state) = self.groups.get_mut(group) else { return };
        for (shard, member) in &target {
            if state.target.get(shard) != Some(member) {
                state.handover_end.insert(shard.clone(), ends.get(shard).copied().unwrap_or(0));
            }
        }
        let shards: Vec<StreamShard> = state.owners.keys().chain(target.keys()).cloned().collect();
        for shard in shards {
            let keeps = state.owners.get(&shard).is_some_and(|owner| state.members.contains_key(owner));
            if !keeps {
                match target.get(&shard) {
                    Some(next) => state.owners.insert(shard, *next),
                    None => state.owners.remove(&shard),
                };
            }
        }
        state.target = target;
        state.generation += 1;
        if redeliver {
            state.resets += 1;
        }
        let (generation, owners) = (state.generation, owner_list(state));
        self.event(|| SimEvent::Rebalanced { group: group.clone(), generation, owners });
        if redeliver {
            self.event(|| SimEvent::Redeliver { group: group.clone() });
        }
    }

    /// Stores resume-from offsets for a group. A `member` must still belong
    /// to the group and own every shard; `None` (a consumer with a manual
    /// assignment) commits unchecked, as Kafka allows.
    pub fn commit(
        &mut self,
        group: &ConsumerGroup,
        member: Option<MemberId>,
        offsets: impl IntoIterator<Item = (StreamShard, SeqNo)>,
    ) -> Result<(), CommitRejected> {
        let state = self.groups.entry(group.clone()).or_default();
        let offsets: Vec<(StreamShard, SeqNo)> = offsets.into_iter().collect();
        if let Some(member) = member {
            if !state.members.contains_key(&member) {
                return Err(CommitRejected::UnknownMember {
                    group: group.name().to_owned(),
                    member: member.0,
                });
            }
            if let Some(((key, shard), _)) =
                offsets.iter().find(|(shard, _)| state.owners.get(shard) != Some(&member))
            {
                return Err(CommitRejected::NotOwner {
                    group: group.name().to_owned(),
                    member: member.0,
                    key: key.clone(),
                    shard: shard.0,
                });
            }
        }
        state.committed.extend(offsets);
        Ok(())
    }

    /// The group's resume-from offset of a shard, if it committed one.
    pub fn committed(&self, group: &ConsumerGroup, shard: &StreamShard) -> Option<SeqNo> {
        self.groups.get(group).and_then(|state| state.committed.get(shard)).copied()
    }

    /// Where a member taking over `shard` starts: after the committed
    /// message, else by the offset-reset policy.
    pub fn start_position(&self, group: &ConsumerGroup, shard: &StreamShard) -> u64 {
        if let Some(seq) = self.committed(group, shard) {
            return seq.0;
        }
        match self.offset_reset {
            OffsetReset::Earliest => 0,
            OffsetReset::Latest => self
                .groups
                .get(group)
                .and_then(|state| state.handover_end.get(shard))
                .copied()
                .unwrap_or_else(|| self.end_of(&shard.0, shard.1)),
        }
    }
}

fn owner_list(state: &Group) -> Vec<(StreamShard, MemberId)> {
    state.owners.iter().map(|(shard, member)| (shard.clone(), *member)).collect()
}
