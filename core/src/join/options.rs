//! How a join waits, how much it holds, and what it does with late messages
//! and failing sources.

use std::time::Duration;

use crate::error::OptionsError;
use crate::options::DEFAULT_BUFFER;

/// The default longest wait for a source with nothing buffered.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);

/// What the join does with a message older than one it already emitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LatePolicy {
    /// Deliver it at once, marked [`late`](super::Joined::late).
    #[default]
    Deliver,
    /// Drop it and count it ([`JoinCore::dropped`](super::JoinCore::dropped)).
    Drop,
    /// End the join with [`JoinError::Late`](super::JoinError::Late).
    Fail,
}

/// What the join does when one of its sources fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Deliver every message buffered so far, then end the join with the
    /// source's error. Nothing more is taken from any source.
    #[default]
    EndJoin,
    /// Report the failure once and go on with the other sources; the failed
    /// source's buffered messages are still delivered.
    KeepGoing,
}

/// Options of a join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinOptions {
    max_wait: Option<Duration>,
    buffer: usize,
    late: LatePolicy,
    on_error: ErrorPolicy,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            max_wait: Some(DEFAULT_MAX_WAIT),
            buffer: DEFAULT_BUFFER,
            late: LatePolicy::default(),
            on_error: ErrorPolicy::default(),
        }
    }
}

impl JoinOptions {
    /// [`DEFAULT_MAX_WAIT`], a buffer of [`DEFAULT_BUFFER`] messages per source,
    /// late messages delivered marked, and a failing source ending the join.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a source with nothing buffered may hold the output back;
    /// `None`: for as long as it stays open (strict order, no late messages
    /// from sources that deliver in order).
    pub fn max_wait(&self) -> Option<Duration> {
        self.max_wait
    }

    /// Sets the lateness bound; `None` waits for every open source.
    pub fn set_max_wait(&mut self, wait: Option<Duration>) -> &mut Self {
        self.max_wait = wait;
        self
    }

    /// How many messages the join holds per source before it stops taking
    /// more from it.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// Sets the per-source buffer (messages).
    pub fn set_buffer(&mut self, messages: usize) -> &mut Self {
        self.buffer = messages;
        self
    }

    /// What happens to late messages.
    pub fn late(&self) -> LatePolicy {
        self.late
    }

    /// Sets what happens to late messages.
    pub fn set_late(&mut self, policy: LatePolicy) -> &mut Self {
        self.late = policy;
        self
    }

    /// What happens when a source fails.
    pub fn on_error(&self) -> ErrorPolicy {
        self.on_error
    }

    /// Sets what happens when a source fails.
    pub fn set_on_error(&mut self, policy: ErrorPolicy) -> &mut Self {
        self.on_error = policy;
        self
    }

    /// Checks the options: a buffer must hold at least one message.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.buffer == 0 {
            return Err(OptionsError::ZeroBuffer);
        }
        Ok(())
    }
}
