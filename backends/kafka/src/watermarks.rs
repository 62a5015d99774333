//! What a Kafka cluster tells about its topics: partitions from the
//! metadata, watermarks and offsets for times per partition. Each lookup is
//! a blocking job on a short-lived client of its own (no group): it needs
//! none of a consumer's state, and a consumer's poll thread would only
//! queue behind it.

use std::collections::BTreeMap;
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use weir_core::backend::Lookup;
use weir_core::{
    BackendError, BackendErrorKind, SeqNo, ShardId, ShardInfo, StreamInfo, StreamKey, StreamShard,
    StreamerError, Timestamp,
};

use crate::error::{failed, BACKEND};
use crate::options::KafkaOptions;

/// A client for lookups only.
struct Client {
    rd: BaseConsumer,
    options: Arc<KafkaOptions>,
    servers: String,
}

impl Client {
    fn new(servers: &str, options: Arc<KafkaOptions>) -> Result<Self, StreamerError> {
        let rd = options
            .client_config(servers)
            .create()
            .map_err(|err| failed("creating a client to look up offsets", &err))?;
        Ok(Self { rd, options, servers: servers.to_owned() })
    }

    /// The partitions of `topic`, in order; a topic the cluster does not
    /// have (or refuses to describe) is an error naming it.
    fn partitions(&self, topic: Option<&str>) -> Result<BTreeMap<String, Vec<i32>>, BackendError> {
        let timeout = self.options.connect_timeout;
        let what = topic.unwrap_or("the cluster");
        let metadata = self
            .rd
            .fetch_metadata(topic, timeout)
            .map_err(|err| failed(&format!("reading the metadata of {what} from {}", self.servers), &err))?;
        let mut found = BTreeMap::new();
        for listed in metadata.topics() {
            if let Some(code) = listed.error().map(rdkafka::types::RDKafkaErrorCode::from) {
                let message = format!("topic {} on {}: {code}", listed.name(), self.servers);
                return Err(BackendError::new(BACKEND, BackendErrorKind::Broker, message));
            }
            let mut ids: Vec<i32> = listed.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            found.insert(listed.name().to_owned(), ids);
        }
        Ok(found)
    }

    fn watermarks(&self, topic: &str, partition: i32) -> Result<(SeqNo, SeqNo), BackendError> {
        let (low, high) = self
            .rd
            .fetch_watermarks(topic, partition, self.options.connect_timeout)
            .map_err(|err| failed(&format!("reading the watermarks of {topic}/{partition}"), &err))?;
        Ok((seq(low), seq(high)))
    }

    fn stream(&self, key: StreamKey, topic: &str, partitions: &[i32]) -> Result<StreamInfo, BackendError> {
        let shards = partitions
            .iter()
            .map(|&partition| {
                let (low, high) = self.watermarks(topic, partition)?;
                Ok(ShardInfo { shard: ShardId(u32::try_from(partition).unwrap_or(0)), low, high })
            })
            .collect::<Result<_, BackendError>>()?;
        Ok(StreamInfo { key, shards })
    }

    /// Every topic of the namespace (the whole cluster without one), or those of `keys`.
    fn list(&self, keys: &[StreamKey]) -> Result<Vec<StreamInfo>, BackendError> {
        let mut listed = Vec::new();
        if keys.is_empty() {
            for (topic, partitions) in self.partitions(None)? {
                // Topics outside the namespace, or named outside the stream key rule, are not streams.
                let Some(key) = self.options.key_of(&topic).and_then(|k| StreamKey::new(k).ok()) else {
                    continue;
                };
                listed.push(self.stream(key, &topic, &partitions)?);
            }
        }
        for key in keys {
            let topic = self.options.topic(key.name());
            let partitions = self.partitions(Some(&topic))?.remove(&topic).unwrap_or_default();
            listed.push(self.stream(key.clone(), &topic, &partitions)?);
        }
        Ok(listed)
    }

    fn seqs_at(
        &self,
        shards: &[StreamShard],
        at: Timestamp,
    ) -> Result<Vec<(StreamShard, SeqNo)>, BackendError> {
        let partition = |(key, shard): &StreamShard| {
            (self.options.topic(key.name()), i32::try_from(shard.0).unwrap_or(i32::MAX))
        };
        let mut query = TopicPartitionList::new();
        for shard in shards {
            let (topic, partition) = partition(shard);
            query
                .add_partition_offset(&topic, partition, Offset::Offset(at.unix_millis()))
                .map_err(|err| failed("building a partition list", &err))?;
        }
        let found = self
            .rd
            .offsets_for_times(query, self.options.connect_timeout)
            .map_err(|err| failed(&format!("looking up offsets for {at}"), &err))?;
        shards
            .iter()
            .map(|shard| {
                let (topic, partition) = partition(shard);
                let seq = match found.find_partition(&topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) if offset >= 0 => seq(offset),
                    // No message at or after the time: a seek goes to the end.
                    _ => self.watermarks(&topic, partition)?.1,
                };
                Ok((shard.clone(), seq))
            })
            .collect()
    }
}

fn seq(offset: i64) -> SeqNo {
    SeqNo(u64::try_from(offset).unwrap_or(0))
}

/// [`Streamer::list_streams`](weir_core::backend::Streamer::list_streams) on Kafka.
pub(crate) fn list(
    servers: &str,
    options: &Arc<KafkaOptions>,
    keys: &[StreamKey],
) -> Lookup<Vec<StreamInfo>> {
    let (servers, options, keys) = (servers.to_owned(), options.clone(), keys.to_vec());
    Lookup::blocking(move || Ok(Client::new(&servers, options)?.list(&keys)?))
}

/// [`Streamer::seqs_at`](weir_core::backend::Streamer::seqs_at) on Kafka.
pub(crate) fn seqs_at(
    servers: &str,
    options: &Arc<KafkaOptions>,
    shards: &[StreamShard],
    at: Timestamp,
) -> Lookup<Vec<(StreamShard, SeqNo)>> {
    let (servers, options, shards) = (servers.to_owned(), options.clone(), shards.to_vec());
    Lookup::blocking(move || Ok(Client::new(&servers, options)?.seqs_at(&shards, at)?))
}
