//! The consumer state machine.
//!
//! [`ConsumerCore`] holds everything a consumer decides: which shards it
//! consumes, which messages are stale after a rewind or seek, when to pause
//! its backend, which offsets to commit. It performs no I/O and reads no
//! clock: time is given to it.
//!
//! # Methods
//! - getters take `&self`;
//! - application commands: [`assign`](ConsumerCore::assign),
//!   [`unassign`](ConsumerCore::unassign), [`rewind`](ConsumerCore::rewind),
//!   [`seek`](ConsumerCore::seek), [`commit`](ConsumerCore::commit),
//!   [`commit_all`](ConsumerCore::commit_all);
//! - inputs from the backend: `handle_*`;
//! - outputs: `poll_*`.
//!
//! # Time
//! Only what starts or fires a deadline takes `now`: [`new`](ConsumerCore::new)
//! (the first automatic commit is due one interval later) and
//! [`handle_timeout`](ConsumerCore::handle_timeout). The core's only timer
//! is the automatic commit, and no other input changes when it is due, so the
//! other inputs and commands take no `now` and a driver reads its clock only
//! while [`poll_timeout`](ConsumerCore::poll_timeout) names a deadline. A
//! future input that starts a timer (a retry backoff, say) takes `now` again.
//!
//! # Drain order
//! After every command or input, a driver
//! 1. executes every [`poll_command`](ConsumerCore::poll_command) until `None`
//!    (commands are ordered: a `Position` must run before a later `Commit`);
//! 2. hands out [`poll_message`](ConsumerCore::poll_message), one per
//!    application request;
//! 3. checks [`poll_positioned`](ConsumerCore::poll_positioned) /
//!    [`poll_committed`](ConsumerCore::poll_committed) for an awaited outcome
//!    and [`poll_end`](ConsumerCore::poll_end) once no message is left;
//! 4. arms a timer for [`poll_timeout`](ConsumerCore::poll_timeout) and calls
//!    [`handle_timeout`](ConsumerCore::handle_timeout) when it fires;
//! 5. after feeding input, may drain [`poll_notice`](ConsumerCore::poll_notice)
//!    to report what the core decided (the generic driver logs them).

mod command;
mod commits;
mod notice;

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

pub use command::{Command, CommitId, Epoch, StreamShard, Target};
pub use notice::Notice;

use crate::error::{BackendError, ConsumerError, OptionsError};
use crate::key::{SeqPos, ShardId, StreamKey};
use crate::message::{Message, MessageHeader};
use crate::options::{ConsumerMode, ConsumerOptions};
use crate::timestamp::Timestamp;
use commits::Commits;
use notice::Notices;

/// What a backend can do; the core refuses the rest with clear errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The backend's name, used in error messages.
    pub backend: &'static str,
    /// `rewind` is supported.
    pub rewind: bool,
    /// `seek` is supported.
    pub seek: bool,
    /// Commits (and so Resumable) are supported.
    pub commit: bool,
    /// Shards per stream, if the backend has a fixed number (stdio: 1).
    pub shards: Option<u32>,
}

impl Capabilities {
    /// Everything supported, any number of shards.
    pub const fn full(backend: &'static str) -> Self {
        Self { backend, rewind: true, seek: true, commit: true, shards: None }
    }

    /// Refuses options this backend cannot honour, then any contradiction.
    pub fn check(&self, options: &ConsumerOptions) -> Result<(), OptionsError> {
        if options.mode() == ConsumerMode::Resumable && !self.commit {
            return Err(OptionsError::Unsupported { backend: self.backend, what: "Resumable mode".into() });
        }
        options.validate()
    }
}

/// Which shards the consumer reads, and who chose them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Assignment {
    /// The backend (a group protocol, or stdio's single shard) chose; `None`
    /// until it said which.
    Backend(Option<BTreeSet<StreamShard>>),
    /// The last rewind or seek chose.
    Manual(BTreeSet<StreamShard>),
}

/// A positioning whose outcome has not been collected.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Positioning {
    Idle,
    Pending(Epoch),
    Done(Epoch, Result<(), BackendError>),
}

/// Why the input ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Open,
    Exhausted,
    Failed(BackendError),
}

/// One consumer's state. See the [module docs](self) for the driving protocol.
#[derive(Debug)]
pub struct ConsumerCore {
    caps: Capabilities,
    options: ConsumerOptions,
    streams: Vec<StreamKey>,
    requested: BTreeSet<StreamShard>,
    assignment: Assignment,
    epoch: Epoch,
    positioning: Positioning,
    buffer: VecDeque<Message>,
    paused: bool,
    commits: Commits,
    end: End,
    commands: VecDeque<Command>,
    notices: Notices,
}

impl ConsumerCore {
    /// A consumer of `streams` with validated `options` on a backend that can do `caps`.
    pub fn new(
        caps: Capabilities,
        options: ConsumerOptions,
        streams: Vec<StreamKey>,
        now: Instant,
    ) -> Result<Self, OptionsError> {
        caps.check(&options)?;
        if streams.is_empty() {
            return Err(OptionsError::NoStreams);
        }
        let auto_commit = options.auto_commit().filter(|_| caps.commit && options.mode().commits());
        Ok(Self {
            caps,
            commits: Commits::new(options.mode().commits(), auto_commit, options.auto_store(), now),
            options,
            streams,
            requested: BTreeSet::new(),
            assignment: Assignment::Backend(None),
            epoch: Epoch(0),
            positioning: Positioning::Idle,
            buffer: VecDeque::new(),
            paused: false,
            end: End::Open,
            commands: VecDeque::new(),
            notices: Notices::default(),
        })
    }

    // ---- getters ----

    /// The streams subscribed.
    pub fn streams(&self) -> &[StreamKey] {
        &self.streams
    }

    /// The options in force.
    pub fn options(&self) -> &ConsumerOptions {
        &self.options
    }

    /// What the backend can do.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The current epoch: how many rewinds and seeks were requested.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Shards requested with `assign`, to take effect on the next rewind or seek.
    pub fn requested(&self) -> impl Iterator<Item = &StreamShard> {
        self.requested.iter()
    }

    /// Shards being consumed now, if known.
    pub fn assignment(&self) -> Option<&BTreeSet<StreamShard>> {
        match &self.assignment {
            Assignment::Backend(shards) => shards.as_ref(),
            Assignment::Manual(shards) => Some(shards),
        }
    }

    /// Whether a rewind or seek awaits its `handle_positioned`.
    pub fn is_positioning(&self) -> bool {
        matches!(self.positioning, Positioning::Pending(_))
    }

    /// Messages buffered, not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the backend was told to pause.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The sequence to resume from per shard, as last acknowledged by the backend.
    pub fn committed(&self) -> impl Iterator<Item = (&StreamShard, crate::key::SeqNo)> {
        self.commits.committed()
    }

    // ---- application commands ----

    /// Adds a shard to consume from the next rewind or seek on.
    pub fn assign(&mut self, key: StreamKey, shard: ShardId) -> Result<(), ConsumerError> {
        self.check_assignable(&key, shard)?;
        self.requested.insert((key, shard));
        Ok(())
    }

    /// Removes a shard added by `assign`, from the next rewind or seek on.
    pub fn unassign(&mut self, key: StreamKey, shard: ShardId) -> Result<(), ConsumerError> {
        self.check_assignable(&key, shard)?;
        if self.requested.remove(&(key.clone(), shard)) {
            Ok(())
        } else {
            Err(ConsumerError::NotAssigned { key, shard })
        }
    }

    fn check_assignable(&self, key: &StreamKey, shard: ShardId) -> Result<(), ConsumerError> {
        if self.options.mode() == ConsumerMode::LoadBalanced {
            return Err(ConsumerError::GroupManagesAssignment);
        }
        if !self.streams.contains(key) {
            return Err(ConsumerError::NotSubscribed { key: key.clone() });
        }
        match self.caps.shards {
            Some(count) if shard.0 >= count => {
                Err(ConsumerError::NoSuchShard { key: key.clone(), shard, backend: self.caps.backend })
            }
            _ => Ok(()),
        }
    }

    /// Moves every assigned shard to `to`. Messages buffered or in flight from
    /// the old position are dropped; the returned epoch names the outcome.
    pub fn rewind(&mut self, to: SeqPos) -> Result<Epoch, ConsumerError> {
        if !self.caps.rewind {
            return Err(self.unsupported("rewind"));
        }
        Ok(self.position(Target::Seq(to)))
    }

    /// Moves every assigned shard to its earliest message not before `to`.
    pub fn seek(&mut self, to: Timestamp) -> Result<Epoch, ConsumerError> {
        if !self.caps.seek {
            return Err(self.unsupported("seek"));
        }
        Ok(self.position(Target::Time(to)))
    }

    fn unsupported(&self, operation: &'static str) -> ConsumerError {
        ConsumerError::Unsupported { backend: self.caps.backend, operation }
    }

    fn position(&mut self, target: Target) -> Epoch {
        let shards: BTreeSet<StreamShard> = if self.options.mode() == ConsumerMode::LoadBalanced {
            self.assignment().cloned().unwrap_or_default()
        } else if self.requested.is_empty() {
            self.streams.iter().map(|key| (key.clone(), ShardId::ZERO)).collect()
        } else {
            self.requested.clone()
        };
        self.epoch = Epoch(self.epoch.0 + 1);
        self.buffer.clear();
        // A clean end (a replayed file's last frame) was the end of the old
        // position; the new one reads again. A failure stays.
        if self.end == End::Exhausted {
            self.end = End::Open;
        }
        // A positioning restarts fetching on every target shard.
        self.paused = false;
        self.positioning = Positioning::Pending(self.epoch);
        if self.options.mode() != ConsumerMode::LoadBalanced {
            self.assignment = Assignment::Manual(shards.clone());
        }
        self.commands.push_back(Command::Position {
            epoch: self.epoch,
            shards: shards.into_iter().collect(),
            target,
        });
        self.epoch
    }

    /// Commits `message`: a restarted consumer of the group resumes after it.
    pub fn commit(&mut self, message: &MessageHeader) -> Result<CommitId, ConsumerError> {
        self.check_commit()?;
        let id = self.commits.commit_one(message)?;
        self.push_commit(id);
        Ok(id)
    }

    /// Marks a delivered `message` as processed, for consumers with
    /// [`auto_store`](ConsumerOptions::auto_store) off: the next automatic
    /// commit or `commit_all` resumes after it. No I/O; nothing is committed yet.
    pub fn store_offset(&mut self, message: &MessageHeader) -> Result<(), ConsumerError> {
        self.check_commit()?;
        self.commits.store(message)
    }

    /// Commits everything delivered so far (with auto-store off: everything
    /// stored so far); `None` if there is nothing new.
    pub fn commit_all(&mut self) -> Result<Option<CommitId>, ConsumerError> {
        self.check_commit()?;
        let id = self.commits.commit_stored();
        if let Some(id) = id {
            self.push_commit(id);
        }
        Ok(id)
    }

    fn check_commit(&self) -> Result<(), ConsumerError> {
        if !self.caps.commit {
            return Err(self.unsupported("commit"));
        }
        if !self.options.mode().commits() {
            return Err(ConsumerError::CommitRefused { mode: self.options.mode() });
        }
        Ok(())
    }

    fn push_commit(&mut self, id: CommitId) {
        if let Some(offsets) = self.commits.offsets_of(id) {
            self.commands.push_back(Command::Commit { id, offsets });
        }
    }

    // ---- inputs from the backend ----

    /// Messages fetched by the backend, in shard order.
    pub fn handle_messages(&mut self, batch: impl IntoIterator<Item = Message>) {
        // What `handle_message` checks per message, once: nothing in the loop changes it.
        if !self.takes_messages() {
            return;
        }
        // One `extend` moves each message into the buffer once (a loop of
        // `push_back` copied it through the stack three times); pausing after
        // the batch leaves the same state as pausing within it, since nothing
        // but the pause is queued meanwhile.
        self.buffer.extend(batch);
        self.pause_if_full();
    }

    /// [`handle_messages`](Self::handle_messages) for a batch already in a
    /// `VecDeque`, left empty: into an empty buffer it is swapped whole (no
    /// message moved), else appended in bulk.
    pub fn handle_message_queue(&mut self, batch: &mut VecDeque<Message>) {
        if !self.takes_messages() {
            batch.clear();
            return;
        }
        if self.buffer.is_empty() {
            std::mem::swap(&mut self.buffer, batch);
        } else {
            self.buffer.append(batch);
        }
        self.pause_if_full();
    }

    /// One message fetched by the backend.
    // Inlined: per message, into the backends' feeding loops, so the message
    // is moved into the buffer directly.
    #[inline]
    pub fn handle_message(&mut self, message: Message) {
        if !self.takes_messages() {
            return;
        }
        self.buffer.push_back(message);
        self.pause_if_full();
    }

    /// Whether a message fetched now is buffered: not while a rewind or seek
    /// is pending (it was fetched under the old position, and is stale), nor
    /// once the input ended.
    #[inline]
    fn takes_messages(&self) -> bool {
        !self.is_positioning() && self.end == End::Open
    }

    #[inline]
    fn pause_if_full(&mut self) {
        if !self.paused && self.buffer.len() >= self.options.buffer() {
            self.paused = true;
            self.commands.push_back(Command::Pause);
        }
    }

    /// The positioning of `epoch` took effect (or failed). Outcomes of
    /// superseded epochs are ignored.
    pub fn handle_positioned(&mut self, epoch: Epoch, result: Result<(), BackendError>) {
        if self.positioning == Positioning::Pending(epoch) {
            self.notices.push(Notice::Positioned { epoch, result: result.clone() });
            self.positioning = Positioning::Done(epoch, result);
        }
    }

    /// The backend's group protocol assigned these shards (replacing any
    /// earlier set). Buffered messages of revoked shards are dropped: the
    /// new owner will deliver them.
    pub fn handle_assignment(&mut self, shards: impl IntoIterator<Item = StreamShard>) {
        let shards: BTreeSet<StreamShard> = shards.into_iter().collect();
        let buffered = self.buffer.len();
        self.buffer.retain(|m| shards.contains(&(m.header.stream_key.clone(), m.header.shard)));
        let dropped = buffered - self.buffer.len();
        let before = self.assignment();
        if before != Some(&shards) {
            let revoked = before.into_iter().flatten().filter(|s| !shards.contains(*s)).cloned().collect();
            self.notices.push(Notice::Assigned {
                shards: shards.iter().cloned().collect(),
                revoked,
                dropped,
            });
        }
        // The dropped messages may have been what kept the backend paused; with
        // nothing left to deliver, no `poll_message` would ever resume it.
        self.resume_if_drained();
        self.commits.retain_shards(&shards);
        self.assignment = Assignment::Backend(Some(shards));
    }

    /// The commit `id` was stored by the broker (or failed).
    pub fn handle_committed(&mut self, id: CommitId, result: Result<(), BackendError>) {
        if let Some((offsets, automatic)) = self.commits.handle_committed(id, &result) {
            self.notices.push(Notice::Committed { id, automatic, offsets, result });
        }
    }

    /// The input ended: cleanly (`None`, e.g. end of stdin) or with a fatal error.
    pub fn handle_end(&mut self, failure: Option<BackendError>) {
        if self.end != End::Open {
            return;
        }
        self.notices.push(Notice::Ended { failure: failure.clone() });
        if let (Positioning::Pending(epoch), Some(err)) = (&self.positioning, &failure) {
            // A failed input answers no positioning any more: the awaited
            // rewind or seek fails with it instead of waiting for ever.
            self.notices.push(Notice::Positioned { epoch: *epoch, result: Err(err.clone()) });
            self.positioning = Positioning::Done(*epoch, Err(err.clone()));
        }
        self.end = failure.map_or(End::Exhausted, End::Failed);
    }

    /// Time passed; fires automatic commits that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(id) = self.commits.handle_timeout(now) {
            self.push_commit(id);
        }
    }

    // ---- outputs ----

    /// Whether [`poll_command`](Self::poll_command) has an instruction to give.
    #[inline]
    pub fn has_commands(&self) -> bool {
        !self.commands.is_empty()
    }

    /// The next instruction for the backend.
    #[must_use]
    #[inline]
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next message for the application; it counts as delivered from here on.
    // Inlined: per message, into the driver, so the message moves from the
    // buffer straight into the caller's result (`always`: left to itself,
    // the compiler kept it a call, which copies the message once more).
    #[must_use]
    #[inline(always)]
    pub fn poll_message(&mut self) -> Option<Message> {
        // The bookkeeping runs on the message in place, before it is taken:
        // the message then moves once, from the buffer into the result.
        self.commits.delivered(&self.buffer.front()?.header);
        if self.paused && self.buffer.len() - 1 <= self.options.buffer() / 2 {
            self.resume();
        }
        self.buffer.pop_front()
    }

    #[inline]
    fn resume_if_drained(&mut self) {
        if self.paused && self.buffer.len() <= self.options.buffer() / 2 {
            self.resume();
        }
    }

    fn resume(&mut self) {
        self.paused = false;
        self.commands.push_back(Command::Resume);
    }

    /// The outcome of the positioning of `epoch`, once known; `None` while pending.
    /// A positioning superseded by a later one reports success: the later one
    /// now decides the position.
    #[must_use]
    pub fn poll_positioned(&mut self, epoch: Epoch) -> Option<Result<(), ConsumerError>> {
        match &self.positioning {
            Positioning::Pending(pending) if *pending == epoch => None,
            Positioning::Done(done, _) if *done == epoch => {
                match std::mem::replace(&mut self.positioning, Positioning::Idle) {
                    Positioning::Done(_, result) => Some(result.map_err(ConsumerError::from)),
                    _ => None,
                }
            }
            _ => Some(Ok(())),
        }
    }

    /// The outcome of commit `id`, once known; `None` while pending.
    #[must_use]
    pub fn poll_committed(&mut self, id: CommitId) -> Option<Result<(), ConsumerError>> {
        self.commits.poll_committed(id)
    }

    /// Why no more messages will come, once the buffer is drained.
    #[must_use]
    #[inline]
    pub fn poll_end(&self) -> Option<ConsumerError> {
        if !self.buffer.is_empty() {
            return None;
        }
        match &self.end {
            End::Open => None,
            End::Exhausted => Some(ConsumerError::EndOfStream),
            End::Failed(err) => Some(ConsumerError::Backend(err.clone())),
        }
    }

    /// The next decision worth reporting (an assignment, a positioning or
    /// commit outcome, the end of input); see [`Notice`]. Only the latest 64
    /// undrained notices are kept.
    #[must_use]
    #[inline]
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop()
    }

    /// When `handle_timeout` should next be called.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.commits.next_timeout()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::{Capabilities, ConsumerCore};
    use crate::key::{SeqNo, ShardId, StreamKey};
    use crate::message::{Message, MessageHeader};
    use crate::options::{ConsumerMode, ConsumerOptions};
    use crate::timestamp::Timestamp;

    /// The tests' only clock read: an origin nothing here counts from.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> std::time::Instant {
        std::time::Instant::now()
    }

    #[test]
    fn a_queued_batch_is_taken_whole_or_appended_in_order() {
        let key = StreamKey::new("k").expect("valid key");
        let options = ConsumerOptions::new(ConsumerMode::RealTime);
        let mut core = ConsumerCore::new(Capabilities::full("test"), options, vec![key.clone()], origin())
            .expect("valid options");
        let message = |seq| {
            Message::new(
                MessageHeader::new(key.clone(), ShardId(0), SeqNo(seq), Timestamp::UNIX_EPOCH),
                "x".into(),
            )
        };
        let mut batch: VecDeque<Message> = (0..2).map(message).collect();
        core.handle_message_queue(&mut batch); // into an empty buffer
        assert!(batch.is_empty());
        batch.extend((2..5).map(message));
        core.handle_message_queue(&mut batch); // after what is buffered
        assert!(batch.is_empty());
        assert_eq!(core.buffered(), 5);
        let seqs: Vec<u64> = std::iter::from_fn(|| core.poll_message()).map(|m| m.header.seq.0).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
    }
}
