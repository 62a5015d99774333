//! The consumer applications use, generic over backend and runtime.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use weir_core::backend::ConsumerBackend;
use weir_core::{ConsumerCore, ConsumerError, Message, MessageHeader, SeqPos, ShardId, StreamKey, Timestamp};

use crate::blocking::{park, with_thread_waker};
use crate::drive::{Driver, Waiting};
use crate::runtime::Runtime;

/// A stream consumer on backend `B`, driven by runtime `R`.
///
/// Every method that waits is cancel-safe: dropping its future loses no
/// message, and leaves the consumer usable (a dropped `seek` is completed or
/// superseded by the next operation).
pub struct Consumer<B, R: Runtime> {
    driver: Driver<B, R>,
}

impl<B: ConsumerBackend, R: Runtime> Consumer<B, R> {
    /// Wraps a backend and the core it serves.
    pub fn new(core: ConsumerCore, backend: B) -> Self {
        Self { driver: Driver::new(core, backend) }
    }

    /// The state machine, for inspection.
    pub fn core(&self) -> &ConsumerCore {
        &self.driver.core
    }

    /// The backend, for backend-specific calls.
    pub fn backend(&self) -> &B {
        &self.driver.backend
    }

    #[inline]
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
        waiting: Waiting,
    ) -> Poll<Result<Message, ConsumerError>> {
        // Per message, the message is mostly in the core already: taken
        // here, inlined into the caller; the rounds are a call.
        if let Some(message) = self.take_held() {
            return Poll::Ready(Ok(message));
        }
        self.poll_message_rounds(cx, waiting)
    }

    /// A message the core holds, if the driver has nothing to do first.
    #[inline(always)]
    fn take_held(&mut self) -> Option<Message> {
        self.driver.quiet_core().and_then(ConsumerCore::poll_message)
    }

    #[inline(never)]
    fn poll_message_rounds(
        &mut self,
        cx: &mut Context<'_>,
        waiting: Waiting,
    ) -> Poll<Result<Message, ConsumerError>> {
        self.driver.poll_until(cx, waiting, |core| match core.poll_message() {
            Some(message) => Some(Ok(message)),
            None => core.poll_end().map(Err),
        })
    }

    /// Waits for the next message. At the end of the input it reports
    /// [`ConsumerError::EndOfStream`].
    // The consumer API's own name (SeaStreamer's); it returns a future, not an item.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, B, R> {
        Next { consumer: self }
    }

    /// The messages as a [`Stream`]. It borrows the consumer, so no other
    /// operation can run while it exists. It ends at the end of the input.
    pub fn stream(&mut self) -> MessageStream<'_, B, R> {
        MessageStream { consumer: self, done: false }
    }

    /// The next message, blocking the calling thread: for programs with no
    /// async runtime. Do not call it from an async task.
    #[inline]
    pub fn next_blocking(&mut self) -> Result<Message, ConsumerError> {
        // A message the core holds needs no waker: the thread-local one is
        // looked up only for the rounds.
        match self.take_held() {
            Some(message) => Ok(message),
            None => self.next_blocking_rounds(),
        }
    }

    #[inline(never)]
    fn next_blocking_rounds(&mut self) -> Result<Message, ConsumerError> {
        with_thread_waker(|waker| {
            let mut cx = Context::from_waker(waker);
            loop {
                if let Poll::Ready(out) = self.poll_message(&mut cx, Waiting::Parked) {
                    return out;
                }
                park(self.driver.park_deadline());
            }
        })
    }

    /// Adds a shard, consumed from the next `rewind` or `seek` on.
    pub fn assign(&mut self, key: StreamKey, shard: ShardId) -> Result<(), ConsumerError> {
        self.driver.core.assign(key, shard)
    }

    /// Removes a shard added by `assign`, from the next `rewind` or `seek` on.
    pub fn unassign(&mut self, key: StreamKey, shard: ShardId) -> Result<(), ConsumerError> {
        self.driver.core.unassign(key, shard)
    }

    /// Moves every assigned shard (shard 0 of every stream if none) to `to`.
    pub fn rewind(&mut self, to: SeqPos) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let started = self.driver.core.rewind(to);
        self.positioned(started)
    }

    /// Moves every assigned shard to its earliest message not before `to`.
    pub fn seek(&mut self, to: Timestamp) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let started = self.driver.core.seek(to);
        self.positioned(started)
    }

    fn positioned(
        &mut self,
        started: Result<weir_core::Epoch, ConsumerError>,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let driver = &mut self.driver;
        async move {
            let epoch = started?;
            poll_fn(|cx| driver.poll_until(cx, Waiting::Async, |core| core.poll_positioned(epoch))).await
        }
    }

    /// Commits `message`: a restarted consumer of the group resumes after it.
    pub fn commit(
        &mut self,
        message: &MessageHeader,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let started = self.driver.core.commit(message).map(Some);
        self.committed(started)
    }

    /// Marks a delivered `message` as processed, for consumers created with
    /// `ConsumerOptions::set_auto_store(false)`: the next automatic commit or
    /// `commit_all` resumes after it. Returns at once; nothing is sent yet.
    pub fn store_offset(&mut self, message: &MessageHeader) -> Result<(), ConsumerError> {
        self.driver.core.store_offset(message)
    }

    /// Commits every message delivered so far (with auto-store off: every
    /// message stored so far).
    pub fn commit_all(&mut self) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let started = self.driver.core.commit_all();
        self.committed(started)
    }

    fn committed(
        &mut self,
        started: Result<Option<weir_core::CommitId>, ConsumerError>,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send + '_ {
        let driver = &mut self.driver;
        async move {
            let Some(id) = started? else { return Ok(()) };
            poll_fn(|cx| driver.poll_until(cx, Waiting::Async, |core| core.poll_committed(id))).await
        }
    }

    /// The backend's now: virtual for a simulator, else the wall clock.
    pub fn now(&self) -> Instant {
        self.driver.now()
    }

    /// Whether the backend runs on virtual time (a simulator).
    pub(crate) fn is_virtual(&self) -> bool {
        self.driver.backend.virtual_now().is_some()
    }

    /// When a parked caller should wake up by itself, if ever.
    pub(crate) fn park_deadline(&self) -> Option<Instant> {
        self.driver.park_deadline()
    }
}

/// The future of [`Consumer::next`]. Dropping it loses no message.
#[must_use = "futures do nothing unless awaited"]
pub struct Next<'a, B, R: Runtime> {
    consumer: &'a mut Consumer<B, R>,
}

impl<B: ConsumerBackend, R: Runtime> Future for Next<'_, B, R> {
    type Output = Result<Message, ConsumerError>;
    // Inlined into the caller's `.await`: the message then moves from the
    // core's buffer into the caller's frame once (a call copied it through
    // its return slot, and the caller copied it again).
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.consumer.poll_message(cx, Waiting::Async)
    }
}

/// The stream of [`Consumer::stream`]: messages until the end of the input.
/// A backend failure is yielded once, then the stream ends.
#[must_use = "streams do nothing unless polled"]
pub struct MessageStream<'a, B, R: Runtime> {
    consumer: &'a mut Consumer<B, R>,
    done: bool,
}

impl<B: ConsumerBackend, R: Runtime> Stream for MessageStream<'_, B, R> {
    type Item = Result<Message, ConsumerError>;
    // Inlined into the caller, as `Next::poll` is.
    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.consumer.poll_message(cx, Waiting::Async) {
            Poll::Ready(Ok(message)) => Poll::Ready(Some(Ok(message))),
            Poll::Ready(Err(ConsumerError::EndOfStream)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Err(err)) => {
                self.done = true;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
