//! Kafka end to end on a real broker (`WEIR_KAFKA`, set by
//! `scripts/kafka-broker run -- …`): consuming 100k × 256 B messages from the
//! start of a one-partition topic through weir (`next_blocking`, and
//! `next().await` on tokio), and through a raw rdkafka `BaseConsumer` loop on
//! the same topic, with the same settings, in the same run. Both copy each
//! payload out of librdkafka's buffer (a weir message outlives the poll that
//! fetched it; the raw loop copies too, so it does no less work than an
//! application keeping its messages would).

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir::{ConsumerMode, ConsumerOptions, NoRuntime, Payload, ProducerOptions, SeqPos, StreamKey};

const MESSAGES: u64 = 100_000;
const SETTINGS: &str = "fetch.wait.max.ms=50";

struct Fixture {
    address: String,
    namespace: String,
    topic: String,
}

impl Fixture {
    /// Produces `MESSAGES` messages of 256 bytes into a fresh one-partition topic.
    fn load(address: String) -> Self {
        let namespace = format!("bench-{}-", std::process::id());
        let fixture = Self { topic: format!("{namespace}bench"), address, namespace };
        let streamer = fixture.streamer::<NoRuntime>();
        let key = StreamKey::new("bench").unwrap();
        let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
        let payload = Payload::from(vec![b'x'; 256]);
        for _ in 0..MESSAGES {
            drop(producer.send_to(&key, payload.clone()).unwrap());
        }
        producer.flush_blocking().unwrap();
        fixture
    }

    fn streamer<R: weir::Runtime>(&self) -> weir::Streamer<R> {
        weir::connect(&format!("kafka://{}?namespace={}&{SETTINGS}", self.address, self.namespace)).unwrap()
    }

    fn weir_consumer<R: weir::Runtime>(&self, streamer: &weir::Streamer<R>) -> weir::Consumer<R> {
        let key = StreamKey::new("bench").unwrap();
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap()
    }

    /// The raw loop: assign from the start, poll, copy each payload.
    fn raw(&self) -> Duration {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.address)
            .set("group.id", format!("{}raw", self.namespace))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        for setting in SETTINGS.split('&') {
            let (key, value) = setting.split_once('=').unwrap();
            config.set(key, value);
        }
        let consumer: BaseConsumer = config.create().unwrap();
        let started = Instant::now();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, 0, Offset::Beginning).unwrap();
        consumer.assign(&tpl).unwrap();
        let mut got = 0;
        while got < MESSAGES {
            if let Some(Ok(message)) = consumer.poll(Duration::from_secs(1)) {
                std::hint::black_box(Payload::copy_from_slice(message.payload().unwrap_or_default()));
                got += 1;
            }
        }
        started.elapsed()
    }
}

fn kafka(c: &mut Criterion) {
    let Ok(address) = std::env::var("WEIR_KAFKA") else {
        eprintln!("kafka bench skipped: WEIR_KAFKA is unset (run it through scripts/bench)");
        return;
    };
    let fixture = Fixture::load(address);
    let mut group = c.benchmark_group("kafka/consume 100k x 256 B");
    group.sample_size(10).throughput(Throughput::Elements(MESSAGES));
    group.bench_function("raw BaseConsumer", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.raw()).sum())
    });
    let streamer = fixture.streamer::<NoRuntime>();
    group.bench_function("weir next_blocking", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let started = Instant::now();
                    let mut consumer = fixture.weir_consumer(&streamer);
                    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
                    for _ in 0..MESSAGES {
                        std::hint::black_box(consumer.next_blocking().unwrap());
                    }
                    started.elapsed()
                })
                .sum()
        })
    });
    let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let streamer = fixture.streamer::<weir::Tokio>();
    group.bench_function("weir next().await on tokio", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    tokio.block_on(async {
                        let started = Instant::now();
                        let mut consumer = fixture.weir_consumer(&streamer);
                        consumer.rewind(SeqPos::Beginning).await.unwrap();
                        for _ in 0..MESSAGES {
                            std::hint::black_box(consumer.next().await.unwrap());
                        }
                        started.elapsed()
                    })
                })
                .sum()
        })
    });
    group.finish();
}

criterion_group!(benches, kafka);
criterion_main!(benches);
