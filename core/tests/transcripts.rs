//! Golden transcripts of the consumer state machine: scripted sessions over
//! mode × assign × rewind × seek × commit, driven by the model backend of
//! `harness`, rendered as text and compared with reviewed files in `golden/`.
//! `UPDATE_GOLDEN=1 cargo test -p weir-core --test transcripts` rewrites them;
//! read the diff before committing it: a golden file is a reviewed expectation.

mod harness;

use std::time::Duration;

use harness::{golden_text, ts, Broker, Knobs, World};
use weir_core::{Capabilities, ConsumerCore, ConsumerGroup, ConsumerMode, ConsumerOptions, SeqNo, SeqPos};

/// What stdio consumers can do: the backend's own constant.
const STDIO: Capabilities = weir_stdio::CAPABILITIES;

fn full() -> Capabilities {
    Capabilities::full("model")
}

fn options(mode: ConsumerMode, edit: impl FnOnce(&mut ConsumerOptions)) -> ConsumerOptions {
    let mut options = ConsumerOptions::new(mode);
    if mode == ConsumerMode::LoadBalanced {
        options.set_group(ConsumerGroup::new("workers").expect("valid group"));
    }
    edit(&mut options);
    options
}

fn world(mode: ConsumerMode, streams: &[(&str, u32, usize)], knobs: Knobs) -> World {
    let names: Vec<&str> = streams.iter().map(|(s, _, _)| *s).collect();
    World::new(full(), options(mode, |_| {}), &names, broker(streams), knobs)
}

/// Compares `transcript` with `golden/<name>.txt`, or rewrites it under `UPDATE_GOLDEN=1`.
fn golden(name: &str, about: &str, world: &World) {
    golden_text(name, &format!("# {about}\n{}", world.log));
}

#[test]
fn realtime_rewind_to_beginning() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 1, 3)], Knobs::default());
    assert!(w.deliver(1).is_empty(), "RealTime starts at the end");
    w.produce("orders", 0, 2);
    assert_eq!(seqs(&w.deliver(2)), [3, 4]);
    w.rewind(SeqPos::Beginning).expect("rewind");
    assert_eq!(seqs(&w.deliver_all()), [0, 1, 2, 3, 4]);
    golden("realtime_rewind_to_beginning", "RealTime: only new messages, then rewind to the beginning", &w);
}

#[test]
fn assign_two_shards_then_rewind_at() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 2, 5)], Knobs::default());
    w.assign("orders", 0).expect("assign");
    w.assign("orders", 1).expect("assign");
    w.rewind(SeqPos::At(SeqNo(3))).expect("rewind");
    assert_eq!(seqs(&w.deliver_all()), [3, 4, 3, 4]);
    w.rewind(SeqPos::At(SeqNo(10))).expect("rewind past the end");
    w.produce("orders", 1, 1);
    assert_eq!(seqs(&w.deliver_all()), [5]);
    golden(
        "assign_two_shards_then_rewind_at",
        "RealTime: assign two shards, rewind At(3), then At(10) (clamped to the end)",
        &w,
    );
}

#[test]
fn unassign_then_seek() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 2, 5)], Knobs::default());
    w.assign("orders", 0).expect("assign");
    w.assign("orders", 1).expect("assign");
    w.rewind(SeqPos::Beginning).expect("rewind");
    w.deliver(3);
    w.unassign("orders", 1).expect("unassign");
    assert!(w.unassign("orders", 1).is_err(), "not assigned any more");
    assert!(w.assign("payments", 0).is_err(), "not subscribed");
    w.seek(ts(2500)).expect("seek");
    assert_eq!(seqs(&w.deliver_all()), [3, 4], "orders/0 only, from the first message at or after t+2500ms");
    golden("unassign_then_seek", "RealTime: unassign takes effect on the next seek; seek to t+2500ms", &w);
}

#[test]
fn resumable_commit_then_restart() {
    let no_auto = options(ConsumerMode::Resumable, |o| {
        o.set_auto_commit(None);
    });
    let mut w =
        World::new(full(), no_auto.clone(), &["orders"], broker(&[("orders", 1, 5)]), Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    let delivered = w.deliver(3);
    w.commit(&delivered[1].header).expect("commit");
    assert_eq!(w.broker.offsets.values().copied().collect::<Vec<_>>(), [SeqNo(2)]);
    let mut later = delivered[2].header.clone();
    later.seq = SeqNo(4);
    assert!(w.commit(&later).is_err(), "seq 4 was not delivered");
    w.restart(no_auto);
    assert_eq!(seqs(&w.deliver_all()), [2, 3, 4], "resumes after the committed message");
    golden("resumable_commit_then_restart", "Resumable: commit seq 1, restart: resumes at seq 2", &w);
}

#[test]
fn auto_commit_after_the_interval() {
    let mut w = world(ConsumerMode::Resumable, &[("orders", 1, 5)], Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    w.deliver(2);
    w.advance(Duration::from_millis(4999));
    assert!(w.broker.offsets.is_empty(), "not due yet");
    w.advance(Duration::from_millis(1));
    assert_eq!(w.broker.offsets.values().copied().collect::<Vec<_>>(), [SeqNo(2)]);
    w.advance(Duration::from_secs(5));
    w.deliver(1);
    w.advance(Duration::from_secs(5));
    assert_eq!(w.broker.offsets.values().copied().collect::<Vec<_>>(), [SeqNo(3)]);
    assert_eq!(w.commit_all(), Ok(None), "the auto-commit sent everything");
    golden("auto_commit_after_the_interval", "Resumable: auto-commit every 5s sends only news", &w);
}

#[test]
fn manual_store_commits_only_what_was_stored() {
    let manual = options(ConsumerMode::Resumable, |o| {
        o.set_auto_store(false);
    });
    let mut w =
        World::new(full(), manual.clone(), &["orders"], broker(&[("orders", 1, 6)]), Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    let delivered = w.deliver(4);
    w.advance(Duration::from_secs(5));
    assert!(w.broker.offsets.is_empty(), "delivered but not stored: the auto-commit sends nothing");
    assert_eq!(w.commit_all(), Ok(None), "nothing stored yet");
    w.store_offset(&delivered[1].header).expect("store seq 1");
    let mut undelivered = delivered[3].header.clone();
    undelivered.seq = SeqNo(5);
    assert!(w.store_offset(&undelivered).is_err(), "seq 5 was not delivered");
    w.advance(Duration::from_secs(5));
    assert_eq!(
        w.broker.offsets.values().copied().collect::<Vec<_>>(),
        [SeqNo(2)],
        "resume after the stored seq 1"
    );
    w.store_offset(&delivered[2].header).expect("store seq 2");
    assert!(w.commit_all().expect("commit_all").is_some(), "the stored seq 2 is news");
    assert_eq!(w.broker.offsets.values().copied().collect::<Vec<_>>(), [SeqNo(3)]);
    w.restart(manual);
    assert_eq!(seqs(&w.deliver_all()), [3, 4, 5], "delivered seq 3 was never stored: it comes again");
    golden(
        "manual_store_commits_only_what_was_stored",
        "Resumable, auto_store off: commits cover stored messages only",
        &w,
    );
}

#[test]
fn store_offset_needs_manual_storing() {
    let mut w = world(ConsumerMode::Resumable, &[("orders", 1, 2)], Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    let delivered = w.deliver(1);
    assert_eq!(w.store_offset(&delivered[0].header), Err(weir_core::ConsumerError::AutoStore));
    let mut rt = world(ConsumerMode::RealTime, &[("orders", 1, 2)], Knobs::default());
    rt.produce("orders", 0, 1);
    let delivered = rt.deliver(1);
    assert!(
        matches!(rt.store_offset(&delivered[0].header), Err(weir_core::ConsumerError::CommitRefused { .. })),
        "RealTime never commits"
    );
}

#[test]
fn backpressure_pauses_and_resumes() {
    let small = options(ConsumerMode::RealTime, |o| {
        o.set_buffer(4);
    });
    let knobs = Knobs { batch: 3, ..Knobs::default() };
    let mut w = World::new(full(), small, &["orders"], broker(&[("orders", 1, 10)]), knobs);
    w.rewind(SeqPos::Beginning).expect("rewind");
    assert!(w.backend_paused());
    w.deliver(3);
    assert!(w.backend_paused(), "3 left of 6: more than half of 4");
    w.deliver(1);
    assert_eq!(seqs(&w.deliver_all()), [4, 5, 6, 7, 8, 9]);
    golden(
        "backpressure_pauses_and_resumes",
        "Backpressure: buffer 4, batches of 3: Pause at 4+, Resume at 2",
        &w,
    );
}

#[test]
fn rewind_while_paused_restarts_feeding() {
    let small = options(ConsumerMode::RealTime, |o| {
        o.set_buffer(2);
    });
    let knobs = Knobs { batch: 2, ..Knobs::default() };
    let mut w = World::new(full(), small, &["orders"], broker(&[("orders", 1, 6)]), knobs);
    w.rewind(SeqPos::Beginning).expect("rewind");
    assert!(w.backend_paused());
    w.rewind(SeqPos::At(SeqNo(4))).expect("rewind while paused");
    assert_eq!(seqs(&w.deliver_all()), [4, 5]);
    golden(
        "rewind_while_paused_restarts_feeding",
        "A Position restarts a paused backend without a Resume",
        &w,
    );
}

#[test]
fn loadbalanced_assign_refused() {
    let mut w = world(ConsumerMode::LoadBalanced, &[("orders", 2, 2)], Knobs::default());
    assert!(w.assign("orders", 0).is_err());
    assert!(w.unassign("orders", 0).is_err());
    w.rewind(SeqPos::Beginning).expect("rewind the group's shards");
    let delivered = w.deliver_all();
    assert_eq!(seqs(&delivered), [0, 1, 0, 1]);
    w.commit(&delivered[3].header).expect("LoadBalanced commits");
    golden(
        "loadbalanced_assign_refused",
        "LoadBalanced: the group assigns; rewind moves the group's shards",
        &w,
    );
}

#[test]
fn loadbalanced_rebalance_while_paused_resumes() {
    let small = options(ConsumerMode::LoadBalanced, |o| {
        o.set_buffer(4);
    });
    let knobs = Knobs { batch: 4, ..Knobs::default() };
    let mut broker = broker(&[("orders", 2, 3)]);
    broker.fill("orders", 0, 3);
    let mut w = World::new(full(), small, &["orders"], broker, knobs);
    w.rewind(SeqPos::Beginning).expect("rewind");
    assert!(w.backend_paused(), "orders/0 filled the buffer");
    w.rebalance(&[("orders", 1)]);
    assert_eq!(seqs(&w.deliver_all()), [0, 1, 2], "orders/1 must still be fed: {:?}", w.unfed());
    golden(
        "loadbalanced_rebalance_while_paused_resumes",
        "LoadBalanced: a rebalance empties a paused buffer; the backend must be resumed",
        &w,
    );
}

#[test]
fn realtime_commit_refused() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 1, 2)], Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    let delivered = w.deliver(1);
    assert!(w.commit(&delivered[0].header).is_err());
    assert!(w.commit_all().is_err());
    golden("realtime_commit_refused", "RealTime: commit and commit_all are refused", &w);
}

#[test]
fn stdio_like_backend_refuses() {
    let resumable = options(ConsumerMode::Resumable, |_| {});
    let refused = ConsumerCore::new(STDIO, resumable, vec![harness::key("orders")], harness::start());
    let refusal = refused.expect_err("stdio cannot resume");
    let mut text = "# stdio-like backend: no Resumable, shard 1, rewind, seek or commit\n".to_owned();
    text.push_str(&format!("(new Resumable consumer on stdio -> error: {refusal})\n"));
    let stdio_world = |mode| {
        World::new(STDIO, options(mode, |_| {}), &["orders"], broker(&[("orders", 1, 0)]), Knobs::default())
    };
    let mut w = stdio_world(ConsumerMode::RealTime);
    assert!(w.assign("orders", 1).is_err(), "stdio has one shard");
    w.assign("orders", 0).expect("shard 0 exists");
    assert!(w.rewind(SeqPos::Beginning).is_err());
    assert!(w.seek(ts(0)).is_err());
    w.produce("orders", 0, 2);
    let delivered = w.deliver_all();
    assert_eq!(seqs(&delivered), [0, 1], "stdio consumers read from the moment they exist");
    assert!(w.commit(&delivered[0].header).is_err());
    let mut lb = stdio_world(ConsumerMode::LoadBalanced);
    lb.produce("orders", 0, 1);
    let delivered = lb.deliver_all();
    assert!(lb.commit(&delivered[0].header).is_err());
    golden_text("stdio_like_backend_refuses", &(text + &w.log + &lb.log));
}

#[test]
fn stale_messages_during_positioning_are_dropped() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 1, 3)], Knobs::default());
    w.produce("orders", 0, 2);
    w.delay_positions(Duration::from_millis(100));
    w.rewind(SeqPos::At(SeqNo(1))).expect("rewind");
    w.produce("orders", 0, 2);
    assert!(w.deliver(1).is_empty(), "fed from the old position: stale");
    w.advance(Duration::from_millis(100));
    assert_eq!(seqs(&w.deliver_all()), [1, 2, 3, 4, 5, 6]);
    golden(
        "stale_messages_during_positioning_are_dropped",
        "Messages fed while a rewind is pending are dropped",
        &w,
    );
}

#[test]
fn superseded_rewind_is_ignored() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 1, 5)], Knobs::default());
    w.delay_positions(Duration::from_millis(100));
    w.rewind(SeqPos::Beginning).expect("rewind");
    w.advance(Duration::from_millis(50));
    w.seek(ts(3000)).expect("seek");
    w.advance(Duration::from_millis(50));
    assert!(w.deliver(1).is_empty(), "epoch 1 was superseded: its messages are stale");
    w.advance(Duration::from_millis(50));
    assert_eq!(seqs(&w.deliver_all()), [3, 4]);
    golden(
        "superseded_rewind_is_ignored",
        "A seek supersedes a pending rewind: only the seek's messages",
        &w,
    );
}

#[test]
fn failed_positioning_then_retry() {
    let mut w = world(ConsumerMode::RealTime, &[("orders", 1, 4)], Knobs::default());
    w.fail_next_position();
    w.rewind(SeqPos::Beginning).expect("the rewind is accepted; its outcome fails");
    assert!(w.deliver(1).is_empty());
    w.rewind(SeqPos::At(SeqNo(2))).expect("rewind");
    assert_eq!(seqs(&w.deliver_all()), [2, 3]);
    golden("failed_positioning_then_retry", "A failed positioning delivers nothing; the next one works", &w);
}

#[test]
fn a_failed_input_fails_the_pending_positioning() {
    use weir_core::{BackendError, BackendErrorKind, ConsumerError};
    let mut core = ConsumerCore::new(
        full(),
        options(ConsumerMode::RealTime, |_| {}),
        vec![harness::key("orders")],
        harness::start(),
    )
    .expect("valid options");
    let epoch = core.rewind(SeqPos::Beginning).expect("rewind");
    assert!(core.poll_command().is_some(), "the positioning is asked for");
    assert_eq!(core.poll_positioned(epoch), None, "pending");
    // The backend cannot reach its server: it will never answer the positioning.
    let err = BackendError::new("model", BackendErrorKind::Connect, "connection refused");
    core.handle_end(Some(err.clone()));
    assert_eq!(core.poll_positioned(epoch), Some(Err(ConsumerError::Backend(err))));
}

#[test]
fn failed_commit_is_retried_by_commit_all() {
    let no_auto = options(ConsumerMode::Resumable, |o| {
        o.set_auto_commit(None);
    });
    let mut w = World::new(full(), no_auto, &["orders"], broker(&[("orders", 1, 3)]), Knobs::default());
    w.rewind(SeqPos::Beginning).expect("rewind");
    w.deliver(2);
    w.fail_next_commit();
    w.commit_all().expect("accepted; its outcome fails");
    assert!(w.broker.offsets.is_empty());
    assert!(w.commit_all().expect("retry").is_some(), "the failed offsets are news again");
    assert_eq!(w.broker.offsets.values().copied().collect::<Vec<_>>(), [SeqNo(2)]);
    golden(
        "failed_commit_is_retried_by_commit_all",
        "A failed commit leaves its offsets to the next commit",
        &w,
    );
}

fn broker(streams: &[(&str, u32, usize)]) -> Broker {
    let mut broker = Broker::new(&streams.iter().map(|(s, n, _)| (*s, *n)).collect::<Vec<_>>());
    for (stream, shards, count) in streams {
        (0..*shards).for_each(|shard| broker.fill(stream, shard, *count));
    }
    broker
}

fn seqs(messages: &[weir_core::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.header.seq.0).collect()
}
