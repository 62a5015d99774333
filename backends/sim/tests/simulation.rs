//! Application-style tasks (`next().await` loops) on the stepping driver:
//! no runtime, virtual time, seeded faults, same seed → same trace.

// Test helpers, not #[test] functions: the test-only allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use weir_adapters::{NoRuntime, Streamer};
use weir_core::{ConsumerGroup, ConsumerMode, ConsumerOptions, StreamKey};
use weir_sim::{Faults, OffsetReset, SimBroker, SimConfig, Simulation, SimulationError};

type Trace = Rc<RefCell<String>>;

fn run(seed: u64) -> (String, BTreeSet<String>) {
    let faults = Faults { delay: 0.2, kill: 0.01, restart: 0.002, redeliver: 0.3, ..Faults::none() };
    let config =
        SimConfig { seed, shards: 3, faults, offset_reset: OffsetReset::Earliest, ..SimConfig::default() };
    let broker = SimBroker::new(config);
    broker.with(|b| b.record_events(true));
    let streamer = Streamer::<SimBroker, NoRuntime>::new(broker.clone());
    let orders = StreamKey::new("orders").unwrap();
    let trace: Trace = Rc::default();
    let seen: Rc<RefCell<BTreeSet<String>>> = Rc::default();
    let mut sim = Simulation::new(broker.clone());
    for worker in 0..3 {
        let mut options = ConsumerOptions::new(ConsumerMode::LoadBalanced);
        options.set_group(ConsumerGroup::new("workers").unwrap());
        let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), options).unwrap();
        let (trace, seen, broker) = (trace.clone(), seen.clone(), broker.clone());
        sim.spawn(format!("worker {worker}"), async move {
            loop {
                let message = consumer.next().await.unwrap();
                let payload = message.payload.as_str().unwrap().to_owned();
                let at = broker.timestamp();
                let _ = writeln!(trace.borrow_mut(), "{at} w{worker} {payload}");
                seen.borrow_mut().insert(payload);
                // Refused after a rebalance took the shard: the new owner redelivers.
                let _ = consumer.commit(&message.header).await;
            }
        });
    }
    let mut producer = streamer.create_producer(Default::default()).unwrap();
    let pacing = broker.clone();
    sim.spawn("producer", async move {
        for i in 0..60 {
            producer.send_to(&orders, format!("order-{i}")).unwrap().await.unwrap();
            pacing.sleep(Duration::from_millis(100)).await;
        }
    });
    sim.run_for(Duration::from_secs(30)).unwrap();
    let events = broker.with(|b| b.take_events());
    let mut trace = trace.borrow().clone();
    for event in events {
        let _ = writeln!(trace, "{event}");
    }
    let seen = seen.borrow().clone();
    (trace, seen)
}

#[test]
fn processors_lose_nothing_under_faults_and_replay_identically() {
    for seed in 0..20 {
        let (trace, seen) = run(seed);
        assert_eq!(seen.len(), 60, "seed {seed}: every order processed at least once\n{trace}");
        let (again, _) = run(seed);
        assert!(trace == again, "seed {seed}: same seed, same trace");
    }
}

#[test]
fn a_stalled_simulation_says_who_waits() {
    let broker = SimBroker::new(SimConfig::default());
    let streamer = Streamer::<SimBroker, NoRuntime>::new(broker.clone());
    let mut consumer = streamer
        .create_consumer(&[StreamKey::new("quiet").unwrap()], ConsumerOptions::new(ConsumerMode::RealTime))
        .unwrap();
    let mut sim = Simulation::new(broker);
    sim.spawn("reader", async move {
        let _ = consumer.next().await;
    });
    match sim.run() {
        Err(SimulationError::Stalled { waiting, .. }) => assert_eq!(waiting, ["reader"]),
        other => panic!("expected a stall, got {other:?}"),
    }
}

#[test]
fn block_on_returns_the_output_and_time_jumps_to_deadlines() {
    let broker = SimBroker::new(SimConfig::default());
    let mut sim = Simulation::new(broker.clone());
    let sleeper = broker.clone();
    let slept = sim.block_on(async move {
        let before = sleeper.now();
        sleeper.sleep(Duration::from_secs(3600)).await;
        sleeper.now() - before
    });
    assert_eq!(slept, Ok(Duration::from_secs(3600)));
}
