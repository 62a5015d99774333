//! weir: stream consumers over Kafka, stdio pipes and a deterministic
//! simulator, on the async runtime of your choice — or none.
//!
//! ```
//! use weir::{ConsumerMode, ConsumerOptions, NoRuntime, SeqPos, StreamKey};
//!
//! let streamer = weir::connect::<NoRuntime>("sim://doc-example")?;
//! let orders = StreamKey::new("orders")?;
//! let mut producer = streamer.create_producer(Default::default())?;
//! for i in 0..3 {
//!     let _receipt = producer.send_to(&orders, format!("order {i}"))?;
//! }
//!
//! let mut consumer = streamer.create_consumer(&[orders], ConsumerOptions::new(ConsumerMode::RealTime))?;
//! weir::block_on(consumer.rewind(SeqPos::Beginning))?;
//! let first = consumer.next_blocking()?;
//! assert_eq!(first.payload.as_str()?, "order 0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A stream borrows its consumer: no second stream and no other operation
//! while it exists. That is checked by the compiler, not at run time:
//!
//! ```compile_fail,E0499
//! # use weir::{ConsumerOptions, NoRuntime, StreamKey};
//! # let streamer = weir::connect::<NoRuntime>("sim://doc-borrow").unwrap();
//! # let mut consumer = streamer.create_consumer(&[StreamKey::new("k").unwrap()], ConsumerOptions::default()).unwrap();
//! let stream = consumer.stream();
//! let second = consumer.stream(); // error: the consumer is borrowed by `stream`
//! # drop((stream, second));
//! ```
//!
//! ```compile_fail,E0499
//! # use weir::{ConsumerOptions, NoRuntime, SeqPos, StreamKey};
//! # let streamer = weir::connect::<NoRuntime>("sim://doc-borrow").unwrap();
//! # let mut consumer = streamer.create_consumer(&[StreamKey::new("k").unwrap()], ConsumerOptions::default()).unwrap();
//! let stream = consumer.stream();
//! let rewind = consumer.rewind(SeqPos::Beginning); // error: no operation while streaming
//! # drop((stream, rewind));
//! ```
//!
//! Pick the runtime with a type: [`NoRuntime`] (blocking calls), `Tokio`,
//! `AsyncStd` or `Smol` (cargo features `runtime-tokio`, `runtime-async-std`,
//! `runtime-smol`). Pick the backend with the URL: `sim://`, `stdio://`,
//! `kafka://`, `redis://` (cargo features `sim`, `stdio`, `kafka`, `redis`).

mod any;
#[cfg(all(feature = "sim", feature = "file"))]
mod recording;

pub use any::{AnyConsumer, AnyProducer, AnyStreamer};
#[cfg(all(feature = "sim", feature = "file"))]
pub use recording::load_recording;
#[cfg(feature = "runtime-async-std")]
pub use weir_adapters::AsyncStd;
#[cfg(feature = "runtime-smol")]
pub use weir_adapters::Smol;
#[cfg(feature = "runtime-tokio")]
pub use weir_adapters::Tokio;
pub use weir_adapters::{block_on, JoinNext, JoinStream, MessageStream, Next, NoRuntime, Runtime};
/// The sans-IO core, for backend authors and state-machine tests.
pub use weir_core as core;
pub use weir_core::backend::Receipt;
pub use weir_core::{
    BackendError, BackendErrorKind, ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, ErrorPolicy,
    JoinError, JoinOptions, Joined, LatePolicy, Message, MessageHeader, OptionsError, Payload, ProducerError,
    ProducerOptions, SeqNo, SeqPos, ShardId, ShardInfo, SourceId, StreamInfo, StreamKey, StreamKeyError,
    StreamUrl, StreamerError, StreamerUrl, Timestamp, UrlError,
};
/// The file backend: `.ss` logs.
#[cfg(feature = "file")]
pub use weir_file as file;
#[cfg(feature = "sim")]
pub use weir_sim as sim;

/// A streamer on the backend its URL names, making consumers and producers on runtime `R`.
pub type Streamer<R> = weir_adapters::Streamer<AnyStreamer, R>;
/// A consumer on any backend, driven by runtime `R`.
pub type Consumer<R> = weir_adapters::Consumer<AnyConsumer, R>;
/// One stream out of consumers on any backends, merged by time, driven by runtime `R`.
///
/// ```
/// use std::time::Duration;
/// use weir::{ConsumerOptions, JoinOptions, NoRuntime, SeqPos, StreamKey, Timestamp};
///
/// let sim = weir::connect::<NoRuntime>("sim://join-doc")?;
/// let (orders, payments) = (StreamKey::new("orders")?, StreamKey::new("payments")?);
/// let mut producer = sim.create_producer(Default::default())?;
/// for (key, ms) in [(&orders, 10), (&orders, 30), (&payments, 20), (&payments, 40)] {
///     let at = Timestamp::from_unix_millis(1_767_225_600_000 + ms)?;
///     let _receipt = producer.send_at(key, format!("{key} at {ms}"), Some(at))?;
/// }
/// let mut sources = Vec::new();
/// for key in [&orders, &payments] {
///     let mut consumer = sim.create_consumer(std::slice::from_ref(key), ConsumerOptions::default())?;
///     weir::block_on(consumer.rewind(SeqPos::Beginning))?;
///     sources.push(consumer); // a Kafka, stdio or redis consumer fits here too
/// }
/// let mut options = JoinOptions::new();
/// options.set_max_wait(Some(Duration::from_millis(500))); // a silent source holds the rest back 500 ms at most
/// let mut join = weir::Join::new(sources, options)?;
/// for expected in ["orders at 10", "payments at 20", "orders at 30"] {
///     let joined = join.next_blocking()?;
///     assert_eq!((joined.message.payload.as_str()?, joined.late), (expected, false));
/// }
/// // "payments at 40" waits: orders, empty now, may still send something older
/// // (on the simulator's virtual time, until the simulation moves it 500 ms on).
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Join<R> = weir_adapters::Join<AnyConsumer, R>;
/// A producer on any backend, driven by runtime `R`.
pub type Producer<R> = weir_adapters::Producer<AnyProducer, R>;

/// Connects to the streamer a URL names (`sim://lab`, `stdio://`,
/// `kafka://host:9092`); stream keys in the URL are ignored here.
pub fn connect<R: Runtime>(url: &str) -> Result<Streamer<R>, StreamerError> {
    connect_url(&url.parse()?)
}

/// [`connect`] for a URL parsed already (a [`StreamUrl`]'s `streamer()`, say).
pub fn connect_url<R: Runtime>(url: &StreamerUrl) -> Result<Streamer<R>, StreamerError> {
    Ok(Streamer::new(AnyStreamer::from_url(url)?))
}
