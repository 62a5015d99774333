//! The `weir` tool on `.ss` files: record with `relay`, decode with
//! `consume`, replay with `relay` keeping the recorded timestamps, `list`
//! the streams of a file, merge two files by time; and a relay killed
//! mid-stream leaves a file that reads back to its last complete frame.

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

/// A `.ss` file at `path` holding `(stream, shard, seq, ms after 2026-01-01, payload)`.
fn write_ss(path: &PathBuf, frames: &[(&str, u32, u64, i64, &str)]) {
    use weir::file::{Encoder, FileHeader};
    let at = |ms: i64| weir::Timestamp::from_unix_millis(1_767_225_600_000 + ms).unwrap();
    let header = FileHeader::new("test.ss", at(0), 1024).unwrap();
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut bytes).unwrap();
    for &(stream, shard, seq, ms, payload) in frames {
        let h =
            weir::MessageHeader::new(support::key(stream), weir::ShardId(shard), weir::SeqNo(seq), at(ms));
        encoder.encode(&h, payload.as_bytes(), &mut bytes).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn list_shows_each_stream_and_shard_of_a_file() {
    let path = scratch("listed.ss");
    write_ss(
        &path,
        &[
            ("b", 0, 7, 0, "b7"),
            ("a", 1, 3, 1, "a3"),
            ("a", 0, 0, 2, "a0"),
            ("a", 1, 4, 3, "a4"),
            ("b", 0, 8, 4, "b8"),
        ],
    );
    let url = format!("file://{}", path.display());
    let listed = support::run_weir(&["list", &url], &[], b"");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let rows: Vec<Vec<String>> =
        lines(&listed.stdout).iter().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    assert_eq!(
        rows,
        [
            ["stream", "shard", "low", "high", "messages"],
            ["a", "0", "0", "1", "1"],
            ["a", "1", "3", "5", "2"],
            ["b", "0", "7", "9", "2"],
        ],
        "every stream of the file, its shards, first seq and one past the last"
    );
    let one = support::run_weir(&["list", &format!("{url}/b,c"), "--format", "json"], &[], b"");
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    assert_eq!(
        lines(&one.stdout),
        [
            r#"{"shards":[{"high":9,"low":7,"shard":0}],"stream":"b"}"#,
            r#"{"shards":[{"high":0,"low":0,"shard":0}],"stream":"c"}"#,
        ],
        "the streams named; one the file has no message of is empty"
    );
    // What the listing gives: --shard picks a shard of a replay (from its
    // beginning), and -e stops a follower at the end the file had.
    let shard =
        support::run_weir(&["consume", &format!("{url}/a"), "--shard", "1", "--format", "payload"], &[], b"");
    assert!(shard.status.success(), "{}", String::from_utf8_lossy(&shard.stderr));
    assert_eq!(lines(&shard.stdout), ["a3", "a4"]);
    let follow = format!("{url}/a,b?follow=true");
    let args = ["consume", &follow, "--from", "beginning", "-e", "--format", "payload"];
    let caught_up = support::run_weir_within(&args, &[], b"", Duration::from_secs(60));
    assert!(caught_up.status.success(), "{}", String::from_utf8_lossy(&caught_up.stderr));
    assert_eq!(lines(&caught_up.stdout), ["b7", "a3", "a0", "a4", "b8"], "in file order, then exits");
    // --from TIME with -e: each shard from its first message not before the time.
    let replay = format!("{url}/a,b");
    let args = ["consume", &replay, "--from", "2026-01-01T00:00:00.002Z", "-e", "--format", "payload"];
    let from_time = support::run_weir_within(&args, &[], b"", Duration::from_secs(60));
    assert!(from_time.status.success(), "{}", String::from_utf8_lossy(&from_time.stderr));
    assert_eq!(lines(&from_time.stdout), ["a0", "a4", "b8"]);
}

#[test]
fn relay_replays_a_file_keeping_the_recorded_timestamps() {
    let path = scratch("replayed.ss");
    write_ss(&path, &[("orders", 0, 0, 1_500, "first"), ("orders", 0, 1, 86_400_000, "next day")]);
    let input = format!("file://{}/orders", path.display());
    let out = scratch("replayed-copy.ss");
    let copy = format!("file://{}/copy", out.display());
    let relayed = support::run_weir(&["relay", "--input", &input, "--output", &copy], &[], b"");
    assert!(relayed.status.success(), "{}", String::from_utf8_lossy(&relayed.stderr));
    let decoded = support::run_weir(&["consume", &copy, "--format", "{timestamp} {payload}"], &[], b"");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    assert_eq!(
        lines(&decoded.stdout),
        ["2026-01-01T00:00:01.500000 first", "2026-01-02T00:00:00.000000 next day"],
        "the recorded timestamps, not the time of the replay"
    );
}

#[test]
fn consume_merges_two_files_by_time() {
    let (one, two) = (scratch("merge-one.ss"), scratch("merge-two.ss"));
    write_ss(&one, &[("orders", 0, 0, 10, "o0"), ("orders", 0, 1, 30, "o1"), ("orders", 0, 2, 50, "o2")]);
    write_ss(&two, &[("payments", 0, 0, 20, "p0"), ("payments", 0, 1, 40, "p1")]);
    let urls = [format!("file://{}/orders", one.display()), format!("file://{}/payments", two.display())];
    let merged =
        support::run_weir(&["consume", &urls[0], &urls[1], "--merge", "--format", "payload"], &[], b"");
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(
        lines(&merged.stdout),
        ["o0", "p0", "o1", "p1", "o2"],
        "in time order; ends when both files end"
    );
}

#[test]
fn a_second_writing_process_is_refused_while_the_first_writes() {
    let path = scratch("two-writers.ss");
    let url = format!("file://{}/w", path.display());
    let mut first =
        support::spawn_weir(&["relay", "--input", "stdio:///w", "--output", &url], &[], Stdio::piped());
    let mut stdin = first.stdin.take().unwrap();
    writeln!(stdin, "[w] first").unwrap();
    stdin.flush().unwrap();
    // The first relay holds the lock once its first frame is in the file.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&path).map_or(0, |m| m.len()) <= 128 {
        assert!(Instant::now() < deadline, "the first relay wrote no frame within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second =
        support::run_weir(&["relay", "--input", "stdio:///w", "--output", &url], &[], b"[w] second\n");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second writer ran: {stderr}");
    assert!(stderr.contains("another writer holds the file's lock"), "{stderr}");
    drop(stdin);
    let status = support::wait_within(&mut first, Duration::from_secs(60))
        .expect("the first relay ends with its input");
    assert!(status.success());
    let decoded = support::run_weir(&["consume", &url, "--format", "payload"], &[], b"");
    assert_eq!(lines(&decoded.stdout), ["first"], "only the first writer's frames");
}

#[test]
fn consume_follow_tails_a_file_from_its_end() {
    let path = scratch("tailed.ss");
    let url = format!("file://{}/t", path.display());
    let recorded =
        support::run_weir(&["relay", "--input", "stdio:///t", "--output", &url], &[], b"[t] old\n");
    assert!(recorded.status.success(), "{}", String::from_utf8_lossy(&recorded.stderr));
    let mut tail = support::spawn_weir(
        &["consume", &url, "--follow", "--count", "1", "--format", "payload"],
        &[],
        Stdio::null(),
    );
    // The follower starts at the end it finds; append until it has printed one.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tail.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "weir consume --follow printed nothing within 60 s");
        let appended =
            support::run_weir(&["relay", "--input", "stdio:///t", "--output", &url], &[], b"[t] live\n");
        assert!(appended.status.success(), "{}", String::from_utf8_lossy(&appended.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = tail.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stdout), ["live"], "an append, not what the file held before");
    let refused = support::run_weir(&["consume", "stdio:///t", "--follow"], &[], b"");
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--follow is for file:// inputs"));
}
