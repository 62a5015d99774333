//! A scenario's stream: a fresh namespace, a topic of some partitions, and
//! `n` messages whose payloads are their numbers `0..n`, so a checker can
//! tell exactly which ones a consumer printed.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use weir::{NoRuntime, ProducerOptions, StreamKey};

use crate::moments::COMMIT_INTERVAL;
use crate::support::KAFKA_TEST_SETTINGS;

/// Messages sent between two flushes: librdkafka's local queue holds
/// 100 000 by default and refuses more, so large loads go in slices.
const SLICE: u64 = 10_000;

/// A topic in a namespace no other test uses, on one broker.
pub struct Load {
    pub address: String,
    pub namespace: String,
    pub key: StreamKey,
}

impl Load {
    /// A fresh namespace for `test` on the broker at `address`, and its topic
    /// `key` made with `shards` partitions.
    pub fn new(address: &str, test: &str, key: &str, shards: u32) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let namespace =
            format!("rel-{test}-{}-{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let load = Self {
            address: address.to_owned(),
            namespace,
            key: StreamKey::new(key).expect("a valid stream key"),
        };
        match load.streamer().backend() {
            weir::AnyStreamer::Kafka(kafka) => {
                weir::block_on(kafka.create_stream(&load.key, shards)).expect("creating the topic")
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("kafka urls make kafka streamers"),
        }
        load
    }

    /// The streamer URL of the namespace, with the group settings the other
    /// Kafka tests use (a 6 s session: a dead member is noticed quickly).
    pub fn streamer_url(&self) -> String {
        format!("kafka://{}?namespace={}&{KAFKA_TEST_SETTINGS}", self.address, self.namespace)
    }

    /// The URL a `weir consume` process reads: from the earliest message when
    /// its group has no commit yet, committing every [`COMMIT_INTERVAL`].
    pub fn consume_url(&self) -> String {
        format!(
            "kafka://{}/{}?namespace={}&{KAFKA_TEST_SETTINGS}\
             &auto.offset.reset=earliest&auto.commit.interval.ms={}",
            self.address,
            self.key.name(),
            self.namespace,
            COMMIT_INTERVAL.as_millis()
        )
    }

    /// The topic's name on the broker.
    pub fn topic(&self) -> String {
        format!("{}{}", self.namespace, self.key.name())
    }

    /// The name a consumer group `group` has on the broker.
    pub fn group(&self, group: &str) -> String {
        format!("{}{group}", self.namespace)
    }

    pub fn streamer(&self) -> weir::Streamer<NoRuntime> {
        weir::connect(&self.streamer_url()).expect("a kafka url")
    }

    /// Produces the messages `numbers` (payload: the number in decimal) and
    /// waits until the broker stored them all. Timestamps are the current
    /// time: the broker's retention would delete old ones at random.
    pub fn produce(&self, numbers: Range<u64>) {
        let streamer = self.streamer();
        let mut producer = streamer.create_producer(ProducerOptions::default()).expect("a producer");
        for start in numbers.clone().step_by(usize::try_from(SLICE).expect("small")) {
            for number in start..numbers.end.min(start + SLICE) {
                // The flush below waits for every receipt; none is needed one by one.
                drop(producer.send_to(&self.key, number.to_string()).expect("queueing a message"));
            }
            producer.flush_blocking().expect("the broker stores every message");
        }
    }
}
