//! Diagnostics of the generic driver: what the core decided, as `tracing`
//! events (target `weir_adapters::report`). The core logs nothing itself; it
//! queues [`Notice`]s, which the driver drains after each input round.
//!
//! Nothing here runs per message: positioning, assignment, commit and end
//! events are rare, and backpressure (pause/resume) is at `trace`.

use std::fmt;
use std::time::{Duration, Instant};

use tracing::{debug, info, trace, warn};
use weir_core::{
    Command, ConsumerCore, Epoch, Notice, SeqNo, SeqPos, ShardId, StreamKey, StreamShard, Target,
};

/// A positioning the driver has sent and not yet seen the outcome of.
#[derive(Debug)]
pub(crate) struct Pending {
    epoch: Epoch,
    target: Target,
    since: Instant,
}

/// Logs a command as the driver hands it to the backend; returns the
/// positioning to time, if it is one.
pub(crate) fn command(
    core: &ConsumerCore,
    command: &Command,
    now: impl FnOnce() -> Instant,
) -> Option<Pending> {
    let backend = core.capabilities().backend;
    match command {
        Command::Position { epoch, shards, target } => {
            debug!(backend, streams = %Keys(core.streams()), epoch = epoch.0, target = %Where(target),
                shards = %Shards(shards), "positioning");
            Some(Pending { epoch: *epoch, target: *target, since: now() })
        }
        Command::Commit { id, offsets } => {
            trace!(backend, id = id.0, offsets = %Offsets(offsets), "committing");
            None
        }
        Command::Pause => {
            trace!(backend, buffered = core.buffered(), "pausing: buffer full");
            None
        }
        Command::Resume => {
            trace!(backend, buffered = core.buffered(), "resuming: buffer drained");
            None
        }
    }
}

/// Logs one notice of the core. `pending` is the positioning being timed.
pub(crate) fn notice(core: &ConsumerCore, notice: Notice, pending: &mut Option<Pending>, now: Instant) {
    let backend = core.capabilities().backend;
    let streams = Keys(core.streams());
    let group = core.options().group().map(|group| group.name());
    match notice {
        Notice::Positioned { epoch, result } => {
            let timed = pending.take_if(|p| p.epoch == epoch);
            let target = timed.as_ref().map(|p| Where(&p.target).to_string());
            let target = target.as_deref();
            let took = timed.map(|p| Took(now.saturating_duration_since(p.since)));
            match result {
                Ok(()) => {
                    info!(backend, %streams, epoch = epoch.0, target, took = took.map(tracing::field::display),
                    "positioned")
                }
                Err(error) => warn!(backend, %streams, epoch = epoch.0, target, %error, "positioning failed"),
            }
        }
        Notice::Assigned { shards, revoked, dropped } => {
            info!(backend, %streams, group, shards = %Shards(&shards), revoked = %Shards(&revoked), dropped,
                "assignment changed");
        }
        Notice::Committed { id, automatic, offsets, result } => match result {
            Ok(()) => debug!(backend, group, id = id.0, automatic, offsets = %Offsets(&offsets), "committed"),
            Err(error) => warn!(backend, group, id = id.0, automatic, offsets = %Offsets(&offsets), %error,
                "commit failed"),
        },
        Notice::Ended { failure: None } => info!(backend, %streams, "end of input"),
        Notice::Ended { failure: Some(error) } => warn!(backend, %streams, %error, "input failed"),
        // A notice added to the core later is still reported, if plainly.
        other => debug!(backend, notice = ?other, "core notice"),
    }
}

/// Stream keys, comma-separated.
struct Keys<'a>(&'a [StreamKey]);

impl fmt::Display for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            write!(f, "{}{key}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// Shards as `key/shard`, comma-separated; `-` for none.
struct Shards<'a>(&'a [StreamShard]);

impl fmt::Display for Shards<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("-");
        }
        for (i, (key, shard)) in self.0.iter().enumerate() {
            write!(f, "{}{key}/{shard}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// Commit offsets as `key/shard@seq` (the seq to resume from), comma-separated.
struct Offsets<'a>(&'a [(StreamKey, ShardId, SeqNo)]);

impl fmt::Display for Offsets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, shard, seq)) in self.0.iter().enumerate() {
            write!(f, "{}{key}/{shard}@{seq}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

/// A positioning target in words: `beginning`, `end`, `seq 42`, `time 2026-…`.
struct Where<'a>(&'a Target);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Seq(SeqPos::Beginning) => f.write_str("beginning"),
            Target::Seq(SeqPos::End) => f.write_str("end"),
            Target::Seq(SeqPos::At(seq)) => write!(f, "seq {seq}"),
            Target::Time(at) => write!(f, "time {at}"),
        }
    }
}

/// A duration in milliseconds with three decimals, e.g. `12.345ms`.
struct Took(Duration);

impl fmt::Display for Took {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}ms", self.0.as_secs_f64() * 1000.0)
    }
}
