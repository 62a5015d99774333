//! An independent client (Python's `redis`) and weir read and write the same
//! keys, byte for byte, in SeaStreamer's layout.

use std::time::Duration;

use weir::{ConsumerMode, ConsumerOptions, ProducerOptions, SeqPos, ShardId};

use crate::common::*;

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn weir_reads_what_another_client_wrote() {
    let ns = namespace("interop-read");
    let ids = python(&format!(
        "a = r.xadd('{ns}pay:0', {{'msg': b'\\x00\\xffbinary', 'note': 'ignored'}})\n\
         b = r.xadd('{ns}pay:1', {{'msg': 'second'}})\n\
         print(a.decode(), b.decode())"
    ));
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let streamer = streamer(&ns, "");
    let pay = key("pay");
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&pay), ConsumerOptions::new(ConsumerMode::RealTime))
        .unwrap();
    consumer.assign(pay.clone(), ShardId(0)).unwrap();
    consumer.assign(pay.clone(), ShardId(1)).unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let mut got = take(&mut consumer, 2).await;
    got.sort_by_key(|m| m.shard());
    assert_eq!(got[0].payload.as_bytes(), b"\x00\xffbinary");
    assert_eq!(got[1].payload.as_bytes(), b"second");
    for (message, id) in got.iter().zip(ids) {
        let (ms, n) = id.split_once('-').unwrap();
        let (ms, n): (u64, u64) = (ms.parse().unwrap(), n.parse().unwrap());
        assert_eq!(message.seq().0, ms << 20 | n, "seq = ms << 20 | n of {id}");
        assert_eq!(message.timestamp().unix_millis(), ms as i64, "time from the id");
    }
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn another_client_reads_what_weir_wrote() {
    let ns = namespace("interop-write");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let payload: Vec<u8> = (0..=255u8).collect();
    let header = producer.send_to(&orders, payload.clone()).unwrap().await.unwrap();
    let read = python(&format!(
        "[(i, f)] = r.xrange('{ns}orders')\nprint(i.decode(), sorted(f.keys()), f[b'msg'].hex())"
    ));
    let mut parts = read.trim().splitn(3, ' ');
    let id = parts.next().unwrap();
    let seq = header.seq.0;
    assert_eq!(id, format!("{}-{}", seq >> 20, seq & 0xf_ffff));
    let rest: Vec<&str> = parts.collect();
    assert_eq!(rest[0], "[b'msg']", "one field, msg");
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(rest[1], hex, "byte for byte");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn an_entry_without_msg_is_an_error_not_a_skip() {
    let ns = namespace("no-msg");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let id = python(&format!(
        "r.xadd('{ns}orders', {{'msg': 'fine'}})\nprint(r.xadd('{ns}orders', {{'body': 'x'}}).decode())"
    ));
    let mut consumer =
        streamer.create_consumer(&[orders], ConsumerOptions::new(ConsumerMode::RealTime)).unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await.expect("within 20 s");
    let second = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await.expect("within 20 s");
    // The entry before it is delivered (it may come in the same read, and then the error ends the read).
    let err = match first {
        Ok(message) => {
            assert_eq!(message.payload.as_bytes(), b"fine");
            second.unwrap_err()
        }
        Err(err) => err,
    };
    assert!(err.to_string().contains(id.trim()) && err.to_string().contains("msg"), "{err}");
}

/// A server numbers entries by a clock that stands still through one batch
/// of pipelined commands: 70,000 XADDs in one pipeline share a millisecond,
/// with `n` past 65,535. weir reads them all, in order.
#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn one_millisecond_holds_more_than_65536_entries() {
    let ns = namespace("one-ms");
    let top = python(&format!(
        "p = r.pipeline(transaction=False)\n\
         for i in range(70000): p.xadd('{ns}orders', {{'msg': str(i)}})\n\
         ids = p.execute()\n\
         print(max(int(i.decode().split('-')[1]) for i in ids))"
    ));
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), ConsumerOptions::new(ConsumerMode::RealTime))
        .unwrap();
    consumer.rewind(SeqPos::Beginning).await.unwrap();
    let got = take(&mut consumer, 70_000).await;
    assert!(got.windows(2).all(|w| w[0].seq() < w[1].seq()), "seqs in order");
    assert_eq!(got[69_999].payload.as_bytes(), b"69999");
    // Usually one millisecond held more than 2^16 of them; the rule holds either way.
    eprintln!("largest n in one millisecond: {}", top.trim());
}
