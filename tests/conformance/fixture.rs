//! What the suite needs to know about a backend, and how to run on each runtime.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use weir::core::consumer::Capabilities;
use weir::{Runtime, StreamKey};

/// One backend under test, and what its documentation promises. Every suite
/// case asserts on every backend: where a backend lacks an operation, the
/// case checks the documented refusal instead.
pub trait Fixture {
    /// A streamer private to one test.
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R>;
    /// Makes `key` with `shards` shards before anything uses it (a no-op
    /// where [`Capabilities::shards`] fixes the count).
    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32);
    /// The operations the backend's documentation promises. Written out by
    /// each fixture rather than read from the backend: it is what the suite
    /// expects, and `capabilities_are_as_documented` checks the backend
    /// reports the same.
    fn capabilities(&self) -> Capabilities;
    /// What a consumer made after messages were produced gets.
    fn history(&self) -> History;
    /// How members of one group share the work.
    fn groups(&self) -> Groups;
    /// How the backend numbers messages.
    fn seqs(&self) -> Seqs {
        Seqs::Contiguous
    }
    /// Whether the backend reports its assignment once the consumer is ready
    /// (a real broker needs a moment for that, and the suite waits for it).
    fn announces_assignment(&self) -> bool {
        true
    }
}

/// What happens to messages produced before a consumer exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum History {
    /// They are stored: a RealTime consumer starts after them, and rewind,
    /// seek and commits reach them.
    Stored,
    /// Nothing is stored (a pipe): the first consumer reads every message
    /// that arrives from its creation on, earlier ones included (stdio reads
    /// its input from the moment the first consumer exists, losing none).
    FromFirstConsumer,
}

/// How a group's members split a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Groups {
    /// Each shard goes to one member (the broker's group protocol).
    ByShard,
    /// Each message goes to one member, in turn, in arrival order.
    RoundRobin,
    /// Each message goes to the member that asks first (Redis's XREADGROUP):
    /// every member reads every shard.
    FirstAsked,
}

/// How a backend numbers messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seqs {
    /// Each shard 0, 1, 2, … in the order stored.
    Contiguous,
    /// Increasing, from the store (Redis entry ids): the seq a receipt
    /// reports, with gaps.
    FromStore,
}

/// The simulated broker: a fresh named broker per fixture.
pub struct Sim {
    name: String,
}

impl Sim {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self { name: format!("conformance-{}", NEXT.fetch_add(1, Ordering::Relaxed)) }
    }
}

impl Fixture for Sim {
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R> {
        weir::connect(&format!("sim://{}", self.name)).expect("sim url")
    }

    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32) {
        match streamer.backend() {
            weir::AnyStreamer::Sim(broker) => {
                broker.with(|b| b.create_stream(key, shards));
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("a sim fixture makes sim streamers"),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full("sim")
    }

    fn history(&self) -> History {
        History::Stored
    }

    fn groups(&self) -> Groups {
        Groups::ByShard
    }
}

/// The stdio backend on an OS pipe looped back: what producers write is
/// what consumers read, through the real line codec in both directions.
pub struct Stdio {
    streamer: weir_stdio::StdioStreamer,
}

impl Stdio {
    pub fn new() -> Self {
        let (reader, writer) = std::io::pipe().expect("an OS pipe");
        Self { streamer: weir_stdio::StdioStreamer::with_io(Box::new(reader), Box::new(writer)) }
    }
}

impl Fixture for Stdio {
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R> {
        weir::Streamer::new(weir::AnyStreamer::Stdio(self.streamer.clone()))
    }

    fn create_stream<R: Runtime>(&self, _: &weir::Streamer<R>, _: &StreamKey, _: u32) {}

    fn capabilities(&self) -> Capabilities {
        // docs/stdio.md: no rewind, seek, commits or Resumable; shard 0 only.
        Capabilities { backend: "stdio", rewind: false, seek: false, commit: false, shards: Some(1) }
    }

    fn history(&self) -> History {
        History::FromFirstConsumer
    }

    fn groups(&self) -> Groups {
        Groups::RoundRobin
    }

    fn announces_assignment(&self) -> bool {
        // stdio's single shard needs no announcing: a consumer reads from the moment it exists.
        false
    }
}

/// A `.ss` file of its own per fixture, followed: consumers start at its end
/// and wait for appends, like consumers of a broker. Producers spread a
/// stream over the shards `create_stream` names.
#[cfg(feature = "file")]
pub struct File {
    path: std::path::PathBuf,
    streamer: weir::file::FileStreamer,
}

#[cfg(feature = "file")]
impl File {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!("weir-conformance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let path = dir.join(format!("{}.ss", NEXT.fetch_add(1, Ordering::Relaxed)));
        let url = format!("file://{}?follow=true", path.display());
        let streamer =
            weir::file::FileStreamer::from_url(&url.parse().expect("file url")).expect("file streamer");
        Self { path, streamer }
    }
}

#[cfg(feature = "file")]
impl Drop for File {
    fn drop(&mut self) {
        // The log and its commit sidecars.
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else { return };
        let name = name.to_string_lossy().into_owned();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(feature = "file")]
impl Fixture for File {
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R> {
        weir::Streamer::new(weir::AnyStreamer::File(self.streamer.clone()))
    }

    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32) {
        match streamer.backend() {
            weir::AnyStreamer::File(file) => file.create_stream(key, shards),
            #[allow(unreachable_patterns)]
            _ => unreachable!("a file fixture makes file streamers"),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full("file")
    }

    fn history(&self) -> History {
        History::Stored
    }

    fn groups(&self) -> Groups {
        Groups::RoundRobin
    }
}

/// Runs a test body on one runtime.
pub trait Run {
    fn run<F: Future<Output = ()>>(body: F);
}

pub struct OnTokio;
pub struct OnAsyncStd;
pub struct OnSmol;
pub struct OnNoRuntime;

impl Run for OnTokio {
    fn run<F: Future<Output = ()>>(body: F) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime")
            .block_on(body)
    }
}

impl Run for OnAsyncStd {
    fn run<F: Future<Output = ()>>(body: F) {
        async_std::task::block_on(body)
    }
}

impl Run for OnSmol {
    fn run<F: Future<Output = ()>>(body: F) {
        smol::block_on(body)
    }
}

impl Run for OnNoRuntime {
    fn run<F: Future<Output = ()>>(body: F) {
        weir::block_on(body)
    }
}

/// A Kafka-protocol broker: every fixture gets its own namespace, so each
/// test's topics and groups are its own.
#[cfg(feature = "kafka")]
pub struct Kafka {
    url: String,
}

#[cfg(feature = "kafka")]
impl Kafka {
    /// A namespace of its own on the test broker (`WEIR_KAFKA`); fails the
    /// test, saying how to run it, without one.
    pub fn new() -> Self {
        let address = crate::support::kafka_address();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let namespace = format!("conf-{}-{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Self {
            url: format!(
                "kafka://{address}?namespace={namespace}&session.timeout.ms=6000&heartbeat.interval.ms=500\
                 &connect.timeout.ms=10000&fetch.wait.max.ms=50"
            ),
        }
    }
}

#[cfg(feature = "kafka")]
impl Fixture for Kafka {
    /// A streamer whose `orders` stream has one shard, as on the other
    /// backends: a topic the broker makes on first use gets its default
    /// partition count (one on noida-db, more on tansu), and the suite
    /// checks one order across a stream.
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R> {
        let streamer = weir::connect(&self.url).expect("kafka url");
        self.create_stream(&streamer, &crate::support::key("orders"), 1);
        streamer
    }

    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32) {
        match streamer.backend() {
            weir::AnyStreamer::Kafka(kafka) => {
                weir::block_on(kafka.create_stream(key, shards)).expect("topic created");
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("a kafka fixture makes kafka streamers"),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full("kafka")
    }

    fn history(&self) -> History {
        History::Stored
    }

    fn groups(&self) -> Groups {
        Groups::ByShard
    }
}

/// A Redis-protocol server (Valkey in tests): every fixture gets its own
/// key and group namespace.
#[cfg(feature = "redis")]
pub struct Redis {
    url: String,
}

#[cfg(feature = "redis")]
impl Redis {
    /// A namespace of its own on the test server (`WEIR_REDIS`); fails the
    /// test, saying how to run it, without one.
    pub fn new() -> Self {
        let address = crate::support::redis_address();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let namespace = format!("conf-{}-{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Self { url: format!("redis://{address}?namespace={namespace}&block.ms=50") }
    }
}

#[cfg(feature = "redis")]
impl Fixture for Redis {
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R> {
        weir::connect(&self.url).expect("redis url")
    }

    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32) {
        match streamer.backend() {
            weir::AnyStreamer::Redis(redis) => redis.create_stream(key, shards).expect("shard keys made"),
            #[allow(unreachable_patterns)]
            _ => unreachable!("a redis fixture makes redis streamers"),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::full("redis")
    }

    fn history(&self) -> History {
        History::Stored
    }

    fn groups(&self) -> Groups {
        Groups::FirstAsked
    }

    fn seqs(&self) -> Seqs {
        Seqs::FromStore
    }
}
