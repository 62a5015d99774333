//! Malformed input, end to end: every row gives a raw message or a clear
//! error, and an exit status that says which — never a panic, never a hang.
//!
//! Exit statuses of `weir` (see `weir --help`): 0 done (input ended, `--count`
//! reached, or the reader closed stdout); 1 failed while running; 2 the command
//! line cannot work (clap's usage errors, bad URLs, keys, parameters, groups,
//! contradictory options).

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Output, Stdio};
use std::time::Duration;

use weir::{ConsumerGroup, ConsumerMode, ConsumerOptions, NoRuntime, StreamKey, StreamUrl, Timestamp};

#[path = "support/mod.rs"]
mod support;

/// No row may take longer: a hang fails the row instead of the test run.
const LIMIT: Duration = Duration::from_secs(30);

/// What the process reads.
enum Input {
    /// These bytes through a pipe, closed after the last one (nothing: closed at once).
    Bytes(Vec<u8>),
    /// `/dev/null`.
    Null,
    /// A directory: every read fails.
    Directory,
}

struct Row {
    args: Vec<String>,
    stdin: Input,
    code: i32,
    /// Exact lines, timestamps masked to `T` (see [`mask`]).
    stdout: Vec<Vec<u8>>,
    /// Must appear in stderr; empty: stderr must be empty.
    stderr: String,
}

fn row(args: &[&str], stdin: impl Into<Vec<u8>>, code: i32, stdout: &[&str], stderr: &str) -> Row {
    Row {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        stdin: Input::Bytes(stdin.into()),
        code,
        stdout: stdout.iter().map(|l| l.as_bytes().to_vec()).collect(),
        stderr: stderr.to_owned(),
    }
}

/// `weir consume stdio:///k` of `stdin`, printed in `format`.
fn consume(format: &str, stdin: impl Into<Vec<u8>>, stdout: &[&str]) -> Row {
    row(&["consume", "stdio:///k", "--format", format], stdin, 0, stdout, "")
}

/// A command line that cannot work: status 2, nothing on stdout.
fn usage(args: &[&str], stderr: &str) -> Row {
    row(args, "", 2, &[], stderr)
}

fn cli_rows() -> Vec<Row> {
    let big = "x".repeat(2 << 20);
    let long_key = format!("stdio:///{}", "k".repeat(250));
    let longest_key = format!("stdio:///{}", "k".repeat(249));
    let mut rows = vec![
        // Headers that are not headers: raw messages of `broadcast`, the whole line as payload.
        consume("line", "[2026-13-40T00:00:00 | k] x\n", &["[T | broadcast | 0 | 0] [2026-13-40T00:00:00 | k] x"]),
        consume("line", "[k|notanumber] x\n", &["[T | broadcast | 0 | 0] [k|notanumber] x"]),
        consume("line", "[k|-1] x\n", &["[T | broadcast | 0 | 0] [k|-1] x"]),
        consume("line", "[k|1|4294967296] x\n", &["[T | broadcast | 0 | 0] [k|1|4294967296] x"]),
        consume("line", "[a|b|c|d|e] x\n", &["[T | broadcast | 0 | 0] [a|b|c|d|e] x"]),
        consume("line", "[] x\n", &["[T | broadcast | 0 | 0] [] x"]),
        consume("line", "[ ] x\n", &["[T | broadcast | 0 | 0] [ ] x"]),
        consume("line", "[k\n", &["[T | broadcast | 0 | 0] [k"]),
        consume("line", " [k] x\n", &["[T | broadcast | 0 | 0]  [k] x"]),
        consume("line", "[\"a\",\"b\"]\n", &["[T | broadcast | 0 | 0] [\"a\",\"b\"]"]),
        // A bad line does not disturb the counters of the good ones around it.
        consume("line", "[k] a\n[k|x] b\n[k] c\n", &["[T | k | 0 | 0] a", "[T | broadcast | 0 | 0] [k|x] b", "[T | k | 1 | 0] c"]),
        // Empty lines: raw, empty payloads.
        consume("json", "\n\r\n", &[
            r#"{"payload":"","seq":0,"shard":0,"stream":"broadcast","timestamp":"T"}"#,
            r#"{"payload":"","seq":1,"shard":0,"stream":"broadcast","timestamp":"T"}"#,
        ]),
        // Invalid UTF-8: delivered as bytes; JSON shows them as hex.
        consume("json", &b"\xff\xfe\n[k] \xc3\x28\n[k\xff] x\n"[..], &[
            r#"{"payload_hex":"fffe","seq":0,"shard":0,"stream":"broadcast","timestamp":"T"}"#,
            r#"{"payload_hex":"c328","seq":0,"shard":0,"stream":"k","timestamp":"T"}"#,
            r#"{"payload_hex":"5b6bff5d2078","seq":1,"shard":0,"stream":"broadcast","timestamp":"T"}"#,
        ]),
        // A last line without its newline is a line.
        consume("payload", "[k] a\n[k] last", &["a", "last"]),
        // A payload that ends with \r cannot be framed as a line: a clear error
        // after what came before it; JSON prints it.
        row(&["consume", "stdio:///k"], "[k] ok\n[k] a\r\r\n", 1, &["[T | k | 0 | 0] ok"],
            "message k/0/1 cannot be printed as a line (--format json can print it)"),
        consume("json", "[k] a\r\r\n", &[r#"{"payload":"a\r","seq":0,"shard":0,"stream":"k","timestamp":"T"}"#]),
        // Closed and empty stdin: a clean end with nothing printed.
        row(&["consume", "stdio:///k"], "", 0, &[], ""),
        row(&["relay", "--input", "stdio:///a", "--output", "stdio:///b"], "", 0, &[], ""),
        row(&["produce", "stdio:///p"], "", 0, &[], ""),
        Row { stdin: Input::Null, ..row(&["consume", "stdio:///k"], "", 0, &[], "") },
        Row { stdin: Input::Null, ..row(&["relay", "--input", "stdio:///a", "--output", "stdio:///b"], "", 0, &[], "") },
        Row { stdin: Input::Null, ..row(&["produce", "stdio:///p"], "", 0, &[], "") },
        // A stdin that cannot be read: a runtime failure.
        Row { stdin: Input::Directory, ..row(&["consume", "stdio:///k"], "", 1, &[], "reading stdin: Is a directory") },
        // Producing: one message per line, empty ones included; a line ending in \r
        // cannot be framed, and what was produced before it is still written.
        row(&["produce", "stdio:///p"], "one\n\nthree", 0, &["[T | p | 0 | 0] one", "[T | p | 1 | 0] ", "[T | p | 2 | 0] three"], ""),
        row(&["produce", "stdio:///p"], "ok\na\r\r\nnever\n", 1, &["[T | p | 0 | 0] ok"],
            "producing line 2 of stdin: stdio cannot send this payload: the payload ends with a carriage return"),
        row(&["relay", "--input", "stdio:///a", "--output", "stdio:///b"], "[a] ok\n[a] x\r\r\n", 1, &["[T | b | 0 | 0] ok"],
            "relaying message a/0/1: stdio cannot send this payload"),
        // Invalid URLs and keys.
        usage(&["consume", "kafka://"], "\"kafka://\" names no host; kafka needs at least one"),
        usage(&["consume", "kafka:///k"], "\"kafka:///k\" names no host"),
        usage(&["consume", "kafka://h:99999/t"], "bad host \"h:99999\""),
        usage(&["consume", "kafka://user:secret@h/t"], "credentials do not belong in the url"),
        usage(&["consume", "stdio://host/k"], "stdio takes no host: write stdio:///key1,key2"),
        usage(&["consume", "foo://x/y"], "unknown scheme \"foo\": expected stdio, kafka, sim, redis or file"),
        usage(&["consume", "orders"], "\"orders\" is not a url: expected SCHEME://"),
        usage(&["consume", ""], "\"\" is not a url"),
        usage(&["consume", "stdio://"], "\"stdio://\" names no stream; append keys like /orders,payments"),
        usage(&["consume", "stdio:///a/b"], "the path is a comma-separated list of stream keys"),
        usage(&["consume", "stdio:///bad key!"], "stream key \"bad key!\" has byte 0x20"),
        usage(&["consume", "stdio:///caf\u{e9}"], "stream key \"caf\u{e9}\" has byte 0xc3"),
        usage(&["consume", "stdio:///a,,b"], "bad stream key in \"stdio:///a,,b\": stream key is empty"),
        usage(&["consume", &long_key], "stream key is 250 bytes long; at most 249 are allowed"),
        row(&["consume", &longest_key], "", 0, &[], ""),
        usage(&["consume", "stdio:///k?x=1"], "bad parameter \"x\"=\"1\" in \"stdio://?x=1\": unknown parameter; stdio takes none"),
        usage(&["relay", "--input", "stdio:///a", "--output", "foo://b/c"], "unknown scheme \"foo\""),
        usage(&["produce", "stdio:///"], "names no stream"),
        usage(&["clock", "--stream", "stdio:///bad key"], "has byte 0x20"),
        // Contradictory or invalid options.
        usage(&["consume", "stdio:///k", "--mode", "load-balanced"], "--mode load-balanced needs a consumer group: pass --group NAME"),
        usage(&["consume", "stdio:///k", "--group", "g"], "--group \"g\" needs --mode load-balanced or resumable"),
        usage(&["consume", "stdio:///k", "--mode", "resumable"], "stdio does not support Resumable mode"),
        usage(&["consume", "stdio:///k", "--mode", "load-balanced", "--group", ""], "consumer group \"\" is invalid: it is empty"),
        usage(&["relay", "--input", "stdio:///a", "--output", "stdio:///b", "--mode", "load-balanced"], "needs a consumer group"),
        row(&["consume", "stdio:///k", "--mode", "load-balanced", "--group", "g", "--format", "payload"], "[k] a\n", 0, &["a"], ""),
        row(&["consume", "stdio:///k", "--count", "0"], "[k] a\n", 0, &[], ""),
        row(&["relay", "--input", "stdio:///a", "--output", "stdio:///b", "--count", "1"], "[a] x\n[a] y\n", 0, &["[T | b | 0 | 0] x"], ""),
        // Positions: stdio reads its input once, as it comes; it ends by itself.
        usage(&["consume", "stdio:///k", "--from", "beginning"], "--from beginning: stdio cannot rewind: it reads its input once"),
        usage(&["relay", "--input", "stdio:///a", "--output", "stdio:///b", "--from", "7"], "--from 7: stdio cannot rewind"),
        usage(&["consume", "stdio:///k", "--from", "2026-01-02T03:04:05Z"], "--from 2026-01-02T03:04:05.000000: stdio cannot seek"),
        usage(&["consume", "stdio:///k", "--shard", "1"], "--shard 1: stdio cannot choose shards"),
        row(&["consume", "stdio:///k", "-e", "--format", "payload"], "[k] a\n", 0, &["a"], ""),
        // A group chooses its members' shards and where they start.
        usage(&["consume", "stdio:///k", "--mode", "load-balanced", "--group", "g", "--shard", "1"],
            "--shard 1 cannot be used with --mode load-balanced: the group assigns shards to its members"),
        usage(&["consume", "stdio:///k", "--mode", "load-balanced", "--group", "g", "--from", "end"],
            "--from end cannot be used with --mode load-balanced"),
        usage(&["consume", "stdio:///k", "--mode", "load-balanced", "--group", "g", "-e"],
            "--exit-at-end cannot be used with --mode load-balanced"),
        // Where to start, misspelt.
        usage(&["consume", "stdio:///k", "--from", "yesterday"],
            "invalid value 'yesterday' for '--from <WHERE>': \"yesterday\" is not beginning, end, a sequence number, a time"),
        usage(&["consume", "stdio:///k", "--from", "2026-13-40T00:00:00Z"], "invalid value '2026-13-40T00:00:00Z' for '--from <WHERE>'"),
        usage(&["consume", "stdio:///k", "--from", "-5 parsecs"], "\"-5 parsecs\" is not beginning, end"),
        usage(&["consume", "stdio:///k", "--from", "-1"], "\"-1\" is not beginning, end"),
        usage(&["consume", "stdio:///k", "--shard", "x"], "invalid value 'x' for '--shard <N>'"),
        // Templates.
        consume("{stream}/{shard}/{seq} {payload}", "[k] a\n[k|7] b\n", &["k/0/0 a", "k/0/7 b"]),
        usage(&["consume", "stdio:///k", "--format", "{offset}"], "unknown field {offset} in \"{offset}\": use {stream}, {shard}, {seq}, {timestamp} or {payload}"),
        usage(&["consume", "stdio:///k", "--format", "{seq"], "a '{' without its '}'"),
        // Listing needs a backend that knows its streams.
        usage(&["list", "stdio:///k"], "listing stdio://: stdio does not support listing streams"),
        usage(&["list", "nats://x"], "unknown scheme \"nats\""),
        // What clap refuses: status 2 with its usage line.
        usage(&["consume", "stdio:///k", "--mode", "fast"], "unknown mode \"fast\""),
        usage(&["consume", "stdio:///k", "--format", "xml"], "invalid value 'xml' for '--format <FORMAT>'"),
        usage(&["consume", "stdio:///k", "--count", "-1"], "unexpected argument '-1'"),
        usage(&["consume", "stdio:///k", "--frob"], "unexpected argument '--frob'"),
        usage(&["consume"], "the following required arguments were not provided"),
        usage(&["clock", "--stream", "stdio:///k", "--interval", "soon"], "invalid value 'soon'"),
        usage(&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        usage(&[], "Usage: weir [OPTIONS] <COMMAND>"),
    ];
    // Lines of any length are delivered whole (memory grows with the longest line).
    let mut huge = format!("[k] {big}\n{big}").into_bytes();
    huge.extend_from_slice(b"\n");
    rows.push(Row {
        stdout: vec![big.clone().into_bytes(), big.into_bytes()],
        ..consume("payload", huge, &[])
    });
    if cfg!(feature = "sim") {
        rows.push(usage(&["consume", "sim://x/s?seed=abc"], "bad parameter \"seed\"=\"abc\""));
        rows.push(usage(&["consume", "sim://x/s?bogus=1"], "unknown parameter; sim takes shards"));
        // A simulator lives inside one process: nothing could ever reach this consumer.
        rows.push(usage(
            &["consume", "sim://x/s"],
            "cannot consume sim://x/s: a sim:// broker lives inside one process",
        ));
        rows.push(usage(&["relay", "--input", "sim://x/s", "--output", "stdio:///o"], "would wait forever"));
        // Until the end it had at the start: an empty stream ends at once.
        rows.push(row(&["consume", "sim://x/s", "-e"], "", 0, &[], ""));
        rows.push(row(
            &["list", "sim://x/s"],
            "",
            0,
            &[
                "stream  shard           low          high      messages",
                "s           0             0             0             0",
            ],
            "",
        ));
        rows.push(usage(
            &["consume", "sim://x/s", "-e", "--shard", "1"],
            "--shard 1: stream s has no shard 1 (its shards are 0 to 0)",
        ));
        // Resumable: chosen shards are read from a rewind or seek.
        rows.push(usage(
            &["consume", "sim://x/s", "--mode", "resumable", "--group", "r", "--shard", "0", "-e"],
            "--shard 0 needs --from with --mode resumable",
        ));
    }
    if cfg!(feature = "redis") {
        // weir lists only the Redis streams a URL names.
        rows.push(usage(
            &["list", "redis://127.0.0.1:1"],
            "redis does not support listing every stream (name the streams)",
        ));
        // Nothing listens on port 1: -e reads each shard's end first, and says that this failed and why.
        rows.push(row(
            &["consume", "redis://127.0.0.1:1/k", "-e"],
            "", 1, &[],
            "weir: error: listing the streams of redis://127.0.0.1:1/k: redis: connecting to redis at 127.0.0.1:1: Connection refused",
        ));
        // TLS settings are checked before any connection: a CA file must be
        // readable and hold a certificate, and only a rediss:// URL takes them.
        rows.push(usage(
            &["consume", "rediss://127.0.0.1:1/k?ssl.ca.location=/nonexistent/ca.pem"],
            "bad parameter \"ssl.ca.location\"=\"/nonexistent/ca.pem\" in \"rediss://127.0.0.1:1?ssl.ca.location=%2Fnonexistent%2Fca.pem\": cannot read the CA file: No such file or directory",
        ));
        rows.push(usage(
            &["consume", "rediss://127.0.0.1:1/k?ssl.ca.location=/dev/null"],
            "bad parameter \"ssl.ca.location\"=\"/dev/null\" in \"rediss://127.0.0.1:1?ssl.ca.location=%2Fdev%2Fnull\": the CA file holds no PEM certificate",
        ));
        rows.push(usage(
            &["produce", "redis://127.0.0.1:1/k?ssl.ca.location=/etc/ssl/ca.pem"],
            "bad parameter \"ssl.ca.location\"=\"/etc/ssl/ca.pem\" in \"redis://127.0.0.1:1?ssl.ca.location=%2Fetc%2Fssl%2Fca.pem\": a TLS setting: write rediss:// for TLS",
        ));
        rows.push(usage(
            &["consume", "rediss://127.0.0.1:1/k?enable.ssl.certificate.verification=maybe"],
            "bad parameter \"enable.ssl.certificate.verification\"=\"maybe\"",
        ));
        // A client certificate needs its key, and the two must make an identity.
        rows.push(usage(
            &["consume", "rediss://127.0.0.1:1/k?ssl.certificate.location=/etc/client.pem"],
            "bad parameter \"ssl.certificate.location\"=\"/etc/client.pem\" in \"rediss://127.0.0.1:1?ssl.certificate.location=%2Fetc%2Fclient.pem\": needs ssl.key.location too",
        ));
        rows.push(usage(
            &["consume", "rediss://127.0.0.1:1/k?ssl.certificate.location=/dev/null&ssl.key.location=/dev/null"],
            "bad parameter \"ssl.key.location\"=\"/dev/null\" in \"rediss://127.0.0.1:1?ssl.certificate.location=%2Fdev%2Fnull&ssl.key.location=%2Fdev%2Fnull\": the certificate and key do not make a client identity",
        ));
    }
    if cfg!(feature = "kafka") {
        // Refused before any connection: the CLI commits what it wrote out.
        rows.push(usage(
            &["consume", "kafka://127.0.0.1:9/t?enable.auto.offset.store=false", "--mode", "resumable"],
            "enable.auto.offset.store=false is for applications that call store_offset",
        ));
        // Refused before any connection: where a group resumes is the broker's to say.
        rows.push(usage(
            &["consume", "kafka://127.0.0.1:9/t", "--mode", "resumable", "-e"],
            "--exit-at-end needs --from with --mode resumable: where the group resumes is the broker's to say",
        ));
        rows.push(usage(
            &[
                "relay",
                "--input",
                "kafka://127.0.0.1:9/t",
                "--output",
                "stdio:///o",
                "--mode",
                "resumable",
                "--shard",
                "0",
            ],
            "--shard 0 needs --from with --mode resumable: the shards chosen are read from a rewind or seek",
        ));
        // Nothing listens on port 1: the lookups fail within the connect timeout, naming what they did.
        rows.push(row(
            &["list", "kafka://127.0.0.1:1?connect.timeout.ms=1000"],
            "", 1, &[],
            "weir: error: listing kafka://127.0.0.1:1?connect.timeout.ms=1000: kafka: reading the metadata of the cluster from 127.0.0.1:1",
        ));
        rows.push(row(
            &["consume", "kafka://127.0.0.1:1/t?connect.timeout.ms=1000", "--from", "beginning", "-e"],
            "", 1, &[],
            "weir: error: listing the streams of kafka://127.0.0.1:1/t?connect.timeout.ms=1000: kafka: reading the metadata of t",
        ));
    } else {
        rows.push(usage(
            &["consume", "kafka://h/t"],
            "scheme \"kafka\" needs weir's cargo feature \"kafka\"",
        ));
    }
    rows
}

fn run(row: &Row) -> Output {
    let args: Vec<&str> = row.args.iter().map(String::as_str).collect();
    match &row.stdin {
        Input::Bytes(bytes) => support::run_weir_within(&args, &[], bytes, LIMIT),
        Input::Null => support::run_weir_from(&args, &[], Stdio::null(), LIMIT),
        Input::Directory => support::run_weir_from(&args, &[], File::open("/").unwrap().into(), LIMIT),
    }
}

/// Replaces the timestamp of a line-format or JSON line by `T`: raw lines
/// carry the time they were read.
fn mask(line: &[u8]) -> Vec<u8> {
    let stamp = |s: &[u8]| s.len() == 26 && s[4] == b'-' && s[10] == b'T' && s[19] == b'.';
    if line.first() == Some(&b'[') && line.get(1..27).is_some_and(stamp) {
        return [&b"[T"[..], &line[27..]].concat();
    }
    let key = b"\"timestamp\":\"";
    if let Some(at) = line.windows(key.len()).position(|w| w == key) {
        let start = at + key.len();
        if let Some(len) = line[start..].iter().position(|&b| b == b'"') {
            return [&line[..start], b"T", &line[start + len..]].concat();
        }
    }
    line.to_vec()
}

fn stdout_lines(stdout: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    match stdout.strip_suffix(b"\n") {
        None if stdout.is_empty() => Ok(Vec::new()),
        None => Err("stdout does not end with a newline".into()),
        Some(body) => Ok(body.split(|&b| b == b'\n').map(mask).collect()),
    }
}

fn show(lines: &[Vec<u8>]) -> String {
    let shown: Vec<String> = lines
        .iter()
        .map(|l| match l.len() {
            0..=200 => format!("{:?}", String::from_utf8_lossy(l)),
            n => format!("<{n} bytes: {:?}…>", String::from_utf8_lossy(&l[..40])),
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

#[test]
fn cli_table() {
    let mut failures = Vec::new();
    for row in cli_rows() {
        let output = run(&row);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut wrong = Vec::new();
        if output.status.code() != Some(row.code) {
            wrong.push(format!("exit status {:?}, expected {}", output.status, row.code));
        }
        match stdout_lines(&output.stdout) {
            Ok(lines) if lines == row.stdout => {}
            Ok(lines) => wrong.push(format!("stdout {}, expected {}", show(&lines), show(&row.stdout))),
            Err(err) => wrong.push(err),
        }
        if stderr.contains("panicked") {
            wrong.push("panicked".into());
        }
        if row.stderr.is_empty() && !stderr.is_empty() || !stderr.contains(row.stderr.as_str()) {
            wrong.push(format!("stderr lacks {:?}", row.stderr));
        }
        if !wrong.is_empty() {
            let args: Vec<String> = row.args.iter().map(|a| format!("{:.60}", a)).collect();
            let stdin = match &row.stdin {
                Input::Bytes(bytes) => format!("{:.60?}", String::from_utf8_lossy(bytes)),
                Input::Null => "/dev/null".into(),
                Input::Directory => "a directory".into(),
            };
            failures.push(format!("weir {args:?} < {stdin}: {}\n  stderr: {stderr}", wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}

/// The reader of stdout goes away after `read` lines (`head -n 1`, `head -n 0`):
/// weir stops promptly, quietly, with status 0, whatever it was doing.
#[test]
fn a_closed_stdout_ends_quietly() {
    let mut input = Vec::new();
    for i in 0..200_000 {
        writeln!(input, "[t] message {i}").unwrap();
    }
    let cases: &[(&[&str], &[u8])] = &[
        (&["clock", "--stream", "stdio:///t", "--interval", "1ms"], b""),
        (&["consume", "stdio:///t"], &input),
        (&["consume", "stdio:///t", "--format", "json"], &input),
        (&["consume", "stdio:///t", "--format", "payload"], &input),
        (&["relay", "--input", "stdio:///t", "--output", "stdio:///u"], &input),
        (&["produce", "stdio:///u"], &input),
    ];
    for (args, stdin) in cases {
        for read in [1, 0] {
            let mut child = support::spawn_weir(args, &[], Stdio::piped());
            let mut feed = child.stdin.take().unwrap();
            let stdin = stdin.to_vec();
            let feeder = std::thread::spawn(move || match feed.write_all(&stdin) {
                Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(()),
                other => other,
            });
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            for _ in 0..read {
                let mut line = String::new();
                stdout.read_line(&mut line).unwrap();
                assert!(line.ends_with('\n'), "weir {args:?}: {line:?}");
            }
            drop(stdout);
            let status = support::wait_within(&mut child, LIMIT);
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            assert_eq!(status.and_then(|s| s.code()), Some(0), "weir {args:?} after {read} lines: {stderr}");
            assert_eq!(stderr, "", "weir {args:?} after {read} lines");
            feeder.join().unwrap().unwrap();
        }
    }
}

/// An API call that should fail: its name, a substring its error must show, the call.
type ApiRow = (&'static str, &'static str, Box<dyn Fn() -> Option<String>>);

macro_rules! api {
    ($want:expr, $($call:tt)+) => {
        (stringify!($($call)+), $want, Box::new(|| ($($call)+).err().map(|err| err.to_string())) as Box<dyn Fn() -> Option<String>>)
    };
}

/// Creates a consumer of `keys` on `url` with `options`.
fn create_consumer(
    url: &str,
    keys: &[&str],
    options: ConsumerOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let streamer = weir::connect::<NoRuntime>(url)?;
    let keys = keys.iter().map(StreamKey::new).collect::<Result<Vec<_>, _>>()?;
    streamer.create_consumer(&keys, options)?;
    Ok(())
}

fn options(mode: ConsumerMode, group: Option<&str>, tweak: fn(&mut ConsumerOptions)) -> ConsumerOptions {
    let mut options = ConsumerOptions::new(mode);
    if let Some(group) = group {
        options.set_group(ConsumerGroup::new(group).unwrap());
    }
    tweak(&mut options);
    options
}

/// Leaves the options as they are.
fn keep(_: &mut ConsumerOptions) {}

fn api_rows() -> Vec<ApiRow> {
    use ConsumerMode::*;
    let mut rows: Vec<ApiRow> = vec![
        api!("unknown scheme \"foo\"", weir::connect::<NoRuntime>("foo://x/y")),
        api!("\"\" is not a url", weir::connect::<NoRuntime>("")),
        api!("names no host; kafka needs at least one", weir::connect::<NoRuntime>("kafka://")),
        api!("bad host \"h:99999\"", weir::connect::<NoRuntime>("kafka://h:99999")),
        api!("credentials do not belong in the url", weir::connect::<NoRuntime>("kafka://u:p@h")),
        api!("stdio takes no host", weir::connect::<NoRuntime>("stdio://host")),
        api!("bad parameter \"x\"=\"1\"", weir::connect::<NoRuntime>("stdio://?x=1")),
        api!("names no stream", "stdio://".parse::<StreamUrl>()),
        api!("stream key \"a b\" has byte 0x20", "stdio:///a b".parse::<StreamUrl>()),
        api!("stream key is empty", "stdio:///a,,b".parse::<StreamUrl>()),
        api!("250 bytes long; at most 249", format!("kafka://h/{}", "k".repeat(250)).parse::<StreamUrl>()),
        api!("stream key is empty", StreamKey::new("")),
        api!("stream key is 250 bytes long", StreamKey::new("k".repeat(250))),
        api!("stream key \"bad key!\" has byte 0x20", StreamKey::new("bad key!")),
        api!("stream key \"caf\u{e9}\" has byte 0xc3", StreamKey::new("caf\u{e9}")),
        api!("consumer group \"\" is invalid: it is empty", ConsumerGroup::new("")),
        api!("it has a control character", ConsumerGroup::new("a\nb")),
        api!("timestamp \"2026-13-40T00:00:00\" is not of the form", Timestamp::parse("2026-13-40T00:00:00")),
        api!("unknown mode \"fast\"", "fast".parse::<ConsumerMode>()),
        // Contradictions are refused before stdio reads a byte of stdin.
        api!(
            "mode LoadBalanced needs a consumer group",
            create_consumer("stdio://", &["k"], options(LoadBalanced, None, keep))
        ),
        api!(
            "mode RealTime takes no consumer group (got \"g\")",
            create_consumer("stdio://", &["k"], options(RealTime, Some("g"), keep))
        ),
        api!(
            "stdio does not support Resumable mode",
            create_consumer("stdio://", &["k"], options(Resumable, None, keep))
        ),
        api!(
            "buffer size must be at least 1",
            create_consumer(
                "stdio://",
                &["k"],
                options(RealTime, None, |o| {
                    o.set_buffer(0);
                })
            )
        ),
        api!(
            "auto-commit is set but mode RealTime never commits",
            create_consumer(
                "stdio://",
                &["k"],
                options(RealTime, None, |o| {
                    o.set_auto_commit(Some(Duration::from_secs(1)));
                })
            )
        ),
        api!(
            "auto-commit interval must be longer than zero",
            create_consumer(
                "stdio://",
                &["k"],
                options(LoadBalanced, Some("g"), |o| {
                    o.set_auto_commit(Some(Duration::ZERO));
                })
            )
        ),
        api!(
            "a consumer needs at least one stream key",
            create_consumer("stdio://", &[], ConsumerOptions::default())
        ),
        // A payload with a newline cannot be framed; refused before anything is written.
        api!(
            "stdio cannot send this payload: the payload contains a newline",
            weir::connect::<NoRuntime>("stdio://")
                .unwrap()
                .create_producer(Default::default())
                .unwrap()
                .send_to(&StreamKey::new("k").unwrap(), "two\nlines")
        ),
    ];
    if cfg!(feature = "sim") {
        rows.extend([
            api!("sim takes one simulator name", weir::connect::<NoRuntime>("sim://a,b")),
            api!("bad parameter \"seed\"=\"abc\"", weir::connect::<NoRuntime>("sim://x?seed=abc")),
            api!("bad parameter \"delay\"=\"2\"", weir::connect::<NoRuntime>("sim://x?delay=2")),
            api!(
                "unknown parameter; sim takes shards",
                weir::connect_url::<NoRuntime>("sim://x/a?bogus=1".parse::<StreamUrl>().unwrap().streamer())
            ),
            api!(
                "mode LoadBalanced needs a consumer group",
                create_consumer("sim://api", &["k"], options(LoadBalanced, None, keep))
            ),
        ]);
    }
    if !cfg!(feature = "kafka") {
        rows.push(api!(
            "scheme \"kafka\" needs weir's cargo feature \"kafka\"",
            weir::connect::<NoRuntime>("kafka://h:9092")
        ));
    }
    rows
}

#[test]
fn api_table() {
    let mut failures = Vec::new();
    for (name, want, call) in api_rows() {
        match catch_unwind(AssertUnwindSafe(call)) {
            Err(_) => failures.push(format!("{name}: panicked")),
            Ok(None) => failures.push(format!("{name}: succeeded, expected an error with {want:?}")),
            Ok(Some(err)) if !err.contains(want) => failures.push(format!("{name}: {err:?} lacks {want:?}")),
            Ok(Some(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{} rows failed:\n{}", failures.len(), failures.join("\n"));
}
