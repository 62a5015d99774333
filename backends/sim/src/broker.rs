//! The simulated broker's state: streams of shards, consumer groups, committed
//! offsets and a virtual clock. A pure state machine: no threads, no clock
//! reads, no randomness; same calls, same results.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir_core::group::assign_ranges;
use weir_core::{
    ConsumerGroup, Message, MessageHeader, Payload, SeqNo, SeqPos, ShardId, StreamKey, StreamShard, Target,
    Timestamp,
};

/// Identifies a consumer connected to the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u64);

#[derive(Clone, Debug)]
struct Stored {
    timestamp: Timestamp,
    payload: Payload,
}

#[derive(Debug, Default)]
struct Group {
    /// Members and the streams each subscribes, in join order of ids.
    members: BTreeMap<MemberId, Vec<StreamKey>>,
    generation: u64,
    plan: BTreeMap<MemberId, Vec<StreamShard>>,
    committed: BTreeMap<StreamShard, SeqNo>,
}

/// The broker's state.
#[derive(Debug)]
pub struct Broker {
    origin: Instant,
    elapsed: Duration,
    base: Timestamp,
    default_shards: u32,
    streams: BTreeMap<StreamKey, Vec<Vec<Stored>>>,
    next_shard: BTreeMap<StreamKey, u32>,
    groups: BTreeMap<ConsumerGroup, Group>,
    next_member: u64,
}

impl Broker {
    /// A broker whose virtual clock starts at `origin` (an `Instant` the
    /// caller chose) and `base` (the wall time that instant stands for).
    pub fn new(origin: Instant, base: Timestamp, default_shards: u32) -> Self {
        Self {
            origin,
            elapsed: Duration::ZERO,
            base,
            default_shards: default_shards.max(1),
            streams: BTreeMap::new(),
            next_shard: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_member: 0,
        }
    }

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.origin + self.elapsed
    }

    /// Virtual now as a message timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.base.saturating_add(self.elapsed)
    }

    /// Moves the virtual clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.elapsed = self.elapsed.saturating_add(by);
    }

    /// Creates a stream with `shards` shards; an existing stream keeps its own.
    pub fn create_stream(&mut self, key: &StreamKey, shards: u32) -> u32 {
        let shards =
            self.streams.entry(key.clone()).or_insert_with(|| vec![Vec::new(); shards.max(1) as usize]);
        shards.len() as u32
    }

    fn ensure_stream(&mut self, key: &StreamKey) -> u32 {
        let shards = self.default_shards;
        self.create_stream(key, shards)
    }

    /// Shards of a stream, creating it with the default count if new.
    pub fn shard_count(&mut self, key: &StreamKey) -> u32 {
        self.ensure_stream(key)
    }

    /// Stores a message on the stream's next shard (round-robin).
    pub fn produce(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> MessageHeader {
        let count = self.ensure_stream(key);
        let next = self.next_shard.entry(key.clone()).or_insert(0);
        let shard = ShardId(*next % count);
        *next = (*next + 1) % count;
        let timestamp = timestamp.unwrap_or_else(|| self.timestamp());
        let log = &mut self.streams.get_mut(key).expect("stream ensured above")[shard.0 as usize];
        let seq = SeqNo(log.len() as u64);
        log.push(Stored { timestamp, payload });
        MessageHeader::new(key.clone(), shard, seq, timestamp)
    }

    fn log(&self, key: &StreamKey, shard: ShardId) -> &[Stored] {
        self.streams.get(key).and_then(|shards| shards.get(shard.0 as usize)).map_or(&[], Vec::as_slice)
    }

    /// Up to `max` messages of a shard from `from` on.
    pub fn fetch<'a>(
        &'a self,
        key: &'a StreamKey,
        shard: ShardId,
        from: u64,
        max: usize,
    ) -> impl Iterator<Item = Message> + 'a {
        let log = self.log(key, shard);
        let start = (from as usize).min(log.len());
        log[start..].iter().take(max).enumerate().map(move |(i, stored)| {
            let header = MessageHeader::new(key.clone(), shard, SeqNo(from + i as u64), stored.timestamp);
            Message::new(header, stored.payload.clone())
        })
    }

    /// Where a positioning puts one shard: the seq of the next message to fetch.
    pub fn resolve(&self, key: &StreamKey, shard: ShardId, target: Target) -> u64 {
        let log = self.log(key, shard);
        match target {
            Target::Seq(SeqPos::Beginning) => 0,
            Target::Seq(SeqPos::End) => log.len() as u64,
            Target::Seq(SeqPos::At(seq)) => seq.0.min(log.len() as u64),
            Target::Time(at) => log.iter().position(|m| m.timestamp >= at).unwrap_or(log.len()) as u64,
        }
    }

    /// A new member of `group` subscribing `streams`; rebalances the group.
    pub fn join(&mut self, group: &ConsumerGroup, streams: &[StreamKey]) -> MemberId {
        for key in streams {
            self.ensure_stream(key);
        }
        let member = MemberId(self.next_member);
        self.next_member += 1;
        self.groups.entry(group.clone()).or_default().members.insert(member, streams.to_vec());
        self.rebalance(group);
        member
    }

    /// A member leaves its group; the others share its shards.
    pub fn leave(&mut self, group: &ConsumerGroup, member: MemberId) {
        if let Some(state) = self.groups.get_mut(group) {
            if state.members.remove(&member).is_some() {
                self.rebalance(group);
            }
        }
    }

    fn rebalance(&mut self, group: &ConsumerGroup) {
        let Some(state) = self.groups.get(group) else { return };
        let mut plan: BTreeMap<MemberId, Vec<StreamShard>> =
            state.members.keys().map(|m| (*m, Vec::new())).collect();
        // Range assignment per stream, among the members subscribing it.
        let mut subscribers: BTreeMap<&StreamKey, Vec<MemberId>> = BTreeMap::new();
        for (member, streams) in &state.members {
            for key in streams {
                subscribers.entry(key).or_default().push(*member);
            }
        }
        for (key, members) in subscribers {
            let shards = BTreeMap::from([(key.clone(), self.log_count(key))]);
            for (member, owned) in assign_ranges(&shards, &members) {
                plan.entry(member).or_default().extend(owned);
            }
        }
        if let Some(state) = self.groups.get_mut(group) {
            state.generation += 1;
            state.plan = plan;
        }
    }

    fn log_count(&self, key: &StreamKey) -> u32 {
        self.streams.get(key).map_or(0, |shards| shards.len() as u32)
    }

    /// The group's current generation and the shards it gives `member`.
    pub fn assignment(&self, group: &ConsumerGroup, member: MemberId) -> (u64, &[StreamShard]) {
        self.groups
            .get(group)
            .map_or((0, &[]), |state| (state.generation, state.plan.get(&member).map_or(&[], Vec::as_slice)))
    }

    /// Stores resume-from offsets for a group.
    pub fn commit(&mut self, group: &ConsumerGroup, offsets: impl IntoIterator<Item = (StreamShard, SeqNo)>) {
        let state = self.groups.entry(group.clone()).or_default();
        state.committed.extend(offsets);
    }

    /// The group's resume-from offset of a shard, if it committed one.
    pub fn committed(&self, group: &ConsumerGroup, shard: &StreamShard) -> Option<SeqNo> {
        self.groups.get(group).and_then(|state| state.committed.get(shard)).copied()
    }

    /// How many messages a shard holds.
    pub fn end_of(&self, key: &StreamKey, shard: ShardId) -> u64 {
        self.log(key, shard).len() as u64
    }
}
