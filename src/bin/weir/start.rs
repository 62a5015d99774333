//! Where `weir consume` and `weir relay` start and when they stop:
//! `--from`, `--shard` and `--exit-at-end`.
//!
//! Each is a positioning the library offers (`assign`, then one `rewind` or
//! `seek` before the first message). A realtime consumer takes them at once.
//! A resumable one given `--shard` takes them at once too: it reads those
//! shards, outside its group's assignment. Given only `--from`, it takes it
//! once its group has given it its shards (on Kafka a rewind or seek moves
//! only those, so one asked for earlier would move nothing). Either way it
//! commits what it wrote out to its group, as always. A
//! load-balanced group chooses its members' shards and where they start, so
//! that mode refuses the flags instead of ignoring them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use weir::core::StreamShard;
use weir::{
    ConsumerError, ConsumerMode, Message, MessageHeader, NoRuntime, SeqNo, SeqPos, ShardId, StreamInfo,
    StreamKey, StreamUrl, Timestamp,
};

use crate::exit::Usage;

/// The flags, shared by `weir consume` and `weir relay`.
#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Start at `beginning`, `end`, a sequence number (`500`), a time
    /// (RFC 3339, `2026-01-02T03:04:05Z`) or a time ago (`-5m`, `-1h30m`).
    /// Without it a realtime consumer reads only what is produced from now
    /// on (Kafka: unless the URL says auto.offset.reset=earliest), a
    /// resumable one where its group committed. Not on stdio, which reads
    /// its input once, as it comes, nor for a load-balanced group.
    #[arg(long, value_name = "WHERE", value_parser = From::parse, allow_hyphen_values = true)]
    from: Option<From>,
    /// Read only this shard (Kafka: partition) of every stream; repeat for
    /// more. Not for a load-balanced group, which assigns its members' shards.
    #[arg(long, value_name = "N")]
    shard: Vec<u32>,
    /// Stop, with status 0, once every shard read is caught up to the end it
    /// had when weir started, or nothing more came for 10 s (stdio: the end
    /// of the input, as always). In resumable mode, with --from.
    #[arg(short = 'e', long)]
    exit_at_end: bool,
    /// Follow a file:// input like `tail -f`: start at its end and wait for
    /// appends (the same as `?follow=true` in its URL). Only for files: the
    /// other inputs wait for more by themselves.
    #[arg(long)]
    follow: bool,
}

impl Flags {
    /// Whether `--exit-at-end` was given.
    pub fn exit_at_end(&self) -> bool {
        self.exit_at_end
    }

    /// The input's streamer as `--follow` says: a file streamer that follows.
    pub fn follow(
        &self,
        url: &StreamUrl,
        streamer: weir::Streamer<NoRuntime>,
    ) -> anyhow::Result<weir::Streamer<NoRuntime>> {
        if !self.follow {
            return Ok(streamer);
        }
        match streamer.backend() {
            #[cfg(feature = "file")]
            weir::AnyStreamer::File(file) => {
                let options = weir::file::FileOptions { follow: true, ..*file.options() };
                let file = weir::file::FileStreamer::new(file.path(), options);
                Ok(weir::Streamer::new(weir::AnyStreamer::File(file)))
            }
            _ => {
                Err(Usage(format!("--follow is for file:// inputs, not {url}: it waits for more by itself"))
                    .into())
            }
        }
    }
}

/// Where `--from` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    /// A rewind.
    Seq(SeqPos),
    /// A seek.
    Time(Timestamp),
}

impl From {
    /// Reads `beginning`, `end`, a seq, a time or a time ago.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fail = || {
            format!(
                "{text:?} is not beginning, end, a sequence number, a time (2026-01-02T03:04:05Z) \
                 or a time ago (-5m)"
            )
        };
        Ok(match text {
            "beginning" => Self::Seq(SeqPos::Beginning),
            "end" => Self::Seq(SeqPos::End),
            _ if text.bytes().all(|b| b.is_ascii_digit()) => {
                Self::Seq(SeqPos::At(SeqNo(text.parse().map_err(|_| fail())?)))
            }
            _ => match text.strip_prefix('-') {
                Some(ago) => {
                    let ago = humantime::parse_duration(ago).map_err(|_| fail())?;
                    let at = SystemTime::now().checked_sub(ago).ok_or_else(fail)?;
                    Self::Time(Timestamp::from_datetime(at.into()))
                }
                // weir's own form (what `--format line` prints), else RFC 3339 with any offset.
                None => Self::Time(Timestamp::parse(text).or_else(|_| {
                    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                        .map(Timestamp::from_datetime)
                        .map_err(|_| fail())
                })?),
            },
        })
    }
}

impl fmt::Display for From {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Seq(SeqPos::Beginning) => f.write_str("beginning"),
            Self::Seq(SeqPos::End) => f.write_str("end"),
            Self::Seq(SeqPos::At(seq)) => seq.fmt(f),
            Self::Time(at) => at.fmt(f),
        }
    }
}

/// Refuses flags the mode or backend cannot honour, before anything connects
/// or reads: status 2, naming the flag.
pub fn check(args: &Flags, mode: ConsumerMode, streamer: &weir::Streamer<NoRuntime>) -> anyhow::Result<()> {
    let refuse = |what: String| Err(Usage(what).into());
    match mode {
        ConsumerMode::RealTime => return check_backend(args, streamer),
        ConsumerMode::Resumable => {
            if let (Some(shard), None) = (args.shard.first(), args.from) {
                return refuse(format!(
                    "--shard {shard} needs --from with --mode resumable: the shards chosen are read \
                     from a rewind or seek, not from where the group committed"
                ));
            }
            if args.exit_at_end && args.from.is_none() {
                return refuse(
                    "--exit-at-end needs --from with --mode resumable: where the group resumes is the \
                     broker's to say, so where each shard starts is not known"
                        .into(),
                );
            }
            return check_backend(args, streamer);
        }
        ConsumerMode::LoadBalanced => {}
    }
    if let Some(shard) = args.shard.first() {
        return refuse(format!(
            "--shard {shard} cannot be used with --mode load-balanced: the group assigns shards to its \
             members; use --mode realtime or resumable to read chosen shards"
        ));
    }
    if let Some(from) = args.from {
        return refuse(format!(
            "--from {from} cannot be used with --mode load-balanced: the group's consumers start where \
             it committed; use --mode realtime or resumable to start elsewhere"
        ));
    }
    if args.exit_at_end {
        return refuse(
            "--exit-at-end cannot be used with --mode load-balanced: where the group's consumers start \
             is the broker's to say; use --mode realtime with --from"
                .into(),
        );
    }
    Ok(())
}

fn check_backend(args: &Flags, streamer: &weir::Streamer<NoRuntime>) -> anyhow::Result<()> {
    use weir::core::backend::Streamer as _;
    let caps = streamer.backend().capabilities();
    let backend = caps.backend;
    match args.from {
        Some(from @ From::Seq(_)) if !caps.rewind => Err(Usage(format!(
            "--from {from}: {backend} cannot rewind: it reads its input once, as it comes"
        ))
        .into()),
        Some(from @ From::Time(_)) if !caps.seek => {
            Err(Usage(format!("--from {from}: {backend} cannot seek: it reads its input once, as it comes"))
                .into())
        }
        _ => match args.shard.first() {
            Some(shard) if !caps.rewind => {
                Err(Usage(format!("--shard {shard}: {backend} cannot choose shards: it reads one input"))
                    .into())
            }
            _ => Ok(()),
        },
    }
}

/// How long `--exit-at-end` waits for a message before it takes what is
/// left as the end: a Kafka partition whose last offsets hold no message (a
/// transaction's commit or abort marker) never delivers the seq before its
/// high watermark, and a rewind below a partition's oldest kept message
/// continues where the broker's reset policy says (by default its end).
pub const QUIET: Duration = Duration::from_secs(10);

/// The shards still to read up to the end they had at the start (`--exit-at-end`).
#[derive(Debug, Default)]
pub struct Ends {
    /// Per shard, the seq of its last message at the start.
    waiting: BTreeMap<(StreamKey, ShardId), SeqNo>,
}

impl Ends {
    /// Whether every shard is caught up: stop before waiting for more.
    pub fn reached(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Notes a message written out.
    pub fn record(&mut self, header: &MessageHeader) {
        let shard = (header.stream_key.clone(), header.shard);
        if self.waiting.get(&shard).is_some_and(|last| header.seq >= *last) {
            self.waiting.remove(&shard);
        }
    }

    /// The next message; `Err(EndOfStream)` once nothing came for [`QUIET`]:
    /// what is left cannot arrive, and a warning names it.
    fn next(&mut self, consumer: &mut weir::Consumer<NoRuntime>) -> Result<Message, ConsumerError> {
        if let Some(got) = block_until(consumer.next(), Instant::now() + QUIET) {
            return got;
        }
        let left: Vec<String> =
            self.waiting.iter().map(|((key, shard), last)| format!("{key}/{shard} (to #{last})")).collect();
        eprintln!(
            "weir: warning: nothing came for {}s: taking the end as reached, short of {} (its last \
             offsets hold no message, e.g. a transaction marker, or the start was reset past them)",
            QUIET.as_secs(),
            left.join(", ")
        );
        self.waiting.clear();
        Err(ConsumerError::EndOfStream)
    }
}

/// The next message; with `--exit-at-end` (`ends`), `Err(EndOfStream)`
/// once nothing more came for [`QUIET`].
pub fn next(
    consumer: &mut weir::Consumer<NoRuntime>,
    ends: Option<&mut Ends>,
) -> Result<Message, ConsumerError> {
    match ends {
        None => consumer.next_blocking(),
        Some(ends) => ends.next(consumer),
    }
}

/// Polls `future` on this thread, parked between wake-ups, until it is
/// done (`Some`) or `deadline` has passed (`None`).
fn block_until<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    thread_local! {
        // Made once per thread, not per message; a backend that keeps the
        // last waker sees the same one.
        static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
    }
    let waker = WAKER.with(Waker::clone);
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        thread::park_timeout(left);
    }
}

/// Waits until the group has given a resumable consumer its shards: on
/// Kafka a rewind or seek moves only those. No message comes before them.
fn group_shards(consumer: &mut weir::Consumer<NoRuntime>) -> anyhow::Result<BTreeSet<StreamShard>> {
    weir::block_on(std::future::poll_fn(|cx| {
        if let Some(shards) = consumer.core().assignment() {
            return Poll::Ready(Ok(shards.clone()));
        }
        if let Poll::Ready(Err(err)) = std::pin::Pin::new(&mut consumer.next()).poll(cx) {
            return Poll::Ready(Err(err));
        }
        // A message that came with the assignment is from before the move:
        // the rewind or seek delivers it again if it is past the target.
        match consumer.core().assignment() {
            Some(shards) => Poll::Ready(Ok(shards.clone())),
            None => Poll::Pending,
        }
    }))
    .context("waiting for the group to assign shards")
}

/// Positions a new consumer as the flags say (nothing if none is given).
/// With `--exit-at-end`, the ends to stop at; `None` means run until the
/// input ends (or for ever).
pub fn begin(
    args: &Flags,
    url: &StreamUrl,
    streamer: &weir::Streamer<NoRuntime>,
    consumer: &mut weir::Consumer<NoRuntime>,
) -> anyhow::Result<Option<Ends>> {
    let caps = *consumer.core().capabilities();
    if args.from.is_none() && args.shard.is_empty() && !args.exit_at_end {
        return Ok(None);
    }
    if !caps.rewind {
        // stdio (refused --from and --shard already): its input ends by itself.
        return Ok(None);
    }
    // The ends are read before the consumer moves: "the end it had at the start".
    let listed = match weir::block_on(streamer.list_streams(url.streams())) {
        Ok(listed) => listed,
        Err(weir::StreamerError::Unsupported { .. }) if !args.exit_at_end => {
            // It can position but not list: the shards named, else the library's default.
            return position_unlisted(args, url, streamer, consumer);
        }
        Err(err @ weir::StreamerError::Unsupported { .. }) => {
            return Err(Usage(format!("--exit-at-end needs to know where each shard ends: {err}")).into())
        }
        Err(err) => return Err(err).with_context(|| format!("listing the streams of {url}")),
    };
    let shards = match consumer.core().options().mode() {
        ConsumerMode::Resumable if args.shard.is_empty() => {
            let given = group_shards(consumer)?;
            assign_given(&given, &listed, consumer)?
        }
        _ => assign(args, &listed, consumer)?,
    };
    let from = args.from.unwrap_or_else(|| From::Seq(default_start(streamer)));
    let starts = match from {
        From::Time(at) if args.exit_at_end => {
            let shards: Vec<_> = shards.keys().cloned().collect();
            weir::block_on(streamer.seqs_at(&shards, at))
                .with_context(|| format!("looking up where {at} is"))?
                .into_iter()
                .collect()
        }
        _ => BTreeMap::new(),
    };
    move_to(from, consumer)?;
    if !args.exit_at_end {
        return Ok(None);
    }
    let mut ends = Ends::default();
    for (shard, (low, high)) in shards {
        let start = match from {
            From::Seq(SeqPos::Beginning) => low,
            From::Seq(SeqPos::End) => high,
            From::Seq(SeqPos::At(seq)) => seq.max(low),
            From::Time(_) => starts.get(&shard).copied().unwrap_or(high),
        };
        if start < high {
            ends.waiting.insert(shard, SeqNo(high.0 - 1));
        }
    }
    Ok(Some(ends))
}

/// [`begin`] without `--exit-at-end` on a backend that cannot list: each
/// `--shard` of every stream is assigned as named (a missing one fails as
/// the backend says), then the consumer moves.
fn position_unlisted(
    args: &Flags,
    url: &StreamUrl,
    streamer: &weir::Streamer<NoRuntime>,
    consumer: &mut weir::Consumer<NoRuntime>,
) -> anyhow::Result<Option<Ends>> {
    if consumer.core().options().mode() == ConsumerMode::Resumable && args.shard.is_empty() {
        for (key, shard) in group_shards(consumer)? {
            consumer.assign(key, shard).context("assigning the group's shards")?;
        }
    }
    for key in url.streams() {
        for &shard in &args.shard {
            consumer
                .assign(key.clone(), ShardId(shard))
                .map_err(|err| Usage(format!("--shard {shard}: {err}")))?;
        }
    }
    let from = args.from.unwrap_or_else(|| From::Seq(default_start(streamer)));
    move_to(from, consumer)?;
    Ok(None)
}

/// The one rewind or seek before the first message.
fn move_to(from: From, consumer: &mut weir::Consumer<NoRuntime>) -> anyhow::Result<()> {
    let positioned = match from {
        From::Seq(pos) => weir::block_on(consumer.rewind(pos)),
        From::Time(at) => weir::block_on(consumer.seek(at)),
    };
    positioned.with_context(|| format!("moving to --from {from}"))
}

/// Assigns the `--shard`s of every stream (every shard if none is given);
/// the assigned shards with their watermarks.
fn assign(
    args: &Flags,
    listed: &[StreamInfo],
    consumer: &mut weir::Consumer<NoRuntime>,
) -> anyhow::Result<BTreeMap<(StreamKey, ShardId), (SeqNo, SeqNo)>> {
    let mut assigned = BTreeMap::new();
    for stream in listed {
        let shards: Vec<_> = stream
            .shards
            .iter()
            .filter(|info| args.shard.is_empty() || args.shard.contains(&info.shard.0))
            .collect();
        if let Some(missing) = args.shard.iter().find(|n| !shards.iter().any(|info| info.shard.0 == **n)) {
            let last = stream.shards.len().saturating_sub(1);
            return Err(Usage(format!(
                "--shard {missing}: stream {} has no shard {missing} (its shards are 0 to {last})",
                stream.key
            ))
            .into());
        }
        for info in shards {
            consumer.assign(stream.key.clone(), info.shard).map_err(|err| match err {
                ConsumerError::NoSuchShard { .. } => anyhow::Error::from(Usage(format!("--shard: {err}"))),
                err => anyhow::Error::from(err).context("assigning shards"),
            })?;
            assigned.insert((stream.key.clone(), info.shard), (info.low, info.high));
        }
    }
    Ok(assigned)
}

/// Assigns the shards a resumable consumer's group gave it (so that the
/// move covers each of them, not only the library's default shard 0); the
/// assigned shards with their watermarks.
fn assign_given(
    given: &BTreeSet<StreamShard>,
    listed: &[StreamInfo],
    consumer: &mut weir::Consumer<NoRuntime>,
) -> anyhow::Result<BTreeMap<(StreamKey, ShardId), (SeqNo, SeqNo)>> {
    let mut assigned = BTreeMap::new();
    for (key, shard) in given {
        consumer.assign(key.clone(), *shard).context("assigning the group's shards")?;
        let marks = listed
            .iter()
            .filter(|stream| stream.key == *key)
            .flat_map(|stream| &stream.shards)
            .find(|info| info.shard == *shard)
            .map_or((SeqNo(0), SeqNo(0)), |info| (info.low, info.high));
        assigned.insert((key.clone(), *shard), marks);
    }
    Ok(assigned)
}

/// Where a RealTime consumer starts when `--from` is not given: Kafka's
/// `auto.offset.reset` (latest unless the URL says otherwise), a replayed
/// file's beginning (where its consumers start), else the end.
fn default_start(streamer: &weir::Streamer<NoRuntime>) -> SeqPos {
    #[cfg(feature = "kafka")]
    if let weir::AnyStreamer::Kafka(kafka) = streamer.backend() {
        if kafka.options().auto_offset_reset == Some(weir_kafka::OffsetReset::Earliest) {
            return SeqPos::Beginning;
        }
    }
    #[cfg(feature = "file")]
    if let weir::AnyStreamer::File(file) = streamer.backend() {
        if !file.options().follow {
            return SeqPos::Beginning;
        }
    }
    let _ = streamer;
    SeqPos::End
}
