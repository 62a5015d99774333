//! The producer applications use, generic over backend and runtime.

use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use weir_core::backend::{ProducerBackend, Receipt};
use weir_core::{Payload, ProducerError, ProducerOptions, StreamKey, Timestamp};

use crate::blocking::block_on;
use crate::runtime::Runtime;

/// A producer on backend `P`, driven by runtime `R`.
pub struct Producer<P, R: Runtime> {
    backend: P,
    options: ProducerOptions,
    ended: bool,
    _runtime: PhantomData<fn() -> R>,
}

impl<P: ProducerBackend, R: Runtime> Producer<P, R> {
    /// Wraps a backend.
    pub fn new(backend: P, options: ProducerOptions) -> Self {
        Self { backend, options, ended: false, _runtime: PhantomData }
    }

    /// The backend, for backend-specific calls.
    pub fn backend(&self) -> &P {
        &self.backend
    }

    /// Sends to the producer's stream without waiting. The receipt resolves to
    /// where the message was stored.
    pub fn send(&mut self, payload: impl Into<Payload>) -> Result<Receipt, ProducerError> {
        let key = self.options.stream().cloned().ok_or(ProducerError::NoStream)?;
        self.send_to(&key, payload)
    }

    /// Sends to `key` without waiting.
    pub fn send_to(
        &mut self,
        key: &StreamKey,
        payload: impl Into<Payload>,
    ) -> Result<Receipt, ProducerError> {
        self.send_at(key, payload, None)
    }

    /// Sends to `key` with an explicit timestamp (`None`: the backend's now).
    pub fn send_at(
        &mut self,
        key: &StreamKey,
        payload: impl Into<Payload>,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        if self.ended {
            return Err(ProducerError::Ended);
        }
        self.backend.send(key, payload.into(), timestamp)
    }

    fn drive(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl Fn(&mut P, &mut Context<'_>) -> Poll<Result<(), ProducerError>>,
    ) -> Poll<Result<(), ProducerError>> {
        let out = poll(&mut self.backend, cx);
        while let Some(job) = self.backend.take_blocking() {
            R::spawn_blocking(job);
        }
        out
    }

    /// Waits until every message sent so far is stored.
    pub fn flush(&mut self) -> impl Future<Output = Result<(), ProducerError>> + Send + '_ {
        poll_fn(|cx| self.drive(cx, P::poll_flush))
    }

    /// [`flush`](Self::flush), giving up after `limit` with
    /// [`ProducerError::FlushTimeout`]. Nothing is dropped then: what was not yet
    /// stored is still being sent, and a later flush waits for it.
    pub fn flush_within(
        &mut self,
        limit: Duration,
    ) -> impl Future<Output = Result<(), ProducerError>> + Send + '_ {
        let deadline = Instant::now() + limit;
        let mut timer: Option<Pin<Box<R::Timer>>> = None;
        poll_fn(move |cx| {
            if let Poll::Ready(out) = self.drive(cx, P::poll_flush) {
                return Poll::Ready(out);
            }
            let timer = timer.get_or_insert_with(|| Box::pin(R::timer(deadline)));
            match timer.as_mut().poll(cx) {
                Poll::Ready(_) => Poll::Ready(Err(ProducerError::FlushTimeout { waited: limit })),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Flushes, then refuses further sends.
    pub fn end(&mut self) -> impl Future<Output = Result<(), ProducerError>> + Send + '_ {
        self.ended = true;
        poll_fn(|cx| self.drive(cx, P::poll_end))
    }

    /// [`flush`](Self::flush), blocking the calling thread (no runtime).
    pub fn flush_blocking(&mut self) -> Result<(), ProducerError> {
        block_on(self.flush())
    }

    /// [`flush_within`](Self::flush_within), blocking the calling thread (no runtime).
    pub fn flush_within_blocking(&mut self, limit: Duration) -> Result<(), ProducerError> {
        block_on(self.flush_within(limit))
    }

    /// [`end`](Self::end), blocking the calling thread (no runtime).
    pub fn end_blocking(&mut self) -> Result<(), ProducerError> {
        block_on(self.end())
    }
}
