//! Listing a file's streams and finding seqs by time: one read of the whole
//! file (a file keeps no index of its shards' first messages), run as a
//! blocking job off the executor.

use std::collections::BTreeMap;
use std::path::Path;

use weir_core::{BackendError, SeqNo, ShardInfo, StreamInfo, StreamKey, StreamShard, Timestamp};

use crate::decode::Item;
use crate::reader::LogReader;

/// What one read of a file found about a shard.
struct Seen {
    first: SeqNo,
    last: SeqNo,
    /// The seq of its first message not before the time asked for, if any.
    at: Option<SeqNo>,
}

/// Every shard in the file, read from start to end. A torn last frame is
/// left out (as a consumer delivers every frame before it); a corrupt frame
/// is the error naming its offset.
fn scan(path: &Path, at: Option<Timestamp>) -> Result<BTreeMap<StreamShard, Seen>, BackendError> {
    let mut reader = LogReader::open(path)?;
    let mut seen: BTreeMap<StreamShard, Seen> = BTreeMap::new();
    while let Some(decoded) = reader.next_item()? {
        let Item::Message(message) = decoded.item else { continue };
        let h = &message.header;
        let reached = at.is_some_and(|at| h.timestamp >= at);
        seen.entry((h.stream_key.clone(), h.shard))
            .and_modify(|s| {
                s.last = h.seq;
                if reached && s.at.is_none() {
                    s.at = Some(h.seq);
                }
            })
            .or_insert(Seen { first: h.seq, last: h.seq, at: reached.then_some(h.seq) });
    }
    Ok(seen)
}

/// The streams `keys` names (every stream in the file when empty), each
/// with its shards: low is the first seq the file holds, high one past the
/// last. A named stream the file has no message of is listed with an empty
/// shard 0, the shard a consumer reads by default.
pub(crate) fn list(path: &Path, keys: &[StreamKey]) -> Result<Vec<StreamInfo>, BackendError> {
    let seen = scan(path, None)?;
    let mut streams: BTreeMap<StreamKey, Vec<ShardInfo>> =
        keys.iter().map(|key| (key.clone(), Vec::new())).collect();
    for ((key, shard), s) in seen {
        if keys.is_empty() || keys.contains(&key) {
            streams.entry(key).or_default().push(ShardInfo {
                shard,
                low: s.first,
                high: SeqNo(s.last.0 + 1),
            });
        }
    }
    let order: Vec<StreamKey> =
        if keys.is_empty() { streams.keys().cloned().collect() } else { keys.to_vec() };
    Ok(order
        .into_iter()
        .map(|key| {
            let mut shards = streams.remove(&key).unwrap_or_default();
            if shards.is_empty() {
                shards.push(ShardInfo { shard: weir_core::ShardId::ZERO, low: SeqNo(0), high: SeqNo(0) });
            }
            StreamInfo { key, shards }
        })
        .collect())
}

/// For each of `shards`: the seq of its first message not before `at`, or
/// its high watermark (one past its last seq; 0 for a shard with none).
pub(crate) fn seqs_at(
    path: &Path,
    shards: &[StreamShard],
    at: Timestamp,
) -> Result<Vec<(StreamShard, SeqNo)>, BackendError> {
    let seen = scan(path, Some(at))?;
    Ok(shards
        .iter()
        .map(|shard| {
            let seq = match seen.get(shard) {
                Some(s) => s.at.unwrap_or(SeqNo(s.last.0 + 1)),
                None => SeqNo(0),
            };
            (shard.clone(), seq)
        })
        .collect())
}
