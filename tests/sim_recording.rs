//! A `.ss` recording loaded into the simulator: every message on its
//! recorded stream and shard with its timestamp and payload, in file order;
//! the same deliveries run after run; a torn recording loads up to its last
//! complete frame and says where it broke.

#![allow(clippy::unwrap_used)]

use weir::file::{Encoder, FileHeader};
use weir::sim::{SimBroker, SimConfig};
use weir::{
    ConsumerMode, ConsumerOptions, Message, MessageHeader, NoRuntime, Payload, SeqNo, SeqPos, ShardId,
    StreamKey, Timestamp,
};

fn record(name: &str, count: u64) -> (std::path::PathBuf, Vec<Message>) {
    let path = std::env::temp_dir().join(format!("weir-sim-recording-{}-{name}", std::process::id()));
    let header = FileHeader::new(name, Timestamp::UNIX_EPOCH, 1024).unwrap();
    let mut out = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut out).unwrap();
    let mut sent = Vec::new();
    for i in 0..count {
        let key = StreamKey::new(if i % 3 == 0 { "payments" } else { "orders" }).unwrap();
        let at = Timestamp::from_unix_millis(1_700_000_000_000 + i as i64 * 7).unwrap();
        let header = MessageHeader::new(key, ShardId((i % 2) as u32), SeqNo(1000 + i), at);
        let payload = Payload::new(vec![i as u8; (i as usize * 37) % 900]);
        encoder.encode(&header, payload.as_bytes(), &mut out).unwrap();
        sent.push(Message::new(header, payload));
    }
    std::fs::write(&path, out).unwrap();
    (path, sent)
}

/// What a consumer of both streams, both shards, from the beginning, gets.
fn replay(path: &std::path::Path, count: usize) -> Vec<Message> {
    let broker = SimBroker::new(SimConfig { seed: 42, ..SimConfig::default() });
    assert_eq!(weir::load_recording(&broker, path).unwrap(), count);
    let sim = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::Sim(broker));
    let keys = [StreamKey::new("orders").unwrap(), StreamKey::new("payments").unwrap()];
    let mut consumer = sim.create_consumer(&keys, ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    for key in &keys {
        for shard in [ShardId(0), ShardId(1)] {
            consumer.assign(key.clone(), shard).unwrap();
        }
    }
    weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
    (0..count).map(|_| consumer.next_blocking().unwrap()).collect()
}

#[test]
fn a_recording_replays_in_the_simulator_the_same_every_time() {
    let (path, sent) = record("replay.ss", 200);
    let first = replay(&path, sent.len());
    assert_eq!(first, replay(&path, sent.len()), "same seed, same deliveries");
    for (key, shard) in [("orders", 0), ("orders", 1), ("payments", 0), ("payments", 1)] {
        let of = |v: &[Message]| -> Vec<(Timestamp, Payload)> {
            v.iter()
                .filter(|m| m.header.stream_key.name() == key && m.header.shard == ShardId(shard))
                .map(|m| (m.header.timestamp, m.payload.clone()))
                .collect()
        };
        assert_eq!(of(&first), of(&sent), "{key}/{shard}: recorded timestamps and payloads, in order");
        let seqs: Vec<u64> = first
            .iter()
            .filter(|m| m.header.stream_key.name() == key && m.header.shard == ShardId(shard))
            .map(|m| m.header.seq.0)
            .collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "renumbered per shard from 0");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_torn_recording_loads_its_complete_frames_and_names_the_tear() {
    let (path, sent) = record("torn.ss", 20);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();
    let broker = SimBroker::new(SimConfig::default());
    let err = weir::load_recording(&broker, &path).unwrap_err();
    assert!(err.to_string().contains("torn frame at offset"), "{err}");
    let stored: usize = broker.with(|b| {
        ["orders", "payments"]
            .iter()
            .map(|k| {
                let key = StreamKey::new(*k).unwrap();
                (0..b.shard_count(&key))
                    .map(|s| b.fetch(&key, ShardId(s), 0, usize::MAX).count())
                    .sum::<usize>()
            })
            .sum()
    });
    assert_eq!(stored, sent.len() - 1);
    let _ = std::fs::remove_file(&path);
}
