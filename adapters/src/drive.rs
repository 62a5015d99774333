//! The one loop that drives a backend through the core, for every runtime.

use std::task::{Context, Poll};
use std::time::Instant;

use weir_core::backend::ConsumerBackend;
use weir_core::ConsumerCore;

use crate::alarm::Alarm;
use crate::report::{self, Pending};
use crate::runtime::Runtime;

/// How many input rounds one poll may run before yielding to the executor, so
/// a busy backend cannot starve other tasks.
const ROUNDS_PER_POLL: usize = 64;

/// Where blocking jobs go and how idleness is waited out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Under an executor: blocking jobs to `R::spawn_blocking`, deadlines on `R::timer`.
    Async,
    /// On the caller's thread: blocking jobs run here; the caller parks until the deadline.
    Parked,
}

/// A core, its backend, and the timer for the core's next deadline.
pub(crate) struct Driver<B, R: Runtime> {
    pub(crate) core: ConsumerCore,
    pub(crate) backend: B,
    timer: Alarm<R>,
    /// The positioning sent last, timed for its diagnostic.
    positioning: Option<Pending>,
    /// Whether the backend may hold a blocking job: it makes them only when
    /// made, in `execute` and in `poll_input`, so after it said it has none
    /// it is not asked again, per message, until one of those ran.
    jobs: bool,
}

impl<B: ConsumerBackend, R: Runtime> Driver<B, R> {
    pub(crate) fn new(core: ConsumerCore, backend: B) -> Self {
        Self { core, backend, timer: Alarm::new(), positioning: None, jobs: true }
    }

    /// The backend's notion of now: virtual for a simulator, else the wall clock.
    pub(crate) fn now(&self) -> Instant {
        self.backend.virtual_now().unwrap_or_else(Instant::now)
    }

    /// Runs the I/O loop until `ready` finds its output in the core.
    ///
    /// Follows the core's drain order: due timers, then commands, then the
    /// awaited output, then input. `ready` must take its output only when it
    /// returns `Some`, which keeps every caller cancel-safe: dropping the
    /// future between polls loses nothing.
    pub(crate) fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        waiting: Waiting,
        mut ready: impl FnMut(&mut ConsumerCore) -> Option<T>,
    ) -> Poll<T> {
        for _ in 0..ROUNDS_PER_POLL {
            // The clock is read only while the core has a deadline (an
            // automatic commit): no other input takes `now`, and a read costs
            // about as much as the core's own work for a message.
            if let Some(due) = self.core.poll_timeout() {
                let now = self.now();
                if due <= now {
                    self.core.handle_timeout(now);
                }
            }
            while let Some(command) = self.core.poll_command() {
                if let Some(pending) = report::command(&self.core, &command, || self.now()) {
                    self.positioning = Some(pending);
                }
                self.backend.execute(command, &mut self.core);
                self.jobs = true;
            }
            while self.jobs {
                match self.backend.take_blocking() {
                    Some(job) => match waiting {
                        Waiting::Async => R::spawn_blocking(job),
                        Waiting::Parked => job(),
                    },
                    None => self.jobs = false,
                }
            }
            if let Some(out) = ready(&mut self.core) {
                return Poll::Ready(out);
            }
            let fed = self.backend.poll_input(cx, &mut self.core).is_ready();
            self.jobs = true;
            self.report();
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

    /// The core, if a round of [`poll_until`](Self::poll_until) would find
    /// nothing to do before `ready` (no deadline, no command, no blocking
    /// job): then an output already in the core may be taken from it
    /// directly, as that round would. The per-message path: small enough to
    /// inline, where the rounds are not.
    #[inline]
    pub(crate) fn quiet_core(&mut self) -> Option<&mut ConsumerCore> {
        let quiet = !self.jobs && self.core.poll_timeout().is_none() && !self.core.has_commands();
        quiet.then_some(&mut self.core)
    }

    /// Logs what the core decided since the last round (see [`report`]).
    fn report(&mut self) {
        while let Some(notice) = self.core.poll_notice() {
            let now = self.now();
            report::notice(&self.core, notice, &mut self.positioning, now);
        }
    }

    /// Arms (or re-arms) the runtime timer for the core's deadline on the wall clock.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Virtual time moves by the simulator's hand, not by waiting.
        let due = self.core.poll_timeout().filter(|_| self.backend.virtual_now().is_none());
        self.timer.poll(cx, due)
    }

    /// When a parked caller should wake up by itself, if ever.
    pub(crate) fn park_deadline(&self) -> Option<Instant> {
        self.core.poll_timeout().filter(|_| self.backend.virtual_now().is_none())
    }
}
