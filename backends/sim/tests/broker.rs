//! The pure broker on its own: group protocol, deaths, restarts, faults.

// Test helpers, not #[test] functions: the test-only allowance does not reach them.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use weir_core::{ConsumerGroup, Payload, SeqNo, ShardId, StreamKey, StreamShard};
use weir_sim::{Broker, CommitRejected, Faults, MemberId, OffsetReset, SimConfig};

fn key(name: &str) -> StreamKey {
    StreamKey::new(name).unwrap()
}

fn group(name: &str) -> ConsumerGroup {
    ConsumerGroup::new(name).unwrap()
}

fn broker(config: SimConfig) -> Broker {
    Broker::with_config(Instant::now(), &config)
}

fn shards(broker: &Broker, g: &ConsumerGroup, member: MemberId) -> Vec<u32> {
    broker.view(g, member).shards.iter().map(|(_, s)| s.0).collect()
}

fn shard(k: &StreamKey, s: u32) -> StreamShard {
    (k.clone(), ShardId(s))
}

#[test]
fn a_shard_changes_hands_only_after_its_owner_lets_go() {
    let mut b = broker(SimConfig::default());
    let (t, g) = (key("t"), group("g"));
    b.create_stream(&t, 2);
    let first = b.join(&g, std::slice::from_ref(&t));
    assert_eq!(shards(&b, &g, first), [0, 1]);
    let second = b.join(&g, std::slice::from_ref(&t));
    // Shard 1 is planned for the newcomer but still owned by the first member.
    assert_eq!(shards(&b, &g, first), [0]);
    assert_eq!(shards(&b, &g, second), Vec::<u32>::new());
    assert_eq!(b.owner(&g, &shard(&t, 1)), Some(first));
    b.sync(&g, first);
    assert_eq!(b.owner(&g, &shard(&t, 1)), Some(second));
    assert_eq!(shards(&b, &g, second), [1]);
}

#[test]
fn members_beyond_the_shard_count_stand_by_and_take_over_on_death() {
    let config = SimConfig { session_timeout: Duration::from_secs(3), ..SimConfig::default() };
    let mut b = broker(config);
    let (t, g) = (key("t"), group("g"));
    let active = b.join(&g, std::slice::from_ref(&t));
    let standby = b.join(&g, std::slice::from_ref(&t));
    assert_eq!(shards(&b, &g, active), [0]);
    assert_eq!(shards(&b, &g, standby), Vec::<u32>::new());
    // The standby waits for input; the active member stops polling.
    b.park(&g, standby);
    b.advance(Duration::from_secs(2));
    assert!(b.heartbeat(&g, active), "still within its session");
    b.advance(Duration::from_secs(3));
    assert!(!b.is_member(&g, active), "silent for a whole session timeout: dead");
    assert!(b.is_member(&g, standby), "a parked member is waiting, not silent");
    assert_eq!(shards(&b, &g, standby), [0]);
    assert!(!b.heartbeat(&g, active), "the dead member learns it must rejoin");
}

#[test]
fn commits_survive_a_restart_and_fence_stale_members() {
    let config = SimConfig { offset_reset: OffsetReset::Earliest, ..SimConfig::default() };
    let mut b = broker(config);
    let (t, g) = (key("t"), group("g"));
    for i in 0..4 {
        b.produce(&t, Payload::new(format!("m{i}")), None);
    }
    let member = b.join(&g, std::slice::from_ref(&t));
    assert_eq!(b.start_position(&g, &shard(&t, 0)), 0);
    b.commit(&g, Some(member), [(shard(&t, 0), SeqNo(3))]).unwrap();
    b.restart();
    assert!(!b.is_member(&g, member));
    let refused = b.commit(&g, Some(member), [(shard(&t, 0), SeqNo(4))]);
    assert!(matches!(refused, Err(CommitRejected::UnknownMember { .. })), "{refused:?}");
    assert_eq!(b.committed(&g, &shard(&t, 0)), Some(SeqNo(3)));
    assert_eq!(b.start_position(&g, &shard(&t, 0)), 3);
    assert_eq!(b.fetch(&t, ShardId(0), 0, 10).count(), 4, "logs survive");
}

#[test]
fn a_non_owner_cannot_commit() {
    let mut b = broker(SimConfig::default());
    let (t, g) = (key("t"), group("g"));
    b.create_stream(&t, 2);
    let first = b.join(&g, std::slice::from_ref(&t));
    let second = b.join(&g, std::slice::from_ref(&t));
    b.sync(&g, first);
    let refused = b.commit(&g, Some(first), [(shard(&t, 1), SeqNo(1))]);
    assert!(matches!(refused, Err(CommitRejected::NotOwner { .. })), "{refused:?}");
    assert_eq!(b.committed(&g, &shard(&t, 1)), None, "the refused commit stored nothing");
    assert!(b.commit(&g, Some(second), [(shard(&t, 1), SeqNo(1))]).is_ok());
    assert_eq!(b.committed(&g, &shard(&t, 1)), Some(SeqNo(1)), "the owner's commit is stored");
    assert!(b.commit(&g, None, [(shard(&t, 1), SeqNo(0))]).is_ok(), "manual assignments commit unchecked");
    assert_eq!(b.committed(&g, &shard(&t, 1)), Some(SeqNo(0)), "a manual commit moves the offset, back too");
}

#[test]
fn delayed_messages_keep_shard_order_and_set_a_deadline() {
    let faults = Faults { delay: 1.0, max_delay: Duration::from_millis(500), ..Faults::none() };
    let mut b = broker(SimConfig { seed: 3, faults, ..SimConfig::default() });
    let t = key("t");
    for i in 0..5 {
        b.produce(&t, Payload::new(format!("m{i}")), None);
    }
    let mut seen = 0;
    while let Some(deadline) = b.next_deadline() {
        b.advance_to(deadline);
        let now: Vec<u64> = b.fetch(&t, ShardId(0), 0, 10).map(|m| m.header.seq.0).collect();
        assert!(now.len() >= seen, "visibility only grows");
        assert_eq!(now, (0..now.len() as u64).collect::<Vec<_>>(), "a prefix of the shard, in order");
        seen = now.len();
    }
    assert_eq!(seen, 5);
}

#[test]
fn same_seed_same_faults() {
    let faults = Faults { delay: 0.5, kill: 0.3, restart: 0.2, redeliver: 0.5, ..Faults::none() };
    let run = || {
        let mut b = broker(SimConfig { seed: 42, faults, ..SimConfig::default() });
        b.record_events(true);
        let (t, g) = (key("t"), group("g"));
        b.create_stream(&t, 3);
        let mut members = [b.join(&g, std::slice::from_ref(&t)), b.join(&g, std::slice::from_ref(&t))];
        for i in 0..50 {
            b.produce(&t, Payload::new(format!("m{i}")), None);
            for member in members.iter_mut() {
                if !b.heartbeat(&g, *member) {
                    *member = b.join(&g, std::slice::from_ref(&t));
                }
                b.sync(&g, *member);
            }
            b.advance(Duration::from_millis(100));
        }
        b.take_events().iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    };
    let (first, second) = (run(), run());
    assert!(
        first.contains("broker restart") && first.contains("killed") && first.contains("delay"),
        "{first}"
    );
    assert_eq!(first, second);
}

#[test]
fn zero_faults_draw_nothing() {
    let mut b = broker(SimConfig { seed: 9, ..SimConfig::default() });
    b.record_events(true);
    let (t, g) = (key("t"), group("g"));
    let member = b.join(&g, std::slice::from_ref(&t));
    for i in 0..20 {
        b.produce(&t, Payload::new(format!("m{i}")), None);
        assert!(b.heartbeat(&g, member));
        b.advance(Duration::from_millis(10));
    }
    let events = b.take_events();
    assert!(
        events.iter().all(|e| e.to_string().starts_with("join") || e.to_string().starts_with("rebalance")),
        "{events:?}"
    );
    assert_eq!(b.fetch(&t, ShardId(0), 0, 100).count(), 20, "everything visible at once");
}
