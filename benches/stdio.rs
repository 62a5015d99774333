//! The stdio receive path, measured: parsing lines (against a plain
//! `read_until` line splitter over the same bytes, in the same run),
//! formatting them, the in-process path from bytes to `next()`, and
//! end-to-end `weir relay` and `weir consume --format payload` through OS
//! pipes against `cat` moving the same bytes through the same pipes. 100k
//! lines of 256 bytes each (header included).
//!
//! Last, interleaved rounds of the three pipe commands (`cat`, relay,
//! consume, every other round in reverse order; `WEIR_STDIO_ROUNDS`,
//! default 10, 0 skips them) print one `stdio rounds:` line: per command
//! the median and fastest wall time, and the ratios to `cat`'s median. On a busy machine load that comes and goes
//! falls on each command alike. `WEIR_STDIO_OLD=<path of another weir
//! binary>` adds its relay and consume to the rounds, for before/after
//! comparisons in one run.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Cursor, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir::{ConsumerError, ConsumerOptions, MessageHeader, NoRuntime, SeqNo, ShardId, StreamKey, Timestamp};
use weir_stdio::codec::{format_line, LineDecoder};
use weir_stdio::StdioStreamer;

const LINES: usize = 100_000;
const LINE_LEN: usize = 256;

/// `LINES` full-form lines of exactly `LINE_LEN` bytes, newline included.
fn input() -> Vec<u8> {
    let mut out = Vec::with_capacity(LINES * LINE_LEN);
    for i in 0..LINES {
        let start = out.len();
        write!(out, "[2026-01-02T03:04:05.{:06} | bench | {i} | 0] ", i % 1_000_000).unwrap();
        let pad = LINE_LEN - 1 - (out.len() - start);
        out.extend(std::iter::repeat_n(b'x', pad));
        out.push(b'\n');
    }
    out
}

fn codec(c: &mut Criterion) {
    let data = Bytes::from(input());
    let read_at = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    let mut group = c.benchmark_group("stdio/codec");
    group.throughput(Throughput::Bytes(data.len() as u64));
    // The baseline, over the same bytes in the same run: splitting lines with
    // std's `BufRead::read_until`, no parsing. Parse speed reads against it.
    group.bench_function("baseline: read_until line split 100k x 256B", |b| {
        let mut line = Vec::with_capacity(LINE_LEN);
        b.iter(|| {
            let mut reader = &data[..];
            let mut count = 0;
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).unwrap() {
                    0 => break,
                    _ => count += 1,
                }
            }
            assert_eq!(count, LINES);
        })
    });
    group.bench_function("parse 100k x 256B", |b| {
        let mut out = Vec::with_capacity(LINES);
        b.iter(|| {
            out.clear();
            let mut decoder = LineDecoder::new();
            decoder.decode_lines(&data, read_at, &mut out);
            assert_eq!(out.len(), LINES);
        })
    });
    let key = StreamKey::new("bench").unwrap();
    let payload = vec![b'x'; 200];
    let format_all = |out: &mut Vec<u8>| {
        out.clear();
        for i in 0..LINES as u64 {
            let header = MessageHeader::new(key.clone(), ShardId(0), SeqNo(i), read_at);
            format_line(&header, &payload, out).unwrap();
        }
    };
    // Format throughput counts the bytes formatting writes, not the parse input's.
    let mut out = Vec::with_capacity(data.len() + LINES * 16);
    format_all(&mut out);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("format 100k x 256B", |b| b.iter(|| format_all(&mut out)));
    group.finish();
}

fn receive(c: &mut Criterion) {
    let data = input();
    let mut group = c.benchmark_group("stdio/receive");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LINES as u64));
    group.bench_function("read+parse+dispatch+next 100k x 256B", |b| {
        b.iter_batched(
            || data.clone(),
            |data| {
                let stdio = StdioStreamer::with_io(Box::new(Cursor::new(data)), Box::new(std::io::sink()));
                let streamer = weir_adapters::Streamer::<_, NoRuntime>::new(stdio);
                let key = StreamKey::new("bench").unwrap();
                let mut consumer = streamer.create_consumer(&[key], ConsumerOptions::default()).unwrap();
                let mut count = 0;
                loop {
                    match consumer.next_blocking() {
                        Ok(_) => count += 1,
                        Err(ConsumerError::EndOfStream) => break,
                        Err(err) => panic!("{err}"),
                    }
                }
                assert_eq!(count, LINES);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// The weir commands timed through OS pipes (after `cat`, the baseline).
const WEIR_PIPED: [(&str, &[&str]); 2] = [
    ("weir relay", &["relay", "--input", "stdio:///bench", "--output", "stdio:///out"]),
    ("weir consume --format payload", &["consume", "stdio:///bench", "--format", "payload"]),
];

/// A command timed through OS pipes.
struct Piped {
    name: String,
    program: String,
    args: &'static [&'static str],
}

/// `cat`, then [`WEIR_PIPED`] on this build's binary, then on `old` if given.
fn piped(old: Option<&str>) -> Vec<Piped> {
    let cat = Piped { name: "baseline: cat".into(), program: "cat".into(), args: &[] };
    let builds = [Some(("", env!("CARGO_BIN_EXE_weir"))), old.map(|path| ("old ", path))];
    let weir = builds.into_iter().flatten().flat_map(|(prefix, program)| {
        WEIR_PIPED.iter().map(move |(name, args)| Piped {
            name: format!("{prefix}{name}"),
            program: program.into(),
            args,
        })
    });
    std::iter::once(cat).chain(weir).collect()
}

/// Runs `command` with `data` written to its stdin by a thread and its
/// stdout read to the end; checks it wrote `LINES` lines.
fn through_pipes(command: &Piped, data: &[u8]) {
    let Piped { name, program, args } = command;
    let mut child =
        Command::new(program).args(*args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&feed));
    let mut out = Vec::with_capacity(data.len() + LINES * 8);
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    feeder.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "{name}");
    assert_eq!(memchr::memchr_iter(b'\n', &out).count(), LINES, "{name}");
}

fn pipes(c: &mut Criterion) {
    let data = input();
    let mut group = c.benchmark_group("stdio/pipes");
    group.sample_size(10);
    group.throughput(Throughput::Elements(LINES as u64));
    for command in piped(None) {
        let name = format!("{}, 100k x 256B", command.name);
        group.bench_function(name, |b| b.iter(|| through_pipes(&command, &data)));
    }
    group.finish();
}

/// Interleaved rounds of [`piped`]; prints the `stdio rounds:` line.
fn pipe_rounds(_: &mut Criterion) {
    let rounds: usize = std::env::var("WEIR_STDIO_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    if rounds == 0 {
        return;
    }
    let data = input();
    let commands = piped(std::env::var("WEIR_STDIO_OLD").ok().as_deref());
    let mut walls: Vec<Vec<Duration>> = commands.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Every other round backwards: a command run later in a round (after
        // the others warmed the machine, or when load came or went) is not
        // always the same one.
        let mut order: Vec<usize> = (0..commands.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let start = Instant::now();
            through_pipes(&commands[which], &data);
            walls[which].push(start.elapsed());
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let cat = median(&mut walls[0].clone());
    let mut parts = Vec::new();
    for (which, command) in commands.iter().enumerate() {
        let name = &command.name;
        let wall = median(&mut walls[which]);
        let rate = LINES as f64 / wall.as_secs_f64() / 1e6;
        let mut part = format!(
            "{name} {:.1} ms median ({rate:.2} M msg/s), fastest {:.1} ms",
            wall.as_secs_f64() * 1e3,
            walls[which][0].as_secs_f64() * 1e3,
        );
        if which > 0 {
            part += &format!(", **{:.1}x** cat's median", wall.as_secs_f64() / cat.as_secs_f64());
        }
        parts.push(part);
    }
    println!("stdio rounds: {rounds} rounds of 100k x 256 B through OS pipes: {}", parts.join("; "));
}

criterion_group!(benches, codec, receive, pipes, pipe_rounds);
criterion_main!(benches);
