//! The streamer of one log file: its consumers' feeds and its one writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use weir_core::backend::{Lookup, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::{
    ConsumerCore, ConsumerGroup, ConsumerMode, ProducerOptions, SeqNo, ShardId, StreamInfo, StreamKey,
    StreamShard, StreamerError, StreamerUrl, Timestamp, UrlError,
};

use crate::consumer::FileConsumer;
use crate::feed::Feed;
use crate::listing;
use crate::producer::FileProducer;
use crate::sidecar;
use crate::writer::{Writer, WriterOptions};

/// What file consumers can do: everything, on any number of shards.
pub const CAPABILITIES: Capabilities = Capabilities::full("file");

/// The group whose commits a Resumable consumer without a group keeps.
pub const RESUMABLE_GROUP: &str = "weir-resumable";

/// How a file is read and written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileOptions {
    /// Follow the file like `tail -f` (consumers start at its end and wait
    /// for appends) instead of replaying it (from the beginning, ending at
    /// the end-of-stream frame or the end of the file).
    pub follow: bool,
    /// How the producers write.
    pub writer: WriterOptions,
}

/// How many shards each stream's messages are spread over, and whose turn is next.
#[derive(Default)]
pub(crate) struct Spread {
    shards: Mutex<BTreeMap<StreamKey, (u32, u32)>>,
}

impl Spread {
    /// The shard for the next message of `key`.
    pub(crate) fn next(&self, key: &StreamKey) -> ShardId {
        let mut shards = self.shards.lock().unwrap_or_else(PoisonError::into_inner);
        match shards.get_mut(key) {
            Some((count, next)) => {
                let shard = *next;
                *next = (*next + 1) % (*count).max(1);
                ShardId(shard)
            }
            None => ShardId::ZERO,
        }
    }
}

struct Inner {
    path: PathBuf,
    options: FileOptions,
    spread: Arc<Spread>,
    writer: Mutex<Weak<Writer>>,
    groups: Mutex<BTreeMap<ConsumerGroup, Weak<Feed>>>,
}

/// A `.ss` file as a streamer. Clones share its writer and its groups.
#[derive(Clone)]
pub struct FileStreamer {
    inner: Arc<Inner>,
}

impl FileStreamer {
    /// The file at `path`.
    pub fn new(path: impl AsRef<Path>, options: FileOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                path: path.as_ref().to_owned(),
                options,
                spread: Arc::default(),
                writer: Mutex::new(Weak::new()),
                groups: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The streamer a `file:///path/log.ss?…` URL names. Parameters:
    /// `follow` (bool), `beacon_interval` (bytes, a multiple of 1024, for a
    /// new file), `max_size` (bytes), `fsync` (bool).
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        url.deny_unknown_params(&["follow", "beacon_interval", "max_size", "fsync"])?;
        let path = url.path().ok_or_else(|| UrlError::Malformed {
            url: url.to_string(),
            reason: "a file url names a file: file:///path/to/log.ss".into(),
        })?;
        let mut options =
            FileOptions { follow: url.param("follow")?.unwrap_or(false), ..FileOptions::default() };
        if let Some(interval) = url.param::<u32>("beacon_interval")? {
            if interval == 0 || !interval.is_multiple_of(1024) {
                return Err(UrlError::BadParam {
                    url: url.to_string(),
                    name: "beacon_interval".into(),
                    value: interval.to_string(),
                    reason: "a beacon interval is a positive multiple of 1024".into(),
                });
            }
            options.writer.beacon_interval = interval;
        }
        options.writer.max_size = url.param("max_size")?.unwrap_or(u64::MAX);
        options.writer.fsync = url.param("fsync")?.unwrap_or(false);
        Ok(Self::new(path, options))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options in force.
    pub fn options(&self) -> &FileOptions {
        &self.inner.options
    }

    /// Spreads the messages producers of this streamer send to `key` over
    /// `shards` shards, in turn. A file records no shard count of its own:
    /// this is the producers' choice (without it, everything goes to shard 0).
    pub fn create_stream(&self, key: &StreamKey, shards: u32) {
        let mut spread = self.inner.spread.shards.lock().unwrap_or_else(PoisonError::into_inner);
        spread.insert(key.clone(), (shards.max(1), 0));
    }
}

impl Streamer for FileStreamer {
    type Consumer = FileConsumer;
    type Producer = FileProducer;

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<FileConsumer, StreamerError> {
        let inner = &self.inner;
        let options = core.options();
        let group = match (options.mode(), options.group()) {
            (ConsumerMode::RealTime, _) => None,
            (_, Some(group)) => Some(group.clone()),
            (_, None) => Some(ConsumerGroup::new(RESUMABLE_GROUP)?),
        };
        let sidecar = group.as_ref().map(|group| sidecar::path_of(&inner.path, group));
        let feed = match (options.mode(), group) {
            (ConsumerMode::LoadBalanced, Some(group)) => {
                let mut groups = inner.groups.lock().unwrap_or_else(PoisonError::into_inner);
                groups.retain(|_, feed| feed.strong_count() > 0);
                match groups.get(&group).and_then(Weak::upgrade) {
                    Some(feed) => feed,
                    None => {
                        let feed = Feed::new(&inner.path, inner.options.follow, true, sidecar);
                        groups.insert(group, Arc::downgrade(&feed));
                        feed
                    }
                }
            }
            _ => Feed::new(&inner.path, inner.options.follow, false, sidecar),
        };
        Ok(FileConsumer::new(feed, core))
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<FileProducer, StreamerError> {
        let mut slot = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let writer = match slot.upgrade() {
            Some(writer) => writer,
            None => {
                let writer = Arc::new(Writer::open(&self.inner.path, self.inner.options.writer)?);
                *slot = Arc::downgrade(&writer);
                writer
            }
        };
        Ok(FileProducer::new(writer, Arc::clone(&self.inner.spread)))
    }

    /// Reads the whole file (a job off the executor): every stream in it, or
    /// those `keys` names, with each shard's first seq and one past its last.
    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        let (path, keys) = (self.inner.path.clone(), keys.to_vec());
        Lookup::blocking(move || Ok(listing::list(&path, &keys)?))
    }

    /// Reads the whole file (a job off the executor).
    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        let (path, shards) = (self.inner.path.clone(), shards.to_vec());
        Lookup::blocking(move || Ok(listing::seqs_at(&path, &shards, at)?))
    }
}
