//! Backpressure on the consumer side: an application that stops taking
//! messages makes the backend stop fetching (after a short hold), and one that
//! comes back gets everything, in order, nothing twice; and what the poll
//! thread hands over arrives intact.

use std::time::Duration;

use weir::{ConsumerMode, SeqPos};

use crate::common::{
    broker, create_stream, key, names, namespace, numbered, options, payloads, produce, streamer, take,
};

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn an_idle_consumer_holds_fetching_and_resumes_without_loss_or_duplicates() {
    let address = broker();
    let streamer = streamer(&address, &namespace("hold"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    produce(&streamer, &orders, numbered(0..2000));
    let mut opts = options(ConsumerMode::RealTime, None);
    // A buffer of 16: the poll thread's hand-over fills long before 2000.
    opts.set_buffer(16);
    let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), opts).unwrap();
    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
    let mut got = payloads(&take(&mut consumer, 10));
    for _ in 0..3 {
        // Not a wait for correctness: idle long enough (past the hold) for
        // the backend to pause fetching, then take more, which resumes it.
        std::thread::sleep(Duration::from_millis(600));
        got.extend(payloads(&take(&mut consumer, 100)));
    }
    got.extend(payloads(&take(&mut consumer, 2000 - got.len())));
    assert_eq!(got, names(0..2000), "every message once, in order");
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
    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
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
