//! Peak resident memory while consuming 1M messages of 256 bytes: read after
//! 100k and after 1M messages, so a consumer that keeps what it delivered (or
//! buffers without bound) shows as growth between the two.
//!
//! - stdio: a `weir consume` process fed 1M lines through a pipe; its peak RSS
//!   (`VmHWM` of `/proc/PID/status`) is read while it runs.
//! - Kafka (when `WEIR_KAFKA` is set, as `scripts/bench` does): a `weir produce`
//!   process writes the topic, so none of the producer's memory is counted,
//!   while this process consumes it with `next_blocking` and reads its own
//!   peak RSS.
//!
//! Not a criterion bench: one pass is the measurement. Prints one line per
//! reading, `memory: <path>: peak RSS <MiB> MiB at <n> messages`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, Command, Stdio};
use std::thread;

use weir::{ConsumerMode, ConsumerOptions, NoRuntime, SeqPos, StreamKey};

const TOTAL: u64 = 1_000_000;
const FIRST: u64 = 100_000;
const PAYLOAD: usize = 256;

/// The peak resident set of process `pid` (`self` for this one), in KiB.
fn peak_kib(pid: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is mounted");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmHWM is a number of kB")
}

fn report(path: &str, kib: u64, at: u64) {
    println!("memory: {path}: peak RSS {:.1} MiB at {at} messages", kib as f64 / 1024.0);
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
    for n in 1..=TOTAL {
        line.clear();
        assert!(out.read_until(b'\n', &mut line).unwrap() > 0, "weir consume ended after {n} lines");
        // Read while the process is still running: it exits once stdin closes.
        if n == FIRST || n == TOTAL {
            report("stdio `weir consume`", peak_kib(&pid), n);
        }
    }
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
}

fn kafka(address: &str) {
    let namespace = format!("memory-{}-", std::process::id());
    let url = format!("kafka://{address}?namespace={namespace}&fetch.wait.max.ms=50");
    let streamer: weir::Streamer<NoRuntime> = weir::connect(&url).unwrap();
    let key = StreamKey::new("bench").unwrap();
    if let weir::AnyStreamer::Kafka(kafka) = streamer.backend() {
        weir::block_on(kafka.create_stream(&key, 1)).unwrap();
    }
    let mut consumer =
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    // Positioned at the end before anything is produced, then consuming while
    // the producer writes: the test broker answers a fetch with everything
    // from the fetch offset to the end, whatever the fetch size limits say
    // (a backlog of 1M x 256 B is one 266 MB response, which librdkafka
    // refuses), so the 1M are consumed as they arrive rather than as a backlog.
    weir::block_on(consumer.rewind(SeqPos::End)).unwrap();
    report("Kafka `next_blocking` (before consuming)", peak_kib("self"), 0);
    let mut producer = weir(&["produce", &produce_url(&url)]);
    let stdin = producer.stdin.take().unwrap();
    let feeder = thread::spawn(move || feed(stdin));
    for n in 1..=TOTAL {
        let message = consumer.next_blocking().unwrap();
        assert_eq!(message.payload.as_bytes().len(), PAYLOAD);
        if n == FIRST || n == TOTAL {
            report("Kafka `next_blocking`", peak_kib("self"), n);
        }
    }
    feeder.join().unwrap();
    assert!(producer.wait().unwrap().success(), "weir produce failed");
}

/// `kafka://HOST/bench?PARAMS` from `kafka://HOST?PARAMS`.
fn produce_url(url: &str) -> String {
    url.replacen('?', "/bench?", 1)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than ours skips the run.
    if std::env::args().skip(1).any(|arg| !arg.starts_with('-') && !"memory".contains(arg.as_str())) {
        return;
    }
    stdio();
    match std::env::var("WEIR_KAFKA") {
        Ok(address) => kafka(&address),
        Err(_) => eprintln!("memory: Kafka skipped: WEIR_KAFKA is unset (run it through scripts/bench)"),
    }
}
