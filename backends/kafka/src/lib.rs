//! weir-kafka: weir's Kafka backend on rdkafka.
//!
//! A translator: the core's commands become rdkafka calls (blocking ones run
//! as jobs off the executor), and what librdkafka reports — messages,
//! rebalances, commit and seek outcomes, fatal errors — becomes core inputs.
//! Each consumer has one thread blocked on librdkafka's queue (so group
//! rebalances progress while the application is not reading); it wakes the
//! driver when something arrives, so any runtime (or none) can drive it. A
//! consumer without a group takes its messages out of librdkafka on the
//! driver's own thread while the application consumes (no blocking callback
//! runs inside its polls); the thread takes them only when it stops.
//!
//! ```no_run
//! use weir_adapters::{block_on, NoRuntime, Streamer};
//! use weir_core::{ConsumerMode, ConsumerOptions, StreamKey};
//! use weir_kafka::KafkaStreamer;
//!
//! let kafka = KafkaStreamer::from_url(&"kafka://127.0.0.1:9092?session.timeout.ms=6000".parse()?)?;
//! let streamer = Streamer::<_, NoRuntime>::new(kafka);
//! let orders = StreamKey::new("orders")?;
//! let mut consumer = streamer.create_consumer(&[orders], ConsumerOptions::new(ConsumerMode::RealTime))?;
//! let message = consumer.next_blocking()?;
//! println!("{}", message.payload.as_str()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modes: RealTime consumers own every partition of their topics, start at the
//! latest offset and never commit (their group id is unique); Resumable ones
//! join the group named by the host id (see [`weir_core::host_id`]) unless one
//! is given; LoadBalanced ones share the group given. librdkafka never commits
//! or stores offsets by itself: the core decides what to commit and when.

mod admin;
mod consumer;
mod context;
mod error;
mod host;
mod jobs;
mod options;
mod poller;
mod producer;
mod reach;
mod watermarks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use consumer::KafkaConsumer;
pub use context::WeirContext;
pub use error::KafkaError;
pub use options::{KafkaOptions, OffsetReset, DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNREACHABLE_TIMEOUT};
pub use producer::{KafkaProducer, ProducerState};
use rdkafka::consumer::BaseConsumer;
use weir_core::backend::{Lookup, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::{
    BackendError, BackendErrorKind, ConsumerCore, ConsumerMode, ProducerOptions, Scheme, SeqNo, StreamInfo,
    StreamKey, StreamShard, StreamerError, StreamerUrl, Timestamp, UrlError,
};

use crate::context::Shared;
use crate::error::BACKEND;

/// A Kafka cluster: makes consumers and producers.
#[derive(Clone, Debug)]
pub struct KafkaStreamer {
    servers: String,
    options: Arc<KafkaOptions>,
}

impl KafkaStreamer {
    /// A streamer for `servers` (`host:port,host:port`) with `options`.
    pub fn new(servers: impl Into<String>, options: KafkaOptions) -> Self {
        Self { servers: servers.into(), options: Arc::new(options) }
    }

    /// The streamer a `kafka://h1:9092,h2:9092?setting=value` URL names.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        if url.scheme() != Scheme::Kafka {
            return Err(UrlError::UnknownScheme { scheme: url.scheme().to_string() });
        }
        let servers: Vec<String> =
            url.hosts().iter().map(|h| format!("{}:{}", h.host, h.port.unwrap_or(9092))).collect();
        Ok(Self::new(servers.join(","), KafkaOptions::from_url(url)?))
    }

    /// The bootstrap servers.
    pub fn servers(&self) -> &str {
        &self.servers
    }

    /// The options.
    pub fn options(&self) -> &KafkaOptions {
        &self.options
    }

    /// The group a consumer of `core` joins.
    fn group_id(&self, core: &ConsumerCore) -> Result<String, StreamerError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let options = core.options();
        let name = match (options.mode(), options.group()) {
            (ConsumerMode::RealTime, _) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                format!(
                    "weir-realtime-{}-{nanos}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                )
            }
            (_, Some(group)) => group.name().to_owned(),
            (_, None) => {
                let id = host::host_id().ok_or_else(|| {
                    BackendError::new(
                        BACKEND,
                        BackendErrorKind::Broker,
                        "no host id for the Resumable group: set HOST_ID or give a group",
                    )
                })?;
                format!("weir-resumable-{}", id.as_str())
            }
        };
        Ok(format!("{}{name}", self.options.namespace))
    }
}

impl Streamer for KafkaStreamer {
    type Consumer = KafkaConsumer;
    type Producer = KafkaProducer;

    fn capabilities(&self) -> Capabilities {
        Capabilities::full(BACKEND)
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<KafkaConsumer, StreamerError> {
        let mode = core.options().mode();
        let mut config = self.options.client_config(&self.servers);
        if !self.options.raw().contains_key("allow.auto.create.topics") {
            // Consuming a topic makes it, like producing does, as on the simulator.
            config.set("allow.auto.create.topics", "true");
        }
        if !self.options.raw().contains_key("fetch.queue.backoff.ms") {
            // librdkafka stops fetching for this long (default 1 s) once its
            // queue passed queued.min.messages or queued.max.messages.kbytes;
            // the poll thread empties that queue within milliseconds, so a
            // second's wait only idles the consumer while its lag grows (a
            // broker that ignores the fetch size limits then answers with a
            // response too large to take, for ever: see benches/memory.rs).
            config.set("fetch.queue.backoff.ms", "10");
        }
        if let Some(reset) = self.options.auto_offset_reset {
            config.set("auto.offset.reset", reset.to_string());
        }
        if let Some(timeout) = self.options.session_timeout {
            config.set("session.timeout.ms", timeout.as_millis().to_string());
        }
        let group = self.group_id(core)?;
        config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let topics: Vec<String> = core.streams().iter().map(|key| self.options.topic(key.name())).collect();
        // Without a group no rebalance callback (which blocks) runs inside a
        // poll, so the driver may poll on its own thread (see `Shared::direct`).
        let shared = Arc::new(Shared::new(mode == ConsumerMode::RealTime));
        let context = WeirContext {
            shared: shared.clone(),
            servers: self.servers.clone(),
            group,
            reset: self.options.auto_offset_reset.unwrap_or(OffsetReset::Latest),
            timeout: self.options.connect_timeout,
            unreachable: self.options.unreachable_timeout,
            probe_topic: topics.first().cloned(),
        };
        let mut rd: BaseConsumer<WeirContext> = config
            .create_with_context(context)
            .map_err(|err| StreamerError::from(KafkaError::Config(err.to_string())))?;
        let queue = shared.clone();
        rd.set_nonempty_callback(move || queue.queue_filled());
        let rd = Arc::new(rd);
        let seen = poller::Seen::new(core.streams());
        let spawned = poller::spawn(rd.clone(), self.options.clone(), core.options().buffer(), seen.clone());
        spawned.map_err(|err| {
            BackendError::new(BACKEND, BackendErrorKind::Io, format!("starting the consumer's thread: {err}"))
        })?;
        Ok(KafkaConsumer::new(rd, self.options.clone(), mode, topics, seen))
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<KafkaProducer, StreamerError> {
        let mut config = self.options.client_config(&self.servers);
        if !self.options.raw().contains_key("sticky.partitioning.linger.ms") {
            // Lets weir's round-robin partitioner see every message.
            config.set("sticky.partitioning.linger.ms", "0");
        }
        if !self.options.raw().contains_key("message.timeout.ms") {
            // A topic-level setting must exist for rdkafka to install the
            // partitioner; this one also bounds how long a flush can wait.
            config.set("message.timeout.ms", "120000");
        }
        Ok(KafkaProducer::new(&config, self.options.clone())?)
    }

    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        watermarks::list(&self.servers, &self.options, keys)
    }

    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        watermarks::seqs_at(&self.servers, &self.options, shards, at)
    }
}
