//! Everything that moves a consumer's partitions or its group's offsets,
//! each run where it may block: the jobs the driver hands to the runtime's
//! blocking pool (joining the group, the first assignment, rewinds and seeks,
//! commits), and the application of the group's rebalances, which runs on
//! the poll thread inside its poll (see `callbacks`). Every job reports
//! through the shared state and wakes the driver, so it completes even if
//! the future that started it was dropped.

use std::task::Waker;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use weir_core::{BackendError, CommitId, Epoch, StreamShard, Target};

use crate::error::failed;
use crate::lookups::{partitions_of, resolve, starts, tpl_of, unreachable};
use crate::options::OffsetReset;
use crate::shared::{millis_since, Event, Partition, Rd, Shards, Shared, WeirContext, Who};

fn shared(consumer: &BaseConsumer<WeirContext>) -> &Shared {
    &consumer.context().shared
}

/// Joins the group: makes sure the topics exist, then subscribes.
pub(crate) fn subscribe(consumer: Rd, topics: Vec<String>, timeout: Duration) {
    let who = &shared(&consumer).who;
    tracing::info!(
        group = %who.group,
        consumer = who.consumer,
        topics = %topics.join(","),
        "joining kafka consumer group"
    );
    shared(&consumer).lock().rebalancing_since = Some(Instant::now());
    let result = partitions_of(&consumer, &topics, timeout).and_then(|_| {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(|err| failed("subscribing", &err))
    });
    if let Err(err) = result {
        shared(&consumer).push(consumer.context().fatal(err));
    }
}

/// Without a group: every partition of `topics`, from the reset policy's end.
pub(crate) fn assign_all(consumer: Rd, topics: Vec<String>, reset: OffsetReset, timeout: Duration) {
    if shared(&consumer).lock().applied.is_some() {
        // A rewind or seek asked for before chose the assignment already.
        return;
    }
    let started = Instant::now();
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
                tell_shards(&shared(&consumer).who, "kafka shards assigned", &partitions, started, None);
                state.applied = Some(Epoch(0));
                state.push(Event::Ready { partitions })
            }
            Err(err) => state.push(consumer.context().fatal(err)),
        })
    });
    pushed.flatten().into_iter().for_each(|w| w.wake());
}

/// Which partitions a positioning moves.
pub(crate) enum Scope {
    /// Those named.
    Named,
    /// A manual assignment with no shard named: every partition of these
    /// topics, looked up now (a topic may have more than when the consumer
    /// was made).
    Every(Vec<String>),
    /// A group member with no shard named, which the driver knew no
    /// partition of: those librdkafka has assigned now, or, with none, those
    /// the group gives it next (kept in `State::pending`).
    Given,
}

/// Moves `partitions` to `target`: a new manual assignment, or seeks within
/// the group's assignment; `scope` says which.
pub(crate) fn position(
    consumer: Rd,
    epoch: Epoch,
    (partitions, shards): (Vec<Partition>, Vec<StreamShard>),
    target: Target,
    manual: bool,
    scope: Scope,
    timeout: Duration,
) {
    let started = Instant::now();
    let superseded = |consumer: &Rd| shared(consumer).lock().applied.is_some_and(|done| done > epoch);
    let (partitions, found) = match scope {
        Scope::Every(topics) => match partitions_of(&consumer, &topics, timeout) {
            Ok(all) => (all, true),
            Err(err) => {
                tracing::warn!(epoch = epoch.0, ?target, error = %err, "kafka positioning failed");
                shared(&consumer).push(Event::Positioned(epoch, Err(err)));
                return;
            }
        },
        Scope::Given => match given_or_kept(&consumer, target) {
            Some(given) => (given, false),
            None => {
                tracing::debug!(
                    group = %shared(&consumer).who.group,
                    consumer = shared(&consumer).who.consumer,
                    epoch = epoch.0,
                    ?target,
                    "kafka positioning kept for the partitions the group gives next"
                );
                shared(&consumer).push(Event::Positioned(epoch, Ok(())));
                return;
            }
        },
        Scope::Named => (partitions, false),
    };
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
            state.mark_connected(&shared(&consumer).who);
            // Messages taken under the old position are stale now; librdkafka
            // drops outdated ones itself once assign or seek returned.
            state.messages.retain(|m| !manual && !shards.contains(&(m.stream_key().clone(), m.shard())));
            for (partition, at) in starts {
                // An explicit position replaces the reset policy's start.
                state.unrecorded.remove(&partition);
                state.set_restart(partition, at);
            }
            // Every partition found is the consumer's now: the driver and the
            // core learn them before the outcome, as from a first assignment.
            let ready = found.then(|| state.push(Event::Ready { partitions: partitions.clone() }));
            // Reported in the same critical section: the driver must see the
            // outcome no later than the first message from the new position,
            // which the core would drop as stale while the seek is pending.
            let positioned = state.push(Event::Positioned(epoch, Ok(())));
            Ok(Some(ready.flatten().or(positioned)))
        })
    });
    let who = &shared(&consumer).who;
    let (group, number, shards) = (who.group.as_str(), who.consumer, Shards(&partitions));
    match applied {
        Ok(Some(waker)) => {
            waker.into_iter().for_each(Waker::wake);
            let took_ms = millis_since(started);
            tracing::debug!(group, consumer = number, epoch = epoch.0, ?target, %shards, took_ms, "kafka shards positioned");
        }
        // Not applied (superseded, or nothing to seek): nothing changes position.
        Ok(None) => {
            shared(&consumer).mark_connected();
            shared(&consumer).push(Event::Positioned(epoch, Ok(())));
            tracing::debug!(
                group,
                consumer = number,
                epoch = epoch.0,
                ?target,
                "kafka positioning moved nothing: superseded, or none of the shards is this member's"
            );
        }
        Err(err) => {
            tracing::warn!(group, consumer = number, epoch = epoch.0, ?target, %shards, error = %err, "kafka positioning failed");
            shared(&consumer).push(Event::Positioned(epoch, Err(err)));
        }
    }
}

/// The partitions librdkafka has assigned to this group member now; with
/// none, keeps `target` for those the group gives it next (see `assigned`).
/// Decided between two polls (the group's assignment applies inside one), so
/// an assignment either came before and is moved, or comes after and
/// starts at `target`.
fn given_or_kept(consumer: &Rd, target: Target) -> Option<Vec<Partition>> {
    shared(consumer).positioning(|| {
        let given: Vec<Partition> = consumer
            .assignment()
            .map(|tpl| tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect())
            .unwrap_or_default();
        if given.is_empty() {
            shared(consumer).lock().pending = Some(target);
            return None;
        }
        Some(given)
    })
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
    let started = Instant::now();
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
    let (group, number, sent_now) = (shared.who.group.as_str(), shared.who.consumer, offsets.len());
    match &result {
        Ok(()) => tracing::debug!(
            group,
            consumer = number,
            commit = id.0,
            partitions = sent_now,
            took_ms = millis_since(started),
            "kafka offsets committed"
        ),
        Err(err) => {
            tracing::warn!(group, consumer = number, commit = id.0, error = %err, "kafka commit failed")
        }
    }
    for (partition, _) in offsets {
        sent.insert(partition, (id, result.clone()));
    }
    drop(sent);
    shared.push(Event::Committed(id, result.and(superseded)));
}

/// The group gave this member `partitions`: assigns them from their resolved
/// starts (a rewind or seek kept for them, else committed, else the reset
/// policy's offset, looked up now).
pub(crate) fn assigned(
    consumer: &BaseConsumer<WeirContext>,
    partitions: Vec<Partition>,
    cooperative: bool,
) -> Event {
    let started = Instant::now();
    let context = consumer.context();
    context.shared.mark_reachable();
    if let Err(err) = apply(consumer, &partitions, cooperative) {
        return context.fatal(err);
    }
    // Since the join was asked for, or the last revocation: how long the group took.
    let waited = context.shared.lock().rebalancing_since.take();
    tell_shards(&context.shared.who, "kafka shards assigned", &partitions, started, waited);
    Event::Ready { partitions }
}

/// Tells that `partitions` were assigned or revoked (`what`): the work began
/// at `started`, the wait for it (the group's rebalance) at `waited`.
fn tell_shards(who: &Who, what: &str, partitions: &[Partition], started: Instant, waited: Option<Instant>) {
    tracing::info!(
        group = %who.group,
        consumer = who.consumer,
        shards = %Shards(partitions),
        waited_ms = waited.map(millis_since),
        took_ms = millis_since(started),
        "{what}"
    );
}

/// The group took `partitions` (`tpl`) back, or the rebalance failed: gives
/// them up, keeping the group's starting point for those this member never
/// committed (see `record_starts`).
pub(crate) fn revoked(
    consumer: &BaseConsumer<WeirContext>,
    tpl: &TopicPartitionList,
    partitions: Vec<Partition>,
    cooperative: bool,
) -> Event {
    let started = Instant::now();
    let context = consumer.context();
    // Until the next assignment: the group's rebalance is under way. An empty
    // revocation (before a first assignment) leaves the join's start.
    context.shared.lock().rebalancing_since.get_or_insert(started);
    record_starts(consumer, &partitions);
    let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
    if let Err(err) = result {
        return context.fatal(failed("giving up partitions", &err));
    }
    if !partitions.is_empty() {
        tell_shards(&context.shared.who, "kafka shards revoked", &partitions, started, None);
    }
    Event::Revoked { partitions: cooperative.then_some(partitions) }
}

/// Assigns `partitions` from their resolved starts.
fn apply(
    consumer: &BaseConsumer<WeirContext>,
    partitions: &[Partition],
    cooperative: bool,
) -> Result<(), BackendError> {
    let context = consumer.context();
    let kept = context.shared.lock().pending.take();
    let mut offsets = Vec::with_capacity(partitions.len());
    if let Some(target) = kept.filter(|_| !partitions.is_empty()) {
        // A rewind or seek asked for before the group gave any: these start there.
        offsets = resolve(consumer, partitions, target, context.timeout)?;
        let mut state = context.shared.lock();
        for (partition, at) in &offsets {
            state.set_restart(partition.clone(), *at);
        }
    } else {
        if kept.is_some() {
            // An empty assignment: the next one takes the target.
            context.shared.lock().pending = kept;
        }
        let starts = starts(consumer, partitions, context.reset, true, context.timeout)?;
        let mut state = context.shared.lock();
        for (partition, at, from_reset) in starts {
            if from_reset {
                state.unrecorded.insert(partition.clone(), at);
            }
            offsets.push((partition, at));
        }
    }
    let tpl = tpl_of(&offsets)?;
    // A partition paused by an earlier hold stays paused through unassign
    // and assign (librdkafka keeps the application's pause flag), and
    // would never be fetched again: clear it first. This runs inside the
    // poll thread's poll, between two messages, like every pause.
    let _ = consumer.resume(&tpl);
    let result = if cooperative { consumer.incremental_assign(&tpl) } else { consumer.assign(&tpl) };
    result.map_err(|err| failed("assigning partitions", &err))
}

/// A partition handed over before this member committed anything would
/// make its next owner start at the *new* latest offset, skipping what
/// was produced in between. Recording where this member started (the
/// reset policy's offset, before any message it delivered) keeps the
/// group's starting point; it marks nothing as processed.
fn record_starts(consumer: &BaseConsumer<WeirContext>, revoked: &[Partition]) {
    let starts: Vec<(Partition, i64)> = {
        let mut state = shared(consumer).lock();
        revoked.iter().filter_map(|p| state.unrecorded.remove(p).map(|at| (p.clone(), at))).collect()
    };
    // A commit to a cluster that does not answer would be retried for as
    // long as it stays away, on this (the poll) thread: skip it then.
    if starts.is_empty() || unreachable(consumer).is_some() {
        return;
    }
    if let Ok(record) = tpl_of(&starts) {
        // Best effort: if the group refuses it, the next owner applies the reset policy.
        let _ = consumer.commit(&record, CommitMode::Sync);
    }
}
