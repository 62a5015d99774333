//! State shared between a consumer's driver, librdkafka's callbacks and the
//! blocking jobs: events recorded for the next `poll_input`, and the waker.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
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
    /// The newest positioning applied, so an older one finishing late does not undo it.
    pub(crate) applied: Option<Epoch>,
    /// Where each partition restarts after a positioning, until a message at
    /// or after it arrives: a message taken out of librdkafka just before the
    /// positioning and recorded just after it is stale if it is before this.
    pub(crate) restart: std::collections::BTreeMap<Partition, i64>,
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
    /// Serialises the jobs that choose positions (the first assignment,
    /// rewinds, seeks), so an older one cannot apply after a newer one.
    pub(crate) positioning: Mutex<()>,
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

    /// Holds `positioning` while `f` runs.
    pub(crate) fn positioning<T>(&self, f: impl FnOnce() -> T) -> T {
        let _serial = self.positioning.lock().unwrap_or_else(PoisonError::into_inner);
        f()
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
    pub(crate) reset: crate::options::OffsetReset,
    pub(crate) timeout: std::time::Duration,
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
    /// Runs on the consumer's own thread (see `poller`), so it may block: an
    /// assignment is applied with explicit offsets — the committed ones, else
    /// the reset policy's, looked up now — so "latest" means latest when the
    /// group handed the partition over, whether or not the application is
    /// reading at that moment.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let changed = partitions(tpl);
        let event = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            self.shared.mark_connected();
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
        if starts.is_empty() {
            return;
        }
        if let Ok(record) = crate::jobs::tpl_of(&starts) {
            // Best effort: if the group refuses it, the next owner applies the reset policy.
            let _ = consumer.commit(&record, rdkafka::consumer::CommitMode::Sync);
        }
    }
}
