//! `weir consume --mode resumable` SIGKILLed mid-stream three times over
//! 100,000 messages: every restart resumes at the first unacknowledged
//! entry, and the union of what was printed holds every message.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::process::Consume;

const MESSAGES: u32 = 100_000;

/// The payload the group's next reader gets first: its first pending
/// entry, else the one after the group's last delivered, else `END`.
fn next_for_group(key: &str, group: &str) -> String {
    python(&format!(
        "p = r.xpending_range('{key}', '{group}', '-', '+', 1)\n\
         if p:\n    print(r.xrange('{key}', p[0]['message_id'], p[0]['message_id'])[0][1][b'msg'].decode())\n\
         else:\n    last = r.xinfo_groups('{key}')[0]['last-delivered-id'].decode()\n    \
         nxt = r.xrange('{key}', '(' + last, '+', count=1)\n    \
         print(nxt[0][1][b'msg'].decode() if nxt else 'END')"
    ))
    .trim()
    .to_owned()
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn resumable_killed_three_times_loses_nothing() {
    let ns = namespace("kills");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let mut producer = streamer.create_producer(weir::ProducerOptions::default()).unwrap();
    for i in 0..MESSAGES {
        drop(producer.send_to(&orders, format!("m{i}")).unwrap());
    }
    producer.flush_within(Duration::from_secs(120)).await.expect("100k stored");

    let url = format!("redis://{}/orders?namespace={ns}&group.start=beginning", address());
    let args = ["consume", &url, "--mode", "resumable", "--group", "g", "--format", "payload"];
    let (key, group) = (format!("{ns}orders"), format!("{ns}g"));
    let mut seen = BTreeSet::new();
    let mut expected_first = "m0".to_owned();
    for run in 0..4 {
        let mut consume = Consume::spawn(&args);
        let started = Instant::now();
        let mut printed = 0;
        // Runs 0-2: killed once a commit (every 5 s) moved the group; run 3
        // reads on until everything was printed and acknowledged.
        let acked_before = next_for_group(&key, &group);
        loop {
            if started.elapsed() > Duration::from_secs(120) {
                consume.kill();
                let next = next_for_group(&key, &group);
                panic!(
                    "run {run}: {printed} lines in 120 s, {} of {MESSAGES} seen, the group's next: {next}; stderr: {}",
                    seen.len(),
                    consume.stderr()
                );
            }
            let line = consume.line_within(Duration::from_millis(200)).unwrap_or_else(|end| {
                panic!("run {run}: {end} after {printed} lines; stderr: {}", consume.stderr())
            });
            let Some(line) = line else {
                // Run 3 may have nothing left to print: the runs before
                // printed and acknowledged everything.
                let last = run == 3 && seen.len() == MESSAGES as usize;
                if printed > 0 || last {
                    let next = next_for_group(&key, &group);
                    if (run < 3 && next != acked_before) || (last && next == "END") {
                        break;
                    }
                }
                continue;
            };
            if printed == 0 {
                assert_eq!(line, expected_first, "run {run} starts at the first unacknowledged entry");
            }
            printed += 1;
            seen.insert(line);
            if run < 3 && printed % 2000 == 0 && next_for_group(&key, &group) != acked_before {
                break;
            }
        }
        // Lines printed before the kill count as delivered too.
        consume.kill();
        seen.extend(consume.rest(Duration::from_secs(20)));
        expected_first = next_for_group(&key, &group);
    }
    let want: BTreeSet<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, want, "the union holds every message, and nothing else");
    assert_eq!(expected_first, "END", "and the group acknowledged them all");
}
