//! Kafka options: typed ones for what weir knows, a raw passthrough for any
//! other librdkafka setting, read from a `kafka://` URL's query. How they
//! become librdkafka's configuration is `config`'s.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use weir_core::{ConsumerOptions, StreamerUrl, UrlError};

use crate::error::KafkaConfigError;

/// Where a consumer without a committed offset starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetReset {
    /// The first message still stored.
    Earliest,
    /// The next message produced (Kafka's and weir's default).
    Latest,
}

impl FromStr for OffsetReset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "earliest" | "smallest" | "beginning" => Ok(Self::Earliest),
            "latest" | "largest" | "end" => Ok(Self::Latest),
            _ => Err(format!("{s:?} is neither earliest nor latest")),
        }
    }
}

impl fmt::Display for OffsetReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Earliest => "earliest",
            Self::Latest => "latest",
        })
    }
}

/// Settings weir makes itself, so that the core stays in charge of commits
/// and groups: setting them raw is refused with a pointer to the right knob.
const OWNED: [(&str, &str); 5] = [
    ("bootstrap.servers", "the url's host list"),
    ("group.id", "ConsumerOptions::set_group"),
    ("enable.auto.commit", "ConsumerOptions::set_auto_commit (the core commits)"),
    ("enable.auto.offset.store", "KafkaOptions::auto_offset_store / ConsumerOptions::set_auto_store"),
    ("auto.commit.interval.ms", "KafkaOptions::auto_commit_interval / ConsumerOptions::set_auto_commit"),
];

/// The default time to reach the cluster before a consumer reports a connect error.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time every broker may stay unreachable, once a consumer has
/// reached the cluster, before its `next` fails with a connect error. Long
/// enough for a broker restart; short enough that a cluster gone for good is
/// reported instead of waited for forever (librdkafka itself reconnects
/// forever and tells its application nothing but "all brokers down").
pub const DEFAULT_UNREACHABLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of a [`KafkaStreamer`](crate::KafkaStreamer).
///
/// In a URL, every typed option is a query parameter named like its Kafka
/// setting (`kafka://h:9092?auto.offset.reset=earliest&session.timeout.ms=6000`),
/// and any other parameter containing a `.` is passed to librdkafka as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaOptions {
    /// Where consumers without a committed offset start (`auto.offset.reset`).
    pub auto_offset_reset: Option<OffsetReset>,
    /// The group session timeout (`session.timeout.ms`).
    pub session_timeout: Option<Duration>,
    /// Interval of the core's automatic commits (`auto.commit.interval.ms`);
    /// apply it with [`apply_to`](Self::apply_to).
    pub auto_commit_interval: Option<Duration>,
    /// Whether the core stores every delivered message for the next commit
    /// (`enable.auto.offset.store`, default true) or only those passed to
    /// `Consumer::store_offset`; apply it with [`apply_to`](Self::apply_to).
    pub auto_offset_store: Option<bool>,
    /// How long to try reaching the cluster before failing (`connect.timeout.ms`).
    pub connect_timeout: Duration,
    /// How long every broker may stay unreachable after the cluster was
    /// reached before a consumer fails with a connect error
    /// (`unreachable.timeout.ms`, weir's own; `0` in a URL: wait forever).
    /// `None`: wait forever.
    pub unreachable_timeout: Option<Duration>,
    /// `security.protocol`: plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub security_protocol: Option<String>,
    /// `sasl.mechanisms`, e.g. PLAIN or SCRAM-SHA-256.
    pub sasl_mechanism: Option<String>,
    /// `sasl.username`.
    pub sasl_username: Option<String>,
    /// `sasl.password`.
    pub sasl_password: Option<String>,
    /// `ssl.ca.location`.
    pub ssl_ca_location: Option<String>,
    /// Prefixed to every topic and group name: isolates users of one cluster.
    pub namespace: String,
    raw: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            auto_offset_reset: None,
            session_timeout: None,
            auto_commit_interval: None,
            auto_offset_store: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            unreachable_timeout: Some(DEFAULT_UNREACHABLE_TIMEOUT),
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            namespace: String::new(),
            raw: BTreeMap::new(),
        }
    }
}

impl KafkaOptions {
    /// Passes any librdkafka setting through. Settings weir makes itself
    /// (`group.id`, `enable.auto.commit`, …) are refused, naming the right knob.
    pub fn set(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<&mut Self, KafkaConfigError> {
        let key = key.into();
        if let Some((_, instead)) = OWNED.iter().find(|(owned, _)| *owned == key) {
            return Err(KafkaConfigError::OwnedSetting { key, instead });
        }
        self.raw.insert(key, value.into());
        Ok(self)
    }

    /// The raw settings passed through.
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.raw
    }

    /// Sets the core's automatic commit interval and offset storing from
    /// `auto_commit_interval` and `auto_offset_store`.
    pub fn apply_to(&self, options: &mut ConsumerOptions) {
        if let Some(every) = self.auto_commit_interval {
            options.set_auto_commit(Some(every));
        }
        if let Some(on) = self.auto_offset_store {
            options.set_auto_store(on);
        }
    }

    /// Reads the options from a `kafka://` URL's query parameters.
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        let mut options = Self::default();
        let millis = |name: &str| -> Result<Option<Duration>, UrlError> {
            Ok(url.param::<u64>(name)?.map(Duration::from_millis))
        };
        options.auto_offset_reset = url.param("auto.offset.reset")?;
        options.session_timeout = millis("session.timeout.ms")?;
        options.auto_commit_interval = millis("auto.commit.interval.ms")?;
        options.auto_offset_store = url.param("enable.auto.offset.store")?;
        if let Some(timeout) = millis("connect.timeout.ms")? {
            options.connect_timeout = timeout;
        }
        if let Some(timeout) = millis("unreachable.timeout.ms")? {
            options.unreachable_timeout = (!timeout.is_zero()).then_some(timeout);
        }
        options.security_protocol = url.param("security.protocol")?;
        options.sasl_mechanism = url.param("sasl.mechanisms")?;
        options.sasl_username = url.param("sasl.username")?;
        options.sasl_password = url.param("sasl.password")?;
        options.ssl_ca_location = url.param("ssl.ca.location")?;
        options.namespace = url.param("namespace")?.unwrap_or_default();
        const TYPED: [&str; 12] = [
            "auto.offset.reset",
            "session.timeout.ms",
            "auto.commit.interval.ms",
            "enable.auto.offset.store",
            "connect.timeout.ms",
            "unreachable.timeout.ms",
            "security.protocol",
            "sasl.mechanisms",
            "sasl.username",
            "sasl.password",
            "ssl.ca.location",
            "namespace",
        ];
        for (name, value) in url.params() {
            if TYPED.contains(&name.as_str()) {
                continue;
            }
            let bad = |reason: String| UrlError::BadParam {
                url: url.to_string(),
                name: name.clone(),
                value: value.clone(),
                reason,
            };
            if !name.contains('.') {
                return Err(bad(
                    "unknown parameter; kafka takes librdkafka settings like socket.timeout.ms".into()
                ));
            }
            options.set(name.clone(), value.clone()).map_err(|err| bad(err.to_string()))?;
        }
        Ok(options)
    }

    /// The topic a stream key names, with the namespace.
    pub(crate) fn topic(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    /// The stream key of a topic, if it is in the namespace.
    pub(crate) fn key_of<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic.strip_prefix(self.namespace.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> StreamerUrl {
        text.parse().expect("a url")
    }

    #[test]
    fn typed_and_raw_params() {
        let options = KafkaOptions::from_url(&url(
            "kafka://h:9092?auto.offset.reset=earliest&session.timeout.ms=6000&fetch.min.bytes=10&namespace=t1-",
        ))
        .expect("options");
        assert_eq!(options.auto_offset_reset, Some(OffsetReset::Earliest));
        assert_eq!(options.session_timeout, Some(Duration::from_secs(6)));
        assert_eq!(options.raw().get("fetch.min.bytes").map(String::as_str), Some("10"));
        assert_eq!(options.topic("orders"), "t1-orders");
        assert_eq!(options.key_of("t1-orders"), Some("orders"));
        assert_eq!(options.key_of("orders"), None);
        assert_eq!(options.unreachable_timeout, Some(DEFAULT_UNREACHABLE_TIMEOUT));
        assert!(!options.raw().contains_key("unreachable.timeout.ms"));
    }

    #[test]
    fn unreachable_timeout_is_weirs_own_and_zero_waits_forever() {
        let options =
            KafkaOptions::from_url(&url("kafka://h:9092?unreachable.timeout.ms=3000")).expect("options");
        assert_eq!(options.unreachable_timeout, Some(Duration::from_secs(3)));
        assert!(options.raw().is_empty(), "not passed to librdkafka: {:?}", options.raw());
        let options =
            KafkaOptions::from_url(&url("kafka://h:9092?unreachable.timeout.ms=0")).expect("options");
        assert_eq!(options.unreachable_timeout, None);
        let err = KafkaOptions::from_url(&url("kafka://h:9092?unreachable.timeout.ms=soon")).unwrap_err();
        assert!(err.to_string().contains("unreachable.timeout.ms"), "{err}");
    }

    #[test]
    fn bad_params_are_named() {
        let err = KafkaOptions::from_url(&url("kafka://h:9092?auto.offset.reset=sometimes")).unwrap_err();
        assert!(err.to_string().contains("auto.offset.reset"), "{err}");
        let err = KafkaOptions::from_url(&url("kafka://h:9092?shards=3")).unwrap_err();
        assert!(err.to_string().contains("shards"), "{err}");
        let err = KafkaOptions::from_url(&url("kafka://h:9092?enable.auto.commit=true")).unwrap_err();
        assert!(err.to_string().contains("set_auto_commit"), "{err}");
    }

    #[test]
    fn commit_settings_reach_the_core_options() {
        let kafka = KafkaOptions::from_url(&url(
            "kafka://h:9092?auto.commit.interval.ms=250&enable.auto.offset.store=false",
        ))
        .expect("options");
        assert!(kafka.raw().is_empty(), "the core commits, not librdkafka: {:?}", kafka.raw());
        let mut options = ConsumerOptions::new(weir_core::ConsumerMode::Resumable);
        assert!(options.auto_store());
        kafka.apply_to(&mut options);
        assert_eq!(options.auto_commit(), Some(Duration::from_millis(250)));
        assert!(!options.auto_store());
        let err = KafkaOptions::from_url(&url("kafka://h:9092?enable.auto.offset.store=maybe")).unwrap_err();
        assert!(err.to_string().contains("enable.auto.offset.store"), "{err}");
    }
}
