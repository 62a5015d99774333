//! A producer on the simulated broker: messages are stored on send.

use std::task::{Context, Poll};

use weir_core::backend::{ProducerBackend, Receipt};
use weir_core::{Payload, ProducerError, StreamKey, Timestamp};

use crate::SimBroker;

/// One producer's connection to a [`SimBroker`].
pub struct SimProducer {
    pub(crate) broker: SimBroker,
}

impl ProducerBackend for SimProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        let header = self.broker.with(|broker| broker.produce(key, payload, timestamp));
        Ok(Receipt::ready(Ok(header)))
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        Poll::Ready(Ok(()))
    }
}
