//! A recorded `.ss` file loaded into the simulator, so that a stream once
//! captured from Kafka, Redis or a pipe replays as a deterministic test: same
//! seed, same deliveries, on any runtime.

use std::path::Path;

use weir_file::{decode_all, Item};
use weir_sim::SimBroker;

use crate::{BackendError, BackendErrorKind, Payload};

/// Stores every message of the `.ss` file at `path` in `broker`, in file
/// order, each on its recorded stream and shard with its recorded timestamp
/// and payload. Seqs are renumbered per shard from 0 (the simulator numbers
/// by position). Stops at the end-of-stream frame. Returns how many messages
/// were stored; a corrupt or torn frame is an error naming its offset, after
/// the complete frames before it were stored.
pub fn load_recording(broker: &SimBroker, path: impl AsRef<Path>) -> Result<usize, BackendError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|err| {
        BackendError::new("file", BackendErrorKind::Io, format!("cannot read {}: {err}", path.display()))
    })?;
    // Shares the bytes with the payloads instead of copying each one.
    let whole = decode_all(&Payload::new(bytes).into_bytes());
    let mut stored = 0;
    broker.with(|broker| {
        for decoded in whole.items {
            match decoded.item {
                Item::Message(m) => {
                    broker.store(&m.header.stream_key, m.header.shard, m.payload, m.header.timestamp);
                    stored += 1;
                }
                Item::EndOfStream(_) => break,
                Item::Beacon(_) => {}
            }
        }
    });
    match whole.error {
        None => Ok(stored),
        Some(err) => {
            Err(BackendError::new("file", BackendErrorKind::Io, format!("{}: {err}", path.display())))
        }
    }
}
