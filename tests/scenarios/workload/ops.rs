//! The workload's commands: commits, positionings, crashes and restarts, and
//! the final drain that lets every group catch up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use weir::core::{StreamShard, Target};
use weir::sim::Faults;
use weir::{ConsumerError, ConsumerGroup, ConsumerMode, MessageHeader, Runtime, SeqNo, SeqPos, ShardId};

use super::Scenario;
use crate::check::Start;
use crate::slot::{settle, sim_of, try_next, Role};

impl<R: Runtime> Scenario<R> {
    /// Commits one processed message: the group resumes after it.
    pub(super) fn commit_header(&mut self, i: usize, header: &MessageHeader) -> Result<(), String> {
        let slot = &mut self.slots[i];
        let Some(consumer) = slot.consumer.as_mut() else { return Ok(()) };
        let group = slot.options.group().cloned().expect("a committing mode has a group");
        let shard: StreamShard = (header.stream_key.clone(), header.shard);
        let outcome = settle(consumer.commit(header));
        let label = slot.label();
        let at = format!("{}/{}#{}", shard.0, shard.1 .0, header.seq.0);
        match outcome {
            Some(Ok(())) => {
                self.commits.ok += 1;
                self.model.committed.insert((group, shard), Some(header.seq.0 + 1));
                self.note(format_args!("{label} commit {at} ok"));
            }
            Some(Err(err)) => {
                self.note(format_args!("{label} commit {at} refused: {err}"));
                self.refused(i, std::slice::from_ref(&shard), &format!("commit {at}: {err}"))?;
            }
            None => {
                self.commits.pending += 1;
                self.model.committed.insert((group, shard), None);
                self.note(format_args!("{label} commit {at} pending"));
            }
        }
        Ok(())
    }

    pub(super) fn commit(&mut self, i: usize) -> Result<(), String> {
        if self.slots[i].options.mode() == ConsumerMode::RealTime || self.slots[i].consumer.is_none() {
            return Ok(());
        }
        if self.rng.chance(0.5) {
            let headers: Vec<MessageHeader> = self.slots[i].last_header.values().cloned().collect();
            if headers.is_empty() {
                return Ok(());
            }
            let header = headers[self.rng.below(headers.len() as u64) as usize].clone();
            return self.commit_header(i, &header);
        }
        let slot = &mut self.slots[i];
        let label = slot.label();
        let Some(consumer) = slot.consumer.as_mut() else { return Ok(()) };
        let group = slot.options.group().cloned().expect("a committing mode has a group");
        // commit_all resumes each shard after its last delivery; which shards
        // it sends is the core's business. The commit answers tell the
        // application which resume points were acknowledged (its consumer's
        // `committed`): those that changed during the call are this commit's.
        // The model takes each when it resumes after a message the
        // application was handed, and otherwise stops vouching for the shard
        // (its next start goes unchecked). An unanswered commit may land
        // later: then no shard of the slot's streams is vouched for.
        let acknowledged = |consumer: &weir::Consumer<R>| -> BTreeMap<StreamShard, SeqNo> {
            consumer.core().committed().map(|(shard, seq)| (shard.clone(), seq)).collect()
        };
        let before = acknowledged(consumer);
        let outcome = settle(consumer.commit_all());
        let after = acknowledged(consumer);
        let touched: BTreeSet<StreamShard> = match outcome {
            None => self.model.log.keys().filter(|shard| slot.streams.contains(&shard.0)).cloned().collect(),
            Some(_) => {
                after.keys().filter(|shard| before.get(*shard) != after.get(*shard)).cloned().collect()
            }
        };
        for shard in touched {
            let vouched =
                outcome.is_some().then(|| after.get(&shard).map(|seq| seq.0)).flatten().filter(|seq| {
                    seq.checked_sub(1).is_some_and(|last| slot.seen.was_delivered(&shard, last))
                });
            self.model.committed.insert((group.clone(), shard), vouched);
        }
        match outcome {
            Some(Ok(())) => {
                self.commits.ok += 1;
                self.note(format_args!("{label} commit_all ok"));
            }
            Some(Err(err)) => {
                self.note(format_args!("{label} commit_all refused: {err}"));
                let shards: Vec<StreamShard> = self.slots[i].delivered_under.keys().cloned().collect();
                self.refused(i, &shards, &format!("commit_all: {err}"))?;
            }
            None => {
                self.commits.pending += 1;
                self.note(format_args!("{label} commit_all pending"));
            }
        }
        Ok(())
    }

    /// Counts a refused commit of `shards`: the consumer must have lost one
    /// of them, or reported another assignment to its application, or the
    /// group must have been disturbed (a member came, went or died, a
    /// rebalance, a redelivery, a broker restart) since it was handed out. A refusal with
    /// no such cause is a broken commit: a simulator that refused every
    /// commit fails here.
    fn refused(&mut self, i: usize, shards: &[StreamShard], what: &str) -> Result<(), String> {
        // Events of the call itself (a rebalance it set off) count too.
        self.events();
        self.commits.refused += 1;
        let now = self.disturbance(i);
        let slot = &self.slots[i];
        let group = slot.options.group().cloned();
        let last = |whose: &Option<ConsumerGroup>| self.disturbed_at.get(whose).copied();
        let disturbed_at = |ms: u128| last(&group) == Some(ms) || last(&None) == Some(ms);
        let held = |shard: &StreamShard| {
            slot.consumer.as_ref().and_then(|c| c.core().assignment()).is_some_and(|a| a.contains(shard))
        };
        // Or the consumer no longer holds the shard, as it tells its application.
        let explained = shards.iter().any(|shard| {
            !held(shard)
                || slot
                    .delivered_under
                    .get(shard)
                    .is_none_or(|(under, ms)| *under != now || disturbed_at(*ms))
        });
        if explained {
            Ok(())
        } else {
            Err(format!(
                "{} {what}: refused for a shard it holds, with no rebalance, death, redelivery or restart since delivery",
                slot.label()
            ))
        }
    }

    /// Assign, unassign, rewind or seek, for explorers.
    pub(super) fn explore(&mut self, i: usize) -> Result<(), String> {
        if self.slots[i].role != Role::Explorer || self.slots[i].consumer.is_none() {
            return Ok(());
        }
        let choice = self.rng.below(4);
        let (stream, shards) = self.streams[self.rng.below(self.streams.len() as u64) as usize].clone();
        let shard = ShardId(self.rng.below(u64::from(shards)) as u32);
        let seek_to = {
            let span = self.broker.now().saturating_duration_since(self.origin) + Duration::from_secs(1);
            let at = self.rng.below(span.as_millis() as u64);
            weir::sim::SimConfig::default().start.saturating_add(Duration::from_millis(at))
        };
        let rewind_to = match self.rng.below(3) {
            0 => SeqPos::Beginning,
            1 => SeqPos::End,
            _ => SeqPos::At(SeqNo(self.rng.below(8))),
        };
        let slot = &mut self.slots[i];
        let label = slot.label();
        let Some(consumer) = slot.consumer.as_mut() else { return Ok(()) };
        // What the application knows the answer to an assign or unassign must be.
        let subscribed = slot.streams.contains(&stream);
        let requested = consumer.core().requested().any(|(key, at)| *key == stream && *at == shard);
        let target = match choice {
            0 => {
                let result = consumer.assign(stream.clone(), shard);
                self.note(format_args!("{label} assign {stream}/{} {:?}", shard.0, result.as_ref().err()));
                let expected =
                    if subscribed { Ok(()) } else { Err(ConsumerError::NotSubscribed { key: stream }) };
                return expect_answer(&label, "assign", result, expected);
            }
            1 => {
                let result = consumer.unassign(stream.clone(), shard);
                self.note(format_args!("{label} unassign {stream}/{} {:?}", shard.0, result.as_ref().err()));
                let expected = match (subscribed, requested) {
                    (false, _) => Err(ConsumerError::NotSubscribed { key: stream }),
                    (true, false) => Err(ConsumerError::NotAssigned { key: stream, shard }),
                    (true, true) => Ok(()),
                };
                return expect_answer(&label, "unassign", result, expected);
            }
            2 => Target::Seq(rewind_to),
            _ => Target::Time(seek_to),
        };
        // Which shards the positioning moves, and where the model says each lands.
        let mut shards: Vec<StreamShard> = consumer.core().requested().cloned().collect();
        if shards.is_empty() {
            shards = slot.streams.iter().map(|key| (key.clone(), ShardId(0))).collect();
        }
        let model = &self.model;
        let why = match target {
            Target::Seq(_) => "rewind",
            Target::Time(_) => "seek",
        };
        let starts = shards.iter().map(|s| (s.clone(), Start::At(model.resolve(s, target), why))).collect();
        let lens = model.lens();
        let outcome = match target {
            Target::Seq(to) => settle(consumer.rewind(to)),
            Target::Time(to) => settle(consumer.seek(to)),
        };
        match outcome {
            Some(Ok(())) => {
                slot.seen.positioned(starts);
                if let Target::Time(at) = target {
                    slot.seen.seek_floor =
                        shards.iter().map(|s| (s.clone(), (at, lens.get(s).copied().unwrap_or(0)))).collect();
                }
                slot.resync();
                self.note(format_args!("{label} position {target:?} ok"));
                Ok(())
            }
            other => Err(format!("{label} position {target:?} did not complete: {other:?}")),
        }
    }

    /// Crash, leave, or restart a slot.
    pub(super) fn churn(&mut self, i: usize) {
        let label = self.slots[i].label();
        match self.slots[i].consumer.take() {
            None => self.start(i),
            Some(consumer) if self.rng.chance(0.5) => {
                sim_of(&consumer).crash();
                drop(consumer);
                self.note(format_args!("{label} crash"));
            }
            Some(consumer) => {
                drop(consumer);
                self.note(format_args!("{label} leave"));
            }
        }
    }

    /// Faults off, everyone up, and consume until nothing moves for longer
    /// than a session timeout plus the longest delay.
    pub(super) fn drain(&mut self) -> Result<(), String> {
        self.broker.with(|b| b.set_faults(Faults::none()));
        self.note("drain");
        for i in 0..self.slots.len() {
            if self.slots[i].consumer.is_none() {
                self.start(i);
            }
        }
        let mut quiet = 0;
        for _ in 0..400 {
            let mut moved = false;
            for i in 0..self.slots.len() {
                for _ in 0..10_000 {
                    let Some(consumer) = self.slots[i].consumer.as_mut() else { break };
                    match try_next(consumer) {
                        None => break,
                        Some(Ok(message)) => {
                            moved = true;
                            self.deliver(i, &message)?;
                        }
                        Some(Err(err)) => {
                            return Err(format!("{} next failed: {err}", self.slots[i].label()))
                        }
                    }
                }
            }
            self.events();
            quiet = if moved { 0 } else { quiet + 1 };
            if quiet >= 25 {
                return Ok(());
            }
            self.broker.advance(Duration::from_millis(200));
        }
        Err("the drain never settled".to_owned())
    }
}

/// `Err` unless an assign or unassign got the answer the application expected.
fn expect_answer(
    label: &str,
    what: &str,
    got: Result<(), ConsumerError>,
    expected: Result<(), ConsumerError>,
) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{label} {what} answered {got:?}, expected {expected:?}"))
    }
}
