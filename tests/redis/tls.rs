//! Redis over TLS (`rediss://`): weir talks to the test server through a TLS
//! front (`scripts/tls-proxy --plain`: a certificate for 127.0.0.1 from a test
//! CA made at test time, bytes passed through unchanged). Clients given the
//! front's CA file check the certificate and the name in it, so what they
//! send and read passed a verified TLS session. A front that asks for client
//! certificates gets the one the URL names. A certificate from another
//! CA, a plaintext URL at the TLS port, a TLS URL at a plaintext port and a
//! port that never answers each fail with an error saying why, within the
//! connect timeout.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use weir::{BackendErrorKind, ConsumerMode, ConsumerOptions, Message, SeqPos};

use crate::common::*;
use crate::support::stdout_lines as lines;
use crate::tls_front::{Server, TlsFront};

/// A `rediss://` URL through `front` in `namespace`, with `params` added.
fn tls_url(front: &TlsFront, namespace: &str, params: &str) -> String {
    format!("rediss://{}?namespace={namespace}&block.ms=50&{params}", front.address)
}

/// `ssl.ca.location=` the front's file `name`.
fn trusting(front: &TlsFront, name: &str) -> String {
    format!("ssl.ca.location={}", front.file(name).display())
}

/// Payloads no text protocol would pass unharmed: every byte value, line
/// ends, a NUL, and one of 100 KiB, larger than a TLS record (16 KiB).
fn awkward_payloads() -> Vec<Vec<u8>> {
    let every_byte: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..100 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    vec![every_byte, b"line\r\nend\n".to_vec(), vec![0], b"plain".to_vec(), big]
}

/// Sends `payloads` through `streamer`, then reads them back from the start of the key.
async fn round_trip(streamer: &weir::Streamer<Rt>, payloads: &[Vec<u8>]) -> Vec<Message> {
    let orders = key("orders");
    let mut producer = streamer.create_producer(Default::default()).unwrap();
    let receipts: Vec<_> = payloads.iter().map(|p| producer.send_to(&orders, p.clone()).unwrap()).collect();
    producer.flush_within(Duration::from_secs(20)).await.expect("flushed over tls");
    for receipt in receipts {
        receipt.await.expect("stored over tls");
    }
    let mut consumer = streamer.create_consumer(&[orders], realtime()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), consumer.rewind(SeqPos::Beginning))
        .await
        .expect("rewound within 20 s")
        .unwrap();
    take(&mut consumer, payloads.len()).await
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn messages_travel_over_tls_byte_for_byte() {
    let front = TlsFront::start(&address(), Server::Redis, "roundtrip");
    let ns = namespace("tls");
    let streamer: weir::Streamer<Rt> =
        weir::connect(&tls_url(&front, &ns, &trusting(&front, "ca.pem"))).unwrap();
    let sent = awkward_payloads();
    let got = round_trip(&streamer, &sent).await;
    let got: Vec<&[u8]> = got.iter().map(|m| m.payload.as_bytes()).collect();
    assert_eq!(got, sent.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // They reached the server behind the front, as sent.
    let stored = python(&format!("print(sum(len(f[b'msg']) for _, f in r.xrange('{ns}orders')))"));
    assert_eq!(stored.trim(), sent.iter().map(Vec::len).sum::<usize>().to_string());

    // A group member: its reads and its acknowledgements (a connection of
    // their own) go over TLS too.
    let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
    options.set_group(weir::ConsumerGroup::new("tls").unwrap());
    let streamer: weir::Streamer<Rt> = weir::connect(&tls_url(
        &front,
        &ns,
        &format!("{}&group.start=beginning", trusting(&front, "ca.pem")),
    ))
    .unwrap();
    let mut consumer = streamer.create_consumer(&[key("orders")], options).unwrap();
    let got = take(&mut consumer, sent.len()).await;
    assert_eq!(got.last().unwrap().payload.as_bytes(), sent.last().unwrap().as_slice());
    tokio::time::timeout(Duration::from_secs(20), consumer.commit_all())
        .await
        .expect("committed within 20 s")
        .expect("a commit over tls");
    let pending = python(&format!("print(r.xpending('{ns}orders', '{ns}tls')['pending'])"));
    assert_eq!(pending.trim(), "0", "every entry acknowledged");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_server_that_asks_for_a_client_certificate_gets_one() {
    let front = TlsFront::start_mutual(&address(), Server::Redis, "mutual");
    let ns = namespace("tls-mutual");
    let client = format!(
        "{}&ssl.certificate.location={}&ssl.key.location={}",
        trusting(&front, "ca.pem"),
        front.file("client.pem").display(),
        front.file("client.key").display()
    );
    let streamer: weir::Streamer<Rt> = weir::connect(&tls_url(&front, &ns, &client)).unwrap();
    let got = round_trip(&streamer, &[b"mutual".to_vec()]).await;
    assert_eq!(payloads(&got), ["mutual"]);
    // Without one, the server closes the connection (after the client's
    // side of the handshake, in TLS 1.3): the error suggests the cause.
    let anonymous = tls_url(&front, &ns, &format!("connect.timeout.ms=2000&{}", trusting(&front, "ca.pem")));
    let why = "closed the TLS connection before answering (does it want a client certificate?";
    assert_fails(&anonymous, BackendErrorKind::Io, &front.address, why).await;
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn without_verification_an_untrusted_certificate_is_accepted() {
    let front = TlsFront::start(&address(), Server::Redis, "insecure");
    let url = tls_url(&front, &namespace("tls-insecure"), "enable.ssl.certificate.verification=false");
    let streamer: weir::Streamer<Rt> = weir::connect(&url).unwrap();
    let got = round_trip(&streamer, &[b"unverified".to_vec()]).await;
    assert_eq!(payloads(&got), ["unverified"]);
}

/// The first error of a RealTime consumer of `url`: a backend error of
/// `kind` naming `address` and saying `why`, well within the connect
/// timeout's bound (the URLs here give 2 s).
async fn assert_fails(url: &str, kind: BackendErrorKind, address: &str, why: &str) {
    let streamer: weir::Streamer<Rt> = weir::connect(url).unwrap();
    let started = Instant::now();
    let mut consumer = streamer.create_consumer(&[key("orders")], realtime()).unwrap();
    let err = first_error(&mut consumer).await;
    let elapsed = started.elapsed();
    assert_eq!(backend_kind(&err), kind, "{err}");
    assert!(err.to_string().contains(address), "names the server: {err}");
    assert!(err.to_string().contains(why), "says why: {err}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}: {err}");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn an_untrusted_certificate_or_name_is_refused() {
    let front = TlsFront::start(&address(), Server::Redis, "wrong-ca");
    let ns = namespace("tls-wrong-ca");
    let other = format!("connect.timeout.ms=2000&{}", trusting(&front, "other-ca.pem"));
    let why = "certificate verify failed";
    assert_fails(&tls_url(&front, &ns, &other), BackendErrorKind::Connect, &front.address, why).await;
    // Without ssl.ca.location the system's roots are trusted, and the test CA is not one of them.
    let system = tls_url(&front, &ns, "connect.timeout.ms=2000");
    assert_fails(&system, BackendErrorKind::Connect, &front.address, why).await;
    // The right CA, but the certificate names 127.0.0.1, not localhost.
    let port = front.address.rsplit_once(':').unwrap().1;
    let localhost = format!(
        "rediss://localhost:{port}?namespace={ns}&connect.timeout.ms=2000&{}",
        trusting(&front, "ca.pem")
    );
    let mismatch = format!("localhost:{port}");
    assert_fails(&localhost, BackendErrorKind::Connect, &mismatch, "hostname mismatch").await;
    // The producer's receipts say so too.
    let streamer: weir::Streamer<Rt> = weir::connect(&system).unwrap();
    let mut producer = streamer.create_producer(Default::default()).unwrap();
    let receipt = producer.send_to(&key("orders"), "x").unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), receipt).await.unwrap().unwrap_err();
    assert!(err.to_string().contains(why), "{err}");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_plaintext_url_at_the_tls_port_fails_within_the_connect_timeout() {
    let front = TlsFront::start(&address(), Server::Redis, "plaintext");
    let url = format!("redis://{}?connect.timeout.ms=2000&block.ms=50", front.address);
    let why = "if it takes TLS, write rediss://";
    assert_fails(&url, BackendErrorKind::Io, &front.address, why).await;
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_tls_url_at_a_plaintext_port_fails_within_the_connect_timeout() {
    // The server waits for the end of a command line that the TLS hello never sends.
    let url = format!("rediss://{}?connect.timeout.ms=2000&block.ms=50", address());
    assert_fails(&url, BackendErrorKind::Timeout, &address(), "is the port a TLS port?").await;
}

#[tokio::test]
async fn a_tls_port_that_never_answers_times_out() {
    // Accepts connections (the kernel does, into the backlog) and never answers the handshake.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let url = format!("rediss://{address}?connect.timeout.ms=300&block.ms=50");
    assert_fails(&url, BackendErrorKind::Timeout, &address, "no TLS handshake within 300 ms").await;
    drop(silent);
}

#[test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
fn the_weir_tool_produces_and_consumes_over_tls() {
    let front = TlsFront::start(&address(), Server::Redis, "cli");
    let ns = namespace("tls-cli");
    let orders = format!("rediss://{}/orders?namespace={ns}&{}", front.address, trusting(&front, "ca.pem"));
    let envs = [("HOST_ID", "weir-redis-tls-test")];
    crate::support::run_weir_ok(&["produce", &orders], &envs, b"one\ntwo\nthree\n");
    let args = ["consume", &orders, "--from", "beginning", "--count", "3", "--format", "payload"];
    let out = crate::support::run_weir_ok(&args, &envs, b"");
    assert_eq!(lines(&out), ["one", "two", "three"]);
    // An untrusted certificate: the tool fails and says why.
    let untrusted = format!("rediss://{}/orders?namespace={ns}&connect.timeout.ms=2000", front.address);
    let out = crate::support::run_weir(&["consume", &untrusted, "-e"], &envs, b"");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
}
