//! One consumer read to the end of the topic while its `next`, `rewind`,
//! `seek`, `commit` and `commit_all` futures are dropped at random, then
//! restarted from its group's committed position. Generic over the runtime;
//! every delivery goes through the [`Checker`].

use std::time::Instant;

use weir::{ConsumerError, ConsumerMode, ConsumerOptions, Message, Runtime, SeqNo, SeqPos, ShardId};

use crate::checker::Checker;
use crate::common::{options, streamer};
use crate::drops::{bounded, drive, How, Outcome, AWAIT_LIMIT};
use crate::load::Loaded;
use crate::rng::Rng;

/// How many messages back from the lowest frontier a rewind or seek may go.
const WINDOW: u64 = 200;

/// The most messages a repositioning may send one shard back; a costlier one
/// is skipped. librdkafka delivers a partition in runs (about a buffer's
/// worth), so the shards' positions differ by thousands at times, and a
/// rewind below the slowest shard would replay the others at length.
const COST_LIMIT: u64 = 2_500;

/// Per 10 000 steps: repositionings tried, commits, commit_alls.
const REPOSITION_RATE: u64 = 10;
const COMMIT_RATE: u64 = 90;
const COMMIT_ALL_RATE: u64 = 20;

/// What one run did, for the test's report.
#[derive(Debug, Default)]
pub struct Tally {
    pub delivered: u64,
    pub dropped_next: u64,
    pub repositionings: u64,
    pub dropped_repositionings: u64,
    /// Repositionings not made: they would have replayed too much.
    pub skipped_repositionings: u64,
    pub commits: u64,
    pub dropped_commits: u64,
    /// Time spent in deliveries, commits and repositionings.
    pub in_next: std::time::Duration,
    pub in_commit: std::time::Duration,
    pub in_reposition: std::time::Duration,
}

/// Reads `loaded` to the end in group `group` on runtime `R`, dropping futures
/// as `rng` says, then checks where a restarted consumer of the group resumes.
/// `blocking`: some deliveries use `next_blocking` (only without a runtime).
pub async fn run<R: Runtime>(
    loaded: &Loaded,
    group: &str,
    rng: &mut Rng,
    tag: String,
    blocking: bool,
) -> Tally {
    let mut checker = Checker::new(loaded, tag);
    let mut tally = Tally::default();
    let streamer = streamer::<R>(&loaded.url());
    let keys = std::slice::from_ref(&loaded.key);
    let mut consumer = streamer.create_consumer(keys, consumer_options(group)).unwrap();
    for shard in 0..loaded.shards.len() as u32 {
        // Rewinds and seeks move every shard, not only shard 0.
        consumer.assign(loaded.key.clone(), ShardId(shard)).unwrap();
    }
    // The group's assignment first: a rewind before it would move nothing.
    let first = awaited(bounded(consumer.next(), "the first message").await, &checker, "the first message");
    checker.delivered(&first);
    let assigned = consumer.core().assignment().map_or(0, |a| a.len());
    assert_eq!(assigned, loaded.shards.len(), "{}: one member gets every shard", checker.tag());
    let mut recent: Vec<Message> = vec![first];
    while !checker.complete() {
        let roll = rng.below(10_000);
        let step = Instant::now();
        if roll < REPOSITION_RATE {
            reposition::<R>(&mut consumer, &mut checker, rng, &mut tally).await;
            tally.in_reposition += step.elapsed();
        } else if roll < REPOSITION_RATE + COMMIT_RATE {
            let Some(message) = recent.get(rng.below(recent.len() as u64) as usize).cloned() else {
                continue;
            };
            let position = checker.commit_issued(&message);
            let how = How::pick(rng, 60);
            let op = consumer.commit(&message.header);
            settle_commit(drive::<R, _>(op, how, "commit").await, &mut checker, &[position], &mut tally);
            tally.in_commit += step.elapsed();
        } else if roll < REPOSITION_RATE + COMMIT_RATE + COMMIT_ALL_RATE {
            let positions = checker.commit_all_issued();
            let how = How::pick(rng, 60);
            let op = consumer.commit_all();
            settle_commit(drive::<R, _>(op, how, "commit_all").await, &mut checker, &positions, &mut tally);
            tally.in_commit += step.elapsed();
        } else {
            // Blocking only on a message already buffered: `next_blocking` has
            // no time limit, and the test must end even if weir hangs.
            let got = if blocking && consumer.core().buffered() > 0 && rng.one_in(2) {
                Some(consumer.next_blocking())
            } else {
                let how = How::pick(rng, 15);
                match drive::<R, _>(consumer.next(), how, "next").await {
                    Outcome::Done(got) => Some(got),
                    Outcome::Dropped => {
                        checker.note(|| format!("next dropped ({how:?})"));
                        None
                    }
                }
            };
            match got {
                Some(got) => {
                    let message = awaited(got, &checker, "next");
                    checker.delivered(&message);
                    if recent.len() == 8 {
                        recent.remove(0);
                    }
                    recent.push(message);
                }
                None => tally.dropped_next += 1,
            }
            tally.in_next += step.elapsed();
        }
    }
    tally.delivered = checker.delivered;
    tally.repositionings = checker.repositionings;
    finish_and_restart::<R>(loaded, group, consumer, checker, &streamer).await;
    tally
}

/// A Resumable consumer of `group`.
fn consumer_options(group: &str) -> ConsumerOptions {
    options(ConsumerMode::Resumable, Some(group))
}

/// A rewind (to a seq or the beginning) or a seek, never past a message still
/// to be delivered, driven as `rng` says.
async fn reposition<R: Runtime>(
    consumer: &mut weir::Consumer<R>,
    checker: &mut Checker<'_>,
    rng: &mut Rng,
    tally: &mut Tally,
) {
    // Every other one dropped, in one of the ways `How` knows; the first one
    // unpolled, which no runtime can complete before the drop.
    let how = match checker.repositionings {
        0 => How::Unpolled,
        n if n % 2 == 0 => How::pick(rng, 100),
        _ => How::Awaited,
    };
    let lowest = checker.lowest_frontier();
    let back = rng.below(WINDOW + 1);
    let (to, starts, what) = match rng.below(10) {
        0 => (SeqPos::Beginning.into(), checker.starts_at(0), "rewind to the beginning"),
        1..=5 => {
            let to = lowest.saturating_sub(back);
            (SeqPos::At(SeqNo(to)).into(), checker.starts_at(to), "rewind")
        }
        _ => {
            let Some(frontier) = checker.lowest_frontier_time() else { return };
            let to =
                weir::Timestamp::from_unix_millis(frontier.unix_millis() - back as i64).expect("in range");
            (To::Time(to), checker.starts_of_seek(to), "seek")
        }
    };
    if checker.cost(&starts) > COST_LIMIT {
        tally.skipped_repositionings += 1;
        return;
    }
    // Asked for as the future is made, whatever becomes of it: the next
    // delivery of each shard is from here.
    checker.note(|| format!("{what} ({how:?})"));
    checker.repositioned(starts);
    let outcome = match to {
        To::Seq(pos) => drive::<R, _>(consumer.rewind(pos), how, what).await,
        To::Time(at) => drive::<R, _>(consumer.seek(at), how, what).await,
    };
    match outcome {
        Outcome::Done(result) => {
            if let Err(err) = result {
                panic!("{}: {what} failed: {err}", checker.tag());
            }
        }
        Outcome::Dropped => tally.dropped_repositionings += 1,
    }
}

/// Where a repositioning goes.
enum To {
    Seq(SeqPos),
    Time(weir::Timestamp),
}

impl From<SeqPos> for To {
    fn from(pos: SeqPos) -> Self {
        Self::Seq(pos)
    }
}

fn settle_commit(
    outcome: Outcome<Result<(), ConsumerError>>,
    checker: &mut Checker<'_>,
    positions: &[(usize, u64)],
    tally: &mut Tally,
) {
    tally.commits += 1;
    checker.note(|| {
        format!(
            "commit {positions:?}: {}",
            if matches!(outcome, Outcome::Dropped) { "dropped" } else { "done" }
        )
    });
    match outcome {
        Outcome::Done(Ok(())) => checker.commit_completed(positions),
        Outcome::Done(Err(err)) => panic!("{}: a commit failed: {err}", checker.tag()),
        Outcome::Dropped => tally.dropped_commits += 1,
    }
}

fn awaited(got: Result<Message, ConsumerError>, checker: &Checker<'_>, what: &str) -> Message {
    got.unwrap_or_else(|err| panic!("{}: {what} failed: {err}", checker.tag()))
}

/// Rewinds to the middle, commits the first message of each shard from
/// there (awaited: the last completed commits), drops the consumer, and
/// checks where a new consumer of the group resumes each shard.
async fn finish_and_restart<R: Runtime>(
    loaded: &Loaded,
    group: &str,
    mut consumer: weir::Consumer<R>,
    mut checker: Checker<'_>,
    streamer: &weir::Streamer<R>,
) {
    let middle = loaded.shards.iter().map(|s| s.len() as u64).min().unwrap_or(0) / 2;
    checker.repositioned(checker.starts_at(middle));
    let rewound =
        drive::<R, _>(consumer.rewind(SeqPos::At(SeqNo(middle))), How::Awaited, "final rewind").await;
    assert!(matches!(rewound, Outcome::Done(Ok(()))), "{}: final rewind: {rewound:?}", checker.tag());
    // The first message of each shard from there, committed one by one and
    // awaited: the last completed commits, each before its shard's end.
    let mut firsts: Vec<Option<Message>> = vec![None; loaded.shards.len()];
    while firsts.iter().any(Option::is_none) {
        let message = match drive::<R, _>(consumer.next(), How::Awaited, "next").await {
            Outcome::Done(got) => awaited(got, &checker, "next after the final rewind"),
            Outcome::Dropped => unreachable!("awaited"),
        };
        checker.delivered(&message);
        let first = &mut firsts[message.shard().0 as usize];
        if first.is_none() {
            *first = Some(message);
        }
    }
    let mut tally = Tally::default();
    for message in firsts.into_iter().flatten() {
        let position = checker.commit_issued(&message);
        let committed = drive::<R, _>(consumer.commit(&message.header), How::Awaited, "final commit").await;
        settle_commit(committed, &mut checker, &[position], &mut tally);
    }
    drop(consumer);

    let keys = std::slice::from_ref(&loaded.key);
    let mut restarted = streamer.create_consumer(keys, consumer_options(group)).unwrap();
    let ends: Vec<u64> = loaded.shards.iter().map(|s| s.len() as u64).collect();
    // A shard whose last completed commit is at its end has nothing to deliver.
    let owed: Vec<bool> =
        checker.completed().iter().zip(&ends).map(|(c, end)| c.is_some_and(|c| c < *end)).collect();
    let mut resumed: Vec<Option<u64>> = vec![None; loaded.shards.len()];
    let deadline = Instant::now() + AWAIT_LIMIT;
    while owed.iter().zip(&resumed).any(|(owed, resumed)| *owed && resumed.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match drive::<R, _>(restarted.next(), How::Raced(left), "next after the restart").await
        {
            Outcome::Done(got) => awaited(got, &checker, "next after the restart"),
            Outcome::Dropped => panic!(
                "{}: {AWAIT_LIMIT:?} after the restart, shards resumed only at {resumed:?} (None: nothing \
                 delivered) though the last completed commits resume from {:?}, before the ends {ends:?}: \
                 a shard resumed later than after its last completed commit",
                checker.tag(),
                checker.completed()
            ),
        };
        let slot = &mut resumed[message.shard().0 as usize];
        if slot.is_none() {
            *slot = Some(message.seq().0);
            checker.resumed(message.shard().0 as usize, message.seq().0);
        }
    }
    eprintln!(
        "{}: restart resumed at {resumed:?}; last completed commits resume from {:?}",
        checker.tag(),
        checker.completed()
    );
}
