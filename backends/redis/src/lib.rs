//! weir-redis: weir's Redis Streams backend.
//!
//! A translator: the core's commands become Redis commands, entries read
//! become messages. It uses the `redis` crate's synchronous connections
//! (the RESP codec is the crate's, not weir's) and no async runtime: each
//! consumer has one reader thread waiting in XREAD / XREADGROUP `BLOCK`,
//! acknowledgements run as blocking jobs on a connection of their own, and
//! each producer has one writer thread sending pipelined XADDs.
//! `rediss://` URLs connect over TLS (the crate's `tls-native-tls`, on
//! OpenSSL built from source), with a handshake bounded by the connect timeout.
//!
//! ```no_run
//! use weir_adapters::{block_on, NoRuntime, Streamer};
//! use weir_core::{ConsumerMode, ConsumerOptions, StreamKey};
//! use weir_redis::RedisStreamer;
//!
//! let redis = RedisStreamer::from_url(&"redis://127.0.0.1:6379?block.ms=50".parse()?)?;
//! let streamer = Streamer::<_, NoRuntime>::new(redis);
//! let orders = StreamKey::new("orders")?;
//! let mut consumer = streamer.create_consumer(&[orders], ConsumerOptions::new(ConsumerMode::RealTime))?;
//! let message = consumer.next_blocking()?;
//! println!("{}", message.payload.as_str()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout, seq rule, modes and options: see `docs/redis.md` in the
//! repository, [`layout`], [`id`] and [`RedisOptions`].

mod conn;
mod consumer;
mod error;
pub mod id;
pub mod layout;
mod listing;
mod options;
pub mod plan;
mod producer;
mod reader;
pub mod reply;
mod shared;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use consumer::RedisConsumer;
pub use error::RedisError;
pub use options::{RedisOptions, DEFAULT_PORT};
pub use producer::RedisProducer;
use weir_core::backend::{Lookup, Streamer};
use weir_core::consumer::Capabilities;
use weir_core::listing::StreamInfo;
use weir_core::{
    BackendError, BackendErrorKind, ConsumerCore, ConsumerMode, ProducerOptions, Scheme, SeqNo, ShardId,
    StreamKey, StreamShard, StreamerError, StreamerUrl, Timestamp, UrlError,
};

use crate::conn::Target;
use crate::error::{failed, BACKEND};
use crate::layout::Layout;
use crate::reader::{Membership, Reader};

/// A Redis server: makes consumers and producers.
#[derive(Clone, Debug)]
pub struct RedisStreamer {
    target: Target,
    options: Arc<RedisOptions>,
}

impl RedisStreamer {
    /// The streamer a `redis://[user:password@]host[:port][/db]` URL names;
    /// `rediss://` for TLS. Its files (`ssl.ca.location`,
    /// `ssl.certificate.location`, `ssl.key.location`) are read here, so one
    /// that cannot be read or parsed is an error now.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        if url.scheme() != Scheme::Redis {
            return Err(UrlError::UnknownScheme { scheme: url.scheme().to_string() });
        }
        let [host] = url.hosts() else {
            return Err(UrlError::BadHost {
                host: url.hosts().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                url: url.to_string(),
                reason: "redis takes one host (no cluster support)".into(),
            });
        };
        let options = RedisOptions::from_url(url)?;
        let host_name = match &host.host {
            url::Host::Ipv6(addr) => addr.to_string(),
            other => other.to_string(),
        };
        let tls = if url.tls() {
            let tls = tls::Tls::new(&options).map_err(|(name, reason)| UrlError::BadParam {
                url: url.to_string(),
                name: name.into(),
                value: url.params().get(name).cloned().unwrap_or_default(),
                reason,
            })?;
            Some(tls)
        } else {
            None
        };
        let target = Target {
            host: host_name,
            port: host.port.unwrap_or(DEFAULT_PORT),
            database: url.database().unwrap_or(0),
            username: url.login().map(|l| l.username.clone()),
            password: url.login().and_then(|l| l.password.clone()),
            timeout: options.connect_timeout,
            tls,
        };
        Ok(Self { target, options: Arc::new(options) })
    }

    /// The options.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn layout(&self) -> Layout {
        Layout::new(self.options.namespace.clone())
    }

    /// Makes `key` with `shards` shards (keys `k:0` … `k:N-1`; plain `k`
    /// for 0), as empty streams. Blocking: not for an executor's thread.
    pub fn create_stream(&self, key: &StreamKey, shards: u32) -> Result<(), BackendError> {
        let mut conn = self.target.connect(Duration::ZERO)?;
        let layout = self.layout();
        let keys: Vec<String> = if shards == 0 {
            vec![layout.key(key, ShardId::ZERO, false)]
        } else {
            (0..shards).map(|n| layout.key(key, ShardId(n), true)).collect()
        };
        for redis_key in keys {
            // An empty stream: a group made with MKSTREAM, then dropped.
            let mut pipe = redis::pipe();
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(&redis_key)
                .arg("weir-create")
                .arg("$")
                .arg("MKSTREAM")
                .ignore();
            pipe.cmd("XGROUP").arg("DESTROY").arg(&redis_key).arg("weir-create").ignore();
            pipe.query::<()>(&mut conn)
                .map_err(|err| failed(&format!("creating stream key {redis_key}"), &err))?;
        }
        Ok(())
    }

    /// The group a consumer of `core` reads in, and its member name.
    fn membership(&self, core: &ConsumerCore) -> Result<Option<Membership>, StreamerError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let options = core.options();
        let layout = self.layout();
        Ok(match (options.mode(), options.group()) {
            (ConsumerMode::RealTime, _) => None,
            (mode, group) => {
                let group = match group {
                    Some(group) => group.name().to_owned(),
                    None => {
                        let id = host_id().ok_or_else(|| {
                            BackendError::new(
                                BACKEND,
                                BackendErrorKind::Broker,
                                "no host id for the Resumable group: set HOST_ID or give a group",
                            )
                        })?;
                        format!("weir-resumable-{}", id.as_str())
                    }
                };
                // Resumable: one stable member name, so a restarted consumer
                // re-reads its own pending entries. LoadBalanced: one per instance.
                let consumer = if mode == ConsumerMode::Resumable {
                    "resumable".to_owned()
                } else {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    format!("weir-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
                };
                Some(Membership { group: layout.group(&group), consumer })
            }
        })
    }
}

impl Streamer for RedisStreamer {
    type Consumer = RedisConsumer;
    type Producer = RedisProducer;

    fn capabilities(&self) -> Capabilities {
        Capabilities::full(BACKEND)
    }

    fn create_consumer(&self, core: &ConsumerCore) -> Result<RedisConsumer, StreamerError> {
        let membership = self.membership(core)?;
        let shared = Arc::new(shared::Shared::default());
        let reader = Reader {
            shared: shared.clone(),
            target: self.target.clone(),
            options: self.options.clone(),
            layout: self.layout(),
            streams: core.streams().to_vec(),
            mode: core.options().mode(),
            membership: membership.clone(),
            limit: core.options().buffer(),
        };
        reader::spawn(reader).map_err(|err| {
            BackendError::new(BACKEND, BackendErrorKind::Io, format!("starting the consumer's thread: {err}"))
        })?;
        let acker = consumer::Acker { target: self.target.clone(), membership, conn: Mutex::new(None) };
        Ok(RedisConsumer::new(shared, acker))
    }

    fn list_streams(&self, keys: &[StreamKey]) -> Lookup<Vec<StreamInfo>> {
        let (target, layout, options, keys) =
            (self.target.clone(), self.layout(), self.options.clone(), keys.to_vec());
        Lookup::blocking(move || listing::list(&target, &layout, &options, &keys))
    }

    fn seqs_at(&self, shards: &[StreamShard], at: Timestamp) -> Lookup<Vec<(StreamShard, SeqNo)>> {
        let (target, layout, options, shards) =
            (self.target.clone(), self.layout(), self.options.clone(), shards.to_vec());
        Lookup::blocking(move || listing::seqs_at(&target, &layout, &options, &shards, at))
    }

    fn create_producer(&self, _options: &ProducerOptions) -> Result<RedisProducer, StreamerError> {
        RedisProducer::start(self.target.clone(), self.options.clone(), self.layout()).map_err(|err| {
            StreamerError::Backend(BackendError::new(
                BACKEND,
                BackendErrorKind::Io,
                format!("starting the producer's thread: {err}"),
            ))
        })
    }
}

/// This machine's host id (see [`weir_core::host_id`]), from the files it
/// is derived from.
fn host_id() -> Option<weir_core::host_id::HostId> {
    let mut interfaces = Vec::new();
    for entry in std::fs::read_dir("/sys/class/net").into_iter().flatten().flatten() {
        if let Ok(mac) = std::fs::read_to_string(entry.path().join("address")) {
            interfaces.push((entry.file_name().to_string_lossy().into_owned(), mac));
        }
    }
    // By name, "first" is the same on every run.
    interfaces.sort();
    weir_core::host_id::derive(&weir_core::host_id::HostIdSources {
        env: std::env::var("HOST_ID").ok(),
        cgroup: std::fs::read_to_string("/proc/self/cgroup").ok(),
        mountinfo: std::fs::read_to_string("/proc/self/mountinfo").ok(),
        interfaces,
    })
}
