//! A producer's I/O side on Kafka: librdkafka's threaded producer, with
//! delivery reports resolving receipts.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message as _};
use rdkafka::producer::{BaseRecord, Partitioner, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use weir_core::backend::{ProducerBackend, Receipt, ReceiptSender};
use weir_core::{
    BackendError, BackendErrorKind, MessageHeader, Payload, ProducerError, SeqNo, ShardId, StreamKey,
    Timestamp,
};

use crate::error::{failed, BACKEND};
use crate::options::KafkaOptions;

/// librdkafka's default `message.timeout.ms`.
const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(300);

/// How often a sender blocked on a full queue tries again without a new report.
const ROOM_RETRY: Duration = Duration::from_millis(5);

#[derive(Default)]
struct InFlight {
    count: usize,
    /// Delivery reports so far, stored or failed.
    delivered: u64,
    /// Messages not stored since the last flush, and the first one's error:
    /// the next flush reports them, so one dropped receipt hides nothing.
    failures: u64,
    first_failure: Option<ProducerError>,
    waker: Option<Waker>,
}

/// Delivery reports and partitioning for one producer.
pub struct ProducerState {
    in_flight: Mutex<InFlight>,
    /// Signalled on every delivery report: a sender waiting for room in
    /// librdkafka's full queue tries again.
    delivered: Condvar,
    round_robin: Mutex<BTreeMap<String, u64>>,
    namespace: String,
}

impl ClientContext for ProducerState {}

/// Spreads messages over a topic's partitions in turn, like the simulator,
/// so a stream's shards fill evenly and predictably.
impl Partitioner for ProducerState {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        count: i32,
        _available: impl Fn(i32) -> bool,
    ) -> i32 {
        let mut turns = self.round_robin.lock().unwrap_or_else(PoisonError::into_inner);
        let turn = turns.entry(topic.to_owned()).or_insert(0);
        let partition = i32::try_from(*turn % u64::try_from(count.max(1)).unwrap_or(1)).unwrap_or(0);
        *turn += 1;
        partition
    }
}

impl ProducerContext<ProducerState> for ProducerState {
    type DeliveryOpaque = Box<ReceiptSender>;

    fn delivery(&self, result: &DeliveryResult<'_>, receipt: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(m) => header(&self.namespace, m.topic(), m.partition(), m.offset(), m.timestamp().to_millis()),
            Err((err, m)) => {
                let doing = format!("storing a message in {} partition {}", m.topic(), m.partition());
                Err(ProducerError::Backend(failed(&doing, err)))
            }
        };
        let failure = outcome.as_ref().err().cloned();
        receipt.send(outcome);
        let waker = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(failure) = failure {
                in_flight.failures += 1;
                in_flight.first_failure.get_or_insert(failure);
            }
            in_flight.count = in_flight.count.saturating_sub(1);
            in_flight.delivered += 1;
            self.delivered.notify_all();
            if in_flight.count == 0 {
                in_flight.waker.take()
            } else {
                None
            }
        };
        waker.into_iter().for_each(Waker::wake);
    }

    fn get_custom_partitioner(&self) -> Option<&ProducerState> {
        Some(self)
    }
}

fn header(
    namespace: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    millis: Option<i64>,
) -> Result<MessageHeader, ProducerError> {
    let odd =
        |what: String| ProducerError::Backend(BackendError::new(BACKEND, BackendErrorKind::Broker, what));
    let key = topic.strip_prefix(namespace).and_then(|key| StreamKey::new(key).ok());
    let key = key.ok_or_else(|| odd(format!("stored in unexpected topic {topic:?}")))?;
    let shard = u32::try_from(partition).map_err(|_| odd(format!("stored in partition {partition}")))?;
    let seq = u64::try_from(offset).map_err(|_| odd(format!("stored at offset {offset}")))?;
    let timestamp =
        millis.and_then(|ms| Timestamp::from_unix_millis(ms).ok()).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(MessageHeader::new(key, ShardId(shard), SeqNo(seq), timestamp))
}

/// One producer's connection to a Kafka cluster.
pub struct KafkaProducer {
    rd: ThreadedProducer<ProducerState, ProducerState>,
    options: Arc<KafkaOptions>,
    /// How long `send` waits for room in a full queue: `message.timeout.ms`,
    /// the time librdkafka itself gives a queued message.
    max_block: Duration,
}

impl KafkaProducer {
    pub(crate) fn new(
        config: &rdkafka::ClientConfig,
        options: Arc<KafkaOptions>,
    ) -> Result<Self, BackendError> {
        let state = ProducerState {
            in_flight: Mutex::default(),
            delivered: Condvar::new(),
            round_robin: Mutex::default(),
            namespace: options.namespace.clone(),
        };
        let rd = rdkafka::config::FromClientConfigAndContext::from_config_and_context(config, state)
            .map_err(|err| failed("creating the producer", &err))?;
        let max_block = ["message.timeout.ms", "delivery.timeout.ms"]
            .into_iter()
            .find_map(|name| config.get(name)?.parse().ok())
            .map_or(DEFAULT_MESSAGE_TIMEOUT, Duration::from_millis);
        Ok(Self { rd, options, max_block })
    }

    /// How many delivery reports have come in so far.
    fn delivered(&self) -> u64 {
        self.in_flight().delivered
    }

    /// Waits until a delivery report after the `seen`th, or [`ROOM_RETRY`]
    /// (librdkafka frees a batch's messages only after their reports ran, so
    /// room can come without a further report); false once `max_block` has
    /// passed since `started`.
    fn wait_for_room(&self, seen: u64, started: std::time::Instant) -> bool {
        let Some(left) = self.max_block.checked_sub(started.elapsed()) else { return false };
        let context = self.rd.context();
        let in_flight = context.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            context
                .delivered
                .wait_timeout_while(in_flight, left.min(ROOM_RETRY), |in_flight| in_flight.delivered == seen)
                .unwrap_or_else(PoisonError::into_inner),
        );
        true
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.rd.context().in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ProducerBackend for KafkaProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        let topic = self.options.topic(key.name());
        let (receipt, sender) = Receipt::pending();
        let mut record: BaseRecord<'_, [u8], [u8], Box<ReceiptSender>> =
            BaseRecord::with_opaque_to(&topic, Box::new(sender)).payload(payload.as_bytes());
        if let Some(at) = timestamp {
            record = record.timestamp(at.unix_millis());
        }
        self.in_flight().count += 1;
        let started = std::time::Instant::now();
        loop {
            let seen = self.delivered();
            // A full queue is backpressure, as a Kafka producer's `max.block.ms`:
            // wait for deliveries to make room rather than drop or fail.
            let err = match self.rd.send(record) {
                Ok(()) => return Ok(receipt),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if self.wait_for_room(seen, started) =>
                {
                    record = back;
                    continue;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => BackendError::new(
                    BACKEND,
                    BackendErrorKind::Timeout,
                    format!(
                        "queueing a message for {key}: librdkafka's queue is full \
                         (queue.buffering.max.messages / queue.buffering.max.kbytes) \
                         and no delivery made room within {:?}",
                        self.max_block
                    ),
                ),
                Err((err, _)) => failed(&format!("queueing a message for {key}"), &err),
            };
            let mut in_flight = self.in_flight();
            in_flight.count = in_flight.count.saturating_sub(1);
            return Err(ProducerError::Backend(err));
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        // Delivery reports come on librdkafka's polling thread, which wakes
        // the flusher when the last one is in; `message.timeout.ms` bounds it.
        let mut in_flight = self.in_flight();
        if in_flight.count == 0 {
            let failures = std::mem::take(&mut in_flight.failures);
            Poll::Ready(match in_flight.first_failure.take() {
                None => Ok(()),
                Some(ProducerError::Backend(first)) => {
                    tracing::warn!(failures, first = %first, "kafka messages not stored since the last flush");
                    Err(ProducerError::Backend(BackendError::new(
                        BACKEND,
                        first.kind,
                        format!(
                            "{failures} message(s) sent since the last flush were not stored; the first: {}",
                            first.message
                        ),
                    )))
                }
                Some(other) => Err(other),
            })
        } else {
            in_flight.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
