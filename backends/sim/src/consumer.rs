//! A consumer's I/O side on the simulated broker: executes the core's commands
//! against the broker and feeds it what the broker holds.

use std::collections::{BTreeMap, VecDeque};
use std::task::{Context, Poll};
use std::time::Instant;

use weir_core::backend::ConsumerBackend;
use weir_core::{
    BackendError, Command, CommitId, ConsumerCore, ConsumerGroup, ConsumerMode, Epoch, SeqPos, StreamKey,
    StreamShard, Target,
};

use crate::broker::MemberId;
use crate::SimBroker;

/// Messages fed per shard per input round.
const BATCH: usize = 64;

/// The group a consumer of a mode joins when none is given: the stand-in for
/// Kafka's host-derived group of Resumable consumers.
pub const RESUMABLE_GROUP: &str = "weir-resumable";

enum Answer {
    Positioned(Epoch, Result<(), BackendError>),
    Committed(CommitId, Result<(), BackendError>),
}

/// One consumer's connection to a [`SimBroker`].
pub struct SimConsumer {
    broker: SimBroker,
    streams: Vec<StreamKey>,
    /// The group, and this consumer's membership while the group assigns its shards.
    group: Option<ConsumerGroup>,
    member: Option<MemberId>,
    generation: u64,
    /// Shards consumed, each with the seq of the next message to fetch.
    positions: BTreeMap<StreamShard, u64>,
    /// Set until the first input round reports the initial assignment.
    unannounced: bool,
    paused: bool,
    answers: VecDeque<Answer>,
}

impl SimConsumer {
    pub(crate) fn new(broker: SimBroker, core: &ConsumerCore) -> Result<Self, weir_core::OptionsError> {
        let options = core.options();
        let group = match (options.mode(), options.group()) {
            (ConsumerMode::RealTime, _) => None,
            (_, Some(group)) => Some(group.clone()),
            (_, None) => Some(ConsumerGroup::new(RESUMABLE_GROUP)?),
        };
        let streams = core.streams().to_vec();
        let mut consumer = Self {
            broker,
            streams,
            group,
            member: None,
            generation: 0,
            positions: BTreeMap::new(),
            unannounced: true,
            paused: false,
            answers: VecDeque::new(),
        };
        consumer.broker.with(|broker| match &consumer.group {
            Some(group) => consumer.member = Some(broker.join(group, &consumer.streams)),
            None => {
                // RealTime: every shard, from the end.
                for key in &consumer.streams {
                    for shard in 0..broker.shard_count(key) {
                        let shard = weir_core::ShardId(shard);
                        let end = broker.resolve(key, shard, Target::Seq(SeqPos::End));
                        consumer.positions.insert((key.clone(), shard), end);
                    }
                }
            }
        });
        Ok(consumer)
    }

    fn leave_group(&mut self) {
        if let (Some(group), Some(member)) = (&self.group, self.member.take()) {
            self.broker.with(|broker| broker.leave(group, member));
        }
    }
}

impl Drop for SimConsumer {
    fn drop(&mut self) {
        self.leave_group();
    }
}

impl ConsumerBackend for SimConsumer {
    fn execute(&mut self, _now: Instant, command: Command, core: &mut ConsumerCore) {
        match command {
            Command::Position { epoch, shards, target } => {
                if core.options().mode() != ConsumerMode::LoadBalanced {
                    // An explicit assignment takes the consumer out of the group protocol.
                    self.leave_group();
                    self.unannounced = false;
                }
                self.positions = self.broker.with(|broker| {
                    shards
                        .into_iter()
                        .map(|(key, shard)| {
                            let at = broker.resolve(&key, shard, target);
                            ((key, shard), at)
                        })
                        .collect()
                });
                self.paused = false;
                self.answers.push_back(Answer::Positioned(epoch, Ok(())));
            }
            Command::Commit { id, offsets } => {
                let result = match &self.group {
                    Some(group) => {
                        self.broker.with(|broker| {
                            broker.commit(
                                group,
                                offsets.into_iter().map(|(key, shard, seq)| ((key, shard), seq)),
                            )
                        });
                        Ok(())
                    }
                    None => Err(BackendError::new(
                        "sim",
                        weir_core::BackendErrorKind::Broker,
                        "no group to commit to",
                    )),
                };
                self.answers.push_back(Answer::Committed(id, result));
            }
            Command::Pause => self.paused = true,
            Command::Resume => self.paused = false,
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, now: Instant, core: &mut ConsumerCore) -> Poll<()> {
        let mut fed = false;
        while let Some(answer) = self.answers.pop_front() {
            match answer {
                Answer::Positioned(epoch, result) => core.handle_positioned(now, epoch, result),
                Answer::Committed(id, result) => core.handle_committed(now, id, result),
            }
            fed = true;
        }
        let broker = self.broker.clone();
        let mut shared = broker.lock();
        if let (Some(group), Some(member)) = (&self.group, self.member) {
            let (generation, plan) = shared.broker.assignment(group, member);
            if generation != self.generation {
                self.generation = generation;
                let old = std::mem::take(&mut self.positions);
                for shard in plan {
                    let at = old.get(shard).copied().unwrap_or_else(|| {
                        shared.broker.committed(group, shard).map_or_else(
                            || shared.broker.resolve(&shard.0, shard.1, Target::Seq(SeqPos::End)),
                            |seq| seq.0,
                        )
                    });
                    self.positions.insert(shard.clone(), at);
                }
                core.handle_assignment(now, plan.iter().cloned());
                self.unannounced = false;
                fed = true;
            }
        }
        if self.unannounced {
            self.unannounced = false;
            core.handle_assignment(now, self.positions.keys().cloned());
            fed = true;
        }
        if !self.paused {
            for ((key, shard), at) in &mut self.positions {
                let before = *at;
                for message in shared.broker.fetch(key, *shard, *at, BATCH) {
                    *at += 1;
                    core.handle_message(now, message);
                }
                fed |= *at != before;
            }
        }
        if fed {
            Poll::Ready(())
        } else {
            shared.wait(cx.waker());
            Poll::Pending
        }
    }

    fn virtual_now(&self) -> Option<Instant> {
        Some(self.broker.now())
    }
}
