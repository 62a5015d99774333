//! One read position in a log and the consumers it serves: a consumer of its
//! own, or every member of a load-balanced group in this process, which get
//! its messages round-robin.
//!
//! All file I/O happens in blocking jobs ([`Feed::take_job`]) that the
//! consumers hand to their runtime: one read or positioning job at a time per
//! feed, plus commit jobs. A read job runs only while every member has room
//! in its inbox, which bounds what is read ahead of a slow consumer.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use weir_core::backend::BlockingJob;
use weir_core::group::RoundRobin;
use weir_core::{
    BackendError, BackendErrorKind, CommitId, Epoch, Message, SeqNo, SeqPos, StreamKey, StreamShard, Target,
    Timestamp,
};

use crate::appends::Appends;
use crate::decode::Item;
use crate::format::{HEADER_SIZE, INTERNAL_KEY};
use crate::reader::{io_error, LogReader, Probe, BACKEND};
use crate::sidecar;

/// Messages a member may hold before reading waits for it.
const INBOX_LIMIT: usize = 1024;
/// Items one read job decodes at most.
const BATCH: usize = 1024;
/// The longest a follower sleeps between looks at a quiet file.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// Names a consumer of a feed.
pub(crate) type MemberId = u64;

/// What a shard lets through.
#[derive(Clone, Copy, Debug)]
enum Gate {
    /// Messages stored at or after this offset.
    From(u64),
    /// From the first message with at least this seq on.
    Seq(SeqNo),
    /// From the first message not before this time on.
    Time(Timestamp),
}

impl Gate {
    fn of(target: Target, end: u64) -> Gate {
        match target {
            Target::Seq(SeqPos::Beginning) => Gate::From(HEADER_SIZE as u64),
            Target::Seq(SeqPos::End) => Gate::From(end),
            Target::Seq(SeqPos::At(seq)) => Gate::Seq(seq),
            Target::Time(at) => Gate::Time(at),
        }
    }

    /// Whether `message`, stored at `offset`, passes; opens a seq or time gate.
    fn pass(&mut self, offset: u64, message: &Message) -> bool {
        let open = match *self {
            Gate::From(from) => return offset >= from,
            Gate::Seq(seq) => message.header.seq >= seq,
            Gate::Time(at) => message.header.timestamp >= at,
        };
        if open {
            *self = Gate::From(0);
        }
        open
    }
}

/// An outcome for the member that asked.
pub(crate) enum Answer {
    Positioned(Epoch, Result<(), BackendError>),
    Committed(CommitId, Result<(), BackendError>),
}

struct Member {
    streams: Vec<StreamKey>,
    inbox: VecDeque<Message>,
    answers: VecDeque<Answer>,
    waker: Option<Waker>,
    paused: bool,
}

/// A repositioning the next job carries out.
enum Request {
    /// Where a new consumer starts: its commits, else the beginning (replay)
    /// or the end (follow).
    Start,
    /// A rewind or seek.
    Position { member: MemberId, epoch: Epoch, shards: Vec<StreamShard>, target: Target },
}

struct Commit {
    member: MemberId,
    id: CommitId,
    offsets: Vec<(StreamKey, weir_core::ShardId, SeqNo)>,
}

struct State {
    reader: Option<LogReader>,
    members: BTreeMap<MemberId, Member>,
    rotations: BTreeMap<StreamKey, RoundRobin<MemberId>>,
    gates: BTreeMap<StreamShard, Gate>,
    /// The gate of shards not in `gates` (`None`: they are not consumed).
    default_gate: Option<Gate>,
    request: Option<Request>,
    commits: VecDeque<Commit>,
    committed: BTreeMap<StreamShard, SeqNo>,
    reading: bool,
    committing: bool,
    /// Counts repositionings: what a job read under an older one is stale.
    generation: u64,
    end: Option<Option<BackendError>>,
    idle: Duration,
    next_member: MemberId,
}

/// A read position shared by its members.
pub(crate) struct Feed {
    path: PathBuf,
    follow: bool,
    /// The file's length when the feed was made: where "from now on" starts.
    created_len: u64,
    grouped: bool,
    sidecar: Option<PathBuf>,
    appends: Arc<Appends>,
    state: Mutex<State>,
}

/// What a member takes from its feed in one input round.
pub(crate) struct Taken {
    pub(crate) answers: Vec<Answer>,
    pub(crate) messages: VecDeque<Message>,
    pub(crate) end: Option<Option<BackendError>>,
}

impl Feed {
    /// A feed of `path`; `sidecar` keeps its commits, `grouped` makes its
    /// members share messages round-robin instead of each getting all.
    pub(crate) fn new(path: &Path, follow: bool, grouped: bool, sidecar: Option<PathBuf>) -> Arc<Feed> {
        // One stat, not a read: the boundary it falls on is found by the first job.
        let created_len = std::fs::metadata(path).map_or(0, |meta| meta.len());
        Arc::new(Feed {
            path: path.to_owned(),
            follow,
            created_len,
            grouped,
            sidecar,
            appends: Appends::of(path),
            state: Mutex::new(State {
                reader: None,
                members: BTreeMap::new(),
                rotations: BTreeMap::new(),
                gates: BTreeMap::new(),
                default_gate: None,
                request: Some(Request::Start),
                commits: VecDeque::new(),
                committed: BTreeMap::new(),
                reading: false,
                committing: false,
                generation: 0,
                end: None,
                idle: Duration::from_millis(1),
                next_member: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn join(&self, streams: Vec<StreamKey>) -> MemberId {
        let mut state = self.lock();
        let id = state.next_member;
        state.next_member += 1;
        for key in &streams {
            state.rotations.entry(key.clone()).or_default().join(id);
        }
        state.members.insert(
            id,
            Member { streams, inbox: VecDeque::new(), answers: VecDeque::new(), waker: None, paused: false },
        );
        id
    }

    /// Removes a member; what it had not taken goes to the others of its group.
    pub(crate) fn leave(&self, id: MemberId) {
        let mut state = self.lock();
        let Some(member) = state.members.remove(&id) else { return };
        for rotation in state.rotations.values_mut() {
            rotation.leave(&id);
        }
        for message in member.inbox {
            state.dispatch(message, self.grouped);
        }
        state.wake_all();
    }

    pub(crate) fn set_paused(&self, id: MemberId, paused: bool) {
        if let Some(member) = self.lock().members.get_mut(&id) {
            member.paused = paused;
        }
    }

    /// Asks for a rewind or seek; whatever was read before it is dropped.
    pub(crate) fn position(&self, member: MemberId, epoch: Epoch, shards: Vec<StreamShard>, target: Target) {
        let mut state = self.lock();
        state.generation += 1;
        state.end = None;
        for member in state.members.values_mut() {
            member.inbox.clear();
        }
        state.request = Some(Request::Position { member, epoch, shards, target });
    }

    pub(crate) fn commit(
        &self,
        member: MemberId,
        id: CommitId,
        offsets: Vec<(StreamKey, weir_core::ShardId, SeqNo)>,
    ) {
        self.lock().commits.push_back(Commit { member, id, offsets });
    }

    /// Hands over what arrived for `id`, registering `waker` for more.
    pub(crate) fn take(&self, id: MemberId, waker: &Waker) -> Taken {
        let mut state = self.lock();
        let end = state.end.clone();
        let Some(member) = state.members.get_mut(&id) else {
            return Taken { answers: Vec::new(), messages: VecDeque::new(), end };
        };
        member.waker = Some(waker.clone());
        let answers: Vec<Answer> = member.answers.drain(..).collect();
        // Handed over whole, not copied out: the member gets a new inbox.
        let room = member.inbox.len();
        let messages = std::mem::replace(&mut member.inbox, VecDeque::with_capacity(room));
        // Work is due but no job runs: a driver that runs jobs in place has
        // not seen it yet. Poll again rather than wait for a wake that no job
        // will send.
        if messages.is_empty() && answers.is_empty() && (state.commit_due() || state.read_due()) {
            waker.wake_by_ref();
        }
        Taken { answers, messages, end }
    }

    /// The next blocking job, if one is due.
    pub(crate) fn take_job(self: &Arc<Self>) -> Option<BlockingJob> {
        let mut state = self.lock();
        if state.commit_due() {
            state.committing = true;
            let feed = Arc::clone(self);
            return Some(Box::new(move || feed.run_commits()));
        }
        if !state.read_due() {
            return None;
        }
        state.reading = true;
        let feed = Arc::clone(self);
        Some(Box::new(move || feed.run_read()))
    }

    fn run_commits(&self) {
        let (batch, mut committed) = {
            let mut state = self.lock();
            (state.commits.drain(..).collect::<Vec<_>>(), state.committed.clone())
        };
        for commit in &batch {
            for (key, shard, seq) in &commit.offsets {
                // Members of a group commit the same shards: keep the furthest.
                let slot = committed.entry((key.clone(), *shard)).or_insert(*seq);
                *slot = (*slot).max(*seq);
            }
        }
        let result = match &self.sidecar {
            Some(path) => sidecar::store(path, &committed),
            None => {
                Err(BackendError::new(BACKEND, BackendErrorKind::Broker, "this consumer keeps no commits"))
            }
        };
        let mut state = self.lock();
        if result.is_ok() {
            state.committed = committed;
        }
        for commit in batch {
            if let Some(member) = state.members.get_mut(&commit.member) {
                member.answers.push_back(Answer::Committed(commit.id, result.clone()));
            }
        }
        state.committing = false;
        state.wake_all();
    }

    fn run_read(&self) {
        let (reader, request, generation, idle) = {
            let mut state = self.lock();
            (state.reader.take(), state.request.take(), state.generation, state.idle)
        };
        if reader.is_none() && self.follow && !self.has_header() {
            // Following a file its writer has not created yet: wait for it.
            self.appends.wait(self.appends.count(), idle);
            let mut state = self.lock();
            state.request = state.request.take().or(request);
            state.idle = (idle * 2).min(MAX_IDLE);
            state.reading = false;
            state.wake_all();
            return;
        }
        let mut reader = match reader {
            Some(reader) => Ok(reader),
            None => LogReader::open(&self.path),
        };
        let outcome = match (&mut reader, request) {
            (Err(err), request) => Outcome::Failed(err.clone(), request),
            (Ok(reader), Some(request)) => self.reposition(reader, request),
            (Ok(reader), None) => self.read(reader, idle),
        };
        let mut state = self.lock();
        state.reader = reader.ok();
        state.reading = false;
        match outcome {
            Outcome::Failed(err, request) => {
                if let Some(Request::Position { member, epoch, .. }) = request {
                    if let Some(member) = state.members.get_mut(&member) {
                        member.answers.push_back(Answer::Positioned(epoch, Err(err)));
                    }
                } else {
                    state.end = Some(Some(err));
                }
            }
            Outcome::Positioned { gates, default_gate, committed, answer } => {
                state.gates = gates;
                state.default_gate = default_gate;
                if let Some(committed) = committed {
                    state.committed = committed;
                }
                state.end = None;
                if let Some((member, epoch)) = answer {
                    if let Some(member) = state.members.get_mut(&member) {
                        member.answers.push_back(Answer::Positioned(epoch, Ok(())));
                    }
                }
            }
            Outcome::Read { items, end } => {
                // A rewind or seek asked meanwhile makes this batch stale.
                if state.generation == generation {
                    state.idle =
                        if items.is_empty() { (idle * 2).min(MAX_IDLE) } else { Duration::from_millis(1) };
                    for (offset, message) in items {
                        state.admit(offset, message, self.grouped);
                    }
                    if end.is_some() {
                        state.end = end;
                    }
                }
            }
        }
        state.wake_all();
    }

    fn has_header(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|meta| meta.len() >= HEADER_SIZE as u64)
    }

    /// Carries out a start or a rewind/seek: new gates, and the reader moved
    /// to the earliest offset any of them needs.
    fn reposition(&self, reader: &mut LogReader, request: Request) -> Outcome {
        let result = (|| {
            let here = reader.position();
            let end = reader.seek_end()?;
            reader.seek(here);
            type Positions = (
                BTreeMap<StreamShard, Gate>,
                Option<Gate>,
                Option<BTreeMap<StreamShard, SeqNo>>,
                Option<(MemberId, Epoch)>,
            );
            let (gates, default_gate, committed, answer): Positions = match &request {
                Request::Start => {
                    let committed = match &self.sidecar {
                        Some(path) => sidecar::load(path)?,
                        None => BTreeMap::new(),
                    };
                    let gates =
                        committed.iter().map(|(shard, seq)| (shard.clone(), Gate::Seq(*seq))).collect();
                    let start = if self.follow {
                        reader.seek_boundary(self.created_len)?
                    } else {
                        HEADER_SIZE as u64
                    };
                    (gates, Some(Gate::From(start)), Some(committed), None)
                }
                Request::Position { member, epoch, shards, target } => {
                    let gates = shards.iter().map(|shard| (shard.clone(), Gate::of(*target, end))).collect();
                    (gates, None, None, Some((*member, *epoch)))
                }
            };
            let mut start = end;
            if let Some(Gate::From(from)) = default_gate {
                start = start.min(from);
            }
            for ((key, shard), gate) in &gates {
                let from = match *gate {
                    Gate::From(from) => from,
                    Gate::Seq(seq) => reader.search(key, *shard, Probe::Seq(seq))?,
                    Gate::Time(at) => reader.search(key, *shard, Probe::Time(at))?,
                };
                start = start.min(from);
            }
            reader.seek(start);
            Ok(Outcome::Positioned { gates, default_gate, committed, answer })
        })();
        result.unwrap_or_else(|err| Outcome::Failed(err, Some(request)))
    }

    /// Reads a batch; at the end of the file, replay ends and follow waits a
    /// little for appends.
    fn read(&self, reader: &mut LogReader, idle: Duration) -> Outcome {
        let seen = self.appends.count();
        let mut items = Vec::new();
        while items.len() < BATCH {
            match reader.next_item() {
                Ok(Some(decoded)) => match decoded.item {
                    Item::Message(message) => items.push((decoded.offset, message)),
                    Item::EndOfStream(_) => return Outcome::Read { items, end: Some(None) },
                    Item::Beacon(_) => {}
                },
                Ok(None) if !items.is_empty() => break,
                Ok(None) if !self.follow => return Outcome::Read { items, end: Some(reader.torn()) },
                Ok(None) => {
                    if let Err(err) = still_there(reader) {
                        return Outcome::Read { items, end: Some(Some(err)) };
                    }
                    self.appends.wait(seen, idle);
                    break;
                }
                Err(err) => return Outcome::Read { items, end: Some(Some(err)) },
            }
        }
        Outcome::Read { items, end: None }
    }
}

enum Outcome {
    Failed(BackendError, Option<Request>),
    Positioned {
        gates: BTreeMap<StreamShard, Gate>,
        default_gate: Option<Gate>,
        committed: Option<BTreeMap<StreamShard, SeqNo>>,
        answer: Option<(MemberId, Epoch)>,
    },
    Read {
        items: Vec<(u64, Message)>,
        end: Option<Option<BackendError>>,
    },
}

impl State {
    fn commit_due(&self) -> bool {
        !self.committing && !self.commits.is_empty()
    }

    /// A repositioning waits, or every member has room and one is not paused.
    fn read_due(&self) -> bool {
        !self.reading
            && (self.request.is_some()
                || (self.end.is_none()
                    && self.members.values().any(|m| !m.paused)
                    && self.members.values().all(|m| m.inbox.len() < INBOX_LIMIT)))
    }

    /// Delivers `message` if its shard's gate lets it through.
    fn admit(&mut self, offset: u64, message: Message, grouped: bool) {
        let key = (message.header.stream_key.clone(), message.header.shard);
        if key.0.name() == INTERNAL_KEY {
            return;
        }
        let pass = match self.gates.get_mut(&key) {
            Some(gate) => gate.pass(offset, &message),
            None => match self.default_gate {
                Some(mut gate) => {
                    let pass = gate.pass(offset, &message);
                    if pass {
                        // The shard is seen from here on: it keeps its own gate.
                        self.gates.insert(key, gate);
                    }
                    pass
                }
                None => false,
            },
        };
        if pass {
            self.dispatch(message, grouped);
        }
    }

    fn dispatch(&mut self, message: Message, grouped: bool) {
        let key = &message.header.stream_key;
        if grouped {
            let Some(&id) = self.rotations.get_mut(key).and_then(|r| r.pick()) else { return };
            if let Some(member) = self.members.get_mut(&id) {
                member.inbox.push_back(message);
            }
        } else {
            // A clone for every member but the last, which takes the message itself.
            let mut last: Option<&mut Member> = None;
            for member in self.members.values_mut().filter(|m| m.streams.contains(key)) {
                if let Some(previous) = last.replace(member) {
                    previous.inbox.push_back(message.clone());
                }
            }
            if let Some(last) = last {
                last.inbox.push_back(message);
            }
        }
    }

    fn wake_all(&mut self) {
        for member in self.members.values_mut() {
            if let Some(waker) = member.waker.take() {
                waker.wake();
            }
        }
    }
}

/// Fails when the followed file was removed, replaced or truncated.
fn still_there(reader: &LogReader) -> Result<(), BackendError> {
    let path = reader.path();
    let gone = |what: String| {
        BackendError::new(BACKEND, BackendErrorKind::Io, format!("{}: {what}", path.display()))
    };
    let now = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(gone("the file was removed while followed".into()))
        }
        Err(err) => return Err(io_error(path, "cannot stat", &err)),
    };
    let len = reader.len()?;
    if len < reader.position() {
        return Err(gone(format!(
            "the file was truncated to {len} bytes, below the read position {}",
            reader.position()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if reader.identity()? != (now.dev(), now.ino()) {
            return Err(gone("the file was replaced by another while followed".into()));
        }
    }
    #[cfg(not(unix))]
    let _ = now;
    Ok(())
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
