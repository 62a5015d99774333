//! When a scenario kills a consumer process: held still right after a
//! commit (re-deliveries then have a tight bound), or streaming freely just
//! as a commit completes (where a consumer that commits lines it has not
//! written out yet would lose them).

use std::time::{Duration, Instant};

use crate::committed::GroupView;
use crate::printer::Printer;
use crate::step_limit;

/// Lines the test lets a held process print at a time while it waits for a
/// commit.
const STEP: usize = 250;

/// Lines the test lets a streaming process print per broker round trip.
const PACE: usize = 20;

/// Bytes a killed process may have handed on without the test having taken
/// them as lines yet: its stdout buffer (64 KiB), the pipe (64 KiB) and the
/// test's read buffer (8 KiB).
const IN_TRANSIT: usize = (64 + 64 + 8) * 1024;

/// The shortest line a scenario prints (`[2026-01-01T00:00:00.000000 | orders | 0 | 0] 0`).
const SHORTEST_LINE: usize = 45;

/// Where a scenario kills its consumer: tens of thousands of lines into a
/// 100 000-message run, well before the end of any run.
pub fn kill_point(produced: u64) -> usize {
    usize::try_from(produced * 2 / 5).expect("fits")
}

/// The consumers' commit interval (`auto.commit.interval.ms` in their URL).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// How the test brings a consumer process to the moment it kills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// Held by a full stdout right after a commit (see [`Moment::reach`]).
    Held,
    /// Printing freely, just as a commit completed.
    Streaming,
}

impl Moment {
    /// Brings `printer`, a consumer of `view`'s group that prints one line per
    /// message of the `produced`, to this moment past `from` lines. Returns the most
    /// re-deliveries its kill may then cause, if this moment bounds them.
    ///
    /// `Held`: the process prints `from` lines and is held there (its stdout
    /// full) for one commit interval, so its commit timer is due; then it may
    /// print [`STEP`] more lines at a time. The first thing it does when its
    /// stdout drains is commit what it delivered; this returns once the
    /// broker shows that commit, with the process held again. After the
    /// commit it printed at most a step and what is in transit.
    ///
    /// `Streaming`: the process prints as fast as the test reads it, [`PACE`]
    /// lines per broker round trip (never held long); this returns as soon
    /// as the broker shows a commit newer than the one it held when `from`
    /// lines were printed, with the process still printing; or, if no commit
    /// shows before it gets near the end, there, held. No bound: how far it
    /// got between the commit and the kill is up to the machine.
    ///
    /// A consumer that never commits fails here; one that commits but is not
    /// resumed from its commit re-delivers everything, at least `from`.
    pub fn reach(self, printer: &Printer, view: &GroupView, from: usize, produced: u64) -> Option<u64> {
        match self {
            Self::Held => {
                hold_after_commit(printer, view, from, usize::try_from(produced).expect("fits"));
                Some(u64::try_from(STEP + IN_TRANSIT / SHORTEST_LINE).expect("fits"))
            }
            Self::Streaming => {
                stream_to_a_commit(printer, view, from, usize::try_from(produced).expect("fits"));
                None
            }
        }
    }
}

fn hold_after_commit(printer: &Printer, view: &GroupView, from: usize, produced: usize) {
    printer.set_limit(from);
    printer.wait_for_lines(from, step_limit());
    let base = view.committed_total();
    // Held, the process cannot commit. Its last commit was either before
    // `base` was read, so waiting out one interval makes its timer due, or
    // after, and shows as news below.
    let due = Instant::now() + COMMIT_INTERVAL;
    while Instant::now() < due {
        std::thread::sleep(due - Instant::now());
    }
    // Its stdout drains a step at a time; its first call for a message once
    // the write it is blocked in completes commits what it delivered.
    let mut limit = from;
    let last = produced.saturating_sub(2 * IN_TRANSIT / SHORTEST_LINE);
    while view.committed_total() == base {
        limit += STEP;
        assert!(
            limit < last,
            "{}: no commit from line {from} to {limit}, {} lines before the end (auto.commit.interval.ms not applied?)",
            printer.name(),
            produced - limit
        );
        printer.set_limit(limit);
        printer.wait_for_lines(limit, step_limit());
    }
}

fn stream_to_a_commit(printer: &Printer, view: &GroupView, from: usize, produced: usize) {
    printer.set_limit(from);
    printer.wait_for_lines(from, step_limit());
    let base = view.committed_total();
    let deadline = Instant::now() + step_limit();
    // Never so far that the process could print the rest (what it has
    // written out but the test not read yet included): on a fast machine, or
    // with the commit slow to show, it would finish before the kill.
    let last = produced.saturating_sub(2 * IN_TRANSIT / SHORTEST_LINE);
    // The test reads PACE lines past what it has read per broker round trip:
    // the process streams (it is never held for long), yet a consumer faster
    // than one commit interval per message batch cannot finish the whole
    // input before the commit the kill waits for.
    while view.committed_total() == base {
        if printer.count() >= last {
            // No commit showed before the process got this far (a loaded
            // machine): it is killed here, held short of the end, so the
            // kill is still mid-stream; the checks after it hold as well.
            return;
        }
        printer.set_limit((printer.count() + PACE).min(last));
        assert!(
            Instant::now() < deadline,
            "{}: no commit past {base} within {:?} ({} lines printed; auto.commit.interval.ms not applied?)",
            printer.name(),
            step_limit(),
            printer.count()
        );
    }
}
