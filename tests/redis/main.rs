//! The Redis Streams backend on a real server (Valkey or Redis, started by
//! `scripts/redis-server run -- …`): positions, producer receipts, groups,
//! an independent client reading and writing the same keys, faults, and TLS.

#![allow(clippy::unwrap_used)]

mod cli;
mod common;
mod faults;
mod groups;
mod interop;
mod kills;
mod positions;
mod process;
mod restart;
mod standby;
#[path = "../support/mod.rs"]
mod support;
mod tls;
#[path = "../support/tls_front.rs"]
mod tls_front;
mod trimming;
