//! Merging consumers by time, on any runtime: the driver of
//! [`JoinCore`](weir_core::JoinCore).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use weir_core::backend::ConsumerBackend;
use weir_core::{
    ConsumerError, JoinCore, JoinError, JoinOptions, Joined, Message, OptionsError, ShardId, SourceId,
    StreamKey,
};

use crate::alarm::Alarm;
use crate::blocking::{park, thread_waker};
use crate::consumer::Consumer;
use crate::drive::Waiting;
use crate::runtime::Runtime;

/// How many rounds one poll may run before yielding to the executor.
const ROUNDS_PER_POLL: usize = 64;

/// One stream out of many consumers, in time order (see
/// [`weir_core::join`] for the rules: order, waiting, lateness, bound, errors).
///
/// With [`new`](Self::new) each consumer is one source, whatever it reads;
/// with [`by_shard`](Self::by_shard) each (stream, shard) a consumer reads
/// is one, so the shards of one consumer are merged by time too. The
/// join's clock is its first source's: virtual for a simulator (the wait for
/// a silent source then ends when virtual time next moves past its deadline),
/// else the wall clock. Every method that waits is cancel-safe: a message
/// taken from a source is held by the join until handed out.
pub struct Join<B, R: Runtime> {
    sources: Vec<Consumer<B, R>>,
    /// With `by_shard`: per consumer, the source of each (stream, shard) seen.
    routes: Option<Vec<Vec<(StreamKey, ShardId, SourceId)>>>,
    core: JoinCore,
    timer: Alarm<R>,
}

impl<B: ConsumerBackend, R: Runtime> Join<B, R> {
    /// Joins `sources` (source `i` is `sources[i]`). Position them (rewind,
    /// seek) before: while joined they are only read.
    pub fn new(sources: Vec<Consumer<B, R>>, options: JoinOptions) -> Result<Self, OptionsError> {
        let now = sources.first().map_or_else(Instant::now, Consumer::now);
        let mut core = JoinCore::new(options, now)?;
        for _ in &sources {
            let _ = core.add_source(now);
        }
        Ok(Self { sources, routes: None, core, timer: Alarm::new() })
    }

    /// Joins every (stream, shard) that `consumers` read as a source of its
    /// own: the shards a consumer is assigned (or shard 0 of each of its
    /// streams, if it does not know yet) from the start, any other from its
    /// first message on (until then it holds nothing back). A consumer is
    /// read while each of its sources has room; when it ends, they all do.
    pub fn by_shard(consumers: Vec<Consumer<B, R>>, options: JoinOptions) -> Result<Self, OptionsError> {
        let now = consumers.first().map_or_else(Instant::now, Consumer::now);
        let mut core = JoinCore::new(options, now)?;
        let routes = consumers
            .iter()
            .map(|consumer| {
                let shards: Vec<(StreamKey, ShardId)> = match consumer.core().assignment() {
                    Some(assigned) if !assigned.is_empty() => assigned.iter().cloned().collect(),
                    // A consumer has at least one stream: this is never empty.
                    _ => consumer.core().streams().iter().map(|key| (key.clone(), ShardId::ZERO)).collect(),
                };
                shards.into_iter().map(|(key, shard)| (key, shard, core.add_source(now))).collect()
            })
            .collect();
        Ok(Self { sources: consumers, routes: Some(routes), core, timer: Alarm::new() })
    }

    /// The state machine, for inspection (buffered messages, dropped count…).
    pub fn core(&self) -> &JoinCore {
        &self.core
    }

    /// The consumers (with [`new`](Self::new), in [`SourceId`] order).
    pub fn sources(&self) -> &[Consumer<B, R>] {
        &self.sources
    }

    /// Ends the join and gives the sources back. Messages the join held
    /// and had not handed out are dropped with it.
    pub fn into_sources(self) -> Vec<Consumer<B, R>> {
        self.sources
    }

    /// The join's clock: its first source's.
    pub fn now(&self) -> Instant {
        self.sources.first().map_or_else(Instant::now, Consumer::now)
    }

    fn is_virtual(&self) -> bool {
        self.sources.first().is_some_and(Consumer::is_virtual)
    }

    fn poll_joined(&mut self, cx: &mut Context<'_>, waiting: Waiting) -> Poll<Result<Joined, JoinError>> {
        for _ in 0..ROUNDS_PER_POLL {
            let now = self.now();
            let fed = self.take_input(cx, waiting, now);
            self.core.handle_timeout(now);
            if let Some(report) = self.core.poll_report() {
                return Poll::Ready(Err(report));
            }
            if let Some(joined) = self.core.poll_message() {
                return Poll::Ready(Ok(joined));
            }
            if let Some(end) = self.core.poll_end() {
                return Poll::Ready(Err(end));
            }
            if fed {
                continue;
            }
            if waiting == Waiting::Async && self.poll_timer(cx).is_ready() {
                continue;
            }
            return Poll::Pending;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Takes what each consumer has ready, while its sources have room;
    /// whether anything came.
    fn take_input(&mut self, cx: &mut Context<'_>, waiting: Waiting, now: Instant) -> bool {
        let mut fed = false;
        for (i, consumer) in self.sources.iter_mut().enumerate() {
            let routes = self.routes.as_mut().and_then(|routes| routes.get_mut(i));
            let mut input = Input { core: &mut self.core, routes, whole: SourceId(i), now };
            while input.has_room() {
                match consumer.poll_message(cx, waiting) {
                    Poll::Ready(Ok(message)) => input.message(message),
                    Poll::Ready(Err(ConsumerError::EndOfStream)) => input.end(None),
                    Poll::Ready(Err(err)) => input.end(Some(err)),
                    Poll::Pending => break,
                }
                fed = true;
            }
        }
        fed
    }

    /// Arms (or re-arms) the runtime timer for the join's deadline on the wall clock.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = self.core.poll_timeout().filter(|_| !self.is_virtual());
        self.timer.poll(cx, due)
    }

    /// Waits for the next message in join order. When every source has
    /// ended it reports [`JoinError::EndOfStream`]; under
    /// [`ErrorPolicy::KeepGoing`](weir_core::ErrorPolicy::KeepGoing) a failed
    /// source is reported once as [`JoinError::SourceLeftOut`], and the next
    /// call goes on.
    // The consumer API's own name; it returns a future, not an item.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> JoinNext<'_, B, R> {
        JoinNext { join: self }
    }

    /// The joined messages as a [`Stream`]. It ends after every source ended,
    /// or after yielding the error that ended the join; a
    /// [`JoinError::SourceLeftOut`] is yielded and the stream goes on.
    pub fn stream(&mut self) -> JoinStream<'_, B, R> {
        JoinStream { join: self, done: false }
    }

    /// The next message in join order, blocking the calling thread: for
    /// programs with no async runtime. Do not call it from an async task.
    pub fn next_blocking(&mut self) -> Result<Joined, JoinError> {
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = self.poll_joined(&mut cx, Waiting::Parked) {
                return out;
            }
            park(self.park_deadline());
        }
    }

    /// When a parked caller should wake up by itself: the earliest of the
    /// sources' deadlines and the join's own, on the wall clock.
    fn park_deadline(&self) -> Option<Instant> {
        let own = self.core.poll_timeout().filter(|_| !self.is_virtual());
        self.sources.iter().filter_map(Consumer::park_deadline).chain(own).min()
    }
}

/// One consumer's way into the core: its one source, or (`by_shard`) the
/// source of each (stream, shard).
struct Input<'a> {
    core: &'a mut JoinCore,
    routes: Option<&'a mut Vec<(StreamKey, ShardId, SourceId)>>,
    whole: SourceId,
    now: Instant,
}

impl Input<'_> {
    fn has_room(&self) -> bool {
        match &self.routes {
            None => self.core.has_room(self.whole),
            // Never empty (see `by_shard`): a consumer with no source would never be read.
            Some(routes) => !routes.is_empty() && routes.iter().all(|(_, _, id)| self.core.has_room(*id)),
        }
    }

    fn message(&mut self, message: Message) {
        let id = match &mut self.routes {
            None => self.whole,
            Some(routes) => {
                let (key, shard) = (&message.header.stream_key, message.header.shard);
                match routes.iter().find(|(k, s, _)| k == key && *s == shard) {
                    Some((_, _, id)) => *id,
                    None => {
                        let id = self.core.add_source(self.now);
                        routes.push((key.clone(), shard, id));
                        id
                    }
                }
            }
        };
        self.core.handle_message(self.now, id, message);
    }

    /// The consumer ended: each of its sources ends; a failure is the first one's.
    fn end(&mut self, mut failure: Option<ConsumerError>) {
        match &self.routes {
            None => self.core.handle_end(self.now, self.whole, failure),
            Some(routes) => {
                for (_, _, id) in routes.iter() {
                    self.core.handle_end(self.now, *id, failure.take());
                }
            }
        }
    }
}

/// The future of [`Join::next`]. Dropping it loses no message.
#[must_use = "futures do nothing unless awaited"]
pub struct JoinNext<'a, B, R: Runtime> {
    join: &'a mut Join<B, R>,
}

impl<B: ConsumerBackend, R: Runtime> Future for JoinNext<'_, B, R> {
    type Output = Result<Joined, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.join.poll_joined(cx, Waiting::Async)
    }
}

/// The stream of [`Join::stream`].
#[must_use = "streams do nothing unless polled"]
pub struct JoinStream<'a, B, R: Runtime> {
    join: &'a mut Join<B, R>,
    done: bool,
}

impl<B: ConsumerBackend, R: Runtime> Stream for JoinStream<'_, B, R> {
    type Item = Result<Joined, JoinError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.join.poll_joined(cx, Waiting::Async) {
            Poll::Ready(Ok(joined)) => Poll::Ready(Some(Ok(joined))),
            Poll::Ready(Err(JoinError::EndOfStream)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Err(err)) => {
                self.done = err.is_terminal();
                Poll::Ready(Some(Err(err)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
