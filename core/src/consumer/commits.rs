//! Commit bookkeeping: what was delivered, what was asked to be committed,
//! what the broker acknowledged. Committing a message means resuming *after* it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use super::command::{CommitId, StreamShard};
use crate::error::{BackendError, ConsumerError};
use crate::key::{SeqNo, ShardId, StreamKey};
use crate::message::MessageHeader;

/// How many uncollected commit outcomes are kept; only one commit future can
/// wait at a time, so older ones belong to dropped futures.
const KEPT_OUTCOMES: usize = 16;

/// One commit request: the shards and the sequence to resume each from.
type Offsets = Vec<(StreamKey, ShardId, SeqNo)>;

#[derive(Debug)]
struct InFlight {
    offsets: Offsets,
    /// Automatic commits have no waiting future: their outcome is not kept.
    automatic: bool,
}

#[derive(Debug)]
pub(super) struct Commits {
    enabled: bool,
    /// Last and highest delivered seq per shard, in first-delivery order (few
    /// shards, so a scan with a hint beats a map on the per-message path). They
    /// differ after a rewind: commits resume after the last, but any message up
    /// to the highest was handed out and may be committed.
    delivered: Vec<(StreamShard, SeqNo, SeqNo)>,
    hint: usize,
    /// With manual storing, the last message per shard the application
    /// marked as processed; without it, `delivered` plays that part.
    stored: Option<BTreeMap<StreamShard, SeqNo>>,
    /// Highest resume-from sent per shard, so auto-commit sends only news.
    requested: BTreeMap<StreamShard, SeqNo>,
    /// Resume-from acknowledged by the broker per shard.
    committed: BTreeMap<StreamShard, SeqNo>,
    in_flight: BTreeMap<CommitId, InFlight>,
    outcomes: VecDeque<(CommitId, Result<(), BackendError>)>,
    next_id: u64,
    auto: Option<(Duration, Instant)>,
}

impl Commits {
    pub(super) fn new(enabled: bool, auto: Option<Duration>, auto_store: bool, now: Instant) -> Self {
        Self {
            enabled,
            delivered: Vec::new(),
            hint: 0,
            stored: (!auto_store).then(BTreeMap::new),
            requested: BTreeMap::new(),
            committed: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            outcomes: VecDeque::new(),
            next_id: 0,
            auto: auto.map(|every| (every, now + every)),
        }
    }

    pub(super) fn committed(&self) -> impl Iterator<Item = (&StreamShard, SeqNo)> {
        self.committed.iter().map(|(shard, seq)| (shard, *seq))
    }

    /// Records a message handed to the application.
    #[inline]
    pub(super) fn delivered(&mut self, header: &MessageHeader) {
        if self.enabled {
            self.record_delivered(header);
        }
    }

    fn record_delivered(&mut self, header: &MessageHeader) {
        let same = |((key, shard), ..): &(StreamShard, SeqNo, SeqNo)| {
            *shard == header.shard && *key == header.stream_key
        };
        if let Some(entry) = self.delivered.get_mut(self.hint).filter(|entry| same(entry)) {
            entry.1 = header.seq;
            entry.2 = entry.2.max(header.seq);
            return;
        }
        match self.delivered.iter().position(same) {
            Some(at) => {
                self.hint = at;
                let entry = &mut self.delivered[at];
                entry.1 = header.seq;
                entry.2 = entry.2.max(header.seq);
            }
            None => {
                self.hint = self.delivered.len();
                self.delivered.push(((header.stream_key.clone(), header.shard), header.seq, header.seq));
            }
        }
    }

    fn highest_delivered(&self, key: &StreamKey, shard: ShardId) -> Option<SeqNo> {
        self.delivered.iter().find(|((k, s), _, _)| k == key && *s == shard).map(|(_, _, highest)| *highest)
    }

    fn check_delivered(&self, header: &MessageHeader) -> Result<(), ConsumerError> {
        match self.highest_delivered(&header.stream_key, header.shard) {
            Some(highest) if highest >= header.seq => Ok(()),
            _ => Err(ConsumerError::NotDelivered {
                key: header.stream_key.clone(),
                shard: header.shard,
                seq: header.seq,
            }),
        }
    }

    pub(super) fn commit_one(&mut self, header: &MessageHeader) -> Result<CommitId, ConsumerError> {
        self.check_delivered(header)?;
        let offsets = vec![(header.stream_key.clone(), header.shard, header.seq.next())];
        Ok(self.start(offsets, false))
    }

    /// Marks a delivered message as processed: the next `commit_all` or
    /// automatic commit resumes after it. Storing an earlier message than the
    /// last stored one (after a rewind) moves the mark back, as a commit would.
    pub(super) fn store(&mut self, header: &MessageHeader) -> Result<(), ConsumerError> {
        self.check_delivered(header)?;
        let stored = self.stored.as_mut().ok_or(ConsumerError::AutoStore)?;
        stored.insert((header.stream_key.clone(), header.shard), header.seq);
        Ok(())
    }

    pub(super) fn commit_stored(&mut self) -> Option<CommitId> {
        self.commit_news(false)
    }

    /// The last processed message per shard: every delivered one, or with
    /// manual storing the stored ones.
    fn processed(&self) -> impl Iterator<Item = (&StreamShard, SeqNo)> {
        let delivered =
            self.delivered.iter().filter(|_| self.stored.is_none()).map(|(shard, last, _)| (shard, *last));
        delivered.chain(self.stored.iter().flatten().map(|(shard, last)| (shard, *last)))
    }

    fn commit_news(&mut self, automatic: bool) -> Option<CommitId> {
        let offsets: Offsets = self
            .processed()
            .map(|((key, shard), last)| (key.clone(), *shard, last.next()))
            .filter(|(key, shard, next)| self.requested.get(&(key.clone(), *shard)) != Some(next))
            .collect();
        (!offsets.is_empty()).then(|| self.start(offsets, automatic))
    }

    fn start(&mut self, offsets: Offsets, automatic: bool) -> CommitId {
        let id = CommitId(self.next_id);
        self.next_id += 1;
        for (key, shard, next) in &offsets {
            self.requested.insert((key.clone(), *shard), *next);
        }
        self.in_flight.insert(id, InFlight { offsets, automatic });
        id
    }

    pub(super) fn offsets_of(&self, id: CommitId) -> Option<Offsets> {
        self.in_flight.get(&id).map(|flight| flight.offsets.clone())
    }

    /// Records the outcome of commit `id`; returns what it asked for and
    /// whether it was automatic, unless `id` was not in flight.
    pub(super) fn handle_committed(
        &mut self,
        id: CommitId,
        result: &Result<(), BackendError>,
    ) -> Option<(Offsets, bool)> {
        let flight = self.in_flight.remove(&id)?;
        for (key, shard, next) in &flight.offsets {
            let shard = (key.clone(), *shard);
            if result.is_ok() {
                self.committed.insert(shard, *next);
            } else if self.requested.get(&shard) == Some(next) {
                // Let the next automatic commit try again.
                match self.committed.get(&shard) {
                    Some(acked) => self.requested.insert(shard, *acked),
                    None => self.requested.remove(&shard),
                };
            }
        }
        if !flight.automatic {
            if self.outcomes.len() == KEPT_OUTCOMES {
                self.outcomes.pop_front();
            }
            self.outcomes.push_back((id, result.clone()));
        }
        Some((flight.offsets, flight.automatic))
    }

    pub(super) fn poll_committed(&mut self, id: CommitId) -> Option<Result<(), ConsumerError>> {
        if self.in_flight.contains_key(&id) {
            return None;
        }
        let at = self.outcomes.iter().position(|(done, _)| *done == id);
        match at.and_then(|at| self.outcomes.remove(at)) {
            Some((_, result)) => Some(result.map_err(ConsumerError::from)),
            // Never issued, or collected already: nothing is pending.
            None => Some(Ok(())),
        }
    }

    pub(super) fn retain_shards(&mut self, shards: &BTreeSet<StreamShard>) {
        self.delivered.retain(|(shard, _, _)| shards.contains(shard));
        if let Some(stored) = &mut self.stored {
            stored.retain(|shard, _| shards.contains(shard));
        }
        self.hint = 0;
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) -> Option<CommitId> {
        let (every, due) = self.auto?;
        if now < due {
            return None;
        }
        self.auto = Some((every, now + every));
        self.commit_news(true)
    }

    #[inline]
    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.auto.map(|(_, due)| due)
    }
}
