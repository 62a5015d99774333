//! A dropped Redis consumer or producer leaves no thread behind: its own
//! test binary, so that no other test's threads are counted.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use weir::{ConsumerGroup, ConsumerMode, ConsumerOptions, ProducerOptions, StreamKey, Tokio};

/// This process's threads whose name starts with `weir-redis`.
fn redis_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task lists this process's threads");
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with("weir-redis"))
        })
        .count()
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis_threads -- --include-ignored"]
async fn dropping_consumers_and_producers_ends_their_threads() {
    let address = std::env::var("WEIR_REDIS").unwrap_or_else(|_| {
        panic!("WEIR_REDIS is unset: run through scripts/redis-server run -- cargo test --all-features --test redis_threads -- --include-ignored")
    });
    let streamer: weir::Streamer<Tokio> =
        weir::connect(&format!("redis://{address}?namespace=threads-{}-&block.ms=100", std::process::id()))
            .unwrap();
    let orders = StreamKey::new("orders").unwrap();
    let mut balanced = ConsumerOptions::new(ConsumerMode::LoadBalanced);
    balanced.set_group(ConsumerGroup::new("g").unwrap());
    let mut consumers = Vec::new();
    for options in [ConsumerOptions::new(ConsumerMode::RealTime), balanced] {
        consumers.push(streamer.create_consumer(std::slice::from_ref(&orders), options).unwrap());
    }
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    producer.send_to(&orders, "x").unwrap().await.unwrap();
    for consumer in &mut consumers {
        // Drive each once: its reader is mid-read (or has read) when dropped.
        let _ = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    }
    assert_eq!(redis_threads(), 3, "a reader per consumer and a writer per producer");
    drop(consumers);
    drop(producer);
    let started = Instant::now();
    while redis_threads() > 0 {
        assert!(started.elapsed() < Duration::from_secs(2), "{} threads 2 s after the drop", redis_threads());
        // Polling a condition with a deadline; the interval does not change the outcome.
        std::thread::sleep(Duration::from_millis(10));
    }
}
