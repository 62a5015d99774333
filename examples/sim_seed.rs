//! A stream processor tested on the deterministic simulator: three workers
//! share a group, a producer paces orders on virtual time, and the broker
//! injects faults drawn from a seed. Same seed, same run, byte for byte.
//!
//! `WEIR_SIM_SEED=7 cargo run --example sim_seed`

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use weir::sim::Simulation;
use weir::{AnyStreamer, ConsumerGroup, ConsumerMode, ConsumerOptions, NoRuntime, StreamKey};

/// The application's processor: written against weir's `Consumer`, unchanged
/// whether it runs on `kafka://`, `sim://` or any runtime.
async fn process<R: weir::Runtime>(mut consumer: weir::Consumer<R>, done: Rc<RefCell<BTreeSet<String>>>) {
    while let Ok(message) = consumer.next().await {
        let order = message.payload.as_str().unwrap_or("?").to_owned();
        done.borrow_mut().insert(order);
        // At-least-once: commit what was processed. A commit is refused when a
        // rebalance moved the shard away; its new owner then processes it again.
        let _ = consumer.commit(&message.header).await;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = std::env::var("WEIR_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    // Faults are rates drawn from the seed: delays, members dying, broker
    // restarts, redelivery after rebalances. Leave them out and there are none.
    let url = format!(
        "sim://example-{seed}?seed={seed}&shards=3&delay=0.2&kill=0.01&restart=0.002&redeliver=0.3&offset_reset=earliest"
    );
    let streamer = weir::connect::<NoRuntime>(&url)?;
    let AnyStreamer::Sim(broker) = streamer.backend() else { unreachable!("a sim:// url") };
    let broker = broker.clone();
    broker.with(|b| b.record_events(true));

    let orders = StreamKey::new("orders")?;
    let done = Rc::new(RefCell::new(BTreeSet::new()));
    let mut simulation = Simulation::new(broker.clone());
    for worker in 0..3 {
        let mut options = ConsumerOptions::new(ConsumerMode::LoadBalanced);
        options.set_group(ConsumerGroup::new("workers")?);
        let consumer = streamer.create_consumer(std::slice::from_ref(&orders), options)?;
        simulation.spawn(format!("worker {worker}"), process(consumer, done.clone()));
    }
    let mut producer = streamer.create_producer(Default::default())?;
    let clock = broker.clone();
    simulation.spawn("producer", async move {
        for i in 0..100 {
            let _receipt = producer.send_to(&orders, format!("order-{i:03}"));
            clock.sleep(Duration::from_millis(50)).await; // virtual: costs no real time
        }
    });

    // Five virtual minutes, in milliseconds of real time.
    simulation.run_for(Duration::from_secs(300))?;

    for event in broker.with(|b| b.take_events()) {
        println!("{event}");
    }
    let processed = done.borrow().len();
    println!("seed {seed}: {processed}/100 orders processed");
    assert_eq!(processed, 100, "lost orders; replay with WEIR_SIM_SEED={seed}");
    Ok(())
}
