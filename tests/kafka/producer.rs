//! The producer's backpressure and bounded flush: a full librdkafka queue makes
//! `send` wait for room instead of failing; a bounded flush returns once
//! everything is stored, and with no broker gives up at its limit, drops nothing
//! it was given, and the producer still closes cleanly.

use std::time::{Duration, Instant};

use weir::{ProducerError, ProducerOptions, Tokio};

use crate::common::{broker, create_stream, key, namespace, streamer, url, wait_for};

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_full_queue_makes_send_wait_instead_of_failing() {
    let address = broker();
    let namespace = namespace("queue-full");
    // Room for 100 messages in librdkafka's queue; 5000 are sent without a pause.
    let streamer: weir::Streamer<weir::NoRuntime> =
        weir::connect(&format!("{}&queue.buffering.max.messages=100", url(&address, &namespace))).unwrap();
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let receipts: Vec<_> =
        (0..5000).map(|n| producer.send_to(&orders, format!("m{n}")).expect("send waits for room")).collect();
    producer.flush_within_blocking(crate::common::MESSAGE_WITHIN).unwrap();
    let seqs: Vec<u64> =
        receipts.into_iter().map(|receipt| wait_for("a receipt", receipt).unwrap().seq.0).collect();
    assert_eq!(seqs, (0..5000).collect::<Vec<_>>(), "every message stored, in order");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_flush_within_returns_once_every_message_is_stored() {
    let address = broker();
    let streamer = streamer(&address, &namespace("flush-live"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let receipts: Vec<_> = (0..100).map(|n| producer.send_to(&orders, format!("m{n}")).unwrap()).collect();
    producer.flush_within_blocking(Duration::from_secs(30)).expect("stored within the limit");
    // Flushed means stored: every receipt is already resolved, in order.
    let seqs: Vec<u64> =
        receipts.into_iter().map(|receipt| wait_for("a receipt", receipt).unwrap().seq.0).collect();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
}

/// With nothing listening, librdkafka would retry for `message.timeout.ms`
/// (5 minutes by default); the bounded flush reports at its limit instead, on a
/// runtime's timer as well as with none.
#[test]
fn a_flush_within_gives_up_at_its_limit_when_the_broker_is_down() {
    let url = "kafka://127.0.0.1:1?connect.timeout.ms=2000&message.timeout.ms=60000";
    let orders = key("orders");
    let limit = Duration::from_millis(500);

    let streamer: weir::Streamer<weir::NoRuntime> = weir::connect(url).unwrap();
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let receipt = producer.send_to(&orders, "kept").unwrap();
    let started = Instant::now();
    let err = producer.flush_within_blocking(limit).expect_err("nothing can be stored");
    assert_eq!(err, ProducerError::FlushTimeout { waited: limit });
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    // The message is still pending, not dropped: a second bounded flush waits for it again.
    assert!(matches!(producer.flush_within_blocking(limit), Err(ProducerError::FlushTimeout { .. })));
    let started = Instant::now();
    drop(producer);
    drop(receipt);
    assert!(started.elapsed() < Duration::from_secs(5), "closing took {:?}", started.elapsed());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let streamer: weir::Streamer<Tokio> = weir::connect(url).unwrap();
        let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
        let _receipt = producer.send_to(&orders, "kept").unwrap();
        let started = Instant::now();
        let err = producer.flush_within(limit).await.expect_err("nothing can be stored");
        assert_eq!(err, ProducerError::FlushTimeout { waited: limit });
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    });
}

/// A message librdkafka gives up on (here: no broker within `message.timeout.ms`)
/// fails its receipt and the next flush, so a program that drops receipts (as
/// `weir produce` does) still learns that something was not stored.
#[test]
fn a_flush_reports_messages_that_were_not_stored() {
    let url = "kafka://127.0.0.1:1?connect.timeout.ms=2000&message.timeout.ms=500";
    let streamer: weir::Streamer<weir::NoRuntime> = weir::connect(url).unwrap();
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let orders = key("orders");
    let receipts: Vec<_> = (0..3).map(|n| producer.send_to(&orders, format!("m{n}")).unwrap()).collect();
    let err = producer.flush_within_blocking(Duration::from_secs(30)).expect_err("nothing was stored");
    let text = err.to_string();
    assert!(text.contains("3 message(s)") && text.contains("not stored"), "{text}");
    for receipt in receipts {
        assert!(wait_for("a receipt", receipt).is_err(), "each receipt says it failed");
    }
    // Reported once: a flush with nothing new in flight succeeds.
    producer.flush_within_blocking(Duration::from_secs(5)).expect("nothing new since");
}
