//! Order, bound and the stream form on tokio, async-std, smol and no runtime.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use weir::sim::{SimBroker, SimConfig};
use weir::{
    AnyStreamer, AsyncStd, ConsumerOptions, JoinOptions, NoRuntime, Payload, Runtime, SeqPos, Smol,
    StreamKey, Timestamp, Tokio,
};

use crate::{name, ready, try_next};

/// 2026-01-01T00:00:00 UTC plus `ms`.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000 + ms).expect("in range")
}

/// A broker holding `streams` (name, message timestamps in ms), and a join
/// of one RealTime consumer per stream, each rewound to the beginning.
fn joined<R: Runtime>(
    name: &str,
    streams: &[(&str, &[i64])],
    options: JoinOptions,
) -> (SimBroker, weir::Join<R>) {
    let broker = SimBroker::new(SimConfig::default());
    let streamer = weir::Streamer::<R>::new(AnyStreamer::Sim(broker.clone()));
    let mut consumers = Vec::new();
    for (stream, times) in streams {
        let key = StreamKey::new(stream).expect("valid key");
        for (i, &t) in times.iter().enumerate() {
            broker.with(|b| b.produce(&key, Payload::from(format!("{name} {stream} {i}")), Some(at(t))));
        }
        let mut consumer = streamer.create_consumer(&[key], ConsumerOptions::default()).expect("consumer");
        weir::block_on(consumer.rewind(SeqPos::Beginning)).expect("the sim positions at once");
        consumers.push(consumer);
    }
    (broker, weir::Join::new(consumers, options).expect("valid options"))
}

fn wait(ms: u64) -> JoinOptions {
    let mut options = JoinOptions::new();
    options.set_max_wait(Some(Duration::from_millis(ms)));
    options
}

const THREE: &[(&str, &[i64])] = &[("a", &[0, 30, 60]), ("b", &[10, 40]), ("c", &[20, 50])];

/// What is ready at once, then what each wait for an emptied source lets out.
async fn merge_three<R: Runtime>() -> Vec<String> {
    let (broker, mut join) = joined::<R>("three", THREE, wait(100));
    let first = join.next().await.expect("a/0 is ready: every source has a message");
    let mut got = vec![name(&first)];
    {
        let mut stream = join.stream();
        for _ in 0..4 {
            match poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
                Some(Ok(joined)) => got.push(name(&joined)),
                other => panic!("expected a message, got {other:?}"),
            }
        }
    }
    assert!(try_next(&mut join).is_none(), "c/1 waits: b, emptied by b/1, may still send something older");
    broker.advance(Duration::from_millis(99));
    assert!(try_next(&mut join).is_none(), "99 ms: still within max_wait");
    broker.advance(Duration::from_millis(1));
    got.extend(ready(&mut join));
    assert_eq!(got.len(), 6, "c/1 out after 100 ms; a/2 waits for c, emptied by it");
    broker.advance(Duration::from_millis(100));
    got.extend(ready(&mut join));
    got
}

const EXPECTED: [&str; 7] = ["a/0", "b/0", "c/0", "a/1", "b/1", "c/1", "a/2"];

#[test]
fn merges_in_time_order_without_a_runtime() {
    assert_eq!(weir::block_on(merge_three::<NoRuntime>()), EXPECTED);
}

#[test]
fn merges_in_time_order_on_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio");
    assert_eq!(rt.block_on(merge_three::<Tokio>()), EXPECTED);
}

#[test]
fn merges_in_time_order_on_async_std() {
    assert_eq!(async_std::task::block_on(merge_three::<AsyncStd>()), EXPECTED);
}

#[test]
fn merges_in_time_order_on_smol() {
    assert_eq!(smol::block_on(merge_three::<Smol>()), EXPECTED);
}

#[test]
fn next_blocking_merges_what_is_ready() {
    let (_broker, mut join) = joined::<NoRuntime>("blocking", THREE, wait(100));
    let got: Vec<String> = (0..5).map(|_| name(&join.next_blocking().expect("ready"))).collect();
    assert_eq!(got, EXPECTED[..5]);
}

#[test]
fn a_full_source_is_read_no_further() {
    let many: Vec<i64> = (0..100).collect();
    let mut options = JoinOptions::new();
    options.set_max_wait(None).set_buffer(4);
    let (broker, mut join) = joined::<NoRuntime>("bound", &[("fast", &many), ("slow", &[])], options);
    assert!(try_next(&mut join).is_none(), "slow may still send something older");
    assert_eq!(join.core().buffered(weir::SourceId(0)), 4, "fast is read up to the bound only");
    let slow = StreamKey::new("slow").expect("valid key");
    broker.with(|b| b.produce(&slow, Payload::from("late riser"), Some(at(1_000))));
    let mut got = Vec::new();
    while let Some(Ok(joined)) = try_next(&mut join) {
        assert!(join.core().buffered(weir::SourceId(0)) <= 4, "the bound holds while draining");
        got.push(name(&joined));
    }
    let expected: Vec<String> = (0..100).map(|i| format!("fast/{i}")).collect();
    assert_eq!(got, expected, "every fast message in order; slow/0 waits for fast, empty now");
}

#[test]
fn by_shard_merges_the_shards_of_one_consumer() {
    let broker = SimBroker::new(SimConfig { shards: 2, ..SimConfig::default() });
    let streamer = weir::Streamer::<NoRuntime>::new(AnyStreamer::Sim(broker.clone()));
    let key = StreamKey::new("s").expect("valid key");
    // Round-robin: shard 0 gets t = 0, 10, 20; shard 1 gets t = 5, 15.
    for t in [0, 5, 10, 15, 20] {
        broker.with(|b| b.produce(&key, Payload::from(format!("t{t}")), Some(at(t))));
    }
    let mut consumer =
        streamer.create_consumer(std::slice::from_ref(&key), ConsumerOptions::default()).expect("consumer");
    consumer.assign(key.clone(), weir::ShardId(0)).expect("assign");
    consumer.assign(key, weir::ShardId(1)).expect("assign");
    weir::block_on(consumer.rewind(SeqPos::Beginning)).expect("the sim positions at once");
    let mut join = weir::Join::by_shard(vec![consumer], wait(100)).expect("valid options");
    assert_eq!(join.core().sources(), 2, "one source per assigned shard");
    let payloads = |join: &mut weir::Join<NoRuntime>| {
        std::iter::from_fn(|| try_next(join))
            .map(|j| j.expect("a message").message.payload)
            .collect::<Vec<_>>()
    };
    let got = payloads(&mut join);
    assert_eq!(got, ["t0", "t5", "t10", "t15"].map(Payload::from), "t20 waits for shard 1, empty now");
    broker.advance(Duration::from_millis(100));
    assert_eq!(payloads(&mut join), [Payload::from("t20")]);
}
