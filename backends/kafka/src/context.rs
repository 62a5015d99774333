//! State shared between a consumer's driver, librdkafka's callbacks and the
//! blocking jobs: events recorded for the next `poll_input`, and the waker.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError as RdError;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::ClientContext;
use weir_core::{BackendError, BackendErrorKind, CommitId, Epoch, Message};

use crate::error::BACKEND;

/// A partition as librdkafka names it.
pub(crate) type Partition = (String, i32);

/// Per partition, the newest commit sent and its outcome.
pub(crate) type SentCommits = std::collections::BTreeMap<Partition, (CommitId, Result<(), BackendError>)>;

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
    pub(crate) unrecorded: std::collections::BTreeMap<Partition, i64>,
    /// Since when, and with which last word from librdkafka, every broker
    /// is down after the cluster was reached (see `reach`).
    pub(crate) down: Option<(std::time::Instant, String)>,
    /// The consumer failed for good (an unreachable cluster): nothing more to report.
    pub(crate) gave_up: bool,
    /// librdkafka's last reason a connection failed (refused, a TLS
    /// handshake, an authentication), told with "all brokers down", which
    /// says only how many.
    pub(crate) why: Option<String>,
    /// Whether the driver wants fetching paused, until the poll thread applies it.
    pub(crate) pause_wanted: Option<bool>,
    /// How many times the driver took messages out of librdkafka itself (see
    /// `Shared::direct`): the poll thread leaves the queue to a driver that does.
    pub(crate) direct_takes: u64,
    /// Whether the driver's last take found librdkafka's queue empty.
    pub(crate) direct_drained: bool,
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
    pub(crate) fn is_stale(&mut self, options: &crate::options::KafkaOptions, message: &Message) -> bool {
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
    pub(crate) fn mark_connected(&mut self) {
        self.connected = true;
    }

    /// A broker answered just now: the cluster is reachable.
    pub(crate) fn mark_reachable(&mut self) {
        self.connected = true;
        self.down = None;
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

/// The consumer's shared state.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Whether the driver takes messages out of librdkafka itself, on its own
    /// thread, while it consumes (see `consumer::take_direct`); the poll
    /// thread then only wakes it, and takes them only for a driver that
    /// stopped taking. Only for consumers whose polls run no blocking
    /// callback: without a group, no rebalance runs inside a poll.
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
    pub(crate) positioning: Mutex<()>,
    /// Held by the poll thread while it polls librdkafka and records what it
    /// got; a positioning applies holding it, so no message taken out of
    /// librdkafka before the positioning is recorded after it.
    pub(crate) polling: Mutex<()>,
    /// A positioning waits for `polling`: the poll thread lets it in first.
    pub(crate) positioning_waits: AtomicBool,
    /// Counts the queue events librdkafka's callbacks served (see `served`).
    served: AtomicU64,
    /// Held by a commit job while it commits: one commit at a time, in the
    /// order they reach the broker. Per partition, the newest commit sent and
    /// its outcome (see `jobs::commit`).
    pub(crate) commits: Mutex<SentCommits>,
}

impl Shared {
    /// The state of a new consumer; `direct`: see [`Shared::direct`].
    pub(crate) fn new(direct: bool) -> Self {
        Self { direct, ..Self::default() }
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
        let polling = self.polling.lock().unwrap_or_else(PoisonError::into_inner);
        self.positioning_waits.store(false, Ordering::Release);
        let result = f();
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

    /// Blocks the poll thread until librdkafka's queue may hold something, a
    /// stop, or `at_most` passed; then the queue counts as drained again.
    pub(crate) fn wait_for_queue(&self, at_most: std::time::Duration) {
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

    fn count_served(&self) {
        self.served.fetch_add(1, Ordering::AcqRel);
    }

    /// The turn to poll, for the driver: `None` while anyone else has it or a
    /// positioning waits for it, as the driver must not block.
    pub(crate) fn try_poll_turn(&self) -> Option<MutexGuard<'_, ()>> {
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
    pub(crate) fn poll_turn(&self) -> MutexGuard<'_, ()> {
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
    pub(crate) fn wait_for_room(&self, limit: usize, at_most: std::time::Duration) -> bool {
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
        self.lock().mark_connected();
    }

    /// A broker answered just now: the cluster is reachable.
    pub(crate) fn mark_reachable(&self) {
        self.lock().mark_reachable();
    }
}

/// librdkafka's callbacks for one consumer: they only record what happened.
pub struct WeirContext {
    pub(crate) shared: std::sync::Arc<Shared>,
    pub(crate) servers: String,
    /// The consumer's `group.id`, for errors that name it.
    pub(crate) group: String,
    pub(crate) reset: crate::options::OffsetReset,
    pub(crate) timeout: std::time::Duration,
    /// How long every broker may stay down once reached (see `reach`).
    pub(crate) unreachable: Option<std::time::Duration>,
    /// A topic of the consumer, asked about to see whether the cluster is back.
    pub(crate) probe_topic: Option<String>,
}

/// Group errors that retrying cannot cure: the broker refuses this member
/// (its settings, its rights, the group's other members). librdkafka retries
/// the join forever and reports each refusal only as an error event, so
/// without this a refused consumer's `next` would wait forever.
const REFUSED_JOIN: [RDKafkaErrorCode; 5] = [
    RDKafkaErrorCode::InvalidSessionTimeout,
    RDKafkaErrorCode::InconsistentGroupProtocol,
    RDKafkaErrorCode::InvalidGroupId,
    RDKafkaErrorCode::GroupAuthorizationFailed,
    RDKafkaErrorCode::GroupMaxSizeReached,
];

impl ClientContext for WeirContext {
    /// Log lines arrive as queue events: counted (see `Shared::served`), then
    /// handed to the `log` crate as rdkafka does by default.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.shared.count_served();
        rdkafka::client::DefaultClientContext.log(level, fac, log_message);
    }

    fn error(&self, error: RdError, reason: &str) {
        let Some(code) = error.rdkafka_error_code() else { return };
        let failure = match code {
            RDKafkaErrorCode::Fatal => BackendError::new(
                BACKEND,
                BackendErrorKind::Broker,
                format!("fatal error: {error}: {reason}"),
            ),
            // A failed TLS handshake comes as either of the first two (seen:
            // "certificate verify failed" as a transport failure, 2 runs in 8).
            RDKafkaErrorCode::SSL
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Authentication => {
                self.shared.lock().why = Some(reason.to_owned());
                return;
            }
            RDKafkaErrorCode::AllBrokersDown => {
                let mut state = self.shared.lock();
                if state.connected {
                    // Reached before: librdkafka reconnects; `reach` decides when to give up.
                    let since = state.down.take().map_or_else(std::time::Instant::now, |(since, _)| since);
                    state.down = Some((since, reason.to_owned()));
                    return;
                }
                let why = state.why.take().map(|why| format!("; {why}")).unwrap_or_default();
                drop(state);
                let message = format!("cannot reach any broker of {}: {reason}{why}", self.servers);
                BackendError::new(BACKEND, BackendErrorKind::Connect, message)
            }
            code if REFUSED_JOIN.contains(&code) => {
                let message = format!("the broker refused consumer group {}: {reason}", self.group);
                BackendError::new(BACKEND, BackendErrorKind::Broker, message)
            }
            _ => return,
        };
        self.shared.push(Event::Fatal(failure));
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect()
}

impl ConsumerContext for WeirContext {
    /// Only counted (see `Shared::served`): commits report through their jobs.
    fn commit_callback(&self, _result: rdkafka::error::KafkaResult<()>, _offsets: &TopicPartitionList) {
        self.shared.count_served();
    }

    /// Runs on the consumer's own thread (see `poller`), so it may block: an
    /// assignment is applied with explicit offsets — the committed ones, else
    /// the reset policy's, looked up now — so "latest" means latest when the
    /// group handed the partition over, whether or not the application is
    /// reading at that moment.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let changed = partitions(tpl);
        let event = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            self.shared.mark_reachable();
            match self.apply(consumer, &changed, cooperative) {
                Ok(()) => Event::Ready { partitions: changed },
                Err(err) => Event::Fatal(err),
            }
        } else {
            self.record_starts(consumer, &changed);
            // Revocation, or a rebalance error: give the partitions up.
            let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
            match result {
                Ok(()) => Event::Revoked { partitions: cooperative.then_some(changed) },
                Err(err) => Event::Fatal(crate::error::failed("giving up partitions", &err)),
            }
        };
        self.shared.push(event);
        self.shared.count_served();
    }
}

impl WeirContext {
    /// Assigns `partitions` from their resolved starts.
    fn apply(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[Partition],
        cooperative: bool,
    ) -> Result<(), BackendError> {
        let starts = crate::jobs::starts(consumer, partitions, self.reset, true, self.timeout)?;
        let mut offsets = Vec::with_capacity(starts.len());
        {
            let mut state = self.shared.lock();
            for (partition, at, from_reset) in starts {
                if from_reset {
                    state.unrecorded.insert(partition.clone(), at);
                }
                offsets.push((partition, at));
            }
        }
        let tpl = crate::jobs::tpl_of(&offsets)?;
        // A partition paused by an earlier hold stays paused through unassign
        // and assign (librdkafka keeps the application's pause flag), and
        // would never be fetched again: clear it first. This runs inside the
        // poll thread's poll, between two messages, like every pause.
        let _ = consumer.resume(&tpl);
        let result = if cooperative { consumer.incremental_assign(&tpl) } else { consumer.assign(&tpl) };
        result.map_err(|err| crate::error::failed("assigning partitions", &err))
    }

    /// A partition handed over before this member committed anything would
    /// make its next owner start at the *new* latest offset, skipping what
    /// was produced in between. Recording where this member started (the
    /// reset policy's offset, before any message it delivered) keeps the
    /// group's starting point; it marks nothing as processed.
    fn record_starts(&self, consumer: &BaseConsumer<Self>, revoked: &[Partition]) {
        let starts: Vec<(Partition, i64)> = {
            let mut state = self.shared.lock();
            revoked.iter().filter_map(|p| state.unrecorded.remove(p).map(|at| (p.clone(), at))).collect()
        };
        // A commit to a cluster that does not answer would be retried for as
        // long as it stays away, on this (the poll) thread: skip it then.
        if starts.is_empty() || crate::jobs::unreachable(consumer).is_some() {
            return;
        }
        if let Ok(record) = crate::jobs::tpl_of(&starts) {
            // Best effort: if the group refuses it, the next owner applies the reset policy.
            let _ = consumer.commit(&record, rdkafka::consumer::CommitMode::Sync);
        }
    }
}
