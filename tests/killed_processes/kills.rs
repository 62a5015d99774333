//! A consumer process SIGKILLed mid-stream: a Resumable one restarted with
//! its group, and the active member of a LoadBalanced pair whose standby
//! takes over. Either way the next consumer starts exactly at the group's
//! last commit, which the dead one made only for lines it had printed (no
//! gap), and re-prints at most what it printed after that commit.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::checker::{check, Coverage, Order, Run};
use crate::committed::GroupView;
use crate::load::Load;
use crate::moments::{kill_point, Moment};
use crate::printer::Printer;
use crate::{messages, report, step_limit, Summary};

/// For each shard, where the next consumer of the group must start: the
/// committed offset, or the beginning (`auto.offset.reset=earliest`).
fn resume_points(committed: &BTreeMap<u32, u64>, shards: u32) -> BTreeMap<u32, u64> {
    (0..shards).map(|shard| (shard, committed.get(&shard).copied().unwrap_or(0))).collect()
}

/// The dead process's commits cover only what it printed: for every shard,
/// the committed offset is at most one past the last seq it printed.
fn assert_no_gap(killed: &Run, committed: &BTreeMap<u32, u64>) {
    let printed = killed.last_seqs();
    for (shard, at) in committed {
        let next = printed.get(shard).map_or(0, |last| last + 1);
        assert!(
            *at <= next,
            "{}: shard {shard} committed up to {at} but only printed up to {next}: the messages between \
             were marked processed and never printed (lost on restart)",
            killed.name
        );
    }
}

/// The restarted consumer starts each shard exactly at its resume point.
fn assert_resumed_at(resumed: &Run, points: &BTreeMap<u32, u64>) {
    let first = resumed.first_seqs();
    for (shard, seq) in &first {
        assert_eq!(
            Some(seq),
            points.get(shard),
            "{}: shard {shard} resumed at {seq}, not at its commit",
            resumed.name
        );
    }
}

// noida-db 0.2.3 (the shared test broker, `WEIR_KAFKA`) never expires a
// member whose heartbeats stopped, so the scenarios that need the broker to
// notice a death run on a second broker, tansu 0.6 (`WEIR_KAFKA_SESSIONS`,
// see `scripts/kafka-broker`), which enforces `session.timeout.ms` as Kafka
// documents it. What noida-db does, seen with a raw-protocol client
// (JoinGroup v1/v5, SyncGroup, Heartbeat, DescribeGroups; session and
// rebalance timeouts 6 s unless said):
//
// - A member that stops heartbeating stays in the group, Stable, for good:
//   watched 6 minutes, alone or with a second member heartbeating every
//   0.5 s, its connection open or closed. Session timeouts of 6 or 10 s,
//   rebalance timeouts of 6 or 12 s: the same.
// - The session is checked only when the member itself heartbeats: one
//   7.5 s after its previous one gets UNKNOWN_MEMBER_ID and is removed (the
//   group goes Empty), one after 4 s is fine. A SIGKILLed member never
//   heartbeats again, so it is never removed.
// - A JoinGroup from another member starts a rebalance, which completes
//   after the rebalance timeout without the silent member if it was a
//   follower. If it was the leader (the first to join: here the active
//   member), it stays leader: the others' SyncGroup answers
//   REBALANCE_IN_PROGRESS after ~6 s, their rejoin at once with the same
//   generation and the same dead leader, over and over (watched 60 s and,
//   once a rebalance started by itself, 3.5 minutes).
// - Members waiting in a JoinGroup count as silent: when the wait (the
//   rebalance timeout) is at least the session timeout, their next
//   heartbeat gets UNKNOWN_MEMBER_ID and they join again, which starts
//   another rebalance. librdkafka sends `max.poll.interval.ms` as the
//   rebalance timeout and requires it to be at least `session.timeout.ms`,
//   so no setting of it avoids that churn.
// - It has no KIP-848 protocol (its ApiVersions lists no
//   ConsumerGroupHeartbeat), so `group.protocol=consumer` is no way out.
//
// In the load-balanced scenario nothing ever starts a rebalance after the
// kill (no member joins or leaves, the standby's heartbeats succeed): with
// librdkafka, 80 s after the SIGKILL the broker still showed the group
// Stable, `["member-a (assigned)", "member-b (idle)"]`, and the standby had
// printed nothing. A Resumable process restarted as a new member joins a
// group whose only member is the dead leader: the stalled rebalance above.

/// How a restarted Resumable process joins its group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// With the dead process's `group.instance.id` (Kafka's static
    /// membership): it takes the dead member's place and assignment at once.
    Static,
    /// As a new member: the broker must first expire the dead one's session.
    Dynamic,
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn resumable_killed_while_held_resumes_at_its_last_commit() {
    resumable_killed_and_restarted(Membership::Static, Moment::Held);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn resumable_killed_while_streaming_skips_nothing() {
    resumable_killed_and_restarted(Membership::Static, Moment::Streaming);
}

#[test]
#[ignore = "needs tansu: scripts/kafka-broker run --tansu -- cargo test --all-features -- --include-ignored"]
fn resumable_killed_mid_stream_restarts_as_a_new_member() {
    resumable_killed_and_restarted(Membership::Dynamic, Moment::Held);
}

/// At most `bound` re-deliveries, if the moment of the kill gave one.
fn assert_redeliveries(redelivered: u64, bound: Option<u64>, killed: &Run) {
    let Some(bound) = bound else { return };
    assert!(
        redelivered <= bound,
        "{redelivered} messages re-delivered after {} was killed; at most {bound} were printed after its last commit",
        killed.name
    );
}

fn resumable_killed_and_restarted(membership: Membership, moment: Moment) {
    let address = match membership {
        Membership::Static => crate::support::kafka_address(),
        Membership::Dynamic => crate::support::session_broker_address(),
    };
    let started = Instant::now();
    let (produced, shards) = (messages(), 2);
    let load = Load::new(&address, "resume", "orders", shards);
    load.produce(0..produced);
    let mut url = load.consume_url();
    if membership == Membership::Static {
        url.push_str("&group.instance.id=resumer");
    }
    let args = ["consume", &url, "--mode", "resumable", "--group", "resume", "--format", "line"];
    let view = GroupView::new(&address, &load.group("resume"), &load.topic(), shards);

    let first = Printer::spawn("first run", &args, 0);
    let bound = moment.reach(&first, &view, kill_point(produced), produced);
    let first = Run::new("first run", &first.kill());
    assert!(
        u64::try_from(first.records.len()).expect("fits") < produced,
        "the first run printed every message before it was killed: not mid-stream (too few messages for this machine)"
    );
    // Read after the kill: nothing can commit for the dead process any more.
    let committed = view.committed();
    assert_no_gap(&first, &committed);

    let second = Printer::spawn("restart", &args, usize::MAX);
    let mut coverage = Coverage::new(produced, &[&first]);
    let covered = second.try_wait_until("every message was printed", step_limit(), |l| coverage.complete(l));
    if let Err(failure) = covered {
        panic!("{failure}\nthe broker's view: {}", view.describe());
    }
    let second = Run::new("restart", &second.kill());
    assert_resumed_at(&second, &resume_points(&committed, shards));

    let totals = check(produced, &[&first, &second], Order::Contiguous);
    assert_redeliveries(totals.redelivered, bound, &first);
    report(&Summary {
        scenario: match (membership, moment) {
            (Membership::Static, Moment::Held) => "resumable SIGKILL, held",
            (Membership::Static, Moment::Streaming) => "resumable SIGKILL, streaming",
            (Membership::Dynamic, _) => "resumable SIGKILL, new member",
        },
        produced,
        consumed: totals.consumed,
        redelivered: totals.redelivered,
        elapsed: started.elapsed(),
    });
}

#[test]
#[ignore = "needs tansu: scripts/kafka-broker run --tansu -- cargo test --all-features -- --include-ignored"]
fn load_balanced_active_killed_standby_takes_over() {
    let address = crate::support::session_broker_address();
    let started = Instant::now();
    let (produced, shards) = (messages(), 1);
    let load = Load::new(&address, "standby", "orders", shards);
    let view = GroupView::new(&address, &load.group("pair"), &load.topic(), shards);
    // Client ids tell the group's members apart in the broker's view. Each
    // may print one line until the test knows which one is active.
    let spawn = |name: &str| {
        let url = format!("{}&client.id={name}", load.consume_url());
        let args = ["consume", &url, "--mode", "load-balanced", "--group", "pair", "--format", "line"];
        Printer::spawn(name, &args, 1)
    };
    let mut members = vec![spawn("member-a"), spawn("member-b")];
    // Producing only once the group settled makes the active member (the
    // one holding the partition) the only one that ever prints before the kill.
    view.wait_stable(&["member-a", "member-b"], step_limit());
    load.produce(0..produced);
    let at = first_to_print(&members);
    let active = members.remove(at);
    let standby = members.pop().expect("two members");
    standby.set_limit(usize::MAX);

    let bound = Moment::Held.reach(&active, &view, kill_point(produced), produced);
    assert_eq!(standby.count(), 0, "the standby printed while the active member was alive");
    let name = active.name().to_owned();
    let killed = Run::new(&name, &active.kill());
    let committed = view.committed();
    assert_no_gap(&killed, &committed);

    // The standby takes the partition once the broker gives up on the dead
    // member (session.timeout.ms=6000).
    let mut coverage = Coverage::new(produced, &[&killed]);
    let covered = standby.try_wait_until("every message was printed", step_limit(), |l| coverage.complete(l));
    if let Err(failure) = covered {
        panic!("{failure}\nthe broker's view: {}", view.describe());
    }
    let name = standby.name().to_owned();
    let took_over = Run::new(&name, &standby.kill());
    assert_resumed_at(&took_over, &resume_points(&committed, shards));

    let totals = check(produced, &[&killed, &took_over], Order::Contiguous);
    assert_redeliveries(totals.redelivered, bound, &killed);
    report(&Summary {
        scenario: "load-balanced SIGKILL",
        produced,
        consumed: totals.consumed,
        redelivered: totals.redelivered,
        elapsed: started.elapsed(),
    });
}

/// Which of `members` (each let print one line) prints first: the one the
/// group gave the partition (the broker's view does not say on tansu).
fn first_to_print(members: &[Printer]) -> usize {
    let deadline = Instant::now() + step_limit();
    loop {
        if let Some(at) = members.iter().position(|m| m.count() > 0) {
            return at;
        }
        assert!(Instant::now() < deadline, "no member printed within {:?}", step_limit());
        // Polling two processes' output; the bound is the deadline above.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
