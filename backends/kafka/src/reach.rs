//! Whether a consumer's cluster is still reachable, once it was reached.
//!
//! librdkafka reconnects to a lost broker forever; all it tells its
//! application is an "all brokers down" error, and nothing when they are back.
//! So a consumer whose brokers died would have its `next` wait forever. The
//! poll thread watches instead: from the first "all brokers down" after the
//! cluster was reached, it asks the cluster for a topic's metadata until a
//! broker answers (a message or a rebalance counts too), and past
//! `unreachable.timeout.ms` without an answer the verdict is [`Reach::Lost`]:
//! the poll thread then ends the consumer with that connect error and closes
//! it (which fails the calls still waiting on the cluster, like a commit
//! waiting for the group coordinator). A broker restart within the limit goes
//! unnoticed by the application.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use weir_core::{BackendError, BackendErrorKind};

use crate::error::BACKEND;
use crate::shared::Rd;

/// The longest one probe waits for an answer, so the poll thread serves its
/// queue (rebalances, the error events that say why) between probes.
const PROBE: Duration = Duration::from_secs(1);

/// The pause after a probe that failed at once (a refused connection), so the
/// thread does not spin.
const PROBE_PAUSE: Duration = Duration::from_millis(100);

/// What the poll thread is to do about its cluster.
#[derive(Debug)]
pub(crate) enum Reach {
    /// Wait at most this long for librdkafka's queue, then ask again.
    Wait(Duration),
    /// Every broker stayed unreachable past the limit: the consumer ends with this error.
    Lost(BackendError),
}

/// Run by the poll thread between two drains of librdkafka's queue: probes an
/// unreachable cluster, or finds it lost. Waiting `idle` is the verdict when
/// all is well.
pub(crate) fn watch(rd: &Rd, idle: Duration) -> Reach {
    let context = rd.context();
    let Some(limit) = context.unreachable else { return Reach::Wait(idle) };
    let (since, reason) = {
        let state = context.shared.lock();
        match &state.down {
            Some((since, reason)) if !state.gave_up => (*since, reason.clone()),
            _ => return Reach::Wait(idle),
        }
    };
    let down_for = since.elapsed();
    if down_for >= limit {
        let message = format!(
            "lost every broker of {}: unreachable for {:.1} s, longer than unreachable.timeout.ms={}: {reason}",
            context.servers(),
            down_for.as_secs_f64(),
            limit.as_millis()
        );
        return Reach::Lost(BackendError::new(BACKEND, BackendErrorKind::Connect, message));
    }
    let left = limit - down_for;
    let asked = Instant::now();
    let topic = context.probe_topic.as_deref();
    match rd.fetch_metadata(topic, left.min(PROBE)) {
        Ok(_) => {
            context.shared.mark_reachable();
            Reach::Wait(idle)
        }
        // Down still: look again soon, and no later than the limit.
        Err(_) => Reach::Wait(
            PROBE_PAUSE.saturating_sub(asked.elapsed()).min(limit.saturating_sub(since.elapsed())),
        ),
    }
}
