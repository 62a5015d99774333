//! Broker address, per-test namespaces and small helpers.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use weir::{Message, NoRuntime, ProducerOptions, StreamKey, Timestamp};

pub type Consumer = weir::Consumer<NoRuntime>;
pub type Streamer = weir::Streamer<NoRuntime>;

pub use crate::support::kafka_address as broker;
use crate::support::{kafka_namespace, within, KAFKA_TEST_SETTINGS};

/// A namespace no other test uses: topics and groups are the test's own.
pub fn namespace(test: &str) -> String {
    kafka_namespace("kt", test)
}

/// The `kafka://` URL of a test's namespace on the broker.
pub fn url(address: &str, namespace: &str) -> String {
    format!("kafka://{address}?namespace={namespace}&{KAFKA_TEST_SETTINGS}")
}

pub fn streamer(address: &str, namespace: &str) -> Streamer {
    weir::connect(&url(address, namespace)).expect("kafka url")
}

pub use crate::support::{consumer_options as options, key};

pub fn create_stream(streamer: &Streamer, key: &StreamKey, shards: u32) {
    match streamer.backend() {
        weir::AnyStreamer::Kafka(kafka) => {
            wait_for("a topic made", kafka.create_stream(key, shards)).expect("topic")
        }
        #[allow(unreachable_patterns)]
        _ => unreachable!("kafka urls make kafka streamers"),
    }
}

/// Produces `payloads`, each at its timestamp if given, and waits until stored.
pub fn produce(
    streamer: &Streamer,
    key: &StreamKey,
    payloads: impl IntoIterator<Item = (String, Option<Timestamp>)>,
) {
    let mut producer = streamer.create_producer(ProducerOptions::default()).expect("producer");
    let receipts: Vec<_> =
        payloads.into_iter().map(|(payload, at)| producer.send_at(key, payload, at).expect("send")).collect();
    for receipt in receipts {
        wait_for("a receipt", receipt).expect("stored");
    }
    producer.flush_within_blocking(MESSAGE_WITHIN).expect("flushed");
}

pub fn numbered(range: std::ops::Range<u32>) -> impl Iterator<Item = (String, Option<Timestamp>)> {
    range.map(|i| (format!("m{i}"), None))
}

pub fn names(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// How long [`take`] waits for one message: a group join or a rebalance on
/// the test broker takes seconds; a loaded machine, more.
pub const MESSAGE_WITHIN: Duration = Duration::from_secs(60);

/// The next `n` messages, failing the test if one does not come within
/// [`MESSAGE_WITHIN`] (a bug that stops delivery fails instead of hanging).
pub fn take(consumer: &mut Consumer, n: usize) -> Vec<Message> {
    (0..n)
        .map(|at| {
            let what = format!("message {} of {n}", at + 1);
            weir::block_on(within::<NoRuntime, _>(MESSAGE_WITHIN, &what, consumer.next())).expect("a message")
        })
        .collect()
}

/// Awaits one operation's future (a rewind, a seek, a commit, a receipt) on
/// this thread, failing the test, naming `what`, if it is not done within
/// [`MESSAGE_WITHIN`]: a commit waits for the group coordinator without a
/// limit of its own.
pub fn wait_for<F: Future>(what: &str, future: F) -> F::Output {
    weir::block_on(within::<NoRuntime, _>(MESSAGE_WITHIN, what, future))
}

pub fn payloads(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.payload.as_str().expect("utf-8").to_owned()).collect()
}

pub fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// How long [`settle`] and [`first_of`] wait: a group join or a rebalance
/// (a session timeout of 6 s when a member died) on a loaded machine.
pub const GROUP_WITHIN: Duration = Duration::from_secs(90);

/// Drives `consumers` (woken by their backends, no sleeping) until each
/// reports an assignment for which `settled` holds, failing the test after
/// [`GROUP_WITHIN`] with the assignment sizes last seen. No message may
/// arrive meanwhile.
pub fn settle(consumers: &mut [&mut Consumer], settled: impl Fn(&[usize]) -> bool) {
    let mut last: Vec<Option<usize>> = Vec::new();
    let what = "the group's assignments to settle";
    let outcome = weir::block_on(bounded(poll_fn(|cx| {
        for consumer in consumers.iter_mut() {
            let mut next = consumer.next();
            if let Poll::Ready(got) = Pin::new(&mut next).poll(cx) {
                panic!("nothing was produced yet, got {got:?}");
            }
        }
        last = consumers.iter().map(|c| c.core().assignment().map(|shards| shards.len())).collect();
        match last.iter().copied().collect::<Option<Vec<usize>>>() {
            Some(sizes) if settled(&sizes) => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })));
    if outcome.is_none() {
        panic!("waited {GROUP_WITHIN:?} for {what}; last seen (shards per consumer, None: not yet assigned): {last:?}");
    }
}

/// The first message any of `consumers` delivers, and whose it is; failing
/// the test if none comes within [`GROUP_WITHIN`].
pub fn first_of(consumers: &mut [Consumer]) -> (usize, Message) {
    let what = format!("a message from any of {} consumers", consumers.len());
    let first = poll_fn(|cx| {
        for (at, consumer) in consumers.iter_mut().enumerate() {
            let mut next = consumer.next();
            if let Poll::Ready(got) = Pin::new(&mut next).poll(cx) {
                return Poll::Ready((at, got.expect("a message")));
            }
        }
        Poll::Pending
    });
    weir::block_on(within::<NoRuntime, _>(GROUP_WITHIN, &what, first))
}

/// `future`'s output, or `None` once [`GROUP_WITHIN`] has passed.
async fn bounded<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer = std::pin::pin!(<NoRuntime as weir::Runtime>::timer(Instant::now() + GROUP_WITHIN));
    poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
