//! The simulated broker's state: streams of shards, consumer groups, committed
//! offsets, a virtual clock and the seeded fault RNG. A pure state machine: no
//! threads, no clock reads, no global randomness; same calls, same results.
//!
//! # Methods
//! - getters take `&self` ([`now`](Broker::now), [`fetch`](Broker::fetch),
//!   [`view`](Broker::view), [`owner`](Broker::owner), …);
//! - inputs: [`advance`](Broker::advance) (time), [`produce`](Broker::produce),
//!   and the group protocol's [`join`](Broker::join), [`heartbeat`](Broker::heartbeat),
//!   [`park`](Broker::park), [`sync`](Broker::sync), [`leave`](Broker::leave),
//!   [`commit`](Broker::commit);
//! - outputs: [`next_deadline`](Broker::next_deadline) (when to advance to)
//!   and [`take_events`](Broker::take_events) (what happened, for traces).
//!
//! Faults are drawn inside these inputs, so the same seed and the same calls
//! give the same faults.

mod events;
mod groups;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use events::SimEvent;
pub use groups::{CommitRejected, View};
use weir_core::{
    Message, MessageHeader, Payload, SeqNo, SeqPos, ShardId, ShardInfo, StreamInfo, StreamKey, Target,
    Timestamp,
};

use crate::config::{Faults, OffsetReset, SimConfig};
use crate::rng::Rng;
use groups::Group;

/// Identifies a consumer's membership in a group: a member that dies and
/// rejoins gets a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub u64);

#[derive(Clone, Debug)]
struct Stored {
    timestamp: Timestamp,
    payload: Payload,
    /// Virtual time (since the origin) from which consumers may fetch it.
    visible: Duration,
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
    groups: BTreeMap<weir_core::ConsumerGroup, Group>,
    next_member: u64,
    session_timeout: Duration,
    offset_reset: OffsetReset,
    faults: Faults,
    rng: Rng,
    restarts: u64,
    events: Option<Vec<SimEvent>>,
}

impl Broker {
    /// A fault-free broker whose virtual clock starts at `origin` (an
    /// `Instant` the caller chose) and `base` (the wall time it stands for).
    pub fn new(origin: Instant, base: Timestamp, default_shards: u32) -> Self {
        let config = SimConfig { start: base, shards: default_shards, ..SimConfig::default() };
        Self::with_config(origin, &config)
    }

    /// A broker set up by `config`, its clock starting at `origin`.
    pub fn with_config(origin: Instant, config: &SimConfig) -> Self {
        Self {
            origin,
            elapsed: Duration::ZERO,
            base: config.start,
            default_shards: config.shards.max(1),
            streams: BTreeMap::new(),
            next_shard: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_member: 0,
            session_timeout: config.session_timeout,
            offset_reset: config.offset_reset,
            faults: config.faults,
            rng: Rng::new(config.seed),
            restarts: 0,
            events: None,
        }
    }

    // ---- clock ----

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.origin + self.elapsed
    }

    /// Virtual now as a message timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.base.saturating_add(self.elapsed)
    }

    /// Moves the virtual clock forward: members silent for longer than the
    /// session timeout die, and a broker restart may be drawn.
    pub fn advance(&mut self, by: Duration) {
        self.elapsed = self.elapsed.saturating_add(by);
        self.expire_members();
        if self.rng.chance(self.faults.restart) {
            self.restart();
        }
    }

    /// Moves the clock to `at` if that is later than now.
    pub fn advance_to(&mut self, at: Instant) {
        let by = at.saturating_duration_since(self.now());
        if !by.is_zero() {
            self.advance(by);
        }
    }

    /// The next instant at which something happens by itself: a delayed
    /// message becomes visible, or a silent member's session expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        let visible = self
            .streams
            .values()
            .flatten()
            // Visibility only grows along a log: the first hidden message is the next to show.
            .filter_map(|log| log.get(log.partition_point(|m| m.visible <= self.elapsed)))
            .map(|hidden| hidden.visible);
        let expiries = self.groups.values().filter_map(|group| group.next_expiry(self.session_timeout));
        visible.chain(expiries).min().map(|at| self.origin + at.max(self.elapsed))
    }

    // ---- faults and events ----

    /// The fault rates in force.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Changes the fault rates from now on (e.g. none, to let a test drain).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Starts or stops recording [`SimEvent`]s for [`take_events`](Self::take_events).
    pub fn record_events(&mut self, on: bool) {
        self.events = on.then(Vec::new);
    }

    /// The events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<SimEvent> {
        self.events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Records `event` when asked to, and reports it as a diagnostic (see
    /// [`SimEvent::report`]); builds it only if either wants it.
    fn event(&mut self, event: impl FnOnce() -> SimEvent) {
        if self.events.is_none() && !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let event = event();
        event.report(self.elapsed);
        if let Some(events) = &mut self.events {
            events.push(event);
        }
    }

    /// How often the broker restarted.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Restarts the broker: logs and committed offsets are kept; every group
    /// loses its members, whose consumers rejoin and resume from what was committed.
    pub fn restart(&mut self) {
        self.restarts += 1;
        for group in self.groups.values_mut() {
            group.forget_members();
        }
        self.event(|| SimEvent::Restarted);
    }

    // ---- streams ----

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

    fn log_count(&self, key: &StreamKey) -> u32 {
        self.streams.get(key).map_or(0, |shards| shards.len() as u32)
    }

    /// Stores a message on the stream's next shard (round-robin). With the
    /// delay fault it may reach consumers later; its receipt is immediate.
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
        let delay = if self.rng.chance(self.faults.delay) {
            self.rng.duration(self.faults.max_delay)
        } else {
            Duration::ZERO
        };
        let elapsed = self.elapsed;
        let Some(log) = self.streams.get_mut(key).and_then(|shards| shards.get_mut(shard.0 as usize)) else {
            unreachable!("the stream was ensured above with at least one shard")
        };
        // Order within a shard holds: a message is never visible before the one ahead of it.
        let visible = log.last().map_or(Duration::ZERO, |last| last.visible).max(elapsed + delay);
        let seq = SeqNo(log.len() as u64);
        log.push(Stored { timestamp, payload, visible });
        let header = MessageHeader::new(key.clone(), shard, seq, timestamp);
        if !delay.is_zero() {
            self.event(|| SimEvent::Delayed { key: key.clone(), shard, seq, by: delay });
        }
        header
    }

    /// Stores a message on a given shard with a given timestamp, visible at
    /// once: how a recording (a `.ss` file) is loaded. The stream grows to
    /// `shard + 1` shards if it has fewer; the seq is the shard's next.
    pub fn store(
        &mut self,
        key: &StreamKey,
        shard: ShardId,
        payload: Payload,
        timestamp: Timestamp,
    ) -> MessageHeader {
        let shards = self.streams.entry(key.clone()).or_default();
        if shards.len() <= shard.0 as usize {
            shards.resize(shard.0 as usize + 1, Vec::new());
        }
        let elapsed = self.elapsed;
        let log = &mut shards[shard.0 as usize];
        let visible = log.last().map_or(Duration::ZERO, |last| last.visible).max(elapsed);
        let seq = SeqNo(log.len() as u64);
        log.push(Stored { timestamp, payload, visible });
        MessageHeader::new(key.clone(), shard, seq, timestamp)
    }

    fn log(&self, key: &StreamKey, shard: ShardId) -> &[Stored] {
        self.streams.get(key).and_then(|shards| shards.get(shard.0 as usize)).map_or(&[], Vec::as_slice)
    }

    /// Up to `max` messages of a shard from `from` on that consumers may see now.
    pub fn fetch<'a>(
        &'a self,
        key: &'a StreamKey,
        shard: ShardId,
        from: u64,
        max: usize,
    ) -> impl ExactSizeIterator<Item = Message> + 'a {
        let log = self.log(key, shard);
        let start = (from as usize).min(log.len());
        let window = &log[start..log.len().min(start.saturating_add(max))];
        // Visibility never decreases along a log (see `produce` and `store`). A slice of
        // known length, mapped, lets the consumer's buffer take the batch
        // with one reservation and build each message in its slot.
        let visible = &window[..window.partition_point(|stored| stored.visible <= self.elapsed)];
        visible.iter().enumerate().map(move |(i, stored)| {
            // The payload first: cloned after the header, it was built
            // aside and copied twice before reaching the buffer's slot.
            let payload = stored.payload.clone();
            let header = MessageHeader::new(key.clone(), shard, SeqNo(from + i as u64), stored.timestamp);
            Message::new(header, payload)
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

    /// How many messages a shard holds.
    pub fn end_of(&self, key: &StreamKey, shard: ShardId) -> u64 {
        self.log(key, shard).len() as u64
    }

    /// The streams held, in key order.
    pub fn stream_keys(&self) -> impl Iterator<Item = &StreamKey> {
        self.streams.keys()
    }

    /// A stream's shards and their watermarks, making the stream (with the
    /// default shard count) if it is new, as consuming it would. Nothing is
    /// ever deleted, so every low watermark is 0.
    pub fn describe(&mut self, key: &StreamKey) -> StreamInfo {
        let shards = (0..self.shard_count(key))
            .map(|shard| {
                let shard = ShardId(shard);
                ShardInfo { shard, low: SeqNo(0), high: SeqNo(self.end_of(key, shard)) }
            })
            .collect();
        StreamInfo { key: key.clone(), shards }
    }
}
