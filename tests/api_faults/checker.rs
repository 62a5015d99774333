//! What a consumer under dropped futures must still do: deliver every
//! message at least once, each shard in order with no gap from the start of
//! the latest repositioning, and leave a committed position no later than
//! after its last completed commit.

use weir::{Message, Timestamp};

use crate::load::Loaded;

/// The record of one consumer's deliveries and commits, checked as they happen.
pub struct Checker<'a> {
    loaded: &'a Loaded,
    /// Printed with every failure: the runtime and the seed to replay.
    tag: String,
    /// Per shard: which seqs were ever delivered.
    seen: Vec<Vec<bool>>,
    /// Per shard: the lowest seq never delivered (its length when all were).
    frontier: Vec<u64>,
    unseen: u64,
    /// Per shard: the seq the next delivery must have, from the latest
    /// repositioning (asked for, whether or not its future was awaited).
    expected: Vec<u64>,
    /// Per shard: the last delivered seq (commit_all commits after it).
    last: Vec<Option<u64>>,
    /// Per shard: every resume-from position a commit asked for.
    issued: Vec<Vec<u64>>,
    /// Per shard: the resume-from position of the last commit that completed.
    completed: Vec<Option<u64>>,
    pub delivered: u64,
    pub repositionings: u64,
    /// The latest events, printed with a failure.
    history: std::collections::VecDeque<String>,
}

/// How many events a failure report shows.
const HISTORY: usize = 40;

impl<'a> Checker<'a> {
    pub fn new(loaded: &'a Loaded, tag: String) -> Self {
        let shards = loaded.shards.len();
        Self {
            loaded,
            tag,
            seen: loaded.shards.iter().map(|s| vec![false; s.len()]).collect(),
            frontier: vec![0; shards],
            unseen: loaded.total,
            // A fresh group with auto.offset.reset=earliest starts every shard at 0.
            expected: vec![0; shards],
            last: vec![None; shards],
            issued: vec![Vec::new(); shards],
            completed: vec![None; shards],
            delivered: 0,
            repositionings: 0,
            history: std::collections::VecDeque::with_capacity(HISTORY),
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Notes an event for the failure report.
    pub fn note(&mut self, event: impl FnOnce() -> String) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(event());
    }

    /// The latest events, oldest first.
    pub fn history(&self) -> String {
        self.history.iter().map(String::as_str).collect::<Vec<_>>().join("\n  ")
    }

    /// Whether every message was delivered at least once.
    pub fn complete(&self) -> bool {
        self.unseen == 0
    }

    /// The lowest never-delivered seq over all shards: a rewind or seek to at
    /// most this skips nothing that still has to come.
    pub fn lowest_frontier(&self) -> u64 {
        self.frontier.iter().copied().min().unwrap_or(0)
    }

    /// The timestamp no later than every shard's first never-delivered message.
    pub fn lowest_frontier_time(&self) -> Option<Timestamp> {
        (0..self.frontier.len())
            .filter_map(|s| self.loaded.shards[s].get(self.frontier[s] as usize).map(|m| m.timestamp))
            .min()
    }

    /// Checks one delivered message.
    pub fn delivered(&mut self, message: &Message) {
        let (shard, seq) = (message.shard().0 as usize, message.seq().0);
        let tag = &self.tag;
        let stored = self.loaded.shards.get(shard).and_then(|s| s.get(seq as usize));
        let Some(stored) = stored else { panic!("{tag}: shard {shard} has no seq {seq}: {message:?}") };
        let payload = message.payload.as_str().expect("utf-8 payload");
        assert_eq!(payload, stored.index.to_string(), "{tag}: wrong payload at {shard}/{seq}");
        assert_eq!(message.timestamp(), stored.timestamp, "{tag}: wrong timestamp at {shard}/{seq}");
        assert_eq!(
            seq,
            self.expected[shard],
            "{tag}: shard {shard} delivered seq {seq} where seq {} was due (gap = lost message, lower = \
             stale or repeated) after {} deliveries and {} repositionings; latest events:\n  {}",
            self.expected[shard],
            self.delivered,
            self.repositionings,
            self.history()
        );
        self.note(|| format!("delivered {shard}/{seq}"));
        self.expected[shard] = seq + 1;
        self.last[shard] = Some(seq);
        self.delivered += 1;
        let seen = &mut self.seen[shard];
        if !seen[seq as usize] {
            seen[seq as usize] = true;
            self.unseen -= 1;
            let frontier = &mut self.frontier[shard];
            while (*frontier as usize) < seen.len() && seen[*frontier as usize] {
                *frontier += 1;
            }
        }
    }

    /// A rewind or seek was asked for: shard `s` continues at `starts[s]`.
    pub fn repositioned(&mut self, starts: Vec<u64>) {
        self.note(|| format!("repositioned: shards start at {starts:?}"));
        self.expected = starts;
        self.repositionings += 1;
    }

    /// How far a repositioning to `starts` sends the shard it moves back most.
    pub fn cost(&self, starts: &[u64]) -> u64 {
        self.expected.iter().zip(starts).map(|(at, start)| at.saturating_sub(*start)).max().unwrap_or(0)
    }

    /// The starts of a rewind to `seq` (the shard's end if shorter).
    pub fn starts_at(&self, seq: u64) -> Vec<u64> {
        self.loaded.shards.iter().map(|s| seq.min(s.len() as u64)).collect()
    }

    /// The starts of a seek to `at`.
    pub fn starts_of_seek(&self, at: Timestamp) -> Vec<u64> {
        (0..self.loaded.shards.len()).map(|s| self.loaded.first_at_or_after(s, at)).collect()
    }

    /// A commit of `message` was asked for: resume after it.
    pub fn commit_issued(&mut self, message: &Message) -> (usize, u64) {
        let (shard, resume) = (message.shard().0 as usize, message.seq().0 + 1);
        self.issued[shard].push(resume);
        (shard, resume)
    }

    /// A commit_all was asked for: every shard resumes after its last delivery.
    pub fn commit_all_issued(&mut self) -> Vec<(usize, u64)> {
        let all: Vec<(usize, u64)> =
            self.last.iter().enumerate().filter_map(|(s, last)| last.map(|seq| (s, seq + 1))).collect();
        for (shard, resume) in &all {
            self.issued[*shard].push(*resume);
        }
        all
    }

    /// A commit of these positions completed.
    pub fn commit_completed(&mut self, positions: &[(usize, u64)]) {
        for (shard, resume) in positions {
            self.completed[*shard] = Some(*resume);
        }
    }

    /// Checks where a restarted consumer of the group resumed shard `shard`:
    /// no later than after the last completed commit, and at a position some
    /// commit asked for (a dropped commit may still have landed before it).
    pub fn resumed(&self, shard: usize, at: u64) {
        let tag = &self.tag;
        let completed =
            self.completed[shard].unwrap_or_else(|| panic!("{tag}: shard {shard} was never committed"));
        assert!(
            at <= completed,
            "{tag}: shard {shard} resumed at {at}, after the last completed commit (resume from {completed})"
        );
        assert!(
            self.issued[shard].contains(&at),
            "{tag}: shard {shard} resumed at {at}, which no commit asked for (asked: {} positions)",
            self.issued[shard].len()
        );
    }

    /// Per shard, the resume position of the last completed commit.
    pub fn completed(&self) -> &[Option<u64>] {
        &self.completed
    }
}
