//! Helpers shared by the test crates (each includes this file with `#[path]`).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A stream key the test knows is valid.
pub fn key(name: &str) -> weir::StreamKey {
    weir::StreamKey::new(name).expect("valid key")
}

/// Consumer options for `mode`, in `group` if given.
pub fn consumer_options(mode: weir::ConsumerMode, group: Option<&str>) -> weir::ConsumerOptions {
    let mut options = weir::ConsumerOptions::new(mode);
    if let Some(group) = group {
        options.set_group(weir::ConsumerGroup::new(group).expect("valid group"));
    }
    options
}

/// How long [`run_weir`] lets a process run: longer than any test step's own
/// bound, so it only stops a bare `cargo test` from waiting forever.
pub const WEIR_TIME_LIMIT: Duration = Duration::from_secs(300);

/// Runs the `weir` binary with `args` and `envs`, feeding it `stdin`.
pub fn run_weir(args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
    run_weir_within(args, envs, stdin, WEIR_TIME_LIMIT)
}

/// [`run_weir`], killing the process and failing the test if it is still
/// running after `limit`.
pub fn run_weir_within(args: &[&str], envs: &[(&str, &str)], stdin: &[u8], limit: Duration) -> Output {
    let mut child = spawn_weir(args, envs, Stdio::piped());
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // Feed from a thread so a full stdout pipe cannot deadlock the test.
    let feeder = thread::spawn(move || match input.write_all(&stdin) {
        // The process stopped reading early (it failed, or had what it wanted): its output says so.
        Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    });
    let output = finish_within(child, args, limit);
    feeder.join().unwrap().unwrap();
    output
}

/// [`run_weir`], failing the test unless the tool exits with status 0.
pub fn run_weir_ok(args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> Output {
    let output = run_weir(args, envs, stdin);
    assert!(output.status.success(), "weir {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The lines a finished process wrote to stdout.
pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

/// [`run_weir_within`] with any stdin: `/dev/null`, a file, …
pub fn run_weir_from(args: &[&str], envs: &[(&str, &str)], stdin: Stdio, limit: Duration) -> Output {
    finish_within(spawn_weir(args, envs, stdin), args, limit)
}

/// Collects the output of `child` and waits for it, killing it after `limit`.
fn finish_within(mut child: Child, args: &[&str], limit: Duration) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_within(&mut child, limit);
    let output = Output {
        status: status.unwrap_or_else(|| child.wait().unwrap()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "weir {args:?} was still running after {limit:?} and was killed; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Starts `weir` reading `stdin`, with stdout and stderr piped.
pub fn spawn_weir(args: &[&str], envs: &[(&str, &str)], stdin: Stdio) -> Child {
    spawn_weir_to(args, envs, stdin, Stdio::piped())
}

/// [`spawn_weir`] writing `stdout` (a file, `/dev/null`, …).
pub fn spawn_weir_to(args: &[&str], envs: &[(&str, &str)], stdin: Stdio, stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// [`run_weir_from`] writing `stdout` instead of collecting it.
pub fn run_weir_to(args: &[&str], stdin: Stdio, stdout: Stdio, limit: Duration) -> Output {
    finish_within(spawn_weir_to(args, &[], stdin, stdout), args, limit)
}

/// Waits for `child` until `limit`; past it, kills it and returns `None`.
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return None;
        }
        // Polling bounds the wait; the result never depends on the interval.
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).unwrap();
        }
        bytes
    })
}

/// The broker address for Kafka tests: `WEIR_KAFKA` (set by
/// `scripts/kafka-broker run -- …`). Kafka tests are `#[ignore]`d with the
/// command that runs them; asked for without a broker, they fail saying so
/// instead of passing having checked nothing.
pub fn kafka_address() -> String {
    broker_address("WEIR_KAFKA", "scripts/kafka-broker run")
}

/// The broker address for tests that need a broker which expires a dead
/// member's session (`session.timeout.ms`) and holds an empty fetch for
/// `fetch.wait.max.ms`, as Kafka does and noida-db 0.2.3 does not:
/// `WEIR_KAFKA_SESSIONS` (set by `scripts/kafka-broker run --tansu -- …`).
/// Unset, the test fails like [`kafka_address`].
pub fn session_broker_address() -> String {
    broker_address("WEIR_KAFKA_SESSIONS", "scripts/kafka-broker run --tansu")
}

/// The Redis server for Redis tests: `WEIR_REDIS` (set by
/// `scripts/redis-server run -- …`); unset, the test fails like [`kafka_address`].
#[allow(dead_code)] // Not every test crate talks to Redis.
pub fn redis_address() -> String {
    broker_address("WEIR_REDIS", "scripts/redis-server run")
}

fn broker_address(variable: &str, script: &str) -> String {
    match std::env::var(variable) {
        Ok(address) if !address.is_empty() => address,
        _ => panic!(
            "{variable} is unset: this test needs a broker. Run it through \
             `{script} -- cargo test --all-features -- --include-ignored`, or run `scripts/test`"
        ),
    }
}

/// Awaits `future` on runtime `R`, failing the test if it is not done
/// within `limit`: a bug that stops delivery fails, naming `what` was
/// awaited, instead of hanging the test run.
pub async fn within<R: weir::Runtime, F: std::future::Future>(
    limit: Duration,
    what: &str,
    future: F,
) -> F::Output {
    use std::future::Future as _;
    let mut future = std::pin::pin!(future);
    let mut timer = std::pin::pin!(R::timer(Instant::now() + limit));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(out);
        }
        if timer.as_mut().poll(cx).is_ready() {
            panic!("waited {limit:?} for {what}");
        }
        std::task::Poll::Pending
    })
    .await
}

/// A whole second an hour ago: a base for tests that produce messages at
/// chosen timestamps. Not a fixed date: a Kafka broker deletes messages whose
/// timestamps are older than the topic's retention (7 days by default) at
/// whatever moment its retention check runs, which made seeks over a fixed
/// past date fail at random.
pub fn recent_base() -> weir::Timestamp {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let millis = i64::try_from(now.as_secs().saturating_sub(3600)).expect("in range") * 1000;
    weir::Timestamp::from_unix_millis(millis).expect("in range")
}

/// The settings every Kafka test URL carries: a group join in well under the
/// ~23 s noida-db takes with librdkafka's default session timeout, and short
/// fetch waits.
pub const KAFKA_TEST_SETTINGS: &str =
    "session.timeout.ms=6000&heartbeat.interval.ms=500&fetch.wait.max.ms=50";

/// A namespace (topic and group prefix) no other test uses: `prefix` names
/// the test crate, `test` the test; the process id and a counter make it unique.
pub fn kafka_namespace(prefix: &str, test: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{test}-{}-{n}-", std::process::id())
}
