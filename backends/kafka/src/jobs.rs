//! The blocking rdkafka calls, each run as a job off the executor. Every job
//! reports through the shared state and wakes the driver, so it completes
//! even if the future that started it was dropped.

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use weir_core::{BackendError, BackendErrorKind, CommitId, Epoch, SeqPos, StreamShard, Target};

use crate::context::{Event, Partition, WeirContext};
use crate::error::{failed, BACKEND};
use crate::options::OffsetReset;

/// A consumer as the jobs see it.
pub(crate) type Rd = Arc<BaseConsumer<WeirContext>>;

fn shared(consumer: &Rd) -> &crate::context::Shared {
    &consumer.context().shared
}

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
            Ok(partitions.iter().map(|p| (p.clone(), offset)).collect())
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
fn partitions_of(
    consumer: &Rd,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<Partition>, BackendError> {
    let mut partitions = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|err| {
            failed(&format!("reading the metadata of {topic} from {}", consumer.context().servers), &err)
        })?;
        for found in metadata.topics() {
            refused_topic(found, consumer)?;
            partitions.extend(found.partitions().iter().map(|p| (found.name().to_owned(), p.id())));
        }
    }
    shared(consumer).mark_reachable();
    Ok(partitions)
}

/// A topic the cluster will not serve: missing (and not made, as with
/// `allow.auto.create.topics=false`) or forbidden. Waiting cannot cure either,
/// and librdkafka would only wait (assigning nothing, or retrying the
/// subscription), so the consumer fails naming the topic. Other topic errors
/// (a leader not elected yet, right after the topic was made) pass: librdkafka
/// retries them.
fn refused_topic(found: &rdkafka::metadata::MetadataTopic, consumer: &Rd) -> Result<(), BackendError> {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let Some(code) = found.error().map(Code::from) else { return Ok(()) };
    let servers = &consumer.context().servers;
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

/// Joins the group: makes sure the topics exist, then subscribes.
pub(crate) fn subscribe(consumer: Rd, topics: Vec<String>, timeout: Duration) {
    let result = partitions_of(&consumer, &topics, timeout).and_then(|_| {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|err| failed("subscribing", &err))
    });
    if let Err(err) = result {
        shared(&consumer).push(Event::Fatal(err));
    }
}

/// Without a group: every partition of `topics`, from the reset policy's end.
pub(crate) fn assign_all(consumer: Rd, topics: Vec<String>, reset: OffsetReset, timeout: Duration) {
    if shared(&consumer).lock().applied.is_some() {
        // A rewind or seek asked for before chose the assignment already.
        return;
    }
    let outcome = (|| {
        let partitions = partitions_of(&consumer, &topics, timeout)?;
        let offsets: Vec<(Partition, i64)> = starts(&consumer, &partitions, reset, false, timeout)?
            .into_iter()
            .map(|(p, at, _)| (p, at))
            .collect();
        Ok::<_, BackendError>((partitions, tpl_of(&offsets)?))
    })();
    let pushed = shared(&consumer).positioning(|| {
        if shared(&consumer).lock().applied.is_some() {
            // A rewind or seek chose the assignment already.
            return None;
        }
        let applied = outcome.and_then(|(partitions, tpl)| {
            consumer.assign(&tpl).map_err(|err| failed("assigning partitions", &err))?;
            Ok(partitions)
        });
        let mut state = shared(&consumer).lock();
        Some(match applied {
            Ok(partitions) => {
                state.applied = Some(Epoch(0));
                state.push(Event::Ready { partitions })
            }
            Err(err) => state.push(Event::Fatal(err)),
        })
    });
    pushed.flatten().into_iter().for_each(|w| w.wake());
}

/// Moves `partitions` to `target`: a new manual assignment, or seeks within
/// the group's assignment.
pub(crate) fn position(
    consumer: Rd,
    epoch: Epoch,
    (partitions, shards): (Vec<Partition>, Vec<StreamShard>),
    target: Target,
    manual: bool,
    timeout: Duration,
) {
    let superseded = |consumer: &Rd| shared(consumer).lock().applied.is_some_and(|done| done > epoch);
    let outcome = resolve(&consumer, &partitions, target, timeout).and_then(|offsets| tpl_of(&offsets));
    let applied = outcome.and_then(|tpl| {
        if !manual && tpl.count() == 0 {
            return Ok(None);
        }
        shared(&consumer).positioning(|| {
            if superseded(&consumer) {
                return Ok(None);
            }
            let starts: Vec<(Partition, i64)> = tpl
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(at) => Some(((e.topic().to_owned(), e.partition()), at)),
                    _ => None,
                })
                .collect();
            // A positioning ends a hold: resume first (between polls, as the
            // poll thread would), so the new position is the one fetched from.
            if std::mem::take(&mut shared(&consumer).lock().held) {
                if let Ok(assignment) = consumer.assignment() {
                    let _ = consumer.resume(&assignment);
                }
            }
            if manual && !same_partitions(&consumer, &starts) {
                consumer.assign(&tpl).map_err(|err| failed("assigning partitions", &err))?;
            } else {
                seek(&consumer, tpl, timeout)?;
            }
            let mut state = shared(&consumer).lock();
            state.applied = Some(epoch);
            state.connected = true;
            // Messages taken under the old position are stale now; librdkafka
            // drops outdated ones itself once assign or seek returned.
            state.messages.retain(|m| !manual && !shards.contains(&(m.stream_key().clone(), m.shard())));
            for (partition, at) in starts {
                // An explicit position replaces the reset policy's start.
                state.unrecorded.remove(&partition);
                state.set_restart(partition, at);
            }
            // Reported in the same critical section: the driver must see the
            // outcome no later than the first message from the new position,
            // which the core would drop as stale while the seek is pending.
            Ok(Some(state.push(Event::Positioned(epoch, Ok(())))))
        })
    });
    match applied {
        Ok(Some(waker)) => waker.into_iter().for_each(Waker::wake),
        // Not applied (superseded, or nothing to seek): nothing changes position.
        Ok(None) => {
            shared(&consumer).mark_connected();
            shared(&consumer).push(Event::Positioned(epoch, Ok(())));
        }
        Err(err) => shared(&consumer).push(Event::Positioned(epoch, Err(err))),
    }
}

/// Whether `consumer` fetches exactly the partitions of `starts` now. Moving
/// those is a seek, not a new assignment: librdkafka 2.12 can abort the
/// process (`rd_kafka_assignment_partition_stopped: rktp_started`) when an
/// assignment replaces one whose partitions are still stopping, which two
/// quick rewinds would do.
fn same_partitions(consumer: &Rd, starts: &[(Partition, i64)]) -> bool {
    let Ok(current) = consumer.assignment() else { return false };
    current.count() == starts.len()
        && starts.iter().all(|((topic, partition), _)| current.find_partition(topic, *partition).is_some())
}

/// Seeks every partition of `tpl`, failing on the first partition librdkafka refused.
fn seek(consumer: &Rd, tpl: TopicPartitionList, timeout: Duration) -> Result<(), BackendError> {
    let done = consumer.seek_partitions(tpl, timeout).map_err(|err| failed("seeking", &err))?;
    for element in done.elements() {
        if let Err(err) = element.error() {
            return Err(failed(&format!("seeking {}/{}", element.topic(), element.partition()), &err));
        }
    }
    Ok(())
}

/// Commits resume-from offsets and waits for the broker's answer.
///
/// Not to a cluster that does not answer (see [`unreachable`]): librdkafka
/// would send the commit to the group coordinator it still takes for alive,
/// and a request queued for a broker that does not come back is retried
/// without end (each try times out after `socket.timeout.ms` in the queue and
/// is queued again, since it was never sent; librdkafka issue 3740). Its
/// close waits for every commit, so the consumer's threads would outlive its
/// drop for as long as the broker stays away. A commit already sent when the
/// broker dies still is retried so: only librdkafka can end that.
///
/// Commit jobs run on a runtime's blocking pool, several at once when their
/// futures were dropped without waiting, and a later one can reach the
/// broker first. The broker keeps whichever arrives last, so an older commit
/// arriving after a newer one would move the group's position to where the
/// application no longer wants to resume (after a rewind, past messages it
/// is about to process again). So commits go one at a time, and a partition
/// that a newer commit (higher id: the core numbers them in order) has been
/// sent for is left out of an older one, which reports the newer one's
/// outcome for it.
pub(crate) fn commit(consumer: Rd, id: CommitId, offsets: Vec<(Partition, i64)>) {
    let shared = shared(&consumer);
    {
        let mut state = shared.lock();
        offsets.iter().for_each(|(p, _)| {
            state.unrecorded.remove(p);
        });
    }
    let mut sent = shared.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut superseded: Result<(), BackendError> = Ok(());
    let offsets: Vec<(Partition, i64)> = offsets
        .into_iter()
        .filter(|(partition, _)| match sent.get(partition) {
            Some((newer, outcome)) if *newer > id => {
                superseded = superseded.clone().and(outcome.clone());
                false
            }
            _ => true,
        })
        .collect();
    let result = if offsets.is_empty() {
        Ok(())
    } else if let Some(refused) = unreachable(&consumer) {
        Err(refused)
    } else {
        tpl_of(&offsets).and_then(|tpl| {
            consumer.commit(&tpl, CommitMode::Sync).map_err(|err| failed("committing offsets", &err))
        })
    };
    for (partition, _) in offsets {
        sent.insert(partition, (id, result.clone()));
    }
    drop(sent);
    shared.push(Event::Committed(id, result.and(superseded)));
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
    let servers = &context.servers;
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
