//! `weir relay` and `weir produce`: move messages from one place to another.

use std::io::BufRead;

use anyhow::Context as _;
use weir::{ConsumerError, ConsumerMode, NoRuntime, ProducerOptions, StreamKey, StreamUrl};

use crate::consume::options;
use crate::stats::Stats;

/// Arguments of `weir relay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to consume from.
    #[arg(long)]
    input: StreamUrl,
    /// Where to produce to. Its first stream key renames every message's
    /// stream; messages keep their timestamps.
    #[arg(long)]
    output: StreamUrl,
    /// realtime, resumable or load-balanced.
    #[arg(long, default_value = "realtime")]
    mode: ConsumerMode,
    /// The consumer group (required by load-balanced).
    #[arg(long)]
    group: Option<String>,
    /// Print messages/s and bytes/s to stderr once a second.
    #[arg(long)]
    stats: bool,
}

/// Relays until the input ends.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = weir::connect_url::<NoRuntime>(args.input.streamer())?;
    let output = weir::connect_url::<NoRuntime>(args.output.streamer())?;
    let mut consumer = input.create_consumer(args.input.streams(), options(args.mode, args.group)?)?;
    let mut producer = output.create_producer(ProducerOptions::default())?;
    let target: Option<StreamKey> = args.output.streams().first().cloned();
    let stats = Stats::start(args.stats);
    loop {
        let message = match consumer.next_blocking() {
            Ok(message) => message,
            Err(ConsumerError::EndOfStream) => break,
            Err(err) => return Err(err).context("consuming"),
        };
        stats.count(message.payload.len());
        let key = target.as_ref().unwrap_or(&message.header.stream_key);
        let h = &message.header;
        let _receipt = producer
            .send_at(key, message.payload.clone(), Some(h.timestamp))
            .with_context(|| format!("relaying message {}/{}/{}", h.stream_key, h.shard, h.seq))?;
    }
    producer.end_blocking().context("flushing the output")?;
    // Only after the output holds everything: commit means "relayed".
    crate::consume::commit_on_exit(&mut consumer)
}

/// Arguments of `weir produce`.
#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    /// Where to produce, e.g. kafka://localhost:9092/orders. Each line of
    /// stdin becomes one message of the first stream.
    url: StreamUrl,
    /// Print messages/s and bytes/s to stderr once a second.
    #[arg(long)]
    stats: bool,
}

/// Produces one message per stdin line (line endings removed).
pub fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let streamer = weir::connect_url::<NoRuntime>(args.url.streamer())?;
    let mut producer = streamer.create_producer(ProducerOptions::default())?;
    let key = &args.url.streams()[0];
    let stats = Stats::start(args.stats);
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        stats.count(body.len());
        let _receipt = producer.send_to(key, body.to_vec()).context("producing")?;
    }
    producer.end_blocking().context("flushing the output")?;
    Ok(())
}
