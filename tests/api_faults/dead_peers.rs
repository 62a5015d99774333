//! Timeouts and dead peers (issue 7, item 4): a broker that is not there, a
//! broker that dies while a consumer streams, a topic that does not exist, a
//! group the broker refuses. Each must end `next` with a clear error, naming
//! what failed, within the configured time; and dropping everything must
//! leave no thread behind, counted in `/proc/self/task`.
//!
//! The cases run in sequence in a process of their own (this test binary,
//! started again for this one test, with [`ALONE`] set), so no other test's
//! threads come or go while threads are counted, and the other tests run
//! meanwhile.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir::{BackendErrorKind, ConsumerError, ConsumerMode, Message, NoRuntime, ProducerOptions, Runtime};

use crate::broker::{free_port, Broker, Kind, Stop};
use crate::common::*;
use crate::{on_thread, threads};

/// How long the threads of a dropped consumer may take to end: closing waits
/// for the group's answer at most 30 s (`poller::CLOSE_WITHIN`), plus slack.
/// Usually a few seconds; more on a loaded machine, with the broker gone.
const THREADS_END_WITHIN: Duration = Duration::from_secs(40);

/// Slack on top of a configured timeout for the error to reach `next`.
const SLACK: Duration = Duration::from_secs(3);

/// Set in the process that runs the cases.
const ALONE: &str = "WEIR_RELIABILITY_API_ALONE";

/// How long the process running the cases may take.
const CASES_WITHIN: Duration = Duration::from_secs(240);

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn dead_peers_fail_clearly_in_time_and_leave_no_thread() {
    let address = broker();
    if std::env::var_os(ALONE).is_some() {
        // The process of its own, started below.
        counted("broker down at connect", broker_down_at_connect);
        counted("broker gone while streaming", broker_gone_while_streaming);
        counted("unknown topic", || unknown_topic(&address));
        counted("refused group", || refused_group(&address));
        return;
    }
    let test = "dead_peers::dead_peers_fail_clearly_in_time_and_leave_no_thread";
    let child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([test, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting this test binary again");
    let (status, stdout, stderr) = finish_within(child, CASES_WITHIN);
    eprintln!("{stderr}");
    let passed = status.is_some_and(|s| s.success()) && stdout.contains("1 passed");
    assert!(passed, "the cases failed ({status:?}; killed after {CASES_WITHIN:?} if None):\n{stdout}");
}

/// The exit status (`None`: killed after `limit`), stdout and stderr of `child`.
fn finish_within(
    mut child: std::process::Child,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let status = crate::support::wait_within(&mut child, limit);
    if status.is_none() {
        let _ = child.wait();
    }
    (status, stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default())
}

/// Runs `case`, which drops everything it made, and checks that the
/// process's thread count returns to what it was before.
fn counted(name: &str, case: impl FnOnce()) {
    let before = threads::count();
    let started = Instant::now();
    case();
    match threads::back_to(before, THREADS_END_WITHIN) {
        Ok((after, waited)) => eprintln!(
            "{name}: {:.1} s; threads {before} before, {after} after dropping (ended within {waited:?})",
            started.elapsed().as_secs_f64()
        ),
        Err(leak) => panic!("{name}: threads left behind: {leak}"),
    }
}

/// The backend error `got` must be, of `kind`, naming each of `names`.
fn expect_failure(
    case: &str,
    got: Option<Result<Message, ConsumerError>>,
    kind: BackendErrorKind,
    names: &[&str],
) {
    let err = match got {
        None => panic!("{case}: next() was still waiting at the deadline"),
        Some(Ok(message)) => panic!("{case}: expected an error, got message {message:?}"),
        Some(Err(err)) => err,
    };
    let ConsumerError::Backend(backend) = &err else { panic!("{case}: expected a backend error, got {err}") };
    assert_eq!(backend.kind, kind, "{case}: {err}");
    for name in names {
        assert!(err.to_string().contains(name), "{case}: the error should name {name:?}: {err}");
    }
    eprintln!("{case}: {err}");
}

/// (i) Nothing listens at the address: a connect error naming it, within `connect.timeout.ms`.
fn broker_down_at_connect() {
    let address = format!("127.0.0.1:{}", free_port());
    let timeout = Duration::from_secs(2);
    let url = format!("kafka://{address}?connect.timeout.ms={}", timeout.as_millis());
    let streamer = streamer::<NoRuntime>(&url);
    for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
        let group = (mode != ConsumerMode::RealTime).then_some("dead-address");
        let mut consumer = streamer.create_consumer(&[key("orders")], options(mode, group)).unwrap();
        let started = Instant::now();
        let got = on_thread::within(timeout + SLACK, consumer.next());
        let elapsed = started.elapsed();
        expect_failure(&format!("down at connect, {mode:?}"), got, BackendErrorKind::Connect, &[&address]);
        assert!(elapsed <= timeout + SLACK, "{mode:?}: took {elapsed:?}");
    }
}

/// (ii) The broker dies under a streaming consumer: `next` fails with a
/// connect error within `unreachable.timeout.ms`, and so does a commit
/// started after the kill. On tokio, so blocking jobs run on its pool: a job
/// stuck on the dead broker would show as a thread left behind.
///
/// The commit is what kept threads alive before: librdkafka sent it to the
/// coordinator it still took for alive, retried it without end in the dead
/// broker's queue, and its close (on drop) waited for it (see
/// `jobs::unreachable` in the Kafka backend).
fn broker_gone_while_streaming() {
    let mut broker = Broker::start(Kind::NoidaDb);
    let limit = Duration::from_secs(3);
    let ns = namespace("gone");
    let extra = format!("auto.offset.reset=earliest&unreachable.timeout.ms={}", limit.as_millis());
    let url = url(&broker.address(), &ns, &extra);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio");
    runtime.block_on(async {
        let streamer = streamer::<weir::Tokio>(&url);
        let orders = key("orders");
        create_stream(&streamer, &orders, 2);
        let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
        for i in 0..20 {
            drop(producer.send_to(&orders, format!("m{i}")).unwrap());
        }
        producer.flush().await.expect("stored");
        drop(producer);
        let realtime = options(ConsumerMode::RealTime, None);
        let resumable = options(ConsumerMode::Resumable, Some("gone"));
        let mut consumers = [
            streamer.create_consumer(std::slice::from_ref(&orders), realtime).unwrap(),
            streamer.create_consumer(std::slice::from_ref(&orders), resumable).unwrap(),
        ];
        let mut last = None;
        for consumer in &mut consumers {
            for _ in 0..5 {
                let message = next_in(consumer, Duration::from_secs(20))
                    .await
                    .expect("a message before the kill, within 20 s")
                    .expect("a message before the kill");
                last = Some(message);
            }
        }
        let delivered = last.expect("five messages").header;
        broker.stop(Stop::Kill);
        let killed = Instant::now();
        let address = &broker.address();
        let [realtime, resumable] = &mut consumers;
        // The commit, started after the kill, runs while the RealTime
        // consumer waits for its error; each is timed when it ends.
        let commit = tokio::time::timeout(limit + SLACK, resumable.commit(&delivered));
        let ((committed, commit_took), (got, realtime_took)) =
            tokio::join!(timed(killed, commit), timed(killed, next_error(realtime, limit + SLACK)));
        let case = "commit after the kill";
        let err = match committed {
            Err(_) => panic!("{case}: still waiting {commit_took:?} after the kill"),
            Ok(Ok(())) => panic!("{case}: succeeded on a dead broker"),
            Ok(Err(err)) => err,
        };
        let ConsumerError::Backend(backend) = &err else { panic!("{case}: not a backend error: {err}") };
        assert_eq!(backend.kind, BackendErrorKind::Connect, "{case}: {err}");
        assert!(err.to_string().contains(address), "{case}: the error should name {address}: {err}");
        eprintln!("{case}: {err} ({:.1} s after the kill)", commit_took.as_secs_f64());
        check_gone("RealTime", realtime, got, realtime_took, limit, address).await;
        let got = next_error(resumable, limit + SLACK).await;
        check_gone("Resumable", resumable, got, killed.elapsed(), limit, address).await;
    });
    runtime.shutdown_timeout(Duration::from_secs(10));
}

/// The output of `future`, and how long after `since` it came.
async fn timed<F: std::future::Future>(since: Instant, future: F) -> (F::Output, Duration) {
    let output = future.await;
    (output, since.elapsed())
}

/// `next` until it fails, each call given up after `limit`: what was
/// fetched before the kill may still come, then the error.
async fn next_error<R: Runtime>(
    consumer: &mut weir::Consumer<R>,
    limit: Duration,
) -> Option<Result<Message, ConsumerError>> {
    loop {
        match next_in(consumer, limit).await {
            Some(Ok(_)) => continue,
            other => break other,
        }
    }
}

/// The consumer of `mode` ended with `got`, `took` after the kill: a
/// connect error naming the dead broker, within `limit` (and slack); and it
/// stays failed.
async fn check_gone<R: Runtime>(
    mode: &str,
    consumer: &mut weir::Consumer<R>,
    got: Option<Result<Message, ConsumerError>>,
    took: Duration,
    limit: Duration,
    address: &str,
) {
    let case = format!("broker gone, {mode}");
    expect_failure(&case, got, BackendErrorKind::Connect, &[address, "unreachable.timeout.ms"]);
    assert!(took <= limit + SLACK, "{case}: the error came {took:?} after the kill");
    // It stays failed: no message, no hang.
    let again = next_in(consumer, Duration::from_secs(1)).await;
    assert!(matches!(again, Some(Err(_))), "{case}: then {again:?}");
}

/// `next`, given up (and dropped) after `limit`.
async fn next_in<R: Runtime>(
    consumer: &mut weir::Consumer<R>,
    limit: Duration,
) -> Option<Result<Message, ConsumerError>> {
    tokio::time::timeout(limit, consumer.next()).await.ok()
}

/// (iii) A topic that does not exist, with `allow.auto.create.topics=false`:
/// an error naming the topic, within the connect timeout.
fn unknown_topic(address: &str) {
    let ns = namespace("unknown");
    let timeout = Duration::from_secs(5);
    let extra = format!("allow.auto.create.topics=false&connect.timeout.ms={}", timeout.as_millis());
    let streamer = streamer::<NoRuntime>(&url(address, &ns, &extra));
    let topic = format!("{ns}missing");
    for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
        let group = (mode != ConsumerMode::RealTime).then_some("unknown-topic");
        let mut consumer = streamer.create_consumer(&[key("missing")], options(mode, group)).unwrap();
        let started = Instant::now();
        let got = on_thread::within(timeout + SLACK, consumer.next());
        let elapsed = started.elapsed();
        expect_failure(&format!("unknown topic, {mode:?}"), got, BackendErrorKind::Broker, &[&topic]);
        assert!(elapsed <= timeout + SLACK, "{mode:?}: took {elapsed:?}");
    }
}

/// (iv) The broker refuses the group join: here because the session timeout
/// is below the broker's `group.min.session.timeout.ms` (6 s by default;
/// noida-db answers INVALID_SESSION_TIMEOUT). An error naming the group,
/// within the connect timeout.
fn refused_group(address: &str) {
    let ns = namespace("refused");
    let timeout = Duration::from_secs(10);
    let url = format!(
        "kafka://{address}?namespace={ns}&session.timeout.ms=1000&heartbeat.interval.ms=300&connect.timeout.ms={}",
        timeout.as_millis()
    );
    let streamer = streamer::<NoRuntime>(&url);
    let orders = key("orders");
    create_stream(&streamer, &orders, 2);
    for mode in [ConsumerMode::LoadBalanced, ConsumerMode::Resumable] {
        let group = format!("refused-{mode:?}");
        let mut consumer =
            streamer.create_consumer(std::slice::from_ref(&orders), options(mode, Some(&group))).unwrap();
        let started = Instant::now();
        let got = on_thread::within(timeout + SLACK, consumer.next());
        let elapsed = started.elapsed();
        let case = format!("refused group, {mode:?}");
        expect_failure(&case, got, BackendErrorKind::Broker, &[&format!("{ns}{group}"), "session timeout"]);
        assert!(elapsed <= timeout + SLACK, "{case}: took {elapsed:?}");
    }
}
