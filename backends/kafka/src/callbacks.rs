//! What librdkafka calls back for a consumer: its error events, log lines,
//! commit outcomes and rebalances. The callbacks only record what happened
//! in the shared state; a rebalance is applied by the jobs that position
//! partitions (`jobs::assigned`, `jobs::revoked`), on the poll thread, inside
//! its poll.

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError as RdError;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::ClientContext;
use weir_core::{BackendError, BackendErrorKind};

use crate::error::BACKEND;
use crate::jobs;
use crate::shared::{partitions, WeirContext};

/// Group errors that retrying cannot cure: the broker refuses this member
/// (its settings, its rights, the group's other members). librdkafka retries
/// the join forever and reports each refusal only as an error event, so
/// without this a refused consumer's `next` would wait forever.
const REFUSED_JOIN: [RDKafkaErrorCode; 5] = [
    RDKafkaErrorCode::InvalidSessionTimeout,
    RDKafkaErrorCode::InconsistentGroupProtocol,
    RDKafkaErrorCode::InvalidGroupId,
    RDKafkaErrorCode::GroupAuthorizationFailed,
    RDKafkaErrorCode::GroupMaxSizeReached,
];

impl ClientContext for WeirContext {
    /// Log lines arrive as queue events: counted (see `Shared::served`), then
    /// passed on as `tracing` events, one level lower than librdkafka's own
    /// below warnings (its notices are routine: weir's own events say what
    /// a user needs to know).
    fn log(&self, level: RDKafkaLogLevel, facility: &str, line: &str) {
        self.shared.count_served();
        let who = &self.shared.who;
        let (group, consumer) = (who.group.as_str(), who.consumer);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(group, consumer, facility, "librdkafka: {line}"),
            RDKafkaLogLevel::Warning => tracing::warn!(group, consumer, facility, "librdkafka: {line}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::debug!(group, consumer, facility, "librdkafka: {line}");
            }
            RDKafkaLogLevel::Debug => tracing::trace!(group, consumer, facility, "librdkafka: {line}"),
        }
    }

    fn error(&self, error: RdError, reason: &str) {
        let Some(code) = error.rdkafka_error_code() else { return };
        let failure = match code {
            RDKafkaErrorCode::Fatal => BackendError::new(
                BACKEND,
                BackendErrorKind::Broker,
                format!("fatal error: {error}: {reason}"),
            ),
            // A failed TLS handshake comes as either of the first two (seen:
            // "certificate verify failed" as a transport failure, 2 runs in 8).
            RDKafkaErrorCode::SSL
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::Authentication => {
                self.shared.lock().why = Some(reason.to_owned());
                return;
            }
            RDKafkaErrorCode::AllBrokersDown => {
                let mut state = self.shared.lock();
                if state.connected {
                    // Reached before: librdkafka reconnects; `reach` decides when to give up.
                    state.mark_down(&self.shared.who, reason);
                    return;
                }
                let why = state.why.take().map(|why| format!("; {why}")).unwrap_or_default();
                drop(state);
                let message = format!("cannot reach any broker of {}: {reason}{why}", self.servers());
                BackendError::new(BACKEND, BackendErrorKind::Connect, message)
            }
            code if REFUSED_JOIN.contains(&code) => {
                let message = format!("the broker refused consumer group {}: {reason}", self.group());
                BackendError::new(BACKEND, BackendErrorKind::Broker, message)
            }
            _ => return,
        };
        self.shared.push(self.fatal(failure));
    }
}

impl ConsumerContext for WeirContext {
    /// Only counted (see `Shared::served`): commits report through their jobs.
    fn commit_callback(&self, _result: rdkafka::error::KafkaResult<()>, _offsets: &TopicPartitionList) {
        self.shared.count_served();
    }

    /// Runs on the consumer's own thread (see `poller`), so it may block: an
    /// assignment is applied with explicit offsets — the committed ones, else
    /// the reset policy's, looked up now — so "latest" means latest when the
    /// group handed the partition over, whether or not the application is
    /// reading at that moment.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let changed = partitions(tpl);
        let event = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                jobs::assigned(consumer, changed, cooperative)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                jobs::revoked(consumer, tpl, changed, cooperative)
            }
            // A rebalance error: give the partitions up, as a revocation does.
            _ => {
                let who = &self.shared.who;
                tracing::warn!(group = %who.group, consumer = who.consumer, error = ?err, "kafka rebalance failed");
                jobs::revoked(consumer, tpl, changed, cooperative)
            }
        };
        self.shared.push(event);
        self.shared.count_served();
    }
}
