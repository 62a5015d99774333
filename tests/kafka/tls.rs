//! Kafka over TLS: weir's producer and consumer talk to the broker through a
//! TLS front (`scripts/tls-proxy`: a certificate from a test CA made at test
//! time, the broker's own address in metadata answers replaced by the
//! front's). The clients are given only the front's address and
//! `security.protocol=ssl`, and librdkafka checks the certificate and that it
//! names 127.0.0.1, so every message passed through a verified TLS session.
//! A client that does not trust the CA, or speaks plaintext to the TLS port,
//! gets a connect error within its connect timeout instead of waiting.

use std::time::{Duration, Instant};

use weir::{BackendErrorKind, ConsumerError, ConsumerMode};

use crate::common::*;
use crate::tls_front::{Server, TlsFront};

/// A `kafka://` URL through `front`, trusting its CA file `ca`.
fn tls_url(front: &TlsFront, namespace: &str, ca: &str) -> String {
    let ca = front.file(ca);
    format!("{}&security.protocol=ssl&ssl.ca.location={}", url(&front.address, namespace), ca.display())
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn messages_travel_over_tls_from_producer_to_consumer() {
    let address = broker();
    let front = TlsFront::start(&address, Server::Kafka, "roundtrip");
    let namespace = namespace("tls");
    let streamer: Streamer =
        weir::connect(&format!("{}&auto.offset.reset=earliest", tls_url(&front, &namespace, "ca.pem")))
            .unwrap();
    let orders = key("orders");
    create_stream(&streamer, &orders, 2);
    produce(&streamer, &orders, numbered(0..20));
    // A group member: the group coordinator is found, and reached, over TLS too.
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::Resumable, Some("tls")))
        .unwrap();
    let got = take(&mut consumer, 20);
    assert_eq!(sorted(payloads(&got)), sorted(names(0..20)));
    wait_for("a commit over tls", consumer.commit_all()).expect("commit over tls");
}

/// A consumer that cannot talk to the broker at `url` fails with a connect
/// error naming the address, well within the connect timeout's bound.
fn assert_connect_error(url: &str, address: &str, why: &str) {
    let streamer: Streamer = weir::connect(url).unwrap();
    let orders = key("orders");
    let started = Instant::now();
    let mut consumer = streamer
        .create_consumer(std::slice::from_ref(&orders), options(ConsumerMode::RealTime, None))
        .unwrap();
    let err = wait_for("the tls error", consumer.next()).expect_err("no tls session");
    let elapsed = started.elapsed();
    match &err {
        ConsumerError::Backend(backend) => assert_eq!(backend.kind, BackendErrorKind::Connect, "{err}"),
        other => panic!("expected a connect error, got {other}"),
    }
    assert!(err.to_string().contains(address), "names the address: {err}");
    assert!(err.to_string().contains(why), "says why: {err}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}: {err}");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_client_that_does_not_trust_the_certificate_fails_instead_of_waiting() {
    let address = broker();
    let front = TlsFront::start(&address, Server::Kafka, "wrong-ca");
    let url =
        format!("{}&connect.timeout.ms=3000", tls_url(&front, &namespace("tls-wrong-ca"), "other-ca.pem"));
    assert_connect_error(&url, &front.address, "certificate verify failed");
}

#[test]
#[ignore = "needs a Kafka broker: scripts/kafka-broker run -- cargo test --all-features -- --include-ignored"]
fn a_plaintext_client_at_the_tls_port_fails_instead_of_waiting() {
    let address = broker();
    let front = TlsFront::start(&address, Server::Kafka, "plaintext");
    let url = format!("{}&connect.timeout.ms=3000", url(&front.address, &namespace("tls-plain")));
    // librdkafka tells nothing more than "1/1 brokers are down" here.
    assert_connect_error(&url, &front.address, "brokers are down");
}
