//! Sources on two backends in one join: stdin (the stdio backend, wall
//! clock) and the simulator. The test runs itself as a child process whose
//! stdin it writes, since the stdio backend reads the process's own stdin.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir::sim::{SimBroker, SimConfig};
use weir::{AnyStreamer, ConsumerOptions, JoinOptions, NoRuntime, Payload, SeqPos, StreamKey, Timestamp};

const CHILD: &str = "WEIR_JOIN_MIXED_CHILD";
/// How long the child may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(60);

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000 + ms).expect("in range")
}

/// The child: joins stdio:///a with a sim stream b, prints five messages.
fn child() {
    let stdio = weir::connect::<NoRuntime>("stdio://").expect("stdio streamer");
    let a = stdio.create_consumer(&[StreamKey::new("a").expect("key")], ConsumerOptions::default());
    let broker = SimBroker::new(SimConfig::default());
    let sim = weir::Streamer::<NoRuntime>::new(AnyStreamer::Sim(broker.clone()));
    let b_key = StreamKey::new("b").expect("key");
    for (i, t) in [15, 25].into_iter().enumerate() {
        broker.with(|broker| broker.produce(&b_key, Payload::from(format!("b{i}")), Some(at(t))));
    }
    let mut b = sim.create_consumer(&[b_key], ConsumerOptions::default()).expect("sim consumer");
    weir::block_on(b.rewind(SeqPos::Beginning)).expect("rewind");
    let mut options = JoinOptions::new();
    options.set_max_wait(Some(Duration::from_millis(300)));
    let mut join = weir::Join::new(vec![a.expect("stdio consumer"), b], options).expect("join");
    for _ in 0..5 {
        let joined = join.next_blocking().expect("a message");
        println!("JOINED {}", joined.message.payload.as_str().expect("text"));
    }
}

#[test]
fn stdio_and_sim_sources_in_one_join() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let mut process = Command::new(exe)
        .args(["--exact", "mixed::stdio_and_sim_sources_in_one_join", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut stdin = process.stdin.take().expect("piped stdin");
    // a's lines, all at once; stdin then stays open: a never ends.
    for (i, t) in [10, 20, 30].into_iter().enumerate() {
        writeln!(stdin, "[{} | a | {i}] a{i}", at(t)).expect("write the child's stdin");
    }
    stdin.flush().expect("flush");
    let started = Instant::now();
    while process.try_wait().expect("child status").is_none() {
        assert!(started.elapsed() < LIMIT, "the child did not print 5 joined messages within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let mut out = String::new();
    process.stdout.take().expect("piped stdout").read_to_string(&mut out).expect("read the child's stdout");
    // The test harness's own "test … ..." may precede the first line on its line.
    let joined: Vec<&str> = out.lines().filter_map(|l| l.split_once("JOINED ").map(|(_, m)| m)).collect();
    assert_eq!(joined, ["a0", "b0", "a1", "b1", "a2"], "child output:\n{out}");
}
