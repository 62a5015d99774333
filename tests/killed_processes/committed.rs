//! What the broker holds for a consumer group, asked directly (not through
//! weir, whose behaviour is under test): committed offsets (with rdkafka),
//! and the group's state and members (one DescribeGroups request of our own).
//!
//! The members come from the protocol because rdkafka only describes groups
//! the broker lists, and tansu 0.6 lists a group only once it holds a
//! commit; it also leaves members' client ids and assignments empty, so a
//! member is named by its member id (`CLIENT_ID-UUID`, as Kafka makes them).

use std::collections::BTreeMap;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A client of `group` that never joins it: it only asks about it.
pub struct GroupView {
    client: BaseConsumer,
    address: String,
    group: String,
    topic: String,
    shards: u32,
}

/// A group as DescribeGroups shows it.
pub struct Described {
    pub state: String,
    /// Each member's name: its client id, else its member id without the
    /// broker's `-UUID` suffix.
    pub members: Vec<String>,
}

impl GroupView {
    pub fn new(address: &str, group: &str, topic: &str, shards: u32) -> Self {
        let client = ClientConfig::new()
            .set("bootstrap.servers", address)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("an rdkafka client");
        Self { client, address: address.to_owned(), group: group.to_owned(), topic: topic.to_owned(), shards }
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

    /// The group as the broker describes it, for failure messages.
    pub fn describe(&self) -> String {
        match describe_group(&self.address, &self.group) {
            Ok(group) => format!("group {}: {}, members {:?}", self.group, group.state, group.members),
            Err(err) => format!("group {}: not described ({err})", self.group),
        }
    }

    /// Waits (polling the broker, within `limit`) until the group is stable
    /// with exactly the members `names`.
    pub fn wait_stable(&self, names: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        let mut wanted: Vec<&str> = names.to_vec();
        wanted.sort_unstable();
        while Instant::now() < deadline {
            match describe_group(&self.address, &self.group) {
                Ok(group) => {
                    let mut members: Vec<&str> = group.members.iter().map(String::as_str).collect();
                    members.sort_unstable();
                    if group.state == "Stable" && members == wanted {
                        return;
                    }
                    last = format!("state {}, members {members:?}", group.state);
                }
                Err(err) => last = err.to_string(),
            }
            // Polling the broker's view; the bound is the deadline above.
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("group {} did not settle with members {names:?} within {limit:?}: {last}", self.group);
    }
}

/// One DescribeGroups (v0) round trip to the broker at `address`, which must
/// be the group's coordinator (the test brokers are single-node clusters).
fn describe_group(address: &str, group: &str) -> io::Result<Described> {
    const DESCRIBE_GROUPS: i16 = 15;
    let mut request = Vec::new();
    request.extend_from_slice(&DESCRIBE_GROUPS.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes()); // version
    request.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    put_string(&mut request, "weir-reliability");
    request.extend_from_slice(&1i32.to_be_bytes()); // one group
    put_string(&mut request, group);

    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let size = u32::try_from(request.len()).map_err(|_| invalid("request too long"))?;
    stream.write_all(&size.to_be_bytes())?;
    stream.write_all(&request)?;
    let mut size = [0; 4];
    stream.read_exact(&mut size)?;
    let mut response = vec![0; usize::try_from(u32::from_be_bytes(size)).map_err(|_| invalid("size"))?];
    stream.read_exact(&mut response)?;

    let mut reader = Reader(&response);
    let _correlation = reader.i32()?;
    if reader.i32()? != 1 {
        return Err(invalid("not one group in the answer"));
    }
    let error = reader.i16()?;
    if error != 0 {
        return Err(invalid(&format!("error code {error}")));
    }
    let _group = reader.string()?;
    let state = reader.string()?;
    let _protocol_type = reader.string()?;
    let _protocol = reader.string()?;
    let count = reader.i32()?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = reader.string()?;
        let client_id = reader.string()?;
        let _host = reader.string()?;
        let _metadata = reader.bytes()?;
        let _assignment = reader.bytes()?;
        members.push(if client_id.is_empty() { without_uuid(&member_id) } else { client_id });
    }
    Ok(Described { state, members })
}

/// `member-a-0b5c…` (a client id, a dash, a 36-character UUID) → `member-a`.
fn without_uuid(member_id: &str) -> String {
    const SUFFIX: usize = 1 + 36;
    match member_id.len().checked_sub(SUFFIX) {
        Some(end) if member_id.is_char_boundary(end) && member_id[end..].starts_with('-') => {
            member_id[..end].to_owned()
        }
        _ => member_id.to_owned(),
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    let len = i16::try_from(text.len()).expect("a short string");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("DescribeGroups: {what}"))
}

/// Big-endian fields of a Kafka response, front to back.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.0.len() < n {
            return Err(invalid("response cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i16(&mut self) -> io::Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> io::Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> io::Result<String> {
        let len = usize::try_from(self.i16()?.max(0)).unwrap_or(0);
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.i32()?.max(0)).unwrap_or(0);
        Ok(self.take(len)?.to_vec())
    }
}
