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

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message as _};
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};

use crate::jobs::Rd;
use crate::options::KafkaOptions;

/// How long one wait on the queue lasts before the stop flag is checked again.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Starts the thread; it ends once `stop` is set, dropping its handle.
pub(crate) fn spawn(rd: Rd, options: Arc<KafkaOptions>, limit: usize) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-kafka-consumer".into())
        .spawn(move || serve(&rd, &options, limit))?;
    Ok(())
}

fn serve(rd: &Rd, options: &KafkaOptions, limit: usize) {
    let shared = rd.context().shared.clone();
    while !shared.stop.load(Ordering::Acquire) {
        // Per-partition errors are retried by librdkafka; fatal ones arrive
        // through the error callback.
        let Some(Ok(borrowed)) = rd.poll(STOP_CHECK) else { continue };
        let Some(message) = convert(options, &borrowed) else { continue };
        let partition = (borrowed.topic().to_owned(), borrowed.partition());
        let offset = borrowed.offset();
        drop(borrowed);
        let waker = {
            let mut state = shared.lock();
            match state.restart.get(&partition) {
                Some(start) if offset < *start => continue,
                Some(_) => {
                    state.restart.remove(&partition);
                }
                None => {}
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
}

/// A weir message from a librdkafka one; `None` for topics outside the namespace.
pub(crate) fn convert(options: &KafkaOptions, m: &BorrowedMessage<'_>) -> Option<Message> {
    let key = StreamKey::new(options.key_of(m.topic())?).ok()?;
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
