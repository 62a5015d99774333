//! A consumer's I/O side on Kafka: executes the core's commands as rdkafka
//! calls (blocking ones as jobs off the executor) and feeds the core what
//! librdkafka delivers.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};

use rdkafka::consumer::Consumer;
use weir_core::backend::{BlockingJob, ConsumerBackend};
use weir_core::{Command, ConsumerCore, ConsumerMode, Message, ShardId, StreamKey, StreamShard};

use crate::direct;
use crate::jobs;
use crate::messages::Seen;
use crate::options::{KafkaOptions, OffsetReset};
use crate::shared::{Event, Partition, Rd, WeirContext};

/// One consumer's connection to a Kafka cluster.
pub struct KafkaConsumer {
    rd: Rd,
    options: Arc<KafkaOptions>,
    mode: ConsumerMode,
    /// Partitions fetched now (resolved), as the core knows them.
    assigned: BTreeSet<Partition>,
    paused: bool,
    /// Messages taken from the poll thread, fed to the core; kept empty
    /// between polls, and swapped with the poll thread's so that neither
    /// side allocates a new vector per batch.
    taken: Vec<Message>,
    /// What converting the messages the driver takes itself learned.
    seen: Seen,
    jobs: VecDeque<BlockingJob>,
    /// A RealTime consumer's first assignment (every partition, at the
    /// reset policy's end), until taken: it runs after the rewinds and seeks
    /// asked for before, so that one asked for at once assigns at its target
    /// and the first assignment finds it applied and does nothing. Run
    /// first, it would start a fetch at the end, and on a broker that holds
    /// an empty fetch for `fetch.wait.max.ms` (as Kafka does) the rewind's
    /// offset lookup and first fetch would each wait behind one such fetch.
    /// Run after a rewind that failed, it assigns as if none was asked for.
    /// For a group consumer, joining its group (the subscription), which a
    /// positioning of shards the application assigned before cancels.
    start: Option<BlockingJob>,
    /// Whether this consumer assigns its partitions itself (RealTime, or a
    /// Resumable one positioned on shards the application assigned before it
    /// joined its group): it never joins, and commits to the group as a
    /// consumer outside it.
    manual: bool,
    /// The topics of the consumer's streams: a RealTime rewind or seek with
    /// no shard assigned moves every partition they have now.
    topics: Vec<String>,
    /// Declared last, so it drops after `rd`.
    _closer: Closer,
}

impl KafkaConsumer {
    pub(crate) fn new(
        rd: Rd,
        options: Arc<KafkaOptions>,
        mode: ConsumerMode,
        topics: Vec<String>,
        seen: Seen,
    ) -> Self {
        let reset = options.auto_offset_reset.unwrap_or(OffsetReset::Latest);
        let closer = Closer(Some(rd.clone()));
        let mut consumer = Self {
            rd,
            options,
            mode,
            assigned: BTreeSet::new(),
            paused: false,
            taken: Vec::new(),
            seen,
            jobs: VecDeque::new(),
            start: None,
            manual: mode == ConsumerMode::RealTime,
            topics: topics.clone(),
            _closer: closer,
        };
        let (rd, timeout) = (consumer.rd.clone(), consumer.options.connect_timeout);
        if mode == ConsumerMode::RealTime {
            consumer.start = Some(Box::new(move || jobs::assign_all(rd, topics, reset, timeout)));
        } else {
            consumer.start = Some(Box::new(move || jobs::subscribe(rd, topics, timeout)));
        }
        consumer
    }

    /// Stops the consumer and waits, at most `limit`, until it has left its
    /// group and closed; whether it has. A member that only goes away (its
    /// process ends right after dropping the consumer, which closes on a
    /// thread of its own) keeps its group waiting for the session to time
    /// out before another member gets its partitions. No message comes after
    /// this; it blocks, so not on an async executor's thread.
    pub fn close_within(&self, limit: std::time::Duration) -> bool {
        let shared = &self.rd.context().shared;
        shared.stop();
        shared.wait_closed(limit)
    }

    /// The librdkafka consumer, for calls weir does not wrap. Blocking calls
    /// on it must not run on an async executor's thread.
    pub fn rdkafka(&self) -> &rdkafka::consumer::BaseConsumer<WeirContext> {
        &self.rd
    }

    fn partition_of(&self, (key, shard): &StreamShard) -> Partition {
        (self.options.topic(key.name()), i32::try_from(shard.0).unwrap_or(i32::MAX))
    }

    /// Whether `message`'s partition is assigned here; per message, so it
    /// compares in place instead of building the partition's name.
    fn owns(&self, message: &Message) -> bool {
        let (key, shard) = (message.stream_key().name(), i64::from(message.shard().0));
        self.assigned.iter().any(|(topic, partition)| {
            i64::from(*partition) == shard && self.options.key_of(topic) == Some(key)
        })
    }

    fn shard_of(&self, (topic, partition): &Partition) -> Option<StreamShard> {
        let key = StreamKey::new(self.options.key_of(topic)?).ok()?;
        Some((key, ShardId(u32::try_from(*partition).ok()?)))
    }

    /// Asks the poll thread to resume fetching after it held it (see
    /// `poller::HOLD`). Not done here: librdkafka's pause and resume set the
    /// partition's next fetch to "after the last message the application
    /// took", and a message the poll thread is taking at that moment (out of
    /// the queue, not yet counted) would be fetched and delivered a second
    /// time. Between its own polls the count is exact.
    fn resume_fetching(&self) {
        self.rd.context().shared.want_paused(false);
    }

    /// Whether a positioning assigns its shards itself rather than seeking
    /// within the group's assignment. A Resumable consumer whose application
    /// assigned shards (`ConsumerCore::requested`) before it joined its group
    /// (the subscription not yet handed out) never joins: it reads exactly
    /// those, committing to its group from outside, as the simulator's does.
    /// One that joined already keeps the group's assignment.
    fn assigns_itself(&mut self, core: &ConsumerCore) -> bool {
        let explicit = self.mode == ConsumerMode::Resumable && core.requested().next().is_some();
        if !self.manual && explicit && self.start.take().is_some() {
            tracing::info!(
                group = %self.rd.context().shared.who.group,
                consumer = self.rd.context().shared.who.consumer,
                "kafka consumer reads the shards assigned to it, outside its group"
            );
            self.manual = true;
        }
        self.manual
    }

    fn report_assignment(&mut self, core: &mut ConsumerCore) {
        let shards: Vec<StreamShard> = self.assigned.iter().filter_map(|p| self.shard_of(p)).collect();
        core.handle_assignment(shards);
    }

    fn feed_event(&mut self, event: Event, core: &mut ConsumerCore) {
        match event {
            Event::Revoked { partitions } => {
                match partitions {
                    Some(gone) => gone.iter().for_each(|p| {
                        self.assigned.remove(p);
                    }),
                    None => self.assigned.clear(),
                }
                self.report_assignment(core);
            }
            Event::Ready { partitions } => {
                if self.manual {
                    self.assigned.clear();
                }
                self.assigned.extend(partitions);
                self.report_assignment(core);
            }
            Event::Positioned(epoch, result) => core.handle_positioned(epoch, result),
            Event::Committed(id, result) => core.handle_committed(id, result),
            Event::Fatal(err) => core.handle_end(Some(err)),
        }
    }
}

impl ConsumerBackend for KafkaConsumer {
    fn execute(&mut self, command: Command, core: &mut ConsumerCore) {
        let (rd, timeout) = (self.rd.clone(), self.options.connect_timeout);
        match command {
            Command::Position { epoch, shards, target } => {
                let manual = self.assigns_itself(core);
                // With no shard assigned the core names shard 0 of each
                // stream; the consumer reads every partition it has (a
                // RealTime one all of its topics', from its first assignment
                // on), and a rewind or seek moves them all: a RealTime one's
                // as the job finds them then, a group member's as the group
                // gave them.
                let unnamed = self.mode != ConsumerMode::LoadBalanced && core.requested().next().is_none();
                let (partitions, shards) = if unnamed && !manual {
                    let shards = self.assigned.iter().filter_map(|p| self.shard_of(p)).collect();
                    (self.assigned.iter().cloned().collect(), shards)
                } else {
                    (shards.iter().map(|s| self.partition_of(s)).collect::<Vec<Partition>>(), shards)
                };
                if manual {
                    self.assigned = partitions.iter().cloned().collect();
                }
                // A positioning ends the core's pause (the positioning job
                // resumes fetching where the poll thread held it).
                self.paused = false;
                let partitions: Vec<Partition> = if manual {
                    partitions
                } else {
                    // The group owns the assignment: seek only what it gave us.
                    partitions.into_iter().filter(|p| self.assigned.contains(p)).collect()
                };
                // A group member moving every partition it has, with none
                // known here yet: the job asks librdkafka what it has now, and
                // with none keeps the target for the group's next assignment.
                let scope = match (unnamed, manual) {
                    (true, true) => jobs::Scope::Every(self.topics.clone()),
                    (true, false) if partitions.is_empty() => jobs::Scope::Given,
                    _ => jobs::Scope::Named,
                };
                let targets = (partitions, shards);
                self.jobs.push_back(Box::new(move || {
                    jobs::position(rd, epoch, targets, target, manual, scope, timeout)
                }));
            }
            Command::Commit { id, offsets } => {
                let offsets = offsets
                    .into_iter()
                    .map(|(key, shard, seq)| {
                        (self.partition_of(&(key, shard)), i64::try_from(seq.0).unwrap_or(i64::MAX))
                    })
                    .collect();
                self.jobs.push_back(Box::new(move || jobs::commit(rd, id, offsets)));
            }
            // The core's buffer is full: leave the messages with the poll
            // thread. Pausing librdkafka here would make it drop what it
            // prefetched and fetch it again on resume, for every buffer-full,
            // at a second's backoff each; the poll thread holds fetching
            // itself if the messages are not taken soon.
            Command::Pause => self.paused = true,
            Command::Resume => self.paused = false,
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        // The waker is set as the input is taken: the poll thread or a job
        // may report between the draining below and returning Pending.
        let mut batch = std::mem::take(&mut self.taken);
        let into = (!self.paused).then_some(&mut batch);
        let (events, held) = direct::take_input(&self.rd, &self.options, &mut self.seen, cx.waker(), into);
        let mut fed = !events.is_empty();
        for event in events {
            self.feed_event(event, core);
        }
        // Messages of partitions given up since they were taken belong to
        // their new owner. A batch's messages mostly share their partition
        // with the one before (keys of one topic share an allocation, so
        // comparing them is a pointer comparison).
        let mut last: Option<(StreamKey, ShardId, bool)> = None;
        batch.retain(|m| match &last {
            Some((key, shard, owned)) if *shard == m.shard() && key == m.stream_key() => *owned,
            _ => {
                let owned = self.owns(m);
                last = Some((m.stream_key().clone(), m.shard(), owned));
                owned
            }
        });
        if held {
            self.resume_fetching();
        }
        if !batch.is_empty() {
            fed = true;
            core.handle_messages(batch.drain(..));
        }
        self.taken = batch;
        if fed || !self.jobs.is_empty() || self.start.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        let job = self.jobs.pop_front();
        match (job, self.start.take()) {
            // A RealTime consumer's first assignment runs after the last job
            // asked for before it, on the same thread: side by side (as a
            // runtime's blocking pool runs jobs), a rewind that looks its
            // partitions up first could lose the race, and the rewind would
            // then wait behind the fetch at the end (see `start`).
            (Some(job), Some(start)) if self.jobs.is_empty() && self.mode == ConsumerMode::RealTime => {
                Some(Box::new(move || {
                    job();
                    start();
                }))
            }
            (Some(job), start) => {
                self.start = start;
                Some(job)
            }
            (None, start) => start,
        }
    }
}

/// Stops the poll thread when the consumer is dropped. Closing (leaving the
/// group, a blocking round trip) then happens on that thread, not on the
/// dropping one, which may be an executor's.
struct Closer(Option<Rd>);

impl Drop for Closer {
    fn drop(&mut self) {
        let Some(rd) = self.0.take() else { return };
        // The poll thread closes the consumer when it stops (see `poller::close`).
        rd.context().shared.stop();
    }
}
