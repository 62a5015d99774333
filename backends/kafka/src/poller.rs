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
//!
//! A consumer without a group (see `Shared::direct`) runs no blocking
//! callback inside a poll, and its driver takes the messages out of
//! librdkafka itself while its application consumes, as a plain rdkafka poll
//! loop would: handing them over from this thread cost a lock, a wake-up and
//! the other thread's cache lines per batch, and on a small machine the two
//! threads compete for the cores with librdkafka's. This thread then only
//! wakes the driver when messages arrive, and takes them (and pauses
//! fetching, see `HOLD`) only for a driver that stopped taking.

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

/// How long the poll thread leaves librdkafka's queue to a driver that takes
/// messages itself (see `Shared::direct`) before it takes them instead: the
/// driver may be busy with the messages it has, or its application may have
/// stopped reading.
const DEFER: Duration = Duration::from_millis(20);

/// What the poll thread does next for a driver that takes messages itself.
enum Defer {
    /// Wait this long for the queue, then look again.
    Wait(Duration),
    /// Take the messages itself.
    Drain,
}

/// Whether the driver takes librdkafka's messages itself now (see
/// `Shared::direct`). Called when the queue filled, or after a wait. A
/// driver waiting for messages is woken to take them; one that took some
/// since the last look goes on taking; one that did neither left the queue
/// alone for `DEFER`, and the poll thread takes over.
fn defer(shared: &crate::context::Shared, takes: &mut u64) -> Defer {
    let (waker, wait) = {
        let mut state = shared.lock();
        if state.pause_wanted.is_some() {
            // Applied between two polls of this thread.
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
        let wait = if took && state.direct_drained { KEEP_POLLING } else { DEFER };
        (waker, wait)
    };
    if let Some(waker) = waker {
        waker.wake();
    }
    Defer::Wait(wait)
}

fn serve(rd: &Rd, options: &KafkaOptions, limit: usize, mut seen: Seen) {
    let shared = rd.context().shared.clone();
    let limit = limit.max(1);
    let mut batch = Vec::with_capacity(limit);
    let mut most = FIRST_BATCH.min(limit);
    let mut takes = 0;
    while !shared.stopped() {
        if shared.direct {
            if let Defer::Wait(wait) = defer(&shared, &mut takes) {
                shared.wait_for_queue(crate::reach::watch(rd, wait));
                continue;
            }
        }
        // Drain what librdkafka has, without blocking in it, then wait for
        // its non-empty callback. A queue filled between the last poll and
        // the wait sets the flag the wait checks, so no wake-up is lost.
        loop {
            let turn = shared.poll_turn();
            // Messages are taken out of librdkafka and recorded in one turn,
            // so a positioning never falls between the two.
            let drained = take_batch(rd, options, &mut seen, &mut batch, most);
            most = if drained { FIRST_BATCH.min(limit) } else { (most * 2).min(limit) };
            let (waker, wanted, full) = {
                let mut state = shared.lock();
                let waker = if batch.is_empty() {
                    None
                } else {
                    record(&mut state, options, &mut batch, 0);
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
        let wait = crate::reach::watch(rd, KEEP_POLLING);
        shared.wait_for_queue(wait);
    }
    close(rd);
}

/// Records that the cluster answered, and drops the messages of `batch` from
/// `from` on that are stale; under the shared state's lock.
pub(crate) fn record(
    state: &mut crate::context::State,
    options: &KafkaOptions,
    batch: &mut Vec<Message>,
    from: usize,
) {
    state.mark_reachable();
    if state.restart.is_empty() {
        // No partition was repositioned lately: none is stale.
        return;
    }
    let mut index = 0;
    batch.retain(|message| {
        index += 1;
        index <= from || !state.is_stale(options, message)
    });
}

/// Payloads up to this size share buffers (as stdio's messages share a read
/// chunk), copied together: one allocation per run of messages rather than
/// per message. Allocated on this thread and freed on the application's,
/// per-message buffers made the two threads contend for the allocator's lock
/// at every message; on one thread, a batch's worth outgrows the allocator's
/// per-thread cache. Larger payloads get a buffer each.
const SHARED_PAYLOAD: usize = 1024;

/// The size of one shared payload buffer: what a message kept alive holds
/// at most besides its own payload.
const CHUNK: usize = 64 * 1024;

/// Takes up to `most` messages out of librdkafka into `batch`; true once
/// librdkafka's queue is empty. Each is copied and let go of as soon as it
/// is taken, as a plain poll loop does: librdkafka's message and rdkafka's
/// handle to it are freed while still in the allocator's per-thread cache.
pub(crate) fn take_batch(
    rd: &Rd,
    options: &KafkaOptions,
    seen: &mut Seen,
    batch: &mut Vec<Message>,
    most: usize,
) -> bool {
    let shared = &rd.context().shared;
    let mut pieces = Pieces::default();
    let mut taken = 0;
    let drained = loop {
        if taken >= most {
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
            taken += 1;
            if let Some(header) = header_of(seen, options, &message) {
                let left = most - taken + 1;
                pieces.add(header, message.payload().unwrap_or_default(), left, batch);
            }
        }
    };
    pieces.finish(batch);
    drained
}

/// The small payloads being copied into one shared buffer: their messages
/// are in the batch already, with an empty payload until the buffer is
/// complete (full, or the batch ends).
#[derive(Default)]
struct Pieces {
    chunk: Vec<u8>,
    /// Each waiting message's place in the batch, and its payload's in `chunk`.
    waiting: Vec<(usize, usize, usize)>,
}

impl Pieces {
    /// Adds a message, `left - 1` more at most to come in this batch.
    fn add(&mut self, header: MessageHeader, payload: &[u8], left: usize, batch: &mut Vec<Message>) {
        if payload.len() > SHARED_PAYLOAD {
            batch.push(Message::new(header, Payload::copy_from_slice(payload)));
            return;
        }
        if self.chunk.len() + payload.len() > self.chunk.capacity() {
            self.finish(batch);
            // Sized for the rest of the batch if its payloads are like this
            // one; a larger one to come starts a buffer of its own.
            self.chunk.reserve_exact(payload.len().max(64).saturating_mul(left).min(CHUNK));
        }
        self.waiting.push((batch.len(), self.chunk.len(), payload.len()));
        self.chunk.extend_from_slice(payload);
        batch.push(Message::new(header, Payload::default()));
    }

    /// Gives the waiting messages their payloads.
    fn finish(&mut self, batch: &mut [Message]) {
        if self.waiting.is_empty() {
            return;
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        if chunk.len() < chunk.capacity() / 2 {
            // A message kept alive keeps its whole buffer: not much larger than used.
            chunk.shrink_to_fit();
        }
        let chunk = Payload::from(chunk).into_bytes();
        for (index, at, len) in self.waiting.drain(..) {
            if let Some(message) = batch.get_mut(index) {
                message.payload = Payload::new(chunk.slice(at..at + len));
            }
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

/// What converting the messages before learned: the stream key of each topic
/// seen, so a message costs no allocation but its payload's, and the last
/// timestamp, as the messages of a batch often share their millisecond and
/// converting one costs a calendar computation.
#[derive(Clone)]
pub(crate) struct Seen {
    /// The key of a consumer of one stream: see `Seen::new`.
    sole: Option<StreamKey>,
    keys: Vec<(Box<str>, Option<StreamKey>)>,
    /// The last timestamp converted, and its milliseconds since the epoch.
    stamp: Timestamp,
    millis: i64,
}

impl Seen {
    /// For a consumer of `streams`. A consumer is given only messages of the
    /// partitions assigned to it, all of its own topics: with one, a
    /// message's key is known without reading its topic's name (a length
    /// count and a UTF-8 check per message).
    pub(crate) fn new(streams: &[StreamKey]) -> Self {
        let sole = match streams {
            [key] => Some(key.clone()),
            _ => None,
        };
        Self { sole, keys: Vec::new(), stamp: Timestamp::UNIX_EPOCH, millis: 0 }
    }

    /// The key of `topic`; `None` for topics outside the namespace.
    fn key(&mut self, options: &KafkaOptions, topic: &str) -> Option<StreamKey> {
        if let Some((_, key)) = self.keys.iter().find(|(seen, _)| **seen == *topic) {
            return key.clone();
        }
        let key = options.key_of(topic).and_then(|name| StreamKey::new(name).ok());
        self.keys.push((topic.into(), key.clone()));
        key
    }

    /// The timestamp of `millis` since the Unix epoch (the epoch itself for
    /// none, or one out of range).
    fn stamp(&mut self, millis: Option<i64>) -> Timestamp {
        let Some(millis) = millis else { return Timestamp::UNIX_EPOCH };
        if millis != self.millis {
            self.stamp = Timestamp::from_unix_millis(millis).unwrap_or(Timestamp::UNIX_EPOCH);
            self.millis = millis;
        }
        self.stamp
    }
}

/// A weir message's header from a librdkafka message; `None` for topics
/// outside the namespace.
fn header_of(seen: &mut Seen, options: &KafkaOptions, m: &BorrowedMessage<'_>) -> Option<MessageHeader> {
    let key = match &seen.sole {
        Some(key) => key.clone(),
        None => seen.key(options, m.topic())?,
    };
    let shard = ShardId(u32::try_from(m.partition()).ok()?);
    let seq = SeqNo(u64::try_from(m.offset()).ok()?);
    let timestamp = seen.stamp(m.timestamp().to_millis());
    Some(MessageHeader::new(key, shard, seq, timestamp))
}
