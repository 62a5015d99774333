//! The direct-take path: a consumer without a group (see `Shared::direct`)
//! runs no blocking callback inside a poll, so its driver takes the messages
//! out of librdkafka itself, on its own thread, while its application
//! consumes, as a plain rdkafka poll loop would: handing them over from the
//! poll thread cost a lock, a wake-up and the other thread's cache lines per
//! batch, and on a small machine the two threads compete for the cores with
//! librdkafka's. The poll thread then only wakes the driver when messages
//! arrive, and takes them (and pauses fetching, see `poller::HOLD`) only for
//! a driver that stopped taking. Both sides of that hand-off live here: what
//! the driver takes ([`take_input`]) and when the poll thread steps in ([`defer`]).

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use weir_core::Message;

use crate::batches::Queues;
use crate::messages::{record, take_batch, Seen};
use crate::options::KafkaOptions;
use crate::shared::{Event, Rd, Shared};

/// The most messages the driver takes out of librdkafka at once when it
/// takes them itself.
const DIRECT_BATCH: usize = 256;

/// How long the poll thread leaves librdkafka's queue to a driver that takes
/// messages itself before it takes them instead: the driver may be busy with
/// the messages it has, or its application may have stopped reading.
const DEFER: Duration = Duration::from_millis(20);

/// Everything recorded for the driver (see `Shared::take_input`) and, for a
/// consumer that takes its messages itself, up to `DIRECT_BATCH` more out of
/// librdkafka after those, into `into` (given only when the core has room).
/// The poll turn is taken first: no positioning applies, and the poll thread
/// records nothing, between taking what was recorded and polling.
pub(crate) fn take_input(
    rd: &Rd,
    options: &KafkaOptions,
    seen: &mut Seen,
    waker: &Waker,
    mut into: Option<&mut Vec<Message>>,
) -> (VecDeque<Event>, bool) {
    let shared = &rd.context().shared;
    let turn = if shared.direct && into.is_some() { shared.try_poll_turn() } else { None };
    let input = shared.take_input(waker, into.as_deref_mut());
    if let (Some(mut turn), Some(batch)) = (turn, into) {
        take_direct(rd, options, seen, batch, &mut turn);
    }
    input
}

/// Takes up to `DIRECT_BATCH` messages out of librdkafka on the driver's own
/// thread, after those the poll thread recorded (already in `batch`),
/// holding the poll turn. An application that keeps consuming so pays for
/// no hand-over between two threads (a lock, a wake-up, the other thread's
/// cache lines), as with a plain rdkafka poll loop; the poll thread only
/// wakes it (see [`defer`]).
fn take_direct(
    rd: &Rd,
    options: &KafkaOptions,
    seen: &mut Seen,
    batch: &mut Vec<Message>,
    queues: &mut Queues,
) {
    let recorded = batch.len();
    let drained = take_batch(rd, options, seen, batch, DIRECT_BATCH, queues);
    let mut state = rd.context().shared.lock();
    state.direct_takes = state.direct_takes.wrapping_add(1);
    state.direct_drained = drained;
    if batch.len() > recorded {
        // Positionings wait for the turn, so the restart points are those
        // the messages were taken under.
        record(&mut state, &rd.context().shared.who, options, batch, recorded);
    }
}

/// What the poll thread does next for a driver that takes messages itself.
pub(crate) enum Defer {
    /// Wait this long for the queue, then look again.
    Wait(Duration),
    /// Take the messages itself.
    Drain,
}

/// Whether the driver takes librdkafka's messages itself now. Called by the
/// poll thread when the queue filled, or after a wait. A driver waiting for
/// messages is woken to take them; one that took some since the last look
/// goes on taking; one that did neither left the queue alone for `DEFER`,
/// and the poll thread takes over. `takes`: the driver's count of takes at
/// the last look.
pub(crate) fn defer(shared: &Shared, takes: &mut u64, keep_polling: Duration) -> Defer {
    let (waker, wait) = {
        let mut state = shared.lock();
        if state.pause_wanted.is_some() {
            // Applied between two polls of the poll thread.
            return Defer::Drain;
        }
        let took = state.direct_takes != *takes;
        *takes = state.direct_takes;
        let waker = state.take_waker();
        if !took && waker.is_none() {
            return Defer::Drain;
        }
        // A driver that emptied the queue learns of more through the
        // non-empty callback; one in the middle of a backlog is watched.
        let wait = if took && state.direct_drained { keep_polling } else { DEFER };
        (waker, wait)
    };
    if let Some(waker) = waker {
        waker.wake();
    }
    Defer::Wait(wait)
}
