//! The core's per-message cost: `handle_message` + `poll_message` on
//! pre-built batches, and how many allocations that makes per message.

#![allow(clippy::unwrap_used)]

#[path = "support/counting.rs"]
mod counting;

#[path = "support/core_round.rs"]
mod core_round;

use std::time::Instant;

use core_round::{allocations_per_round, batch, core, round, BATCH};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir::{ConsumerMode, StreamKey};

fn per_message(c: &mut Criterion) {
    let key = StreamKey::new("bench").unwrap();
    let now = Instant::now();
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(BATCH as u64));
    for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
        let mut state = core(mode, &key, now);
        // Allocations of a warm round, per message (the batch itself is built
        // beforehand); tests/allocations.rs asserts there are none.
        let allocations = allocations_per_round(&mut state, &key, counting::allocations);
        println!("core/{mode:?}: {:.3} allocations per message", allocations as f64 / BATCH as f64);
        group.bench_function(format!("handle+poll per message ({mode:?})"), |b| {
            b.iter_batched(|| batch(&key), |messages| round(&mut state, messages), BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
