//! Merging 3 × 100 000 messages by time (issue 17's target: ≥ 1 M messages/s,
//! the join's own cost ≤ 100 ns a message), each against a baseline in the
//! same run that moves the same messages without ordering them:
//!
//! - `join/core`: `JoinCore` fed in chunks of its buffer and drained, vs
//!   `join/core baseline`: the same chunks through one queue per source,
//!   drained round-robin. The difference per message is the join's own cost.
//! - `join/sim`: `weir::Join` over three sim consumers, vs `join/sim
//!   baseline`: the same three consumers read one after the other.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use weir::core::JoinCore;
use weir::sim::{SimBroker, SimConfig};
use weir::{
    AnyStreamer, ConsumerOptions, JoinOptions, Message, MessageHeader, NoRuntime, Payload, SeqNo, SeqPos,
    ShardId, SourceId, StreamKey, Timestamp,
};

const SOURCES: usize = 3;
const PER_SOURCE: usize = 100_000;
const TOTAL: u64 = (SOURCES * PER_SOURCE) as u64;

/// Source `i`'s message `k` is stamped `3k + i` ms: the sources interleave.
fn inputs() -> Vec<Vec<Message>> {
    (0..SOURCES)
        .map(|i| {
            let key = StreamKey::new(format!("s{i}")).unwrap();
            (0..PER_SOURCE)
                .map(|k| {
                    let at = Timestamp::from_unix_millis(1_767_225_600_000 + (3 * k + i) as i64).unwrap();
                    Message::new(
                        MessageHeader::new(key.clone(), ShardId(0), SeqNo(k as u64), at),
                        Payload::from("x"),
                    )
                })
                .collect()
        })
        .collect()
}

fn options() -> JoinOptions {
    let mut options = JoinOptions::new();
    options.set_max_wait(None);
    options
}

/// The join: each source fed while it has room, then everything ready drained.
fn merge(inputs: Vec<Vec<Message>>, now: Instant) -> u64 {
    let mut core = JoinCore::new(options(), now).unwrap();
    let ids: Vec<SourceId> = inputs.iter().map(|_| core.add_source(now)).collect();
    let mut feeds: Vec<_> = inputs.into_iter().map(Vec::into_iter).collect();
    let mut out = 0;
    loop {
        for (id, feed) in ids.iter().zip(&mut feeds) {
            while core.has_room(*id) {
                match feed.next() {
                    Some(message) => core.handle_message(now, *id, message),
                    None => {
                        core.handle_end(now, *id, None);
                        break;
                    }
                }
            }
        }
        while let Some(joined) = core.poll_message() {
            out += joined.message.payload.len() as u64;
        }
        if core.poll_end().is_some() {
            return out;
        }
    }
}

/// The same chunks through one queue per source, drained round-robin: moving without ordering.
fn baseline(inputs: Vec<Vec<Message>>, buffer: usize) -> u64 {
    let mut queues: Vec<VecDeque<Message>> = inputs.iter().map(|_| VecDeque::new()).collect();
    let mut feeds: Vec<_> = inputs.into_iter().map(Vec::into_iter).collect();
    let mut out = 0;
    loop {
        let mut fed = false;
        for (queue, feed) in queues.iter_mut().zip(&mut feeds) {
            while queue.len() < buffer {
                match feed.next() {
                    Some(message) => {
                        queue.push_back(message);
                        fed = true;
                    }
                    None => break,
                }
            }
        }
        let mut drained = false;
        while !drained {
            drained = true;
            for queue in &mut queues {
                if let Some(message) = queue.pop_front() {
                    out += message.payload.len() as u64;
                    drained = false;
                }
            }
        }
        if !fed {
            return out;
        }
    }
}

fn core(c: &mut Criterion) {
    let inputs = inputs();
    let now = Instant::now();
    let buffer = options().buffer();
    let mut group = c.benchmark_group("join");
    group.throughput(Throughput::Elements(TOTAL)).sample_size(20);
    group.bench_function("core baseline", |b| {
        b.iter_batched(
            || inputs.clone(),
            |inputs| assert_eq!(baseline(inputs, buffer), TOTAL),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("core", |b| {
        b.iter_batched(
            || inputs.clone(),
            |inputs| assert_eq!(merge(inputs, now), TOTAL),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Three sim consumers, each rewound to its stream of 100 000 messages.
fn consumers(inputs: &[Vec<Message>]) -> Vec<weir::Consumer<NoRuntime>> {
    let broker = SimBroker::new(SimConfig::default());
    let streamer = weir::Streamer::<NoRuntime>::new(AnyStreamer::Sim(broker.clone()));
    inputs
        .iter()
        .map(|messages| {
            let key = messages[0].header.stream_key.clone();
            broker.with(|b| {
                for m in messages {
                    b.produce(&key, m.payload.clone(), Some(m.header.timestamp));
                }
            });
            let mut consumer = streamer.create_consumer(&[key], ConsumerOptions::default()).unwrap();
            weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
            consumer
        })
        .collect()
}

fn sim(c: &mut Criterion) {
    let inputs = inputs();
    let mut group = c.benchmark_group("join");
    group.throughput(Throughput::Elements(TOTAL)).sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("sim baseline", |b| {
        b.iter_batched(
            || consumers(&inputs),
            |mut consumers| {
                for consumer in &mut consumers {
                    for _ in 0..PER_SOURCE {
                        consumer.next_blocking().unwrap();
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("sim", |b| {
        b.iter_batched(
            || weir::Join::new(consumers(&inputs), options()).unwrap(),
            |mut join| {
                // Sim streams never end: the last two messages wait for the
                // first source, empty by then, for ever; read all but those.
                for _ in 0..TOTAL - 2 {
                    join.next_blocking().unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, core, sim);
criterion_main!(benches);
