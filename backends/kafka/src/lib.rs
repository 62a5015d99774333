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
//!
//! # Where things are
//!
//! One job per file; `use crate::` runs from the top of this list to the
//! bottom, never back up (the map, with the threads, is in
//! `docs/kafka-internals.md`):
//!
//! | file | holds | uses |
//! |---|---|---|
//! | `lib.rs` | [`KafkaStreamer`]: URL, group names, making consumers and producers | all below |
//! | `admin.rs` | making a topic ([`KafkaStreamer::create_stream`]) | `error`, `options` |
//! | `watermarks.rs` | listing streams and seqs at a time, on a client of their own | `error`, `options` |
//! | `consumer.rs` | [`KafkaConsumer`]: the core's commands → jobs, recorded events → core inputs | `direct`, `jobs`, `messages`, `options`, `shared` |
//! | `poller.rs` | the poll thread: drains librdkafka's queue, holds fetching, closes | `direct`, `messages`, `reach`, `options`, `shared` |
//! | `reach.rs` | whether a cluster once reached is still there: a verdict for the poll thread | `error`, `shared` |
//! | `direct.rs` | the direct-take path: the driver polls librdkafka itself (no group) | `messages`, `options`, `shared` |
//! | `callbacks.rs` | librdkafka's callbacks: errors, log lines, commits, rebalances (recorded) | `jobs`, `error`, `shared` |
//! | `jobs.rs` | what moves partitions or offsets: join, first assignment, rewind/seek, commit, applying a rebalance | `lookups`, `error`, `options`, `shared` |
//! | `lookups.rs` | blocking questions: partitions, watermarks, starts, offsets for a time, is the cluster there | `error`, `options`, `shared` |
//! | `messages.rs` | taking messages out of librdkafka: conversion, shared payload buffers, stale drops | `batches`, `options`, `shared` |
//! | `batches.rs` | librdkafka's batch consume on split partition queues (the direct path; the only unsafe code) | `shared` |
//! | `shared.rs` | the state shared with librdkafka's threads: events, messages, locks, [`WeirContext`] | `options` |
//! | `producer.rs` | [`KafkaProducer`]: round-robin partitioner, delivery reports, flush | `error`, `options` |
//! | `config.rs` | every librdkafka setting weir makes (client, consumer, producer defaults) | `options` |
//! | `options.rs` | [`KafkaOptions`], [`OffsetReset`], from a URL's query | `error` |
//! | `host.rs` | reading the host id's sources | — |
//! | `error.rs` | [`KafkaConfigError`], rdkafka's errors → weir's | — |

mod admin;
mod batches;
mod callbacks;
mod config;
mod consumer;
mod direct;
mod error;
mod host;
mod jobs;
mod lookups;
mod messages;
mod options;
mod poller;
mod producer;
mod reach;
mod shared;
mod watermarks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use consumer::KafkaConsumer;
pub use error::KafkaConfigError;
pub use options::{KafkaOptions, OffsetReset, DEFAULT_CONNECT_TIMEOUT, DEFAULT_UNREACHABLE_TIMEOUT};
pub use producer::{KafkaProducer, ProducerState};
use rdkafka::consumer::BaseConsumer;
use rdkafka::ClientConfig;
pub use shared::WeirContext;
use weir_core::backend::{Lookup, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::{
    BackendError, BackendErrorKind, ConsumerCore, ConsumerMode, ProducerOptions, Scheme, SeqNo, StreamInfo,
    StreamKey, StreamShard, StreamerError, StreamerUrl, Timestamp, UrlError,
};

use crate::error::BACKEND;
use crate::messages::Seen;
use crate::shared::{Shared, Who};

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

    /// The librdkafka configuration this streamer gives a consumer in group
    /// `group` (the name as is: no namespace is added), for a plain rdkafka
    /// consumer set up exactly like weir's, as the benches' baseline is.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        self.options.consumer_config(&self.servers, group)
    }

    /// Creates the topic of `key` with `shards` partitions (replication:
    /// the broker's default). A topic that exists already is left as it is.
    ///
    /// The future is runtime-free: librdkafka's admin thread completes it.
    pub async fn create_stream(&self, key: &StreamKey, shards: u32) -> Result<(), StreamerError> {
        admin::create_stream(&self.servers, &self.options, key, shards).await
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
        let group = self.group_id(core)?;
        let config = self.options.consumer_config(&self.servers, &group);
        let topics: Vec<String> = core.streams().iter().map(|key| self.options.topic(key.name())).collect();
        // Without a group no rebalance callback (which blocks) runs inside a
        // poll, so the driver may poll on its own thread (see `Shared::direct`).
        static CONSUMERS: AtomicU64 = AtomicU64::new(0);
        let who = Who {
            servers: self.servers.clone(),
            group,
            consumer: CONSUMERS.fetch_add(1, Ordering::Relaxed),
            created: Instant::now(),
        };
        tracing::info!(
            servers = %who.servers,
            group = %who.group,
            consumer = who.consumer,
            ?mode,
            topics = %topics.join(","),
            "kafka consumer connecting"
        );
        let shared = Arc::new(Shared::new(who, mode == ConsumerMode::RealTime));
        let context = WeirContext {
            shared: shared.clone(),
            reset: self.options.auto_offset_reset.unwrap_or(OffsetReset::Latest),
            timeout: self.options.connect_timeout,
            unreachable: self.options.unreachable_timeout,
            probe_topic: topics.first().cloned(),
        };
        let mut rd: BaseConsumer<WeirContext> = config
            .create_with_context(context)
            .map_err(|err| StreamerError::from(KafkaConfigError::Config(err.to_string())))?;
        let queue = shared.clone();
        rd.set_nonempty_callback(move || queue.queue_filled());
        let rd = Arc::new(rd);
        let seen = Seen::new(core.streams());
        let spawned = poller::spawn(rd.clone(), self.options.clone(), core.options().buffer(), seen.clone());
        spawned.map_err(|err| {
            BackendError::new(BACKEND, BackendErrorKind::Io, format!("starting the consumer's thread: {err}"))
        })?;
        Ok(KafkaConsumer::new(rd, self.options.clone(), mode, topics, seen))
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<KafkaProducer, StreamerError> {
        let config = self.options.producer_config(&self.servers);
        Ok(KafkaProducer::new(&config, self.options.clone())?)
    }

    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        watermarks::list(&self.servers, &self.options, keys)
    }

    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        watermarks::seqs_at(&self.servers, &self.options, shards, at)
    }
}
