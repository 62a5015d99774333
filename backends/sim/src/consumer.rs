//! A consumer's I/O side on the simulated broker: executes the core's commands
//! against the broker, follows its group, and feeds the core what the broker holds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use weir_core::backend::ConsumerBackend;
use weir_core::{
    BackendError, BackendErrorKind, Command, CommitId, ConsumerCore, ConsumerGroup, ConsumerMode, Epoch,
    SeqPos, ShardId, StreamKey, StreamShard, Target,
};

use crate::broker::{Broker, MemberId};
use crate::SimBroker;

/// Messages fed per shard per input round.
const BATCH: usize = 64;

/// The group a consumer of a mode joins when none is given: the stand-in for
/// Kafka's host-derived group of Resumable consumers.
pub const RESUMABLE_GROUP: &str = "weir-resumable";

/// Why a shard's current run of messages starts where it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentStart {
    /// A consumer without a group was created: the shard's end at that time.
    Created,
    /// A rewind or seek.
    Positioned(Target),
    /// The group gave the consumer the shard: the committed offset, else the
    /// offset-reset policy.
    Assigned,
}

/// A run of messages of one shard fed from one starting point: within a
/// segment, seqs are consecutive. For tests that check a consumer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Counts segments of this consumer.
    pub id: u64,
    /// The seq the run starts at.
    pub from: u64,
    /// Why it starts there.
    pub start: SegmentStart,
}

enum Answer {
    Positioned(Epoch, Result<(), BackendError>),
    Committed(CommitId, Result<(), BackendError>),
}

/// One consumer's connection to a [`SimBroker`].
pub struct SimConsumer {
    broker: SimBroker,
    streams: Vec<StreamKey>,
    group: Option<ConsumerGroup>,
    /// This consumer's membership while the group assigns its shards.
    member: Option<MemberId>,
    generation: u64,
    resets: u64,
    /// Shards consumed, each with the seq of the next message to fetch.
    positions: BTreeMap<StreamShard, u64>,
    segments: BTreeMap<StreamShard, Segment>,
    next_segment: u64,
    /// Set until the first input round reports the initial assignment.
    unannounced: bool,
    paused: bool,
    answers: VecDeque<Answer>,
    crashed: AtomicBool,
}

impl SimConsumer {
    pub(crate) fn new(broker: SimBroker, core: &ConsumerCore) -> Result<Self, weir_core::OptionsError> {
        let options = core.options();
        let group = match (options.mode(), options.group()) {
            (ConsumerMode::RealTime, _) => None,
            (_, Some(group)) => Some(group.clone()),
            (_, None) => Some(ConsumerGroup::new(RESUMABLE_GROUP)?),
        };
        let mut consumer = Self {
            broker: broker.clone(),
            streams: core.streams().to_vec(),
            group,
            member: None,
            generation: 0,
            resets: 0,
            positions: BTreeMap::new(),
            segments: BTreeMap::new(),
            next_segment: 0,
            unannounced: true,
            paused: false,
            answers: VecDeque::new(),
            crashed: AtomicBool::new(false),
        };
        broker.with(|broker| match &consumer.group {
            Some(group) => consumer.member = Some(broker.join(group, &consumer.streams)),
            None => {
                // RealTime: every shard, from the end.
                for key in consumer.streams.clone() {
                    for shard in 0..broker.shard_count(&key) {
                        let shard = (key.clone(), ShardId(shard));
                        let end = broker.resolve(&shard.0, shard.1, Target::Seq(SeqPos::End));
                        consumer.start(shard, end, SegmentStart::Created);
                    }
                }
            }
        });
        Ok(consumer)
    }

    // ---- getters, for tests of what a consumer saw ----

    /// The group, if the consumer's mode has one.
    pub fn group(&self) -> Option<&ConsumerGroup> {
        self.group.as_ref()
    }

    /// The membership while the group protocol assigns this consumer's shards.
    pub fn member(&self) -> Option<MemberId> {
        self.member
    }

    /// Whether the broker no longer counts this consumer's member (it was
    /// declared dead); it rejoins the next time it looks for input.
    pub fn is_fenced(&self) -> bool {
        match (&self.group, self.member) {
            (Some(group), Some(member)) => !self.broker.lock().broker.is_member(group, member),
            _ => false,
        }
    }

    /// The run of messages a shard is being fed from.
    pub fn segment(&self, key: &StreamKey, shard: ShardId) -> Option<&Segment> {
        self.segments.get(&(key.clone(), shard))
    }

    /// Simulates the consumer's process dying: it stops without leaving its
    /// group, whose broker declares it dead once the session times out.
    /// Dropping the consumer afterwards does not leave the group either.
    pub fn crash(&self) {
        self.crashed.store(true, Ordering::Relaxed);
        if let (Some(group), Some(member)) = (&self.group, self.member) {
            self.broker.with(|broker| broker.silence(group, member));
        }
    }

    fn start(&mut self, shard: StreamShard, from: u64, start: SegmentStart) {
        self.next_segment += 1;
        self.segments.insert(shard.clone(), Segment { id: self.next_segment, from, start });
        self.positions.insert(shard, from);
    }

    fn leave_group(&mut self) {
        if let (Some(group), Some(member)) = (&self.group, self.member.take()) {
            self.broker.with(|broker| broker.leave(group, member));
        }
    }

    /// Heartbeats, rejoins if declared dead, and applies a changed plan.
    /// `true` when it fed the core an assignment.
    fn follow_group(
        &mut self,
        broker: &mut Broker,
        group: &ConsumerGroup,
        member: MemberId,
        core: &mut ConsumerCore,
    ) -> bool {
        let mut member = member;
        let mut fresh = false;
        if !broker.heartbeat(group, member) {
            // Declared dead, or the broker restarted: rejoin as a new member
            // and resume from what the group committed.
            member = broker.join(group, &self.streams);
            self.member = Some(member);
            fresh = true;
        }
        let view = broker.view(group, member);
        if view.resets != self.resets {
            self.resets = view.resets;
            fresh = true;
        }
        if view.generation == self.generation && !fresh {
            return false;
        }
        if fresh && !self.positions.is_empty() {
            // Uncommitted progress is lost: revoke everything first, so the
            // core drops what it buffered and forgets what it delivered.
            core.handle_assignment(std::iter::empty());
            self.positions.clear();
        }
        let mut old = std::mem::take(&mut self.positions);
        for shard in &view.shards {
            match old.remove(shard) {
                Some(at) => {
                    self.positions.insert(shard.clone(), at);
                }
                None => {
                    let from = broker.start_position(group, shard);
                    self.start(shard.clone(), from, SegmentStart::Assigned);
                }
            }
        }
        core.handle_assignment(view.shards.iter().cloned());
        // The revoked shards are dropped: their new owners may have them.
        broker.sync(group, member);
        self.generation = broker.view(group, member).generation;
        self.unannounced = false;
        true
    }
}

impl Drop for SimConsumer {
    fn drop(&mut self) {
        if !self.crashed.load(Ordering::Relaxed) {
            self.leave_group();
        }
    }
}

impl ConsumerBackend for SimConsumer {
    fn execute(&mut self, command: Command, core: &mut ConsumerCore) {
        match command {
            Command::Position { epoch, shards, target } => {
                if core.options().mode() != ConsumerMode::LoadBalanced {
                    // An explicit assignment takes the consumer out of the group protocol.
                    self.leave_group();
                    self.unannounced = false;
                }
                let resolved: Vec<(StreamShard, u64)> = self.broker.with(|broker| {
                    shards
                        .into_iter()
                        .map(|(key, shard)| {
                            let at = broker.resolve(&key, shard, target);
                            ((key, shard), at)
                        })
                        .collect()
                });
                self.positions.clear();
                for (shard, at) in resolved {
                    self.start(shard, at, SegmentStart::Positioned(target));
                }
                self.paused = false;
                self.answers.push_back(Answer::Positioned(epoch, Ok(())));
            }
            Command::Commit { id, offsets } => {
                let result = match &self.group {
                    Some(group) => {
                        let offsets = offsets.into_iter().map(|(key, shard, seq)| ((key, shard), seq));
                        self.broker.with(|broker| broker.commit(group, self.member, offsets)).map_err(
                            |rejected| {
                                BackendError::new("sim", BackendErrorKind::Broker, rejected.to_string())
                            },
                        )
                    }
                    None => Err(BackendError::new("sim", BackendErrorKind::Broker, "no group to commit to")),
                };
                self.answers.push_back(Answer::Committed(id, result));
            }
            Command::Pause => self.paused = true,
            Command::Resume => self.paused = false,
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        let mut fed = false;
        while let Some(answer) = self.answers.pop_front() {
            match answer {
                Answer::Positioned(epoch, result) => core.handle_positioned(epoch, result),
                Answer::Committed(id, result) => core.handle_committed(id, result),
            }
            fed = true;
        }
        let broker = self.broker.clone();
        let mut shared = broker.lock();
        let group = self.group.take();
        if let (Some(group), Some(member)) = (&group, self.member) {
            fed |= self.follow_group(&mut shared.broker, group, member, core);
        }
        self.group = group;
        if self.unannounced {
            self.unannounced = false;
            core.handle_assignment(self.positions.keys().cloned());
            fed = true;
        }
        if !self.paused {
            for ((key, shard), at) in &mut self.positions {
                let batch = shared.broker.fetch(key, *shard, *at, BATCH);
                let fetched = batch.len();
                core.handle_messages(batch);
                *at += fetched as u64;
                fed |= fetched != 0;
            }
        }
        if fed {
            Poll::Ready(())
        } else {
            if let (Some(group), Some(member)) = (&self.group, self.member) {
                shared.broker.park(group, member);
            }
            shared.wait(cx.waker(), core.poll_timeout());
            Poll::Pending
        }
    }

    fn virtual_now(&self) -> Option<Instant> {
        Some(self.broker.now())
    }
}
