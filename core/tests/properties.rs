//! Property tests of the consumer state machine: random operation sequences
//! (assign, unassign, rewind, seek, commit, deliver, time, produce, rebalance,
//! slow or failing positionings and commits) driven through the model backend
//! of `harness`. The harness checks on every delivery that no message repeats or
//! is skipped within an epoch, that nothing stale or before a seek point is
//! delivered, and that the buffer stays bounded; this file adds the commit
//! rules, liveness at the end, and determinism. A failure prints the minimal
//! operation sequence (proptest) and the transcript up to the failure.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use harness::{key, ts, Broker, Knobs, World};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use weir_core::{
    Capabilities, ConsumerCore, ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, MessageHeader,
    OptionsError, SeqNo, SeqPos, ShardId, StreamShard,
};

/// The four shards of the model broker: streams `a` and `b`, two shards each.
const SHARDS: [(&str, u32); 4] = [("a", 0), ("a", 1), ("b", 0), ("b", 1)];

#[derive(Clone, Copy, Debug)]
enum Pos {
    Beginning,
    End,
    At(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Assign(usize),
    Unassign(usize),
    Rewind(Pos),
    /// Milliseconds after the base time; fills are one message per second.
    Seek(i64),
    /// A message delivered in the current epoch.
    Commit(Index),
    /// Any message delivered so far.
    CommitOld(Index),
    CommitAll,
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

#[derive(Clone, Debug)]
struct Case {
    mode: ConsumerMode,
    buffer: usize,
    batch: usize,
    fill: [usize; 4],
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let pos = prop_oneof![Just(Pos::Beginning), Just(Pos::End), (0..12u64).prop_map(Pos::At)];
    prop_oneof![
        2 => (0..4usize).prop_map(Op::Assign),
        1 => (0..4usize).prop_map(Op::Unassign),
        2 => pos.prop_map(Op::Rewind),
        1 => (-1000..12_000i64).prop_map(Op::Seek),
        2 => any::<Index>().prop_map(Op::Commit),
        1 => any::<Index>().prop_map(Op::CommitOld),
        1 => Just(Op::CommitAll),
        4 => (1..8usize).prop_map(Op::Deliver),
        1 => (1..7000u64).prop_map(Op::AdvanceMs),
        2 => (0..4usize, 1..6usize).prop_map(|(shard, n)| Op::Produce(shard, n)),
        1 => prop_oneof![Just(0u64), 1..300u64].prop_map(Op::DelayMs),
        1 => Just(Op::FailNextPosition),
        1 => Just(Op::FailNextCommit),
        1 => (0..16u8).prop_map(Op::Rebalance),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let mode = prop_oneof![
        Just(ConsumerMode::RealTime),
        Just(ConsumerMode::Resumable),
        Just(ConsumerMode::LoadBalanced)
    ];
    (mode, 1..8usize, 1..5usize, prop::array::uniform4(0..8usize), prop::collection::vec(op(), 1..40))
        .prop_map(|(mode, buffer, batch, fill, ops)| Case { mode, buffer, batch, fill, ops })
}

/// The test's own account: what this consumer has delivered and still owns, per
/// shard (the last seq and the highest), and which shards `assign` requested.
#[derive(Default)]
struct Model {
    last: BTreeMap<StreamShard, u64>,
    max: BTreeMap<StreamShard, u64>,
    requested: BTreeSet<usize>,
}

/// Runs `case` to the end, checking every invariant; returns the transcript.
fn run(case: &Case) -> String {
    let mut broker = Broker::new(&[("a", 2), ("b", 2)]);
    for (i, count) in case.fill.iter().enumerate() {
        broker.fill(SHARDS[i].0, SHARDS[i].1, *count);
    }
    let mut options = ConsumerOptions::new(case.mode);
    options.set_buffer(case.buffer);
    if case.mode == ConsumerMode::LoadBalanced {
        options.set_group(ConsumerGroup::new("workers").expect("valid group"));
    }
    let knobs = Knobs { batch: case.batch, ..Knobs::default() };
    let mut w = World::new(Capabilities::full("model"), options, &["a", "b"], broker, knobs);
    let mut seen = Model::default();
    for op in &case.ops {
        apply(&mut w, case.mode, &mut seen, op);
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

fn record(seen: &mut Model, messages: &[weir_core::Message]) {
    for m in messages {
        let at = (m.header.stream_key.clone(), m.header.shard);
        seen.last.insert(at.clone(), m.header.seq.0);
        let max = seen.max.entry(at).or_insert(0);
        *max = (*max).max(m.header.seq.0);
    }
}

fn apply(w: &mut World, mode: ConsumerMode, seen: &mut Model, op: &Op) {
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
                commit(w, mode, seen, index.get(&current));
            }
        }
        Op::CommitOld(index) => {
            let all: Vec<MessageHeader> = w.history.iter().map(|(_, h)| h.clone()).collect();
            if !all.is_empty() {
                commit(w, mode, seen, index.get(&all));
            }
        }
        Op::CommitAll => {
            let failing = w.knobs.fail_commit;
            let result = w.commit_all();
            if mode == ConsumerMode::RealTime {
                assert!(matches!(result, Err(ConsumerError::CommitRefused { .. })), "{result:?}\n{}", w.log);
            } else if !failing {
                result.expect("commit_all in a committing mode");
                for (at, last) in &seen.last {
                    let stored = w.broker.offsets.get(at);
                    assert_eq!(stored, Some(&SeqNo(last + 1)), "commit_all of {at:?}\n{}", w.log);
                }
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

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_and_runs_are_deterministic(case in case()) {
        let first = run(&case);
        let second = run(&case);
        prop_assert_eq!(first, second, "the same operations gave two transcripts");
    }
}

/// A zero auto-commit interval would keep `poll_timeout` always due, so a
/// driver would spin (the harness reports it as livelock): it is refused.
#[test]
fn zero_auto_commit_interval_is_refused() {
    let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
    options.set_auto_commit(Some(Duration::ZERO));
    let refused = ConsumerCore::new(Capabilities::full("model"), options, vec![key("a")], harness::start());
    assert_eq!(refused.err(), Some(OptionsError::ZeroAutoCommit));
}
