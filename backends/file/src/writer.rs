//! The one writer of a log file in this process: a thread that encodes what
//! producers queue, appends it, and resolves their receipts once written.
//!
//! A lock on the file (`flock`) keeps other writers out, in this process or
//! another: the second gets an error, never interleaved frames.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::JoinHandle;

use fs4::fs_std::FileExt;
use weir_core::backend::ReceiptSender;
use weir_core::{
    BackendError, BackendErrorKind, MessageHeader, Payload, ProducerError, SeqNo, ShardId, StreamKey,
    Timestamp,
};

use crate::appends::Appends;
use crate::encode::Encoder;
use crate::format::{FileHeader, FRAME_OVERHEAD, MAX_MARKER_SIZE};
use crate::reader::{format_error, io_error, LogReader, BACKEND};

/// How a writer writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// Beacon interval of a new file (an existing file keeps its own).
    pub beacon_interval: u32,
    /// The file never grows past this many bytes: a frame that would cross
    /// it is refused whole.
    pub max_size: u64,
    /// Sync the file to disk after each write, before receipts resolve.
    pub fsync: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { beacon_interval: crate::format::DEFAULT_BEACON_INTERVAL, max_size: u64::MAX, fsync: false }
    }
}

struct Queued {
    key: StreamKey,
    shard: ShardId,
    payload: Payload,
    timestamp: Timestamp,
    receipt: ReceiptSender,
}

#[derive(Default)]
struct State {
    queue: Vec<Queued>,
    writing: bool,
    closed: bool,
    error: Option<BackendError>,
    flush_wakers: Vec<Waker>,
}

struct Shared {
    state: Mutex<State>,
    more: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer of one file, shared by the producers of a streamer.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Opens (or creates) `path` for appending and takes its lock.
    pub(crate) fn open(path: &Path, options: WriterOptions) -> Result<Writer, BackendError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|err| io_error(path, "cannot open for writing", &err))?;
        match file.try_lock_exclusive() {
            Ok(true) => {}
            Ok(false) => {
                return Err(BackendError::new(
                    BACKEND,
                    BackendErrorKind::Broker,
                    format!("{}: another writer holds the file's lock; one writer per file", path.display()),
                ))
            }
            Err(err) => return Err(io_error(path, "cannot lock", &err)),
        }
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), more: Condvar::new() });
        let worker = Arc::clone(&shared);
        let path_owned = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("weir-file-writer".into())
            .spawn(move || run(&worker, &path_owned, file, options))
            .map_err(|err| io_error(path, "cannot start the writer thread for", &err))?;
        Ok(Writer { shared, thread: Some(thread) })
    }

    /// Queues a message; its receipt resolves once it is written.
    pub(crate) fn send(
        &self,
        key: &StreamKey,
        shard: ShardId,
        payload: Payload,
        timestamp: Timestamp,
        receipt: ReceiptSender,
    ) -> Result<(), ProducerError> {
        let mut state = self.shared.lock();
        if let Some(err) = &state.error {
            return Err(ProducerError::Backend(err.clone()));
        }
        let was_empty = state.queue.is_empty();
        state.queue.push(Queued { key: key.clone(), shard, payload, timestamp, receipt });
        // The thread waits only on an empty queue (checked under this lock):
        // one wake per batch, not a futex call per message.
        if was_empty {
            self.shared.more.notify_one();
        }
        Ok(())
    }

    /// `Ok(true)` once everything queued is written; registers `waker` otherwise.
    pub(crate) fn flushed(&self, waker: &Waker) -> Result<bool, ProducerError> {
        let mut state = self.shared.lock();
        if let Some(err) = &state.error {
            return Err(ProducerError::Backend(err.clone()));
        }
        if state.queue.is_empty() && !state.writing {
            return Ok(true);
        }
        state.flush_wakers.push(waker.clone());
        Ok(false)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.more.notify_all();
        // The thread writes what is queued, then closes the file (and so
        // releases the lock) before a new writer may want it.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: prepares the file, then writes batches until closed.
fn run(shared: &Shared, path: &Path, mut file: File, options: WriterOptions) {
    let appends = Appends::of(path);
    let mut encoder = match prepare(path, &mut file, options) {
        Ok(encoder) => Some(encoder),
        Err(err) => {
            shared.lock().error = Some(err);
            None
        }
    };
    let mut out = Vec::new();
    loop {
        let batch = {
            let mut state = shared.lock();
            while state.queue.is_empty() && !state.closed {
                state = shared.more.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            if state.queue.is_empty() {
                return;
            }
            state.writing = true;
            std::mem::take(&mut state.queue)
        };
        let mut done = Vec::with_capacity(batch.len());
        let mut failure = None;
        out.clear();
        for queued in batch {
            let Some(encoder) = encoder.as_mut() else {
                let err = shared.lock().error.clone().unwrap_or_else(|| closed_error(path));
                queued.receipt.send(Err(ProducerError::Backend(err)));
                continue;
            };
            match encode(encoder, &queued, options.max_size, &mut out, path) {
                Ok(header) => done.push((queued.receipt, header)),
                Err(err) => queued.receipt.send(Err(err)),
            }
        }
        if !out.is_empty() {
            let written =
                file.write_all(&out).and_then(|()| if options.fsync { file.sync_data() } else { Ok(()) });
            if let Err(err) = written {
                failure = Some(io_error(path, "cannot append to", &err));
                encoder = None;
            }
        }
        appends.bump();
        for (receipt, header) in done {
            receipt.send(match &failure {
                None => Ok(header),
                Some(err) => Err(ProducerError::Backend(err.clone())),
            });
        }
        let wakers = {
            let mut state = shared.lock();
            state.writing = false;
            if failure.is_some() {
                state.error = failure;
            }
            std::mem::take(&mut state.flush_wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

fn closed_error(path: &Path) -> BackendError {
    BackendError::new(
        BACKEND,
        BackendErrorKind::Closed,
        format!("{}: the writer failed earlier", path.display()),
    )
}

/// Encodes one queued message with the next seq of its shard (0 for a new one).
fn encode(
    encoder: &mut Encoder,
    queued: &Queued,
    max_size: u64,
    out: &mut Vec<u8>,
    path: &Path,
) -> Result<MessageHeader, ProducerError> {
    let shard = queued.shard;
    let seq = encoder.shards().get(&(queued.key.clone(), shard)).map_or(SeqNo(0), |state| state.seq.next());
    let len = queued.payload.len();
    // An upper bound on the bytes the frame adds, beacons included: refusing
    // on it keeps every frame whole below the limit.
    let interval = u64::from(encoder.interval());
    let frame = (FRAME_OVERHEAD + queued.key.name().len() + len) as u64;
    let beacon = (7 + MAX_MARKER_SIZE * crate::format::markers_per_beacon(encoder.interval())) as u64;
    let bound = frame + (frame / interval + 1) * beacon;
    let at = encoder.offset();
    if at.saturating_add(bound) > max_size {
        return Err(ProducerError::Backend(BackendError::new(
            BACKEND,
            BackendErrorKind::Broker,
            format!("{}: a {len}-byte message would take the file past its size limit of {max_size} bytes (now {at})", path.display()),
        )));
    }
    let millis = crate::format::timestamp_at(
        crate::format::millis_of(queued.timestamp, at).map_err(|err| format_err(path, &err))?,
        at,
    )
    .map_err(|err| format_err(path, &err))?;
    let header = MessageHeader::new(queued.key.clone(), shard, seq, millis);
    encoder.encode(&header, queued.payload.as_bytes(), out).map_err(|err| format_err(path, &err))?;
    Ok(header)
}

fn format_err(path: &Path, err: &crate::FormatError) -> ProducerError {
    ProducerError::Backend(format_error(path, err))
}

/// Writes a new file's header, or finds where an existing file continues
/// (cutting off a torn last frame and a final end-of-stream frame).
fn prepare(path: &Path, file: &mut File, options: WriterOptions) -> Result<Encoder, BackendError> {
    let len = file.metadata().map_err(|err| io_error(path, "cannot stat", &err))?.len();
    let mut head = Vec::new();
    let encoder = if len == 0 {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let now = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
        let header =
            FileHeader::new(&name, now, options.beacon_interval).map_err(|err| format_error(path, &err))?;
        Encoder::new_file(&header, &mut head).map_err(|err| format_error(path, &err))?
    } else {
        let mut reader = LogReader::open(path)?;
        let resume = reader.resume()?;
        if resume.end < len {
            file.set_len(resume.end).map_err(|err| io_error(path, "cannot cut the torn end of", &err))?;
        }
        Encoder::resume(resume.interval, resume.end, resume.shards, &mut head)
    };
    use std::io::Seek;
    file.seek(std::io::SeekFrom::End(0)).map_err(|err| io_error(path, "cannot seek in", &err))?;
    file.write_all(&head).map_err(|err| io_error(path, "cannot write to", &err))?;
    Ok(encoder)
}
