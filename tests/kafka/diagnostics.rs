//! What the Kafka backend tells through `tracing` (what `weir -v` prints) on
//! a real broker: a group join and a rebalance, with their group, shards and
//! timing; and nothing per message.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use weir::ConsumerMode;

use crate::common::*;

/// One event of weir's Kafka backend: its level and fields (`message` included).
#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }

    fn field(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }

    fn millis(&self, name: &str) -> Duration {
        let value = self.field(name);
        Duration::from_millis(
            value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a number: {self:?}")),
        )
    }
}

/// Every event captured so far, from every test of this binary.
static EVENTS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

/// Records weir-kafka's events from debug up (a per-message event would be
/// trace at most, so it must not show up here).
struct Capture;

fn wanted(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("weir_kafka") && *metadata.level() <= Level::DEBUG
}

impl<S: Subscriber> Layer<S> for Capture {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        wanted(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let captured = Captured { level: *event.metadata().level(), fields: fields.0 };
        EVENTS.lock().unwrap_or_else(PoisonError::into_inner).push(captured);
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Installs the capturing subscriber for the whole process (the backend's
/// events come from its poll thread and jobs, not only the test's thread).
fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .expect("no other global subscriber in this test binary");
    });
}

/// The events captured so far of consumers in `group`.
fn events_of(group: &str) -> Vec<Captured> {
    let events = EVENTS.lock().unwrap_or_else(PoisonError::into_inner);
    events.iter().filter(|e| e.fields.get("group").is_some_and(|g| g == group)).cloned().collect()
}

/// The events of `consumer` (weir's number for it) saying `message`.
fn said(events: &[Captured], consumer: &str, message: &str) -> Vec<Captured> {
    events.iter().filter(|e| e.message() == message && e.field("consumer") == consumer).cloned().collect()
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_group_join_and_a_rebalance_are_told_with_shards_and_timing() {
    capture();
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
    let connecting: Vec<&Captured> =
        events.iter().filter(|e| e.message() == "kafka consumer connecting").collect();
    assert_eq!(connecting.len(), 2, "one per consumer: {events:#?}");
    for event in &connecting {
        assert_eq!((event.level, event.field("servers")), (Level::INFO, address.as_str()), "{event:?}");
        assert_eq!(event.field("mode"), "LoadBalanced", "{event:?}");
    }
    let (a, b) = (connecting[0].field("consumer"), connecting[1].field("consumer"));
    assert_ne!(a, b, "each consumer has its own number");
    for consumer in [a, b] {
        let connected = said(&events, consumer, "kafka consumer connected");
        assert_eq!(connected.len(), 1, "consumer {consumer}: {events:#?}");
        assert_eq!(connected[0].field("servers"), address);
        assert!(connected[0].millis("took_ms") <= started.elapsed(), "{:?}", connected[0]);
        let joining = said(&events, consumer, "joining kafka consumer group");
        assert_eq!(joining.len(), 1, "consumer {consumer}: {events:#?}");
        assert_eq!((joining[0].level, joining[0].field("topics")), (Level::INFO, topic.as_str()));
    }

    // The first member gets both shards, within the time its join took.
    let a_assigned = said(&events, a, "kafka shards assigned");
    assert!(a_assigned.len() >= 2, "joined, then rebalanced: {events:#?}");
    let join = &a_assigned[0];
    assert_eq!((join.level, join.field("shards")), (Level::INFO, format!("{shard0},{shard1}").as_str()));
    assert!(join.millis("waited_ms") <= joined, "waited within the join's {joined:?}: {join:?}");
    assert!(join.millis("took_ms") <= join.millis("waited_ms"), "{join:?}");

    // The second member's join takes both back from the first, then splits them.
    let revoked = said(&events, a, "kafka shards revoked");
    assert!(!revoked.is_empty(), "the first member gave its shards up: {events:#?}");
    assert_eq!(
        (revoked[0].level, revoked[0].field("shards")),
        (Level::INFO, format!("{shard0},{shard1}").as_str())
    );
    assert!(revoked[0].millis("took_ms") <= rebalanced, "{:?}", revoked[0]);
    let b_assigned = said(&events, b, "kafka shards assigned");
    let (a_now, b_now) =
        (&a_assigned[a_assigned.len() - 1], b_assigned.last().expect("the second member's shards"));
    let mut split = [a_now.field("shards"), b_now.field("shards")];
    split.sort_unstable();
    assert_eq!(split, [shard0.as_str(), shard1.as_str()], "one shard each: {events:#?}");
    assert!(a_now.millis("waited_ms") <= rebalanced, "since the revocation, within the rebalance: {a_now:?}");
    assert!(b_now.millis("waited_ms") <= rebalanced, "since its join, within the rebalance: {b_now:?}");
    // What the events say is what the consumers report.
    for (consumer, event) in [(&first, a_now), (&second, b_now)] {
        let shards = consumer.core().assignment().cloned().unwrap_or_default();
        let told: Vec<String> =
            shards.iter().map(|(k, s)| format!("{namespace}{}/{}", k.name(), s.0)).collect();
        assert_eq!(told, [event.field("shards")], "{event:?}");
    }

    // Consuming tells nothing per message.
    let before = events_of(&group).len();
    produce(&streamer, &key, numbered(0..40));
    take(&mut first, 20);
    take(&mut second, 20);
    let during: Vec<Captured> = events_of(&group).split_off(before);
    assert!(during.len() < 10, "40 messages, {} events: {during:#?}", during.len());
}
