//! A producer's I/O side on Redis: a writer thread sends what was queued as
//! one pipeline of XADDs (many in flight on one connection, one round trip
//! per batch) and resolves each receipt from its own reply.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use redis::Value;
use weir_core::backend::{ProducerBackend, Receipt, ReceiptSender};
use weir_core::{BackendError, MessageHeader, Payload, ProducerError, ShardId, StreamKey, Timestamp};

use crate::conn::Target;
use crate::error::{failed, is_contact_lost, RedisError, BACKEND};
use crate::id::EntryId;
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
        let writer =
            Writer { shared: shared.clone(), target, options, layout, conn: None, shards: BTreeMap::new() };
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

/// A stream's Redis keys, each with its shard.
type ShardKeys = Vec<(Arc<str>, ShardId)>;

struct Writer {
    shared: Arc<Shared>,
    target: Target,
    options: Arc<RedisOptions>,
    layout: Layout,
    conn: Option<redis::Connection>,
    /// Per stream: its Redis keys and shards (the plain key alone when it has
    /// no shard keys), and the next one's turn.
    shards: BTreeMap<StreamKey, (ShardKeys, usize)>,
}

impl Writer {
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
        let mut failures = Vec::new();
        let routed = match self.route(&batch) {
            Ok(routed) => routed,
            Err(err) => {
                for outgoing in batch {
                    outgoing.receipt.send(Err(ProducerError::Backend(err.clone())));
                    failures.push(ProducerError::Backend(err.clone()));
                }
                return failures;
            }
        };
        let mut pipe = redis::pipe();
        // One MINID for the whole batch.
        let trim_id = self.options.max_age.map(|age| {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            EntryId::at_millis(u64::try_from(now.saturating_sub(age).as_millis()).unwrap_or(0)).to_string()
        });
        for (outgoing, (redis_key, _)) in batch.iter().zip(&routed) {
            let command = pipe.cmd("XADD").arg(&**redis_key);
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
        }
        pipe.ignore_errors();
        let Some(conn) = self.conn.as_mut() else { return failures };
        let replies = match pipe.query::<Vec<redis::RedisResult<Value>>>(conn) {
            Ok(replies) => replies,
            Err(err) => {
                if is_contact_lost(&err) {
                    self.conn = None;
                }
                let err = failed("adding entries (XADD)", &err);
                for outgoing in batch {
                    outgoing.receipt.send(Err(ProducerError::Backend(err.clone())));
                    failures.push(ProducerError::Backend(err.clone()));
                }
                return failures;
            }
        };
        // The entries of one pipeline mostly share their millisecond.
        let mut stamp = None;
        for ((outgoing, (redis_key, shard)), reply) in batch.into_iter().zip(routed).zip(replies) {
            let outcome = header_of(&outgoing.key, shard, &redis_key, reply, &mut stamp);
            if let Err(err) = &outcome {
                failures.push(err.clone());
            }
            outgoing.receipt.send(outcome);
        }
        failures
    }

    /// The Redis key and shard of each message, connecting first if needed.
    fn route(&mut self, batch: &[Outgoing]) -> Result<Vec<(Arc<str>, ShardId)>, BackendError> {
        if self.conn.is_none() {
            self.conn = Some(self.target.connect(Duration::ZERO)?);
        }
        let mut routed = Vec::with_capacity(batch.len());
        for outgoing in batch {
            if !self.shards.contains_key(&outgoing.key) {
                let found = match self.options.shards {
                    Some(count) => (0..count).map(ShardId).collect(),
                    None => {
                        let Some(conn) = self.conn.as_mut() else { break };
                        find_shards_or_fail(conn, &self.layout, &outgoing.key).map_err(|(err, lost)| {
                            if lost {
                                self.conn = None;
                            }
                            err
                        })?
                    }
                };
                // Each shard's Redis key, made once (not once a message).
                let keys: ShardKeys = if found.is_empty() {
                    vec![(Arc::from(self.layout.key(&outgoing.key, ShardId::ZERO, false)), ShardId::ZERO)]
                } else {
                    found
                        .into_iter()
                        .map(|shard| (Arc::from(self.layout.key(&outgoing.key, shard, true)), shard))
                        .collect()
                };
                self.shards.insert(outgoing.key.clone(), (keys, 0));
            }
            let Some((keys, turn)) = self.shards.get_mut(&outgoing.key) else { continue };
            // Round-robin over the shard keys, like the other backends.
            let (redis_key, shard) = &keys[*turn % keys.len()];
            *turn = turn.wrapping_add(1);
            routed.push((Arc::clone(redis_key), *shard));
        }
        Ok(routed)
    }
}

/// The stored entry's header from XADD's reply, or why it was refused.
/// `stamp` holds the last id's millisecond and its timestamp, so that a run
/// of entries in one millisecond converts it once.
fn header_of(
    key: &StreamKey,
    shard: ShardId,
    redis_key: &str,
    reply: redis::RedisResult<Value>,
    stamp: &mut Option<(u64, Timestamp)>,
) -> Result<MessageHeader, ProducerError> {
    let reply = reply
        .map_err(|err| ProducerError::Backend(failed(&format!("adding an entry to {redis_key}"), &err)))?;
    let bytes = match &reply {
        Value::BulkString(bytes) => bytes.as_slice(),
        Value::SimpleString(text) => text.as_bytes(),
        other => {
            let err = RedisError::Reply { command: "XADD", reply: format!("{other:?}") };
            return Err(ProducerError::Backend(err.into()));
        }
    };
    let id_error =
        |source| ProducerError::Backend(RedisError::Id { key: redis_key.to_owned(), source }.into());
    let id = EntryId::from_ascii(bytes).map_err(id_error)?;
    let seq = id.to_seq().map_err(id_error)?;
    let timestamp = match *stamp {
        Some((ms, at)) if ms == id.ms => at,
        _ => {
            let at = id.timestamp();
            *stamp = Some((id.ms, at));
            at
        }
    };
    Ok(MessageHeader::new(key.clone(), shard, seq, timestamp))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use weir_core::SeqNo;

    fn header(reply: Value, stamp: &mut Option<(u64, Timestamp)>) -> Result<MessageHeader, ProducerError> {
        header_of(&StreamKey::new("k").unwrap(), ShardId(2), "weir:k:2", Ok(reply), stamp)
    }

    #[test]
    fn headers_come_from_reply_ids_whatever_the_millisecond() {
        let mut stamp = None;
        let replies = [
            Value::BulkString(b"1700000000005-0".to_vec()),
            Value::BulkString(b"1700000000005-1".to_vec()),
            Value::SimpleString("1700000000009-0".into()),
            Value::BulkString(b"1700000000005-2".to_vec()),
        ];
        let got: Vec<(SeqNo, i64)> = replies
            .into_iter()
            .map(|reply| header(reply, &mut stamp).unwrap())
            .map(|h| (h.seq, h.timestamp.unix_millis()))
            .collect();
        let want =
            [("1700000000005-0", 5), ("1700000000005-1", 5), ("1700000000009-0", 9), ("1700000000005-2", 5)]
                .map(|(id, ms)| (id.parse::<EntryId>().unwrap().to_seq().unwrap(), 1_700_000_000_000 + ms));
        assert_eq!(got, want);
        assert_eq!(header(Value::BulkString(b"1-0".to_vec()), &mut stamp).unwrap().shard, ShardId(2));
    }

    #[test]
    fn bad_replies_are_errors_naming_the_key() {
        for reply in
            [Value::BulkString(b"12x-0".to_vec()), Value::Int(7), Value::BulkString(b"1-1048576".to_vec())]
        {
            let err = header(reply.clone(), &mut None).unwrap_err().to_string();
            assert!(err.contains("weir:k:2") || err.contains("XADD"), "{reply:?}: {err}");
        }
    }
}
