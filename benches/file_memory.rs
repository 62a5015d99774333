//! Memory of the file backend from 100k to 1M messages of 256 bytes: peak
//! resident memory and the Rust heap's peak, read after 100k and after 1M,
//! so a reader or writer that keeps what it handled (or buffers without
//! bound) shows as growth between the two readings.
//!
//! - append: a producer writes 1M messages to a new file, waiting for each
//!   10 000th receipt (the writer's queue is what could grow);
//! - replay: a consumer reads the 1M-message file back with `next_blocking`.
//!
//! Each runs in a process of its own (this bench, run again with
//! `WEIR_FILE_MEMORY_ROLE`), so neither counts the other's memory. Not a
//! criterion bench: one pass is the measurement. Prints `memory: file
//! <path>: peak RSS <MiB> MiB, Rust heap peak <MiB> MiB at <n> messages`
//! lines (as `benches/memory.rs` does), which `scripts/bench-table` quotes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/counting.rs"]
mod counting;

use std::path::PathBuf;
use std::process::Command;

use weir::file::{FileOptions, FileStreamer};
use weir::{ConsumerError, ConsumerMode, ConsumerOptions, NoRuntime, Payload, ProducerOptions, StreamKey};

const TOTAL: u64 = 1_000_000;
const FIRST: u64 = 100_000;
const PAYLOAD: usize = 256;
/// Set in the child process that makes one measurement: `append` or `replay`.
const ROLE: &str = "WEIR_FILE_MEMORY_ROLE";
/// Set with [`ROLE`]: the file.
const PATH: &str = "WEIR_FILE_MEMORY_PATH";

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    let kib: f64 = line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmHWM in KiB");
    kib / 1024.0
}

fn report(path: &str, at: u64) {
    println!(
        "memory: file {path}: peak RSS {:.1} MiB, Rust heap peak {:.1} MiB at {at} messages",
        peak_rss_mib(),
        counting::heap_peak() as f64 / (1024.0 * 1024.0)
    );
}

fn streamer(path: &str) -> weir::Streamer<NoRuntime> {
    weir::Streamer::new(weir::AnyStreamer::File(FileStreamer::new(path, FileOptions::default())))
}

fn append(path: &str) {
    let key = StreamKey::new("bench").unwrap();
    let mut producer = streamer(path).create_producer(ProducerOptions::default()).unwrap();
    let payload = Payload::new(vec![b'x'; PAYLOAD]);
    for n in 1..=TOTAL {
        let receipt = producer.send_to(&key, payload.clone()).unwrap();
        if n % 10_000 == 0 {
            weir::block_on(receipt).unwrap();
        }
        if n == FIRST || n == TOTAL {
            weir::block_on(producer.flush()).unwrap();
            report("append (producer)", n);
        }
    }
}

fn replay(path: &str) {
    let key = StreamKey::new("bench").unwrap();
    let mut consumer =
        streamer(path).create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    for n in 1..=TOTAL {
        consumer.next_blocking().unwrap_or_else(|err| panic!("message {n}: {err}"));
        if n == FIRST || n == TOTAL {
            report("replay (consumer, next_blocking)", n);
        }
    }
    assert!(matches!(consumer.next_blocking(), Err(ConsumerError::EndOfStream)));
}

fn measure(role: &str, path: &PathBuf) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(PATH, path)
        .output()
        .expect("run this bench as a child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "the {role} child failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn main() {
    if let (Ok(role), Ok(path)) = (std::env::var(ROLE), std::env::var(PATH)) {
        match role.as_str() {
            "append" => append(&path),
            "replay" => replay(&path),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    // `cargo bench` passes `--bench`; a filter argument other than this bench's name skips it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"file_memory".contains(f.as_str())) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("weir-bench-file-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("memory.ss");
    let _ = std::fs::remove_file(&path);
    measure("append", &path);
    measure("replay", &path);
    let _ = std::fs::remove_dir_all(&dir);
}
