//! Listing streams and finding seqs by time: one connection, a few reads per
//! shard key, run as a blocking job off the executor.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;
use weir_core::listing::{ShardInfo, StreamInfo};
use weir_core::{BackendError, SeqNo, ShardId, StreamKey, StreamShard, StreamerError};

use crate::conn::Target;
use crate::error::{failed, RedisError};
use crate::id::EntryId;
use crate::layout::Layout;
use crate::options::RedisOptions;
use crate::reader::find_shards_or_fail;
use crate::reply::entries_of;

/// The first entry at or after `from` (`-` for the start) of `key`, or its
/// last one (`last`), if any.
fn edge(
    conn: &mut redis::Connection,
    key: &str,
    from: &str,
    last: bool,
) -> Result<Option<EntryId>, BackendError> {
    let mut command = redis::cmd(if last { "XREVRANGE" } else { "XRANGE" });
    if last {
        command.arg(key).arg("+").arg("-");
    } else {
        command.arg(key).arg(from).arg("+");
    }
    command.arg("COUNT").arg(1);
    let reply: Value =
        command.query(conn).map_err(|err| failed(&format!("reading the ends of key {key}"), &err))?;
    let mut entries = Vec::new();
    entries_of(if last { "XREVRANGE" } else { "XRANGE" }, key, reply, &mut entries)?;
    Ok(entries.first().map(|entry| entry.id))
}

fn seq(key: &str, id: EntryId) -> Result<SeqNo, BackendError> {
    id.to_seq().map_err(|source| RedisError::Id { key: key.to_owned(), source }.into())
}

/// The seq the next entry of `key` gets at least: one past its last.
fn high(conn: &mut redis::Connection, key: &str) -> Result<SeqNo, BackendError> {
    Ok(match edge(conn, key, "-", true)? {
        Some(last) => seq(key, last)?.next(),
        None => SeqNo(0),
    })
}

/// A stream's shards and their Redis keys.
type ShardKeys = Vec<(ShardId, String)>;

/// Where the streams of `keys` live: each stream's shard keys.
fn shard_keys(
    conn: &mut redis::Connection,
    layout: &Layout,
    options: &RedisOptions,
    keys: &[StreamKey],
) -> Result<Vec<(StreamKey, ShardKeys)>, BackendError> {
    let mut out = Vec::new();
    for key in keys {
        let shards: Vec<(ShardId, String)> = match options.shards {
            Some(count) => (0..count).map(|n| (ShardId(n), layout.key(key, ShardId(n), true))).collect(),
            None => {
                let found = find_shards_or_fail(conn, layout, key).map_err(|(err, _)| err)?;
                if found.is_empty() {
                    vec![(ShardId::ZERO, layout.key(key, ShardId::ZERO, false))]
                } else {
                    found.into_iter().map(|shard| (shard, layout.key(key, shard, true))).collect()
                }
            }
        };
        out.push((key.clone(), shards));
    }
    Ok(out)
}

/// Every stream of `keys` with its shards' low and high watermarks: the
/// seq of the first entry still stored, and one past the last.
pub(crate) fn list(
    target: &Target,
    layout: &Layout,
    options: &RedisOptions,
    keys: &[StreamKey],
) -> Result<Vec<StreamInfo>, StreamerError> {
    if keys.is_empty() {
        return Err(StreamerError::Unsupported {
            backend: crate::error::BACKEND,
            operation: "listing every stream (name the streams)",
        });
    }
    let mut conn = target.connect(Duration::ZERO)?;
    let mut listed = Vec::new();
    for (key, shards) in shard_keys(&mut conn, layout, options, keys)? {
        let mut infos = Vec::new();
        for (shard, redis_key) in shards {
            let high = high(&mut conn, &redis_key)?;
            let low = match edge(&mut conn, &redis_key, "-", false)? {
                Some(first) => seq(&redis_key, first)?,
                None => high,
            };
            infos.push(ShardInfo { shard, low, high });
        }
        listed.push(StreamInfo { key, shards: infos });
    }
    Ok(listed)
}

/// Per shard, the seq of its earliest entry not before `at` (its high
/// watermark if there is none).
pub(crate) fn seqs_at(
    target: &Target,
    layout: &Layout,
    options: &RedisOptions,
    shards: &[StreamShard],
    at: weir_core::Timestamp,
) -> Result<Vec<(StreamShard, SeqNo)>, StreamerError> {
    let mut conn = target.connect(Duration::ZERO)?;
    let streams: Vec<StreamKey> = shards
        .iter()
        .map(|(key, _)| key.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let keys: BTreeMap<StreamShard, String> = shard_keys(&mut conn, layout, options, &streams)?
        .into_iter()
        .flat_map(|(key, shards)| shards.into_iter().map(move |(shard, name)| ((key.clone(), shard), name)))
        .collect();
    let from = EntryId::at_millis(u64::try_from(at.unix_millis()).unwrap_or(0)).to_string();
    let mut out = Vec::new();
    for shard in shards {
        let name = keys.get(shard).cloned().unwrap_or_else(|| layout.key(&shard.0, shard.1, true));
        let seq = match edge(&mut conn, &name, &from, false)? {
            Some(id) => seq(&name, id)?,
            None => high(&mut conn, &name)?,
        };
        out.push((shard.clone(), seq));
    }
    Ok(out)
}
