//! Follow latency: how long after an append a following consumer's
//! `next_blocking()` returns the message, on a `.ss` file.
//!
//! Two writers, each appending one 256-byte message every `GAP` (so the
//! follower has gone quiet between appends, as a tail of a live log does):
//!
//! - in-process: a producer of the follower's own streamer (its writer wakes
//!   followers in the same process at once);
//! - another writer: this bench appends encoded frames to the file with
//!   plain `write_all` calls, which is what a follower sees of a writer in
//!   another process (`weir relay --output file://…`): it finds them by
//!   looking at the file, at most every 50 ms when it has been quiet.
//!
//! Not a criterion bench: the measurement is a distribution. Prints one line
//! per writer, `file follow: <writer>: median <ms> ms, p90 <ms> ms, max <ms> ms
//! over <n> appends`, which `scripts/bench-table` quotes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir::file::{Encoder, FileHeader, FileOptions, FileStreamer};
use weir::{
    ConsumerMode, ConsumerOptions, MessageHeader, NoRuntime, Payload, ProducerOptions, SeqNo, ShardId,
    StreamKey, Timestamp,
};

const APPENDS: usize = 300;
const GAP: Duration = Duration::from_millis(10);
const PAYLOAD: usize = 256;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-bench-file-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn follower(path: &PathBuf, key: &StreamKey) -> weir::Consumer<NoRuntime> {
    let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::File(FileStreamer::new(
        path,
        FileOptions { follow: true, ..FileOptions::default() },
    )));
    streamer.create_consumer(std::slice::from_ref(key), ConsumerOptions::new(ConsumerMode::RealTime)).unwrap()
}

fn report(writer: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "file follow: {writer}: median {:.3} ms, p90 {:.3} ms, max {:.3} ms over {} appends",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0)),
        latencies.len()
    );
}

fn in_process() {
    let path = scratch("in-process.ss");
    let key = StreamKey::new("tail").unwrap();
    let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::File(FileStreamer::new(
        &path,
        FileOptions { follow: true, ..FileOptions::default() },
    )));
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    // The file exists (with its header) before the follower starts at its end.
    weir::block_on(producer.send_to(&key, Payload::from("start")).unwrap()).unwrap();
    let mut tail = streamer
        .create_consumer(std::slice::from_ref(&key), ConsumerOptions::new(ConsumerMode::RealTime))
        .unwrap();
    let payload = Payload::new(vec![b'x'; PAYLOAD]);
    let mut latencies = Vec::with_capacity(APPENDS);
    for i in 0..APPENDS {
        std::thread::sleep(GAP);
        let sent = Instant::now();
        let _receipt = producer.send_to(&key, payload.clone()).unwrap();
        let message = tail.next_blocking().unwrap();
        latencies.push(sent.elapsed());
        assert_eq!(message.header.seq, SeqNo(i as u64 + 1));
    }
    report("in-process producer", latencies);
    let _ = std::fs::remove_file(&path);
}

fn other_writer() {
    let path = scratch("other-writer.ss");
    let key = StreamKey::new("tail").unwrap();
    let now = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    let header = FileHeader::new("other-writer.ss", now, 1024 * 1024).unwrap();
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut bytes).unwrap();
    let mut file = OpenOptions::new().create(true).append(true).open(&path).unwrap();
    file.write_all(&bytes).unwrap();
    let mut tail = follower(&path, &key);
    let payload = vec![b'x'; PAYLOAD];
    let mut latencies = Vec::with_capacity(APPENDS);
    for i in 0..APPENDS {
        std::thread::sleep(GAP);
        bytes.clear();
        let h = MessageHeader::new(key.clone(), ShardId(0), SeqNo(i as u64), now);
        encoder.encode(&h, &payload, &mut bytes).unwrap();
        let sent = Instant::now();
        file.write_all(&bytes).unwrap();
        let message = tail.next_blocking().unwrap();
        latencies.push(sent.elapsed());
        assert_eq!(message.header.seq, SeqNo(i as u64));
    }
    report("another writer (write_all to the file)", latencies);
    let _ = std::fs::remove_file(&path);
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than this bench's name skips it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !"file_follow".contains(f.as_str())) {
        return;
    }
    in_process();
    other_writer();
}
