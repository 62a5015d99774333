//! Merging streams by time: the join state machine.
//!
//! [`JoinCore`] takes messages from N sources (each a whole consumer, or one
//! consumer per (stream, shard): the driver decides what a source is) and
//! hands them out as one stream in a total order. Like
//! [`ConsumerCore`](crate::ConsumerCore) it performs no I/O and reads no
//! clock: every input carries `now`.
//!
//! # Rules
//! - **Order.** Messages come out by timestamp, then stream key, shard, seq,
//!   and last the [`SourceId`] (so two sources carrying the same message
//!   still have an order). Equal timestamps are thus ordered by stream key,
//!   and within a stream by shard and seq. A source's own messages keep the
//!   order it delivered them in; the join expects each source to deliver in
//!   that order, and treats a step back as lateness (below).
//! - **Waiting.** A message goes out once no open source with nothing
//!   buffered could still deliver an older one. A source with nothing
//!   buffered holds the output back for at most
//!   [`max_wait`](JoinOptions::max_wait), counted from the `now` at which
//!   it last had nothing buffered; after that the others flow on. A source
//!   that ended (or failed) holds nothing back. With `max_wait` `None` the
//!   join waits for every open source, and output is in order.
//! - **Lateness.** A message that would come out before the newest message
//!   already emitted is *late*: by [`LatePolicy`] it is delivered at once
//!   marked [`Joined::late`], dropped and counted, or ends the join with
//!   [`JoinError::Late`] (the messages still buffered are not delivered).
//! - **Bound.** A source with [`buffer`](JoinOptions::buffer) messages held
//!   is full: [`has_room`](JoinCore::has_room) says no, and the driver takes
//!   nothing more from it until some of them are out (its consumer, not
//!   polled, pauses its own backend once its buffer fills).
//! - **Errors.** Per [`ErrorPolicy`]: by default a failing source ends the
//!   join with [`JoinError::Source`] once every message buffered by then
//!   (the failed source's too) is out, and nothing more is taken from any
//!   source; with `KeepGoing` the failure is reported once as
//!   [`JoinError::SourceLeftOut`] and the others go on.
//!
//! # Methods
//! Getters take `&self`; [`add_source`](JoinCore::add_source) registers a
//! source; inputs are `handle_*(now, …)`; outputs are `poll_*`.
//!
//! # Drain order
//! After every input, a driver
//! 1. takes [`poll_report`](JoinCore::poll_report) until `None` (source
//!    failures the join survives);
//! 2. hands out [`poll_message`](JoinCore::poll_message), one per application
//!    request; when it gives `None`, checks [`poll_end`](JoinCore::poll_end);
//! 3. feeds more input only from sources with [`has_room`](JoinCore::has_room);
//! 4. arms a timer for [`poll_timeout`](JoinCore::poll_timeout) and calls
//!    [`handle_timeout`](JoinCore::handle_timeout) when it fires.

mod options;
mod output;

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::time::Instant;

pub use options::{ErrorPolicy, JoinOptions, LatePolicy, DEFAULT_MAX_WAIT};
pub use output::{JoinError, Joined, SourceId};

use crate::error::{ConsumerError, OptionsError};
use crate::message::{Message, MessageHeader};
use crate::timestamp::Timestamp;

/// Where a source is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Failed,
}

#[derive(Debug)]
struct Source {
    buffer: VecDeque<Message>,
    state: State,
    /// The `now` at which its buffer last became empty (or it was added).
    empty_since: Instant,
}

/// Whether the join goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Open,
    /// A source failed under `EndJoin`: what is buffered goes out, then this error.
    Draining(JoinError),
    /// Over now (a late message under `LatePolicy::Fail`).
    Over(JoinError),
}

/// The total order of the join: timestamp, stream key, shard, seq, source.
fn order(a: &MessageHeader, a_source: usize, b: &MessageHeader, b_source: usize) -> Ordering {
    a.timestamp
        .cmp(&b.timestamp)
        .then_with(|| a.stream_key.cmp(&b.stream_key))
        .then_with(|| a.shard.cmp(&b.shard))
        .then_with(|| a.seq.cmp(&b.seq))
        .then_with(|| a_source.cmp(&b_source))
}

/// A join's state. See the [module docs](self) for its rules and driving protocol.
#[derive(Debug)]
pub struct JoinCore {
    options: JoinOptions,
    sources: Vec<Source>,
    now: Instant,
    /// The newest message emitted (not counting late ones), and its source.
    reached: Option<(MessageHeader, usize)>,
    dropped: u64,
    late: u64,
    reports: VecDeque<JoinError>,
    end: End,
}

impl JoinCore {
    /// A join with no sources yet and validated `options`.
    pub fn new(options: JoinOptions, now: Instant) -> Result<Self, OptionsError> {
        options.validate()?;
        Ok(Self {
            options,
            sources: Vec::new(),
            now,
            reached: None,
            dropped: 0,
            late: 0,
            reports: VecDeque::new(),
            end: End::Open,
        })
    }

    /// Adds a source; it holds the output back from `now` until it delivers,
    /// ends, or `max_wait` passes.
    pub fn add_source(&mut self, now: Instant) -> SourceId {
        self.touch(now);
        self.sources.push(Source { buffer: VecDeque::new(), state: State::Open, empty_since: self.now });
        SourceId(self.sources.len() - 1)
    }

    // ---- getters ----

    /// The options in force.
    pub fn options(&self) -> &JoinOptions {
        &self.options
    }

    /// How many sources were added.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// Messages of `source` held, not yet handed out.
    pub fn buffered(&self, source: SourceId) -> usize {
        self.sources.get(source.0).map_or(0, |s| s.buffer.len())
    }

    /// Whether the driver should take a message from `source`: it is open, not
    /// full, and the join is not ending.
    pub fn has_room(&self, source: SourceId) -> bool {
        self.end == End::Open
            && self
                .sources
                .get(source.0)
                .is_some_and(|s| s.state == State::Open && s.buffer.len() < self.options.buffer())
    }

    /// Whether `source` is still open (neither ended nor failed).
    pub fn is_open(&self, source: SourceId) -> bool {
        self.sources.get(source.0).is_some_and(|s| s.state == State::Open)
    }

    /// Sources holding the output back now: open, nothing buffered, and
    /// within `max_wait` of when they last had nothing.
    pub fn waiting_for(&self) -> impl Iterator<Item = SourceId> + '_ {
        let draining = self.end != End::Open;
        self.sources
            .iter()
            .enumerate()
            .filter(move |(_, s)| !draining && self.holds_back(s))
            .map(|(i, _)| SourceId(i))
    }

    /// Late messages dropped under [`LatePolicy::Drop`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Late messages delivered marked under [`LatePolicy::Deliver`].
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The timestamp of the newest message emitted in order, if any.
    pub fn reached(&self) -> Option<Timestamp> {
        self.reached.as_ref().map(|(header, _)| header.timestamp)
    }

    fn holds_back(&self, source: &Source) -> bool {
        source.state == State::Open
            && source.buffer.is_empty()
            && match self.options.max_wait() {
                None => true,
                // A deadline past the clock's range never comes.
                Some(wait) => source.empty_since.checked_add(wait).is_none_or(|due| self.now < due),
            }
    }

    // ---- inputs ----

    fn touch(&mut self, now: Instant) {
        // The driver's clock never runs back; a stale `now` changes nothing.
        self.now = self.now.max(now);
    }

    /// A message from `source`. Ignored if the source ended or the join is
    /// ending (nothing more is taken then); unknown sources are ignored.
    pub fn handle_message(&mut self, now: Instant, source: SourceId, message: Message) {
        self.touch(now);
        if self.end != End::Open {
            return;
        }
        if let Some(s) = self.sources.get_mut(source.0).filter(|s| s.state == State::Open) {
            s.buffer.push_back(message);
        }
    }

    /// `source` ended: cleanly (`None`) or with an error, handled per
    /// [`ErrorPolicy`]. Its buffered messages are still delivered.
    pub fn handle_end(&mut self, now: Instant, source: SourceId, failure: Option<ConsumerError>) {
        self.touch(now);
        let Some(s) = self.sources.get_mut(source.0).filter(|s| s.state == State::Open) else {
            return;
        };
        let Some(error) = failure else {
            s.state = State::Ended;
            return;
        };
        s.state = State::Failed;
        if self.end != End::Open {
            return;
        }
        match self.options.on_error() {
            ErrorPolicy::EndJoin => self.end = End::Draining(JoinError::Source { input: source, error }),
            ErrorPolicy::KeepGoing => {
                self.reports.push_back(JoinError::SourceLeftOut { input: source, error })
            }
        }
    }

    /// Time passed: sources waited for past `max_wait` stop holding the output back.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
    }

    // ---- outputs ----

    /// The next source failure the join survives ([`ErrorPolicy::KeepGoing`]).
    #[must_use]
    pub fn poll_report(&mut self) -> Option<JoinError> {
        self.reports.pop_front()
    }

    /// The next message in join order, once no source may still deliver an
    /// older one (or the wait for it is over).
    #[must_use]
    pub fn poll_message(&mut self) -> Option<Joined> {
        if matches!(self.end, End::Over(_)) {
            return None;
        }
        loop {
            let best = self.first()?;
            let head = &self.sources[best].buffer.front()?.header;
            let late =
                self.reached.as_ref().is_some_and(|(last, from)| order(head, best, last, *from).is_lt());
            if !late && !self.may_emit(best) {
                return None;
            }
            let source = &mut self.sources[best];
            let message = source.buffer.pop_front()?;
            if source.buffer.is_empty() {
                source.empty_since = self.now;
            }
            let joined = Joined { source: SourceId(best), message, late };
            if !late {
                self.reached = Some((joined.message.header.clone(), best));
                return Some(joined);
            }
            match self.options.late() {
                LatePolicy::Deliver => {
                    self.late += 1;
                    return Some(joined);
                }
                LatePolicy::Drop => self.dropped += 1,
                LatePolicy::Fail => {
                    let reached = self.reached().unwrap_or(Timestamp::UNIX_EPOCH);
                    let header = joined.message.header;
                    self.end = End::Over(JoinError::Late { input: joined.source, header, reached });
                    return None;
                }
            }
        }
    }

    /// The source whose first buffered message comes first in join order.
    fn first(&self) -> Option<usize> {
        let mut best: Option<(usize, &MessageHeader)> = None;
        for (i, source) in self.sources.iter().enumerate() {
            let Some(head) = source.buffer.front() else { continue };
            if best.is_none_or(|(b, first)| order(&head.header, i, first, b).is_lt()) {
                best = Some((i, &head.header));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Whether the first message (of source `best`) may go out: no other
    /// source holds the output back.
    fn may_emit(&self, best: usize) -> bool {
        self.end != End::Open
            || self.sources.iter().enumerate().all(|(i, s)| i == best || !self.holds_back(s))
    }

    /// Why the join ended, once nothing more will come out.
    #[must_use]
    pub fn poll_end(&self) -> Option<JoinError> {
        let drained = self.sources.iter().all(|s| s.buffer.is_empty());
        match &self.end {
            End::Over(err) => Some(err.clone()),
            End::Draining(err) => drained.then(|| err.clone()),
            End::Open => {
                let ended = self.sources.iter().all(|s| s.state != State::Open);
                (drained && ended).then_some(JoinError::EndOfStream)
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called:
    /// when the last source now holding buffered messages back stops doing so.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let wait = self.options.max_wait()?;
        if self.end != End::Open || self.sources.iter().all(|s| s.buffer.is_empty()) {
            return None;
        }
        self.sources
            .iter()
            .filter(|s| self.holds_back(s))
            .filter_map(|s| s.empty_since.checked_add(wait))
            .max()
    }
}
