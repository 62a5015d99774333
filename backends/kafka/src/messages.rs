//! Taking messages out of librdkafka, on whichever thread polls it (the
//! poll thread, or the driver itself, see `direct`): converting each into a
//! weir message with as few allocations as a plain poll loop, and dropping
//! those that a positioning made stale.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message as _};
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};

use crate::batches::{tell_error, Fetched, Queues};
use crate::options::KafkaOptions;
use crate::shared::{Rd, State, Who};

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
/// librdkafka's queues are empty. Each is copied and let go of as soon as it
/// is taken, as a plain poll loop does: librdkafka's message and rdkafka's
/// handle to it are freed while still in the allocator's per-thread cache.
/// `queues`: the poll turn's (see `Shared::poll_turn`). A consumer that
/// takes its messages itself (`Shared::direct`) takes most of them in
/// batches out of its partitions' own queues (see `batches`), after what
/// the consumer queue holds.
pub(crate) fn take_batch(
    rd: &Rd,
    options: &KafkaOptions,
    seen: &mut Seen,
    batch: &mut Vec<Message>,
    most: usize,
    queues: &mut Queues,
) -> bool {
    let shared = &rd.context().shared;
    if shared.direct {
        queues.sync(rd);
    }
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
    // The consumer queue first: messages queued on it before a partition's
    // queue was split off come before those on the split queue.
    let drained = drained && {
        let mut left = most - taken;
        queues.take(left, |message| {
            match message.fetched() {
                Fetched::Message { taken, partition, offset, millis, payload } => {
                    let topic = || taken.topic();
                    if let Some(header) = header(seen, options, topic, partition, offset, millis) {
                        pieces.add(header, payload, left, batch);
                    }
                }
                Fetched::Error(err, reason) => tell_error(rd, err, &reason),
            }
            left = left.saturating_sub(1);
        })
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

/// Records that the cluster answered, and drops the messages of `batch` from
/// `from` on that are stale; under the shared state's lock.
pub(crate) fn record(
    state: &mut State,
    who: &Who,
    options: &KafkaOptions,
    batch: &mut Vec<Message>,
    from: usize,
) {
    state.mark_reachable(who);
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
    let millis = m.timestamp().to_millis();
    header(seen, options, || m.topic(), m.partition(), m.offset(), millis)
}

/// A weir message's header from a message's topic (asked only when the
/// consumer reads more than one), partition, offset and milliseconds since
/// the epoch; `None` for topics outside the namespace.
fn header<'a>(
    seen: &mut Seen,
    options: &KafkaOptions,
    topic: impl FnOnce() -> &'a str,
    partition: i32,
    offset: i64,
    millis: Option<i64>,
) -> Option<MessageHeader> {
    let key = match &seen.sole {
        Some(key) => key.clone(),
        None => seen.key(options, topic())?,
    };
    let shard = ShardId(u32::try_from(partition).ok()?);
    let seq = SeqNo(u64::try_from(offset).ok()?);
    let timestamp = seen.stamp(millis);
    Some(MessageHeader::new(key, shard, seq, timestamp))
}
