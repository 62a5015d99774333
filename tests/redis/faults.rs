//! Faults: each a clear error naming what is wrong, no panic, nothing lost.

use std::net::TcpListener;
use std::time::Duration;

use weir::{BackendErrorKind, ConsumerMode, ConsumerOptions, ProducerOptions, UrlError};

use crate::common::*;

#[tokio::test]
async fn connection_refused() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Closed again: nothing listens there now.
    let streamer: weir::Streamer<Rt> =
        weir::connect(&format!("redis://127.0.0.1:{port}?connect.timeout.ms=2000")).unwrap();
    let mut consumer = streamer.create_consumer(&[key("orders")], realtime()).unwrap();
    let err = first_error(&mut consumer).await;
    assert_eq!(backend_kind(&err), BackendErrorKind::Connect, "{err}");
    assert!(err.to_string().contains(&port.to_string()), "names the server: {err}");
    let mut producer = streamer.create_producer(ProducerOptions::default()).unwrap();
    let receipt = producer.send_to(&key("orders"), "x").unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), receipt).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("connecting"), "{err}");
}

#[tokio::test]
async fn no_answer_within_the_connect_timeout() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let streamer: weir::Streamer<Rt> =
        weir::connect(&format!("redis://127.0.0.1:{port}?connect.timeout.ms=300&block.ms=50")).unwrap();
    let mut consumer = streamer.create_consumer(&[key("orders")], realtime()).unwrap();
    let err = first_error(&mut consumer).await;
    assert_eq!(backend_kind(&err), BackendErrorKind::Timeout, "{err}");
    drop(silent);
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn wrong_password() {
    let ns = namespace("auth");
    let user = format!("{ns}user");
    python(&format!(
        "r.acl_setuser('{user}', enabled=True, passwords=['+right'], keys=['*'], commands=['+@all'])"
    ));
    let streamer: weir::Streamer<Rt> =
        weir::connect(&format!("redis://{user}:wrong-secret@{}", address())).unwrap();
    let mut consumer = streamer.create_consumer(&[key("orders")], realtime()).unwrap();
    let err = first_error(&mut consumer).await;
    let text = err.to_string();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains("wrong-secret"), "the password is not shown: {text}");
    // The right one works.
    let streamer: weir::Streamer<Rt> =
        weir::connect(&format!("redis://{user}:right@{}?namespace={ns}", address())).unwrap();
    let headers = produce(&streamer, &key("orders"), numbered(0..1)).await;
    assert_eq!(headers.len(), 1);
    python(&format!("r.acl_deluser('{user}')"));
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_deleted_key_gets_its_group_made_again() {
    let ns = namespace("nogroup");
    let streamer = streamer(&ns, "");
    let orders = key("orders");
    let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
    options.set_group(weir::ConsumerGroup::new("g").unwrap());
    let mut consumer = crate::groups::joined(&streamer, &orders, options).await;
    produce(&streamer, &orders, numbered(0..1)).await;
    assert_eq!(payloads(&take(&mut consumer, 1).await), ["m0"]);
    python(&format!("r.delete('{ns}orders')"));
    produce(&streamer, &orders, numbered(1..3)).await;
    assert_eq!(payloads(&take(&mut consumer, 2).await), ["m1", "m2"], "read on after NOGROUP");
}

#[tokio::test]
#[ignore = "needs a Redis server: scripts/redis-server run -- cargo test --all-features --test redis -- --include-ignored"]
async fn a_key_that_is_not_a_stream() {
    let ns = namespace("wrongtype");
    python(&format!("r.set('{ns}orders', 'a string')"));
    let streamer = streamer(&ns, "");
    let mut consumer = streamer.create_consumer(&[key("orders")], realtime()).unwrap();
    let err = first_error(&mut consumer).await;
    assert!(
        err.to_string().contains("WRONGTYPE") && err.to_string().contains(&format!("{ns}orders")),
        "{err}"
    );
}

#[test]
fn malformed_urls_name_the_wrong_part() {
    let err = weir::connect::<Rt>("redis://h/x0/orders").err().unwrap();
    assert!(
        matches!(&err, weir::StreamerError::Url(UrlError::Malformed { reason, .. }) if reason.contains("x0")),
        "{err}"
    );
    let err = weir::connect::<Rt>("redis://h?batch=0").err().unwrap();
    assert!(
        matches!(&err, weir::StreamerError::Url(UrlError::BadParam { name, .. }) if name == "batch"),
        "{err}"
    );
    let err = weir::connect::<Rt>("redis://a,b").err().unwrap();
    assert!(matches!(&err, weir::StreamerError::Url(UrlError::BadHost { .. })), "{err}");
    let err = weir::connect::<Rt>("redis://u:topsecret@h:99999").err().unwrap();
    assert!(!err.to_string().contains("topsecret"), "{err}");
}
