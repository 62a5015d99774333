//! The file backend end to end on real files, without a runtime: replay,
//! follow, rewind, seek, commits, groups, one writer per file, appends.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use weir_adapters::{block_on, Consumer, NoRuntime, Streamer};
use weir_core::{
    ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, Message, MessageHeader, Payload,
    ProducerOptions, SeqNo, SeqPos, ShardId, StreamKey, Timestamp,
};
use weir_file::{Encoder, FileConsumer, FileHeader, FileOptions, FileStreamer, WriterOptions};

type Files = Streamer<FileStreamer, NoRuntime>;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-file-driver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    for suffix in ["", ".weir-resumable.commits", ".g.commits"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn key(name: &str) -> StreamKey {
    StreamKey::new(name).unwrap()
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis).unwrap()
}

/// `count` messages over streams a and b, shards 0 and 1, 1 ms apart; beacons every 1 KiB.
fn recorded(name: &str, count: u64, eos: bool) -> (PathBuf, Vec<Message>) {
    let path = scratch(name);
    let header = FileHeader::new(name, at(0), 1024).unwrap();
    let mut out = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut out).unwrap();
    let mut sent = Vec::new();
    for i in 0..count {
        let stream = if i % 3 == 0 { "b" } else { "a" };
        let h = MessageHeader::new(key(stream), ShardId((i % 2) as u32), SeqNo(i + 1), at(1_000 + i as i64));
        let payload: Vec<u8> = (0..(i % 300) as usize).map(|j| (i as usize + j) as u8).collect();
        encoder.encode(&h, &payload, &mut out).unwrap();
        sent.push(Message::new(h, Payload::new(payload)));
    }
    if eos {
        let h = MessageHeader::new(key("SEA_STREAMER_INTERNAL"), ShardId(0), SeqNo(0), at(9_999_999));
        encoder.encode(&h, b"EOS", &mut out).unwrap();
    }
    std::fs::write(&path, out).unwrap();
    (path, sent)
}

fn files(path: &PathBuf, follow: bool) -> Files {
    Streamer::new(FileStreamer::new(
        path,
        FileOptions { follow, writer: WriterOptions { beacon_interval: 1024, ..Default::default() } },
    ))
}

fn consumer(
    files: &Files,
    streams: &[&str],
    mode: ConsumerMode,
    group: Option<&str>,
) -> Consumer<FileConsumer, NoRuntime> {
    let mut options = ConsumerOptions::new(mode);
    if let Some(group) = group {
        options.set_group(ConsumerGroup::new(group).unwrap());
    }
    let streams: Vec<StreamKey> = streams.iter().map(|s| key(s)).collect();
    files.create_consumer(&streams, options).unwrap()
}

/// Messages until the end of the stream; panics on any other error.
fn drain(consumer: &mut Consumer<FileConsumer, NoRuntime>) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match consumer.next_blocking() {
            Ok(message) => out.push(message),
            Err(ConsumerError::EndOfStream) => return out,
            Err(err) => panic!("unexpected error {err}"),
        }
    }
}

fn take(consumer: &mut Consumer<FileConsumer, NoRuntime>, n: usize) -> Vec<Message> {
    (0..n).map(|_| consumer.next_blocking().unwrap()).collect()
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.header.seq.0).collect()
}

#[test]
fn replay_delivers_every_shard_of_the_streams_then_ends() {
    let (path, sent) = recorded("replay.ss", 500, true);
    let files = files(&path, false);
    let mut both = consumer(&files, &["a", "b"], ConsumerMode::RealTime, None);
    assert_eq!(drain(&mut both), sent, "every message of a and b, all shards, in file order");
    let mut only_b = consumer(&files, &["b"], ConsumerMode::RealTime, None);
    let expected: Vec<Message> = sent.iter().filter(|m| m.header.stream_key.name() == "b").cloned().collect();
    assert_eq!(drain(&mut only_b), expected);
}

#[test]
fn a_torn_last_frame_ends_replay_with_an_error_after_every_complete_frame() {
    let (path, sent) = recorded("torn.ss", 50, false);
    let last = frame_offsets(&path)[49];
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 5).unwrap();
    let files = files(&path, false);
    let mut c = consumer(&files, &["a", "b"], ConsumerMode::RealTime, None);
    let mut read = Vec::new();
    let err = loop {
        match c.next_blocking() {
            Ok(message) => read.push(message),
            Err(err) => break err,
        }
    };
    assert_eq!(read, sent[..49]);
    let wanted = format!("torn frame at offset {last}: the file ends {} bytes into it", len - 5 - last);
    assert!(err.to_string().contains(&wanted), "{err} does not say {wanted:?}");
}

#[test]
fn rewind_and_seek_position_each_assigned_shard() {
    let (path, sent) = recorded("seek.ss", 2000, true);
    let files = files(&path, false);
    let mut c = consumer(&files, &["a"], ConsumerMode::RealTime, None);
    c.assign(key("a"), ShardId(1)).unwrap();
    // Seek: the earliest message of a/1 not before the time, then on in file order.
    block_on(c.seek(at(1_000 + 1501))).unwrap();
    let first = take(&mut c, 3);
    let expected: Vec<&Message> = sent
        .iter()
        .filter(|m| {
            m.header.stream_key.name() == "a"
                && m.header.shard == ShardId(1)
                && m.header.timestamp >= at(2501)
        })
        .take(3)
        .collect();
    assert_eq!(first.iter().collect::<Vec<_>>(), expected);
    // Rewind to a seq.
    block_on(c.rewind(SeqPos::At(SeqNo(100)))).unwrap();
    let expected: Vec<u64> = sent
        .iter()
        .filter(|m| {
            m.header.stream_key.name() == "a" && m.header.shard == ShardId(1) && m.header.seq.0 >= 100
        })
        .map(|m| m.header.seq.0)
        .take(5)
        .collect();
    assert_eq!(seqs(&take(&mut c, 5)), expected);
    // Rewind to the beginning.
    block_on(c.rewind(SeqPos::Beginning)).unwrap();
    assert_eq!(seqs(&take(&mut c, 2)), [2, 6], "a/1 from its first message");
    // Rewind to the end: nothing more in replay.
    block_on(c.rewind(SeqPos::End)).unwrap();
    assert!(matches!(c.next_blocking(), Err(ConsumerError::EndOfStream)));
}

#[test]
fn producers_append_with_seqs_and_reopening_continues_them() {
    let path = scratch("produce.ss");
    let files = files(&path, false);
    let mut producer = files.create_producer(ProducerOptions::default()).unwrap();
    let mut receipts = Vec::new();
    for i in 0..300 {
        let stream = if i % 2 == 0 { "a" } else { "b" };
        receipts.push(producer.send_to(&key(stream), Payload::new(vec![i as u8; 100 + i])).unwrap());
    }
    block_on(producer.flush()).unwrap();
    let headers: Vec<MessageHeader> = receipts.into_iter().map(|r| block_on(r).unwrap()).collect();
    assert_eq!(headers[0].seq, SeqNo(0), "a new shard numbers from 0");
    assert_eq!(headers[298].seq, SeqNo(149), "a's 150th");
    // A second writer, from another streamer, is refused while the first lives.
    let other = Streamer::<FileStreamer, NoRuntime>::new(FileStreamer::new(&path, FileOptions::default()));
    let refused = other.create_producer(ProducerOptions::default());
    assert!(
        refused.as_ref().err().is_some_and(|e| e.to_string().contains("another writer")),
        "{:?}",
        refused.err()
    );
    drop(producer);
    // Reopened: seqs continue from the file.
    let mut again = other.create_producer(ProducerOptions::default()).unwrap();
    let receipt = again.send_to(&key("a"), Payload::from("more")).unwrap();
    block_on(again.flush()).unwrap();
    assert_eq!(block_on(receipt).unwrap().seq, SeqNo(150));
    drop(again);
    let mut c = consumer(&files, &["a", "b"], ConsumerMode::RealTime, None);
    let read = drain(&mut c);
    assert_eq!(read.len(), 301);
    assert_eq!(read[300].payload.as_bytes(), b"more");
    assert_eq!(read.iter().map(|m| m.header.clone()).take(300).collect::<Vec<_>>(), headers);
}

#[test]
fn the_size_limit_refuses_whole_frames() {
    let path = scratch("limit.ss");
    let files = Streamer::<FileStreamer, NoRuntime>::new(FileStreamer::new(
        &path,
        FileOptions {
            follow: false,
            writer: WriterOptions { beacon_interval: 1024, max_size: 4096, fsync: true },
        },
    ));
    let mut producer = files.create_producer(ProducerOptions::default()).unwrap();
    let receipts: Vec<_> =
        (0..40).map(|_| producer.send_to(&key("a"), Payload::new(vec![7u8; 200])).unwrap()).collect();
    let _ = block_on(producer.flush());
    let results: Vec<bool> = receipts.into_iter().map(|r| block_on(r).is_ok()).collect();
    let stored = results.iter().take_while(|ok| **ok).count();
    assert!(stored > 5 && results[stored..].iter().all(|ok| !ok), "{results:?}");
    drop(producer);
    assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
    let mut c = consumer(&files, &["a"], ConsumerMode::RealTime, None);
    assert_eq!(drain(&mut c).len(), stored, "every stored frame reads back whole");
}

#[test]
fn follow_sees_appends_and_a_removed_file_is_an_error() {
    let (path, _) = recorded("follow.ss", 20, false);
    let files = files(&path, true);
    let mut tail = consumer(&files, &["a"], ConsumerMode::RealTime, None);
    let mut producer = files.create_producer(ProducerOptions::default()).unwrap();
    // The follower starts at the end: only what is appended from now on.
    let receipt = producer.send_to(&key("a"), Payload::from("live")).unwrap();
    block_on(producer.flush()).unwrap();
    let stored = block_on(receipt).unwrap();
    let got = tail.next_blocking().unwrap();
    assert_eq!((got.payload.as_bytes(), &got.header), (&b"live"[..], &stored));
    drop(producer);
    std::fs::remove_file(&path).unwrap();
    let err = tail.next_blocking().unwrap_err();
    assert!(err.to_string().contains("removed while followed"), "{err}");
}

#[test]
fn resumable_consumers_resume_after_their_commit() {
    let (path, sent) = recorded("resume.ss", 100, true);
    let files = files(&path, false);
    let mut first = consumer(&files, &["a"], ConsumerMode::Resumable, None);
    let got = take(&mut first, 10);
    let _ = &got;
    block_on(first.commit_all()).unwrap();
    drop(first);
    let mut second = consumer(&files, &["a"], ConsumerMode::Resumable, None);
    let rest = drain(&mut second);
    let a: Vec<&Message> = sent.iter().filter(|m| m.header.stream_key.name() == "a").collect();
    assert_eq!(
        rest.first().map(|m| &m.header),
        Some(&a[10].header),
        "resumes right after the committed message"
    );
}

#[test]
fn load_balanced_members_split_round_robin_across_streams() {
    let (path, sent) = recorded("group.ss", 60, true);
    let files = files(&path, false);
    let mut one = consumer(&files, &["a", "b"], ConsumerMode::LoadBalanced, Some("g"));
    let mut two = consumer(&files, &["a", "b"], ConsumerMode::LoadBalanced, Some("g"));
    let (x, y) = (drain(&mut one), drain(&mut two));
    assert_eq!(x.len() + y.len(), sent.len(), "each message once");
    for stream in ["a", "b"] {
        let of = |v: &[Message]| v.iter().filter(|m| m.header.stream_key.name() == stream).count();
        let total = of(&x) + of(&y);
        assert!(of(&x).abs_diff(of(&y)) <= 1, "stream {stream} split evenly: {} of {total}", of(&x));
    }
}

/// Every error from `consumer` after the messages before it, or `None` if it ended cleanly.
fn until_error(consumer: &mut Consumer<FileConsumer, NoRuntime>) -> (Vec<Message>, Option<String>) {
    let mut read = Vec::new();
    loop {
        match consumer.next_blocking() {
            Ok(message) => read.push(message),
            Err(ConsumerError::EndOfStream) => return (read, None),
            Err(err) => return (read, Some(err.to_string())),
        }
    }
}

/// The file offsets of the message frames of `path`.
fn frame_offsets(path: &PathBuf) -> Vec<u64> {
    let whole = weir_file::decode_all(&std::fs::read(path).unwrap().into());
    whole.items.iter().filter(|d| matches!(d.item, weir_file::Item::Message(_))).map(|d| d.offset).collect()
}

#[test]
fn corrupt_files_fail_with_an_error_naming_the_offset() {
    // (case, edit of a good file of 50 frames given its frame offsets, frames read first, error wanted)
    type Edit = fn(&mut Vec<u8>, &[u64]) -> String;
    let cases: [(&str, Edit, usize); 5] = [
        (
            "bad magic",
            |bytes, _| {
                bytes[..2].copy_from_slice(b"{\"");
                "not a .ss file: it starts with [7b, 22]".into()
            },
            0,
        ),
        (
            "bad checksum",
            |bytes, offsets| {
                // The first payload byte of frame 3 (after its 1-byte key "b", three u64s and the length).
                bytes[offsets[3] as usize + 30] ^= 0xff;
                format!("frame at offset {}: checksum", offsets[3])
            },
            3,
        ),
        (
            "length past the end",
            |bytes, offsets| {
                // Frame 3's payload length (after its 1-byte key "b" and three u64s).
                let at = offsets[3] as usize + 2 + 24;
                bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
                format!("torn frame at offset {}", offsets[3])
            },
            3,
        ),
        (
            "torn last frame",
            |bytes, offsets| {
                bytes.truncate(offsets[49] as usize + 7);
                format!("torn frame at offset {}: the file ends 7 bytes into it", offsets[49])
            },
            49,
        ),
        (
            "zero-length file",
            |bytes, _| {
                bytes.clear();
                "the file is empty".into()
            },
            0,
        ),
    ];
    for (case, edit, before) in cases {
        let (path, sent) = recorded(&format!("corrupt-{}.ss", case.replace(' ', "-")), 50, false);
        let mut bytes = std::fs::read(&path).unwrap();
        let wanted = edit(&mut bytes, &frame_offsets(&path));
        std::fs::write(&path, bytes).unwrap();
        let files = files(&path, false);
        let mut c = consumer(&files, &["a", "b"], ConsumerMode::RealTime, None);
        let (read, err) = until_error(&mut c);
        assert_eq!(read, sent[..before], "{case}: every frame before the damage");
        let err = err.unwrap_or_else(|| panic!("{case}: ended without an error"));
        assert!(err.contains(&wanted), "{case}: {err:?} does not say {wanted:?}");
        assert!(err.contains(&path.display().to_string()), "{case}: {err:?} names no file");
    }
}

#[test]
fn reopening_for_append_reads_the_end_not_the_whole_file() {
    let (path, sent) = recorded("reopen.ss", 2000, false);
    // Break a frame near the start: a writer that scanned the file would trip on it.
    let offsets = frame_offsets(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offsets[3] as usize + 30] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert!(weir_file::decode_all(&std::fs::read(&path).unwrap().into()).error.is_some());
    let files = files(&path, false);
    let mut producer = files.create_producer(ProducerOptions::default()).unwrap();
    let receipt = producer.send_to(&key("a"), Payload::from("appended")).unwrap();
    block_on(producer.flush()).unwrap();
    let stored = block_on(receipt).unwrap();
    let last_a0 =
        sent.iter().rev().find(|m| m.header.stream_key.name() == "a" && m.header.shard == ShardId(0));
    assert_eq!(stored.seq.0, last_a0.unwrap().header.seq.0 + 1, "a/0's seqs go on from the file's");
    drop(producer);
    // Read back through the beacons, past the broken frame.
    let mut c = consumer(&files, &["a"], ConsumerMode::RealTime, None);
    c.assign(key("a"), ShardId(0)).unwrap();
    block_on(c.rewind(SeqPos::At(stored.seq))).unwrap();
    let got = c.next_blocking().unwrap();
    assert_eq!((got.payload.as_bytes(), &got.header), (&b"appended"[..], &stored));
}
