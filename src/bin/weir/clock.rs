//! `weir clock`: a tick every interval, for demos and pipeline tests.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use weir::{NoRuntime, Producer, ProducerOptions, StreamUrl};

/// Arguments of `weir clock`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to produce, e.g. stdio:///clock.
    #[arg(long)]
    stream: StreamUrl,
    /// Time between ticks, e.g. 100ms, 1s.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Stop after this many ticks (default: never).
    #[arg(long)]
    count: Option<u64>,
}

/// Produces `tick N` to every stream of the URL.
pub fn run(args: Args) -> anyhow::Result<()> {
    let streamer = weir::connect_url::<NoRuntime>(args.stream.streamer())?;
    let mut producer = streamer.create_producer(ProducerOptions::default())?;
    let ticked = tick(&mut producer, &args);
    crate::relay::end(producer, ticked)
}

fn tick(producer: &mut Producer<NoRuntime>, args: &Args) -> anyhow::Result<()> {
    let start = Instant::now();
    for tick in 0..args.count.unwrap_or(u64::MAX) {
        // Ticks keep to the schedule even when a send is slow.
        let due = start + args.interval.saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX));
        thread::sleep(due.saturating_duration_since(Instant::now()));
        for key in args.stream.streams() {
            let _receipt = producer.send_to(key, format!("tick {tick}")).context("sending a tick")?;
        }
        producer.flush_blocking().context("flushing ticks")?;
    }
    Ok(())
}
