//! The operations of the application (and of the test acting as the world):
//! each logs itself, calls the core, then drives it until nothing is left to do.

use std::time::Duration;

use weir_core::{
    CommitId, ConsumerError, Epoch, Message, MessageHeader, SeqPos, ShardId, StreamShard, Target, Timestamp,
};

use super::{key, name, target_text, World, MAX_STEPS};

impl World {
    /// The backend will fail the next positioning.
    pub fn fail_next_position(&mut self) {
        self.knobs.fail_position = true;
        self.op("(fault) the next positioning will fail");
    }

    /// The backend will fail the next commit.
    pub fn fail_next_commit(&mut self) {
        self.knobs.fail_commit = true;
        self.op("(fault) the next commit will fail");
    }

    /// The backend will take `by` to answer each positioning from now on.
    pub fn delay_positions(&mut self, by: Duration) {
        self.knobs.position_delay = by;
        self.op(format!("(fault) positionings take {}ms", by.as_millis()));
    }

    pub fn assign(&mut self, stream: &str, shard: u32) -> Result<(), ConsumerError> {
        let result = self.core.assign(key(stream), ShardId(shard));
        self.op(format!("assign {stream}/{shard} -> {}", outcome(&result)));
        result
    }

    pub fn unassign(&mut self, stream: &str, shard: u32) -> Result<(), ConsumerError> {
        let result = self.core.unassign(key(stream), ShardId(shard));
        self.op(format!("unassign {stream}/{shard} -> {}", outcome(&result)));
        result
    }

    pub fn rewind(&mut self, to: SeqPos) -> Result<Epoch, ConsumerError> {
        let result = self.core.rewind(to);
        self.positioned(Target::Seq(to), result)
    }

    pub fn seek(&mut self, to: Timestamp) -> Result<Epoch, ConsumerError> {
        let result = self.core.seek(to);
        self.positioned(Target::Time(to), result)
    }

    fn positioned(
        &mut self,
        target: Target,
        result: Result<Epoch, ConsumerError>,
    ) -> Result<Epoch, ConsumerError> {
        match &result {
            Ok(epoch) => {
                self.op(format!("{} -> epoch {}", target_text(target), epoch.0));
                assert_eq!(self.core.buffered(), 0, "a positioning drops the buffer\n{}", self.log);
                self.shadow.clear();
                if let Some(old) = self.awaiting_epoch.replace(*epoch) {
                    // The application dropped the older future; a late poll still gets an answer.
                    let result = self.core.poll_positioned(old);
                    let text = result.map_or_else(|| "pending".into(), |r| outcome(&r));
                    self.note(format!("positioning of epoch {} (superseded) -> {text}", old.0));
                }
            }
            Err(err) => self.op(format!("{} -> error: {err}", target_text(target))),
        }
        self.settle();
        result
    }

    pub fn commit(&mut self, message: &MessageHeader) -> Result<CommitId, ConsumerError> {
        let result = self.core.commit(message);
        let what = format!("{}/{}/{}", message.stream_key, message.shard, message.seq);
        match &result {
            Ok(id) => {
                self.op(format!("commit {what} -> #{}", id.0));
                self.awaiting_commits.push(*id);
            }
            Err(err) => self.op(format!("commit {what} -> error: {err}")),
        }
        self.settle();
        result
    }

    pub fn store_offset(&mut self, message: &MessageHeader) -> Result<(), ConsumerError> {
        let result = self.core.store_offset(message);
        let what = format!("{}/{}/{}", message.stream_key, message.shard, message.seq);
        match &result {
            Ok(()) => self.op(format!("store_offset {what}")),
            Err(err) => self.op(format!("store_offset {what} -> error: {err}")),
        }
        self.settle();
        result
    }

    pub fn commit_all(&mut self) -> Result<Option<CommitId>, ConsumerError> {
        let result = self.core.commit_all();
        match &result {
            Ok(Some(id)) => {
                self.op(format!("commit_all -> #{}", id.0));
                self.awaiting_commits.push(*id);
            }
            Ok(None) => self.op("commit_all -> nothing new"),
            Err(err) => self.op(format!("commit_all -> error: {err}")),
        }
        self.settle();
        result
    }

    /// The application asks for up to `n` messages, one at a time.
    pub fn deliver(&mut self, n: usize) -> Vec<Message> {
        self.op(format!("deliver {n}"));
        self.deliver_up_to(n)
    }

    /// The application asks for messages until none is buffered.
    pub fn deliver_all(&mut self) -> Vec<Message> {
        self.op("deliver all");
        self.deliver_up_to(MAX_STEPS)
    }

    fn deliver_up_to(&mut self, n: usize) -> Vec<Message> {
        let mut out = Vec::new();
        for _ in 0..n {
            self.settle();
            let Some(message) = self.core.poll_message() else {
                self.note("(nothing buffered)");
                break;
            };
            self.on_delivered(&message);
            out.push(message);
        }
        self.settle();
        out
    }

    /// New messages arrive at the broker.
    pub fn produce(&mut self, stream: &str, shard: u32, count: usize) {
        self.broker.fill(stream, shard, count);
        self.op(format!("produce {count} to {stream}/{shard}"));
        self.settle();
    }

    /// Time passes: jumps to each timer deadline or answer due until `by` has elapsed.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.op(format!("advance {}ms", by.as_millis()));
        self.steps = 0;
        loop {
            self.step();
            let answer = self.answers.iter().map(|(due, _)| *due).min();
            let next = [self.core.poll_timeout(), answer].into_iter().flatten().min();
            match next {
                Some(at) if at <= until => self.now = self.now.max(at),
                _ => break,
            }
            if self.core.poll_timeout().is_some_and(|at| at <= self.now) {
                self.note("timeout");
                self.core.handle_timeout(self.now);
            }
            self.drive();
        }
        self.now = until;
        self.settle();
    }

    /// The group protocol gives this consumer `shards` (LoadBalanced).
    pub fn rebalance(&mut self, shards: &[(&str, u32)]) {
        self.op(format!("rebalance to {shards:?}"));
        self.rebalance_to(shards.iter().map(|(s, n)| (key(s), ShardId(*n))).collect());
    }

    pub(super) fn rebalance_to(&mut self, shards: Vec<StreamShard>) {
        let commits = self.core.options().mode().commits();
        let old = std::mem::take(&mut self.feeding);
        for shard in &shards {
            let at = old.get(shard).copied().unwrap_or_else(|| {
                let committed = self.broker.offsets.get(shard).filter(|_| commits).map(|seq| seq.0);
                committed.unwrap_or_else(|| self.broker.len(shard))
            });
            self.feeding.insert(shard.clone(), at);
            if !old.contains_key(shard) {
                // A shard (re)gained from the group resumes at the group's offset,
                // like Kafka after a rebalance: an earlier seek no longer applies to it.
                let at_epoch = (self.feed_epoch, shard.clone());
                self.starts.insert(at_epoch.clone(), at);
                self.last.remove(&at_epoch);
                self.seek_points.remove(&at_epoch);
            }
        }
        self.group = shards.iter().cloned().collect();
        let list: Vec<String> = self.feeding.iter().map(|(s, at)| format!("{} from {at}", name(s))).collect();
        self.note(format!("assignment [{}]", list.join(", ")));
        self.core.handle_assignment(shards.iter().cloned());
        let kept = &self.group;
        self.shadow.retain(|(m, _)| kept.contains(&(m.header.stream_key.clone(), m.header.shard)));
        assert_eq!(self.core.buffered(), self.shadow.len(), "buffer after assignment\n{}", self.log);
        self.settle();
    }
}

pub(super) fn outcome<T>(result: &Result<T, ConsumerError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(err) => format!("error: {err}"),
    }
}
