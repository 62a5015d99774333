//! The `weir` binary end to end: real processes joined by OS pipes.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::time::Duration;

#[path = "support/mod.rs"]
mod support;

fn weir(args: &[&str], stdin: &[u8]) -> Output {
    support::run_weir(args, &[], stdin)
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect()
}

/// 20,000 lines of the stream `src`: full headers, short headers, raw text, JSON.
fn mixed_lines() -> Vec<u8> {
    let mut file = Vec::new();
    for i in 0..20_000 {
        match i % 4 {
            0 => writeln!(file, "[2026-01-02T03:04:05.{i:06} | src | {i} | 0] header {i}").unwrap(),
            1 => writeln!(file, "[src] short {i}").unwrap(),
            2 => writeln!(file, "raw {i}").unwrap(), // broadcast: every consumer gets it
            _ => writeln!(file, "[\"json\",{i}]").unwrap(), // not a header: raw
        }
    }
    file
}

#[test]
fn relay_then_consume_accounts_for_every_message() {
    let file = mixed_lines();
    let relayed = weir(&["relay", "--input", "stdio:///src", "--output", "stdio:///dst"], &file);
    assert!(relayed.status.success(), "{}", String::from_utf8_lossy(&relayed.stderr));
    let consumed = weir(&["consume", "stdio:///dst", "--format", "payload"], &relayed.stdout);
    assert!(consumed.status.success(), "{}", String::from_utf8_lossy(&consumed.stderr));
    let got = lines(&consumed.stdout);
    assert_eq!(got.len(), 20_000, "every line of the file, exactly once");
    assert_eq!(got[0], "header 0");
    assert_eq!(got[1], "short 1");
    assert_eq!(got[2], "raw 2");
    assert_eq!(got[3], "[\"json\",3]");
    assert_eq!(got[19_999], "[\"json\",19999]");
}

/// Stdin a file rather than a pipe (read from its descriptor, no pipe to
/// grow), stdout a file or `/dev/null`: the same bytes as through pipes.
#[test]
fn files_as_stdin_and_stdout_give_what_pipes_give() {
    const LIMIT: Duration = Duration::from_secs(120);
    let dir = std::env::temp_dir().join(format!("weir-cli-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.txt");
    // Full headers only: relay gives a line without a timestamp its read time.
    let lines_in: String =
        (0..20_000).map(|i| format!("[2026-01-02T03:04:05.{i:06} | src | {i} | 0] line {i}\n")).collect();
    std::fs::write(&input, lines_in).unwrap();
    let cases: [&[&str]; 2] = [
        &["relay", "--input", "stdio:///src", "--output", "stdio:///dst"],
        &["consume", "stdio:///src", "--format", "payload"],
    ];
    for args in cases {
        let piped = weir(args, &std::fs::read(&input).unwrap());
        assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
        assert_eq!(lines(&piped.stdout).len(), 20_000, "weir {args:?}");
        let output = dir.join("out.txt");
        let stdin = std::fs::File::open(&input).unwrap();
        let stdout = std::fs::File::create(&output).unwrap();
        let to_file = support::run_weir_to(args, stdin.into(), stdout.into(), LIMIT);
        assert!(to_file.status.success(), "{}", String::from_utf8_lossy(&to_file.stderr));
        assert!(
            std::fs::read(&output).unwrap() == piped.stdout,
            "weir {args:?}: a file in and out, other bytes"
        );
        let stdin = std::fs::File::open(&input).unwrap();
        let to_null = support::run_weir_to(args, stdin.into(), Stdio::null(), LIMIT);
        assert!(
            to_null.status.success(),
            "weir {args:?} to /dev/null: {}",
            String::from_utf8_lossy(&to_null.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relay_keeps_timestamps_and_renames_the_stream() {
    let relayed = weir(
        &["relay", "--input", "stdio:///a", "--output", "stdio:///b"],
        b"[2026-05-06T07:08:09.5 | a | 7] x\n",
    );
    assert_eq!(lines(&relayed.stdout), ["[2026-05-06T07:08:09.500000 | b | 0 | 0] x"]);
}

#[test]
fn consume_formats() {
    let input = b"[2026-05-06T07:08:09 | k | 3] hi\n[k] \xff\n";
    let json = lines(&weir(&["consume", "stdio:///k", "--format", "json"], input).stdout);
    assert_eq!(
        json[0],
        r#"{"payload":"hi","seq":3,"shard":0,"stream":"k","timestamp":"2026-05-06T07:08:09.000000"}"#
    );
    assert!(json[1].contains(r#""payload_hex":"ff""#) && json[1].contains(r#""seq":4"#), "{}", json[1]);
    let line = weir(&["consume", "stdio:///k", "--format", "line", "--count", "1"], input);
    assert_eq!(lines(&line.stdout), ["[2026-05-06T07:08:09.000000 | k | 3 | 0] hi"]);
}

#[test]
fn clock_produce_and_consume_pipeline() {
    let clock = weir(&["clock", "--stream", "stdio:///t", "--count", "3", "--interval", "1ms"], b"");
    assert!(clock.status.success());
    let ticks = weir(&["consume", "stdio:///t", "--format", "payload"], &clock.stdout);
    assert_eq!(lines(&ticks.stdout), ["tick 0", "tick 1", "tick 2"]);

    let produced = weir(&["produce", "stdio:///p"], b"one\r\ntwo\n\nlast");
    let got = weir(&["consume", "stdio:///p", "--format", "payload"], &produced.stdout);
    assert_eq!(lines(&got.stdout), ["one", "two", "", "last"]);
}

#[test]
fn bad_input_gives_clear_errors_and_exit_codes() {
    let cases: &[(&[&str], &str)] = &[
        (&["consume", "nats://x/y"], "unknown scheme \"nats\""),
        (&["consume", "stdio://"], "names no stream"),
        (&["consume", "stdio:///bad key"], "bad stream key"),
        (&["consume", "kafka://h:99999/t"], "bad host \"h:99999\""),
        (&["consume", "stdio:///k", "--mode", "resumable"], "stdio does not support Resumable mode"),
        (&["consume", "stdio:///k", "--mode", "load-balanced"], "needs a consumer group"),
        (&["consume", "stdio:///k", "--mode", "fast"], "unknown mode \"fast\""),
        (&["clock", "--stream", "stdio:///k", "--interval", "soon"], "invalid value 'soon'"),
    ];
    for (args, message) in cases {
        let out = weir(args, b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["clock", "consume", "list", "produce", "relay"] {
        let out = weir(&[sub, "--help"], b"");
        assert!(out.status.success(), "{sub}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: weir"), "{sub}");
    }
}

#[test]
fn diagnostics_go_to_stderr_by_verbosity() {
    let input = b"[k] a\n[k|x] no header\n";
    // An empty RUST_LOG counts as unset, whatever the test runner's is.
    let run = |args: &[&str], rust_log: &str| support::run_weir(args, &[("RUST_LOG", rust_log)], input);
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let quiet = run(&["consume", "stdio:///k", "--format", "payload"], "");
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(stderr(&quiet), "", "quiet by default");
    let data = lines(&quiet.stdout);
    assert_eq!(data, ["a", "[k|x] no header"]);

    let info = run(&["consume", "stdio:///k", "--format", "payload", "-v"], "");
    assert_eq!(lines(&info.stdout), data, "diagnostics never reach stdout");
    let said = stderr(&info);
    assert!(said.contains(" INFO ") && said.contains("end of input"), "{said}");
    assert!(said.contains("assignment changed") && said.contains("shards=k/0"), "{said}");
    assert!(!said.contains("DEBUG"), "-v stops at info: {said}");

    let debug = stderr(&run(&["-vv", "consume", "stdio:///k", "--format", "payload"], ""));
    assert!(debug.contains("DEBUG") && debug.contains("reading input"), "{debug}");
    assert!(
        debug.contains("read as raw messages") && debug.contains(r#"first="[k|x] no header""#),
        "{debug}"
    );

    let filtered = stderr(&run(&["consume", "stdio:///k"], "weir_stdio=debug"));
    assert!(filtered.contains("reading input"), "RUST_LOG picks weir_stdio's debug: {filtered}");
    assert!(!filtered.contains("end of input"), "and leaves the rest at warn: {filtered}");

    let bad = stderr(&run(&["consume", "stdio:///k"], "weir=[nonsense"));
    assert!(bad.contains("ignoring RUST_LOG=\"weir=[nonsense\""), "{bad}");
}

/// A line is relayed, produced or printed while the input stays open:
/// output is written in batches, but no line waits for more input.
#[test]
fn a_line_goes_out_while_the_input_stays_open() {
    const LIMIT: Duration = Duration::from_secs(60);
    let cases: [&[&str]; 6] = [
        &["relay", "--input", "stdio:///a", "--output", "stdio:///b"],
        &["relay", "--merge", "--max-wait", "none", "--input", "stdio:///a", "--output", "stdio:///b"],
        &["produce", "stdio:///b"],
        &["consume", "stdio:///a"],
        &["consume", "stdio:///a", "--format", "payload"],
        &["consume", "--merge", "--max-wait", "none", "stdio:///a"],
    ];
    for args in cases {
        let mut child = support::spawn_weir(args, &[], Stdio::piped());
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"[a] one\n").unwrap();
        stdin.flush().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = lines
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("weir {args:?}: no line within {LIMIT:?} while stdin stayed open"));
        assert!(line.ends_with("one\n"), "weir {args:?}: {line:?}");
        drop(stdin);
        let status = support::wait_within(&mut child, LIMIT);
        assert_eq!(status.and_then(|s| s.code()), Some(0), "weir {args:?} after stdin closed");
    }
}
