//! weir-stdio: streams on unix pipes, one message per line.
//!
//! ```text
//! [2026-01-02T03:04:05.123456 | orders | 42 | 0] payload
//! ```
//! Consumers read the process's stdin (one reader per process, started by the
//! first consumer so no early line is lost); producers write its stdout. See
//! [`codec`] for the line format. Rewind, seek, commits and Resumable are not
//! supported and are refused with clear errors.
//!
//! Lines have no length limit: a line is held in memory, whole, until its
//! newline (or the end of input) arrives, so memory grows with the longest
//! line. When the reader of stdout closes it, producers fail with
//! [`BackendErrorKind::PeerClosed`](weir_core::BackendErrorKind::PeerClosed).

pub mod codec;
mod consumer;
mod hub;
mod input;
mod output;
mod producer;

use std::io::{Read, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, OnceLock};

pub use consumer::StdioConsumer;
pub use producer::StdioProducer;
use weir_core::backend::Streamer;
use weir_core::consumer::Capabilities;
use weir_core::{ConsumerCore, ProducerOptions, StreamerError, StreamerUrl, UrlError};

use hub::Hub;
use input::Source;
use output::Output;

/// What stdio consumers can do: read shard 0, nothing else.
pub const CAPABILITIES: Capabilities =
    Capabilities { backend: "stdio", rewind: false, seek: false, commit: false, shards: Some(1) };

/// The stdio backend: an input shared by its consumers, an output shared by its producers.
#[derive(Clone)]
pub struct StdioStreamer {
    hub: Arc<Hub>,
    output: Arc<Output>,
}

impl StdioStreamer {
    /// The process's stdin and stdout; every call returns the same pair.
    ///
    /// Stdin is read from its file descriptor (after what `std::io::stdin()`
    /// may have buffered). On Linux, a stdin or stdout that is a pipe is
    /// grown to 256 KiB if the system allows, so that the processes on either
    /// side wake each other less often.
    pub fn process() -> Self {
        static PROCESS: OnceLock<StdioStreamer> = OnceLock::new();
        PROCESS
            .get_or_init(|| {
                #[cfg(unix)]
                {
                    input::grow_pipe(std::io::stdin().as_fd());
                    input::grow_pipe(std::io::stdout().as_fd());
                }
                Self { hub: Hub::new(Source::stdin()), output: Output::new(Box::new(std::io::stdout())) }
            })
            .clone()
    }

    /// Any input and output, e.g. in-memory pipes for tests or embedding.
    pub fn with_io(input: Box<dyn Read + Send>, output: Box<dyn Write + Send>) -> Self {
        Self { hub: Hub::new(Source::Reader(input)), output: Output::new(output) }
    }

    /// Input read from a file descriptor (a pipe, a file, …), straight into
    /// the reader's buffer; a pipe is read a whole pipe at a time.
    #[cfg(unix)]
    pub fn with_input_fd(input: OwnedFd, output: Box<dyn Write + Send>) -> Self {
        Self { hub: Hub::new(Source::Fd(input)), output: Output::new(output) }
    }

    /// Writes the output in large batches: a line is written once 256 KiB are
    /// queued or when a producer flushes, not as soon as the writer is free.
    ///
    /// For a caller that flushes (`Producer::flush`, even polled once)
    /// whenever it has nothing more to send for now, and before it drops its
    /// producers: lines neither flushed nor batched stay queued. Applies to
    /// every producer of this streamer's output. Called before the first
    /// send, the batches are written by the sending thread (the send or flush
    /// that completes a batch blocks while the output does), with no writer
    /// thread to hand them to; called later, the writer thread is woken per batch.
    pub fn batch_writes(&self) {
        self.output.batch_writes();
    }

    /// The streamer a `stdio://` URL names: the process's stdin and stdout.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        url.deny_unknown_params(&[])?;
        Ok(Self::process())
    }
}

impl Streamer for StdioStreamer {
    type Consumer = StdioConsumer;
    type Producer = StdioProducer;

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<StdioConsumer, StreamerError> {
        let group = core.options().group().cloned();
        let id = self.hub.register(core.streams().to_vec(), group)?;
        Ok(StdioConsumer::new(self.hub.clone(), id))
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<StdioProducer, StreamerError> {
        Ok(StdioProducer::new(self.output.clone()))
    }
}
