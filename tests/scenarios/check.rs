//! The model a scenario keeps of what should happen, and the invariants it
//! checks every delivery against. Independent of the sim's own bookkeeping:
//! expected positions come from what the workload produced and committed.

use std::collections::{BTreeMap, BTreeSet};

use weir::core::{StreamShard, Target};
use weir::sim::{MemberId, Segment, SegmentStart};
use weir::{ConsumerGroup, Message, SeqPos, Timestamp};

/// One produced message, as its receipt reported it.
pub struct Produced {
    pub timestamp: Timestamp,
    pub payload: String,
}

/// What the workload knows for sure.
#[derive(Default)]
pub struct Model {
    /// Every stored message per shard, by seq.
    pub log: BTreeMap<StreamShard, Vec<Produced>>,
    /// Resume-from per group shard, from commits the broker acknowledged.
    /// `None`: a commit's outcome is unknown, so the next start is not checked.
    pub committed: BTreeMap<(ConsumerGroup, StreamShard), Option<u64>>,
    /// What each at-least-once group handed to its application.
    pub delivered: BTreeMap<ConsumerGroup, BTreeSet<(StreamShard, u64)>>,
}

impl Model {
    /// How many messages each shard holds now.
    pub fn lens(&self) -> BTreeMap<StreamShard, u64> {
        self.log.iter().map(|(shard, log)| (shard.clone(), log.len() as u64)).collect()
    }

    /// Where a positioning issued now puts `shard`, by the model.
    pub fn resolve(&self, shard: &StreamShard, target: Target) -> u64 {
        let log = self.log.get(shard).map_or(&[][..], Vec::as_slice);
        let len = log.len() as u64;
        match target {
            Target::Seq(SeqPos::Beginning) => 0,
            Target::Seq(SeqPos::End) => len,
            Target::Seq(SeqPos::At(seq)) => seq.0.min(len),
            Target::Time(at) => log.iter().position(|m| m.timestamp >= at).map_or(len, |i| i as u64),
        }
    }
}

/// What the checker remembers of one consumer incarnation.
#[derive(Default)]
pub struct Seen {
    /// Per shard: the segment and seq of the last delivery.
    pub last: BTreeMap<StreamShard, (u64, u64)>,
    /// Where the model says each shard's Created/Positioned segment starts.
    pub expect_start: BTreeMap<StreamShard, u64>,
    /// The last seek's point, with each shard's length when it was asked:
    /// messages stored after the seek may carry earlier timestamps (Kafka too
    /// resolves a seek to offsets once).
    pub seek_floor: Option<(Timestamp, BTreeMap<StreamShard, u64>)>,
}

/// A delivery, with what the sim consumer reported about it.
pub struct Delivery<'a> {
    pub message: &'a Message,
    pub segment: Option<Segment>,
    pub group: Option<&'a ConsumerGroup>,
    pub member: Option<MemberId>,
    pub owner: Option<MemberId>,
    pub fenced: bool,
}

/// Checks one delivery; `Err` names the broken invariant.
pub fn check(model: &Model, seen: &mut Seen, d: &Delivery<'_>) -> Result<(), String> {
    let m = d.message;
    let shard: StreamShard = (m.stream_key().clone(), m.shard());
    let seq = m.seq().0;
    let at = format!("{}/{}#{seq}", shard.0, shard.1 .0);
    // Integrity: what was stored, unchanged.
    let stored = model.log.get(&shard).and_then(|log| log.get(seq as usize));
    let Some(stored) = stored else { return Err(format!("{at} was never produced")) };
    if m.payload.as_str().ok() != Some(stored.payload.as_str()) || m.timestamp() != stored.timestamp {
        return Err(format!("{at} payload or timestamp differs from what was produced"));
    }
    // One owner per shard per group: only the broker's owner hands out a
    // group shard (a fenced member may still hand out what it had fetched).
    if let (Some(member), Some(group)) = (d.member, d.group) {
        if d.owner != Some(member) && !d.fenced {
            return Err(format!(
                "{at} delivered by m{} of {} while the owner is {:?}",
                member.0,
                group.name(),
                d.owner
            ));
        }
    }
    let Some(segment) = d.segment else {
        return Err(format!("{at} delivered from a shard the sim does not feed"));
    };
    match seen.last.get(&shard) {
        // Per-shard order within a segment: consecutive, nothing skipped or repeated.
        Some((id, last)) if *id == segment.id => {
            if seq != last + 1 {
                return Err(format!("{at} follows #{last} in the same segment: order broken"));
            }
        }
        _ => {
            let expected = match segment.start {
                SegmentStart::Created | SegmentStart::Positioned(_) => seen.expect_start.get(&shard).copied(),
                // Resumption after commit: after the committed message, else the beginning (earliest).
                // A fenced member hands out what it fetched before it was
                // declared dead: its run started under an older commit.
                SegmentStart::Assigned if d.fenced => None,
                SegmentStart::Assigned => match d.group {
                    Some(group) => {
                        model.committed.get(&(group.clone(), shard.clone())).copied().unwrap_or(Some(0))
                    }
                    None => None,
                },
            };
            if let Some(expected) = expected {
                if seq != expected {
                    let why = match segment.start {
                        SegmentStart::Assigned => "resumption after commit",
                        SegmentStart::Positioned(Target::Time(_)) => "seek",
                        SegmentStart::Positioned(_) => "rewind",
                        SegmentStart::Created => "start at the end",
                    };
                    return Err(format!(
                        "{at} starts a segment ({:?}) but #{expected} was due: {why} broken",
                        segment.start
                    ));
                }
            }
        }
    }
    // Seek correctness: nothing before the seek point after a completed seek.
    if let (SegmentStart::Positioned(Target::Time(floor)), Some((_, lens))) =
        (segment.start, &seen.seek_floor)
    {
        if seq < lens.get(&shard).copied().unwrap_or(0) && m.timestamp() < floor {
            return Err(format!("{at} is before the seek point {floor:?}"));
        }
    }
    seen.last.insert(shard, (segment.id, seq));
    Ok(())
}

/// No loss under at-least-once: every message of a group's streams reached
/// some member of the group.
pub fn check_no_loss(
    model: &Model,
    group: &ConsumerGroup,
    streams: &[weir::StreamKey],
) -> Result<(), String> {
    let delivered = model.delivered.get(group);
    for (shard, log) in &model.log {
        if !streams.contains(&shard.0) {
            continue;
        }
        let missing: Vec<usize> = (0..log.len())
            .filter(|seq| !delivered.is_some_and(|d| d.contains(&(shard.clone(), *seq as u64))))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "group {} never got {}/{} seqs {missing:?}: loss under at-least-once",
                group.name(),
                shard.0,
                shard.1 .0
            ));
        }
    }
    Ok(())
}
