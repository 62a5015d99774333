//! What every Redis test needs: the server's address, a streamer in a
//! namespace of its own, an independent client, bounded waits.

use std::process::Command;
use std::time::Duration;

use weir::{Message, ProducerOptions, StreamKey};

/// The server for Redis tests: `WEIR_REDIS` (set by `scripts/redis-server
/// run -- …`). The tests that need it are `#[ignore]`d with the command that
/// runs them; asked for without it, they fail saying so.
pub fn address() -> String {
    crate::support::redis_address()
}

/// A namespace no other test uses.
pub fn namespace(test: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t-{test}-{}-{n}-", std::process::id())
}

/// A streamer URL on the test server in `namespace`, with `params` added.
pub fn url(namespace: &str, params: &str) -> String {
    let sep = if params.is_empty() { "" } else { "&" };
    format!("redis://{}?namespace={namespace}&block.ms=50{sep}{params}", address())
}

pub fn streamer(namespace: &str, params: &str) -> weir::Streamer<Rt> {
    weir::connect(&url(namespace, params)).expect("redis url")
}

pub fn key(name: &str) -> StreamKey {
    StreamKey::new(name).expect("valid key")
}

/// The runtime the Redis tests run on.
pub type Rt = weir::Tokio;

/// `n` messages from `consumer`, failing after 20 s.
pub async fn take(consumer: &mut weir::Consumer<Rt>, n: usize) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let next = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await;
        let got = out.len();
        out.push(
            next.unwrap_or_else(|_| panic!("only {got} of {n} messages after 20 s")).expect("a message"),
        );
    }
    out
}

/// Nothing arrives within `quiet`.
pub async fn nothing_within(consumer: &mut weir::Consumer<Rt>, quiet: Duration) {
    if let Ok(got) = tokio::time::timeout(quiet, consumer.next()).await {
        panic!("expected nothing more, got {got:?}");
    }
}

pub fn payloads(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.payload.as_str().expect("utf-8").to_owned()).collect()
}

/// Sends `payloads` to `key` and waits for every receipt.
pub async fn produce(
    streamer: &weir::Streamer<Rt>,
    key: &StreamKey,
    payloads: impl IntoIterator<Item = String>,
) -> Vec<weir::MessageHeader> {
    let mut producer = streamer.create_producer(ProducerOptions::default()).expect("producer");
    let receipts: Vec<_> = payloads.into_iter().map(|p| producer.send_to(key, p).expect("send")).collect();
    producer.flush_within(Duration::from_secs(20)).await.expect("flushed");
    let mut headers = Vec::new();
    for receipt in receipts {
        headers.push(receipt.await.expect("stored"));
    }
    headers
}

pub fn numbered(range: std::ops::Range<u32>) -> impl Iterator<Item = String> {
    range.map(|i| format!("m{i}"))
}

pub fn realtime() -> weir::ConsumerOptions {
    weir::ConsumerOptions::new(weir::ConsumerMode::RealTime)
}

/// The consumer's first outcome, which must be an error within 20 s.
pub async fn first_error(consumer: &mut weir::Consumer<Rt>) -> weir::ConsumerError {
    let next = tokio::time::timeout(Duration::from_secs(20), consumer.next()).await;
    next.expect("an outcome within 20 s").expect_err("an error, not a message")
}

pub fn backend_kind(err: &weir::ConsumerError) -> weir::BackendErrorKind {
    match err {
        weir::ConsumerError::Backend(err) => err.kind,
        other => panic!("not a backend error: {other}"),
    }
}

/// Runs a Python snippet with the `redis` client (`WEIR_REDIS_PYTHON`, set by
/// scripts/redis-server), `r` connected to the test server; its stdout.
pub fn python(snippet: &str) -> String {
    let python =
        std::env::var("WEIR_REDIS_PYTHON").expect("WEIR_REDIS_PYTHON is set by scripts/redis-server");
    let (host, port) =
        address().rsplit_once(':').map(|(h, p)| (h.to_owned(), p.to_owned())).expect("host:port");
    let program = format!("import redis, sys\nr = redis.Redis(host={host:?}, port={port})\n{snippet}\n");
    let out = Command::new(python).arg("-c").arg(&program).output().expect("python runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}
