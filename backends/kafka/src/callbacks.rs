//! What librdkafka calls back for a consumer: its error events, log lines,
//! commit outcomes and rebalances. The callbacks only record what happened
//! in the shared state; a rebalance is applied by the jobs that position
//! partitions (`jobs::assigned`, `jobs::revoked`), on the poll thread, inside
//! its poll.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError as RdError;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::ClientContext;
use weir_core::{BackendError, BackendErrorKind};

use crate::error::BACKEND;
use crate::jobs;
use crate::shared::{partitions, Event, WeirContext};

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
    /// handed to the `log` crate as rdkafka does by default.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.shared.count_served();
        rdkafka::client::DefaultClientContext.log(level, fac, log_message);
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
                    let since = state.down.take().map_or_else(std::time::Instant::now, |(since, _)| since);
                    state.down = Some((since, reason.to_owned()));
                    return;
                }
                let why = state.why.take().map(|why| format!("; {why}")).unwrap_or_default();
                drop(state);
                let message = format!("cannot reach any broker of {}: {reason}{why}", self.servers);
                BackendError::new(BACKEND, BackendErrorKind::Connect, message)
            }
            code if REFUSED_JOIN.contains(&code) => {
                let message = format!("the broker refused consumer group {}: {reason}", self.group);
                BackendError::new(BACKEND, BackendErrorKind::Broker, message)
            }
            _ => return,
        };
        self.shared.push(Event::Fatal(failure));
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
        let event = if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            jobs::assigned(consumer, changed, cooperative)
        } else {
            // Revocation, or a rebalance error: give the partitions up.
            jobs::revoked(consumer, tpl, changed, cooperative)
        };
        self.shared.push(event);
        self.shared.count_served();
    }
}
