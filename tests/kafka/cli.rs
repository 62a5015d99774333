//! The `weir` binary against the broker: produce, consume, relay.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use weir::Timestamp;

use crate::common::*;
use crate::support::stdout_lines as lines;

fn weir(args: &[&str], stdin: &[u8]) -> Output {
    crate::support::run_weir_ok(args, &[("HOST_ID", "weir-cli-test")], stdin)
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn produce_then_consume_resumable() {
    let address = broker();
    let ns = namespace("cli");
    let topic = format!("kafka://{address}/t?namespace={ns}&session.timeout.ms=6000");
    weir(&["produce", &topic], b"one\ntwo\nthree\n");
    let from_start = format!("{topic}&auto.offset.reset=earliest");
    let out =
        weir(&["consume", &from_start, "--mode", "resumable", "--count", "3", "--format", "payload"], b"");
    assert_eq!(lines(&out), ["one", "two", "three"]);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn relay_stdio_to_kafka_and_back() {
    let address = broker();
    let ns = namespace("relay");
    let topic =
        format!("kafka://{address}/r?namespace={ns}&session.timeout.ms=6000&auto.offset.reset=earliest");
    weir(&["relay", "--input", "stdio:///in", "--output", &topic], b"[in] a\n[in] b\n");
    let out = weir(
        &[
            "consume",
            &topic,
            "--mode",
            "load-balanced",
            "--group",
            "g",
            "--count",
            "2",
            "--format",
            "payload",
        ],
        b"",
    );
    assert_eq!(lines(&out), ["a", "b"]);
    // Kafka to stdio: the relay runs until stopped; read two lines, then stop it.
    let mut relay = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "relay",
            "--input",
            &topic,
            "--output",
            "stdio:///out",
            "--mode",
            "load-balanced",
            "--group",
            "g2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = relay.stdout.take().unwrap();
    let got: Vec<String> =
        std::io::BufRead::lines(std::io::BufReader::new(stdout)).take(2).map(Result::unwrap).collect();
    relay.kill().unwrap();
    relay.wait().unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].contains("| out | 0 | 0] a") && got[1].contains("| out | 1 | 0] b"), "{got:?}");
}

/// A topic of `n` messages `m0..`, ten milliseconds apart from an hour ago
/// (so a time names one message), round-robin over `partitions`; its stream URL.
fn filled_topic(test: &str, partitions: u32, n: u32) -> (String, Timestamp) {
    let address = broker();
    let ns = namespace(test);
    let streamer = streamer(&address, &ns);
    let t = key("t");
    create_stream(&streamer, &t, partitions);
    let base = crate::support::recent_base();
    let at = |i: u32| base.saturating_add(Duration::from_millis(10 * u64::from(i)));
    produce(&streamer, &t, (0..n).map(|i| (format!("m{i}"), Some(at(i)))));
    (format!("kafka://{address}/t?namespace={ns}&{}", crate::support::KAFKA_TEST_SETTINGS), base)
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn from_beginning_a_seq_or_a_time_and_exit_at_the_end() {
    let (url, base) = filled_topic("cli-from", 1, 1000);
    let all = weir(&["consume", &url, "--from", "beginning", "-e", "--format", "payload"], b"");
    assert_eq!(lines(&all), names(0..1000), "every message, then exit 0 at the end");
    let half = weir(&["consume", &url, "--from", "500", "--exit-at-end", "--format", "payload"], b"");
    assert_eq!(lines(&half), names(500..1000));
    // RFC 3339, as a user would write the time of message 700.
    let time = format!("{}Z", base.saturating_add(Duration::from_millis(7000)));
    let late = weir(&["consume", &url, "--from", &time, "-e", "--format", "{seq} {payload}"], b"");
    let late = lines(&late);
    assert_eq!((late.first().map(String::as_str), late.len()), (Some("700 m700"), 300), "{time}");
    for from in ["end", "-1s"] {
        assert_eq!(
            lines(&weir(&["consume", &url, "--from", from, "-e"], b"")),
            Vec::<String>::new(),
            "{from}"
        );
    }
    // The relay stops at the end too, or at its count.
    let relayed = weir(&["relay", "--input", &url, "--output", "stdio:///o", "--from", "990", "-e"], b"");
    let relayed = lines(&relayed);
    assert_eq!(relayed.len(), 10);
    assert!(relayed[0].ends_with("| o | 0 | 0] m990"), "{relayed:?}");
    let counted = weir(
        &["relay", "--input", &url, "--output", "stdio:///o", "--from", "beginning", "--count", "3"],
        b"",
    );
    assert_eq!(lines(&counted).len(), 3);
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn one_partition_and_the_listing() {
    let (url, _) = filled_topic("cli-shard", 2, 10);
    let mut seen = Vec::new();
    for shard in ["0", "1"] {
        let out = weir(
            &[
                "consume",
                &url,
                "--shard",
                shard,
                "--from",
                "beginning",
                "-e",
                "--format",
                "{shard} {payload}",
            ],
            b"",
        );
        let out = lines(&out);
        assert_eq!(out.len(), 5, "round-robin: half of the messages on partition {shard}: {out:?}");
        for line in out {
            let (partition, payload) = line.split_once(' ').unwrap();
            assert_eq!(partition, shard, "{line}");
            seen.push(payload.to_owned());
        }
    }
    assert_eq!(sorted(seen), sorted(names(0..10)));

    let table = weir(&["list", &url], b"");
    assert_eq!(
        lines(&table),
        [
            "stream  shard           low          high      messages",
            "t           0             0             5             5",
            "t           1             0             5             5",
        ]
    );
    let json = weir(&["list", &url, "--format", "json"], b"");
    assert_eq!(
        lines(&json),
        [r#"{"shards":[{"high":5,"low":0,"shard":0},{"high":5,"low":0,"shard":1}],"stream":"t"}"#]
    );
    // Without a stream: every stream of the namespace.
    let whole = url.replacen("/t?", "?", 1);
    assert_eq!(lines(&weir(&["list", &whole], b"")), lines(&table));
}
