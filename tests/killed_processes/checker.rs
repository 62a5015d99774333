//! The no-loss check over what every consumer process printed (line format,
//! `[timestamp | key | seq | shard] number`): every produced number printed
//! at least once, each always at the same place, and each process's output
//! in order per shard, without a skip.

use std::collections::BTreeMap;

/// One printed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub shard: u32,
    pub seq: u64,
    pub number: u64,
}

/// Reads a line printed by `weir consume --format line`.
pub fn parse(line: &str) -> Record {
    let fail = || -> ! { panic!("not a `[ts | key | seq | shard] number` line: {line:?}") };
    let rest = line.strip_prefix('[').unwrap_or_else(|| fail());
    let (header, payload) = rest.split_once("] ").unwrap_or_else(|| fail());
    let parts: Vec<&str> = header.split('|').map(str::trim).collect();
    let [_, _, seq, shard] = parts[..] else { fail() };
    Record {
        shard: shard.parse().unwrap_or_else(|_| fail()),
        seq: seq.parse().unwrap_or_else(|_| fail()),
        number: payload.parse().unwrap_or_else(|_| fail()),
    }
}

/// What one consumer process printed, in order.
pub struct Run {
    pub name: String,
    pub records: Vec<Record>,
}

impl Run {
    pub fn new(name: &str, lines: &[String]) -> Self {
        Self { name: name.to_owned(), records: lines.iter().map(|l| parse(l)).collect() }
    }

    /// The last seq printed per shard.
    pub fn last_seqs(&self) -> BTreeMap<u32, u64> {
        self.records.iter().map(|r| (r.shard, r.seq)).collect()
    }

    /// The first seq printed per shard.
    pub fn first_seqs(&self) -> BTreeMap<u32, u64> {
        let mut first = BTreeMap::new();
        for r in &self.records {
            first.entry(r.shard).or_insert(r.seq);
        }
        first
    }
}

/// Whether a process may go back within a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Each shard's seqs go up by exactly one: the process never went back
    /// and never skipped (the topics here have no gaps between offsets).
    Contiguous,
    /// Going back (re-delivery after a rebalance resumes from the last
    /// commit) is allowed; going forward by more than one is a skip.
    RewindsAllowed,
}

/// The totals of a check.
#[derive(Debug)]
pub struct Totals {
    pub consumed: u64,
    pub redelivered: u64,
}

/// Checks `runs` against the `produced` messages `0..produced`; panics
/// naming the first broken rule.
pub fn check(produced: u64, runs: &[&Run], order: Order) -> Totals {
    let mut place: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
    let mut number_at: BTreeMap<(u32, u64), u64> = BTreeMap::new();
    let mut consumed = 0;
    for run in runs {
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for (at, r) in run.records.iter().enumerate() {
            assert!(
                r.number < produced,
                "{}: line {at} carries {} but only 0..{produced} were produced",
                run.name,
                r.number
            );
            let seen = *place.entry(r.number).or_insert((r.shard, r.seq));
            assert_eq!(seen, (r.shard, r.seq), "{}: message {} printed at two places", run.name, r.number);
            let held = *number_at.entry((r.shard, r.seq)).or_insert(r.number);
            assert_eq!(
                held, r.number,
                "{}: shard {} seq {} printed with two payloads",
                run.name, r.shard, r.seq
            );
            if let Some(&prev) = last.get(&r.shard) {
                let fine = match order {
                    Order::Contiguous => r.seq == prev + 1,
                    Order::RewindsAllowed => r.seq <= prev + 1,
                };
                assert!(
                    fine,
                    "{}: line {at}: shard {} went from seq {prev} to {} ({order:?})",
                    run.name, r.shard, r.seq
                );
            }
            last.insert(r.shard, r.seq);
            consumed += 1;
        }
    }
    let missing: Vec<u64> = (0..produced).filter(|n| !place.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {produced} messages were never printed, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    Totals { consumed, redelivered: consumed - produced }
}

/// Each time `run` went back within a shard (it rejoined its group and
/// resumed from the group's commit), it went back no further than
/// `committed`, the resume points the group had committed before: a
/// consumer that restarted a shard from an older place (its beginning, say)
/// re-delivers what was marked processed.
pub fn assert_rewinds_not_before(run: &Run, committed: &BTreeMap<u32, u64>) {
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for (at, r) in run.records.iter().enumerate() {
        if let (Some(&prev), Some(&floor)) = (last.get(&r.shard), committed.get(&r.shard)) {
            assert!(
                r.seq > prev || r.seq >= floor,
                "{}: line {at}: shard {} went back from seq {prev} to {}, before its commit at {floor}",
                run.name,
                r.shard,
                r.seq
            );
        }
        last.insert(r.shard, r.seq);
    }
}

/// Counts the distinct numbers in `lines` as they come, for "wait until
/// everything was printed" (a closure over this sees each line once).
pub struct Coverage {
    seen: Vec<bool>,
    missing: u64,
    next: usize,
}

impl Coverage {
    /// Nothing seen of `0..produced` yet, except what `earlier` runs printed.
    pub fn new(produced: u64, earlier: &[&Run]) -> Self {
        let mut coverage =
            Self { seen: vec![false; usize::try_from(produced).expect("fits")], missing: produced, next: 0 };
        for record in earlier.iter().flat_map(|run| &run.records) {
            coverage.mark(record.number);
        }
        coverage
    }

    fn mark(&mut self, number: u64) {
        if let Some(seen) = usize::try_from(number).ok().and_then(|at| self.seen.get_mut(at)) {
            if !*seen {
                *seen = true;
                self.missing -= 1;
            }
        }
    }

    /// Takes the lines not seen yet; true once every number was printed.
    pub fn complete(&mut self, lines: &[String]) -> bool {
        for line in &lines[self.next..] {
            self.mark(parse(line).number);
        }
        self.next = lines.len();
        self.missing == 0
    }
}
