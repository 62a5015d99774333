//! A deterministic single-threaded driver: no runtime, no wall clock. It owns
//! tasks (application code written against weir's `Consumer`/`Producer`, or
//! anything else), polls the woken ones in spawn order, and when none is
//! woken moves virtual time to the next deadline.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use crate::SimBroker;

/// The default bound on steps in [`Simulation::run`] and [`Simulation::block_on`].
const DEFAULT_STEP_LIMIT: u64 = 1_000_000;

/// Names a task spawned on a [`Simulation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub usize);

/// Why a simulation stopped short.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// Tasks wait for something nothing will ever do (no task woken, no deadline).
    #[error("stalled after {elapsed:?} of virtual time: tasks {waiting:?} wait and nothing will wake them")]
    Stalled {
        /// Virtual time since the simulation was made.
        elapsed: Duration,
        /// The waiting tasks' names.
        waiting: Vec<String>,
    },
    /// The step bound was hit: a livelock, or a workload longer than the bound.
    #[error("no end after {steps} steps ({elapsed:?} of virtual time); tasks {running:?} still run")]
    StepLimit {
        /// Steps taken.
        steps: u64,
        /// Virtual time since the simulation was made.
        elapsed: Duration,
        /// The unfinished tasks' names.
        running: Vec<String>,
    },
}

/// What one [`Simulation::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Polled this many woken tasks.
    Polled(usize),
    /// No task was woken: moved virtual time to this deadline.
    Advanced(Instant),
    /// No task woken and no deadline: nothing will happen any more.
    Idle,
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Task {
    name: String,
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// Steps tasks on one [`SimBroker`] deterministically: same tasks, same
/// seed, same order of every poll, delivery and fault.
pub struct Simulation {
    broker: SimBroker,
    tasks: Vec<Task>,
    origin: Instant,
    steps: u64,
    step_limit: u64,
}

impl Simulation {
    /// A simulation on `broker`, with no tasks yet.
    pub fn new(broker: SimBroker) -> Self {
        let origin = broker.now();
        Self { broker, tasks: Vec::new(), origin, steps: 0, step_limit: DEFAULT_STEP_LIMIT }
    }

    /// The broker.
    pub fn broker(&self) -> &SimBroker {
        &self.broker
    }

    /// Virtual time since the simulation was made.
    pub fn elapsed(&self) -> Duration {
        self.broker.now().saturating_duration_since(self.origin)
    }

    /// Bounds the steps [`run`](Self::run) and [`block_on`](Self::block_on) may take.
    pub fn set_step_limit(&mut self, steps: u64) -> &mut Self {
        self.step_limit = steps;
        self
    }

    /// Adds a task; it is first polled on the next step.
    pub fn spawn(&mut self, name: impl Into<String>, future: impl Future<Output = ()> + 'static) -> TaskId {
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        self.tasks.push(Task { name: name.into(), future: Some(Box::pin(future)), flag, waker });
        TaskId(self.tasks.len() - 1)
    }

    /// Whether a task has finished.
    pub fn is_done(&self, id: TaskId) -> bool {
        self.tasks.get(id.0).is_none_or(|task| task.future.is_none())
    }

    /// Polls every woken task once, in spawn order; if none was woken, moves
    /// virtual time to the next deadline.
    pub fn step(&mut self) -> Step {
        self.steps += 1;
        let mut polled = 0;
        for task in &mut self.tasks {
            if task.future.is_none() || !task.flag.0.swap(false, Ordering::Relaxed) {
                continue;
            }
            polled += 1;
            let mut cx = Context::from_waker(&task.waker);
            if let Some(future) = &mut task.future {
                if future.as_mut().poll(&mut cx).is_ready() {
                    task.future = None;
                }
            }
        }
        if polled > 0 {
            return Step::Polled(polled);
        }
        match self.broker.next_deadline() {
            Some(at) => {
                self.broker.with(|broker| broker.advance_to(at));
                Step::Advanced(at)
            }
            None => Step::Idle,
        }
    }

    fn names(&self, pick: impl Fn(&Task) -> bool) -> Vec<String> {
        self.tasks.iter().filter(|task| task.future.is_some() && pick(task)).map(|t| t.name.clone()).collect()
    }

    fn stop(&self, idle: bool) -> SimulationError {
        if idle {
            SimulationError::Stalled { elapsed: self.elapsed(), waiting: self.names(|_| true) }
        } else {
            SimulationError::StepLimit {
                steps: self.steps,
                elapsed: self.elapsed(),
                running: self.names(|_| true),
            }
        }
    }

    /// Runs until every task has finished.
    pub fn run(&mut self) -> Result<(), SimulationError> {
        let limit = self.steps + self.step_limit;
        while self.tasks.iter().any(|task| task.future.is_some()) {
            if self.step() == Step::Idle {
                return Err(self.stop(true));
            }
            if self.steps >= limit {
                return Err(self.stop(false));
            }
        }
        Ok(())
    }

    /// Runs for `span` of virtual time (or until every task has finished):
    /// tasks still waiting at the end are not an error.
    pub fn run_for(&mut self, span: Duration) -> Result<(), SimulationError> {
        let until = self.broker.now() + span;
        let limit = self.steps + self.step_limit;
        while self.tasks.iter().any(|task| task.future.is_some()) {
            let woken = self.tasks.iter().any(|t| t.future.is_some() && t.flag.0.load(Ordering::Relaxed));
            if !woken && self.broker.next_deadline().is_none_or(|at| at > until) {
                break;
            }
            self.step();
            if self.steps >= limit {
                return Err(self.stop(false));
            }
        }
        self.broker.with(|broker| broker.advance_to(until));
        Ok(())
    }

    /// Spawns `future` and runs the simulation (its other tasks too) until it
    /// completes; returns its output.
    pub fn block_on<T: 'static>(
        &mut self,
        future: impl Future<Output = T> + 'static,
    ) -> Result<T, SimulationError> {
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        let id = self.spawn("block_on", async move {
            let value = future.await;
            *slot.borrow_mut() = Some(value);
        });
        let limit = self.steps + self.step_limit;
        while !self.is_done(id) {
            if self.step() == Step::Idle {
                return Err(self.stop(true));
            }
            if self.steps >= limit {
                return Err(self.stop(false));
            }
        }
        let value = out.borrow_mut().take();
        value.ok_or_else(|| self.stop(true))
    }
}
