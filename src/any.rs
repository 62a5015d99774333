//! One streamer, consumer and producer type over every backend this build
//! includes, chosen by URL scheme at run time.

// With no backend compiled in, every method's arguments go unused.
#![cfg_attr(
    not(any(feature = "sim", feature = "stdio", feature = "kafka", feature = "redis", feature = "file")),
    allow(unused_variables)
)]

use std::task::{Context, Poll};
use std::time::Instant;

use weir_core::backend::{BlockingJob, ConsumerBackend, Lookup, ProducerBackend, Receipt, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::{
    Command, ConsumerCore, Payload, ProducerError, ProducerOptions, Scheme, SeqNo, StreamInfo, StreamKey,
    StreamShard, StreamerError, StreamerUrl, Timestamp, UrlError,
};

/// Forwards a call to whichever backend a value holds.
macro_rules! dispatch {
    ($value:expr, $enum:ident, $inner:ident => $call:expr) => {
        match $value {
            #[cfg(feature = "sim")]
            $enum::Sim($inner) => $call,
            #[cfg(feature = "stdio")]
            $enum::Stdio($inner) => $call,
            #[cfg(feature = "kafka")]
            $enum::Kafka($inner) => $call,
            #[cfg(feature = "redis")]
            $enum::Redis($inner) => $call,
            #[cfg(feature = "file")]
            $enum::File($inner) => $call,
            $enum::Never(never) => match *never {},
        }
    };
}

/// A streamer on any backend compiled in.
#[non_exhaustive]
pub enum AnyStreamer {
    /// `sim://`
    #[cfg(feature = "sim")]
    Sim(weir_sim::SimBroker),
    /// `stdio://`
    #[cfg(feature = "stdio")]
    Stdio(weir_stdio::StdioStreamer),
    /// `kafka://`
    #[cfg(feature = "kafka")]
    Kafka(weir_kafka::KafkaStreamer),
    /// `redis://`
    #[cfg(feature = "redis")]
    Redis(weir_redis::RedisStreamer),
    /// `file://`
    #[cfg(feature = "file")]
    File(weir_file::FileStreamer),
    /// Never made: keeps the type inhabited by no backend valid, so a build
    /// without any backend feature compiles (every URL then names a backend
    /// not enabled).
    #[doc(hidden)]
    Never(std::convert::Infallible),
}

/// A consumer's I/O side on any backend compiled in.
#[non_exhaustive]
pub enum AnyConsumer {
    /// `sim://`
    #[cfg(feature = "sim")]
    Sim(weir_sim::SimConsumer),
    /// `stdio://`
    #[cfg(feature = "stdio")]
    Stdio(weir_stdio::StdioConsumer),
    /// `kafka://`
    #[cfg(feature = "kafka")]
    Kafka(weir_kafka::KafkaConsumer),
    /// `redis://`
    #[cfg(feature = "redis")]
    Redis(weir_redis::RedisConsumer),
    /// `file://`
    #[cfg(feature = "file")]
    File(weir_file::FileConsumer),
    /// Never made (see [`AnyStreamer`]'s).
    #[doc(hidden)]
    Never(std::convert::Infallible),
}

/// A producer's I/O side on any backend compiled in.
#[non_exhaustive]
pub enum AnyProducer {
    /// `sim://`
    #[cfg(feature = "sim")]
    Sim(weir_sim::SimProducer),
    /// `stdio://`
    #[cfg(feature = "stdio")]
    Stdio(weir_stdio::StdioProducer),
    /// `kafka://`
    #[cfg(feature = "kafka")]
    Kafka(weir_kafka::KafkaProducer),
    /// `redis://`
    #[cfg(feature = "redis")]
    Redis(weir_redis::RedisProducer),
    /// `file://`
    #[cfg(feature = "file")]
    File(weir_file::FileProducer),
    /// Never made (see [`AnyStreamer`]'s).
    #[doc(hidden)]
    Never(std::convert::Infallible),
}

impl AnyStreamer {
    /// The backend a streamer URL names, if this build includes it.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, StreamerError> {
        // Unused when every backend is compiled in.
        #[allow(unused_variables)]
        let missing = |feature| UrlError::BackendNotEnabled { scheme: url.scheme().to_string(), feature };
        match url.scheme() {
            #[cfg(feature = "sim")]
            Scheme::Sim => Ok(Self::Sim(weir_sim::SimBroker::from_url(url)?)),
            #[cfg(feature = "stdio")]
            Scheme::Stdio => Ok(Self::Stdio(weir_stdio::StdioStreamer::from_url(url)?)),
            #[cfg(not(feature = "sim"))]
            Scheme::Sim => Err(missing("sim").into()),
            #[cfg(not(feature = "stdio"))]
            Scheme::Stdio => Err(missing("stdio").into()),
            #[cfg(feature = "kafka")]
            Scheme::Kafka => Ok(Self::Kafka(weir_kafka::KafkaStreamer::from_url(url)?)),
            #[cfg(not(feature = "kafka"))]
            Scheme::Kafka => Err(missing("kafka").into()),
            #[cfg(feature = "redis")]
            Scheme::Redis => Ok(Self::Redis(weir_redis::RedisStreamer::from_url(url)?)),
            #[cfg(not(feature = "redis"))]
            Scheme::Redis => Err(missing("redis").into()),
            #[cfg(feature = "file")]
            Scheme::File => Ok(Self::File(weir_file::FileStreamer::from_url(url)?)),
            #[cfg(not(feature = "file"))]
            Scheme::File => Err(missing("file").into()),
        }
    }
}

impl Streamer for AnyStreamer {
    type Consumer = AnyConsumer;
    type Producer = AnyProducer;

    fn capabilities(&self) -> Capabilities {
        dispatch!(self, Self, s => s.capabilities())
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<AnyConsumer, StreamerError> {
        match self {
            #[cfg(feature = "sim")]
            Self::Sim(s) => s.create_consumer(core).map(AnyConsumer::Sim),
            #[cfg(feature = "stdio")]
            Self::Stdio(s) => s.create_consumer(core).map(AnyConsumer::Stdio),
            #[cfg(feature = "kafka")]
            Self::Kafka(s) => s.create_consumer(core).map(AnyConsumer::Kafka),
            #[cfg(feature = "redis")]
            Self::Redis(s) => s.create_consumer(core).map(AnyConsumer::Redis),
            #[cfg(feature = "file")]
            Self::File(s) => s.create_consumer(core).map(AnyConsumer::File),
            Self::Never(never) => match *never {},
        }
    }

    fn create_producer(&self, options: &ProducerOptions) -> Result<AnyProducer, StreamerError> {
        match self {
            #[cfg(feature = "sim")]
            Self::Sim(s) => s.create_producer(options).map(AnyProducer::Sim),
            #[cfg(feature = "stdio")]
            Self::Stdio(s) => s.create_producer(options).map(AnyProducer::Stdio),
            #[cfg(feature = "kafka")]
            Self::Kafka(s) => s.create_producer(options).map(AnyProducer::Kafka),
            #[cfg(feature = "redis")]
            Self::Redis(s) => s.create_producer(options).map(AnyProducer::Redis),
            #[cfg(feature = "file")]
            Self::File(s) => s.create_producer(options).map(AnyProducer::File),
            Self::Never(never) => match *never {},
        }
    }

    fn virtual_now(&self) -> Option<Instant> {
        dispatch!(self, Self, s => s.virtual_now())
    }

    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        dispatch!(self, Self, s => s.list_streams(keys))
    }

    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        dispatch!(self, Self, s => s.seqs_at(shards, at))
    }
}

impl ConsumerBackend for AnyConsumer {
    fn execute(&mut self, command: Command, core: &mut ConsumerCore) {
        dispatch!(self, Self, c => c.execute(command, core))
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        dispatch!(self, Self, c => c.poll_input(cx, core))
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        dispatch!(self, Self, c => c.take_blocking())
    }

    fn virtual_now(&self) -> Option<Instant> {
        dispatch!(self, Self, c => c.virtual_now())
    }
}

impl ProducerBackend for AnyProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        dispatch!(self, Self, p => p.send(key, payload, timestamp))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        dispatch!(self, Self, p => p.poll_flush(cx))
    }

    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        dispatch!(self, Self, p => p.poll_end(cx))
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        dispatch!(self, Self, p => p.take_blocking())
    }
}
