//! A random workload on one seed: producers, 1–4 consumers in random modes and
//! groups, random assign/rewind/seek/commit, crashes and restarts, and the
//! broker's seeded faults. Every step is traced; every delivery is checked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use weir::core::StreamShard;
use weir::sim::{Faults, OffsetReset, Rng, SimBroker, SimConfig, SimEvent};
use weir::{AnyStreamer, ConsumerGroup, ConsumerMode, ConsumerOptions, Runtime, ShardId, StreamKey};

mod ops;

use crate::check::{check, check_no_loss, Delivery, Model, Produced, Seen, Start};
use crate::slot::{settle, sim_of, try_next, Role, Slot};

/// What one run produced: its trace, the first broken invariant, and how
/// the commits the application asked for were answered.
pub struct Outcome {
    pub trace: String,
    pub failure: Option<String>,
    pub commits: Commits,
}

/// How the commits a run asked for were answered, as the application saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Commits {
    /// Acknowledged.
    pub ok: u64,
    /// Refused (each explained by a disturbance, or the run fails).
    pub refused: u64,
    /// Not answered while polled (the sim answers at once).
    pub pending: u64,
}

impl std::ops::AddAssign for Commits {
    fn add_assign(&mut self, other: Self) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.pending += other.pending;
    }
}

/// The broker a seed runs on: its faults are part of the seed.
pub fn config(seed: u64) -> SimConfig {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let on = |rng: &mut Rng, p: f64| if rng.chance(0.5) { p } else { 0.0 };
    let faults = Faults {
        delay: on(&mut rng, 0.2),
        max_delay: Duration::from_millis(300),
        kill: on(&mut rng, 0.02),
        restart: on(&mut rng, 0.02),
        redeliver: on(&mut rng, 0.3),
    };
    SimConfig {
        seed,
        faults,
        session_timeout: Duration::from_secs(3),
        offset_reset: OffsetReset::Earliest,
        ..SimConfig::default()
    }
}

struct Scenario<R: Runtime> {
    rng: Rng,
    broker: SimBroker,
    streamer: weir::Streamer<R>,
    producer: weir::Producer<R>,
    streams: Vec<(StreamKey, u32)>,
    slots: Vec<Slot<R>>,
    model: Model,
    trace: String,
    origin: Instant,
    produced: u64,
    /// Per group, how many times its membership or plan changed (members
    /// joining, leaving, dying, rebalances, redeliveries), plus every broker
    /// restart: what can make a commit fail. A commit refused with none of
    /// these since its message was delivered is a broken commit.
    disturbances: BTreeMap<ConsumerGroup, u64>,
    restarts: u64,
    /// When (virtual ms) each group, or the broker, was last disturbed: a
    /// disturbance at the very instant of a delivery may reach the consumer
    /// just after it.
    disturbed_at: BTreeMap<Option<ConsumerGroup>, u128>,
    /// How the commits were answered.
    commits: Commits,
}

/// Runs seed `seed` on `broker` (made from [`config`]) with consumers driven by runtime `R`.
pub fn run<R: Runtime>(seed: u64, broker: SimBroker) -> Outcome {
    let mut scenario = Scenario::<R>::new(seed, broker);
    let failure = scenario.play().err();
    if let Some(failure) = &failure {
        let _ = writeln!(scenario.trace, "FAIL {failure}");
    }
    Outcome { trace: scenario.trace, failure, commits: scenario.commits }
}

fn key(name: &str) -> StreamKey {
    StreamKey::new(name).expect("valid key")
}

impl<R: Runtime> Scenario<R> {
    fn new(seed: u64, broker: SimBroker) -> Self {
        broker.with(|b| b.record_events(true));
        let streamer = weir::Streamer::<R>::new(AnyStreamer::Sim(broker.clone()));
        let producer = streamer.create_producer(Default::default()).expect("producer");
        let mut rng = Rng::new(seed);
        let streams: Vec<(StreamKey, u32)> =
            (0..1 + rng.below(2)).map(|i| (key(&format!("s{i}")), 1 + rng.below(3) as u32)).collect();
        let mut model = Model::default();
        for (stream, shards) in &streams {
            broker.with(|b| b.create_stream(stream, *shards));
            for shard in 0..*shards {
                model.log.insert((stream.clone(), ShardId(shard)), Vec::new());
            }
        }
        let origin = broker.now();
        let mut scenario = Self {
            rng,
            broker,
            streamer,
            producer,
            streams,
            slots: Vec::new(),
            model,
            trace: String::new(),
            origin,
            produced: 0,
            disturbances: BTreeMap::new(),
            restarts: 0,
            disturbed_at: BTreeMap::new(),
            commits: Commits::default(),
        };
        let count = 1 + scenario.rng.below(4) as usize;
        for i in 0..count {
            let slot = scenario.make_slot(i);
            scenario.slots.push(slot);
        }
        scenario
    }

    fn make_slot(&mut self, i: usize) -> Slot<R> {
        let all: Vec<StreamKey> = self.streams.iter().map(|(k, _)| k.clone()).collect();
        let some: Vec<StreamKey> = {
            let picked: Vec<StreamKey> = all.iter().filter(|_| self.rng.chance(0.6)).cloned().collect();
            if picked.is_empty() {
                vec![all[0].clone()]
            } else {
                picked
            }
        };
        let group = |name: String| ConsumerGroup::new(name).expect("valid group");
        let (role, mut options, streams) = match self.rng.below(4) {
            0 | 1 => {
                let mut options = ConsumerOptions::new(ConsumerMode::LoadBalanced);
                options.set_group(group("lb".into()));
                (Role::Balanced, options, all)
            }
            2 => {
                let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
                options.set_group(group(format!("r{i}")));
                (Role::Steady, options, some)
            }
            _ if self.rng.chance(0.5) => (Role::Explorer, ConsumerOptions::new(ConsumerMode::RealTime), some),
            _ => {
                let mut options = ConsumerOptions::new(ConsumerMode::Resumable);
                options.set_group(group(format!("x{i}")));
                (Role::Explorer, options, some)
            }
        };
        options.set_auto_commit(None);
        options.set_buffer(2 + self.rng.below(7) as usize);
        let _ = writeln!(self.trace, "slot c{i} {role:?} {:?} {:?}", options.mode(), streams);
        Slot {
            name: format!("c{i}"),
            role,
            options,
            streams,
            consumer: None,
            incarnation: 0,
            seen: Seen::default(),
            last_header: BTreeMap::new(),
            delivered_under: BTreeMap::new(),
            seen_assignment: None,
            assignment_changes: 0,
        }
    }

    fn ms(&self) -> u128 {
        self.broker.now().saturating_duration_since(self.origin).as_millis()
    }

    fn note(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.trace, "{} {line}", self.ms());
    }

    fn events(&mut self) {
        let ms = self.ms();
        for event in self.broker.with(|b| b.take_events()) {
            match &event {
                SimEvent::Joined { group, .. }
                | SimEvent::Left { group, .. }
                | SimEvent::Died { group, .. } => {
                    *self.disturbances.entry(group.clone()).or_default() += 1;
                    self.disturbed_at.insert(Some(group.clone()), ms);
                }
                // The broker's facts that the checker needs: a rebalance or
                // redelivery may restart a group member's runs at the resume
                // point without the assignment it reports changing.
                SimEvent::Rebalanced { group, .. } | SimEvent::Redeliver { group } => {
                    *self.disturbances.entry(group.clone()).or_default() += 1;
                    self.disturbed_at.insert(Some(group.clone()), ms);
                    for slot in self.slots.iter_mut().filter(|s| s.options.group() == Some(group)) {
                        slot.seen.disturbed(slot.seen_assignment.as_ref());
                    }
                }
                SimEvent::Restarted => {
                    self.restarts += 1;
                    self.disturbed_at.insert(None, ms);
                    for slot in self.slots.iter_mut().filter(|s| s.options.group().is_some()) {
                        slot.seen.disturbed(slot.seen_assignment.as_ref());
                    }
                }
                _ => {}
            }
            self.note(format_args!("! {event}"));
        }
        for slot in &mut self.slots {
            slot.observe();
        }
    }

    /// How many disturbances slot `i`'s group has seen so far (see
    /// `disturbances`), with the changes of assignment its consumer reported.
    fn disturbance(&mut self, i: usize) -> u64 {
        let slot = &mut self.slots[i];
        slot.observe();
        let group = slot.options.group().map_or(0, |g| self.disturbances.get(g).copied().unwrap_or(0));
        group + self.restarts + slot.assignment_changes
    }

    fn play(&mut self) -> Result<(), String> {
        for i in 0..self.slots.len() {
            self.start(i);
        }
        let steps = 40 + self.rng.below(60);
        for _ in 0..steps {
            let i = self.rng.below(self.slots.len() as u64) as usize;
            match self.rng.below(100) {
                0..=24 => self.produce(),
                25..=39 => {
                    let by = Duration::from_millis(self.rng.below(1_500));
                    self.broker.advance(by);
                    self.note(format_args!("advance {}ms", by.as_millis()));
                }
                40..=74 => {
                    let n = 1 + self.rng.below(6) as usize;
                    self.consume(i, n)?;
                }
                75..=84 => self.commit(i)?,
                85..=93 => self.explore(i)?,
                _ => self.churn(i),
            }
            self.events();
            self.check_owners()?;
        }
        self.drain()?;
        for slot in &self.slots {
            if slot.at_least_once() {
                let group = slot.options.group().expect("a committing mode has a group");
                check_no_loss(&self.model, group, &slot.streams)?;
            }
        }
        let _ = writeln!(
            self.trace,
            "ok produced={} commits ok={} refused={} pending={}",
            self.produced, self.commits.ok, self.commits.refused, self.commits.pending
        );
        Ok(())
    }

    /// One owner per shard per group: the live members' assignments, as
    /// their cores see them, never overlap (a fenced member is not live).
    fn check_owners(&self) -> Result<(), String> {
        let mut owners: BTreeMap<(ConsumerGroup, StreamShard), String> = BTreeMap::new();
        for slot in &self.slots {
            let Some(consumer) = &slot.consumer else { continue };
            let Some(group) = slot.options.group() else { continue };
            // Fenced: declared dead by the broker (a fact only it knows), no
            // longer a member although its consumer does not know yet.
            if sim_of(consumer).is_fenced() {
                continue;
            }
            for shard in consumer.core().assignment().into_iter().flatten() {
                if let Some(other) = owners.insert((group.clone(), shard.clone()), slot.label()) {
                    return Err(format!(
                        "{} and {other} both consume {}/{} in group {}",
                        slot.label(),
                        shard.0,
                        shard.1 .0,
                        group.name()
                    ));
                }
            }
        }
        Ok(())
    }

    fn produce(&mut self) {
        let (stream, _) = self.streams[self.rng.below(self.streams.len() as u64) as usize].clone();
        for _ in 0..1 + self.rng.below(3) {
            let payload = format!("p{}", self.produced);
            self.produced += 1;
            let receipt = self.producer.send_to(&stream, payload.clone()).expect("send");
            let header = settle(receipt).expect("the sim stores at once").expect("stored");
            let log = self.model.log.entry((stream.clone(), header.shard)).or_default();
            assert_eq!(header.seq.0, log.len() as u64, "seqs are dense per shard");
            log.push(Produced { timestamp: header.timestamp, payload: payload.clone() });
            self.note(format_args!("send {}/{}#{} {payload}", stream, header.shard.0, header.seq.0));
        }
    }

    fn start(&mut self, i: usize) {
        let lens = self.model.lens();
        let slot = &mut self.slots[i];
        slot.incarnation += 1;
        slot.seen = Seen::default();
        slot.last_header.clear();
        slot.delivered_under.clear();
        slot.seen_assignment = None;
        slot.assignment_changes = 0;
        if slot.options.mode() == ConsumerMode::RealTime {
            // A consumer without a group starts at the end of every shard.
            slot.seen.start = lens
                .into_iter()
                .filter(|(shard, _)| slot.streams.contains(&shard.0))
                .map(|(shard, len)| (shard, Start::At(len, "start at the end")))
                .collect();
        }
        slot.consumer =
            Some(self.streamer.create_consumer(&slot.streams, slot.options.clone()).expect("consumer"));
        let label = slot.label();
        self.note(format_args!("{label} start"));
    }

    fn consume(&mut self, i: usize, n: usize) -> Result<(), String> {
        let mut got = 0;
        for _ in 0..n {
            let Some(consumer) = self.slots[i].consumer.as_mut() else { return Ok(()) };
            let message = match try_next(consumer) {
                None => break,
                Some(Ok(message)) => message,
                Some(Err(err)) => return Err(format!("{} next failed: {err}", self.slots[i].label())),
            };
            got += 1;
            self.deliver(i, &message)?;
            if self.slots[i].at_least_once() && self.rng.chance(0.3) {
                self.commit_header(i, &message.header)?;
            }
        }
        if got == 0 && n > 0 {
            let label = self.slots[i].label();
            self.note(format_args!("{label} idle"));
        }
        Ok(())
    }

    fn deliver(&mut self, i: usize, message: &weir::Message) -> Result<(), String> {
        let shard: StreamShard = (message.stream_key().clone(), message.shard());
        // What the broker and the consumer reported up to this message.
        self.events();
        let slot = &mut self.slots[i];
        let consumer = slot.consumer.as_ref().expect("delivering consumer");
        let group = slot.options.group().cloned();
        let delivery = Delivery {
            message,
            group: group.as_ref(),
            assignment: slot.seen_assignment.as_ref(),
            fenced: sim_of(consumer).is_fenced(),
        };
        let checked = check(&self.model, &mut slot.seen, &delivery);
        slot.last_header.insert(shard.clone(), message.header.clone());
        let under = (self.disturbance(i), self.ms());
        let slot = &mut self.slots[i];
        slot.delivered_under.insert(shard.clone(), under);
        if slot.at_least_once() {
            if let Some(group) = &group {
                self.model
                    .delivered
                    .entry(group.clone())
                    .or_default()
                    .insert((shard.clone(), message.seq().0));
            }
        }
        let label = slot.label();
        self.note(format_args!("{label} recv {}/{}#{}", shard.0, shard.1 .0, message.seq().0));
        checked.map_err(|err| format!("{label}: {err}"))
    }
}
