//! Ways to abandon a future: never polled, polled once with a waker nobody
//! listens to, raced against a short timer of the runtime, or awaited (with
//! a bound, so a lost wake-up fails the test instead of hanging it).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Mutex, Once, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use weir::Runtime;

use crate::rng::Rng;

/// How long an awaited operation may take on a healthy broker.
pub const AWAIT_LIMIT: Duration = Duration::from_secs(30);

/// What the test does with an operation's future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Made and dropped: the operation was asked for, nothing drove it.
    Unpolled,
    /// Polled once with a no-op waker, then dropped.
    PolledOnce,
    /// Raced against a timer of this long; dropped if the timer wins.
    Raced(Duration),
    /// Awaited to completion.
    Awaited,
}

impl How {
    /// A random way, dropping about `drop_percent` of the time.
    pub fn pick(rng: &mut Rng, drop_percent: u64) -> Self {
        if rng.below(100) >= drop_percent {
            return Self::Awaited;
        }
        match rng.below(3) {
            0 => Self::Unpolled,
            1 => Self::PolledOnce,
            // Mostly under a millisecond: drops land while the operation is under way.
            _ => Self::Raced(Duration::from_micros(rng.below(2_000))),
        }
    }
}

/// What became of an operation.
#[derive(Debug)]
pub enum Outcome<T> {
    /// It completed (possibly on the poll before a drop).
    Done(T),
    /// It was dropped unfinished.
    Dropped,
}

/// Drives `op` the way `how` says, on runtime `R`.
pub async fn drive<R: Runtime, F: Future>(op: F, how: How, what: &str) -> Outcome<F::Output> {
    let mut op = pin!(op);
    match how {
        How::Unpolled => Outcome::Dropped,
        How::PolledOnce => match op.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => Outcome::Done(out),
            Poll::Pending => Outcome::Dropped,
        },
        How::Raced(limit) => race::<R, _>(op, limit).await.map_or(Outcome::Dropped, Outcome::Done),
        How::Awaited => Outcome::Done(bounded(op, what).await),
    }
}

/// `op`'s output; a panic if it takes longer than [`AWAIT_LIMIT`]. No timer
/// per operation (without a runtime each would be a thread): a ticker
/// thread wakes the waiting task now and then to look at the clock.
pub async fn bounded<F: Future>(op: F, what: &str) -> F::Output {
    let deadline = Instant::now() + AWAIT_LIMIT;
    let mut op = pin!(op);
    poll_fn(|cx| {
        if let Poll::Ready(out) = op.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        assert!(Instant::now() < deadline, "{what} did not complete within {AWAIT_LIMIT:?}");
        wake_later(cx.waker());
        Poll::Pending
    })
    .await
}

/// How often the ticker wakes waiting tasks.
const TICK: Duration = Duration::from_millis(5000);

/// Wakes `waker` within [`TICK`] (on a thread of this process, started once).
fn wake_later(waker: &Waker) {
    static WAITING: Mutex<Vec<Waker>> = Mutex::new(Vec::new());
    static TICKER: Once = Once::new();
    TICKER.call_once(|| {
        std::thread::Builder::new()
            .name("test-ticker".into())
            .spawn(|| loop {
                std::thread::sleep(TICK);
                let due = std::mem::take(&mut *WAITING.lock().unwrap_or_else(PoisonError::into_inner));
                due.into_iter().for_each(Waker::wake);
            })
            .expect("the ticker thread");
    });
    let mut waiting = WAITING.lock().unwrap_or_else(PoisonError::into_inner);
    if !waiting.iter().any(|w| w.will_wake(waker)) {
        waiting.push(waker.clone());
    }
}

/// `op`'s output, or `None` if `limit` passed first (then `op` is dropped).
async fn race<R: Runtime, F: Future>(op: F, limit: Duration) -> Option<F::Output> {
    let mut op = pin!(op);
    let mut timer = pin!(R::timer(Instant::now() + limit));
    poll_fn(|cx| {
        if let Poll::Ready(out) = op.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
