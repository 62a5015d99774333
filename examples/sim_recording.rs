//! A recorded `.ss` file as a deterministic simulator test: record a few
//! messages to a file (as `weir relay --output file://…` would), load the
//! recording into a seeded `sim://` broker, and consume it there twice with
//! the same seed: the same deliveries, message for message.
//!
//! `cargo run --example sim_recording`

use std::time::Duration;

use weir::sim::{SimBroker, SimConfig};
use weir::{ConsumerMode, ConsumerOptions, NoRuntime, ProducerOptions, SeqPos, StreamKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("weir-sim-recording-{}.ss", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let orders = StreamKey::new("orders")?;

    // 1. Record.
    let recorder = weir::connect::<NoRuntime>(&format!("file://{}", path.display()))?;
    let mut producer = recorder.create_producer(ProducerOptions::default())?;
    let receipts: Vec<_> =
        (0..5).map(|i| producer.send_to(&orders, format!("order {i}"))).collect::<Result<_, _>>()?;
    weir::block_on(producer.flush())?;
    for receipt in receipts {
        weir::block_on(receipt)?;
    }
    drop(producer);

    // 2. Replay the recording in the simulator, twice, with one seed.
    let run = || -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let broker = SimBroker::new(SimConfig { seed: 7, ..SimConfig::default() });
        let loaded = weir::load_recording(&broker, &path)?;
        let sim = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::Sim(broker.clone()));
        let mut consumer =
            sim.create_consumer(std::slice::from_ref(&orders), ConsumerOptions::new(ConsumerMode::RealTime))?;
        weir::block_on(consumer.rewind(SeqPos::Beginning))?;
        let mut seen = Vec::new();
        for _ in 0..loaded {
            let message = consumer.next_blocking()?;
            seen.push(format!(
                "{} {}",
                message.timestamp(),
                String::from_utf8_lossy(message.payload.as_bytes())
            ));
            broker.advance(Duration::from_millis(1));
        }
        Ok(seen)
    };
    let (first, second) = (run()?, run()?);
    assert_eq!(first, second, "same seed, same deliveries");
    for line in &first {
        println!("{line}");
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}
