//! Resumable and LoadBalanced consumers: restarts, commits, splitting work,
//! a standby claiming a dead member's entries, and what a rewind does to a group.

use std::collections::BTreeSet;
use std::time::Duration;

use weir::{ConsumerGroup, ConsumerMode, ConsumerOptions, SeqPos};

use crate::common::*;

fn grouped(mode: ConsumerMode, group: &str) -> ConsumerOptions {
    let mut options = ConsumerOptions::new(mode);
    options.set_group(ConsumerGroup::new(group).unwrap()).set_auto_commit(None);
    options
}

/// A consumer that has started (made its group, or pinned its tails: it
/// reported its assignment). Only
/// for a consumer with nothing to read yet: a message that arrives while it
/// waits would be taken and dropped.
pub async fn joined(
    streamer: &weir::Streamer<Rt>,
    stream: &weir::StreamKey,
    options: ConsumerOptions,
) -> weir::Consumer<Rt> {
    let mut consumer = streamer.create_consumer(std::slice::from_ref(stream), options).unwrap();
    for _ in 0..400 {
        if consumer.core().assignment().is_some() {
            return consumer;
        }
        let early = tokio::time::timeout(Duration::from_millis(50), consumer.next()).await;
        assert!(early.is_err(), "nothing to read yet, got {early:?}");
    }
    panic!("no assignment reported within 20 s");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn resumable_restart_resumes_at_the_first_unacknowledged() {
    let ns = namespace("resume");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let options = grouped(ConsumerMode::Resumable, "resume");
    let mut first = joined(&streamer, &orders, options.clone()).await;
    produce(&streamer, &orders, numbered(0..5)).await;
    let got = take(&mut first, 5).await;
    first.commit(&got[2].header).await.expect("commit m2");
    drop(first);
    let pending = python(&format!("print(r.xpending('{ns}orders', '{ns}resume')['pending'])"));
    assert_eq!(pending.trim(), "2", "m0..m2 acknowledged, m3 and m4 pending");

    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), options).unwrap();
    assert_eq!(payloads(&take(&mut second, 2).await), ["m3", "m4"], "own pending entries first");
    produce(&streamer, &orders, numbered(5..6)).await;
    assert_eq!(payloads(&take(&mut second, 1).await), ["m5"], "then new ones");
    second.commit_all().await.expect("commit all");
    let pending = python(&format!("print(r.xpending('{ns}orders', '{ns}resume')['pending'])"));
    assert_eq!(pending.trim(), "0");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn rewind_moves_the_group_for_every_member() {
    let ns = namespace("setid");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let options = grouped(ConsumerMode::Resumable, "setid");
    let mut consumer = joined(&streamer, &orders, options.clone()).await;
    let headers = produce(&streamer, &orders, numbered(0..4)).await;
    take(&mut consumer, 4).await;
    consumer.rewind(SeqPos::At(headers[1].seq)).await.unwrap();
    assert_eq!(payloads(&take(&mut consumer, 3).await), ["m1", "m2", "m3"]);
    let last =
        python(&format!("print([g['last-delivered-id'].decode() for g in r.xinfo_groups('{ns}orders')])"));
    let id = headers[3].seq.0;
    assert_eq!(last.trim(), format!("['{}-{}']", id >> 20, id & 0xf_ffff), "the group's position moved");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn two_members_split_three_shards() {
    let ns = namespace("split");
    // One entry per read, so that both members are served while entries arrive.
    let streamer = streamer(&ns, "batch=1");
    let orders = key("orders");
    match streamer.backend() {
        weir::AnyStreamer::Redis(redis) => redis.create_stream(&orders, 3).unwrap(),
        _ => unreachable!("a redis url"),
    }
    let options = grouped(ConsumerMode::LoadBalanced, "split");
    let mut a = joined(&streamer, &orders, options.clone()).await;
    let mut b = joined(&streamer, &orders, options).await;
    let sent = produce(&streamer, &orders, numbered(0..30)).await;
    assert_eq!(sent.iter().map(|h| h.shard.0).collect::<BTreeSet<_>>(), BTreeSet::from([0, 1, 2]));
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while from_a.len() + from_b.len() < 30 {
        assert!(std::time::Instant::now() < deadline, "{} + {} of 30 after 20 s", from_a.len(), from_b.len());
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), a.next()).await {
            from_a.push(m.unwrap());
        }
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), b.next()).await {
            from_b.push(m.unwrap());
        }
    }
    assert!(
        !from_a.is_empty() && !from_b.is_empty(),
        "both members work: {} and {}",
        from_a.len(),
        from_b.len()
    );
    let mut all: Vec<String> = payloads(&from_a).into_iter().chain(payloads(&from_b)).collect();
    all.sort();
    let mut want: Vec<String> = numbered(0..30).collect();
    want.sort();
    assert_eq!(all, want, "each entry delivered once, none lost");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_standby_claims_a_dead_members_entries() {
    let ns = namespace("claim");
    let streamer = streamer(&ns, "claim.idle.ms=300&claim.interval.ms=100");
    let orders = key("orders");
    let options = grouped(ConsumerMode::LoadBalanced, "claim");
    let mut active = joined(&streamer, &orders, options.clone()).await;
    produce(&streamer, &orders, numbered(0..5)).await;
    assert_eq!(payloads(&take(&mut active, 5).await), ["m0", "m1", "m2", "m3", "m4"]);
    // Dies without acknowledging: its five entries stay pending on it.
    drop(active);

    let mut standby = joined(&streamer, &orders, options).await;
    let claimed = take(&mut standby, 5).await;
    assert_eq!(payloads(&claimed), ["m0", "m1", "m2", "m3", "m4"], "claimed after the idle time");
    standby.commit_all().await.unwrap();
    let pending = python(&format!("print(r.xpending('{ns}orders', '{ns}claim')['pending'])"));
    assert_eq!(pending.trim(), "0");
    // The dead member, idle and with nothing pending, is removed from the group.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let members = python(&format!("print(len(r.xinfo_consumers('{ns}orders', '{ns}claim')))"));
        if members.trim() == "1" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{members} members after 10 s, want 1");
        let _ = tokio::time::timeout(Duration::from_millis(100), standby.next()).await;
    }
}
