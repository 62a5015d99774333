//! Property tests of the join state machine: random sources (timestamps in a
//! small range, so ties are common) fed in a random interleaving with random
//! time steps, through `harness::join`, which checks on every delivery that
//! nothing unmarked is older than what came out before it. Here: with an
//! unbounded wait every message comes out exactly once and in order; with a
//! bound every message comes out exactly once (or is counted as dropped), and
//! the per-source buffer bound holds throughout.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::join::{msg, JoinWorld};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use weir_core::{JoinError, JoinOptions, LatePolicy, Message, SourceId};

/// One step of the interleaving.
#[derive(Clone, Debug)]
enum Op {
    /// Feed the next message of a source (or end it once it has none left).
    Feed(usize),
    /// Let time pass.
    Advance(u64),
}

/// Sources: each a list of timestamps (ms). Sorted when `ordered`.
fn sources(ordered: bool) -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(0i64..40, 0..25), 1..5).prop_map(move |mut sources| {
        if ordered {
            sources.iter_mut().for_each(|s| s.sort_unstable());
        }
        sources
    })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![4 => (0usize..4).prop_map(Op::Feed), 1 => (0u64..150).prop_map(Op::Advance)],
        0..120,
    )
}

/// The messages of each source: stream `sN`, shard 0, seq = position.
fn messages(sources: &[Vec<i64>]) -> Vec<Vec<Message>> {
    let stream = |i: usize| format!("s{i}");
    sources
        .iter()
        .enumerate()
        .map(|(i, times)| {
            times.iter().enumerate().map(|(seq, &t)| msg(&stream(i), 0, seq as u64, t)).collect()
        })
        .collect()
}

/// Plays `ops`, then feeds everything left and ends every source, stepping
/// time by `max_wait` whenever nothing moves. Returns the world when the join ended.
fn play(options: JoinOptions, sources: &[Vec<i64>], ops: &[Op]) -> JoinWorld {
    let inputs = messages(sources);
    let mut next = vec![0usize; inputs.len()];
    let mut world = JoinWorld::new(options.clone(), inputs.len());
    let step = |world: &mut JoinWorld, next: &mut Vec<usize>, s: usize| -> bool {
        let id = SourceId(s);
        if !world.core.is_open(id) || !world.core.has_room(id) {
            return false;
        }
        match inputs[s].get(next[s]) {
            Some(message) => {
                assert!(world.feed(s, message.clone()));
                next[s] += 1;
            }
            None => world.end(s, None),
        }
        assert!(world.core.buffered(id) <= options.buffer(), "source {s} holds more than the bound");
        true
    };
    for op in ops {
        match *op {
            Op::Feed(s) if s < inputs.len() => {
                step(&mut world, &mut next, s);
            }
            Op::Feed(_) => {}
            Op::Advance(ms) => world.advance(ms),
        }
        world.drain();
    }
    for _ in 0..10_000 {
        if world.core.poll_end().is_some() {
            return world;
        }
        let mut moved = false;
        for s in 0..inputs.len() {
            while step(&mut world, &mut next, s) {
                moved = true;
            }
        }
        moved |= !world.drain().is_empty();
        if !moved {
            world.advance(options.max_wait().map_or(1, |w| w.as_millis() as u64));
        }
    }
    panic!("the join did not end:\n{}", world.log);
}

/// (stream, seq) of every message of `sources`, sorted.
fn all(sources: &[Vec<i64>]) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, times)| (0..times.len() as u64).map(move |seq| (format!("s{i}"), seq)))
        .collect();
    all.sort();
    all
}

fn out_ids(world: &JoinWorld) -> Vec<(String, u64)> {
    let mut ids: Vec<(String, u64)> =
        world.out.iter().map(|j| (j.message.header.stream_key.to_string(), j.message.header.seq.0)).collect();
    ids.sort();
    ids
}

fn options(max_wait_ms: Option<u64>, buffer: usize, late: LatePolicy) -> JoinOptions {
    let mut options = JoinOptions::new();
    options.set_max_wait(max_wait_ms.map(Duration::from_millis)).set_buffer(buffer).set_late(late);
    options
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Unbounded wait, sources in order: every message exactly once, in join order, none late.
    #[test]
    fn unbounded_wait_is_exactly_once_in_order(sources in sources(true), ops in ops(), buffer in 1usize..6) {
        let world = play(options(None, buffer, LatePolicy::Fail), &sources, &ops);
        prop_assert_eq!(world.errors.last(), Some(&JoinError::EndOfStream), "{}", world.log);
        prop_assert!(world.out.iter().all(|j| !j.late));
        let mut expected: Vec<_> = sources.iter().enumerate()
            .flat_map(|(i, times)| times.iter().enumerate().map(move |(seq, &t)| (t, format!("s{i}"), seq as u64)))
            .collect();
        expected.sort();
        let got: Vec<_> = world.out.iter()
            .map(|j| (j.message.header.timestamp.unix_millis() - harness::BASE_MS,
                      j.message.header.stream_key.to_string(), j.message.header.seq.0))
            .collect();
        prop_assert_eq!(got, expected, "{}", world.log);
    }

    /// Bounded wait, late messages delivered: every message exactly once; the
    /// harness checks that only marked ones step back.
    #[test]
    fn bounded_wait_delivers_each_once(
        sources in sources(false), ops in ops(), wait in 0u64..200, buffer in 1usize..6,
    ) {
        let world = play(options(Some(wait), buffer, LatePolicy::Deliver), &sources, &ops);
        prop_assert_eq!(world.errors.last(), Some(&JoinError::EndOfStream), "{}", world.log);
        prop_assert_eq!(out_ids(&world), all(&sources), "{}", world.log);
        let marked = world.out.iter().filter(|j| j.late).count() as u64;
        prop_assert_eq!(marked, world.core.late());
        prop_assert_eq!(world.core.dropped(), 0);
    }

    /// Bounded wait, late messages dropped: each message out once or counted
    /// dropped, and the output never steps back.
    #[test]
    fn bounded_wait_drops_only_late_ones(
        sources in sources(false), ops in ops(), wait in 0u64..200, buffer in 1usize..6,
    ) {
        let world = play(options(Some(wait), buffer, LatePolicy::Drop), &sources, &ops);
        prop_assert_eq!(world.errors.last(), Some(&JoinError::EndOfStream), "{}", world.log);
        let out = out_ids(&world);
        let mut distinct = out.clone();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), out.len(), "a message came out twice\n{}", world.log);
        prop_assert!(world.out.iter().all(|j| !j.late));
        prop_assert_eq!(out.len() as u64 + world.core.dropped(), all(&sources).len() as u64, "{}", world.log);
        let everything: BTreeMap<_, _> = all(&sources).into_iter().map(|id| (id, ())).collect();
        prop_assert!(out.iter().all(|id| everything.contains_key(id)));
    }
}
