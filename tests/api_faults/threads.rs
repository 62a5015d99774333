//! Counting this process's threads through `/proc/self/task`, to show that a
//! dropped consumer leaves no thread behind (a hung librdkafka close, a poll
//! thread that never stops, a blocking job stuck on a dead broker).

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// The threads of this process now, by name (`comm`).
pub fn names() -> Vec<String> {
    tasks()
        .filter_map(Result::ok)
        .map(|task| {
            fs::read_to_string(task.path().join("comm"))
                .map_or_else(|_| "?".to_owned(), |n| n.trim().to_owned())
        })
        .collect()
}

/// How many threads this process has now.
pub fn count() -> usize {
    tasks().count()
}

/// The entries of `/proc/self/task`. Unreadable, the test fails: counting
/// nothing there would pass "no thread left" without checking it.
fn tasks() -> fs::ReadDir {
    fs::read_dir("/proc/self/task")
        .unwrap_or_else(|err| panic!("cannot count threads: /proc/self/task is unreadable ({err})"))
}

/// Waits, up to `limit`, until the process has no more than `baseline`
/// threads. `Err` lists the threads alive at the deadline: threads end
/// asynchronously (librdkafka's close runs on the consumer's own thread), so
/// a bounded wait is part of the contract, an endless one is the bug.
pub fn back_to(baseline: usize, limit: Duration) -> Result<(usize, Duration), String> {
    let started = Instant::now();
    loop {
        let now = count();
        if now <= baseline {
            return Ok((now, started.elapsed()));
        }
        if started.elapsed() >= limit {
            return Err(format!(
                "{now} threads {limit:?} after dropping everything, {baseline} before: {:?}",
                names()
            ));
        }
        // Polling a condition with a deadline; the interval does not change the outcome.
        thread::sleep(Duration::from_millis(20));
    }
}
