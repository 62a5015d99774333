//! What a backend implements: a translator between the core's commands and
//! real (or simulated) I/O. Backends make no decision the core could make.
//!
//! The traits are poll-based and runtime-free; `weir-adapters` drives them on
//! tokio, async-std, smol or a plain thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::answer::{Answer, AnswerSender};
use crate::consumer::{Capabilities, Command, ConsumerCore, StreamShard};
use crate::error::{ProducerError, StreamerError};
use crate::key::{SeqNo, StreamKey};
use crate::listing::StreamInfo;
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

    /// The streams `keys` (every stream the backend holds if `keys` is
    /// empty), each with its shards and their low and high watermarks as of
    /// the lookup. A backend that cannot tell refuses with
    /// [`StreamerError::Unsupported`], as this default does.
    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        let _ = keys;
        Lookup::unsupported(self.capabilities().backend, "listing streams")
    }

    /// Where a seek to `at` would put each of `shards`: the seq of its
    /// earliest message not before `at`, or its high watermark if there is
    /// none. Refused by default, like [`list_streams`](Self::list_streams).
    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        let _ = (shards, at);
        Lookup::unsupported(self.capabilities().backend, "looking up positions by time")
    }
}

/// The I/O side of one consumer.
pub trait ConsumerBackend: Send + 'static {
    /// Carries out one command of the core. Must not block: blocking calls go
    /// to [`take_blocking`](Self::take_blocking). Immediate outcomes may be fed
    /// to `core` right away.
    ///
    /// Neither this nor [`poll_input`](Self::poll_input) is given `now`: the
    /// core's inputs take none (see the `consumer` module's docs on time), so
    /// the driver does not read a clock per round just to pass it along.
    fn execute(&mut self, command: Command, core: &mut ConsumerCore);

    /// Feeds what has arrived into `core` (`handle_messages`, `handle_positioned`,
    /// `handle_assignment`, `handle_committed`, `handle_end`). `Ready` when it fed
    /// something; `Pending`, with `cx`'s waker registered, when nothing arrived.
    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()>;

    /// The next blocking job to run off the executor, if any. A backend
    /// makes jobs only when created, in [`execute`](Self::execute) and in
    /// [`poll_input`](Self::poll_input): the driver asks after those, until
    /// this returns `None`, and not per message in between.
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

/// Resolves to the header of a stored message, or why it was not stored.
#[must_use = "a receipt does nothing unless awaited; dropping it does not cancel the send"]
pub struct Receipt(Answer<Result<MessageHeader, ProducerError>>);

/// The backend's end of a [`Receipt`].
pub struct ReceiptSender(AnswerSender<Result<MessageHeader, ProducerError>>);

impl Receipt {
    /// A receipt and the sender that resolves it.
    pub fn pending() -> (Receipt, ReceiptSender) {
        let (answer, sender) = Answer::pending();
        (Receipt(answer), ReceiptSender(sender))
    }

    /// A receipt resolved already.
    pub fn ready(result: Result<MessageHeader, ProducerError>) -> Receipt {
        Receipt(Answer::ready(result))
    }

    /// The outcome, if known, without waiting.
    pub fn try_take(&mut self) -> Option<Result<MessageHeader, ProducerError>> {
        self.0.try_take()
    }
}

impl ReceiptSender {
    /// Resolves the receipt and wakes whoever awaits it.
    pub fn send(self, result: Result<MessageHeader, ProducerError>) {
        self.0.send(result);
    }
}

impl Future for Receipt {
    type Output = Result<MessageHeader, ProducerError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A sender dropped unresolved: the backend died with the message.
        Pin::new(&mut self.0).poll(cx).map(|sent| sent.unwrap_or(Err(ProducerError::Ended)))
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receipt")
    }
}

/// A streamer's answer to a question about its streams: the answer, and the
/// blocking job (a broker round trip) that produces it, which the caller runs
/// off the executor. Backends that know the answer at once have no job.
#[must_use = "a lookup does nothing unless its job runs and its answer is awaited"]
pub struct Lookup<T> {
    /// Resolves once the job ran; `None` if the job was dropped without running.
    pub answer: Answer<Result<T, StreamerError>>,
    /// The work to run off the executor, if any.
    pub job: Option<BlockingJob>,
}

impl<T: Send + 'static> Lookup<T> {
    /// A lookup answered already.
    pub fn ready(result: Result<T, StreamerError>) -> Self {
        Self { answer: Answer::ready(result), job: None }
    }

    /// A lookup answered by running `work` off the executor.
    pub fn blocking(work: impl FnOnce() -> Result<T, StreamerError> + Send + 'static) -> Self {
        let (answer, sender) = Answer::pending();
        Self { answer, job: Some(Box::new(move || sender.send(work()))) }
    }

    /// The refusal of a backend that cannot answer.
    pub fn unsupported(backend: &'static str, operation: &'static str) -> Self {
        Self::ready(Err(StreamerError::Unsupported { backend, operation }))
    }
}
