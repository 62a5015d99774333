//! A virtual-time driver for `ConsumerCore`: a model broker that executes the
//! core's commands the way a backend would, a fixed start instant, and a
//! readable transcript. The driver also checks, on every delivery, the
//! invariants any backend may rely on (see `on_delivered`).
#![allow(dead_code)] // each test crate uses a different part

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use weir_core::{
    BackendError, BackendErrorKind, Capabilities, Command, CommitId, ConsumerCore, ConsumerMode,
    ConsumerOptions, Epoch, Message, MessageHeader, SeqNo, ShardId, StreamKey, StreamShard, Target,
};

mod broker;
pub mod cases;
mod golden;
pub mod join;
mod ops;

pub use broker::*;
#[allow(unused_imports)] // only the transcript suites compare with golden files
pub use golden::golden_text;
use ops::outcome;

/// Steps one `settle`, `advance` or `deliver_all` may take before it counts as livelock.
pub const MAX_STEPS: usize = 10_000;

/// The suites' only clock read: the fixed origin every `now` is an offset of.
#[allow(clippy::disallowed_methods)]
pub fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

enum Answer {
    Position { epoch: Epoch, shards: Vec<StreamShard>, target: Target, fail: bool },
    Commit { id: CommitId, offsets: Vec<(StreamKey, ShardId, SeqNo)>, fail: bool },
}

/// One consumer core, its model backend, and the application's side.
pub struct World {
    pub broker: Broker,
    pub core: ConsumerCore,
    pub now: Instant,
    pub knobs: Knobs,
    /// The transcript so far.
    pub log: String,
    /// Every delivery: the epoch it was fed under, and its header.
    pub history: Vec<(u64, MessageHeader)>,
    /// Shards the group protocol gives this consumer (all of them, or `rebalance`'s).
    group: BTreeSet<StreamShard>,
    feeding: BTreeMap<StreamShard, u64>,
    cursor: usize,
    feed_epoch: u64,
    paused: bool,
    answers: Vec<(Instant, Answer)>,
    awaiting_epoch: Option<Epoch>,
    awaiting_commits: Vec<CommitId>,
    /// A mirror of the core's buffer, each message tagged with its feed epoch.
    shadow: VecDeque<(Message, u64)>,
    starts: BTreeMap<(u64, StreamShard), u64>,
    last: BTreeMap<(u64, StreamShard), u64>,
    /// Per seek epoch and shard, the first seq at or after the seek's timestamp.
    seek_points: BTreeMap<(u64, StreamShard), u64>,
    steps: usize,
}

impl World {
    /// A consumer of `streams` at time zero; the backend announces every shard of
    /// them, each from the group's committed offset (if the mode commits) or the end.
    pub fn new(
        caps: Capabilities,
        options: ConsumerOptions,
        streams: &[&str],
        broker: Broker,
        knobs: Knobs,
    ) -> Self {
        let keys: Vec<StreamKey> = streams.iter().map(|s| key(s)).collect();
        let core = ConsumerCore::new(caps, options, keys, start()).expect("the test's options are valid");
        let mut world = World {
            broker,
            core,
            now: start(),
            knobs,
            log: String::new(),
            history: Vec::new(),
            group: BTreeSet::new(),
            feeding: BTreeMap::new(),
            cursor: 0,
            feed_epoch: 0,
            paused: false,
            answers: Vec::new(),
            awaiting_epoch: None,
            awaiting_commits: Vec::new(),
            shadow: VecDeque::new(),
            starts: BTreeMap::new(),
            last: BTreeMap::new(),
            seek_points: BTreeMap::new(),
            steps: 0,
        };
        let caps = world.core.capabilities().backend;
        world.op(format!("new {:?} consumer of {streams:?} on {caps}", world.core.options().mode()));
        let all = world.broker.shards_of(world.core.streams());
        world.rebalance_to(all);
        world
    }

    /// The same broker, a new core (a process restart): resumes from committed offsets.
    pub fn restart(&mut self, options: ConsumerOptions) {
        let caps = *self.core.capabilities();
        let streams = self.core.streams().to_vec();
        self.core =
            ConsumerCore::new(caps, options, streams, self.now).expect("the test's options are valid");
        (self.feeding, self.paused, self.feed_epoch, self.cursor) = (BTreeMap::new(), false, 0, 0);
        self.answers.clear();
        (self.awaiting_epoch, self.awaiting_commits) = (None, Vec::new());
        (self.shadow, self.starts, self.last, self.seek_points) = Default::default();
        self.history.clear();
        self.op(format!("restart: new {:?} consumer", self.core.options().mode()));
        let all = self.broker.shards_of(self.core.streams());
        self.rebalance_to(all);
    }

    fn stamp(&self) -> String {
        format!("[{:>6}ms]", (self.now - start()).as_millis())
    }

    /// Logs an operation of the application or the test.
    pub fn op(&mut self, text: impl std::fmt::Display) {
        let stamp = self.stamp();
        writeln!(self.log, "{stamp} {text}").expect("writing to a String");
    }

    pub(super) fn note(&mut self, text: impl std::fmt::Display) {
        let stamp = self.stamp();
        writeln!(self.log, "{stamp}   {text}").expect("writing to a String");
    }

    fn step(&mut self) {
        self.steps += 1;
        assert!(self.steps <= MAX_STEPS, "livelock: no quiescence after {MAX_STEPS} steps\n{}", self.log);
    }

    // ---- the driver ----

    /// Drives until nothing is left to do at this instant.
    pub fn settle(&mut self) {
        self.steps = 0;
        self.drive();
    }

    fn drive(&mut self) {
        self.after_input();
        loop {
            self.step();
            if self.answer_due() || self.feed_batch() {
                self.after_input();
            } else {
                break;
            }
        }
    }

    fn after_input(&mut self) {
        while let Some(command) = self.core.poll_command() {
            self.execute(command);
        }
        if let Some(epoch) = self.awaiting_epoch {
            if let Some(result) = self.core.poll_positioned(epoch) {
                self.awaiting_epoch = None;
                self.note(format!("positioning of epoch {} -> {}", epoch.0, outcome(&result)));
            }
        }
        for id in std::mem::take(&mut self.awaiting_commits) {
            match self.core.poll_committed(id) {
                Some(result) => self.note(format!("commit #{} -> {}", id.0, outcome(&result))),
                None => self.awaiting_commits.push(id),
            }
        }
    }

    fn execute(&mut self, command: Command) {
        match command {
            Command::Position { epoch, shards, target } => {
                let list: Vec<String> = shards.iter().map(name).collect();
                self.note(format!(
                    "cmd Position epoch {} [{}] {}",
                    epoch.0,
                    list.join(", "),
                    target_text(target)
                ));
                let fail = std::mem::take(&mut self.knobs.fail_position);
                // Commands run in order: a positioning cannot take effect before an earlier one.
                let earlier = self.answers.iter().filter(|(_, a)| matches!(a, Answer::Position { .. }));
                let due = earlier.map(|(at, _)| *at).fold(self.now + self.knobs.position_delay, Instant::max);
                self.answers.push((due, Answer::Position { epoch, shards, target, fail }));
            }
            Command::Commit { id, offsets } => {
                let list: Vec<String> =
                    offsets.iter().map(|(k, s, seq)| format!("{k}/{s} at {seq}")).collect();
                self.note(format!("cmd Commit #{} resume [{}]", id.0, list.join(", ")));
                let fail = std::mem::take(&mut self.knobs.fail_commit);
                self.answers.push((self.now, Answer::Commit { id, offsets, fail }));
            }
            Command::Pause => {
                self.note(format!("cmd Pause (buffered {})", self.core.buffered()));
                self.paused = true;
            }
            Command::Resume => {
                self.note(format!("cmd Resume (buffered {})", self.core.buffered()));
                self.paused = false;
            }
        }
    }

    fn answer_due(&mut self) -> bool {
        let due = self
            .answers
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= self.now)
            .min_by_key(|(_, (at, _))| *at);
        let Some(at) = due.map(|(i, _)| i) else { return false };
        let fault = |what: &str| {
            BackendError::new("model", BackendErrorKind::Broker, format!("{what} refused (test fault)"))
        };
        match self.answers.remove(at).1 {
            Answer::Position { epoch, shards, target, fail } => {
                // A positioning also restarts fetching (see `Command::Position`).
                (self.paused, self.feed_epoch, self.feeding) = (false, epoch.0, BTreeMap::new());
                let result = if fail {
                    self.note(format!("positioned epoch {}: failed, consuming nothing", epoch.0));
                    Err(fault("positioning"))
                } else {
                    let lb = self.core.options().mode() == ConsumerMode::LoadBalanced;
                    for shard in shards.into_iter().filter(|s| !lb || self.group.contains(s)) {
                        let at = self.broker.resolve(&shard, target);
                        self.starts.insert((epoch.0, shard.clone()), at);
                        if let Target::Time(_) = target {
                            self.seek_points.insert((epoch.0, shard.clone()), at);
                        }
                        self.feeding.insert(shard, at);
                    }
                    let list: Vec<String> =
                        self.feeding.iter().map(|(s, at)| format!("{} from {at}", name(s))).collect();
                    self.note(format!("positioned epoch {}: [{}]", epoch.0, list.join(", ")));
                    Ok(())
                };
                self.core.handle_positioned(epoch, result);
            }
            Answer::Commit { id, offsets, fail } => {
                let result = if fail {
                    self.note(format!("committed #{}: failed", id.0));
                    Err(fault("commit"))
                } else {
                    for (k, s, seq) in offsets {
                        self.broker.offsets.insert((k, s), seq);
                    }
                    self.note(format!("committed #{}: stored", id.0));
                    Ok(())
                };
                self.core.handle_committed(id, result);
            }
        }
        true
    }

    /// Feeds up to one batch of the next shard (round-robin) that has messages.
    fn feed_batch(&mut self) -> bool {
        if self.paused || self.feeding.is_empty() {
            return false;
        }
        let shards: Vec<(StreamShard, u64)> = self.feeding.iter().map(|(s, at)| (s.clone(), *at)).collect();
        let Some(turn) = (0..shards.len())
            .map(|i| (self.cursor + i) % shards.len())
            .find(|i| shards[*i].1 < self.broker.len(&shards[*i].0))
        else {
            return false;
        };
        self.cursor = turn + 1;
        let (shard, from) = shards[turn].clone();
        let to = (from + self.knobs.batch as u64).min(self.broker.len(&shard));
        let (mut accepted, limit) = (0, self.core.options().buffer() + self.knobs.batch);
        for seq in from..to {
            let message = self.broker.message(&shard, seq).expect("seq below len");
            let before = self.core.buffered();
            self.core.handle_message(message.clone());
            if self.core.buffered() > before {
                self.shadow.push_back((message, self.feed_epoch));
                accepted += 1;
            }
            assert!(self.core.buffered() <= limit, "buffer over {limit}\n{}", self.log);
        }
        self.feeding.insert(shard.clone(), to);
        let fate =
            if accepted == 0 { "dropped".into() } else { format!("buffered {}", self.core.buffered()) };
        self.note(format!("feed {} [{from}..{to}) -> {fate}", name(&shard)));
        true
    }

    /// The checks every delivery must pass, whatever the test.
    pub(super) fn on_delivered(&mut self, message: &Message) {
        let h = &message.header;
        let (mirrored, tag) = self.shadow.pop_front().expect("the core delivered a message it was not fed");
        assert_eq!(&mirrored, message, "delivery out of feed order\n{}", self.log);
        let epoch = self.core.epoch().0;
        assert_eq!(tag, epoch, "message fed under epoch {tag} delivered in epoch {epoch}\n{}", self.log);
        let shard = (h.stream_key.clone(), h.shard);
        let expected = match self.last.get(&(tag, shard.clone())) {
            Some(last) => last + 1,
            None => *self.starts.get(&(tag, shard.clone())).expect("delivered shard has a start"),
        };
        assert_eq!(
            h.seq.0,
            expected,
            "{} skipped or repeated a seq in epoch {tag}\n{}",
            name(&shard),
            self.log
        );
        if let Some(point) = self.seek_points.get(&(tag, shard.clone())) {
            assert!(h.seq.0 >= *point, "seq {} is before the seek point {point}\n{}", h.seq, self.log);
        }
        self.last.insert((tag, shard.clone()), h.seq.0);
        self.history.push((tag, h.clone()));
        let (t, payload) =
            (h.timestamp.unix_millis() - BASE_MS, String::from_utf8_lossy(message.payload.as_bytes()));
        self.note(format!("msg {}/{}/{} t+{t}ms {payload:?}", h.stream_key, h.shard, h.seq));
    }

    /// Whether the backend is paused by the core (as executed).
    pub fn backend_paused(&self) -> bool {
        self.paused
    }

    /// Shards whose messages the backend has not all fed.
    pub fn unfed(&self) -> Vec<String> {
        let behind = self.feeding.iter().filter(|(s, at)| **at < self.broker.len(s));
        behind.map(|(s, at)| format!("{} at {at} of {}", name(s), self.broker.len(s))).collect()
    }
}
