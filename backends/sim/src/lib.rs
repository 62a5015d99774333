//! weir-sim: an in-memory broker on virtual time, for deterministic tests of
//! stream processors.
//!
//! Streams have shards, consumers form groups with Kafka-like range
//! assignment, groups commit offsets, and message timestamps come from a
//! virtual clock that moves only when told ([`SimBroker::advance`]).
//! Address it as `sim://NAME/streams?shards=N`: every URL with the same
//! name in one process reaches the same broker.

mod broker;
mod consumer;
mod producer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

pub use broker::{Broker, MemberId};
pub use consumer::{SimConsumer, RESUMABLE_GROUP};
pub use producer::SimProducer;
use weir_core::backend::Streamer;
use weir_core::consumer::Capabilities;
use weir_core::{ConsumerCore, ProducerOptions, StreamerError, StreamerUrl, Timestamp, UrlError};

/// The wall time virtual time starts at, unless configured: 2026-01-01T00:00:00 UTC.
pub const DEFAULT_START_MILLIS: i64 = 1_767_225_600_000;

/// How a broker is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Shards of a stream created implicitly (by its first producer or consumer).
    pub shards: u32,
    /// The timestamp virtual time starts at.
    pub start: Timestamp,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            shards: 1,
            start: Timestamp::from_unix_millis(DEFAULT_START_MILLIS).unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }
}

impl SimConfig {
    /// Reads `shards` and `start` from a `sim://` URL's parameters.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        url.deny_unknown_params(&["shards", "start"])?;
        let mut config = Self::default();
        if let Some(shards) = url.param::<u32>("shards")? {
            config.shards = shards.max(1);
        }
        if let Some(start) = url.param::<Timestamp>("start")? {
            config.start = start;
        }
        Ok(config)
    }
}

pub(crate) struct Shared {
    pub(crate) broker: Broker,
    waiting: Vec<Waker>,
}

impl Shared {
    pub(crate) fn wait(&mut self, waker: &Waker) {
        if !self.waiting.iter().any(|w| w.will_wake(waker)) {
            self.waiting.push(waker.clone());
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
        let broker = Broker::new(Instant::now(), config.start, config.shards);
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
        waiting.into_iter().for_each(Waker::wake);
        out
    }

    /// Moves virtual time forward, waking consumers whose timers are due.
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
}
