//! How `weir` ends: its exit status, and the one line it prints on failure.

use std::error::Error;
use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use weir::{
    BackendError, BackendErrorKind, ConsumerError, OptionsError, ProducerError, StreamKeyError,
    StreamerError, UrlError,
};

/// The exit statuses, for `--help`.
pub const HELP: &str = "\
Exit status:
  0  done: the input ended, --count was reached, --exit-at-end caught up, or the reader
     of stdout closed it
  1  failed while running: reading or writing, the broker, a message that cannot be written
  2  the command line cannot work: an unknown subcommand or flag, a bad URL, stream key,
     URL parameter, group, --from or --shard, or options the mode or backend refuses";

/// A command line that cannot work as written, found after clap accepted it: status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Usage {}

/// Reports `err` on stderr and picks the exit status.
pub fn fail(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(stdout_closed) {
        // The reader has had enough, as with `weir consume … | head`: a normal end,
        // and nothing to say. Nothing was committed: the reader may not have seen it.
        return ExitCode::SUCCESS;
    }
    // If stderr is gone too there is nobody left to tell; that is no reason to panic.
    let _ = writeln!(std::io::stderr().lock(), "weir: error: {err:#}");
    if err.chain().any(is_usage) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn is_usage(err: &(dyn Error + 'static)) -> bool {
    err.is::<Usage>()
        || err.is::<UrlError>()
        || err.is::<OptionsError>()
        || err.is::<StreamKeyError>()
        || matches!(
            err.downcast_ref::<StreamerError>(),
            Some(
                StreamerError::Url(_)
                    | StreamerError::Options(_)
                    | StreamerError::StreamKey(_)
                    | StreamerError::Unsupported { .. }
            )
        )
}

fn stdout_closed(err: &(dyn Error + 'static)) -> bool {
    let peer_closed =
        |backend: &BackendError| backend.backend == "stdio" && backend.kind == BackendErrorKind::PeerClosed;
    // The backend errors wrap transparently, so the chain shows the wrapper only.
    err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
        || err.downcast_ref::<BackendError>().is_some_and(peer_closed)
        || matches!(err.downcast_ref::<ProducerError>(), Some(ProducerError::Backend(b)) if peer_closed(b))
        || matches!(err.downcast_ref::<ConsumerError>(), Some(ConsumerError::Backend(b)) if peer_closed(b))
}
