//! Driving futures with no runtime: park the thread until woken.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    /// One waker per thread, made once: `next_blocking` runs per message, and
    /// a backend that keeps the last waker sees the same one (`will_wake`).
    static THREAD_WAKER: Waker = Waker::from(Arc::new(Unparker(thread::current())));
}

/// A waker that unparks the current thread.
pub(crate) fn thread_waker() -> Waker {
    THREAD_WAKER.with(Waker::clone)
}

/// Runs `f` with the waker that unparks the current thread, borrowed: no
/// clone, whose two reference count updates `next_blocking` would pay per message.
pub(crate) fn with_thread_waker<T>(f: impl FnOnce(&Waker) -> T) -> T {
    THREAD_WAKER.with(f)
}

/// Parks the current thread until woken or until `deadline`.
pub(crate) fn park(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => thread::park_timeout(deadline.saturating_duration_since(Instant::now())),
        None => thread::park(),
    }
}

/// Runs a future to completion on the current thread, with no runtime.
///
/// Use it with [`NoRuntime`](crate::NoRuntime) consumers and producers
/// (`block_on(consumer.seek(t))`); never inside an async task.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        park(None);
    }
}
