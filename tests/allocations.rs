//! The core's hot path allocates nothing per message (docs/performance.md's
//! "0 allocations/message"): a warm round of `handle_message` +
//! `poll_message` over a prebuilt batch, counted by a global allocator on
//! this thread only, in RealTime and Resumable mode. The core bench reports
//! the same round's speed.

#![allow(clippy::unwrap_used)]

#[path = "../benches/support/core_round.rs"]
mod core_round;
#[path = "../benches/support/counting.rs"]
mod counting;

use std::time::Instant;

use core_round::{allocations_per_round, core, BATCH};
use weir::{ConsumerMode, StreamKey};

#[test]
fn the_core_allocates_nothing_per_message() {
    let key = StreamKey::new("bench").unwrap();
    let now = Instant::now();
    for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
        let mut state = core(mode, &key, now);
        let allocations = allocations_per_round(&mut state, &key, counting::thread_allocations);
        assert_eq!(allocations, 0, "{mode:?}: {allocations} allocations in a round of {BATCH} messages");
    }
}

/// The whole `next().await` path on the simulator (its fetch into the
/// core's buffer, the driver, the hand-out) allocates nothing per message
/// either, once the buffer has grown: the adapters bench measures this path.
#[test]
fn next_on_the_simulator_allocates_nothing_per_message() {
    const MESSAGES: usize = 5_000;
    let streamer = weir::connect::<weir::NoRuntime>("sim://allocations").unwrap();
    let key = StreamKey::new("bench").unwrap();
    let mut producer = streamer.create_producer(Default::default()).unwrap();
    let payload = weir::Payload::from(vec![b'x'; 256]);
    for _ in 0..2 * MESSAGES {
        drop(producer.send_to(&key, payload.clone()).unwrap());
    }
    let mut consumer =
        streamer.create_consumer(&[key], weir::ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    weir::block_on(consumer.rewind(weir::SeqPos::Beginning)).unwrap();
    let mut read = |count: usize| {
        for _ in 0..count {
            std::hint::black_box(weir::block_on(consumer.next()).unwrap());
        }
    };
    read(MESSAGES); // warm: the buffer and the driver's state reach their size
    let before = counting::thread_allocations();
    read(MESSAGES);
    let allocations = counting::thread_allocations() - before;
    assert_eq!(allocations, 0, "{allocations} allocations reading {MESSAGES} messages");
}

/// The counter sees this thread's allocations, so the zero above is not a
/// counter that never counts.
#[test]
fn the_counter_counts() {
    let before = counting::thread_allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    assert_eq!(counting::thread_allocations() - before, 1);
    drop(boxed);
}
