//! What the simulated broker tells about its streams: shards, watermarks,
//! and where a seek to a time would land.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_adapters::{block_on, NoRuntime, Streamer};
use weir_core::{Payload, SeqNo, ShardId, ShardInfo, StreamKey};
use weir_sim::{SimBroker, SimConfig};

fn key(name: &str) -> StreamKey {
    StreamKey::new(name).unwrap()
}

#[test]
fn lists_streams_with_their_watermarks_and_finds_seqs_by_time() {
    let broker = SimBroker::new(SimConfig { shards: 2, ..SimConfig::default() });
    let (orders, empty) = (key("orders"), key("empty"));
    let start = broker.timestamp();
    for i in 0..5 {
        // Round-robin: shard 0 gets 0, 2, 4 (seqs 0..3), shard 1 gets 1, 3.
        broker.with(|b| b.produce(&orders, Payload::new(format!("m{i}")), None));
        broker.advance(Duration::from_secs(1));
    }
    let streamer = Streamer::<_, NoRuntime>::new(broker.clone());

    let all = block_on(streamer.list_streams(&[])).unwrap();
    assert_eq!(all.len(), 1, "only what was made: {all:?}");
    assert_eq!(all[0].key, orders);
    let watermarks = |high: [u64; 2]| {
        [0, 1].map(|s| ShardInfo { shard: ShardId(s), low: SeqNo(0), high: SeqNo(high[s as usize]) })
    };
    assert_eq!(all[0].shards, watermarks([3, 2]));

    // Naming a stream makes it, as consuming it would.
    let named = block_on(streamer.list_streams(std::slice::from_ref(&empty))).unwrap();
    assert_eq!((named[0].key.clone(), named[0].shards.clone()), (empty, watermarks([0, 0]).to_vec()));

    // m2 (shard 0, seq 1) was produced 2 s after the start, m3 (shard 1, seq 1) 3 s after.
    let shards = [(orders.clone(), ShardId(0)), (orders.clone(), ShardId(1))];
    let at = start.saturating_add(Duration::from_secs(2));
    let seqs = block_on(streamer.seqs_at(&shards, at)).unwrap();
    assert_eq!(seqs, [(shards[0].clone(), SeqNo(1)), (shards[1].clone(), SeqNo(1))]);
    let later = start.saturating_add(Duration::from_secs(60));
    let seqs = block_on(streamer.seqs_at(&shards, later)).unwrap();
    assert_eq!(
        seqs,
        [(shards[0].clone(), SeqNo(3)), (shards[1].clone(), SeqNo(2))],
        "past the last: the end"
    );
}
