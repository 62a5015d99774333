//! State shared between a consumer's driver, librdkafka's callbacks and the
//! blocking jobs: events recorded for the next `poll_input`, and the waker.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
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

/// Something that happened off the driver's path, fed to the core on the next poll.
#[derive(Debug)]
pub(crate) enum Event {
    /// The group assigned these partitions; they are not fetched until resolved.
    Assigned { generation: u64, partitions: Vec<Partition> },
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
    /// Whether the cluster was ever reached: before, "all brokers down" is fatal.
    pub(crate) connected: bool,
    /// Bumped on every rebalance, so a late resolution of an old one is dropped.
    pub(crate) generation: u64,
    /// The newest positioning applied, so an older one finishing late does not undo it.
    pub(crate) applied: Option<Epoch>,
    /// Partitions whose start came from the reset policy (no commit yet), with that start.
    pub(crate) unrecorded: std::collections::BTreeMap<Partition, i64>,
}

impl State {
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
    /// Tells the poll thread to stop.
    pub(crate) stop: AtomicBool,
    /// Held by the poll thread from taking a message out of librdkafka until
    /// it is recorded, and by a positioning around its assign or seek: so no
    /// message taken under an old position is recorded after the new one.
    gate: Mutex<()>,
    /// Positionings waiting for the gate; the poll thread lets them pass first.
    waiting: AtomicUsize,
}

impl Shared {
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

    /// Runs `f` while no message can be in transit from librdkafka to `messages`.
    pub(crate) fn barrier<T>(&self, f: impl FnOnce() -> T) -> T {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let out = f();
        drop(gate);
        out
    }

    /// The poll thread's side of [`barrier`](Self::barrier).
    pub(crate) fn gate(&self) -> MutexGuard<'_, ()> {
        while self.waiting.load(Ordering::Acquire) > 0 {
            std::thread::yield_now();
        }
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut state = self.lock();
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
    }

    pub(crate) fn take_events(&self) -> VecDeque<Event> {
        std::mem::take(&mut self.lock().events)
    }

    /// The messages taken so far, and whether the poll thread held fetching.
    pub(crate) fn take_messages(&self) -> (Vec<Message>, bool) {
        let mut state = self.lock();
        (std::mem::take(&mut state.messages), std::mem::take(&mut state.held))
    }

    pub(crate) fn mark_connected(&self) {
        self.lock().connected = true;
    }
}

/// librdkafka's callbacks for one consumer: they only record what happened.
pub struct WeirContext {
    pub(crate) shared: std::sync::Arc<Shared>,
    pub(crate) servers: String,
}

impl ClientContext for WeirContext {
    fn error(&self, error: RdError, reason: &str) {
        let code = error.rdkafka_error_code();
        let fatal = code == Some(RDKafkaErrorCode::Fatal);
        let unreachable = code == Some(RDKafkaErrorCode::AllBrokersDown) && !self.shared.lock().connected;
        if fatal || unreachable {
            let kind = if fatal { BackendErrorKind::Broker } else { BackendErrorKind::Connect };
            let message = if unreachable {
                format!("cannot reach any broker of {}: {reason}", self.servers)
            } else {
                format!("fatal error: {error}: {reason}")
            };
            self.shared.push(Event::Fatal(BackendError::new(BACKEND, kind, message)));
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect()
}

impl ConsumerContext for WeirContext {
    /// Assignments are not applied here: a blocking job first resolves where
    /// each partition starts (committed offset, else the reset policy), then
    /// assigns with explicit offsets, so "latest" means latest when the
    /// consumer reports ready, not whenever librdkafka gets to it.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let revoked = partitions(tpl);
        let assign = err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
        let starts: Vec<(Partition, i64)> = {
            let mut state = self.shared.lock();
            state.generation += 1;
            if assign {
                Vec::new()
            } else {
                revoked.iter().filter_map(|p| state.unrecorded.remove(p).map(|at| (p.clone(), at))).collect()
            }
        };
        if !starts.is_empty() {
            // A partition handed over before this member committed anything
            // would make its next owner start at the *new* latest offset,
            // skipping what was produced in between. Recording where this
            // member started (the reset policy's offset, before any message it
            // delivered) keeps the group's starting point; it marks nothing as
            // processed. This runs on the consumer's own thread, so it may block.
            let mut record = TopicPartitionList::new();
            for ((topic, partition), at) in &starts {
                let _ = record.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*at));
            }
            let _ = consumer.commit(&record, rdkafka::consumer::CommitMode::Sync);
        }
        let mut state = self.shared.lock();
        let waker = if assign {
            state.connected = true;
            let generation = state.generation;
            state.push(Event::Assigned { generation, partitions: revoked })
        } else {
            // Revocation, or a rebalance error: give the partitions up now,
            // under the lock, so a resolution in flight cannot re-assign them.
            let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
            if let Err(err) = result {
                let message = format!("giving up partitions failed: {err}");
                state.push(Event::Fatal(BackendError::new(BACKEND, BackendErrorKind::Broker, message)));
            }
            state.push(Event::Revoked { partitions: cooperative.then_some(revoked) })
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
