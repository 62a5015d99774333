//! The thread that serves a consumer's librdkafka queue.
//!
//! A Kafka consumer must be polled for its group membership to move on:
//! rebalance callbacks run inside `poll`. If polling only happened while the
//! application awaits a message, one idle consumer (a hot standby, or a
//! member the application is not reading right now) would stall every
//! rebalance of its group until the broker evicts it. So each consumer has
//! one thread blocked on its queue — woken by librdkafka when something
//! arrives, never sleeping to poll — that records messages and events in the
//! shared state and wakes the driver. It needs no async runtime. For a
//! consumer whose driver takes its messages itself, this thread mostly only
//! wakes it (see `direct`). Between two drains it asks `reach` whether the
//! cluster is still there, and ends the consumer when it is lost. When the
//! consumer is dropped, this thread closes it (see [`close`]).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;

use crate::direct::{defer, Defer};
use crate::messages::{record, take_batch, Seen};
use crate::options::KafkaOptions;
use crate::reach::{watch, Reach};
use crate::shared::{millis_since, Rd, Shared};

/// The longest wait between two polls. librdkafka takes a consumer that has
/// not polled for `max.poll.interval.ms` (5 minutes by default) for dead, so
/// an idle one still polls now and then; woken by its queue, it needs no more.
const KEEP_POLLING: Duration = Duration::from_secs(1);

/// How long the poll thread waits for the driver to take a full hand-over
/// before it pauses fetching. Pausing is costly (librdkafka drops what it
/// prefetched and fetches it again on resume, after a backoff), so an
/// application that keeps consuming is never paused: while it catches up,
/// librdkafka's own queue bounds what is fetched. One that stops consuming is
/// paused after this long, and the thread goes on polling so rebalances are
/// not held up.
const HOLD: Duration = Duration::from_millis(200);

/// Starts the thread; it ends once `stop` is set, dropping its handle.
pub(crate) fn spawn(rd: Rd, options: Arc<KafkaOptions>, limit: usize, seen: Seen) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-kafka-consumer".into())
        .spawn(move || serve(&rd, &options, limit, seen))?;
    Ok(())
}

/// The most messages the thread takes out of librdkafka before handing the
/// first ones over; each further batch of a backlog doubles, up to the
/// consumer's buffer size. Handing over costs a lock of the shared state and,
/// when the driver waits, waking it, which on a small machine can cost tens
/// of microseconds (the woken thread often runs on the waker's core first):
/// per batch rather than per message, and few batches per backlog, while the
/// first messages of a burst are not held back behind a whole buffer's worth.
const FIRST_BATCH: usize = 64;

fn serve(rd: &Rd, options: &KafkaOptions, limit: usize, mut seen: Seen) {
    let shared = rd.context().shared.clone();
    // Last, also if this thread panics: while this thread's handle keeps
    // librdkafka alive.
    let _split = ClearSplit(&shared);
    let limit = limit.max(1);
    let mut batch = Vec::with_capacity(limit);
    let mut most = FIRST_BATCH.min(limit);
    let mut takes = 0;
    while !shared.stopped() {
        if shared.direct {
            if let Defer::Wait(wait) = defer(&shared, &mut takes, KEEP_POLLING) {
                wait_for_queue(rd, wait);
                continue;
            }
        }
        // Drain what librdkafka has, without blocking in it, then wait for
        // its non-empty callback. A queue filled between the last poll and
        // the wait sets the flag the wait checks, so no wake-up is lost.
        loop {
            let mut turn = shared.poll_turn();
            // Messages are taken out of librdkafka and recorded in one turn,
            // so a positioning never falls between the two.
            let drained = take_batch(rd, options, &mut seen, &mut batch, most, &mut turn);
            most = if drained { FIRST_BATCH.min(limit) } else { (most * 2).min(limit) };
            let (waker, wanted, full) = {
                let mut state = shared.lock();
                let waker = if batch.is_empty() {
                    None
                } else {
                    record(&mut state, &shared.who, options, &mut batch, 0);
                    state.messages.append(&mut batch);
                    state.take_waker()
                };
                let full = state.messages.len() >= limit && !state.held;
                (waker, state.pause_wanted.take(), full)
            };
            if let Some(waker) = waker {
                waker.wake();
            }
            // Between two polls, with every message taken out recorded: see
            // `KafkaConsumer::resume_fetching`.
            if let Some(pause) = wanted {
                pause_fetching(rd, pause);
            }
            if full {
                // Let a positioning in while waiting.
                drop(turn);
                if !shared.wait_for_room(limit, HOLD) {
                    // The driver is not taking messages: stop fetching until it
                    // does. Decided under the lock, so a driver that takes them
                    // meanwhile sees `held` and resumes.
                    let _turn = shared.poll_turn();
                    let mut state = shared.lock();
                    if state.messages.len() >= limit && !state.held {
                        pause_fetching(rd, true);
                        state.held = true;
                    }
                }
            } else if drained {
                break;
            }
        }
        wait_for_queue(rd, KEEP_POLLING);
    }
    close(rd);
    shared.mark_closed();
}

/// Destroys the consumer's split partition queues (see `batches`) when
/// dropped: they must go before librdkafka does.
struct ClearSplit<'a>(&'a Shared);

impl Drop for ClearSplit<'_> {
    fn drop(&mut self) {
        self.0.poll_turn().clear();
    }
}

/// Waits for librdkafka's queue, at most `idle`, or less while `reach`
/// probes a cluster that went away; ends the consumer once it is lost.
fn wait_for_queue(rd: &Rd, idle: Duration) {
    let shared = &rd.context().shared;
    match watch(rd, idle) {
        Reach::Wait(wait) => shared.wait_for_queue(wait),
        Reach::Lost(err) => {
            let event = rd.context().fatal(err);
            let waker = {
                let mut state = shared.lock();
                state.gave_up = true;
                state.push(event)
            };
            if let Some(waker) = waker {
                waker.wake();
            }
            // Nothing can happen any more: release what waits on the dead
            // cluster (a commit waiting for the group coordinator fails now).
            close(rd);
            shared.wait_for_queue(idle);
        }
    }
}

/// How long closing a consumer may take before the thread lets go of it.
const CLOSE_WITHIN: Duration = Duration::from_secs(30);

/// Leaves the group and closes the consumer, here rather than when the last
/// handle drops: a blocking job stuck on a dead broker (a commit waiting for
/// the group coordinator, which librdkafka waits for without a limit) holds a
/// handle, and only the close fails its call and lets it go. Bounded; if it
/// is not closed by then, the last handle's drop closes it.
pub(crate) fn close(rd: &Rd) {
    if rd.closed() || rd.close_queue().is_err() {
        return;
    }
    let started = std::time::Instant::now();
    while !rd.closed() && started.elapsed() < CLOSE_WITHIN {
        // Rebalance callbacks (giving the partitions up) run in this poll.
        // The close completing posts nothing here, so the poll waits out its
        // timeout: short, or every close takes that long.
        let _ = rd.poll(Duration::from_millis(5));
    }
    let who = &rd.context().shared.who;
    let (group, consumer, took_ms) = (who.group.as_str(), who.consumer, millis_since(started));
    if rd.closed() {
        tracing::debug!(group, consumer, took_ms, "kafka consumer closed");
    } else {
        tracing::warn!(
            group,
            consumer,
            took_ms,
            "kafka consumer not closed in time; its last handle closes it"
        );
    }
}

/// Pauses (or resumes) every assigned partition. Only between two polls of
/// this thread: see `KafkaConsumer::resume_fetching`. A failure only means more
/// (or fewer, until the next resume) messages than the buffer wanted.
fn pause_fetching(rd: &Rd, pause: bool) {
    let who = &rd.context().shared.who;
    let doing = if pause {
        "pausing kafka fetching: the application is not taking messages"
    } else {
        "resuming kafka fetching"
    };
    tracing::debug!(group = %who.group, consumer = who.consumer, "{doing}");
    if let Ok(assignment) = rd.assignment() {
        if assignment.count() > 0 {
            let _ = if pause { rd.pause(&assignment) } else { rd.resume(&assignment) };
        }
    }
}
