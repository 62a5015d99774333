//! Two `weir consume --mode load-balanced` processes in one group over
//! 100,000 messages on 3 shards; the first is SIGKILLed with entries
//! pending on it. The other claims them (XAUTOCLAIM after `claim.idle.ms`)
//! and finishes: every message printed, the group acknowledges all, and
//! the dead member is removed from the group.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::process::Consume;

const MESSAGES: u32 = 100_000;
const SHARDS: u32 = 3;
/// Longer than a living member holds an entry before its commit (every 5 s,
/// after up to a few seconds of lines in its pipe), so that only the dead
/// member's entries are claimed.
const CLAIM_IDLE_MS: u64 = 15_000;

/// The payloads of the entries pending in `group` on members whose name
/// starts with `prefix`, over the shard keys of `key`, one a line.
fn pending_on(key: &str, group: &str, prefix: &str) -> BTreeSet<String> {
    let out = python(&format!(
        "for s in range({SHARDS}):\n    k = '{key}:%d' % s\n    \
         for p in r.xpending_range(k, '{group}', '-', '+', 10**6):\n        \
         if p['consumer'].decode().startswith('{prefix}'):\n            \
         print(r.xrange(k, p['message_id'], p['message_id'])[0][1][b'msg'].decode())"
    ));
    out.lines().map(str::to_owned).collect()
}

/// Entries pending in `group` and its members, summed over the shard keys.
fn group_state(key: &str, group: &str) -> (u64, usize) {
    let out = python(&format!(
        "ks = ['{key}:%d' % s for s in range({SHARDS})]\n\
         print(sum(r.xpending(k, '{group}')['pending'] for k in ks), \
         max(len(r.xinfo_consumers(k, '{group}')) for k in ks))"
    ));
    let (pending, members) = out.trim().split_once(' ').expect("two numbers");
    (pending.parse().expect("a count"), members.parse().expect("a count"))
}

/// Hands `consume`'s lines to `take` until it says done; fails after
/// `limit`, naming `what`.
fn read_until(consume: &mut Consume, limit: Duration, what: &str, mut take: impl FnMut(String) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        match consume.line_within(Duration::from_millis(200)) {
            Ok(Some(line)) => {
                if take(line) {
                    return;
                }
            }
            Ok(None) => {}
            Err(end) => panic!("{what}: {end}; stderr: {}", consume.stderr()),
        }
    }
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_standby_finishes_what_a_killed_member_left_pending() {
    let ns = namespace("standby");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    match streamer.backend() {
        weir::AnyStreamer::Redis(redis) => redis.create_stream(&orders, SHARDS).unwrap(),
        _ => unreachable!("a redis url"),
    }
    let mut producer = streamer.create_producer(weir::ProducerOptions::default()).unwrap();
    for i in 0..MESSAGES {
        drop(producer.send_to(&orders, i.to_string()).unwrap());
    }
    producer.flush_within(Duration::from_secs(120)).await.expect("100k stored");

    let url = format!(
        "redis://{}/orders?namespace={ns}&group.start=beginning&claim.idle.ms={CLAIM_IDLE_MS}&claim.interval.ms=200",
        address()
    );
    let args = ["consume", &url, "--mode", "load-balanced", "--group", "g", "--format", "payload"];
    let (key, group) = (format!("{ns}orders"), format!("{ns}g"));
    let limit = Duration::from_secs(120);

    let mut active = Consume::spawn(&args);
    let mut by_active = BTreeSet::new();
    read_until(&mut active, limit, "the active member printing 20,000", |line| {
        by_active.insert(line);
        by_active.len() >= 20_000
    });
    let mut standby = Consume::spawn(&args);
    let mut by_standby = BTreeSet::new();
    // Both read on (Redis hands each entry to whichever member asks first)
    // until the standby has joined and printed.
    read_until(&mut standby, limit, "the standby printing", |line| by_standby.insert(line));
    read_until(&mut active, limit, "the active member printing 10,000 more", |line| {
        by_active.insert(line);
        by_active.len() >= 30_000
    });

    // While both live, no entry goes to both: a member claims only entries
    // idle `claim.idle.ms`, longer than a living member holds one.
    let twice: Vec<String> = by_active.intersection(&by_standby).take(5).cloned().collect();
    let dead = format!("weir-{}-", active.pid());
    active.kill();
    // At once: claims begin `claim.idle.ms` after the entries' delivery.
    let left = pending_on(&key, &group, &dead);
    by_active.extend(active.rest(Duration::from_secs(20)));
    assert!(!left.is_empty(), "the active member died with entries pending on it");

    let all = MESSAGES as usize;
    let mut union: BTreeSet<String> = by_active.union(&by_standby).cloned().collect();
    // The standby prints every entry left pending on the dead member (some
    // of which it had printed, unacknowledged) once it has claimed them.
    let mut unclaimed = left.clone();
    read_until(&mut standby, limit, "the standby printing what is left", |line| {
        unclaimed.remove(&line);
        union.insert(line);
        union.len() == all && unclaimed.is_empty()
    });
    // The standby commits (every 5 s) and removes the dead member (idle,
    // nothing pending once claimed).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (pending, members) = group_state(&key, &group);
        if pending == 0 && members == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "after 30 s: {pending} pending, {members} members (want 0, 1)");
        let _ = standby.line_within(Duration::from_millis(200));
    }
    standby.kill();
    assert!(twice.is_empty(), "entries printed by both members while both lived: {twice:?}");
}
