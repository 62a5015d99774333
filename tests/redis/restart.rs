//! A server that goes away mid-stream: a consumer reconnects and reads on
//! when it comes back within `connect.timeout.ms`, and fails clearly when it
//! does not.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weir::{BackendErrorKind, ConsumerError, ConsumerMode, ConsumerOptions};

use crate::common::*;

/// A server of the test's own (`WEIR_REDIS_SERVER`), killed when dropped.
struct OwnServer {
    child: Child,
    port: u16,
}

impl OwnServer {
    fn start(port: u16) -> Self {
        let binary =
            std::env::var("WEIR_REDIS_SERVER").expect("WEIR_REDIS_SERVER is set by scripts/redis-server");
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let server = Self { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the server did not listen within 20 s");
            // Polling a condition with a deadline; the interval does not change the outcome.
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self, params: &str) -> String {
        format!("redis://127.0.0.1:{}/orders?block.ms=50&{params}", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn streamer_at(url: &str) -> weir::Streamer<Rt> {
    weir::connect(url).unwrap()
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_restarted_server_is_read_on() {
    let port = free_port();
    let server = OwnServer::start(port);
    let url = server.url("connect.timeout.ms=10000");
    let streamer = streamer_at(&url);
    let orders = key("orders");
    let mut consumer =
        crate::groups::joined(&streamer, &orders, ConsumerOptions::new(ConsumerMode::RealTime)).await;
    produce(&streamer, &orders, numbered(0..2)).await;
    assert_eq!(payloads(&take(&mut consumer, 2).await), ["m0", "m1"]);

    drop(server);
    // Down for a moment: the reader's read fails, it reconnects.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = OwnServer::start(port);
    // A producer made after the restart; the old data is gone (no persistence).
    produce(&streamer, &orders, numbered(2..4)).await;
    assert_eq!(payloads(&take(&mut consumer, 2).await), ["m2", "m3"], "read on after the restart");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_server_gone_for_good_fails_after_the_connect_timeout() {
    let server = OwnServer::start(free_port());
    let streamer = streamer_at(&server.url("connect.timeout.ms=500"));
    let orders = key("orders");
    let mut consumer =
        crate::groups::joined(&streamer, &orders, ConsumerOptions::new(ConsumerMode::RealTime)).await;
    drop(server);
    let gone = Instant::now();
    let next =
        tokio::time::timeout(Duration::from_secs(20), consumer.next()).await.expect("an outcome within 20 s");
    let err = next.expect_err("an error, not a message");
    // The reader may see the connection drop a moment before `gone` was taken.
    assert!(gone.elapsed() >= Duration::from_millis(400), "not before the timeout: {:?}", gone.elapsed());
    assert!(
        matches!(&err, ConsumerError::Backend(e) if matches!(e.kind, BackendErrorKind::Connect | BackendErrorKind::Io)),
        "{err}"
    );
}
