//! The thread that serves a consumer's librdkafka queue.
//!
//! A Kafka consumer must be polled for its group membership to move on:
//! rebalance callbacks run inside `poll`. If polling only happened while the
//! application awaits a message, one idle consumer (a hot standby, or a
//! member the application is not reading right now) would stall every
//! rebalance of its group until the broker evicts it. So each consumer has
//! one thread blocked on its queue — woken by librdkafka when something
//! arrives, never sleeping to poll — that records messages and events in the
//! shared state and wakes the driver. It needs no async runtime.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message as _};
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};

use crate::jobs::Rd;
use crate::options::KafkaOptions;

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
pub(crate) fn spawn(rd: Rd, options: Arc<KafkaOptions>, limit: usize) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-kafka-consumer".into())
        .spawn(move || serve(&rd, &options, limit))?;
    Ok(())
}

fn serve(rd: &Rd, options: &KafkaOptions, limit: usize) {
    let shared = rd.context().shared.clone();
    let mut keys = Keys::default();
    while !shared.stopped() {
        // Drain what librdkafka has, without blocking in it, then wait for
        // its non-empty callback. A queue filled between the last poll and
        // the wait sets the flag the wait checks, so no wake-up is lost.
        loop {
            let turn = shared.poll_turn();
            let wanted = shared.lock().pause_wanted.take();
            if let Some(pause) = wanted {
                pause_fetching(rd, pause);
            }
            let served = shared.served();
            // Per-partition errors are retried by librdkafka; fatal ones arrive
            // through the error callback. Rebalances run inside this call.
            let Some(polled) = rd.poll(Duration::ZERO) else {
                if shared.served() != served {
                    // The poll served an event (a log line, a rebalance, a
                    // commit's outcome), which rdkafka reports as "nothing".
                    // More may be queued behind it, and librdkafka calls the
                    // non-empty callback only when an empty queue fills: the
                    // thread must not wait now.
                    continue;
                }
                break;
            };
            let Ok(borrowed) = polled else { continue };
            let Some(message) = convert(&mut keys, options, &borrowed) else { continue };
            let (waker, full) = {
                let mut state = shared.lock();
                if state.is_stale(borrowed.topic(), borrowed.partition(), borrowed.offset()) {
                    continue;
                }
                state.mark_reachable();
                state.messages.push(message);
                (state.take_waker(), state.messages.len() >= limit && !state.held)
            };
            if let Some(waker) = waker {
                waker.wake();
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
            }
        }
        let wait = crate::reach::watch(rd, KEEP_POLLING);
        shared.wait_for_queue(wait);
    }
    close(rd);
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
        let _ = rd.poll(Duration::from_millis(100));
    }
}

/// Pauses (or resumes) every assigned partition. Only between two polls of
/// this thread: see `KafkaConsumer::resume_fetching`. A failure only means more
/// (or fewer, until the next resume) messages than the buffer wanted.
fn pause_fetching(rd: &Rd, pause: bool) {
    if let Ok(assignment) = rd.assignment() {
        if assignment.count() > 0 {
            let _ = if pause { rd.pause(&assignment) } else { rd.resume(&assignment) };
        }
    }
}

/// The stream key of each topic seen, so a message costs no allocation but
/// its payload's.
#[derive(Default)]
struct Keys(Vec<(Box<str>, Option<StreamKey>)>);

impl Keys {
    /// The key of `topic`; `None` for topics outside the namespace.
    fn of(&mut self, options: &KafkaOptions, topic: &str) -> Option<StreamKey> {
        if let Some((_, key)) = self.0.iter().find(|(seen, _)| **seen == *topic) {
            return key.clone();
        }
        let key = options.key_of(topic).and_then(|name| StreamKey::new(name).ok());
        self.0.push((topic.into(), key.clone()));
        key
    }
}

/// A weir message from a librdkafka one; `None` for topics outside the namespace.
fn convert(keys: &mut Keys, options: &KafkaOptions, m: &BorrowedMessage<'_>) -> Option<Message> {
    let key = keys.of(options, m.topic())?;
    let shard = ShardId(u32::try_from(m.partition()).ok()?);
    let seq = SeqNo(u64::try_from(m.offset()).ok()?);
    let timestamp = m
        .timestamp()
        .to_millis()
        .and_then(|ms| Timestamp::from_unix_millis(ms).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let payload = Payload::copy_from_slice(m.payload().unwrap_or_default());
    Some(Message::new(MessageHeader::new(key, shard, seq, timestamp), payload))
}
