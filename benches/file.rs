//! The file backend, measured on 100k messages of 256-byte payloads: replay
//! (the pure decoder, and a consumer reading the file from the page cache),
//! append (producer to file, receipts and flush), and seek by timestamp in a
//! 1 GiB file. Each against a baseline in the same run: reading the file's
//! bytes with `std::fs::read`, writing the encoded bytes with one
//! `write_all`, and a decoder scan from the start to the seek target.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir::file::{decode_all, Decoder, Encoder, FileHeader, FileOptions, FileStreamer, Item};
use weir::{
    ConsumerError, ConsumerMode, ConsumerOptions, MessageHeader, NoRuntime, ProducerOptions, SeqNo, ShardId,
    StreamKey, Timestamp,
};

const MESSAGES: u64 = 100_000;
const PAYLOAD: usize = 256;
/// Messages in the seek file: 3.7M frames of 293 bytes, 1.08 GB (1.01 GiB,
/// some 1030 beacons). Written once per run to the temp dir and removed after.
const SEEK_MESSAGES: u64 = 3_700_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-bench-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis).unwrap()
}

/// A file of `count` messages of stream `bench`, shard 0, 1 ms apart.
fn encoded(count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(count as usize * (PAYLOAD + 40));
    encode_into(count, &mut out);
    out
}

/// [`encoded`], written to `sink` a chunk at a time.
fn encode_into(count: u64, sink: &mut impl std::io::Write) {
    let header = FileHeader::new("bench.ss", at(1_700_000_000_000), 1024 * 1024).unwrap();
    let mut out = Vec::with_capacity(1 << 20);
    let mut encoder = Encoder::new_file(&header, &mut out).unwrap();
    let key = StreamKey::new("bench").unwrap();
    let payload = vec![b'x'; PAYLOAD];
    for i in 0..count {
        let h = MessageHeader::new(key.clone(), ShardId(0), SeqNo(i), at(1_700_000_000_000 + i as i64));
        encoder.encode(&h, &payload, &mut out).unwrap();
        if out.len() >= 1 << 20 {
            sink.write_all(&out).unwrap();
            out.clear();
        }
    }
    sink.write_all(&out).unwrap();
}

fn replay_all(path: &Path) -> u64 {
    let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::File(FileStreamer::new(
        path,
        FileOptions::default(),
    )));
    let key = StreamKey::new("bench").unwrap();
    let mut consumer =
        streamer.create_consumer(&[key], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    let mut count = 0;
    loop {
        match consumer.next_blocking() {
            Ok(_) => count += 1,
            Err(ConsumerError::EndOfStream) => return count,
            Err(err) => panic!("{err}"),
        }
    }
}

fn replay(c: &mut Criterion) {
    let bytes = encoded(MESSAGES);
    let path = scratch("replay.ss");
    std::fs::write(&path, &bytes).unwrap();
    let bytes = Bytes::from(bytes);
    let mut group = c.benchmark_group("file/replay");
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("baseline: std::fs::read of the file, 100k x 256B", |b| {
        b.iter(|| assert_eq!(std::fs::read(&path).unwrap().len(), bytes.len()))
    });
    group.bench_function("decode 100k x 256B (codec, in memory)", |b| {
        b.iter(|| assert_eq!(decode_all(&bytes).items.len() as u64, MESSAGES))
    });
    group.bench_function("consumer replay 100k x 256B (page cache, no runtime)", |b| {
        b.iter(|| assert_eq!(replay_all(&path), MESSAGES))
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

fn append(c: &mut Criterion) {
    let bytes = encoded(MESSAGES);
    let key = StreamKey::new("bench").unwrap();
    let payload = weir::Payload::new(vec![b'x'; PAYLOAD]);
    let mut group = c.benchmark_group("file/append");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    let path = scratch("append.ss");
    group.bench_function("baseline: one write_all of the encoded bytes, 100k x 256B", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, &bytes).unwrap();
        })
    });
    group.bench_function("producer 100k x 256B, receipts, flush (no fsync)", |b| {
        b.iter(|| {
            let _ = std::fs::remove_file(&path);
            let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::File(FileStreamer::new(
                &path,
                FileOptions::default(),
            )));
            let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
            let receipts: Vec<_> =
                (0..MESSAGES).map(|_| producer.send_to(&key, payload.clone()).unwrap()).collect();
            weir::block_on(producer.flush()).unwrap();
            let last = weir::block_on(receipts.into_iter().last().unwrap()).unwrap();
            assert_eq!(last.seq, SeqNo(MESSAGES - 1));
        })
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

fn seek(c: &mut Criterion) {
    // Written by the first seek bench that runs: a run filtered to other
    // benches writes no 1 GiB file.
    let made = std::cell::OnceCell::new();
    let seek_file = || -> PathBuf {
        made.get_or_init(|| {
            let path = scratch("seek.ss");
            encode_into(SEEK_MESSAGES, &mut std::fs::File::create(&path).unwrap());
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size > 1 << 30, "the seek file is {size} bytes, not 1 GiB");
            path
        })
        .clone()
    };
    let key = StreamKey::new("bench").unwrap();
    let target = at(1_700_000_000_000 + (SEEK_MESSAGES * 3 / 4) as i64);
    let mut group = c.benchmark_group("file/seek");
    group.sample_size(10);
    group.bench_function("baseline: decoder scan from the start to the target, 1 GiB", |b| {
        let path = seek_file();
        b.iter(|| {
            let bytes = Bytes::from(std::fs::read(&path).unwrap());
            let header = FileHeader::decode(&bytes).unwrap().unwrap();
            let mut decoder = Decoder::new(&header);
            let mut offset = 128u64;
            let found = loop {
                let d = decoder.decode(&bytes.slice(offset as usize..), offset).unwrap().unwrap();
                offset = d.end;
                if let Item::Message(m) = d.item {
                    if m.header.timestamp >= target {
                        break m.header.seq;
                    }
                }
            };
            assert_eq!(found, SeqNo(SEEK_MESSAGES * 3 / 4));
        })
    });
    group.bench_function("open, seek(timestamp), first message, 1 GiB", |b| {
        let path = seek_file();
        b.iter(|| {
            let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::File(FileStreamer::new(
                &path,
                FileOptions::default(),
            )));
            let mut consumer = streamer
                .create_consumer(std::slice::from_ref(&key), ConsumerOptions::new(ConsumerMode::RealTime))
                .unwrap();
            weir::block_on(consumer.seek(target)).unwrap();
            assert_eq!(consumer.next_blocking().unwrap().header.seq, SeqNo(SEEK_MESSAGES * 3 / 4));
        })
    });
    group.finish();
    if let Some(path) = made.get() {
        let _ = std::fs::remove_file(path);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = replay, append, seek
}
criterion_main!(benches);
