//! The topic the dropped-futures tests read: `WEIR_RELIABILITY_MESSAGES`
//! messages (20 000 by default; `scripts/reliability` asks for 100 000) over
//! three partitions, produced once per test process and shared by the
//! runtimes' tests, each of which reads it in a group of its own.
//!
//! Message `i` carries payload `i` and timestamp `base + i ms` with `base` an
//! hour ago: recent, so the broker's retention never deletes it during a run,
//! and strictly increasing, so a seek's landing place is known exactly.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use weir::{NoRuntime, ProducerOptions, StreamKey, Timestamp};

use crate::common::{create_stream, key, namespace, streamer, url};

/// The partitions of the topic.
pub const SHARDS: u32 = 3;

/// The default number of messages; `WEIR_RELIABILITY_MESSAGES` overrides it.
pub const DEFAULT_MESSAGES: u64 = 20_000;

/// One stored message, as the producer's receipt reported it.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    /// The message's number: its payload.
    pub index: u64,
    pub timestamp: Timestamp,
}

/// The produced topic and where each message went.
pub struct Loaded {
    /// The broker address.
    pub address: String,
    pub namespace: String,
    pub key: StreamKey,
    /// Per shard, the messages in seq order (seq = position: the topic is fresh).
    pub shards: Vec<Vec<Stored>>,
    pub total: u64,
}

impl Loaded {
    /// The URL of a consumer of the topic.
    pub fn url(&self) -> String {
        url(&self.address, &self.namespace, "auto.offset.reset=earliest")
    }

    /// The first seq of `shard` whose timestamp is not before `at` (its length if none).
    pub fn first_at_or_after(&self, shard: usize, at: Timestamp) -> u64 {
        self.shards[shard].partition_point(|stored| stored.timestamp < at) as u64
    }
}

/// The number of messages to produce.
pub fn messages() -> u64 {
    match std::env::var("WEIR_RELIABILITY_MESSAGES") {
        Ok(text) => text.trim().parse().expect("WEIR_RELIABILITY_MESSAGES is a number"),
        Err(_) => DEFAULT_MESSAGES,
    }
}

/// The topic, produced on first use.
pub fn loaded(address: &str) -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| produce(address, messages()))
}

fn produce(address: &str, total: u64) -> Loaded {
    let started = Instant::now();
    let namespace = namespace("drops");
    let key = key("drops");
    let streamer = streamer::<NoRuntime>(&url(address, &namespace, ""));
    create_stream(&streamer, &key, SHARDS);
    let base = crate::support::recent_base();
    let mut producer = streamer.create_producer(ProducerOptions::default()).expect("producer");
    let receipts: Vec<_> = (0..total)
        .map(|i| {
            let at = base.saturating_add(Duration::from_millis(i));
            producer.send_at(&key, i.to_string(), Some(at)).expect("send")
        })
        .collect();
    producer.flush_blocking().expect("every message stored");
    let mut shards = vec![Vec::new(); SHARDS as usize];
    for (i, receipt) in (0..total).zip(receipts) {
        let header = weir::block_on(receipt).expect("stored");
        let shard = &mut shards[header.shard.0 as usize];
        assert_eq!(header.seq.0, shard.len() as u64, "message {i}: seqs of a fresh topic are contiguous");
        shard.push(Stored { index: i, timestamp: header.timestamp });
    }
    let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
    eprintln!("produced {total} messages over shards {sizes:?} in {:.1} s", started.elapsed().as_secs_f64());
    Loaded { address: address.to_owned(), namespace, key, shards, total }
}
