//! A producer appending to a log file through its streamer's one writer.

use std::sync::Arc;
use std::task::{Context, Poll};

use weir_core::backend::{ProducerBackend, Receipt};
use weir_core::{Payload, ProducerError, StreamKey, Timestamp};

use crate::streamer::Spread;
use crate::writer::Writer;

/// One producer of a `.ss` file. Messages go to their stream's shards in turn
/// (shard 0 unless [`FileStreamer::create_stream`](crate::FileStreamer::create_stream)
/// gave it more), each with the next seq of its shard in the file (0 for a
/// new shard); timestamps are kept to the millisecond.
pub struct FileProducer {
    writer: Arc<Writer>,
    spread: Arc<Spread>,
}

impl FileProducer {
    pub(crate) fn new(writer: Arc<Writer>, spread: Arc<Spread>) -> Self {
        Self { writer, spread }
    }
}

impl ProducerBackend for FileProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        let timestamp =
            timestamp.unwrap_or_else(|| Timestamp::from_datetime(time::OffsetDateTime::now_utc()));
        let (receipt, sender) = Receipt::pending();
        self.writer.send(key, self.spread.next(key), payload, timestamp, sender)?;
        Ok(receipt)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        match self.writer.flushed(cx.waker()) {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(err) => Poll::Ready(Err(err)),
        }
    }
}
