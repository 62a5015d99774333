//! The `weir` binary against the broker: produce, consume, relay.

use std::process::{Command, Output, Stdio};

use crate::common::*;

fn weir(args: &[&str], stdin: &[u8]) -> Output {
    let output = crate::support::run_weir(args, &[("HOST_ID", "weir-cli-test")], stdin);
    assert!(output.status.success(), "weir {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
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
