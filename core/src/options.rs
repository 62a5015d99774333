//! Consumer and producer options, validated before any consumer exists.

use std::fmt;
use std::time::Duration;

use crate::error::OptionsError;
use crate::key::StreamKey;

/// How a consumer relates to the messages of the past and to its peers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConsumerMode {
    /// Only messages from now on; no commits.
    #[default]
    RealTime,
    /// After a restart, resume after the last committed message.
    Resumable,
    /// Consumers sharing a group split the work.
    LoadBalanced,
}

impl ConsumerMode {
    /// Whether consumers of this mode commit their progress.
    pub fn commits(self) -> bool {
        !matches!(self, ConsumerMode::RealTime)
    }
}

impl std::str::FromStr for ConsumerMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "realtime" => Ok(Self::RealTime),
            "resumable" => Ok(Self::Resumable),
            "loadbalanced" => Ok(Self::LoadBalanced),
            _ => Err(format!("unknown mode {s:?}: expected realtime, resumable or load-balanced")),
        }
    }
}

/// The longest consumer group name accepted, in bytes.
pub const MAX_GROUP_LEN: usize = 255;

/// A consumer group name: 1..=255 bytes, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerGroup(String);

impl ConsumerGroup {
    /// Validates and makes a group name.
    pub fn new(name: impl Into<String>) -> Result<Self, OptionsError> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > MAX_GROUP_LEN {
            Some("it is longer than 255 bytes")
        } else if name.chars().any(char::is_control) {
            Some("it has a control character")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(OptionsError::BadGroup { group: name, reason }),
            None => Ok(Self(name)),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ConsumerGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The default number of messages a consumer buffers before pausing its backend.
pub const DEFAULT_BUFFER: usize = 1024;

/// The default interval between automatic commits of delivered messages.
pub const DEFAULT_AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(5);

/// Options for one consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerOptions {
    mode: ConsumerMode,
    group: Option<ConsumerGroup>,
    buffer: usize,
    auto_commit: Option<Duration>,
    auto_store: bool,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self::new(ConsumerMode::default())
    }
}

impl ConsumerOptions {
    /// Options for `mode`: no group, the default buffer, and auto-commit every
    /// [`DEFAULT_AUTO_COMMIT_INTERVAL`] for the modes that commit.
    pub fn new(mode: ConsumerMode) -> Self {
        Self {
            mode,
            group: None,
            buffer: DEFAULT_BUFFER,
            auto_commit: mode.commits().then_some(DEFAULT_AUTO_COMMIT_INTERVAL),
            auto_store: true,
        }
    }

    /// The mode.
    pub fn mode(&self) -> ConsumerMode {
        self.mode
    }

    /// The group, if set.
    pub fn group(&self) -> Option<&ConsumerGroup> {
        self.group.as_ref()
    }

    /// Joins the consumer to a group.
    pub fn set_group(&mut self, group: ConsumerGroup) -> &mut Self {
        self.group = Some(group);
        self
    }

    /// How many undelivered messages the consumer holds before pausing its backend.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// Sets the buffer size (messages).
    pub fn set_buffer(&mut self, messages: usize) -> &mut Self {
        self.buffer = messages;
        self
    }

    /// The interval of automatic commits of delivered messages, if any.
    pub fn auto_commit(&self) -> Option<Duration> {
        self.auto_commit
    }

    /// Sets or disables automatic commits; explicit `commit` calls still work.
    pub fn set_auto_commit(&mut self, interval: Option<Duration>) -> &mut Self {
        self.auto_commit = interval;
        self
    }

    /// Whether every delivered message is stored for the next commit (the
    /// default), rather than only those passed to `store_offset`.
    pub fn auto_store(&self) -> bool {
        self.auto_store
    }

    /// With `false`, automatic commits and `commit_all` cover only the
    /// messages the application marked with `store_offset`: a message is
    /// committed once it is processed, not once it is handed out.
    pub fn set_auto_store(&mut self, on: bool) -> &mut Self {
        self.auto_store = on;
        self
    }

    /// Checks that the options agree with each other.
    pub fn validate(&self) -> Result<(), OptionsError> {
        match (self.mode, &self.group) {
            (ConsumerMode::LoadBalanced, None) => {
                return Err(OptionsError::GroupRequired { mode: self.mode })
            }
            (ConsumerMode::RealTime, Some(group)) => {
                return Err(OptionsError::GroupNotAllowed { mode: self.mode, group: group.name().to_owned() })
            }
            _ => {}
        }
        if self.buffer == 0 {
            return Err(OptionsError::ZeroBuffer);
        }
        if self.auto_commit.is_some() && !self.mode.commits() {
            return Err(OptionsError::AutoCommitWithoutCommits { mode: self.mode });
        }
        if !self.auto_store && !self.mode.commits() {
            return Err(OptionsError::ManualStoreWithoutCommits { mode: self.mode });
        }
        if self.auto_commit.is_some_and(|every| every.is_zero()) {
            return Err(OptionsError::ZeroAutoCommit);
        }
        Ok(())
    }
}

/// Options for one producer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerOptions {
    stream: Option<StreamKey>,
}

impl ProducerOptions {
    /// The stream `send` writes to, if set.
    pub fn stream(&self) -> Option<&StreamKey> {
        self.stream.as_ref()
    }

    /// Sets the stream `send` writes to.
    pub fn set_stream(&mut self, key: StreamKey) -> &mut Self {
        self.stream = Some(key);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> ConsumerGroup {
        ConsumerGroup::new(name).unwrap()
    }

    #[test]
    fn defaults_are_valid_per_mode() {
        for mode in [ConsumerMode::RealTime, ConsumerMode::Resumable] {
            assert_eq!(ConsumerOptions::new(mode).validate(), Ok(()));
        }
        assert_eq!(ConsumerOptions::new(ConsumerMode::RealTime).auto_commit(), None);
        assert_eq!(
            ConsumerOptions::new(ConsumerMode::Resumable).auto_commit(),
            Some(DEFAULT_AUTO_COMMIT_INTERVAL)
        );
    }

    #[test]
    fn contradictions_are_named() {
        let lb = ConsumerOptions::new(ConsumerMode::LoadBalanced);
        assert_eq!(lb.validate(), Err(OptionsError::GroupRequired { mode: ConsumerMode::LoadBalanced }));

        let mut rt = ConsumerOptions::new(ConsumerMode::RealTime);
        rt.set_group(group("g1"));
        let err = rt.validate().unwrap_err();
        assert!(err.to_string().contains("\"g1\""), "{err}");

        let mut rt = ConsumerOptions::new(ConsumerMode::RealTime);
        rt.set_auto_commit(Some(Duration::from_secs(1)));
        assert_eq!(
            rt.validate(),
            Err(OptionsError::AutoCommitWithoutCommits { mode: ConsumerMode::RealTime })
        );

        let mut manual = ConsumerOptions::new(ConsumerMode::RealTime);
        manual.set_auto_store(false);
        assert_eq!(
            manual.validate(),
            Err(OptionsError::ManualStoreWithoutCommits { mode: ConsumerMode::RealTime })
        );
        manual = ConsumerOptions::new(ConsumerMode::Resumable);
        manual.set_auto_store(false);
        assert_eq!(manual.validate(), Ok(()));

        let mut zero = ConsumerOptions::default();
        zero.set_buffer(0);
        assert_eq!(zero.validate(), Err(OptionsError::ZeroBuffer));

        let mut spin = ConsumerOptions::new(ConsumerMode::Resumable);
        spin.set_auto_commit(Some(Duration::ZERO));
        assert_eq!(spin.validate(), Err(OptionsError::ZeroAutoCommit));
    }

    #[test]
    fn bad_groups_are_refused() {
        assert!(ConsumerGroup::new("").is_err());
        assert!(ConsumerGroup::new("a\nb").is_err());
        assert!(ConsumerGroup::new("g".repeat(256)).is_err());
        assert_eq!(group("orders-workers").name(), "orders-workers");
    }

    #[test]
    fn modes_parse_from_cli_words() {
        assert_eq!("load-balanced".parse(), Ok(ConsumerMode::LoadBalanced));
        assert_eq!("RealTime".parse(), Ok(ConsumerMode::RealTime));
        assert_eq!("resumable".parse(), Ok(ConsumerMode::Resumable));
        assert!("fast".parse::<ConsumerMode>().is_err());
    }
}
