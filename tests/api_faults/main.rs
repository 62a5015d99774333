//! Reliability of weir's consumer API on a real Kafka-protocol broker (issue
//! 7, items 3d and 4). Run with
//! `scripts/kafka-broker run -- cargo test --all-features --test api_faults -- --include-ignored`
//! (each test is `#[ignore]`d with that command: it needs the broker).
//!
//! - `dropped_futures`: on tokio, async-std, smol and without a runtime, a
//!   consumer whose `next`, `rewind`, `seek`, `commit` and `commit_all`
//!   futures are dropped at random loses no message, keeps each shard in
//!   order, and resumes after a restart no later than after its last
//!   completed commit. `WEIR_RELIABILITY_MESSAGES` sets the topic's size
//!   (20 000 by default), `WEIR_RELIABILITY_SEED` replays a run.
//! - `dead_peers`: no broker, a broker killed while streaming, an unknown
//!   topic, a refused group: each a clear error within its timeout, and no
//!   thread left behind once everything is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support/broker.rs"]
mod broker;
mod chaos;
mod checker;
mod common;
mod dead_peers;
mod dropped_futures;
mod drops;
mod load;
mod on_thread;
mod rng;
#[path = "../support/mod.rs"]
mod support;
mod threads;
