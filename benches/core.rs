//! The core's per-message cost: `handle_message` + `poll_message` on
//! pre-built batches, and how many allocations that makes per message.

#![allow(clippy::unwrap_used)]

#[path = "support/counting.rs"]
mod counting;

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir::core::{Capabilities, ConsumerCore};
use weir::{
    ConsumerGroup, ConsumerMode, ConsumerOptions, Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey,
    Timestamp,
};

const BATCH: usize = 1000;

fn batch(key: &StreamKey) -> Vec<Message> {
    let payload = Payload::from(vec![b'x'; 256]);
    (0..BATCH as u64)
        .map(|i| {
            let header =
                MessageHeader::new(key.clone(), ShardId((i % 4) as u32), SeqNo(i), Timestamp::UNIX_EPOCH);
            Message::new(header, payload.clone())
        })
        .collect()
}

fn core(mode: ConsumerMode, key: &StreamKey, now: Instant) -> ConsumerCore {
    let mut options = ConsumerOptions::new(mode);
    if mode != ConsumerMode::RealTime {
        options.set_group(ConsumerGroup::new("bench").unwrap());
    }
    options.set_buffer(BATCH * 2);
    ConsumerCore::new(Capabilities::full("bench"), options, vec![key.clone()], now).unwrap()
}

/// Feeds one batch and hands every message out, as a driver would.
fn round(core: &mut ConsumerCore, now: Instant, messages: Vec<Message>) {
    for message in messages {
        core.handle_message(now, message);
    }
    while let Some(message) = core.poll_message() {
        black_box(message);
    }
}

fn per_message(c: &mut Criterion) {
    let key = StreamKey::new("bench").unwrap();
    let now = Instant::now();
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(BATCH as u64));
    for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
        let mut state = core(mode, &key, now);
        // Allocations of a warm round, per message (the batch itself is built beforehand).
        round(&mut state, now, batch(&key));
        let prepared = batch(&key);
        let before = counting::allocations();
        round(&mut state, now, prepared);
        let allocations = counting::allocations() - before;
        println!("core/{mode:?}: {:.3} allocations per message", allocations as f64 / BATCH as f64);
        group.bench_function(format!("handle+poll per message ({mode:?})"), |b| {
            b.iter_batched(|| batch(&key), |messages| round(&mut state, now, messages), BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, per_message);
criterion_main!(benches);
