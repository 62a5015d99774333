//! The `weir` tool on `.ss` files: record with `relay`, decode with
//! `consume`, and a relay killed mid-stream leaves a file that reads back to
//! its last complete frame.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-file-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect()
}

#[test]
fn relay_records_a_file_that_consume_decodes() {
    let path = scratch("recorded.ss");
    let mut input = Vec::new();
    for i in 0..5_000 {
        writeln!(input, "[2026-01-02T03:04:05.{:03}123 | src | {i}] payload {i}", i % 1000).unwrap();
    }
    let url = format!("file://{}/orders", path.display());
    let relayed = support::run_weir(&["relay", "--input", "stdio:///src", "--output", &url], &[], &input);
    assert!(relayed.status.success(), "{}", String::from_utf8_lossy(&relayed.stderr));
    let decoded = support::run_weir(&["consume", &url, "--format", "json"], &[], b"");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let got = lines(&decoded.stdout);
    assert_eq!(got.len(), 5_000, "every message recorded, then the replay ends");
    assert_eq!(
        got[7],
        r#"{"payload":"payload 7","seq":7,"shard":0,"stream":"orders","timestamp":"2026-01-02T03:04:05.007000"}"#,
        "the recorded timestamp, to the millisecond; the output's stream; seqs from 0"
    );
    // Appending again continues the seqs: the file's end is found, not rewritten.
    let again =
        support::run_weir(&["relay", "--input", "stdio:///src", "--output", &url], &[], b"[src] more\n");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let decoded = support::run_weir(&["consume", &url, "--format", "payload"], &[], b"");
    let got = lines(&decoded.stdout);
    assert_eq!((got.len(), got[5_000].as_str()), (5_001, "more"));
}

#[test]
fn a_killed_relay_leaves_every_complete_frame_readable() {
    let path = scratch("killed.ss");
    let url = format!("file://{}/k", path.display());
    let mut relay =
        support::spawn_weir(&["relay", "--input", "stdio:///k", "--output", &url], &[], Stdio::piped());
    let mut stdin = relay.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        // Until the relay is killed and the pipe breaks.
        for i in 0u64.. {
            if writeln!(stdin, "[k] message {i} {}", "x".repeat((i % 500) as usize)).is_err() {
                return i;
            }
        }
        unreachable!()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&path).map_or(0, |m| m.len()) < 2 << 20 {
        assert!(Instant::now() < deadline, "the relay wrote less than 2 MiB in 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.kill().unwrap(); // SIGKILL: no chance to finish a frame
    relay.wait().unwrap();
    let fed = feeder.join().unwrap();

    let decoded = support::run_weir(&["consume", &url, "--format", "payload"], &[], b"");
    let got = lines(&decoded.stdout);
    assert!(got.len() > 1_000, "{} messages read back", got.len());
    assert!((got.len() as u64) <= fed);
    for (i, line) in got.iter().enumerate() {
        assert_eq!(
            *line,
            format!("message {i} {}", "x".repeat(i % 500)),
            "nothing before the cut is lost or changed"
        );
    }
    // Either the kill fell between frames (a clean end), or the torn frame is named.
    let stderr = String::from_utf8_lossy(&decoded.stderr);
    assert!(decoded.status.success() || stderr.contains("torn frame at offset"), "{stderr}");
    // A new writer cuts the torn end off and appends after the last complete frame.
    let resumed =
        support::run_weir(&["relay", "--input", "stdio:///k", "--output", &url], &[], b"[k] after\n");
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let decoded = support::run_weir(&["consume", &url, "--format", "payload"], &[], b"");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let all = lines(&decoded.stdout);
    assert_eq!((all.len(), all.last().map(String::as_str)), (got.len() + 1, Some("after")));
}
