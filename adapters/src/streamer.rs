//! Creating consumers and producers on a backend, for a chosen runtime.

use std::marker::PhantomData;
use std::time::Instant;

use weir_core::backend::Streamer as Backend;
use weir_core::{ConsumerCore, ConsumerOptions, ProducerOptions, StreamKey, StreamerError};

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
}
