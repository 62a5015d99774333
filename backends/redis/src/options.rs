//! Options of the Redis backend, each a URL parameter.

use std::path::PathBuf;
use std::time::Duration;

use weir_core::{StreamerUrl, UrlError};

/// The default port.
pub const DEFAULT_PORT: u16 = 6379;

/// Options of a [`RedisStreamer`](crate::RedisStreamer). In a URL each is a
/// query parameter: `redis://h:6379/orders?batch=500&block.ms=50`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// `batch`: the most entries one read (the `COUNT` of XREAD, XREADGROUP and
    /// XAUTOCLAIM) and one producer pipeline take. Default 1000.
    pub batch: usize,
    /// `block.ms`: how long one read waits for new entries (XREAD's `BLOCK`).
    /// It bounds how long a dropped consumer's reader thread lives on, and
    /// how late a LoadBalanced consumer's claim runs. Default 100 ms.
    pub block: Duration,
    /// `claim.idle.ms`: a LoadBalanced member takes over entries pending on
    /// another member for this long (XAUTOCLAIM's min-idle-time), and removes
    /// members idle this long with nothing pending. Default 30 s.
    pub claim_idle: Duration,
    /// `claim.interval.ms`: how often a LoadBalanced member looks for such
    /// entries. Default 5 s.
    pub claim_interval: Duration,
    /// `maxlen`: trim every shard key the producer writes to about this many
    /// entries (`XADD … MAXLEN ~ N`). Default: no trimming.
    pub maxlen: Option<u64>,
    /// `max.age.ms`: trim entries older than this, by id, from every shard
    /// key the producer writes to (`XADD … MINID ~ now-age`). Default: none.
    pub max_age: Option<Duration>,
    /// `connect.timeout.ms`: how long connecting (and one reply) may take
    /// before a connect or timeout error. Default 10 s.
    pub connect_timeout: Duration,
    /// `shards`: every stream has this many shards (keys `k:0` … `k:N-1`).
    /// Default: consumers and producers find a stream's shard keys
    /// themselves (SCAN `k:*`), and use plain `k` when there are none.
    pub shards: Option<u32>,
    /// `namespace`: a prefix of every key and group name, so tests (or
    /// tenants) sharing a server do not meet. Default none.
    pub namespace: String,
    /// `group.start`: where a consumer group made by weir starts, `end`
    /// (only entries added from then on, the default, as on Kafka) or
    /// `beginning` (every entry the key holds).
    pub group_from_beginning: bool,
    /// `ssl.ca.location` (`rediss://` only): a PEM file of the certificates
    /// the server's must chain to, instead of the system's trusted roots.
    pub ssl_ca_location: Option<PathBuf>,
    /// `ssl.certificate.location` (`rediss://` only): a PEM file of the
    /// client's certificate, for servers that ask for one (mutual TLS).
    /// Needs `ssl.key.location`.
    pub ssl_certificate_location: Option<PathBuf>,
    /// `ssl.key.location` (`rediss://` only): the client certificate's
    /// private key, PEM PKCS#8 (`-----BEGIN PRIVATE KEY-----`), unencrypted.
    pub ssl_key_location: Option<PathBuf>,
    /// `enable.ssl.certificate.verification` (`rediss://` only): `false`
    /// accepts any server certificate for any name: encrypted, but not
    /// authenticated. Default `true`.
    pub ssl_certificate_verification: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            batch: 1000,
            block: Duration::from_millis(100),
            claim_idle: Duration::from_secs(30),
            claim_interval: Duration::from_secs(5),
            maxlen: None,
            max_age: None,
            connect_timeout: Duration::from_secs(10),
            shards: None,
            namespace: String::new(),
            group_from_beginning: false,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_certificate_verification: true,
        }
    }
}

/// Every parameter a `redis://` URL takes.
const KNOWN: [&str; 14] = [
    "batch",
    "block.ms",
    "claim.idle.ms",
    "claim.interval.ms",
    "maxlen",
    "max.age.ms",
    "connect.timeout.ms",
    "shards",
    "namespace",
    "group.start",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "enable.ssl.certificate.verification",
];

/// The parameters only a `rediss://` URL takes.
const TLS_ONLY: [&str; 4] = [
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "enable.ssl.certificate.verification",
];

impl RedisOptions {
    /// The options a URL's parameters give; unknown or malformed ones are errors naming them.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        url.deny_unknown_params(&KNOWN)?;
        let mut options = Self::default();
        let bad = |name: &str, reason: &str| UrlError::BadParam {
            url: url.to_string(),
            name: name.to_owned(),
            value: url.params().get(name).cloned().unwrap_or_default(),
            reason: reason.to_owned(),
        };
        let millis = |name: &str| url.param::<u64>(name).map(|v| v.map(Duration::from_millis));
        let positive = |name: &str, value: u64| {
            if value == 0 {
                Err(UrlError::BadParam {
                    url: url.to_string(),
                    name: name.to_owned(),
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        if let Some(batch) = url.param::<usize>("batch")? {
            options.batch = usize::try_from(positive("batch", batch as u64)?).unwrap_or(usize::MAX);
        }
        if let Some(block) = millis("block.ms")? {
            positive("block.ms", block.as_millis() as u64)?;
            options.block = block;
        }
        if let Some(idle) = millis("claim.idle.ms")? {
            options.claim_idle = idle;
        }
        if let Some(interval) = millis("claim.interval.ms")? {
            positive("claim.interval.ms", interval.as_millis() as u64)?;
            options.claim_interval = interval;
        }
        options.maxlen = url.param("maxlen")?;
        options.max_age = millis("max.age.ms")?;
        if let Some(timeout) = millis("connect.timeout.ms")? {
            positive("connect.timeout.ms", timeout.as_millis() as u64)?;
            options.connect_timeout = timeout;
        }
        if let Some(shards) = url.param::<u32>("shards")? {
            options.shards = Some(u32::try_from(positive("shards", u64::from(shards))?).unwrap_or(1));
        }
        if let Some(start) = url.params().get("group.start") {
            options.group_from_beginning = match start.as_str() {
                "beginning" => true,
                "end" => false,
                _ => {
                    return Err(UrlError::BadParam {
                        url: url.to_string(),
                        name: "group.start".into(),
                        value: start.clone(),
                        reason: "neither beginning nor end".into(),
                    })
                }
            };
        }
        if let Some(namespace) = url.params().get("namespace") {
            options.namespace = namespace.clone();
        }
        if let Some(name) = TLS_ONLY.iter().find(|name| url.params().contains_key(**name)) {
            if !url.tls() {
                return Err(bad(name, "a TLS setting: write rediss:// for TLS"));
            }
        }
        let path = |name: &str| url.params().get(name).map(PathBuf::from);
        options.ssl_ca_location = path("ssl.ca.location");
        options.ssl_certificate_location = path("ssl.certificate.location");
        options.ssl_key_location = path("ssl.key.location");
        match (&options.ssl_certificate_location, &options.ssl_key_location) {
            (Some(_), None) => return Err(bad("ssl.certificate.location", "needs ssl.key.location too")),
            (None, Some(_)) => return Err(bad("ssl.key.location", "needs ssl.certificate.location too")),
            _ => {}
        }
        if let Some(verify) = url.param::<bool>("enable.ssl.certificate.verification")? {
            options.ssl_certificate_verification = verify;
            let others = ["ssl.ca.location", "ssl.certificate.location"];
            if let Some(other) =
                others.iter().find(|name| url.params().contains_key(**name)).filter(|_| !verify)
            {
                return Err(bad(
                    "enable.ssl.certificate.verification",
                    &format!("false trusts any server and sends no certificate, so {other} would be ignored"),
                ));
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(params: &str) -> Result<RedisOptions, UrlError> {
        RedisOptions::from_url(&format!("redis://h/{params}").parse().unwrap())
    }

    fn parse_tls(params: &str) -> Result<RedisOptions, UrlError> {
        RedisOptions::from_url(&format!("rediss://h/{params}").parse().unwrap())
    }

    #[test]
    fn tls_parameters_need_rediss() {
        let options = parse_tls("?ssl.ca.location=/etc/ca.pem").unwrap();
        assert_eq!(options.ssl_ca_location, Some(PathBuf::from("/etc/ca.pem")));
        assert!(options.ssl_certificate_verification);
        let options = parse_tls("?enable.ssl.certificate.verification=false").unwrap();
        assert!(!options.ssl_certificate_verification);
        let options = parse_tls("?ssl.certificate.location=/c.pem&ssl.key.location=/k.pem").unwrap();
        assert_eq!(
            (options.ssl_certificate_location, options.ssl_key_location),
            (Some(PathBuf::from("/c.pem")), Some(PathBuf::from("/k.pem")))
        );
        assert_eq!(parse_tls("").unwrap(), RedisOptions::default());
        for (url, name, reason) in [
            ("redis://h/?ssl.ca.location=/ca.pem", "ssl.ca.location", "write rediss://"),
            (
                "redis://h/?enable.ssl.certificate.verification=false",
                "enable.ssl.certificate.verification",
                "rediss://",
            ),
            (
                "rediss://h/?enable.ssl.certificate.verification=no",
                "enable.ssl.certificate.verification",
                "provided string",
            ),
            (
                "rediss://h/?ssl.ca.location=/ca.pem&enable.ssl.certificate.verification=false",
                "enable.ssl.certificate.verification",
                "ssl.ca.location would be ignored",
            ),
            (
                "rediss://h/?ssl.certificate.location=/c&ssl.key.location=/k&enable.ssl.certificate.verification=false",
                "enable.ssl.certificate.verification",
                "ssl.certificate.location would be ignored",
            ),
            ("rediss://h/?ssl.certificate.location=/c.pem", "ssl.certificate.location", "needs ssl.key.location"),
            ("rediss://h/?ssl.key.location=/k.pem", "ssl.key.location", "needs ssl.certificate.location"),
            ("redis://h/?ssl.key.location=/k.pem", "ssl.key.location", "write rediss://"),
        ] {
            let err = RedisOptions::from_url(&url.parse().unwrap()).unwrap_err();
            assert!(
                matches!(&err, UrlError::BadParam { name: n, reason: r, .. } if n == name && r.contains(reason)),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn parameters_set_options() {
        let options =
            parse("?batch=10&block.ms=20&claim.idle.ms=30&claim.interval.ms=40&maxlen=50&max.age.ms=60&connect.timeout.ms=70&shards=3&namespace=t-&group.start=beginning")
                .unwrap();
        assert_eq!(options.batch, 10);
        assert_eq!(options.block, Duration::from_millis(20));
        assert_eq!(
            (options.claim_idle, options.claim_interval),
            (Duration::from_millis(30), Duration::from_millis(40))
        );
        assert_eq!((options.maxlen, options.max_age), (Some(50), Some(Duration::from_millis(60))));
        assert_eq!((options.connect_timeout, options.shards), (Duration::from_millis(70), Some(3)));
        assert_eq!((options.namespace.as_str(), options.group_from_beginning), ("t-", true));
        assert_eq!(parse("").unwrap(), RedisOptions::default());
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, name) in [
            ("?batch=0", "batch"),
            ("?block.ms=x", "block.ms"),
            ("?shards=0", "shards"),
            ("?colour=red", "colour"),
            ("?group.start=now", "group.start"),
        ] {
            let err = parse(query).unwrap_err();
            assert!(matches!(&err, UrlError::BadParam { name: n, .. } if n == name), "{query}: {err}");
        }
    }
}
