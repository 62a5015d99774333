//! A virtual-time driver for `JoinCore`: sources fed by hand or by a script,
//! a fixed start instant, a readable transcript, and the checks any join
//! output must pass (see `record`).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use weir_core::{
    BackendError, BackendErrorKind, ConsumerError, JoinCore, JoinError, JoinOptions, Joined, Message,
    MessageHeader, SeqNo, ShardId, SourceId,
};

use super::{key, start, ts, BASE_MS};

/// Steps one `drain` may take before it counts as livelock.
const MAX_DRAIN: usize = 100_000;

/// One join core and what came out of it.
pub struct JoinWorld {
    pub core: JoinCore,
    pub now: Instant,
    pub log: String,
    /// Everything handed out, in order.
    pub out: Vec<Joined>,
    /// Every error the join reported, in order.
    pub errors: Vec<JoinError>,
}

/// A message of stream `stream`, shard `shard`, seq `seq`, stamped `t_ms` after the base time.
pub fn msg(stream: &str, shard: u32, seq: u64, t_ms: i64) -> Message {
    let header = MessageHeader::new(key(stream), ShardId(shard), SeqNo(seq), ts(t_ms));
    Message::new(header, format!("{stream}{shard}-{seq}").into())
}

/// A backend failure for `end` and the transcripts.
pub fn failure(what: &str) -> ConsumerError {
    ConsumerError::Backend(BackendError::new("model", BackendErrorKind::Io, what))
}

/// `stream/shard/seq t+Nms` of a header.
pub fn show(h: &MessageHeader) -> String {
    format!("{}/{}/{} t+{}ms", h.stream_key, h.shard, h.seq, h.timestamp.unix_millis() - BASE_MS)
}

impl JoinWorld {
    /// A join with `sources` sources, all added at the start instant.
    pub fn new(options: JoinOptions, sources: usize) -> Self {
        let now = start();
        let core = JoinCore::new(options.clone(), now).expect("valid join options");
        let mut world = Self { core, now, log: String::new(), out: Vec::new(), errors: Vec::new() };
        let wait = options.max_wait().map_or("unbounded".into(), |w| format!("{}ms", w.as_millis()));
        world.note(format!(
            "new join of {sources} sources: max_wait {wait}, buffer {}, late {:?}, on error {:?}",
            options.buffer(),
            options.late(),
            options.on_error()
        ));
        for _ in 0..sources {
            let _ = world.core.add_source(now);
        }
        world
    }

    fn elapsed_ms(&self) -> u128 {
        self.now.duration_since(start()).as_millis()
    }

    /// Appends a transcript line stamped with the current virtual time.
    pub fn note(&mut self, line: impl AsRef<str>) {
        let at = self.elapsed_ms();
        let _ = writeln!(self.log, "[{at:>6}ms] {}", line.as_ref());
    }

    /// Feeds `message` from `source`, honouring the bound as a driver must.
    /// Returns whether it was taken.
    pub fn feed(&mut self, source: usize, message: Message) -> bool {
        let id = SourceId(source);
        if !self.core.has_room(id) {
            self.note(format!("  source {source} has no room: {} not taken", show(&message.header)));
            return false;
        }
        self.note(format!("feed source {source}: {}", show(&message.header)));
        self.core.handle_message(self.now, id, message);
        true
    }

    /// Ends `source`, cleanly or failing with `what`.
    pub fn end(&mut self, source: usize, what: Option<&str>) {
        match what {
            None => self.note(format!("source {source} ends")),
            Some(what) => self.note(format!("source {source} fails: {what}")),
        }
        self.core.handle_end(self.now, SourceId(source), what.map(failure));
    }

    /// Moves virtual time forward by `ms`, firing the timeout as a driver would.
    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.note(format!("advance {ms}ms"));
        self.core.handle_timeout(self.now);
    }

    /// Drains every output in the documented order; returns what came out.
    pub fn drain(&mut self) -> Vec<Joined> {
        let mut got = Vec::new();
        for _ in 0..MAX_DRAIN {
            if let Some(report) = self.core.poll_report() {
                self.note(format!("  report: {report}"));
                self.errors.push(report);
                continue;
            }
            let dropped = self.core.dropped();
            let next = self.core.poll_message();
            if self.core.dropped() > dropped {
                self.note(format!(
                    "  dropped {} late (total {})",
                    self.core.dropped() - dropped,
                    self.core.dropped()
                ));
            }
            match next {
                Some(joined) => {
                    self.record(&joined);
                    got.push(joined);
                }
                None => {
                    self.settled();
                    return got;
                }
            }
        }
        panic!("drain did not settle after {MAX_DRAIN} steps");
    }

    fn settled(&mut self) {
        if let Some(end) = self.core.poll_end() {
            if self.errors.last() != Some(&end) {
                self.note(format!("  end: {end}"));
                self.errors.push(end);
            }
            return;
        }
        let held: usize = (0..self.core.sources()).map(|s| self.core.buffered(SourceId(s))).sum();
        if held == 0 {
            self.note("  (nothing buffered)");
            return;
        }
        let waiting: Vec<usize> = self.core.waiting_for().map(|s| s.0).collect();
        let timeout = match self.core.poll_timeout() {
            Some(at) => format!(", timeout at {}ms", at.duration_since(start()).as_millis()),
            None => String::new(),
        };
        self.note(format!("  ({held} held: waiting for sources {waiting:?}{timeout})"));
    }

    /// Logs a delivery and checks what every output must satisfy: a message
    /// not marked late is not older than one emitted before it.
    fn record(&mut self, joined: &Joined) {
        let mark = if joined.late { " LATE" } else { "" };
        self.note(format!("  out source {}: {}{mark}", joined.source, show(&joined.message.header)));
        if !joined.late {
            if let Some(previous) = self.out.iter().rev().find(|j| !j.late) {
                let (a, b) = (&previous.message.header, &joined.message.header);
                assert!(
                    (a.timestamp, &a.stream_key, a.shard, a.seq, previous.source)
                        < (b.timestamp, &b.stream_key, b.shard, b.seq, joined.source),
                    "{} came out after {} without being marked late",
                    show(b),
                    show(a)
                );
            }
        }
        self.out.push(joined.clone());
    }
}
