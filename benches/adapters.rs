//! The same in-memory backend (the simulator) driven by each runtime:
//! `next().await`, `stream()` and `next_blocking()`, per message.
//!
//! `WEIR_ADAPTERS_PASS=tokio|async-std|smol|block_on|next_blocking` replaces
//! criterion's runs with one pass of `MESSAGES` through that runtime's
//! `next().await` (or `next_blocking()`), for an instruction count that the
//! load on the machine does not change: the pass runs inside `Measured`, so
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*Measured*'`
//! counts the pass (creating the consumer, rewinding it, reading) without
//! loading the broker or starting the runtime.
//!
//! `WEIR_ADAPTERS_ROUNDS=<n>` replaces them with `n` rounds that each read
//! `MESSAGES` once on every runtime in turn, and prints per runtime the
//! median and fastest time per message, both by the wall clock and by the
//! reading thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which
//! other work on a loaded machine changes much less than the wall clock.

#![allow(clippy::unwrap_used)]

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_core::Stream;
use weir::{ConsumerOptions, ProducerOptions, Runtime, SeqPos, StreamKey};

const MESSAGES: u64 = 100_000;

/// A broker holding `MESSAGES` messages of 256 bytes, private to one benchmark.
fn loaded<R: Runtime>() -> weir::Streamer<R> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let streamer =
        weir::connect::<R>(&format!("sim://bench-{}", NEXT.fetch_add(1, Ordering::Relaxed))).unwrap();
    let key = StreamKey::new("bench").unwrap();
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let payload = weir::Payload::from(vec![b'x'; 256]);
    for _ in 0..MESSAGES {
        drop(producer.send_to(&key, payload.clone()).unwrap());
    }
    streamer
}

fn consumer<R: Runtime>(streamer: &weir::Streamer<R>) -> weir::Consumer<R> {
    let key = StreamKey::new("bench").unwrap();
    streamer.create_consumer(&[key], ConsumerOptions::default()).unwrap()
}

async fn with_next<R: Runtime>(streamer: &weir::Streamer<R>) {
    let mut consumer = consumer(streamer);
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    for _ in 0..MESSAGES {
        std::hint::black_box(consumer.next().await.unwrap());
    }
}

async fn with_stream<R: Runtime>(streamer: &weir::Streamer<R>) {
    let mut consumer = consumer(streamer);
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let mut stream = pin!(consumer.stream());
    for _ in 0..MESSAGES {
        std::hint::black_box(poll_fn(|cx| stream.as_mut().poll_next(cx)).await.unwrap().unwrap());
    }
}

/// A pass, under a name callgrind's `--toggle-collect` can find whatever the
/// runtime's `block_on` inlines.
struct Measured<F>(Pin<Box<F>>);

impl<F: Future> Future for Measured<F> {
    type Output = F::Output;
    #[inline(never)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl<F> Measured<F> {
    #[inline(never)]
    fn run_blocking(f: impl FnOnce()) {
        f()
    }
}

fn bench_runtime<R: Runtime>(
    c: &mut Criterion,
    name: &str,
    run: impl Fn(std::pin::Pin<&mut dyn Future<Output = ()>>),
) {
    let streamer = loaded::<R>();
    let mut group = c.benchmark_group(format!("adapters/{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("next().await", |b| b.iter(|| run(pin!(with_next(&streamer)))));
    group.bench_function("stream().next()", |b| b.iter(|| run(pin!(with_stream(&streamer)))));
    group.finish();
}

fn runtimes(c: &mut Criterion) {
    if let Ok(runtime) = std::env::var("WEIR_ADAPTERS_PASS") {
        return one_pass(&runtime);
    }
    if let Ok(rounds) = std::env::var("WEIR_ADAPTERS_ROUNDS") {
        return timed_rounds(rounds.parse().expect("WEIR_ADAPTERS_ROUNDS: a number of rounds"));
    }
    let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    bench_runtime::<weir::Tokio>(c, "tokio", |f| tokio.block_on(f));
    bench_runtime::<weir::AsyncStd>(c, "async-std", |f| async_std::task::block_on(f));
    bench_runtime::<weir::Smol>(c, "smol", |f| smol::block_on(f));
    bench_runtime::<weir::NoRuntime>(c, "no-runtime block_on", |f| weir::block_on(f));

    let streamer = loaded::<weir::NoRuntime>();
    let mut group = c.benchmark_group("adapters/no-runtime");
    group.sample_size(10);
    group.throughput(Throughput::Elements(MESSAGES));
    group.bench_function("next_blocking()", |b| {
        b.iter(|| {
            let mut consumer = consumer(&streamer);
            weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
            for _ in 0..MESSAGES {
                std::hint::black_box(consumer.next_blocking().unwrap());
            }
        })
    });
    group.finish();
}

/// `WEIR_ADAPTERS_PASS`: one pass on the runtime named, outside criterion.
fn one_pass(runtime: &str) {
    fn measured<R: Runtime>(streamer: &weir::Streamer<R>) -> Measured<impl Future<Output = ()> + '_> {
        Measured(Box::pin(with_next(streamer)))
    }
    match runtime {
        "tokio" => {
            let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            tokio.block_on(measured(&loaded::<weir::Tokio>()));
        }
        "async-std" => async_std::task::block_on(measured(&loaded::<weir::AsyncStd>())),
        "smol" => smol::block_on(measured(&loaded::<weir::Smol>())),
        "block_on" => weir::block_on(measured(&loaded::<weir::NoRuntime>())),
        "next_blocking" => {
            let streamer = loaded::<weir::NoRuntime>();
            Measured::<()>::run_blocking(|| {
                let mut consumer = consumer(&streamer);
                weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
                for _ in 0..MESSAGES {
                    std::hint::black_box(consumer.next_blocking().unwrap());
                }
            });
        }
        other => panic!("WEIR_ADAPTERS_PASS={other}: not tokio, async-std, smol, block_on or next_blocking"),
    }
    println!("adapters: one pass of {MESSAGES} messages on {runtime}");
}

/// Nanoseconds this thread has run on a CPU, to the nanosecond.
fn thread_cpu_ns() -> u64 {
    let at = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    at.tv_sec as u64 * 1_000_000_000 + at.tv_nsec as u64
}

/// Wall and CPU nanoseconds per message of one pass of `read`.
fn timed(read: impl FnOnce()) -> (f64, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_ns());
    read();
    let per_message = |ns: f64| ns / MESSAGES as f64;
    (per_message(wall.elapsed().as_nanos() as f64), per_message((thread_cpu_ns() - cpu) as f64))
}

/// `WEIR_ADAPTERS_ROUNDS`: every runtime once per round, interleaved, so that
/// load from other work falls on all of them alike.
fn timed_rounds(rounds: usize) {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let (on_tokio, on_async_std) = (loaded::<weir::Tokio>(), loaded::<weir::AsyncStd>());
    let (on_smol, on_none) = (loaded::<weir::Smol>(), loaded::<weir::NoRuntime>());
    type Pass<'a> = (&'static str, Box<dyn Fn() -> (f64, f64) + 'a>);
    let passes: [Pass; 5] = [
        ("tokio", Box::new(|| timed(|| tokio.block_on(with_next(&on_tokio))))),
        ("async-std", Box::new(|| timed(|| async_std::task::block_on(with_next(&on_async_std))))),
        ("smol", Box::new(|| timed(|| smol::block_on(with_next(&on_smol))))),
        ("block_on", Box::new(|| timed(|| weir::block_on(with_next(&on_none))))),
        (
            "next_blocking",
            Box::new(|| {
                let mut consumer = consumer(&on_none);
                weir::block_on(consumer.rewind(SeqPos::Beginning)).unwrap();
                timed(|| {
                    for _ in 0..MESSAGES {
                        std::hint::black_box(consumer.next_blocking().unwrap());
                    }
                })
            }),
        ),
    ];
    let mut times = vec![Vec::new(); passes.len()];
    for _ in 0..rounds.max(1) {
        for ((_, pass), times) in passes.iter().zip(&mut times) {
            times.push(pass());
        }
    }
    for ((name, _), times) in passes.iter().zip(&mut times) {
        let stats = |of: fn(&(f64, f64)) -> f64| {
            let mut ns: Vec<f64> = times.iter().map(of).collect();
            ns.sort_by(f64::total_cmp);
            (ns[ns.len() / 2], ns[0])
        };
        let ((wall, wall_min), (cpu, cpu_min)) = (stats(|t| t.0), stats(|t| t.1));
        println!(
            "adapters rounds: {name}: {cpu:.1} ns/message CPU median (fastest {cpu_min:.1}), \
             wall {wall:.1} (fastest {wall_min:.1}), {} rounds",
            times.len()
        );
    }
}

criterion_group!(benches, runtimes);
criterion_main!(benches);
