//! The model broker: streams → shards → timestamped messages, and one
//! group's committed offsets; plus the helpers that name things in transcripts.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_core::{
    Message, MessageHeader, Payload, SeqNo, SeqPos, ShardId, StreamKey, StreamShard, Target, Timestamp,
};

/// Message timestamps are shown relative to this: 2026-01-02T03:04:05 UTC.
pub const BASE_MS: i64 = 1_767_323_045_000;

/// The timestamp `ms` milliseconds after the base time.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(BASE_MS + ms).expect("test timestamps are in range")
}

/// A stream key the tests know to be valid.
pub fn key(name: &str) -> StreamKey {
    StreamKey::new(name).expect("test stream keys are valid")
}

pub fn name((key, shard): &StreamShard) -> String {
    format!("{key}/{shard}")
}

pub fn target_text(target: Target) -> String {
    match target {
        Target::Seq(SeqPos::Beginning) => "rewind Beginning".into(),
        Target::Seq(SeqPos::End) => "rewind End".into(),
        Target::Seq(SeqPos::At(seq)) => format!("rewind At({seq})"),
        Target::Time(at) => format!("seek t+{}ms", at.unix_millis() - BASE_MS),
    }
}

/// Streams → shards → messages, plus one group's committed offsets.
#[derive(Clone, Debug, Default)]
pub struct Broker {
    logs: BTreeMap<StreamShard, Vec<(Timestamp, Payload)>>,
    /// Committed resume-from per shard.
    pub offsets: BTreeMap<StreamShard, SeqNo>,
}

impl Broker {
    /// Empty shards `0..count` for each `(stream, count)`.
    pub fn new(streams: &[(&str, u32)]) -> Self {
        let mut broker = Self::default();
        for (stream, count) in streams {
            for shard in 0..*count {
                broker.logs.insert((key(stream), ShardId(shard)), Vec::new());
            }
        }
        broker
    }

    /// Appends `count` messages one second apart (after the shard's last one);
    /// the payload names the shard and seq, e.g. `a0-3`.
    pub fn fill(&mut self, stream: &str, shard: u32, count: usize) {
        let log = self.logs.entry((key(stream), ShardId(shard))).or_default();
        for _ in 0..count {
            let at = log.last().map_or(ts(0), |(last, _)| last.saturating_add(Duration::from_secs(1)));
            log.push((at, Payload::from(format!("{stream}{shard}-{}", log.len()))));
        }
    }

    /// Messages stored in `shard`.
    pub fn len(&self, shard: &StreamShard) -> u64 {
        self.logs.get(shard).map_or(0, |log| log.len() as u64)
    }

    /// Where `target` puts `shard`: Beginning 0, End len, At(n) clamped, Time the
    /// first message not before it.
    pub fn resolve(&self, shard: &StreamShard, target: Target) -> u64 {
        let len = self.len(shard);
        match target {
            Target::Seq(SeqPos::Beginning) => 0,
            Target::Seq(SeqPos::End) => len,
            Target::Seq(SeqPos::At(seq)) => seq.0.min(len),
            Target::Time(at) => {
                let log = self.logs.get(shard).map_or(&[][..], Vec::as_slice);
                log.iter().position(|(t, _)| *t >= at).map_or(len, |i| i as u64)
            }
        }
    }

    pub(super) fn message(&self, shard: &StreamShard, seq: u64) -> Option<Message> {
        let (at, payload) = self.logs.get(shard)?.get(usize::try_from(seq).ok()?)?;
        let header = MessageHeader::new(shard.0.clone(), shard.1, SeqNo(seq), *at);
        Some(Message::new(header, payload.clone()))
    }

    pub(super) fn shards_of(&self, streams: &[StreamKey]) -> Vec<StreamShard> {
        self.logs.keys().filter(|(k, _)| streams.contains(k)).cloned().collect()
    }
}

/// How the model backend behaves.
#[derive(Clone, Debug)]
pub struct Knobs {
    /// Messages fed per batch (one shard per batch, round-robin).
    pub batch: usize,
    /// How long a positioning takes; meanwhile the old positions keep feeding.
    pub position_delay: Duration,
    /// The next positioning fails (the backend then consumes nothing).
    pub fail_position: bool,
    /// The next commit fails (nothing is stored).
    pub fail_commit: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self { batch: 4, position_delay: Duration::ZERO, fail_position: false, fail_commit: false }
    }
}
