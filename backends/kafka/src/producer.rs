//! A producer's I/O side on Kafka: librdkafka's threaded producer, with
//! delivery reports resolving receipts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

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

#[derive(Default)]
struct InFlight {
    count: usize,
    waker: Option<Waker>,
}

/// Delivery reports and partitioning for one producer.
pub struct ProducerState {
    in_flight: Mutex<InFlight>,
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
            Err((err, _)) => Err(ProducerError::Backend(failed("storing a message", err))),
        };
        receipt.send(outcome);
        let waker = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            in_flight.count = in_flight.count.saturating_sub(1);
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
}

impl KafkaProducer {
    pub(crate) fn new(
        config: &rdkafka::ClientConfig,
        options: Arc<KafkaOptions>,
    ) -> Result<Self, BackendError> {
        let state = ProducerState {
            in_flight: Mutex::default(),
            round_robin: Mutex::default(),
            namespace: options.namespace.clone(),
        };
        let rd = rdkafka::config::FromClientConfigAndContext::from_config_and_context(config, state)
            .map_err(|err| failed("creating the producer", &err))?;
        Ok(Self { rd, options })
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
        match self.rd.send(record) {
            Ok(()) => Ok(receipt),
            Err((err, _record)) => {
                let mut in_flight = self.in_flight();
                in_flight.count = in_flight.count.saturating_sub(1);
                Err(ProducerError::Backend(failed(&format!("queueing a message for {key}"), &err)))
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        // Delivery reports come on librdkafka's polling thread, which wakes
        // the flusher when the last one is in; `message.timeout.ms` bounds it.
        let mut in_flight = self.in_flight();
        if in_flight.count == 0 {
            Poll::Ready(Ok(()))
        } else {
            in_flight.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
