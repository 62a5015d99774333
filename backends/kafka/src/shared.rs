//! The state a consumer's driver shares with the threads librdkafka calls
//! back on (its poll thread, the blocking jobs): what happened, recorded for
//! the next `poll_input`; the messages taken out of librdkafka; the locks that
//! order positionings, polls and commits; and [`WeirContext`], the object
//! librdkafka holds, which carries all of it. Only data and its locking live
//! here, and the diagnostics of the changes only this data sees (the
//! cluster reached, lost, reached again): what the callbacks, jobs and
//! threads do with it lives with them.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::topic_partition_list::TopicPartitionList;
use weir_core::{BackendError, CommitId, Epoch, Message, Target};

use crate::batches::Queues;
use crate::options::{KafkaOptions, OffsetReset};

/// A partition as librdkafka names it.
pub(crate) type Partition = (String, i32);

/// A consumer as the jobs and the poll thread see it.
pub(crate) type Rd = Arc<BaseConsumer<WeirContext>>;

/// Per partition, the newest commit sent and its outcome.
pub(crate) type SentCommits = BTreeMap<Partition, (CommitId, Result<(), BackendError>)>;

/// Partitions as diagnostics show them: `topic/partition`, comma-separated;
/// `-` for none (a standby member's assignment), as the driver shows shards.
pub(crate) struct Shards<'a>(pub(crate) &'a [Partition]);

impl fmt::Display for Shards<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for (at, (topic, partition)) in self.0.iter().enumerate() {
            let comma = if at == 0 { "" } else { "," };
            write!(f, "{comma}{topic}/{partition}")?;
        }
        Ok(())
    }
}

/// Milliseconds since `since`, for diagnostics.
pub(crate) fn millis_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Which consumer this is, for errors and diagnostics; never changes.
#[derive(Debug)]
pub(crate) struct Who {
    /// The bootstrap servers.
    pub(crate) servers: String,
    /// The consumer's `group.id`.
    pub(crate) group: String,
    /// weir's number for the consumer, unique in the process: tells apart
    /// the members of one group in one process.
    pub(crate) consumer: u64,
    /// When the consumer was made: "connected" says how long it took.
    pub(crate) created: Instant,
}

/// The partitions of a librdkafka partition list.
pub(crate) fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect()
}

/// Something that happened off the driver's path, fed to the core on the next poll.
#[derive(Debug)]
pub(crate) enum Event {
    /// The group revoked these partitions (`None`: all of them).
    Revoked { partitions: Option<Vec<Partition>> },
    /// Partitions now fetched from resolved positions.
    Ready { partitions: Vec<Partition> },
    /// A positioning finished.
    Positioned(Epoch, Result<(), BackendError>),
    /// A commit finished.
    Committed(CommitId, Result<(), BackendError>),
    /// The consumer cannot go on.
    Fatal(BackendError),
}

/// What the driver, the poll thread and the jobs record for one another,
/// under [`Shared::lock`].
#[derive(Debug, Default)]
pub(crate) struct State {
    waker: Option<Waker>,
    pub(crate) events: VecDeque<Event>,
    /// Messages taken from librdkafka, not yet fed to the core.
    pub(crate) messages: Vec<Message>,
    /// The poll thread paused the assignment because `messages` grew too long.
    pub(crate) held: bool,
    /// The poll thread waits for the driver to take `messages` (see `Shared::wait_for_room`).
    room_wanted: bool,
    /// Whether the cluster was ever reached: before, "all brokers down" is fatal.
    pub(crate) connected: bool,
    /// The newest positioning applied, so an older one finishing late does not undo it.
    pub(crate) applied: Option<Epoch>,
    /// Where each repositioned partition restarts, until a message at or
    /// after it arrives; a guard only (positionings apply while no poll is
    /// under way, and librdkafka purges what was fetched before them). A
    /// short list, searched without building a partition name per message.
    pub(crate) restart: Vec<(Partition, i64)>,
    /// Partitions whose start came from the reset policy (no commit yet), with that start.
    pub(crate) unrecorded: BTreeMap<Partition, i64>,
    /// Since when, and with which last word from librdkafka, every broker
    /// is down after the cluster was reached (see `reach`).
    pub(crate) down: Option<(Instant, String)>,
    /// The consumer failed for good (an unreachable cluster): nothing more to report.
    pub(crate) gave_up: bool,
    /// librdkafka's last reason a connection failed (refused, a TLS
    /// handshake, an authentication), told with "all brokers down", which
    /// says only how many.
    pub(crate) why: Option<String>,
    /// Whether the driver wants fetching paused, until the poll thread applies it.
    pub(crate) pause_wanted: Option<bool>,
    /// How many times the driver took messages out of librdkafka itself (see
    /// `direct`): the poll thread leaves the queue to a driver that does.
    pub(crate) direct_takes: u64,
    /// Whether the driver's last take found librdkafka's queue empty.
    pub(crate) direct_drained: bool,
    /// Since when the consumer waits for the group to give it partitions:
    /// since it asked to join, or since its last revocation.
    pub(crate) rebalancing_since: Option<Instant>,
    /// A group member's rewind or seek of every partition it has, asked for
    /// while it had none: where the partitions the group gives it next
    /// start, instead of the group's commits (see `jobs::assigned`).
    pub(crate) pending: Option<Target>,
}

impl State {
    /// Sets where `partition` restarts after a positioning.
    pub(crate) fn set_restart(&mut self, partition: Partition, at: i64) {
        self.restart.retain(|(p, _)| *p != partition);
        self.restart.push((partition, at));
    }

    /// Whether `message` comes from before its partition's last positioning;
    /// the first one at or after the restart point ends the check for that
    /// partition.
    pub(crate) fn is_stale(&mut self, options: &KafkaOptions, message: &Message) -> bool {
        let (key, shard) = (message.stream_key().name(), i64::from(message.shard().0));
        let Some(at) = self.restart.iter().position(|((topic, partition), _)| {
            i64::from(*partition) == shard && options.key_of(topic) == Some(key)
        }) else {
            return false;
        };
        if i64::try_from(message.seq().0).unwrap_or(i64::MAX) < self.restart[at].1 {
            return true;
        }
        self.restart.swap_remove(at);
        false
    }

    /// The cluster was reached (perhaps not just now).
    pub(crate) fn mark_connected(&mut self, who: &Who) {
        if !self.connected {
            connected(who);
        }
        self.connected = true;
    }

    /// A broker answered just now: the cluster is reachable. Called per
    /// batch of messages: the first check is all it costs then.
    pub(crate) fn mark_reachable(&mut self, who: &Who) {
        if self.connected && self.down.is_none() {
            return;
        }
        if let Some((since, _)) = self.down.take() {
            tracing::info!(
                servers = %who.servers,
                group = %who.group,
                consumer = who.consumer,
                down_ms = millis_since(since),
                "kafka cluster reachable again"
            );
        }
        self.mark_connected(who);
    }

    /// Every broker went down after the cluster was reached (librdkafka's
    /// `reason`); librdkafka reconnects, `reach` decides when to give up.
    pub(crate) fn mark_down(&mut self, who: &Who, reason: &str) {
        let since = match self.down.take() {
            Some((since, _)) => since,
            None => {
                tracing::warn!(
                    servers = %who.servers,
                    group = %who.group,
                    consumer = who.consumer,
                    reason,
                    "every kafka broker is down; reconnecting"
                );
                Instant::now()
            }
        };
        self.down = Some((since, reason.to_owned()));
    }

    /// Records an event and returns the waker to wake once the lock is released.
    pub(crate) fn push(&mut self, event: Event) -> Option<Waker> {
        self.events.push_back(event);
        self.waker.take()
    }

    /// The driver's waker, to wake once the lock is released.
    pub(crate) fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// The first time the cluster answered.
#[cold]
fn connected(who: &Who) {
    tracing::info!(
        servers = %who.servers,
        group = %who.group,
        consumer = who.consumer,
        took_ms = millis_since(who.created),
        "kafka consumer connected"
    );
}

/// The consumer's shared state.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Which consumer this is.
    pub(crate) who: Who,
    state: Mutex<State>,
    /// Whether the driver takes messages out of librdkafka itself, on its own
    /// thread, while it consumes (see `direct`); the poll thread then only
    /// wakes it, and takes them only for a driver that stopped taking. Only
    /// for consumers whose polls run no blocking callback: without a group,
    /// no rebalance runs inside a poll.
    pub(crate) direct: bool,
    /// Tells the poll thread to stop.
    stop: AtomicBool,
    /// Whether librdkafka's queue may hold something: set by its non-empty
    /// callback (or a stop), cleared by the poll thread before it drains the queue.
    queued: Mutex<bool>,
    /// Wakes the poll thread when `queued` is set.
    queued_changed: Condvar,
    /// Wakes a poll thread waiting for the driver to take messages (with `state`).
    room: Condvar,
    /// Serialises the jobs that choose positions (the first assignment,
    /// rewinds, seeks), so an older one cannot apply after a newer one.
    positioning: Mutex<()>,
    /// Held by the poll thread while it polls librdkafka and records what it
    /// got; a positioning applies holding it, so no message taken out of
    /// librdkafka before the positioning is recorded after it. Holds the
    /// partition queues split off for batch consume (see `batches`).
    polling: Mutex<Queues>,
    /// A positioning waits for `polling`: the poll thread lets it in first.
    positioning_waits: AtomicBool,
    /// Counts the queue events librdkafka's callbacks served (see `served`).
    served: AtomicU64,
    /// Held by a commit job while it commits: one commit at a time, in the
    /// order they reach the broker. Per partition, the newest commit sent and
    /// its outcome (see `jobs::commit`).
    pub(crate) commits: Mutex<SentCommits>,
    /// Set by the poll thread once it has closed the consumer (left its group).
    closed: Mutex<bool>,
    /// Wakes whoever waits for `closed`.
    closed_changed: Condvar,
}

impl Shared {
    /// The state of a new consumer; `direct`: see [`Shared::direct`].
    pub(crate) fn new(who: Who, direct: bool) -> Self {
        Self {
            who,
            state: Mutex::default(),
            direct,
            stop: AtomicBool::new(false),
            queued: Mutex::new(false),
            queued_changed: Condvar::new(),
            room: Condvar::new(),
            positioning: Mutex::new(()),
            polling: Mutex::default(),
            positioning_waits: AtomicBool::new(false),
            served: AtomicU64::new(0),
            commits: Mutex::default(),
            closed: Mutex::new(false),
            closed_changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an event and wakes the driver.
    pub(crate) fn push(&self, event: Event) {
        let waker = self.lock().push(event);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs `f`, which applies a position (assign or seek), between two polls
    /// of librdkafka and after any other positioning. librdkafka drops what
    /// it fetched under the old position once `f` returns; what was taken out
    /// before is in `State::messages`, for `f` to drop.
    pub(crate) fn positioning<T>(&self, f: impl FnOnce() -> T) -> T {
        let _serial = self.positioning.lock().unwrap_or_else(PoisonError::into_inner);
        self.positioning_waits.store(true, Ordering::Release);
        let mut polling = self.polling.lock().unwrap_or_else(PoisonError::into_inner);
        self.positioning_waits.store(false, Ordering::Release);
        let result = f();
        // The assignment may have changed: split its partitions' queues off.
        polling.stale = true;
        drop(polling);
        // `f` dropped the messages of the old position: there may be room now.
        self.room.notify_all();
        result
    }

    /// Called by librdkafka when its queue turns non-empty: wakes the poll thread.
    pub(crate) fn queue_filled(&self) {
        *self.queued.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.queued_changed.notify_one();
    }

    /// Asks the poll thread to pause (or resume) fetching, and wakes it.
    pub(crate) fn want_paused(&self, paused: bool) {
        self.lock().pause_wanted = Some(paused);
        self.queue_filled();
    }

    /// Tells the poll thread to stop, and wakes it.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.queue_filled();
        self.room.notify_all();
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Called by the poll thread once it has closed the consumer.
    pub(crate) fn mark_closed(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.closed_changed.notify_all();
    }

    /// Waits until the poll thread has closed the consumer, at most `limit`;
    /// whether it has.
    pub(crate) fn wait_closed(&self, limit: Duration) -> bool {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        let (closed, _) = self
            .closed_changed
            .wait_timeout_while(closed, limit, |closed| !*closed)
            .unwrap_or_else(PoisonError::into_inner);
        *closed
    }

    /// Blocks the poll thread until librdkafka's queue may hold something, a
    /// stop, or `at_most` passed; then the queue counts as drained again.
    pub(crate) fn wait_for_queue(&self, at_most: Duration) {
        let queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut queued, _) = self
            .queued_changed
            .wait_timeout_while(queued, at_most, |queued| !*queued)
            .unwrap_or_else(PoisonError::into_inner);
        *queued = false;
    }

    /// How many queue events (log lines, rebalances, commit outcomes) the
    /// callbacks served so far: rdkafka's `poll` returns `None` both for an
    /// empty queue and for a served event, and the poll thread must tell them apart.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Acquire)
    }

    /// A callback served a queue event (see `served`).
    pub(crate) fn count_served(&self) {
        self.served.fetch_add(1, Ordering::AcqRel);
    }

    /// The turn to poll, for the driver: `None` while anyone else has it or a
    /// positioning waits for it, as the driver must not block.
    pub(crate) fn try_poll_turn(&self) -> Option<MutexGuard<'_, Queues>> {
        if self.positioning_waits.load(Ordering::Acquire) {
            return None;
        }
        match self.polling.try_lock() {
            Ok(turn) => Some(turn),
            Err(std::sync::TryLockError::Poisoned(turn)) => Some(turn.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Held by the poll thread around one poll; lets a waiting positioning go first.
    pub(crate) fn poll_turn(&self) -> MutexGuard<'_, Queues> {
        if self.positioning_waits.load(Ordering::Acquire) {
            drop(self.positioning.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self.polling.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything recorded so far, taken at once so that an event (a seek's
    /// outcome, say) is never seen after the messages that followed it: the
    /// events, the messages (only given `into`, an empty vector that the
    /// poll thread fills next: the core may be full), and whether the poll
    /// thread held fetching (reported with taken messages). `waker` is woken
    /// when more is recorded; set in the same critical section, so nothing
    /// recorded after the taking goes unnoticed.
    pub(crate) fn take_input(
        &self,
        waker: &Waker,
        into: Option<&mut Vec<Message>>,
    ) -> (VecDeque<Event>, bool) {
        let mut state = self.lock();
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        let events = std::mem::take(&mut state.events);
        let Some(into) = into else { return (events, false) };
        debug_assert!(into.is_empty());
        std::mem::swap(&mut state.messages, into);
        let held = std::mem::take(&mut state.held);
        let room_wanted = state.room_wanted;
        drop(state);
        // Only when the poll thread waits: a notification is a system call.
        if room_wanted && !into.is_empty() {
            self.room.notify_all();
        }
        (events, held)
    }

    /// Blocks the poll thread while `limit` messages wait for the driver,
    /// until it takes them, a stop, or `at_most` passed; false if they still wait.
    pub(crate) fn wait_for_room(&self, limit: usize, at_most: Duration) -> bool {
        let mut state = self.lock();
        state.room_wanted = true;
        let (mut state, _) = self
            .room
            .wait_timeout_while(state, at_most, |state| state.messages.len() >= limit && !self.stopped())
            .unwrap_or_else(PoisonError::into_inner);
        state.room_wanted = false;
        state.messages.len() < limit
    }

    /// The cluster was reached (perhaps not just now).
    pub(crate) fn mark_connected(&self) {
        self.lock().mark_connected(&self.who);
    }

    /// A broker answered just now: the cluster is reachable.
    pub(crate) fn mark_reachable(&self) {
        self.lock().mark_reachable(&self.who);
    }
}

/// What librdkafka holds for one consumer and hands to its callbacks (see
/// `callbacks`): the shared state, and the facts the callbacks, jobs and poll
/// thread need to do their work and to name things in errors.
pub struct WeirContext {
    pub(crate) shared: Arc<Shared>,
    pub(crate) reset: OffsetReset,
    pub(crate) timeout: Duration,
    /// How long every broker may stay down once reached (see `reach`).
    pub(crate) unreachable: Option<Duration>,
    /// A topic of the consumer, asked about to see whether the cluster is back.
    pub(crate) probe_topic: Option<String>,
}

impl WeirContext {
    /// The bootstrap servers.
    pub(crate) fn servers(&self) -> &str {
        &self.shared.who.servers
    }

    /// The consumer's `group.id`, for errors that name it.
    pub(crate) fn group(&self) -> &str {
        &self.shared.who.group
    }

    /// The event that ends the consumer with `err`, which is logged here:
    /// the application may never take it (a consumer dropped meanwhile).
    pub(crate) fn fatal(&self, err: BackendError) -> Event {
        let who = &self.shared.who;
        tracing::error!(
            servers = %who.servers,
            group = %who.group,
            consumer = who.consumer,
            error = %err,
            "kafka consumer failed"
        );
        Event::Fatal(err)
    }
}
