//! `ConsumerCore` driven by operation sequences decoded from the fuzzer's bytes.
//!
//! The operations, the model backend and every invariant are those of the core's
//! property tests: the harness of `core/tests` is compiled in here as is, so a
//! rule added there is fuzzed too. Each case runs twice and the transcripts must
//! match (determinism).

#[path = "../../../core/tests/harness/mod.rs"]
mod harness;

use harness::cases::{run, Case, Op, Pos};
use weir_core::ConsumerMode;

use crate::input::Input;

/// More operations rarely reach new states, and make each run slower.
const MAX_OPS: usize = 64;

/// Runs the case the bytes describe; panics when an invariant is broken.
///
/// Layout: mode, buffer (1..8), batch (1..5), the messages stored in each of
/// the four shards (0..8), then operations: one byte picks the kind, the next
/// bytes its arguments (see `op` in this file).
pub fn core_ops(data: &[u8]) {
    let case = decode(data);
    let first = run(&case);
    let second = run(&case);
    assert!(first == second, "the same operations gave two transcripts:\n{first}\n----\n{second}");
}

fn decode(data: &[u8]) -> Case<usize> {
    let mut input = Input::new(data);
    let modes = [ConsumerMode::RealTime, ConsumerMode::Resumable, ConsumerMode::LoadBalanced];
    // 3 and 4: the committing modes with manual offset storing.
    let choice = input.below(5);
    let (mode, manual_store) = (modes[choice % 3], choice >= 3);
    let buffer = 1 + input.below(7);
    let batch = 1 + input.below(4);
    let fill = [(); 4].map(|()| input.below(8));
    let mut ops = Vec::new();
    while !input.is_empty() && ops.len() < MAX_OPS {
        ops.push(op(&mut input));
    }
    Case { mode, manual_store, buffer, batch, fill, ops }
}

/// One operation, in the value ranges `core/tests/properties.rs` generates.
fn op(input: &mut Input<'_>) -> Op<usize> {
    match input.below(15) {
        0 => Op::Assign(input.below(4)),
        1 => Op::Unassign(input.below(4)),
        2 => Op::Rewind(match input.below(14) {
            0 => Pos::Beginning,
            1 => Pos::End,
            n => Pos::At(n as u64 - 2),
        }),
        3 => Op::Seek(i64::from(input.u16() % 13_000) - 1000),
        4 => Op::Commit(usize::from(input.byte())),
        5 => Op::CommitOld(usize::from(input.byte())),
        6 => Op::CommitAll,
        7 => Op::Deliver(1 + input.below(7)),
        8 => Op::AdvanceMs(1 + u64::from(input.u16() % 6999)),
        9 => Op::Produce(input.below(4), 1 + input.below(5)),
        10 => Op::DelayMs(u64::from(input.u16() % 300)),
        11 => Op::FailNextPosition,
        12 => Op::FailNextCommit,
        13 => Op::Store(usize::from(input.byte())),
        _ => Op::Rebalance(input.below(16) as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decode_to_the_ranges_of_the_property_tests() {
        let case = decode(&[2, 255, 255, 7, 8, 9, 10, 3, 0xff, 0xff, 2, 1, 8, 0, 0]);
        assert_eq!(case.mode, ConsumerMode::LoadBalanced);
        assert_eq!((case.buffer, case.batch, case.fill), (4, 4, [7, 0, 1, 2]));
        let ops: Vec<String> = case.ops.iter().map(|op| format!("{op:?}")).collect();
        assert_eq!(ops, ["Seek(-465)", "Rewind(End)", "AdvanceMs(1)"]);
        assert!(decode(&[]).ops.is_empty());
    }
}
