//! Committed positions of a consumer group, kept next to the log in a small
//! text file (`<log>.<group>.commits`, one `key shard seq` line per shard)
//! that is replaced atomically: written aside, synced, then renamed over.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use weir_core::{BackendError, ConsumerGroup, SeqNo, ShardId, StreamKey, StreamShard};

use crate::reader::{io_error, BACKEND};

/// The sidecar of `group` for the log at `log`.
pub(crate) fn path_of(log: &Path, group: &ConsumerGroup) -> PathBuf {
    // Group names may hold any printable character: escape all but the
    // stream-key alphabet so the name stays one file next to the log.
    let mut safe = String::new();
    for byte in group.name().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("%{byte:02X}"));
        }
    }
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{safe}.commits"));
    PathBuf::from(name)
}

/// The positions stored; none when the file does not exist yet.
pub(crate) fn load(path: &Path) -> Result<BTreeMap<StreamShard, SeqNo>, BackendError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(io_error(path, "cannot read", &err)),
    };
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let bad = || {
            BackendError::new(
                BACKEND,
                weir_core::BackendErrorKind::Io,
                format!("{} line {}: {line:?} is not `key shard seq`", path.display(), n + 1),
            )
        };
        let mut parts = line.split_whitespace();
        let (Some(key), Some(shard), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let key = StreamKey::new(key).map_err(|_| bad())?;
        let shard = shard.parse().map_err(|_| bad())?;
        let seq = seq.parse().map_err(|_| bad())?;
        out.insert((key, ShardId(shard)), SeqNo(seq));
    }
    Ok(out)
}

/// Replaces the sidecar with `positions`: a reader sees the old file or the
/// new one, never a mix, even if the process dies mid-way.
pub(crate) fn store(path: &Path, positions: &BTreeMap<StreamShard, SeqNo>) -> Result<(), BackendError> {
    let mut text = String::new();
    for ((key, shard), seq) in positions {
        text.push_str(&format!("{key} {} {}\n", shard.0, seq.0));
    }
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&aside)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&aside, path)
    };
    write().map_err(|err| io_error(path, "cannot store commits in", &err))
}
