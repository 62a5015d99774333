//! `weir relay` and `weir produce`: move messages from one place to another.

use std::future::Future as _;
use std::io::BufRead;
use std::task::{Context, Waker};

use anyhow::Context as _;
use weir::{ConsumerError, ConsumerMode, NoRuntime, Producer, ProducerOptions, StreamKey, StreamUrl};

use crate::commit::{commit_all, Committer};
use crate::consume::options;
use crate::merge;
use crate::start;
use crate::stats::Stats;

/// Arguments of `weir relay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to consume from; repeat it, with --merge, to relay several
    /// inputs as one stream in time order.
    #[arg(long, required = true)]
    input: Vec<StreamUrl>,
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
    /// Stop after relaying this many messages.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    start: start::Flags,
    #[command(flatten)]
    merge: merge::MergeFlags,
    /// Print messages/s and bytes/s to stderr once a second.
    #[arg(long)]
    stats: bool,
}

/// Where a relay stops, besides the end of its input.
struct Stop {
    count: Option<u64>,
    ends: Option<start::Ends>,
}

/// Relays until the input ends (or `--count`, or `--exit-at-end`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let inputs: Vec<&StreamUrl> = args.input.iter().collect();
    if let Some(join) = merge::open(&args.merge, &inputs, args.mode, args.group.as_ref(), &args.start)? {
        return relay_merged(join, &args);
    }
    let first = inputs[0];
    let input = crate::consume::connect_input(first, &args.start)?;
    // `relay_all` flushes whenever its input is idle: stdout may wait for a batch.
    let output = connect_batched(&args.output)?;
    let mut options = options(args.mode, args.group)?;
    start::check(&args.start, options.mode(), &input)?;
    crate::consume::url_settings(&input, &mut options)?;
    let mut committer = Committer::take_over(&mut options);
    let mut consumer = input.create_consumer(first.streams(), options)?;
    let ends = start::begin(&args.start, first, &input, &mut consumer)?;
    let mut producer = output.create_producer(ProducerOptions::default())?;
    let target = args.output.streams().first();
    let stats = Stats::start(args.stats);
    let mut stop = Stop { count: args.count, ends };
    let relayed = relay_all(&mut consumer, &mut producer, &mut committer, target, &stats, &mut stop);
    end(producer, relayed)?;
    // Only after the output holds everything: commit means "relayed".
    let committed = commit_all(&mut consumer);
    crate::commit::leave(&consumer);
    committed
}

fn relay_all(
    consumer: &mut weir::Consumer<NoRuntime>,
    producer: &mut Producer<NoRuntime>,
    committer: &mut Committer,
    target: Option<&StreamKey>,
    stats: &Stats,
    stop: &mut Stop,
) -> anyhow::Result<()> {
    for _ in 0..stop.count.unwrap_or(u64::MAX) {
        if stop.ends.as_ref().is_some_and(start::Ends::reached) {
            break;
        }
        if committer.due() {
            producer.flush_blocking().context("flushing the output before a commit")?;
            committer.commit(consumer);
        }
        let message = match start::next(consumer, stop.ends.as_mut()) {
            Ok(message) => message,
            Err(ConsumerError::EndOfStream) => return Ok(()),
            Err(err) => return Err(err).context("consuming"),
        };
        stats.count(message.payload.len());
        // The payload moves on, not a clone: no reference count to raise and drop.
        let weir::Message { header, payload } = message;
        let key = target.unwrap_or(&header.stream_key);
        let h = &header;
        let _receipt = producer
            .send_at(key, payload, Some(h.timestamp))
            .with_context(|| format!("relaying message {}/{}/{}", h.stream_key, h.shard, h.seq))?;
        if let Some(ends) = &mut stop.ends {
            ends.record(h);
        }
        if consumer.core().buffered() == 0 {
            // Nothing else is ready, so the next call may wait: let what was sent go out now.
            start_flush(producer);
        }
    }
    Ok(())
}

/// Starts writing out what was sent, without waiting for it: a flush polled
/// once. A failure shows at the next send or at the end.
fn start_flush(producer: &mut Producer<NoRuntime>) {
    let flush = std::pin::pin!(producer.flush());
    let _ = flush.poll(&mut Context::from_waker(Waker::noop()));
}

/// Connects to `url` to produce to it; on stdout, writes in batches (see
/// `StdioStreamer::batch_writes`): the caller starts a flush
/// whenever its input has nothing ready.
fn connect_batched(url: &StreamUrl) -> anyhow::Result<weir::Streamer<NoRuntime>> {
    let output = weir::connect_url::<NoRuntime>(url.streamer())?;
    if let weir::AnyStreamer::Stdio(stdio) = output.backend() {
        stdio.batch_writes();
    }
    Ok(output)
}

/// Relays the merged stream of every `--input` (`--merge`) until every input ends (or `--count`).
fn relay_merged(mut join: weir::Join<NoRuntime>, args: &Args) -> anyhow::Result<()> {
    let output = connect_batched(&args.output)?;
    let mut producer = output.create_producer(ProducerOptions::default())?;
    let target = args.output.streams().first();
    let stats = Stats::start(args.stats);
    let mut relayed = Ok(());
    for _ in 0..args.count.unwrap_or(u64::MAX) {
        // The next message may wait for a silent input: let out what was sent.
        let idle = || {
            start_flush(&mut producer);
            Ok(())
        };
        let message = match merge::next(&mut join, idle) {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(err) => {
                relayed = Err(err);
                break;
            }
        };
        stats.count(message.payload.len());
        let h = &message.header;
        let sent = producer
            .send_at(target.unwrap_or(&h.stream_key), message.payload.clone(), Some(h.timestamp))
            .with_context(|| format!("relaying message {}/{}/{}", h.stream_key, h.shard, h.seq));
        if let Err(err) = sent {
            relayed = Err(err);
            break;
        }
    }
    merge::report(&join);
    end(producer, relayed)
}

/// Ends `producer` whatever `sent` says: what was sent before an error is
/// still delivered, not lost with the process. The first error wins.
pub fn end(mut producer: Producer<NoRuntime>, sent: anyhow::Result<()>) -> anyhow::Result<()> {
    let ended = producer.end_blocking().context("flushing the output");
    sent.and(ended)
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

/// How much of stdin `weir produce` reads at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Produces one message per stdin line (line endings removed).
pub fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let streamer = connect_batched(&args.url)?;
    let mut producer = streamer.create_producer(ProducerOptions::default())?;
    let stats = Stats::start(args.stats);
    let sent = produce_lines(&mut producer, &args.url.streams()[0], &stats);
    end(producer, sent)
}

fn produce_lines(producer: &mut Producer<NoRuntime>, key: &StreamKey, stats: &Stats) -> anyhow::Result<()> {
    let mut stdin = std::io::BufReader::with_capacity(READ_CHUNK, std::io::stdin().lock());
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        if stdin.buffer().is_empty() {
            // The next read may wait for more input: let out what was sent.
            start_flush(producer);
        }
        if stdin.read_until(b'\n', &mut line).context("reading stdin")? == 0 {
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        stats.count(body.len());
        let _receipt = producer
            .send_to(key, body.to_vec())
            .with_context(|| format!("producing line {number} of stdin"))?;
    }
    Ok(())
}
