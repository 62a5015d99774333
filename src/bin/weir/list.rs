//! `weir list`: the streams a streamer holds, their shards and watermarks.

use std::io::Write;

use anyhow::Context as _;
use clap::ValueEnum;
use weir::{NoRuntime, StreamInfo, StreamerUrl};

/// Arguments of `weir list`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The streamer (every stream it holds), or streams of it: kafka://localhost:9092,
    /// kafka://localhost:9092/orders,payments. With a namespace, only its streams.
    url: String,
    /// A table, or one JSON object per stream and line.
    #[arg(long, value_enum, default_value_t)]
    format: ListFormat,
}

/// Output formats of `weir list`.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns: stream, shard, low, high, messages.
    #[default]
    Table,
    /// `{"stream":…,"shards":[{"shard":0,"low":0,"high":10}]}` per stream.
    Json,
}

/// Lists the streams of the URL on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    list_to(args, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
pub(crate) fn list_to(args: Args, out: &mut impl Write) -> anyhow::Result<()> {
    let (url, keys) = StreamerUrl::parse_with_streams(&args.url)?;
    let streamer = weir::connect_url::<NoRuntime>(&url)?;
    let listed = weir::block_on(streamer.list_streams(&keys)).with_context(|| format!("listing {url}"))?;
    match args.format {
        ListFormat::Table => write_table(out, &listed),
        ListFormat::Json => write_json(out, &listed),
    }
    .and_then(|()| out.flush())
    .context("writing stdout")
}

fn write_table(out: &mut impl Write, listed: &[StreamInfo]) -> std::io::Result<()> {
    let width = listed.iter().map(|s| s.key.name().len()).max().unwrap_or(0).max("stream".len());
    writeln!(out, "{:width$}  {:>5}  {:>12}  {:>12}  {:>12}", "stream", "shard", "low", "high", "messages")?;
    for stream in listed {
        for info in &stream.shards {
            let messages = info.high.0.saturating_sub(info.low.0);
            writeln!(
                out,
                "{:width$}  {:>5}  {:>12}  {:>12}  {:>12}",
                stream.key.name(),
                info.shard,
                info.low,
                info.high,
                messages
            )?;
        }
    }
    Ok(())
}

fn write_json(out: &mut impl Write, listed: &[StreamInfo]) -> std::io::Result<()> {
    for stream in listed {
        let shards: Vec<_> = stream
            .shards
            .iter()
            .map(|info| serde_json::json!({"shard": info.shard.0, "low": info.low.0, "high": info.high.0}))
            .collect();
        serde_json::to_writer(
            &mut *out,
            &serde_json::json!({"stream": stream.key.name(), "shards": shards}),
        )?;
        writeln!(out)?;
    }
    Ok(())
}
