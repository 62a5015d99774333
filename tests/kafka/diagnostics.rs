//! What the Kafka backend tells through `tracing` (what `weir -v` prints) on
//! a real broker: a group join and a rebalance, with their group, shards and
//! timing; and nothing per message.

use std::time::{Duration, Instant};

use tracing::Level;
use weir::ConsumerMode;

use crate::common::*;
use crate::events::{global, Recorded};

/// weir-kafka's events of consumers in `group`, from debug up (an event per
/// message would be trace at most).
fn events_of(group: &str) -> Vec<Recorded> {
    global()
        .all()
        .into_iter()
        .filter(|e| e.target.starts_with("weir_kafka") && e.level <= Level::DEBUG)
        .filter(|e| e.field("group") == Some(group))
        .collect()
}

/// The events of `consumer` (weir's number for it) saying `message`.
fn said(events: &[Recorded], consumer: &str, message: &str) -> Vec<Recorded> {
    events
        .iter()
        .filter(|e| e.message() == message && e.field("consumer") == Some(consumer))
        .cloned()
        .collect()
}

/// A field every event of its kind has.
fn field<'a>(event: &'a Recorded, name: &str) -> &'a str {
    event.field(name).unwrap_or_else(|| panic!("no field {name} in {event}"))
}

/// A time in milliseconds, from a field.
fn millis(event: &Recorded, name: &str) -> Duration {
    let value = field(event, name);
    Duration::from_millis(
        value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a number: {event}")),
    )
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_group_join_and_a_rebalance_are_told_with_shards_and_timing() {
    global();
    let address = broker();
    let namespace = namespace("events");
    let streamer = streamer(&address, &namespace);
    let key = key("orders");
    create_stream(&streamer, &key, 2);
    let (topic, group) = (format!("{namespace}orders"), format!("{namespace}workers"));
    let (shard0, shard1) = (format!("{topic}/0"), format!("{topic}/1"));
    let options = options(ConsumerMode::LoadBalanced, Some("workers"));

    let started = Instant::now();
    let mut first = streamer.create_consumer(std::slice::from_ref(&key), options.clone()).expect("consumer");
    settle(&mut [&mut first], |sizes| sizes == [2]);
    let joined = started.elapsed();
    let mut second = streamer.create_consumer(std::slice::from_ref(&key), options).expect("consumer");
    settle(&mut [&mut first, &mut second], |sizes| sizes == [1, 1]);
    let rebalanced = started.elapsed() - joined;
    let events = events_of(&group);

    // Connecting and connected: each consumer once, naming the broker.
    let connecting: Vec<&Recorded> =
        events.iter().filter(|e| e.message() == "kafka consumer connecting").collect();
    assert_eq!(connecting.len(), 2, "one per consumer: {events:#?}");
    for event in &connecting {
        assert_eq!((event.level, field(event, "servers")), (Level::INFO, address.as_str()), "{event:?}");
        assert_eq!(field(event, "mode"), "LoadBalanced", "{event:?}");
    }
    let (a, b) = (field(connecting[0], "consumer"), field(connecting[1], "consumer"));
    assert_ne!(a, b, "each consumer has its own number");
    for consumer in [a, b] {
        let connected = said(&events, consumer, "kafka consumer connected");
        assert_eq!(connected.len(), 1, "consumer {consumer}: {events:#?}");
        assert_eq!(field(&connected[0], "servers"), address);
        assert!(millis(&connected[0], "took_ms") <= started.elapsed(), "{:?}", connected[0]);
        let joining = said(&events, consumer, "joining kafka consumer group");
        assert_eq!(joining.len(), 1, "consumer {consumer}: {events:#?}");
        assert_eq!((joining[0].level, field(&joining[0], "topics")), (Level::INFO, topic.as_str()));
    }

    // The first member gets both shards, within the time its join took.
    let a_assigned = said(&events, a, "kafka shards assigned");
    assert!(a_assigned.len() >= 2, "joined, then rebalanced: {events:#?}");
    let join = &a_assigned[0];
    assert_eq!((join.level, field(join, "shards")), (Level::INFO, format!("{shard0},{shard1}").as_str()));
    assert!(millis(join, "waited_ms") <= joined, "waited within the join's {joined:?}: {join:?}");
    assert!(millis(join, "took_ms") <= millis(join, "waited_ms"), "{join:?}");

    // The second member's join takes both back from the first, then splits them.
    let revoked = said(&events, a, "kafka shards revoked");
    assert!(!revoked.is_empty(), "the first member gave its shards up: {events:#?}");
    assert_eq!(
        (revoked[0].level, field(&revoked[0], "shards")),
        (Level::INFO, format!("{shard0},{shard1}").as_str())
    );
    assert!(millis(&revoked[0], "took_ms") <= rebalanced, "{:?}", revoked[0]);
    let b_assigned = said(&events, b, "kafka shards assigned");
    let (a_now, b_now) =
        (&a_assigned[a_assigned.len() - 1], b_assigned.last().expect("the second member's shards"));
    let mut split = [field(a_now, "shards"), field(b_now, "shards")];
    split.sort_unstable();
    assert_eq!(split, [shard0.as_str(), shard1.as_str()], "one shard each: {events:#?}");
    assert!(
        millis(a_now, "waited_ms") <= rebalanced,
        "since the revocation, within the rebalance: {a_now:?}"
    );
    assert!(millis(b_now, "waited_ms") <= rebalanced, "since its join, within the rebalance: {b_now:?}");
    // What the events say is what the consumers report.
    for (consumer, event) in [(&first, a_now), (&second, b_now)] {
        let shards = consumer.core().assignment().cloned().unwrap_or_default();
        let told: Vec<String> =
            shards.iter().map(|(k, s)| format!("{namespace}{}/{}", k.name(), s.0)).collect();
        assert_eq!(told, [field(event, "shards")], "{event:?}");
    }

    // Consuming tells nothing per message.
    let before = events_of(&group).len();
    produce(&streamer, &key, numbered(0..40));
    take(&mut first, 20);
    take(&mut second, 20);
    let during: Vec<Recorded> = events_of(&group).split_off(before);
    assert!(during.len() < 10, "40 messages, {} events: {during:#?}", during.len());
}
