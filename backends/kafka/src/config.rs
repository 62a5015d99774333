//! How [`KafkaOptions`] become librdkafka's configuration: every setting
//! weir makes for a client, a consumer or a producer, in one place, so that
//! the backend and a plain rdkafka consumer set up like weir's (the benches'
//! baseline, see [`KafkaStreamer::consumer_config`](crate::KafkaStreamer::consumer_config))
//! cannot drift apart.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::options::KafkaOptions;

/// What every client gets unless the options set it raw.
const CLIENT_DEFAULTS: [(&str, &str); 1] = [
    // The first reconnection's backoff (librdkafka's default 100 ms; it
    // doubles per failure up to `reconnect.backoff.max.ms`, 10 s), whose
    // half also spaces librdkafka's picks of a broker to connect to.
    // librdkafka 2.12 drops its bootstrap connection once it has learned
    // the brokers, failing the requests in flight on it; a lookup asked for
    // at start (a consumer's partitions, as a rewind at once needs) is sent
    // again once a learned broker is up, which is only when the next pick
    // is due: 50 ms later with the default, for about every other consumer;
    // 11 ms (librdkafka's least) with this. A consumer's first lookup
    // avoids the race (see `lookups::connect_to_a_leader`); this bounds what
    // still loses it, such as the first lookup of a topic about to be made.
    ("reconnect.backoff.ms", "22"),
];

/// What a consumer gets unless the options set it raw.
const CONSUMER_DEFAULTS: [(&str, &str); 2] = [
    // Consuming a topic makes it, like producing does, as on the simulator.
    ("allow.auto.create.topics", "true"),
    // librdkafka stops fetching for this long (default 1 s) once its queue
    // passed queued.min.messages or queued.max.messages.kbytes; the poll
    // thread empties that queue within milliseconds, so a second's wait only
    // idles the consumer while its lag grows (a broker that ignores the fetch
    // size limits then answers with a response too large to take, for ever:
    // see benches/memory.rs).
    ("fetch.queue.backoff.ms", "10"),
];

/// What every consumer gets: librdkafka never commits or stores offsets by
/// itself; the core decides what to commit and when. (Setting these raw is
/// refused, see `KafkaOptions::set`.)
const CONSUMER_FIXED: [(&str, &str); 2] =
    [("enable.auto.commit", "false"), ("enable.auto.offset.store", "false")];

/// What a producer gets unless the options set it raw.
const PRODUCER_DEFAULTS: [(&str, &str); 2] = [
    // Lets weir's round-robin partitioner see every message.
    ("sticky.partitioning.linger.ms", "0"),
    // A topic-level setting must exist for rdkafka to install the
    // partitioner; this one also bounds how long a flush can wait.
    ("message.timeout.ms", "120000"),
];

impl KafkaOptions {
    /// The librdkafka configuration shared by consumers, producers and admin clients.
    pub(crate) fn client_config(&self, servers: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        let millis = |d: Duration| d.as_millis().to_string();
        config.set(
            "socket.connection.setup.timeout.ms",
            millis(self.connect_timeout.max(Duration::from_secs(1))),
        );
        let optional = [
            ("security.protocol", self.security_protocol.clone()),
            ("sasl.mechanisms", self.sasl_mechanism.clone()),
            ("sasl.username", self.sasl_username.clone()),
            ("sasl.password", self.sasl_password.clone()),
            ("ssl.ca.location", self.ssl_ca_location.clone()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        for (key, value) in self.raw() {
            config.set(key, value);
        }
        self.set_defaults(&mut config, &CLIENT_DEFAULTS);
        config.set("bootstrap.servers", servers);
        config
    }

    /// The configuration of a consumer in group `group` (its full name).
    pub(crate) fn consumer_config(&self, servers: &str, group: &str) -> ClientConfig {
        let mut config = self.client_config(servers);
        self.set_defaults(&mut config, &CONSUMER_DEFAULTS);
        if let Some(reset) = self.auto_offset_reset {
            config.set("auto.offset.reset", reset.to_string());
        }
        if let Some(timeout) = self.session_timeout {
            config.set("session.timeout.ms", timeout.as_millis().to_string());
        }
        config.set("group.id", group);
        for (key, value) in CONSUMER_FIXED {
            config.set(key, value);
        }
        config
    }

    /// The configuration of a producer.
    pub(crate) fn producer_config(&self, servers: &str) -> ClientConfig {
        let mut config = self.client_config(servers);
        self.set_defaults(&mut config, &PRODUCER_DEFAULTS);
        config
    }

    /// Sets each of `defaults` not set raw.
    fn set_defaults(&self, config: &mut ClientConfig, defaults: &[(&str, &str)]) {
        for (key, value) in defaults {
            if !self.raw().contains_key(*key) {
                config.set(*key, *value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_settings_replace_defaults_but_not_what_weir_owns() {
        let mut options = KafkaOptions::default();
        options.set("fetch.queue.backoff.ms", "500").expect("not owned");
        options.auto_offset_reset = Some(crate::OffsetReset::Earliest);
        let config = options.consumer_config("h:9092", "g");
        assert_eq!(config.get("fetch.queue.backoff.ms"), Some("500"));
        assert_eq!(config.get("allow.auto.create.topics"), Some("true"));
        assert_eq!(config.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("bootstrap.servers"), Some("h:9092"));
        let producer = options.producer_config("h:9092");
        assert_eq!(producer.get("sticky.partitioning.linger.ms"), Some("0"));
        assert_eq!(producer.get("group.id"), None);
    }

    #[test]
    fn every_client_picks_a_learned_broker_soon_unless_told_otherwise() {
        let options = KafkaOptions::default();
        let configs = [
            options.consumer_config("h:9092", "g"),
            options.producer_config("h:9092"),
            options.client_config("h:9092"),
        ];
        for config in configs {
            assert_eq!(config.get("reconnect.backoff.ms"), Some("22"));
        }
        let mut options = KafkaOptions::default();
        options.set("reconnect.backoff.ms", "500").expect("not owned");
        assert_eq!(options.consumer_config("h:9092", "g").get("reconnect.backoff.ms"), Some("500"));
        assert_eq!(options.client_config("h:9092").get("reconnect.backoff.ms"), Some("500"));
    }
}
