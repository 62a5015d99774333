//! Backpressure on the consumer side, seen on the wire: a consumer whose
//! application stops taking messages stops fetching (after the poll
//! thread's short hold) instead of letting librdkafka prefetch the topic,
//! and gets everything, in order, nothing twice, once it takes again; one
//! that keeps up is never paused (a pause drops what was prefetched, so it
//! would fetch some of it twice). The broker is reached through a proxy
//! that counts and paces what it sends (see `proxy`). And what the poll
//! thread hands over arrives intact.

use std::time::Duration;

use weir::{ConsumerMode, SeqPos};

use crate::broker::Broker;
use crate::common::{
    broker, create_stream, key, namespace, options, payloads, produce, streamer, take, wait_for, Consumer,
    Streamer,
};
use crate::proxy::Proxy;
use crate::support::KAFKA_TEST_SETTINGS;

/// Bytes per second the proxy lets the broker send: the topic below takes
/// seconds to fetch, so stopping early shows.
const RATE: u64 = 1_000_000;
/// The topic: this many messages of `PAYLOAD` bytes.
const MESSAGES: u32 = 5_000;
const PAYLOAD: usize = 1_000;

/// A tansu of the test's own behind a counting proxy, a streamer through
/// it, and the topic `orders` filled. Fetches are at most 64 KiB, so little
/// is in flight at any moment.
fn proxied(test: &str) -> (Proxy, Broker, Streamer) {
    let mut proxy = Proxy::bind();
    let broker = Broker::tansu_behind(proxy.port());
    proxy.forward_to(broker.port(), RATE);
    let url = format!(
        "kafka://127.0.0.1:{}?namespace={}&{KAFKA_TEST_SETTINGS}&fetch.max.bytes=65536&max.partition.fetch.bytes=65536&message.max.bytes=60000",
        proxy.port(),
        namespace(test)
    );
    let streamer: Streamer = weir::connect(&url).expect("kafka url");
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    produce(&streamer, &orders, (0..MESSAGES).map(|i| (padded(i), None)));
    (proxy, broker, streamer)
}

/// Message `i`'s payload: its number, padded to `PAYLOAD` bytes.
fn padded(i: u32) -> String {
    format!("{i:0width$}", width = PAYLOAD)
}

/// A RealTime consumer of `orders` from its beginning, with a buffer of 16
/// (far less than the topic: a consumer that lags fills it at once).
fn from_the_beginning(streamer: &Streamer) -> Consumer {
    let mut opts = options(ConsumerMode::RealTime, None);
    opts.set_buffer(16);
    let mut consumer = streamer.create_consumer(&[key("orders")], opts).unwrap();
    wait_for("a rewind", consumer.rewind(SeqPos::Beginning)).unwrap();
    consumer
}

fn assert_every_message_once_in_order(got: &[String]) {
    let want: Vec<String> = (0..MESSAGES).map(padded).collect();
    assert!(got == want, "every message once, in order ({} of {MESSAGES} taken)", got.len());
}

#[test]
#[ignore = "starts a broker of its own, installed into build/ from PyPI: cargo test --all-features -- --include-ignored"]
fn an_idle_consumer_stops_fetching_and_resumes_without_loss_or_duplicates() {
    let (proxy, _broker, streamer) = proxied("idle");
    let mut consumer = from_the_beginning(&streamer);
    let mut got = payloads(&take(&mut consumer, 10));
    // The application idles (the scenario, not a wait for a result): past
    // the moment fetching stops. Seen here: about 1.4 s after the last take
    // at 1 MB/s (the poll thread's 200 ms hold comes after it notices the
    // driver stopped taking), so some 1.5 MB of the 5 MB topic.
    std::thread::sleep(Duration::from_secs(3));
    let stopped_at = proxy.fetched();
    std::thread::sleep(Duration::from_secs(1));
    let grown = proxy.fetched() - stopped_at;
    let topic = u64::from(MESSAGES) * PAYLOAD as u64;
    assert!(
        grown < 32 * 1024,
        "an idle consumer fetched {grown} bytes in 1 s (the proxy passes up to {RATE}/s): it did not stop fetching"
    );
    assert!(stopped_at < topic / 2, "fetched {stopped_at} of the topic's {topic} bytes before stopping");
    got.extend(payloads(&take(&mut consumer, MESSAGES as usize - got.len())));
    assert_every_message_once_in_order(&got);
}

#[test]
#[ignore = "starts a broker of its own, installed into build/ from PyPI: cargo test --all-features -- --include-ignored"]
fn a_consumer_that_keeps_up_is_never_paused() {
    let (proxy, _broker, streamer) = proxied("keeps-up");
    let before = proxy.fetched();
    let mut consumer = from_the_beginning(&streamer);
    let got = payloads(&take(&mut consumer, MESSAGES as usize));
    let fetched = proxy.fetched() - before;
    assert_every_message_once_in_order(&got);
    // Record headers and fetch answers add a little; a pause would have
    // dropped what was prefetched and fetched it again (seen: the idle
    // consumer above fetches about 6.5 MB of this 5 MB topic in all).
    let topic = u64::from(MESSAGES) * PAYLOAD as u64;
    assert!(
        fetched < topic + topic / 5,
        "fetched {fetched} bytes for a topic of {topic}: some of it twice, so fetching was paused"
    );
}

/// A payload of `size` bytes that names its index `i`: its decimal digits,
/// then a letter of its own, as far as the size allows.
fn sized(i: usize, size: usize) -> String {
    let fill = char::from(b'a' + (i % 26) as u8);
    format!("{i:06}").chars().chain(std::iter::repeat(fill)).take(size).collect()
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn payloads_of_every_size_arrive_whole_and_in_order() {
    // The poll thread copies small payloads into buffers shared by a run of
    // messages and gives larger ones a buffer each: sizes on both sides of
    // each limit, empty ones, and runs that fill several shared buffers.
    let address = broker();
    let streamer = streamer(&address, &namespace("sizes"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let sizes = [0, 1, 6, 255, 1023, 1024, 1025, 4096, 70_000];
    let sent: Vec<String> = (0..400).map(|i| sized(i, sizes[i % sizes.len()])).collect();
    produce(&streamer, &orders, sent.iter().map(|payload| (payload.clone(), None)));
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    wait_for("a rewind", consumer.rewind(SeqPos::Beginning)).unwrap();
    let got = take(&mut consumer, sent.len());
    let seqs: Vec<u64> = got.iter().map(|m| m.seq().0).collect();
    assert_eq!(seqs, (0..sent.len() as u64).collect::<Vec<_>>(), "every offset once, in order");
    for (at, (message, payload)) in got.iter().zip(&sent).enumerate() {
        assert!(
            message.payload.as_bytes() == payload.as_bytes(),
            "message {at} ({} bytes) changed",
            payload.len()
        );
    }
}
