//! How a simulated broker is set up: shards, clock start, group timing and
//! the seeded fault model. Every rate is zero by default.

use std::time::Duration;

use weir_core::{StreamerUrl, Timestamp, UrlError};

/// The wall time virtual time starts at, unless configured: 2026-01-01T00:00:00 UTC.
pub const DEFAULT_START_MILLIS: i64 = 1_767_225_600_000;

/// Kafka's default `session.timeout.ms`.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// Where a group member starts on a shard its group never committed
/// (Kafka's `auto.offset.reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// At the shard's first message.
    Earliest,
    /// At the shard's end as of the rebalance that assigned it.
    #[default]
    Latest,
}

/// Fault rates, each drawn from the broker's seeded [`Rng`](crate::Rng).
/// All zero by default: a fault-free broker draws nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a produced message reaches consumers only after a
    /// delay (order within its shard is kept: later messages wait behind it).
    pub delay: f64,
    /// The longest delivery delay.
    pub max_delay: Duration,
    /// Probability, each time a member's consumer looks for input, that the
    /// broker declares the member dead (as after a missed session timeout).
    pub kill: f64,
    /// Probability, each time the clock advances, that the broker restarts:
    /// logs and committed offsets survive, group memberships and every
    /// member's uncommitted progress do not.
    pub restart: f64,
    /// Probability, per rebalance, that every member of the group drops its
    /// positions and resumes from the committed offsets (redelivery).
    pub redeliver: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self { delay: 0.0, max_delay: Duration::from_millis(500), kill: 0.0, restart: 0.0, redeliver: 0.0 }
    }
}

impl Faults {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether any fault can happen.
    pub fn any(&self) -> bool {
        self.delay > 0.0 || self.kill > 0.0 || self.restart > 0.0 || self.redeliver > 0.0
    }
}

/// How a broker is set up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimConfig {
    /// Shards of a stream created implicitly (by its first producer or consumer).
    pub shards: u32,
    /// The timestamp virtual time starts at.
    pub start: Timestamp,
    /// The seed of the fault RNG.
    pub seed: u64,
    /// Fault rates.
    pub faults: Faults,
    /// How long a member may go without looking for input (while not waiting
    /// for it) before the broker declares it dead and reassigns its shards.
    pub session_timeout: Duration,
    /// Where members start on shards their group never committed.
    pub offset_reset: OffsetReset,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            shards: 1,
            start: Timestamp::from_unix_millis(DEFAULT_START_MILLIS).unwrap_or(Timestamp::UNIX_EPOCH),
            seed: 0,
            faults: Faults::default(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            offset_reset: OffsetReset::default(),
        }
    }
}

/// The URL parameters a `sim://` URL accepts.
const PARAMS: &[&str] = &[
    "shards",
    "start",
    "seed",
    "delay",
    "max_delay_ms",
    "kill",
    "restart",
    "redeliver",
    "session_timeout_ms",
    "offset_reset",
];

impl SimConfig {
    /// Reads the configuration from a `sim://` URL's parameters:
    /// `shards`, `start`, `seed`, the fault rates `delay`, `kill`, `restart`,
    /// `redeliver` (probabilities in `0..=1`), `max_delay_ms`,
    /// `session_timeout_ms` and `offset_reset` (`earliest` or `latest`).
    pub fn from_url(url: &StreamerUrl) -> Result<Self, UrlError> {
        url.deny_unknown_params(PARAMS)?;
        let mut config = Self::default();
        if let Some(shards) = url.param::<u32>("shards")? {
            config.shards = shards.max(1);
        }
        if let Some(start) = url.param::<Timestamp>("start")? {
            config.start = start;
        }
        if let Some(seed) = url.param::<u64>("seed")? {
            config.seed = seed;
        }
        let rate = |name: &str| -> Result<Option<f64>, UrlError> {
            match url.param::<f64>(name)? {
                Some(p) if !(0.0..=1.0).contains(&p) => Err(UrlError::BadParam {
                    url: url.to_string(),
                    name: name.to_owned(),
                    value: p.to_string(),
                    reason: "a probability between 0 and 1".to_owned(),
                }),
                other => Ok(other),
            }
        };
        let faults = &mut config.faults;
        faults.delay = rate("delay")?.unwrap_or(faults.delay);
        faults.kill = rate("kill")?.unwrap_or(faults.kill);
        faults.restart = rate("restart")?.unwrap_or(faults.restart);
        faults.redeliver = rate("redeliver")?.unwrap_or(faults.redeliver);
        if let Some(ms) = url.param::<u64>("max_delay_ms")? {
            faults.max_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = url.param::<u64>("session_timeout_ms")? {
            config.session_timeout = Duration::from_millis(ms);
        }
        if let Some(reset) = url.param::<String>("offset_reset")? {
            config.offset_reset = match reset.as_str() {
                "earliest" => OffsetReset::Earliest,
                "latest" => OffsetReset::Latest,
                _ => {
                    return Err(UrlError::BadParam {
                        url: url.to_string(),
                        name: "offset_reset".to_owned(),
                        value: reset,
                        reason: "`earliest` or `latest`".to_owned(),
                    })
                }
            };
        }
        Ok(config)
    }
}
