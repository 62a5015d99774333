//! A producer on stdout: one line per message, in the full header form.

use std::sync::Arc;
use std::task::{Context, Poll};

use weir_core::backend::{ProducerBackend, Receipt};
use weir_core::{Payload, ProducerError, StreamKey, Timestamp};

use crate::output::Output;

/// One producer writing to a process's stdout (or to the output given to
/// [`StdioStreamer::with_io`](crate::StdioStreamer::with_io)).
pub struct StdioProducer {
    output: Arc<Output>,
}

impl StdioProducer {
    pub(crate) fn new(output: Arc<Output>) -> Self {
        Self { output }
    }
}

impl ProducerBackend for StdioProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        let timestamp =
            timestamp.unwrap_or_else(|| Timestamp::from_datetime(time::OffsetDateTime::now_utc()));
        let header = self.output.send(key, &payload, timestamp)?;
        Ok(Receipt::ready(Ok(header)))
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        match self.output.flushed(cx.waker()) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}
