use std::time::Instant;

use weir_core::backend::BlockingJob;

use super::Runtime;

/// The smol runtime (async-io timers, the blocking thread pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

impl Runtime for Smol {
    type Timer = smol::Timer;

    fn timer(deadline: Instant) -> Self::Timer {
        smol::Timer::at(deadline)
    }

    fn spawn_blocking(job: BlockingJob) {
        smol::unblock(job).detach();
    }
}
