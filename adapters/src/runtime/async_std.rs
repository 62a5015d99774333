use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use weir_core::backend::BlockingJob;

use super::Runtime;

/// The async-std runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn timer(deadline: Instant) -> Self::Timer {
        Box::pin(async_std::task::sleep(deadline.saturating_duration_since(Instant::now())))
    }

    fn spawn_blocking(job: BlockingJob) {
        drop(async_std::task::spawn_blocking(job));
    }
}
