//! A consumer's I/O side on Redis: hands positionings to the reader thread,
//! runs acknowledgements as blocking jobs on a connection of their own, and
//! feeds the core what the reader thread read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use weir_core::backend::{BlockingJob, ConsumerBackend};
use weir_core::{BackendError, Command, CommitId, ConsumerCore, Message, SeqNo, ShardId, StreamKey};

use crate::conn::Target;
use crate::error::failed;
use crate::id::EntryId;
use crate::plan::acks_for;
use crate::reader::Membership;
use crate::shared::{Event, Request, Shared};

/// One consumer's connections to a Redis server.
pub struct RedisConsumer {
    shared: Arc<Shared>,
    acker: Arc<Acker>,
    jobs: VecDeque<BlockingJob>,
    /// The messages being fed to the core; swapped with the reader's, so
    /// that their buffers go back and forth and none is allocated a read.
    fed: Vec<Message>,
}

/// Acknowledges entries on a connection no read waits on.
pub(crate) struct Acker {
    pub(crate) target: Target,
    pub(crate) membership: Option<Membership>,
    pub(crate) conn: Mutex<Option<redis::Connection>>,
}

impl RedisConsumer {
    pub(crate) fn new(shared: Arc<Shared>, acker: Acker) -> Self {
        Self { shared, acker: Arc::new(acker), jobs: VecDeque::new(), fed: Vec::new() }
    }

    /// The group this consumer reads in and its member name, if any.
    pub fn group(&self) -> Option<(&str, &str)> {
        self.acker.membership.as_ref().map(|m| (m.group.as_str(), m.consumer.as_str()))
    }
}

impl Acker {
    /// XACKs every delivered entry before each shard's resume point.
    fn commit(&self, shared: &Shared, id: CommitId, offsets: Vec<(StreamKey, ShardId, SeqNo)>) {
        let Some(member) = &self.membership else {
            shared.report(Event::Committed(id, Ok(())));
            return;
        };
        let batches: Vec<(String, Vec<EntryId>)> = {
            let mut state = shared.lock();
            offsets
                .into_iter()
                .filter_map(|(key, shard, resume)| {
                    let redis_key = state.keys.get(&(key, shard))?.clone();
                    let ids = acks_for(state.unacked.get_mut(&redis_key)?, resume);
                    Some((redis_key, ids)).filter(|(_, ids)| !ids.is_empty())
                })
                .collect()
        };
        let result = self.ack(&member.group, &batches);
        if result.is_err() {
            // Not acknowledged: a later commit takes them again.
            let mut state = shared.lock();
            for (key, ids) in batches {
                state.unacked.entry(key).or_default().extend(ids);
            }
        }
        shared.report(Event::Committed(id, result));
    }

    fn ack(&self, group: &str, batches: &[(String, Vec<EntryId>)]) -> Result<(), BackendError> {
        if batches.is_empty() {
            return Ok(());
        }
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(self.target.connect(std::time::Duration::ZERO)?);
        }
        let Some(conn) = slot.as_mut() else { return Ok(()) };
        let mut pipe = redis::pipe();
        for (key, ids) in batches {
            let command = pipe.cmd("XACK").arg(key).arg(group);
            for id in ids {
                command.arg(id.to_string());
            }
        }
        pipe.query::<Vec<redis::Value>>(conn).map(drop).map_err(|err| {
            // A broken connection is made anew by the next commit.
            *slot = None;
            failed("acknowledging entries (XACK)", &err)
        })
    }
}

impl ConsumerBackend for RedisConsumer {
    fn execute(&mut self, command: Command, _core: &mut ConsumerCore) {
        match command {
            Command::Position { epoch, shards, target } => {
                let mut state = self.shared.lock();
                // Read under the old position: stale.
                state.messages.clear();
                state.paused = false;
                state.request = Some(Request { epoch, shards, target });
                drop(state);
                self.shared.signal();
            }
            Command::Commit { id, offsets } => {
                let (acker, shared) = (self.acker.clone(), self.shared.clone());
                self.jobs.push_back(Box::new(move || acker.commit(&shared, id, offsets)));
            }
            Command::Pause => self.shared.lock().paused = true,
            Command::Resume => {
                self.shared.lock().paused = false;
                self.shared.signal();
            }
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        let events = {
            let mut state = self.shared.lock();
            state.waker = Some(cx.waker().clone());
            // `fed` is empty: the reader gets its buffer back.
            std::mem::swap(&mut state.messages, &mut self.fed);
            std::mem::take(&mut state.events)
        };
        let fed = !events.is_empty() || !self.fed.is_empty();
        for event in events {
            match event {
                Event::Assigned(shards) => core.handle_assignment(shards),
                Event::Positioned(epoch, result) => core.handle_positioned(epoch, result),
                Event::Committed(id, result) => core.handle_committed(id, result),
                Event::Fatal(err) => core.handle_end(Some(err)),
            }
        }
        if !self.fed.is_empty() {
            core.handle_messages(self.fed.drain(..));
            // Room freed: a reader waiting for it reads on.
            self.shared.signal();
        }
        if fed || !self.jobs.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        self.jobs.pop_front()
    }
}

impl Drop for RedisConsumer {
    fn drop(&mut self) {
        // The reader thread ends after the read under way (at most `block.ms`)
        // and closes its connection; the acknowledging connection closes
        // with the last job holding it.
        self.shared.lock().stopped = true;
        self.shared.signal();
    }
}
