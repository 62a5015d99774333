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

/// The most messages the thread takes out of librdkafka before handing the
/// first ones over; each further batch of a backlog doubles, up to the
/// consumer's buffer size. Handing over costs a lock of the shared state and,
/// when the driver waits, waking it, which on a small machine can cost tens
/// of microseconds (the woken thread often runs on the waker's core first):
/// per batch rather than per message, and few batches per backlog, while the
/// first messages of a burst are not held back behind a whole buffer's worth.
const FIRST_BATCH: usize = 64;

fn serve(rd: &Rd, options: &KafkaOptions, limit: usize) {
    let shared = rd.context().shared.clone();
    let mut keys = Keys::default();
    let limit = limit.max(1);
    let mut batch = Vec::with_capacity(limit);
    let mut most = FIRST_BATCH.min(limit);
    while !shared.stopped() {
        // Drain what librdkafka has, without blocking in it, then wait for
        // its non-empty callback. A queue filled between the last poll and
        // the wait sets the flag the wait checks, so no wake-up is lost.
        loop {
            let turn = shared.poll_turn();
            // Messages are taken out of librdkafka and recorded in one turn,
            // so a positioning never falls between the two.
            let drained = take_batch(rd, options, &mut keys, &mut batch, most);
            most = if drained { FIRST_BATCH.min(limit) } else { (most * 2).min(limit) };
            let (waker, wanted, full) = {
                let mut state = shared.lock();
                let waker = if batch.is_empty() {
                    None
                } else {
                    state.mark_reachable();
                    for message in batch.drain(..) {
                        if !state.is_stale(options, &message) {
                            state.messages.push(message);
                        }
                    }
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
        let wait = crate::reach::watch(rd, KEEP_POLLING);
        shared.wait_for_queue(wait);
    }
    close(rd);
}

/// Payloads up to this size share buffers (as stdio's messages share a read
/// chunk), copied together: one allocation per run of messages rather than
/// per message. Allocated here and freed on the application's thread,
/// per-message buffers made the two threads contend for the allocator's lock
/// at every message. Larger payloads get a buffer each.
const SHARED_PAYLOAD: usize = 1024;

/// The size of one shared payload buffer: what a message kept alive holds
/// at most besides its own payload.
const CHUNK: usize = 64 * 1024;

/// Takes up to `most` messages out of librdkafka into `batch`; true once
/// librdkafka's queue is empty.
fn take_batch(
    rd: &Rd,
    options: &KafkaOptions,
    keys: &mut Keys,
    batch: &mut Vec<Message>,
    most: usize,
) -> bool {
    let shared = &rd.context().shared;
    let mut polled = Vec::with_capacity(most);
    let drained = loop {
        if polled.len() >= most {
            break false;
        }
        let served = shared.served();
        // Per-partition errors are retried by librdkafka; fatal ones arrive
        // through the error callback. Rebalances run inside this call.
        let Some(next) = rd.poll(Duration::ZERO) else {
            if shared.served() != served {
                // The poll served an event (a log line, a rebalance, a
                // commit's outcome), which rdkafka reports as "nothing".
                // More may be queued behind it, and librdkafka calls the
                // non-empty callback only when an empty queue fills: the
                // thread must not wait now.
                continue;
            }
            break true;
        };
        if let Ok(message) = next {
            polled.push(message);
        }
    };
    let mut rest = polled.as_slice();
    while !rest.is_empty() {
        // The run of small payloads that shares the next buffer.
        let (mut run, mut size) = (0, 0);
        for m in rest {
            let len = m.payload_len();
            if len > SHARED_PAYLOAD || size + len > CHUNK {
                break;
            }
            (run, size) = (run + 1, size + len);
        }
        if run == 0 {
            let m = &rest[0];
            batch.extend(convert(
                keys,
                options,
                m,
                Payload::copy_from_slice(m.payload().unwrap_or_default()),
            ));
            rest = &rest[1..];
            continue;
        }
        let (shared_by, after) = rest.split_at(run);
        let mut chunk = Vec::with_capacity(size);
        for m in shared_by {
            chunk.extend_from_slice(m.payload().unwrap_or_default());
        }
        let chunk = Payload::from(chunk).into_bytes();
        let mut at = 0;
        for m in shared_by {
            let len = m.payload().map_or(0, <[u8]>::len);
            batch.extend(convert(keys, options, m, Payload::new(chunk.slice(at..at + len))));
            at += len;
        }
        rest = after;
    }
    drained
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

/// A weir message from a librdkafka one and its payload; `None` for topics
/// outside the namespace.
fn convert(
    keys: &mut Keys,
    options: &KafkaOptions,
    m: &BorrowedMessage<'_>,
    payload: Payload,
) -> Option<Message> {
    let key = keys.of(options, m.topic())?;
    let shard = ShardId(u32::try_from(m.partition()).ok()?);
    let seq = SeqNo(u64::try_from(m.offset()).ok()?);
    let timestamp = m
        .timestamp()
        .to_millis()
        .and_then(|ms| Timestamp::from_unix_millis(ms).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Some(Message::new(MessageHeader::new(key, shard, seq, timestamp), payload))
}
