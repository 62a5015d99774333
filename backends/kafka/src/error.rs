//! The Kafka backend's errors, and how rdkafka's become weir's.

use thiserror::Error;
use weir_core::{BackendError, BackendErrorKind, StreamerError};

/// The backend's name in error messages.
pub(crate) const BACKEND: &str = "kafka";

/// A Kafka configuration weir or librdkafka refuses. (Named apart from
/// rdkafka's own `KafkaError`, which `error` turns into weir's errors.)
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KafkaConfigError {
    /// A raw setting names something weir sets itself.
    #[error("librdkafka setting {key:?} is set by weir; use {instead}")]
    OwnedSetting {
        /// The setting given.
        key: String,
        /// What to use instead.
        instead: &'static str,
    },
    /// librdkafka refused the configuration.
    #[error("librdkafka refused the configuration: {0}")]
    Config(String),
}

impl From<KafkaConfigError> for StreamerError {
    fn from(err: KafkaConfigError) -> Self {
        StreamerError::Backend(BackendError::new(BACKEND, BackendErrorKind::Broker, err.to_string()))
    }
}

/// A backend error of `kind` from an rdkafka failure, saying what was being done.
pub(crate) fn backend(kind: BackendErrorKind, doing: &str, err: &rdkafka::error::KafkaError) -> BackendError {
    BackendError::new(BACKEND, kind, format!("{doing}: {err}"))
}

/// The kind an rdkafka failure most likely is.
pub(crate) fn kind_of(err: &rdkafka::error::KafkaError) -> BackendErrorKind {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match err.rdkafka_error_code() {
        Some(Code::OperationTimedOut | Code::RequestTimedOut) => BackendErrorKind::Timeout,
        Some(Code::AllBrokersDown | Code::BrokerTransportFailure | Code::Resolve) => {
            BackendErrorKind::Connect
        }
        _ => BackendErrorKind::Broker,
    }
}

/// [`backend`] with the kind guessed by [`kind_of`].
pub(crate) fn failed(doing: &str, err: &rdkafka::error::KafkaError) -> BackendError {
    backend(kind_of(err), doing, err)
}
