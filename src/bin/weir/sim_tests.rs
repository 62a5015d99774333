//! The tool's own code on `sim://`, in one process: a sim broker lives
//! inside the process that made it, so a separate `weir` could never see what
//! a test produced. These run the subcommands' bodies (everything but the
//! process around them) against a broker the test filled; tests/cli.rs and
//! tests/kafka/cli.rs run the binary itself.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use clap::Parser as _;
use weir::{NoRuntime, ProducerOptions, StreamKey, Timestamp};

use crate::{Cli, Command};

/// Runs `weir ARGS` in this process; its stdout.
fn weir(args: &[&str]) -> anyhow::Result<String> {
    let cli = Cli::try_parse_from(std::iter::once("weir").chain(args.iter().copied()))?;
    let mut out = Vec::new();
    match cli.command {
        Command::Consume(args) => crate::consume::consume_to(args, &mut out)?,
        Command::List(args) => crate::list::list_to(args, &mut out)?,
        Command::Relay(args) => crate::relay::run(args)?,
        other => panic!("not run here: {other:?}"),
    }
    Ok(String::from_utf8(out).unwrap())
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn names(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// A second apart from 2026-01-01T00:00:00Z on: message `i` at `i` seconds.
fn at(i: u32) -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000).unwrap().saturating_add(Duration::from_secs(u64::from(i)))
}

/// Fills `stream` of the broker `url` names with `m0..m{n}`, round-robin over its shards.
fn fill(url: &str, stream: &str, n: u32) {
    let streamer = weir::connect::<NoRuntime>(url).unwrap();
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let key = StreamKey::new(stream).unwrap();
    for i in 0..n {
        let _receipt = producer.send_at(&key, format!("m{i}"), Some(at(i))).unwrap();
    }
    producer.flush_blocking().unwrap();
}

#[test]
fn from_beginning_a_seq_or_a_time_then_exit_at_the_end() {
    fill("sim://cli-from", "t", 1000);
    let all = weir(&["consume", "sim://cli-from/t", "--from", "beginning", "-e", "--format", "payload"]);
    assert_eq!(lines(&all.unwrap()), names(0..1000));
    let half =
        weir(&["consume", "sim://cli-from/t", "--from", "500", "--exit-at-end", "--format", "payload"]);
    assert_eq!(lines(&half.unwrap()), names(500..1000));
    let time = at(700).to_string();
    let late = weir(&["consume", "sim://cli-from/t", "--from", &time, "-e", "--format", "{seq} {payload}"]);
    let late = late.unwrap();
    assert_eq!(lines(&late).first(), Some(&"700 m700"));
    assert_eq!(lines(&late).len(), 300);
    // The end, or a time after the last message: caught up at once.
    for from in ["end", "2026-02-01T00:00:00+01:00", "-1s"] {
        let none = weir(&["consume", "sim://cli-from/t", "--from", from, "-e"]).unwrap();
        assert_eq!(none, "", "--from {from}");
    }
    // A count stops first.
    let three = weir(&[
        "consume",
        "sim://cli-from/t",
        "--from",
        "beginning",
        "-e",
        "--count",
        "3",
        "--format",
        "payload",
    ]);
    assert_eq!(lines(&three.unwrap()), names(0..3));
}

#[test]
fn one_shard_of_two() {
    fill("sim://cli-shard?shards=2", "t", 10);
    let one = weir(&[
        "consume",
        "sim://cli-shard/t",
        "--shard",
        "1",
        "--from",
        "beginning",
        "-e",
        "--format",
        "{shard}/{seq} {payload}",
    ]);
    assert_eq!(lines(&one.unwrap()), ["1/0 m1", "1/1 m3", "1/2 m5", "1/3 m7", "1/4 m9"]);
    let both = weir(&["consume", "sim://cli-shard/t", "--from", "beginning", "-e", "--format", "payload"]);
    let mut both: Vec<String> = lines(&both.unwrap()).into_iter().map(str::to_owned).collect();
    both.sort_by_key(|name| name[1..].parse::<u32>().unwrap());
    assert_eq!(both, names(0..10), "every shard when none is named");
    let err = weir(&["consume", "sim://cli-shard/t", "--shard", "2", "-e"]).unwrap_err();
    assert_eq!(err.to_string(), "--shard 2: stream t has no shard 2 (its shards are 0 to 1)");
}

#[test]
fn relay_from_a_position_with_a_count_or_to_the_end() {
    fill("sim://cli-relay", "src", 20);
    let relay = |flags: &[&str]| {
        let io = ["relay", "--input", "sim://cli-relay/src", "--output", "sim://cli-relay/dst"];
        weir(&[&io[..], flags].concat()).unwrap()
    };
    relay(&["--from", "15", "-e"]);
    relay(&["--from", "beginning", "-e", "--count", "2"]);
    let relayed = weir(&[
        "consume",
        "sim://cli-relay/dst",
        "--from",
        "beginning",
        "-e",
        "--format",
        "{timestamp} {payload}",
    ]);
    let want: Vec<String> = [15, 16, 17, 18, 19, 0, 1].iter().map(|&i| format!("{} m{i}", at(i))).collect();
    assert_eq!(lines(&relayed.unwrap()), want, "timestamps kept");
}

#[test]
fn list_as_a_table_and_as_json() {
    fill("sim://cli-list?shards=2", "orders", 5);
    fill("sim://cli-list", "audit", 1);
    let table = weir(&["list", "sim://cli-list"]).unwrap();
    assert_eq!(
        lines(&table),
        [
            "stream  shard           low          high      messages",
            "audit       0             0             1             1",
            "audit       1             0             0             0",
            "orders      0             0             3             3",
            "orders      1             0             2             2",
        ]
    );
    let json = weir(&["list", "sim://cli-list/orders", "--format", "json"]).unwrap();
    assert_eq!(
        lines(&json),
        [r#"{"shards":[{"high":3,"low":0,"shard":0},{"high":2,"low":0,"shard":1}],"stream":"orders"}"#]
    );
}

/// Resumable: `--from` moves the shards the group gave, `--shard` reads
/// chosen ones; either way what was written out is committed, so the group
/// resumes after it.
#[test]
fn resumable_from_a_position_and_one_shard_then_the_group_resumes() {
    fill("sim://cli-resume?shards=2", "t", 10);
    let resumable = ["consume", "sim://cli-resume/t", "--mode", "resumable", "--group", "r"];
    let past = weir(&[&resumable[..], &["--from", "6", "-e"]].concat()).unwrap();
    assert_eq!(past, "", "seq 6 is past both shards' ends (five messages each)");
    let from =
        weir(&[&resumable[..], &["--from", "3", "-e", "--format", "{shard}/{seq} {payload}"]].concat());
    let from = from.unwrap();
    let mut from: Vec<&str> = lines(&from);
    from.sort_unstable();
    assert_eq!(from, ["0/3 m6", "0/4 m8", "1/3 m7", "1/4 m9"], "seq 3 on each shard the group gave");
    let one = weir(
        &[
            &resumable[..],
            &["--shard", "1", "--from", "beginning", "-e", "--format", "{shard}/{seq} {payload}"],
        ]
        .concat(),
    );
    assert_eq!(lines(&one.unwrap()), ["1/0 m1", "1/1 m3", "1/2 m5", "1/3 m7", "1/4 m9"]);

    // The group committed what was written: a consumer of it resumes after m8 and m9.
    fill("sim://cli-resume", "t", 2);
    let streamer = weir::connect::<NoRuntime>("sim://cli-resume").unwrap();
    let mut options = weir::ConsumerOptions::new(weir::ConsumerMode::Resumable);
    options.set_group(weir::ConsumerGroup::new("r").unwrap());
    let mut consumer = streamer.create_consumer(&[StreamKey::new("t").unwrap()], options).unwrap();
    let mut next: Vec<String> = (0..2)
        .map(|_| {
            let m = consumer.next_blocking().unwrap();
            format!("{}/{} {}", m.shard().0, m.seq().0, m.payload.as_str().unwrap())
        })
        .collect();
    next.sort_unstable();
    assert_eq!(next, ["0/5 m0", "1/5 m1"], "the second fill's two messages, after the committed ends");
}

/// What resumable mode cannot do, refused naming the flags.
#[test]
fn resumable_refusals() {
    fill("sim://cli-resume-no", "t", 1);
    let resumable = ["consume", "sim://cli-resume-no/t", "--mode", "resumable", "--group", "r"];
    let err = weir(&[&resumable[..], &["-e"]].concat()).unwrap_err();
    assert!(err.to_string().starts_with("--exit-at-end needs --from with --mode resumable"), "{err}");
    let err = weir(&[&resumable[..], &["--shard", "0", "-e"]].concat()).unwrap_err();
    assert!(err.to_string().starts_with("--shard 0 needs --from with --mode resumable"), "{err}");
}
