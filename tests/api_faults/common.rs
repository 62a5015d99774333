//! Names, URLs and options shared by this crate's tests.

use weir::{Runtime, StreamKey};

pub use crate::support::kafka_address as broker;
use crate::support::{kafka_namespace, KAFKA_TEST_SETTINGS};

/// A namespace no other test uses: topics and groups are the test's own.
pub fn namespace(test: &str) -> String {
    kafka_namespace("ra", test)
}

/// The `kafka://` URL of `namespace` on `address`, with `extra` settings (`a=1&b=2`) appended.
pub fn url(address: &str, namespace: &str, extra: &str) -> String {
    let mut url = format!("kafka://{address}?namespace={namespace}&{KAFKA_TEST_SETTINGS}");
    if !extra.is_empty() {
        url.push('&');
        url.push_str(extra);
    }
    url
}

pub fn streamer<R: Runtime>(url: &str) -> weir::Streamer<R> {
    weir::connect(url).expect("kafka url")
}

pub use crate::support::{consumer_options as options, key};

/// Makes `key` with `shards` partitions.
pub fn create_stream<R: Runtime>(streamer: &weir::Streamer<R>, key: &StreamKey, shards: u32) {
    match streamer.backend() {
        weir::AnyStreamer::Kafka(kafka) => weir::block_on(kafka.create_stream(key, shards)).expect("topic"),
        #[allow(unreachable_patterns)]
        _ => unreachable!("kafka urls make kafka streamers"),
    }
}
