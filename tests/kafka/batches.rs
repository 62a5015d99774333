//! The receive path of a consumer without a group, which takes messages in
//! batches out of each partition's own queue (backends/kafka/src/batches.rs):
//! a backlog over several partitions arrives whole, once, each partition in
//! order; again after a rewind (a new positioning of partitions whose
//! queues are split already); and messages produced while the consumer
//! waits wake it (each split queue's non-empty callback).

use std::collections::BTreeMap;

use weir::{ConsumerMode, Message, SeqPos, ShardId};

use crate::common::{
    broker, create_stream, key, namespace, numbered, options, produce, streamer, take, wait_for, Consumer,
    Streamer,
};

pub const PARTITIONS: u32 = 3;
/// Several of the driver's batches (256) per partition.
const BACKLOG: u32 = 3_000;

/// A consumer in `mode` (of `group`) and its streamer, in namespace `test`,
/// of `orders`: a topic of `PARTITIONS` partitions made now, holding
/// messages `0..messages`.
pub fn consumer_of_a_filled_topic(
    test: &str,
    messages: u32,
    mode: ConsumerMode,
    group: Option<&str>,
) -> (Streamer, Consumer) {
    let streamer = streamer(&broker(), &namespace(test));
    let orders = key("orders");
    create_stream(&streamer, &orders, PARTITIONS);
    produce(&streamer, &orders, numbered(0..messages));
    let consumer = streamer.create_consumer(&[orders], options(mode, group)).unwrap();
    (streamer, consumer)
}

/// Per partition, the (seq, message number) of each message, in arrival order.
pub fn per_partition(messages: &[Message]) -> BTreeMap<u32, Vec<(u64, u32)>> {
    let mut parts: BTreeMap<u32, Vec<(u64, u32)>> = BTreeMap::new();
    for m in messages {
        let number = m.payload.as_str().unwrap().trim_start_matches('m').parse().unwrap();
        parts.entry(m.shard().0).or_default().push((m.seq().0, number));
    }
    parts
}

/// Every message of `0..end` once, each partition's in seq order from seq 0 on.
pub fn assert_whole_and_in_order(messages: &[Message], end: u32) {
    let parts = per_partition(messages);
    assert_eq!(parts.len(), PARTITIONS as usize, "every partition delivered");
    for (partition, got) in &parts {
        let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
        let want: Vec<u64> = (0..seqs.len() as u64).collect();
        assert!(seqs == want, "partition {partition}: seqs 0.. in order, once ({} messages)", seqs.len());
    }
    let mut numbers: Vec<u32> = parts.values().flatten().map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    assert!(numbers == (0..end).collect::<Vec<_>>(), "every message once ({} of {end})", numbers.len());
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_backlog_over_partitions_arrives_once_in_order_again_after_a_rewind_and_live() {
    let (streamer, mut consumer) =
        consumer_of_a_filled_topic("batches", BACKLOG, ConsumerMode::RealTime, None);
    let orders = key("orders");
    for shard in 0..PARTITIONS {
        consumer.assign(orders.clone(), ShardId(shard)).unwrap();
    }
    wait_for("a rewind", consumer.rewind(SeqPos::Beginning)).expect("rewind");
    assert_whole_and_in_order(&take(&mut consumer, BACKLOG as usize), BACKLOG);

    wait_for("a second rewind", consumer.rewind(SeqPos::Beginning)).expect("rewind");
    assert_whole_and_in_order(&take(&mut consumer, BACKLOG as usize), BACKLOG);

    // Caught up: these arrive while the consumer waits.
    produce(&streamer, &orders, numbered(BACKLOG..BACKLOG + 30));
    let live = per_partition(&take(&mut consumer, 30));
    let numbers: usize = live.values().map(Vec::len).sum();
    assert_eq!(numbers, 30);
    assert!(
        live.values().flatten().all(|(_, n)| (BACKLOG..BACKLOG + 30).contains(n)),
        "only the new messages"
    );
}
