//! `weir`: move messages between stdio pipes, Kafka and the simulator.
//!
//! ```text
//! weir clock --stream stdio:///ticks --count 5 | weir consume stdio:///ticks --format payload
//! ```

mod clock;
mod commit;
mod consume;
mod exit;
mod format;
mod list;
mod merge;
mod relay;
#[cfg(all(test, feature = "sim"))]
mod sim_tests;
mod start;
mod stats;
mod template;
mod verbosity;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Move messages between stdio pipes, Kafka and the simulator.
///
/// Streams are named by URL: stdio:///keyA,keyB (stdin/stdout),
/// kafka://host:9092/topic, redis://host:6379/stream, sim://name/stream.
#[derive(Parser, Debug)]
#[command(name = "weir", version, propagate_version = true, after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: verbosity::Verbosity,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Produce a numbered tick at a fixed interval.
    #[command(after_help = exit::HELP)]
    Clock(clock::Args),
    /// Consume a stream and print its messages to stdout.
    #[command(after_help = exit::HELP)]
    Consume(consume::Args),
    /// List the streams of a streamer, their shards and sequence numbers.
    #[command(after_help = exit::HELP)]
    List(list::Args),
    /// Produce one message per line of stdin.
    #[command(after_help = exit::HELP)]
    Produce(relay::ProduceArgs),
    /// Consume from one URL and produce every message to another.
    #[command(after_help = exit::HELP)]
    Relay(relay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.verbosity.install();
    let result = match cli.command {
        Command::Clock(args) => clock::run(args),
        Command::Consume(args) => consume::run(args),
        Command::List(args) => list::run(args),
        Command::Produce(args) => relay::produce(args),
        Command::Relay(args) => relay::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => exit::fail(&err),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
