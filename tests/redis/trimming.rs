//! The producer's optional trimming, approximate (`~`: the server drops
//! whole nodes of entries only), on every shard key it writes to.

use std::time::Duration;

use weir::ProducerOptions;

use crate::common::*;

/// The length of each of the Redis `keys`.
fn lengths(keys: &[String]) -> Vec<u64> {
    let out = python(&format!("print(*[r.xlen(k) for k in {keys:?}])"));
    out.split_whitespace().map(|n| n.parse().expect("a length")).collect()
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn maxlen_trims_every_shard_key() {
    let ns = namespace("maxlen");
    let orders = key("orders");
    let streamer = streamer(&ns, "maxlen=100");
    match streamer.backend() {
        weir::AnyStreamer::Redis(redis) => redis.create_stream(&orders, 3).unwrap(),
        _ => unreachable!("a redis url"),
    }
    produce(&streamer, &orders, numbered(0..3000)).await;
    let lengths = lengths(&[0, 1, 2].map(|s| format!("{ns}orders:{s}")));
    // 1000 entries went to each key; about 100 stay (at least 100, and
    // less than 100 more: one node of 100 entries at most is kept whole).
    assert!(lengths.iter().all(|n| (100..200).contains(n)), "each key trimmed to about 100: {lengths:?}");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn max_age_trims_older_entries_by_id() {
    let ns = namespace("maxage");
    let orders = key("orders");
    // 500 entries an hour old and 500 half a minute old, written without trimming.
    let plain = streamer(&ns, "");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let ago =
        |ms: i64| weir::Timestamp::from_unix_millis(i64::try_from(now.as_millis()).unwrap() - ms).unwrap();
    let mut producer = plain.create_producer(ProducerOptions::default()).unwrap();
    for i in 0..500 {
        drop(producer.send_at(&orders, format!("old{i}"), Some(ago(3_600_000))).unwrap());
    }
    for i in 0..500 {
        drop(producer.send_at(&orders, format!("recent{i}"), Some(ago(30_000))).unwrap());
    }
    producer.flush_within(Duration::from_secs(20)).await.unwrap();
    assert_eq!(lengths(&[format!("{ns}orders")]), [1000]);
    // 500 new ones through a producer keeping a minute: the hour-old entries
    // go, the half-minute-old ones stay.
    let trimming = streamer(&ns, "max.age.ms=60000");
    produce(&trimming, &orders, numbered(0..500)).await;
    let length = lengths(&[format!("{ns}orders")])[0];
    assert!((1000..1100).contains(&length), "the old entries trimmed (but for one node at most): {length}");
    let newest = python(&format!(
        "print(*[f[b'msg'].decode() for _, f in r.xrevrange('{ns}orders', count=1000)][::-1])"
    ));
    let want: Vec<String> = (0..500).map(|i| format!("recent{i}")).chain(numbered(0..500)).collect();
    assert_eq!(newest.split_whitespace().collect::<Vec<_>>(), want, "every entry younger than a minute kept");
}
