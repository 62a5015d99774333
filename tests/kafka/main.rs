//! Kafka-specific behaviour on a real Kafka-protocol broker (start one with
//! `scripts/kafka-broker run -- cargo test …`): group balancing, standby
//! takeover, Resumable restarts, seek and rewind over partitions, connect
//! errors, TLS, and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backpressure;
mod batches;
#[path = "../support/broker.rs"]
mod broker;
mod cli;
mod common;
mod diagnostics;
#[path = "../support/events.rs"]
mod events;
mod groups;
mod partitions;
mod positions;
mod producer;
mod proxy;
#[path = "../support/mod.rs"]
mod support;
mod tls;
#[path = "../support/tls_front.rs"]
mod tls_front;
