//! The one stdout writer of a process, shared by its producers.
//!
//! `send` formats a line into a shared buffer and returns; a thread of its
//! own writes whole buffers, so a producer never waits on the pipe (until
//! the buffer passes [`HIGH_WATER`], which holds a runaway producer back).
//!
//! The writer is woken by the first line of an empty buffer, so a line goes
//! out at once. With [`Output::batch_writes`] (called before the first
//! send) there is no writer thread: the sending thread writes the buffer
//! itself, and waits on the pipe, once [`BATCH`] bytes are queued or when it
//! flushes. For a caller that flushes whenever its own input is
//! idle (`weir relay`), this makes large writes and no thread hand-off per
//! batch without holding a line back.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread;

use weir_core::{
    BackendError, BackendErrorKind, MessageHeader, Payload, ProducerError, SeqNo, ShardId, StreamKey,
    Timestamp,
};

use crate::codec::{check_framable, LineFormatter};

/// Buffered bytes past which `send` waits for the writer.
const HIGH_WATER: usize = 16 * 1024 * 1024;

/// Queued bytes that wake the writer when writes are batched.
const BATCH: usize = 256 * 1024;

struct State {
    pending: Vec<u8>,
    /// Whether the writer is to write `pending` (set with the first line of an
    /// empty buffer, or, when batching, at [`BATCH`] bytes and on flush).
    due: bool,
    batch: bool,
    /// Bytes handed to `pending` since the start, and bytes written out.
    queued: u64,
    written: u64,
    failed: Option<BackendError>,
    flushers: Vec<Waker>,
    /// The sink, until the first send starts the writer thread.
    sink: Option<Box<dyn Write + Send>>,
    seqs: Seqs,
    formatter: LineFormatter,
}

/// The next implicit seq of each stream (stdio has only shard 0).
#[derive(Default)]
struct Seqs {
    /// Every stream sent to, in order of appearance, and its next seq.
    next: Vec<(StreamKey, u64)>,
    index: BTreeMap<StreamKey, usize>,
    /// The stream of the last send: a producer mostly sends one stream's
    /// messages with one shared key, which compares by address.
    last: usize,
}

impl Seqs {
    /// The seq for a message of `key`, counted.
    fn take(&mut self, key: &StreamKey) -> u64 {
        let at = match self.next.get(self.last) {
            Some((last, _)) if last == key => self.last,
            _ => {
                let at = *self.index.entry(key.clone()).or_insert(self.next.len());
                if at == self.next.len() {
                    self.next.push((key.clone(), 0));
                }
                self.last = at;
                at
            }
        };
        let seq = &mut self.next[at].1;
        *seq += 1;
        *seq - 1
    }
}

/// Shared by every producer of one output.
pub(crate) struct Output {
    state: Mutex<State>,
    /// Signalled when there is something to write, or room to send.
    changed: Condvar,
    /// With batched writes: the sink, written by the sending thread, and the
    /// buffer last written (swapped with `pending`, to keep its capacity).
    /// Locked before `state` by whoever writes, so batches go out in order.
    direct: Mutex<Option<(Sink, Vec<u8>)>>,
}

type Sink = Box<dyn Write + Send>;

impl Output {
    pub(crate) fn new(sink: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                due: false,
                batch: false,
                queued: 0,
                written: 0,
                failed: None,
                flushers: Vec::new(),
                sink: Some(sink),
                seqs: Seqs::default(),
                formatter: LineFormatter::new(),
            }),
            changed: Condvar::new(),
            direct: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, writes at [`BATCH`] queued bytes or on flush, not with
    /// every first line: the caller flushes when it has nothing more to send
    /// for now, and before it drops its producers. Before the first send the
    /// sending thread writes, blocking while the sink does; after it, the
    /// writer thread is woken for each batch.
    pub(crate) fn batch_writes(&self) {
        let mut state = self.lock();
        state.batch = true;
        if let Some(sink) = state.sink.take() {
            *self.direct.lock().unwrap_or_else(PoisonError::into_inner) = Some((sink, Vec::new()));
        }
    }

    /// Frames and queues one message; its header is final once this returns.
    pub(crate) fn send(
        self: &Arc<Self>,
        key: &StreamKey,
        payload: &Payload,
        timestamp: Timestamp,
    ) -> Result<MessageHeader, ProducerError> {
        check_framable(payload.as_bytes())?;
        let mut state = self.lock();
        if let Some(sink) = state.sink.take() {
            let output = Arc::clone(self);
            // The writer reports to the subscriber of the thread that started it.
            let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
            thread::Builder::new()
                .name("weir-stdout".into())
                .spawn(move || tracing::dispatcher::with_default(&dispatch, || output.write_all(sink)))
                .map_err(|err| io_error(&format!("cannot start the stdout writer: {err}")))?;
        }
        state = self
            .changed
            .wait_while(state, |s| s.pending.len() > HIGH_WATER && s.failed.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(err) = &state.failed {
            return Err(err.clone().into());
        }
        let seq = state.seqs.take(key);
        let header = MessageHeader::new(key.clone(), ShardId::ZERO, SeqNo(seq), timestamp);
        let queue = &mut *state;
        let before = queue.pending.len();
        queue.formatter.format_framable(&header, payload.as_bytes(), &mut queue.pending);
        queue.queued += (queue.pending.len() - before) as u64;
        let full = queue.pending.len() >= BATCH;
        let wake = !queue.due && (!queue.batch || full);
        queue.due |= wake;
        drop(state);
        if full && self.write_direct()? {
            return Ok(header);
        }
        if wake {
            // Once per batch, not per line, and after unlocking, so that the
            // writer does not wake to a held lock.
            self.changed.notify_all();
        }
        Ok(header)
    }

    /// `Ok(true)` once everything queued so far is written; registers `waker` if not.
    pub(crate) fn flushed(&self, waker: &Waker) -> Result<bool, ProducerError> {
        while self.write_direct()? {
            let state = self.lock();
            if state.written >= state.queued {
                return Ok(true);
            }
        }
        let mut state = self.lock();
        if let Some(err) = &state.failed {
            return Err(err.clone().into());
        }
        if state.written >= state.queued {
            return Ok(true);
        }
        state.flushers.push(waker.clone());
        if !state.due && !state.pending.is_empty() {
            state.due = true;
            drop(state);
            self.changed.notify_all();
        }
        Ok(false)
    }

    /// With batched writes (`direct`), writes what is queued on this thread:
    /// `Ok(true)` once written, `Ok(false)` if the writer thread writes instead.
    fn write_direct(&self) -> Result<bool, ProducerError> {
        let mut direct = self.direct.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((sink, batch)) = direct.as_mut() else { return Ok(false) };
        let mut state = self.lock();
        if let Some(err) = &state.failed {
            return Err(err.clone().into());
        }
        state.due = false;
        if state.pending.is_empty() {
            return Ok(true);
        }
        std::mem::swap(&mut state.pending, batch);
        drop(state);
        let result = sink.write_all(batch).and_then(|()| sink.flush());
        let mut state = self.lock();
        let written = state.wrote(batch.len(), result);
        batch.clear();
        written.map(|()| true).map_err(ProducerError::from)
    }

    fn write_all(&self, mut sink: Box<dyn Write + Send>) {
        let mut spare = Vec::new();
        loop {
            let mut state = self
                .changed
                .wait_while(self.lock(), |s| !s.due || s.pending.is_empty())
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut state.pending, &mut spare);
            state.due = false;
            self.changed.notify_all();
            drop(state);
            let result = sink.write_all(&spare).and_then(|()| sink.flush());
            let mut state = self.lock();
            let _ = state.wrote(spare.len(), result);
            spare.clear();
            let flushers = std::mem::take(&mut state.flushers);
            let failed = state.failed.is_some();
            self.changed.notify_all();
            drop(state);
            flushers.into_iter().for_each(Waker::wake);
            if failed {
                return;
            }
        }
    }
}

impl State {
    /// Accounts for a write of `len` bytes: counted, or its error kept for
    /// every later call.
    fn wrote(&mut self, len: usize, result: std::io::Result<()>) -> Result<(), BackendError> {
        match result {
            Ok(()) => {
                self.written += len as u64;
                Ok(())
            }
            Err(err) => {
                let error = write_error(&err);
                if error.kind == BackendErrorKind::PeerClosed {
                    // The reader went away (`| head`): routine in a pipeline.
                    tracing::debug!(%error, "output closed by its reader");
                } else {
                    tracing::warn!(%error, "writing output failed");
                }
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }
}

fn io_error(message: &str) -> BackendError {
    BackendError::new("stdio", BackendErrorKind::Io, message)
}

/// A failed write; a broken pipe gets a kind of its own, so a command-line
/// tool can tell "the reader has had enough" from a failure.
fn write_error(err: &std::io::Error) -> BackendError {
    let kind = match err.kind() {
        std::io::ErrorKind::BrokenPipe => BackendErrorKind::PeerClosed,
        _ => BackendErrorKind::Io,
    };
    BackendError::new("stdio", kind, format!("writing stdout: {err}"))
}
