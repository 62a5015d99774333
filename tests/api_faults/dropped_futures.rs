//! Dropped futures lose nothing (issue 7, item 3d), on each runtime: a
//! Resumable consumer reads a topic of `WEIR_RELIABILITY_MESSAGES` messages
//! while its `next`, `rewind`, `seek`, `commit` and `commit_all` futures are
//! dropped at random (seed printed; replay with `WEIR_RELIABILITY_SEED`).
//! Every message must arrive at least once, each shard in order with no gap
//! from the latest repositioning, and a restarted consumer of the group must
//! resume no later than after the last completed commit.

use std::future::Future;
use std::time::Instant;

use weir::Runtime;

use crate::chaos;
use crate::load;
use crate::rng::{self, Rng};

/// Runs a future to completion on one runtime.
trait On {
    const NAME: &'static str;
    fn run<F: Future>(body: F) -> F::Output;
}

struct OnTokio;
struct OnAsyncStd;
struct OnSmol;
struct OnNoRuntime;

impl On for OnTokio {
    const NAME: &'static str = "tokio";
    fn run<F: Future>(body: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio");
        runtime.block_on(body)
    }
}

impl On for OnAsyncStd {
    const NAME: &'static str = "async-std";
    fn run<F: Future>(body: F) -> F::Output {
        async_std::task::block_on(body)
    }
}

impl On for OnSmol {
    const NAME: &'static str = "smol";
    fn run<F: Future>(body: F) -> F::Output {
        smol::block_on(body)
    }
}

impl On for OnNoRuntime {
    const NAME: &'static str = "no runtime";
    fn run<F: Future>(body: F) -> F::Output {
        weir::block_on(body)
    }
}

fn dropped_futures_lose_nothing<R: Runtime, O: On>(address: &str, blocking: bool) {
    let loaded = load::loaded(address);
    let seed = rng::seed();
    let tag = format!("{} (seed {seed}: replay with WEIR_RELIABILITY_SEED={seed})", O::NAME);
    eprintln!("{tag}: {} messages", loaded.total);
    let mut rng = Rng::new(seed);
    let group = format!("drops-{}", O::NAME.replace(' ', "-"));
    let started = Instant::now();
    let tally = O::run(chaos::run::<R>(loaded, &group, &mut rng, tag.clone(), blocking));
    eprintln!("{tag}: {tally:?} in {:.1} s", started.elapsed().as_secs_f64());
    // The run must have exercised what it checks: each kind of dropped future.
    let exercised = tally.dropped_next > 0 && tally.dropped_commits > 0 && tally.dropped_repositionings > 0;
    assert!(exercised, "{tag}: too little was dropped to check anything: {tally:?}");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn on_tokio() {
    let address = crate::common::broker();
    dropped_futures_lose_nothing::<weir::Tokio, OnTokio>(&address, false);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn on_async_std() {
    let address = crate::common::broker();
    dropped_futures_lose_nothing::<weir::AsyncStd, OnAsyncStd>(&address, false);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn on_smol() {
    let address = crate::common::broker();
    dropped_futures_lose_nothing::<weir::Smol, OnSmol>(&address, false);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn without_a_runtime() {
    let address = crate::common::broker();
    dropped_futures_lose_nothing::<weir::NoRuntime, OnNoRuntime>(&address, true);
}
