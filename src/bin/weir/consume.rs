//! `weir consume`: print a stream's messages.

use std::io::Write;

use anyhow::Context as _;
use weir::core::Scheme;
use weir::{ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, NoRuntime, OptionsError, StreamUrl};

use crate::commit::commit_all;
use crate::exit::Usage;
use crate::format::{self, Format};
use crate::merge;
use crate::start;
use crate::stats::Stats;

/// Arguments of `weir consume`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to consume, e.g. stdio:///orders or kafka://localhost:9092/orders.
    url: StreamUrl,
    /// More URLs to consume, with --merge.
    more: Vec<StreamUrl>,
    /// realtime, resumable or load-balanced.
    #[arg(long, default_value = "realtime")]
    mode: ConsumerMode,
    /// The consumer group (required by load-balanced).
    #[arg(long)]
    group: Option<String>,
    /// How to print each message: line, json, payload, or a template of
    /// fields {stream} {shard} {seq} {timestamp} {payload} among text, e.g.
    /// '{seq}: {payload}' ({{ and }} are literal braces).
    #[arg(long, default_value = "line", value_parser = Format::parse)]
    format: Format,
    /// Stop after this many messages.
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

/// Builds consumer options from the common flags, naming the flags when they contradict each other.
pub fn options(mode: ConsumerMode, group: Option<String>) -> anyhow::Result<ConsumerOptions> {
    let mut options = ConsumerOptions::new(mode);
    if let Some(group) = group {
        options.set_group(ConsumerGroup::new(group)?);
    }
    match options.validate() {
        Ok(()) => Ok(options),
        Err(OptionsError::GroupRequired { .. }) => {
            Err(Usage("--mode load-balanced needs a consumer group: pass --group NAME".into()).into())
        }
        Err(OptionsError::GroupNotAllowed { group, .. }) => Err(Usage(format!(
            "--group {group:?} needs --mode load-balanced or resumable: a realtime consumer takes no consumer group"
        ))
        .into()),
        Err(err) => Err(err.into()),
    }
}

/// Applies what the streamer's URL says about consuming: a `kafka://` URL's
/// `auto.commit.interval.ms` is how often a committing consumer commits (the
/// core commits, not librdkafka, so the URL alone would not reach it).
/// `enable.auto.offset.store=false` is refused: it is for applications that
/// call `store_offset`, and this tool commits what it has written out.
pub fn url_settings(
    streamer: &weir::Streamer<NoRuntime>,
    options: &mut ConsumerOptions,
) -> anyhow::Result<()> {
    #[cfg(feature = "kafka")]
    if let weir::AnyStreamer::Kafka(kafka) = streamer.backend() {
        if kafka.options().auto_offset_store == Some(false) {
            return Err(Usage(
                "enable.auto.offset.store=false is for applications that call store_offset; \
                 weir commits each message once it is written out"
                    .into(),
            )
            .into());
        }
        if options.mode().commits() {
            kafka.options().apply_to(options);
        }
    }
    #[cfg(not(feature = "kafka"))]
    let _ = (streamer, options);
    Ok(())
}

/// Connects to the streamer to consume from.
///
/// Not `sim://` without `--exit-at-end`: its broker lives inside this
/// process, where nothing else can produce to it, so consuming would wait forever.
pub fn connect_input(url: &StreamUrl, start: &start::Flags) -> anyhow::Result<weir::Streamer<NoRuntime>> {
    // Connecting first checks the URL's parameters, whatever the scheme.
    let streamer = start.follow(url, weir::connect_url(url.streamer())?)?;
    if url.streamer().scheme() == Scheme::Sim && !start.exit_at_end() {
        return Err(Usage(format!(
            "cannot consume {url}: a sim:// broker lives inside one process and nothing else can \
             produce to it, so this would wait forever; use sim:// from Rust (weir::connect), or \
             --exit-at-end"
        ))
        .into());
    }
    Ok(streamer)
}

/// Whether the core's next deadline (an automatic commit) is due within the
/// margin: `next_blocking` returns a buffered message at once, so a commit it
/// runs is one due by now.
fn commit_near(consumer: &weir::Consumer<NoRuntime>) -> bool {
    const MARGIN: std::time::Duration = std::time::Duration::from_millis(100);
    consumer.core().poll_timeout().is_some_and(|due| due <= std::time::Instant::now() + MARGIN)
}

/// Prints messages until the input ends (or `--count`, or `--exit-at-end`).
pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    consume_to(args, &mut std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()))
}

/// [`run`], printing to `out`.
pub(crate) fn consume_to(args: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let urls: Vec<&StreamUrl> = std::iter::once(&args.url).chain(&args.more).collect();
    if let Some(join) = merge::open(&args.merge, &urls, args.mode, args.group.as_ref(), &args.start)? {
        return print_merged(join, &args, out);
    }
    let streamer = connect_input(&args.url, &args.start)?;
    let mut options = options(args.mode, args.group)?;
    start::check(&args.start, options.mode(), &streamer)?;
    url_settings(&streamer, &mut options)?;
    let mut consumer = streamer.create_consumer(args.url.streams(), options)?;
    let mut ends = start::begin(&args.start, &args.url, &streamer, &mut consumer)?;
    let stats = Stats::start(args.stats);
    let mut scratch = format::Scratch::default();
    for _ in 0..args.count.unwrap_or(u64::MAX) {
        if ends.as_ref().is_some_and(start::Ends::reached) {
            break;
        }
        if commit_near(&consumer) {
            // The core's automatic commit may run inside the next call and
            // covers every message returned so far: they must be written out
            // first, or a crash right after would lose them.
            out.flush().context("writing stdout")?;
        }
        let message = match start::next(&mut consumer, ends.as_mut()) {
            Ok(message) => message,
            Err(ConsumerError::EndOfStream) => break,
            Err(err) => return Err(err).context("consuming"),
        };
        stats.count(message.payload.len());
        format::write(out, &args.format, &message, &mut scratch)?;
        if let Some(ends) = &mut ends {
            ends.record(&message.header);
        }
        if consumer.core().buffered() == 0 {
            // Nothing else is ready, so the next call may wait (and commit
            // meanwhile): let the reader see this one now.
            out.flush().context("writing stdout")?;
        }
    }
    out.flush().context("writing stdout")?;
    // The next run resumes after what this one printed.
    let committed = commit_all(&mut consumer);
    crate::commit::leave(&consumer);
    committed
}

/// Prints the merged stream of every URL (`--merge`) until every input ends (or `--count`).
fn print_merged(mut join: weir::Join<NoRuntime>, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let stats = Stats::start(args.stats);
    let mut scratch = format::Scratch::default();
    let mut printed = Ok(());
    for _ in 0..args.count.unwrap_or(u64::MAX) {
        // The next message may wait for a silent URL: let the reader see those printed now.
        let message = match merge::next(&mut join, || out.flush().context("writing stdout")) {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(err) => {
                printed = Err(err);
                break;
            }
        };
        stats.count(message.payload.len());
        format::write(out, &args.format, &message, &mut scratch)?;
    }
    out.flush().context("writing stdout")?;
    merge::report(&join);
    printed
}
