//! Interop with the reference implementation, both ways, on files with three
//! streams and two shards, binary payloads, and beacons that split frames;
//! and a file written by weir's producer in two sessions (the second reopens
//! it for append from its last beacons) read by the reference.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sea_streamer_file::{end_of_stream, is_end_of_stream, FileId, MessageSink, MessageSource, StreamMode};
use sea_streamer_types::{
    Buffer, Message as _, MessageHeader as RefHeader, OwnedMessage, ShardId as RefShard, StreamKey as RefKey,
};
use weir_core::{Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey, Timestamp};
use weir_file::{decode_all, Encoder, FileHeader, Item};

/// Small, so that a few hundred messages cross many beacons.
const INTERVAL: u32 = 1024;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-interop-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Three streams, two shards each; payloads of 0..3000 bytes of every byte value.
fn messages() -> Vec<Message> {
    let keys = ["orders", "payments", "audit.log"].map(|k| StreamKey::new(k).expect("valid key"));
    (0..300u64)
        .map(|i| {
            let key = keys[(i % 3) as usize].clone();
            let payload: Vec<u8> = (0..(i * 137) % 3000).map(|j| (i * 7 + j * 13) as u8).collect();
            let at = Timestamp::from_unix_millis(1_700_000_000_000 + i as i64 * 10).expect("in range");
            Message::new(
                MessageHeader::new(key, ShardId((i % 2) as u32), SeqNo(i / 6 + 1), at),
                Payload::new(payload),
            )
        })
        .collect()
}

fn to_reference(message: &Message) -> OwnedMessage {
    let h = &message.header;
    let at = h.timestamp.datetime();
    let header = RefHeader::new(
        RefKey::new(h.stream_key.name()).expect("valid key"),
        RefShard::new(u64::from(h.shard.0)),
        h.seq.0,
        at,
    );
    OwnedMessage::new(header, message.payload.as_bytes().to_vec())
}

fn from_reference(message: &OwnedMessage) -> Message {
    let h = message.header();
    let at = Timestamp::from_datetime(*h.timestamp());
    let key = StreamKey::new(h.stream_key().name()).expect("valid key");
    let shard = ShardId(u32::try_from(h.shard_id().id()).expect("small shard"));
    Message::new(
        MessageHeader::new(key, shard, SeqNo(*h.sequence()), at),
        Payload::copy_from_slice(message.message().as_bytes()),
    )
}

fn path_id(path: &Path) -> FileId {
    FileId::new(path.to_str().expect("utf-8 temp path"))
}

#[tokio::test(flavor = "current_thread")]
async fn weir_reads_the_references_file_and_writes_the_same_bytes() {
    let path = scratch("by-reference.ss");
    let sent = messages();
    let mut sink =
        MessageSink::new(path_id(&path), INTERVAL, u64::MAX).await.expect("reference opens its sink");
    for message in &sent {
        sink.write(to_reference(message)).expect("reference writes");
    }
    sink.end(true).await.expect("reference ends with an end-of-stream frame");

    let file = Bytes::from(std::fs::read(&path).expect("file is there"));
    let whole = decode_all(&file);
    assert_eq!(whole.error, None);
    let header = whole.header.clone().expect("a header");
    assert_eq!((header.file_name.as_str(), header.beacon_interval), ("by-reference.ss", INTERVAL));
    let read: Vec<Message> = whole
        .items
        .iter()
        .filter_map(|d| match &d.item {
            Item::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(read, sent);
    assert!(matches!(whole.items.last().map(|d| &d.item), Some(Item::EndOfStream(_))), "ends with EOS");
    assert!(file.len() > 100 * INTERVAL as usize, "beacons split many frames");

    // Byte for byte: weir's encoder, given the same header and messages, writes the same file.
    let mut ours = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut ours).expect("header encodes");
    for message in &sent {
        encoder.encode(&message.header, message.payload.as_bytes(), &mut ours).expect("frame encodes");
    }
    let Some(Item::EndOfStream(eos_at)) = whole.items.last().map(|d| d.item.clone()) else { panic!("EOS") };
    let eos = MessageHeader::new(
        StreamKey::new("SEA_STREAMER_INTERNAL").expect("valid"),
        ShardId(0),
        SeqNo(0),
        eos_at,
    );
    encoder.encode(&eos, b"EOS", &mut ours).expect("eos encodes");
    assert!(
        ours == file,
        "weir's bytes differ from the reference's at offset {:?}",
        ours.iter().zip(file.iter()).position(|(a, b)| a != b)
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "current_thread")]
async fn the_reference_reads_weirs_file() {
    let path = scratch("by-weir.ss");
    let sent = messages();
    let created = Timestamp::from_unix_millis(1_700_000_000_000).expect("in range");
    let header = FileHeader::new("by-weir.ss", created, INTERVAL).expect("valid header");
    let mut out = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut out).expect("header encodes");
    for message in &sent {
        encoder.encode(&message.header, message.payload.as_bytes(), &mut out).expect("frame encodes");
    }
    let eos = to_weir_eos(&end_of_stream());
    encoder.encode(&eos, b"EOS", &mut out).expect("eos encodes");
    std::fs::write(&path, &out).expect("file written");

    let mut source =
        MessageSource::new(path_id(&path), StreamMode::Replay).await.expect("reference opens it");
    assert_eq!(source.file_header().beacon_interval, INTERVAL);
    let mut read = Vec::new();
    loop {
        let message = source.next().await.expect("reference reads every frame, checksums included").message;
        if is_end_of_stream(&message) {
            break;
        }
        read.push(from_reference(&message));
    }
    assert_eq!(read, sent);
    let _ = std::fs::remove_file(&path);
}

fn to_weir_eos(message: &OwnedMessage) -> MessageHeader {
    from_reference(message).header
}

#[tokio::test(flavor = "current_thread")]
async fn the_reference_reads_what_weirs_producer_appended_across_a_reopen() {
    use weir_adapters::{block_on, NoRuntime, Streamer};
    use weir_file::{FileOptions, FileStreamer, WriterOptions};
    let path = scratch("by-weir-producer.ss");
    let sent = messages();
    let options = FileOptions {
        follow: false,
        writer: WriterOptions { beacon_interval: INTERVAL, ..WriterOptions::default() },
    };
    let mut stored = Vec::new();
    // Two sessions: the second writer finds the end (and each shard's seq and
    // running checksum) from the beacons the first one wrote.
    for half in sent.chunks(sent.len() / 2 + 7) {
        let files = Streamer::<FileStreamer, NoRuntime>::new(FileStreamer::new(&path, options));
        let mut producer = files.create_producer(Default::default()).expect("producer");
        let receipts: Vec<_> = half
            .iter()
            .map(|m| {
                let key = &m.header.stream_key;
                producer.send_at(key, m.payload.clone(), Some(m.header.timestamp)).expect("send")
            })
            .collect();
        block_on(producer.flush()).expect("flush");
        for (receipt, m) in receipts.into_iter().zip(half) {
            stored.push(Message::new(block_on(receipt).expect("stored"), m.payload.clone()));
        }
    }
    assert!(stored.iter().any(|m| m.header.seq.0 > 0));
    let mut source =
        MessageSource::new(path_id(&path), StreamMode::Replay).await.expect("reference opens it");
    let mut read = Vec::new();
    while read.len() < stored.len() {
        let message = source.next().await.expect("reference reads every frame, checksums included").message;
        read.push(from_reference(&message));
    }
    assert_eq!(read, stored, "the reference reads each message with the seq and time weir's receipt gave");
    let _ = std::fs::remove_file(&path);
}
