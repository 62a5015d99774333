//! Sources on two backends in one join: stdin (the stdio backend, wall
//! clock) and the simulator (the test runs itself as a child process whose
//! stdin it writes, since the stdio backend reads the process's own stdin);
//! and a `.ss` file replayed next to the simulator: a file that ends stops
//! holding the others back, and one that fails (a torn last frame) ends the
//! join after the buffered messages, or is left out under `KeepGoing`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir::file::{Encoder, FileHeader};
use weir::sim::{SimBroker, SimConfig};
use weir::{
    AnyStreamer, ConsumerOptions, ErrorPolicy, JoinError, JoinOptions, MessageHeader, NoRuntime, Payload,
    SeqNo, SeqPos, ShardId, StreamKey, Timestamp,
};

use crate::{name, try_next};

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

/// A replayed `.ss` file with messages of stream `x` at `times` (ms), its
/// last frame cut short if `torn`; and a sim stream `y` with `y_times`; one
/// join over the two, the sim first (so its messages are buffered before the
/// file's end is seen: a join that ends takes no more).
fn file_and_sim(
    test: &str,
    times: &[i64],
    torn: bool,
    y_times: &[i64],
    options: JoinOptions,
) -> weir::Join<NoRuntime> {
    let dir = std::env::temp_dir().join(format!("weir-join-mixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{test}.ss"));
    let header = FileHeader::new("x.ss", at(0), 1024).expect("header");
    let mut bytes = Vec::new();
    let mut encoder = Encoder::new_file(&header, &mut bytes).expect("encoder");
    let x = StreamKey::new("x").expect("key");
    for (i, &t) in times.iter().enumerate() {
        let h = MessageHeader::new(x.clone(), ShardId(0), SeqNo(i as u64), at(t));
        encoder.encode(&h, format!("x{i}").as_bytes(), &mut bytes).expect("frame");
    }
    if torn {
        bytes.truncate(bytes.len() - 3);
    }
    std::fs::write(&path, bytes).expect("write the file");
    let file = weir::connect::<NoRuntime>(&format!("file://{}", path.display())).expect("file streamer");
    let x = file.create_consumer(&[x], ConsumerOptions::default()).expect("file consumer");
    let broker = SimBroker::new(SimConfig::default());
    let sim = weir::Streamer::<NoRuntime>::new(AnyStreamer::Sim(broker.clone()));
    let y_key = StreamKey::new("y").expect("key");
    for (i, &t) in y_times.iter().enumerate() {
        broker.with(|broker| broker.produce(&y_key, Payload::from(format!("y{i}")), Some(at(t))));
    }
    let mut y = sim.create_consumer(&[y_key], ConsumerOptions::default()).expect("sim consumer");
    weir::block_on(y.rewind(SeqPos::Beginning)).expect("rewind");
    weir::Join::new(vec![y, x], options).expect("join")
}

fn waiting_for_ever() -> JoinOptions {
    let mut options = JoinOptions::new();
    options.set_max_wait(None);
    options
}

#[test]
fn a_file_that_ends_stops_holding_a_sim_source_back() {
    let mut join = file_and_sim("ends", &[10, 30, 50], false, &[20, 40, 60, 70], waiting_for_ever());
    let got: Vec<String> = (0..7).map(|_| name(&join.next_blocking().expect("a message"))).collect();
    assert_eq!(got, ["x/0", "y/0", "x/1", "y/1", "x/2", "y/2", "y/3"], "after x/2 the file ended: y flows");
    assert!(try_next(&mut join).is_none(), "y, open and empty, may still send more");
}

#[test]
fn a_failing_file_ends_the_join_after_the_buffered_messages() {
    let mut join = file_and_sim("fails", &[10, 30, 50], true, &[20, 40], waiting_for_ever());
    let got: Vec<String> = (0..4).map(|_| name(&join.next_blocking().expect("a message"))).collect();
    assert_eq!(got, ["x/0", "y/0", "x/1", "y/1"], "x/2 is torn: y/1, buffered, still goes out");
    match join.next_blocking() {
        Err(err @ JoinError::Source { .. }) => {
            assert!(err.is_terminal());
            assert!(err.to_string().contains("torn frame at offset"), "{err}");
        }
        other => panic!("expected the file's error, got {other:?}"),
    }
}

#[test]
fn keep_going_leaves_a_failing_file_out_and_reports_it_once() {
    let mut options = waiting_for_ever();
    options.set_on_error(ErrorPolicy::KeepGoing);
    let mut join = file_and_sim("keeps-going", &[10, 30, 50], true, &[20, 40, 60], options);
    let (mut got, mut reports) = (Vec::new(), 0);
    while got.len() < 5 {
        match join.next_blocking() {
            Ok(joined) => got.push(name(&joined)),
            Err(err @ JoinError::SourceLeftOut { .. }) => {
                assert!(!err.is_terminal());
                assert!(err.to_string().contains("torn frame at offset"), "{err}");
                reports += 1;
            }
            Err(err) => panic!("unexpected {err}"),
        }
    }
    assert_eq!(got, ["x/0", "y/0", "x/1", "y/1", "y/2"], "x's complete frames, then y flows on");
    assert_eq!(reports, 1, "the failure is reported once");
    assert!(try_next(&mut join).is_none(), "y, open and empty, may still send more");
}
