//! One consumer position in a scenario: its role, its current incarnation,
//! and the operations the workload performs on it, each polled to completion
//! without waiting (the sim answers at once, or the operation is left pending).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use weir::core::StreamShard;
use weir::sim::SimConsumer;
use weir::{AnyConsumer, ConsumerError, ConsumerOptions, Message, MessageHeader, Runtime, StreamKey};

use crate::check::Seen;

/// What a consumer does in the workload, which decides what can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// LoadBalanced in the shared group `lb`: consumes and commits (at-least-once checked).
    Balanced,
    /// Resumable in a group of its own: consumes and commits (at-least-once checked).
    Steady,
    /// RealTime or Resumable: assigns, rewinds and seeks at random.
    Explorer,
}

/// A consumer slot: its configuration survives restarts, its consumer does not.
pub struct Slot<R: Runtime> {
    pub name: String,
    pub role: Role,
    pub options: ConsumerOptions,
    pub streams: Vec<StreamKey>,
    pub consumer: Option<weir::Consumer<R>>,
    pub incarnation: u32,
    pub seen: Seen,
    /// The last message handed out per shard, to commit later.
    pub last_header: BTreeMap<StreamShard, MessageHeader>,
    /// Per shard, the group's disturbance count and the virtual time (ms)
    /// when its last message was handed out: a commit of it may fail only if
    /// the count moved since, or a disturbance came at that very instant.
    pub delivered_under: BTreeMap<StreamShard, (u64, u128)>,
    /// The assignment the consumer last reported to the workload, and how
    /// many times the workload saw it change (this incarnation).
    pub seen_assignment: Option<BTreeSet<StreamShard>>,
    pub assignment_changes: u64,
}

/// How many times an operation is polled before it counts as pending.
const POLLS: usize = 8;

/// Polls a future a few times with a waker that does nothing.
pub fn settle<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    (0..POLLS).find_map(|_| match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    })
}

/// The next message if one is ready now; dropping the pending future loses nothing.
pub fn try_next<R: Runtime>(consumer: &mut weir::Consumer<R>) -> Option<Result<Message, ConsumerError>> {
    let mut next = consumer.next();
    match Pin::new(&mut next).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// The sim side of a consumer.
pub fn sim_of<R: Runtime>(consumer: &weir::Consumer<R>) -> &SimConsumer {
    match consumer.backend() {
        AnyConsumer::Sim(sim) => sim,
        #[allow(unreachable_patterns)]
        _ => unreachable!("scenarios run on sim"),
    }
}

impl<R: Runtime> Slot<R> {
    /// The incarnation's label in the trace.
    pub fn label(&self) -> String {
        format!("{}.{}", self.name, self.incarnation)
    }

    /// Notes a change of the consumer's assignment, as its core reports it
    /// to the application: a newly assigned shard of a group consumer starts
    /// a run at the resume point.
    pub fn observe(&mut self) {
        let now = self.consumer.as_ref().and_then(|c| c.core().assignment().cloned());
        if now != self.seen_assignment {
            self.assignment_changes += 1;
            if self.options.group().is_some() {
                self.seen.reassigned(self.seen_assignment.as_ref(), now.as_ref());
            }
            self.seen_assignment = now;
        }
    }

    /// Takes the consumer's assignment as known without a new run: after the
    /// application's own rewind or seek, which set the runs itself.
    pub fn resync(&mut self) {
        let now = self.consumer.as_ref().and_then(|c| c.core().assignment().cloned());
        if now != self.seen_assignment {
            self.assignment_changes += 1;
            self.seen_assignment = now;
        }
    }

    /// Whether the slot's group commits (and is checked for loss).
    pub fn at_least_once(&self) -> bool {
        self.role != Role::Explorer
    }
}
