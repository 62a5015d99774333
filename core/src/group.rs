//! Group policy: who in a consumer group gets which message or shard.

use std::collections::BTreeMap;

use crate::consumer::StreamShard;
use crate::key::{ShardId, StreamKey};

/// Hands each message to one member of a group, round-robin in arrival order.
/// Members may join and leave at any time. Used by stdio groups.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin<M> {
    members: Vec<M>,
    next: usize,
}

impl<M: PartialEq> RoundRobin<M> {
    /// An empty group.
    pub fn new() -> Self {
        Self { members: Vec::new(), next: 0 }
    }

    /// Adds a member at the end of the rotation.
    pub fn join(&mut self, member: M) {
        if !self.members.contains(&member) {
            self.members.push(member);
        }
    }

    /// Removes a member; the rotation continues with whoever came after it.
    pub fn leave(&mut self, member: &M) {
        if let Some(at) = self.members.iter().position(|m| m == member) {
            self.members.remove(at);
            if at < self.next {
                self.next -= 1;
            }
            if self.next >= self.members.len() {
                self.next = 0;
            }
        }
    }

    /// The member that gets the next message, if the group has any.
    pub fn pick(&mut self) -> Option<&M> {
        if self.members.is_empty() {
            return None;
        }
        let at = self.next;
        self.next = (at + 1) % self.members.len();
        self.members.get(at)
    }

    /// The members, in rotation order.
    pub fn members(&self) -> &[M] {
        &self.members
    }
}

/// Kafka's range assignment: per stream, shards are split into contiguous
/// ranges over the members in sorted order, the first ones getting one more
/// when the split is uneven. Members beyond the shard count get nothing of
/// that stream: hot standby. Every shard has exactly one owner.
pub fn assign_ranges<M: Ord + Clone>(
    shards_per_stream: &BTreeMap<StreamKey, u32>,
    members: &[M],
) -> BTreeMap<M, Vec<StreamShard>> {
    let mut sorted: Vec<M> = members.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut plan: BTreeMap<M, Vec<StreamShard>> = sorted.iter().map(|m| (m.clone(), Vec::new())).collect();
    if sorted.is_empty() {
        return plan;
    }
    let count = sorted.len() as u32;
    for (key, &shards) in shards_per_stream {
        let (per, extra) = (shards / count, shards % count);
        let mut shard = 0;
        for (i, member) in sorted.iter().enumerate() {
            let take = per + u32::from((i as u32) < extra);
            let owned = plan.entry(member.clone()).or_default();
            owned.extend((shard..shard + take).map(|s| (key.clone(), ShardId(s))));
            shard += take;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(spec: &[(&str, u32)]) -> BTreeMap<StreamKey, u32> {
        spec.iter().map(|(k, n)| (StreamKey::new(k).unwrap(), *n)).collect()
    }

    fn counts(plan: &BTreeMap<&str, Vec<StreamShard>>) -> Vec<usize> {
        plan.values().map(Vec::len).collect()
    }

    #[test]
    fn kafka_split_rules() {
        assert_eq!(counts(&assign_ranges(&streams(&[("t", 2)]), &["a", "b"])), [1, 1]);
        assert_eq!(counts(&assign_ranges(&streams(&[("t", 3)]), &["a", "b"])), [2, 1]);
        assert_eq!(counts(&assign_ranges(&streams(&[("t", 1)]), &["c", "a", "b"])), [1, 0, 0]);
        let plan = assign_ranges(&streams(&[("t", 3)]), &["b", "a"]);
        assert_eq!(plan["a"].iter().map(|(_, s)| s.0).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(plan["b"].iter().map(|(_, s)| s.0).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn round_robin_in_arrival_order_with_churn() {
        let mut rr = RoundRobin::new();
        rr.join("a");
        rr.join("b");
        rr.join("c");
        let picks: Vec<_> = (0..4).map(|_| *rr.pick().unwrap()).collect();
        assert_eq!(picks, ["a", "b", "c", "a"]);
        rr.leave(&"b"); // next would have been b
        assert_eq!(rr.pick(), Some(&"c"));
        rr.join("d");
        let picks: Vec<_> = (0..3).map(|_| *rr.pick().unwrap()).collect();
        assert_eq!(picks, ["a", "c", "d"]); // d joined at the end of the rotation
        rr.leave(&"a");
        rr.leave(&"c");
        rr.leave(&"d");
        assert_eq!(rr.pick(), None);
    }
}
