//! A producer's I/O side on Redis: a writer thread sends what was queued as
//! one pipeline of XADDs (many in flight on one connection, one round trip
//! per batch) and resolves each receipt from its own reply.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use redis::{ConnectionLike, Value};
use weir_core::backend::{ProducerBackend, Receipt, ReceiptSender};
use weir_core::{BackendError, MessageHeader, Payload, ProducerError, ShardId, StreamKey, Timestamp};

use crate::conn::Target;
use crate::error::{failed, is_contact_lost, RedisError, BACKEND};
use crate::id::{EntryId, Stamps};
use crate::layout::{Layout, PAYLOAD_FIELD};
use crate::options::RedisOptions;
use crate::reader::find_shards_or_fail;

struct Outgoing {
    key: StreamKey,
    payload: Payload,
    timestamp: Option<Timestamp>,
    receipt: ReceiptSender,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Outgoing>,
    /// Sent and not yet answered, queued ones included.
    outstanding: usize,
    /// Failures since the last flush, and the first one: the next flush
    /// reports them, so a dropped receipt hides nothing.
    failures: u64,
    first_failure: Option<ProducerError>,
    waker: Option<Waker>,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    queued: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One producer's connection to a Redis server.
pub struct RedisProducer {
    shared: Arc<Shared>,
}

impl RedisProducer {
    pub(crate) fn start(target: Target, options: Arc<RedisOptions>, layout: Layout) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let writer = Writer::new(shared.clone(), target, options, layout);
        std::thread::Builder::new().name("weir-redis-writer".into()).spawn(move || writer.run())?;
        Ok(Self { shared })
    }
}

impl ProducerBackend for RedisProducer {
    fn send(
        &mut self,
        key: &StreamKey,
        payload: Payload,
        timestamp: Option<Timestamp>,
    ) -> Result<Receipt, ProducerError> {
        let (receipt, sender) = Receipt::pending();
        let mut state = self.shared.lock();
        if state.stopped {
            return Err(ProducerError::Ended);
        }
        state.queue.push_back(Outgoing { key: key.clone(), payload, timestamp, receipt: sender });
        state.outstanding += 1;
        drop(state);
        self.shared.queued.notify_one();
        Ok(receipt)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProducerError>> {
        let mut state = self.shared.lock();
        if state.outstanding > 0 {
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let failures = std::mem::take(&mut state.failures);
        match state.first_failure.take() {
            Some(first) if failures > 1 => Poll::Ready(Err(ProducerError::Backend(BackendError::new(
                BACKEND,
                weir_core::BackendErrorKind::Broker,
                format!("{failures} messages were not stored; the first: {first}"),
            )))),
            Some(first) => Poll::Ready(Err(first)),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for RedisProducer {
    fn drop(&mut self) {
        // The writer sends what is queued, then ends.
        self.shared.lock().stopped = true;
        self.shared.queued.notify_one();
    }
}

/// A stream's Redis keys, each with its shard (the plain key alone when it
/// has no shard keys), and whose turn is next.
struct Route {
    keys: Vec<(String, ShardId)>,
    turn: usize,
}

struct Writer {
    shared: Arc<Shared>,
    target: Target,
    options: Arc<RedisOptions>,
    layout: Layout,
    conn: Option<redis::Connection>,
    /// Per stream: its index in `routes`.
    streams: BTreeMap<StreamKey, usize>,
    routes: Vec<Route>,
    /// One XADD at a time, its buffers kept from one message to the next.
    command: redis::Cmd,
    /// The pipeline's bytes, kept from one batch to the next.
    packed: Vec<u8>,
}

impl Writer {
    fn new(shared: Arc<Shared>, target: Target, options: Arc<RedisOptions>, layout: Layout) -> Self {
        Writer {
            shared,
            target,
            options,
            layout,
            conn: None,
            streams: BTreeMap::new(),
            routes: Vec::new(),
            command: redis::Cmd::new(),
            packed: Vec::new(),
        }
    }

    fn run(mut self) {
        loop {
            let batch: Vec<Outgoing> = {
                let mut state = self.shared.lock();
                while state.queue.is_empty() && !state.stopped {
                    state = self.shared.queued.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                if state.queue.is_empty() {
                    return;
                }
                let take = state.queue.len().min(self.options.batch);
                state.queue.drain(..take).collect()
            };
            let count = batch.len();
            let outcomes = self.send(batch);
            let waker = {
                let mut state = self.shared.lock();
                state.outstanding -= count;
                for failure in outcomes {
                    state.failures += 1;
                    state.first_failure.get_or_insert(failure);
                }
                if state.outstanding == 0 {
                    state.waker.take()
                } else {
                    None
                }
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Sends one pipeline; resolves every receipt; returns the failures.
    fn send(&mut self, batch: Vec<Outgoing>) -> Vec<ProducerError> {
        let picks = match self.pack(&batch) {
            Ok(picks) => picks,
            Err(err) => return fail_all(batch, &err),
        };
        let Some(conn) = self.conn.as_mut() else { return fail_all(batch, &lost_before_sending()) };
        // The pipeline as packed: one reply per XADD, a refused one as a
        // server error in its place.
        let replies = match conn.req_packed_commands(&self.packed, 0, batch.len()) {
            Ok(replies) => replies,
            Err(err) => {
                if is_contact_lost(&err) {
                    self.conn = None;
                }
                return fail_all(batch, &failed("adding entries (XADD)", &err));
            }
        };
        let mut failures = Vec::new();
        let mut replies = replies.into_iter();
        let mut stamps = Stamps::default();
        for (outgoing, (route, pick)) in batch.into_iter().zip(picks) {
            let (redis_key, shard) = &self.routes[route].keys[pick];
            let outcome = match replies.next() {
                Some(reply) => header_of(&outgoing.key, *shard, redis_key, reply, &mut stamps),
                None => Err(ProducerError::Backend(
                    RedisError::Reply { command: "XADD", reply: "fewer replies than commands".into() }.into(),
                )),
            };
            if let Err(err) = &outcome {
                failures.push(err.clone());
            }
            outgoing.receipt.send(outcome);
        }
        failures
    }

    /// Packs the batch's XADDs into `packed`, connecting first if needed;
    /// returns each message's route and the key picked in it.
    fn pack(&mut self, batch: &[Outgoing]) -> Result<Vec<(usize, usize)>, BackendError> {
        if self.conn.is_none() {
            self.conn = Some(self.target.connect(Duration::ZERO)?);
        }
        // One MINID for the whole batch.
        let trim_id = self.options.max_age.map(|age| {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            EntryId::at_millis(u64::try_from(now.saturating_sub(age).as_millis()).unwrap_or(0)).to_string()
        });
        self.packed.clear();
        let mut picks = Vec::with_capacity(batch.len());
        for outgoing in batch {
            let route = match self.streams.get(&outgoing.key) {
                Some(&route) => route,
                None => self.add_route(&outgoing.key)?,
            };
            let Route { keys, turn } = &mut self.routes[route];
            // Round-robin over the shard keys, like the other backends.
            let pick = *turn % keys.len();
            *turn = turn.wrapping_add(1);
            let command = &mut self.command;
            command.clear();
            command.arg("XADD").arg(keys[pick].0.as_str());
            if let Some(maxlen) = self.options.maxlen {
                command.arg("MAXLEN").arg("~").arg(maxlen);
            } else if let Some(min) = &trim_id {
                command.arg("MINID").arg("~").arg(min);
            }
            match outgoing.timestamp {
                // The server numbers entries within the millisecond (Redis 7+).
                Some(at) => command.arg(format!("{}-*", at.unix_millis().max(0))),
                None => command.arg("*"),
            };
            command.arg(PAYLOAD_FIELD).arg(outgoing.payload.as_bytes());
            command.write_packed_command(&mut self.packed);
            picks.push((route, pick));
        }
        Ok(picks)
    }

    /// Finds `stream`'s shard keys and makes each one's Redis key, once.
    fn add_route(&mut self, stream: &StreamKey) -> Result<usize, BackendError> {
        let found = match self.options.shards {
            Some(count) => (0..count).map(ShardId).collect(),
            None => {
                let Some(conn) = self.conn.as_mut() else { return Err(lost_before_sending()) };
                find_shards_or_fail(conn, &self.layout, stream).map_err(|(err, lost)| {
                    if lost {
                        self.conn = None;
                    }
                    err
                })?
            }
        };
        let keys = if found.is_empty() {
            vec![(self.layout.key(stream, ShardId::ZERO, false), ShardId::ZERO)]
        } else {
            found.into_iter().map(|shard| (self.layout.key(stream, shard, true), shard)).collect()
        };
        self.routes.push(Route { keys, turn: 0 });
        self.streams.insert(stream.clone(), self.routes.len() - 1);
        Ok(self.routes.len() - 1)
    }
}

/// Fails every receipt of `batch` with `err`; returns the failures.
fn fail_all(batch: Vec<Outgoing>, err: &BackendError) -> Vec<ProducerError> {
    batch
        .into_iter()
        .map(|outgoing| {
            outgoing.receipt.send(Err(ProducerError::Backend(err.clone())));
            ProducerError::Backend(err.clone())
        })
        .collect()
}

/// The connection went away between two steps of one batch.
fn lost_before_sending() -> BackendError {
    BackendError::new(BACKEND, weir_core::BackendErrorKind::Io, "the connection was lost before sending")
}

/// The stored entry's header from XADD's reply, or why it was refused.
fn header_of(
    key: &StreamKey,
    shard: ShardId,
    redis_key: &str,
    reply: Value,
    stamps: &mut Stamps,
) -> Result<MessageHeader, ProducerError> {
    let bytes = match reply {
        Value::BulkString(ref bytes) => bytes.as_slice(),
        Value::SimpleString(ref text) => text.as_bytes(),
        Value::ServerError(err) => {
            let err = redis::RedisError::from(err);
            return Err(ProducerError::Backend(failed(&format!("adding an entry to {redis_key}"), &err)));
        }
        other => {
            let err = RedisError::Reply { command: "XADD", reply: format!("{other:?}") };
            return Err(ProducerError::Backend(err.into()));
        }
    };
    let id_error =
        |source| ProducerError::Backend(RedisError::Id { key: redis_key.to_owned(), source }.into());
    let id = EntryId::from_ascii(bytes).map_err(id_error)?;
    let seq = id.to_seq().map_err(id_error)?;
    Ok(MessageHeader::new(key.clone(), shard, seq, stamps.of(id)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use weir_core::SeqNo;

    fn header(reply: Value, stamps: &mut Stamps) -> Result<MessageHeader, ProducerError> {
        header_of(&StreamKey::new("k").unwrap(), ShardId(2), "weir:k:2", reply, stamps)
    }

    #[test]
    fn headers_come_from_reply_ids_whatever_the_millisecond() {
        let mut stamps = Stamps::default();
        let replies = [
            Value::BulkString(b"1700000000005-0".to_vec()),
            Value::BulkString(b"1700000000005-1".to_vec()),
            Value::SimpleString("1700000000009-0".into()),
            Value::BulkString(b"1700000000005-2".to_vec()),
        ];
        let got: Vec<(SeqNo, i64)> = replies
            .into_iter()
            .map(|reply| header(reply, &mut stamps).unwrap())
            .map(|h| (h.seq, h.timestamp.unix_millis()))
            .collect();
        let want =
            [("1700000000005-0", 5), ("1700000000005-1", 5), ("1700000000009-0", 9), ("1700000000005-2", 5)]
                .map(|(id, ms)| (id.parse::<EntryId>().unwrap().to_seq().unwrap(), 1_700_000_000_000 + ms));
        assert_eq!(got, want);
        assert_eq!(header(Value::BulkString(b"1-0".to_vec()), &mut stamps).unwrap().shard, ShardId(2));
    }

    #[test]
    fn bad_replies_are_errors_naming_the_key() {
        for reply in
            [Value::BulkString(b"12x-0".to_vec()), Value::Int(7), Value::BulkString(b"1-1048576".to_vec())]
        {
            let err = header(reply.clone(), &mut Stamps::default()).unwrap_err().to_string();
            assert!(err.contains("weir:k:2") || err.contains("XADD"), "{reply:?}: {err}");
        }
        // A refused XADD comes back in the pipeline as a server error of its own.
        let refused = redis::parse_redis_value(
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        )
        .unwrap();
        let err = header(refused, &mut Stamps::default()).unwrap_err().to_string();
        assert!(err.contains("weir:k:2") && err.contains("WRONGTYPE"), "{err}");
    }
}
