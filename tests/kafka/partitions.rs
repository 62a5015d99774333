//! A RealTime consumer with no shard assigned reads every partition of its
//! streams, also after a rewind: the core names shard 0 of each stream for
//! such a rewind, and the backend moves every partition the topic has then
//! (see docs/kafka.md); a seek likewise. On a topic made just before, filled
//! before or after the consumer was made; and a group member's rewind moves
//! every partition the group gave it.

use weir::{ConsumerMode, SeqPos, ShardId};

use crate::batches::{assert_whole_and_in_order, consumer_of_a_filled_topic, per_partition, PARTITIONS};
use crate::common::{
    broker, create_stream, key, namespace, numbered, options, produce, settle, streamer, take, wait_for,
};

const MESSAGES: u32 = 3_000;

/// The shards the core reports for the consumer: every partition of `orders`.
fn assert_every_shard(consumer: &crate::common::Consumer) {
    let shards: Vec<u32> = consumer.core().assignment().into_iter().flatten().map(|(_, s)| s.0).collect();
    assert_eq!(shards, (0..PARTITIONS).collect::<Vec<_>>(), "the core knows every partition");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_rewind_with_no_shard_assigned_reads_every_partition_of_a_fresh_topic() {
    let (_streamer, mut consumer) =
        consumer_of_a_filled_topic("parts-fresh", MESSAGES, ConsumerMode::RealTime, None);
    let orders = key("orders");
    wait_for("a rewind", consumer.rewind(SeqPos::Beginning)).expect("rewind");
    assert_whole_and_in_order(&take(&mut consumer, MESSAGES as usize), MESSAGES);
    assert_every_shard(&consumer);

    // An explicit assignment still narrows the next rewind to what it names.
    consumer.assign(orders.clone(), ShardId(1)).unwrap();
    wait_for("a rewind of shard 1", consumer.rewind(SeqPos::Beginning)).expect("rewind");
    let only = per_partition(&take(&mut consumer, (MESSAGES / PARTITIONS) as usize));
    assert_eq!(only.keys().copied().collect::<Vec<_>>(), [1], "shard 1 only");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_rewind_with_no_shard_assigned_reads_every_partition_filled_after_it() {
    let address = broker();
    let streamer = streamer(&address, &namespace("parts-later"));
    let orders = key("orders");
    create_stream(&streamer, &orders, PARTITIONS);
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    wait_for("a rewind", consumer.rewind(SeqPos::Beginning)).expect("rewind");
    produce(&streamer, &orders, numbered(0..MESSAGES));
    assert_whole_and_in_order(&take(&mut consumer, MESSAGES as usize), MESSAGES);
    assert_every_shard(&consumer);

    // A seek with no shard assigned moves every partition too: to an hour
    // before any message, so to each partition's first.
    wait_for("a seek", consumer.seek(crate::support::recent_base())).expect("seek");
    assert_whole_and_in_order(&take(&mut consumer, MESSAGES as usize), MESSAGES);
    assert_every_shard(&consumer);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_group_members_rewind_with_no_shard_assigned_moves_every_partition_it_has() {
    let (_streamer, mut member) =
        consumer_of_a_filled_topic("parts-group", MESSAGES, ConsumerMode::Resumable, Some("rewinds"));
    // Nothing committed: the group starts it at the end, where nothing comes.
    settle(&mut [&mut member], |sizes| sizes == [PARTITIONS as usize]);
    wait_for("a rewind", member.rewind(SeqPos::Beginning)).expect("rewind");
    assert_whole_and_in_order(&take(&mut member, MESSAGES as usize), MESSAGES);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_group_members_rewind_before_the_group_gave_it_any_partition_applies_to_those_it_gives() {
    let (_streamer, mut member) =
        consumer_of_a_filled_topic("parts-early", MESSAGES, ConsumerMode::Resumable, Some("early"));
    // Asked for at once: joining the group takes round trips, the rewind's
    // job none before it finds no partition. With nothing committed, the
    // group alone would start the member at the end, where nothing comes.
    wait_for("a rewind", member.rewind(SeqPos::Beginning)).expect("rewind");
    assert_whole_and_in_order(&take(&mut member, MESSAGES as usize), MESSAGES);
    assert_every_shard(&member);
}
