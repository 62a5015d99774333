//! A runtime timer re-armed for whatever deadline a state machine asks for.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::runtime::Runtime;

/// The timer for a core's next deadline (`poll_timeout`), made anew only when
/// the deadline changes.
pub(crate) struct Alarm<R: Runtime> {
    armed: Option<(Instant, Pin<Box<R::Timer>>)>,
}

impl<R: Runtime> Alarm<R> {
    pub(crate) fn new() -> Self {
        Self { armed: None }
    }

    /// `Ready` once `due` has passed; `None` (no deadline, or virtual time,
    /// which moves by the simulator's hand, not by waiting) disarms it.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, due: Option<Instant>) -> Poll<()> {
        let Some(due) = due else {
            self.armed = None;
            return Poll::Pending;
        };
        let timer = match &mut self.armed {
            Some((at, timer)) if *at == due => timer,
            slot => &mut slot.insert((due, Box::pin(R::timer(due)))).1,
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(_) => {
                self.armed = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
