//! What a consumer's reader thread, its blocking jobs and its driver share.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use weir_core::{BackendError, CommitId, Epoch, Message, StreamShard, Target};

use crate::id::EntryId;

/// Something to tell the core.
#[derive(Debug)]
pub(crate) enum Event {
    /// The shards read from now on.
    Assigned(Vec<StreamShard>),
    /// A positioning took effect, or failed.
    Positioned(Epoch, Result<(), BackendError>),
    /// A commit was acknowledged, or failed.
    Committed(CommitId, Result<(), BackendError>),
    /// The consumer cannot go on.
    Fatal(BackendError),
}

/// A positioning the reader thread has not applied yet.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) epoch: Epoch,
    pub(crate) shards: Vec<StreamShard>,
    pub(crate) target: Target,
}

/// The state behind the lock.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) messages: Vec<Message>,
    pub(crate) events: Vec<Event>,
    pub(crate) waker: Option<Waker>,
    pub(crate) request: Option<Request>,
    pub(crate) paused: bool,
    pub(crate) stopped: bool,
    /// The Redis key of each shard read, once the thread found them.
    pub(crate) keys: BTreeMap<StreamShard, String>,
    /// Group modes: per Redis key, the ids delivered and not acknowledged.
    pub(crate) unacked: BTreeMap<String, BTreeSet<EntryId>>,
}

/// The lock and the reader thread's wake-up signal.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    signal: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the reader thread if it waits (paused, or for room).
    pub(crate) fn signal(&self) {
        self.signal.notify_all();
    }

    /// Waits at most `limit` for a signal, with `state` locked.
    pub(crate) fn wait<'a>(&self, state: MutexGuard<'a, State>, limit: Duration) -> MutexGuard<'a, State> {
        self.signal.wait_timeout(state, limit).map_or_else(|e| e.into_inner().0, |(state, _)| state)
    }

    /// Records `event` and wakes the driver.
    pub(crate) fn report(&self, event: Event) {
        let waker = {
            let mut state = self.lock();
            state.events.push(event);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
