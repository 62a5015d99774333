//! The little a driver needs from an async runtime: a timer and a place to
//! run blocking calls. Each runtime is one short file.

use std::future::Future;
use std::time::Instant;

use weir_core::backend::BlockingJob;

#[cfg(feature = "runtime-async-std")]
mod async_std;
mod none;
#[cfg(feature = "runtime-smol")]
mod smol;
#[cfg(feature = "runtime-tokio")]
mod tokio;

#[cfg(feature = "runtime-async-std")]
pub use self::async_std::AsyncStd;
pub use self::none::NoRuntime;
#[cfg(feature = "runtime-smol")]
pub use self::smol::Smol;
#[cfg(feature = "runtime-tokio")]
pub use self::tokio::Tokio;

/// An async runtime, as seen by weir's drivers.
pub trait Runtime: Send + Sync + 'static {
    /// A future that completes at a deadline.
    type Timer: Future + Send;

    /// A timer completing at `deadline`.
    fn timer(deadline: Instant) -> Self::Timer;

    /// Runs `job` off the executor's threads, detached: it reports its own
    /// outcome, so nobody awaits it.
    fn spawn_blocking(job: BlockingJob);
}
