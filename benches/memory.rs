//! Peak resident memory while consuming 1M messages of 256 bytes: read after
//! 100k and after 1M messages, so a consumer that keeps what it delivered (or
//! buffers without bound) shows as growth between the two.
//!
//! - stdio: a `weir consume` process fed 1M lines through a pipe; its peak RSS
//!   (`VmHWM` of `/proc/PID/status`) is read while it runs.
//! - Kafka (when `WEIR_KAFKA` is set, as `scripts/bench` does): a process of
//!   its own (this bench, run again) consumes a one-partition topic with
//!   `next_blocking` while a `weir produce` process writes it, so neither the
//!   producer's memory nor an earlier measurement's is counted; it reads its
//!   own peak RSS, and the peak of the Rust heap (weir's buffers and messages;
//!   librdkafka's own allocations are C's, not counted there). A raw rdkafka
//!   `BaseConsumer` loop with the same settings, in a process of its own
//!   too, is the reference: what librdkafka holds under the same load.
//!
//! - Redis (when `WEIR_REDIS` is set, as `scripts/bench` does): the same
//!   with a RealTime `redis://` consumer reading the key from its start
//!   (empty when it starts) on Valkey; the server holds the backlog, the
//!   consumer reads `batch` entries (1000) at a time.
//!
//! Two Kafka brokers, because what librdkafka holds depends on the broker:
//!
//! - noida-db (`WEIR_KAFKA`), librdkafka's default settings: it answers a
//!   fetch with everything from the fetch offset to the end of the
//!   partition, whatever the fetch size limits say, so what librdkafka holds
//!   at a time is as large as the consumer's lag when it fetched: the peak
//!   RSS of both consumers follows the largest lag of the run (on a busy
//!   machine, the longest the consuming threads went without a core), which
//!   a longer run is likelier to meet, rather than the number of messages.
//! - tansu (`WEIR_KAFKA_SESSIONS`, when set) with the fetch limits of
//!   [`BOUNDED`]: it honours them, so librdkafka's prefetch has a bound, and
//!   the peak at 1M shows whether anything else grows.
//!
//! Not a criterion bench: one pass is the measurement. Prints one line per
//! reading, `memory: <path>: peak RSS <MiB> MiB[, Rust heap peak <MiB> MiB] at
//! <n> messages`, and one with the time the 1M took.
//! `WEIR_MEMORY_SETTINGS=a=b&c=d` adds librdkafka settings to the consumers.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/counting.rs"]
mod counting;

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use weir::{ConsumerMode, ConsumerOptions, NoRuntime, Payload, SeqPos, StreamKey};

const TOTAL: u64 = 1_000_000;
const FIRST: u64 = 100_000;
const PAYLOAD: usize = 256;
/// Set in the process that makes one Kafka measurement: which one.
const ROLE: &str = "WEIR_MEMORY_ROLE";
/// Set with [`ROLE`]: the broker's address, its name, and extra settings.
const ADDRESS: &str = "WEIR_MEMORY_ADDRESS";
const BROKER: &str = "WEIR_MEMORY_BROKER";
const EXTRA: &str = "WEIR_MEMORY_EXTRA";
/// librdkafka settings that bound its prefetch: at most 1 MiB queued per
/// partition, fetches of at most 1 MiB (256 KiB per partition).
const BOUNDED: &str =
    "queued.max.messages.kbytes=1024&fetch.max.bytes=1048576&max.partition.fetch.bytes=262144";

/// The peak resident set of process `pid` (`self` for this one), in KiB;
/// `None` once it exited (an exited process has no `VmHWM`).
fn peak_kib(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok())
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

fn report(path: &str, kib: u64, at: u64) {
    println!("memory: {path}: peak RSS {:.1} MiB at {at} messages", mib(kib as f64 * 1024.0));
}

/// A reading of this process: its peak RSS and the Rust heap's peak.
fn report_self(path: &str, at: u64) {
    println!(
        "memory: {path}: peak RSS {:.1} MiB, Rust heap peak {:.1} MiB at {at} messages",
        mib(peak_kib("self").expect("VmHWM in /proc/self/status") as f64 * 1024.0),
        mib(counting::heap_peak() as f64)
    );
}

/// `TOTAL` lines of `PAYLOAD` bytes (a number, then padding) into `sink`.
fn feed(sink: impl Write) {
    let mut sink = BufWriter::with_capacity(1 << 16, sink);
    for n in 0..TOTAL {
        let number = format!("{n:010}");
        let pad = PAYLOAD - number.len();
        sink.write_all(number.as_bytes()).unwrap();
        sink.write_all(&[b'x'; PAYLOAD][..pad]).unwrap();
        sink.write_all(b"\n").unwrap();
    }
    sink.flush().unwrap();
}

fn weir(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the weir binary")
}

fn stdio() {
    let mut child = weir(&["consume", "stdio:///bench", "--format", "payload"]);
    let pid = child.id().to_string();
    let stdin = child.stdin.take().unwrap();
    let feeder = thread::spawn(move || feed(stdin));
    let mut out = BufReader::with_capacity(1 << 16, child.stdout.take().unwrap());
    let mut line = Vec::with_capacity(PAYLOAD + 1);
    let mut peak = None;
    for n in 1..=TOTAL {
        line.clear();
        assert!(out.read_until(b'\n', &mut line).unwrap() > 0, "weir consume ended after {n} lines");
        // Read while the process is still running: it exits once stdin
        // closes, which can be before its last lines are read here, so the
        // reading at 1M is the last one taken (at most 1000 lines earlier).
        if n % 1000 == 0 || n == FIRST || n == TOTAL {
            peak = peak_kib(&pid).or(peak);
        }
        if n == FIRST || n == TOTAL {
            report("stdio `weir consume`", peak.expect("weir consume ran"), n);
        }
    }
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
}

/// The librdkafka settings of both Kafka consumers, `a=b&c=d`.
fn settings() -> String {
    let mut settings = String::from("fetch.wait.max.ms=50");
    for variable in [EXTRA, "WEIR_MEMORY_SETTINGS"] {
        if let Some(extra) = std::env::var(variable).ok().filter(|s| !s.is_empty()) {
            settings.push('&');
            settings.push_str(&extra);
        }
    }
    settings
}

/// What a reading is of: `Kafka (BROKER) CONSUMER`.
fn label(consumer: &str) -> String {
    format!("Kafka ({}) {consumer}", std::env::var(BROKER).unwrap_or_default())
}

/// A fresh one-partition topic `bench` in a namespace of its own.
fn topic(address: &str, role: &str) -> String {
    let namespace = format!("memory-{}-{role}-", std::process::id());
    let url = format!("kafka://{address}?namespace={namespace}&{}", settings());
    let streamer: weir::Streamer<NoRuntime> = weir::connect(&url).unwrap();
    if let weir::AnyStreamer::Kafka(kafka) = streamer.backend() {
        weir::block_on(kafka.create_stream(&StreamKey::new("bench").unwrap(), 1)).unwrap();
    }
    url
}

/// Consumes `TOTAL` messages with `next` while a `weir produce` process
/// writes them to the topic of `url`, reading memory at `FIRST` and `TOTAL`.
///
/// The consumer is positioned at the end before anything is produced, and
/// consumes while the producer writes: the test broker answers a fetch with
/// everything from the fetch offset to the end, whatever the fetch size
/// limits say (a backlog of 1M x 256 B is one 266 MB response, which
/// librdkafka refuses), so the 1M are consumed as they arrive rather than as
/// a backlog.
fn consume_while_producing(url: &str, path: &str, mut next: impl FnMut() -> Payload) {
    report_self(&format!("{path} (before consuming)"), 0);
    let mut producer = weir(&["produce", &url.replacen('?', "/bench?", 1)]);
    let stdin = producer.stdin.take().unwrap();
    let feeder = thread::spawn(move || feed(stdin));
    let started = Instant::now();
    let taken = watch(path);
    for n in 1..=TOTAL {
        assert_eq!(next().len(), PAYLOAD);
        taken.store(n, Ordering::Relaxed);
        if n == FIRST || n == TOTAL {
            report_self(path, n);
        }
    }
    println!("memory: {path}: {TOTAL} messages in {:.2} s", started.elapsed().as_secs_f64());
    feeder.join().unwrap();
    assert!(producer.wait().unwrap().success(), "weir produce failed");
}

/// How long a consumer may go without a message before the measurement
/// fails instead of waiting: librdkafka refuses a response larger than
/// `receive.message.max.bytes` (100 MB) and asks again, for ever, and the
/// test broker's answer only grows with the lag.
const STALL: Duration = Duration::from_secs(30);

/// Ends this process, saying so, once the count in the returned cell stays
/// the same for `STALL`.
fn watch(path: &str) -> &'static AtomicU64 {
    static TAKEN: AtomicU64 = AtomicU64::new(0);
    let path = path.to_owned();
    thread::spawn(move || {
        let (mut seen, mut since) = (0, Instant::now());
        loop {
            thread::sleep(Duration::from_secs(1));
            let now = TAKEN.load(Ordering::Relaxed);
            if now == TOTAL {
                return;
            }
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() >= STALL {
                println!(
                    "memory: {path}: stalled: no message for {} s after {now} messages",
                    STALL.as_secs()
                );
                std::process::exit(2);
            }
        }
    });
    &TAKEN
}

fn kafka_weir(address: &str) {
    let url = topic(address, "weir");
    let streamer: weir::Streamer<NoRuntime> = weir::connect(&url).unwrap();
    let key = StreamKey::new("bench").unwrap();
    let mut consumer =
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    weir::block_on(consumer.rewind(SeqPos::End)).unwrap();
    consume_while_producing(&url, &label("weir `next_blocking`"), || {
        consumer.next_blocking().unwrap().payload
    });
}

/// The same with a RealTime Redis consumer on the server at `address`.
fn redis_weir(address: &str) {
    let url = format!("redis://{address}?namespace=memory-{}-", std::process::id());
    let streamer: weir::Streamer<NoRuntime> = weir::connect(&url).unwrap();
    let key = StreamKey::new("bench").unwrap();
    let mut consumer =
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    // The key is empty: from its start is every entry the producer writes.
    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
    consume_while_producing(&url, "Redis (Valkey) weir `next_blocking`", || {
        consumer.next_blocking().unwrap().payload
    });
}

/// The same with a raw rdkafka loop: assigned at the partition's end, polled,
/// each payload copied (as weir does).
fn kafka_raw(address: &str) {
    let url = topic(address, "raw");
    let namespace = url.split("namespace=").nth(1).and_then(|rest| rest.split('&').next()).unwrap();
    let topic = format!("{namespace}bench");
    let streamer: weir::Streamer<NoRuntime> = weir::connect(&url).unwrap();
    let weir::AnyStreamer::Kafka(kafka) = streamer.backend() else { unreachable!("a kafka url") };
    // Exactly weir's consumer settings (the URL's included): one source for both.
    let config = kafka.consumer_config(&format!("{namespace}raw"));
    let consumer: BaseConsumer = config.create().unwrap();
    let (_, end) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Offset(end)).unwrap();
    consumer.assign(&tpl).unwrap();
    consume_while_producing(&url, &label("raw `BaseConsumer::poll`"), || loop {
        match consumer.poll(Duration::from_secs(1)) {
            Some(Ok(message)) => break Payload::copy_from_slice(message.payload().unwrap_or_default()),
            Some(Err(err)) => panic!("raw consumer: {err}"),
            None => {}
        }
    });
}

/// Runs this bench again to make one measurement in a process of its
/// own: `role` on the broker at `address` (named `broker`), with `extra` settings.
fn measure_apart(role: &str, address: &str, broker: &str, extra: &str) {
    let status = Command::new(std::env::current_exe().expect("this bench's path"))
        .env(ROLE, role)
        .env(ADDRESS, address)
        .env(BROKER, broker)
        .env(EXTRA, extra)
        .status()
        .expect("the bench runs again");
    assert!(status.success(), "the {role} measurement on {broker} failed");
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let address = std::env::var(ADDRESS).expect("the broker's address is set");
        return match role.as_str() {
            "weir" => kafka_weir(&address),
            "redis" => redis_weir(&address),
            _ => kafka_raw(&address),
        };
    }
    // `cargo bench` passes `--bench`; a filter argument other than ours skips the run.
    if std::env::args().skip(1).any(|arg| !arg.starts_with('-') && !"memory".contains(arg.as_str())) {
        return;
    }
    stdio();
    let brokers =
        [("WEIR_KAFKA", "noida-db", ""), ("WEIR_KAFKA_SESSIONS", "tansu, fetches of at most 1 MiB", BOUNDED)];
    for (variable, broker, extra) in brokers {
        match std::env::var(variable) {
            Ok(address) => {
                measure_apart("weir", &address, broker, extra);
                measure_apart("raw", &address, broker, extra);
            }
            Err(_) => eprintln!(
                "memory: Kafka on {broker} skipped: {variable} is unset (run it through scripts/bench)"
            ),
        }
    }
    match std::env::var("WEIR_REDIS") {
        Ok(address) => measure_apart("redis", &address, "Valkey", ""),
        Err(_) => eprintln!("memory: Redis skipped: WEIR_REDIS is unset (run it through scripts/bench)"),
    }
}
