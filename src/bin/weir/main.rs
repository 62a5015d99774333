//! `weir`: move messages between stdio pipes, Kafka and the simulator.
//!
//! ```text
//! weir clock --stream stdio:///ticks --count 5 | weir consume stdio:///ticks --format payload
//! ```

mod clock;
mod consume;
mod format;
mod relay;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Move messages between stdio pipes, Kafka and the simulator.
///
/// Streams are named by URL: stdio:///keyA,keyB (stdin/stdout),
/// kafka://host:9092/topic, sim://name/stream.
#[derive(Parser, Debug)]
#[command(name = "weir", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Produce a numbered tick at a fixed interval.
    Clock(clock::Args),
    /// Consume a stream and print its messages to stdout.
    Consume(consume::Args),
    /// Produce one message per line of stdin.
    Produce(relay::ProduceArgs),
    /// Consume from one URL and produce every message to another.
    Relay(relay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Clock(args) => clock::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Produce(args) => relay::produce(args),
        Command::Relay(args) => relay::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("weir: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
