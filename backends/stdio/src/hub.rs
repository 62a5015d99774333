//! The one stdin reader of a process and the consumers it serves.
//!
//! Lines are read on a thread of their own (stdin is blocking), decoded in
//! chunks, and dispatched under one lock per chunk: every ungrouped consumer
//! of a stream gets its messages; each group gets each message once, for the
//! member the core's [`RoundRobin`] picks. `broadcast` messages go to every
//! ungrouped consumer and once to every group.

use std::collections::{BTreeMap, VecDeque};
use std::io::ErrorKind;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread;

use bytes::Bytes;
use tracing::{debug, warn};
use weir_core::group::RoundRobin;
use weir_core::{BackendError, BackendErrorKind, ConsumerGroup, Message, StreamKey, Timestamp};

use crate::codec::LineDecoder;
use crate::input::Source;

/// How many messages a consumer's mailbox holds before the reader waits for it
/// to take them. The core's own buffer pauses the reader too, but only once the
/// consumer is polled: this bounds what piles up while it is not (a busy or
/// descheduled consumer thread), so memory stays flat however long the input.
const INBOX_LIMIT: usize = 4 * 1024;

/// How much of a line without a valid header its diagnostic shows.
const UNPARSED_SAMPLE: usize = 120;

/// Names a consumer registered with the hub.
pub(crate) type ConsumerId = u64;

/// One consumer's mailbox.
struct Slot {
    streams: Vec<StreamKey>,
    /// Index into `State::groups`.
    group: Option<usize>,
    queue: VecDeque<Message>,
    waker: Option<Waker>,
    paused: bool,
}

impl Slot {
    fn wants(&self, key: &StreamKey) -> bool {
        wants(&self.streams, key)
    }
}

/// Whether a consumer of `streams` gets a message of `key`.
fn wants(streams: &[StreamKey], key: &StreamKey) -> bool {
    key.is_broadcast() || streams.contains(key)
}

/// Whether input is still coming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    Open,
    Ended(Option<BackendError>),
}

/// A consumer group: one rotation per stream key, `broadcast` included.
struct Group {
    name: ConsumerGroup,
    rotations: BTreeMap<StreamKey, RoundRobin<ConsumerId>>,
}

struct State {
    consumers: BTreeMap<ConsumerId, Slot>,
    groups: Vec<Group>,
    /// Scratch space for dispatch: the groups a message goes to.
    targets: Vec<usize>,
    next_id: ConsumerId,
    paused: usize,
    input: Input,
    /// The input, until the first consumer starts the reader.
    source: Option<Source>,
}

/// Shared by the reader thread and every consumer of one input.
pub(crate) struct Hub {
    state: Mutex<State>,
    resumed: Condvar,
}

impl Hub {
    pub(crate) fn new(source: Source) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                consumers: BTreeMap::new(),
                groups: Vec::new(),
                targets: Vec::new(),
                next_id: 0,
                paused: 0,
                input: Input::Open,
                source: Some(source),
            }),
            resumed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a consumer; the first one starts reading the input.
    pub(crate) fn register(
        self: &Arc<Self>,
        streams: Vec<StreamKey>,
        group: Option<ConsumerGroup>,
    ) -> Result<ConsumerId, BackendError> {
        let mut state = self.lock();
        let id = state.next_id;
        state.next_id += 1;
        let group = group.map(|name| {
            let at = match state.groups.iter().position(|g| g.name == name) {
                Some(at) => at,
                None => {
                    state.groups.push(Group { name, rotations: BTreeMap::new() });
                    state.groups.len() - 1
                }
            };
            for key in streams.iter().cloned().chain([StreamKey::broadcast()]) {
                state.groups[at].rotations.entry(key).or_default().join(id);
            }
            at
        });
        state
            .consumers
            .insert(id, Slot { streams, group, queue: VecDeque::new(), waker: None, paused: false });
        if let Some(source) = state.source.take() {
            let hub = Arc::clone(self);
            // The reader reports to the subscriber of the thread that started it.
            let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
            let started = thread::Builder::new()
                .name("weir-stdin".into())
                .spawn(move || tracing::dispatcher::with_default(&dispatch, || hub.read_all(source)));
            if let Err(err) = started {
                let err = BackendError::new(
                    "stdio",
                    BackendErrorKind::Io,
                    format!("cannot start the stdin reader: {err}"),
                );
                state.input = Input::Ended(Some(err.clone()));
                return Err(err);
            }
        }
        Ok(id)
    }

    /// Removes a consumer. Messages it had not taken go to its group's other
    /// members, so leaving loses nothing the group was owed.
    pub(crate) fn unregister(&self, id: ConsumerId) {
        let mut wake = Vec::new();
        {
            let mut state = self.lock();
            let Some(slot) = state.consumers.remove(&id) else { return };
            if slot.paused {
                state.paused -= 1;
            }
            // It may have been the one the reader waited for.
            self.resumed.notify_all();
            if let Some(group) = slot.group {
                for rotation in state.groups[group].rotations.values_mut() {
                    rotation.leave(&id);
                }
                for message in slot.queue {
                    state.deliver_to_group(group, message, &mut wake);
                }
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }

    /// Moves what arrived for `id` into `out`; registers `waker` if nothing did.
    pub(crate) fn take(&self, id: ConsumerId, out: &mut VecDeque<Message>, waker: &Waker) -> Input {
        let mut state = self.lock();
        let input = state.input.clone();
        if let Some(slot) = state.consumers.get_mut(&id) {
            if slot.queue.is_empty() {
                if input == Input::Open {
                    slot.waker = Some(waker.clone());
                }
            } else {
                std::mem::swap(&mut slot.queue, out);
                if out.len() >= INBOX_LIMIT {
                    self.resumed.notify_all();
                }
            }
        }
        input
    }

    /// Stops (or restarts) reading while `id`'s buffer is full: backpressure
    /// reaches the writer of the pipe.
    pub(crate) fn set_paused(&self, id: ConsumerId, paused: bool) {
        let mut state = self.lock();
        let changed = state
            .consumers
            .get_mut(&id)
            .is_some_and(|slot| std::mem::replace(&mut slot.paused, paused) != paused);
        if changed {
            if paused {
                state.paused += 1;
            } else {
                state.paused -= 1;
                self.resumed.notify_all();
            }
        }
    }

    fn read_all(&self, mut source: Source) {
        let read_size = source.read_size();
        debug!(read_size, "reading input");
        let mut decoder = LineDecoder::new();
        let mut buf = Vec::with_capacity(read_size);
        let mut batch = Vec::new();
        let (mut lines, mut bytes) = (0u64, 0u64);
        let end = loop {
            {
                let state = self.lock();
                let state = self
                    .resumed
                    .wait_while(state, |s| s.paused > 0 || s.inbox_full())
                    .unwrap_or_else(PoisonError::into_inner);
                drop(state);
            }
            let filled = buf.len();
            if buf.capacity() - filled < read_size / 2 {
                // A line longer than what is left: room for another read.
                buf.reserve(read_size);
            }
            let n = match source.read_into(&mut buf) {
                Ok(n) => n,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => {
                    break Some(BackendError::new(
                        "stdio",
                        BackendErrorKind::Io,
                        format!("reading stdin: {err}"),
                    ));
                }
            };
            bytes += n as u64;
            let read_at = Timestamp::from_datetime(time::OffsetDateTime::now_utc());
            if n == 0 {
                // The last line may lack its newline; it is a line all the same.
                if !buf.is_empty() {
                    batch.push(decoder.decode(Bytes::from(std::mem::take(&mut buf)), read_at));
                    lines += 1;
                    report_unparsed(&mut decoder);
                }
                break None;
            }
            let Some(last) = memchr::memrchr(b'\n', &buf[filled..]).map(|at| filled + at) else { continue };
            let chunk = take_lines(&mut buf, last + 1, read_size);
            decoder.decode_lines(&chunk, read_at, &mut batch);
            lines += batch.len() as u64;
            report_unparsed(&mut decoder);
            self.dispatch(&mut batch);
        };
        self.dispatch(&mut batch);
        match &end {
            None => debug!(lines, bytes, "input ended"),
            Some(error) => warn!(lines, bytes, %error, "reading input failed"),
        }
        let mut state = self.lock();
        state.input = Input::Ended(end);
        let wake: Vec<Waker> = state.consumers.values_mut().filter_map(|slot| slot.waker.take()).collect();
        drop(state);
        wake.into_iter().for_each(Waker::wake);
    }

    fn dispatch(&self, batch: &mut Vec<Message>) {
        if batch.is_empty() {
            return;
        }
        let mut wake = Vec::new();
        {
            let mut state = self.lock();
            match state.only_consumer() {
                // The usual case: the whole batch to one mailbox, what it
                // wants, with no rotation or clone to consider per message.
                Some(Slot { streams, queue, waker, .. }) => {
                    let before = queue.len();
                    // The decoder gives a stream's messages one shared key:
                    // comparing with the last key wanted settles most by address.
                    let mut wanted: Option<StreamKey> = None;
                    let mut keep = |message: &Message| {
                        let key = message.stream_key();
                        if wanted.as_ref() == Some(key) {
                            return true;
                        }
                        let wants = wants(streams, key);
                        if wants {
                            wanted = Some(key.clone());
                        }
                        wants
                    };
                    // Mostly every message is of one stream, and wanted: then
                    // the batch moves whole, no filter. Keys shared with the
                    // first message are settled by address, in an inlined loop.
                    let one_stream = batch.first().is_some_and(|first| {
                        let key = first.stream_key();
                        batch.iter().all(|message| std::ptr::eq(message.stream_key().name(), key.name()))
                    });
                    let whole = if one_stream {
                        batch.first().is_some_and(&mut keep)
                    } else {
                        batch.iter().all(&mut keep)
                    };
                    if whole {
                        if queue.is_empty() {
                            // A `Vec` becomes a `VecDeque` and back without
                            // moving a message: swap the batch in whole, and
                            // keep the empty queue's room for the next batch.
                            let spare = std::mem::replace(queue, VecDeque::from(std::mem::take(batch)));
                            *batch = Vec::from(spare);
                        } else {
                            queue.extend(batch.drain(..));
                        }
                    } else {
                        queue.extend(batch.drain(..).filter(keep));
                    }
                    if queue.len() > before {
                        wake.extend(waker.take());
                    }
                }
                None => {
                    for message in batch.drain(..) {
                        state.dispatch(message, &mut wake);
                    }
                }
            }
        }
        wake.into_iter().for_each(Waker::wake);
    }
}

impl State {
    /// The one consumer, if there is one and it is in no group.
    fn only_consumer(&mut self) -> Option<&mut Slot> {
        if self.consumers.len() != 1 {
            return None;
        }
        self.consumers.values_mut().next().filter(|slot| slot.group.is_none())
    }

    /// Whether some consumer's mailbox is at [`INBOX_LIMIT`].
    fn inbox_full(&self) -> bool {
        self.consumers.values().any(|slot| slot.queue.len() >= INBOX_LIMIT)
    }

    fn dispatch(&mut self, message: Message, wake: &mut Vec<Waker>) {
        let mut targets = std::mem::take(&mut self.targets);
        let key = message.stream_key();
        // The last ungrouped consumer, given the message itself if no group wants it:
        // one consumer, the usual case, costs no clone.
        let mut last = None;
        for slot in self.consumers.values_mut().filter(|slot| slot.wants(key)) {
            match slot.group {
                None => {
                    if let Some(before) = last.replace(slot) {
                        push(before, message.clone(), wake);
                    }
                }
                Some(group) if !targets.contains(&group) => targets.push(group),
                Some(_) => {}
            }
        }
        match (last, targets.pop()) {
            (Some(slot), None) => push(slot, message, wake),
            (last, Some(final_group)) => {
                if let Some(slot) = last {
                    push(slot, message.clone(), wake);
                }
                for group in targets.drain(..) {
                    self.deliver_to_group(group, message.clone(), wake);
                }
                self.deliver_to_group(final_group, message, wake);
            }
            (None, None) => {}
        }
        self.targets = targets;
    }

    fn deliver_to_group(&mut self, group: usize, message: Message, wake: &mut Vec<Waker>) {
        let picked =
            self.groups[group].rotations.get_mut(message.stream_key()).and_then(|r| r.pick().copied());
        if let Some(slot) = picked.and_then(|id| self.consumers.get_mut(&id)) {
            push(slot, message, wake);
        }
    }
}

/// The first `end` bytes of `buf`, whole lines, taken out of it. Mostly the
/// buffer itself, with no copy: the rest (a part of a line) starts a new
/// buffer. Lines that fill little of it are copied instead, and the buffer
/// kept for the next read, so that a trickle of short reads does not leave
/// a large buffer behind each few lines until they are consumed.
fn take_lines(buf: &mut Vec<u8>, end: usize, read_size: usize) -> Bytes {
    if end < buf.capacity() / 16 {
        let lines = Bytes::copy_from_slice(&buf[..end]);
        buf.drain(..end);
        return lines;
    }
    let mut next = Vec::with_capacity(read_size + (buf.len() - end));
    next.extend_from_slice(&buf[end..]);
    buf.truncate(end);
    Bytes::from(std::mem::replace(buf, next))
}

/// One diagnostic per chunk, not per line, for lines read as raw because
/// their bracket is not a header (a typo in a timestamp, a JSON array, …).
fn report_unparsed(decoder: &mut LineDecoder) {
    if let (count @ 1.., Some(first)) = decoder.take_unparsed() {
        let first = String::from_utf8_lossy(&first[..first.len().min(UNPARSED_SAMPLE)]).into_owned();
        debug!(lines = count, first, "lines opening with '[' have no valid header: read as raw messages");
    }
}

fn push(slot: &mut Slot, message: Message, wake: &mut Vec<Waker>) {
    slot.queue.push_back(message);
    if let Some(waker) = slot.waker.take() {
        wake.push(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::take_lines;

    #[test]
    fn lines_filling_the_buffer_are_handed_over_and_the_rest_starts_a_new_one() {
        let mut buf = Vec::with_capacity(1024);
        buf.extend_from_slice(&[b'x'; 999]);
        buf.extend_from_slice(b"\npart");
        let address = buf.as_ptr();
        let lines = take_lines(&mut buf, 1000, 1024);
        assert_eq!((lines.len(), lines.as_ptr()), (1000, address), "the buffer itself, not a copy");
        assert_eq!(buf, b"part");
        assert!(buf.capacity() >= 1024 + 4, "room for a whole read after the part: {}", buf.capacity());
    }

    #[test]
    fn a_few_short_lines_are_copied_and_the_buffer_kept_for_the_next_read() {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(b"one\ntwo\nthr");
        let (address, capacity) = (buf.as_ptr(), buf.capacity());
        let lines = take_lines(&mut buf, 8, 64 * 1024);
        assert_eq!(&lines[..], b"one\ntwo\n");
        assert_eq!(buf, b"thr");
        assert_eq!((buf.as_ptr(), buf.capacity()), (address, capacity), "the same buffer");
    }
}
