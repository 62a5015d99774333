use std::time::Instant;

use weir_core::backend::BlockingJob;

use super::Runtime;

/// The tokio runtime. Needs a runtime with the time driver enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Timer = tokio::time::Sleep;

    fn timer(deadline: Instant) -> Self::Timer {
        tokio::time::sleep_until(deadline.into())
    }

    fn spawn_blocking(job: BlockingJob) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(job)),
            // Polled outside any tokio context, so on no executor thread: run it here.
            Err(_) => job(),
        }
    }
}
