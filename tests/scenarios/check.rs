//! The model a scenario keeps of what should happen, and the invariants it
//! checks every delivery against. Independent of the sim's own bookkeeping:
//! what was stored comes from the producer's receipts, resume points from
//! commit answers, runs and positions from the application's own operations
//! and the assignments its consumer reported. The few facts only a broker
//! knows (a rebalance, a redelivery or a restart; a member fenced) are named
//! where used, and only ever widen what is accepted: a run may restart at the
//! exact resume point, once per disturbance (a fenced member's run, which
//! began under an older commit, at any seq).

use std::collections::{BTreeMap, BTreeSet};

use weir::core::{StreamShard, Target};
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

/// Where the application expects a shard's next run of messages to start,
/// from what it did and what it was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// It created a consumer without a group, or rewound or sought: the seq
    /// the model resolves the positioning to, and which operation it was.
    At(u64, &'static str),
    /// Its consumer reported the shard newly assigned: the group's committed
    /// seq (from commit answers), else the beginning (offset reset Earliest).
    Resume,
}

/// What the checker remembers of one consumer incarnation: only what the
/// application saw (its operations, their answers, its messages, the
/// assignments it was told of).
#[derive(Default)]
pub struct Seen {
    /// Per shard: the seq of the last delivery.
    pub last: BTreeMap<StreamShard, u64>,
    /// Per shard: where its next delivery must start a run, when it must.
    pub start: BTreeMap<StreamShard, Start>,
    /// Per shard positioned by the last seek: its point, and the shard's
    /// length when it was asked. Messages stored after the seek may carry
    /// earlier timestamps (Kafka too resolves a seek to offsets once).
    pub seek_floor: BTreeMap<StreamShard, (Timestamp, u64)>,
    /// Per shard with a run going, how many times the broker disturbed the
    /// group since (a rebalance, a redelivery, a restart): facts only the
    /// broker knows. Each lets the run restart once at the resume point,
    /// whenever the consumer gets to it (it may first hand out what it had
    /// buffered): the application cannot tell a restart from a jump.
    pub restarts: BTreeMap<StreamShard, u32>,
    /// Per shard, every seq this incarnation handed out: a commit answer is
    /// vouched for only if it resumes after one of them.
    pub delivered: BTreeMap<StreamShard, BTreeSet<u64>>,
}

impl Seen {
    /// A rewind or seek that completed: only `starts` are fed from now on.
    pub fn positioned(&mut self, starts: BTreeMap<StreamShard, Start>) {
        self.last.clear();
        self.seek_floor.clear();
        self.restarts.clear();
        self.start = starts;
    }

    /// The consumer reported `now` as its assignment, after `before`.
    pub fn reassigned(
        &mut self,
        before: Option<&BTreeSet<StreamShard>>,
        now: Option<&BTreeSet<StreamShard>>,
    ) {
        let held =
            |set: Option<&BTreeSet<StreamShard>>, shard: &StreamShard| set.is_some_and(|s| s.contains(shard));
        self.last.retain(|shard, _| held(now, shard));
        self.start.retain(|shard, _| held(now, shard));
        self.seek_floor.retain(|shard, _| held(now, shard));
        self.restarts.retain(|shard, _| held(now, shard));
        for shard in now.into_iter().flatten() {
            if !held(before, shard) {
                self.start.insert(shard.clone(), Start::Resume);
            }
        }
    }

    /// The broker disturbed the consumer's group: every shard it holds (by
    /// the `assignment` it last reported) or has a run of may restart once
    /// more at the resume point, even after a run that starts later: the
    /// consumer may hand out what it fetched before it heeds the disturbance.
    pub fn disturbed(&mut self, assignment: Option<&BTreeSet<StreamShard>>) {
        let shards: BTreeSet<&StreamShard> =
            self.last.keys().chain(assignment.into_iter().flatten()).collect();
        for shard in shards {
            *self.restarts.entry(shard.clone()).or_default() += 1;
        }
    }

    /// Whether the application was handed `seq` of `shard` (this incarnation).
    pub fn was_delivered(&self, shard: &StreamShard, seq: u64) -> bool {
        self.delivered.get(shard).is_some_and(|seqs| seqs.contains(&seq))
    }
}

/// A delivery, with what the application knows around it.
pub struct Delivery<'a> {
    pub message: &'a Message,
    /// The consumer's group, from its options.
    pub group: Option<&'a ConsumerGroup>,
    /// The assignment the consumer reported to the application.
    pub assignment: Option<&'a BTreeSet<StreamShard>>,
    /// Whether the broker declared this member dead while it still runs: a
    /// fact only the broker knows (Kafka's consumer learns it at its next
    /// commit or heartbeat). A fenced member may still hand out what it had
    /// fetched, from a run that started under an older commit.
    pub fenced: bool,
}

/// Checks one delivery; `Err` names the broken invariant.
pub fn check(model: &Model, seen: &mut Seen, d: &Delivery<'_>) -> Result<(), String> {
    let m = d.message;
    let shard: StreamShard = (m.stream_key().clone(), m.shard());
    let seq = m.seq().0;
    let at = format!("{}/{}#{seq}", shard.0, shard.1 .0);
    // Integrity: what the producer's receipt said was stored, unchanged.
    let stored = model.log.get(&shard).and_then(|log| log.get(seq as usize));
    let Some(stored) = stored else { return Err(format!("{at} was never produced")) };
    if m.payload.as_str().ok() != Some(stored.payload.as_str()) || m.timestamp() != stored.timestamp {
        return Err(format!("{at} payload or timestamp differs from what was produced"));
    }
    // One owner per shard per group: a group member hands out only shards of
    // the assignment it reported (that live members' assignments never
    // overlap is checked after every step).
    if let (Some(group), Some(assignment)) = (d.group, d.assignment) {
        if !assignment.contains(&shard) {
            return Err(format!(
                "{at} delivered in group {} outside the assignment {assignment:?}",
                group.name()
            ));
        }
    }
    // The resume point: after the committed message, else the beginning;
    // `None` when no commit answer vouches for it (or there is no group).
    let resume =
        d.group.and_then(|g| model.committed.get(&(g.clone(), shard.clone())).copied().unwrap_or(Some(0)));
    let follows = seen.last.get(&shard).map(|last| last + 1);
    match seen.start.remove(&shard) {
        Some(Start::At(expected, why)) if seq != expected => {
            return Err(format!("{at} starts a run but #{expected} was due: {why} broken"));
        }
        Some(Start::At(..)) => {}
        Some(Start::Resume) if d.fenced => {}
        Some(Start::Resume) => {
            if let Some(expected) = resume.filter(|expected| seq != *expected) {
                return Err(format!(
                    "{at} starts a run but #{expected} was due: resumption after commit broken"
                ));
            }
        }
        // Per-shard order within a run: consecutive, nothing skipped or
        // repeated; or a restart at the resume point the broker allowed.
        None => match follows {
            Some(next) if seq == next => {}
            Some(next) => {
                let allowed = seen.restarts.get(&shard).copied().unwrap_or(0);
                let restart = allowed > 0 && (d.fenced || resume.is_none_or(|expected| seq == expected));
                if !restart {
                    return Err(format!(
                        "{at} follows #{} in the same run: order broken (resume point {}, disturbances {allowed})",
                        next - 1,
                        resume.map_or("unknown".to_owned(), |n| format!("#{n}"))
                    ));
                }
                seen.restarts.insert(shard.clone(), allowed - 1);
            }
            None => return Err(format!("{at} delivered from a shard the application was never given")),
        },
    }
    // Seek correctness: nothing before the seek point after a completed seek.
    if let Some((floor, len)) = seen.seek_floor.get(&shard) {
        if seq < *len && m.timestamp() < *floor {
            return Err(format!("{at} is before the seek point {floor:?}"));
        }
    }
    seen.delivered.entry(shard.clone()).or_default().insert(seq);
    seen.last.insert(shard, seq);
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
