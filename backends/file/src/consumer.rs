//! A consumer's I/O side on a log file: takes what its feed read for it.

use std::sync::Arc;
use std::task::{Context, Poll};

use weir_core::backend::{BlockingJob, ConsumerBackend};
use weir_core::{Command, ConsumerCore, ShardId};

use crate::feed::{Answer, Feed, MemberId};

/// One consumer of a `.ss` file.
pub struct FileConsumer {
    feed: Arc<Feed>,
    id: MemberId,
    /// Set until the first input round reports the assignment: shard 0 of every stream.
    unannounced: bool,
    ended: bool,
    /// Whether input was looked at since the last job was handed out: a
    /// driver that runs jobs in place would otherwise run job after job
    /// (a follower's waits) without ever taking what they read.
    armed: bool,
}

impl FileConsumer {
    pub(crate) fn new(feed: Arc<Feed>, core: &ConsumerCore) -> Self {
        let id = feed.join(core.streams().to_vec());
        Self { feed, id, unannounced: true, ended: false, armed: true }
    }
}

impl Drop for FileConsumer {
    fn drop(&mut self) {
        self.feed.leave(self.id);
    }
}

impl ConsumerBackend for FileConsumer {
    fn execute(&mut self, command: Command, _core: &mut ConsumerCore) {
        match command {
            Command::Position { epoch, shards, target } => {
                self.ended = false;
                self.feed.position(self.id, epoch, shards, target);
            }
            Command::Commit { id, offsets } => self.feed.commit(self.id, id, offsets),
            Command::Pause => self.feed.set_paused(self.id, true),
            Command::Resume => self.feed.set_paused(self.id, false),
        }
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, core: &mut ConsumerCore) -> Poll<()> {
        if self.unannounced {
            self.unannounced = false;
            let shards: Vec<_> = core.streams().iter().map(|key| (key.clone(), ShardId::ZERO)).collect();
            core.handle_assignment(shards);
            return Poll::Ready(());
        }
        self.armed = true;
        let taken = self.feed.take(self.id, cx.waker());
        let mut fed = !taken.answers.is_empty() || !taken.messages.is_empty();
        for answer in taken.answers {
            match answer {
                Answer::Positioned(epoch, result) => core.handle_positioned(epoch, result),
                Answer::Committed(id, result) => core.handle_committed(id, result),
            }
        }
        core.handle_messages(taken.messages);
        if let (false, false, Some(failure)) = (fed, self.ended, taken.end) {
            self.ended = true;
            core.handle_end(failure);
            fed = true;
        }
        if fed {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn take_blocking(&mut self) -> Option<BlockingJob> {
        if !self.armed {
            return None;
        }
        let job = self.feed.take_job();
        self.armed = job.is_none();
        job
    }
}
