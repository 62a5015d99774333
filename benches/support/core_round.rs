//! One round of the core's hot path, as a driver runs it: a batch fed in
//! with `handle_message`, every message handed out with `poll_message`.
//! Shared by the core bench (its cost) and `tests/allocations.rs` (that it
//! allocates nothing per message), so both measure the same thing.

#![allow(dead_code)] // Each includer uses what it needs.

use std::hint::black_box;
use std::time::Instant;

use weir::core::{Capabilities, ConsumerCore};
use weir::{
    ConsumerGroup, ConsumerMode, ConsumerOptions, Message, MessageHeader, Payload, SeqNo, ShardId, StreamKey,
    Timestamp,
};

/// Messages per round.
pub const BATCH: usize = 1000;

/// `BATCH` messages of 256 bytes over four shards, built before the round.
pub fn batch(key: &StreamKey) -> Vec<Message> {
    let payload = Payload::from(vec![b'x'; 256]);
    (0..BATCH as u64)
        .map(|i| {
            let header =
                MessageHeader::new(key.clone(), ShardId((i % 4) as u32), SeqNo(i), Timestamp::UNIX_EPOCH);
            Message::new(header, payload.clone())
        })
        .collect()
}

/// A core in `mode` whose buffer holds a whole round.
pub fn core(mode: ConsumerMode, key: &StreamKey, now: Instant) -> ConsumerCore {
    let mut options = ConsumerOptions::new(mode);
    if mode != ConsumerMode::RealTime {
        options.set_group(ConsumerGroup::new("bench").expect("valid group"));
    }
    options.set_buffer(BATCH * 2);
    ConsumerCore::new(Capabilities::full("bench"), options, vec![key.clone()], now).expect("valid options")
}

/// Feeds one batch and hands every message out, as a driver would.
pub fn round(core: &mut ConsumerCore, messages: Vec<Message>) {
    for message in messages {
        core.handle_message(message);
    }
    while let Some(message) = core.poll_message() {
        black_box(message);
    }
}

/// The allocations `allocations()` counts during one warm round of `core`
/// (after a first round, with the batch built beforehand).
pub fn allocations_per_round(core: &mut ConsumerCore, key: &StreamKey, allocations: impl Fn() -> u64) -> u64 {
    round(core, batch(key));
    let prepared = batch(key);
    let before = allocations();
    round(core, prepared);
    allocations() - before
}
