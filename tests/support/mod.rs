//! Helpers shared by the test crates (each includes this file with `#[path]`).

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the `weir` binary with `args` and `envs`, feeding it `stdin`.
pub fn run_weir(args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // Feed from a thread so a full stdout pipe cannot deadlock the test.
    let feeder = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    output
}

/// The broker address for Kafka tests: `WEIR_KAFKA` (set by
/// `scripts/kafka-broker run -- …`). Unset, the tests fail under CI and are
/// skipped (with a note) elsewhere.
pub fn kafka_address() -> Option<String> {
    match std::env::var("WEIR_KAFKA") {
        Ok(address) if !address.is_empty() => Some(address),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("WEIR_KAFKA is unset under CI: run the tests through scripts/kafka-broker run -- …")
        }
        _ => {
            eprintln!(
                "skipped: WEIR_KAFKA is unset (start a broker with scripts/kafka-broker run -- cargo test)"
            );
            None
        }
    }
}
