//! RealTime reading, rewinds and seeks, and what the producer's receipts say.

use std::time::Duration;

use weir::{ConsumerMode, ConsumerOptions, ProducerOptions, SeqPos, ShardId};

use crate::common::*;

fn realtime() -> ConsumerOptions {
    ConsumerOptions::new(ConsumerMode::RealTime)
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn realtime_reads_from_the_tail_pinned_at_start() {
    let ns = namespace("tail");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    produce(&streamer, &orders, numbered(0..3)).await;
    let mut consumer = crate::groups::joined(&streamer, &orders, realtime()).await;
    let headers = produce(&streamer, &orders, numbered(3..6)).await;
    let got = take(&mut consumer, 3).await;
    assert_eq!(payloads(&got), ["m3", "m4", "m5"], "only what came after the start");
    let got_headers: Vec<_> = got.iter().map(|m| m.header.clone()).collect();
    assert_eq!(got_headers, headers, "receipts name the stored entries");
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn rewind_and_seek_are_inclusive() {
    let ns = namespace("rewind");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let base = weir::Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let mut headers = Vec::new();
    for i in 0..6u64 {
        let at = base.saturating_add(Duration::from_secs(i));
        headers.push(producer.send_at(&orders, format!("m{i}"), Some(at)).unwrap().await.unwrap());
    }
    // send_at's timestamp is the entry id's time, and so the message's.
    for (i, header) in headers.iter().enumerate() {
        assert_eq!(header.timestamp, base.saturating_add(Duration::from_secs(i as u64)));
    }
    let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), realtime()).unwrap();
    consumer.rewind(SeqPos::At(headers[3].seq)).await.unwrap();
    assert_eq!(payloads(&take(&mut consumer, 3).await), ["m3", "m4", "m5"]);
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    assert_eq!(payloads(&take(&mut consumer, 2).await), ["m0", "m1"]);
    consumer.seek(base.saturating_add(Duration::from_secs(2))).await.unwrap();
    let got = take(&mut consumer, 4).await;
    assert_eq!(payloads(&got), ["m2", "m3", "m4", "m5"], "seek starts at the entry at that time");
    consumer.seek(base.saturating_add(Duration::from_millis(4_500))).await.unwrap();
    assert_eq!(payloads(&take(&mut consumer, 1).await), ["m5"]);
    consumer.rewind(SeqPos::End).await.unwrap();
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
    produce(&streamer, &orders, numbered(6..7)).await;
    assert_eq!(payloads(&take(&mut consumer, 1).await), ["m6"]);
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn an_id_older_than_the_top_fails_its_receipt_only() {
    let ns = namespace("refused");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let late = producer.send_to(&orders, "now").unwrap();
    let early =
        producer.send_at(&orders, "1970", Some(weir::Timestamp::from_unix_millis(5).unwrap())).unwrap();
    let after = producer.send_to(&orders, "after").unwrap();
    assert!(late.await.is_ok());
    let err = early.await.unwrap_err();
    assert!(err.to_string().contains("equal or smaller"), "{err}");
    assert!(after.await.is_ok(), "one refusal does not fail the others");
    let err = producer.flush().await.unwrap_err();
    assert!(err.to_string().contains("equal or smaller"), "flush reports the refusal: {err}");
    producer.flush().await.expect("reported once");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn shards_are_read_and_written_round_robin() {
    let ns = namespace("shards");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    match streamer.backend() {
        weir::AnyStreamer::Redis(redis) => redis.create_stream(&orders, 3).unwrap(),
        _ => unreachable!("a redis url"),
    }
    let headers = produce(&streamer, &orders, numbered(0..6)).await;
    let shards: Vec<u32> = headers.iter().map(|h| h.shard.0).collect();
    assert_eq!(shards, [0, 1, 2, 0, 1, 2]);
    let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), realtime()).unwrap();
    consumer.assign(orders.clone(), ShardId(2)).unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let got = take(&mut consumer, 2).await;
    assert_eq!(payloads(&got), ["m2", "m5"]);
    assert!(got.iter().all(|m| m.shard() == ShardId(2)));
    nothing_within(&mut consumer, Duration::from_millis(300)).await;
}
