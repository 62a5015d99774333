//! The behaviour every backend × runtime pair must show. Each test asserts
//! which messages arrive, in which order, after which operation; where the
//! backend lacks the operation (see [`Fixture::capabilities`]), the exact
//! error it refuses it with, and that the consumer goes on as before.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use weir::core::backend::Streamer as _;
use weir::{
    ConsumerError, ConsumerMode, ConsumerOptions, Message, MessageHeader, OptionsError, ProducerError,
    ProducerOptions, Runtime, SeqNo, SeqPos, ShardId, StreamKey, StreamerError,
};

use crate::fixture::{Fixture, Groups, History, Seqs};

use crate::support::{consumer_options as options, key, within};

/// How long one wait for a message, a receipt or an assignment may take: a
/// group join on a real broker takes seconds; a loaded machine, more.
const WAIT: Duration = Duration::from_secs(60);

async fn produce<R: Runtime>(
    streamer: &weir::Streamer<R>,
    key: &StreamKey,
    payloads: impl IntoIterator<Item = String>,
) -> Vec<MessageHeader> {
    let mut producer = streamer.create_producer(ProducerOptions::default()).expect("producer");
    let mut stored = Vec::new();
    for payload in payloads {
        let receipt = producer.send_to(key, payload).expect("send");
        stored.push(within::<R, _>(WAIT, "a receipt", receipt).await.expect("stored"));
    }
    within::<R, _>(WAIT, "a flush", producer.flush()).await.expect("flush");
    stored
}

fn numbered(range: std::ops::Range<u32>) -> impl Iterator<Item = String> {
    range.map(|i| format!("m{i}"))
}

async fn take<R: Runtime>(consumer: &mut weir::Consumer<R>, n: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    for at in 0..n {
        let what = format!("message {} of {n}", at + 1);
        out.push(within::<R, _>(WAIT, &what, consumer.next()).await.expect("a message"));
    }
    out
}

fn payloads(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.payload.as_str().expect("utf-8").to_owned()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq().0).collect()
}

/// The seqs messages stored as `stored` must carry: `contiguous` on a
/// backend that numbers each shard 0, 1, 2, … ([`Seqs::Contiguous`]); on one
/// whose seqs come from the store, those the receipts reported.
fn want_seqs<F: Fixture>(fx: &F, stored: &[MessageHeader], contiguous: &[u64]) -> Vec<u64> {
    match fx.seqs() {
        Seqs::Contiguous => contiguous.to_vec(),
        Seqs::FromStore => stored.iter().map(|h| h.seq.0).collect(),
    }
}

/// The seq of the message stored as `stored`, `contiguous` where seqs are.
fn seq_of<F: Fixture>(fx: &F, stored: &MessageHeader, contiguous: u64) -> SeqNo {
    SeqNo(want_seqs(fx, std::slice::from_ref(stored), &[contiguous])[0])
}

/// Polls a future once with a waker that does nothing, then hands it back.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// A consumer that has joined and reported its assignment, so that what is
/// produced next is what it reads. On a real broker joining a group or
/// looking up the latest offsets takes a moment: wait (woken by the backend)
/// until the core knows its assignment.
async fn ready_consumer<R: Runtime, F: Fixture>(
    fx: &F,
    streamer: &weir::Streamer<R>,
    streams: &[StreamKey],
    options: ConsumerOptions,
) -> weir::Consumer<R> {
    let mut consumer = streamer.create_consumer(streams, options).expect("consumer");
    let ready = std::future::poll_fn(|cx| {
        let mut next = consumer.next();
        assert!(std::pin::Pin::new(&mut next).poll(cx).is_pending(), "nothing was produced yet");
        drop(next);
        if !fx.announces_assignment() || consumer.core().assignment().is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    within::<R, _>(WAIT, "the consumer's assignment", ready).await;
    consumer
}

/// The error a backend without `operation` refuses it with.
fn unsupported<F: Fixture>(fx: &F, operation: &'static str) -> ConsumerError {
    ConsumerError::Unsupported { backend: fx.capabilities().backend, operation }
}

pub async fn capabilities_are_as_documented<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    assert_eq!(streamer.backend().capabilities(), fx.capabilities());
}

pub async fn next_delivers_in_order<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer =
        ready_consumer(fx, &streamer, std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .await;
    let sent = produce(&streamer, &orders, numbered(0..10)).await;
    let got = take(&mut consumer, 10).await;
    assert_eq!(payloads(&got), numbered(0..10).collect::<Vec<_>>());
    assert_eq!(seqs(&got), want_seqs(fx, &sent, &(0..10).collect::<Vec<_>>()));
    assert!(got.iter().all(|m| m.stream_key() == &orders && m.shard() == ShardId(0)));
}

pub async fn stream_yields_messages<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer =
        ready_consumer(fx, &streamer, std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .await;
    produce(&streamer, &orders, numbered(0..5)).await;
    let mut stream = pin!(consumer.stream());
    let mut got = Vec::new();
    while got.len() < 5 {
        let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
        got.push(next.expect("stream open").expect("a message"));
    }
    assert_eq!(payloads(&got), numbered(0..5).collect::<Vec<_>>());
}

pub async fn realtime_starts_at_the_end<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    produce(&streamer, &orders, numbered(0..3)).await;
    let realtime = options(ConsumerMode::RealTime, None);
    match fx.history() {
        History::Stored => {
            let mut consumer = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), realtime).await;
            let sent = produce(&streamer, &orders, numbered(3..5)).await;
            let got = take(&mut consumer, 2).await;
            assert_eq!(payloads(&got), ["m3", "m4"]);
            assert_eq!(seqs(&got), want_seqs(fx, &sent, &[3, 4]));
        }
        History::FromFirstConsumer => {
            // The first consumer reads what was written before it existed too.
            let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), realtime).unwrap();
            produce(&streamer, &orders, numbered(3..5)).await;
            let got = take(&mut consumer, 5).await;
            assert_eq!(payloads(&got), numbered(0..5).collect::<Vec<_>>());
            assert_eq!(seqs(&got), [0, 1, 2, 3, 4]);
        }
    }
}

pub async fn rewind_beginning_replays<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer =
        ready_consumer(fx, &streamer, std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .await;
    if !fx.capabilities().rewind {
        assert_eq!(consumer.rewind(SeqPos::Beginning).await, Err(unsupported(fx, "rewind")));
        // The refusal changed nothing: the consumer reads on.
        produce(&streamer, &orders, numbered(0..5)).await;
        let got = take(&mut consumer, 5).await;
        assert_eq!(payloads(&got), numbered(0..5).collect::<Vec<_>>());
        assert_eq!(seqs(&got), [0, 1, 2, 3, 4]);
        return;
    }
    let sent = produce(&streamer, &orders, numbered(0..5)).await;
    assert_eq!(payloads(&take(&mut consumer, 5).await), numbered(0..5).collect::<Vec<_>>());
    consumer.rewind(SeqPos::Beginning).await.expect("rewind");
    let again = take(&mut consumer, 5).await;
    assert_eq!(seqs(&again), want_seqs(fx, &sent, &[0, 1, 2, 3, 4]));
}

pub async fn rewind_at_and_end<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    if !fx.capabilities().rewind {
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .unwrap();
        assert_eq!(consumer.rewind(SeqPos::At(SeqNo(3))).await, Err(unsupported(fx, "rewind")));
        assert_eq!(consumer.rewind(SeqPos::End).await, Err(unsupported(fx, "rewind")));
        produce(&streamer, &orders, numbered(0..3)).await;
        let got = take(&mut consumer, 3).await;
        assert_eq!((payloads(&got), seqs(&got)), (numbered(0..3).collect::<Vec<_>>(), vec![0, 1, 2]));
        return;
    }
    let sent = produce(&streamer, &orders, numbered(0..6)).await;
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    consumer.rewind(SeqPos::At(seq_of(fx, &sent[3], 3))).await.expect("rewind");
    assert_eq!(payloads(&take(&mut consumer, 3).await), ["m3", "m4", "m5"]);
    consumer.rewind(SeqPos::At(seq_of(fx, &sent[1], 1))).await.expect("rewind back");
    assert_eq!(seqs(&take(&mut consumer, 2).await), want_seqs(fx, &sent[1..3], &[1, 2]));
    consumer.rewind(SeqPos::End).await.expect("rewind end");
    produce(&streamer, &orders, numbered(6..7)).await;
    assert_eq!(payloads(&take(&mut consumer, 1).await), ["m6"]);
}

pub async fn seek_delivers_from_timestamp<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    let base = crate::support::recent_base();
    if !fx.capabilities().seek {
        assert_eq!(consumer.seek(base).await, Err(unsupported(fx, "seek")));
        produce(&streamer, &orders, numbered(0..2)).await;
        assert_eq!(payloads(&take(&mut consumer, 2).await), ["m0", "m1"]);
        return;
    }
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    for i in 0..10u64 {
        let at = base.saturating_add(Duration::from_secs(i));
        producer.send_at(&orders, format!("m{i}"), Some(at)).unwrap().await.unwrap();
    }
    consumer.seek(base.saturating_add(Duration::from_millis(4_500))).await.expect("seek");
    let got = take(&mut consumer, 5).await;
    assert_eq!(payloads(&got), ["m5", "m6", "m7", "m8", "m9"]);
    assert!(got.iter().all(|m| m.timestamp() >= base.saturating_add(Duration::from_millis(4_500))));
}

pub async fn assign_is_additive_and_deferred<R: Runtime, F: Fixture>(fx: &F) {
    match fx.capabilities().shards {
        Some(count) if count < 2 || !fx.capabilities().rewind => {
            one_shard_assignment::<R, F>(fx, count).await
        }
        _ => shards_assigned_at_the_next_rewind::<R, F>(fx).await,
    }
}

/// A backend with `count` shards per stream and no rewind: shards past the
/// count are refused by name, the others come and go, and messages keep
/// coming from shard 0.
async fn one_shard_assignment<R: Runtime, F: Fixture>(fx: &F, count: u32) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    assert_eq!(
        consumer.assign(orders.clone(), ShardId(count)),
        Err(ConsumerError::NoSuchShard {
            key: orders.clone(),
            shard: ShardId(count),
            backend: fx.capabilities().backend
        })
    );
    assert_eq!(consumer.assign(orders.clone(), ShardId(0)), Ok(()));
    assert_eq!(consumer.unassign(orders.clone(), ShardId(0)), Ok(()));
    assert_eq!(
        consumer.unassign(orders.clone(), ShardId(0)),
        Err(ConsumerError::NotAssigned { key: orders.clone(), shard: ShardId(0) })
    );
    produce(&streamer, &orders, numbered(0..3)).await;
    let got = take(&mut consumer, 3).await;
    assert!(got.iter().all(|m| m.shard() == ShardId(0)), "{got:?}");
    assert_eq!(seqs(&got), [0, 1, 2]);
}

async fn shards_assigned_at_the_next_rewind<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders.split");
    fx.create_stream(&streamer, &orders, 2);
    let sent = produce(&streamer, &orders, numbered(0..6)).await; // round-robin: even → shard 0, odd → shard 1
    let of_shard =
        |shard: u32| sent.iter().filter(|h| h.shard == ShardId(shard)).cloned().collect::<Vec<_>>();
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    consumer.assign(orders.clone(), ShardId(1)).unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let got = take(&mut consumer, 3).await;
    assert!(got.iter().all(|m| m.shard() == ShardId(1)), "only shard 1 was assigned: {got:?}");
    assert_eq!(seqs(&got), want_seqs(fx, &of_shard(1), &[0, 1, 2]));

    consumer.assign(orders.clone(), ShardId(0)).unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let mut both: Vec<(u32, u64)> =
        take(&mut consumer, 6).await.iter().map(|m| (m.shard().0, m.seq().0)).collect();
    both.sort();
    let mut want: Vec<(u32, u64)> = (0..2)
        .flat_map(|shard| {
            want_seqs(fx, &of_shard(shard), &[0, 1, 2]).into_iter().map(move |seq| (shard, seq))
        })
        .collect();
    want.sort();
    assert_eq!(both, want);

    consumer.unassign(orders.clone(), ShardId(1)).unwrap();
    let third = seq_of(fx, &of_shard(0)[2], 2);
    consumer.rewind(SeqPos::At(third)).await.unwrap();
    let got = take(&mut consumer, 1).await;
    assert_eq!((got[0].shard(), got[0].seq()), (ShardId(0), third));
}

pub async fn assignment_errors<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    assert_eq!(
        consumer.unassign(orders.clone(), ShardId(0)),
        Err(ConsumerError::NotAssigned { key: orders.clone(), shard: ShardId(0) })
    );
    assert_eq!(
        consumer.assign(key("payments"), ShardId(0)),
        Err(ConsumerError::NotSubscribed { key: key("payments") })
    );
}

pub async fn commit_refused_in_realtime<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer =
        ready_consumer(fx, &streamer, std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .await;
    produce(&streamer, &orders, numbered(0..1)).await;
    let message = consumer.next().await.unwrap();
    let refused = if fx.capabilities().commit {
        ConsumerError::CommitRefused { mode: ConsumerMode::RealTime }
    } else {
        unsupported(fx, "commit")
    };
    assert_eq!(consumer.commit(&message.header).await, Err(refused.clone()));
    assert_eq!(consumer.commit_all().await, Err(refused));
}

pub async fn resumable_resumes_after_commit<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let resumable = options(ConsumerMode::Resumable, Some("resume-test"));
    if !fx.capabilities().commit {
        let err = streamer.create_consumer(&[orders], resumable).err();
        let backend = fx.capabilities().backend;
        let what = "Resumable mode".to_owned();
        assert_eq!(err, Some(StreamerError::Options(OptionsError::Unsupported { backend, what })));
        return;
    }
    let mut first = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), resumable.clone()).await;
    produce(&streamer, &orders, numbered(0..5)).await;
    let got = take(&mut first, 3).await;
    first.commit(&got[2].header).await.expect("commit");
    drop(first);

    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap();
    let resumed = take(&mut second, 2).await;
    assert_eq!(payloads(&resumed), ["m3", "m4"], "resumes after the committed message, not at it");
}

pub async fn commit_all_resumes_after_last_delivered<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    if !fx.capabilities().commit {
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .unwrap();
        produce(&streamer, &orders, numbered(0..6)).await;
        take(&mut consumer, 4).await;
        assert_eq!(consumer.commit_all().await, Err(unsupported(fx, "commit")));
        assert_eq!(payloads(&take(&mut consumer, 2).await), ["m4", "m5"]);
        return;
    }
    let resumable = options(ConsumerMode::Resumable, Some("commit-all-test"));
    let mut first = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), resumable.clone()).await;
    produce(&streamer, &orders, numbered(0..6)).await;
    take(&mut first, 4).await;
    first.commit_all().await.expect("commit all");
    drop(first);
    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap();
    assert_eq!(payloads(&take(&mut second, 2).await), ["m4", "m5"]);
}

pub async fn commit_all_covers_only_stored_messages<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    if !fx.capabilities().commit {
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .unwrap();
        produce(&streamer, &orders, numbered(0..4)).await;
        let got = take(&mut consumer, 2).await;
        assert_eq!(consumer.store_offset(&got[1].header), Err(unsupported(fx, "commit")));
        assert_eq!(consumer.commit_all().await, Err(unsupported(fx, "commit")));
        assert_eq!(payloads(&take(&mut consumer, 2).await), ["m2", "m3"]);
        return;
    }
    let mut manual = options(ConsumerMode::Resumable, Some("store-test"));
    manual.set_auto_store(false).set_auto_commit(None);
    let mut first = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), manual.clone()).await;
    produce(&streamer, &orders, numbered(0..6)).await;
    let got = take(&mut first, 4).await;
    first.store_offset(&got[1].header).expect("store m1");
    first.commit_all().await.expect("commit the stored m1");
    drop(first);
    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), manual).unwrap();
    assert_eq!(payloads(&take(&mut second, 4).await), ["m2", "m3", "m4", "m5"], "m2 and m3 were not stored");
}

pub async fn load_balanced_needs_group<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let err = streamer.create_consumer(&[key("orders")], options(ConsumerMode::LoadBalanced, None)).err();
    assert_eq!(
        err,
        Some(StreamerError::Options(OptionsError::GroupRequired { mode: ConsumerMode::LoadBalanced }))
    );
}

pub async fn load_balanced_splits_shards<R: Runtime, F: Fixture>(fx: &F) {
    match fx.groups() {
        Groups::ByShard => load_balanced_by_shard::<R, F>(fx).await,
        Groups::RoundRobin => load_balanced_round_robin::<R, F>(fx).await,
        Groups::FirstAsked => load_balanced_first_asked::<R, F>(fx).await,
    }
}

/// Two joined members of group `workers` on `orders.split`, made with `shards` shards.
async fn two_members<R: Runtime, F: Fixture>(
    fx: &F,
    shards: u32,
) -> (weir::Streamer<R>, StreamKey, weir::Consumer<R>, weir::Consumer<R>) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders.split");
    fx.create_stream(&streamer, &orders, shards);
    let balanced = options(ConsumerMode::LoadBalanced, Some("workers"));
    let a = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), balanced.clone()).await;
    let b = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), balanced).await;
    (streamer, orders, a, b)
}

/// Members share every shard, message by message, each message going to the
/// member that asks first: together they get each message once, with the
/// seq it was stored with.
async fn load_balanced_first_asked<R: Runtime, F: Fixture>(fx: &F) {
    let (streamer, orders, mut a, mut b) = two_members::<R, F>(fx, 3).await;
    let sent = produce(&streamer, &orders, numbered(0..9)).await;
    let mut got: Vec<Message> = Vec::new();
    let both = std::future::poll_fn(|cx| {
        for member in [&mut a, &mut b] {
            // A dropped `next` loses nothing, so both members can be asked at once.
            while let Poll::Ready(message) = std::pin::Pin::new(&mut member.next()).poll(cx) {
                got.push(message.expect("a message"));
            }
        }
        if got.len() >= sent.len() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    within::<R, _>(WAIT, "9 messages from two members", both).await;
    let mut delivered: Vec<(String, u32, u64)> =
        got.iter().map(|m| (m.payload.as_str().unwrap().to_owned(), m.shard().0, m.seq().0)).collect();
    delivered.sort();
    let mut want: Vec<(String, u32, u64)> =
        numbered(0..9).zip(&sent).map(|(payload, h)| (payload, h.shard.0, h.seq.0)).collect();
    want.sort();
    assert_eq!(delivered, want, "each message once, as stored");
}

/// Members share a stream message by message, in turn, in the order they
/// joined; each message keeps its seq.
async fn load_balanced_round_robin<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let balanced = options(ConsumerMode::LoadBalanced, Some("workers"));
    let mut a = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), balanced.clone()).await;
    let mut b = ready_consumer(fx, &streamer, std::slice::from_ref(&orders), balanced).await;
    produce(&streamer, &orders, numbered(0..8)).await;
    let from_a = take(&mut a, 4).await;
    let from_b = take(&mut b, 4).await;
    assert_eq!((payloads(&from_a), seqs(&from_a)), (strings(&["m0", "m2", "m4", "m6"]), vec![0, 2, 4, 6]));
    assert_eq!((payloads(&from_b), seqs(&from_b)), (strings(&["m1", "m3", "m5", "m7"]), vec![1, 3, 5, 7]));
}

async fn load_balanced_by_shard<R: Runtime, F: Fixture>(fx: &F) {
    let (streamer, orders, mut a, mut b) = two_members::<R, F>(fx, 2).await;
    produce(&streamer, &orders, numbered(0..8)).await;
    let from_a = take(&mut a, 4).await;
    let from_b = take(&mut b, 4).await;
    let shard_of = |got: &[Message]| {
        let shard = got[0].shard();
        assert!(got.iter().all(|m| m.shard() == shard), "one shard per member: {got:?}");
        shard
    };
    assert_ne!(shard_of(&from_a), shard_of(&from_b));
    let mut all: Vec<String> = payloads(&from_a).into_iter().chain(payloads(&from_b)).collect();
    all.sort();
    assert_eq!(all, {
        let mut want: Vec<_> = numbered(0..8).collect();
        want.sort();
        want
    });
}

pub async fn dropped_next_loses_nothing<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut consumer =
        ready_consumer(fx, &streamer, std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .await;
    for _ in 0..3 {
        let mut next = consumer.next();
        assert!(poll_once(&mut next).is_pending());
    }
    produce(&streamer, &orders, numbered(0..2)).await;
    {
        // Dropped before it was polled again: the message must wait for the next call.
        let _abandoned = consumer.next();
    }
    assert_eq!(payloads(&take(&mut consumer, 2).await), ["m0", "m1"]);
}

pub async fn dropped_seek_leaves_consumer_usable<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let base = crate::support::recent_base();
    if !fx.capabilities().seek {
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
            .unwrap();
        {
            let mut seek = pin!(consumer.seek(base));
            let polled = seek.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert_eq!(polled, Poll::Ready(Err(unsupported(fx, "seek"))));
        }
        {
            let _seek = consumer.seek(base);
        }
        produce(&streamer, &orders, numbered(0..2)).await;
        assert_eq!(payloads(&take(&mut consumer, 2).await), ["m0", "m1"]);
        return;
    }
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let mut receipts = Vec::new();
    for i in 0..6u64 {
        receipts.push(
            producer
                .send_at(&orders, format!("m{i}"), Some(base.saturating_add(Duration::from_secs(i))))
                .unwrap(),
        );
    }
    producer.flush().await.unwrap();
    let mut sent = Vec::new();
    for receipt in receipts {
        sent.push(receipt.await.unwrap());
    }
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    {
        let mut seek = pin!(consumer.seek(base.saturating_add(Duration::from_secs(2))));
        let _ = seek.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    }
    // The seek was asked for; the next operation completes it.
    assert_eq!(payloads(&take(&mut consumer, 4).await), ["m2", "m3", "m4", "m5"]);
    {
        // Dropped without a single poll, then superseded by a rewind.
        let _seek = consumer.seek(base.saturating_add(Duration::from_secs(4)));
    }
    consumer.rewind(SeqPos::At(seq_of(fx, &sent[1], 1))).await.unwrap();
    assert_eq!(payloads(&take(&mut consumer, 1).await), ["m1"]);
}

pub async fn producer_receipts_and_errors<R: Runtime, F: Fixture>(fx: &F) {
    let streamer = fx.streamer::<R>();
    let orders = key("orders");
    let mut anonymous = streamer.create_producer(ProducerOptions::default()).unwrap();
    assert!(matches!(anonymous.send("x"), Err(ProducerError::NoStream)));
    let mut producer =
        streamer.create_producer(ProducerOptions::default().set_stream(orders.clone()).clone()).unwrap();
    let first = producer.send("a").unwrap().await.unwrap();
    let second = producer.send("b").unwrap().await.unwrap();
    assert_eq!((&first.stream_key, &second.stream_key), (&orders, &orders));
    assert_eq!((first.shard, second.shard), (ShardId(0), ShardId(0)));
    match fx.seqs() {
        Seqs::Contiguous => {
            assert_eq!((first.seq, second.seq), (SeqNo(0), SeqNo(1)), "a new stream numbers from 0")
        }
        Seqs::FromStore => assert!(first.seq < second.seq, "{first:?} then {second:?}"),
    }
    producer.end().await.unwrap();
    assert!(matches!(producer.send("c"), Err(ProducerError::Ended)));
}
