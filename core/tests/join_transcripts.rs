//! Golden transcripts of the join state machine: scripted sessions over
//! order × waiting × lateness × bound × errors, driven by `harness::join`,
//! compared with reviewed files in `golden/join_*.txt`.
//! `UPDATE_GOLDEN=1 cargo test -p weir-core --test join_transcripts` rewrites
//! them; read the diff before committing it.

mod harness;

use std::time::Duration;

use harness::golden_text;
use harness::join::{msg, JoinWorld};
use weir_core::{ErrorPolicy, JoinError, JoinOptions, Joined, LatePolicy, SourceId};

fn options(max_wait_ms: Option<u64>, edit: impl FnOnce(&mut JoinOptions)) -> JoinOptions {
    let mut options = JoinOptions::new();
    options.set_max_wait(max_wait_ms.map(Duration::from_millis));
    edit(&mut options);
    options
}

fn golden(name: &str, about: &str, world: &JoinWorld) {
    golden_text(&format!("join_{name}"), &format!("# {about}\n{}", world.log));
}

/// `stream/seq` of each message, in output order.
fn names(out: &[Joined]) -> Vec<String> {
    out.iter().map(|j| format!("{}/{}", j.message.header.stream_key, j.message.header.seq)).collect()
}

#[test]
fn three_sources_in_time_order() {
    let mut w = JoinWorld::new(options(None, |_| {}), 3);
    w.feed(0, msg("orders", 0, 0, 10));
    w.feed(0, msg("orders", 0, 1, 40));
    w.feed(1, msg("payments", 0, 0, 20));
    assert!(w.drain().is_empty(), "source 2 has said nothing: it may still send something older");
    w.feed(2, msg("refunds", 0, 0, 30));
    let out = w.drain();
    assert_eq!(names(&out), ["orders/0", "payments/0"], "refunds/0 waits: source 1 has nothing now");
    w.end(1, None);
    assert_eq!(names(&w.drain()), ["refunds/0"], "orders/1 waits for source 2, empty now");
    w.end(2, None);
    assert_eq!(names(&w.drain()), ["orders/1"]);
    w.end(0, None);
    assert!(w.drain().is_empty());
    assert_eq!(w.errors, [JoinError::EndOfStream]);
    golden(
        "three_sources_in_time_order",
        "Unbounded wait: strict order; ended sources hold nothing back",
        &w,
    );
}

#[test]
fn equal_timestamps_by_key_shard_seq_then_source() {
    let mut w = JoinWorld::new(options(None, |_| {}), 2);
    w.feed(0, msg("orders", 1, 7, 50));
    w.feed(0, msg("orders", 1, 8, 50));
    w.feed(1, msg("orders", 0, 9, 50));
    w.feed(1, msg("audit", 0, 3, 50));
    w.end(0, None);
    w.end(1, None);
    let out = w.drain();
    // Source 1's audit is behind its orders/0/9: a source's order is kept, so
    // it comes out late (older in join order than orders/0/9 emitted before it).
    assert_eq!(names(&out), ["orders/9", "audit/3", "orders/7", "orders/8"]);
    assert!(out[1].late && !out[0].late && !out[2].late);
    golden(
        "equal_timestamps",
        "Equal timestamps: by stream key, then shard, then seq; a source's own order is kept",
        &w,
    );
}

#[test]
fn silent_source_holds_back_at_most_max_wait() {
    let mut w = JoinWorld::new(options(Some(100), |_| {}), 2);
    w.feed(0, msg("orders", 0, 0, 10));
    assert!(w.drain().is_empty());
    w.advance(99);
    assert!(w.drain().is_empty(), "99ms: source 1 still holds the output back");
    w.advance(1);
    assert_eq!(names(&w.drain()), ["orders/0"], "100ms: the wait for source 1 is over");
    w.feed(0, msg("orders", 0, 1, 20));
    assert_eq!(names(&w.drain()), ["orders/1"], "source 1 stays expired until it delivers");
    w.advance(50);
    w.feed(1, msg("payments", 0, 0, 30));
    w.feed(0, msg("orders", 0, 2, 60));
    assert_eq!(names(&w.drain()), ["payments/0"], "orders/2 waits: source 1 became empty just now");
    w.advance(100);
    assert_eq!(names(&w.drain()), ["orders/2"]);
    golden("silent_source_holds_back", "max_wait 100ms: a silent source holds the output back 100ms", &w);
}

#[test]
fn late_message_delivered_marked() {
    let mut w = JoinWorld::new(options(Some(100), |_| {}), 2);
    w.feed(0, msg("orders", 0, 0, 500));
    w.advance(100);
    assert_eq!(names(&w.drain()), ["orders/0"]);
    w.feed(1, msg("payments", 0, 0, 200));
    let out = w.drain();
    assert_eq!(names(&out), ["payments/0"]);
    assert!(out[0].late, "older than orders/0, emitted already");
    assert_eq!((w.core.late(), w.core.dropped()), (1, 0));
    assert_eq!(w.core.reached(), Some(harness::ts(500)), "a late message does not move the output back");
    golden("late_delivered_marked", "LatePolicy::Deliver: a late message comes out at once, marked", &w);
}

#[test]
fn late_message_dropped_and_counted() {
    let mut w = JoinWorld::new(
        options(Some(100), |o| {
            o.set_late(LatePolicy::Drop);
        }),
        2,
    );
    w.feed(0, msg("orders", 0, 0, 500));
    w.advance(100);
    assert_eq!(names(&w.drain()), ["orders/0"]);
    w.feed(1, msg("payments", 0, 0, 200));
    w.feed(1, msg("payments", 0, 1, 700));
    w.feed(0, msg("orders", 0, 1, 600));
    assert_eq!(names(&w.drain()), ["orders/1"], "payments/1 waits for source 0, empty now");
    w.end(0, None);
    assert_eq!(names(&w.drain()), ["payments/1"]);
    assert_eq!(w.core.dropped(), 1);
    golden("late_dropped", "LatePolicy::Drop: a late message is dropped and counted", &w);
}

#[test]
fn late_message_fails_the_join() {
    let mut w = JoinWorld::new(
        options(Some(100), |o| {
            o.set_late(LatePolicy::Fail);
        }),
        2,
    );
    w.feed(0, msg("orders", 0, 0, 500));
    w.advance(100);
    assert_eq!(names(&w.drain()), ["orders/0"]);
    w.feed(0, msg("orders", 0, 1, 600));
    w.feed(1, msg("payments", 0, 0, 200));
    assert!(w.drain().is_empty(), "the late message ends the join; orders/1 stays undelivered");
    assert!(matches!(&w.errors[..], [JoinError::Late { input: SourceId(1), .. }]), "{:?}", w.errors);
    assert!(!w.core.has_room(SourceId(0)), "nothing more is taken");
    golden("late_fails", "LatePolicy::Fail: a late message ends the join with an error naming it", &w);
}

#[test]
fn full_source_takes_no_more() {
    let mut w = JoinWorld::new(
        options(None, |o| {
            o.set_buffer(2);
        }),
        2,
    );
    assert!(w.feed(0, msg("orders", 0, 0, 10)));
    assert!(w.feed(0, msg("orders", 0, 1, 20)));
    assert!(!w.feed(0, msg("orders", 0, 2, 30)), "two held: source 0 is full");
    assert!(w.drain().is_empty());
    w.feed(1, msg("payments", 0, 0, 15));
    w.feed(1, msg("payments", 0, 1, 40));
    assert_eq!(names(&w.drain()), ["orders/0", "payments/0", "orders/1"]);
    assert!(w.core.has_room(SourceId(0)), "room again once messages went out");
    golden("full_source", "buffer 2: a full source is not fed until its messages go out", &w);
}

#[test]
fn failing_source_ends_the_join_after_the_buffered() {
    let mut w = JoinWorld::new(options(None, |_| {}), 3);
    w.feed(0, msg("orders", 0, 0, 10));
    w.feed(1, msg("payments", 0, 0, 20));
    w.feed(1, msg("payments", 0, 1, 30));
    w.end(2, Some("disk gone"));
    assert!(!w.core.has_room(SourceId(0)), "nothing more is taken once a source failed");
    assert_eq!(names(&w.drain()), ["orders/0", "payments/0", "payments/1"]);
    assert!(
        matches!(&w.errors[..], [JoinError::Source { input: SourceId(2), .. }]),
        "then the failure: {:?}",
        w.errors
    );
    golden("failing_source_ends", "ErrorPolicy::EndJoin: buffered messages out, then the source's error", &w);
}

#[test]
fn failing_source_left_out_keep_going() {
    let mut w = JoinWorld::new(
        options(None, |o| {
            o.set_on_error(ErrorPolicy::KeepGoing);
        }),
        2,
    );
    w.feed(0, msg("orders", 0, 0, 10));
    w.feed(1, msg("payments", 0, 0, 5));
    w.end(1, Some("broker refused"));
    assert_eq!(names(&w.drain()), ["payments/0", "orders/0"]);
    w.feed(0, msg("orders", 0, 1, 20));
    assert_eq!(names(&w.drain()), ["orders/1"], "the failed source holds nothing back");
    w.end(0, None);
    w.drain();
    assert!(matches!(
        &w.errors[..],
        [JoinError::SourceLeftOut { input: SourceId(1), .. }, JoinError::EndOfStream]
    ));
    assert!(!w.errors[0].is_terminal() && w.errors[1].is_terminal());
    golden(
        "failing_source_left_out",
        "ErrorPolicy::KeepGoing: the failure is reported once, the rest flows",
        &w,
    );
}
