//! `weir consume URL URL … --merge` end to end: stdin lines of two streams,
//! written one stream after the other, come out as one stream in time order.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use support::{run_weir, spawn_weir, wait_within};

/// How long a step may wait for a line from weir before the test fails.
const LINE_LIMIT: Duration = Duration::from_secs(20);

fn line(stream: &str, ms: u32, payload: &str) -> String {
    format!("[2026-01-02T03:04:05.{ms:03} | {stream}] {payload}\n")
}

fn stdout_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn two_stdio_streams_merge_by_time() {
    // All of a, then all of b: the order of the input is not the order of time.
    let mut input = String::new();
    for (ms, payload) in [(100, "a1"), (300, "a3"), (500, "a5")] {
        input += &line("a", ms, payload);
    }
    for (ms, payload) in [(200, "b2"), (400, "b4"), (600, "b6")] {
        input += &line("b", ms, payload);
    }
    let args =
        ["consume", "stdio:///a", "stdio:///b", "--merge", "--max-wait", "none", "--format", "payload"];
    let output = run_weir(&args, &[], input.as_bytes());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout_lines(&output), ["a1", "b2", "a3", "b4", "a5", "b6"]);
}

#[test]
fn equal_timestamps_come_out_by_stream_key() {
    let input = line("zeta", 100, "z") + &line("alpha", 100, "a") + &line("zeta", 50, "z0");
    let args = [
        "consume",
        "stdio:///zeta",
        "stdio:///alpha",
        "--merge",
        "--max-wait",
        "none",
        "--format",
        "payload",
    ];
    let output = run_weir(&args, &[], input.as_bytes());
    // a before z: equal timestamps, and alpha < zeta. z0 is older than both,
    // but its stream's order is kept: it comes after z, as a late message.
    assert_eq!(stdout_lines(&output), ["a", "z", "z0"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 late messages"));
}

/// A running `weir`: its stdin to write, its stdout lines as they come.
struct Live {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Live {
    fn start(args: &[&str]) -> Self {
        let mut child = spawn_weir(args, &[], Stdio::piped());
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if send.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Self { child, stdin, lines }
    }

    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn expect(&self, line: &str) {
        let got = self.lines.recv_timeout(LINE_LIMIT);
        assert_eq!(got.as_deref(), Ok(line), "waited up to {LINE_LIMIT:?} for {line:?}");
    }

    /// Closes stdin; the exit code and stderr once weir ended.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = wait_within(&mut self.child, LINE_LIMIT).expect("weir ends at the end of its input");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        (status.code(), stderr)
    }
}

fn merge_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["consume", "stdio:///a", "stdio:///b", "--merge", "--format", "payload"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_silent_stream_holds_the_output_back_at_most_max_wait() {
    let mut weir = Live::start(&merge_args(&["--max-wait", "300ms"]));
    let started = Instant::now();
    weir.write(&(line("a", 100, "a1") + &line("a", 300, "a3")));
    // b says nothing and stays open: a's lines come out once the wait for b is over.
    weir.expect("a1");
    assert!(started.elapsed() >= Duration::from_millis(300), "a1 came out before b's max_wait was over");
    weir.expect("a3");
    // b wakes up with something older than what was written out: late, written anyway.
    weir.write(&line("b", 200, "b2 late"));
    weir.expect("b2 late");
    let (code, stderr) = weir.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 late messages"), "the late message is counted on stderr: {stderr}");
}

#[test]
fn late_fail_stops_with_an_error_naming_the_message() {
    let mut weir = Live::start(&merge_args(&["--max-wait", "0ms", "--late", "fail"]));
    weir.write(&line("a", 500, "a5"));
    weir.expect("a5");
    weir.write(&line("b", 100, "b1"));
    let (code, stderr) = weir.finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("late message b/0/0"), "{stderr}");
}

#[test]
fn late_drop_leaves_it_out_and_counts_it() {
    let mut weir = Live::start(&merge_args(&["--max-wait", "0ms", "--late", "drop"]));
    weir.write(&line("a", 500, "a5"));
    weir.expect("a5");
    weir.write(&(line("b", 100, "b1") + &line("b", 700, "b7")));
    weir.expect("b7");
    let (code, stderr) = weir.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("dropped 1 late"), "{stderr}");
}

#[test]
fn misuse_is_refused_with_status_2() {
    for (args, says) in [
        (&["consume", "stdio:///a", "stdio:///b"][..], "more than one URL needs --merge"),
        (
            &["consume", "stdio:///a", "stdio:///b", "--merge", "--mode", "resumable"][..],
            "realtime consumers only",
        ),
        (&["consume", "stdio:///a", "--merge", "--max-wait", "soon"][..], "is not a duration"),
    ] {
        let output = run_weir(args, &[], b"");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn relay_merges_its_inputs_into_one_stream() {
    let input = line("a", 100, "a1") + &line("a", 300, "a3") + &line("b", 200, "b2");
    let args = [
        "relay",
        "--input",
        "stdio:///a",
        "--input",
        "stdio:///b",
        "--merge",
        "--max-wait",
        "none",
        "--output",
        "stdio:///all",
    ];
    let output = run_weir(&args, &[], input.as_bytes());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout_lines(&output),
        [
            "[2026-01-02T03:04:05.100000 | all | 0 | 0] a1",
            "[2026-01-02T03:04:05.200000 | all | 1 | 0] b2",
            "[2026-01-02T03:04:05.300000 | all | 2 | 0] a3",
        ]
    );
}
