//! Creating consumers and producers on a backend, for a chosen runtime.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Instant;

use weir_core::backend::{Lookup, Streamer as Backend};
use weir_core::{
    BackendError, BackendErrorKind, ConsumerCore, ConsumerOptions, ProducerOptions, SeqNo, StreamInfo,
    StreamKey, StreamShard, StreamerError, Timestamp,
};

use crate::consumer::Consumer;
use crate::producer::Producer;
use crate::runtime::Runtime;

/// A backend's streamer, making consumers and producers driven by runtime `R`.
pub struct Streamer<S, R: Runtime> {
    backend: S,
    _runtime: PhantomData<fn() -> R>,
}

impl<S: Backend, R: Runtime> Streamer<S, R> {
    /// Wraps a backend streamer.
    pub fn new(backend: S) -> Self {
        Self { backend, _runtime: PhantomData }
    }

    /// The backend streamer, for backend-specific calls.
    pub fn backend(&self) -> &S {
        &self.backend
    }

    /// A consumer of `streams`. Options are checked against each other and the
    /// backend before anything is connected.
    pub fn create_consumer(
        &self,
        streams: &[StreamKey],
        options: ConsumerOptions,
    ) -> Result<Consumer<S::Consumer, R>, StreamerError> {
        let caps = self.backend.capabilities();
        let now = self.backend.virtual_now().unwrap_or_else(Instant::now);
        let core = ConsumerCore::new(caps, options, streams.to_vec(), now)?;
        let backend = self.backend.create_consumer(&core)?;
        Ok(Consumer::new(core, backend))
    }

    /// A producer.
    pub fn create_producer(
        &self,
        options: ProducerOptions,
    ) -> Result<Producer<S::Producer, R>, StreamerError> {
        let backend = self.backend.create_producer(&options)?;
        Ok(Producer::new(backend, options))
    }

    /// The streams `keys` (every stream if `keys` is empty) with their shards
    /// and each shard's low and high watermarks, as of now. Backends that
    /// cannot tell (stdio) refuse with [`StreamerError::Unsupported`].
    pub fn list_streams(
        &self,
        keys: &[StreamKey],
    ) -> impl Future<Output = Result<Vec<StreamInfo>, StreamerError>> + Send + 'static {
        self.run(self.backend.list_streams(keys))
    }

    /// Where a seek to `at` would put each of `shards` now: the seq of its
    /// earliest message not before `at`, or its high watermark.
    pub fn seqs_at(
        &self,
        shards: &[StreamShard],
        at: Timestamp,
    ) -> impl Future<Output = Result<Vec<(StreamShard, SeqNo)>, StreamerError>> + Send + 'static {
        self.run(self.backend.seqs_at(shards, at))
    }

    /// Starts a lookup's job off the executor and awaits its answer.
    fn run<T: Send + 'static>(
        &self,
        lookup: Lookup<T>,
    ) -> impl Future<Output = Result<T, StreamerError>> + Send + 'static {
        if let Some(job) = lookup.job {
            R::spawn_blocking(job);
        }
        let answer = lookup.answer;
        async move {
            answer.await.unwrap_or_else(|| {
                let message = "the lookup's job was dropped before it answered";
                Err(BackendError::new("weir", BackendErrorKind::Closed, message).into())
            })
        }
    }
}
