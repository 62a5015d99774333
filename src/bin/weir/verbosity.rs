//! Where the library's diagnostics go: `tracing` events to stderr.
//!
//! Quiet by default (warnings and errors only), `-v` adds info (assignments,
//! positioning, connections, end of input), `-vv` debug (commits, faults,
//! malformed input), `-vvv` trace. `RUST_LOG`, when set, replaces all of that
//! with its own filter (`RUST_LOG=weir_adapters=debug,warn`). Messages go to
//! stdout and diagnostics to stderr, so a pipeline's data stays clean.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// How much to say, counted from `-v` flags.
#[derive(clap::Args, Debug)]
pub struct Verbosity {
    /// Report more on stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

impl Verbosity {
    /// The level `-v` flags ask for.
    pub fn level(&self) -> LevelFilter {
        match self.verbose {
            0 => LevelFilter::WARN,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    }

    /// Installs the stderr subscriber for the whole process.
    pub fn install(&self) {
        let level = EnvFilter::default().add_directive(self.level().into());
        let filter = match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.trim().is_empty() => {
                match EnvFilter::builder().with_default_directive(self.level().into()).parse(&spec) {
                    Ok(filter) => filter,
                    Err(err) => {
                        eprintln!("weir: ignoring RUST_LOG={spec:?}: {err}");
                        level
                    }
                }
            }
            _ => level,
        };
        // Fails only if a subscriber is set already; then that one reports.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
}
