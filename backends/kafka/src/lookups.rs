//! Questions the jobs ask the cluster before they act, each a blocking
//! rdkafka call: a topic's partitions, a partition's offsets, where a target
//! puts each partition, where newly assigned partitions start, and whether
//! the cluster answers at all. They change nothing but "the cluster was
//! reached".

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use weir_core::{BackendError, BackendErrorKind, SeqPos, Target};

use crate::error::{failed, BACKEND};
use crate::options::OffsetReset;
use crate::shared::{Partition, WeirContext};

/// A librdkafka partition list of `partitions` at their offsets.
pub(crate) fn tpl_of(partitions: &[(Partition, i64)]) -> Result<TopicPartitionList, BackendError> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in partitions {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|err| failed("building a partition list", &err))?;
    }
    Ok(tpl)
}

/// The low or high watermark of a partition.
fn watermark(
    consumer: &BaseConsumer<WeirContext>,
    (topic, partition): &Partition,
    low: bool,
    timeout: Duration,
) -> Result<i64, BackendError> {
    let (lo, hi) = consumer
        .fetch_watermarks(topic, *partition, timeout)
        .map_err(|err| failed(&format!("reading the offsets of {topic}/{partition}"), &err))?;
    Ok(if low { lo } else { hi })
}

/// Where each partition goes for `target`.
pub(crate) fn resolve(
    consumer: &BaseConsumer<WeirContext>,
    partitions: &[Partition],
    target: Target,
    timeout: Duration,
) -> Result<Vec<(Partition, i64)>, BackendError> {
    match target {
        Target::Seq(SeqPos::At(seq)) => {
            let offset = i64::try_from(seq.0).map_err(|_| {
                BackendError::new(
                    BACKEND,
                    BackendErrorKind::Broker,
                    format!("sequence {} is past kafka's offsets", seq.0),
                )
            })?;
            // A seq the partition no longer (or not yet) holds starts at the
            // nearest one it holds, as on the other backends: librdkafka would
            // apply the reset policy (by default the end) to an offset out of
            // range, skipping everything kept.
            partitions
                .iter()
                .map(|(topic, partition)| {
                    let (low, high) =
                        consumer.fetch_watermarks(topic, *partition, timeout).map_err(|err| {
                            failed(&format!("reading the offsets of {topic}/{partition}"), &err)
                        })?;
                    Ok(((topic.clone(), *partition), offset.clamp(low, high.max(low))))
                })
                .collect()
        }
        Target::Seq(pos) => {
            let low = pos == SeqPos::Beginning;
            partitions.iter().map(|p| Ok((p.clone(), watermark(consumer, p, low, timeout)?))).collect()
        }
        Target::Time(at) => {
            let mut query = TopicPartitionList::new();
            for (topic, partition) in partitions {
                query
                    .add_partition_offset(topic, *partition, Offset::Offset(at.unix_millis()))
                    .map_err(|err| failed("building a partition list", &err))?;
            }
            let found = consumer
                .offsets_for_times(query, timeout)
                .map_err(|err| failed(&format!("looking up offsets for {at}"), &err))?;
            partitions
                .iter()
                .map(|p| match found.find_partition(&p.0, p.1).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => Ok((p.clone(), offset)),
                    // No message at or after the time: continue at the end.
                    _ => Ok((p.clone(), watermark(consumer, p, false, timeout)?)),
                })
                .collect()
        }
    }
}

/// Where each newly assigned partition starts: its committed offset, else the reset policy.
/// The flag says whether the start came from the reset policy.
pub(crate) fn starts(
    consumer: &BaseConsumer<WeirContext>,
    partitions: &[Partition],
    reset: OffsetReset,
    group: bool,
    timeout: Duration,
) -> Result<Vec<(Partition, i64, bool)>, BackendError> {
    let committed = if group {
        let mut query = TopicPartitionList::new();
        for (topic, partition) in partitions {
            query.add_partition(topic, *partition);
        }
        Some(
            consumer
                .committed_offsets(query, timeout)
                .map_err(|err| failed("reading committed offsets", &err))?,
        )
    } else {
        None
    };
    partitions
        .iter()
        .map(|p| match committed.as_ref().and_then(|c| c.find_partition(&p.0, p.1)).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) if offset >= 0 => Ok((p.clone(), offset, false)),
            _ => Ok((p.clone(), watermark(consumer, p, reset == OffsetReset::Earliest, timeout)?, true)),
        })
        .collect()
}

/// The partitions of `topics`. Asking for a topic's metadata also makes it if
/// it does not exist (`allow.auto.create.topics`), like producing to it does.
pub(crate) fn partitions_of(
    consumer: &BaseConsumer<WeirContext>,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<Partition>, BackendError> {
    let started = std::time::Instant::now();
    if let Some(first) = topics.first() {
        connect_to_a_leader(consumer, first, timeout);
    }
    let timeout = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
    let mut partitions = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|err| {
            failed(&format!("reading the metadata of {topic} from {}", consumer.context().servers()), &err)
        })?;
        for found in metadata.topics() {
            refused_topic(found, consumer)?;
            partitions.extend(found.partitions().iter().map(|p| (found.name().to_owned(), p.id())));
        }
    }
    consumer.context().shared.mark_reachable();
    Ok(partitions)
}

/// How long a consumer's first lookup waits for a leader (see `connect_to_a_leader`).
const LEADER_WAIT: Duration = Duration::from_millis(200);

/// Before a consumer's first metadata request, asks partition 0 of `topic`
/// for its offsets, and drops the answer. librdkafka 2.12 drops its
/// bootstrap connection once it has learned the cluster's brokers, failing a
/// metadata request in flight on it, and sends that again only once it next
/// picks a learned broker to connect to (`reconnect.backoff.ms` / 2 later: 11
/// ms with weir's default, 50 with librdkafka's), which cost about every
/// other consumer that much at start. A request for a partition's leader
/// connects to that broker at once instead, so the metadata request finds
/// one up. A topic that does not exist fails it at once; a cluster that does
/// not answer, after `LEADER_WAIT` at most, taken from the lookup's limit.
fn connect_to_a_leader(consumer: &BaseConsumer<WeirContext>, topic: &str, timeout: Duration) {
    if consumer.context().shared.lock().connected {
        return;
    }
    let _ = consumer.fetch_watermarks(topic, 0, timeout.min(LEADER_WAIT));
}

/// A topic the cluster will not serve: missing (and not made, as with
/// `allow.auto.create.topics=false`) or forbidden. Waiting cannot cure either,
/// and librdkafka would only wait (assigning nothing, or retrying the
/// subscription), so the consumer fails naming the topic. Other topic errors
/// (a leader not elected yet, right after the topic was made) pass: librdkafka
/// retries them.
fn refused_topic(
    found: &rdkafka::metadata::MetadataTopic,
    consumer: &BaseConsumer<WeirContext>,
) -> Result<(), BackendError> {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let Some(code) = found.error().map(Code::from) else { return Ok(()) };
    let servers = consumer.context().servers();
    let message = match code {
        Code::UnknownTopicOrPartition => format!(
            "topic {} does not exist on {servers} and was not created \
             (allow.auto.create.topics=false, or the broker does not create topics): {code}",
            found.name()
        ),
        Code::TopicAuthorizationFailed => format!("topic {} on {servers}: {code}", found.name()),
        _ => return Ok(()),
    };
    Err(BackendError::new(BACKEND, BackendErrorKind::Broker, message))
}

/// Why a commit cannot be sent now: the consumer gave up on its cluster, or
/// no broker answers. The commit fails with a connect error instead; nothing
/// was marked processed, so the next commit covers the same messages.
///
/// librdkafka's own view lags: its group stays "up" with a dead coordinator
/// until a request to it fails, which a request queued for a broker that
/// refuses connections never does. So with `unreachable.timeout.ms` set the
/// cluster is asked first (a metadata round trip per commit, bounded by that
/// limit), unless weir already knows every broker is down (`reach` then
/// watches for their return). Without the limit the application chose to wait for the
/// cluster forever, and the commit does, as librdkafka's does.
pub(crate) fn unreachable(consumer: &BaseConsumer<WeirContext>) -> Option<BackendError> {
    let context = consumer.context();
    let servers = context.servers();
    let limit = context.unreachable?;
    let known = {
        let state = context.shared.lock();
        if state.gave_up {
            Some(format!("not committed: the consumer lost every broker of {servers}"))
        } else {
            state.down.as_ref().map(|(since, reason)| {
                format!(
                    "not committed: every broker of {servers} has been down for {:.1} s: {reason}",
                    since.elapsed().as_secs_f64()
                )
            })
        }
    };
    let message = match known {
        Some(message) => message,
        None => match consumer.fetch_metadata(context.probe_topic.as_deref(), limit) {
            Ok(_) => return None,
            Err(err) => format!(
                "not committed: no broker of {servers} answered within unreachable.timeout.ms={}: {err}",
                limit.as_millis()
            ),
        },
    };
    Some(BackendError::new(BACKEND, BackendErrorKind::Connect, message))
}
