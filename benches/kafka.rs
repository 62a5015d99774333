//! Kafka end to end on a real broker (`WEIR_KAFKA`, set by
//! `scripts/kafka-broker run -- …`): consuming 100k × 256 B messages from the
//! start of a one-partition topic through weir (`next_blocking`, and
//! `next().await` on tokio), and through a raw rdkafka `BaseConsumer` loop on
//! the same topic, with the same settings, in the same run. Two measurements
//! of each:
//!
//! - `kafka/consume`: from creating the consumer to its 100,000th message:
//!   creating it, positioning it at the start, fetching (the test broker
//!   answers with the whole topic in one 25.6 MB response), delivering.
//! - `kafka/deliver`: from the first message to the 100,000th: the receive
//!   path alone, once the messages are in the process.
//!
//! The raw loop is what one would write with rdkafka, configured exactly as
//! weir configures its consumers (`KafkaStreamer::consumer_config`, one
//! source for both, so they cannot drift apart): it resolves the start
//! offset (the partition's low watermark, as weir's rewind does) before
//! assigning it. Assigning the logical offset `Beginning` to a consumer that
//! has no metadata yet would make librdkafka retry the offset lookup on a
//! 500 ms timer, which an earlier version of this bench measured instead of
//! the consumer (3.7× in weir's favour). Both copy each payload out of
//! librdkafka's buffer (a weir message outlives the poll that fetched it; the
//! raw loop copies too, so it does no less work than an application keeping
//! its messages would).
//!
//! A dropped weir consumer closes on its poll thread (leaving its group,
//! stopping librdkafka's threads), after `next` returned its last message;
//! the raw loop's drop closes it on the calling thread. Each pass is
//! followed by a wait, outside its timing, until the process has no Kafka
//! thread left, so one consumer's close never overlaps the next pass; the
//! rounds report how long that wait was.
//!
//! `WEIR_KAFKA_ROUNDS=N` replaces criterion's runs with `N` interleaved rounds
//! (see `interleaved`), for comparisons on a busy machine; with it,
//! `WEIR_KAFKA_ONLY=0|1|2` runs only the raw loop, `next_blocking` or tokio
//! (the others report zeros), for a profiler to see one consumer alone.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use weir::{ConsumerMode, ConsumerOptions, NoRuntime, Payload, ProducerOptions, SeqPos, StreamKey};

const MESSAGES: u64 = 100_000;
/// The URL settings of both weir and the raw loop.
const SETTINGS: &str = "fetch.wait.max.ms=50";

/// How long a dropped consumer may take to close before the bench fails.
const CLOSE_WITHIN: Duration = Duration::from_secs(60);

/// One pass: from creating the consumer to its last message, and from its
/// first message to its last.
struct Pass {
    total: Duration,
    delivery: Duration,
}

/// Which of a pass's durations a benchmark reports.
#[derive(Clone, Copy)]
enum Span {
    Consume,
    Deliver,
}

impl Span {
    fn of(self, pass: &Pass) -> Duration {
        match self {
            Self::Consume => pass.total,
            Self::Deliver => pass.delivery,
        }
    }
}

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
        // Made here: a topic the broker makes on first use gets its default
        // partition count (one on noida-db, more on tansu).
        if let weir::AnyStreamer::Kafka(kafka) = streamer.backend() {
            weir::block_on(kafka.create_stream(&key, 1)).unwrap();
        }
        let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
        let payload = Payload::from(vec![b'x'; 256]);
        for _ in 0..MESSAGES {
            drop(producer.send_to(&key, payload.clone()).unwrap());
        }
        producer.flush_blocking().unwrap();
        fixture
    }

    /// The Kafka streamer of the fixture's URL, whose consumer settings the raw loop takes.
    fn kafka(&self) -> weir_kafka::KafkaStreamer {
        match self.streamer::<NoRuntime>().backend() {
            weir::AnyStreamer::Kafka(kafka) => kafka.clone(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("kafka urls make kafka streamers"),
        }
    }

    fn streamer<R: weir::Runtime>(&self) -> weir::Streamer<R> {
        weir::connect(&format!("kafka://{}?namespace={}&{SETTINGS}", self.address, self.namespace)).unwrap()
    }

    fn weir_consumer<R: weir::Runtime>(&self, streamer: &weir::Streamer<R>) -> weir::Consumer<R> {
        let key = StreamKey::new("bench").unwrap();
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap()
    }

    /// weir without a runtime: create, rewind to the start, `next_blocking`.
    fn weir_blocking(&self, streamer: &weir::Streamer<NoRuntime>) -> Pass {
        let started = Instant::now();
        let mut consumer = self.weir_consumer(streamer);
        weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
        std::hint::black_box(consumer.next_blocking().unwrap());
        let first = Instant::now();
        for _ in 1..MESSAGES {
            std::hint::black_box(consumer.next_blocking().unwrap());
        }
        Pass { total: started.elapsed(), delivery: first.elapsed() }
    }

    /// weir on tokio: create, rewind to the start, `next().await`.
    async fn weir_tokio(&self, streamer: &weir::Streamer<weir::Tokio>) -> Pass {
        let started = Instant::now();
        let mut consumer = self.weir_consumer(streamer);
        consumer.rewind(SeqPos::Beginning).await.unwrap();
        std::hint::black_box(consumer.next().await.unwrap());
        let first = Instant::now();
        for _ in 1..MESSAGES {
            std::hint::black_box(consumer.next().await.unwrap());
        }
        Pass { total: started.elapsed(), delivery: first.elapsed() }
    }

    /// The raw loop: create (with weir's settings), assign the partition
    /// from its low watermark, poll, copy each payload.
    fn raw(&self, kafka: &weir_kafka::KafkaStreamer) -> Pass {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let started = Instant::now();
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let config = kafka.consumer_config(&format!("{}raw-{n}", self.namespace));
        let consumer: BaseConsumer = config.create().unwrap();
        let (low, _) = consumer.fetch_watermarks(&self.topic, 0, Duration::from_secs(10)).unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, 0, Offset::Offset(low)).unwrap();
        consumer.assign(&tpl).unwrap();
        let mut first = None;
        let mut got = 0;
        while got < MESSAGES {
            match consumer.poll(Duration::from_secs(1)) {
                Some(Ok(message)) => {
                    std::hint::black_box(Payload::copy_from_slice(message.payload().unwrap_or_default()));
                    first.get_or_insert_with(Instant::now);
                    got += 1;
                }
                Some(Err(err)) => panic!("raw consumer: {err}"),
                None => {}
            }
        }
        let delivery = first.map_or(Duration::ZERO, |first| first.elapsed());
        Pass { total: started.elapsed(), delivery }
    }
}

fn kafka(c: &mut Criterion) {
    let Ok(address) = std::env::var("WEIR_KAFKA") else {
        eprintln!("kafka bench skipped: WEIR_KAFKA is unset (run it through scripts/bench)");
        return;
    };
    let fixture = Fixture::load(address);
    let kafka = fixture.kafka();
    let blocking = fixture.streamer::<NoRuntime>();
    let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let on_tokio = fixture.streamer::<weir::Tokio>();
    if let Some(rounds) = std::env::var("WEIR_KAFKA_ROUNDS").ok().and_then(|n| n.parse().ok()) {
        return interleaved(rounds, |consumer| match consumer {
            0 => fixture.raw(&kafka),
            1 => fixture.weir_blocking(&blocking),
            _ => tokio.block_on(fixture.weir_tokio(&on_tokio)),
        });
    }
    for (span, name) in [(Span::Consume, "consume"), (Span::Deliver, "deliver")] {
        let mut group = c.benchmark_group(format!("kafka/{name} 100k x 256 B"));
        group.sample_size(10).throughput(Throughput::Elements(MESSAGES));
        group.bench_function("raw BaseConsumer", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| span.of(&closed(fixture.raw(&kafka)).0)).sum())
        });
        group.bench_function("weir next_blocking", |b| {
            b.iter_custom(|iters| {
                (0..iters).map(|_| span.of(&closed(fixture.weir_blocking(&blocking)).0)).sum()
            })
        });
        group.bench_function("weir next().await on tokio", |b| {
            b.iter_custom(|iters| {
                (0..iters).map(|_| span.of(&closed(tokio.block_on(fixture.weir_tokio(&on_tokio))).0)).sum()
            })
        });
        group.finish();
    }
}

/// `WEIR_KAFKA_ROUNDS=N`: instead of criterion's runs (each consumer's
/// samples one after the other), `N` rounds of one pass of each consumer in
/// turn, then per consumer the median and the fastest pass, and the CPU time
/// the process used during its passes (all threads; 10 ms ticks, so a
/// per-pass figure needs many rounds), and the part of it on the consuming
/// thread (the one calling `poll` or `next`), and the median wait for the
/// consumer to close after its pass (see `closed`; counted in the process's
/// CPU time, not in the pass nor the consuming thread's). On a machine shared with other work, load that comes
/// and goes then falls on every consumer alike.
fn interleaved(rounds: usize, mut pass: impl FnMut(usize) -> Pass) {
    let names = ["raw BaseConsumer", "weir next_blocking", "weir next().await on tokio"];
    let mut passes: [Vec<Pass>; 3] = Default::default();
    let mut cpu = [Duration::ZERO; 3];
    let mut own = [Duration::ZERO; 3];
    let mut closing: [Vec<Duration>; 3] = Default::default();
    let only: Option<usize> = std::env::var("WEIR_KAFKA_ONLY").ok().and_then(|n| n.parse().ok());
    for _ in 0..rounds {
        for (consumer, passes) in passes.iter_mut().enumerate() {
            if only.is_some_and(|only| only != consumer) {
                passes.push(Pass { total: Duration::ZERO, delivery: Duration::ZERO });
                continue;
            }
            let (before, own_before) = (cpu_time(), thread_cpu_time());
            let done = pass(consumer);
            // The consuming thread's share ends with the pass: the wait for
            // the close below is the bench's, the close itself the poll thread's.
            own[consumer] += thread_cpu_time().saturating_sub(own_before);
            let (done, waited) = closed(done);
            passes.push(done);
            closing[consumer].push(waited);
            cpu[consumer] += cpu_time().saturating_sub(before);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut medians = [(0.0, 0.0); 3];
    for (((((name, mut p), cpu), own), mut closing), median) in
        names.into_iter().zip(passes).zip(cpu).zip(own).zip(closing).zip(&mut medians)
    {
        closing.sort();
        let closing = closing.get(closing.len() / 2).copied().unwrap_or_default();
        p.sort_by_key(|p| p.total);
        let (total, fastest) = (p[p.len() / 2].total, p[0].total);
        p.sort_by_key(|p| p.delivery);
        let (delivery, fastest_delivery) = (p[p.len() / 2].delivery, p[0].delivery);
        *median = (ms(total), ms(delivery));
        println!(
            "kafka rounds: {name}: consume median {:.1} ms (fastest {:.1}), deliver median {:.1} ms (fastest \
             {:.1}), CPU {:.1} ms per pass ({:.1} on the consuming thread), closed {:.1} ms after the pass",
            ms(total),
            ms(fastest),
            ms(delivery),
            ms(fastest_delivery),
            ms(cpu) / rounds as f64,
            ms(own) / rounds as f64,
            ms(closing)
        );
    }
    if only.is_none() {
        // Throughput relative to the raw loop's (its time over weir's).
        let [(raw, raw_delivery), (blocking, blocking_delivery), (tokio, tokio_delivery)] = medians;
        println!(
            "kafka rounds: weir/raw throughput: consume {:.2}x next_blocking, {:.2}x tokio; deliver {:.2}x, \
             {:.2}x",
            raw / blocking,
            raw / tokio,
            raw_delivery / blocking_delivery,
            raw_delivery / tokio_delivery
        );
    }
}

/// `pass`, once the consumer it dropped has closed, and how long after the
/// pass that was: until the process has no Kafka thread left (weir's poll
/// thread, librdkafka's `rdk:` threads; none outlives a closed consumer).
fn closed(pass: Pass) -> (Pass, Duration) {
    let started = Instant::now();
    loop {
        let left = kafka_threads();
        if left.is_empty() {
            return (pass, started.elapsed());
        }
        assert!(started.elapsed() < CLOSE_WITHIN, "not closed {CLOSE_WITHIN:?} after the pass: {left:?}");
        // Polling with a deadline; the interval bounds the wait's overshoot
        // (outside every timing) and keeps its own CPU use small.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The names of this process's Kafka threads.
fn kafka_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("rdk:") || name.starts_with("weir-kafka"))
        .collect()
}

/// The CPU time the calling thread has used, from `/proc/thread-self/schedstat`
/// (nanoseconds): the consuming thread's share of a pass, which the others
/// (librdkafka's, weir's poll thread) do not blur.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0))
}

/// The CPU time this process has used (all threads), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // utime and stime, in clock ticks (100 a second on Linux), follow the
    // command name in parentheses.
    let after_name = stat.rsplit(')').next().unwrap();
    let ticks: u64 = after_name.split_whitespace().skip(11).take(2).map(|f| f.parse::<u64>().unwrap()).sum();
    Duration::from_millis(ticks * 10)
}

criterion_group!(benches, kafka);
criterion_main!(benches);
