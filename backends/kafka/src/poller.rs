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
            let _turn = shared.poll_turn();
            // Per-partition errors are retried by librdkafka; fatal ones arrive
            // through the error callback. Rebalances run inside this call.
            let Some(polled) = rd.poll(Duration::ZERO) else { break };
            let Ok(borrowed) = polled else { continue };
            let Some(message) = convert(&mut keys, options, &borrowed) else { continue };
            let waker = {
                let mut state = shared.lock();
                if state.is_stale(borrowed.topic(), borrowed.partition(), borrowed.offset()) {
                    continue;
                }
                state.connected = true;
                state.messages.push(message);
                if state.messages.len() >= limit && !state.held {
                    // The driver is not taking messages: stop fetching until it does.
                    if let Ok(assignment) = rd.assignment() {
                        let _ = rd.pause(&assignment);
                    }
                    state.held = true;
                }
                state.take_waker()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        shared.wait_for_queue(KEEP_POLLING);
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
