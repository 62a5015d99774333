//! weir-sim: an in-memory broker on virtual time, for deterministic tests of
//! stream processors.
//!
//! Streams have shards, consumers form groups with Kafka-like range
//! assignment (rebalanced on join, leave and session-timeout death; members
//! beyond the shard count are hot standby), groups commit offsets, and message
//! timestamps come from a virtual clock that moves only when told
//! ([`SimBroker::advance`], or a [`Simulation`] jumping to the next deadline).
//! Faults — delivery delays, members dying, broker restarts, redelivery after
//! a rebalance — are drawn from a seeded RNG; all rates are zero by default.
//!
//! Address it as `sim://NAME?shards=2&seed=7&kill=0.01` (see
//! [`SimConfig::from_url`]): every URL with the same name in one process
//! reaches the same broker.
//!
//! ```
//! use weir_sim::{SimBroker, SimConfig};
//! use weir_core::{Payload, StreamKey};
//!
//! let broker = SimBroker::new(SimConfig { shards: 2, ..SimConfig::default() });
//! let orders = StreamKey::new("orders")?;
//! let first = broker.with(|b| b.produce(&orders, Payload::new("a"), None));
//! let second = broker.with(|b| b.produce(&orders, Payload::new("b"), None));
//! assert_eq!((first.shard.0, second.shard.0), (0, 1)); // round-robin
//! # Ok::<(), weir_core::StreamKeyError>(())
//! ```

mod broker;
mod config;
mod consumer;
mod producer;
mod rng;
mod simulation;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub use broker::{Broker, CommitRejected, MemberId, SimEvent, View};
pub use config::{Faults, OffsetReset, SimConfig, DEFAULT_SESSION_TIMEOUT, DEFAULT_START_MILLIS};
pub use consumer::{Segment, SegmentStart, SimConsumer, RESUMABLE_GROUP};
pub use producer::SimProducer;
pub use rng::Rng;
pub use simulation::{Simulation, SimulationError, Step, TaskId};
use weir_core::backend::{Lookup, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::{
    ConsumerCore, ProducerOptions, SeqNo, StreamInfo, StreamKey, StreamShard, StreamerError, StreamerUrl,
    Target, Timestamp, UrlError,
};

pub(crate) struct Shared {
    pub(crate) broker: Broker,
    /// Tasks waiting for the broker, each with the instant it wants to be woken at, if any.
    waiting: Vec<(Waker, Option<Instant>)>,
}

impl Shared {
    /// Registers `waker` until the next change of the broker, or until `until`.
    pub(crate) fn wait(&mut self, waker: &Waker, until: Option<Instant>) {
        match self.waiting.iter_mut().find(|(w, _)| w.will_wake(waker)) {
            Some((_, due)) => {
                *due = match (*due, until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            None => self.waiting.push((waker.clone(), until)),
        }
    }
}

/// A handle to a simulated broker; clones share it.
#[derive(Clone)]
pub struct SimBroker {
    shared: Arc<Mutex<Shared>>,
}

impl SimBroker {
    /// A new, unnamed broker.
    pub fn new(config: SimConfig) -> Self {
        // The one clock read: the origin that virtual instants count from.
        let broker = Broker::with_config(Instant::now(), &config);
        Self { shared: Arc::new(Mutex::new(Shared { broker, waiting: Vec::new() })) }
    }

    /// The process-wide broker called `name`, created with `config` on first use.
    pub fn named(name: &str, config: SimConfig) -> Self {
        static REGISTRY: OnceLock<Mutex<BTreeMap<String, SimBroker>>> = OnceLock::new();
        let registry = REGISTRY.get_or_init(Default::default);
        let mut registry = registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry.entry(name.to_owned()).or_insert_with(|| SimBroker::new(config)).clone()
    }

    /// The broker a `sim://NAME?…` URL names.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        let config = SimConfig::from_url(url)?;
        let name = url.hosts().first().map_or_else(|| "default".to_owned(), |host| host.host.to_string());
        Ok(Self::named(&name, config))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the broker state, then wakes every waiting consumer.
    pub fn with<T>(&self, f: impl FnOnce(&mut Broker) -> T) -> T {
        let (out, waiting) = {
            let mut shared = self.lock();
            let out = f(&mut shared.broker);
            (out, std::mem::take(&mut shared.waiting))
        };
        waiting.into_iter().for_each(|(waker, _)| waker.wake());
        out
    }

    /// Moves virtual time forward, waking every waiting consumer.
    pub fn advance(&self, by: Duration) {
        self.with(|broker| broker.advance(by));
    }

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.lock().broker.now()
    }

    /// Virtual now as a timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.lock().broker.timestamp()
    }

    /// The next instant anything waits for: the broker's own deadlines
    /// (delayed messages, session expiries) and those of waiting tasks
    /// ([`sleep`](Self::sleep)s, consumers' automatic commits).
    pub fn next_deadline(&self) -> Option<Instant> {
        let shared = self.lock();
        let tasks = shared.waiting.iter().filter_map(|(_, due)| *due);
        tasks.chain(shared.broker.next_deadline()).min()
    }

    /// A future that completes once virtual time reaches now + `by`. Time
    /// does not move by itself: a [`Simulation`] (or the test) advances it.
    pub fn sleep(&self, by: Duration) -> Sleep {
        Sleep { broker: self.clone(), until: self.now() + by }
    }
}

/// The future of [`SimBroker::sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    broker: SimBroker,
    until: Instant,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut shared = self.broker.lock();
        if shared.broker.now() >= self.until {
            return Poll::Ready(());
        }
        shared.wait(cx.waker(), Some(self.until));
        Poll::Pending
    }
}

impl Streamer for SimBroker {
    type Consumer = SimConsumer;
    type Producer = SimProducer;

    fn capabilities(&self) -> Capabilities {
        Capabilities::full("sim")
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<SimConsumer, StreamerError> {
        Ok(SimConsumer::new(self.clone(), core)?)
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<SimProducer, StreamerError> {
        Ok(SimProducer { broker: self.clone() })
    }

    fn virtual_now(&self) -> Option<Instant> {
        Some(self.now())
    }

    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        let listed = self.with(|broker| {
            let keys = if keys.is_empty() { broker.stream_keys().cloned().collect() } else { keys.to_vec() };
            keys.iter().map(|key| broker.describe(key)).collect()
        });
        Lookup::ready(Ok(listed))
    }

    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        let broker = &self.lock().broker;
        let found = shards
            .iter()
            .map(|(key, shard)| ((key.clone(), *shard), SeqNo(broker.resolve(key, *shard, Target::Time(at)))))
            .collect();
        Lookup::ready(Ok(found))
    }
}
