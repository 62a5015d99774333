//! What the broker holds for a consumer group, asked directly with rdkafka
//! (not through weir, whose behaviour is under test): committed offsets, and
//! which member is assigned a partition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A client of `group` that never joins it: it only asks about it.
pub struct GroupView {
    client: BaseConsumer,
    group: String,
    topic: String,
    shards: u32,
}

impl GroupView {
    pub fn new(address: &str, group: &str, topic: &str, shards: u32) -> Self {
        let client = ClientConfig::new()
            .set("bootstrap.servers", address)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("an rdkafka client");
        Self { client, group: group.to_owned(), topic: topic.to_owned(), shards }
    }

    /// The committed resume-from offset per partition (partitions without a
    /// commit are absent).
    pub fn committed(&self) -> BTreeMap<u32, u64> {
        let mut query = TopicPartitionList::new();
        for shard in 0..self.shards {
            query.add_partition(&self.topic, i32::try_from(shard).expect("few shards"));
        }
        let found = self.client.committed_offsets(query, Duration::from_secs(10)).expect("committed offsets");
        found
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(at) if at >= 0 => {
                    Some((u32::try_from(e.partition()).ok()?, u64::try_from(at).ok()?))
                }
                _ => None,
            })
            .collect()
    }

    /// The sum of the committed offsets: how many messages the group has
    /// marked processed, partitions together.
    pub fn committed_total(&self) -> u64 {
        self.committed().values().sum()
    }

    /// The group as the broker describes it: state, and each member's client
    /// id and whether it holds partitions.
    pub fn describe(&self) -> String {
        let list = match self.client.fetch_group_list(Some(&self.group), Duration::from_secs(5)) {
            Ok(list) => list,
            Err(err) => return format!("group {}: not described ({err})", self.group),
        };
        let Some(group) = list.groups().iter().find(|g| g.name() == self.group) else {
            return format!("group {}: unknown to the broker", self.group);
        };
        let members: Vec<String> = group
            .members()
            .iter()
            .map(|m| {
                let holds = m.assignment().is_some_and(assigns_partitions);
                format!("{} ({})", m.client_id(), if holds { "assigned" } else { "idle" })
            })
            .collect();
        format!("group {}: {}, members {members:?}", self.group, group.state())
    }

    /// Waits (polling the broker, within `limit`) until the group is stable
    /// with `members` members, exactly one of them assigned partitions, and
    /// returns that member's client id.
    pub fn wait_stable(&self, members: usize, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            let list = self.client.fetch_group_list(Some(&self.group), Duration::from_secs(5));
            if let Ok(list) = list {
                if let Some(group) = list.groups().iter().find(|g| g.name() == self.group) {
                    let assigned: Vec<&str> = group
                        .members()
                        .iter()
                        .filter(|m| m.assignment().is_some_and(assigns_partitions))
                        .map(|m| m.client_id())
                        .collect();
                    last = format!(
                        "state {}, {} members, assigned {assigned:?}",
                        group.state(),
                        group.members().len()
                    );
                    if group.state() == "Stable" && group.members().len() == members && assigned.len() == 1 {
                        return assigned[0].to_owned();
                    }
                }
            }
            // Polling the broker's view; the bound is the deadline above.
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("group {} did not settle with {members} members within {limit:?}: {last}", self.group);
    }
}

/// Whether a member's assignment (the consumer protocol's bytes: version,
/// then an array of topics with their partitions) names at least one partition.
fn assigns_partitions(bytes: &[u8]) -> bool {
    // version: i16, topics: i32 count, each: string (i16 length + bytes), partitions: i32 count, …
    let read_i32 = |at: usize| bytes.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let read_i16 = |at: usize| bytes.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let Some(topics) = read_i32(2) else { return false };
    let mut at = 6;
    for _ in 0..topics.max(0) {
        let Some(len) = read_i16(at) else { return false };
        at += 2 + usize::try_from(len.max(0)).unwrap_or(0);
        let Some(partitions) = read_i32(at) else { return false };
        if partitions > 0 {
            return true;
        }
        at += 4;
    }
    false
}
