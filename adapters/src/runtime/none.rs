use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Instant;

use weir_core::backend::BlockingJob;

use super::Runtime;

/// No async runtime: blocking calls run on the calling thread, and timers
/// (rarely armed) sleep on a thread of their own. For programs that call
/// `next_blocking` or [`block_on`](crate::block_on); not for use inside an
/// async executor, whose thread it would block.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRuntime;

impl Runtime for NoRuntime {
    type Timer = ThreadTimer;

    fn timer(deadline: Instant) -> Self::Timer {
        ThreadTimer { deadline, shared: None }
    }

    fn spawn_blocking(job: BlockingJob) {
        // Without an executor the calling thread is the program's own: it may block.
        job();
    }
}

/// A timer that sleeps on a thread of its own once first polled.
#[derive(Debug)]
pub struct ThreadTimer {
    deadline: Instant,
    shared: Option<Arc<Mutex<Option<Waker>>>>,
}

impl Future for ThreadTimer {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.shared {
            Some(shared) => *shared.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone()),
            None => {
                let shared = Arc::new(Mutex::new(Some(cx.waker().clone())));
                let (deadline, waiting) = (self.deadline, shared.clone());
                let spawned = thread::Builder::new().name("weir-timer".into()).spawn(move || {
                    thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    if let Some(waker) = waiting.lock().unwrap_or_else(PoisonError::into_inner).take() {
                        waker.wake();
                    }
                });
                if spawned.is_err() {
                    // No thread for the timer: poll again soon rather than never.
                    cx.waker().wake_by_ref();
                }
                self.shared = Some(shared);
            }
        }
        Poll::Pending
    }
}
