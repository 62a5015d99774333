//! Redis Streams end to end on a real server (`WEIR_REDIS`, set by
//! `scripts/redis-server run -- …`), 100k × 256 B, weir against a raw client
//! loop doing the same calls, in the same run:
//!
//! - `redis/consume`: from creating the consumer to its 100,000th message.
//!   weir: a RealTime consumer rewound to the start, `next_blocking`. Raw:
//!   the `redis` crate's connection issuing the same `XREAD COUNT 1000` calls
//!   (weir's default `batch`), each after the last id read, taking each
//!   payload out of the reply as weir does.
//! - `redis/produce`: 100,000 sends and a flush. weir: `send_to` and
//!   `flush_blocking` (its writer thread pipelines up to 1000 XADDs per round
//!   trip). Raw: pipelines of 1000 `XADD key * msg payload`, each awaited.
//!
//! Criterion measures each variant after the other; `WEIR_REDIS_ROUNDS=N`
//! instead runs `N` rounds, each running all four once in turn
//! (interleaved, so load that comes and goes on a shared machine hits both
//! sides alike), and prints the median of each and weir's ratio to raw.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis::Value;
use weir::{ConsumerMode, ConsumerOptions, NoRuntime, Payload, ProducerOptions, SeqPos, StreamKey};

const MESSAGES: usize = 100_000;
const BATCH: usize = 1000;

struct Fixture {
    address: String,
    namespace: String,
    conn: redis::Connection,
}

fn fresh_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("k{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Fixture {
    fn new() -> Self {
        let address = std::env::var("WEIR_REDIS")
            .expect("WEIR_REDIS is unset: run through scripts/redis-server run -- cargo bench --all-features --bench redis");
        let namespace = format!("bench-{}-", std::process::id());
        let conn = redis::Client::open(format!("redis://{address}")).unwrap().get_connection().unwrap();
        let mut fixture = Self { address, namespace, conn };
        let key = fixture.key("consume");
        fixture.raw_produce(&key);
        fixture
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }

    fn streamer(&self) -> weir::Streamer<NoRuntime> {
        weir::connect(&format!("redis://{}?namespace={}&batch={BATCH}", self.address, self.namespace))
            .unwrap()
    }

    fn payload() -> Vec<u8> {
        vec![b'x'; 256]
    }

    /// The raw loop: XREAD COUNT 1000 after the last id, until every entry is read.
    fn raw_consume(&mut self) -> Duration {
        let started = Instant::now();
        let key = self.key("consume");
        let mut conn =
            redis::Client::open(format!("redis://{}", self.address)).unwrap().get_connection().unwrap();
        let mut last = "0-0".to_owned();
        let mut read = 0;
        while read < MESSAGES {
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("STREAMS")
                .arg(&key)
                .arg(&last)
                .query(&mut conn)
                .unwrap();
            let Value::Array(mut streams) = reply else { panic!("no entries after {last}") };
            let Some(Value::Array(mut pair)) = streams.pop() else { panic!("no stream") };
            let Some(Value::Array(entries)) = pair.pop() else { panic!("no entries") };
            for entry in entries {
                let Value::Array(mut parts) = entry else { panic!("an entry") };
                let Some(Value::Array(mut fields)) = parts.pop() else { panic!("fields") };
                let Some(Value::BulkString(id)) = parts.pop() else { panic!("id") };
                let Some(Value::BulkString(payload)) = fields.pop() else { panic!("payload") };
                std::hint::black_box(Payload::from(payload));
                last = String::from_utf8(id).unwrap();
                read += 1;
            }
        }
        started.elapsed()
    }

    fn weir_consume(&self, streamer: &weir::Streamer<NoRuntime>) -> Duration {
        let started = Instant::now();
        let key = StreamKey::new("consume").unwrap();
        let mut consumer =
            streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
        weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
        for _ in 0..MESSAGES {
            std::hint::black_box(consumer.next_blocking().unwrap());
        }
        started.elapsed()
    }

    /// Pipelines of 1000 XADDs, each awaited.
    fn raw_produce(&mut self, key: &str) -> Duration {
        let started = Instant::now();
        let payload = Self::payload();
        for _ in 0..MESSAGES / BATCH {
            let mut pipe = redis::pipe();
            for _ in 0..BATCH {
                pipe.cmd("XADD").arg(key).arg("*").arg("msg").arg(&payload);
            }
            let ids: Vec<Value> = pipe.query(&mut self.conn).unwrap();
            assert_eq!(ids.len(), BATCH);
        }
        started.elapsed()
    }

    fn weir_produce(&self, streamer: &weir::Streamer<NoRuntime>, key: &str) -> Duration {
        let started = Instant::now();
        let key = StreamKey::new(key).unwrap();
        let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
        let payload = Payload::from(Self::payload());
        for _ in 0..MESSAGES {
            drop(producer.send_to(&key, payload.clone()).unwrap());
        }
        producer.flush_blocking().unwrap();
        started.elapsed()
    }

    /// One produce pass into a fresh key, deleted afterwards.
    fn produce(&mut self, streamer: &weir::Streamer<NoRuntime>, weir: bool) -> Duration {
        let name = fresh_key();
        let key = self.key(&name);
        let took = if weir { self.weir_produce(streamer, &name) } else { self.raw_produce(&key) };
        let _: Value = redis::cmd("DEL").arg(&key).query(&mut self.conn).unwrap();
        took
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn interleaved(fixture: &mut Fixture, streamer: &weir::Streamer<NoRuntime>, rounds: usize) {
    let mut times: [Vec<Duration>; 4] = Default::default();
    for _ in 0..rounds {
        times[0].push(fixture.raw_consume());
        times[1].push(fixture.weir_consume(streamer));
        times[2].push(fixture.produce(streamer, false));
        times[3].push(fixture.produce(streamer, true));
    }
    let [raw_c, weir_c, raw_p, weir_p] = times.map(median);
    let rate = |d: Duration| MESSAGES as f64 / d.as_secs_f64();
    println!(
        "redis rounds: {rounds}; consume 100k x 256 B: raw {:.0} msg/s, weir {:.0} msg/s, weir/raw {:.2}",
        rate(raw_c),
        rate(weir_c),
        rate(weir_c) / rate(raw_c)
    );
    println!(
        "redis rounds: {rounds}; produce 100k x 256 B: raw {:.0} msg/s, weir {:.0} msg/s, weir/raw {:.2}",
        rate(raw_p),
        rate(weir_p),
        rate(weir_p) / rate(raw_p)
    );
}

fn redis_bench(c: &mut Criterion) {
    let mut fixture = Fixture::new();
    let streamer = fixture.streamer();
    if let Some(rounds) = std::env::var("WEIR_REDIS_ROUNDS").ok().and_then(|r| r.parse().ok()) {
        return interleaved(&mut fixture, &streamer, rounds);
    }
    let mut group = c.benchmark_group("redis/consume 100k x 256 B");
    group.sample_size(10).throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("raw XREAD loop", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.raw_consume()).sum())
    });
    group.bench_function("weir next_blocking", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.weir_consume(&streamer)).sum())
    });
    group.finish();
    let mut group = c.benchmark_group("redis/produce 100k x 256 B");
    group.sample_size(10).throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("raw XADD pipelines", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.produce(&streamer, false)).sum())
    });
    group.bench_function("weir send_to + flush", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fixture.produce(&streamer, true)).sum())
    });
    group.finish();
}

criterion_group!(benches, redis_bench);
criterion_main!(benches);
