//! The `weir` tool with `redis://` URLs: produce, consume, relay.

use std::process::Output;

use crate::common::*;
use crate::support::stdout_lines as lines;

fn weir(args: &[&str], stdin: &[u8]) -> Output {
    crate::support::run_weir_ok(args, &[("HOST_ID", "weir-redis-cli-test")], stdin)
}

#[test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
fn produce_then_consume() {
    let ns = namespace("cli");
    let orders = format!("redis://{}/orders?namespace={ns}", address());
    weir(&["produce", &orders], b"one\ntwo\nthree\n");
    let out = weir(&["consume", &orders, "--from", "beginning", "--count", "3", "--format", "payload"], b"");
    assert_eq!(lines(&out), ["one", "two", "three"]);
    // What the tool wrote is in SeaStreamer's layout: field msg of key orders.
    let stored = python(&format!("print([f[b'msg'].decode() for _, f in r.xrange('{ns}orders')])"));
    assert_eq!(stored.trim(), "['one', 'two', 'three']");
}

#[test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
fn relay_stdio_to_redis_then_resumable_consume() {
    let ns = namespace("relay");
    let url = format!("redis://{}/r?namespace={ns}", address());
    weir(&["relay", "--input", "stdio:///in", "--output", &url], b"[in] a\n[in] b\n");
    // A group made now starts at the end, unless the URL says otherwise.
    let from_start = format!("{url}&group.start=beginning");
    let args = [
        "consume",
        &from_start,
        "--mode",
        "resumable",
        "--group",
        "g",
        "--count",
        "2",
        "--format",
        "payload",
    ];
    let out = weir(&args, b"");
    assert_eq!(lines(&out), ["a", "b"]);
}

#[test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
fn list_and_exit_at_end() {
    let ns = namespace("list");
    let orders = format!("redis://{}/orders?namespace={ns}", address());
    weir(&["produce", &orders], b"one\ntwo\nthree\n");
    let ids = python(&format!("print(' '.join(i.decode() for i, _ in r.xrange('{ns}orders')))"));
    let seq = |id: &str| {
        let (ms, n) = id.split_once('-').unwrap();
        ms.parse::<u64>().unwrap() << 20 | n.parse::<u64>().unwrap()
    };
    let ids: Vec<u64> = ids.split_whitespace().map(seq).collect();
    let out = weir(&["list", &orders, "--format", "json"], b"");
    let want = format!(
        "{{\"shards\":[{{\"high\":{},\"low\":{},\"shard\":0}}],\"stream\":\"orders\"}}",
        ids[2] + 1,
        ids[0]
    );
    assert_eq!(lines(&out), [want], "low: the first entry's seq; high: one past the last");
    // Reads what is there, then stops by itself.
    let out = weir(&["consume", &orders, "--from", "beginning", "--exit-at-end", "--format", "payload"], b"");
    assert_eq!(lines(&out), ["one", "two", "three"]);
}
