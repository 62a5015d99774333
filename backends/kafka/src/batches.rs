//! librdkafka's batch consume, for a consumer that takes its messages itself
//! (see `direct`): each assigned partition's fetch queue is split off the
//! consumer queue, and messages are taken out of it many at a time
//! (`rd_kafka_consume_batch_queue`) instead of one event per message
//! (rdkafka's `poll`: an event, an `Arc` around it and a clock read each).
//!
//! Why split queues rather than batch-consume the consumer queue: rdkafka
//! turns on librdkafka's event API and forwards the main queue (log lines,
//! errors, commit outcomes, statistics) to the consumer queue. librdkafka's
//! batch consume serves what is not a message itself, as its callbacks
//! would: with no error callback set, an error would only be logged (weir's
//! error handling never seeing "all brokers down"), log lines would go to
//! stderr, and a commit outcome, which it passes on as a message, aborts the
//! process (`rd_kafka_message_get`: "unhandled optype"). A partition's own
//! fetch queue holds only fetched messages, per-partition errors and version
//! barriers, all of which batch consume handles. The consumer queue is still
//! polled as before, for its events and for messages queued on it before
//! the split; librdkafka keeps a queue the application split off split when
//! it starts fetching the partition again (`RD_KAFKA_Q_F_FWD_APP`).
//!
//! This is the crate's only unsafe code: calls into librdkafka through
//! rdkafka's bindings, and the ownership of the messages they return.

#![allow(unsafe_code)]

use std::ffi::{c_void, CStr, CString};
use std::ptr::NonNull;

use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use crate::shared::{partitions, Partition, Rd, Shared};

/// One partition's fetch queue, split off the consumer queue. A handle owned
/// here: [`Queues::clear`] destroys it, while librdkafka is still alive.
struct PartitionQueue {
    partition: Partition,
    queue: NonNull<rd::rd_kafka_queue_t>,
}

/// The split partition queues of a consumer, behind its poll turn (see
/// `Shared::poll_turn`): only who holds the turn takes messages.
#[derive(Default)]
pub(crate) struct Queues {
    split: Vec<PartitionQueue>,
    /// An assignment may have changed since the last split (see `Shared::positioning`).
    pub(crate) stale: bool,
    /// The consumer closed: nothing is split any more.
    closed: bool,
    /// The queue a take starts with, one further each time, so that one
    /// partition's backlog does not keep the others waiting.
    first: usize,
}

// SAFETY: librdkafka's queue handles may be used from any thread (its queues
// lock themselves); these are used only by whoever holds the poll turn.
unsafe impl Send for Queues {}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let split: Vec<&Partition> = self.split.iter().map(|q| &q.partition).collect();
        f.debug_struct("Queues").field("split", &split).field("stale", &self.stale).finish()
    }
}

/// Called by librdkafka when a split queue turns non-empty: wakes the poll
/// thread, as the consumer queue's callback does.
unsafe extern "C" fn queue_filled(_rk: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the consumer's `Shared`, which its librdkafka
    // context holds: it outlives every librdkafka thread (rdkafka destroys
    // the client before its context).
    let shared = unsafe { &*(opaque as *const Shared) };
    shared.queue_filled();
}

impl Queues {
    /// Splits off the queue of each assigned partition not split yet, if the
    /// assignment may have changed. Messages queued on the consumer queue
    /// before stay there, ahead of those of the split queue: the caller
    /// polls the consumer queue first.
    pub(crate) fn sync(&mut self, rd: &Rd) {
        if !self.stale || self.closed {
            return;
        }
        self.stale = false;
        let Ok(assignment) = rd.assignment() else {
            // Tried again at the next positioning; meanwhile the consumer
            // queue has the partitions' messages.
            return;
        };
        let client = rd.client().native_ptr();
        let shared: *const Shared = &*rd.context().shared;
        for partition in partitions(&assignment) {
            if self.split.iter().any(|q| q.partition == partition) {
                continue;
            }
            let Ok(topic) = CString::new(partition.0.as_str()) else { continue };
            // SAFETY: `client` is alive (`rd` holds it); the queue handle
            // returned is ours to destroy, which `clear` does.
            let queue = unsafe { rd::rd_kafka_queue_get_partition(client, topic.as_ptr(), partition.1) };
            let Some(queue) = NonNull::new(queue) else { continue };
            // SAFETY: as above; forwarding to nothing keeps the partition's
            // messages on its own queue, for good (see the module's note).
            unsafe {
                rd::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut());
                rd::rd_kafka_queue_cb_event_enable(queue.as_ptr(), Some(queue_filled), shared as *mut c_void);
            }
            self.split.push(PartitionQueue { partition, queue });
        }
    }

    /// Takes up to `most` messages out of the split queues, passing each to
    /// `each`, which owns it from then on; true once every queue is empty.
    pub(crate) fn take(&mut self, most: usize, mut each: impl FnMut(Taken)) -> bool {
        let mut room = most;
        let mut taken: [*mut rd::rd_kafka_message_t; 256] = [std::ptr::null_mut(); 256];
        let first = self.first % self.split.len().max(1);
        self.first = first + 1;
        let (later, earlier) = self.split.split_at(first);
        for q in earlier.iter().chain(later) {
            loop {
                let want = room.min(taken.len());
                if want == 0 {
                    return false;
                }
                // SAFETY: the queue handle is alive until `clear`; `taken`
                // has room for `want` pointers. A zero timeout: never blocks.
                let got = unsafe {
                    rd::rd_kafka_consume_batch_queue(q.queue.as_ptr(), 0, taken.as_mut_ptr(), want)
                };
                let got = usize::try_from(got).unwrap_or(0).min(want);
                // Each is destroyed exactly once: by the `Taken` handed to
                // `each`, or by `Received`'s drop, also if `each` panics.
                Received { messages: &taken[..got], next: 0 }.for_each(&mut each);
                room -= got;
                if got < want {
                    break;
                }
            }
        }
        true
    }

    /// Destroys the split queues' handles (their messages stay with
    /// librdkafka, which frees them when the consumer is destroyed); none is
    /// split after. Called before the consumer is destroyed.
    pub(crate) fn clear(&mut self) {
        self.closed = true;
        for q in self.split.drain(..) {
            // SAFETY: the handle is alive and ours; librdkafka is alive (the
            // caller holds the consumer). The callback is turned off first:
            // the queue itself lives on in librdkafka.
            unsafe {
                rd::rd_kafka_queue_cb_event_enable(q.queue.as_ptr(), None, std::ptr::null_mut());
                rd::rd_kafka_queue_destroy(q.queue.as_ptr());
            }
        }
    }
}

/// The messages of one batch consume not handed out yet: dropping it
/// destroys those.
struct Received<'a> {
    messages: &'a [*mut rd::rd_kafka_message_t],
    next: usize,
}

impl Iterator for Received<'_> {
    type Item = Taken;

    fn next(&mut self) -> Option<Taken> {
        while let Some(message) = self.messages.get(self.next) {
            self.next += 1;
            if let Some(message) = NonNull::new(*message) {
                return Some(Taken(message));
            }
        }
        None
    }
}

impl Drop for Received<'_> {
    fn drop(&mut self) {
        self.by_ref().for_each(drop);
    }
}

/// A message taken out of librdkafka in a batch, destroyed when dropped.
pub(crate) struct Taken(NonNull<rd::rd_kafka_message_t>);

impl Drop for Taken {
    fn drop(&mut self) {
        // SAFETY: librdkafka handed the message over to us; only this drop destroys it.
        unsafe { rd::rd_kafka_message_destroy(self.0.as_ptr()) }
    }
}

/// What a batch-taken message holds, borrowed from it.
pub(crate) enum Fetched<'a> {
    /// A message: its topic's name (looked up only when asked), partition,
    /// offset, milliseconds since the epoch (if it has a timestamp), payload.
    Message { taken: &'a Taken, partition: i32, offset: i64, millis: Option<i64>, payload: &'a [u8] },
    /// A per-partition error (librdkafka retries; fatal ones come through the
    /// error event), with its description.
    Error(RDKafkaRespErr, String),
}

impl Taken {
    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: alive until dropped; librdkafka does not change it meanwhile.
        unsafe { self.0.as_ref() }
    }

    /// What the message holds.
    pub(crate) fn fetched(&self) -> Fetched<'_> {
        let raw = self.raw();
        if raw.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: an error message's description is a C string it holds.
            let reason = unsafe { rd::rd_kafka_message_errstr(raw) };
            let reason = if reason.is_null() {
                String::new()
            } else {
                // SAFETY: as above, non-null.
                unsafe { CStr::from_ptr(reason) }.to_string_lossy().into_owned()
            };
            return Fetched::Error(raw.err, reason);
        }
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a live message.
        let stamp = unsafe { rd::rd_kafka_message_timestamp(raw, &mut kind) };
        let millis = (stamp != -1 && kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            .then_some(stamp);
        let payload = if raw.payload.is_null() || raw.len == 0 {
            &[][..]
        } else {
            // SAFETY: `len` bytes at `payload`, alive as long as the message.
            unsafe { std::slice::from_raw_parts(raw.payload as *const u8, raw.len) }
        };
        Fetched::Message { taken: self, partition: raw.partition, offset: raw.offset, millis, payload }
    }

    /// The message's topic's name ("" if librdkafka gives none, or not UTF-8).
    pub(crate) fn topic(&self) -> &str {
        let rkt = self.raw().rkt;
        if rkt.is_null() {
            return "";
        }
        // SAFETY: the message holds its topic; the name lives as long as the topic.
        let name = unsafe { rd::rd_kafka_topic_name(rkt) };
        if name.is_null() {
            return "";
        }
        // SAFETY: as above, non-null.
        unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("")
    }
}

/// Tells the consumer's context of a per-partition error, as rdkafka's poll
/// does for the same error taken one event at a time.
pub(crate) fn tell_error(rd: &Rd, err: RDKafkaRespErr, reason: &str) {
    rd.context().error(KafkaError::Global(err.into()), reason.trim());
}
