//! The `tracing` events of the generic driver, the simulator and the stdio
//! backend: which ones, at which level, with which fields (docs/diagnostics.md).

#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::time::Duration;

use tracing::Level;
use weir::sim::{Faults, SimBroker, SimConfig};
use weir::{ConsumerError, ConsumerMode, NoRuntime, SeqPos, StreamKey};

#[path = "support/events.rs"]
mod events;
#[path = "support/mod.rs"]
mod support;

use events::{capture, Recorded};
use support::{consumer_options, key};

/// The one event named `message`, failing with everything recorded if there
/// is not exactly one.
fn one(events: &events::Events, message: &str) -> Recorded {
    let named = events.named(message);
    assert_eq!(named.len(), 1, "one {message:?} event among:\n{}", events.dump());
    named.into_iter().next().unwrap()
}

#[test]
fn the_driver_reports_positioning_and_commits() {
    let url = "sim://diagnostics-driver";
    let orders = key("orders");
    let ((), events) = capture(|| {
        let streamer = weir::connect::<NoRuntime>(url).unwrap();
        let mut producer = streamer.create_producer(Default::default()).unwrap();
        for i in 0..3 {
            weir::block_on(producer.send_to(&orders, format!("o{i}")).unwrap()).unwrap();
        }
        let mut consumer = streamer
            .create_consumer(std::slice::from_ref(&orders), consumer_options(ConsumerMode::Resumable, None))
            .unwrap();
        weir::block_on(consumer.rewind(SeqPos::At(weir::SeqNo(1)))).unwrap();
        let second = consumer.next_blocking().unwrap();
        assert_eq!(second.payload.as_str().unwrap(), "o1");
        weir::block_on(consumer.commit(&second.header)).unwrap();
    });

    let positioning = one(&events, "positioning");
    assert_eq!(positioning.level, Level::DEBUG);
    assert_eq!(positioning.target, "weir_adapters::report");
    assert_eq!(positioning.field("backend"), Some("sim"));
    assert_eq!(positioning.field("streams"), Some("orders"));
    assert_eq!(positioning.field("epoch"), Some("1"));
    assert_eq!(positioning.field("target"), Some("seq 1"));
    assert_eq!(positioning.field("shards"), Some("orders/0"));

    let positioned = one(&events, "positioned");
    assert_eq!(positioned.level, Level::INFO);
    assert_eq!(positioned.field("epoch"), Some("1"));
    assert_eq!(positioned.field("target"), Some("seq 1"));
    // Virtual time does not move while the simulator positions.
    assert_eq!(positioned.field("took"), Some("0.000ms"));

    let committed = one(&events, "committed");
    assert_eq!(committed.level, Level::DEBUG);
    assert_eq!(committed.field("automatic"), Some("false"));
    assert_eq!(committed.field("offsets"), Some("orders/0@2"), "resume after seq 1");

    assert!(events.all().iter().all(|e| e.level > Level::WARN), "no warning:\n{}", events.dump());
    // Nothing per message above trace.
    let per_message =
        events.all().iter().filter(|e| e.level < Level::TRACE && e.field("seq").is_some()).count();
    assert_eq!(per_message, 0, "{}", events.dump());
}

#[test]
fn the_driver_reports_a_group_assignment() {
    let orders = key("orders");
    let ((), events) = capture(|| {
        let streamer =
            weir::connect::<NoRuntime>("sim://diagnostics-group?shards=2&offset_reset=earliest").unwrap();
        let mut producer = streamer.create_producer(Default::default()).unwrap();
        for i in 0..2 {
            weir::block_on(producer.send_to(&orders, format!("o{i}")).unwrap()).unwrap();
        }
        let options = consumer_options(ConsumerMode::LoadBalanced, Some("diag"));
        let mut consumer = streamer.create_consumer(std::slice::from_ref(&orders), options).unwrap();
        consumer.next_blocking().unwrap();
    });
    let assigned = one(&events, "assignment changed");
    assert_eq!(assigned.level, Level::INFO);
    assert_eq!(assigned.field("group"), Some("diag"));
    assert_eq!(assigned.field("shards"), Some("orders/0,orders/1"));
    assert_eq!(assigned.field("revoked"), Some("-"));
    assert_eq!(assigned.field("dropped"), Some("0"));
    let joined = one(&events, "member joined");
    assert_eq!((joined.target.as_str(), joined.level), ("weir_sim::broker::events", Level::DEBUG));
    assert_eq!(joined.field("group"), Some("diag"));
}

#[test]
fn the_simulator_reports_the_faults_it_injects() {
    let group = weir::ConsumerGroup::new("faulty").unwrap();
    let ((), events) = capture(|| {
        let broker = SimBroker::new(SimConfig::default());
        broker.with(|b| {
            let member = b.join(&group, &[key("orders")]);
            b.set_faults(Faults { kill: 1.0, ..Faults::default() });
            assert!(!b.heartbeat(&group, member), "the kill fault struck");
            b.set_faults(Faults::default());
            b.advance(Duration::from_millis(1500));
            b.restart();
        });
    });
    let killed = one(&events, "fault: member killed");
    assert_eq!(killed.level, Level::DEBUG);
    assert_eq!(killed.field("group"), Some("faulty"));
    assert_eq!(killed.field("member"), Some("0"));
    assert_eq!(killed.field("at"), Some("0ns"), "virtual time since the broker's origin");
    let restarted = one(&events, "fault: broker restarted");
    assert_eq!(restarted.field("at"), Some("1.5s"));
}

#[test]
fn stdio_reports_its_input_and_lines_without_a_header() {
    let input: Vec<u8> = b"[k] one\n[2026-13-01T00:00:00 | k] bad month\n[\"json\",1]\n[k] two\n".to_vec();
    let size = input.len().to_string();
    let ((), events) = capture(|| {
        let stdio =
            weir_stdio::StdioStreamer::with_io(Box::new(Cursor::new(input)), Box::new(std::io::sink()));
        let streamer = weir::Streamer::<NoRuntime>::new(weir::AnyStreamer::Stdio(stdio));
        let mut consumer = streamer
            .create_consumer(&[StreamKey::new("k").unwrap()], consumer_options(ConsumerMode::RealTime, None))
            .unwrap();
        let mut payloads = Vec::new();
        loop {
            match consumer.next_blocking() {
                Ok(message) => payloads.push(message.payload.as_str().unwrap().to_owned()),
                Err(ConsumerError::EndOfStream) => break,
                Err(err) => panic!("{err}"),
            }
        }
        // The two lines without a header are raw, so broadcast: k gets them too.
        assert_eq!(payloads.len(), 4, "{payloads:?}");
    });
    let reading = one(&events, "reading input");
    assert_eq!((reading.target.as_str(), reading.level), ("weir_stdio::hub", Level::DEBUG));
    let unparsed = one(&events, "lines opening with '[' have no valid header: read as raw messages");
    assert_eq!(unparsed.level, Level::DEBUG);
    assert_eq!(unparsed.field("lines"), Some("2"));
    assert_eq!(unparsed.field("first"), Some("[2026-13-01T00:00:00 | k] bad month"));
    let ended = one(&events, "input ended");
    assert_eq!(ended.field("lines"), Some("4"));
    assert_eq!(ended.field("bytes"), Some(size.as_str()));
    let end = one(&events, "end of input");
    assert_eq!((end.target.as_str(), end.level), ("weir_adapters::report", Level::INFO));
    assert_eq!(end.field("backend"), Some("stdio"));
    assert_eq!(end.field("streams"), Some("k"));
}
