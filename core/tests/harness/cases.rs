//! Operation sequences and the rules they are checked against, shared by the
//! property tests (`properties.rs`, which generates them with proptest) and
//! the `core_ops` fuzz target (`fuzz/checks`, which decodes them from bytes).
//! `run` drives a `Case` through the model backend of this harness; the
//! harness checks every delivery, this file adds the commit rules, the
//! positioned shards and liveness at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use weir_core::{
    Capabilities, ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, Message, MessageHeader, SeqNo,
    SeqPos, ShardId, StreamShard,
};

use super::{key, ts, Broker, Knobs, World};

/// The four shards of the model broker: streams `a` and `b`, two shards each.
pub const SHARDS: [(&str, u32); 4] = [("a", 0), ("a", 1), ("b", 0), ("b", 1)];

/// Chooses one of the messages delivered so far (proptest's `Index`, or a plain number).
pub trait Pick {
    /// One item of `items`, which is not empty.
    fn pick<'a, T>(&self, items: &'a [T]) -> &'a T;
}

impl Pick for usize {
    fn pick<'a, T>(&self, items: &'a [T]) -> &'a T {
        &items[*self % items.len()]
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Pos {
    Beginning,
    End,
    At(u64),
}

/// One step of the application or of the world; `I` picks a delivered message.
#[derive(Clone, Debug)]
pub enum Op<I> {
    /// An index into [`SHARDS`].
    Assign(usize),
    Unassign(usize),
    Rewind(Pos),
    /// Milliseconds after the base time; fills are one message per second.
    Seek(i64),
    /// A message delivered in the current epoch.
    Commit(I),
    /// Any message delivered so far.
    CommitOld(I),
    CommitAll,
    /// Any message delivered so far, marked as processed (`store_offset`).
    Store(I),
    Deliver(usize),
    AdvanceMs(u64),
    Produce(usize, usize),
    /// Positionings take this long from now on; the old positions keep feeding meanwhile.
    DelayMs(u64),
    FailNextPosition,
    FailNextCommit,
    /// LoadBalanced only: the group gives this consumer the shards of the bit mask.
    Rebalance(u8),
}

/// A consumer's mode and sizes, the messages already stored in each of
/// [`SHARDS`], and what happens next.
#[derive(Clone, Debug)]
pub struct Case<I> {
    pub mode: ConsumerMode,
    /// Commits cover stored messages only (`set_auto_store(false)`); ignored
    /// in RealTime, which never commits.
    pub manual_store: bool,
    pub buffer: usize,
    pub batch: usize,
    pub fill: [usize; 4],
    pub ops: Vec<Op<I>>,
}

/// The test's own account: what this consumer has delivered and still owns, per
/// shard (the last seq and the highest), and which shards `assign` requested.
#[derive(Default)]
struct Model {
    last: BTreeMap<StreamShard, u64>,
    max: BTreeMap<StreamShard, u64>,
    /// With manual storing: the last message stored per shard.
    stored: BTreeMap<StreamShard, u64>,
    requested: BTreeSet<usize>,
}

/// Runs `case` to the end, checking every invariant; returns the transcript.
pub fn run<I: Pick>(case: &Case<I>) -> String {
    let mut broker = Broker::new(&[("a", 2), ("b", 2)]);
    for (i, count) in case.fill.iter().enumerate() {
        broker.fill(SHARDS[i].0, SHARDS[i].1, *count);
    }
    let mut options = ConsumerOptions::new(case.mode);
    options.set_buffer(case.buffer);
    let manual = case.manual_store && case.mode.commits();
    options.set_auto_store(!manual);
    if case.mode == ConsumerMode::LoadBalanced {
        options.set_group(ConsumerGroup::new("workers").expect("valid group"));
    }
    let knobs = Knobs { batch: case.batch, ..Knobs::default() };
    let mut w = World::new(Capabilities::full("model"), options, &["a", "b"], broker, knobs);
    let mut seen = Model::default();
    for op in &case.ops {
        apply(&mut w, case.mode, manual, &mut seen, op);
    }
    // Liveness: once every answer is in, the application gets everything the
    // backend was told to consume; nothing stays stuck behind a pause.
    w.knobs.fail_position = false;
    w.advance(Duration::from_millis(500));
    record(&mut seen, &w.deliver_all());
    assert!(
        w.unfed().is_empty(),
        "stuck: {:?} never fed (paused: {})\n{}",
        w.unfed(),
        w.backend_paused(),
        w.log
    );
    w.log.clone()
}

fn record(seen: &mut Model, messages: &[Message]) {
    for m in messages {
        let at = (m.header.stream_key.clone(), m.header.shard);
        seen.last.insert(at.clone(), m.header.seq.0);
        let max = seen.max.entry(at).or_insert(0);
        *max = (*max).max(m.header.seq.0);
    }
}

fn apply<I: Pick>(w: &mut World, mode: ConsumerMode, manual: bool, seen: &mut Model, op: &Op<I>) {
    match op {
        Op::Assign(i) => {
            let result = w.assign(SHARDS[*i].0, SHARDS[*i].1);
            if mode == ConsumerMode::LoadBalanced {
                assert_eq!(result, Err(ConsumerError::GroupManagesAssignment), "{}", w.log);
            } else {
                assert_eq!(result, Ok(()), "{}", w.log);
                seen.requested.insert(*i);
            }
        }
        Op::Unassign(i) => {
            let result = w.unassign(SHARDS[*i].0, SHARDS[*i].1);
            if mode == ConsumerMode::LoadBalanced {
                assert_eq!(result, Err(ConsumerError::GroupManagesAssignment), "{}", w.log);
            } else if seen.requested.remove(i) {
                assert_eq!(result, Ok(()), "{}", w.log);
            } else {
                assert!(matches!(result, Err(ConsumerError::NotAssigned { .. })), "{result:?}\n{}", w.log);
            }
        }
        Op::Rewind(pos) => {
            let to = match pos {
                Pos::Beginning => SeqPos::Beginning,
                Pos::End => SeqPos::End,
                Pos::At(seq) => SeqPos::At(SeqNo(*seq)),
            };
            w.rewind(to).expect("the model backend rewinds");
            check_positioned_shards(w, mode, seen);
        }
        Op::Seek(ms) => {
            w.seek(ts(*ms)).expect("the model backend seeks");
            check_positioned_shards(w, mode, seen);
        }
        Op::Commit(index) => {
            let epoch = w.core.epoch().0;
            let current: Vec<MessageHeader> =
                w.history.iter().filter(|(e, _)| *e == epoch).map(|(_, h)| h.clone()).collect();
            if !current.is_empty() {
                commit(w, mode, seen, index.pick(&current));
            }
        }
        Op::CommitOld(index) => {
            let all: Vec<MessageHeader> = w.history.iter().map(|(_, h)| h.clone()).collect();
            if !all.is_empty() {
                commit(w, mode, seen, index.pick(&all));
            }
        }
        Op::CommitAll => {
            let failing = w.knobs.fail_commit;
            let result = w.commit_all();
            if mode == ConsumerMode::RealTime {
                assert!(matches!(result, Err(ConsumerError::CommitRefused { .. })), "{result:?}\n{}", w.log);
            } else if !failing {
                result.expect("commit_all in a committing mode");
                // Auto-store: everything delivered; manual: everything stored.
                let covered = if manual { &seen.stored } else { &seen.last };
                for (at, last) in covered {
                    let stored = w.broker.offsets.get(at);
                    assert_eq!(stored, Some(&SeqNo(last + 1)), "commit_all of {at:?}\n{}", w.log);
                }
            }
        }
        Op::Store(index) => {
            let all: Vec<MessageHeader> = w.history.iter().map(|(_, h)| h.clone()).collect();
            if !all.is_empty() {
                store(w, mode, manual, seen, index.pick(&all));
            }
        }
        Op::Deliver(n) => record(seen, &w.deliver(*n)),
        Op::AdvanceMs(ms) => w.advance(Duration::from_millis(*ms)),
        Op::Produce(i, n) => w.produce(SHARDS[*i].0, SHARDS[*i].1, *n),
        Op::DelayMs(ms) => w.delay_positions(Duration::from_millis(*ms)),
        Op::FailNextPosition => w.fail_next_position(),
        Op::FailNextCommit => w.fail_next_commit(),
        Op::Rebalance(mask) if mode == ConsumerMode::LoadBalanced => {
            let shards: Vec<(&str, u32)> =
                (0..4).filter(|i| mask & (1 << i) != 0).map(|i| SHARDS[i]).collect();
            w.rebalance(&shards);
            // Revoked shards are the new owner's to commit.
            let kept: Vec<StreamShard> = shards.iter().map(|(s, n)| (key(s), ShardId(*n))).collect();
            seen.last.retain(|at, _| kept.contains(at));
            seen.max.retain(|at, _| kept.contains(at));
            seen.stored.retain(|at, _| kept.contains(at));
        }
        Op::Rebalance(_) => {}
    }
}

/// A rewind or seek moves the shards `assign` requested, or shard 0 of every
/// stream when none was (LoadBalanced: the group's, checked by the harness).
fn check_positioned_shards(w: &World, mode: ConsumerMode, seen: &Model) {
    if mode == ConsumerMode::LoadBalanced {
        return;
    }
    let expected: BTreeSet<StreamShard> = if seen.requested.is_empty() {
        [(key("a"), ShardId(0)), (key("b"), ShardId(0))].into()
    } else {
        seen.requested.iter().map(|i| (key(SHARDS[*i].0), ShardId(SHARDS[*i].1))).collect()
    };
    assert_eq!(w.core.assignment(), Some(&expected), "shards after a positioning\n{}", w.log);
}

/// Stores `header`: refused in RealTime and with auto-store on; otherwise
/// accepted exactly when this consumer delivered it (and still owns its
/// shard). It sends nothing: only a later commit does.
fn store(w: &mut World, mode: ConsumerMode, manual: bool, seen: &mut Model, header: &MessageHeader) {
    let before = w.broker.offsets.clone();
    let at = (header.stream_key.clone(), header.shard);
    let result = w.store_offset(header);
    assert_eq!(w.broker.offsets, before, "a store commits nothing by itself\n{}", w.log);
    if mode == ConsumerMode::RealTime {
        assert!(matches!(result, Err(ConsumerError::CommitRefused { .. })), "{result:?}\n{}", w.log);
    } else if seen.max.get(&at).is_none_or(|max| *max < header.seq.0) {
        assert!(matches!(result, Err(ConsumerError::NotDelivered { .. })), "{result:?}\n{}", w.log);
    } else if !manual {
        assert_eq!(result, Err(ConsumerError::AutoStore), "{}", w.log);
    } else {
        assert_eq!(result, Ok(()), "{}", w.log);
        seen.stored.insert(at, header.seq.0);
    }
}

/// Commits `header`: refused in RealTime; otherwise accepted exactly when this
/// consumer delivered it (and still owns its shard), storing seq + 1.
fn commit(w: &mut World, mode: ConsumerMode, seen: &Model, header: &MessageHeader) {
    let failing = w.knobs.fail_commit;
    let before = w.broker.offsets.clone();
    let at = (header.stream_key.clone(), header.shard);
    let result = w.commit(header);
    if mode == ConsumerMode::RealTime {
        assert!(matches!(result, Err(ConsumerError::CommitRefused { .. })), "{result:?}\n{}", w.log);
        return;
    }
    if seen.max.get(&at).is_none_or(|max| *max < header.seq.0) {
        assert!(matches!(result, Err(ConsumerError::NotDelivered { .. })), "{result:?}\n{}", w.log);
        return;
    }
    result.unwrap_or_else(|err| panic!("commit of a delivered message: {err}\n{}", w.log));
    if failing {
        assert_eq!(w.broker.offsets, before, "a failed commit stores nothing\n{}", w.log);
    } else {
        let next = SeqNo(header.seq.0 + 1);
        assert_eq!(w.broker.offsets.get(&at), Some(&next), "stored offset\n{}", w.log);
        let acked = w.core.committed().find(|(s, _)| **s == at).map(|(_, seq)| seq);
        assert_eq!(acked, Some(next), "the core's committed offset\n{}", w.log);
    }
}
