//! The text parsers of weir-core: stream keys, streamer and stream URLs,
//! timestamps and group names. None may panic; what one accepts, it writes
//! back in a form it reads as the same value.

use std::time::Duration;

use weir_core::key::MAX_STREAM_KEY_LEN;
use weir_core::options::MAX_GROUP_LEN;
use weir_core::{ConsumerGroup, ConsumerMode, StreamKey, StreamUrl, StreamerUrl, Timestamp};

/// The representable nanoseconds since the epoch: years -9999 to 9999.
const MIN_NANOS: i128 = -377_705_116_800_000_000_000;
const MAX_NANOS: i128 = 253_402_300_800_000_000_000;

/// Reads the bytes (lossily, as UTF-8) as each kind of text; the first 16 bytes
/// are also a timestamp in nanoseconds, written out and read back.
pub fn urls_and_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_key(&text);
    check_urls(&text);
    check_timestamp_text(&text);
    check_group(&text);
    let _ = text.parse::<ConsumerMode>();
    let mut nanos = [0; 16];
    for (slot, byte) in nanos.iter_mut().zip(data) {
        *slot = *byte;
    }
    let nanos = MIN_NANOS + i128::from_le_bytes(nanos).rem_euclid(MAX_NANOS - MIN_NANOS);
    let at = Timestamp::from_unix_nanos(nanos).expect("in the representable range");
    assert_eq!(at.unix_nanos(), nanos);
    check_written_timestamp(at);
    let later = at.saturating_add(Duration::from_nanos(u64::from(data.len() as u32) << 40));
    assert!(later >= at, "saturating_add went back in time: {at} to {later}");
}

/// Accepted exactly when Kafka's topic rule allows it; the name is kept as given.
fn check_key(text: &str) {
    let allowed = (1..=MAX_STREAM_KEY_LEN).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match StreamKey::new(text) {
        Ok(key) => {
            assert!(allowed, "accepted the key {text:?}");
            assert_eq!(key.name(), text);
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<StreamKey>().as_ref(), Ok(&key));
            assert_eq!(key.is_broadcast(), text == "broadcast");
        }
        Err(err) => {
            assert!(!allowed, "refused the key {text:?}: {err}");
            assert!(!err.to_string().is_empty());
        }
    }
}

/// An accepted URL is shown in a form that parses back to the same value.
fn check_urls(text: &str) {
    let as_stream = text.parse::<StreamUrl>();
    let (streamer, streams) = match StreamerUrl::parse_with_streams(text) {
        Ok(parsed) => parsed,
        Err(err) => {
            assert!(!err.to_string().is_empty());
            assert!(as_stream.is_err(), "{text:?} is a stream URL but not a streamer URL");
            return;
        }
    };
    let shown = streamer.to_string();
    assert_eq!(shown.parse::<StreamerUrl>().as_ref(), Ok(&streamer), "{text:?} shown as {shown:?}");
    assert_eq!(text.parse::<StreamerUrl>().as_ref(), Ok(&streamer));
    match as_stream {
        Ok(url) => {
            assert_eq!((url.streamer(), url.streams()), (&streamer, &streams[..]), "{text:?}");
            let shown = url.to_string();
            assert_eq!(shown.parse::<StreamUrl>().as_ref(), Ok(&url), "{text:?} shown as {shown:?}");
        }
        Err(err) => assert!(streams.is_empty(), "{text:?} names streams {streams:?}, yet: {err}"),
    }
    for host in streamer.hosts() {
        assert!(!host.to_string().is_empty());
    }
    for name in streamer.params().keys() {
        let _ = streamer.param::<u32>(name).map_err(|err| err.to_string());
    }
    let _ = streamer.deny_unknown_params(&["group", "seed", "shards"]).map_err(|err| err.to_string());
}

/// A parsed timestamp writes a full form that reads back, at microseconds.
fn check_timestamp_text(text: &str) {
    match Timestamp::parse(text) {
        Ok(at) => {
            assert_eq!(text.parse::<Timestamp>(), Ok(at));
            check_written_timestamp(at);
        }
        Err(err) => assert!(!err.to_string().is_empty()),
    }
}

fn check_written_timestamp(at: Timestamp) {
    let shown = at.to_string();
    let micros = Timestamp::from_unix_nanos(at.unix_nanos().div_euclid(1000) * 1000);
    assert_eq!(Timestamp::parse(&shown).ok(), micros.ok(), "{shown:?}");
    // Truncated toward zero, like Rust's integer division.
    assert_eq!(i128::from(at.unix_millis()), at.unix_nanos() / 1_000_000, "{shown}");
}

/// Group names: 1 to 255 bytes without control characters, kept as given.
fn check_group(text: &str) {
    let allowed = (1..=MAX_GROUP_LEN).contains(&text.len()) && !text.chars().any(char::is_control);
    match ConsumerGroup::new(text) {
        Ok(group) => {
            assert!(allowed, "accepted the group {text:?}");
            assert_eq!(group.name(), text);
        }
        Err(err) => assert!(!allowed, "refused the group {text:?}: {err}"),
    }
}
