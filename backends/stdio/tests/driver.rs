//! The stdio driver end to end, on OS pipes: group dispatch, broadcast,
//! members joining and leaving, lines before the first consumer, end of input,
//! framing on output.

#![allow(clippy::unwrap_used)]

use std::io::{PipeWriter, Write};
use std::sync::{Arc, Mutex};
use std::thread;

use weir_adapters::{Consumer, NoRuntime, Streamer};
use weir_core::{
    BackendErrorKind, ConsumerError, ConsumerGroup, ConsumerMode, ConsumerOptions, Message, ProducerError,
    ProducerOptions, StreamKey, Timestamp,
};
use weir_stdio::{StdioConsumer, StdioStreamer};

type Stdio = Streamer<StdioStreamer, NoRuntime>;

/// A streamer reading a pipe the test writes, writing into a shared buffer.
fn streamer() -> (Stdio, PipeWriter, Arc<Mutex<Vec<u8>>>) {
    let (reader, writer) = std::io::pipe().unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = SharedSink(output.clone());
    (Streamer::new(StdioStreamer::with_io(Box::new(reader), Box::new(sink))), writer, output)
}

/// How a test's input reaches the reader.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// A pipe, as a `Read`.
    Reader,
    /// A pipe's descriptor, read into the buffer's spare capacity.
    PipeFd,
    /// A file's descriptor.
    FileFd,
}

/// A streamer reading `bytes`: from a file, or written into a pipe by a
/// thread in pieces of uneven sizes, so that reads end anywhere in a line.
fn streamer_reading(via: Via, bytes: Vec<u8>, file: &std::path::Path) -> (Stdio, thread::JoinHandle<()>) {
    let sink = || Box::new(std::io::sink());
    if let Via::FileFd = via {
        std::fs::write(file, &bytes).unwrap();
        let input = std::fs::File::open(file).unwrap();
        return (Streamer::new(StdioStreamer::with_input_fd(input.into(), sink())), thread::spawn(|| ()));
    }
    let (reader, mut writer) = std::io::pipe().unwrap();
    let stdio = match via {
        Via::Reader => StdioStreamer::with_io(Box::new(reader), sink()),
        _ => StdioStreamer::with_input_fd(reader.into(), sink()),
    };
    let feeder = thread::spawn(move || {
        let mut rest = &bytes[..];
        for size in [1, 7, 100, 4093, 65_537, 300_001].into_iter().cycle() {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            writer.write_all(piece).unwrap();
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
    });
    (Streamer::new(stdio), feeder)
}

struct SharedSink(Arc<Mutex<Vec<u8>>>);

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn key(name: &str) -> StreamKey {
    StreamKey::new(name).unwrap()
}

fn consumer(stdio: &Stdio, streams: &[&str], group: Option<&str>) -> Consumer<StdioConsumer, NoRuntime> {
    let mut options = ConsumerOptions::new(if group.is_some() {
        ConsumerMode::LoadBalanced
    } else {
        ConsumerMode::RealTime
    });
    if let Some(group) = group {
        options.set_group(ConsumerGroup::new(group).unwrap());
    }
    let streams: Vec<StreamKey> = streams.iter().map(|s| key(s)).collect();
    stdio.create_consumer(&streams, options).unwrap()
}

/// Every message until the end of input.
fn drain(consumer: &mut Consumer<StdioConsumer, NoRuntime>) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        match consumer.next_blocking() {
            Ok(message) => out.push(message),
            Err(ConsumerError::EndOfStream) => return out,
            Err(err) => panic!("unexpected error {err}"),
        }
    }
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| String::from_utf8_lossy(m.payload.as_bytes()).into_owned()).collect()
}

#[test]
fn group_members_split_round_robin_and_loners_get_everything() {
    let (stdio, mut input, _) = streamer();
    let mut a = consumer(&stdio, &["jobs"], Some("workers"));
    let mut b = consumer(&stdio, &["jobs"], Some("workers"));
    let mut all = consumer(&stdio, &["jobs"], None);
    for i in 0..100 {
        writeln!(input, "[jobs] {i}").unwrap();
    }
    drop(input);
    let (from_a, from_b, everything) =
        (texts(&drain(&mut a)), texts(&drain(&mut b)), texts(&drain(&mut all)));
    let evens: Vec<String> = (0..100).step_by(2).map(|i: i32| i.to_string()).collect();
    let odds: Vec<String> = (1..100).step_by(2).map(|i: i32| i.to_string()).collect();
    assert_eq!(from_a, evens, "first member: every other message, in arrival order");
    assert_eq!(from_b, odds);
    assert_eq!(everything, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn a_lone_consumer_gets_its_streams_and_broadcast_only() {
    let (stdio, mut input, _) = streamer();
    let mut lone = consumer(&stdio, &["a", "c"], None);
    input.write_all(b"[a] 1\n[b] 2\n[broadcast] 3\nraw 4\n[c] 5\n[b] 6\n[a] 7\n").unwrap();
    drop(input);
    let got = drain(&mut lone);
    assert_eq!(texts(&got), ["1", "3", "raw 4", "5", "7"], "b's lines are for nobody here");
    let seqs: Vec<u64> = got.iter().map(|m| m.header.seq.0).collect();
    assert_eq!(seqs, [0, 0, 1, 0, 1], "seqs count per stream, broadcast and raw lines together");
}

#[test]
fn broadcast_reaches_every_loner_and_one_member_per_group() {
    let (stdio, mut input, _) = streamer();
    let mut orders = consumer(&stdio, &["orders"], None);
    let mut payments = consumer(&stdio, &["payments"], None);
    let mut g1 = consumer(&stdio, &["orders"], Some("g"));
    let mut g2 = consumer(&stdio, &["payments"], Some("g"));
    input
        .write_all(
            b"no header at all\n[2026-01-02T03:04:05] timestamp only\n[orders] for orders\n[\"a\",\"b\"]\n",
        )
        .unwrap();
    drop(input);
    assert_eq!(
        texts(&drain(&mut orders)),
        ["no header at all", "timestamp only", "for orders", "[\"a\",\"b\"]"]
    );
    assert_eq!(texts(&drain(&mut payments)), ["no header at all", "timestamp only", "[\"a\",\"b\"]"]);
    let mut group: Vec<String> = texts(&drain(&mut g1)).into_iter().chain(texts(&drain(&mut g2))).collect();
    group.sort();
    assert_eq!(
        group,
        ["[\"a\",\"b\"]", "for orders", "no header at all", "timestamp only"],
        "each once in the group"
    );
}

#[test]
fn a_leaving_member_hands_its_undelivered_messages_to_the_group() {
    let (stdio, mut input, _) = streamer();
    let mut stays = consumer(&stdio, &["jobs"], Some("workers"));
    let leaves = consumer(&stdio, &["jobs"], Some("workers"));
    for i in 0..10 {
        writeln!(input, "[jobs] {i}").unwrap();
    }
    assert_eq!(texts(&[stays.next_blocking().unwrap()]), ["0"]);
    drop(leaves); // it took nothing: its share goes to the remaining member
                  // A member may join at any time and share what is still to come.
    let mut late = consumer(&stdio, &["jobs"], Some("workers"));
    drop(input);
    let mut rest: Vec<String> =
        texts(&drain(&mut stays)).into_iter().chain(texts(&drain(&mut late))).collect();
    rest.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(rest, (1..10).map(|i| i.to_string()).collect::<Vec<_>>(), "nothing lost, nothing twice");
}

#[test]
fn lines_written_before_the_first_consumer_are_not_lost() {
    let (stdio, mut input, _) = streamer();
    for i in 0..1000 {
        writeln!(input, "[early] {i}").unwrap();
    }
    drop(input);
    let mut first = consumer(&stdio, &["early"], None);
    let got = drain(&mut first);
    assert_eq!(got.len(), 1000);
    assert_eq!(got[999].seq().0, 999, "implicit seqs count every line");
}

#[test]
fn end_of_input_drains_then_reports_the_end_every_time() {
    let (stdio, mut input, _) = streamer();
    let mut c = consumer(&stdio, &["k"], None);
    input.write_all(b"[k] 1\n[k] 2\r\n[k] last line without newline").unwrap();
    drop(input);
    assert_eq!(texts(&drain(&mut c)), ["1", "2", "last line without newline"]);
    assert_eq!(c.next_blocking(), Err(ConsumerError::EndOfStream));
    assert_eq!(c.next_blocking(), Err(ConsumerError::EndOfStream));
}

/// Lines cut anywhere by short reads, a line longer than any read and a
/// last line without its newline arrive whole and in order, whether the
/// input is read through its descriptor (a pipe or a file) or as a `Read`.
#[test]
fn lines_cut_across_reads_arrive_whole_from_a_descriptor_or_a_reader() {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for i in 0..3_000usize {
        let payload = match i {
            1_500 => "z".repeat(300_000),
            _ => format!("{i} {}", "y".repeat(i * 37 % 700)),
        };
        write!(bytes, "[k] {payload}").unwrap();
        if i < 2_999 {
            bytes.push(b'\n');
        }
        expected.push(payload);
    }
    let file = std::env::temp_dir().join(format!("weir-stdio-driver-{}", std::process::id()));
    for via in [Via::Reader, Via::PipeFd, Via::FileFd] {
        let (stdio, feeder) = streamer_reading(via, bytes.clone(), &file);
        let got = texts(&drain(&mut consumer(&stdio, &["k"], None)));
        feeder.join().unwrap();
        assert_eq!(got.len(), expected.len(), "{via:?}: every line once");
        if let Some(at) = got.iter().zip(&expected).position(|(got, expected)| got != expected) {
            panic!(
                "{via:?}: line {at} is {:?}, not {:?}",
                &got[at][..got[at].len().min(80)],
                &expected[at][..expected[at].len().min(80)]
            );
        }
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn payload_bytes_need_not_be_utf8() {
    let (stdio, mut input, _) = streamer();
    let mut c = consumer(&stdio, &["bin"], None);
    input.write_all(b"[bin] \xff\xfe\x00ok\n").unwrap();
    drop(input);
    assert_eq!(drain(&mut c)[0].payload.as_bytes(), b"\xff\xfe\x00ok");
}

#[test]
fn producer_writes_the_full_form_and_refuses_unframeable_payloads() {
    let (stdio, _input, output) = streamer();
    let mut producer = stdio.create_producer(ProducerOptions::default()).unwrap();
    let at = Timestamp::parse("2026-01-02T03:04:05.123456").unwrap();
    let orders = key("orders");
    let err = producer.send_at(&orders, "two\nlines", Some(at)).unwrap_err();
    assert!(matches!(err, ProducerError::Unframeable { backend: "stdio", .. }), "{err}");
    let first = weir_adapters::block_on(producer.send_at(&orders, "hello", Some(at)).unwrap()).unwrap();
    producer.send_at(&orders, " padded", Some(at)).unwrap().try_take().unwrap().unwrap();
    producer.end_blocking().unwrap();
    assert_eq!((first.seq.0, first.shard.0), (0, 0), "the refused payload took no seq");
    let written = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    assert_eq!(
        written,
        "[2026-01-02T03:04:05.123456 | orders | 0 | 0] hello\n[2026-01-02T03:04:05.123456 | orders | 1 | 0]  padded\n"
    );
}

#[test]
fn a_closed_output_is_reported_as_the_peer_going_away() {
    for batched in [false, true] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let (input, _) = std::io::pipe().unwrap();
        let stdio: Stdio = Streamer::new(StdioStreamer::with_io(Box::new(input), Box::new(writer)));
        if batched {
            stdio.backend().batch_writes();
        }
        let mut producer = stdio.create_producer(ProducerOptions::default()).unwrap();
        let _receipt = producer.send_to(&key("k"), "lost").unwrap();
        let err = producer.flush_blocking().unwrap_err();
        match &err {
            ProducerError::Backend(backend) => {
                assert_eq!(backend.kind, BackendErrorKind::PeerClosed, "batched {batched}: {err}")
            }
            other => panic!("batched {batched}: expected a backend error, got {other}"),
        }
        assert!(err.to_string().contains("writing stdout"), "{err}");
        let refused = producer.send_to(&key("k"), "after").unwrap_err();
        assert_eq!(refused, err, "batched {batched}: every later send reports the same end");
    }
}

#[test]
fn each_stream_counts_its_own_seqs() {
    let (stdio, _input, output) = streamer();
    let mut producer = stdio.create_producer(ProducerOptions::default()).unwrap();
    let at = Some(Timestamp::from_unix_millis(0).unwrap());
    let (a, b) = (key("a"), key("b"));
    // Keys equal by name but not the same allocation count together.
    let keys = [&a, &b, &a, &key("c"), &key("b"), &key("a"), &b];
    let mut seqs = Vec::new();
    for key in keys {
        let mut receipt = producer.send_at(key, "x", at).unwrap();
        seqs.push(receipt.try_take().unwrap().unwrap().seq.0);
    }
    producer.end_blocking().unwrap();
    assert_eq!(seqs, [0, 0, 1, 0, 1, 2, 2]);
    let written = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    let fields: Vec<&str> = written.lines().map(|line| &line[30..line.len() - 7]).collect();
    assert_eq!(fields, ["a | 0", "b | 0", "a | 1", "c | 0", "b | 1", "a | 2", "b | 2"]);
}

#[test]
fn batched_writes_go_out_at_a_flush_or_a_full_batch() {
    let (stdio, _input, output) = streamer();
    stdio.backend().batch_writes();
    let mut producer = stdio.create_producer(ProducerOptions::default()).unwrap();
    let at = Some(Timestamp::from_unix_millis(0).unwrap());
    let line = |seq: u64| format!("[1970-01-01T00:00:00.000000 | k | {seq} | 0] {}\n", "x".repeat(200));
    let _receipt = producer.send_at(&key("k"), "x".repeat(200), at).unwrap();
    // No writer thread: nothing is written until the sender writes, so this cannot race.
    assert!(output.lock().unwrap().is_empty(), "one line waits for a flush or a full batch");
    producer.flush_blocking().unwrap();
    assert_eq!(String::from_utf8(output.lock().unwrap().clone()).unwrap(), line(0), "written by the flush");

    // 256 KiB queued go out without a flush, and the rest waits.
    let mut seq = 1;
    while output.lock().unwrap().len() == line(0).len() {
        assert!(seq < 2_000, "no batch was written after {seq} lines of 250 B");
        let _receipt = producer.send_at(&key("k"), "x".repeat(200), at).unwrap();
        seq += 1;
    }
    assert!(output.lock().unwrap().len() >= 256 * 1024, "{} bytes written", output.lock().unwrap().len());
    let _receipt = producer.send_at(&key("k"), "x".repeat(200), at).unwrap();
    let before = output.lock().unwrap().len();
    producer.end_blocking().unwrap();
    let written = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    assert_eq!(written.len() - before, line(seq).len(), "the line after the batch waited for the end");
    let expected: String = (0..=seq).map(line).collect();
    assert_eq!(written, expected, "every line, once, in order");
}
