//! Seeded scenarios on the simulator: three streams produced at random
//! virtual times, some messages delivered late by the broker's delay fault,
//! one stream silent for a stretch; the join (max_wait 200 ms, late
//! messages delivered marked) is read after every 10 ms of virtual time.
//! Checked for every seed: each produced message comes out exactly once, and
//! no unmarked message is older (in join order) than one before it; across
//! seeds, that late messages and holds for the silent stream both happen.
//! The trace of a seed is the same on every run and every runtime.

use std::fmt::Write as _;
use std::time::Duration;

use weir::sim::{Faults, Rng, SimBroker, SimConfig};
use weir::{
    AnyStreamer, AsyncStd, ConsumerOptions, JoinOptions, MessageHeader, NoRuntime, Payload, Runtime, SeqPos,
    Smol, StreamKey, Tokio,
};

use crate::try_next;

const STEP: Duration = Duration::from_millis(10);
const TICKS: u64 = 300;
const MAX_WAIT: Duration = Duration::from_millis(200);

/// What one seed did.
struct Outcome {
    trace: String,
    late: u64,
    held: u64,
}

fn order_key(h: &MessageHeader) -> (i128, String, u32, u64) {
    (h.timestamp.unix_nanos(), h.stream_key.to_string(), h.shard.0, h.seq.0)
}

/// Runs seed `seed` with the join and its consumers on runtime `R`.
fn scenario<R: Runtime>(seed: u64) -> Outcome {
    let faults = Faults { delay: 0.3, max_delay: Duration::from_millis(300), ..Faults::none() };
    let broker = SimBroker::new(SimConfig { seed, faults, shards: 1, ..SimConfig::default() });
    let streamer = weir::Streamer::<R>::new(AnyStreamer::Sim(broker.clone()));
    let keys: Vec<StreamKey> = (0..3).map(|i| StreamKey::new(format!("s{i}")).expect("valid key")).collect();
    let mut consumers = Vec::new();
    for key in &keys {
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(key), ConsumerOptions::default())
            .expect("consumer");
        weir::block_on(consumer.rewind(SeqPos::Beginning)).expect("the sim positions at once");
        consumers.push(consumer);
    }
    let mut options = JoinOptions::new();
    options.set_max_wait(Some(MAX_WAIT));
    let mut join = weir::Join::new(consumers, options).expect("valid options");

    let mut rng = Rng::new(seed ^ 0x5eed);
    let silent = rng.below(3) as usize;
    let (quiet_from, quiet_to) = {
        let from = rng.below(TICKS / 2);
        (from, from + 30 + rng.below(100))
    };
    let mut trace = format!("seed {seed}: s{silent} silent from tick {quiet_from} to {quiet_to}\n");
    let (mut produced, mut out, mut last) = (Vec::new(), Vec::new(), None);
    let (mut late, mut held) = (0, 0);
    for tick in 0..TICKS + 100 {
        for (i, key) in keys.iter().enumerate() {
            let quiet = i == silent && (quiet_from..quiet_to).contains(&tick);
            if tick < TICKS && !quiet && rng.chance(0.3) {
                let header = broker.with(|b| b.produce(key, Payload::from(format!("{key} at {tick}")), None));
                produced.push(order_key(&header));
            }
        }
        broker.advance(STEP);
        while let Some(next) = try_next(&mut join) {
            let joined = next.unwrap_or_else(|err| panic!("seed {seed}: the join failed: {err}\n{trace}"));
            let h = &joined.message.header;
            let key = order_key(h);
            let mark = if joined.late { " LATE" } else { "" };
            let _ = writeln!(
                trace,
                "tick {tick}: {}/{}/{} t={}{mark}",
                h.stream_key, h.shard, h.seq, h.timestamp
            );
            if joined.late {
                late += 1;
            } else {
                assert!(
                    last.as_ref().is_none_or(|l| *l < key),
                    "seed {seed}: out of order unmarked\n{trace}"
                );
                last = Some(key.clone());
            }
            out.push(key);
        }
        if join.core().waiting_for().any(|s| s.0 == silent)
            && (0..3).any(|s| join.core().buffered(weir::SourceId(s)) > 0)
        {
            held += 1;
        }
    }
    produced.sort();
    out.sort();
    assert_eq!(out, produced, "seed {seed}: not every message came out exactly once\n{trace}");
    Outcome { trace, late, held }
}

#[test]
fn every_message_once_unmarked_in_order() {
    let (mut late, mut held) = (0, 0);
    for seed in 0..40 {
        let outcome = scenario::<NoRuntime>(seed);
        late += outcome.late;
        held += outcome.held;
    }
    assert!(late > 0, "the delay fault made no message late: the scenario does not test lateness");
    assert!(held > 0, "the silent stream never held the output back");
}

#[test]
fn same_seed_same_trace_on_every_runtime() {
    for seed in 0..8 {
        let reference = scenario::<NoRuntime>(seed).trace;
        assert_eq!(scenario::<NoRuntime>(seed).trace, reference, "seed {seed}: two runs differ");
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio")
            .block_on(async { scenario::<Tokio>(seed) });
        let async_std = async_std::task::block_on(async { scenario::<AsyncStd>(seed) });
        let smol = smol::block_on(async { scenario::<Smol>(seed) });
        for (runtime, outcome) in [("tokio", tokio), ("async-std", async_std), ("smol", smol)] {
            assert!(outcome.trace == reference, "seed {seed}: {runtime}'s trace differs from no runtime's");
        }
    }
}
