//! What the suite needs to know about a backend, and how to run on each runtime.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use weir::{Runtime, StreamKey};

/// One backend under test.
pub trait Fixture {
    /// A streamer private to one test.
    fn streamer<R: Runtime>(&self) -> weir::Streamer<R>;
    /// Makes `key` with `shards` shards before anything uses it.
    fn create_stream<R: Runtime>(&self, streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32);
    /// Whether the backend keeps history (rewind, seek, commits, RealTime starting at the end).
    fn keeps_history(&self) -> bool;
    /// Whether the backend reports its assignment once the consumer is ready
    /// (a real broker needs a moment for that, and the suite waits for it).
    fn announces_assignment(&self) -> bool {
        true
    }
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

    fn keeps_history(&self) -> bool {
        true
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

    fn keeps_history(&self) -> bool {
        false
    }

    fn announces_assignment(&self) -> bool {
        // stdio's single shard needs no announcing: a consumer reads from the moment it exists.
        false
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

/// The broker address for Kafka tests.
#[cfg(feature = "kafka")]
pub fn kafka_address() -> Option<String> {
    crate::support::kafka_address()
}

/// A Kafka-protocol broker: every fixture gets its own namespace, so each
/// test's topics and groups are its own.
#[cfg(feature = "kafka")]
pub struct Kafka {
    url: String,
}

#[cfg(feature = "kafka")]
impl Kafka {
    pub fn new(address: String) -> Self {
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

    fn keeps_history(&self) -> bool {
        true
    }
}
