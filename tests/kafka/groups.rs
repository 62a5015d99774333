//! LoadBalanced: the broker's group protocol splits partitions; a standby
//! takes over a partition without losing a message. Resumable: a restart
//! resumes after the last commit, in the host-id group.

use std::future::Future;

use weir::{ConsumerMode, SeqNo};

use crate::common::*;

fn balanced(streamer: &Streamer, key: &weir::StreamKey, n: usize) -> Vec<Consumer> {
    let options = options(ConsumerMode::LoadBalanced, Some("workers"));
    (0..n)
        .map(|_| streamer.create_consumer(std::slice::from_ref(key), options.clone()).expect("consumer"))
        .collect()
}

/// Each member takes every message of its partitions, and together they take all.
fn split_check(consumers: &mut [Consumer], want: &[usize], streamer: &Streamer, key: &weir::StreamKey) {
    {
        let mut refs: Vec<&mut Consumer> = consumers.iter_mut().collect();
        settle(&mut refs, |sizes| {
            let mut sizes = sizes.to_vec();
            sizes.sort_unstable();
            sizes == want
        });
    }
    produce(streamer, key, numbered(0..12));
    let mut all = Vec::new();
    for consumer in consumers.iter_mut() {
        let shards = consumer.core().assignment().cloned().unwrap_or_default();
        // Round-robin production: 12 messages over the topic's partitions.
        let partitions: usize = want.iter().sum();
        let got = take(consumer, shards.len() * 12 / partitions);
        assert!(
            got.iter().all(|m| shards.contains(&(m.stream_key().clone(), m.shard()))),
            "a member only gets its own partitions: {got:?}"
        );
        all.extend(payloads(&got));
    }
    assert_eq!(sorted(all), sorted(names(0..12)));
}

/// Drives `consumer` until the broker acknowledged an automatic commit that
/// resumes at `at`; the driver's timer wakes this wait, nothing sleeps.
fn wait_for_auto_commit(consumer: &mut Consumer, at: SeqNo) {
    let what = format!("an automatic commit acknowledged at {at:?}");
    let acknowledged = std::future::poll_fn(|cx| {
        let mut next = consumer.next();
        if let std::task::Poll::Ready(got) = std::pin::Pin::new(&mut next).poll(cx) {
            panic!("nothing more was produced, got {got:?}");
        }
        drop(next);
        let committed: Vec<_> = consumer.core().committed().collect();
        match committed[..] {
            [(_, seq)] if seq == at => std::task::Poll::Ready(()),
            _ => std::task::Poll::Pending,
        }
    });
    weir::block_on(crate::support::within::<weir::NoRuntime, _>(
        std::time::Duration::from_secs(30),
        &what,
        acknowledged,
    ));
}

/// A streamer whose groups use the cooperative-sticky (incremental) protocol.
fn cooperative(address: &str, namespace: &str) -> Streamer {
    let url = format!("{}&partition.assignment.strategy=cooperative-sticky", url(address, namespace));
    weir::connect(&url).expect("kafka url")
}

/// Two members of a group on a topic of as many partitions as `want` sums
/// up to: they split them `want` ways.
fn two_members_split(streamer: Streamer, want: &[usize]) {
    let orders = key("orders");
    let partitions = u32::try_from(want.iter().sum::<usize>()).expect("few partitions");
    create_stream(&streamer, &orders, partitions);
    let mut consumers = balanced(&streamer, &orders, 2);
    split_check(&mut consumers, want, &streamer, &orders);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn two_consumers_two_partitions_one_each() {
    two_members_split(streamer(&broker(), &namespace("lb22")), &[1, 1]);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn two_consumers_three_partitions_two_and_one() {
    two_members_split(streamer(&broker(), &namespace("lb23")), &[1, 2]);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn cooperative_sticky_two_consumers_three_partitions_two_and_one() {
    two_members_split(cooperative(&broker(), &namespace("coop23")), &[1, 2]);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn one_partition_three_consumers_standby_takes_over() {
    standby_takes_over(streamer(&broker(), &namespace("standby")));
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn cooperative_sticky_standby_takes_over() {
    standby_takes_over(cooperative(&broker(), &namespace("coopstandby")));
}

fn standby_takes_over(streamer: Streamer) {
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let mut consumers = balanced(&streamer, &orders, 3);
    {
        let mut refs: Vec<&mut Consumer> = consumers.iter_mut().collect();
        settle(&mut refs, |sizes| sizes.iter().sum::<usize>() == 1);
    }
    let active = consumers.iter().position(|c| c.core().assignment().is_some_and(|a| a.len() == 1)).unwrap();
    let mut leader = consumers.remove(active);
    produce(&streamer, &orders, numbered(0..5));
    let got = take(&mut leader, 5);
    assert_eq!(payloads(&got), names(0..5));
    wait_for("a commit", leader.commit(&got[4].header)).expect("commit");
    // The active member leaves; the rest were idle standbys all along.
    drop(leader);
    produce(&streamer, &orders, numbered(5..10));
    let (who, first) = first_of(&mut consumers);
    let mut rest = take(&mut consumers[who], 4);
    rest.insert(0, first);
    assert_eq!(payloads(&rest), names(5..10), "the standby resumes after the last commit: nothing lost");
    assert_eq!(rest[0].seq(), SeqNo(5));
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn resumable_restart_resumes_after_the_last_commit() {
    let address = broker();
    let streamer = streamer(&address, &namespace("resume"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    // No group given: the host-id group (HOST_ID, container id or MAC).
    let resumable = options(ConsumerMode::Resumable, None);
    let mut first = streamer.create_consumer(std::slice::from_ref(&orders), resumable.clone()).unwrap();
    settle(&mut [&mut first], |sizes| sizes == [1]);
    produce(&streamer, &orders, numbered(0..6));
    let got = take(&mut first, 4);
    wait_for("a commit", first.commit(&got[1].header)).expect("commit m1");
    wait_for("a commit", first.commit(&got[3].header)).expect("commit m3");
    drop(first);
    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap();
    let resumed = take(&mut second, 2);
    assert_eq!(payloads(&resumed), ["m4", "m5"], "resumes after the last committed message, not at it");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn resumable_auto_commit_is_the_cores() {
    let address = broker();
    let streamer = streamer(&address, &namespace("autocommit"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let mut resumable = options(ConsumerMode::Resumable, Some("auto"));
    resumable.set_auto_commit(Some(std::time::Duration::from_millis(100)));
    let mut first = streamer.create_consumer(std::slice::from_ref(&orders), resumable.clone()).unwrap();
    settle(&mut [&mut first], |sizes| sizes == [1]);
    produce(&streamer, &orders, numbered(0..3));
    take(&mut first, 3);
    // The core's timer commits what was delivered (m0..m2) within its interval.
    wait_for_auto_commit(&mut first, SeqNo(3));
    drop(first);
    produce(&streamer, &orders, numbered(3..5));
    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap();
    assert_eq!(payloads(&take(&mut second, 2)), ["m3", "m4"]);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn manual_store_commits_only_stored_messages() {
    let address = broker();
    let streamer = streamer(&address, &namespace("store"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 1);
    let mut manual = options(ConsumerMode::Resumable, Some("stored"));
    manual.set_auto_store(false).set_auto_commit(Some(std::time::Duration::from_millis(100)));
    let mut first = streamer.create_consumer(std::slice::from_ref(&orders), manual.clone()).unwrap();
    settle(&mut [&mut first], |sizes| sizes == [1]);
    produce(&streamer, &orders, numbered(0..4));
    let got = take(&mut first, 4);
    // m0..m3 were handed out, but only m0 and m1 were processed.
    first.store_offset(&got[0].header).expect("store m0");
    first.store_offset(&got[1].header).expect("store m1");
    wait_for_auto_commit(&mut first, SeqNo(2));
    drop(first);
    produce(&streamer, &orders, numbered(4..6));
    let mut second = streamer.create_consumer(std::slice::from_ref(&orders), manual).unwrap();
    let resumed = take(&mut second, 4);
    assert_eq!(payloads(&resumed), ["m2", "m3", "m4", "m5"], "m2 and m3 were never stored: they come again");
}

/// Resumable with `assign` before the first poll: the consumer reads only
/// the partition assigned, outside the group, whose member keeps both
/// partitions. Its commits go to the group, which the broker refuses while
/// the group has members (Kafka's rule for a consumer outside it: unknown
/// member); `weir consume` shows one accepted to a group with none (cli.rs).
#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn resumable_assigned_partition_is_read_outside_the_group() {
    let address = broker();
    let streamer = streamer(&address, &namespace("resume-assigned"));
    let orders = key("orders");
    create_stream(&streamer, &orders, 2);
    produce(&streamer, &orders, numbered(0..6));
    let resumable = options(ConsumerMode::Resumable, Some("assigned"));
    let mut member = streamer.create_consumer(std::slice::from_ref(&orders), resumable.clone()).unwrap();
    settle(&mut [&mut member], |sizes| sizes == [2]);
    let mut outside = streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap();
    outside.assign(orders.clone(), weir::ShardId(1)).unwrap();
    wait_for("a rewind", outside.rewind(weir::SeqPos::Beginning)).expect("rewind");
    let got = take(&mut outside, 3);
    assert_eq!(payloads(&got), ["m1", "m3", "m5"], "partition 1 only, from its beginning");
    let refused = wait_for("a commit", outside.commit(&got[2].header)).expect_err("a member is in the group");
    assert!(refused.to_string().contains("Unknown member"), "{refused}");
    // The member still has both partitions: it takes what comes next on each.
    produce(&streamer, &orders, numbered(6..12));
    assert_eq!(sorted(payloads(&take(&mut member, 6))), sorted(names(6..12)));
}
