//! `--merge`: several URLs read as one stream in time order (`weir consume`,
//! `weir relay`), through the library's join.

use std::future::Future as _;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use weir::core::Scheme;
use weir::{
    ConsumerMode, ErrorPolicy, JoinError, JoinOptions, Joined, LatePolicy, Message, NoRuntime, StreamKey,
    StreamUrl,
};

use crate::exit::Usage;
use crate::start;

/// What to do with a message older than one written out already.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Late {
    /// Write it out anyway, where it arrives.
    #[default]
    Deliver,
    /// Leave it out (counted on stderr at the end).
    Drop,
    /// Stop with an error naming it.
    Fail,
}

/// The flags, shared by `weir consume` and `weir relay`.
#[derive(clap::Args, Debug)]
pub struct MergeFlags {
    /// Read every URL given as one stream in time order (by timestamp, then
    /// stream, shard and seq).
    #[arg(long)]
    merge: bool,
    /// With --merge: how long a URL with nothing to read holds the others
    /// back (e.g. 200ms, 2s), or `none` to wait for it as long as it is open.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_wait)]
    max_wait: Wait,
    /// With --merge: what to do with a message older than one written out already.
    #[arg(long, value_enum, default_value_t)]
    late: Late,
    /// With --merge: a URL that fails is reported on stderr and left out
    /// while the others go on (without it, its error stops weir once what the
    /// others had read is written out).
    #[arg(long)]
    keep_going: bool,
}

/// `--max-wait`: a duration, or none.
#[derive(Clone, Copy, Debug)]
pub struct Wait(Option<Duration>);

fn parse_wait(text: &str) -> Result<Wait, String> {
    if text == "none" {
        return Ok(Wait(None));
    }
    humantime::parse_duration(text)
        .map(|wait| Wait(Some(wait)))
        .map_err(|err| format!("{text:?} is not a duration (200ms, 2s) or none: {err}"))
}

impl MergeFlags {
    fn options(&self) -> JoinOptions {
        let mut options = JoinOptions::new();
        options.set_max_wait(self.max_wait.0).set_late(match self.late {
            Late::Deliver => LatePolicy::Deliver,
            Late::Drop => LatePolicy::Drop,
            Late::Fail => LatePolicy::Fail,
        });
        if self.keep_going {
            options.set_on_error(ErrorPolicy::KeepGoing);
        }
        options
    }
}

/// The join of `urls` if `--merge` is given; `None` (one URL, read as
/// before) if not. More than one URL without `--merge` is refused.
pub fn open(
    flags: &MergeFlags,
    urls: &[&StreamUrl],
    mode: ConsumerMode,
    group: Option<&String>,
    start: &start::Flags,
) -> anyhow::Result<Option<weir::Join<NoRuntime>>> {
    if !flags.merge {
        return match urls.get(1) {
            Some(second) => Err(Usage(format!("{second}: more than one URL needs --merge")).into()),
            None => Ok(None),
        };
    }
    if mode != ConsumerMode::RealTime {
        return Err(Usage(
            "--merge reads realtime consumers only: the merge holds messages its consumers count as \
             handed out, so a group's commit could skip messages not yet written out"
                .into(),
        )
        .into());
    }
    if start.exit_at_end() {
        return Err(Usage("--exit-at-end cannot be used with --merge yet".into()).into());
    }
    // One consumer for every stdio URL: stdin has one reader, and a consumer
    // made after it started would miss the lines read before.
    let (stdio, others): (Vec<&StreamUrl>, Vec<&StreamUrl>) =
        urls.iter().partition(|url| url.streamer().scheme() == Scheme::Stdio);
    let mut keys: Vec<StreamKey> = stdio.iter().flat_map(|url| url.streams().iter().cloned()).collect();
    keys.sort();
    keys.dedup();
    let mut consumers = Vec::new();
    for (url, keys) in
        stdio.first().map(|url| (*url, &keys[..])).into_iter().chain(others.iter().map(|u| (*u, u.streams())))
    {
        let streamer = crate::consume::connect_input(url, start)?;
        let mut options = crate::consume::options(mode, group.cloned())?;
        start::check(start, mode, &streamer)?;
        crate::consume::url_settings(&streamer, &mut options)?;
        let mut consumer = streamer.create_consumer(keys, options)?;
        start::begin(start, url, &streamer, &mut consumer)?;
        consumers.push(consumer);
    }
    // Each (stream, shard) waits for the others, also within one consumer.
    Ok(Some(weir::Join::by_shard(consumers, flags.options())?))
}

/// The next merged message; `None` once every URL's input ended. A URL left
/// out under `--keep-going` is reported on stderr.
///
/// `idle` runs before the call waits, i.e. when no message is ready now (the
/// caller lets out what it wrote so far), and not between messages that are.
pub fn next(
    join: &mut weir::Join<NoRuntime>,
    mut idle: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Option<Message>> {
    loop {
        let joined = match poll_once(join) {
            Poll::Ready(joined) => joined,
            Poll::Pending => {
                idle()?;
                join.next_blocking()
            }
        };
        match joined {
            Ok(joined) => return Ok(Some(joined.message)),
            Err(JoinError::EndOfStream) => return Ok(None),
            Err(err) if !err.is_terminal() => eprintln!("weir: {err}"),
            Err(err) => return Err(err).context("merging"),
        }
    }
}

/// The next merged message if one is ready now, without waiting.
fn poll_once(join: &mut weir::Join<NoRuntime>) -> Poll<Result<Joined, JoinError>> {
    std::pin::pin!(join.next()).poll(&mut Context::from_waker(Waker::noop()))
}

/// Reports on stderr what the merge did out of order.
pub fn report(join: &weir::Join<NoRuntime>) {
    let core = join.core();
    if core.late() > 0 {
        eprintln!("weir: --merge wrote {} late messages out of time order", core.late());
    }
    if core.dropped() > 0 {
        eprintln!("weir: --merge dropped {} late messages", core.dropped());
    }
}
