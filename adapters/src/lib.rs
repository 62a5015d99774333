//! weir-adapters: one generic driver that runs any weir backend on tokio,
//! async-std, smol, or no runtime at all.
//!
//! A runtime contributes only a timer and a place for blocking calls (the
//! [`Runtime`] trait, a few lines per runtime). Everything else — the loop
//! that feeds the core, hands out messages and waits — is written once, in
//! [`Consumer`] and [`Producer`].

mod alarm;
mod blocking;
mod consumer;
mod drive;
mod join;
mod producer;
mod report;
mod runtime;
mod streamer;

pub use blocking::block_on;
pub use consumer::{Consumer, MessageStream, Next};
pub use join::{Join, JoinNext, JoinStream};
pub use producer::Producer;
#[cfg(feature = "runtime-async-std")]
pub use runtime::AsyncStd;
#[cfg(feature = "runtime-smol")]
pub use runtime::Smol;
#[cfg(feature = "runtime-tokio")]
pub use runtime::Tokio;
pub use runtime::{NoRuntime, Runtime};
pub use streamer::Streamer;
