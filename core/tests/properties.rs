//! Property tests of the consumer state machine: random operation sequences
//! (assign, unassign, rewind, seek, commit, deliver, time, produce, rebalance,
//! slow or failing positionings and commits) driven through the model backend
//! of `harness`. The harness checks on every delivery that no message repeats or
//! is skipped within an epoch, that nothing stale or before a seek point is
//! delivered, and that the buffer stays bounded; `harness::cases` (shared with
//! the `core_ops` fuzz target) adds the commit rules and liveness at the end,
//! and this file determinism. A failure prints the minimal operation sequence
//! (proptest) and the transcript up to the failure.

mod harness;

use std::time::Duration;

use harness::cases::{run, Case, Op, Pick, Pos};
use harness::key;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use weir_core::{Capabilities, ConsumerCore, ConsumerMode, ConsumerOptions, OptionsError};

impl Pick for Index {
    fn pick<'a, T>(&self, items: &'a [T]) -> &'a T {
        self.get(items)
    }
}

fn op() -> impl Strategy<Value = Op<Index>> {
    let pos = prop_oneof![Just(Pos::Beginning), Just(Pos::End), (0..12u64).prop_map(Pos::At)];
    prop_oneof![
        2 => (0..4usize).prop_map(Op::Assign),
        1 => (0..4usize).prop_map(Op::Unassign),
        2 => pos.prop_map(Op::Rewind),
        1 => (-1000..12_000i64).prop_map(Op::Seek),
        2 => any::<Index>().prop_map(Op::Commit),
        1 => any::<Index>().prop_map(Op::CommitOld),
        1 => Just(Op::CommitAll),
        1 => any::<Index>().prop_map(Op::Store),
        4 => (1..8usize).prop_map(Op::Deliver),
        1 => (1..7000u64).prop_map(Op::AdvanceMs),
        2 => (0..4usize, 1..6usize).prop_map(|(shard, n)| Op::Produce(shard, n)),
        1 => prop_oneof![Just(0u64), 1..300u64].prop_map(Op::DelayMs),
        1 => Just(Op::FailNextPosition),
        1 => Just(Op::FailNextCommit),
        1 => (0..16u8).prop_map(Op::Rebalance),
    ]
}

fn case() -> impl Strategy<Value = Case<Index>> {
    let mode = prop_oneof![
        Just(ConsumerMode::RealTime),
        Just(ConsumerMode::Resumable),
        Just(ConsumerMode::LoadBalanced)
    ];
    let sizes = (1..8usize, 1..5usize, prop::array::uniform4(0..8usize));
    (mode, any::<bool>(), sizes, prop::collection::vec(op(), 1..40)).prop_map(
        |(mode, manual_store, (buffer, batch, fill), ops)| Case {
            mode,
            manual_store,
            buffer,
            batch,
            fill,
            ops,
        },
    )
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
