//! `weir consume --mode resumable` SIGKILLed mid-stream three times over
//! 100,000 messages: every restart resumes at the first unacknowledged
//! entry, and the union of what was printed holds every message.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

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
        let mut child = crate::support::spawn_weir(&args, &[], Stdio::null());
        let (lines, received) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            // At most about 5,000 lines a second: the pipe fills and holds the
            // consumer back, so each run is killed with messages left to read.
            for (n, line) in BufReader::new(stdout).lines().map_while(Result::ok).enumerate() {
                if lines.send(line).is_err() {
                    break;
                }
                if n % 50 == 49 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).ok();
            text
        });
        let started = Instant::now();
        let mut printed = 0;
        // Runs 0-2: killed once a commit (every 5 s) moved the group; run 3
        // reads on until everything was seen.
        let acked_before = next_for_group(&key, &group);
        loop {
            if started.elapsed() > Duration::from_secs(120) {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("run {run}: {printed} lines in 120 s; stderr: {}", errors.join().unwrap());
            }
            if run == 3 && seen.len() == MESSAGES as usize {
                // The killed runs had printed everything between them.
                break;
            }
            let Ok(line) = received.recv_timeout(Duration::from_millis(200)) else {
                if run < 3 && printed > 0 && next_for_group(&key, &group) != acked_before {
                    break;
                }
                continue;
            };
            if printed == 0 {
                assert_eq!(line, expected_first, "run {run} starts at the first unacknowledged entry");
            }
            printed += 1;
            seen.insert(line);
            if run == 3 && seen.len() == MESSAGES as usize {
                break;
            }
            if run < 3 && printed % 2000 == 0 && next_for_group(&key, &group) != acked_before {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(errors);
        expected_first = next_for_group(&key, &group);
    }
    assert_eq!(seen.len(), MESSAGES as usize, "the union holds every message");
    assert_eq!(expected_first, "END", "and the group acknowledged them all");
}
