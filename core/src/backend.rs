//! What a backend implements: a translator between the core's commands and
//! real (or simulated) I/O. Backends make no decision the core could make.
//!
//! The traits are poll-based and runtime-free; `weir-adapters` drives them on
//! tokio, async-std, smol or a plain thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::consumer::{Capabilities, Command, ConsumerCore};
use crate::error::{ProducerError, StreamerError};
use crate::key::StreamKey;
use crate::message::{MessageHeader, Payload};
use crate::options::ProducerOptions;
use crate::timestamp::Timestamp;

/// Blocking work (a library call that may wait on the network) that must run
/// off the async executor. It reports its result to the backend itself, and
/// wakes the waker the backend registered, so the work completes even if the
/// future that started it is dropped.
pub type BlockingJob = Box<dyn FnOnce() + Send + 'static>;

/// Creates consumers and producers on one backend.
pub trait Streamer {
    /// The consumer side.
    type Consumer: ConsumerBackend;
    /// The producer side.
    type Producer: ProducerBackend;

    /// What this backend's consumers can do.
    fn capabilities(&self) -> Capabilities;

    /// Makes the I/O side of a consumer whose core (streams, mode, group) is given.
    fn create_consumer(&self, core: &ConsumerCore) -> Result<Self::Consumer, StreamerError>;

    /// Makes a producer.
    fn create_producer(&self, options: &ProducerOptions) -> Result<Self::Producer, StreamerError>;

    /// `Some(now)` for a backend on virtual time; `None` for the wall clock.
    fn virtual_now(&self) -> Option<Instant> {
        None
    }
}

/// The I/O side of one consumer.
pub trait ConsumerBackend: Send + 'static {
    /// Carries out one command of the core. Must not block: blocking calls go
    /// to [`take_blocking`](Self::take_blocking). Immediate outcomes may be fed
    /// to `core` right away.
    fn execute(&mut self, now: Instant, command: Command, core: &mut ConsumerCore);

    /// Feeds what has arrived into `core` (`handle_messages`, `handle_positioned`,
    /// `handle_assignment`, `handle_committed`, `handle_end`). `Ready` when it fed
    /// something; `Pending`, with `cx`'s waker registered, when nothing arrived.
    fn poll_input(&mut self, cx: &mut Context<'_>, now: Instant, core: &mut ConsumerCore) -> Poll<()>;

    /// The next blocking job to run off the executor, if any.
    fn take_blocking(&mut self) -> Option<BlockingJob> {
        None
    }

    /// `Some(now)` for a backend on virtual time; `None` for the wall clock.
    fn virtual_now(&self) -> Option<Instant> {
        None
    }
}

/// The I/O side of one producer.
pub trait ProducerBackend: Send + 'static {
    /// Hands a message to the backend without blocking; `timestamp: None`
    /// means the backend's now. The receipt resolves to where it was stored.
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError>;

    /// `Ready` once every message sent so far is stored.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>>;

    /// Flushes, then refuses further sends.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        self.poll_flush(cx)
    }

    /// The next blocking job to run off the executor, if any.
    fn take_blocking(&mut self) -> Option<BlockingJob> {
        None
    }
}

#[derive(Default)]
struct ReceiptSlot {
    result: Option<Result<MessageHeader, ProducerError>>,
    waker: Option<Waker>,
}

/// Resolves to the header of a stored message, or why it was not stored.
#[must_use = "a receipt does nothing unless awaited; dropping it does not cancel the send"]
pub struct Receipt(Arc<Mutex<ReceiptSlot>>);

/// The backend's end of a [`Receipt`].
pub struct ReceiptSender(Arc<Mutex<ReceiptSlot>>);

impl Receipt {
    /// A receipt and the sender that resolves it.
    pub fn pending() -> (Receipt, ReceiptSender) {
        let slot = Arc::new(Mutex::new(ReceiptSlot::default()));
        (Receipt(slot.clone()), ReceiptSender(slot))
    }

    /// A receipt resolved already.
    pub fn ready(result: Result<MessageHeader, ProducerError>) -> Receipt {
        Receipt(Arc::new(Mutex::new(ReceiptSlot { result: Some(result), waker: None })))
    }

    /// The outcome, if known, without waiting.
    pub fn try_take(&mut self) -> Option<Result<MessageHeader, ProducerError>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).result.take()
    }
}

impl ReceiptSender {
    /// Resolves the receipt and wakes whoever awaits it.
    pub fn send(self, result: Result<MessageHeader, ProducerError>) {
        let waker = {
            let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            slot.result = Some(result);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Future for Receipt {
    type Output = Result<MessageHeader, ProducerError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None if Arc::strong_count(&self.0) == 1 => Poll::Ready(Err(ProducerError::Ended)),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for ReceiptSender {
    fn drop(&mut self) {
        // A sender dropped unresolved (the backend died): wake the receipt so it
        // sees it is the last owner and reports the loss.
        let waker = self.0.lock().unwrap_or_else(PoisonError::into_inner).waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receipt")
    }
}
